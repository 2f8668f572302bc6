"""A step held back by the per-run limits goes only toward its destination.

``rebalancer.solve.path`` says where the account is going (the destination d, solved
without the per-run limits and the impact cost) and builds the boxes a step toward it
keeps to (``step_box``, ``floored_box``); this module re-solves the step inside them
(``toward_destination``), reaches a soft band over a path where no step in a box keeps
it this run (``bands_over_path``), and tells whether a step is in a box already
(``in_box``). Why a step in such a box settles: the module docstring of
``rebalancer.solve.path``.
"""

from __future__ import annotations

import dataclasses

import cvxpy as cp
import numpy as np

from rebalancer.errors import InfeasibleError, SolverFailure
from rebalancer.limits.base import outside_by
from rebalancer.limits.cash import TARGET_CHECK
from rebalancer.limits.tilt_bands import check_name
from rebalancer.optimize import problem as chain
from rebalancer.optimize.constraints import SLACK_TOL
from rebalancer.optimize.layout import restrict
from rebalancer.optimize.problem import (
    ProblemData,
    RebalanceProblem,
    Solution,
    interior_point_solvers,
    warnings_off,
)
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.solve.path import IMMATERIAL, Destination, floored_box, step_box


def toward_destination(
    ws: WorkingSet,
    data: ProblemData,
    solution: Solution,
    destination: Destination,
    min_order: np.ndarray | float,
    lot: np.ndarray | float,
) -> tuple[ProblemData, Solution, Destination]:
    """A step that per-run limits or the impact cost hold back, re-solved to go only
    toward its destination d, each name it stopped short most of the way left.

    Solves ``data``'s problem over ``ws``'s working set again with each name's buys
    and sells cut to a box: first the floored box (``rebalancer.solve.path.floored_box``:
    each name it trades moves at least 0.6 of what it has left, or its per-run
    liquidity cap; moves under 3/4 of one order wait), else the box between w₀ and d alone
    (``rebalancer.solve.path.step_box``: buy name i only up to dᵢ − w₀ᵢ where
    dᵢ > w₀ᵢ, sell only as far where dᵢ < w₀ᵢ, nothing where dᵢ = w₀ᵢ; a move of at
    least half of one minimum order may be a whole one). A step already in a box
    (``in_box``) is kept without a solve. ``min_order`` and ``lot`` (weights, per
    name): one minimum order (the minimum trade and a lot) and one lot. In every box
    a buy stops short of its position cap by the path's estimated costs
    (``with_headroom``), lest a later run's costs leave it above its cap.

    Where neither box has a feasible point because a soft band — the cash target
    band or a tilt band — is out of the box's reach this run (d reaches it through
    names the per-run limits let trade only a little), the band is reached over a
    path: the same boxes again with those bands widened as far as this run needs
    (``bands_over_path``), the destination then naming them (``path_bands``).

    Returns (data, solution, destination): the data of the first box the step is in
    already or re-solved in, with that step — the minimum-trade passes that follow
    keep to it — and ``destination`` with the bands reached over a path and, for a
    step in the floored box (its bands widened or not), whether it left names to wait for the
    turnover cap (``turnover_waits``: the cap held it back); ``data``,
    ``solution`` and ``destination`` as given when d is unknown or no box has a
    feasible point even so (a hard limit the account meets this run only through
    names d does not trade: the free step is kept)."""
    if destination.weights is None:
        return data, solution, destination
    held = with_headroom(data, destination.weights, solution.weights)
    boxed = step_box(held, destination.weights, min_order)
    found = floored_box(held, boxed, destination.weights, min_order, lot, solution.weights)
    floored = None if found is None else found[0]
    # a step in the floored box (its bands widened or not) leaves the names the turnover cap
    # makes wait for a later run: the cap held it back
    floored_dest = dataclasses.replace(
        destination, turnover_waits=found is not None and bool(found[1].any())
    )
    boxes = [box for box in (floored, boxed) if box is not None]
    z = solution.weights - np.asarray(data.w0, float)
    for box in boxes:
        toward = destination if box is boxed else floored_dest
        if in_box(z, box):
            # the minimum-trade passes that follow keep to it
            return box, solution, toward
        stepped = _solve(ws, box, solution)
        if stepped is not None:
            return box, stepped, toward
    for box in boxes:
        widened = bands_over_path(ws, box)
        if widened is None:
            continue
        wider, bands = widened
        stepped = _solve(ws, wider, solution)
        if stepped is not None:
            toward = destination if box is boxed else floored_dest
            return wider, stepped, dataclasses.replace(toward, path_bands=bands)
    return data, solution, destination


