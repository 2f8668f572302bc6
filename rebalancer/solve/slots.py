"""The compiled problem a book's accounts of one model share (``rebalancer.optimize.layout``):
which names it holds and in what order (``model_order``, ``learned_order``), how many
held and lot slots it has (``slot_sizes``), and the problem itself (``slot_problem``).
A book compiles one per model and size (``rebalancer.runs.book.models``); each account
then fills it with its own numbers instead of compiling a problem of its own.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from rebalancer.errors import RebalancerError
from rebalancer.optimize.layout import (
    HELD_SIZES,
    LOT_SIZES,
    MAX_LOT_SLOTS,
    MODEL_NAMES,
    NEW_SLOTS,
    SlotProblem,
    bucket,
)
from rebalancer.optimize.seed import candidate_order, entry_gain
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.prepare.build import prepare
from rebalancer.prepare.inputs import Inputs
from rebalancer.prepare.request import Request
from rebalancer.scenario import Scenario


def model_order(request: Request) -> np.ndarray:
    """The names of the compiled problem a model's accounts share, in order: its model
    names (``layout.MODEL_NAMES``), then those that fill the free slots an account
    leaves — as ``candidate_order`` ranks them for any account of the model (its
    benchmark, its alpha and costs, what its scenario lets anyone buy)."""
    ref = (
        request.reference_weight
        if request.reference == "benchmark"
        else np.zeros(len(request.reference_weight))
    )
    gain = entry_gain(
        request.returns.alpha,
        request.problem.data.spread,
        ref,
        request.risk.specific_var,
        request.scenario.risk_aversion,
    )
    return candidate_order(
        ref,
        gain,
        request.limits.open_to_buy,
        request.problem.structure.tilt_groups,
        MODEL_NAMES + 4 * NEW_SLOTS,
    )


def learned_order(
    request: Request,
    data: Inputs | None,
    probes: tuple[str, ...] = (),
    scenario: Scenario | None = None,
) -> np.ndarray:
    """A model's names in the order its accounts' first working sets take them: the
    names its probe accounts buy (each solved over the whole universe, most often
    bought first), then ``model_order``. Accounts of a model trade alike —
    they buy the benchmark names the view likes and that offset the exposures their
    holdings share — and a first working set that has those names needs fewer rounds
    of pricing. ``scenario``: the model's (default the request's). A probe that cannot
    be solved (a spoilt holdings row, infeasible limits) teaches nothing."""
    base = model_order(request)
    bought: Counter[int] = Counter()
    for account in probes if data is not None else ():
        try:
            probe = prepare(
                data, scenario or request.scenario, account, request.as_of, taxable=False
            )
            ws = WorkingSet(probe.problem.structure, probe.problem.first_set())
            weights = ws.solve(probe.problem.data, price=True).weights
        except RebalancerError:
            continue
        bought.update(np.flatnonzero((weights > 1e-6) & (probe.position.weight <= 0)).tolist())
    hot = np.array([name for name, _ in bought.most_common()], dtype=int)
    return np.concatenate([hot, base[~np.isin(base, hot)]])


def slot_sizes(request: Request) -> tuple[int, int] | None:
    """(held slots, lot slots per held slot) of the shared problem that takes
    ``request``'s account, or None when no size fits (too many holdings or lots)."""
    held = bucket(int(np.count_nonzero(request.position.weight)), HELD_SIZES)
    if held is None:
        return None
    if request.tax.lots is None:
        return held, 0
    security = request.tax.lots.classes["security"].to_numpy()
    lots = bucket(int(np.bincount(security).max()) if len(security) else 1, LOT_SIZES)
    if lots is None or held * lots > MAX_LOT_SLOTS:
        return None
    return held, lots


def slot_problem(request: Request, order: np.ndarray, sizes: tuple[int, int]) -> SlotProblem:
    """A shared problem for accounts like ``request``'s (``rebalancer.optimize.layout``):
    ``order`` its names (``learned_order``), ``sizes`` from ``slot_sizes``."""
    held, lots = sizes
    return SlotProblem(request.problem.structure, order, held, lots, request.problem.data)
