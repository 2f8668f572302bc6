"""The ``rebalancer`` command line. Thin: each command parses its options, calls the
one library function an analyst would call from a notebook (``rebalancer.runs``, the
audit, the scenario catalog, ``apply``), shows what it returns and maps its errors to
exit codes.

Exit codes (docs/contracts.md §3): 0 done; 1 bad input or scenario; 2 usage; 3 infeasible;
128 + the signal's number when SIGINT or SIGTERM stopped it. Every one is one line.

Each command imports the library inside its body, and so do the option callbacks:
``rebalancer --help`` and a usage error must not wait for pandas, cvxpy and openpyxl
(seconds), which the commands themselves need.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from rebalancer import __version__
from rebalancer.errors import WARNINGS, RebalancerError, Stopped, one_line

err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def _echo(text: str = "") -> None:
    """A line to stdout; names, labels and paths from inputs and options in it have
    their control characters written as escapes, so none acts on the terminal."""
    click.echo(one_line(text))


def _note(text: str) -> str:
    """A progress bar note (rich markup): escaped for the terminal and for markup."""
    return escape(one_line(text))


def _fail(exc: RebalancerError | Stopped) -> None:
    kind = "infeasible" if exc.exit_code == 3 else "error"
    err_console.print(f"{kind}: {exc}", markup=False)
    sys.exit(exc.exit_code)


class _OneLineUsage(click.UsageError):
    """A usage error (exit 2) as one line naming the option, like every other user
    mistake: click's own shows a usage block and a hint above its message."""

    def show(self, file=None) -> None:
        err_console.print(one_line(f"error: {self.message}"), markup=False)


@contextmanager
def _usage_in_one_line() -> Iterator[None]:
    try:
        yield
    except (_OneLineUsage, click.exceptions.NoArgsIsHelpError):  # the latter shows the help
        raise
    except click.UsageError as exc:  # a bad or missing option or value, an unknown command
        raise _OneLineUsage(exc.format_message(), exc.ctx) from None
    except KeyboardInterrupt:  # Ctrl-C where no command handles it: click says "Aborted!"
        err_console.print("error: interrupted (SIGINT)", markup=False)
        sys.exit(128 + signal.SIGINT)


class _Group(click.Group):
    """The command group: usage errors in one line (``_usage_in_one_line``), whether
    found parsing the group's options, the command's or in its body."""

    def make_context(self, *args, **kwargs) -> click.Context:
        with _usage_in_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        with _usage_in_one_line():
            return super().invoke(ctx)


class _Command(click.Command):
    """Turns a user-caused RebalancerError, or a signal that stopped the run before it
    wrote anything (``errors.Stopped``), into one line and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            with _signals_stop():
                return super().invoke(ctx)
        except (RebalancerError, Stopped) as exc:
            _fail(exc)


@contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGINT and SIGTERM stop a command with one line and exit 128 + the signal's
    number, saying whether its outputs had been published: they are published whole
    or not at all, the renames shielded from signals (``export.atomic``). A book's
    engines put their own handlers in place while its accounts run."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python handles signals on the main thread only
        return
    before = _published()

    def handler(signum: int, frame: object) -> None:
        written = _published() > before
        said = "its outputs were written before it stopped" if written else "nothing written"
        raise Stopped(signum, f"stopped by {signal.Signals(signum).name}; {said}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _published() -> int:
    # the export module is imported by the commands that write; before that, none
    atomic = sys.modules.get("rebalancer.export.atomic")
    return atomic.published() if atomic is not None else 0


def _progress(quiet: bool):
    """A progress bar on stderr: description, bar, done/total and a note."""
    # late: about 10 ms of --help's start-up, for the commands that show a bar
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        console=err_console,
        disable=quiet,
    )


def _path():
    # existence is checked by the readers, so a missing input is a bad input (exit 1)
    # naming the file, not a usage error
    return click.Path(dir_okay=False, path_type=Path)


# Options shared by several commands (same names, same help).
HOLDINGS = click.option(
    "--holdings", type=_path(), required=True, help="Holdings CSV/XLSX (tax lots)."
)
UNIVERSE = click.option(
    "--universe", type=_path(), required=True, help="Security master with signals."
)
PRICES = click.option(
    "--prices", type=_path(), help="Daily adjusted closes, wide (for the risk model)."
)
ORDERS_FORMAT = click.option(
    "--orders-format",
    help="Order file layout: generic (default) or ibkr (an Interactive Brokers basket).",
)
LIMIT_BPS = click.option(
    "--limit-bps",
    help="Limit orders this many basis points from the proposal's price (default: market).",
)
REPORT_CONFIG = click.option(
    "--report-config",
    type=_path(),
    help="YAML with the report's firm_name, disclaimer and top_trades.",
)
SHOCKS = click.option(
    "--shock",
    "shocks",
    multiple=True,
    help="Extra stress test: 'name=NAME,GROUP=RETURN,...' (repeatable).",
)


def _iso_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A date option as ``YYYY-MM-DD`` text, as a date cell holds one (1900-2099);
    anything else is a usage error (exit 2)."""
    from rebalancer.inputs import trade_date

    if value is None:
        return None
    try:
        return trade_date(value).date().isoformat()
    except RebalancerError as exc:
        raise click.BadParameter(exc.message) from None


