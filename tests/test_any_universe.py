"""Every shipped scenario on any universe, through ``rebalancer propose``.

Three universes, the last two cut from the example files here:

- ``examples``: the shipped example world;
- ``large``: its large caps only (no small, micro or mid cap at all: every size tilt,
  per-size limit and shock of the library has an empty group);
- ``us``: its US names only, with no ``themes`` and no signal columns (pb, pe, roa,
  momentum, leverage, floating_debt_pct, beta: the columns removed, not blank).

A cut universe keeps the last year of its names' prices, the benchmark re-normalised over them,
and each account's lots of them, the value of the lots it drops added to the account's
cash (so each account keeps its NAV).

Every run ends 0 or 3, never 1 or a traceback. On exit 0 every limit is re-measured
from the written outputs and the input files (``test_properties.check_proposal``; the
tracking error with the product's risk model, rebuilt from the cut files, as
``test_propose_examples`` does: these universes are too large for the test's own
Ledoit-Wolf), each empty group is named once in the warnings, each screen on a column
the universe lacks says how many names it keeps from being bought, and no EM small or
micro cap is bought with leverage above 3 or ROA <= 0. On exit 3 the line names the
conflict, and a tilt on an empty group is named with its scenario key.

Runs: by default every shipped scenario on each universe for one account of it —
FDN-20M on the examples, IRA-250K on the large caps, TAX-2M (taxable, from the
accounts file) on the US names: 30 runs, about 60 s on two cores.
``REBALANCER_ANY_UNIVERSE=all``: every example account on every universe (90 runs).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.inputs import read_universe
from rebalancer.model.risk import build_risk_model
from rebalancer.model.universe import with_size
from rebalancer.scenario import load_scenario
from tests.conftest import EXAMPLES, SCENARIOS, run_cli
from tests.test_properties import (
    SIGNAL_COLUMNS,
    check_infeasible,
    check_proposal,
    fails_screen,
    members,
    read_universe_file,
    sized,
)

AS_OF = "2026-11-20"
HISTORY_DAYS = 252
SHIPPED = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
UNIVERSES = ("examples", "large", "us")
ACCOUNTS = ["IRA-250K", "TAX-2M", "FDN-20M"]
DEFAULT_ACCOUNT = {"examples": "FDN-20M", "large": "IRA-250K", "us": "TAX-2M"}
ALL = os.environ.get("REBALANCER_ANY_UNIVERSE") == "all"
RUNS = [
    (name, universe, account)
    for name in SHIPPED
    for universe in UNIVERSES
    for account in ACCOUNTS
    if ALL or account == DEFAULT_ACCOUNT[universe]
]


def cut_examples(folder: Path, keep, drop_columns: tuple[str, ...] = ()) -> Path:
    """The example files restricted to the universe rows ``keep(universe)`` selects."""
    folder.mkdir(parents=True, exist_ok=True)
    uni = pd.read_csv(EXAMPLES / "universe.csv", dtype=str, keep_default_na=False)
    uni = uni[keep(uni)].drop(columns=list(drop_columns))
    kept = set(uni["ticker"])
    uni.to_csv(folder / "universe.csv", index=False)
    prices = pd.read_csv(EXAMPLES / "prices.csv", dtype=str, keep_default_na=False)
    # a year of history (the examples' three make each run read and fit three times more)
    prices[["date", *uni["ticker"]]].tail(HISTORY_DAYS).to_csv(folder / "prices.csv", index=False)
    bench = pd.read_csv(EXAMPLES / "benchmark.csv")
    bench = bench[bench["ticker"].isin(kept)]
    bench = bench.assign(weight=bench["weight"] / bench["weight"].sum())
    bench.to_csv(folder / "benchmark.csv", index=False, float_format="%.17g")
    hold = pd.read_csv(EXAMPLES / "holdings.csv", dtype=str, keep_default_na=False)
    price = pd.read_csv(EXAMPLES / "universe.csv").set_index("ticker")["price"]
    dropped = ~hold["ticker"].isin(kept | {"CASH"})
    value = (hold["quantity"].astype(float) * hold["ticker"].map(price)).where(dropped, 0.0)
    freed = value.groupby(hold["account"]).sum()
    hold = hold[~dropped].copy()
    cash = hold["ticker"] == "CASH"
    assert cash.sum() == hold["account"].nunique(), "each example account has one CASH row"
    money = hold.loc[cash, "quantity"].astype(float) + hold.loc[cash, "account"].map(freed)
    hold.loc[cash, "quantity"] = money.round(2).map(repr)
    hold.to_csv(folder / "holdings.csv", index=False)
    (folder / "accounts.csv").write_bytes((EXAMPLES / "accounts.csv").read_bytes())
    return folder


@pytest.fixture(scope="module")
def universes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("universes")
    return {
        "examples": EXAMPLES,
        "large": cut_examples(root / "large", lambda u: u["market_cap"].astype(float) >= 10e9),
        "us": cut_examples(
            root / "us", lambda u: u["region"] == "US", drop_columns=(*SIGNAL_COLUMNS, "themes")
        ),
    }


@pytest.fixture(scope="module")
def covariance(universes):
    """Σ(universe name, scenario): the dense covariance of the product's risk model,
    rebuilt from the cut files (once per universe and size buckets)."""
    from rebalancer.inputs import read_prices

    cache: dict[tuple[str, str], np.ndarray] = {}

    def sigma(name: str, scenario) -> np.ndarray:
        key = (name, repr(sorted(scenario.size_buckets.items())))
        if key not in cache:
            folder = universes[name]
            uni = with_size(read_universe(folder / "universe.csv"), scenario)
            model = build_risk_model(uni, read_prices(folder / "prices.csv"))
            b = model.loadings
            cache[key] = b @ model.factor_cov @ b.T + np.diag(model.specific_var)
        return cache[key]

    return sigma


def test_the_cut_universes_are_what_they_claim(universes):
    large = read_universe_file(universes["large"] / "universe.csv")
    us = pd.read_csv(universes["us"] / "universe.csv")
    assert (large["market_cap"] >= 10e9).all() and len(large) > 300
    assert (us["region"] == "US").all()
    assert not set(us.columns) & {*SIGNAL_COLUMNS, "themes"}
    for name in ("large", "us"):
        folder = universes[name]
        bench = pd.read_csv(folder / "benchmark.csv")
        assert bench["weight"].sum() == pytest.approx(1.0, abs=1e-12)
        for account in ACCOUNTS:
            assert nav(folder, account) == pytest.approx(nav(EXAMPLES, account), rel=1e-9)


def nav(folder: Path, account: str) -> float:
    price = pd.read_csv(folder / "universe.csv").set_index("ticker")["price"]
    lots = pd.read_csv(folder / "holdings.csv")
    lots = lots[lots["account"] == account]
    cash = lots["ticker"] == "CASH"
    return float((lots.loc[~cash, "quantity"] * lots.loc[~cash, "ticker"].map(price)).sum()) + (
        float(lots.loc[cash, "quantity"].sum())
    )


def group_settings(scenario) -> list[tuple[str, tuple]]:
    """(group, setting) for each setting that acts on one group alone and is a no-op on
    an empty group: per-group limits and costs, no_buy groups, screens, shocks, views,
    tilts whose band holds 0."""
    c = scenario.constraints
    out: list[tuple[str, tuple]] = []
    for kind, setting in (
        ("participation", c.liquidity.max_participation),
        ("position", c.max_position),
        ("spread", scenario.costs.spread_bps),
    ):
        if setting is not None:
            out += [(selector.text, (kind, value)) for selector, value in setting.overrides]
    out += [(text, ("no_buy",)) for text in c.no_buy]
    out += [(s.where, ("screen", s.require)) for s in scenario.screens]
    out += [
        (t, ("shock", shock.name, r)) for shock in scenario.shocks for t, r in shock.returns.items()
    ]
    out += [(t, ("view", v)) for v in scenario.views for t in dict.fromkeys((v.long, v.short)) if t]
    for text, tilt in scenario.tilts.items():
        if tilt.target - tilt.band <= 0 <= tilt.target + tilt.band:
            out.append((text, ("tilt", tilt.target, tilt.band)))
    return out


def empty_settings(uni: pd.DataFrame, scenario) -> tuple[list[str], list[str]]:
    """The groups of settings that match no name here, each a no-op, and the tilts whose
    band excludes 0 on an empty group (a conflict)."""
    texts = [text for text, _ in group_settings(scenario)]
    conflicts = [
        text
        for text, tilt in scenario.tilts.items()
        if not tilt.target - tilt.band <= 0 <= tilt.target + tilt.band
        and not members(uni, text).any()
    ]
    return [t for t in dict.fromkeys(texts) if not members(uni, t).any()], conflicts


def base_only(scenario, text: str) -> list[tuple]:
    """The settings on group ``text`` when each is one the shipped base.yaml states with
    the same value, else [] (a setting of the scenario's own)."""
    base = [s for t, s in group_settings(load_scenario(SCENARIOS / "base.yaml")) if t == text]
    mine = [s for t, s in group_settings(scenario) if t == text]
    return mine if all(s in base for s in mine) else []


def columns_of(require: str) -> list[str]:
    return [c for c in SIGNAL_COLUMNS if re.search(rf"\b{c}\b", require)]


def check_warnings(summary: dict, uni: pd.DataFrame, scenario) -> None:
    """Each empty group named once: with every key using it, or, when only the shipped
    base.yaml's own settings use it, in one line for all such groups with their count;
    each screen on a column without values counted."""
    warnings = summary["warnings"]
    empty, _ = empty_settings(uni, scenario)
    inherited = {text: base_only(scenario, text) for text in empty}
    for text in empty:
        named = [w for w in warnings if f"group '{text}' matches no security" in w]
        assert len(named) == (0 if inherited[text] else 1), (text, warnings)
        assert all("no effect on" in w for w in named)
    library = [w for w in warnings if w.startswith("base.yaml: ")]
    groups = [text for text in empty if inherited[text]]
    if groups:
        count = sum(len(settings) for settings in inherited.values())
        assert len(library) == 1, warnings
        assert library[0].startswith(f"base.yaml: {count} setting"), (library, count)
        listed = re.search(r"absent from this universe \((.*)\) ha", library[0])
        assert listed and sorted(listed[1].split(", ")) == sorted(groups), (library, groups)
        assert library[0].endswith("no effect")
    else:
        assert not library, warnings
    for screen in scenario.screens:
        group = members(uni, screen.where)
        lacking = [c for c in columns_of(screen.require) if uni[c].isna().all()]
        if group.any() and lacking:
            said = [w for w in warnings if f"the {int(group.sum())} names of '{screen.where}'" in w]
            assert len(said) == 1, (screen, warnings)
            assert all(f"'{c}'" in said[0] for c in lacking)
            assert "not bought" in said[0]


def em_small_bought_failing(trades: pd.DataFrame, uni: pd.DataFrame) -> pd.DataFrame:
    """The EM small and micro caps bought with leverage above 3 or ROA <= 0 (or unknown)."""
    buys = trades[trades["side"] == "BUY"]
    names = uni.loc[buys["ticker"]]
    em_small = (names["region"] == "EM") & names["size"].isin(["small", "micro"])
    sound = (names["leverage"] <= 3) & (names["roa"] > 0)
    return buys[(em_small & ~sound).to_numpy()]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("name", "universe", "account"), RUNS)
