"""Hold rather than trade when trading is not worth it: re-runs settle.

A proposal applied and proposed again in the same market should trade nothing, unless
a per-run limit or the impact cost stopped the first short. Yet every run rounds to
whole lots and re-solves for the minimum trade size (freezing small trades, lifting
the largest small buys of a tilted group to the minimum), and from the first run's
result those heuristics pick other names: the second run re-shuffles — buying what the
first sold, selling what it lifted — for a gain the optimizer itself cannot tell from
zero, or, once the minimum-trade passes have constrained it, at a loss.

The rule: holding the current portfolio is a candidate too. When it keeps every hard
limit of the scenario (position and sector caps, tracking error, cash above its floor;
limits as the advisor states them, without the optimizer's safety margins, since no
rounding follows) and each name's active position cap, misses the tilt bands and the
cash target by no more than the orders would, and the final, rounded orders beat it
by no more than the materiality hurdle in the optimizer's own objective
(risk-adjusted expected return a year net of costs and taxes, in bp of NAV) — the
scenario's ``costs.hurdle_bps``, 1 bp unset (``DEFAULT_HURDLE_BPS``), never under
the tolerance to which the working set proves the optimum, 1e-5 (``GAP_TOL``) — the
proposal holds: no trades, and a warning says why ("not worth trading"). Both
objectives come from the same problem solved with every name pinned (two extra
solves, only when holding keeps every limit): the rounded orders are judged, not the
continuous answer, because in a small account whole lots can lose more than the
continuous answer gains.

Why a hurdle above the tolerance: a re-run of a step (a path held back by the impact
cost or a per-run limit) or of a small account gains less each run, while whole lots,
the minimum trade and a taxable account's lots make its orders differ from the last
run's by whole orders; below a basis point a year the difference is noise the advisor
would not send, and holding is the step that settles. Holding never stands in for a
required trade: a cash request (the cash target and floor), a forced exit (a position
cap of 0), a breached cap or band — there holding does not keep the limits and the
orders go whatever they gain. A scenario wanting every improvement sets it to 0.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from rebalancer.errors import RebalancerError
from rebalancer.limits.active_position import ACTIVE_POSITION

if TYPE_CHECKING:
    from rebalancer.optimize.problem import ProblemData
    from rebalancer.optimize.working_set import WorkingSet
    from rebalancer.prepare.request import Request

# the optimizer's own tolerance, in the objective's units (return a year): the working
# set proves the optimum to it (``GAP_TOL``), so a smaller gain is not one
TOLERANCE = 1e-5
# the materiality hurdle unset (``costs.hurdle_bps``), bp of NAV in the objective
DEFAULT_HURDLE_BPS = 1.0


def hurdle(scenario) -> float:
    """What a trade list must gain over holding, in the objective's units: the
    scenario's ``costs.hurdle_bps`` (unset: ``DEFAULT_HURDLE_BPS``), at least the
    optimizer's tolerance."""
    bps = scenario.costs.hurdle_bps
    return max((DEFAULT_HURDLE_BPS if bps is None else float(bps)) * 1e-4, TOLERANCE)


LIMIT_TOL = 1e-9


def holding_keeps_limits(request: Request, w_after: np.ndarray, cash_after_usd: float) -> bool:
    """Whether the current holdings keep every hard limit, as the scenario states it,
    and each name's active position cap, and miss the tilt bands (a target whole lots
    may not reach in a small account, flagged rather than refused) and the cash target
    (which the objective does not price: raising cash for a withdrawal must not give
    way to holding) by no more than the orders — ``w_after``, ``cash_after_usd`` net
    of costs — would."""
    r, c = request, request.scenario.constraints
    if not holding_keeps_hard_limits(r):
        return False
    w0, nav = r.position.weight, r.position.nav_usd
    target_usd = c.cash.target * nav
    if abs(r.position.cash_usd - target_usd) > abs(cash_after_usd - target_usd) + 1e-6 * nav:
        return False
    if c.max_active_position is not None:
        # a name outside its active cap today: the orders may be bringing it in
        caps = ACTIVE_POSITION.caps(r.universe, r.scenario)
        if (np.abs(w0 - r.reference_weight) > caps + LIMIT_TOL).any():
            return False
    return band_miss(r, w0) <= band_miss(r, w_after) + LIMIT_TOL


# how far outside the tilt bands (summed) the holdings may be and still stand in for
# orders that break a hard limit: the product's own check tolerance for a band
BAND_HOLD_TOL = 1e-6


def holding_stands_in(request: Request, weights: np.ndarray) -> bool:
    """Whether holding may stand in for rounded orders that break a hard limit (a
    continuation whole lots, the minimum trade and the tax lots cannot make): the
    holdings keep every hard limit and are inside the tilt bands as far as the
    optimizer's answer ``weights`` is — holding stands in for orders, not for the
    scenario's tilts (a band missed by its whole tilt is no hold)."""
    return holding_keeps_hard_limits(request) and (
        band_miss(request, request.position.weight) <= band_miss(request, weights) + BAND_HOLD_TOL
    )


def holding_keeps_hard_limits(request: Request) -> bool:
    """Whether the current holdings keep the hard limits as the scenario states them:
    the cash floor, the position and sector caps and the tracking error (holding
    trades nothing, so it keeps the turnover cap and the realized-gain budget)."""
    r, c = request, request.scenario.constraints
    w0, nav = r.position.weight, r.position.nav_usd
    if r.position.cash_usd < c.cash.min * nav - 1e-6 * nav:
        return False
    if (w0 > r.limits.position_cap_weight + LIMIT_TOL).any():
        return False
    if c.sector_max is not None:
        sector_weights = np.asarray(r.problem.structure.sector_groups, float) @ w0
        if (sector_weights > c.sector_max + LIMIT_TOL).any():
            return False
    te = np.sqrt(max(r.risk.variance(w0 - r.reference_weight), 0.0))
    return c.max_tracking_error is None or te <= c.max_tracking_error * (1 - 1e-4)