def _scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A Dask scheduler address; anything else is a usage error (exit 2)."""
    from rebalancer.runs.book.dask_engine import scheduler_problem

    problem = None if value is None else scheduler_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


def _scenarios(help_text: str):
    """``--scenario`` given one or more times (``scenarios``: a tuple of paths)."""
    return click.option(
        "--scenario", "scenarios", type=_path(), required=True, multiple=True, help=help_text
    )


AS_OF = click.option(
    "--as-of", callback=_iso_date, help="Trade date (ISO) for holding periods; default today."
)
TRADE_HISTORY = click.option(
    "--trade-history", type=_path(), help="Past trades, for wash-sale rules."
)
ACCOUNT_ROW = click.option(
    "--accounts",
    type=_path(),
    help="Accounts file: the account's row (taxable, account_type, cash_target, household, "
    "lot_method).",
)
TAXABLE = click.option(
    "--taxable/--tax-exempt",
    default=None,
    help="Tax status (default: from --accounts; lots with a cost basis need one). "
    "--taxable: account type taxable; --tax-exempt: the row's tax_deferred, else tax_exempt.",
)
NO_CACHE = click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="Read the universe and prices files and fit the risk model afresh, without the "
    "on-disk cache ($REBALANCER_CACHE_DIR, default ~/.cache/rebalancer; docs/contracts.md).",
)
LOT_METHOD = click.option(
    "--lot-method",
    type=click.Choice(["optimized", "hifo", "fifo"]),
    help="Which lots sales come from (default: --accounts, else the scenario's tax.lot_method).",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rebalancer")
def main() -> None:
    """Rebalancer: scenario-driven rebalancing proposals for advisors."""


@main.command(cls=_Command)
@HOLDINGS
@UNIVERSE
@click.option("--scenario", type=_path(), required=True, help="Scenario YAML.")
@PRICES
@click.option("--benchmark", type=_path(), help="Benchmark weights (ticker, weight).")
@click.option("--account", help="Account to rebalance when the holdings hold several.")
@click.option("--out", type=_path(), help="Trade sheet workbook (.xlsx) to write.")
@click.option("--trades", type=_path(), help="Trades CSV to write.")
@click.option("--json", "json_path", type=_path(), help="JSON summary to write.")
@click.option("--orders", type=_path(), help="Order file (CSV) to write, one row per order.")
@ORDERS_FORMAT
@LIMIT_BPS
@click.option("--report", type=_path(), help="Client proposal (PDF) to write.")
@REPORT_CONFIG
@SHOCKS
@ACCOUNT_ROW
@TRADE_HISTORY
@TAXABLE
@LOT_METHOD
@AS_OF
@click.option(
    "--relax",
    is_flag=True,
    help="If the limits conflict, apply the smallest relaxation that makes them feasible "
    "and label the proposal as relaxed.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Propose even when the account is in tolerance (`rebalancer drift`).",
)
@click.option(
    "--withdraw",
    "withdraw_usd",
    help="Dollars to free above the cash floor, leaving after the trades (a payout).",
)
@click.option(
    "--deposit",
    "deposit_usd",
    help="Dollars of cash arriving before the trades.",
)
@click.option(
    "--mode",
    help="rebalance (default), raise-cash (sales only), invest-cash (buys only) or "
    "cash-only (either, as the cash calls for).",
)
@click.option(
    "--household",
    help="Solve the accounts of this household of the --accounts file as one problem.",
)
@NO_CACHE
@click.option("--quiet", "-q", is_flag=True, help="No console summary.")
def propose(
    holdings,
    universe,
    scenario,
    prices,
    benchmark,
    account,
    out,
    trades,
    json_path,
    orders,
    orders_format,
    limit_bps,
    report,
    report_config,
    shocks,
    accounts,
    trade_history,
    taxable,
    lot_method,
    as_of,
    relax,
    force,
    withdraw_usd,
    deposit_usd,
    mode,
    household,
    no_cache,
    quiet,
) -> None:
    """Propose trades for one account (none when it is in tolerance, unless --force), or
    for a household's accounts as one problem (--household)."""
    if household is not None:
        _propose_household(
            household, holdings, universe, scenario, prices=prices, benchmark=benchmark,
            accounts=accounts, trade_history=trade_history, as_of=as_of, shocks=shocks,
            out=out, trades=trades, json_path=json_path, quiet=quiet, relax=relax,
            cache=not no_cache,
            refused={"--account": account is not None, "--taxable/--tax-exempt":
                     taxable is not None, "--lot-method": lot_method is not None,
                     "--withdraw": withdraw_usd is not None,
                     "--deposit": deposit_usd is not None, "--mode": mode is not None},
            not_yet={"--orders": orders is not None, "--report": report is not None},
        )  # fmt: skip
        return
    from rebalancer.console import print_summary
    from rebalancer.limits.cash_request import amount_usd
    from rebalancer.limits.trade_mode import mode_of
    from rebalancer.report.proposal import Proposal
    from rebalancer.runs.propose import propose_to_files

    withdraw_usd = amount_usd(withdraw_usd, "--withdraw")
    deposit_usd = amount_usd(deposit_usd, "--deposit")
    mode = mode_of(mode, "--mode")
    proposal, written = propose_to_files(
        holdings,
        universe,
        scenario,
        prices=prices,
        benchmark=benchmark,
        accounts=accounts,
        trade_history=trade_history,
        out=out,
        trades=trades,
        json_path=json_path,
        orders=orders,
        orders_format=orders_format,
        limit_bps=limit_bps,
        report=report,
        report_config=report_config,
        account=account,
        as_of=as_of,
        shocks=list(shocks),
        taxable=taxable,
        lot_method=lot_method,
        relax=relax,
        withdraw_usd=withdraw_usd,
        deposit_usd=deposit_usd,
        mode=mode,
        skip_in_tolerance=not force,
        cache=not no_cache,
    )
    if not isinstance(proposal, Proposal):  # in tolerance: nothing proposed or written
        _echo(proposal.line())
        return
    if not quiet:
        print_summary(proposal)
        for path in written:
            _echo(f"wrote {path}")


