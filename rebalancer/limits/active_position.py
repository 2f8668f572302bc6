"""``constraints.max_active_position``: each name's weight within its cap of its
reference weight, |w_i − ref_i| ≤ cap_i (a value per group: the strictest applies;
unset, no limit). Against a benchmark the cap bounds each name's bet both ways —
an overweight, and an underweight of a benchmark name (which it must then hold).

- The optimizer works to ``active_inside(cap)``, the cap less ``ACTIVE_MARGIN`` (a tenth of
  it where that is less), as ``optimize.constraints.ActiveCap``: its caps are
  a row of ``ProblemData.active_caps`` (``problem_caps``); the names it makes the
  account hold (ref − cap > 0) are in every first working set
  (``optimize.layout.must_hold``), or, where the account neither holds nor may buy
  one, a conflict before any solve (``out_of_reach``).
- The rounding keeps ref + cap as a position cap (its fix-ups sell what is above) and
  ref − cap as a floor its fix-ups do not sell below (``rounding``); a buy rounded down
  can still leave a name under its floor by less than a lot: the Checks row flags it
  (it is not a hard limit).
- A conflict is relaxed as ``max_position`` is: per name over its cap, the settings
  that hold it are raised to what the closest feasible portfolio needs, plus the
  margin (``relaxed_to``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.limits.base import EXTRA, TOL
from rebalancer.limits.position import Position

ACTIVE_MARGIN = 0.0005


def active_inside(cap):
    """The cap the optimizer works to for the scenario's ``cap`` (per name)."""
    return np.maximum(cap - np.minimum(0.1 * cap, ACTIVE_MARGIN), 0.0)


def active_outside(inside):
    """The smallest scenario cap whose ``active_inside`` is ``inside``."""
    return np.where(inside >= 9 * ACTIVE_MARGIN, inside + ACTIVE_MARGIN, inside / 0.9)


class ActivePosition(Position):
    name = "max_active_position"
    hard = False
    forced_exits = False
    what = "active position cap"

    def relaxed_to(self, needed: float) -> float:
        return float(active_outside(needed + EXTRA))

    def measure(self, final, add) -> None:
        if self.setting(final.scenario) is None:
            return
        caps = self.caps(final.universe, final.scenario)
        distance = np.abs(final.active)
        room = caps - distance
        i = int(np.argmin(room)) if len(room) else 0
        add(
            self.check,
            float(caps[i]) if len(caps) else 0.0,
            float(distance[i]) if len(distance) else 0.0,
            bool((room >= -TOL).all()),
            f"closest to its cap: {final.universe.index[i]}" if len(room) else "",
        )

    def problem_caps(self, universe, scenario) -> np.ndarray | None:
        """The caps the optimizer works to, per name (None: the limit is not set)."""
        if self.setting(scenario) is None:
            return None
        return active_inside(self.caps(universe, scenario))

    def out_of_reach(self, universe, scenario, ref, w0, may_buy):
        """Names the account must hold (ref − cap > 0) but neither holds nor may buy."""
        if self.setting(scenario) is None:
            return []
        caps = self.caps(universe, scenario)
        stuck = np.flatnonzero((ref > active_inside(caps)) & (w0 <= 0) & ~may_buy)
        if not len(stuck):
            return []
        names = tuple((str(universe.index[i]), float(ref[i]), float(caps[i])) for i in stuck)
        worst = max(names, key=lambda n: n[1] - n[2])
        detail = (
            f"{len(names)} name(s) not held that may not be bought, worst {worst[0]} "
            f"with a reference weight of {worst[1]:.4%}"
        )
        return [self.conflict(self.name, worst[2], worst[1], detail, names=names)]

    def in_scenario_terms(self, request, conflict):
        """The optimizer's conflict with each name's cap as the scenario states it."""
        caps = self.caps(request.universe, request.scenario)
        index = request.universe.index
        names = tuple(
            (t, need, float(caps[index.get_loc(t)]) if t in index else cap)
            for t, need, cap in conflict.names
        )
        if not names:
            return [dataclasses.replace(conflict, key=self.key, source=self.name)]
        worst = max(names, key=lambda n: n[1] - n[2])
        detail = (
            f"{len(names)} name(s), worst {worst[0]} needs {worst[1]:.4%} of NAV from its "
            f"reference weight vs {worst[2]:.4%}"
        )
        return [self.conflict(conflict.constraint, worst[2], worst[1], detail, names=names)]

    def rounding(self, request) -> dict:
        if self.setting(request.scenario) is None:
            return {}
        caps = self.caps(request.universe, request.scenario)
        return {
            "position_cap": request.reference_weight + caps,
            "position_floor": np.maximum(request.reference_weight - caps, 0.0),
        }


ACTIVE_POSITION = ActivePosition()
