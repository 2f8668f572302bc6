"""Trade modes (``propose --mode``, the accounts file's ``mode``): re-measured from the
trades CSV written and the inputs. ``raise-cash`` sells only, ``invest-cash`` buys
only, ``cash-only`` does whichever the cash calls for; a withdrawal is met within one
lot in every mode that sells, a deposit invested to the cash target within one lot
per name; on a taxable account raising cash realises no more gain than a full
rebalance raising the same cash.

The property test samples ``REBALANCER_CASH_EXAMPLES`` random accounts, requests and
modes (default 3; the full run: ``REBALANCER_CASH_EXAMPLES=40``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli, write_scenario
from tests.test_cash_request import (
    EXAMPLES,
    FLOOR,
    MIN_TRADES,
    TARGET,
    args,
    assert_one_line,
    cash_after,
    invested_to_target,
    position,
    random_market,
)

# no minimum trade: every name the optimizer buys is bought to within one lot
NO_MINIMUM = "extends: base.yaml\nconstraints: {min_trade_usd: 0}\n"


@pytest.fixture
def market(market, tmp_path):
    # the shared small market (tests/conftest.py), with the scenario these tests use
    return {**market, "scenario": write_scenario(tmp_path / "s.yaml", NO_MINIMUM)}


def sides(trades_csv) -> set[str]:
    return set(pd.read_csv(trades_csv)["side"])


@pytest.mark.parametrize("mode", ["rebalance", "raise-cash", "cash-only"])
def test_a_withdrawal_is_met_in_every_mode_that_sells(market, tmp_path, mode):
    out = tmp_path / "t.csv"
    extra = ["--withdraw", "70000", "--mode", mode, "--trades", out, "-q"]
    result = run_cli(*args(market, *extra))
    assert result.exit_code == 0, result.output
    nav, after, lot = cash_after(market, out)
    assert after >= FLOOR * (nav - 70_000) + 70_000 - lot
    if mode != "rebalance":
        assert sides(out) == {"SELL"}


@pytest.mark.parametrize("minimum", list(MIN_TRADES))
@pytest.mark.parametrize("mode", ["invest-cash", "cash-only"])
def test_a_deposit_is_invested_to_the_target_without_sales(market, tmp_path, mode, minimum):
    market["scenario"] = write_scenario(tmp_path / "s.yaml", MIN_TRADES[minimum])
    out = tmp_path / "t.csv"
    extra = ["--deposit", "60000", "--mode", mode, "--trades", out, "-q"]
    result = run_cli(*args(market, *extra))
    assert result.exit_code == 0, result.output
    assert sides(out) == {"BUY"}
    # the optimizer's band around the target, and one lot (lot_size 1) per name bought
    invested_to_target(market, out, 60_000)


def test_invest_cash_does_not_spend_the_turnover_cap(market, tmp_path):
    """A deposit of 30% of the NAV is invested whole under a 5% turnover cap."""
    text = "extends: base.yaml\nconstraints: {min_trade_usd: 0, max_turnover: 0.05}\n"
    market["scenario"] = write_scenario(tmp_path / "s.yaml", text)
    nav, _, _ = position(market)
    deposit = round(0.3 * nav, 2)
    out = tmp_path / "t.csv"
    extra = ["--deposit", str(deposit), "--mode", "invest-cash", "--trades", out, "-q"]
    result = run_cli(*args(market, *extra))
    assert result.exit_code == 0, result.output
    nav, after, _ = cash_after(market, out, deposit=deposit)
    trades = pd.read_csv(out)
    assert trades["notional"].sum() / (2 * nav) > 0.05
    assert after <= TARGET * nav + 0.0005 * nav + float(trades["price"].sum())


def test_raise_cash_sells_nothing_without_a_need(market, tmp_path):
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--mode", "raise-cash", "--trades", out, "-q"))
    assert result.exit_code == 0, result.output
    assert "BUY" not in sides(out)


def realized_gain(market, trades_csv) -> float:
    """The gain realised by the trades' sales: one lot per name in these holdings, so
    each sale's basis is its share of the lot's."""
    hold = pd.read_csv(market["holdings"]).query("ticker != 'CASH'").set_index("ticker")
    trades = pd.read_csv(trades_csv).query("side == 'SELL'")
    basis = hold.loc[trades["ticker"], "cost_basis"] / hold.loc[trades["ticker"], "quantity"]
    return float((trades["notional"].to_numpy() - trades["quantity"].to_numpy() * basis).sum())


def test_raise_cash_realises_no_more_than_a_rebalance(market, tmp_path):
    """On a taxable account, the sales of raise-cash realise no more gain than a full
    rebalance raising the same withdrawal (every lot is long-term: one tax rate)."""
    gains = {}
    for mode in ("rebalance", "raise-cash"):
        out = tmp_path / f"{mode}.csv"
        extra = ["--withdraw", "80000", "--mode", mode, "--taxable", "--trades", out, "-q"]
        result = run_cli(*args(market, *extra))
        assert result.exit_code == 0, result.output
        nav, after, lot = cash_after(market, out)
        assert after >= FLOOR * (nav - 80_000) + 80_000 - lot
        gains[mode] = realized_gain(market, out)
    assert gains["raise-cash"] <= gains["rebalance"] + 1.0, gains


def test_the_accounts_files_mode_is_the_option(market, tmp_path):
    accounts = tmp_path / "accounts.csv"
    text = "account,taxable,deposit_usd,mode\nACC1,false,40000,invest-cash\n"
    accounts.write_text(text, encoding="utf-8")
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--accounts", accounts, "--trades", out, "-q"), force=False)
    assert result.exit_code == 0, result.output
    assert sides(out) == {"BUY"}


def test_invest_cash_cannot_meet_a_withdrawal(market, tmp_path):
    out = tmp_path / "t.csv"
    extra = ["--withdraw", "90000", "--mode", "invest-cash", "--trades", out, "-q"]
    result = run_cli(*args(market, *extra))
    assert result.exit_code == 3, result.output
    assert "trade mode invest-cash" in result.output
    assert "can be raised" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (["--mode", "sell-all"], "--mode: unknown mode 'sell-all'"),
        ("accounts", "row 2, column 'mode'"),
    ],
)
def test_an_unknown_mode_is_one_line(market, tmp_path, where, message):
    if where == "accounts":
        accounts = tmp_path / "accounts.csv"
        accounts.write_text("account,taxable,mode\nACC1,false,sell-all\n", encoding="utf-8")
        where = ["--accounts", accounts]
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, *where, "--trades", out, "-q"))
    assert_one_line(result, message, out)


@pytest.mark.parametrize("seed", range(EXAMPLES))
def test_random_modes_keep_their_side(tmp_path, seed):
    """Random accounts, requests and modes: a one-sided mode trades one side only, and
    a withdrawal is met within one lot or refused (exit 3) naming the most."""
    rng = np.random.default_rng(100 + seed)
    market = random_market(tmp_path, rng, seed + 31, NO_MINIMUM)
    nav, _, _ = position(market)
    mode = str(rng.choice(["rebalance", "raise-cash", "invest-cash", "cash-only"]))
    withdraw = round(float(rng.choice([0.0, rng.uniform(0, 0.15) * nav])), 2)
    deposit = round(float(rng.choice([0.0, rng.uniform(0, 0.15) * nav])), 2)
    out = tmp_path / "t.csv"
    extra = ["--withdraw", str(withdraw), "--deposit", str(deposit), "--mode", mode]
    result = run_cli(*args(market, *extra, "--trades", out, "-q"))
    if result.exit_code == 3:
        assert withdraw > 0 and "can be raised" in result.output, result.output
        return
    assert result.exit_code == 0, result.output
    traded = sides(out)
    if mode == "raise-cash":
        assert "BUY" not in traded
    if mode == "invest-cash":
        assert "SELL" not in traded
    if mode == "cash-only":
        assert len(traded) <= 1
    nav, after, lot = cash_after(market, out, deposit=deposit)
    if mode != "invest-cash":
        assert after >= FLOOR * (nav - withdraw) + withdraw - lot, (mode, after, nav)
    # the CSV records the request, the mode asked and the side traded on every row
    trades = pd.read_csv(out)
    asked = set(zip(trades["mode_asked"], trades["withdraw_usd"], trades["deposit_usd"],
                    strict=True))  # fmt: skip
    assert asked <= {(mode, withdraw, deposit)}, asked
    done = set(trades["mode"])
    assert done <= ({"raise-cash", "invest-cash"} if mode == "cash-only" else {mode}), done
    if done & {"raise-cash", "invest-cash"}:
        assert traded <= {"SELL" if done == {"raise-cash"} else "BUY"}
    # every position within base.yaml's 5% cap of the NAV after the payout, from the
    # inputs and the trades: a cap a mode could not keep is an exit 3, not a proposal
    hold = pd.read_csv(market["holdings"]).query("ticker != 'CASH'")
    sign = np.where(trades["side"] == "BUY", 1.0, -1.0)
    moved = pd.Series(sign * trades["quantity"].to_numpy(), index=trades["ticker"])
    held = hold.groupby("ticker")["quantity"].sum().add(moved.groupby(level=0).sum(), fill_value=0)
    _, _, price = position(market)
    assert float((held * price.reindex(held.index)).max()) <= 0.05 * (nav - withdraw) * (1 + 1e-9)


def test_the_outputs_show_the_request_and_the_mode(market, tmp_path):
    """The JSON and the workbook say what was asked; the Checks sheet re-measures the
    withdrawal and the mode."""
    from openpyxl import load_workbook

    paths = {"--json": tmp_path / "p.json", "--out": tmp_path / "p.xlsx"}
    extra = ["--withdraw", "25000", "--mode", "raise-cash", "-q"]
    result = run_cli(*args(market, *extra, *[str(x) for kv in paths.items() for x in kv]))
    assert result.exit_code == 0, result.output
    summary = json.loads(paths["--json"].read_text(encoding="utf-8"))
    assert summary["cash_request"] == {
        "withdraw_usd": 25000.0, "mode": "raise-cash", "mode_asked": "raise-cash"
    }  # fmt: skip
    book = load_workbook(paths["--out"], read_only=True)
    labels = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row}
    assert labels["Withdrawal (USD)"] == 25000 and labels["Trade mode"] == "raise-cash"
    checks = {row[0]: row for row in book["Checks"].iter_rows(values_only=True) if row}
    assert "withdrawal (USD)" in checks and "trade mode" in checks
    ok = checks["check"].index("ok")
    assert all(str(checks[name][ok]).upper() in ("TRUE", "PASS") for name in checks if name in
               ("withdrawal (USD)", "trade mode"))  # fmt: skip


def test_no_request_shows_nothing_new(market, tmp_path):
    out = tmp_path / "p.json"
    result = run_cli(*args(market, "--json", out, "-q"))
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert "cash_request" not in summary
    assert not any(c["check"] in ("withdrawal (USD)", "trade mode") for c in summary["checks"])


def test_a_deposit_is_invested_under_a_tilted_scenario(tmp_path):
    """The example taxable account under a scenario of hard tilt bands (which buys
    alone cannot reach): invest-cash buys the deposit down to the cash target, within
    one lot per name, and sells nothing — or, where the names the destination buys
    cannot take it all this run (their liquidity caps), as far as they can: the cash
    target is then reached over a path, which the summary says, and the cash ends
    between the target and where the deposit left it."""
    from tests.conftest import EXAMPLES, SCENARIOS

    out = tmp_path / "t.csv"
    result = run_cli(
        "propose", "--holdings", EXAMPLES / "holdings.csv", "--account", "TAX-2M",
        "--accounts", EXAMPLES / "accounts.csv", "--universe", EXAMPLES / "universe.csv",
        "--prices", EXAMPLES / "prices.csv", "--benchmark", EXAMPLES / "benchmark.csv",
        "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--as-of", "2026-11-20",
        "--deposit", "100000", "--mode", "invest-cash", "--trades", out,
        "--json", tmp_path / "t.json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    uni = pd.read_csv(EXAMPLES / "universe.csv").set_index("ticker")
    hold = pd.read_csv(EXAMPLES / "holdings.csv").query("account == 'TAX-2M'")
    is_cash = hold["ticker"] == "CASH"
    held = hold[~is_cash]
    price = uni["price"]
    nav = float((held["quantity"].to_numpy() * price.loc[held["ticker"]].to_numpy()).sum())
    nav += float(hold.loc[is_cash, "quantity"].sum()) + 100_000
    trades = pd.read_csv(out)
    assert set(trades["side"]) == {"BUY"}
    notional = trades["quantity"].to_numpy() * price.loc[trades["ticker"]].to_numpy()
    after = float(hold.loc[is_cash, "quantity"].sum()) + 100_000 - float(notional.sum())
    lots = (price * uni["lot_size"]).loc[trades["ticker"]].sum()
    path = json.loads((tmp_path / "t.json").read_text())["path"]
    if "cash target" in path.get("reached_over_path", []):
        assert path["is_step"] and "liquidity" in path["held_back_by"], path
        cash_before = float(hold.loc[is_cash, "quantity"].sum()) + 100_000
        assert 0.02 * nav - float(lots) <= after < cash_before, (after, 0.02 * nav)
        return
    assert abs(after - 0.02 * nav) <= 0.0005 * nav + float(lots), (after, 0.02 * nav)
