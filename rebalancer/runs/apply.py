"""Holdings after a proposal is executed: what the next run starts from.

``apply_trades`` writes the orders back into the account's tax lots, as a custodian
would book them at the proposal's prices:

- a SELL reduces lots — the lots the proposal names (its ``lot_sales``, or the trades
  CSV's ``lot_id`` column, ``;``-separated in the order they are sold from, each but
  the last sold whole), else highest cost per share first (HIFO) — and a lot's cost
  basis shrinks with its shares (basis per share is kept); a lot sold out is dropped;
- a BUY becomes a new lot: its shares, cost basis = notional, acquired = ``as_of``;
- cash: cash − Σ signed notional − Σ est_cost, in one ``CASH`` row (a cash row with
  nothing left is dropped: holdings quantities are positive).

Other accounts of the holdings file are kept as they are. The result has the holdings
contract columns (``account, ticker, quantity, cost_basis, acquired``) and reads back
with ``rebalancer.inputs.read_holdings``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer.errors import InputError
from rebalancer.export.atomic import OutputSet
from rebalancer.inputs.cells import Choice, Number, Text, parse_columns
from rebalancer.inputs.readers import CASH, read_holdings
from rebalancer.inputs.tables import read_table, require_columns
from rebalancer.trades.lots import allocate_lots

HOLDINGS_COLUMNS = ["account", "ticker", "quantity", "cost_basis", "acquired"]
TRADES_REQUIRED = ("ticker", "side", "quantity", "price")
TRADES_CELLS = {
    "account": Text(),
    "ticker": Text(required=True),
    "side": Choice(("BUY", "SELL")),
    "quantity": Number(min=0, min_inclusive=False),
    "price": Number(min=0, min_inclusive=False),
    "notional": Number(required=False, min=0),
    "est_cost": Number(required=False, min=0, default=0.0),
    "lot_id": Text(),
}
# shares left in a lot below this are float residue of a whole sale, not a lot
SHARE_EPS = 1e-9


def read_trades(path: str | Path) -> pd.DataFrame:
    """A trades CSV (or .xlsx) as ``rebalancer propose --trades`` writes it: ``ticker,
    side, quantity, price`` required; ``account, notional`` (default quantity × price),
    ``est_cost`` (default 0) and ``lot_id`` optional. Bad cells raise ``InputError``
    naming the row and column."""
    table = read_table(path, allow_empty=True)
    require_columns(table, TRADES_REQUIRED, path)
    trades = pd.DataFrame(parse_columns(table, path, TRADES_CELLS))
    trades["notional"] = trades["notional"].fillna(trades["quantity"] * trades["price"])
    return trades


def apply_trades(
    holdings: pd.DataFrame,
    trades: pd.DataFrame,
    account: str,
    as_of: str | pd.Timestamp,
    lot_sales: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The holdings file's rows after ``account`` executes ``trades``.

    ``holdings`` as ``read_holdings`` gives it (``lot_id`` = ``account:row``);
    ``trades`` as ``read_trades`` or ``Proposal.trades``; ``lot_sales`` (optional,
    ``Proposal.lot_sales``): shares sold per ``lot_id``, taken as they are. Raises
    ``InputError`` when a sale exceeds the account's lots or names a lot it lacks."""
    as_of = pd.Timestamp(as_of)
    mine = holdings["account"].astype(str) == str(account)
    lots = holdings[mine & (holdings["ticker"] != CASH)].copy()
    cash_usd = float(holdings.loc[mine & (holdings["ticker"] == CASH), "quantity"].sum())
    side = trades["side"].astype(str).str.upper()
    sell = side == "SELL"
    sold = _lot_sales(lots, trades[sell], as_of) if lot_sales is None else lot_sales
    taken = sold.groupby(sold["lot_id"].astype(str))["quantity_sold"].sum()
    unknown = sorted(set(taken.index) - set(lots["lot_id"].astype(str)))
    if unknown:
        raise InputError(None, f"the sales name lots account {account} does not hold: {unknown}")
    held = lots["quantity"].to_numpy(float)
    left = held - taken.reindex(lots["lot_id"].astype(str), fill_value=0.0).to_numpy()
    if (left < -1e-6 * np.maximum(held, 1.0)).any():
        raise InputError(None, f"the sales sell more than account {account}'s lots hold")
    keep = left > SHARE_EPS * np.maximum(held, 1.0)
    lots["cost_basis"] = lots["cost_basis"] * np.where(held > 0, left / held, 0.0)
    lots["quantity"] = left
    buys = trades[~sell]
    bought = pd.DataFrame(
        {
            "account": account,
            "ticker": buys["ticker"].astype(str).to_numpy(),
            "quantity": buys["quantity"].to_numpy(float),
            "cost_basis": buys["notional"].to_numpy(float),
            "acquired": as_of,
        }
    )
    signed = np.where(sell, -1.0, 1.0) * trades["notional"].to_numpy(float)
    cash_usd -= float(signed.sum() + trades["est_cost"].fillna(0.0).to_numpy(float).sum())
    cash = pd.DataFrame(
        {"account": [account], "ticker": [CASH], "quantity": [cash_usd], "cost_basis": [np.nan]}
    )
    parts = [holdings[~mine], lots[keep], bought, cash[cash["quantity"] > 0]]
    out = pd.concat([p[[c for c in HOLDINGS_COLUMNS if c in p]] for p in parts], ignore_index=True)
    return out[HOLDINGS_COLUMNS]