def test_every_scenario_ends_0_or_3_on_every_universe(
    universes, covariance, tmp_path, name, universe, account
):
    folder = universes[universe]
    paths = {
        role: folder / f"{role}.csv" for role in ("holdings", "universe", "prices", "benchmark")
    }
    paths["scenario"] = SCENARIOS / f"{name}.yaml"
    outputs = {"out": "proposal.xlsx", "trades": "trades.csv", "json": "summary.json"}
    paths |= {role: tmp_path / file for role, file in outputs.items()}
    args = ["propose", "--account", account, "--as-of", AS_OF, "--quiet"]
    args += ["--accounts", folder / "accounts.csv"]
    for role in ("holdings", "universe", "prices", "benchmark", "scenario"):
        args += [f"--{role}", paths[role]]
    args += ["--out", paths["out"], "--trades", paths["trades"], "--json", paths["json"]]
    result = run_cli(*args)
    scenario = load_scenario(paths["scenario"])
    uni = read_universe_file(paths["universe"])
    uni["size"] = sized(uni, scenario.size_buckets)
    _, conflicts = empty_settings(uni, scenario)
    if result.exit_code == 3:
        check_infeasible(result, paths)
        if conflicts:
            assert f"group '{conflicts[0]}' matches no security" in result.output
            assert f"'tilts.{conflicts[0]}'" in result.output
        return
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    assert not conflicts, f"tilts on empty groups {conflicts} cannot hold"
    check_proposal(paths, account=account, sigma=covariance(universe, scenario))
    summary = json.loads(paths["json"].read_text())
    check_warnings(summary, uni, scenario)
    trades = pd.read_csv(paths["trades"], keep_default_na=False)
    failing = em_small_bought_failing(trades, uni)
    assert failing.empty, failing.to_string()
    for screen in scenario.screens:  # a screen on a missing column keeps its group unbought
        if any(uni[c].isna().all() for c in columns_of(screen.require)):
            bought = trades.loc[trades["side"] == "BUY", "ticker"]
            kept_out = members(uni, screen.where) & fails_screen(uni, screen.require)
            assert not uni.index[kept_out].isin(bought).any()


