"""Sales come out of the account's lots: no lot sold past what it holds, and the lot
sales add up to the sell orders (``optimize.constraints.LotSales`` for taxable
accounts; ``trades.lots.allocate_lots`` takes each sale from lots)."""

from __future__ import annotations

import pandas as pd

from rebalancer.limits.base import AdvisorLimit, shares_tol


class LotSales(AdvisorLimit):
    name = "lot_sales"

    def measure(self, final, add) -> None:
        lot_sales, trades = final.lot_sales, final.trades
        held = final.lots.set_index("lot_id")["quantity"]
        if len(lot_sales):
            sold = lot_sales.groupby("lot_id")["quantity_sold"].sum()
            lot_held = held.reindex(sold.index)
            over = sold - lot_held
            add("no oversold lot", 0.0, float(over.max()), (over <= shares_tol(lot_held)).all())
            per_ticker = lot_sales.groupby("ticker")["quantity_sold"].sum()
        else:
            add("no oversold lot", 0.0, 0.0, True)
            per_ticker = pd.Series(dtype=float)
        sells = trades[trades["side"] == "SELL"].groupby("ticker")["quantity"].sum()
        gap = (sells - per_ticker.reindex(sells.index, fill_value=0.0)).abs()
        ok = (gap <= shares_tol(sells)).all()
        add("lot sales = sell orders", 0.0, float(gap.max()) if len(gap) else 0.0, ok)


LOT_SALES = LotSales()
