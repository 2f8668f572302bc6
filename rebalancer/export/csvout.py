"""The trades CSV of docs/contracts.md §4: one row per order, contract columns in order;
written by ``write_trades_csv`` and read back (``verify``, a book's ``--resume`` and
block orders) by ``read_written_trades``."""

from __future__ import annotations

import os

import pandas as pd

from rebalancer.errors import InputError
from rebalancer.export.safe import csv_text, safe_text
from rebalancer.limits.cash_request import request_cells
from rebalancer.report.proposal import TRADE_COLUMNS, Proposal

TAX_COLUMNS = ["realized_gain", "term", "lot_id"]


def trade_columns(proposal: Proposal) -> list[str]:
    """The contract columns, with ``realized_gain, term, lot_id`` only when some lot gain
    is known."""
    trades = proposal.trades
    known = "realized_gain" in trades and bool(trades["realized_gain"].notna().any())
    return TRADE_COLUMNS if known else [c for c in TRADE_COLUMNS if c not in TAX_COLUMNS]


def trades_frame(proposal: Proposal) -> pd.DataFrame:
    """The trades as exported: contract columns, contract order, nothing else; the
    account's cash request and mode last, the same on every row (``REQUEST_COLUMNS``)."""
    columns = trade_columns(proposal)
    missing = [c for c in columns if c not in proposal.trades]
    if missing:
        raise ValueError(f"proposal.trades lacks the contract columns {missing}")
    frame = proposal.trades.loc[:, columns].reset_index(drop=True)
    return frame.assign(**request_cells(proposal.cash_request))


# written in their tidiest exact form (``number_text``): whole shares, cents
SHARE_COLUMNS = ("quantity", "block_quantity")  # block_quantity: a book's block_orders.csv
MONEY_COLUMNS = ("price", "notional", "est_cost", "realized_gain", "withdraw_usd", "deposit_usd")


def write_trades_csv(proposal: Proposal, path: str | os.PathLike[str]) -> None:
    """Write the trades CSV: UTF-8 without BOM, ``\\n`` line ends, every number the
    number computed (``number_text``): whole shares as integers (``2131``, fractional
    shares of funds as they are), money to the cent where it is a whole number of
    cents (``62885.81``, not ``62885.810000000005``), anything else at full precision.

    Text that a spreadsheet would run as a formula gets a leading ``'``
    (see :mod:`rebalancer.export.safe`); numbers are written as numbers.
    """
    write_frame(trades_frame(proposal), path)


def write_frame(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write rows of order columns (``trades_frame``'s, a book's block orders) as
    ``write_trades_csv`` does: shares and money in their tidiest exact form, text
    guarded against spreadsheet formulas."""
    frame = frame.copy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].map(lambda v: safe_text(v, csv=True))
        elif column in SHARE_COLUMNS:
            frame[column] = frame[column].map(lambda v: number_text(v, 0))
        elif column in MONEY_COLUMNS:
            frame[column] = frame[column].map(lambda v: number_text(v, 2))
    # float_format=None writes each other float's shortest round-trip repr
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n", float_format=None)


def number_text(value, decimals: int) -> str:
    """``value`` with ``decimals`` decimals where that is the same number up to float
    noise (within 1e-12 of it, relatively), else its full repr; empty for a missing
    value. ``2131.0`` -> ``2131``, ``62885.810000000005`` -> ``62885.81``, ``1234.5``
    dollars -> ``1234.50``, ``0.5`` shares -> ``0.5``, ``42.0978631`` dollars ->
    ``42.0978631``: the text reads back as the number computed, never rounded away."""
    v = float(value)
    if v != v:
        return ""
    text = f"{v:.{decimals}f}"
    if abs(float(text) - v) <= 1e-12 * max(1.0, abs(v)):
        return text.replace("-", "") if float(text) == 0 else text  # never "-0"
    return repr(v)


def read_written_trades(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A trades CSV as ``write_trades_csv`` wrote it (text cells guarded against
    spreadsheet formulas lose their leading ``'``: ``rebalancer.export.safe``)."""
    try:
        frame = pd.read_csv(path, dtype={"ticker": str, "account": str}, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the trades CSV ({exc})") from None
    missing = {"ticker", "side", "quantity", "notional"} - set(frame.columns)
    if missing:
        raise InputError(path, f"not a trades CSV: no column {sorted(missing)[0]!r}")
    for column in ("ticker", "account", "side"):
        if column in frame:
            frame[column] = frame[column].astype(str).map(csv_text)
    # floats, as computed: whole shares are written as integers (write_trades_csv)
    frame["quantity"] = pd.to_numeric(frame["quantity"]).astype(float)
    frame["notional"] = pd.to_numeric(frame["notional"]).astype(float)
    return frame
