"""Screens (due diligence before a buy) and stress tests (P&L under group shocks).

Screen conditions are parsed, never evaluated; a name failing its group's screen may
not be bought. Stress P&L is recomputed by hand on a four-name portfolio.
"""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest

from rebalancer.model.stress import shock_returns, stress_table
from rebalancer.model.universe import screen_failures
from rebalancer.scenario.expressions import Comparison, ExpressionError, parse_condition
from rebalancer.scenario.schema import Scenario, Screen, build
from tests.conftest import make_holdings, make_universe, run_cli, write_scenario

# --- parsing conditions -----------------------------------------------------------------


def test_a_single_comparison_parses():
    assert parse_condition("leverage <= 3").comparisons == (Comparison("leverage", "<=", 3.0),)


def test_comparisons_joined_with_and_parse_in_order():
    assert parse_condition("roa > 0 and adv >= 1e6").comparisons == (
        Comparison("roa", ">", 0.0),
        Comparison("adv", ">=", 1e6),
    )


def test_comparisons_joined_with_ampersand_parse_without_spaces():
    assert parse_condition("pb<1.5&pe<20").comparisons == (
        Comparison("pb", "<", 1.5),
        Comparison("pe", "<", 20.0),
    )


@pytest.mark.parametrize(
    "text",
    ["leverage <= three", "__import__('os')", "leverage <= 3 or roa > 0"],
    ids=["word-for-number", "python-code", "or"],
)
def test_a_condition_that_is_not_comparisons_joined_by_and_is_rejected(text):
    with pytest.raises(ExpressionError, match="is not 'column op number'"):
        parse_condition(text)


def test_an_unknown_column_is_rejected_with_the_nearest_name():
    with pytest.raises(
        ExpressionError, match=r"unknown column 'levrage' \(did you mean 'leverage'"
    ):
        parse_condition("levrage <= 3")


@pytest.mark.parametrize("text", ["leverage <= 3", "leverage > 3", "leverage != 3"])
def test_a_missing_value_fails_every_comparison(text):
    frame = pd.DataFrame({"leverage": [np.nan]})
    assert not parse_condition(text).holds(frame)[0]


# --- which names a screen forbids -------------------------------------------------------


def hand_universe() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ["BANK1", "BANK2", "BANK3", "BANK4", "OIL1", "OIL2"],
            "sector": ["Financials"] * 4 + ["Energy"] * 2,
            "size": ["large", "small", "mid", "large", "large", "small"],
            "market_cap": [5e10, 5e8, 3e9, 2e10, 8e10, 6e8],
            "leverage": [2.0, 5.0, np.nan, 3.0, 9.0, 1.0],
        }
    ).set_index("ticker")


def test_screen_failures_lists_exactly_the_group_members_that_fail():
    scenario = Scenario(screens=[Screen(require="leverage <= 3", where="sector:Financials")])
    failed = screen_failures(hand_universe(), scenario)
    # BANK2 is too levered, BANK3's leverage is unknown; BANK4 sits on the limit;
    # OIL1 is levered but outside the screened group
    assert sorted(failed["ticker"]) == ["BANK2", "BANK3"]


# --- a screen through `rebalancer propose` ----------------------------------------------

MID_TILT = """
extends: base.yaml
tilts:
  "size:mid": {target: 0.15, band: 0.02}
"""
ROA_SCREEN = '\nscreens:\n  - {where: all, require: "roa > 0.06"}\n'


@pytest.fixture(scope="module")
def market_files(tmp_path_factory):
    """The synthetic market's universe and holdings CSVs, shared by this module's runs."""
    folder = tmp_path_factory.mktemp("market")
    uni = make_universe()
    paths = {"universe": folder / "universe.csv", "holdings": folder / "holdings.csv"}
    uni.to_csv(paths["universe"], index=False)
    make_holdings(uni).to_csv(paths["holdings"], index=False)
    return paths


