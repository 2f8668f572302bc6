"""A sector's weight after the orders: at most ``sector_max`` of the NAV after trades."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Move, Repair, Rounding, room_to_sell


class SectorCap(Repair):
    """Cut buys, then add to sales, where a sector is above its cap of the NAV after
    trades (``nav_after_usd``); a step up keeps every sector under it."""

    def applies(self, r) -> bool:
        return r.sector_max is not None

    def fix(self, q, c):
        r = c.rules
        q = q.copy()
        for code in np.unique(r.sector_codes):
            members = np.flatnonzero(r.sector_codes == code)
            for _ in range(len(members) * 4):
                cap_usd = r.sector_max * c.nav_after(q)
                post_value = (r.shares_before[members] + q[members]) * r.price[members]
                excess = post_value.sum() - cap_usd
                if excess <= EPS * r.nav_usd:
                    break
                # cut buys first (largest), then add to sells of the largest positions;
                # of the names whose change spares the other limits, if any
                lots = np.ceil(excess / (r.lot * r.price) - EPS) * r.lot
                buys = members[q[members] > 0]
                if len(buys):
                    pool = c.keeping(q, buys, -np.minimum(lots, q) * r.price)
                    i = pool[np.argmax(q[pool] * r.price[pool])]
                    q[i] = max(q[i] - lots[i], 0.0)
                    continue
                room = room_to_sell(q, r)
                sellers = members[room[members] > 0]
                if not len(sellers):
                    break
                pool = c.keeping(q, sellers, -np.minimum(lots, room) * r.price)
                i = pool[np.argmax((r.shares_before[pool] + q[pool]) * r.price[pool])]
                q[i] -= min(lots[i], room[i])
        return q

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        r = c.rules
        if m.step <= 0:  # a step down sells: no sector grows
            return np.ones(len(m.q), dtype=bool)
        sector_usd = np.bincount(r.sector_codes, weights=(r.shares_before + m.q) * r.price)
        return sector_usd[r.sector_codes] + m.step_usd <= r.sector_max * m.nav_next * (1 + 1e-9)
