"""Tax-aware rebalancing on the example taxable account, and the realized-gain budget."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from rebalancer.pipeline import load_inputs, propose_account
from rebalancer.scenario import load_scenario
from tests.conftest import EXAMPLES, SCENARIOS, make_holdings, make_universe, run_cli


def _tax_by_hand(lot_sales: pd.DataFrame, st_rate=0.37, lt_rate=0.20) -> float:
    """Net ST and LT gains; a net loss on one side offsets a net gain on the other."""
    gains = lot_sales["realized_gain_usd"]
    st = gains[lot_sales["term"] == "ST"].sum()
    lt = gains[lot_sales["term"] != "ST"].sum()
    if st < 0 < lt:
        lt, st = max(lt + st, 0.0), 0.0
    elif lt < 0 < st:
        st, lt = max(st + lt, 0.0), 0.0
    return st_rate * max(st, 0.0) + lt_rate * max(lt, 0.0)


@pytest.fixture(scope="module")
def tax_pair():
    data = load_inputs(
        EXAMPLES / "holdings.csv",
        EXAMPLES / "universe.csv",
        EXAMPLES / "prices.csv",
        EXAMPLES / "benchmark.csv",
        EXAMPLES / "accounts.csv",
    )
    scenario = load_scenario(SCENARIOS / "smallcap_rerating.yaml")
    blind = propose_account(data, scenario, "TAX-2M", "2026-11-20", taxable=False)
    aware = propose_account(data, scenario, "TAX-2M", "2026-11-20")  # taxable per accounts.csv
    return scenario, blind, aware


def test_the_accounts_file_makes_tax_2m_taxable_and_the_foundation_exempt(tax_pair):
    _, blind, aware = tax_pair
    assert aware.metrics.taxable and not blind.metrics.taxable


def test_tax_aware_proposal_pays_less_tax_than_the_tax_blind_one(tax_pair):
    _, blind, aware = tax_pair
    blind_tax = _tax_by_hand(blind.lot_sales)
    aware_tax = _tax_by_hand(aware.lot_sales)
    assert aware_tax < blind_tax
    assert aware.metrics.estimated_tax_usd == pytest.approx(aware_tax, abs=0.01)


def test_both_keep_tracking_error_within_the_same_limit(tax_pair):
    scenario, blind, aware = tax_pair
    limit = scenario.constraints.max_tracking_error
    assert blind.metrics.tracking_error <= limit * (1 + 1e-6)
    assert aware.metrics.tracking_error <= limit * (1 + 1e-6)
    assert aware.checks["ok"].all() and blind.checks["ok"].all()


def test_realized_gains_add_up_from_the_lots(tax_pair):
    _, _, aware = tax_pair
    data = pd.read_csv(EXAMPLES / "holdings.csv", keep_default_na=False, na_values=[""])
    data["lot_id"] = data["account"] + ":" + (data.index + 2).astype(str)
    lots = data.set_index("lot_id")
    prices = pd.read_csv(EXAMPLES / "universe.csv").set_index("ticker")["price"]
    s = aware.lot_sales
    basis = (
        lots.loc[s["lot_id"], "cost_basis"].to_numpy()
        / lots.loc[s["lot_id"], "quantity"].to_numpy()
    )
    by_hand = s["quantity_sold"].to_numpy() * (prices.loc[s["ticker"]].to_numpy() - basis)
    assert s["realized_gain_usd"].to_numpy() == pytest.approx(by_hand, abs=1e-6)


def _gain_only_market(tmp_path, cash: float = 20_000.0):
    uni = make_universe()
    hold = make_holdings(uni, cash=cash)  # every lot bought at 80% of today's price: all gains
    uni.to_csv(tmp_path / "u.csv", index=False)
    hold.to_csv(tmp_path / "h.csv", index=False)
    return tmp_path / "u.csv", tmp_path / "h.csv"


def test_zero_gain_budget_with_only_gains_to_sell_exits_3_naming_it(tmp_path):
    uni, hold = _gain_only_market(tmp_path)
    scen = tmp_path / "s.yaml"
    scen.write_text("extends: smallcap_rerating.yaml\nconstraints: {max_realized_gain: 0}\n")
    result = run_cli(
        "propose",
        "--holdings",
        hold,
        "--universe",
        uni,
        "--scenario",
        scen,
        "--taxable",
        "--as-of",
        "2026-11-20",
        "--json",
        tmp_path / "p.json",
    )
    assert result.exit_code == 3, result.output
    assert "max_realized_gain" in result.output
    assert not (tmp_path / "p.json").exists()


def test_zero_gain_budget_is_met_when_it_can_be(tmp_path):
    uni, hold = _gain_only_market(tmp_path, cash=60_000.0)
    scen = tmp_path / "s.yaml"
    # a gentle tilt that selling nothing at a gain can still reach (cash funds the buys)
    scen.write_text(
        "extends: base.yaml\n"
        "tilts: {'size:small': {target: 0.01, band: 0.01}}\n"
        "constraints: {max_realized_gain: 0}\n"
    )
    out = tmp_path / "p.json"
    result = run_cli(
        "propose",
        "--holdings",
        hold,
        "--universe",
        uni,
        "--scenario",
        scen,
        "--taxable",
        "--as-of",
        "2026-11-20",
        "--json",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["realized_gain"] is None or summary["realized_gain"] <= 0.005
    assert summary["estimated_tax"] == pytest.approx(0.0, abs=0.005)


def test_gain_budget_binds_in_the_optimizer_not_only_in_the_report(tax_pair):
    scenario, _, _ = tax_pair
    budget = 5000.0
    tight = dataclasses.replace(
        scenario,
        constraints=dataclasses.replace(scenario.constraints, max_realized_gain=budget),
        tax=dataclasses.replace(scenario.tax, weight=0.0),
    )  # tax-blind objective: only the budget holds gains back
    data = load_inputs(
        EXAMPLES / "holdings.csv",
        EXAMPLES / "universe.csv",
        EXAMPLES / "prices.csv",
        EXAMPLES / "benchmark.csv",
    )
    p = propose_account(data, tight, "TAX-2M", "2026-11-20", taxable=True)
    assert p.lot_sales["realized_gain_usd"].sum() <= budget + 0.005
    row = p.checks[p.checks["check"] == "max_realized_gain (USD)"]
    assert bool(row["ok"].iloc[0])
