"""``rebalancer validate``: every input and scenario checked, every problem listed."""

from __future__ import annotations

import sys

import click

from rebalancer.cli.base import (
    TRADE_HISTORY,
    Command,
    err_console,
    file_path,
    main,
)
from rebalancer.errors import WARNINGS, one_line


@main.command(cls=Command)
@click.option(
    "--scenario",
    "scenarios",
    type=file_path(),
    multiple=True,
    help="Scenario YAML to check (repeatable).",
)
@click.option("--holdings", type=file_path())
@click.option("--universe", type=file_path())
@click.option("--prices", type=file_path())
@click.option("--benchmark", type=file_path())
@click.option(
    "--accounts",
    type=file_path(),
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
