"""``rebalancer backtest``'s outputs: JSON, workbook, chart and the order and position
logs, refused before any work when one is an input, and written together, whole or
not at all (``export.atomic.OutputSet``, the JSON last)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer.errors import RebalancerError
from rebalancer.export.atomic import OutputSet, check_outputs, protected_files
from rebalancer.export.csvout import write_frame
from rebalancer.prepare.inputs import load_inputs
from rebalancer.runs.backtest.cashflows import read_dividends, read_schedule
from rebalancer.runs.backtest.engine import (
    HOLD,
    Backtest,
    ScenarioRun,
    check_cash_rate,
    check_every,
    check_total_return,
    run_backtest,
)
from rebalancer.runs.backtest.figures import drawdown, figures, growth
from rebalancer.runs.backtest.signals import read_signals

# what the backtest leaves out, in every output (module docstring of ``engine``)
NOT_MODELLED = [
    "selling costs are not deducted from gains, and capital losses offset no other "
    "income (no $3,000 deduction); income taxed in the year it is credited, with no "
    "qualified-dividend rate",
    "universe columns other than price and the --signals columns (sector, region, "
    "restrictions, lot size) are today's at every date; names listed or delisted "
    "during the window",
]


# the --log-dir files: name → the ScenarioRun log it holds
LOGS = {"orders": "orders", "positions": "positions", "sales": "sales", "taxes": "tax_log"}


def backtest_to_files(
    holdings,
    universe,
    prices,
    scenarios: list,
    *,
    start: str,
    end: str,
    every: str,
    benchmark=None,
    accounts=None,
    account: str | None = None,
    cash_rate: float = 0.0,
    taxable: bool | None = None,
    out=None,
    json_path=None,
    chart=None,
    log_dir=None,
    dividends=None,
    cash_schedule=None,
    signals=None,
    total_return: bool = False,
    on_date=None,
    cache: bool = False,
) -> tuple[Backtest, list[Path]]:
    """``rebalancer backtest``: check the options and outputs, read the inputs, run
    ``engine.run_backtest`` and write the outputs asked for. Raises ``RebalancerError``
    before writing anything. ``cache``: the universe and prices files through the
    on-disk cache (``prepare.cache``)."""
    check_every(every)
    check_cash_rate(cash_rate)
    check_total_return(dividends, total_return)
    inputs = {"holdings": holdings, "universe": universe, "prices": prices,
              "benchmark": benchmark, "accounts": accounts, "dividends": dividends,
              "cash_schedule": cash_schedule, "signals": signals}  # fmt: skip
    logs = _log_paths(log_dir)
    outputs = {"--out": out, "--json": json_path, "--chart": chart, **logs}
    protected = protected_files(inputs, scenarios)
    check_outputs(outputs, protected)
    data = load_inputs(holdings, universe, prices, benchmark, accounts, cache=cache)
    paid = None if dividends is None else read_dividends(dividends, data.universe.index)
    requests = None if cash_schedule is None else read_schedule(cash_schedule)
    dated = None if signals is None else read_signals(signals, data.universe.index)
    result = run_backtest(data, scenarios, start=start, end=end, every=every, account=account,
                          cash_rate=cash_rate, taxable=taxable, dividends=paid,
                          schedule=requests, schedule_path=str(cash_schedule),
                          signals=dated, total_return=total_return, on_date=on_date)  # fmt: skip
    with OutputSet(protected) as staged:
        for option, path in logs.items():
            write_log(result, path.stem, staged.stage(path, option))
        if out is not None:
            write_workbook(result, staged.stage(out, "--out"))
        if chart is not None:
            write_chart(result, staged.stage(chart, "--chart"))
        if json_path is not None:
            write_json(result, staged.stage(json_path, "--json"))
        written = staged.targets
    return result, written


def _log_paths(log_dir) -> dict[str, Path]:
    if log_dir is None:
        return {}
    folder = Path(log_dir)
    if folder.exists() and not folder.is_dir():
        raise RebalancerError(f"--log-dir: {folder} is not a folder")
    return {f"--log-dir ({name})": folder / f"{name}.csv" for name in LOGS}


def summary(result: Backtest) -> dict:
    """The JSON: settings, warnings, what is not modelled, per scenario its figures
    (``figures``) and the dates held with their conflict, the same for ``hold`` (the
    starting portfolio held), and the NAV paths."""

    def run_data(run: ScenarioRun) -> dict:
        data = figures(run, result.benchmark_returns)
        held = run.held_dates()
        data["held_dates"] = [{"date": f"{d:%Y-%m-%d}", "conflict": str(text)}
                              for d, text in zip(held["date"], held["detail"], strict=True)]  # fmt: skip
        data["warnings"] = list(run.warnings)
        return data

    dates = result.hold.dates
    return {
        "settings": result.settings,
        "warnings": list(result.warnings),
        "not_modelled": NOT_MODELLED,
        "scenarios": {run.label: run_data(run) for run in result.runs},
        HOLD: run_data(result.hold),
        "nav": {
            "date": [f"{d:%Y-%m-%d}" for d in dates],
            **{run.label: run.nav.tolist() for run in (*result.runs, result.hold)},
        },
        "seconds": result.seconds,
    }


def write_json(result: Backtest, path: str | os.PathLike[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(summary(result), fh, indent=2, allow_nan=False)
        fh.write("\n")


def log_frame(result: Backtest, which: str) -> pd.DataFrame:
    """Every scenario's log ``which`` (``LOGS``: its ``ScenarioRun`` attribute), dates ISO."""
    frame = pd.concat([getattr(run, LOGS[which]) for run in result.runs], ignore_index=True)
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return frame


