"""The example accounts under smallcap_rerating, end to end through the CLI.

Every limit is re-measured here from the written trades CSV, workbook and JSON
and the input files, read with pandas — never from the optimizer's variables.
"""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from rebalancer.export.xlsx import LOT_COLUMNS
from rebalancer.model.risk import build_risk_model
from rebalancer.scenario import load_scenario
from tests.conftest import EXAMPLES, SCENARIOS, run_cli
from tests.sheets import table
from tests.test_properties import strictest

ACCOUNTS = ["IRA-250K", "TAX-2M", "FDN-20M"]
SCENARIO = SCENARIOS / "smallcap_rerating.yaml"
CENT = 0.005


@pytest.fixture(scope="module")
def inputs():
    uni = pd.read_csv(
        EXAMPLES / "universe.csv",
        keep_default_na=False,
        na_values={"pb": [""], "pe": [""], "momentum": [""]},
    ).set_index("ticker")
    hold = pd.read_csv(EXAMPLES / "holdings.csv", keep_default_na=False, na_values=[""])
    bench = pd.read_csv(EXAMPLES / "benchmark.csv").set_index("ticker")["weight"]
    scen = load_scenario(SCENARIO)
    b = scen.size_buckets
    cap = uni["market_cap"]
    uni["size"] = np.where(
        cap >= b["large"],
        "large",
        np.where(cap >= b["mid"], "mid", np.where(cap >= b["small"], "small", "micro")),
    )
    return uni, hold, bench, scen


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("proposals")
    results = {}
    for account in ACCOUNTS:
        paths = {
            "xlsx": out / f"{account}.xlsx",
            "csv": out / f"{account}.csv",
            "json": out / f"{account}.json",
        }
        result = run_cli(
            "propose",
            "--holdings",
            EXAMPLES / "holdings.csv",
            "--universe",
            EXAMPLES / "universe.csv",
            "--prices",
            EXAMPLES / "prices.csv",
            "--benchmark",
            EXAMPLES / "benchmark.csv",
            "--scenario",
            SCENARIO,
            "--account",
            account,
            "--as-of",
            "2026-11-20",
            "--out",
            paths["xlsx"],
            "--trades",
            paths["csv"],
            "--json",
            paths["json"],
            "--quiet",
        )
        assert result.exit_code == 0, result.output
        results[account] = paths
    return results


def _state(account, inputs, written):
    """Before/after shares, cash and weights rebuilt from the input files and the CSV."""
    uni, hold, bench, scen = inputs
    lots = hold[hold["account"] == account]
    is_cash = lots["ticker"] == "CASH"
    cash_before = lots.loc[is_cash, "quantity"].sum()
    before = lots[~is_cash].groupby("ticker")["quantity"].sum().reindex(uni.index, fill_value=0.0)
    trades = pd.read_csv(written[account]["csv"], keep_default_na=False, na_values=[""])
    signed = np.where(trades["side"] == "BUY", 1, -1) * trades["quantity"]
    delta = pd.Series(signed.to_numpy(), index=trades["ticker"]).groupby(level=0).sum()
    after = before + delta.reindex(uni.index, fill_value=0.0)
    price = uni["price"]
    nav = float((before * price).sum() + cash_before)
    buys = trades.loc[trades["side"] == "BUY", "notional"].sum()
    sells = trades.loc[trades["side"] == "SELL", "notional"].sum()
    cash_after = cash_before - buys + sells
    return {
        "trades": trades,
        "before": before,
        "after": after,
        "nav": nav,
        "cash_before": cash_before,
        "cash_after": cash_after,
        "buys": buys,
        "sells": sells,
        "w_before": before * price / nav,
        "w_after": after * price / nav,
        "ref": bench.reindex(uni.index, fill_value=0.0),
    }


def _participation(uni, scen):
    """Per-name participation limit: the strictest of the groups it belongs to."""
    limits = scen.constraints.liquidity.max_participation
    return pd.Series(strictest(uni, limits), index=uni.index)


@pytest.mark.parametrize("account", ACCOUNTS)
def test_trades_are_priced_at_the_universe_and_add_up(account, inputs, written):
    uni = inputs[0]
    s = _state(account, inputs, written)
    t = s["trades"]
    assert len(t) > 0
    assert (t["quantity"] > 0).all()
    assert np.allclose(t["price"], uni["price"].reindex(t["ticker"]).to_numpy())
    assert np.abs(t["quantity"] * t["price"] - t["notional"]).max() <= CENT
    assert t["ticker"].is_unique


@pytest.mark.parametrize("account", ACCOUNTS)
def test_money_invariants_hold_on_the_final_trades(account, inputs, written):
    _, hold, _, scen = inputs
    s = _state(account, inputs, written)
    assert (s["after"] >= -1e-9).all(), "no short position"
    assert s["cash_after"] >= scen.constraints.cash.min * s["nav"] - CENT, "cash floor"
    summary = json.loads(written[account]["json"].read_text())
    assert summary["cash_after"] == pytest.approx(s["cash_after"], abs=CENT)
    assert summary["nav"] == pytest.approx(s["nav"], rel=1e-12)
    assert summary["n_trades"] == len(s["trades"])
    assert summary["est_cost"] == pytest.approx(s["trades"]["est_cost"].sum(), rel=1e-9)


