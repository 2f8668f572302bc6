"""``rebalancer backtest``: checked from its written logs, the price file and the
holdings file alone, never against its own figures.

A generated market: 24 names, two years of daily closes (a seeded random walk), an
equal-weight benchmark, one tax-exempt account holding 12 names and cash. The
backtest runs as a command (real cvxpy, real files) under a scenario of its own, the
shipped ``status_quo.yaml`` and a scenario no portfolio can meet (a tilt on a sector
the universe lacks, every date held). Taxable lots across a year end, a dividends
file and a cash-request schedule run on the same market, each on its own short
window. The module takes about 35-65 s on two cores.
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

from tests.conftest import ROOT, SCENARIOS, run_cli, write_scenario

SECTORS = ["Energy", "Financials", "Health Care", "Industrials", "Information Technology"]
N_NAMES = 24
ACCOUNT = "BT1"
RATE = 0.02
START, END = "2024-01-15", "2024-06-28"
TRADING_DAYS = 252


def _market(folder: Path, seed: int = 3) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2023-01-02", "2024-12-31")
    tickers = [f"N{i:02d}" for i in range(N_NAMES)]
    drift = rng.normal(0.0003, 0.0002, N_NAMES)
    common = rng.normal(0.0, 0.009, len(dates))[:, None]
    steps = drift + common + rng.normal(0.0, 0.012, (len(dates), N_NAMES))
    closes = np.round(rng.uniform(20, 150, N_NAMES) * np.exp(np.cumsum(steps, axis=0)), 2)
    prices = pd.DataFrame(closes, index=dates.rename("date"), columns=tickers)
    caps = np.exp(np.linspace(np.log(5e8), np.log(2e11), N_NAMES))
    universe = pd.DataFrame(
        {
            "ticker": tickers,
            "price": closes[-1],
            "sector": [SECTORS[i % len(SECTORS)] for i in range(N_NAMES)],
            "region": "US",
            "market_cap": caps,
            "adv": caps * 0.004,
            "pb": rng.lognormal(1.0, 0.5, N_NAMES).round(3),
            "roa": rng.normal(0.05, 0.03, N_NAMES).round(4),
            "momentum": rng.normal(0.0, 0.2, N_NAMES).round(4),
        }
    )
    start_px = prices.loc[START]
    held = tickers[::2]
    holdings = pd.DataFrame(
        {
            "account": ACCOUNT,
            "ticker": held,
            "quantity": [np.floor(20_000 / start_px[t]) for t in held],
        }  # fmt: skip
    )
    holdings = pd.concat(
        [holdings, pd.DataFrame({"account": [ACCOUNT], "ticker": ["CASH"], "quantity": [15_000.0]})]
    )
    bench = pd.DataFrame({"ticker": tickers, "weight": 1.0 / N_NAMES})
    paths = {name: folder / f"{name}.csv" for name in ("prices", "universe", "holdings", "bench")}
    prices.to_csv(paths["prices"], date_format="%Y-%m-%d")
    universe.to_csv(paths["universe"], index=False)
    holdings.to_csv(paths["holdings"], index=False)
    bench.to_csv(paths["bench"], index=False)
    paths["tilt"] = write_scenario(
        folder / "tilt.yaml",
        "extends: base.yaml\nname: tilt\nrisk_aversion: 2\n"
        "constraints: {max_position: 0.10, max_turnover: 0.25, min_trade_usd: 200}\n"
        "tilts:\n  'sector:Energy': {target: 0.04, band: 0.02}\n",
    )
    paths["impossible"] = write_scenario(
        folder / "impossible.yaml",
        "extends: base.yaml\nname: impossible\n"
        "tilts:\n  'sector:Utilities': {target: 0.05, band: 0.01}\n",
    )
    return paths


def _args(paths, *extra, status="--tax-exempt"):
    return ["backtest", "--holdings", paths["holdings"], "--universe", paths["universe"],
            "--prices", paths["prices"], "--benchmark", paths["bench"], status,
            "-q", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest")
    paths = _market(folder)
    out = folder / "out"
    result = run_cli(
        *_args(paths, "--scenario", paths["tilt"], "--scenario", SCENARIOS / "status_quo.yaml",
               "--scenario", paths["impossible"], "--start", START, "--end", END,
               "--every", "month", "--cash-rate", str(RATE), "--json", out / "bt.json",
               "--out", out / "bt.xlsx", "--chart", out / "bt.png", "--log-dir", out / "log"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return paths, out, json.loads((out / "bt.json").read_text())


def _closes(paths, dates) -> pd.DataFrame:
    prices = pd.read_csv(paths["prices"], index_col="date", parse_dates=True)
    return prices.ffill().loc[dates]


def _replay(paths, out, label, dates, rate=RATE, paid=None, dividends=None, requests=None,
            income=None):  # fmt: skip
    """The NAV path and each rebalance's turnover, recomputed from the holdings file,
    the order log and the price file (``paid``: the tax paid from cash per date, after
    the day's trades; ``dividends``: the dividends file, per share on the shares held
    at the close before the first price date on or after the ex-date; ``requests``:
    per date, the withdrawal and deposit booked with its trades; ``income``: a dict
    filled with each calendar year's [dividends, interest]); the money invariants and
    the position log (after the day's trades and tax) checked at every date."""
    paid, requests = paid or {}, requests or {}
    closes = _closes(paths, dates)
    orders = pd.read_csv(out / "log" / "orders.csv", parse_dates=["date"])
    orders = orders[orders["scenario"] == label]
    logged = pd.read_csv(out / "log" / "positions.csv", parse_dates=["date"])
    logged = logged[logged["scenario"] == label]
    holdings = pd.read_csv(paths["holdings"])
    cash = float(holdings.loc[holdings["ticker"] == "CASH", "quantity"].sum())
    shares = holdings[holdings["ticker"] != "CASH"].groupby("ticker")["quantity"].sum()
    shares = shares.reindex(closes.columns, fill_value=0.0)
    nav, turnover = [], []
    for k, day in enumerate(dates):
        year = (income if income is not None else {}).setdefault(day.year, [0.0, 0.0])
        if k:
            grown = cash * (1 + rate) ** ((day - dates[k - 1]).days / 365)
            year[1] += grown - cash
            cash = grown
        px = closes.loc[day]
        if k and dividends is not None:
            due = dividends[(dividends["date"] > dates[k - 1]) & (dividends["date"] <= day)]
            credited = float((shares[due["ticker"]].to_numpy() * due["amount"].to_numpy()).sum())
            cash += credited
            year[0] += credited
        before = float(shares @ px) + cash
        if k == 0:
            nav.append(before)
        withdraw, deposit = requests.get(day, (0.0, 0.0))
        cash += deposit - withdraw
        before += deposit - withdraw
        today = orders[orders["date"] == day]
        if len(today):
            assert np.allclose(today["price"], px[today["ticker"]].to_numpy(), rtol=1e-12)
            signed = np.where(today["side"] == "BUY", 1.0, -1.0) * today["quantity"].to_numpy()
            delta = pd.Series(signed, index=today["ticker"]).groupby(level=0).sum()
            shares = shares.add(delta.reindex(shares.index, fill_value=0.0))
            assert (shares >= -1e-9).all(), f"{label} {day:%Y-%m-%d}: sold more than held"
            notional = signed * today["price"].to_numpy()
            cost = today["cost"].to_numpy()
            assert (cost >= 0).all()
            cash -= notional.sum() + cost.sum()
            assert cash >= -1e-6, f"{label} {day:%Y-%m-%d}: cash below 0"
            after = float(shares @ px) + cash
            # the money invariant: trading at the close costs the NAV its costs, no more
            # (the day's withdrawal has left, its deposit arrived)
            assert after == pytest.approx(before - cost.sum(), rel=1e-12, abs=1e-6)
            turnover.append(np.abs(notional).sum() / (2 * before))
        cash -= paid.get(day, 0.0)  # the year's tax, after the day's trades
        snapshot = logged[logged["date"] == day]
        if len(snapshot):  # the position log agrees with the replay
            got = snapshot.set_index("ticker")["quantity"]
            assert got.get("CASH", 0.0) == pytest.approx(cash, rel=1e-9, abs=1e-6)
            held = shares[shares > 1e-9]
            assert got.drop("CASH").sort_index().to_dict() == pytest.approx(
                held.sort_index().to_dict()
            )
            assert np.allclose(snapshot.set_index("ticker")["price"].drop("CASH"),
                               px[got.drop("CASH").index])  # fmt: skip
        if k:
            nav.append(float(shares @ px) + cash)
    return np.array(nav), turnover, orders


def _figures(nav, bench_r=None):
    r = nav[1:] / nav[:-1] - 1
    years = (len(nav) - 1) / TRADING_DAYS
    peak = np.maximum.accumulate(nav)
    out = {
        "final_nav": nav[-1],
        "annual_return": (nav[-1] / nav[0]) ** (1 / years) - 1,
        "volatility": r.std(ddof=1) * np.sqrt(TRADING_DAYS),
        "max_drawdown": (1 - nav / peak).max(),
    }
    if bench_r is not None:
        out["tracking_error"] = (r - bench_r).std(ddof=1) * np.sqrt(TRADING_DAYS)
    return out


def test_logs_replay_to_every_figure(run):
    paths, out, summary = run
    dates = pd.DatetimeIndex(summary["nav"]["date"])
    assert dates[0] >= pd.Timestamp(START) and dates[-1] <= pd.Timestamp(END)
    closes = _closes(paths, dates)
    bench = pd.read_csv(paths["bench"]).set_index("ticker")["weight"]
    bench_r = (closes.pct_change().iloc[1:] @ bench.reindex(closes.columns)).to_numpy()
    for label in ("tilt", "status_quo", "impossible"):
        nav, turnover, orders = _replay(paths, out, label, dates)
        got = summary["scenarios"][label]
        assert np.allclose(summary["nav"][label], nav, rtol=1e-10)
        for key, value in _figures(nav, bench_r).items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (label, key)
        assert got["turnover"] == pytest.approx(sum(turnover), rel=1e-9, abs=1e-12)
        assert got["costs"] == pytest.approx(orders["cost"].sum(), rel=1e-9, abs=1e-9)
        assert got["taxes"] == 0.0  # a tax-exempt account
    assert summary["scenarios"]["tilt"]["n_orders"] > 0
    # holding the starting portfolio: no orders, cash at the rate
    hold = summary["hold"]
    held_nav = np.array(summary["nav"]["hold"])
    for key, value in _figures(held_nav, bench_r).items():
        assert hold[key] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert hold["turnover"] == 0 and hold["costs"] == 0


def test_an_infeasible_date_is_held_and_listed(run):
    _, out, summary = run
    impossible = summary["scenarios"]["impossible"]
    month_starts = pd.DatetimeIndex(summary["nav"]["date"]).to_period("M").unique()
    assert len(impossible["held_dates"]) == len(month_starts)
    assert all("sector:Utilities" in d["conflict"] for d in impossible["held_dates"])
    assert impossible["n_orders"] == 0 and impossible["rebalances"] == 0
    assert np.allclose(summary["nav"]["impossible"], summary["nav"]["hold"], rtol=1e-12)
    assert "no dated signals file" in " ".join(summary["warnings"])
    from openpyxl import load_workbook

    book = load_workbook(out / "bt.xlsx", read_only=True)
    assert book.sheetnames == ["Comparison", "tilt", "status_quo", "impossible", "Warnings"]
    header = next(book["Comparison"].iter_rows(max_row=1, values_only=True))
    assert list(header) == ["figure", "tilt", "status_quo", "impossible", "hold"]
    assert (out / "bt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_look_ahead(tmp_path):
    """Prices changed after a rebalance date t: the orders at t and before are the same."""
    from rebalancer.pipeline import load_inputs
    from rebalancer.runs.backtest.engine import run_backtest

    paths = _market(tmp_path)
    data = load_inputs(paths["holdings"], paths["universe"], paths["prices"], paths["bench"])
    kwargs = {"start": START, "end": "2024-04-30", "every": "month", "taxable": False}
    first = run_backtest(data, [paths["tilt"]], **kwargs).runs[0].orders
    t = pd.Timestamp("2024-03-01")
    assert (first["date"] == t).any() and (first["date"] < t).any()
    prices = data.prices.copy()
    later = prices.index > t
    rng = np.random.default_rng(11)
    prices.loc[later] = prices.loc[later] * rng.uniform(0.6, 1.4, (later.sum(), prices.shape[1]))
    changed = load_inputs(paths["holdings"], paths["universe"], prices, paths["bench"])
    second = run_backtest(changed, [paths["tilt"]], **kwargs).runs[0].orders
    upto = first[first["date"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(upto, second[second["date"] <= t].reset_index(drop=True))
    assert not first[first["date"] > t].equals(second[second["date"] > t].reset_index(drop=True))


def test_drift_rebalances_only_out_of_tolerance(tmp_path):
    from rebalancer.pipeline import load_inputs
    from rebalancer.runs.backtest.engine import run_backtest

    paths = _market(tmp_path)
    data = load_inputs(paths["holdings"], paths["universe"], paths["prices"], paths["bench"])
    bt = run_backtest(data, [paths["tilt"]], start=START, end="2024-04-30", every="drift",
                      taxable=False)  # fmt: skip
    events = bt.runs[0].events
    assert len(events) == 4  # one drift check on each month's first price date
    assert set(events["action"]) <= {"rebalanced", "in tolerance", "held"}
    # the starting account (12 of 24 benchmark names) is out of tolerance at once
    assert events["action"].iloc[0] == "rebalanced"
    checked = events[events["action"] == "in tolerance"]
    assert all(text.startswith("within every trigger") for text in checked["detail"])


def _year_tax(short, long, carry, st_rate=0.37, lt_rate=0.20):
    """A year's tax by the documented netting: each term's net with its carried loss,
    a net loss of one term against a net gain of the other, losses carried on."""
    s, lt = short + carry[0], long + carry[1]
    if s < 0 < lt:
        s, lt = (0.0, s + lt) if s + lt >= 0 else (s + lt, 0.0)
    elif lt < 0 < s:
        s, lt = (s + lt, 0.0) if s + lt >= 0 else (0.0, s + lt)
    return st_rate * max(s, 0) + lt_rate * max(lt, 0), (min(s, 0), min(lt, 0))


@pytest.mark.parametrize(
    ("short", "long", "carry", "tax", "carried"),
    [
        (-100.0, 500.0, (0.0, 0.0), 0.20 * 400, (0.0, 0.0)),  # ST loss against LT gain
        (500.0, -100.0, (0.0, 0.0), 0.37 * 400, (0.0, 0.0)),  # LT loss against ST gain
        (300.0, -500.0, (0.0, 0.0), 0.0, (0.0, -200.0)),  # what is left keeps its term
        (-300.0, 100.0, (0.0, 0.0), 0.0, (-200.0, 0.0)),
        (100.0, 50.0, (0.0, -200.0), 0.0, (0.0, -50.0)),  # a carried loss, used first
        (1000.0, 1000.0, (-300.0, -400.0), 0.37 * 700 + 0.20 * 600, (0.0, 0.0)),
    ],
)
def test_a_year_s_tax_by_hand(short, long, carry, tax, carried):
    from rebalancer.runs.backtest.engine import year_tax
    from rebalancer.scenario.schema import Tax

    got, *out = year_tax(short, long, *carry, Tax(short_term_rate=0.37, long_term_rate=0.20))
    assert got == pytest.approx(tax) and tuple(out) == pytest.approx(carried)


def _check_sales(paths, out, label):
    """Every lot sold, replayed from the holdings file's lots and the logged buys
    (FIFO or optimized: the log names each lot by ticker, acquisition date and basis
    per share): the lot existed with those shares, its gain and term are right, and
    the sales add up to the SELL orders. Returns the sales."""
    holdings = pd.read_csv(paths["holdings"], parse_dates=["acquired"])
    orders = pd.read_csv(out / "log" / "orders.csv", parse_dates=["date"])
    orders = orders[orders["scenario"] == label]
    sales = pd.read_csv(out / "log" / "sales.csv", parse_dates=["date", "acquired"])
    sales = sales[sales["scenario"] == label]
    stock = holdings[holdings["ticker"] != "CASH"]
    lots = [[t, q, b / q, a] for t, q, b, a in
            stock[["ticker", "quantity", "cost_basis", "acquired"]].itertuples(index=False)]  # fmt: skip
    for day in sorted(set(orders["date"])):
        today = sales[sales["date"] == day]
        for sale in today.itertuples(index=False):
            assert sale.gain == pytest.approx(sale.quantity * sale.price - sale.cost_basis,
                                              rel=1e-9, abs=1e-6)  # fmt: skip
            long = day > sale.acquired + pd.DateOffset(years=1)
            assert sale.term == ("LT" if long else "ST")
            per_share = sale.cost_basis / sale.quantity
            match = [lot for lot in lots if lot[0] == sale.ticker and lot[3] == sale.acquired
                     and abs(lot[2] - per_share) <= 1e-6 * per_share
                     and lot[1] >= sale.quantity - 1e-6]  # fmt: skip
            assert match, f"{label} {day:%Y-%m-%d}: a sale of a lot never held {sale}"
            match[0][1] -= sale.quantity
        placed = orders[orders["date"] == day]
        sells = placed[placed["side"] == "SELL"].groupby("ticker")["quantity"].sum()
        sold = today.groupby("ticker")["quantity"].sum()
        assert sold.sort_index().to_dict() == pytest.approx(sells.sort_index().to_dict())
        price = placed.set_index("ticker")["price"]
        assert np.allclose(today["price"], price[today["ticker"]].to_numpy(), rtol=1e-9)
        for buy in placed[placed["side"] == "BUY"].itertuples(index=False):
            lots.append([buy.ticker, buy.quantity, buy.price, day])
    return sales


@pytest.mark.parametrize(
    ("basis", "cash", "extra", "every", "rebalances"),
    [
        # half the lots at a loss, half at a gain, some short-term
        ((1.2, 0.5), 15_000.0, "", "quarter", 2),  # 2023-10-02 and 2024-01-02
        # large gains and almost no cash: the tax leaves cash below 0, the next
        # rebalance raises it (and the last year's is owed at the end)
        ((0.2, 0.2), 1_000.0, "constraints: {cash: {target: 0.001, min: 0.0}}\n", "month", 6),
    ],
)
def test_a_taxable_account_pays_its_yearly_tax(tmp_path, basis, cash, extra, every, rebalances):
    """Lots with a cost basis, rebalanced across a year end: the lots sold replay from
    the holdings and the order log, each year's tax is recomputed from them and is paid
    from cash in the NAV path."""
    paths = _market(tmp_path)
    holdings = pd.read_csv(paths["holdings"])
    start = "2023-10-02"
    start_px = pd.read_csv(paths["prices"], index_col="date").loc[start]
    stock = holdings["ticker"] != "CASH"
    holdings.loc[~stock, "quantity"] = cash
    value = holdings.loc[stock, "quantity"] * start_px[holdings.loc[stock, "ticker"]].to_numpy()
    holdings.loc[stock, "cost_basis"] = value * np.where(np.arange(stock.sum()) % 2, *basis)
    holdings.loc[stock, "acquired"] = np.where(
        np.arange(stock.sum()) % 3, "2022-03-01", "2023-06-01"
    )
    holdings.to_csv(paths["holdings"], index=False)
    # taxes weigh little against the tilt, so gains are realised as well as losses
    taxed = write_scenario(
        tmp_path / "taxed.yaml", f"extends: tilt.yaml\nname: taxed\ntax: {{weight: 0.02}}\n{extra}"
    )
    out = tmp_path / "out"
    result = run_cli(*_args(paths, "--scenario", taxed, "--start", start, "--end",
                            "2024-03-28", "--every", every, "--json", out / "bt.json",
                            "--log-dir", out / "log", status="--taxable"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "bt.json").read_text())
    dates = pd.DatetimeIndex(summary["nav"]["date"])
    sales = _check_sales(paths, out, "taxed")
    assert len(sales) > 0, summary["scenarios"]
    taxes = pd.read_csv(out / "log" / "taxes.csv", parse_dates=["date"])
    assert list(taxes["date"].dt.strftime("%Y-%m-%d")) == ["2023-12-29", "2024-03-28"]
    carry, paid = (0.0, 0.0), {}
    for row in taxes.itertuples(index=False):
        year = sales[sales["date"].dt.year == row.date.year]
        short = year.loc[year["term"] == "ST", "gain"].sum()
        long = year.loc[year["term"] == "LT", "gain"].sum()
        assert (row.short_term_gain, row.long_term_gain) == pytest.approx((short, long), abs=1e-6)
        tax, carry = _year_tax(short, long, carry)
        assert row.tax_usd == pytest.approx(tax, rel=1e-9, abs=1e-6)
        paid[row.date] = tax
    nav, turnover, orders = _replay(paths, out, "taxed", dates, rate=0.0, paid=paid)
    got = summary["scenarios"]["taxed"]
    assert np.allclose(summary["nav"]["taxed"], nav, rtol=1e-10)
    assert got["turnover"] == pytest.approx(sum(turnover), rel=1e-9)
    assert got["rebalances"] == rebalances and len(orders) > 0
    if cash < 10_000:  # the first year's tax exceeded the cash logged before it
        logged = pd.read_csv(out / "log" / "positions.csv", parse_dates=["date"])
        before = logged[(logged["ticker"] == "CASH") & (logged["date"] < "2023-12-29")]
        assert paid[pd.Timestamp("2023-12-29")] > before["quantity"].iloc[-1]
    assert got["taxes"] > 0
    assert got["taxes"] == pytest.approx(sum(paid.values()), rel=1e-9, abs=1e-9)
    assert got["realized_gain"] == pytest.approx(sales["gain"].sum(), rel=1e-9, abs=1e-6)
    after = got["after_tax"]
    assert after["annual_return"] == got["annual_return"]
    back = np.array([paid.get(d, 0.0) for d in dates])
    growth = np.prod((nav[1:] + back[1:]) / nav[:-1])
    assert after["before_tax_annual_return"] == pytest.approx(
        growth ** (TRADING_DAYS / (len(nav) - 1)) - 1, rel=1e-9
    )
    assert summary["hold"]["taxes"] == 0.0


def _dividends(folder: Path) -> Path:
    """Quarterly dividends on a few names: one ex-date a Saturday (paid on the Monday),
    one before the window and one after it (both ignored), one on a name never held."""
    rows = [("2024-02-09", "N00", 0.40), ("2024-02-10", "N02", 0.55), ("2024-03-15", "N04", 1.10),
            ("2024-03-15", "N01", 0.30), ("2024-01-10", "N06", 0.50), ("2024-05-15", "N08", 0.70),
            ("2024-04-12", "N10", 0.25)]  # fmt: skip
    path = folder / "dividends.csv"
    pd.DataFrame(rows, columns=["date", "ticker", "amount"]).to_csv(path, index=False)
    return path


def test_dividends_are_credited_to_cash(tmp_path):
    """The NAV path recomputed with the dividends file: each ex-date's dividend on the
    shares held at the close before it, in cash on the first price date on or after it."""
    paths = _market(tmp_path)
    dividends = _dividends(tmp_path)
    out = tmp_path / "out"
    end = "2024-04-30"
    result = run_cli(*_args(paths, "--scenario", paths["tilt"], "--start", START, "--end", end,
                            "--every", "month", "--dividends", dividends, "--json",
                            out / "bt.json", "--log-dir", out / "log"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "bt.json").read_text())
    dates = pd.DatetimeIndex(summary["nav"]["date"])
    table = pd.read_csv(dividends, parse_dates=["date"])
    nav, turnover, _ = _replay(paths, out, "tilt", dates, rate=0.0, dividends=table)
    got = summary["scenarios"]["tilt"]
    assert np.allclose(summary["nav"]["tilt"], nav, rtol=1e-10)
    assert got["turnover"] == pytest.approx(sum(turnover), rel=1e-9)
    assert got["dividends"] > 0
    for key, value in _figures(nav).items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # hold: the starting shares throughout, so its dividends are the file's (in window)
    holdings = pd.read_csv(paths["holdings"]).set_index("ticker")["quantity"]
    inside = table[(table["date"] > dates[0]) & (table["date"] <= dates[-1])]
    expected = float(
        holdings.reindex(inside["ticker"], fill_value=0.0).to_numpy() @ inside["amount"]
    )
    assert summary["hold"]["dividends"] == pytest.approx(expected, rel=1e-12)
    assert summary["nav"]["hold"][-1] == pytest.approx(
        float(holdings.drop("CASH") @ _closes(paths, dates).iloc[-1][holdings.drop("CASH").index])
        + holdings["CASH"] + expected, rel=1e-12)  # fmt: skip


def test_a_cash_schedule_moves_cash_through_the_proposals(tmp_path):
    """Requests passed to the proposal of the first rebalance date on or after them:
    the withdrawal leaves and the deposit arrives with that day's trades (the money
    invariants hold with them), the NAV path recomputes, the returns are time-weighted."""
    paths = _market(tmp_path)
    schedule = tmp_path / "schedule.csv"
    schedule.write_text("date,withdraw_usd,deposit_usd\n2024-02-10,40000,\n"
                        "2024-02-20,,5000\n2024-03-01,,25000\n")  # fmt: skip
    out = tmp_path / "out"
    result = run_cli(*_args(paths, "--scenario", paths["tilt"], "--start", START, "--end",
                            "2024-04-30", "--every", "month", "--cash-schedule", schedule,
                            "--json", out / "bt.json", "--log-dir", out / "log"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "bt.json").read_text())
    dates = pd.DatetimeIndex(summary["nav"]["date"])
    # all three on the first price date of March: 40,000 out, 30,000 in
    requests = {pd.Timestamp("2024-03-01"): (40_000.0, 30_000.0)}
    nav, turnover, orders = _replay(paths, out, "tilt", dates, rate=0.0, requests=requests)
    got = summary["scenarios"]["tilt"]
    assert np.allclose(summary["nav"]["tilt"], nav, rtol=1e-10)
    assert got["turnover"] == pytest.approx(sum(turnover), rel=1e-9)
    assert got["net_deposits"] == pytest.approx(-10_000.0)
    assert (orders["date"] == pd.Timestamp("2024-03-01")).any()
    flows = np.where(dates == pd.Timestamp("2024-03-01"), -10_000.0, 0.0)
    r = (nav[1:] - flows[1:]) / nav[:-1] - 1
    growth = np.prod(1 + r)
    assert got["total_return"] == pytest.approx(growth - 1, rel=1e-9)
    assert got["annual_return"] == pytest.approx(growth ** (TRADING_DAYS / len(r)) - 1, rel=1e-9)
    assert got["volatility"] == pytest.approx(r.std(ddof=1) * np.sqrt(TRADING_DAYS), rel=1e-9)
    # hold books the same requests to its cash
    held = np.array(summary["nav"]["hold"])
    k = int(np.flatnonzero(dates == pd.Timestamp("2024-03-01"))[0])
    closes = _closes(paths, dates)
    start = pd.read_csv(paths["holdings"]).set_index("ticker")["quantity"]
    value = closes[start.drop("CASH").index] @ start.drop("CASH") + start["CASH"]
    assert np.allclose(held, value.to_numpy() + np.where(np.arange(len(dates)) >= k, -1e4, 0.0))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--start", "2025-03-03", "--end", "2025-06-30"], "the window holds 0 price date"),
        (["--start", "2022-06-01", "--end", "2024-06-30"], "is before the first price date"),
        (["--start", START, "--end", END, "--every", "weekly"], "--every weekly"),
        (
            ["--start", START, "--end", END, "--dividends", "{dividends}"],
            "row 3, column 'ticker': ticker 'ZZZ' is not in the universe",
        ),
        (
            ["--start", START, "--end", END, "--cash-schedule", "{schedule}"],
            "row 2, column 'date': 2024-07-01 is outside the window",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, options, expected):
    """As a process: stderr is the one error line (no progress bar), exit 1."""
    paths = _market(tmp_path)
    files = {"dividends": tmp_path / "div.csv", "schedule": tmp_path / "schedule.csv"}
    files["dividends"].write_text("date,ticker,amount\n2024-02-09,N00,0.4\n2024-03-15,ZZZ,1\n")
    files["schedule"].write_text("date,withdraw_usd\n2024-07-01,1000\n")
    options = [str(o).format(**files) for o in options]
    out = tmp_path / "out"
    args = _args(paths, "--scenario", paths["tilt"], *options, "--json", out / "bt.json",
                 "--log-dir", out / "log")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "rebalancer.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], lines
    assert not out.exists()
