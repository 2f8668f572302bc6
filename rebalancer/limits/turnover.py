"""``constraints.max_turnover``: Σ|trade| / (2 NAV) ≤ cap (buys plus sells over twice
NAV). The optimizer works to the cap itself (``optimize.constraints.Turnover``: the
rounding only shrinks trades, and trims buys where a fix-up traded more); rounding
may still break it (sales it must make for other caps), and then the request is
infeasible. Relaxed by raising the cap to what the closest feasible portfolio trades."""

from __future__ import annotations

from rebalancer.limits.base import EXTRA, TOL, ScalarCap


class Turnover(ScalarCap):
    name = "max_turnover"

    def relaxed_to(self, needed: float) -> float:
        return min(needed + EXTRA, 1.0)

    def measure(self, final, add) -> None:
        cap = self.setting(final.scenario)
        if cap is not None:
            turnover = (final.buys + final.sells) / (2 * final.nav)
            add(self.check, cap, turnover, turnover <= cap + TOL)

    def rounding(self, request) -> dict:
        cap = self.setting(request.scenario)
        return {"max_traded_usd": None if cap is None else 2 * cap * request.position.nav_usd}


TURNOVER = Turnover()
