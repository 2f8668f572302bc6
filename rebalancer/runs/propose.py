"""``rebalancer propose``: one account's proposal, checked and written.

``propose_to_files`` refuses, before any work, an output that is one of the run's
input files or scenarios; then proposes (``pipeline.propose``: read, prepare,
optimize, round, check, on inputs read once; with ``relax`` the smallest relaxation of conflicting limits)
and writes the outputs asked for together, whole or not at all. With
``skip_in_tolerance`` (the command line without ``--force``) an account the drift
scan finds in tolerance (``runs.drift``) is not proposed: no optimizer, no files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rebalancer.export import check_outputs, client_terms, protected_files, write_outputs
from rebalancer.inputs.cells import trade_date
from rebalancer.pipeline import proposal_scenario, propose_inputs
from rebalancer.prepare.blas import one_blas_thread
from rebalancer.prepare.inputs import Inputs, load_inputs
from rebalancer.prepare.terms import account_terms
from rebalancer.report.proposal import Proposal
from rebalancer.runs.drift import IN_TOLERANCE, scan_account
from rebalancer.scenario import Scenario
from rebalancer.scenario.loader import load_scenario


@dataclass(frozen=True)
class InTolerance:
    """An account left alone: the drift scan finds it in tolerance."""

    account: str
    reason: str

    def line(self) -> str:
        return (
            f"{self.account}: in tolerance, {self.reason}; no trades proposed "
            "(--force proposes anyway)"
        )


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
    orders=None,
    orders_format: str | None = None,
    limit_bps: str | float | None = None,
    report=None,
    report_config=None,
    skip_in_tolerance: bool = False,
    cache: bool = False,
    **options: Any,
) -> tuple[Proposal | InTolerance, list[Path]]:
    """``rebalancer propose``: check the order file's and the report's settings
    (``export.client_terms``: ``orders_format``, ``limit_bps``, the ``report_config``
    file); refuse an output (``out`` workbook, ``trades`` CSV, ``orders`` file,
    ``report`` PDF, ``json_path`` summary) that is an input, the report config or the
    scenario (with its ``extends`` chain) of the run; propose (``pipeline.propose`` with ``options``: account, as_of,
    shocks, taxable, lot_method, relax); write the outputs asked for together. Returns
    the proposal and the paths written (workbook, CSV, JSON, those asked for).
    ``cache``: the market files and the risk model through the on-disk cache
    (``prepare.cache``; the proposal's ``cache`` says what it gave).
    Raises ``RebalancerError`` (bad input, conflicting limits) before writing
    anything."""
    inputs = {"holdings": holdings, "universe": universe, "prices": prices,
              "benchmark": benchmark, "accounts": accounts, "trade_history": trade_history}  # fmt: skip
    terms, config = client_terms(orders, orders_format, limit_bps, report, report_config)
    outputs = {"--out": out, "--trades": trades, "--orders": orders, "--report": report,
               "--json": json_path}  # fmt: skip
    protected = protected_files({**inputs, "report config": report_config}, [scenario])
    check_outputs(outputs, protected)
    # a cash request asked for here is never in tolerance (as one in the accounts
    # file is not: the drift scan's ``cash request``)
    data = load_inputs(holdings, universe, prices, benchmark, accounts, trade_history, cache=cache)
    # every option is checked before the in-tolerance gate, so that a mistake is
    # reported whether or not the account would be proposed
    scenario = proposal_scenario(data, scenario, options.pop("shocks", ()))
    checked_options(data, options)
    if skip_in_tolerance and not (options.get("withdraw_usd") or options.get("deposit_usd")):
        calm = in_tolerance(data, scenario, options.get("account"))
        if calm is not None:
            return calm, []
    proposal = propose_inputs(data, scenario, **options)
    if data.cache.disk_use:
        proposal = dataclasses.replace(proposal, cache=dict(data.cache.disk_use))
    written = write_outputs(proposal, out=out, trades=trades, json_path=json_path,
                            orders=orders, order_terms=terms, report=report,
                            report_config=config)  # fmt: skip
    return proposal, written


def checked_options(data: Inputs, options: dict[str, Any]) -> None:
    """Raise ``InputError`` for an option of ``propose`` the pipeline would refuse
    later: the trade date (``--as-of``), the account's terms (``--account``, its tax
    status and lot method, a withdrawal above its NAV: ``account_terms``)."""
    trade_date(options.get("as_of"))
    terms = {key: options.get(key) for key in TERMS}
    account_terms(data, options.get("account"), **terms)


# the options ``account_terms`` reads
TERMS = ("taxable", "lot_method", "withdraw_usd", "deposit_usd", "mode")


def in_tolerance(data: Inputs, scenario, account: str | None) -> InTolerance | None:
    """The account's drift status (``runs.drift.scan_account``, with its accounts file
    row when given) when it is in tolerance, else None."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)

    def risk_model(universe):
        # the inputs' cached model, fitted as ``prepare`` fits it (one BLAS thread: the
        # same bits), so the proposal that may follow does not fit it again
        with one_blas_thread():
            return data.risk_model(universe)

    row = scan_account(data.lots_of(account), data.universe, scenario,
                       prices=data.prices, benchmark=data.benchmark, accounts=data.accounts,
                       risk_model=risk_model)  # fmt: skip
    return InTolerance(row["account"], row["reason"]) if row["status"] == IN_TOLERANCE else None
