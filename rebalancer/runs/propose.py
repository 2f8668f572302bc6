"""``rebalancer propose``: one account's proposal, checked and written.

``propose_to_files`` refuses, before any work, an output that is one of the run's
input files or scenarios; then proposes (``pipeline.propose``: read, prepare,
optimize, round, check; with ``relax`` the smallest relaxation of conflicting limits)
and writes the outputs asked for together, whole or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rebalancer.export import check_outputs, protected_files, write_outputs
from rebalancer.pipeline import propose
from rebalancer.report.proposal import Proposal


def propose_to_files(
    holdings,
    universe,
    scenario,
    *,
    prices=None,
    benchmark=None,
    accounts=None,
    trade_history=None,
    out=None,
    trades=None,
    json_path=None,
    **options: Any,
) -> tuple[Proposal, list[Path]]:
    """``rebalancer propose``: refuse an output (``out`` workbook, ``trades`` CSV,
    ``json_path`` summary) that is an input or the scenario (with its ``extends``
    chain) of the run; propose (``pipeline.propose`` with ``options``: account, as_of,
    shocks, taxable, lot_method, relax); write the outputs asked for together. Returns
    the proposal and the paths written (workbook, CSV, JSON, those asked for).
    Raises ``RebalancerError`` (bad input, conflicting limits) before writing
    anything."""
    inputs = {"holdings": holdings, "universe": universe, "prices": prices,
              "benchmark": benchmark, "accounts": accounts, "trade_history": trade_history}  # fmt: skip
    check_outputs({"--out": out, "--trades": trades, "--json": json_path},
                  protected_files(inputs, [scenario]))  # fmt: skip
    proposal = propose(
        holdings,
        universe,
        scenario,
        prices=prices,
        benchmark=benchmark,
        accounts=accounts,
        trade_history=trade_history,
        **options,
    )
    written = write_outputs(proposal, out=out, trades=trades, json_path=json_path)
    return proposal, written
