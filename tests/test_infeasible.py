"""An infeasible request exits with code 3 and names the limits that conflict."""

from __future__ import annotations

import pytest

from rebalancer.errors import InfeasibleError
from rebalancer.pipeline import propose
from tests.conftest import SCENARIOS, run_cli, write_scenario

TIGHT_TURNOVER = """
name: tight
extends: base.yaml
tilts:
  "size:small": {target: 0.10, band: 0.01}
constraints:
  max_turnover: 0.02
"""


def test_turnover_too_small_to_reach_band_exits_3_naming_both(market, tmp_path):
    scen = write_scenario(tmp_path / "tight.yaml", TIGHT_TURNOVER)
    out = tmp_path / "o.xlsx"
    result = run_cli(
        "propose",
        "--holdings",
        market["holdings"],
        "--universe",
        market["universe"],
        "--scenario",
        scen,
        "--out",
        out,
    )
    assert result.exit_code == 3
    assert "max_turnover" in result.output
    assert "size:small" in result.output
    assert not out.exists()


def test_elastic_solve_says_how_far_apart_the_limits_are(market, tmp_path):
    scen = write_scenario(tmp_path / "tight.yaml", TIGHT_TURNOVER)
    with pytest.raises(InfeasibleError) as info:
        propose(market["holdings"], market["universe"], scen, taxable=False)
    conflicts = {c.constraint: c for c in info.value.conflicts}
    assert info.value.account == "ACC1"
    relaxed = [c for c in conflicts.values()]
    assert relaxed, "the elastic solve must name at least one limit to relax"
    # the turnover cap is 2%; reaching +9% small caps from 0 needs one-way turnover >= 9%,
    # so the relaxation found must close a gap of at least 5 points in total
    gaps = sum(abs(c.gap) for c in relaxed)
    assert gaps >= 0.05


def test_forced_exit_against_no_liquidity_is_infeasible(market, tmp_path):
    import pandas as pd

    uni = pd.read_csv(market["universe"], keep_default_na=False)
    held = pd.read_csv(market["holdings"])
    ticker = held["ticker"].iloc[0]
    uni.loc[uni["ticker"] == ticker, "restricted"] = "sell"
    uni.loc[uni["ticker"] == ticker, "adv"] = 1000.0  # 20% of $1,000 a day cannot sell it all
    uni.to_csv(market["universe"], index=False)
    result = run_cli(
        "propose",
        "--holdings",
        market["holdings"],
        "--universe",
        market["universe"],
        "--scenario",
        SCENARIOS / "base.yaml",
    )
    assert result.exit_code == 3
    assert "liquidity" in result.output or "max_position" in result.output


def test_infeasibility_is_explained_when_clarabel_fails_on_the_elastic_form(
    market, tmp_path, monkeypatch
):
    """Found by tests/test_properties.py: Clarabel fails on some elastic forms; the
    elastic form is always feasible, so the rest of the chain (SCS) must still be asked
    rather than exiting 3 with "no single limit to blame". Here the interior-point
    solver is one that cannot finish (one iteration)."""
    from rebalancer.optimize import problem

    scs = next(entry for entry in problem.SOLVERS if entry[0] == "SCS")
    monkeypatch.setattr(problem, "SOLVERS", (("CLARABEL", {"max_iter": 1}), scs))
    scen = write_scenario(tmp_path / "tight.yaml", TIGHT_TURNOVER)
    with pytest.raises(InfeasibleError) as info:
        propose(market["holdings"], market["universe"], scen, taxable=False)
    assert "max_turnover" in {c.constraint for c in info.value.conflicts}


def test_limits_the_whole_lot_orders_break_exit_3_not_a_failed_check(tmp_path):
    """Found by tests/test_properties.py: 19 positions of $840 (5.17% each) over a 5%
    cap, and a $1,000 minimum trade. Each trim must be a full exit (a $25 sale is under
    the minimum; a close is exempt), which needs 49% turnover against a 30% cap and
    17% tracking error against 3%. No order list keeps all the limits: exit 3 naming
    the broken ones, not exit 0 with FAIL rows; --relax lifts them."""
    import json

    import pandas as pd

    from tests.conftest import make_universe

    uni = make_universe(40).assign(price=20.0)
    held = uni.sort_values("market_cap").tail(19)["ticker"]
    rows = [{"account": "A", "ticker": t, "quantity": 42.0} for t in held]
    pd.DataFrame([*rows, {"account": "A", "ticker": "CASH", "quantity": 300.0}]).to_csv(
        tmp_path / "holdings.csv", index=False
    )
    uni.to_csv(tmp_path / "universe.csv", index=False)
    scen = write_scenario(
        tmp_path / "s.yaml",
        "name: t\nextends: base.yaml\nconstraints: {min_trade_usd: 1000, max_tracking_error: 0.03}\n",
    )
    args = ["propose", "--holdings", tmp_path / "holdings.csv", "--universe"]
    args += [tmp_path / "universe.csv", "--scenario", scen, "--json", tmp_path / "p.json"]
    result = run_cli(*args)
    assert result.exit_code == 3
    assert "max_turnover 0.3 would need 0.49" in result.output
    assert "max_tracking_error 0.03 would need" in result.output
    assert not (tmp_path / "p.json").exists()
    assert run_cli(*args, "--relax").exit_code == 0
    summary = json.loads((tmp_path / "p.json").read_text())
    assert {r["key"] for r in summary["relaxed"]} >= {"constraints.max_turnover"}
    assert all(c["ok"] for c in summary["checks"])