def _propose_household(name, *args, quiet: bool, **options) -> None:
    """``propose --household``: the library call, then one line per account and the
    household's checks."""
    from rebalancer.household.run import propose_household_to_files

    proposal, written = propose_household_to_files(name, *args, **options)
    if quiet:
        return
    _echo(f"household {proposal.name}: {len(proposal.proposals)} accounts, "
          f"NAV {proposal.nav_usd:,.0f}, solved in {proposal.solve_seconds:.2f} s")  # fmt: skip
    if proposal.relaxed:  # the first warning says what --relax moved
        _echo(proposal.warnings[0])
    for p in proposal.proposals:
        m = p.metrics
        _echo(f"  {p.account}: {m.n_trades} trades, turnover {m.turnover:.2%}, "
              f"realized gain {m.realized_gain_usd:,.0f}")  # fmt: skip
    failed = proposal.checks[~proposal.checks["ok"]]
    _echo("household checks: " + ("all pass" if failed.empty else
          "FAIL " + ", ".join(failed["check"])))  # fmt: skip
    for path in written:
        _echo(f"wrote {path}")


@main.command(cls=_Command)
@HOLDINGS
@UNIVERSE
@_scenarios("Scenario YAML (repeatable: one run each).")
@click.option(
    "--vary",
    "vary",
    multiple=True,
    help="Sweep a setting: KEY=V1,V2,... (dotted key; two make a grid).",
)
@SHOCKS
@PRICES
@click.option("--benchmark", type=_path(), help="Benchmark weights (ticker, weight).")
@click.option("--account", help="Account to analyse when the holdings hold several.")
@click.option("--out", type=_path(), help="Comparison workbook (.xlsx) to write.")
@click.option("--chart", type=_path(), help="Trade-off and exposure chart (.png) to write.")
@click.option("--json", "json_path", type=_path(), help="Comparison table as JSON.")
@ACCOUNT_ROW
@TRADE_HISTORY
@TAXABLE
@LOT_METHOD
@AS_OF
@click.option(
    "--relax",
    is_flag=True,
    help="Relax each run whose limits conflict as propose --relax does; the comparison "
    "says what each run's relaxation moved.",
)
@click.option(
    "--common-belief",
    "common_belief",
    type=_path(),
    help="Scenario YAML whose expected returns every run is also measured under "
    "(default: the first run's).",
)
@NO_CACHE
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or console table.")
def whatif(
    holdings,
    universe,
    scenarios,
    vary,
    shocks,
    prices,
    benchmark,
    account,
    out,
    chart,
    json_path,
    accounts,
    trade_history,
    taxable,
    lot_method,
    as_of,
    relax,
    common_belief,
    no_cache,
    quiet,
) -> None:
    """Compare scenarios and parameter sweeps on one account."""
    from rebalancer.console import print_comparison
    from rebalancer.runs.whatif import whatif_to_files

    with _progress(quiet) as progress:

        def start(total: int) -> None:
            progress.add_task("what-if runs", total=total, note="")

        def done(run) -> None:
            progress.update(
                progress.task_ids[0], advance=1, note=_note(f"{run.label}: {run.status}")
            )

        comparison, written = whatif_to_files(
            holdings,
            universe,
            list(scenarios),
            prices=prices,
            benchmark=benchmark,
            account=account,
            vary=list(vary),
            shocks=list(shocks),
            as_of=as_of,
            accounts=accounts,
            trade_history=trade_history,
            taxable=taxable,
            lot_method=lot_method,
            out=out,
            chart=chart,
            json_path=json_path,
            on_start=start,
            on_run=done,
            relax=relax,
            common_belief=common_belief,
            cache=not no_cache,
        )
    if not quiet:
        print_comparison(comparison)
        for path in written:
            _echo(f"wrote {path}")