def propose(market_files, folder, scenario_text):
    scenario = write_scenario(folder / "scenario.yaml", scenario_text)
    paths = {"trades": folder / "trades.csv", "out": folder / "proposal.xlsx"}
    result = run_cli(
        "propose",
        "--holdings", market_files["holdings"],
        "--universe", market_files["universe"],
        "--scenario", scenario,
        "--trades", paths["trades"],
        "--out", paths["out"],
        "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return paths


def bought_roa(market_files, trades_csv) -> pd.Series:
    roa = pd.read_csv(market_files["universe"]).set_index("ticker")["roa"]
    trades = pd.read_csv(trades_csv)
    return roa.loc[trades.loc[trades["side"] == "BUY", "ticker"]]


@pytest.fixture(scope="module")
def screened(market_files, tmp_path_factory):
    return propose(market_files, tmp_path_factory.mktemp("screened"), MID_TILT + ROA_SCREEN)


def test_without_the_screen_the_tilt_buys_low_roa_names(market_files, tmp_path):
    # the control that gives the next test its meaning
    paths = propose(market_files, tmp_path, MID_TILT)
    assert (bought_roa(market_files, paths["trades"]) <= 0.06).any()


def test_propose_buys_no_name_that_fails_the_screen(market_files, screened):
    roa = bought_roa(market_files, screened["trades"])
    assert len(roa) > 0
    assert (roa > 0.06).all(), roa[roa <= 0.06].to_dict()


def test_the_checks_sheet_has_a_passing_screen_row(screened):
    ws = openpyxl.load_workbook(screened["out"])["Checks"]
    header, *rows = ws.iter_rows(values_only=True)
    rows = [dict(zip(header, row, strict=True)) for row in rows]
    screen_rows = [r for r in rows if str(r["check"]).startswith("screen")]
    # base.yaml's EM small/micro-cap due diligence first: screens accumulate along extends
    assert [(r["check"], r["ok"]) for r in screen_rows] == [
        ("screen region:EM & size:small: leverage <= 3 and roa > 0", "PASS"),
        ("screen region:EM & size:micro: leverage <= 3 and roa > 0", "PASS"),
        ("screen all: roa > 0.06", "PASS"),
    ]


# --- stress tests -----------------------------------------------------------------------

# Four names: two small caps; values in USD before and after the trades, plus cash.
STRESS_UNIVERSE = pd.DataFrame(
    {"ticker": ["BIG1", "SML1", "BIG2", "SML2"], "size": ["large", "small", "mid", "small"]}
).set_index("ticker")
BEFORE_USD = np.array([100.0, 50.0, 200.0, 30.0])  # + 20 cash = 400 NAV
AFTER_USD = np.array([80.0, 70.0, 150.0, 60.0])  # + 40 cash = 400 NAV
NAV_USD = 400.0


def crash_shock():
    data = {"shocks": [{"name": "crash", "all": -0.1, "size:small": -0.1}]}
    return build(data, None).shocks[0]


def test_overlapping_group_shocks_add():
    np.testing.assert_allclose(
        shock_returns(STRESS_UNIVERSE, crash_shock()), [-0.1, -0.2, -0.1, -0.2], atol=1e-15
    )


def test_stress_pnl_in_dollars_before_and_after():
    table = stress_table(STRESS_UNIVERSE, [crash_shock()], BEFORE_USD, AFTER_USD, NAV_USD)
    row = table.iloc[0]
    assert row["shock"] == "crash"
    # before: large/mid 100 + 200 at -10%, small 50 + 30 at -20%; cash untouched
    assert row["pnl_before_usd"] == pytest.approx(-0.1 * 300 - 0.2 * 80)  # -46
    # after: 80 + 150 at -10%, 70 + 60 at -20%
    assert row["pnl_after_usd"] == pytest.approx(-0.1 * 230 - 0.2 * 130)  # -49


def test_stress_pnl_as_a_share_of_nav_before_and_after():
    table = stress_table(STRESS_UNIVERSE, [crash_shock()], BEFORE_USD, AFTER_USD, NAV_USD)
    row = table.iloc[0]
    assert row["pct_before"] == pytest.approx(-46 / 400)
    assert row["pct_after"] == pytest.approx(-49 / 400)


def test_orders_that_break_a_screen_make_the_request_infeasible(example_inputs):
    """The restrictions and screens are hard: orders in whole lots that bought a name a
    screen refuses (the rounding never does; a guard) exit 3 naming the screen's row,
    not a proposal with a warning. A real prepared request of the shipped examples; its
    Checks table as ``run_checks`` wrote it, with the screen's row failed."""
    from rebalancer.checks.hard import require_hard_limits
    from rebalancer.errors import InfeasibleError
    from rebalancer.pipeline import propose_account
    from rebalancer.prepare.build import prepare
    from rebalancer.scenario import load_scenario
    from tests.conftest import SCENARIOS

    scenario = load_scenario(SCENARIOS / "smallcap_rerating.yaml")
    request = prepare(example_inputs, scenario, "IRA-250K", as_of="2026-11-20")
    checks = propose_account(example_inputs, scenario, "IRA-250K", "2026-11-20").checks
    screen = checks["check"].str.startswith("screen ")
    assert screen.any() and checks.loc[screen, "ok"].all()
    broken = checks.copy()
    first = broken.index[screen][0]
    broken.loc[first, ["ok", "value"]] = [False, 2.0]
    with pytest.raises(InfeasibleError) as exc:
        require_hard_limits(request, broken, request.position.weight)
    (conflict,) = exc.value.conflicts
    assert conflict.constraint == checks.loc[first, "check"]
    assert conflict.key == "constraints.no_buy" and conflict.needed == 2.0
    require_hard_limits(request, checks, request.position.weight)  # as written: sent


def test_accounts_sharing_inputs_get_the_screens_of_their_own_scenario(example_inputs):
    """A book prepares its accounts from one set of inputs, the universe-wide work
    (screens, the scenario's fit, its views) found once per universe and settings: an
    account under another scenario, or the same scenario with another cash target,
    gets its own scenario's screened names, as ``screen_failures`` finds them afresh."""
    import dataclasses

    from rebalancer.prepare.build import prepare
    from rebalancer.scenario import load_scenario
    from tests.conftest import SCENARIOS

    screened = load_scenario(SCENARIOS / "smallcap_rerating.yaml")
    plain = dataclasses.replace(screened, screens=[], constraints=dataclasses.replace(
        screened.constraints, no_buy=[]))  # fmt: skip
    for scenario in (screened, plain, screened, plain):
        request = prepare(example_inputs, scenario, "IRA-250K", as_of="2026-11-20")
        fresh = screen_failures(request.universe, scenario)
        pd.testing.assert_frame_equal(request.limits.screened, fresh)
    assert len(screen_failures(request.universe, screened)) > 0
    assert len(request.limits.screened) == 0
