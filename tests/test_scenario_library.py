"""Every shipped scenario on every example account: it proposes, every check passes,
and the proposal moves the way the scenario's comment says it believes.

Directions are measured here from the trades and the input files, not from the
optimizer's numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.model.stress import shock_returns
from rebalancer.pipeline import propose_account
from rebalancer.scenario import load_scenario
from tests.conftest import EXAMPLES, SCENARIOS

ACCOUNTS = ["IRA-250K", "TAX-2M", "FDN-20M"]
SIZES = ["micro", "small", "mid", "large"]  # base.yaml's buckets, from 0, 3e8, 2e9, 10e9
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


@pytest.fixture(scope="module")
def data(example_inputs):
    return example_inputs


@pytest.fixture(scope="module")
def proposals(data):
    out = {}
    for name in NAMES:
        scenario = load_scenario(SCENARIOS / f"{name}.yaml")
        for account in ACCOUNTS:
            out[name, account] = (scenario, propose_account(data, scenario, account, "2026-11-20"))
    return out


def _weights(data, proposal, scenario):
    """Before/after weights by ticker and the benchmark, from lots and trades."""
    uni = data.universe.copy()
    b = scenario.size_buckets
    uni["size"] = np.select(
        [
            uni["market_cap"] >= b["large"],
            uni["market_cap"] >= b["mid"],
            uni["market_cap"] >= b["small"],
        ],
        ["large", "mid", "small"],
        "micro",
    )
    lots = data.holdings[data.holdings["account"] == proposal.account]
    cash = lots.loc[lots["ticker"] == "CASH", "quantity"].sum()
    before = (
        lots[lots["ticker"] != "CASH"]
        .groupby("ticker")["quantity"]
        .sum()
        .reindex(uni.index, fill_value=0.0)
    )
    t = proposal.trades
    signed = pd.Series(
        np.where(t["side"] == "BUY", 1.0, -1.0) * t["quantity"].to_numpy(), index=t["ticker"]
    ).reindex(uni.index, fill_value=0.0)
    nav = float((before * uni["price"]).sum() + cash)
    return (
        uni,
        before * uni["price"] / nav,
        (before + signed) * uni["price"] / nav,
        data.benchmark.reindex(uni.index, fill_value=0.0),
        nav,
    )


def _active(uni, w, ref, mask):
    return float((w - ref)[mask].sum())


@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_proposes_and_every_check_passes(proposals, name, account):
    _, p = proposals[name, account]
    failed = p.checks[~p.checks["ok"]]
    assert failed.empty, failed.to_string()
    assert p.status == "optimal"


# The thesis's due diligence on emerging-market small caps (strong balance sheets,
# profits), stated once in base.yaml for every scenario.
DUE_DILIGENCE = [
    {"where": "region:EM & size:small", "require": "leverage <= 3 and roa > 0"},
    {"where": "region:EM & size:micro", "require": "leverage <= 3 and roa > 0"},
]


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_keeps_the_em_due_diligence_of_base(name):
    screens = [vars(s) for s in load_scenario(SCENARIOS / f"{name}.yaml").screens]
    for screen in DUE_DILIGENCE:
        assert {"require": screen["require"], "where": screen["where"]} in screens, name
    c = load_scenario(SCENARIOS / f"{name}.yaml").constraints.liquidity.max_participation
    participation = {s.text: v for s, v in c.overrides}
    assert participation["region:EM & size:small"] <= 0.02
    assert participation["region:EM & size:micro"] <= 0.02


@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.parametrize("name", NAMES)
def test_no_scenario_buys_an_unsound_em_small_or_micro_cap(data, proposals, name, account):
    """Measured from the trades (the trades CSV's rows) and the universe file."""
    _, p = proposals[name, account]
    uni = pd.read_csv(EXAMPLES / "universe.csv").set_index("ticker")
    size = pd.cut(uni["market_cap"], [0, 3e8, 2e9, 10e9, np.inf], right=False, labels=SIZES).astype(
        str
    )
    em_small = (uni["region"] == "EM") & size.isin(["small", "micro"])
    unsound = em_small & ~((uni["leverage"] <= 3) & (uni["roa"] > 0))
    bought = p.trades.loc[p.trades["side"] == "BUY", "ticker"]
    assert not unsound[bought].any(), list(bought[unsound[bought].to_numpy()])


@pytest.mark.parametrize("account", ACCOUNTS)
def test_smallcap_rerating_adds_small_caps_and_buys_cheaper_books(data, proposals, account):
    scenario, p = proposals["smallcap_rerating", account]
    uni, w0, w1, ref, _ = _weights(data, p, scenario)
    small = (uni["size"] == "small").to_numpy()
    assert _active(uni, w1, ref, small) > _active(uni, w0, ref, small) + 0.03
    buys = p.trades[p.trades["side"] == "BUY"]
    small_buys = buys[uni.loc[buys["ticker"], "size"].to_numpy() == "small"]
    # the valuation signal picks cheap books: the small caps bought are cheaper than
    # buying the (profitable) small-cap index would be, cap-weighted
    pb_bought = np.average(uni.loc[small_buys["ticker"], "pb"], weights=small_buys["notional"])
    index = uni[(uni["size"] == "small") & (uni["roa"] > 0)]
    assert pb_bought < np.average(index["pb"], weights=index["market_cap"]) * 0.85
    assert pb_bought < index["pb"].median()
    assert (uni.loc[small_buys["ticker"], "roa"] > 0).all(), "screen: profitable small caps only"
    micro_buys = buys[uni.loc[buys["ticker"], "size"].to_numpy() == "micro"]
    assert (uni.loc[micro_buys["ticker"], "roa"] > 0).all(), "and micro caps"


@pytest.mark.parametrize("account", ACCOUNTS)
def test_rate_cuts_raise_exposure_to_floating_rate_borrowers(data, proposals, account):
    scenario, p = proposals["rate_cuts", account]
    uni, w0, w1, _, _ = _weights(data, p, scenario)
    fdp = uni["floating_debt_pct"]
    assert (w1 * fdp).sum() / w1.sum() > (w0 * fdp).sum() / w0.sum() + 0.01
    high = (fdp >= fdp.quantile(0.75)).to_numpy()
    assert w1[high].sum() > w0[high].sum()


@pytest.mark.parametrize("account", ACCOUNTS)
def test_em_smallcap_buys_only_sound_balance_sheets_within_tighter_liquidity(
    data, proposals, account
):
    scenario, p = proposals["em_smallcap", account]
    uni, w0, w1, ref, _ = _weights(data, p, scenario)
    buys = p.trades[p.trades["side"] == "BUY"].set_index("ticker")
    em_buys = uni.loc[buys.index][uni.loc[buys.index, "region"] == "EM"]
    assert len(em_buys) > 0
    assert (em_buys["leverage"] <= 3).all() and (em_buys["roa"] > 0).all()
    em_small = p.trades[
        (uni.loc[p.trades["ticker"], "region"].to_numpy() == "EM")
        & (uni.loc[p.trades["ticker"], "size"].to_numpy() == "small")
    ]
    limit = 0.02 * uni.loc[em_small["ticker"], "adv"].to_numpy() * 3
    assert (em_small["notional"].to_numpy() <= limit + 0.01).all()
    mask = ((uni["region"] == "EM") & (uni["size"] == "small")).to_numpy()
    assert _active(uni, w1, ref, mask) > _active(uni, w0, ref, mask)


@pytest.mark.parametrize("account", ACCOUNTS)
def test_recession_relapse_lowers_smaller_cap_exposure_and_the_relapse_loss(
    data, proposals, account
):
    scenario, p = proposals["recession_relapse", account]
    uni, w0, w1, ref, nav = _weights(data, p, scenario)
    small = (uni["size"] == "small").to_numpy()
    smaller = uni["size"].isin(["small", "micro", "mid"]).to_numpy()
    assert _active(uni, w1, ref, small) <= _active(uni, w0, ref, small) + 1e-12
    assert _active(uni, w1, ref, smaller) <= _active(uni, w0, ref, smaller) + 1e-12
    if w0[smaller].sum() > 0.01:  # accounts that hold mid caps must cut them
        assert w1[smaller].sum() < w0[smaller].sum()
    relapse = shock_returns(uni.assign(size=uni["size"]), scenario.shocks[0])
    assert float((w1 * relapse).sum()) >= float((w0 * relapse).sum()) - 1e-4


@pytest.mark.parametrize("account", ACCOUNTS)
def test_biotech_tilts_into_biotech_with_no_name_above_one_percent(data, proposals, account):
    scenario, p = proposals["biotech_innovation", account]
    uni, w0, w1, ref, _ = _weights(data, p, scenario)
    bio = uni["themes"].str.contains("biotech").to_numpy()
    exposure = _active(uni, w1, ref, bio)
    tilt = scenario.tilts["theme:biotech"]
    assert abs(exposure - tilt.target) <= tilt.band + 1e-9
    assert abs(exposure - tilt.target) <= abs(_active(uni, w0, ref, bio) - tilt.target)
    assert w1[bio].max() <= 0.01 + 1e-9


@pytest.mark.parametrize("account", ACCOUNTS)
def test_reshoring_and_deregulation_move_their_groups_toward_target(data, proposals, account):
    scenario, p = proposals["reshoring", account]
    uni, w0, w1, ref, _ = _weights(data, p, scenario)
    reshoring = uni["themes"].str.contains("reshoring").to_numpy()
    assert _active(uni, w1, ref, reshoring) > _active(uni, w0, ref, reshoring) + 0.02
    scenario, p = proposals["deregulation", account]
    uni, w0, w1, ref, _ = _weights(data, p, scenario)
    us_small = ((uni["region"] == "US") & (uni["size"] == "small")).to_numpy()
    assert _active(uni, w1, ref, us_small) > _active(uni, w0, ref, us_small) + 0.01


@pytest.mark.parametrize("account", ACCOUNTS)
def test_balanced_rerating_holds_every_sleeve_in_its_band(data, proposals, account):
    scenario, p = proposals["balanced_rerating", account]
    uni, w0, w1, ref, _ = _weights(data, p, scenario)
    sleeves = {
        "size:small": (uni["size"] == "small").to_numpy(),
        "theme:biotech": uni["themes"].str.contains("biotech").to_numpy(),
        "theme:reshoring": uni["themes"].str.contains("reshoring").to_numpy(),
        "region:EM & size:small": ((uni["region"] == "EM") & (uni["size"] == "small")).to_numpy(),
    }
    for text, mask in sleeves.items():
        tilt = scenario.tilts[text]
        assert abs(_active(uni, w1, ref, mask) - tilt.target) <= tilt.band + 1e-9, text


@pytest.mark.parametrize("account", ACCOUNTS)
def test_status_quo_barely_trades(proposals, account):
    _, p = proposals["status_quo", account]
    turnover = p.trades["notional"].sum() / (2 * p.metrics.nav_usd)
    assert turnover <= 0.02 + 1e-9


def test_scenarios_command_lists_each_file_with_what_it_changes():
    from tests.conftest import run_cli

    result = run_cli("scenarios", SCENARIOS)
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert f"{name}.yaml" in result.output
    block = result.output.split("\nsmallcap_rerating.yaml")[1].split("\n\n")[0]
    assert "(extends base.yaml)" in block
    assert "+ tilts.size:small: +0.08 ± 0.03" in block
    assert "constraints.max_turnover: 0.3 → 0.25" in block


def test_scenarios_command_reports_a_broken_file_and_goes_on(tmp_path):
    from tests.conftest import run_cli

    (tmp_path / "a.yaml").write_text("name: A\ndescription: fine\n")
    (tmp_path / "b.yaml").write_text("extends: missing.yaml\n")
    result = run_cli("scenarios", tmp_path)
    assert result.exit_code == 0
    assert "a.yaml — A" in result.output
    assert "b.yaml: cannot be loaded" in result.output and "missing.yaml" in result.output