@main.command(cls=_Command)
@click.option(
    "--accounts",
    type=_path(),
    required=True,
    help="Accounts file: account, scenario, benchmark, taxable, cash_target.",
)
@click.option("--holdings", type=_path(), required=True, help="Holdings of every account.")
@UNIVERSE
@PRICES
@click.option("--benchmark", type=_path(), help="Benchmark for accounts that name none.")
@TRADE_HISTORY
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the proposals, the book summary and the block orders.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, None),
    help="Local worker processes (default: the number of cores).",
)
@click.option(
    "--scheduler",
    callback=_scheduler,
    help="Dask scheduler address (tcp://HOST:PORT) instead of local.",
)
@click.option("--resume", is_flag=True, help="Skip accounts whose outputs are complete.")
@click.option("--workbooks", is_flag=True, help="Also write a workbook per account.")
@click.option(
    "--orders", type=_path(), help="Order file (CSV) of every allocation, by block, to write."
)
@ORDERS_FORMAT
@LIMIT_BPS
@click.option(
    "--reports",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for a client proposal (PDF) per account: ACCOUNT.pdf.",
)
@REPORT_CONFIG
@click.option(
    "--only-triggered",
    is_flag=True,
    help="Propose only for the accounts `rebalancer drift` flags; skip those in tolerance.",
)
@click.option(
    "--households",
    is_flag=True,
    help="Solve each household of the accounts file's household column as one problem.",
)
@AS_OF
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or table.")
def batch(
    accounts,
    holdings,
    universe,
    prices,
    benchmark,
    trade_history,
    out_dir,
    workers,
    scheduler,
    resume,
    workbooks,
    orders,
    orders_format,
    limit_bps,
    reports,
    report_config,
    only_triggered,
    households,
    as_of,
    quiet,
) -> None:
    """Propose trades for a whole book of accounts.

    Exit 1 when any account failed or was not run, else 3 when any account's limits
    conflict; the other accounts are written either way, and the book summary lists
    which. Ctrl-C or SIGTERM stops the book (exit 130 or 143) and writes the summary
    of what finished; --resume runs the rest. Before any account has started (reading
    the inputs), it stops at once and writes nothing."""
    from rebalancer.runs.book.client import ClientOutputs
    from rebalancer.runs.book.plan import BookFiles
    from rebalancer.runs.book.run import run_book

    files = BookFiles(
        str(holdings),
        str(universe),
        str(accounts),
        str(prices) if prices else None,
        str(benchmark) if benchmark else None,
        str(trade_history) if trade_history else None,
    )
    client = ClientOutputs.of(orders, orders_format, limit_bps, reports, report_config)
    counts = {"done": 0, "failed": 0}
    started = time.perf_counter()
    # the bar starts once the book is planned: a stop before then is one line alone
    with ExitStack() as shown:
        progress = _progress(quiet)

        def start(total: int) -> None:
            shown.enter_context(progress)
            progress.add_task("accounts", total=total, note="")

        def seen(result) -> None:
            counts["failed" if result.status in ("failed", "infeasible") else "done"] += 1
            rate = (counts["done"] + counts["failed"]) / max(time.perf_counter() - started, 1e-9)
            progress.update(
                progress.task_ids[0],
                advance=1,
                note=f"{counts['done']} done, {counts['failed']} failed, {rate:.1f}/s",
            )

        book = run_book(
            files,
            out_dir,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            workbooks=workbooks,
            as_of=as_of,
            only_triggered=only_triggered,
            client=client,
            households=households,
            on_start=start,
            on_result=seen,
        )
    if not quiet:
        _echo(book.headline())
        for r in book.results:
            if r.status in ("failed", "infeasible"):
                _echo(f"  {r.account}: {r.message}")
        if resume:
            _echo(book.resumed())
        if book.written:
            out = Path(out_dir)
            also = f", {orders}" if orders else ""
            _echo(f"wrote {out / 'book_summary.xlsx'}, {out / 'block_orders.csv'}{also}")
    if book.problem:  # a signal, all workers lost, a book file not written
        err_console.print(one_line(f"error: {book.stopped()}"), markup=False)
    if book.exit_code:  # 128 + signal; 1 when any account failed; 3 when any is infeasible
        if book.shortfall():
            kind = "infeasible" if book.exit_code == 3 else "error"
            err_console.print(one_line(f"{kind}: {book.shortfall()}"), markup=False)
        sys.exit(book.exit_code)


