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
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rebalancer.errors import Conflict, figure
from rebalancer.request import BAND_MARGIN, SECTOR_MARGIN, TE_ABS_MARGIN, TE_MARGIN
from rebalancer.scenario.schema import Scenario, build
from rebalancer.scenario.selectors import match

if TYPE_CHECKING:
    from rebalancer.request import Request

EXTRA = 1e-4  # weights: the hair beyond the gap
EXTRA_USD = 1.0
MAX_DAYS = 100.0  # the schema's range of constraints.liquidity.days
POSITION_KEY = "constraints.max_position"


@dataclass(frozen=True)
class Relaxation:
    constraint: str  # the conflict as named in the message
    key: str  # the scenario setting moved
    limit: float  # its value in the scenario
    relaxed_to: float

    def describe(self) -> str:
        return f"{self.key} {figure(self.limit)} -> {figure(self.relaxed_to)}"

    def to_data(self) -> dict[str, Any]:
        return {
            "constraint": self.constraint,
            "key": self.key,
            "limit": self.limit,
            "relaxed_to": self.relaxed_to,
        }


def in_scenario_terms(request: Request, conflicts: list[Conflict]) -> list[Conflict]:
    """The elastic solve's conflicts with each limit as the scenario states it, and the
    cash floor the whole-lot orders can keep where the cash target had to give.

    The optimizer works to limits tightened by the rounding margins (a 0.30 sector cap
    is 0.2995 inside it); an advisor reads, and a relaxation moves, the scenario's own
    numbers. Where cash cannot be raised to its target, the orders rounded to whole
    lots raise less still (up to a lot per sale): a floor above that is in conflict too.
    """
    s = request.scenario
    c = s.constraints
    out: list[Conflict] = []
    for x in conflicts:
        if x.key == "constraints.sector_max" and c.sector_max is not None:
            x = dataclasses.replace(x, limit=c.sector_max)
        elif x.key == "constraints.max_tracking_error" and c.max_tracking_error is not None:
            x = dataclasses.replace(x, limit=c.max_tracking_error)
        elif x.key.startswith("tilts.") and x.key[len("tilts.") :] in s.tilts:
            tilt = s.tilts[x.key[len("tilts.") :]]
            edge = tilt.target - tilt.band if x.needed < tilt.target else tilt.target + tilt.band
            x = dataclasses.replace(x, limit=edge)
        out.append(x)
        if x.key == "constraints.cash.target" and x.needed < x.limit:
            held = request.may_sell & (request.shares_before > 0)
            value = request.shares_before * request.price
            cushion = float(np.minimum(request.lot_usd, value)[held].sum()) / request.nav
            floor = max(x.needed - EXTRA - cushion, 0.0)
            if c.cash.min > floor:
                out.append(
                    Conflict(
                        "cash floor",
                        c.cash.min,
                        floor,
                        "what whole-lot sales can raise",
                        key="constraints.cash.min",
                    )
                )
    return out


def plan(
    scenario: Scenario, conflicts: list[Conflict], universe: pd.DataFrame | None = None
) -> tuple[list[Relaxation], list[str]]:
    """The scenario changes that lift ``conflicts`` and the conflicts none can lift.

    ``universe`` (with its size column) tells which group's position cap holds each
    name, and which names are forced exits; without it a position conflict is put on
    the settings whose value is the cap reported.
    """
    c = scenario.constraints
    found: dict[str, Relaxation] = {}
    blocked: list[str] = []

    def want(conflict: Conflict, key: str, old: float, new: float) -> None:
        if key not in found or abs(new - old) > abs(found[key].relaxed_to - old):
            found[key] = Relaxation(conflict.constraint, key, old, new)

    for x in conflicts:
        if x.key == "constraints.max_turnover" and c.max_turnover is not None:
            want(x, x.key, c.max_turnover, min(x.needed + EXTRA, 1.0))
        elif x.key == "constraints.max_tracking_error" and c.max_tracking_error is not None:
            # the cap the optimizer works to (tracking_error_inside) is then needed + EXTRA
            inside = x.needed + EXTRA
            cap = min((inside + TE_ABS_MARGIN) / TE_MARGIN, 2.0 * inside)
            want(x, x.key, c.max_tracking_error, min(cap, 2.0))
        elif x.key == "constraints.sector_max" and c.sector_max is not None:
            want(x, x.key, c.sector_max, min(x.needed + SECTOR_MARGIN + EXTRA, 1.0))
        elif x.key == "constraints.max_realized_gain" and c.max_realized_gain is not None:
            want(x, x.key, c.max_realized_gain, x.needed + EXTRA_USD)
        elif x.key.startswith("tilts.") and x.key[len("tilts.") :] in scenario.tilts:
            _tilt(x, scenario, want, blocked)
        elif x.key == "constraints.liquidity.days":
            _days(x, c.liquidity.days, want, blocked)
        elif x.key == POSITION_KEY:
            _positions(x, scenario, universe, want, blocked)
        elif x.key == "constraints.cash.target":
            moved = x.needed - EXTRA if x.needed < x.limit else x.needed + EXTRA
            want(x, x.key, c.cash.target, float(np.clip(moved, 0.0, 1.0)))
        elif x.key == "constraints.cash.min":
            want(x, x.key, c.cash.min, max(min(x.needed, c.cash.min), 0.0))
        else:
            blocked.append(x.describe())
    return list(found.values()), blocked


