"""``rebalancer verify``: a written proposal re-checked against its recorded inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rebalancer.cli.base import (
    Command,
    echo,
    err_console,
    file_path,
    main,
)
from rebalancer.errors import one_line


@main.command(cls=Command)
@click.argument("proposal", type=file_path())
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
            echo(f"ok   {text}")
    if not report.passed:
        sys.exit(1)
    echo(f"verified: {proposal} ({len(report.findings)} checks)")
