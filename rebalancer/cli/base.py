"""What every command of the ``rebalancer`` command line shares: the group (``main``),
the command class that turns a user's mistake or a stopping signal into one line and
its exit code, console helpers, and the options several commands take (same names,
same help).

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from rebalancer import __version__
from rebalancer.errors import RebalancerError, Stopped, one_line

err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def echo(text: str = "") -> None:
    """A line to stdout; names, labels and paths from inputs and options in it have
    their control characters written as escapes, so none acts on the terminal."""
    click.echo(one_line(text))


def note(text: str) -> str:
    """A progress bar note (rich markup): escaped for the terminal and for markup."""
    return escape(one_line(text))


def fail(exc: RebalancerError | Stopped) -> None:
    kind = "infeasible" if exc.exit_code == 3 else "error"
    err_console.print(f"{kind}: {exc}", markup=False)
    sys.exit(exc.exit_code)


class OneLineUsage(click.UsageError):
    """A usage error (exit 2) as one line naming the option, like every other user
    mistake: click's own shows a usage block and a hint above its message."""

    def show(self, file=None) -> None:
        err_console.print(one_line(f"error: {self.message}"), markup=False)


@contextmanager
def usage_in_one_line() -> Iterator[None]:
    try:
        yield
    except (OneLineUsage, click.exceptions.NoArgsIsHelpError):  # the latter shows the help
        raise
    except click.UsageError as exc:  # a bad or missing option or value, an unknown command
        raise OneLineUsage(exc.format_message(), exc.ctx) from None
    except KeyboardInterrupt:  # Ctrl-C where no command handles it: click says "Aborted!"
        err_console.print("error: interrupted (SIGINT)", markup=False)
        sys.exit(128 + signal.SIGINT)


class Group(click.Group):
    """The command group: usage errors in one line (``usage_in_one_line``), whether
    found parsing the group's options, the command's or in its body."""

    def make_context(self, *args, **kwargs) -> click.Context:
        with usage_in_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        with usage_in_one_line():
            return super().invoke(ctx)


class Command(click.Command):
    """Turns a user-caused RebalancerError, or a signal that stopped the run before it
    wrote anything (``errors.Stopped``), into one line and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            with signals_stop():
                return super().invoke(ctx)
        except (RebalancerError, Stopped) as exc:
            fail(exc)


@contextmanager
def signals_stop() -> Iterator[None]:
    """SIGINT and SIGTERM stop a command with one line and exit 128 + the signal's
    number, saying whether its outputs had been published: they are published whole
    or not at all, the renames shielded from signals (``export.atomic``). A book's
    engines put their own handlers in place while its accounts run."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python handles signals on the main thread only
        return
    before = published()

    def handler(signum: int, frame: object) -> None:
        written = published() > before
        said = "its outputs were written before it stopped" if written else "nothing written"
        raise Stopped(signum, f"stopped by {signal.Signals(signum).name}; {said}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def published() -> int:
    # the export module is imported by the commands that write; before that, none
    atomic = sys.modules.get("rebalancer.export.atomic")
    return atomic.published() if atomic is not None else 0


def progress_bar(quiet: bool):
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


def file_path():
    # existence is checked by the readers, so a missing input is a bad input (exit 1)
    # naming the file, not a usage error
    return click.Path(dir_okay=False, path_type=Path)


# Options shared by several commands (same names, same help).
HOLDINGS = click.option(
    "--holdings", type=file_path(), required=True, help="Holdings CSV/XLSX (tax lots)."
)
UNIVERSE = click.option(
    "--universe", type=file_path(), required=True, help="Security master with signals."
)
PRICES = click.option(
    "--prices", type=file_path(), help="Daily adjusted closes, wide (for the risk model)."
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
    type=file_path(),
    help="YAML with the report's firm_name, disclaimer and top_trades.",
)
SHOCKS = click.option(
    "--shock",
    "shocks",
    multiple=True,
    help="Extra stress test: 'name=NAME,GROUP=RETURN,...' (repeatable).",
)


def iso_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A date option as ``YYYY-MM-DD`` text, as a date cell holds one (1900-2099);
    anything else is a usage error (exit 2)."""
    from rebalancer.inputs import trade_date

    if value is None:
        return None
    try:
        return trade_date(value).date().isoformat()
    except RebalancerError as exc:
        raise click.BadParameter(exc.message) from None


def scheduler_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A Dask scheduler address; anything else is a usage error (exit 2)."""
    from rebalancer.runs.book.dask_engine import scheduler_problem

    problem = None if value is None else scheduler_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


def scenario_options(help_text: str):
    """``--scenario`` given one or more times (``scenarios``: a tuple of paths)."""
    return click.option(
        "--scenario", "scenarios", type=file_path(), required=True, multiple=True, help=help_text
    )


AS_OF = click.option(
    "--as-of", callback=iso_date, help="Trade date (ISO) for holding periods; default today."
)
TRADE_HISTORY = click.option(
    "--trade-history", type=file_path(), help="Past trades, for wash-sale rules."
)
ACCOUNT_ROW = click.option(
    "--accounts",
    type=file_path(),
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


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rebalancer")
def main() -> None:
    """Rebalancer: scenario-driven rebalancing proposals for advisors."""