def _lot_sales(lots: pd.DataFrame, sells: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Shares sold per lot: from the lots a SELL row names (in that order), else HIFO."""
    price = sells.groupby("ticker")["price"].first()
    named = sells["lot_id"].astype(str) != ""
    frames = []
    if named.any():
        order = [lot for text in sells.loc[named, "lot_id"] for lot in str(text).split(";")]
        priority = pd.Series(np.arange(len(order), dtype=float), index=order)
        listed = lots[lots["lot_id"].astype(str).isin(priority.index)]
        wanted = sells[named].groupby("ticker")["quantity"].sum()
        frames.append(_allocate(listed, wanted, price, as_of, priority))
    if (~named).any():
        wanted = sells[~named].groupby("ticker")["quantity"].sum()
        frames.append(_allocate(lots, wanted, price, as_of, None))
    if not frames:
        return pd.DataFrame(
            {"lot_id": pd.Series(dtype=str), "quantity_sold": pd.Series(dtype=float)}
        )
    return pd.concat(frames, ignore_index=True)


def _allocate(lots, wanted, price, as_of, priority) -> pd.DataFrame:
    try:
        return allocate_lots(lots, wanted, price, as_of, priority=priority)
    except AssertionError as exc:  # a sale beyond the lots: the trades are not this account's
        raise InputError(None, f"the trades do not fit the holdings: {exc}") from None


def apply_files(
    holdings_path: str | Path,
    trades_path: str | Path,
    account: str,
    as_of: str | pd.Timestamp,
) -> pd.DataFrame:
    """``apply_trades`` on a holdings file and a trades CSV (the CLI's ``apply``)."""
    holdings = read_holdings(holdings_path)
    trades = read_trades(trades_path)
    others = trades["account"].astype(str).isin(["", str(account)])
    if not others.all():
        raise InputError(trades_path, f"the trades are not all account {account}'s")
    return apply_trades(holdings, trades, account, as_of)


def apply_to_file(
    holdings_path: str | Path,
    trades_path: str | Path,
    account: str,
    out: str | Path,
    as_of: str | pd.Timestamp | None = None,
) -> Path:
    """``apply_files`` (``as_of`` default: today) written to ``out`` whole or not at
    all; ``out`` may be neither input file (``OutputSet``). Returns the path written."""
    frame = apply_files(holdings_path, trades_path, account, as_of or dt.date.today().isoformat())
    with OutputSet({"holdings": holdings_path, "trades": trades_path}) as outputs:
        write_holdings(frame, outputs.stage(out))
    return Path(out)


def write_holdings(frame: pd.DataFrame, path: str | Path) -> None:
    """Holdings as CSV: dates ISO, blank where unknown, floats at full precision."""
    out = frame.copy()
    out["acquired"] = pd.to_datetime(out["acquired"]).dt.strftime("%Y-%m-%d").fillna("")
    out.to_csv(path, index=False, lineterminator="\n")


def apply_proposal(holdings: pd.DataFrame, proposal) -> pd.DataFrame:
    """``apply_trades`` with a ``Proposal``'s own orders, lot sales and trade date."""
    return apply_trades(
        holdings, proposal.trades, proposal.account, proposal.as_of, proposal.lot_sales
    )
