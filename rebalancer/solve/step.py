"""A step held back by the per-run limits goes only toward its destination.

``rebalancer.solve.path`` says where the account is going (the destination d, solved
without the per-run limits and the impact cost) and builds the boxes a step toward it
keeps to (``step_box``, ``floored_box``); this module re-solves the step inside them
(``toward_destination``), and tells whether a step is in a box already (``in_box``).
Why a step in such a box settles: the module docstring of ``rebalancer.solve.path``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.errors import InfeasibleError
from rebalancer.optimize.problem import ProblemData, Solution, interior_point_solvers
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.solve.path import Destination, floored_box, step_box


def toward_destination(
    ws: WorkingSet,
    data: ProblemData,
    solution: Solution,
    destination: Destination,
    min_order: np.ndarray | float,
    lot: np.ndarray | float,
) -> tuple[ProblemData, Solution]:
    """A step that per-run limits or the impact cost hold back, re-solved to go only
    toward its destination d, each name it stopped short most of the way left.

    Solves ``data``'s problem over ``ws``'s working set again with each name's buys
    and sells cut to a box: first the floored box (``rebalancer.solve.path.floored_box``:
    each name it trades moves at least 0.6 of what it has left, or its per-run
    liquidity cap; moves under one order wait), else the box between w₀ and d alone
    (``rebalancer.solve.path.step_box``: buy name i only up to dᵢ − w₀ᵢ where
    dᵢ > w₀ᵢ, sell only as far where dᵢ < w₀ᵢ, nothing where dᵢ = w₀ᵢ; a move of at
    least half of one minimum order may be a whole one). A step already in a box
    (``in_box``) is kept without a solve. ``min_order`` and ``lot`` (weights, per
    name): one minimum order (the minimum trade and a lot) and one lot.

    Returns (data, solution): the data of the first box the step is in already or
    re-solved in, with that step — the minimum-trade passes that follow keep to it;
    ``data`` and ``solution`` as given when d is unknown or no box has a feasible
    point (a limit the account meets this run only through names d does not trade:
    the free step is kept)."""
    if destination.weights is None:
        return data, solution
    boxed = step_box(data, destination.weights, min_order)
    floored = floored_box(data, boxed, destination.weights, min_order, lot, solution.weights)
    z = solution.weights - np.asarray(data.w0, float)
    for box in (floored, boxed):
        if box is None:
            continue
        if in_box(z, box):
            # the minimum-trade passes that follow keep to it
            return box, solution
        try:
            stepped = ws.solve(box, solvers=interior_point_solvers(), explain=False)
        except (InfeasibleError, RuntimeError):
            continue
        return box, dataclasses.replace(
            stepped,
            compile_seconds=solution.compile_seconds + stepped.compile_seconds,
            solve_seconds=solution.solve_seconds + stepped.solve_seconds,
            warnings=list(dict.fromkeys([*solution.warnings, *stepped.warnings])),
        )
    return data, solution


def in_box(z: np.ndarray, box: ProblemData) -> bool:
    """Whether the trades ``z`` (weights) keep ``box``'s caps, to ``IN_BOX``."""
    return bool(np.all((z <= box.buy_cap + IN_BOX) & (-z <= box.sell_cap + IN_BOX)))


# a step off its box by no more than this in any name (weights) is in it: the solvers'
# noise on a name the step does not trade
IN_BOX = 1e-6
