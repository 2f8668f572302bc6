"""The limits stated as linear rows of the orders (``limits.base.RowCap``: the turnover
cap, the most sold in a run...): one repair for all of them, driven by their rows in
dollars (``RoundingRules.rows``), so a new row limit needs no repair of its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rebalancer.limits.base import Row
from rebalancer.trades.repairs.base import EPS, Move, Repair, Rounding, lot_step


@dataclass(frozen=True)
class DollarRow:
    """One row over the orders q (signed shares): Σᵢ buyᵢ·boughtᵢ + sellᵢ·soldᵢ +
    weightᵢ·heldᵢ ≤ rhs, bought and sold the orders' notional and held the value after
    them, in dollars; scaled so that its largest coefficient is 1 (a turnover row's
    ½·bought + ½·sold ≤ cap·NAV is bought + sold ≤ 2·cap·NAV)."""

    name: str
    buy: np.ndarray
    sell: np.ndarray
    weight: np.ndarray
    rhs: float

    @classmethod
    def of(cls, row: Row, n: int) -> DollarRow:
        buy, sell, weight = row.per_name(n)
        scale = max(float(np.abs(x).max()) for x in (buy, sell, weight)) or 1.0
        return cls(row.name, buy / scale, sell / scale, weight / scale, row.rhs / scale)

    def parts(self, q: np.ndarray, r) -> np.ndarray:
        """Each name's part of the left side under the orders ``q``."""
        trade = q * r.price
        part = self.buy * np.maximum(trade, 0.0) + self.sell * np.maximum(-trade, 0.0)
        if self.weight.any():
            part = part + self.weight * (r.shares_before + q) * r.price
        return part

    def excess(self, q: np.ndarray, r) -> float:
        """How far the orders ``q`` take the left side past ``rhs`` (≤ 0: kept)."""
        return float(self.parts(q, r).sum()) - self.rhs


def dollar_rows(r) -> list[DollarRow]:
    return [DollarRow.of(row, len(r.price)) for row in r.rows]


def keep_steps_up(q: np.ndarray, step_usd: np.ndarray, r) -> np.ndarray:
    """Per name, whether a step up of ``step_usd`` (more bought, or a sale shrunk: a
    sale's step is taken as adding no sales) keeps every row, with no tolerance: the
    idle cash's test (``repairs.cash.IdleCash``)."""
    ok = np.ones(len(q), dtype=bool)
    for row in dollar_rows(r):
        grows = np.where(
            q < 0,
            np.maximum(row.weight - row.sell, 0.0) * step_usd,
            (row.buy + row.weight) * step_usd,
        )
        ok &= float(row.parts(q, r).sum()) + grows <= row.rhs
    return ok


class Rows(Repair):
    """Rounding rounds every order toward no trade, but the fix-ups after it can trade
    more than the optimizer planned — sales rounded to full exits, lifted to the
    minimum trade or topped up for a position or sector cap — and take a row past its
    right side. For each row broken: trim buys in whole lots (dropping one left under
    the minimum) until it is kept, first the buys whose trim spares the other limits
    (the tilt bands, the tracking error), the largest first, then any buy; a row that
    weighs no buys (the sales alone) is mended by selling less instead, a lot at a
    time of the largest sale, where the step keeps every other limit (the cash floor,
    the caps the sale was topped up for). A row on buys leaves the sales alone: they
    fund the buys and keep the caps. A row still broken after that is the Checks'."""

    def applies(self, r) -> bool:
        return bool(r.rows)

    def fix(self, q, c):
        q = q.copy()
        for row in dollar_rows(c.rules):
            q = _trim_buys(q, c, row) if row.buy.any() else _sell_less(q, c, row)
        return q

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        r = c.rules
        ok = np.ones(len(m.q), dtype=bool)
        for row in dollar_rows(r):
            part = row.parts(m.q, r)
            ok &= part.sum() - part + row.parts(m.new_q, r) <= row.rhs + EPS
        return ok


def _trim_buys(q: np.ndarray, c: Rounding, row: DollarRow) -> np.ndarray:
    r = c.rules
    relief = row.buy + row.weight  # the row's fall per dollar of a buy trimmed
    for _ in range(4 * len(q) + 10):
        excess = row.excess(q, r)
        buys = np.flatnonzero((q > 0) & (relief > 0))
        if excess <= EPS or not len(buys):
            return q
        each = np.where(relief > 0, relief, 1.0)
        cut = np.minimum(
            np.ceil(excess / (r.lot * r.price * each) - EPS) * r.lot, np.maximum(q, 0.0)
        )
        left = q - cut
        cut = np.where((left > 0) & (left * r.price < r.min_trade_usd), q, cut)
        pool = c.keeping(q, buys, -cut * r.price)
        i = pool[np.argmax((q * r.price)[pool])]
        q[i] -= cut[i]
    return q


def _sell_less(q: np.ndarray, c: Rounding, row: DollarRow) -> np.ndarray:
    r = c.rules
    relief = row.sell - row.weight  # the row's fall per dollar less sold
    for _ in range(4 * len(q) + 10):
        if row.excess(q, r) <= EPS:
            return q
        new_q = np.minimum(lot_step(q, r, 1.0), 0.0)
        sells = np.flatnonzero((q < 0) & (relief > 0) & c.keeps_step(q, new_q, 1.0))
        if not len(sells):
            return q
        pool = c.keeping(q, sells, (new_q - q) * r.price)
        i = pool[np.argmax((-q * r.price)[pool])]
        q[i] = new_q[i]
    return q
