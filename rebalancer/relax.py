"""The smallest relaxation of a scenario that makes an infeasible request feasible.

The elastic solve (``RebalanceProblem._explain``) lets every soft limit give at a
steep price and reports, per limit, the value the closest feasible portfolio
reaches. Moving each of those limits in the scenario by exactly that gap (plus a
hair, so the relaxed limit is not met only to the solver's tolerance) gives a
scenario the elastic answer itself satisfies: a relaxation that is feasible by
construction and no larger than the request forced.

Limits are moved in the scenario's own terms, as an advisor would: a tilt band is
widened, a turnover, tracking-error, sector or gain cap raised, the trading days of
the liquidity rule lengthened, the position cap raised, the cash target moved.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from rebalancer.errors import Conflict
from rebalancer.request import BAND_MARGIN, SECTOR_MARGIN, TE_MARGIN
from rebalancer.scenario.schema import Scenario, build

EXTRA = 1e-4  # weights: the hair beyond the gap
EXTRA_USD = 1.0


@dataclass(frozen=True)
class Relaxation:
    constraint: str  # the conflict as named in the message
    key: str  # the scenario setting moved
    limit: float  # its value in the scenario
    relaxed_to: float

    def describe(self) -> str:
        return f"{self.key} {self.limit:.4g} -> {self.relaxed_to:.4g}"

    def to_data(self) -> dict[str, Any]:
        return {
            "constraint": self.constraint,
            "key": self.key,
            "limit": self.limit,
            "relaxed_to": self.relaxed_to,
        }


def relaxations(scenario: Scenario, conflicts: list[Conflict]) -> list[Relaxation]:
    """One scenario change per conflicting setting (the largest any conflict asks)."""
    c = scenario.constraints
    found: dict[str, Relaxation] = {}

    def want(conflict: Conflict, key: str, old: float, new: float) -> None:
        if key not in found or abs(new - old) > abs(found[key].relaxed_to - old):
            found[key] = Relaxation(conflict.constraint, key, old, new)

    for x in conflicts:
        gap = abs(x.needed - x.limit)
        if x.key == "constraints.max_turnover" and c.max_turnover is not None:
            want(x, x.key, c.max_turnover, min(c.max_turnover + gap + EXTRA, 1.0))
        elif x.key == "constraints.max_tracking_error" and c.max_tracking_error is not None:
            want(x, x.key, c.max_tracking_error, x.needed / TE_MARGIN + EXTRA)
        elif x.key == "constraints.sector_max" and c.sector_max is not None:
            want(x, x.key, c.sector_max, min(x.needed + SECTOR_MARGIN + EXTRA, 1.0))
        elif x.key == "constraints.max_realized_gain" and c.max_realized_gain is not None:
            want(x, x.key, c.max_realized_gain, x.needed + EXTRA_USD)
        elif x.key.startswith("tilts."):
            tilt = scenario.tilts.get(x.key[len("tilts.") :])
            if tilt is not None:
                need = abs(x.needed - tilt.target) + BAND_MARGIN + EXTRA
                want(x, x.key + ".band", tilt.band, max(tilt.band, need))
        elif x.key == "constraints.liquidity.days" and x.limit > 0:
            days = c.liquidity.days
            want(x, x.key, days, min(days * x.needed / x.limit * 1.01, 100.0))
        elif x.key == "constraints.max_position" and c.max_position is not None:
            old = c.max_position.default
            want(x, x.key, old, min(max(old, x.needed + EXTRA), 1.0))
        elif x.key == "constraints.cash.target":
            want(x, x.key, c.cash.target, min(max(x.needed, 0.0), 1.0))
    return list(found.values())


def relax(scenario: Scenario, changes: list[Relaxation]) -> Scenario:
    """``scenario`` with the relaxations applied (validated like any scenario)."""
    data = copy.deepcopy(scenario.to_data())
    for change in changes:
        if change.key.startswith("tilts.") and change.key.endswith(".band"):
            data["tilts"][change.key[len("tilts.") : -len(".band")]]["band"] = change.relaxed_to
            continue
        node = data
        *path, last = change.key.split(".")
        for part in path:
            node = node[part]
        if isinstance(node.get(last), dict):  # a per-group setting: raise every value to it
            node[last] = {k: max(v, change.relaxed_to) for k, v in node[last].items()}
        else:
            node[last] = change.relaxed_to
        if change.key == "constraints.cash.target":
            node["min"] = min(node["min"], change.relaxed_to)
    return build(data, None)
