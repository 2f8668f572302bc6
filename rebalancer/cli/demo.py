"""``rebalancer demo``: the shipped example accounts proposed into a folder."""

from __future__ import annotations

from pathlib import Path

import click

from rebalancer.cli.base import (
    Command,
    echo,
    file_path,
    iso_date,
    main,
)


@main.command(cls=Command)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for the example proposals.",
)
@click.option("--scenario", type=file_path(), help="Scenario YAML (default: smallcap_rerating).")
@click.option(
    "--as-of", callback=iso_date, help="Trade date (ISO; default: the examples' trade date)."
)
@click.option("--quiet", "-q", is_flag=True)
def demo(out_dir: Path, scenario, as_of, quiet) -> None:
    """Rebalance the three example accounts under the small-cap re-rating scenario."""
    from rebalancer.console import print_summary
    from rebalancer.runs.demo import run_demo

    def show(done) -> None:
        if not quiet:
            print_summary(done.proposal)
            echo("wrote " + ", ".join(str(p) for p in done.written))
            echo()

    run_demo(out_dir, scenario, as_of, on_account=show)
