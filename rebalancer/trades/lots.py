"""Tax lots a sale is taken from: ``allocate_lots`` takes each sale from the account's
lots, highest cost per share first (HIFO) by default, so realised gains are as small
as the lots allow; a gain's term comes from ``model.tax.is_long_term``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.model.tax import is_long_term

EPS = 1e-9  # shares: a lot gives nothing below this


def allocate_lots(
    lots: pd.DataFrame,
    sells: pd.Series,
    price: pd.Series,
    as_of: pd.Timestamp,
    priority: pd.Series | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Take each sale from its lots: highest cost per share first (HIFO) by default,
    or in ascending ``priority`` (a value per ``lot_id``: the acquisition date for
    FIFO, tax per dollar sold for the tax-optimal order). Lots in ``exclude`` (wash
    sale or short-term blocks) are never sold from.

    ``lots``: holdings rows (account, ticker, quantity, cost_basis, acquired, lot_id);
    ``sells``: shares sold per ticker (positive). Returns one row per lot touched:
    account, ticker, lot_id, acquired, quantity_sold, cost_basis_sold_usd,
    proceeds_usd, realized_gain_usd, term (ST/LT, "" when the date is unknown).
    """
    wanted = sells[sells > 0]
    held = lots[lots["ticker"].isin(wanted.index) & ~lots["lot_id"].isin(exclude)]
    ticker = held["ticker"].to_numpy()
    quantity = held["quantity"].to_numpy(float)
    per_share = held["cost_basis"].to_numpy(float) / quantity
    acquired = pd.to_datetime(held["acquired"])
    # the sale order, in numpy (a book sorts thousands of accounts' lots): by ticker,
    # then highest cost per share (or the lowest ``priority``), then oldest; a missing
    # key sorts last, ties keep the file's order
    first_key = -per_share if priority is None else _sort_key(held["lot_id"].map(priority))
    dates = acquired.to_numpy("datetime64[ns]")
    codes = pd.factorize(ticker, sort=True)[0]
    order = np.lexsort(
        (
            np.where(np.isnat(dates), 0, dates.view("int64")),
            np.isnat(dates),
            np.where(np.isnan(first_key), 0.0, first_key),
            np.isnan(first_key),
            codes,
        )
    )
    ticker, quantity, per_share, codes = (
        ticker[order],
        quantity[order],
        per_share[order],
        codes[order],
    )
    held, acquired = held.iloc[order], acquired.iloc[order]
    # each lot gives what is left of its ticker's sale after the lots before it
    total = np.cumsum(quantity)
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1] if len(codes) else np.zeros(0, int)
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    before = total - quantity - (total[group_start] - quantity[group_start])
    want = wanted.reindex(ticker).to_numpy(float)
    take = np.clip(want - before, 0.0, quantity)
    given = pd.Series(take).groupby(ticker).sum() if len(take) else pd.Series(dtype=float)
    short = wanted - given.reindex(wanted.index, fill_value=0.0)
    if (short > 1e-6).any():
        bad = short.idxmax()
        raise AssertionError(f"sale of {wanted[bad]} {bad} exceeds its lots by {short[bad]}")
    sold = take > EPS
    held, acquired, take = held[sold], acquired[sold], take[sold]
    proceeds = take * price.reindex(ticker[sold]).to_numpy(float)
    basis = take * per_share[sold]
    long_term = np.asarray(is_long_term(acquired, as_of))
    term = np.where(acquired.isna(), "", np.where(long_term, "LT", "ST"))
    columns = [
        "account",
        "ticker",
        "lot_id",
        "acquired",
        "quantity_sold",
        "cost_basis_sold_usd",
        "proceeds_usd",
        "realized_gain_usd",
        "term",
    ]
    out = pd.DataFrame(
        {
            "account": held["account"].to_numpy(),
            "ticker": held["ticker"].to_numpy(),
            "lot_id": held["lot_id"].to_numpy(),
            "acquired": acquired.to_numpy(),
            "quantity_sold": take,
            "cost_basis_sold_usd": basis,
            "proceeds_usd": proceeds,
            "realized_gain_usd": proceeds - basis,
            "term": term,
        },
        columns=columns,
    )
    return out


def _sort_key(values: pd.Series) -> np.ndarray:
    """A lot-priority column as floats to sort on (dates as nanoseconds), NaN where
    missing."""
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = pd.to_datetime(values).to_numpy("datetime64[ns]")
        return np.where(np.isnat(dates), np.nan, dates.view("int64").astype(float))
    return pd.to_numeric(values, errors="coerce").to_numpy(float)