# --- the shipped base.yaml's settings on groups this universe lacks: one line ----------


def test_base_settings_on_absent_groups_make_one_line_a_scenarios_own_are_named(tmp_path):
    from rebalancer.model.universe import fit_warnings, scenario_fit

    micro = "region:EM & size:micro"  # the examples have no EM micro cap
    shipped = load_scenario(SCENARIOS / "smallcap_rerating.yaml")
    uni = with_size(read_universe(EXAMPLES / "universe.csv"), shipped)
    assert not members(uni, micro).any()
    warnings = fit_warnings(scenario_fit(uni, shipped))
    line = f"base.yaml: 2 settings for group absent from this universe ({micro}) have no effect"
    assert [w for w in warnings if micro in w] == [line]

    # the same group in a setting the user's own file states: named with every key
    own = tmp_path / "own.yaml"
    own.write_text(
        "extends: smallcap_rerating.yaml\n"
        f'constraints: {{liquidity: {{max_participation: {{"{micro}": 0.01}}}}}}\n'
    )
    warnings = fit_warnings(scenario_fit(uni, load_scenario(own)))
    assert [w for w in warnings if micro in w] == [
        f"group '{micro}' matches no security in the universe: no effect on "
        f"constraints.liquidity.max_participation.{micro}, screens[2]"
    ]
    assert not [w for w in warnings if w.startswith("base.yaml")]


