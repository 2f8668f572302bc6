"""``constraints.liquidity``: each name's trade ≤ max_participation × ADV × days (the
participation a value per group: the strictest applies). The optimizer works to the cap
(``optimize.constraints.Liquidity``); the rounding never trades past it. Relaxed by
lengthening the trading days by the largest ratio any name needs."""

from __future__ import annotations

import numpy as np

from rebalancer.limits.base import USD_TOL, AdvisorLimit
from rebalancer.model.universe import per_name

MAX_DAYS = 100.0  # the schema's range of constraints.liquidity.days


class Liquidity(AdvisorLimit):
    name = "liquidity"
    key = "constraints.liquidity.days"
    sources = ("liquidity",)

    @staticmethod
    def participation(universe, scenario) -> np.ndarray:
        """Per name, the largest share of its average daily traded value an order takes."""
        return per_name(universe, scenario.constraints.liquidity.max_participation, "min")

    def cap_usd(self, universe, scenario) -> np.ndarray:
        """Per name, the most that may be traded in dollars: participation × ADV × days."""
        part = self.participation(universe, scenario)
        return part * universe["adv"].to_numpy(float) * scenario.constraints.liquidity.days

    def measure(self, final, add) -> None:
        universe = final.universe
        cap = self.cap_usd(universe, final.scenario)
        traded = np.abs(final.trade.to_numpy()) * universe["price"].to_numpy()
        worst = traded - cap
        i = int(np.argmax(worst)) if len(worst) else 0
        add(
            "liquidity (participation of ADV)",
            float(cap[i]) if len(cap) else 0.0,
            float(traded[i]) if len(traded) else 0.0,
            (worst <= USD_TOL + 1e-9 * cap).all(),
            f"tightest: {universe.index[i]}" if len(worst) else "",
        )

    def relax(self, scenario, x, universe, want, blocked) -> None:
        """Lengthen the trading days by the largest ratio any name needs."""
        days = scenario.constraints.liquidity.days
        dry = [t for t, _, cap in x.names if cap <= 0.0]
        if dry or x.limit <= 0.0:
            names = ", ".join(dry) or x.detail
            blocked.append(f"{x.constraint}: no liquidity to trade ({names})")
            return
        ratio = max([need / cap for _, need, cap in x.names] or [x.needed / x.limit])
        new = days * ratio * (1 + 1e-3)
        if new > MAX_DAYS:
            blocked.append(
                f"{x.constraint}: would need {new:.4g} trading days, more than {MAX_DAYS:g}"
            )
            return
        want(x, self.key, days, new)

    def rounding(self, request) -> dict:
        return {"liquidity_cap_usd": request.limits.liquidity_usd}


LIQUIDITY = Liquidity()
