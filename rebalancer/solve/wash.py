"""No wash sale in an answer: a taxable account's solve never both sells a security at a
loss and buys it back.

No convex problem states that rule (it is a choice between two sides), so the answer
is re-solved: where it does both, the larger side stays and the other is forbidden.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.model.substitutes import wash_ids
from rebalancer.optimize.problem import ProblemData, Solution
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.prepare.request import Request


def no_wash_round_trips(
    ws: WorkingSet, request: Request, data: ProblemData, solution: Solution, max_passes: int = 3
) -> tuple[ProblemData, Solution]:
    """``solution`` re-solved until it sells no security at a loss that it also buys.

    Per security i (the members of an identical substitute group count as one,
    ``model.substitutes``), with bᵢ the weight bought and lᵢ the weight sold from lots at a
    loss (gain_frac < 0, summed over i's lot classes): where both exceed 1e-6, keep the
    larger side and forbid the other — bᵢ ≥ lᵢ closes i's loss lots (``lot_cap`` 0),
    else i's buys (``buy_cap`` 0) — and solve ``data``'s problem over ``ws``'s working
    set again; at most ``max_passes`` times. Returns the data with those caps (the
    passes after it keep them) and the last solution."""
    lots = request.tax.lots.classes  # what the optimizer sells from
    loss = lots["gain_frac"].to_numpy() < 0
    # an identical substitute group is one security to the rule (``model.substitutes``)
    key = wash_ids(request.universe.index, request.scenario)
    security = key[lots["security"].to_numpy()]
    n = len(request.position.price_usd)
    for _ in range(max_passes):
        sold_at_loss = np.bincount(security[loss], weights=solution.lot_sold[loss], minlength=n)
        bought = np.bincount(key, weights=np.maximum(solution.buy, 0.0), minlength=n)
        both = np.flatnonzero((bought > 1e-6) & (sold_at_loss > 1e-6))
        if not len(both):
            break
        lot_cap, buy_cap = data.lot_cap.copy(), data.buy_cap.copy()
        for i in both:
            if bought[i] >= sold_at_loss[i]:
                lot_cap[loss & (security == i)] = 0.0
            else:
                buy_cap[key == i] = 0.0
        data = dataclasses.replace(data, lot_cap=lot_cap, buy_cap=buy_cap)
        solution = ws.solve(data)
    return data, solution
