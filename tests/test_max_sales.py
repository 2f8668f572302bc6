"""``constraints.max_sales``: the most one run may sell, a fraction of NAV
(Σ sales ≤ cap × NAV, NAV before the trades).

Every figure is recomputed from the written trades CSV (or the what-if workbook's
Trades sheet) and the input files — shares × the universe's price of every SELL
order, over the NAV the holdings file gives — never taken from the optimizer: the
proposals of ``propose``, ``batch`` and a ``whatif --vary`` sweep keep the cap, a
request it makes infeasible exits 3 naming the key with the relaxation that lifts
it, ``--relax`` applies it, and a bad value is one line naming the key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from rebalancer.examples.make_book import make_book

from rebalancer.pipeline import load_inputs
from rebalancer.runs.whatif import run_whatif
from tests.conftest import SCENARIOS, make_holdings, make_universe, run_cli
from tests.sheets import table

TOL = 1e-9  # of NAV: the orders are whole shares, the check is exact but for float noise
# a tilt the large-cap account can only reach by selling: 10% more in small caps
TILT = 'tilts:\n  "size:small": {target: 0.10, band: 0.02}\n'
# the tilt of the book's accounts: 1% in small caps at least
SMALL_TILT = 'tilts:\n  "size:small": {target: 0.03, band: 0.02}\n'
OPEN = "  max_turnover: null\n  max_tracking_error: null\n  sector_max: null\n"


def write_market(tmp_path: Path, body: str) -> dict:
    """The synthetic market (its account holds 25 large caps and little cash) and a
    scenario over base.yaml with ``body`` below it."""
    uni = make_universe()
    paths = {name: tmp_path / f"{name}.csv" for name in ("universe", "holdings")}
    uni.to_csv(paths["universe"], index=False)
    make_holdings(uni).to_csv(paths["holdings"], index=False)
    shutil.copy(SCENARIOS / "base.yaml", tmp_path / "base.yaml")
    paths["scenario"] = tmp_path / "sales.yaml"
    paths["scenario"].write_text(f"name: sales\nextends: base.yaml\n{body}", encoding="utf-8")
    paths["trades"], paths["json"] = tmp_path / "trades.csv", tmp_path / "summary.json"
    return paths


def propose(paths: dict, *extra: str):
    return run_cli(
        "propose", "--holdings", paths["holdings"], "--universe", paths["universe"],
        "--scenario", paths["scenario"], "--as-of", "2025-06-30",
        "--trades", paths["trades"], "--json", paths["json"], *extra,
    )  # fmt: skip


def nav_usd(holdings: pd.DataFrame, universe: pd.DataFrame, account: str | None = None) -> float:
    """Σ shares × price + cash of one account, from the input files alone."""
    held = holdings if account is None else holdings[holdings["account"] == account]
    is_cash = held["ticker"] == "CASH"
    price = universe.set_index("ticker")["price"]
    stocks = held[~is_cash]
    return float(
        (stocks["quantity"] * price.reindex(stocks["ticker"]).to_numpy()).sum()
        + held.loc[is_cash, "quantity"].sum()
    )


def sold_usd(trades: pd.DataFrame, universe: pd.DataFrame) -> float:
    """Σ quantity × the universe's price of the SELL orders."""
    price = universe.set_index("ticker")["price"]
    sells = trades[trades["side"] == "SELL"]
    return float((sells["quantity"] * price.reindex(sells["ticker"]).to_numpy()).sum())


def sales_share(paths: dict) -> float:
    """Σ sales / NAV of the written trades CSV."""
    uni = pd.read_csv(paths["universe"])
    return sold_usd(pd.read_csv(paths["trades"]), uni) / nav_usd(
        pd.read_csv(paths["holdings"]), uni
    )


def test_the_orders_keep_the_cap_on_sales(tmp_path):
    paths = write_market(tmp_path, TILT + "constraints:\n" + OPEN)
    assert propose(paths).exit_code == 0
    free = sales_share(paths)
    assert free > 0.092  # unlimited, the tilt sells more than the cap below

    paths = write_market(tmp_path, TILT + "constraints:\n  max_sales: 0.09\n" + OPEN)
    result = propose(paths)
    assert result.exit_code == 0, result.output
    share = sales_share(paths)
    assert share <= 0.09 + TOL
    assert share > 0.08  # the cap binds: the run sells up to it (less a lot or so)
    rows = {c["check"]: c for c in json.loads(paths["json"].read_text())["checks"]}
    assert rows["max_sales"]["ok"] and rows["max_sales"]["limit"] == 0.09
    assert rows["max_sales"]["value"] == pytest.approx(share, abs=1e-9)


