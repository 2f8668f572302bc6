"""Reading the workbook's tables back as the contract's columns: the Trades sheet's
headers are words (``rebalancer.export.xlsx.HEADINGS``) and a totals block follows
its orders after a blank row."""

from __future__ import annotations

import pandas as pd

from rebalancer.export.xlsx import heading


def table(ws, names: list[str] | None = None) -> pd.DataFrame:
    """The sheet's first table, up to its first empty row, its headers turned back
    into the contract names among ``names`` (default: every ``heading``-ed name
    the Trades sheet can have)."""
    rows = list(ws.values)
    header = list(rows[0])
    body = []
    for row in rows[1:]:
        if row is None or all(v is None for v in row):
            break
        body.append(row)
    back = {heading(n): n for n in (names or TRADE_SHEET_NAMES)}
    return pd.DataFrame(body, columns=[back.get(h, h) for h in header])


TRADE_SHEET_NAMES = [
    "run", "account", "ticker", "name", "side", "quantity", "price", "notional",
    "weight_before", "weight_after", "pct_adv", "days_to_trade", "est_cost", "est_cost_bps",
    "reason", "realized_gain", "term", "lots_sold",
]  # fmt: skip