def _solve(ws: WorkingSet, box: ProblemData, solution: Solution) -> Solution | None:
    """The step re-solved in ``box`` (its times and warnings added to the free step's),
    None where the box has no feasible point or the interior-point solvers fail."""
    try:
        stepped = ws.solve(box, solvers=interior_point_solvers(), explain=False)
    except (InfeasibleError, SolverFailure, RuntimeError):
        return None
    return dataclasses.replace(
        stepped,
        compile_seconds=solution.compile_seconds + stepped.compile_seconds,
        solve_seconds=solution.solve_seconds + stepped.solve_seconds,
        warnings=list(dict.fromkeys([*solution.warnings, *stepped.warnings])),
    )


# the optimizer's soft bands a step may reach over a path: the cash target band and the
# tilt bands (names of ``rebalancer.optimize.constraints`` limits). Never the cash floor,
# the position, sector, tracking-error, turnover or liquidity caps, the restrictions or
# the screens: those are hard in every run
PATH_BANDS = ("cash_target", "tilt_bands")


def bands_over_path(ws: WorkingSet, box: ProblemData) -> tuple[ProblemData, tuple[str, ...]] | None:
    """``box`` with the soft bands it cannot keep this run widened just enough, and the
    bands widened (named as their Checks rows: ``TARGET_CHECK``, ``check_name``); None
    where even that leaves the box without a feasible point.

    The box's problem over ``ws``'s working set is solved with only the soft bands
    elastic (``PATH_BANDS``; every other limit as it is): their slacks cost
    ``ELASTIC_PENALTY`` (10³ a unit, against an objective of returns a year), so the
    answer first gets the bands as close as this run's limits allow inside the box,
    then is the box's optimum. A band whose slack is under ``SLACK_TOL`` is kept as it
    is; the others are widened to what that answer reaches (and ``SLACK_TOL`` more:
    the first-order solver's accuracy), on that side only. None also where a band ends farther outside than
    today's holdings are (the box reaches one band only by leaving another: not a
    path), and where no band had to give (the box failed for the solvers)."""
    structure, d = restrict(ws.structure, box, ws.keep)
    elastic = RebalanceProblem(structure, d, parametric=False, elastic=frozenset(PATH_BANDS))
    # the whole chain: Clarabel fails on some of these (a band's slack against names
    # the box pins), where SCS still finds how far the box reaches
    for solver, options in chain.SOLVERS:  # read at each call, as the problem's
        try:
            with warnings_off():
                elastic.problem.solve(solver=solver, **options)
        except cp.SolverError:
            continue
        if elastic.answered:
            break
    if not elastic.answered:
        return None
    w0 = np.asarray(d.w0, float)
    changes: dict = {}
    names: list[str] = []
    for limit in elastic.limits:
        if limit.name == "cash_target" and limit.slack is not None:
            if np.max(limit.slack.value) <= SLACK_TOL:
                continue
            low = float(box.cash_target - box.cash_tolerance)
            high = float(box.cash_target + box.cash_tolerance)
            reached, today = float(elastic.vars.cash.value), 1.0 - float(w0.sum())
            if outside_by(reached, low, high) > outside_by(today, low, high) + SLACK_TOL:
                return None
            # the floor is hard in every run: the elastic answer may dip under it (the
            # band is the floor's only constraint), the widened band never does
            floor = float(box.cash_floor)
            high, low = max(high, reached + SLACK_TOL), max(min(low, reached - SLACK_TOL), floor)
            changes.update(cash_target=(high + low) / 2, cash_tolerance=(high - low) / 2)
            names.append(TARGET_CHECK)
        elif limit.name == "tilt_bands" and limit.slacks:
            lower = np.asarray(limit.slack_lo.value, float) > SLACK_TOL
            upper = np.asarray(limit.slack_hi.value, float) > SLACK_TOL
            if not (lower.any() or upper.any()):
                continue
            lo, hi = np.asarray(box.tilt_lo, float), np.asarray(box.tilt_hi, float)
            reached = np.asarray(limit.exposure.value, float)
            today = structure.tilt_groups @ (w0 - np.asarray(d.ref, float))
            if d.tilt_offset is not None:
                today = today + np.asarray(d.tilt_offset, float)
            if np.any(outside_by(reached, lo, hi) > outside_by(today, lo, hi) + SLACK_TOL):
                return None
            changes.update(
                tilt_lo=np.where(lower, np.minimum(lo, reached - SLACK_TOL), lo),
                tilt_hi=np.where(upper, np.maximum(hi, reached + SLACK_TOL), hi),
            )
            labels = ws.structure.tilt_labels
            names += [check_name(labels[g]) for g in np.flatnonzero(lower | upper)]
    if not names:
        return None
    return dataclasses.replace(box, **changes), tuple(names)


