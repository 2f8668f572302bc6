"""The backtest's cash from outside the account: dividends and a cash-request schedule.

``--dividends FILE``: ``date, ticker, amount`` (dollars per share, ≥ 0), ``date`` the
ex-date. ``--cash-schedule FILE``: ``date`` and at least one of ``withdraw_usd``,
``deposit_usd`` (dollars, ≥ 0; blank is 0). Each a ``.csv``, ``.xlsx`` or Parquet
file. A bad cell, a dividend of a name the universe lacks, a request dated outside the
window or after its last rebalance date raises ``InputError`` naming the file, row and
column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.errors import InputError
from rebalancer.inputs.cells import Date, Number, Text, parse_columns
from rebalancer.inputs.tables import read_table, require_columns

DIVIDEND_CELLS = {
    "date": Date(required=True),
    "ticker": Text(required=True),
    "amount": Number(min=0),
}
SCHEDULE_CELLS = {
    "date": Date(required=True),
    "withdraw_usd": Number(required=False, min=0, default=0.0),
    "deposit_usd": Number(required=False, min=0, default=0.0),
}


def _read(path, cells: dict, required: tuple[str, ...]) -> pd.DataFrame:
    table = read_table(path, allow_empty=True)
    require_columns(table, required, path)
    if "withdraw_usd" in cells and not {"withdraw_usd", "deposit_usd"} & set(table.columns):
        raise InputError(path, "expected a withdraw_usd or deposit_usd column")
    frame = pd.DataFrame(parse_columns(table, path, cells))
    frame["row"] = table["row"].to_numpy()
    return frame


def read_dividends(path, tickers: pd.Index) -> pd.DataFrame:
    """The dividends file as ``date, ticker, amount, row``; every ticker in ``tickers``."""
    frame = _read(path, DIVIDEND_CELLS, ("date", "ticker", "amount"))
    unknown = ~frame["ticker"].isin(tickers)
    if unknown.any():
        first = frame[unknown].iloc[0]
        raise InputError(path, f"ticker '{first['ticker']}' is not in the universe",
                         row=int(first["row"]), column="ticker")  # fmt: skip
    return frame


def read_schedule(path) -> pd.DataFrame:
    """The cash-request schedule as ``date, withdraw_usd, deposit_usd, row``."""
    return _read(path, SCHEDULE_CELLS, ("date",))


def dividends_by_date(dividends: pd.DataFrame | None, dates: pd.DatetimeIndex) -> dict:
    """Per price date of the window, the dividend per share of each name credited that
    day: an ex-date's dividend on the first price date on or after it, for the shares
    held at the close of the price date before; ex-dates on or before the window's
    first date or after its last are outside the window and ignored."""
    if dividends is None or not len(dividends):
        return {}
    inside = (dividends["date"] > dates[0]) & (dividends["date"] <= dates[-1])
    paid = dividends[inside]
    on = dates[np.searchsorted(dates.to_numpy(), paid["date"].to_numpy("datetime64[ns]"))]
    grouped = paid.assign(on=on).groupby(["on", "ticker"])["amount"].sum()
    return {day: grouped.loc[day] for day in grouped.index.get_level_values(0).unique()}


def requests_by_date(
    schedule: pd.DataFrame | None, dates: pd.DatetimeIndex, calendar: pd.DatetimeIndex, path
) -> dict:
    """Per rebalance date (``calendar``), the (withdrawal, deposit) it is asked for: each
    request on the first rebalance date on or after its date. A request outside the
    window, or after its last rebalance date, raises ``InputError`` naming its row."""
    if schedule is None or not len(schedule):
        return {}
    out: dict = {}
    for row in schedule.itertuples(index=False):
        where = np.searchsorted(calendar.to_numpy(), np.datetime64(row.date, "ns"))
        if not dates[0] <= row.date <= dates[-1] or where == len(calendar):
            why = ("is outside the window" if not dates[0] <= row.date <= dates[-1]
                   else "is after the window's last rebalance date")  # fmt: skip
            raise InputError(
                path,
                f"{row.date:%Y-%m-%d} {why} ({dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}, "
                f"last rebalance date {calendar[-1]:%Y-%m-%d})",
                row=int(row.row), column="date",
            )  # fmt: skip
        w, d = out.get(calendar[where], (0.0, 0.0))
        out[calendar[where]] = (w + row.withdraw_usd, d + row.deposit_usd)
    return out
