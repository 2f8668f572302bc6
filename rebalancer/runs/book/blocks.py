"""A book's block orders: every proposed account's trades added up per ticker and
side, with each account's allocation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rebalancer.export.csvout import read_written_trades
from rebalancer.runs.book.jobs import AccountResult
from rebalancer.runs.book.plan import output_path


def block_orders(out: Path, results: list[AccountResult]) -> pd.DataFrame:
    """Trades added up per ticker and side, one row per account's allocation.

    Columns: ticker, side, block_quantity, account, quantity, price. The
    allocations of a block sum exactly to its quantity (they are its parts).
    """
    frames = []
    for r in results:
        trades = r.trades
        if trades is None:  # resumed: read back what was written, ids and tickers as text
            # an account proposed with its household: its rows of the household's file
            name, suffix = (r.household, ".household.trades.csv") if r.household else (
                r.account, ".trades.csv")  # fmt: skip
            path = output_path(out, name, suffix)
            trades = read_written_trades(path) if path.exists() else None
            if trades is not None and r.household:
                trades = trades[trades["account"].astype(str) == r.account]
        if trades is not None and len(trades):
            frames.append(trades[["ticker", "side", "account", "quantity", "price"]])
    if not frames:
        return pd.DataFrame(
            columns=["ticker", "side", "block_quantity", "account", "quantity", "price"]
        )
    alloc = pd.concat(frames, ignore_index=True)
    total = alloc.groupby(["ticker", "side"])["quantity"].transform("sum")
    alloc.insert(2, "block_quantity", total)
    return alloc.sort_values(["ticker", "side", "account"], kind="stable").reset_index(drop=True)