def in_box(z: np.ndarray, box: ProblemData) -> bool:
    """Whether the trades ``z`` (weights) keep ``box``'s caps and its position caps
    (``with_headroom``), to ``IN_BOX``."""
    after = np.asarray(box.w0, float) + z
    return bool(
        np.all((z <= box.buy_cap + IN_BOX) & (-z <= box.sell_cap + IN_BOX))
        and np.all((z <= IN_BOX) | (after <= np.asarray(box.position_cap, float) + IN_BOX))
    )


def with_headroom(data: ProblemData, dest: np.ndarray, step: np.ndarray) -> ProblemData:
    """``data`` with each position cap cᵢ lowered for this run's buys to cᵢ(1 − h),
    h the estimated cost of the path, this run and the later ones, as a share of NAV:
    the spread and impact of the whole move, sᵀ|d − w₀| + mᵀ|d − w₀|^{3/2} (0 where
    the free ``step`` leaves nothing to the destination d: no later run). Never below
    where the name is (min(w₀ᵢ, cᵢ)): no name is sold for it.

    Why: a cap is of the NAV (the rounding keeps it of the NAV after the orders,
    ``rebalancer.trades.repairs.position``), and each run's costs, paid from cash,
    lower the NAV: a name bought to its cap weighs cᵢ/(1 − c₂) once the next run has
    paid its costs c₂ — over its cap, so that run sells it, a sale of a name the last
    run bought. The runs' costs c₁ + c₂ + … are at most h (the spread is linear, the
    impact |x|^{3/2} superadditive, and each run moves between where it is and d), so
    a name bought to cᵢ(1 − h) weighs at most about cᵢ(1 − h)/(1 − h) = cᵢ at the end
    of the path; each run's h is smaller, so each run's buy of it continues the
    last."""
    w0 = np.asarray(data.w0, float)
    dest = np.asarray(dest, float)
    if np.abs(dest - np.asarray(step, float)).sum() / 2 <= IMMATERIAL:
        return data  # the whole move this run: the rounding keeps the cap after its costs
    move = np.abs(dest - w0)
    h = float(np.asarray(data.spread, float) @ move + np.asarray(data.impact, float) @ move**1.5)
    if h <= 0:
        return data
    cap = np.asarray(data.position_cap, float)
    lowered = np.maximum(cap * (1.0 - min(h, 0.5)), np.minimum(w0, cap))
    return dataclasses.replace(data, position_cap=lowered)


# a step off its box by no more than this in any name (weights) is in it: the solvers'
# noise on a name the step does not trade
IN_BOX = 1e-6
