"""``constraints.max_turnover``: Σ|trade| / (2 NAV) ≤ cap (buys plus sells over twice
NAV), one linear row of the orders (``RowCap``: ½·bought + ½·sold per name). The
optimizer works to the cap itself (the rounding only shrinks trades, and the row
repair trims buys where a fix-up traded more); rounding may still break it (sales it
must make for other caps), and then the request is infeasible. Relaxed by raising
the cap to what the closest feasible portfolio trades."""

from __future__ import annotations

from rebalancer.limits.base import TOL, RowCap


class Turnover(RowCap):
    name = "max_turnover"
    buy = sell = 0.5

    def measure(self, final, add) -> None:
        cap = self.setting(final.scenario)
        if cap is not None:
            turnover = (final.buys + final.sells) / (2 * final.nav)
            add(self.check, cap, turnover, turnover <= cap + TOL)


TURNOVER = Turnover()
