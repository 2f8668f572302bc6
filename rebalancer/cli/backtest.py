"""``rebalancer backtest``: scenarios rebalanced over a window of history."""

from __future__ import annotations

from pathlib import Path

import click

from rebalancer.cli.base import (
    ACCOUNT_ROW,
    HOLDINGS,
    NO_CACHE,
    TAXABLE,
    UNIVERSE,
    Command,
    echo,
    file_path,
    iso_date,
    main,
    progress_bar,
    scenario_options,
)


@main.command(cls=Command)
@HOLDINGS
@UNIVERSE
@click.option(
    "--prices", type=file_path(), required=True, help="Daily adjusted closes, wide (the history)."
)
@click.option("--benchmark", type=file_path(), help="Benchmark weights (ticker, weight).")
@scenario_options("Scenario YAML (repeatable: side by side).")
@click.option("--account", help="Account to backtest when the holdings hold several.")
@ACCOUNT_ROW
@TAXABLE
@click.option("--start", required=True, callback=iso_date, help="First date (ISO).")
@click.option("--end", required=True, callback=iso_date, help="Last date (ISO).")
@click.option("--every", default="month", show_default=True, help="month, quarter or drift.")
@click.option(
    "--cash-rate", type=float, default=0.0, show_default=True, help="Annual rate cash earns."
)
@click.option(
    "--out", type=file_path(), help="Workbook (.xlsx): a sheet per scenario, a comparison."
)
@click.option("--json", "json_path", type=file_path(), help="Figures per scenario as JSON.")
@click.option("--chart", type=file_path(), help="Equity curve and drawdown chart (.png).")
@click.option(
    "--log-dir",
    type=click.Path(path_type=Path),
    help="Folder for orders.csv, positions.csv, sales.csv and taxes.csv.",
)
@click.option(
    "--dividends", type=file_path(), help="Dividends CSV: date (ex-date), ticker, amount."
)
@click.option(
    "--cash-schedule", type=file_path(), help="Cash requests CSV: date, withdraw_usd, deposit_usd."
)
@click.option(
    "--signals",
    type=file_path(),
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

    with progress_bar(quiet) as progress:

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
            echo(line)
        for warning in result.warnings:
            echo(f"warning: {warning}")
        for run in result.runs:
            for date, detail in run.held_dates().itertuples(index=False):
                echo(f"held {run.label} {date:%Y-%m-%d}: {detail}")
        echo(f"{result.settings['price_dates']} price dates in {result.seconds:.1f} s")
        for path in written:
            echo(f"wrote {path}")
