"""The final solve: the account's own problem over the optimum's support, the same
computation on every path (a proposal's own, a book's, a what-if's): one account, one
answer. Which names it is over (``final_set``) and which of its numbers are compiled
as Parameters for the re-solves after it (``resolved_fields``).
"""

from __future__ import annotations

import numpy as np

from rebalancer.prepare.request import Request

# a name not held is in the final set when the optimum gives it more than this weight:
# far above the solvers' noise (different formulations of one optimum agree to ~1e-7,
# at worst ~1e-6 on a 50-account book) and below any order (a $250 position in a $25M
# account); the optimum's weights are sparse near it (names are either held at real
# weight or at the solver's ~1e-8 for zero)
SUPPORT_WEIGHT = 1e-5


def final_set(request: Request, weights: np.ndarray) -> np.ndarray:
    """The names the final solve is over (a mask over the universe): every held name
    and the names not held with weight above ``SUPPORT_WEIGHT`` in the whole-universe
    optimum ``weights`` — for a small account the ``request.problem.new_names`` largest (ties
    in universe order).

    Why: a book's shared problem, a what-if's shared one and a proposal's own reach the
    same optimum only to the solvers' accuracy (~1e-7), and whole-lot rounding turns
    such differences into different orders. Whichever found the optimum, its support
    is the same, and the final solve — the account's own problem over exactly that set,
    built from the same data, with the same re-solves after it — is then the same
    computation on every path: one account, one answer. (The optimum is unchanged:
    names outside its support are at weight 0 in it.)

    Where the objective is flat a path's optimum, proven to 1e-5 of the objective, can
    still differ from another's by ~1e-4 in a name's weight, so a support alone may
    differ too: an account without a new-name limit also keeps its own first working
    set (``Request.first_set``, a function of the request alone), which holds nearly
    every name any path buys; the final solve over that union is the same problem on
    every path unless a path priced in a name outside it."""
    held = request.position.weight > 0
    new = np.flatnonzero(~held & (weights > SUPPORT_WEIGHT))
    if request.problem.new_names is not None and len(new) > request.problem.new_names:
        new = np.sort(new[np.argsort(-weights[new], kind="stable")[: request.problem.new_names]])
    keep = held | request.problem.first_set() if request.problem.new_names is None else held.copy()
    keep[new] = True
    return keep


# cvxpy's parametric (DPP) compile keeps a tensor of variables × parameter entries: past
# this many lot classes that is hundreds of MB and seconds, more than compiling with
# constants again for each re-solve (a 100,000-lot account: 0.5 s in all, 300 MB)
DPP_MAX_LOT_CLASSES = 512


def resolved_fields(request: Request) -> frozenset[str] | bool:
    """The numbers the re-solves after the first solve change (the minimum trade size
    freezes and lifts orders through the buy and sell caps; the wash-sale pass also
    closes lots): compiled as Parameters, so a re-solve skips compilation. The rest
    stay constants. False (all constants) when no re-solve can follow."""
    fields = set()
    if request.scenario.constraints.min_trade_usd > 0:
        fields |= {"buy_cap", "sell_cap"}
    if request.tax.lots is not None:
        if len(request.tax.lots.classes) > DPP_MAX_LOT_CLASSES:
            return False
        fields |= {"buy_cap", "lot_cap"}
    return frozenset(fields) if fields else False
