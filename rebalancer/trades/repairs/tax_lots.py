"""Tax lots: no sale of more shares than the lots free of wash-sale or short-term
blocks hold (``sellable_shares``; the first rounding keeps it, a repair's move too)."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Move, Repair, Rounding


class SellableLots(Repair):
    def applies(self, r) -> bool:
        return r.sellable_shares is not None

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        return -np.minimum(m.new_q, 0.0) <= c.rules.sellable_shares + EPS
