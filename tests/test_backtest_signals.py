"""``rebalancer backtest --signals`` (dated signals, as of each rebalance date),
``--total-return`` and the tax on dividends and interest: checked from the input
files and the written logs, on the generated market of ``test_backtest``. About
30-60 s on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli, write_scenario
from tests.test_backtest import START, _args, _check_sales, _market, _replay, _year_tax

COLUMNS = ["market_cap", "adv", "pb", "roa", "momentum"]  # every signal column _market has
END = "2024-04-30"
REBALANCES = pd.DatetimeIndex(["2024-01-15", "2024-02-01", "2024-03-01", "2024-04-01"])


def _signals(folder: Path, universe: Path, seed: int = 5) -> Path:
    """Dated rows around the window, in shuffled order: N00-N02 have none before
    February (the universe's values stand in), a tenth of the cells blank (the
    earlier value stands), one row after the window."""
    rng = np.random.default_rng(seed)
    base = pd.read_csv(universe).set_index("ticker")
    rows = []
    for day in ["2023-12-15", "2024-01-31", "2024-02-15", "2024-03-20", "2024-04-10", "2024-05-15"]:
        for i, ticker in enumerate(base.index):
            if i < 3 and day < "2024-02-01":
                continue
            b = base.loc[ticker]
            row = {"date": day, "ticker": ticker,
                   "market_cap": b.market_cap * rng.uniform(0.7, 1.3),
                   "adv": b.adv * rng.uniform(0.5, 1.5), "pb": b.pb * rng.uniform(0.3, 3.0),
                   "roa": rng.normal(0.05, 0.05), "momentum": rng.normal(0.0, 0.3)}  # fmt: skip
            for column in ("pb", "roa"):
                if rng.random() < 0.1:
                    row[column] = None
            rows.append(row)
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)
    path = folder / "signals.csv"
    frame.to_csv(path, index=False)
    return path


def _as_of(signals: pd.DataFrame, universe: pd.DataFrame, day) -> tuple[pd.DataFrame, dict]:
    """The universe's columns as of ``day``, cell by cell: the latest non-blank value
    dated on or before it, else the universe's; and per column the names without one."""
    out = universe.copy()
    missing = dict.fromkeys(COLUMNS, 0)
    for ticker in universe.index:
        rows = signals[(signals["ticker"] == ticker) & (signals["date"] <= day)]
        for column in COLUMNS:
            given = rows[rows[column].notna()].sort_values("date")
            if len(given):
                out.loc[ticker, column] = given[column].iloc[-1]
            else:
                missing[column] += 1
    return out, missing


@pytest.fixture
def market(tmp_path):
    paths = _market(tmp_path)
    paths["signals"] = _signals(tmp_path, paths["universe"])
    # a valuation view: the dated pb and roa move the orders
    paths["valued"] = write_scenario(
        tmp_path / "valued.yaml",
        "extends: tilt.yaml\nname: valued\nsignals: {weight: 1.0, ic: 0.1, "
        "metrics: {pb: -1, roa: 1}, neutralize: none}\n",
    )
    return paths


