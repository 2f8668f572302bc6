"""The compiled problems a book's worker shares between the accounts of a model."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rebalancer.solve.slots import learned_order, slot_problem, slot_sizes


class ModelProblems:
    """One worker's compiled problems: one per model — the scenario (its cash target
    aside), the benchmark, the universe and risk model — and per size of slots, each
    compiled once and filled with every account of the model that fits in it
    (``rebalancer.optimize.layout.SlotProblem``). An account that fits none (too many
    holdings or lots) gets a problem of its own. The model's names, in order, are
    learnt once from its probe accounts (``solve.slots.learned_order``): the same on
    every worker, so where an account runs does not change its first working set."""

    def __init__(self) -> None:
        self._problems: dict[tuple, Any] = {}
        self._models: dict[tuple, Any] = {}
        self._fingerprints: dict[int, tuple[Any, str]] = {}

    @property
    def compiled(self) -> int:
        return len(self._problems)

    def __call__(self, request, data=None, probes: tuple[str, ...] = (), scenario=None):
        """The compiled problem for ``request`` (None: it fits none). ``data``,
        ``probes`` and ``scenario``: the inputs, the model's probe accounts and its
        scenario, which the model's name order is learnt from the first time the model
        is seen."""
        sizes = slot_sizes(request)
        if sizes is None:
            return None
        model_key = self._model_key(request)
        names = model_key[:-1]  # a model's names are the same taxable or not
        if names not in self._models or self._models[names][0] is not request.universe:
            order = learned_order(request, data, probes, scenario)
            self._models[names] = (request.universe, order)
        order = self._models[names][1]
        key = (model_key, *sizes)
        known = self._problems.get(key)
        # the key holds ids: the universe and risk model themselves make sure they are
        # the same objects, not new ones at a freed address
        if known is None or known[0] is not request.universe or known[1] is not request.risk:
            problem = slot_problem(request, order, sizes)
            known = self._problems[key] = (request.universe, request.risk, problem)
        return known[2]

    def slots_for(self, data, probes: tuple[str, ...], scenario):
        """What ``propose_account(..., slots=)`` takes for an account of the model of
        ``scenario`` and ``probes`` (its name order learnt from them)."""
        return lambda request: self(request, data, probes, scenario)

    def _model_key(self, request) -> tuple:
        scenario = request.scenario
        known = self._fingerprints.get(id(scenario))
        if known is None or known[0] is not scenario:
            settings = scenario.to_data()
            settings.get("constraints", {}).pop("cash", None)  # an account's number
            known = (scenario, json.dumps(settings, sort_keys=True, default=str))
            self._fingerprints[id(scenario)] = known
        bench = (
            hashlib.sha1(request.reference_weight.tobytes()).hexdigest()
            if request.reference == "benchmark"
            else "current holdings"
        )
        return (id(request.universe), id(request.risk), bench, known[1], request.tax.taxable)
