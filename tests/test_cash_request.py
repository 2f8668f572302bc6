"""Dollar cash requests (``propose --withdraw/--deposit``, the accounts file's
``withdraw_usd``/``deposit_usd``): re-measured from the files written and the inputs,
never from the optimizer's own numbers.

A withdrawal W leaves after the trades: cash after ≥ m·(NAV − W) + W for the scenario's
floor m, met to within one lot (the rounding repairs it; a request it cannot meet
exits 3 naming the most that can be raised). A deposit D is cash before the trades:
the NAV grows by D and the cash goes to the target on it.

The property test samples ``REBALANCER_CASH_EXAMPLES`` random accounts and requests
(default 3; the full run: ``REBALANCER_CASH_EXAMPLES=40``).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_holdings, make_universe, run_cli, write_scenario

FLOOR, TARGET = 0.01, 0.02  # base.yaml's cash floor and target
EXAMPLES = int(os.environ.get("REBALANCER_CASH_EXAMPLES", "3"))


@pytest.fixture
def market(market, tmp_path):
    # the shared small market (tests/conftest.py), with the scenario these tests use
    return {**market, "scenario": write_scenario(tmp_path / "s.yaml", "extends: base.yaml\n")}


def args(market, *extra) -> list:
    return [
        "propose", "--holdings", market["holdings"], "--universe", market["universe"],
        "--scenario", market["scenario"], *extra,
    ]  # fmt: skip


def position(market) -> tuple[float, float, pd.Series]:
    """(NAV, cash, price per ticker) from the input files."""
    uni = pd.read_csv(market["universe"]).set_index("ticker")
    hold = pd.read_csv(market["holdings"])
    is_cash = hold["ticker"] == "CASH"
    cash = float(hold.loc[is_cash, "quantity"].sum())
    held = hold[~is_cash]
    value = float((held["quantity"].to_numpy() * uni.loc[held["ticker"], "price"].to_numpy()).sum())
    return value + cash, cash, uni["price"]


def cash_after(market, trades_csv, deposit: float = 0.0) -> tuple[float, float, float]:
    """(NAV with the deposit, cash after the trades, the largest lot traded) from the
    inputs and the trades CSV written."""
    nav, cash, price = position(market)
    trades = pd.read_csv(trades_csv)
    notional = trades["quantity"].to_numpy(float) * price.loc[trades["ticker"]].to_numpy()
    sign = np.where(trades["side"] == "BUY", -1.0, 1.0)
    lot = float(price.loc[trades["ticker"]].max()) if len(trades) else 0.0  # lot_size 1
    return nav + deposit, cash + deposit + float((sign * notional).sum()), lot


def assert_one_line(result, message: str, unwritten) -> None:
    """Exit 1, one line saying ``message``, nothing written."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not unwritten.exists()


def random_market(tmp_path, rng, seed: int, scenario: str = "extends: base.yaml\n") -> dict:
    """A random account (cash, 22-29 names under the 5% cap, their size) on a random
    universe, written to files."""
    uni = make_universe(seed=seed)
    hold = make_holdings(
        uni,
        cash=float(rng.uniform(0, 60_000)),
        n_names=int(rng.integers(22, 30)),
        value_each=float(rng.uniform(5_000, 60_000)),
    )
    market = {"universe": tmp_path / "u.csv", "holdings": tmp_path / "h.csv"}
    uni.to_csv(market["universe"], index=False)
    hold.to_csv(market["holdings"], index=False)
    market["scenario"] = write_scenario(tmp_path / "s.yaml", scenario)
    return market


def test_a_withdrawal_is_met_within_one_lot(market, tmp_path):
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--withdraw", "60000", "--trades", out, "-q"))
    assert result.exit_code == 0, result.output
    nav, after, lot = cash_after(market, out)
    assert after >= FLOOR * (nav - 60_000) + 60_000 - lot
    sides = set(pd.read_csv(out)["side"])
    assert "SELL" in sides


