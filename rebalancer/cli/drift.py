"""``rebalancer drift``: which accounts of a book are out of tolerance (the queue)."""

from __future__ import annotations

import click

from rebalancer.cli.base import (
    PRICES,
    UNIVERSE,
    Command,
    echo,
    file_path,
    main,
)


@main.command(cls=Command)
@click.option(
    "--accounts",
    type=file_path(),
    required=True,
    help="Accounts file: account, scenario, benchmark, cash_target, status, "
    "withdraw_usd, deposit_usd.",
)
@click.option("--holdings", type=file_path(), required=True, help="Holdings of every account.")
@UNIVERSE
@PRICES
@click.option("--benchmark", type=file_path(), help="Benchmark for accounts that name none.")
@click.option("--out", type=file_path(), help="Queue to write: .xlsx or .csv.")
@click.option("--json", "json_path", type=file_path(), help="Queue as JSON.")
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
            echo(f"wrote {path}")