def test_a_conflict_names_the_key_and_relax_lifts_it(tmp_path):
    # the small-cap tilt's band (8% at least) needs sales of some 8% of NAV, not 1%
    paths = write_market(tmp_path, TILT + "constraints:\n  max_sales: 0.01\n" + OPEN)
    result = propose(paths)
    assert result.exit_code == 3, result.output
    assert "max_sales 0.01 would need" in result.output
    assert "constraints.max_sales 0.01 ->" in result.output
    assert not paths["trades"].exists()

    relaxed = propose(paths, "--relax")
    assert relaxed.exit_code == 0, relaxed.output
    summary = json.loads(paths["json"].read_text())
    moved = {r["key"]: r["relaxed_to"] for r in summary["relaxed"]}
    cap = moved["constraints.max_sales"]
    assert cap > 0.01
    share = sales_share(paths)
    assert 0.01 < share <= cap + TOL
    verified = run_cli("verify", paths["json"], "--reproduce", "-q")
    assert verified.exit_code == 0, verified.output


def test_a_batch_keeps_each_accounts_cap(tmp_path):
    uni = make_universe()
    holdings, accounts = make_book(3, seed=5, universe=uni, benchmark=None, models=["sales.yaml"])
    uni.to_csv(tmp_path / "universe.csv", index=False)
    holdings.to_csv(tmp_path / "holdings.csv", index=False)
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    shutil.copy(SCENARIOS / "base.yaml", tmp_path / "base.yaml")
    (tmp_path / "sales.yaml").write_text(
        "name: sales\nextends: base.yaml\n" + SMALL_TILT + "constraints:\n  max_sales: 0.03\n"
        "  max_position: 0.2\n" + OPEN,
        encoding="utf-8",
    )
    out = tmp_path / "book"
    result = run_cli(
        "batch", "--accounts", tmp_path / "accounts.csv", "--holdings", tmp_path / "holdings.csv",
        "--universe", tmp_path / "universe.csv", "--out-dir", out, "--workers", "1",
        "--as-of", "2026-11-20", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shares = []
    for account in accounts["account"]:
        trades = pd.read_csv(out / f"{account}.trades.csv")
        shares.append(sold_usd(trades, uni) / nav_usd(holdings, uni, account))
    assert max(shares) <= 0.03 + TOL, shares
    # the cap binds for one account (which sells 3.7% of NAV without it)
    assert max(shares) > 0.025, shares


def test_a_whatif_sweep_keeps_each_cap_on_one_compiled_problem(tmp_path):
    paths = write_market(tmp_path, TILT + "constraints:\n" + OPEN)
    caps = (0.086, 0.09, 0.12)  # the band needs some 8.2% of NAV sold; unlimited, 9.6%
    out = tmp_path / "whatif.xlsx"
    result = run_cli(
        "whatif", "--holdings", paths["holdings"], "--universe", paths["universe"],
        "--scenario", paths["scenario"], "--as-of", "2025-06-30", "--out", out, "--quiet",
        "--vary", "constraints.max_sales=" + ",".join(map(str, caps)),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trades = table(openpyxl.load_workbook(out)["Trades"])
    uni = pd.read_csv(paths["universe"])
    nav = nav_usd(pd.read_csv(paths["holdings"]), uni)
    shares = [
        sold_usd(trades[trades["run"] == f"sales max_sales={cap}"], uni) / nav for cap in caps
    ]
    for cap, share in zip(caps, shares, strict=True):
        assert share <= cap + TOL, (cap, share)
    assert shares[0] > 0.08 and shares == sorted(shares) and shares[-1] > 0.09

    # the sweep changes the cap's right side only: after the first run compiles, a
    # run that needs no new names re-solves the same compiled problem
    data = load_inputs(paths["holdings"], paths["universe"])
    comp = run_whatif(
        data, [paths["scenario"]], vary=["constraints.max_sales=" + ",".join(map(str, caps))],
        as_of="2025-06-30", taxable=False,
    )  # fmt: skip
    optimizer = [r.proposal.optimizer for r in comp.runs]
    assert any(info["shared_problem"] for info in optimizer[1:]), optimizer


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "1.5 is outside [0, 1]"),
        ("-0.1", "-0.1 is outside [0, 1]"),
        ("lots", "expected a number"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, value, message):
    paths = write_market(tmp_path, f"constraints:\n  max_sales: {value}\n")
    result = propose(paths)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "constraints.max_sales" in lines[0] and message in lines[0], lines
    assert not paths["trades"].exists() and not paths["json"].exists()
