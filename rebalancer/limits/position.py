"""``constraints.max_position``: the weight of each name ≤ its cap (a value per group:
the strictest applies; 0 for a forced exit, ``restricted: sell``). The optimizer works
to the cap (``optimize.constraints.PositionLimit``, or ``Bounds`` outside an elastic
solve); the rounding sells what it leaves above it (``trades.repairs.position``), and
a break left after that is infeasible. Relaxed by raising, per name over its cap, the
settings that hold it there."""

from __future__ import annotations

import numpy as np

from rebalancer.limits.base import EXTRA, TOL, ConstraintSetting
from rebalancer.model.universe import per_name
from rebalancer.scenario.selectors import match


class Position(ConstraintSetting):
    name = "max_position"
    hard = True
    forced_exits = True  # a cap of 0 from the universe (restricted: sell) can conflict
    what = "position cap"

    def caps(self, universe, scenario) -> np.ndarray:
        """The cap of each name, as the scenario states it (1: no cap)."""
        setting = self.setting(scenario)
        if setting is None:
            return np.ones(len(universe))
        return per_name(universe, setting, "min")

    def relaxed_to(self, needed: float) -> float:
        """The scenario cap the optimizer's cap reaches ``needed`` (and a hair more) at."""
        return needed + EXTRA

    def measure(self, final, add) -> None:
        if self.setting(final.scenario) is None:
            return
        caps = self.caps(final.universe, final.scenario)
        room = caps - final.w_after.to_numpy()
        i = int(np.argmin(room)) if len(room) else 0
        add(
            self.check,
            float(caps[i]),
            float(final.w_after.iloc[i]),
            (room >= -TOL).all(),
            f"closest to its cap: {final.universe.index[i]}",
        )

    def hard_conflict(self, request, row, w_after, how):
        over = np.flatnonzero(w_after > request.limits.position_cap_weight + 1e-9)
        names = tuple(
            (
                str(request.universe.index[i]),
                float(w_after[i]),
                float(request.limits.position_cap_weight[i]),
            )
            for i in over
        )
        return self.conflict(self.name, float(row.limit), float(row.value), how, names=names)

    def relax(self, scenario, x, universe, want, blocked) -> None:
        """Raise, for each name over its cap, the position-cap settings that hold it
        there: the default where no group of the setting lists the name, else every
        listed group of the name whose cap is below the need (a name takes the
        smallest of them)."""
        key = self.key
        setting = self.setting(scenario)
        names = x.names or (("", x.needed, x.limit),)
        for ticker, need, cap in names:
            if universe is not None and ticker in universe.index:
                i = universe.index.get_loc(ticker)
                if self.forced_exits and str(universe["restricted"].iloc[i]) == "sell":
                    blocked.append(f"forced exit of {ticker} (restricted 'sell' in the universe)")
                    continue
                if setting is None:
                    blocked.append(f"{x.constraint} of {ticker}: no {self.what} in the scenario")
                    continue
                hits = [(sel, v) for sel, v in setting.overrides if match(sel, universe)[i]]
                holders = [(f"{key}.{sel.text}", v) for sel, v in hits if v < need]
                if not hits:
                    holders = [(key, setting.default)]
            else:  # without the universe: the settings whose value is the cap reported
                entries = [] if setting is None else [(key, setting.default)]
                if setting is not None:
                    entries += [(f"{key}.{sel.text}", v) for sel, v in setting.overrides]
                holders = [(k, v) for k, v in entries if np.isclose(v, cap, atol=1e-12)]
            if not holders:
                blocked.append(f"{x.constraint} {cap:.4g} of {ticker}: not a scenario setting")
            for k, value in holders:
                new = self.relaxed_to(need)
                if new > 1.0:
                    blocked.append(f"{x.constraint} of {ticker}: would need more than 100% of NAV")
                    continue
                want(x, k, value, max(value, new))

    def apply(self, data, key, value) -> None:
        constraints = data["constraints"]
        field = self.key.rpartition(".")[2]
        if key.startswith(self.key + "."):  # one group's cap
            constraints[field][key[len(self.key) + 1 :]] = value
        elif isinstance(constraints[field], dict):  # the default cap
            constraints[field]["default"] = value
        else:
            constraints[field] = value

    def rounding(self, request) -> dict:
        return {"position_cap": request.limits.position_cap_weight}


POSITION = Position()
