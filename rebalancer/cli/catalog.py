"""``rebalancer scenarios``: the scenario library, one line each."""

from __future__ import annotations

from pathlib import Path

import click

from rebalancer.cli.base import (
    Command,
    echo,
    main,
)


@main.command(cls=Command)
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
def scenarios(folder: Path | None) -> None:
    """List the scenarios in FOLDER (default: the shipped library) and what each changes."""
    from rebalancer.scenario.catalog import catalog

    for entry in catalog(folder):
        if entry.problem:
            echo(f"{entry.path.name}: cannot be loaded: {entry.problem}")
            echo()
            continue
        parent = f" (extends {entry.parent})" if entry.parent else ""
        echo(f"{entry.path.name} — {entry.name}{parent}")
        if entry.description:
            echo(f"    {entry.description}")
        for change in entry.changes:
            echo(f"    {change}")
        echo()
