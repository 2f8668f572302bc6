"""A name's weight after the orders: its cap (``position_cap``: the position limit's,
or the active-position limit's ref + cap where that is smaller) and its floor
(``position_floor``: the active-position limit's ref − cap)."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Move, Repair, Rounding, room_to_sell


def fix_positions(q: np.ndarray, c: Rounding) -> np.ndarray:
    """Sell (or buy less of) what rounding, or the costs, left above its cap: of the
    NAV after trades, which the next run measures against (``nav_after_usd``)."""
    r = c.rules
    post_value = (r.shares_before + q) * r.price
    excess = post_value - r.position_cap * c.nav_after(q)
    over = excess > EPS * r.nav_usd
    if not over.any():
        return q
    need = np.ceil(np.where(over, excess, 0.0) / (r.lot * r.price) - EPS) * r.lot
    # a buy is cut (whole, if what is left is under the minimum); a sale is topped up
    bought = np.maximum(q, 0.0)
    cut = np.minimum(need, bought)
    left = bought - cut
    cut = np.where((left > 0) & (left * r.price < r.min_trade_usd), bought, cut)
    extra = np.where(q > 0, cut, np.minimum(need, room_to_sell(q, r)))
    return q - np.where(over, extra, 0.0)


class PositionCap(Repair):
    """Whole lots (a buy rounded down, a sale rounded to a full exit's neighbour) and
    the costs can leave a name above its cap: sell what is above, first of all."""

    def fix(self, q, c):
        return fix_positions(q, c)

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        r = c.rules
        return m.post * r.price <= r.position_cap * m.nav_next * (1 + 1e-9) + EPS


class PositionCapAfterCosts(Repair):
    """Last: the repairs' buys cost money too, which lowers the NAV after trades, so a
    buy that ended at its cap is cut to it again (a lot less), lest the next run sell
    it. Sales are left as they are."""

    def fix(self, q, c):
        return np.where(q > 0, fix_positions(q, c), q)


class PositionFloor(Repair):
    """No repair sells a name below its floor (where it is below already: further)."""

    def applies(self, r) -> bool:
        return r.position_floor is not None

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        return (m.new_q >= m.q) | self.spares(m.q, m.step_usd, c)

    def spares(self, q, step_usd, c):
        r = c.rules
        value = (r.shares_before + q) * r.price
        floor = r.position_floor * r.nav_usd
        return (value + step_usd >= floor - EPS * r.nav_usd) | (step_usd >= 0)