@main.command(cls=_Command)
@click.option(
    "--accounts",
    type=_path(),
    required=True,
    help="Accounts file: account, scenario, benchmark, cash_target, status, "
    "withdraw_usd, deposit_usd.",
)
@click.option("--holdings", type=_path(), required=True, help="Holdings of every account.")
@UNIVERSE
@PRICES
@click.option("--benchmark", type=_path(), help="Benchmark for accounts that name none.")
@click.option("--out", type=_path(), help="Queue to write: .xlsx or .csv.")
@click.option("--json", "json_path", type=_path(), help="Queue as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No console queue.")
def drift(accounts, holdings, universe, prices, benchmark, out, json_path, quiet) -> None:
    """List every account with its drift status and why, most urgent first.

    Never runs the optimizer. Exit 0 whatever the statuses; 1 on bad input."""
    from rebalancer.console import print_queue
    from rebalancer.runs.drift import drift_to_files

    scan, written = drift_to_files(
        accounts,
        holdings,
        universe,
        prices=prices,
        benchmark=benchmark,
        out=out,
        json_path=json_path,
    )
    if not quiet:
        print_queue(scan)
        for path in written:
            _echo(f"wrote {path}")


@main.command(cls=_Command)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for the example proposals.",
)
@click.option("--scenario", type=_path(), help="Scenario YAML (default: smallcap_rerating).")
@click.option(
    "--as-of", callback=_iso_date, help="Trade date (ISO; default: the examples' trade date)."
)
@click.option("--quiet", "-q", is_flag=True)
def demo(out_dir: Path, scenario, as_of, quiet) -> None:
    """Rebalance the three example accounts under the small-cap re-rating scenario."""
    from rebalancer.console import print_summary
    from rebalancer.runs.demo import run_demo

    def show(done) -> None:
        if not quiet:
            print_summary(done.proposal)
            _echo("wrote " + ", ".join(str(p) for p in done.written))
            _echo()

    run_demo(out_dir, scenario, as_of, on_account=show)


