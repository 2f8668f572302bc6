"""``rebalancer apply``: the holdings after a proposal's trades, to propose again from."""

from __future__ import annotations

import click

from rebalancer.cli.base import (
    AS_OF,
    HOLDINGS,
    Command,
    file_path,
    main,
)


@main.command("apply", cls=Command)
@HOLDINGS
@click.option("--trades", type=file_path(), required=True, help="Trades CSV the proposal wrote.")
@click.option("--account", required=True, help="Account the trades are for.")
@AS_OF
@click.option(
    "--out", type=file_path(), required=True, help="Holdings CSV to write (after trades)."
)
def apply_(holdings, trades, account, as_of, out) -> None:
    """Write the holdings after executing a proposal's trades (lots sold as the trades
    CSV names them, else HIFO; buys as new lots acquired on --as-of; cash net of the
    notional and the estimated costs), to propose again from."""
    from rebalancer.runs.apply import apply_to_file

    click.echo(f"wrote {apply_to_file(holdings, trades, account, out, as_of)}")