def write_log(result: Backtest, which: str, path: Path) -> None:
    write_frame(log_frame(result, which), path)


def comparison(result: Backtest) -> pd.DataFrame:
    """One row per figure, one column per scenario and ``hold``."""

    def flat(data: dict) -> dict:  # after_tax's figures as after_tax.<name>
        nested = {
            f"{k}.{n}": v for k, d in data.items() if isinstance(d, dict) for n, v in d.items()
        }
        return {**{k: v for k, v in data.items() if not isinstance(v, dict)}, **nested}

    runs = [*result.runs, result.hold]
    table = {run.label: flat(figures(run, result.benchmark_returns)) for run in runs}
    return pd.DataFrame(table).rename_axis("figure").reset_index()


def write_workbook(result: Backtest, path: Path) -> None:
    from openpyxl import Workbook

    from rebalancer.export.xlsx import table_sheet

    wb = Workbook()
    ws = wb.active
    ws.title = "Comparison"
    table_sheet(ws, comparison(result))
    used = {"comparison", "warnings"}
    for run in result.runs:
        title = _sheet_title(run.label, used)
        nav = pd.DataFrame({"date": run.dates, "nav": run.nav, "drawdown": drawdown(growth(run))})
        events = run.events.rename(columns={"date": "rebalance_date"})
        frame = pd.concat([nav, events], axis=1)
        table_sheet(wb.create_sheet(title), frame)
    notes = [*result.warnings, *(f"not modelled: {n}" for n in NOT_MODELLED)]
    for run in result.runs:
        notes += [f"{run.label}: {w}" for w in run.warnings]
    table_sheet(wb.create_sheet("Warnings"), pd.DataFrame({"warning": notes}))
    wb.save(path)


def _sheet_title(label: str, used: set[str]) -> str:
    """An Excel sheet title for ``label``: at most 31 characters, none of ``[]:*?/\\``,
    unique (case-insensitively) among ``used``."""
    base = re.sub(r"[\[\]:*?/\\]", "_", label)[:31] or "scenario"
    title, n = base, 1
    while title.lower() in used:
        n += 1
        title = f"{base[: 31 - len(str(n)) - 1]}~{n}"
    used.add(title.lower())
    return title


def write_chart(result: Backtest, path: Path) -> None:
    """Equity curves (NAV, 100 at the start; the benchmark as a dashed line) above
    their drawdowns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = result.hold.dates
    with plt.rc_context({"text.parse_math": False}):  # labels are text, never TeX
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), dpi=110, sharex=True,
                                          gridspec_kw={"height_ratios": [2, 1]})  # fmt: skip
        for run in (*result.runs, result.hold):
            style = ":" if run.label == HOLD else "-"
            top.plot(dates, 100 * growth(run), style, label=run.label)
            bottom.plot(dates, -100 * drawdown(growth(run)), style, label=run.label)
        if result.benchmark_returns is not None:
            bench = 100 * np.r_[1.0, np.cumprod(1.0 + result.benchmark_returns)]
            top.plot(dates, bench, "--", color="grey", label="benchmark")
        top.set_ylabel("growth of 100 (requests excluded)")
        top.set_title(f"Backtest {result.settings['account']}: rebalanced every "
                      f"{result.settings['every']}")  # fmt: skip
        top.legend(loc="best", fontsize=8)
        top.grid(alpha=0.3)
        bottom.set_ylabel("drawdown (%)")
        bottom.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png")
        plt.close(fig)
