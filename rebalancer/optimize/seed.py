"""The first working set of an account's problem: which names the optimizer starts from.

The whole-universe problem is solved through a working set of names, pricing the
others in when they would improve the answer (``rebalancer.optimize.working_set``).
The set it starts from is a speed setting, not a limit (pricing adds what it misses):
every held name, then the names the account is likeliest to buy (``candidate_order``
over ``entry_gain``), as many as ``first_set_size`` in all, and for a small account at
most ``new_name_limit`` names it does not hold. ``prepare`` chooses it for each request
(``PreparedProblem.candidates``); an account without that limit keeps it in its final solve
(``rebalancer.solve.final``).
"""

from __future__ import annotations

import numpy as np

from rebalancer.optimize.problem import DENSE_FACTORS

# the first working set of an account's problem: pricing adds what it misses
# (rebalancer.optimize.working_set), so this is a speed setting, not a limit
MAX_CANDIDATES = 300
# with a dense risk model (a Ledoit-Wolf Σ: one factor per return observation) a
# working set is solved over a dense block whose factorisation grows with the cube of
# its names, so a smaller first set and a round of pricing are cheaper
DENSE_CANDIDATES = 150
MIN_NEW_NAMES = 50


def first_set_size(n_factors: int) -> int:
    """How many names an account's first working set holds, for a risk model of
    ``n_factors`` factors."""
    return DENSE_CANDIDATES if n_factors >= DENSE_FACTORS else MAX_CANDIDATES


def new_name_limit(nav: float, c) -> int | None:
    """How many names a small account may buy that it does not hold: what its NAV could
    buy in orders of twice the minimum size, never fewer than 50 (None: no limit
    below the first working set's size). A small account thus does not spread its
    buys over names it cannot afford: its first working set takes that many, and its
    final solve keeps that many of the optimum's largest buys (``final.final_set``:
    pricing picks which names, not how many). (It does not depend on the turnover cap,
    so a what-if sweep of that cap keeps one working set and one compiled problem.)"""
    if c.min_trade_usd <= 0:
        return None
    affordable = max(MIN_NEW_NAMES, int(nav / (2.0 * c.min_trade_usd)))
    return affordable if affordable < MAX_CANDIDATES else None


def entry_gain(
    alpha: np.ndarray,
    spread: np.ndarray,
    ref: np.ndarray,
    specific_var: np.ndarray,
    risk_aversion: float,
) -> np.ndarray:
    """A name's gain from a first buy, as pricing would see it in a portfolio that
    leaves the name out, before the limits' multipliers: α − s + 2λ·d·ref (its expected
    return, less its spread, plus the specific risk against the benchmark that holding
    it removes). What ranks the names a working set starts from: the names pricing
    adds are mostly benchmark names the view likes, which neither the largest
    benchmark weights nor the best alpha alone find."""
    return alpha - spread + 2.0 * risk_aversion * specific_var * ref


def candidate_order(
    ref: np.ndarray, gain: np.ndarray, may_buy: np.ndarray, groups: np.ndarray, limit: int
) -> np.ndarray:
    """Up to ``limit`` names (universe positions) in the order a working set takes them:
    round-robin over the largest reference weights (tracking), the best ``gain``
    (``entry_gain``: the view net of costs and tracking) and the best gain inside each
    tilted group (the tilts)."""

    def top(score: np.ndarray, mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        return idx[np.argsort(-score[idx], kind="stable")[:limit]]

    lists = [top(ref, ref > 0), top(gain, may_buy)]
    lists += [top(gain, may_buy & (row > 0)) for row in groups]
    names = np.concatenate(lists)
    rank = np.concatenate([np.arange(len(x)) for x in lists])
    source = np.concatenate([np.full(len(x), i) for i, x in enumerate(lists)])
    names = names[np.lexsort((source, rank))]
    _, first = np.unique(names, return_index=True)
    return names[np.sort(first)][:limit]


def choose_candidates(
    w0: np.ndarray,
    ref: np.ndarray,
    alpha: np.ndarray,
    may_buy: np.ndarray,
    groups: np.ndarray,
    limit: int | None = None,
    new_names: int | None = None,
) -> np.ndarray:
    """The first working set of one account's problem (a mask): every held name and, in
    ``candidate_order``, others up to ``limit`` names in all (and at most
    ``new_names`` of them). A universe no larger than ``limit`` (default
    ``MAX_CANDIDATES``) is kept whole."""
    n = len(w0)
    keep = w0 > 0
    limit = MAX_CANDIDATES if limit is None else limit
    if n <= limit and new_names is None:
        return np.ones(n, dtype=bool)
    room = max(limit - int(keep.sum()), 0)
    if new_names is not None:
        room = min(room, new_names)
    keep[candidate_order(ref, alpha, may_buy & ~keep, groups, room)] = True
    return keep
