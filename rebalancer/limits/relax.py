"""The smallest relaxation of a scenario that makes an infeasible request feasible.

The elastic solve (``RebalanceProblem.explain``) lets every soft limit give at a
steep price and reports, per limit, the value the closest feasible portfolio
reaches. Moving each of those limits in the scenario by exactly that gap (plus a
hair, so the relaxed limit is not met only to the solver's tolerance) gives a
scenario the elastic answer itself satisfies: a relaxation that is feasible by
construction and no larger than the request forced.

Limits are moved in the scenario's own terms, as an advisor would: a tilt band is
widened (or, where a wider band would leave [-1, 1], its target moved), a turnover,
tracking-error, sector or gain cap raised, the trading days of the liquidity rule
lengthened, the position cap of the group that sets it raised, the cash target (and,
where whole-lot sales cannot reach it, the cash floor) moved.

Some conflicts no scenario setting can lift: a forced exit (``restricted: sell`` in
the universe) of a name that cannot trade, a name with no liquidity at all, a need
past a setting's range. Those are reported as such, and nothing is relaxed: moving
the other limits would not make the request feasible.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rebalancer.errors import Conflict, figure
from rebalancer.limits import in_scenario_terms, limit_named
from rebalancer.limits.position import POSITION
from rebalancer.scenario.schema import Scenario, build

POSITION_KEY = POSITION.key
__all__ = ["POSITION_KEY", "Relaxation", "in_scenario_terms", "plan", "relax"]


@dataclass(frozen=True)
class Relaxation:
    constraint: str  # the conflict as named in the message
    key: str  # the scenario setting moved
    limit: float  # its value in the scenario
    relaxed_to: float
    source: str = ""  # the advisor limit that moves it (``rebalancer.limits``)

    def describe(self) -> str:
        return f"{self.key} {figure(self.limit)} -> {figure(self.relaxed_to)}"

    def to_data(self) -> dict[str, Any]:
        return {
            "constraint": self.constraint,
            "key": self.key,
            "limit": self.limit,
            "relaxed_to": self.relaxed_to,
        }


def plan(
    scenario: Scenario, conflicts: list[Conflict], universe: pd.DataFrame | None = None
) -> tuple[list[Relaxation], list[str]]:
    """The scenario changes that lift ``conflicts`` and the conflicts none can lift:
    each conflict's limit (``source``) says how it is relaxed
    (``AdvisorLimit.relax``); a conflict of no advisor limit cannot be.

    ``universe`` (with its size column) tells which group's position cap holds each
    name, and which names are forced exits; without it a position conflict is put on
    the settings whose value is the cap reported.
    """
    found: dict[str, Relaxation] = {}
    blocked: list[str] = []

    def want(conflict: Conflict, key: str, old: float, new: float) -> None:
        if key not in found or abs(new - old) > abs(found[key].relaxed_to - old):
            found[key] = Relaxation(conflict.constraint, key, old, new, conflict.source)

    for x in conflicts:
        limit = limit_named(x.source)
        if limit is None:
            blocked.append(x.describe())
        else:
            limit.relax(scenario, x, universe, want, blocked)
    return list(found.values()), blocked


def relax(scenario: Scenario, changes: list[Relaxation]) -> Scenario:
    """``scenario`` with the relaxations applied (validated like any scenario), each
    written by its limit (``AdvisorLimit.apply``) in the order the limits ask
    (``applied_last``: the cash floor after the target that may pull it down)."""
    data = copy.deepcopy(scenario.to_data())

    def last(change: Relaxation) -> bool:
        return getattr(limit_named(change.source), "applied_last", lambda key: False)(change.key)

    for change in sorted(changes, key=last):
        limit_named(change.source).apply(data, change.key, change.relaxed_to)
    return build(data, None)
