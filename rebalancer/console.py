"""The console summary of one proposal: what an advisor reads before opening the workbook.

Compact on purpose (fits 100 columns): key figures, tilted exposures against their
bands, the largest trades, then anything that failed or needs a look.
"""

from __future__ import annotations

import math
import shutil
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from rebalancer.errors import one_line
from rebalancer.limits.cash_request import mode_text
from rebalancer.report.proposal import Proposal
from rebalancer.solve.path import describe

TOP_TRADES = 10


def as_text(value: Any, style: str = "") -> Text:
    """Text from inputs or options (names, labels, tickers, paths) as the terminal is
    to show it: control characters written as escapes (an ESC would act as a terminal
    command) and never read as rich markup (``[bold]``)."""
    return Text(one_line(str(value)), style=style)


def print_summary(proposal: Proposal, console: Console | None = None) -> None:
    """Print the summary of ``proposal`` (to stdout unless ``console`` is given)."""
    console = console or Console(highlight=False, width=max(_width(), 100))
    console.print(render_summary(proposal))


def render_summary(proposal: Proposal) -> Group:
    """The summary as one rich renderable (for callers that compose their own output)."""
    p = proposal
    parts: list[Any] = [_header(p), _key_figures(p)]
    exposures = _exposures(p.exposures)
    if exposures is not None:
        parts.append(exposures)
    if len(p.trades):
        parts.append(_top_trades(p.trades))
    step = describe(p.path)
    if step:
        parts.append(Text(step.capitalize(), style="yellow"))
    parts.extend(_problems(p))
    return Group(*parts)


def _header(p: Proposal) -> Text:
    # Text, not markup: an account or scenario name may contain "[" (rich markup).
    status_style = "green" if p.status == "optimal" else "yellow"
    text = Text()
    text.append("Account ", style="bold")
    text.append(as_text(p.account, "bold cyan"))
    text.append("  scenario ")
    text.append(as_text(p.scenario_name, "bold"))
    text.append("  status ")
    text.append(str(p.status), style=status_style)
    text.append(f"  ({p.solver}, vs {p.reference})", style="dim")
    return text


def _key_figures(p: Proposal) -> Table:
    m = p.metrics
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="bold")
    table.add_column(justify="right")
    cells = [
        ("NAV", _usd(m.nav_usd)),
        ("Cash", f"{_usd(m.cash_before_usd)} → {_usd(m.cash_after_usd)}"),
        ("Turnover", _pct(m.turnover)),
        ("Trades", f"{m.n_trades} ({_usd(m.buys_usd)} buy, {_usd(m.sells_usd)} sell)"),
        ("Est. cost", _usd(m.est_cost_usd)),
        ("Exp. return", f"{_pct(m.expected_return_before)} → {_pct(m.expected_return)}"),
        ("Tracking err.", f"{_pct(m.tracking_error_before)} → {_pct(m.tracking_error)}"),
        ("Volatility", f"{_pct(m.volatility_before)} → {_pct(m.volatility)}"),
    ]
    if _finite(m.realized_gain_usd):
        cells.append(
            (
                "Realized gain",
                f"{_usd(m.realized_gain_usd)} (ST {_usd(m.short_term_gain_usd)}, "
                f"LT {_usd(m.long_term_gain_usd)})",
            )
        )
    if m.taxable:
        cells.append(
            (
                "Est. tax",
                f"{_usd(m.estimated_tax_usd)} ({p.lot_method} lots, "
                f"{_usd(m.harvested_losses_usd)} losses harvested)",
            )
        )
        cells.append(
            ("Income tax/yr", f"{_usd(m.income_tax_before_usd)} → {_usd(m.income_tax_usd)}")
        )
    if p.cash_request:
        request = p.cash_request
        asked = [f"mode {mode_text(request)}"]
        if request.get("withdraw_usd"):
            asked.append(f"withdraw {_usd(request['withdraw_usd'])}")
        if request.get("deposit_usd"):
            asked.append(f"deposit {_usd(request['deposit_usd'])}")
        cells.append(("Cash request", ", ".join(asked)))
    for i in range(0, len(cells), 2):
        left = cells[i]
        right = cells[i + 1] if i + 1 < len(cells) else ("", "")
        table.add_row(*left, *right)
    return table


def _exposures(exposures: pd.DataFrame) -> Table | None:
    """Tilted groups against their bands; without tilts, the ten largest moves."""
    if not len(exposures):
        return None
    tilted = exposures[exposures["target"].notna()]
    if len(tilted):
        shown, title = tilted, "Active exposures (tilted groups)"
    else:
        moves = (exposures["after"] - exposures["before"]).abs().sort_values(ascending=False)
        shown, title = exposures.loc[moves.index[:10]], "Active exposures (largest moves)"
    table = Table(title=title, title_justify="left", title_style="bold", box=None)
    table.add_column("selector", overflow="fold")
    table.add_column("before", justify="right")
    table.add_column("target ± band", justify="right")
    table.add_column("after", justify="right")
    for selector, row in shown.iterrows():
        target = row["target"]
        if _finite(target):
            band = (row["band_hi"] - row["band_lo"]) / 2
            target_text = f"{_pct(target)} ± {_pct(band)}"
            inside = row["band_lo"] - 1e-9 <= row["after"] <= row["band_hi"] + 1e-9
            after = Text(_pct(row["after"]), style="green" if inside else "red")
        else:
            target_text, after = "", Text(_pct(row["after"]))
        table.add_row(as_text(selector), _pct(row["before"]), target_text, after)
    return table


