"""The minimum trade size, which no convex problem can state, by re-solving.

An order under ``min_trade_usd`` would be dropped by the rounding and its weight
left in cash. Instead the problem is re-solved with such small trades frozen (and,
where a tilted group rests on them, its largest small buys lifted to the minimum),
until no material small trade is left: the usual iterative heuristic.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rebalancer.errors import InfeasibleError
from rebalancer.optimize.problem import ProblemData, Solution, interior_point_solvers
from rebalancer.optimize.working_set import WorkingSet


def solve_with_min_trade(
    problem: WorkingSet,
    data: ProblemData,
    solution,
    nav: float,
    min_trade_usd: float,
    lot_usd: np.ndarray,
    groups: np.ndarray,
    immaterial: float = 0.0005,
    max_passes: int = 3,
) -> Solution:
    """Re-solve with trades under the minimum frozen until none is left, so the weight
    they held is put to work in fewer, larger orders instead of being dropped by the
    rounding (a minimum trade size is not convex; this is the usual iterative
    heuristic). A trade counts as small if rounding it down to whole lots could take
    it under the minimum. Sells that a position cap or forced exit needs are never
    frozen. Stops at the last feasible answer if freezing more makes the request
    infeasible. Everything here is over the whole universe (``groups``: the tilted
    groups' membership); ``problem`` keeps its working set."""
    if min_trade_usd <= 0:
        return solution
    buy_cap, sell_cap = data.buy_cap.copy(), data.sell_cap.copy()
    passes = [solution]
    for _ in range(max_passes):
        z_usd = (solution.weights - data.w0) * nav
        small = (np.abs(z_usd) > 1e-6 * nav) & (np.abs(z_usd) < min_trade_usd + lot_usd)
        closes = (data.w0 > 0) & (solution.weights * nav < 0.5 * lot_usd)
        freeze_buy = small & (z_usd > 0) & (buy_cap > 0)
        freeze_sell = (
            small & (z_usd < 0) & ~closes & (data.w0 <= data.position_cap) & (sell_cap > 0)
        )
        candidates = np.flatnonzero(freeze_buy | freeze_sell)
        # dropping trades worth less than the rounding margin in all cannot move a limit
        if np.abs(z_usd[candidates]).sum() < immaterial * nav:
            break
        attempt = _freeze_or_lift(
            problem,
            data,
            buy_cap,
            sell_cap,
            candidates,
            z_usd,
            freeze_buy,
            nav,
            min_trade_usd + lot_usd,
            groups,
        )
        if attempt is None:
            break
        solution, buy_cap, sell_cap = attempt
        passes.append(solution)
    return replace(
        solution,
        compile_seconds=sum(p.compile_seconds for p in passes),
        solve_seconds=sum(p.solve_seconds for p in passes),
        # each pass may have met the same solver trouble: say it once
        warnings=list(dict.fromkeys(w for p in passes for w in p.warnings)),
    )


def _freeze_or_lift(
    problem,
    data,
    buy_cap,
    sell_cap,
    candidates,
    z_usd,
    is_buy,
    nav,
    minimum_usd,
    groups,
    max_lifts: int = 4,
):
    """One pass of ``_without_small_trades``.

    Small buys inside a tilted group are consolidated: the largest of them, as many
    as the group's small buys add up to in minimum-size orders, are lifted to the
    minimum and the others frozen, so a group's weight moves into a few orders
    instead of spreading thinly again. Every other small trade is frozen. If that
    leaves no feasible portfolio, the largest small buys are lifted one by one
    instead. Returns (solution, buy_cap, sell_cap), or None if nothing works.
    """
    buys = candidates[is_buy[candidates]]
    consolidate: list[int] = []
    for row in groups:
        members = buys[row[buys] > 0]
        members = members[np.argsort(-z_usd[members])]
        k = int(z_usd[members].sum() // np.median(minimum_usd[members])) if len(members) else 0
        consolidate += [i for i in members[:k] if i not in consolidate]
    largest = list(buys[np.argsort(-z_usd[buys])][:max_lifts])
    attempts = ([np.array(consolidate, dtype=int)] if consolidate else []) + [
        np.array(largest[:n], dtype=int) for n in range(len(largest) + 1)
    ]
    for lifted in attempts:
        trial_buy, trial_sell = buy_cap.copy(), sell_cap.copy()
        frozen_idx = np.setdiff1d(candidates, lifted)
        trial_buy[frozen_idx[is_buy[frozen_idx]]] = 0.0
        trial_sell[frozen_idx[~is_buy[frozen_idx]]] = 0.0
        trial_sell[lifted] = -np.minimum(minimum_usd[lifted] / nav, trial_buy[lifted])
        trial = replace(data, buy_cap=trial_buy, sell_cap=trial_sell)
        try:  # no fallback solver here: a pass that fails keeps the last good answer
            solution = problem.solve(trial, solvers=interior_point_solvers(), explain=False)
        except (InfeasibleError, RuntimeError):
            continue
        return solution, trial_buy, trial_sell
    return None
