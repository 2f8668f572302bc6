"""Liquidity: no order's notional past ``liquidity_cap_usd`` (the first rounding clips
every order to it; a repair's move keeps it)."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import Move, Repair, Rounding


class Liquidity(Repair):
    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        return m.value <= c.rules.liquidity_cap_usd * (1 + 1e-9)