def test_the_accounts_files_withdrawal_is_the_option(market, tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account,taxable,withdraw_usd\nACC1,false,45000\n", encoding="utf-8")
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--accounts", accounts, "--trades", out, "-q"), force=False)
    assert result.exit_code == 0, result.output
    nav, after, lot = cash_after(market, out)
    assert after >= FLOOR * (nav - 45_000) + 45_000 - lot


def test_a_withdrawal_is_never_in_tolerance(market, tmp_path):
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--withdraw", "30000", "--trades", out, "-q"), force=False)
    assert result.exit_code == 0, result.output
    assert out.exists()
    nav, after, lot = cash_after(market, out)
    assert after >= FLOOR * (nav - 30_000) + 30_000 - lot


# the scenario's default minimum trade ($1,000, base.yaml) and none
MIN_TRADES = {"default": "extends: base.yaml\n",
              "none": "extends: base.yaml\nconstraints: {min_trade_usd: 0}\n"}  # fmt: skip


def invested_to_target(market, trades_csv, deposit: float) -> None:
    """Cash after the trades, from the inputs and the trades CSV, within the
    optimizer's band (0.0005 of NAV) of the target on the NAV with the deposit, plus
    one lot (lot_size 1) of each name bought."""
    nav, after, _ = cash_after(market, trades_csv, deposit=deposit)
    _, _, price = position(market)
    bought = pd.read_csv(trades_csv).query("side == 'BUY'")["ticker"]
    assert len(bought)
    lots = float(price.loc[bought].sum())
    assert abs(after - TARGET * nav) <= 0.0005 * nav + lots, (after, TARGET * nav, lots)


@pytest.mark.parametrize("minimum", list(MIN_TRADES))
def test_a_deposit_is_invested_to_the_target(market, tmp_path, minimum):
    """A $50k deposit in rebalance: the cash after the trades is the target within
    the band and a lot per name bought, also where the minimum trade drops the many
    small buys a deposit spreads over (idle cash opens them at the minimum)."""
    market["scenario"] = write_scenario(tmp_path / "s.yaml", MIN_TRADES[minimum])
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--deposit", "50000", "--trades", out, "-q"))
    assert result.exit_code == 0, result.output
    invested_to_target(market, out, 50_000)


def test_a_deposit_is_cash_held_before_the_trades(market, tmp_path):
    """Without a minimum trade a deposit trades as the same cash held in the holdings
    file would: the same orders (with one, the deposit's idle cash also opens buys
    the minimum dropped, which cash merely held does not ask for)."""
    market["scenario"] = write_scenario(tmp_path / "s.yaml", MIN_TRADES["none"])
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--deposit", "50000", "--trades", out, "-q"))
    assert result.exit_code == 0, result.output
    hold = pd.read_csv(market["holdings"])
    hold.loc[hold["ticker"] == "CASH", "quantity"] += 50_000
    held = tmp_path / "held.csv"
    hold.to_csv(held, index=False)
    same = tmp_path / "same.csv"
    plain = {**market, "holdings": held}
    assert run_cli(*args(plain, "--trades", same, "-q")).exit_code == 0
    request = ["mode", "mode_asked", "withdraw_usd", "deposit_usd"]
    assert pd.read_csv(out).drop(columns=request).equals(pd.read_csv(same).drop(columns=request))
    assert set(pd.read_csv(out)["deposit_usd"]) == {50_000}


def test_a_withdrawal_beyond_what_can_be_sold_exits_3_with_the_most(market, tmp_path):
    """Every held name but three may not be sold: the most a withdrawal can take is
    the cash and those three names' value, less the floor on what stays."""
    uni = pd.read_csv(market["universe"], dtype={"restricted": str, "themes": str})
    hold = pd.read_csv(market["holdings"])
    held = [t for t in hold["ticker"] if t != "CASH"]
    free = held[:3]
    uni.loc[uni["ticker"].isin(held) & ~uni["ticker"].isin(free), "restricted"] = "no_sell"
    uni.to_csv(market["universe"], index=False)
    nav, cash, price = position(market)
    q = hold.set_index("ticker")["quantity"]
    sellable = float(sum(q[t] * price[t] for t in free))
    most = (cash + sellable - FLOOR * nav) / (1 - FLOOR)
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--withdraw", "400000", "--trades", out, "-q"))
    assert result.exit_code == 3, result.output
    assert not out.exists()
    said = re.search(r"at most ([\d,.]+) USD can be raised", result.output)
    assert said, result.output
    raised = float(said.group(1).replace(",", ""))
    # costs (spread, impact) take a little of the sales
    assert most * 0.98 <= raised <= most + 1.0, (raised, most)
    assert "restrictions" in result.output


@pytest.mark.parametrize("mode", ["rebalance", "raise-cash"])
def test_weight_limits_are_of_the_nav_after_the_withdrawal(market, tmp_path, mode):
    """A withdrawal of 30% of the NAV: each of the 25 names (3.9% of the NAV before it)
    would be 5.6% of what stays. Re-measured from the holdings, the universe and the
    trades CSV written: every position is within base.yaml's 5% cap and every sector
    within its 30% cap of NAV − W, cash after the trades keeps the floor on NAV − W
    plus W, and no name is sold beyond what it holds."""
    nav, cash, price = position(market)
    withdraw = round(0.3 * nav, 2)
    out = tmp_path / "t.csv"
    extra = ["--withdraw", str(withdraw), "--mode", mode, "--trades", out, "-q"]
    result = run_cli(*args(market, *extra))
    assert result.exit_code == 0, result.output
    hold = pd.read_csv(market["holdings"]).query("ticker != 'CASH'")
    before = hold.groupby("ticker")["quantity"].sum()
    trades = pd.read_csv(out)
    sign = np.where(trades["side"] == "BUY", 1.0, -1.0)
    moved = pd.Series(sign * trades["quantity"].to_numpy(), index=trades["ticker"])
    after = before.add(moved.groupby(level=0).sum(), fill_value=0.0)
    assert (after >= -1e-9).all()  # no name sold beyond what it holds
    value = after * price.reindex(after.index)
    stays = nav - withdraw
    assert float(value.max()) <= 0.05 * stays * (1 + 1e-9), value.max() / stays
    assert float((before * price.reindex(before.index)).max()) > 0.05 * stays  # it was above
    sector = pd.read_csv(market["universe"]).set_index("ticker")["sector"]
    assert float(value.groupby(sector.reindex(value.index)).sum().max()) <= 0.30 * stays + 0.01
    _, cash_left, _ = cash_after(market, out)
    assert cash_left >= FLOOR * stays + withdraw - 0.01


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--withdraw", "abc", "--withdraw: expected dollars, a number >= 0; got 'abc'"),
        ("--withdraw", "-5", "--withdraw: expected dollars"),
        ("--deposit", "nan", "--deposit: expected dollars"),
        ("--withdraw", "5000000", "--withdraw: withdrawal 5,000,000.00 USD is above the account"),
    ],
)
def test_a_bad_amount_is_one_line(market, tmp_path, option, value, message):
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, option, value, "--trades", out, "-q"))
    assert_one_line(result, message, out)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("withdraw_usd", "-1", "row 2, column 'withdraw_usd'"),
        ("deposit_usd", "lots", "row 2, column 'deposit_usd'"),
        ("withdraw_usd", "9000000", "row 2, column 'withdraw_usd': withdrawal 9,000,000.00"),
    ],
)
def test_a_bad_accounts_cell_is_one_line(market, tmp_path, column, value, message):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(f"account,taxable,{column}\nACC1,false,{value}\n", encoding="utf-8")
    out = tmp_path / "t.csv"
    result = run_cli(*args(market, "--accounts", accounts, "--trades", out, "-q"))
    assert_one_line(result, message, out)


