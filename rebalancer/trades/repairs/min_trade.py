"""The minimum trade: no order under ``min_trade_usd`` unless it closes a position."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Move, Repair, Rounding, room_to_sell


class MinTrade(Repair):
    """Drop buys under the minimum; lift sales a fix-up left under it (or close them)."""

    def fix(self, q, c):
        r = c.rules
        closes = np.isclose(q, -r.shares_before) & (r.shares_before > 0)
        small = (q != 0) & (np.abs(q) * r.price < r.min_trade_usd) & ~closes
        if not small.any():
            return q
        q = np.where(small & (q > 0), 0.0, q)
        room = room_to_sell(q, r)
        for i in np.flatnonzero(small & (q < 0)):
            lots_needed = np.ceil(r.min_trade_usd / (r.lot[i] * r.price[i]) - EPS) * r.lot[i]
            extra = lots_needed - abs(q[i])
            if extra <= room[i]:
                q[i] -= extra
            elif r.shares_before[i] * r.price[i] <= r.liquidity_cap_usd[i] and (
                r.sellable_shares is None or r.sellable_shares[i] >= r.shares_before[i] - EPS
            ):
                q[i] = -r.shares_before[i]
        return q

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        return (m.value >= c.rules.min_trade_usd) | (m.new_q == 0)
