"""The book's own files: ``book_summary.xlsx`` (one row per account, the blocks, the
allocations, the accounts not proposed) and ``block_orders.csv``, written together or
not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook

from rebalancer.errors import RebalancerError
from rebalancer.export.atomic import OutputSet
from rebalancer.export.csvout import write_frame
from rebalancer.export.orders import OrderTerms, write_orders
from rebalancer.export.xlsx import stream_table
from rebalancer.runs.book.jobs import NOT_PROPOSED, AccountResult

BOOK_TITLE = "Book summary"  # every page's header
SUMMARY_COLUMNS = [
    "account", "scenario", "status", "message", "nav", "cash_after", "turnover", "n_trades",
    "est_cost", "expected_return", "tracking_error", "taxable", "account_type", "estimated_tax",
    "realized_gain", "mode", "mode_asked", "withdraw_usd", "deposit_usd", "seconds",
]  # fmt: skip


def book_summary(
    results: list[AccountResult], scenarios: dict[str, str], households: bool = False
) -> pd.DataFrame:
    """One row per account (``SUMMARY_COLUMNS``): its model's scenario (account ->
    name, from ``scenarios``), status, why when not proposed, and the figures of its
    summary; a reused account shows the status its outputs were made with.
    ``households`` (``batch --households``): a ``household`` column after ``account``
    names the household each account was proposed with (blank: alone)."""
    rows = []
    for r in results:
        s = r.summary.as_dict() if r.summary is not None else {}
        rows.append(
            {
                **{column: s.get(column) for column in SUMMARY_COLUMNS},  # None: no figure
                "account": r.account,
                "scenario": scenarios.get(r.account, ""),
                "status": s.get("status", r.status) if r.status == "skipped" else r.status,
                "message": r.message,
                "seconds": r.seconds,
            }
        )
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if households:
        frame.insert(1, "household", [r.household or "" for r in results])
    return frame


def write_book(
    out: Path,
    summary: pd.DataFrame,
    blocks: pd.DataFrame,
    orders: str | Path | None = None,
    terms: OrderTerms | None = None,
) -> None:
    """book_summary.xlsx (Accounts, Blocks, Allocations, and Not proposed: the accounts
    that failed, are infeasible or were not run, with why), block_orders.csv and the
    ``orders`` file (``export.orders``: the blocks' allocations as orders, laid out as
    ``terms`` says) when asked for, together or none (``RebalancerError`` naming the
    file that could not be written)."""

    def workbook(path: Path) -> None:
        wb = Workbook(write_only=True)  # a book's allocations run to tens of thousands
        stream_table(wb, "Accounts", summary, page_title=BOOK_TITLE)
        per_block = blocks.groupby(["ticker", "side"], as_index=False).agg(
            quantity=("quantity", "sum"), accounts=("account", "nunique")
        )
        stream_table(wb, "Blocks", per_block, page_title=BOOK_TITLE)
        stream_table(wb, "Allocations", blocks, page_title=BOOK_TITLE)
        missing = summary["status"].isin(NOT_PROPOSED)
        not_proposed = summary.loc[missing, ["account", "status", "message"]]
        stream_table(wb, "Not proposed", not_proposed, page_title=BOOK_TITLE)
        wb.save(path)

    with OutputSet() as outputs:
        target = out / "book_summary.xlsx"
        try:
            workbook(outputs.stage(target, "--out-dir"))
            target = out / "block_orders.csv"
            # whole shares as integers, prices to the cent, as the trades CSV
            write_frame(blocks, outputs.stage(target, "--out-dir"))
            if orders is not None:
                target = Path(orders)
                write_orders(blocks, outputs.stage(target, "--orders"), terms or OrderTerms(),
                             book=True)  # fmt: skip
        except OSError as err:  # a full disk: neither file is published (OutputSet)
            raise RebalancerError(f"cannot write {target}: {err.strerror or err}") from err