def _top_trades(trades: pd.DataFrame) -> Table:
    top = trades.reindex(trades["notional"].abs().sort_values(ascending=False).index)
    top = top.head(TOP_TRADES)
    more = len(trades) - len(top)
    title = f"Largest trades ({len(top)} of {len(trades)})" if more else "Trades"
    table = Table(title=title, title_justify="left", title_style="bold", box=None)
    table.add_column("side")
    table.add_column("ticker")
    table.add_column("shares", justify="right")
    table.add_column("notional", justify="right")
    table.add_column("weight", justify="right")
    table.add_column("%ADV", justify="right")
    table.add_column("reason", overflow="ellipsis", max_width=30, no_wrap=True)
    for row in top.itertuples(index=False):
        side_style = "green" if row.side == "BUY" else "red"
        table.add_row(
            as_text(row.side, side_style),
            as_text(row.ticker),
            _shares(row.quantity),
            _usd(row.notional),
            f"{_pct(row.weight_before)} → {_pct(row.weight_after)}",
            _pct(row.pct_adv),
            as_text("" if _missing(row.reason) else row.reason),
        )
    return table


def _problems(p: Proposal) -> list[Text]:
    lines = []
    for row in p.checks.itertuples(index=False):
        if not bool(row.ok):
            detail = "" if _missing(row.detail) else f": {row.detail}"
            lines.append(
                as_text(f"FAIL {row.check} (limit {_num(row.limit)}, value {_num(row.value)}){detail}",
                      "bold red")
            )  # fmt: skip
    if p.binding:
        lines.append(as_text(f"Binding: {', '.join(p.binding)}", "dim"))
    lines += [as_text(f"warning: {w}", "yellow") for w in p.warnings]
    return lines


# --- formatting ----------------------------------------------------------------------


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _usd(value: Any) -> str:
    if not _finite(value):
        return "n/a"
    v = float(value)
    return f"-${-v:,.0f}" if v < 0 else f"${v:,.0f}"


def _usd_short(value: Any) -> str:
    """Dollars in at most 8 characters: ``$9,833``, ``$612.5k``, ``-$2.39M``."""
    if not _finite(value):
        return "n/a"
    v = float(value)
    sign, a = ("-" if v < 0 else ""), abs(v)
    if a >= 1e9:
        return f"{sign}${a / 1e9:.2f}B"
    if a >= 1e6:
        return f"{sign}${a / 1e6:.2f}M"
    if a >= 1e5:
        return f"{sign}${a / 1e3:.1f}k"
    return f"{sign}${a:,.0f}"


def _pct(value: Any) -> str:
    return f"{float(value) * 100:.2f}%" if _finite(value) else "n/a"


def _shares(value: Any) -> str:
    if not _finite(value):
        return "n/a"
    v = float(value)
    return f"{v:,.0f}" if v.is_integer() else f"{v:,.4f}".rstrip("0")


def _num(value: Any) -> str:
    return f"{float(value):.4g}" if _finite(value) else "n/a"


def print_comparison(comparison, console: Console | None = None) -> None:
    """The what-if table: one column per run, the figures an advisor compares.

    The runs are numbered across the top and named in a key above the table, and
    money is in $k / $M: six runs read at 100 columns without a wrapped header."""
    console = console or Console(highlight=False, width=max(_width(), 100))
    table = comparison.table
    console.print(as_text(f"What-if: account {comparison.account}", "bold"))
    for k, run in enumerate(table.index, start=1):
        console.print(as_text(f"  {k}  {run}"))
    grid = Table(show_lines=False, box=box.SIMPLE_HEAD, pad_edge=False)
    grid.add_column("", no_wrap=True, overflow="ellipsis", max_width=34)
    for k in range(1, len(table.index) + 1):
        grid.add_column(str(k), justify="right", no_wrap=True)
    rows = [
        ("status", None),
        ("relaxed", None),  # whatif --relax: what each run's relaxation moved
        ("expected_return", _pct),
        ("expected_return_common", _pct),
        ("active_return", _pct),
        ("active_return_common", _pct),
        ("volatility", _pct),
        ("tracking_error", _pct),
        ("turnover", _pct),
        ("est_cost_usd", _usd_short),
        ("n_trades", lambda v: f"{int(v)}" if _finite(v) else ""),
        ("cash_after_usd", _usd_short),
    ]
    rows += [(c, _pct) for c in table.columns if c.startswith(("before ", "after "))]
    rows += [
        (c, _pct if c.endswith(" %") else _usd_short)
        for c in table.columns
        if c.startswith("stress ")
    ]
    for name, fmt in rows:
        if name not in table.columns:
            continue
        cells = [
            as_text(v, "bold red" if v == "infeasible" else "")
            if fmt is None
            else Text(fmt(v) if _finite(v) else "")
            for v in table[name]
        ]
        grid.add_row(as_text(name), *cells)
    console.print(grid)
    if getattr(comparison, "belief", None) is not None:
        console.print(as_text(f"_common: {comparison.belief.describe()}"))
    for run in comparison.runs:
        if run.conflict:
            console.print(as_text(f"{run.label}: {run.conflict}", "red"))


def _width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


QUEUE_SHOWN = 20  # accounts the console lists; the queue file holds every one


def print_queue(scan, console: Console | None = None) -> None:
    """The drift scan's headline and its first accounts needing action (``runs.drift``)."""
    console = console or Console(highlight=False, width=max(_width(), 100))
    console.print(as_text(scan.headline()))
    queue = scan.queue[scan.queue["status"] != "in tolerance"]
    if not len(queue):
        return
    table = Table(box=None, pad_edge=False)
    for column in ("account", "status", "reason"):
        table.add_column(column)
    for row in queue.head(QUEUE_SHOWN).itertuples(index=False):
        table.add_row(as_text(row.account), as_text(row.status), as_text(row.reason))
    console.print(table)
    if len(queue) > QUEUE_SHOWN:
        console.print(as_text(f"... and {len(queue) - QUEUE_SHOWN} more needing action"))
