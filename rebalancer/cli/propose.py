"""``rebalancer propose``: one account's proposal, or a household's (``--household``)."""

from __future__ import annotations

import click

from rebalancer.cli.base import (
    ACCOUNT_ROW,
    AS_OF,
    HOLDINGS,
    LIMIT_BPS,
    LOT_METHOD,
    NO_CACHE,
    ORDERS_FORMAT,
    PRICES,
    REPORT_CONFIG,
    SHOCKS,
    TAXABLE,
    TRADE_HISTORY,
    UNIVERSE,
    Command,
    echo,
    file_path,
    main,
)


@main.command(cls=Command)
@HOLDINGS
@UNIVERSE
@click.option("--scenario", type=file_path(), required=True, help="Scenario YAML.")
@PRICES
@click.option("--benchmark", type=file_path(), help="Benchmark weights (ticker, weight).")
@click.option("--account", help="Account to rebalance when the holdings hold several.")
@click.option("--out", type=file_path(), help="Trade sheet workbook (.xlsx) to write.")
@click.option("--trades", type=file_path(), help="Trades CSV to write.")
@click.option("--json", "json_path", type=file_path(), help="JSON summary to write.")
@click.option("--orders", type=file_path(), help="Order file (CSV) to write, one row per order.")
@ORDERS_FORMAT
@LIMIT_BPS
@click.option("--report", type=file_path(), help="Client proposal (PDF) to write.")
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
        echo(proposal.line())
        return
    if not quiet:
        print_summary(proposal)
        for path in written:
            echo(f"wrote {path}")


def _propose_household(name, *args, quiet: bool, **options) -> None:
    """``propose --household``: the library call, then one line per account and the
    household's checks."""
    from rebalancer.household.run import propose_household_to_files

    proposal, written = propose_household_to_files(name, *args, **options)
    if quiet:
        return
    echo(f"household {proposal.name}: {len(proposal.proposals)} accounts, "
          f"NAV {proposal.nav_usd:,.0f}, solved in {proposal.solve_seconds:.2f} s")  # fmt: skip
    if proposal.relaxed:  # the first warning says what --relax moved
        echo(proposal.warnings[0])
    for p in proposal.proposals:
        m = p.metrics
        echo(f"  {p.account}: {m.n_trades} trades, turnover {m.turnover:.2%}, "
              f"realized gain {m.realized_gain_usd:,.0f}")  # fmt: skip
    failed = proposal.checks[~proposal.checks["ok"]]
    echo("household checks: " + ("all pass" if failed.empty else
          "FAIL " + ", ".join(failed["check"])))  # fmt: skip
    for path in written:
        echo(f"wrote {path}")
