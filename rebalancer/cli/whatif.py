"""``rebalancer whatif``: one account under several scenarios or settings, compared."""

from __future__ import annotations

import click

from rebalancer.cli.base import (
    ACCOUNT_ROW,
    AS_OF,
    HOLDINGS,
    LOT_METHOD,
    NO_CACHE,
    PRICES,
    SHOCKS,
    TAXABLE,
    TRADE_HISTORY,
    UNIVERSE,
    Command,
    echo,
    file_path,
    main,
    note,
    progress_bar,
    scenario_options,
)


@main.command(cls=Command)
@HOLDINGS
@UNIVERSE
@scenario_options("Scenario YAML (repeatable: one run each).")
@click.option(
    "--vary",
    "vary",
    multiple=True,
    help="Sweep a setting: KEY=V1,V2,... (dotted key; two make a grid).",
)
@SHOCKS
@PRICES
@click.option("--benchmark", type=file_path(), help="Benchmark weights (ticker, weight).")
@click.option("--account", help="Account to analyse when the holdings hold several.")
@click.option("--out", type=file_path(), help="Comparison workbook (.xlsx) to write.")
@click.option("--chart", type=file_path(), help="Trade-off and exposure chart (.png) to write.")
@click.option("--json", "json_path", type=file_path(), help="Comparison table as JSON.")
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
    type=file_path(),
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

    with progress_bar(quiet) as progress:

        def start(total: int) -> None:
            progress.add_task("what-if runs", total=total, note="")

        def done(run) -> None:
            progress.update(
                progress.task_ids[0], advance=1, note=note(f"{run.label}: {run.status}")
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
            echo(f"wrote {path}")