@pytest.mark.parametrize("account", ACCOUNTS)
def test_no_lot_is_oversold(account, inputs, written):
    _, hold, _, _ = inputs
    wb = openpyxl.load_workbook(written[account]["xlsx"], read_only=True)
    s = _state(account, inputs, written)
    sells = s["trades"][s["trades"]["side"] == "SELL"].set_index("ticker")["quantity"]
    if "Tax" not in wb.sheetnames:
        assert sells.empty
        return
    sales = table(wb["Tax"], LOT_COLUMNS)
    sales["quantity_sold"] = sales["quantity_sold"].astype(float)
    lots = hold[hold["account"] == account].copy()
    lots["lot_id"] = lots["account"] + ":" + (lots.index + 2).astype(str)
    held = lots.set_index("lot_id")["quantity"]
    sold = sales.groupby("lot_id")["quantity_sold"].sum()
    assert (sold <= held.reindex(sold.index) + 1e-9).all()
    per_ticker = sales.groupby("ticker")["quantity_sold"].sum()
    assert np.allclose(per_ticker.reindex(sells.index).to_numpy(), sells.to_numpy())


@pytest.mark.parametrize("account", ACCOUNTS)
def test_every_limit_holds_on_the_rounded_trades(account, inputs, written):
    uni, _, _, scen = inputs
    c = scen.constraints
    s = _state(account, inputs, written)
    t = s["trades"]

    turnover = (s["buys"] + s["sells"]) / (2 * s["nav"])
    assert turnover <= c.max_turnover + 1e-9

    cap = (
        _participation(uni, scen).reindex(t["ticker"]).to_numpy()
        * uni["adv"].reindex(t["ticker"]).to_numpy()
        * c.liquidity.days
    )
    assert (t["notional"].to_numpy() <= cap + CENT).all(), "participation of ADV"

    assert s["w_after"].max() <= c.max_position.default + 1e-9
    assert s["w_after"].groupby(uni["sector"]).sum().max() <= c.sector_max + 1e-9

    small_orders = (t["notional"] < c.min_trade_usd) & ~np.isclose(
        s["after"].reindex(t["ticker"]).to_numpy(), 0.0
    )
    assert not small_orders.any()

    restricted = uni["restricted"].reindex(t["ticker"]).to_numpy()
    assert not ((restricted == "no_buy") & (t["side"] == "BUY").to_numpy()).any()

    active = s["w_after"] - s["ref"]
    for text, tilt in scen.tilts.items():
        bucket = text.split(":")[1]
        exposure = active[uni["size"] == bucket].sum()
        assert tilt.target - tilt.band - 1e-9 <= exposure <= tilt.target + tilt.band + 1e-9, text


@pytest.mark.parametrize("account", ACCOUNTS)
def test_tracking_error_is_within_its_limit(account, inputs, written):
    uni, _, _, scen = inputs
    s = _state(account, inputs, written)
    prices = pd.read_csv(EXAMPLES / "prices.csv", index_col="date", parse_dates=True)
    model = build_risk_model(uni, prices)
    # dense Σ = B F Bᵀ + diag(d), formed here on purpose to check the factor-form algebra too
    sigma = model.loadings @ model.factor_cov @ model.loadings.T + np.diag(model.specific_var)
    a = (s["w_after"] - s["ref"]).to_numpy()
    te = float(np.sqrt(a @ sigma @ a))
    assert te <= scen.constraints.max_tracking_error * (1 + 1e-6)
    summary = json.loads(written[account]["json"].read_text())
    assert summary["tracking_error"] == pytest.approx(te, rel=1e-6)


@pytest.mark.parametrize("account", ACCOUNTS)
def test_small_cap_exposure_moves_toward_its_target(account, inputs, written):
    uni, _, _, scen = inputs
    s = _state(account, inputs, written)
    small = uni["size"] == "small"
    target = scen.tilts["size:small"].target
    before = (s["w_before"] - s["ref"])[small].sum()
    after = (s["w_after"] - s["ref"])[small].sum()
    assert abs(after - target) < abs(before - target)
    assert after > before


@pytest.mark.parametrize("account", ACCOUNTS)
def test_workbook_matches_the_csv_and_every_check_passes(account, written):
    wb = openpyxl.load_workbook(written[account]["xlsx"])
    assert wb.sheetnames[:6] == ["Summary", "Trades", "Exposures", "Holdings", "Scenario", "Checks"]
    sheet = table(wb["Trades"])
    csv = pd.read_csv(written[account]["csv"], keep_default_na=False, na_values=[""])
    assert list(sheet["ticker"]) == list(csv["ticker"])
    assert np.allclose(sheet["notional"].astype(float), csv["notional"])
    assert list(sheet["side"]) == list(csv["side"])
    checks = list(wb["Checks"].values)
    status = [r[checks[0].index("ok")] for r in checks[1:] if r[0]]
    assert status and all(v == "PASS" for v in status)
    summary = json.loads(written[account]["json"].read_text())
    for key in (
        "account",
        "scenario",
        "status",
        "nav",
        "cash_before",
        "cash_after",
        "turnover",
        "n_trades",
        "est_cost",
        "expected_return",
        "volatility",
        "tracking_error",
        "exposures",
        "binding",
        "warnings",
    ):
        assert key in summary
    assert set(summary["exposures"]) == {"before", "after", "target"}
    assert "size:small" in summary["exposures"]["after"]
