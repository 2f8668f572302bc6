"""``rebalancer demo``: the shipped example accounts rebalanced under a shipped (or a
given) scenario, each written as a workbook, trades CSV and JSON summary.

``run_demo`` reads the example holdings, universe, prices, benchmark and accounts once
and proposes each account of the holdings in turn (``pipeline.propose_account``), as
``rebalancer propose`` would for that account with the same files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rebalancer.export import write_outputs
from rebalancer.pipeline import propose_account
from rebalancer.prepare.inputs import load_inputs
from rebalancer.report.proposal import Proposal
from rebalancer.scenario import load_scenario
from rebalancer.shipped import example_paths

SCENARIO = "smallcap_rerating.yaml"  # the default, from the shipped scenario library
AS_OF = "2026-11-20"  # the examples' trade date: their lots' holding periods end on it


@dataclass(frozen=True)
class DemoAccount:
    """One example account's proposal and the files written for it (workbook, trades
    CSV, JSON summary, in that order)."""

    proposal: Proposal
    written: list[Path]


def run_demo(
    out_dir: str | os.PathLike[str],
    scenario: str | os.PathLike[str] | None = None,
    as_of: str | None = None,
    on_account: Callable[[DemoAccount], None] | None = None,
) -> list[DemoAccount]:
    """Propose every example account under ``scenario`` (default ``SCENARIO`` of the
    shipped library) on ``as_of`` (ISO; default ``AS_OF``) and write
    ``<out_dir>/<account>.xlsx``, ``.trades.csv`` and ``.json`` for each, in the order
    the holdings list the accounts. ``on_account`` is called as each is written.
    Raises ``RebalancerError`` (a bad scenario, conflicting limits) at the first
    account that cannot be proposed; the accounts before it stay written."""
    paths = example_paths()
    scenario_path = scenario or paths["scenarios"] / SCENARIO
    scen = load_scenario(scenario_path)
    data = load_inputs(
        paths["holdings"], paths["universe"], paths["prices"], paths["benchmark"], paths["accounts"]
    )
    data.paths["scenario"] = str(scenario_path)
    done = []
    for account in dict.fromkeys(data.holdings["account"]):
        proposal = propose_account(data, scen, account, as_of or AS_OF)
        stem = Path(out_dir) / account
        written = write_outputs(
            proposal,
            out=stem.with_suffix(".xlsx"),
            trades=stem.with_suffix(".trades.csv"),
            json_path=stem.with_suffix(".json"),
        )
        done.append(DemoAccount(proposal, written))
        if on_account:
            on_account(done[-1])
    return done