def band_miss(request: Request, weights: np.ndarray) -> float:
    """How far ``weights`` are outside the tilt bands, summed over the groups."""
    tilts = request.scenario.tilts
    if not len(tilts):
        return 0.0
    groups = np.asarray(request.problem.structure.tilt_groups, float)
    exposure = groups @ (weights - request.reference_weight)
    targets = np.array([t.target for t in tilts.values()])
    bands = np.array([t.band for t in tilts.values()])
    return float(np.maximum(np.abs(exposure - targets) - bands, 0.0).sum())


def objective_at(ws: WorkingSet, data: ProblemData, weights: np.ndarray) -> float | None:
    """The problem's objective (risk-adjusted expected return net of costs and taxes)
    at ``weights``: the problem solved with every name pinned there, limits that are
    not the objective's widened to where ``weights`` are (only the objective is
    compared). None if ``weights`` trade a name outside the working set or the solve
    fails."""
    from rebalancer.optimize import rows
    from rebalancer.optimize.problem import BIG

    w0 = np.asarray(data.w0, float)
    weights = np.maximum(np.asarray(weights, float), 0.0)
    if (weights[~ws.keep] != w0[~ws.keep]).any():
        return None
    up, down = np.maximum(weights - w0, 0.0), np.maximum(w0 - weights, 0.0)
    groups = np.asarray(ws.structure.tilt_groups, float)
    # whole-universe data: every name is in ``groups`` (no offset for names outside)
    bands = {}
    if len(groups):
        exposure = groups @ (weights - np.asarray(data.ref, float))
        bands = {
            "tilt_lo": np.minimum(data.tilt_lo, exposure - 1e-6),
            "tilt_hi": np.maximum(data.tilt_hi, exposure + 1e-6),
        }
    pinned = dataclasses.replace(
        data,
        # w0 − sell_cap ≤ w ≤ min(position_cap, w0 + buy_cap): a buy pinned by a
        # negative sell cap (a minimum buy), a sale by the position cap
        buy_cap=up,
        sell_cap=down - up,
        position_cap=weights,
        liquidity_cap=np.maximum(data.liquidity_cap, np.abs(weights - w0) + 1e-12),
        lot_cap=_net_sales_only(ws, data, down),
        cash_target=max(1.0 - float(weights.sum()), 0.0),
        max_tracking_error=BIG,
        sector_max=BIG,
        max_realized_gain_nav=BIG,
        **bands,
        **rows.lifted(data),
    )
    try:
        return float(ws.solve(pinned, explain=False).objective)
    except (RebalancerError, RuntimeError):
        return None


# what ``objective_at`` changes between its solves: compiled as Parameters, so the
# second solve (holding, then the orders) skips compilation
PINNED_FIELDS = frozenset(
    {
        "buy_cap",
        "sell_cap",
        "position_cap",
        "liquidity_cap",
        "cash_target",
        "tilt_lo",
        "tilt_hi",
        "lot_cap",
    }
)


def _net_sales_only(ws: WorkingSet, data: ProblemData, down: np.ndarray):
    """A taxable account's lot caps at pinned weights: no more sold from a name's lots
    than its net sale ``down``. The weights are the orders; a loss lot sold and bought
    back (a wash sale, which the orders never carry) would credit a harvest to holding
    (weights ``w₀``) as well, and a harvest that a substitute keeps the exposure of
    would never be worth trading (``model.substitutes``)."""
    members = ws.structure.lot_members
    if data.lot_cap is None or members is None:
        return data.lot_cap
    down = np.r_[down, np.zeros(members.shape[0] - len(down))]  # a model's free slots
    return np.minimum(np.asarray(data.lot_cap, float), members.T @ down)


class Evaluator:
    """``objective_at`` over a working set's names, with a problem of its own compiled
    once (on first use) for every weights asked about."""

    def __init__(self, ws: WorkingSet, data: ProblemData):
        self.structure, self.keep, self.data = ws.structure, ws.keep.copy(), data
        self._ws: WorkingSet | None = None

    def __call__(self, weights: np.ndarray) -> float | None:
        from rebalancer.optimize.working_set import WorkingSet

        if self._ws is None:
            self._ws = WorkingSet(self.structure, self.keep, fields=PINNED_FIELDS)
        return objective_at(self._ws, self.data, weights)


def should_hold(request: Request, evaluate, q_shares: np.ndarray) -> str:
    """Why the rounded orders ``q_shares`` should give way to holding, or ''.
    ``evaluate(weights)``: the objective at whole-universe weights (``objective_at``)."""
    if evaluate is None or not np.any(q_shares):
        return ""
    w0 = np.asarray(request.position.weight, float)
    trade_usd = q_shares * request.position.price_usd
    w_after = w0 + trade_usd / request.position.nav_usd
    cash_after_usd = (
        request.position.cash_usd - trade_usd.sum() - request.cost.cost_usd(trade_usd).sum()
    )
    if not holding_keeps_limits(request, w_after, float(cash_after_usd)):
        return ""
    traded = evaluate(w_after)
    held = evaluate(w0)
    least = hurdle(request.scenario)
    if traded is None or held is None or traded - held > least:
        return ""
    return (
        f"no trades: not worth trading: the orders would improve the objective by "
        f"{(traded - held) * 1e4:+.2f} bp of NAV (net of costs and taxes), under the "
        f"{least * 1e4:g} bp hurdle (costs.hurdle_bps), and holding keeps every limit"
    )