@main.command(cls=_Command)
@click.option(
    "--scenario",
    "scenarios",
    type=_path(),
    multiple=True,
    help="Scenario YAML to check (repeatable).",
)
@click.option("--holdings", type=_path())
@click.option("--universe", type=_path())
@click.option("--prices", type=_path())
@click.option("--benchmark", type=_path())
@click.option(
    "--accounts",
    type=_path(),
    help="Accounts file of a book: its benchmarks, and its scenarios when no --scenario.",
)
@TRADE_HISTORY
def validate(scenarios, holdings, universe, prices, benchmark, accounts, trade_history) -> None:
    """Check inputs and scenarios; print every problem found; write nothing.

    Exit 0 when there is none, 1 when there are (one line each, at most 50 per file),
    2 when given nothing to check."""
    from rebalancer.runs.validate import validate as run

    files = (holdings, universe, prices, benchmark, accounts, trade_history)
    if not scenarios and all(f is None for f in files):
        raise click.UsageError(
            "nothing to check: give --scenario, --holdings, --universe, --prices, "
            "--benchmark, --accounts or --trade-history"
        )
    problems = run(
        scenarios=list(scenarios),
        holdings=holdings,
        universe=universe,
        prices=prices,
        benchmark=benchmark,
        accounts=accounts,
        trade_history=trade_history,
    )
    errors = [p for p in problems if not isinstance(p, WARNINGS)]
    for problem in problems:
        kind = "warning" if isinstance(problem, WARNINGS) else "error"
        err_console.print(one_line(f"{kind}: {problem}"), markup=False)
    if errors:
        sys.exit(1)
    click.echo("ok: no problems found")


@main.command(cls=_Command)
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
def scenarios(folder: Path | None) -> None:
    """List the scenarios in FOLDER (default: the shipped library) and what each changes."""
    from rebalancer.scenario.catalog import catalog

    for entry in catalog(folder):
        if entry.problem:
            _echo(f"{entry.path.name}: cannot be loaded: {entry.problem}")
            _echo()
            continue
        parent = f" (extends {entry.parent})" if entry.parent else ""
        _echo(f"{entry.path.name} — {entry.name}{parent}")
        if entry.description:
            _echo(f"    {entry.description}")
        for change in entry.changes:
            _echo(f"    {change}")
        _echo()


@main.command(cls=_Command)
@click.argument("proposal", type=_path())
@click.option(
    "--reproduce",
    is_flag=True,
    help="Also run the proposal again from its inputs and compare the orders.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only what fails.")
def verify(proposal: Path, reproduce: bool, quiet: bool) -> None:
    """Re-check a written proposal (its JSON summary) against its inputs.

    Exit 0 when the inputs and outputs are the files the proposal recorded and every
    limit holds on the written trades; 1 otherwise, with one line per problem."""
    from rebalancer.runs.verify import verify as run

    report = run(proposal, reproduce=reproduce)
    for good, text in report.findings:
        if not good:
            err_console.print(one_line(f"FAIL {text}"), markup=False)
        elif not quiet:
            _echo(f"ok   {text}")
    if not report.passed:
        sys.exit(1)
    _echo(f"verified: {proposal} ({len(report.findings)} checks)")


