"""``rebalancer batch``: a book of accounts (and households), locally or on a Dask cluster."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path

import click

from rebalancer.cli.base import (
    AS_OF,
    LIMIT_BPS,
    ORDERS_FORMAT,
    PRICES,
    REPORT_CONFIG,
    TRADE_HISTORY,
    UNIVERSE,
    Command,
    echo,
    err_console,
    file_path,
    main,
    progress_bar,
    scheduler_address,
)
from rebalancer.errors import one_line


@main.command(cls=Command)
@click.option(
    "--accounts",
    type=file_path(),
    required=True,
    help="Accounts file: account, scenario, benchmark, taxable, cash_target.",
)
@click.option("--holdings", type=file_path(), required=True, help="Holdings of every account.")
@UNIVERSE
@PRICES
@click.option("--benchmark", type=file_path(), help="Benchmark for accounts that name none.")
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
    callback=scheduler_address,
    help="Dask scheduler address (tcp://HOST:PORT) instead of local.",
)
@click.option("--resume", is_flag=True, help="Skip accounts whose outputs are complete.")
@click.option("--workbooks", is_flag=True, help="Also write a workbook per account.")
@click.option(
    "--orders", type=file_path(), help="Order file (CSV) of every allocation, by block, to write."
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
        progress = progress_bar(quiet)

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
        echo(book.headline())
        for r in book.results:
            if r.status in ("failed", "infeasible"):
                echo(f"  {r.account}: {r.message}")
        if resume:
            echo(book.resumed())
        if book.written:
            out = Path(out_dir)
            also = f", {orders}" if orders else ""
            echo(f"wrote {out / 'book_summary.xlsx'}, {out / 'block_orders.csv'}{also}")
    if book.problem:  # a signal, all workers lost, a book file not written
        err_console.print(one_line(f"error: {book.stopped()}"), markup=False)
    if book.exit_code:  # 128 + signal; 1 when any account failed; 3 when any is infeasible
        if book.shortfall():
            kind = "infeasible" if book.exit_code == 3 else "error"
            err_console.print(one_line(f"{kind}: {book.shortfall()}"), markup=False)
        sys.exit(book.exit_code)
