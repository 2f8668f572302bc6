"""Turnover: buys + sells at most ``max_traded_usd`` (twice the cap of the NAV)."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Move, Repair, Rounding


class Turnover(Repair):
    """Sells that rounding made full exits, lifted to the minimum trade or topped up
    for a position or sector cap trade more than the optimizer planned, which can take
    buys + sells past twice the turnover cap. Trim buys in whole lots (dropping one
    left under the minimum) until the orders are back under it: first the buys whose
    trim spares the other limits (the tilt bands, the tracking error), the largest
    first, then any buy. Sells are left alone: they fund the buys and keep the caps. If
    the sells alone trade more than the cap allows, the turnover check reports it."""

    def applies(self, r) -> bool:
        return r.max_traded_usd is not None

    def fix(self, q, c):
        r = c.rules
        q = q.copy()
        for _ in range(4 * len(q) + 10):
            excess = float(np.abs(q * r.price).sum()) - r.max_traded_usd
            buys = np.flatnonzero(q > 0)
            if excess <= EPS or not len(buys):
                return q
            cut = np.minimum(np.ceil(excess / (r.lot * r.price) - EPS) * r.lot, np.maximum(q, 0.0))
            left = q - cut
            cut = np.where((left > 0) & (left * r.price < r.min_trade_usd), q, cut)
            pool = c.keeping(q, buys, -cut * r.price)
            i = pool[np.argmax((q * r.price)[pool])]
            q[i] -= cut[i]
        return q

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        traded = np.abs(m.q) * c.rules.price
        return traded.sum() - traded + m.value <= c.rules.max_traded_usd + EPS
