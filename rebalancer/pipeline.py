"""``propose``: holdings + universe + scenario -> a checked Proposal.

read -> groups -> risk -> signals / returns -> optimizer -> rounded orders -> lots
-> checks -> Proposal. Each stage lives in its own module; this one only wires them:
``request.prepare`` -> ``optimize`` -> ``report.build_proposal``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd

from rebalancer.errors import InfeasibleError
from rebalancer.optimize.min_trade import solve_with_min_trade
from rebalancer.optimize.problem import RebalanceProblem, Solution
from rebalancer.proposal import Proposal
from rebalancer.report import build_proposal
from rebalancer.request import BAND_MARGIN, Inputs, Request, load_inputs, prepare
from rebalancer.scenario import Scenario, load_scenario
from rebalancer.stress import parse_shock

__all__ = ["Inputs", "load_inputs", "optimize", "prepare", "propose", "propose_account"]


def propose(
    holdings,
    universe,
    scenario,
    *,
    prices=None,
    benchmark=None,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    shocks: list[str] = (),
) -> Proposal:
    """One account's rebalance proposal (the Python API of ``rebalancer propose``).

    ``holdings``/``universe``/``prices``/``benchmark`` are paths or already-read
    frames; ``scenario`` a path or a ``Scenario``; ``shocks`` extra stress tests in
    the ``--shock`` form (``"name=NAME,GROUP=RETURN,..."``). Raises ``InputError``
    or ``ScenarioError`` for bad input and ``InfeasibleError`` when no portfolio
    meets the limits.
    """
    data = load_inputs(holdings, universe, prices, benchmark)
    if not isinstance(scenario, Scenario):
        data.paths["scenario"] = str(scenario)
        scenario = load_scenario(scenario)
    if shocks:
        extra = [parse_shock(s) for s in shocks]
        scenario = dataclasses.replace(scenario, shocks=[*scenario.shocks, *extra])
    return propose_account(data, scenario, account, as_of)


def propose_account(
    data: Inputs,
    scenario: Scenario,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
) -> Proposal:
    """One account's proposal from already-read inputs (what ``batch`` and ``demo`` call)."""
    t0 = time.perf_counter()
    request = prepare(data, scenario, account, as_of)
    t1 = time.perf_counter()
    solution = optimize(request)
    t2 = time.perf_counter()
    timings = {
        "prepare": t1 - t0,
        "optimize": t2 - t1,
        "compile": solution.compile_seconds,
        "solve": solution.solve_seconds,
        "total": t2 - t0,
    }
    return build_proposal(request, solution, timings)


def optimize(request: Request, problem: RebalanceProblem | None = None) -> Solution:
    """Solve the request, honouring the minimum trade size by re-solving.

    Without ``problem`` the problem is built with constants (fastest for one
    solve); a parametric ``problem`` of the same structure is updated and re-solved
    instead (what-if sweeps). Raises ``InfeasibleError`` naming the conflicts.
    """
    if problem is None:
        problem = RebalanceProblem(request.structure, request.data, parametric=False)
    try:
        solution = problem.solve(request.data)
    except InfeasibleError as exc:
        raise InfeasibleError(request.account, exc.conflicts, exc.binding) from None
    return solve_with_min_trade(
        problem,
        request.data,
        solution,
        request.nav,
        request.scenario.constraints.min_trade_usd,
        request.lot_usd,
        immaterial=BAND_MARGIN,
    )


def example_paths() -> dict[str, Path]:
    """Where the shipped example data lives (also inside an installed package)."""
    from importlib.resources import files

    base = Path(str(files("rebalancer.examples")))
    scen = Path(str(files("rebalancer.scenarios")))
    return {
        "holdings": base / "holdings.csv",
        "universe": base / "universe.csv",
        "prices": base / "prices.csv",
        "benchmark": base / "benchmark.csv",
        "accounts": base / "accounts.csv",
        "scenarios": scen,
    }
