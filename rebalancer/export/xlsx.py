"""The trade sheet workbook an advisor opens: one sheet per question they ask.

Sheets, in order: Summary, Trades, Exposures (with a bar chart), Holdings,
Scenario, Checks, and Tax when lots were sold. Every table has a bold, frozen
header row and an autofilter; money is ``#,##0.00``, weights ``0.00%``, shares
``#,##0`` (or ``#,##0.####`` when fractional). Every cell goes through
:func:`rebalancer.export.safe.write_cell`, so no text becomes a formula.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.chart import BarChart, Reference, Series
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from rebalancer.export.csvout import trades_frame
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

MONEY_COLUMNS = {"price", "notional", "est_cost", "realized_gain"}
PCT_COLUMNS = {
    "turnover", "pct_adv", "benchmark_weight", "reference", "target", "band_lo", "band_hi",
    "active_before", "active_after", "pct_before", "pct_after",
}  # fmt: skip
SHARE_COLUMNS = {"quantity", "shares_before", "shares_after", "quantity_sold"}

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


def write_workbook(proposal: Proposal, path: str | os.PathLike[str]) -> None:
    """Write the trade sheet workbook of ``proposal`` to ``path`` (callers stage the path)."""
    wb = Workbook()
    wb.remove(wb.active)
    proposal_sheets(wb, proposal)
    wb.properties.creator = "rebalancer"
    wb.save(path)


def proposal_sheets(wb: Workbook, proposal: Proposal, prefix: str = "") -> None:
    """Add the sheets of one proposal to ``wb``, each title after ``prefix`` (a
    household's workbook: the account; Excel cuts a title at 31 characters)."""

    def sheet(title: str) -> Worksheet:
        return wb.create_sheet(f"{prefix}{title}"[:31])

    _summary_sheet(sheet("Summary"), proposal)
    table_sheet(sheet("Trades"), trades_frame(proposal))
    exposures_sheet(sheet("Exposures"), proposal.exposures)
    table_sheet(sheet("Holdings"), _present(proposal.holdings, HOLDING_COLUMNS))
    table_sheet(sheet("Scenario"), scenario_rows(proposal.scenario))
    checks_sheet(sheet("Checks"), proposal.checks)
    blocks = proposal.tax_blocks
    if len(proposal.lot_sales) or (blocks is not None and len(blocks)):
        _tax_sheet(sheet("Tax"), proposal)


# --- number formats ------------------------------------------------------------------


def column_format(column: str, values: Iterable[Any] = ()) -> str | None:
    """The number format of a contract column, from its name (units are in the names)."""
    if column.endswith("_usd") or column in MONEY_COLUMNS:
        return MONEY
    if column.startswith("weight") or column in PCT_COLUMNS:
        return PCT
    if column in SHARE_COLUMNS:
        return shares_format(values)
    if column == "days_to_trade":
        return DAYS
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
        _Line("Active return", m.active_return, PCT),
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
        _write_table(ws, _present(p.stress, STRESS_COLUMNS), start_row=row + 1, filters=False)
    _fit_widths(ws, skip_rows={1})


def table_sheet(ws: Worksheet, frame: pd.DataFrame) -> None:
    _write_table(ws, frame)
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
    table_sheet(ws, frame)
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
    chart.width = 18
    chart.height = max(7.5, 0.6 * n + 3)
    ws.add_chart(chart, f"{get_column_letter(len(frame.columns) + 2)}2")


def checks_sheet(ws: Worksheet, checks: pd.DataFrame) -> None:
    frame = checks.loc[:, ["check", "limit", "value", "ok", "detail"]].copy()
    ok = [bool(v) for v in frame["ok"]]
    frame["ok"] = ["PASS" if v else "FAIL" for v in ok]
    table_sheet(ws, frame)
    for i, passed in enumerate(ok):
        if not passed:
            for cell in ws[i + 2]:
                cell.fill = FAIL_FILL
                cell.font = FAIL_BOLD if cell.column == 4 else FAIL_FONT


def _tax_sheet(ws: Worksheet, proposal: Proposal) -> None:
    """Per-lot sales with ST/LT totals; for taxable accounts the estimated tax, the
    harvested losses and every wash-sale or short-term block."""
    frame = _present(proposal.lot_sales, LOT_COLUMNS)
    lot_widths = _write_table(ws, frame)
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
    ws: Worksheet, frame: pd.DataFrame, *, start_row: int = 1, filters: bool = True
) -> dict[int, int]:
    """Header at ``start_row``, one row per frame row; formats from the column names.
    Returns each column's display width (``_fit_widths``' measure of its cells).

    The rows are bound straight into the sheet and each column's number format is
    one shared style: what ``ws.cell`` and a format per cell cost is most of a
    100,000-lot account's Tax sheet. The cells are the same."""
    columns = [str(c) for c in frame.columns]
    widths: dict[int, int] = {}
    for j, name in enumerate(columns, start=1):
        cell = write_cell(ws.cell(row=start_row, column=j), name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        widths[j] = _display_width(name, GENERAL)
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


def stream_table(wb: Workbook, title: str, frame: pd.DataFrame) -> None:
    """A sheet holding ``frame`` in a write-only workbook (``Workbook(write_only=True)``):
    the same header, formats, widths, frozen header and filter as ``table_sheet``,
    streamed row by row — a book's tens of thousands of allocation rows take seconds
    instead of tens of seconds."""
    ws = wb.create_sheet(title)
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