def test_signals_are_joined_as_of_each_rebalance_date(market, tmp_path):
    """The universe a rebalance sees, recomputed cell by cell from the file; as a
    command: the constant-signals warning is gone, the fallbacks are counted."""
    from rebalancer.inputs.readers import read_universe
    from rebalancer.runs.backtest.signals import read_signals

    universe = read_universe(market["universe"])
    dated = read_signals(market["signals"], universe.index)
    table = pd.read_csv(market["signals"], parse_dates=["date"])
    fallbacks = dict.fromkeys(COLUMNS, 0)
    for day in [*REBALANCES, pd.Timestamp("2023-12-01"), pd.Timestamp("2024-12-31")]:
        expected, missing = _as_of(table, universe, day)
        got = dated.as_of(day, universe)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        if day in REBALANCES:
            for column in COLUMNS:
                fallbacks[column] += missing[column]
    assert fallbacks["adv"] == 6  # N00-N02 on 2024-01-15 and 2024-02-01
    assert fallbacks["pb"] > 6  # and the blank cells with nothing before them
    out = tmp_path / "out"
    result = run_cli(*_args(market, "--scenario", market["valued"], "--start", START, "--end",
                            END, "--signals", market["signals"], "--total-return",
                            "--json", out / "bt.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "bt.json").read_text())
    text = " | ".join(summary["warnings"])
    assert "signals are constant" not in text and "partly constant" not in text
    assert "price-only" not in text  # --total-return
    assert summary["settings"]["signals"] == COLUMNS and summary["settings"]["total_return"]
    for column in COLUMNS:
        n = fallbacks[column]
        assert f"--signals: {column} had no dated value for {n:,} of 24 names" in text, text


def test_a_rebalance_proposes_from_the_dated_universe(market, tmp_path):
    """The backtest's first orders are ``propose``'s, run as a command on a universe
    file holding the values joined here as of that date (and its closes) and the
    prices up to it."""
    from rebalancer.inputs.readers import read_universe

    out = tmp_path / "out"
    result = run_cli(*_args(market, "--scenario", market["valued"], "--start", START, "--end",
                            "2024-01-31", "--signals", market["signals"], "--json",
                            out / "bt.json", "--log-dir", out / "log"))  # fmt: skip
    assert result.exit_code == 0, result.output
    orders = pd.read_csv(out / "log" / "orders.csv")
    assert set(orders["date"]) == {START}
    day = pd.Timestamp(START)
    prices = pd.read_csv(market["prices"], index_col="date", parse_dates=True)
    table = pd.read_csv(market["signals"], parse_dates=["date"])
    universe, _ = _as_of(table, read_universe(market["universe"]), day)
    universe["price"] = prices.ffill().loc[day, universe.index]
    universe = universe.drop(columns="row").reset_index()
    universe.to_csv(tmp_path / "dated_universe.csv", index=False)
    prices.loc[:day].to_csv(tmp_path / "prices_to_day.csv", date_format="%Y-%m-%d")
    done = run_cli("propose", "--holdings", market["holdings"], "--universe",
                   tmp_path / "dated_universe.csv", "--prices", tmp_path / "prices_to_day.csv",
                   "--benchmark", market["bench"], "--scenario", market["valued"],
                   "--tax-exempt", "--as-of", START, "--force", "--trades",
                   tmp_path / "trades.csv")  # fmt: skip
    assert done.exit_code == 0, done.output
    trades = pd.read_csv(tmp_path / "trades.csv")
    trades = trades[trades["quantity"] > 0].sort_values("ticker").reset_index(drop=True)
    orders = orders.sort_values("ticker").reset_index(drop=True)
    assert list(trades["ticker"]) == list(orders["ticker"]) and len(orders) > 0
    assert list(trades["side"]) == list(orders["side"])
    assert np.allclose(trades["quantity"], orders["quantity"], rtol=1e-12)


def test_no_look_ahead_in_signals(market):
    """Signals dated after a rebalance date t changed: the orders at t and before are
    the same, later ones differ (the signals are used)."""
    from rebalancer.pipeline import load_inputs
    from rebalancer.runs.backtest.engine import run_backtest
    from rebalancer.runs.backtest.signals import read_signals

    data = load_inputs(market["holdings"], market["universe"], market["prices"], market["bench"])
    kwargs = {"start": START, "end": END, "every": "month", "taxable": False}
    dated = read_signals(market["signals"], data.universe.index)
    first = run_backtest(data, [market["valued"]], signals=dated, **kwargs).runs[0].orders
    t = pd.Timestamp("2024-03-01")
    assert (first["date"] == t).any() and (first["date"] < t).any()
    table = pd.read_csv(market["signals"], parse_dates=["date"])
    later = table["date"] > t
    rng = np.random.default_rng(17)
    table.loc[later, "pb"] = table.loc[later, "pb"] * rng.uniform(0.1, 10.0, later.sum())
    table.loc[later, "roa"] = -table.loc[later, "roa"]
    changed_path = Path(market["signals"]).with_name("changed.csv")
    table.to_csv(changed_path, index=False, date_format="%Y-%m-%d")
    changed = read_signals(changed_path, data.universe.index)
    second = run_backtest(data, [market["valued"]], signals=changed, **kwargs).runs[0].orders
    upto = first[first["date"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(upto, second[second["date"] <= t].reset_index(drop=True))
    assert (
        not first[first["date"] > t]
        .reset_index(drop=True)
        .equals(second[second["date"] > t].reset_index(drop=True))
    )


def test_a_partial_file_and_price_only_returns_are_warned(market):
    """A file of pb alone: the other columns are named as constant; neither
    --dividends nor --total-return: returns are price-only."""
    from rebalancer.pipeline import load_inputs
    from rebalancer.runs.backtest.engine import run_backtest
    from rebalancer.runs.backtest.signals import read_signals

    table = pd.read_csv(market["signals"])[["date", "ticker", "pb"]]
    path = Path(market["signals"]).with_name("pb.csv")
    table.to_csv(path, index=False)
    data = load_inputs(market["holdings"], market["universe"], market["prices"], market["bench"])
    dated = read_signals(path, data.universe.index)
    bt = run_backtest(data, [market["tilt"]], start=START, end="2024-02-15", every="month",
                      taxable=False, signals=dated)  # fmt: skip
    text = " | ".join(bt.warnings)
    assert "signals partly constant: market_cap, adv, roa, momentum (not in the --signals" in text
    assert "returns are price-only" in text


def _taxable(paths) -> Path:
    """The holdings with lots at a gain and a loss, some short-term."""
    holdings = pd.read_csv(paths["holdings"])
    start_px = pd.read_csv(paths["prices"], index_col="date").loc["2023-10-02"]
    stock = holdings["ticker"] != "CASH"
    value = holdings.loc[stock, "quantity"] * start_px[holdings.loc[stock, "ticker"]].to_numpy()
    holdings.loc[stock, "cost_basis"] = value * np.where(np.arange(stock.sum()) % 2, 1.2, 0.5)
    holdings.loc[stock, "acquired"] = np.where(
        np.arange(stock.sum()) % 3, "2022-03-01", "2023-06-01"
    )
    holdings.to_csv(paths["holdings"], index=False)
    return paths["holdings"]


def test_dividends_and_interest_are_taxed_at_year_end(tmp_path):
    """A taxable account with dividends and interest across a year end: each year's
    taxes.csv row recomputed from the sales, the dividends file and the replayed cash
    (income at ``tax.income_rate``, with the gains tax), the NAV paths (the scenario's
    and the starting portfolio held) paying them."""
    paths = _market(tmp_path)
    _taxable(paths)
    dividends = tmp_path / "dividends.csv"
    dividends.write_text("date,ticker,amount\n2023-11-10,N00,0.80\n2023-12-08,N02,1.20\n"
                         "2024-02-09,N04,0.90\n2024-03-15,N06,0.50\n")  # fmt: skip
    taxed = write_scenario(tmp_path / "taxed.yaml", "extends: tilt.yaml\nname: taxed\n"
                           "tax: {weight: 0.02, income_rate: 0.30}\n")  # fmt: skip
    rate, start, end = 0.03, "2023-10-02", "2024-03-28"
    out = tmp_path / "out"
    result = run_cli(*_args(paths, "--scenario", taxed, "--start", start, "--end", end,
                            "--every", "quarter", "--cash-rate", str(rate), "--dividends",
                            dividends, "--json", out / "bt.json", "--log-dir", out / "log",
                            status="--taxable"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "bt.json").read_text())
    dates = pd.DatetimeIndex(summary["nav"]["date"])
    sales = _check_sales(paths, out, "taxed")
    taxes = pd.read_csv(out / "log" / "taxes.csv", parse_dates=["date"])
    paid = dict(zip(taxes["date"], taxes["tax_usd"], strict=True))
    income: dict = {}
    table = pd.read_csv(dividends, parse_dates=["date"])
    nav, _, _ = _replay(paths, out, "taxed", dates, rate=rate, paid=paid, dividends=table,
                        income=income)  # fmt: skip
    assert np.allclose(summary["nav"]["taxed"], nav, rtol=1e-10)
    carry = (0.0, 0.0)
    for row in taxes.itertuples(index=False):
        year = sales[sales["date"].dt.year == row.date.year]
        gains_tax, carry = _year_tax(year.loc[year["term"] == "ST", "gain"].sum(),
                                     year.loc[year["term"] == "LT", "gain"].sum(), carry)  # fmt: skip
        div, interest = income[row.date.year]
        assert div > 0 and interest > 0
        assert (row.dividends, row.interest) == pytest.approx((div, interest), rel=1e-9)
        assert row.gains_tax_usd == pytest.approx(gains_tax, rel=1e-9, abs=1e-6)
        assert row.income_tax_usd == pytest.approx(0.30 * (div + interest), rel=1e-9)
        assert row.tax_usd == pytest.approx(gains_tax + 0.30 * (div + interest), rel=1e-9)
    got = summary["scenarios"]["taxed"]
    assert got["taxes"] == pytest.approx(taxes["tax_usd"].sum(), rel=1e-9)
    assert got["after_tax"]["income_tax_paid"] == pytest.approx(
        taxes["income_tax_usd"].sum(), rel=1e-9
    )
    assert got["interest"] == pytest.approx(sum(i for _, i in income.values()), rel=1e-9)
    # the starting portfolio held: its own dividends and interest, taxed at year end
    start_lots = pd.read_csv(paths["holdings"])
    shares = start_lots[start_lots["ticker"] != "CASH"].groupby("ticker")["quantity"].sum()
    cash = float(start_lots.loc[start_lots["ticker"] == "CASH", "quantity"].sum())
    closes = pd.read_csv(paths["prices"], index_col="date", parse_dates=True).ffill().loc[dates]
    held, year_income, tax_total = [], [0.0, 0.0], 0.0
    for k, day in enumerate(dates):
        if k:
            grown = cash * (1 + rate) ** ((day - dates[k - 1]).days / 365)
            year_income[1] += grown - cash
            cash = grown
            due = table[(table["date"] > dates[k - 1]) & (table["date"] <= day)]
            credited = float(shares.reindex(due["ticker"], fill_value=0.0).to_numpy()
                             @ due["amount"].to_numpy())  # fmt: skip
            cash += credited
            year_income[0] += credited
        if k == len(dates) - 1 or dates[k + 1].year != day.year:
            tax = 0.30 * max(sum(year_income), 0.0)
            cash -= tax
            tax_total += tax
            year_income = [0.0, 0.0]
        held.append(float(shares @ closes.loc[day, shares.index]) + cash)
    assert np.allclose(summary["nav"]["hold"], held, rtol=1e-10)
    assert summary["hold"]["taxes"] == pytest.approx(tax_total, rel=1e-9)
    assert summary["hold"]["after_tax"]["income_tax_paid"] == pytest.approx(tax_total, rel=1e-9)


BAD_SIGNALS = {
    "ticker": "date,ticker,pb\n2024-01-02,N00,1.5\n2024-01-02,ZZZ,2\n",
    "cell": "date,ticker,pb\n2024-01-02,N00,abc\n",
    "range": "date,ticker,adv\n2024-01-02,N00,-5\n",
    "column": "date,ticker,adv_usd\n2024-01-02,N00,5\n",
    "twice": "date,ticker,pb\n2024-01-02,N00,1.5\n2024-01-03,N01,1\n2024-01-02,N00,2\n",
}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--signals", "{ticker}"], "row 3, column 'ticker': ticker 'ZZZ' is not in the universe"),
        (["--signals", "{cell}"], "row 2, column 'pb': expected a number, got 'abc'"),
        (["--signals", "{range}"], "row 2, column 'adv': expected a number >= 0, got '-5'"),
        (["--signals", "{column}"], "column 'adv_usd': expected columns among market_cap"),
        (["--signals", "{twice}"], "row 4, column 'date': ticker 'N00' is dated 2024-01-02 twice"),
        (
            ["--total-return", "--dividends", "{dividends}"],
            "--total-return: the prices already include dividends",
        ),
    ],
)
def test_bad_signals_are_one_line_and_write_nothing(tmp_path, options, expected):
    paths = _market(tmp_path)
    files = {name: tmp_path / f"{name}.csv" for name in (*BAD_SIGNALS, "dividends")}
    for name, text in BAD_SIGNALS.items():
        files[name].write_text(text)
    files["dividends"].write_text("date,ticker,amount\n2024-02-09,N00,0.4\n")
    options = [str(o).format(**files) for o in options]
    out = tmp_path / "out"
    args = _args(paths, "--scenario", paths["tilt"], "--start", START, "--end", END, *options,
                 "--json", out / "bt.json", "--log-dir", out / "log")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "rebalancer.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], lines
    assert not out.exists()