def test_every_per_group_setting_on_an_absent_group_is_named(tmp_path):
    # found from the schema, not a list: max_active_position's overrides, which the
    # warning had missed, with the others
    from rebalancer.model.universe import fit_warnings, scenario_fit

    micro = "region:EM & size:micro"
    own = tmp_path / "own.yaml"
    own.write_text(
        "extends: status_quo.yaml\n"
        f'constraints: {{max_active_position: {{default: 0.05, "{micro}": 0.01}},\n'
        f'              max_position: {{default: 0.05, "{micro}": 0.02}}}}\n'
        f'costs: {{spread_bps: {{default: 5, "{micro}": 40}}}}\n'
    )
    scenario = load_scenario(own)
    uni = with_size(read_universe(EXAMPLES / "universe.csv"), scenario)
    assert not members(uni, micro).any()
    named = [w for w in fit_warnings(scenario_fit(uni, scenario)) if micro in w]
    assert len(named) == 1, named
    for key in ("max_active_position", "max_position", "spread_bps"):
        assert f"{key}.{micro}" in named[0], named[0]


# --- funds: no market cap, a size bucket of their own -----------------------------------


def test_funds_without_a_market_cap_are_their_own_size_bucket(tmp_path):
    from rebalancer.model.risk import estimate_factor_model
    from rebalancer.pipeline import load_inputs, prepare
    from tests.conftest import make_holdings, make_universe

    uni = make_universe().set_index("ticker")
    hold = make_holdings(uni.reset_index())
    funds = ["S005", "S030"]  # a micro cap's and a mid cap's rows become funds
    hold.loc[len(hold)] = {"account": "ACC1", "ticker": "S030", "quantity": 100.0}
    uni["market_cap"] = uni["market_cap"].astype(object)
    uni.loc[funds, "market_cap"] = ""
    paths = {"universe": tmp_path / "universe.csv", "holdings": tmp_path / "holdings.csv"}
    uni.reset_index().to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)

    data = load_inputs(paths["holdings"], paths["universe"])
    request = prepare(data, load_scenario(SCENARIOS / "base.yaml"), "ACC1", AS_OF, taxable=False)
    i = request.universe.index.get_indexer(funds)
    assert request.universe["size"].iloc[i].tolist() == ["fund", "fund"]
    # base.yaml's participation (20%; micro caps 5%) and spreads (5 bp; micro 60 bp)
    np.testing.assert_array_equal(request.limits.participation[i], [0.20, 0.20])
    assert np.isfinite(request.risk.total_vol()).all() and np.isfinite(request.returns.alpha).all()
    # a factor model estimated from prices copes too (size exposure 0, median weight)
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.01, (120, len(uni)))
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(returns, axis=0)),
        index=pd.bdate_range("2026-01-01", periods=120),
        columns=uni.index,
    )
    model = estimate_factor_model(request.universe, prices)
    assert np.isfinite(model.factor_cov).all() and np.isfinite(model.specific_var).all()
    size = model.loadings[:, model.factor_names.index("size")]
    assert (size[i] == 0).all()

    scenario = tmp_path / "funds.yaml"
    scenario.write_text(
        'extends: base.yaml\nconstraints:\n  max_position: {default: 0.05, "size:fund": 0.10}\n'
    )
    outputs = {"out": "p.xlsx", "trades": "t.csv", "json": "s.json"}
    paths |= {role: tmp_path / file for role, file in outputs.items()} | {"scenario": scenario}
    args = ["propose", "--account", "ACC1", "--as-of", AS_OF, "--quiet", "--tax-exempt"]
    for role in ("holdings", "universe", "scenario", "out", "trades", "json"):
        args += [f"--{role}", paths[role]]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    check_proposal(paths, account="ACC1")
    summary = json.loads(paths["json"].read_text())
    assert "size:fund" in summary["exposures"]["after"]


