"""The trade sheet workbook an advisor opens: one sheet per question they ask.

Sheets, in order: Summary, Trades, Exposures (with a bar chart), Holdings,
Scenario, Checks, and Tax when lots were sold. Every table has a bold, frozen
header row and an autofilter; money is ``#,##0.00``, weights ``0.00%``, shares
``#,##0`` (or ``#,##0.####`` when fractional), costs in basis points ``0.0``. Every
cell goes through :func:`rebalancer.export.safe.write_cell`, so no text becomes a
formula.

Every sheet prints (``page_setup``): landscape US Letter, one page wide, its header
row repeated on each page, the account and trade date in the page header, the page
number in the footer; the Summary fits on one page. The Trades sheet is for reading
and acting on: headers in words (``HEADINGS``; the trades CSV keeps its contract
names), the security's name, the shares taken from each lot of a taxable sale, the
cost in basis points of the order, and a totals row below a blank row (so a reader
that stops at the first empty row reads the orders alone). The Holdings, Exposures,
Tax and Scenario sheets head their columns in words too (``heading``); the Checks
sheet keeps its column names and says each row in words.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.chart import BarChart, Reference, Series
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from rebalancer.export.csvout import trade_columns, trades_frame
from rebalancer.export.safe import cell_value, needs_marking, write_cell
from rebalancer.limits.cash_request import mode_text
from rebalancer.report.proposal import Proposal
from rebalancer.solve.path import describe

MONEY = "#,##0.00"
PCT = "0.00%"
SHARES_WHOLE = "#,##0"
SHARES_FRACTION = "#,##0.####"
DAYS = "0.00"
COUNT = "0"
DATE = "yyyy-mm-dd"
GENERAL = "General"  # a cell without a number format

BPS = '0.0" bp"'
USD_CELL = '"$"#,##0.00'  # money in a column of mixed units (the Checks sheet)

# a book summary's dollar and rate columns are named without their unit
MONEY_COLUMNS = {
    "price", "notional", "est_cost", "realized_gain", "nav", "cash_after", "estimated_tax",
}  # fmt: skip
PCT_COLUMNS = {
    "turnover", "pct_adv", "benchmark_weight", "reference", "target", "band_lo", "band_hi",
    "active_before", "active_after", "pct_before", "pct_after", "expected_return",
    "tracking_error",
}  # fmt: skip
SHARE_COLUMNS = {"quantity", "shares_before", "shares_after", "quantity_sold", "block_quantity"}

HOLDING_COLUMNS = [
    "ticker", "name", "sector", "region", "size", "price", "shares_before", "shares_after",
    "value_before_usd", "value_after_usd", "weight_before", "weight_optimal", "weight_after",
    "benchmark_weight",
]  # fmt: skip
LOT_COLUMNS = [
    "account", "ticker", "lot_id", "acquired", "quantity_sold", "cost_basis_sold_usd",
    "proceeds_usd", "realized_gain_usd", "term",
]  # fmt: skip
STRESS_COLUMNS = ["shock", "pnl_before_usd", "pnl_after_usd", "pct_before", "pct_after"]

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TITLE_FONT = Font(bold=True, size=14)
FAIL_FILL = PatternFill("solid", fgColor="FFC7CE")  # Excel's "Bad" style
FAIL_FONT = Font(color="9C0006")
FAIL_BOLD = Font(color="9C0006", bold=True)
MIN_WIDTH, MAX_WIDTH = 6, 60
SUMMARY_TEXT_WIDTH = 60  # longer Summary text wraps
CHART_MAX_CM = 15.0  # a chart fits a landscape Letter page under its header


def write_workbook(proposal: Proposal, path: str | os.PathLike[str]) -> None:
    """Write the trade sheet workbook of ``proposal`` to ``path`` (callers stage the path)."""
    wb = Workbook()
    wb.remove(wb.active)
    proposal_sheets(wb, proposal)
    wb.properties.creator = "rebalancer"
    wb.save(path)


def proposal_sheets(wb: Workbook, proposal: Proposal, prefix: str = "") -> None:
    """Add the sheets of one proposal to ``wb``, each title after ``prefix`` (a
    household's workbook: the account; Excel cuts a title at 31 characters), each
    set up to print (``page_setup``: the Summary on one page)."""

    def sheet(title: str) -> Worksheet:
        return wb.create_sheet(f"{prefix}{title}"[:31])

    summary = sheet("Summary")
    _summary_sheet(summary, proposal)
    trades_sheet(sheet("Trades"), proposal)
    exposures_sheet(sheet("Exposures"), proposal.exposures)
    holdings = sheet("Holdings")
    table_sheet(holdings, _present(proposal.holdings, HOLDING_COLUMNS), headings=True)
    wrap_columns(holdings, {heading("name"): 26})
    scenario = sheet("Scenario")
    table_sheet(scenario, scenario_rows(proposal.scenario), headings=True)
    wrap_columns(scenario, {heading("key"): 40, heading("value"): 70})
    checks_sheet(sheet("Checks"), proposal.checks)
    blocks = proposal.tax_blocks
    if len(proposal.lot_sales) or (blocks is not None and len(blocks)):
        _tax_sheet(sheet("Tax"), proposal)
    for ws in wb.worksheets[wb.worksheets.index(summary) :]:
        page_setup(
            ws,
            account=proposal.account,
            as_of=proposal.as_of,
            header_row=None if ws is summary else 1,
            one_page=ws is summary,
        )


# --- printing ------------------------------------------------------------------------


def page_setup(
    ws: Worksheet,
    *,
    account: str = "",
    as_of: str = "",
    title: str = "",
    header_row: int | None = 1,
    one_page: bool = False,
) -> None:
    """How ``ws`` prints: landscape US Letter, one page wide (and one page tall with
    ``one_page``), ``header_row`` repeated on every page, half-inch margins; the page
    header names the account (or ``title``) and the trade date, the footer the sheet
    and the page. Works on write-only sheets too (a book's summary).

    Header text is escaped: ``&`` starts a header code (``&P`` is the page number),
    so an account id ``A&P`` is written ``A&&P`` and prints as given."""
    setup = ws.page_setup
    setup.orientation = "landscape"
    setup.paperSize = 1  # US Letter: the money is in US dollars
    setup.fitToWidth = 1
    setup.fitToHeight = 1 if one_page else 0  # 0: as many pages tall as it takes
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.75, bottom=0.6, header=0.3, footer=0.3)
    if header_row is not None:
        ws.print_title_rows = f"{header_row}:{header_row}"
    left = title or (f"Account {account}" if account else "")
    ws.oddHeader.left.text = _header_text(left)
    ws.oddHeader.right.text = _header_text(f"as of {as_of}") if as_of else "&D"
    ws.oddFooter.left.text = "&A"  # the sheet's name
    ws.oddFooter.right.text = "Page &P of &N"


def _header_text(text: str) -> str:
    return cell_value(str(text)).replace("&", "&&")


# --- number formats ------------------------------------------------------------------


def column_format(column: str, values: Iterable[Any] = ()) -> str | None:
    """The number format of a contract column, from its name (units are in the names)."""
    if column.endswith("_usd") or column in MONEY_COLUMNS:
        return MONEY
    if column.startswith("weight") or column in PCT_COLUMNS:
        return PCT
    if column in SHARE_COLUMNS:
        return shares_format(values)
    if column in ("days_to_trade", "seconds"):
        return DAYS
    if column.endswith("_bps"):
        return BPS
    if column == "acquired":
        return DATE
    return None


def shares_format(values: Iterable[Any]) -> str:
    """``#,##0`` for whole shares; ``#,##0.####`` once any quantity is fractional."""
    for v in values:
        v = cell_value(v)
        if isinstance(v, float) and not v.is_integer():
            return SHARES_FRACTION
    return SHARES_WHOLE


# --- the Trades sheet ----------------------------------------------------------------

# the workbook's words for the contract columns (the trades CSV keeps the names)
HEADINGS = {
    "account": "Account", "run": "Run", "ticker": "Ticker", "name": "Security",
    "side": "Side", "quantity": "Shares", "price": "Price (USD)",
    "notional": "Notional (USD)", "weight_before": "Weight before",
    "weight_after": "Weight after", "pct_adv": "Share of daily volume",
    "days_to_trade": "Days to trade", "est_cost": "Est. cost (USD)",
    "est_cost_bps": "Est. cost (bp)", "reason": "Reason",
    "realized_gain": "Realized gain (USD)", "term": "Term", "lot_id": "Lot",
    "lots_sold": "Shares per lot sold",
    # the Summary's stress table
    "shock": "Shock", "pnl_before_usd": "P&L before (USD)", "pnl_after_usd": "P&L after (USD)",
    "pct_before": "Before (% of NAV)", "pct_after": "After (% of NAV)",
    # the Holdings, Exposures and Tax sheets (other names read as words by ``heading``)
    "sector": "Sector", "region": "Region", "size": "Size",
    "weight_optimal": "Weight optimal (unrounded)", "selector": "Group",
    "reference": "Reference weight", "active_before": "Active before",
    "active_after": "Active after", "target": "Active target", "band_lo": "Band low",
    "band_hi": "Band high", "quantity_sold": "Shares sold", "acquired": "Acquired",
    "cost_basis_sold_usd": "Cost basis sold (USD)", "proceeds_usd": "Proceeds (USD)",
    "realized_gain_usd": "Realized gain (USD)",
}  # fmt: skip


def heading(column: str) -> str:
    """The workbook header of a column: ``HEADINGS``, else its name in words."""
    if column in HEADINGS:
        return HEADINGS[column]
    words = column.replace("_", " ")
    if words.endswith(" usd"):
        words = words[: -len(" usd")] + " (USD)"
    return words[:1].upper() + words[1:]


def trades_sheet_frame(proposal: Proposal) -> pd.DataFrame:
    """The Trades sheet's rows (contract names; ``heading`` gives the header words):
    the trades CSV's columns but the cash request's (the Summary says it), with the
    security's ``name`` after the ticker, ``est_cost_bps`` (est_cost / notional ×
    10,000) after the cost and, where lots were sold, ``lots_sold``: each lot's id
    and the shares taken from it, in place of the bare ``lot_id`` list."""
    frame = trades_frame(proposal)
    frame = frame.loc[:, [c for c in trade_columns(proposal) if c in frame]]
    names = proposal.holdings.set_index("ticker")["name"] if "name" in proposal.holdings else None
    at = list(frame.columns).index("ticker") + 1
    frame.insert(at, "name", frame["ticker"].map(names) if names is not None else "")
    notional = frame["notional"].to_numpy(float)
    bps = np.divide(
        frame["est_cost"].to_numpy(float) * 1e4,
        notional,
        out=np.full(len(frame), np.nan),
        where=notional > 0,
    )
    frame.insert(list(frame.columns).index("est_cost") + 1, "est_cost_bps", bps)
    if "lot_id" in frame:
        frame["lot_id"] = _lots_sold(frame, proposal.lot_sales)
        frame = frame.rename(columns={"lot_id": "lots_sold"})
    return frame


def _lots_sold(frame: pd.DataFrame, lot_sales: pd.DataFrame) -> list[str]:
    """Per sell order ``lot 1,200; lot 300``: each lot sold and its shares, in the lot
    order of the sale (the shares add up to the order's quantity)."""
    if not len(lot_sales):
        return [""] * len(frame)
    per_ticker = {
        ticker: "; ".join(
            f"{lot} ({_shares_text(q)})"
            for lot, q in zip(g["lot_id"], g["quantity_sold"], strict=True)
        )
        for ticker, g in lot_sales.groupby("ticker", sort=False)
    }
    return [
        per_ticker.get(t, "") if side == "SELL" else ""
        for t, side in zip(frame["ticker"], frame["side"], strict=True)
    ]


def _shares_text(q: float) -> str:
    return f"{q:,.0f}" if float(q).is_integer() else f"{q:,.4f}".rstrip("0")


def trades_sheet(ws: Worksheet, proposal: Proposal) -> None:
    """The Trades sheet: ``trades_sheet_frame`` under headers in words, then a blank
    row and the totals of buys, sells and all orders (notional, cost, gain; the
    cost in basis points of the notional traded)."""
    frame = trades_sheet_frame(proposal).drop(columns=["account"])  # in the page header
    table_sheet(ws, frame, headings=True)
    totals_rows(ws, frame, start_row=len(frame) + 3)
    _fit_widths(ws)
    finish_trades_sheet(ws)


TRADES_WRAP = {"Security": 26, "Reason": 40, "Shares per lot sold": 30}


def finish_trades_sheet(ws: Worksheet, more: Mapping[str, int] | None = None) -> None:
    """Narrow a Trades sheet for print: header words wrapped, long text wrapped
    (``TRADES_WRAP`` and ``more``: header -> characters)."""
    wrap_header(ws)
    wrap_columns(ws, {**TRADES_WRAP, **(more or {})})


def totals_rows(ws: Worksheet, frame: pd.DataFrame, *, start_row: int, label: str = "") -> int:
    """Totals of buys, sells and all orders of ``frame`` (the sheet's rows, its columns
    the sheet's), from ``start_row`` on, each labelled after ``label`` ("RUN: Buys");
    returns the row after them."""
    if not len(frame):
        return start_row
    col = {name: j for j, name in enumerate(frame.columns, start=1)}
    side = frame["side"].astype(str)
    row = start_row
    for which, mask in [
        ("Buys", side == "BUY"),
        ("Sells", side == "SELL"),
        ("All orders", pd.Series(True, index=frame.index)),
    ]:
        write_cell(ws.cell(row=row, column=1), label + which).font = HEADER_FONT
        count = write_cell(ws.cell(row=row, column=2), f"{int(mask.sum())} orders")
        count.font = HEADER_FONT
        for name in ("notional", "est_cost", "realized_gain"):
            if name in col:
                total = float(frame.loc[mask, name].sum(min_count=1))
                cell = write_cell(ws.cell(row=row, column=col[name]), total)
                cell.number_format, cell.font = MONEY, HEADER_FONT
        notional = float(frame.loc[mask, "notional"].sum())
        if notional > 0 and "est_cost_bps" in col:
            bps = float(frame.loc[mask, "est_cost"].sum()) * 1e4 / notional
            cell = write_cell(ws.cell(row=row, column=col["est_cost_bps"]), bps)
            cell.number_format, cell.font = BPS, HEADER_FONT
        row += 1
    return row


# --- sheets --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    label: str
    value: Any
    number_format: str | None = None
    bad: bool = False


def _summary_lines(p: Proposal) -> list[_Line]:
    m = p.metrics
    lines = [
        _Line("Account", p.account),
        _Line("Scenario", p.scenario_name),
        _Line("Status", p.status),
        _Line("Solver", p.solver),
        _Line("Reference", p.reference),
        _Line("NAV (USD)", m.nav_usd, MONEY),
        _Line("Cash before (USD)", m.cash_before_usd, MONEY),
        _Line("Cash after (USD)", m.cash_after_usd, MONEY),
        _Line("Turnover", m.turnover, PCT),
        _Line("Trades", m.n_trades, COUNT),
        _Line("Buys (USD)", m.buys_usd, MONEY),
        _Line("Sells (USD)", m.sells_usd, MONEY),
        _Line("Est. cost (USD)", m.est_cost_usd, MONEY),
        _Line("Expected return before", m.expected_return_before, PCT),
        _Line("Expected return after", m.expected_return, PCT),
        # the reference's return is the same before and after: before = after − the gain
        _Line("Active return before", active_before(m), PCT),
        _Line("Active return after", m.active_return, PCT),
        _Line("Returns assume", _beliefs_line(p)),
        _Line("Volatility before", m.volatility_before, PCT),
        _Line("Volatility after", m.volatility, PCT),
        _Line("Tracking error before", m.tracking_error_before, PCT),
        _Line("Tracking error after", m.tracking_error, PCT),
    ]
    if _known(m.realized_gain_usd):
        lines += [
            _Line("Realized gain, short-term (USD)", m.short_term_gain_usd, MONEY),
            _Line("Realized gain, long-term (USD)", m.long_term_gain_usd, MONEY),
            _Line("Realized gain, net (USD)", m.realized_gain_usd, MONEY),
        ]
    lines.append(_Line("Account type", m.account_type))
    if m.taxable:
        lines += [
            _Line("Estimated tax (USD)", m.estimated_tax_usd, MONEY),
            _Line("Harvested losses (USD)", m.harvested_losses_usd, MONEY),
            _Line("Lot method", p.lot_method),
            _Line("Income tax a year before (USD)", m.income_tax_before_usd, MONEY),
            _Line("Income tax a year after (USD)", m.income_tax_usd, MONEY),
        ]
    request = p.cash_request
    if request.get("withdraw_usd"):
        lines.append(_Line("Withdrawal (USD)", request["withdraw_usd"], MONEY))
    if request.get("deposit_usd"):
        lines.append(_Line("Deposit (USD)", request["deposit_usd"], MONEY))
    if request:
        lines.append(_Line("Trade mode", mode_text(request)))
    n_checks = len(p.checks)
    n_fail = n_checks - int(p.checks["ok"].astype(bool).sum()) if n_checks else 0
    verdict = f"{n_fail} of {n_checks} FAIL" if n_fail else f"all {n_checks} PASS"
    if not n_checks:
        verdict = "none run"
    lines.append(_Line("Checks", verdict, bad=bool(n_fail)))
    lines.append(_Line("Binding constraints", "; ".join(p.binding) or "none"))
    lines.append(_Line("Path", _path_line(p.path)))
    if p.warnings:
        lines += [_Line("Warnings" if i == 0 else "", w) for i, w in enumerate(p.warnings)]
    else:
        lines.append(_Line("Warnings", "none"))
    return lines


def active_before(m) -> float:
    """The expected active return of the holdings before the trades: the reference's
    expected return (``expected_return − active_return``) is the same either side, so
    active before = ``expected_return_before − expected_return + active_return``."""
    return m.expected_return_before - m.expected_return + m.active_return


def _beliefs_line(p: Proposal) -> str:
    """What the expected returns rest on: the scenario's beliefs, said as such."""
    described = str(p.scenario.get("description") or "").strip().rstrip(".")
    said = f" ({described})" if described else ""
    return (
        f"the beliefs of the scenario {p.scenario_name}{said}, a year ahead, before costs"
        " and taxes: a scenario's expectation, not a forecast"
    )


def _path_line(path: dict) -> str:
    if not path:
        return "not measured"
    return describe(path).capitalize() or "the whole move: a re-run would not trade"


def _summary_sheet(ws: Worksheet, p: Proposal) -> None:
    write_cell(ws["A1"], "Rebalance proposal").font = TITLE_FONT
    row = 3
    for line in _summary_lines(p):
        write_cell(ws.cell(row=row, column=1), line.label).font = HEADER_FONT
        cell = write_cell(ws.cell(row=row, column=2), line.value)
        # long text wraps (below): the Summary prints on one page, values beside labels
        cell.alignment = Alignment(horizontal="left" if isinstance(line.value, str) else "right")
        if line.number_format:
            cell.number_format = line.number_format
        if line.bad:
            cell.font = FAIL_BOLD
            cell.fill = FAIL_FILL
        row += 1
    if p.stress is not None and len(p.stress):
        row += 1
        write_cell(ws.cell(row=row, column=1), "Stress test").font = HEADER_FONT
        stress = _present(p.stress, STRESS_COLUMNS)
        _write_table(ws, stress, start_row=row + 1, filters=False, headings=True)
    _fit_widths(ws, skip_rows={1})
    wrap_columns(ws, {2: SUMMARY_TEXT_WIDTH}, header_row=2)  # the values, from line one


def table_sheet(ws: Worksheet, frame: pd.DataFrame, *, headings: bool = False) -> None:
    _write_table(ws, frame, headings=headings)
    ws.freeze_panes = "A2"
    _fit_widths(ws)


def exposures_frame(exposures: pd.DataFrame) -> pd.DataFrame:
    """The Exposures sheet's table: absolute weights, then active ones around the target."""
    e = exposures
    return pd.DataFrame(
        {
            "selector": [str(k) for k in e.index],
            "reference": e["reference"].to_numpy(),
            "weight_before": e["weight_before"].to_numpy(),
            "weight_after": e["weight_after"].to_numpy(),
            "active_before": e["before"].to_numpy(),
            "target": e["target"].to_numpy(),
            "band_lo": e["band_lo"].to_numpy(),
            "band_hi": e["band_hi"].to_numpy(),
            "active_after": e["after"].to_numpy(),
        }
    )


def exposures_sheet(ws: Worksheet, exposures: pd.DataFrame) -> None:
    """The Exposures table with its bar chart (a household's sheet too)."""
    frame = exposures_frame(exposures)
    table_sheet(ws, frame, headings=True)
    n = len(frame)
    if not n:
        return
    chart = BarChart()
    chart.type = "bar"  # horizontal: selectors are long labels
    chart.title = "Active exposure vs reference"
    chart.y_axis.title = "active weight"
    chart.y_axis.number_format = "0.0%"
    chart.x_axis.scaling.orientation = "maxMin"  # first group on top, as in the table
    # openpyxl >= 3.1 hides axes unless told otherwise
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    col = {name: i + 1 for i, name in enumerate(frame.columns)}
    for name, title in [
        ("active_before", "Active before"),
        ("target", "Target"),
        ("active_after", "Active after"),
    ]:
        values = Reference(ws, min_col=col[name], min_row=2, max_row=n + 1)
        chart.series.append(Series(values, title=title))
    # set_categories() would make the selectors a numRef; text labels want a strRef
    labels = Reference(ws, min_col=col["selector"], min_row=2, max_row=n + 1)
    for series in chart.series:
        series.cat = AxDataSource(strRef=StrRef(f=str(labels)))
    # the group labels beside the plot, not over the bars (negative bars reach left);
    # the legend under the plot, inside the chart's own box
    chart.x_axis.tickLblPos = "low"
    chart.legend.position = "b"
    chart.width = 24
    chart.height = max(7.5, 0.55 * n + 4)
    chart.height = min(chart.height, CHART_MAX_CM)
    # under the table (the page stays one table wide), from a page of its own
    ws.row_breaks.append(Break(id=n + 1))
    ws.add_chart(chart, f"A{n + 3}")


# what each Checks row measures, in words; its unit (rows named by a prefix below)
CHECK_WORDS = {
    "notional = quantity × price": ("each order's notional is shares × price (largest gap)", "USD"),
    "pre + trade = post (shares)": ("holdings before + orders = holdings after (largest gap)", "shares"),
    "pre + trade = post (cash)": ("cash before − net orders = cash after (gap)", "USD"),
    "no short position": ("no holding goes below zero (lowest holding after)", "shares"),
    "cash floor (USD)": ("cash after the trades at least the floor", "USD"),
    "no oversold lot": ("no lot sells more shares than it holds (largest excess)", "shares"),
    "lot sales = sell orders": ("the lots sold add up to each sell order (largest gap)", "shares"),
    "restricted names respected": ("no order against a restriction (orders that break one)", "orders"),
    "liquidity (participation of ADV)": ("", "USD"),  # said by _liquidity_words
    "max_turnover": ("turnover at most the cap", "% of NAV"),
    "max_sales": ("sales at most the cap", "% of NAV"),
    "max_position": ("largest position at most the position cap", "% of NAV"),
    "max_active_position": ("largest distance from a reference weight at most the cap", "% of NAV"),
    "sector_max": ("largest sector at most the sector cap", "% of NAV"),
    "max_tracking_error": ("tracking error after the trades within the budget", "% a year"),
    "no wash sale within the proposal": ("no name both bought and sold at a loss (orders)", "orders"),
    "min_trade_usd": ("smallest order at least the minimum trade", "USD"),
    "round lots": ("orders in whole trading lots (orders not)", "orders"),
    "trade mode": ("no order on the side the mode closes (orders)", "orders"),
    "withdrawal (USD)": ("cash for the withdrawal at least the amount asked", "USD"),
    "max_realized_gain (USD)": ("realized gain at most the cap", "USD"),
    "no short-term gains": ("no short-term gain realized (orders)", "orders"),
    "cash target": ("cash weight within the target band", "% of NAV"),
}  # fmt: skip
CHECK_PREFIXES = [
    ("tilt ", "active exposure within the band", "% of NAV"),
    ("screen ", "no name the screen keeps out is bought (names bought)", "names"),
    ("no_buy ", "no name on the list is bought (names bought)", "names"),
    ("no wash sale against", "no repurchase of a name sold at a loss (orders)", "orders"),
]
UNIT_FORMATS = {
    "USD": USD_CELL, "% of NAV": PCT, "% a year": PCT, "shares": SHARES_FRACTION,
    "orders": "#,##0", "names": "#,##0",
}  # fmt: skip


def check_words(check: str) -> tuple[str, str]:
    """``(meaning, unit)`` of a Checks row by its name; unknown rows by their name's
    ``(USD)``, else no unit."""
    if check in CHECK_WORDS:
        return CHECK_WORDS[check]
    for prefix, words, unit in CHECK_PREFIXES:
        if check.startswith(prefix):
            return words, unit
    return "", "USD" if "(USD)" in check or check.endswith("_usd") else ""


def checks_frame(checks: pd.DataFrame) -> pd.DataFrame:
    """The Checks sheet's table: ``check, meaning, limit, value, unit, ok, detail``
    (``ok`` as PASS/FAIL); limit and value stay the numbers measured, their cells
    formatted in the unit."""
    frame = checks.loc[:, ["check", "limit", "value", "ok", "detail"]].copy()
    said = [check_words(str(c)) for c in frame["check"]]
    frame.insert(1, "meaning", [w for w, _ in said])
    frame.insert(4, "unit", [u for _, u in said])
    liquidity = frame["check"] == "liquidity (participation of ADV)"
    frame.loc[liquidity, "meaning"] = [
        _liquidity_words(r.limit, r.value, r.detail) for r in frame[liquidity].itertuples()
    ]
    frame["ok"] = ["PASS" if bool(v) else "FAIL" for v in frame["ok"]]
    frame["limit"] = [
        _band_words(limit) if unit in ("% of NAV", "% a year") else limit
        for limit, unit in zip(frame["limit"], frame["unit"], strict=True)
    ]
    return frame


_BAND = re.compile(r"^\[\s*(\S+?)\s*,\s*(\S+?)\s*\]$")


def _band_words(limit):
    """A band the checks state as text (``"[0.0500, 0.1100]"``, a tilt's) as a percent
    band, ``5.00% to 11.00%``; any other limit as it is."""
    match = _BAND.match(limit) if isinstance(limit, str) else None
    if match is None:
        return limit
    try:
        lo, hi = (float(x) for x in match.groups())
    except ValueError:
        return limit
    return f"{lo:.2%} to {hi:.2%}"


def _liquidity_words(limit, value, detail) -> str:
    name = str(detail).removeprefix("tightest: ").strip()
    if not _known(value) or float(value) <= 0:
        return "no order: nothing trades against a liquidity cap (limit: the smallest cap)"
    share = f", {float(value) / float(limit):.0%} of it" if _known(limit) and limit else ""
    return f"the order closest to its cap (participation × ADV × days), {name}{share}"


def checks_sheet(ws: Worksheet, checks: pd.DataFrame) -> None:
    frame = checks_frame(checks)
    table_sheet(ws, frame)
    col = {name: j for j, name in enumerate(frame.columns, start=1)}
    for i, (unit, verdict) in enumerate(zip(frame["unit"], frame["ok"], strict=True), start=2):
        fmt = UNIT_FORMATS.get(unit, "0.####")
        for name in ("limit", "value"):
            cell = ws.cell(row=i, column=col[name])
            if isinstance(cell.value, int | float):
                cell.number_format = fmt
        if verdict == "FAIL":
            for cell in ws[i]:
                cell.fill = FAIL_FILL
                cell.font = FAIL_BOLD if cell.column == col["ok"] else FAIL_FONT
    _fit_widths(ws)
    wrap_columns(ws, {"check": 36, "meaning": 40, "detail": 48})


def _tax_sheet(ws: Worksheet, proposal: Proposal) -> None:
    """Per-lot sales with ST/LT totals; for taxable accounts the estimated tax, the
    harvested losses and every wash-sale or short-term block."""
    frame = _present(proposal.lot_sales, LOT_COLUMNS)
    lot_widths = _write_table(ws, frame, headings=True)
    ws.freeze_panes = "A2"
    sums = ["cost_basis_sold_usd", "proceeds_usd", "realized_gain_usd"]
    terms = frame["term"].astype(str) if "term" in frame else pd.Series("", index=frame.index)
    row = len(frame) + 3
    for label, mask in [
        ("Short-term total", terms == "ST"),
        ("Long-term total", terms == "LT"),
        ("Total", pd.Series(True, index=frame.index)),
    ]:
        write_cell(ws.cell(row=row, column=1), label).font = HEADER_FONT
        for name in sums:
            if name in frame:
                column = list(frame.columns).index(name) + 1
                total = float(frame.loc[mask, name].sum(min_count=1))
                cell = write_cell(ws.cell(row=row, column=column), total)
                cell.number_format = MONEY
                cell.font = HEADER_FONT
        row += 1
    m = proposal.metrics
    if m.taxable:
        row += 1
        for label, value in [
            ("Estimated tax (ST/LT netted)", m.estimated_tax_usd),
            ("Harvested losses", m.harvested_losses_usd),
        ]:
            write_cell(ws.cell(row=row, column=1), label).font = HEADER_FONT
            write_cell(ws.cell(row=row, column=2), value).number_format = MONEY
            row += 1
        write_cell(ws.cell(row=row, column=1), f"Lot method: {proposal.lot_method}")
        row += 1
    blocks = proposal.tax_blocks
    if blocks is not None and len(blocks):
        row += 1
        write_cell(ws.cell(row=row, column=1), "Blocked by tax rules").font = HEADER_FONT
        _write_table(ws, blocks, start_row=row + 1, filters=False)
    _fit_widths(ws, known=lot_widths, min_row=len(frame) + 2)  # the lots measured once


# --- the Scenario sheet: nested settings as dotted rows ------------------------------


def scenario_rows(settings: Mapping[str, Any]) -> pd.DataFrame:
    """The effective scenario as ``key`` (dotted path) / ``value`` rows.

    ``{"constraints": {"cash": {"min": 0.01}}}`` gives ``constraints.cash.min | 0.01``;
    a list of mappings (views, screens, shocks) gives one row per item, ``views[1]``,
    rendered ``long: size:small, short: size:large, ...``; a list of plain values is
    one row, comma-separated.
    """
    rows: list[tuple[str, Any]] = []
    _flatten(settings, "", rows)
    return pd.DataFrame(rows, columns=["key", "value"], dtype=object)


def _flatten(value: Any, key: str, rows: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping):
        if not value and key:
            rows.append((key, "{}"))
        for k, v in value.items():
            _flatten(v, f"{key}.{k}" if key else str(k), rows)
    elif isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
        for i, item in enumerate(value, start=1):
            rows.append((f"{key}[{i}]", _render(item)))
    elif isinstance(value, list | tuple):
        rows.append((key, _render(value)))
    else:
        rows.append((key, _scalar(value)))


def _render(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_render_nested(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_render_nested(v) for v in value)
    return str(_scalar(value))


def _render_nested(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + _render(value) + "}"
    if isinstance(value, list | tuple):
        return "[" + _render(value) + "]"
    return _render(value)


def _scalar(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as written in the YAML
    if isinstance(value, int | float | str):
        return value
    return str(value)


# --- tables and widths ---------------------------------------------------------------


def _write_table(
    ws: Worksheet,
    frame: pd.DataFrame,
    *,
    start_row: int = 1,
    filters: bool = True,
    headings: bool = False,
) -> dict[int, int]:
    """Header at ``start_row`` (the column names, or with ``headings`` their words),
    one row per frame row; formats from the column names.
    Returns each column's display width (``_fit_widths``' measure of its cells).

    The rows are bound straight into the sheet and each column's number format is
    one shared style: what ``ws.cell`` and a format per cell cost is most of a
    100,000-lot account's Tax sheet. The cells are the same."""
    columns = [str(c) for c in frame.columns]
    widths: dict[int, int] = {}
    for j, name in enumerate(columns, start=1):
        cell = write_cell(ws.cell(row=start_row, column=j), heading(name) if headings else name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        widths[j] = _display_width(cell.value, GENERAL)
    cells = ws._cells  # noqa: SLF001 - openpyxl's own ws.append binds cells so
    for j, name in enumerate(columns, start=1):
        values = frame.iloc[:, j - 1].tolist()
        fmt = column_format(name, values)
        style = None  # the column's number format, once set on a cell
        width = widths[j]
        for i, value in enumerate(values, start=start_row + 1):
            cell = write_cell(Cell(ws, row=i, column=j), value)
            cells[(i, j)] = cell
            stored = cell.value
            formatted = bool(fmt) and not isinstance(stored, str)
            if formatted and style is None:
                cell.number_format = fmt
                style = cell._style  # noqa: SLF001
            elif formatted:
                cell._style = copy.copy(style)  # noqa: SLF001
            if stored is not None:
                width = max(width, _display_width(stored, fmt if formatted else GENERAL))
        widths[j] = width
    if filters and columns:
        last = f"{get_column_letter(len(columns))}{start_row + len(frame)}"
        ws.auto_filter.ref = f"A{start_row}:{last}"
    return widths


def _fit_widths(
    ws: Worksheet,
    *,
    skip_rows: Iterable[int] = (),
    known: Mapping[int, int] | None = None,
    min_row: int = 1,
) -> None:
    """Each column as wide as its widest cell (within bounds): the cells from
    ``min_row`` on are measured, ``known`` gives the widths of those above it."""
    skip = set(skip_rows)
    widths: dict[int, int] = dict(known or {})
    for row in ws.iter_rows(min_row=min_row):
        for cell in row:
            if cell.row in skip or cell.value is None:
                continue
            width = _display_width(cell.value, cell.number_format)
            widths[cell.column] = max(widths.get(cell.column, 0), width)
    for column, width in widths.items():
        # +2 leaves room for the autofilter arrow
        ws.column_dimensions[get_column_letter(column)].width = min(
            MAX_WIDTH, max(MIN_WIDTH, width + 2)
        )


def wrap_columns(ws: Worksheet, widths: Mapping[str | int, int], *, header_row: int = 1) -> None:
    """Columns named by header text or number (``widths``: -> characters) at most that
    wide, their longer text wrapped, and each row as tall as its most wrapped cell
    (a spreadsheet does not grow the rows of a file it opens: the heights are set
    here, 15 points a line)."""
    header = {cell.value: cell.column for cell in ws[header_row] if cell.value is not None}
    columns = {
        name if isinstance(name, int) else header[name]: width
        for name, width in widths.items()
        if isinstance(name, int) or name in header
    }
    heights: dict[int, int] = {}
    for column, width in columns.items():
        letter = get_column_letter(column)
        current = ws.column_dimensions[letter].width or width
        ws.column_dimensions[letter].width = min(current, width + 2)
        for (cell,) in ws.iter_rows(min_row=header_row + 1, min_col=column, max_col=column):
            if not isinstance(cell.value, str) or len(cell.value) <= width:
                continue
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            lines = sum(-(-max(len(part), 1) // width) for part in cell.value.splitlines())
            heights[cell.row] = max(heights.get(cell.row, 1), lines)
    for row, lines in heights.items():
        ws.row_dimensions[row].height = 15 * lines
        for cell in ws[row]:  # the row's other cells level with the wrapped text's top
            if not cell.alignment.wrap_text:
                cell.alignment = Alignment(horizontal=cell.alignment.horizontal, vertical="top")


def wrap_header(ws: Worksheet, *, row: int = 1) -> None:
    """The header row's words wrapped, two lines tall: a column is as wide as its
    values (or its header's longest word), not its whole header."""
    for cell in ws[row]:
        if not isinstance(cell.value, str) or " " not in cell.value:
            continue
        letter = get_column_letter(cell.column)
        longest = max(len(word) for word in cell.value.split())
        data = max(
            (
                _display_width(c.value, c.number_format)
                for (c,) in ws.iter_rows(min_row=row + 1, min_col=cell.column, max_col=cell.column)
                if c.value is not None
            ),
            default=0,
        )
        ws.column_dimensions[letter].width = min(MAX_WIDTH, max(MIN_WIDTH, longest, data) + 2)
        cell.alignment = Alignment(wrap_text=True, vertical="bottom")
    ws.row_dimensions[row].height = 30


def stream_table(wb: Workbook, title: str, frame: pd.DataFrame, *, page_title: str = "") -> None:
    """A sheet holding ``frame`` in a write-only workbook (``Workbook(write_only=True)``):
    the same header, formats, widths, frozen header and filter as ``table_sheet``,
    streamed row by row — a book's tens of thousands of allocation rows take seconds
    instead of tens of seconds. It prints as ``page_setup`` says, ``page_title`` in the
    page header (set before the first row: a write-only sheet writes its properties
    then)."""
    ws = wb.create_sheet(title)
    page_setup(ws, title=page_title)
    columns = [str(c) for c in frame.columns]
    formats = [column_format(name, frame.iloc[:, j].tolist()) for j, name in enumerate(columns)]
    rows = [[cell_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    for j, name in enumerate(columns):
        width = max(
            [len(name)]
            + [_display_width(row[j], formats[j] or "") for row in rows if row[j] is not None]
        )
        ws.column_dimensions[get_column_letter(j + 1)].width = min(
            MAX_WIDTH, max(MIN_WIDTH, width + 2)
        )
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    header = []
    for name in columns:
        cell = write_cell(WriteOnlyCell(ws), name)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        header.append(cell)
    ws.append(header)
    for row in rows:
        cells = []
        for value, fmt in zip(row, formats, strict=True):
            if value is None or (isinstance(value, str) and not needs_marking(value)):
                cells.append(value)  # a plain value needs no cell object of its own
                continue
            cell = write_cell(WriteOnlyCell(ws), value)
            if fmt and not isinstance(cell.value, str):
                cell.number_format = fmt
            cells.append(cell)
        ws.append(cells)


def _display_width(value: Any, number_format: str) -> int:
    if isinstance(value, dt.date):
        return 10 if number_format == DATE else 19
    if isinstance(value, bool) or not isinstance(value, int | float):
        return max((len(line) for line in str(value).splitlines()), default=0)
    if number_format == PCT:
        return len(f"{value * 100:.2f}%")
    if number_format in (MONEY, DAYS):
        return len(f"{value:,.2f}")
    if number_format in (SHARES_WHOLE, SHARES_FRACTION):
        return len(f"{value:,.4f}".rstrip("0").rstrip("."))
    return len(f"{value:.10g}")


# --- helpers -------------------------------------------------------------------------


def _present(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The contract columns ``frame`` has, in contract order (extra columns dropped)."""
    return frame.loc[:, [c for c in columns if c in frame]].reset_index(drop=True)


def _known(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
