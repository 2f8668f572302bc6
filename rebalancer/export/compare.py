"""The what-if comparison workbook and chart.

Sheets: **Compare** (one column per run, its figures labelled in words: headline
figures, the expected and active return under the run's own belief and under the
common belief that row 2 names, exposures of every tilted group before and after,
stress P&L; infeasible runs marked with their conflict), **Trades** (every run's
orders in one long table with a ``run`` column, then, after a blank row, each run's
totals of buys, sells and all orders), **Settings** (the effective scenario of each
run, one column per run, differences first) and **Exposures** (a bar chart of active
exposure after each run, per tilted group).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.worksheet import Worksheet

from rebalancer.export.safe import write_cell
from rebalancer.export.xlsx import (
    HEADER_FILL,
    HEADER_FONT,
    MONEY,
    PCT,
    _fit_widths,
    finish_trades_sheet,
    page_setup,
    scenario_rows,
    table_sheet,
    totals_rows,
    trades_sheet_frame,
)

ROW_FORMATS = {
    "expected_return": PCT, "active_return": PCT, "expected_return_common": PCT,
    "active_return_common": PCT, "volatility": PCT, "tracking_error": PCT,
    "turnover": PCT, "est_cost_usd": MONEY, "cash_after_usd": MONEY, "n_trades": "0",
    "checks_failed": "0",
}  # fmt: skip


# the Compare sheet's words for the comparison's figures (the JSON keeps the names); the
# group exposures and stress rows keep theirs ("before size:small", "stress NAME after")
COMPARE_LABELS = {
    "scenario": "Scenario", "status": "Status", "conflict": "Conflict",
    "relaxed": "Relaxed (settings moved)", "mode": "Trade mode", "mode_asked": "Mode asked",
    "withdraw_usd": "Withdrawal (USD)", "deposit_usd": "Deposit (USD)",
    "expected_return": "Expected return (own belief)",
    "expected_return_common": "Expected return (common belief)",
    "active_return": "Active return (own belief)",
    "active_return_common": "Active return (common belief)",
    "volatility": "Volatility", "tracking_error": "Tracking error", "turnover": "Turnover",
    "est_cost_usd": "Est. cost (USD)", "n_trades": "Orders",
    "cash_after_usd": "Cash after (USD)", "checks_failed": "Checks failed",
    "realized_gain_usd": "Realized gain (USD)", "estimated_tax_usd": "Estimated tax (USD)",
}  # fmt: skip


def compare_label(name: str) -> str:
    """The Compare sheet's label of a comparison column (``COMPARE_LABELS``, else its name)."""
    return COMPARE_LABELS.get(name, name)


def _row_format(label: str) -> str | None:
    if label in ROW_FORMATS:
        return ROW_FORMATS[label]
    if label.startswith(("before ", "after ")):
        return PCT
    if label.startswith("stress "):
        return PCT if label.endswith(" %") else MONEY
    return None


def compare_sheet_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table turned to one column per run (what the Compare sheet shows)."""
    return table.T


def write_comparison(comparison, path: str | os.PathLike[str]) -> None:
    """Write the comparison workbook of a ``rebalancer.runs.whatif.Comparison``."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Compare"
    _compare_sheet(ws, compare_sheet_frame(comparison.table), comparison.account)
    if comparison.belief is not None:
        _belief_note(ws, comparison.belief)
    trades = [
        trades_sheet_frame(r.proposal).assign(run=r.label)
        for r in comparison.runs
        if r.proposal is not None and len(r.proposal.trades)
    ]
    long = pd.concat(trades, ignore_index=True) if trades else pd.DataFrame(columns=["run"])
    # one account: its id is in every page's header, not on every row
    long = long.drop(columns=["account"], errors="ignore")
    trades_ws = wb.create_sheet("Trades")
    long = long[["run", *[c for c in long if c != "run"]]]
    table_sheet(trades_ws, long, headings=True)
    # each run's totals after a blank row (a reader stopping there reads the orders alone)
    row = len(long) + 3
    for label in dict.fromkeys(long["run"]):
        row = totals_rows(trades_ws, long[long["run"] == label], start_row=row, label=f"{label}: ")
    _fit_widths(trades_ws)
    finish_trades_sheet(trades_ws, {"Run": 22})
    _settings_sheet(wb.create_sheet("Settings"), comparison.runs)
    _exposure_chart_sheet(wb.create_sheet("Exposures"), comparison.table)
    as_of = next((r.proposal.as_of for r in comparison.runs if r.proposal is not None), "")
    for sheet in wb.worksheets:
        page_setup(
            sheet,
            account=comparison.account,
            as_of=as_of,
            header_row=3 if sheet.title == "Compare" else 1,
        )
    ws.print_title_cols = "A:A"  # the figures' labels on every page of the Compare sheet
    wb.properties.creator = "rebalancer"
    wb.save(path)


def _compare_sheet(ws: Worksheet, frame: pd.DataFrame, account: str) -> None:
    write_cell(ws.cell(row=1, column=1), "account").font = HEADER_FONT
    write_cell(ws.cell(row=1, column=2), account)
    header = 3
    cell = write_cell(ws.cell(row=header, column=1), "Run")
    cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    for j, run in enumerate(frame.columns, start=2):
        cell = write_cell(ws.cell(row=header, column=j), str(run))
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    for i, (label, values) in enumerate(frame.iterrows(), start=header + 1):
        write_cell(ws.cell(row=i, column=1), compare_label(str(label))).font = HEADER_FONT
        fmt = _row_format(str(label))
        for j, value in enumerate(values, start=2):
            c = write_cell(ws.cell(row=i, column=j), _plain(value))
            if fmt and not isinstance(c.value, str):
                c.number_format = fmt
    ws.freeze_panes = ws.cell(row=header + 1, column=2)
    _fit_widths(ws)


def _belief_note(ws: Worksheet, belief) -> None:
    """Which belief the common rows use, on row 2 (written after the widths are fitted:
    the sentence runs over the empty cells to its right, widening no column)."""
    write_cell(ws.cell(row=2, column=1), "Common belief").font = HEADER_FONT
    write_cell(ws.cell(row=2, column=2), belief.describe())


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _settings_sheet(ws: Worksheet, runs) -> None:
    frames = [
        scenario_rows(r.scenario.to_data()).set_index("key")["value"].rename(r.label) for r in runs
    ]
    table = pd.concat(frames, axis=1).astype(object)
    differs = table.astype(str).nunique(axis=1) > 1
    table = pd.concat([table[differs], table[~differs]])
    table.insert(0, "differs", np.where(differs.reindex(table.index), "yes", ""))
    table_sheet(ws, table.reset_index())


def _exposure_chart_sheet(ws: Worksheet, table: pd.DataFrame) -> None:
    after = [c for c in table.columns if c.startswith("after ")]
    frame = table[after].rename(columns=lambda c: c[len("after ") :]).T
    frame.index.name = "group"
    table_sheet(ws, frame.reset_index())
    for row in ws.iter_rows(min_row=2, min_col=2):
        for cell in row:
            cell.number_format = PCT
    if frame.empty:
        return
    chart = BarChart()
    chart.type = "bar"
    chart.title = "Active exposure after each run"
    chart.y_axis.number_format = "0%"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    data = Reference(
        ws, min_col=2, max_col=1 + frame.shape[1], min_row=1, max_row=1 + frame.shape[0]
    )
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=1 + frame.shape[0]))
    chart.height, chart.width = 8 + frame.shape[0], 18
    ws.add_chart(chart, f"A{frame.shape[0] + 4}")