# --- a tilt on an empty group: one run of a what-if, and --relax widens its band --------


def cli_inputs(folder: Path, holdings: Path | None = None, accounts: bool = True) -> list:
    """The options naming a universe's files (``holdings``: another holdings file)."""
    args = ["--holdings", holdings or folder / "holdings.csv", "--as-of", AS_OF]
    for role in ("universe", "prices", "benchmark"):
        args += [f"--{role}", folder / f"{role}.csv"]
    return [*args, "--accounts", folder / "accounts.csv"] if accounts else args


def test_relax_widens_the_band_of_a_tilt_on_an_empty_group(universes, tmp_path):
    summary = tmp_path / "s.json"
    result = run_cli(
        "propose", *cli_inputs(universes["large"]), "--account", "FDN-20M", "--relax",
        "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--json", summary, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    relaxed = {r["key"]: r for r in json.loads(summary.read_text())["relaxed"]}
    small = relaxed["tilts.size:small.band"]
    assert small["limit"] == 0.03 and small["relaxed_to"] >= 0.08  # the band now holds 0


def test_whatif_reports_an_empty_group_tilt_as_one_infeasible_run(universes, tmp_path):
    # lots without a cost basis: no tax status to give (whatif has no --accounts here)
    lots = pd.read_csv(universes["large"] / "holdings.csv")
    lots[lots["account"] == "FDN-20M"][["account", "ticker", "quantity"]].to_csv(
        tmp_path / "holdings.csv", index=False
    )
    args = cli_inputs(universes["large"], tmp_path / "holdings.csv", accounts=False)
    result = run_cli(
        "whatif", *args, "--account", "FDN-20M",
        "--scenario", SCENARIOS / "smallcap_rerating.yaml",
        "--scenario", SCENARIOS / "base.yaml", "--out", tmp_path / "w.xlsx",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "smallcap_rerating: account FDN-20M: infeasible" in text
    assert "group 'size:small' matches no security in the universe" in text
    assert (tmp_path / "w.xlsx").exists()


def test_a_universe_of_funds_alone_is_proposed_for(tmp_path):
    """No market cap anywhere: no market portfolio to imply returns from either."""
    funds = pd.DataFrame(
        {
            "ticker": ["SPY", "QQQ", "EFA", "EEM", "AGG", "IWM"],
            "price": [600.0, 520.0, 85.0, 45.0, 98.0, 230.0],
            "sector": "Fund",
            "region": ["US", "US", "DM", "EM", "US", "US"],
            "market_cap": "",
            "adv": [3e10, 2e10, 1.5e9, 1.2e9, 8e8, 6e9],
        }
    )
    paths = {"universe": tmp_path / "universe.csv", "holdings": tmp_path / "holdings.csv"}
    funds.to_csv(paths["universe"], index=False)
    paths["holdings"].write_text(
        "account,ticker,quantity,cost_basis,acquired\nA1,SPY,300,,\nA1,QQQ,200,,\nA1,CASH,50000,,\n"
    )
    paths["scenario"] = tmp_path / "funds.yaml"
    paths["scenario"].write_text(
        'extends: base.yaml\nconstraints:\n  max_position: {default: 0.05, "size:fund": 0.5}\n'
        "  sector_max: null\n"
    )
    outputs = {"out": "p.xlsx", "trades": "t.csv", "json": "s.json"}
    paths |= {role: tmp_path / file for role, file in outputs.items()}
    args = ["propose", "--account", "A1", "--as-of", AS_OF, "--quiet", "--tax-exempt"]
    for role in ("holdings", "universe", "scenario", "out", "trades", "json"):
        args += [f"--{role}", paths[role]]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    check_proposal(paths, account="A1")
    assert json.loads(paths["json"].read_text())["n_trades"] > 0
