"""Hold rather than trade when trading is not worth it: re-runs settle.

A proposal applied and proposed again in the same market should trade nothing, unless
a per-run limit or the impact cost stopped the first short. Yet every run rounds to
whole lots and re-solves for the minimum trade size (freezing small trades, lifting
the largest small buys of a tilted group to the minimum), and from the first run's
result those heuristics pick other names: the second run re-shuffles — buying what the
first sold, selling what it lifted — for a gain the optimizer itself cannot tell from
zero, or, once the minimum-trade passes have constrained it, at a loss.

The rule: holding the current portfolio is a candidate too. When it keeps every hard
limit of the scenario (position and sector caps, tracking error, tilt bands, cash above
its floor; limits as the advisor states them, without the optimizer's safety margins,
since no rounding follows) and the final answer's objective (risk-adjusted expected
return net of costs and taxes) beats holding's by no more than ``HURDLE`` — the
tolerance to which the working set proves the optimum (``GAP_TOL``, 0.1 bp a year) —
the proposal holds: no trades. Holding's objective comes from one extra solve of the
same problem with every name frozen at its current weight (cash and bands widened to
where they are now: the objective alone is compared, not the limits).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from rebalancer.errors import RebalancerError

if TYPE_CHECKING:
    from rebalancer.optimize.problem import ProblemData, Solution
    from rebalancer.optimize.working_set import WorkingSet
    from rebalancer.request import Request

# what a trade list must gain over holding, in the objective's units (return a year)
HURDLE = 1e-5
LIMIT_TOL = 1e-9


def holding_keeps_limits(request: Request) -> bool:
    """Whether the current holdings keep every hard limit, as the scenario states it."""
    r, c = request, request.scenario.constraints
    w0, nav = r.w0, r.nav
    if r.cash_before < c.cash.min * nav - 1e-6 * nav:
        return False
    if (w0 > r.position_cap + LIMIT_TOL).any():
        return False
    if c.sector_max is not None:
        sector_weights = np.asarray(r.full_structure.sector_groups, float) @ w0
        if (sector_weights > c.sector_max + LIMIT_TOL).any():
            return False
    te = np.sqrt(max(r.risk.variance(w0 - r.ref), 0.0))
    if c.max_tracking_error is not None and te > c.max_tracking_error * (1 - 1e-4):
        return False
    tilts = r.scenario.tilts
    if len(tilts):
        groups = np.asarray(r.full_structure.tilt_groups, float)
        exposure = groups @ (w0 - r.ref)
        targets = np.array([t.target for t in tilts.values()])
        bands = np.array([t.band for t in tilts.values()])
        if (np.abs(exposure - targets) > bands + LIMIT_TOL).any():
            return False
    return True


def holding_objective(ws: WorkingSet, data: ProblemData) -> float | None:
    """The objective of holding: the problem solved with every name frozen at its
    current weight; None if it cannot be solved."""
    from rebalancer.optimize.problem import BIG

    w0 = np.asarray(data.w0, float)
    groups = np.asarray(ws.structure.tilt_groups, float)
    # whole-universe data: every name is in ``groups`` (no offset for names outside)
    exposure = groups @ (w0 - np.asarray(data.ref, float)) if len(groups) else None
    frozen = dataclasses.replace(
        data,
        buy_cap=np.zeros_like(data.buy_cap),
        sell_cap=np.zeros_like(data.sell_cap),
        lot_cap=None if data.lot_cap is None else np.zeros_like(data.lot_cap),
        position_cap=np.maximum(data.position_cap, w0),
        cash_target=max(1.0 - float(w0.sum()), 0.0),
        max_tracking_error=BIG,
        sector_max=BIG,
        max_turnover=BIG,
        **(
            {}
            if exposure is None
            else {
                "tilt_lo": np.minimum(data.tilt_lo, exposure - 1e-6),
                "tilt_hi": np.maximum(data.tilt_hi, exposure + 1e-6),
            }
        ),
    )
    try:
        return float(ws.solve(frozen, explain=False).objective)
    except (RebalancerError, RuntimeError):
        return None


def hold_instead(
    ws: WorkingSet, request: Request, data: ProblemData, solution: Solution
) -> Solution | None:
    """The holding answer (weights = current, objective = holding's) when it is as
    good as ``solution`` to within ``HURDLE`` and keeps every hard limit; else None."""
    if not np.abs(solution.weights - data.w0).sum() or not holding_keeps_limits(request):
        return None
    held = holding_objective(ws, data)
    if held is None or solution.objective - held > HURDLE:
        return None
    return dataclasses.replace(
        solution,
        weights=np.asarray(data.w0, float).copy(),
        cash=max(1.0 - float(np.sum(data.w0)), 0.0),
        objective=held,
        buy=None if solution.buy is None else np.zeros_like(solution.buy),
        lot_sold=None if solution.lot_sold is None else np.zeros_like(solution.lot_sold),
        hold=True,
        warnings=[
            *solution.warnings,
            "no trades: the best orders would gain less than 0.1 bp a year over holding "
            f"({(solution.objective - held) * 1e4:+.3f} bp), and holding keeps every limit",
        ],
    )