def _tilt(x: Conflict, scenario: Scenario, want, blocked: list[str]) -> None:
    """Widen the band to reach what the elastic answer reaches; where a band that wide
    would leave [-1, 1], move the target toward it instead."""
    label = x.key[len("tilts.") :]
    tilt = scenario.tilts[label]
    band = abs(x.needed - tilt.target) + BAND_MARGIN + EXTRA
    if abs(tilt.target) + band <= 1.0:
        want(x, f"{x.key}.band", tilt.band, max(tilt.band, band))
        return
    # the optimizer's band edge sits min(0.1 band, BAND_MARGIN) inside the scenario's
    inside = min(0.1 * tilt.band, BAND_MARGIN) + EXTRA
    if x.needed < tilt.target:
        target = x.needed + tilt.band - inside
    else:
        target = x.needed - tilt.band + inside
    if abs(target) + tilt.band <= 1.0:
        want(x, f"{x.key}.target", tilt.target, target)
    else:
        blocked.append(f"{x.describe()}: no band or target in [-1, 1] reaches it")


def _days(x: Conflict, days: float, want, blocked: list[str]) -> None:
    """Lengthen the trading days by the largest ratio any name needs."""
    dry = [t for t, _, cap in x.names if cap <= 0.0]
    if dry or x.limit <= 0.0:
        names = ", ".join(dry) or x.detail
        blocked.append(f"{x.constraint}: no liquidity to trade ({names})")
        return
    ratio = max([need / cap for _, need, cap in x.names] or [x.needed / x.limit])
    new = days * ratio * (1 + 1e-3)
    if new > MAX_DAYS:
        blocked.append(f"{x.constraint}: would need {new:.4g} trading days, more than {MAX_DAYS:g}")
        return
    want(x, x.key, days, new)


def _positions(
    x: Conflict, scenario: Scenario, universe: pd.DataFrame | None, want, blocked: list[str]
) -> None:
    """Raise, for each name over its cap, the position-cap settings that hold it there:
    the default where no group of the setting lists the name, else every listed group
    of the name whose cap is below the need (a name takes the smallest of them)."""
    setting = scenario.constraints.max_position
    names = x.names or (("", x.needed, x.limit),)
    for ticker, need, cap in names:
        if universe is not None and ticker in universe.index:
            i = universe.index.get_loc(ticker)
            if str(universe["restricted"].iloc[i]) == "sell":
                blocked.append(f"forced exit of {ticker} (restricted 'sell' in the universe)")
                continue
            if setting is None:
                blocked.append(f"{x.constraint} of {ticker}: no position cap in the scenario")
                continue
            hits = [(sel, v) for sel, v in setting.overrides if match(sel, universe)[i]]
            holders = [(f"{POSITION_KEY}.{sel.text}", v) for sel, v in hits if v < need]
            if not hits:
                holders = [(POSITION_KEY, setting.default)]
        else:  # without the universe: the settings whose value is the cap reported
            entries = [] if setting is None else [(POSITION_KEY, setting.default)]
            if setting is not None:
                entries += [(f"{POSITION_KEY}.{sel.text}", v) for sel, v in setting.overrides]
            holders = [(key, v) for key, v in entries if np.isclose(v, cap, atol=1e-12)]
        if not holders:
            blocked.append(f"{x.constraint} {cap:.4g} of {ticker}: not a scenario setting")
        for key, value in holders:
            new = need + EXTRA
            if new > 1.0:
                blocked.append(f"{x.constraint} of {ticker}: would need more than 100% of NAV")
                continue
            want(x, key, value, max(value, new))


def relax(scenario: Scenario, changes: list[Relaxation]) -> Scenario:
    """``scenario`` with the relaxations applied (validated like any scenario)."""
    data = copy.deepcopy(scenario.to_data())
    cash = data["constraints"]["cash"]
    # the floor last: moving the target may have pulled it down already
    for change in sorted(changes, key=lambda ch: ch.key == "constraints.cash.min"):
        key, value = change.key, change.relaxed_to
        if key.startswith("tilts."):
            label, _, field = key[len("tilts.") :].rpartition(".")
            data["tilts"][label][field] = value
        elif key.startswith(POSITION_KEY + "."):  # one group's cap
            data["constraints"]["max_position"][key[len(POSITION_KEY) + 1 :]] = value
        elif key == POSITION_KEY:  # the default cap
            setting = data["constraints"]["max_position"]
            if isinstance(setting, dict):
                setting["default"] = value
            else:
                data["constraints"]["max_position"] = value
        elif key == "constraints.cash.target":
            cash["target"] = value
            cash["min"] = min(cash["min"], value)
        elif key == "constraints.cash.min":
            cash["min"] = min(value, cash["target"])
        else:
            node = data
            *path, last = key.split(".")
            for part in path:
                node = node[part]
            node[last] = value
    return build(data, None)