@pytest.mark.parametrize("seed", range(EXAMPLES))
def test_random_requests_are_met_or_refused(tmp_path, seed):
    """Random accounts, withdrawals up to a fifth of the NAV and deposits: the
    withdrawal is met within one lot, or the request exits 3 naming the most that can
    be raised, which is then below the withdrawal."""
    rng = np.random.default_rng(seed)
    market = random_market(tmp_path, rng, seed + 11)
    nav, _, _ = position(market)
    withdraw = round(float(rng.uniform(0, 0.2)) * nav, 2)
    deposit = round(float(rng.choice([0.0, rng.uniform(0, 0.1) * nav])), 2)
    out = tmp_path / "t.csv"
    extra = ["--withdraw", str(withdraw), "--deposit", str(deposit), "--trades", out, "-q"]
    result = run_cli(*args(market, *extra))
    if result.exit_code == 3:
        said = re.search(r"at most ([\d,.]+) USD can be raised", result.output)
        assert said and float(said.group(1).replace(",", "")) < withdraw, result.output
        return
    assert result.exit_code == 0, result.output
    nav, after, lot = cash_after(market, out, deposit=deposit)
    assert after >= FLOOR * (nav - withdraw) + withdraw - lot, (after, nav, withdraw)


def test_whatif_takes_the_accounts_files_withdrawal_in_every_run(market, tmp_path):
    """A what-if run that varies the cash target keeps the account's withdrawal."""
    import json

    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account,taxable,withdraw_usd\nACC1,false,50000\n", encoding="utf-8")
    out = tmp_path / "w.json"
    result = run_cli(
        "whatif", "--holdings", market["holdings"], "--universe", market["universe"],
        "--scenario", market["scenario"], "--accounts", accounts,
        "--vary", "constraints.cash.target=0.02,0.04", "--json", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    nav, _, price = position(market)
    for run in json.loads(out.read_text(encoding="utf-8"))["runs"]:
        # the figures are after the payout (the withdrawal is cash that leaves)
        assert run["cash_after_usd"] >= FLOOR * (nav - 50_000) - float(price.max())
        # each run shows the request it was made with
        assert (run["mode"], run["mode_asked"]) == ("rebalance", "rebalance")
        assert (run["withdraw_usd"], run["deposit_usd"]) == (50_000, 0)


def test_a_books_summary_shows_each_accounts_request_and_mode(market, tmp_path):
    """batch: the Accounts sheet, read back, says the mode asked and the side traded
    and the dollars; the account's trades CSV meets the withdrawal with sales alone."""
    import openpyxl

    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "account,scenario,taxable,withdraw_usd,mode\nACC1,s.yaml,false,40000,cash-only\n",
        encoding="utf-8",
    )
    out = tmp_path / "book"
    result = run_cli(
        "batch", "--accounts", accounts, "--holdings", market["holdings"],
        "--universe", market["universe"], "--out-dir", out, "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out / "book_summary.xlsx", read_only=True)["Accounts"]
    rows = list(sheet.iter_rows(values_only=True))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["mode"], row["mode_asked"]) == ("raise-cash", "cash-only")
    assert (row["withdraw_usd"], row["deposit_usd"]) == (40_000, 0)
    trades = out / "ACC1.trades.csv"
    assert set(pd.read_csv(trades)["side"]) == {"SELL"}
    nav, after, lot = cash_after(market, trades)
    assert after >= FLOOR * (nav - 40_000) + 40_000 - lot
