"""``batch --households --only-triggered``: a household is scanned on its combined
portfolio (docs/households.md), proposed or skipped whole.

A book of two households and two single accounts under a scenario whose only drift
triggers are cash (3% above, 1.5% below a 2% target). SMITH's taxable account holds 6%
cash and its IRA 0.1%: each alone is outside tolerance, but the household holds 4%
(2% above): in tolerance, so both its accounts are skipped with the household's
reason. JONES holds 9% in each (high cash): proposed as one problem. The statuses
are checked against the cash weights recomputed from the holdings file, and the
proposed orders against the book summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from tests.conftest import make_universe, run_cli, write_account_files

AS_OF = "2026-11-20"
CASH = {"S-TAX": 0.06, "S-IRA": 0.001, "J-TAX": 0.09, "J-ROTH": 0.09, "SOLO-IRA": 0.03,
        "SOLO-ROTH": 0.08}  # fmt: skip
NAVS = {"S-TAX": 400_000.0, "S-IRA": 200_000.0, "J-TAX": 250_000.0, "J-ROTH": 150_000.0,
        "SOLO-IRA": 120_000.0, "SOLO-ROTH": 90_000.0}  # fmt: skip
HOUSEHOLDS = {"SMITH": ["S-TAX", "S-IRA"], "JONES": ["J-TAX", "J-ROTH"]}
ACCOUNTS = """account,scenario,benchmark,account_type,household
S-TAX,scenario.yaml,benchmark.csv,taxable,SMITH
SOLO-IRA,scenario.yaml,benchmark.csv,tax_deferred,
S-IRA,scenario.yaml,benchmark.csv,tax_deferred,SMITH
J-TAX,scenario.yaml,benchmark.csv,taxable,JONES
J-ROTH,scenario.yaml,benchmark.csv,tax_exempt,JONES
SOLO-ROTH,scenario.yaml,benchmark.csv,tax_exempt,
"""
TARGET, ABOVE, BELOW = 0.02, 0.03, 0.015
SCENARIO = f"""name: household triggers test
risk_aversion: 10
triggers: {{group_drift: 1, name_drift: 1, cash_above: {ABOVE}, cash_below: {BELOW},
           tracking_error_above: 1}}
constraints:
  cash: {{target: {TARGET}, min: 0.0}}
  max_position: 0.10
  max_turnover: 0.5
  min_trade_usd: 500
costs:
  spread_bps: {{default: 5}}
"""


def _write(folder: Path) -> dict[str, Path]:
    uni = make_universe(30, seed=5)
    big = uni.sort_values("market_cap").tail(20)
    rows = []
    for account, nav in NAVS.items():
        each = nav * (1 - CASH[account]) / len(big)
        invested = 0.0
        for ticker, price in zip(big["ticker"], big["price"], strict=True):
            shares = float(np.floor(each / price))
            invested += shares * price
            rows.append({"account": account, "ticker": ticker, "quantity": shares,
                         "cost_basis": round(price * shares * 0.9, 2), "acquired": "2020-03-01"})  # fmt: skip
        rows.append({"account": account, "ticker": "CASH", "quantity": nav * CASH[account],
                     "cost_basis": "", "acquired": ""})  # fmt: skip
    weights = pd.DataFrame(
        {"ticker": uni["ticker"], "weight": uni["market_cap"] / uni["market_cap"].sum()}
    )
    return write_account_files(folder, uni, weights, rows, ACCOUNTS, SCENARIO)


def _cash_weights(paths) -> tuple[pd.Series, pd.Series]:
    """(cash, NAV) per account, from the holdings and universe files."""
    hold = pd.read_csv(paths["holdings"])
    price = pd.read_csv(paths["universe"]).set_index("ticker")["price"]
    cash_rows = hold["ticker"] == "CASH"
    value = hold["quantity"].where(cash_rows, hold["quantity"] * hold["ticker"].map(price))
    nav = value.groupby(hold["account"]).sum()
    cash = hold[cash_rows].groupby("account")["quantity"].sum().reindex(nav.index, fill_value=0.0)
    return cash, nav


def _in_tolerance(cash: float, nav: float) -> bool:
    w = cash / nav
    return bool(TARGET - BELOW - 1e-9 <= w <= TARGET + ABOVE + 1e-9)


def test_a_household_is_triggered_on_its_combined_portfolio(tmp_path):
    paths = _write(tmp_path)
    out = tmp_path / "out"
    result = run_cli(
        "batch", "--accounts", paths["accounts"], "--holdings", paths["holdings"],
        "--universe", paths["universe"], "--out-dir", out, "--as-of", AS_OF, "--quiet",
        "--households", "--only-triggered", "--workers", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cash, nav = _cash_weights(paths)
    # each of SMITH's accounts alone is outside tolerance; the household is inside
    assert not any(_in_tolerance(cash[a], nav[a]) for a in HOUSEHOLDS["SMITH"])
    expect = {}
    for members in HOUSEHOLDS.values():
        inside = _in_tolerance(cash[members].sum(), nav[members].sum())
        expect.update(dict.fromkeys(members, inside))
    for account in ("SOLO-IRA", "SOLO-ROTH"):
        expect[account] = _in_tolerance(cash[account], nav[account])
    assert expect == {"S-TAX": True, "S-IRA": True, "J-TAX": False, "J-ROTH": False,
                      "SOLO-IRA": True, "SOLO-ROTH": False}  # fmt: skip

    ws = openpyxl.load_workbook(out / "book_summary.xlsx")["Accounts"]
    rows = list(ws.iter_rows(values_only=True))
    head = rows[0]
    table = {r[0]: dict(zip(head, r, strict=True)) for r in rows[1:] if r and r[0] in NAVS}
    assert set(table) == set(NAVS)
    for account, inside in expect.items():
        row = table[account]
        assert (row["status"] == "skipped") is inside, row
        if inside:
            assert str(row["message"]).startswith("in tolerance")
    assert table["S-TAX"]["household"] == "SMITH"
    assert not (out / "SMITH.household.json").exists()
    assert (out / "JONES.household.json").exists()
    # the proposed household's orders are in the block orders, the skipped ones' are not
    blocks = pd.read_csv(out / "block_orders.csv", dtype={"account": str})
    traded = set(blocks["account"]) if "account" in blocks else set()
    assert traded <= {"J-TAX", "J-ROTH", "SOLO-ROTH"}
    trades = pd.read_csv(out / "JONES.household.trades.csv")
    assert set(trades["account"]) <= set(HOUSEHOLDS["JONES"]) and len(trades)