@main.command(cls=_Command)
@HOLDINGS
@UNIVERSE
@click.option(
    "--prices", type=_path(), required=True, help="Daily adjusted closes, wide (the history)."
)
@click.option("--benchmark", type=_path(), help="Benchmark weights (ticker, weight).")
@_scenarios("Scenario YAML (repeatable: side by side).")
@click.option("--account", help="Account to backtest when the holdings hold several.")
@ACCOUNT_ROW
@TAXABLE
@click.option("--start", required=True, callback=_iso_date, help="First date (ISO).")
@click.option("--end", required=True, callback=_iso_date, help="Last date (ISO).")
@click.option("--every", default="month", show_default=True, help="month, quarter or drift.")
@click.option(
    "--cash-rate", type=float, default=0.0, show_default=True, help="Annual rate cash earns."
)
@click.option("--out", type=_path(), help="Workbook (.xlsx): a sheet per scenario, a comparison.")
@click.option("--json", "json_path", type=_path(), help="Figures per scenario as JSON.")
@click.option("--chart", type=_path(), help="Equity curve and drawdown chart (.png).")
@click.option(
    "--log-dir",
    type=click.Path(path_type=Path),
    help="Folder for orders.csv, positions.csv, sales.csv and taxes.csv.",
)
@click.option("--dividends", type=_path(), help="Dividends CSV: date (ex-date), ticker, amount.")
@click.option(
    "--cash-schedule", type=_path(), help="Cash requests CSV: date, withdraw_usd, deposit_usd."
)
@click.option(
    "--signals",
    type=_path(),
    help="Dated signals CSV: date, ticker, universe columns (pb, adv, ...) as of each date.",
)
@click.option(
    "--total-return", is_flag=True, help="The prices include dividends (not with --dividends)."
)
@NO_CACHE
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or console table.")
def backtest(
    holdings, universe, prices, benchmark, scenarios, account, accounts, taxable, start, end,
    every, cash_rate, out, json_path, chart, log_dir, dividends, cash_schedule, signals,
    total_return, no_cache, quiet,
) -> None:  # fmt: skip
    """Backtest scenarios rebalanced every month, quarter or on drift over the prices."""
    from rebalancer.runs.backtest.files import backtest_to_files, comparison

    with _progress(quiet) as progress:

        def seen(day) -> None:
            # the bar appears once the dates run: a refusal before is its one line alone
            if not progress.task_ids:
                progress.add_task("backtest", total=None, note="")
            progress.update(progress.task_ids[0], note=f"{day:%Y-%m-%d}")

        result, written = backtest_to_files(
            holdings, universe, prices, list(scenarios), start=start, end=end, every=every,
            benchmark=benchmark, accounts=accounts, account=account, cash_rate=cash_rate,
            taxable=taxable, out=out, json_path=json_path, chart=chart, log_dir=log_dir,
            dividends=dividends, cash_schedule=cash_schedule, signals=signals,
            total_return=total_return, on_date=seen, cache=not no_cache,
        )  # fmt: skip
    if not quiet:
        table = comparison(result).set_index("figure")
        for line in table.to_string(float_format=lambda x: f"{x:,.4f}").splitlines():
            _echo(line)
        for warning in result.warnings:
            _echo(f"warning: {warning}")
        for run in result.runs:
            for date, detail in run.held_dates().itertuples(index=False):
                _echo(f"held {run.label} {date:%Y-%m-%d}: {detail}")
        _echo(f"{result.settings['price_dates']} price dates in {result.seconds:.1f} s")
        for path in written:
            _echo(f"wrote {path}")


@main.command("apply", cls=_Command)
@HOLDINGS
@click.option("--trades", type=_path(), required=True, help="Trades CSV the proposal wrote.")
@click.option("--account", required=True, help="Account the trades are for.")
@AS_OF
@click.option("--out", type=_path(), required=True, help="Holdings CSV to write (after trades).")
def apply_(holdings, trades, account, as_of, out) -> None:
    """Write the holdings after executing a proposal's trades (lots sold as the trades
    CSV names them, else HIFO; buys as new lots acquired on --as-of; cash net of the
    notional and the estimated costs), to propose again from."""
    from rebalancer.runs.apply import apply_to_file

    click.echo(f"wrote {apply_to_file(holdings, trades, account, out, as_of)}")


if __name__ == "__main__":  # pragma: no cover
    main()
