"""Reading the workbook's tables back as the contract's columns: the headers of the
Trades, Holdings, Exposures, Tax and Scenario sheets are words
(``rebalancer.export.xlsx.heading``) and a totals block follows the orders (and the
lots sold) after a blank row."""

from __future__ import annotations

import pandas as pd

from rebalancer.export.xlsx import HOLDING_COLUMNS, LOT_COLUMNS, heading


def table(ws, names: list[str] | None = None) -> pd.DataFrame:
    """The sheet's first table, up to its first empty row, its headers turned back
    into the contract names among ``names`` (default: every ``heading``-ed name
    those sheets can have)."""
    rows = list(ws.values)
    header = list(rows[0])
    body = []
    for row in rows[1:]:
        if row is None or all(v is None for v in row):
            break
        body.append(row)
    back: dict[str, str] = {}
    for n in names or SHEET_NAMES:  # the first name of words two share (the Trades')
        back.setdefault(heading(n), n)
    return pd.DataFrame(body, columns=[back.get(h, h) for h in header])


TRADE_SHEET_NAMES = [
    "run", "account", "ticker", "name", "side", "quantity", "price", "notional",
    "weight_before", "weight_after", "pct_adv", "days_to_trade", "est_cost", "est_cost_bps",
    "reason", "realized_gain", "term", "lots_sold",
]  # fmt: skip
EXPOSURE_NAMES = [
    "selector", "reference", "weight_before", "weight_after", "active_before", "target",
    "band_lo", "band_hi", "active_after",
]  # fmt: skip
SHEET_NAMES = list(
    dict.fromkeys(
        [*TRADE_SHEET_NAMES, *HOLDING_COLUMNS, *LOT_COLUMNS, *EXPOSURE_NAMES, "key", "value"]
    )
)
