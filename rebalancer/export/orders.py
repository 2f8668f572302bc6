"""The order file (docs/contracts.md §4, Order file): one row per order, for a trading
desk or a custodian's bulk upload, read from the trades a proposal makes or a book's
allocations (``runs.book.blocks``).

Two layouts, the same orders:

* ``generic`` — this program's own, documented column by column;
* ``ibkr`` — an Interactive Brokers TWS BasketTrader file (a header row of field names,
  one order a row: ``Action, Quantity, Symbol, SecType, Exchange, Currency,
  TimeInForce, OrderType, LmtPrice, BasketTag, Account``), as its public "Basket Fields"
  page describes it.

An order is a market order for the day unless ``limit_bps`` is given: then a limit
order at the proposal's price moved ``limit_bps`` basis points against the trader
(a buy at most price × (1 + bps/10⁴), rounded down to the cent; a sale at least
price × (1 − bps/10⁴), rounded up), so the fill is never worse than the tolerance.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import pandas as pd

from rebalancer.errors import InputError
from rebalancer.export.safe import safe_text

ORDER_COLUMNS = [
    "order_id",
    "block_id",
    "account",
    "side",
    "symbol",
    "quantity",
    "order_type",
    "limit_price",
    "time_in_force",
    "reference_price",
    "block_quantity",
]
IBKR_COLUMNS = [
    "Action",
    "Quantity",
    "Symbol",
    "SecType",
    "Exchange",
    "Currency",
    "TimeInForce",
    "OrderType",
    "LmtPrice",
    "BasketTag",
    "Account",
]
FORMATS = ("generic", "ibkr")
MAX_LIMIT_BPS = 1000.0  # 10%: beyond it a "limit" no longer limits anything a desk cares for


@dataclass(frozen=True)
class OrderTerms:
    """How the orders are to be worked: the file's layout and, when given, the limit
    tolerance in basis points (None: market orders). Time in force is the day."""

    layout: str = "generic"
    limit_bps: float | None = None


def order_terms(layout: str | None, limit_bps: str | float | None) -> OrderTerms:
    """``--orders-format`` and ``--limit-bps`` as given on the command line; an unknown
    layout or a tolerance that is not a number from 0 to 1000 raises ``InputError``
    naming the option."""
    layout = "generic" if layout in (None, "") else str(layout)
    if layout not in FORMATS:
        raise InputError(
            "--orders-format", f"unknown layout {layout!r}: expected one of {', '.join(FORMATS)}"
        )
    bps = None
    if limit_bps is not None:
        try:
            bps = float(limit_bps)
        except (TypeError, ValueError):
            bps = float("nan")
        if not math.isfinite(bps) or not 0 <= bps <= MAX_LIMIT_BPS:
            raise InputError(
                "--limit-bps",
                f"expected basis points, a number from 0 to {MAX_LIMIT_BPS:g}; got {limit_bps!r}",
            )
    return OrderTerms(layout, bps)


def limit_price(side: str, price: float, bps: float) -> float:
    """The limit of an order (module docstring): never worse than ``bps`` from ``price``."""
    cents = price * 100 * (1 + bps / 1e4 if side == "BUY" else 1 - bps / 1e4)
    # the product carries binary noise (1.0000000000002 cents): snap it before rounding
    cents = round(cents, 6)
    return (math.floor(cents) if side == "BUY" else math.ceil(cents)) / 100


def orders_frame(allocations: pd.DataFrame, terms: OrderTerms, book: bool) -> pd.DataFrame:
    """The generic order table of ``allocations`` (columns account, ticker, side,
    quantity, price; for a ``book`` also block_quantity, rows grouped by block).

    A single account's orders are ``O1``, ``O2``, ... in the trades' order, with no
    block. A book's blocks (one per ticker and side) are ``B1``, ``B2``, ... in the
    allocations' order, and each allocation is ``B<n>-<k>``, its k-th account; its
    ``block_quantity`` is the block's, the sum of its allocations' quantities."""
    frame = allocations.reset_index(drop=True)
    n = len(frame)
    if book:
        block_no = frame.groupby(["ticker", "side"], sort=False).ngroup() + 1
        within = frame.groupby(block_no).cumcount() + 1
        block_id = "B" + block_no.astype(str)
        order_id = block_id + "-" + within.astype(str)
        block_quantity = frame["block_quantity"].map(_quantity)
    else:
        block_id = pd.Series([""] * n, dtype=object)
        order_id = pd.Series([f"O{i + 1}" for i in range(n)], dtype=object)
        block_quantity = pd.Series([""] * n, dtype=object)
    limit = (
        [limit_price(s, float(p), terms.limit_bps) for s, p in zip(frame["side"], frame["price"], strict=True)]
        if terms.limit_bps is not None
        else [""] * n
    )  # fmt: skip
    return pd.DataFrame(
        {
            "order_id": order_id,
            "block_id": block_id,
            "account": frame["account"].astype(str),
            "side": frame["side"].astype(str),
            "symbol": frame["ticker"].astype(str),
            "quantity": frame["quantity"].map(_quantity),
            "order_type": "MKT" if terms.limit_bps is None else "LMT",
            "limit_price": limit,
            "time_in_force": "DAY",
            "reference_price": frame["price"].astype(float),
            "block_quantity": block_quantity,
        },
        columns=ORDER_COLUMNS,
    )


def ibkr_frame(orders: pd.DataFrame) -> pd.DataFrame:
    """The generic ``orders`` as a TWS basket (module docstring): stocks routed SMART
    in US dollars; ``BasketTag`` is the order's block in a book, else its own id (TWS
    shows it as the order reference, so a fill traces back to its row here). Market
    orders have no ``LmtPrice`` column: the header names only the fields its rows give,
    as the public example of a market-order basket does."""
    tag = orders["block_id"].where(orders["block_id"] != "", orders["order_id"])
    columns = [c for c in IBKR_COLUMNS if c != "LmtPrice" or (orders["order_type"] == "LMT").any()]
    return pd.DataFrame(
        {
            "Action": orders["side"],
            "Quantity": orders["quantity"],
            "Symbol": orders["symbol"],
            "SecType": "STK",
            "Exchange": "SMART",
            "Currency": "USD",
            "TimeInForce": orders["time_in_force"],
            "OrderType": orders["order_type"],
            "LmtPrice": orders["limit_price"],
            "BasketTag": tag,
            "Account": orders["account"],
        },
        columns=columns,
    )


def write_orders(
    allocations: pd.DataFrame,
    path: str | os.PathLike[str],
    terms: OrderTerms = OrderTerms(),  # noqa: B008 — frozen, shared safely
    *,
    book: bool = False,
) -> None:
    """Write the order file of ``allocations`` (``orders_frame``) in ``terms.layout``:
    UTF-8, ``\\n`` line ends; text a spreadsheet would run as a formula gets a leading
    ``'`` as in the trades CSV (``export.safe``)."""
    frame = orders_frame(allocations, terms, book)
    if terms.layout == "ibkr":
        frame = ibkr_frame(frame)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):  # numbers pass through as they are
            frame[column] = frame[column].map(lambda v: safe_text(v, csv=True))
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def _quantity(value: float) -> int | float:
    """Shares as an order ticket shows them: whole shares as an integer (``2131``, not
    ``2131.0``), a fund's fractional shares as they are."""
    value = float(value)
    return int(value) if value.is_integer() else value
