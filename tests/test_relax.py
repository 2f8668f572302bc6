"""--relax: every kind of conflict a scenario can state, each a small scenario on the
synthetic market.

Without --relax an infeasible request exits 3 with one line that names the
conflicting limits, what the closest feasible portfolio would need, and the smallest
relaxation of the scenario ("KEY OLD -> NEW"), and writes nothing. With --relax that
relaxation is applied: exit 0, the proposal labelled as relaxed, each relaxed
setting moved no further than the elastic "would need" number (plus the rounding
margin), and the written trades, re-measured here from the input files alone,
holding every relaxed limit (and `rebalancer verify` passing on the JSON).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rebalancer.errors import InfeasibleError
from rebalancer.limits.tracking_error import TE_ABS_MARGIN, TE_MARGIN
from rebalancer.pipeline import propose
from tests.conftest import SCENARIOS, make_holdings, make_universe, run_cli

PREFIX = "smallest relaxation (--relax applies it): "
USD = 0.005  # half a cent
TOL = 1e-9  # weights


@dataclass(frozen=True)
class Case:
    id: str
    body: str  # scenario YAML below "extends: base.yaml"
    taxable: bool = False
    benchmark: bool = False  # benchmark: the held names, equal weight
    sell_adv: float | None = None  # the first held name a forced exit with this ADV
    names: tuple[str, ...] = ()  # words the exit-3 message must contain
    keys: tuple[str, ...] = ()  # settings the relaxation must move


CASES = [
    # (1) a tilt beyond what the position caps allow: 8 biotech names capped at 2% each
    Case(
        "tilt_beyond_position_caps",
        """
tilts:
  "theme:biotech": {target: 0.10, band: 0.01}
constraints:
  max_position: {default: 0.05, "theme:biotech": 0.02}
  max_turnover: null
  max_tracking_error: null
  sector_max: null
""",
        names=("max_position",),
        keys=("constraints.max_position.theme:biotech",),
    ),
    # (2) a turnover cap too small to reach a band
    Case(
        "turnover_below_band",
        """
tilts:
  "size:small": {target: 0.10, band: 0.01}
constraints:
  max_turnover: 0.02
  max_tracking_error: null
""",
        names=("max_turnover", "size:small"),
        keys=("constraints.max_turnover",),
    ),
    # (3) a cash target and floor above what sales can raise at 0.001% of ADV a day
    Case(
        "cash_above_participation",
        """
constraints:
  cash: {target: 0.30, min: 0.25}
  liquidity:
    max_participation: {default: 0.00001, "size:small": 0.00001, "size:micro": 0.00001,
                        "region:EM": 0.00001}
  max_tracking_error: null
""",
        names=("cash target", "cash floor", "liquidity"),
        keys=("constraints.cash.target", "constraints.cash.min"),
    ),
    # (4) a tracking-error cap (against a benchmark file) below what the tilt needs
    Case(
        "tracking_error_below_tilt",
        """
tilts:
  "size:small": {target: 0.08, band: 0.01}
constraints:
  max_tracking_error: 0.003
  max_turnover: null
""",
        benchmark=True,
        names=("max_tracking_error", "size:small"),
        keys=("constraints.max_tracking_error",),
    ),
    # (5) sector_max below what a sector tilt needs (Energy is 19.6% before)
    Case(
        "sector_max_below_tilt",
        """
tilts:
  "sector:Energy": {target: 0.15, band: 0.01}
constraints:
  sector_max: 0.30
  max_turnover: null
  max_tracking_error: null
""",
        names=("sector_max (Energy)",),
        keys=("constraints.sector_max",),
    ),
    # (6) no realized gain in a taxable account whose tilt must sell gain lots
    Case(
        "no_gain_budget_taxable",
        """
tilts:
  "size:small": {target: 0.08, band: 0.01}
constraints:
  max_realized_gain: 0
  max_turnover: null
  max_tracking_error: null
""",
        taxable=True,
        names=("max_realized_gain",),
        keys=("constraints.max_realized_gain",),
    ),
    # (7) two conflicts at once: position caps for one tilt, the sector cap for another
    Case(
        "position_and_sector",
        """
tilts:
  "theme:biotech": {target: 0.10, band: 0.01}
  "sector:Energy": {target: 0.15, band: 0.01}
constraints:
  max_position: {default: 0.05, "theme:biotech": 0.02}
  sector_max: 0.30
  max_turnover: null
  max_tracking_error: null
""",
        names=("max_position", "sector_max (Energy)"),
        keys=("constraints.max_position.theme:biotech", "constraints.sector_max"),
    ),
    # (7) turnover and tracking error both too tight for a tilt: the elastic answer
    # gives on the tracking error and the band and holds the turnover
    Case(
        "turnover_and_tracking_error",
        """
tilts:
  "size:small": {target: 0.10, band: 0.01}
constraints:
  max_turnover: 0.02
  max_tracking_error: 0.002
""",
        names=("max_turnover", "max_tracking_error", "size:small"),
        keys=("constraints.max_tracking_error", "tilts.size:small.band"),
    ),
    # a forced exit one day's participation cannot complete: the days are lengthened
    Case(
        "forced_exit_needs_days",
        "",
        sell_adv=20_000.0,
        names=("liquidity",),
        keys=("constraints.liquidity.days",),
    ),
    # a tilt only the band can give on (selling every US name is the most a long-only
    # account can do), so far out that no band in [-1, 1] reaches it: the target moves
    Case(
        "tilt_target_moved",
        """
tilts:
  "region:US": {target: -0.9, band: 0.05}
constraints:
  max_turnover: null
  max_tracking_error: null
  sector_max: null
""",
        names=("tilt region:US upper band",),
        keys=("tilts.region:US.target",),
    ),
]


# --- the files -------------------------------------------------------------------------


def write_case(tmp_path: Path, case: Case) -> dict[str, Path]:
    """The synthetic market, the case's scenario (beside a copy of base.yaml) and,
    for some cases, a benchmark or a forced exit."""
    uni = make_universe()
    hold = make_holdings(uni)
    if case.sell_adv is not None:
        first = uni["ticker"] == hold["ticker"].iloc[0]
        uni.loc[first, ["restricted", "adv"]] = ["sell", case.sell_adv]
    paths = {
        "universe": tmp_path / "universe.csv",
        "holdings": tmp_path / "holdings.csv",
        "scenario": tmp_path / f"{case.id}.yaml",
    }
    uni.to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)
    shutil.copy(SCENARIOS / "base.yaml", tmp_path / "base.yaml")
    paths["scenario"].write_text(
        f"name: {case.id}\nextends: base.yaml\n{case.body}", encoding="utf-8"
    )
    if case.benchmark:
        held = hold.loc[hold["ticker"] != "CASH", "ticker"]
        paths["benchmark"] = tmp_path / "benchmark.csv"
        pd.DataFrame({"ticker": held, "weight": 1.0 / len(held)}).to_csv(
            paths["benchmark"], index=False
        )
    return paths


def cli_args(paths: dict[str, Path], case: Case) -> list:
    args = ["propose", "--holdings", paths["holdings"], "--universe", paths["universe"]]
    args += ["--scenario", paths["scenario"], "--as-of", "2025-06-30"]
    if "benchmark" in paths:
        args += ["--benchmark", paths["benchmark"]]
    if case.taxable:
        args.append("--taxable")
    return args


# --- the message -----------------------------------------------------------------------


def parse_message(text: str) -> tuple[dict[str, tuple[float, float]], dict]:
    """Conflicts {name: (limit, needed)} and relaxations {key: (old, new)} of an exit-3 line."""
    conflicts: dict[str, tuple[float, float]] = {}
    body = text.split("the limits conflict: ", 1)[1]
    body = re.split(r"; held against: |; smallest relaxation|; no scenario relaxation", body)[0]
    for part in body.split("; "):
        m = re.match(r"^(.*) (\S+) would need (\S+)", part)
        assert m, f"a conflict without its numbers: {part!r} in {text}"
        conflicts[m[1]] = (float(m[2]), float(m[3]))
    relaxations: dict[str, tuple[float, float]] = {}
    if PREFIX in text:
        for entry in text.split(PREFIX, 1)[1].split(";")[0].split(", "):
            m = re.match(r"^(.+) (\S+) -> (\S+)$", entry.strip())
            assert m, f"a relaxation that is not 'KEY OLD -> NEW': {entry!r}"
            relaxations[m[1]] = (float(m[2]), float(m[3]))
    return conflicts, relaxations


def smallest(key: str, old: float, new: float, conflicts: dict, scenario: dict) -> None:
    """``new`` moves the setting to what the elastic answer needs, and no further than
    the hair and rounding margin the relaxation adds (BAND_MARGIN, SECTOR_MARGIN,
    TE_MARGIN and TE_ABS_MARGIN of rebalancer.limits; 1e-4 of a weight; $1 of gain)."""

    def need(prefix: str) -> tuple[float, float]:
        found = [v for k, v in conflicts.items() if k.startswith(prefix)]
        assert found, f"{key} relaxed but no '{prefix}' conflict in {conflicts}"
        return max(found, key=lambda v: abs(v[1] - v[0]))

    if key == "constraints.max_turnover":
        _, needed = need("max_turnover")
        assert needed <= new <= needed + 2e-4
    elif key == "constraints.max_tracking_error":
        _, needed = need("max_tracking_error")
        assert needed <= new <= (needed + 1e-4 + TE_ABS_MARGIN) / TE_MARGIN + 1e-6
    elif key == "constraints.sector_max":
        _, needed = need("sector_max")
        assert needed <= new <= needed + 1e-3
    elif key == "constraints.max_realized_gain":
        _, needed = need("max_realized_gain")
        assert needed <= new <= needed + 1.01
    elif key.startswith("constraints.max_position"):
        _, needed = need("max_position")
        assert old < new <= needed + 2e-4
    elif key == "constraints.liquidity.days":
        limit, needed = need("liquidity")
        ratio = needed / limit
        assert old * ratio * (1 - 1e-4) <= new <= old * ratio * 1.003
    elif key == "constraints.cash.target":
        _, needed = need("cash target")
        assert abs(new - needed) <= 2e-4
    elif key == "constraints.cash.min":
        _, needed = need("cash floor")
        assert needed - 1e-4 <= new <= needed + 1e-5
    elif key.startswith("tilts."):
        label, _, field = key[len("tilts.") :].rpartition(".")
        tilt = scenario["tilts"][label]
        _, needed = need(f"tilt {label} ")
        if field == "band":
            gap = abs(needed - tilt["target"])
            assert gap <= new <= gap + 1e-3
        else:  # the target moved until its band's edge reaches the need
            edge = new - tilt["band"] if needed < tilt["target"] else new + tilt["band"]
            assert abs(edge - needed) <= 1e-3
    else:
        pytest.fail(f"unexpected relaxation key {key}")


# --- the scenario, independently -------------------------------------------------------


def merged_scenario(path: Path) -> dict:
    """The case's scenario over base.yaml (mappings merge, null deletes)."""

    def merge(parent: dict, child: dict) -> dict:
        out = dict(parent)
        for k, v in child.items():
            if v is None:
                out.pop(k, None)
            elif isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            else:
                out[k] = v
        return out

    child = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    base = yaml.safe_load((path.parent / "base.yaml").read_text(encoding="utf-8"))
    return merge(base, child)


def relaxed_scenario(scenario: dict, relaxations: dict) -> dict:
    """``scenario`` with the message's relaxations applied."""
    out = json.loads(json.dumps(scenario))
    c = out["constraints"]
    for key, (old, new) in relaxations.items():
        if key.startswith("tilts."):
            label, _, field = key[len("tilts.") :].rpartition(".")
            assert out["tilts"][label][field] == pytest.approx(old, abs=5e-6)
            out["tilts"][label][field] = new
        elif key.startswith("constraints.max_position"):
            group = key[len("constraints.max_position.") :] or "default"
            caps = c["max_position"]
            caps = c["max_position"] = caps if isinstance(caps, dict) else {"default": caps}
            assert caps[group] == pytest.approx(old, abs=5e-6)
            caps[group] = new
        elif key == "constraints.liquidity.days":
            assert c["liquidity"].get("days", 1) == pytest.approx(old, abs=5e-6)
            c["liquidity"]["days"] = new
        elif key.startswith("constraints.cash."):
            field = key.rpartition(".")[2]
            assert c["cash"][field] == pytest.approx(old, abs=5e-6)
            c["cash"][field] = new
        else:
            field = key.rpartition(".")[2]
            assert c[field] == pytest.approx(old, rel=1e-4, abs=5e-6)
            c[field] = new
    c["cash"]["min"] = min(c["cash"]["min"], c["cash"]["target"])
    return out


def sized(uni: pd.DataFrame, buckets: dict) -> pd.Series:
    cap = uni["market_cap"].astype(float)
    b = {k: float(v) for k, v in buckets.items()}
    return pd.Series(
        np.where(
            cap >= b["large"],
            "large",
            np.where(cap >= b["mid"], "mid", np.where(cap >= b["small"], "small", "micro")),
        ),
        index=uni.index,
    )


def members(selector: str, uni: pd.DataFrame) -> np.ndarray:
    """Names in a group like "size:small" or "region:EM & size:small"."""
    mask = np.ones(len(uni), dtype=bool)
    for term in selector.split("&"):
        key, _, value = term.strip().partition(":")
        if key == "theme":
            hit = uni["themes"].fillna("").str.split(";").map(lambda t, v=value: v in t)
        else:
            hit = uni[key].astype(str).str.lower() == value.lower()
        mask &= hit.to_numpy(bool)
    return mask


def per_name(uni: pd.DataFrame, setting) -> np.ndarray:
    """A per-group setting per name: a listed group's value replaces the default, and a
    name in several listed groups takes the smallest."""
    if not isinstance(setting, dict):
        return np.full(len(uni), float(setting))
    out = np.full(len(uni), float(setting["default"]))
    seen = np.zeros(len(uni), dtype=bool)
    for selector, value in setting.items():
        if selector == "default":
            continue
        hit = members(selector, uni)
        out[hit & ~seen] = value
        out[hit & seen] = np.minimum(out[hit & seen], value)
        seen |= hit
    return out


def measure(paths: dict[str, Path], trades_csv: Path, scenario: dict) -> dict:
    """What the written trades do to the account, from the input files alone."""
    uni = pd.read_csv(paths["universe"], keep_default_na=False).set_index("ticker")
    uni["size"] = sized(uni, scenario["size_buckets"])
    hold = pd.read_csv(paths["holdings"])
    trades = pd.read_csv(trades_csv)
    price = uni["price"].astype(float)
    is_cash = hold["ticker"] == "CASH"
    before = hold[~is_cash].groupby("ticker")["quantity"].sum().reindex(uni.index, fill_value=0)
    cash_before = float(hold.loc[is_cash, "quantity"].sum())
    nav = float((before * price).sum() + cash_before)
    sign = np.where(trades["side"] == "BUY", 1.0, -1.0)
    notional = trades["quantity"].to_numpy(float) * price.reindex(trades["ticker"]).to_numpy()
    assert np.allclose(notional, trades["notional"], atol=USD), "notional = quantity × price"
    traded = (
        pd.Series(sign * trades["quantity"].to_numpy(float), index=trades["ticker"])
        .groupby(level=0)
        .sum()
        .reindex(uni.index, fill_value=0.0)
    )
    after = before + traded
    assert (after >= -1e-9).all(), "no short position"
    buys = float(notional[sign > 0].sum())
    sells = float(notional[sign < 0].sum())
    w_before = (before * price / nav).to_numpy()
    w_after = (after * price / nav).to_numpy()
    if "benchmark" in paths:
        bench = pd.read_csv(paths["benchmark"]).set_index("ticker")["weight"]
        ref = bench.reindex(uni.index, fill_value=0.0).to_numpy()
    else:
        ref = w_before
    c = scenario["constraints"]
    liquidity = c.get("liquidity", {})
    participation = per_name(uni, liquidity.get("max_participation", 0.2))
    traded_usd = np.abs(traded.to_numpy()) * price.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.where(traded_usd > 0, traded_usd / (participation * uni["adv"]), 0.0)
    gains = trades["realized_gain"] if "realized_gain" in trades else pd.Series(dtype=float)
    return {
        "uni": uni,
        "nav": nav,
        "cash_after": cash_before - buys + sells,
        "turnover": (buys + sells) / (2 * nav),
        "w_after": w_after,
        "sectors": pd.Series(w_after, index=uni.index).groupby(uni["sector"]).sum(),
        "exposure": {
            t: float((w_after - ref)[members(t, uni)].sum()) for t in scenario.get("tilts", {})
        },
        "days": float(days.max(initial=0.0)),
        "gain": float(pd.to_numeric(gains, errors="coerce").fillna(0.0).sum()),
    }


def assert_holds(m: dict, scenario: dict) -> None:
    """Every limit of ``scenario`` that the file measures, on the written trades."""
    c = scenario["constraints"]
    nav = m["nav"]
    assert m["cash_after"] >= c["cash"]["min"] * nav - USD, "cash floor"
    if c.get("max_turnover") is not None:
        assert m["turnover"] <= c["max_turnover"] + TOL, "max_turnover"
    if c.get("sector_max") is not None:
        assert m["sectors"].max() <= c["sector_max"] + TOL, f"sector_max: {m['sectors']}"
    if c.get("max_position") is not None:
        caps = per_name(m["uni"], c["max_position"])
        caps[m["uni"]["restricted"].to_numpy() == "sell"] = 0.0
        over = m["w_after"] - caps
        assert over.max() <= TOL, f"max_position: {m['uni'].index[over.argmax()]} over its cap"
    assert m["days"] <= c.get("liquidity", {}).get("days", 1) * (1 + 1e-9), "liquidity"
    if c.get("max_realized_gain") is not None:
        assert m["gain"] <= c["max_realized_gain"] + 0.01, "max_realized_gain"
    for text, tilt in scenario.get("tilts", {}).items():
        lo, hi = tilt["target"] - tilt["band"], tilt["target"] + tilt["band"]
        assert lo - TOL <= m["exposure"][text] <= hi + TOL, f"tilt {text}: {m['exposure'][text]}"


def beyond_original(key: str, m: dict, summary: dict, original: dict) -> bool:
    """Does the proposal use the relaxation: is the setting's original value broken?"""
    c = original["constraints"]
    if key == "constraints.max_turnover":
        return m["turnover"] > c["max_turnover"]
    if key == "constraints.max_tracking_error":
        return summary["tracking_error"] > c["max_tracking_error"]
    if key == "constraints.sector_max":
        return m["sectors"].max() > c["sector_max"]
    if key == "constraints.max_realized_gain":
        return m["gain"] > c["max_realized_gain"]
    if key.startswith("constraints.max_position"):
        return bool((m["w_after"] - per_name(m["uni"], c["max_position"]) > 1e-6).any())
    if key == "constraints.liquidity.days":
        return m["days"] > c["liquidity"].get("days", 1)
    if key.startswith("constraints.cash."):
        return m["cash_after"] < c["cash"]["min"] * m["nav"]
    label = key[len("tilts.") :].rpartition(".")[0]
    tilt = original["tilts"][label]
    return abs(m["exposure"][label] - tilt["target"]) > tilt["band"]


# --- the tests -------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conflict_is_named_then_relaxed_no_further_than_needed(tmp_path, case):
    paths = write_case(tmp_path, case)
    args = cli_args(paths, case)
    out = tmp_path / "out"
    written = {"--out": out / "p.xlsx", "--trades": out / "p.csv", "--json": out / "p.json"}
    flags = [x for pair in written.items() for x in pair]

    # without --relax: exit 3, one line naming the limits and the smallest relaxation
    result = run_cli(*args, *flags)
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    message = lines[0]
    assert message.startswith("infeasible: account ACC1: infeasible: the limits conflict: ")
    for name in case.names:
        assert name in message, f"{name!r} not named: {message}"
    assert PREFIX in message, message
    assert not any(p.exists() for p in written.values()), "an infeasible run wrote a file"
    conflicts, relaxations = parse_message(message)
    assert set(relaxations) == set(case.keys), message
    original = merged_scenario(paths["scenario"])
    for key, (old, new) in relaxations.items():
        smallest(key, old, new, conflicts, original)

    # with --relax: the same relaxation applied, and labelled
    result = run_cli(*args, *flags, "--relax", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(written["--json"].read_text(encoding="utf-8"))
    relaxed = {r["key"]: r for r in summary["relaxed"]}
    assert set(relaxed) == set(relaxations), (summary["relaxed"], message)
    for key, (old, new) in relaxations.items():
        assert relaxed[key]["limit"] == pytest.approx(old, rel=1e-4, abs=5e-6)
        assert relaxed[key]["relaxed_to"] == pytest.approx(new, rel=1e-4, abs=5e-6)
        assert relaxed[key]["constraint"] in message
    assert summary["scenario"].endswith("(relaxed)")
    assert summary["warnings"][0].startswith("RELAXED")
    assert all(k in summary["warnings"][0] for k in relaxations)

    # the effective scenario in the manifest is the original one, relaxed
    expected = relaxed_scenario(original, relaxations)
    effective = summary["manifest"]["scenario"]
    for key in relaxations:
        if key.startswith("tilts."):
            label = key[len("tilts.") :].rpartition(".")[0]
            for field in ("target", "band"):
                want = expected["tilts"][label][field]
                assert effective["tilts"][label][field] == pytest.approx(want, rel=1e-4)
        elif key.startswith("constraints.max_position"):
            want = expected["constraints"]["max_position"]
            assert effective["constraints"]["max_position"] == pytest.approx(want, rel=1e-4)
        elif key.startswith("constraints.cash."):
            want = expected["constraints"]["cash"]
            assert effective["constraints"]["cash"] == pytest.approx(want, rel=1e-4, abs=5e-6)
        elif key == "constraints.liquidity.days":
            want = expected["constraints"]["liquidity"]["days"]
            assert effective["constraints"]["liquidity"]["days"] == pytest.approx(want, rel=1e-4)
        else:
            field = key.rpartition(".")[2]
            want = expected["constraints"][field]
            assert effective["constraints"][field] == pytest.approx(want, rel=1e-4)

    # the written trades, re-measured from the inputs, hold every relaxed limit ...
    m = measure(paths, written["--trades"], expected)
    assert_holds(m, expected)
    # ... and use the relaxation (the original limits cannot all hold)
    assert any(beyond_original(k, m, summary, original) for k in relaxations)
    if "constraints.max_tracking_error" in relaxations:
        te = expected["constraints"]["max_tracking_error"]
        assert summary["tracking_error"] <= te * (1 + 1e-4)
    # ... and verify re-measures them (the tracking error too) against the files
    result = run_cli("verify", written["--json"], "--quiet")
    assert result.exit_code == 0, result.output


def test_forced_exit_without_liquidity_cannot_be_relaxed(tmp_path):
    case = Case("forced_exit_no_liquidity", "", sell_adv=0.0)
    paths = write_case(tmp_path, case)
    out = tmp_path / "p.json"
    for relax in ((), ("--relax",)):
        result = run_cli(*cli_args(paths, case), "--json", out, *relax)
        assert result.exit_code == 3, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert "max_position 0 would need" in lines[0]
        assert "no scenario relaxation makes it feasible (--relax cannot help)" in lines[0]
        assert "forced exit of S055" in lines[0]
        assert PREFIX not in lines[0]
        assert not out.exists()


def test_python_api_relaxes_and_labels(tmp_path):
    case = CASES[1]  # the turnover cap too small for the band
    paths = write_case(tmp_path, case)
    files = (paths["holdings"], paths["universe"], paths["scenario"])
    with pytest.raises(InfeasibleError) as info:
        propose(*files, as_of="2025-06-30", taxable=False)
    err = info.value
    assert err.exit_code == 3
    assert [c.key for c in err.conflicts] == ["constraints.max_turnover"]
    assert err.relaxation and err.relaxation[0].startswith("constraints.max_turnover 0.02 -> ")
    assert not err.unrelaxable

    proposal = propose(*files, as_of="2025-06-30", relax=True, taxable=False)
    (change,) = proposal.relaxed
    assert change["key"] == "constraints.max_turnover"
    assert change["limit"] == 0.02
    needed = err.conflicts[0].needed
    assert needed <= change["relaxed_to"] <= needed + 2e-4
    assert proposal.scenario["constraints"]["max_turnover"] == change["relaxed_to"]
    assert proposal.scenario_name == "turnover_below_band (relaxed)"
    assert proposal.warnings[0].startswith("RELAXED")
    assert 0.02 < proposal.metrics.turnover <= change["relaxed_to"] + TOL
    assert proposal.checks["ok"].all(), proposal.checks[~proposal.checks["ok"]]

    # a feasible request is returned as it is, relax or not
    paths["scenario"].write_text("name: fine\nextends: base.yaml\n", encoding="utf-8")
    plain = propose(*files, as_of="2025-06-30", relax=True, taxable=False)
    assert plain.relaxed == [] and plain.scenario_name == "fine"
    assert not plain.warnings or not plain.warnings[0].startswith("RELAXED")


def test_python_api_unrelaxable_raises_even_with_relax(tmp_path):
    case = Case("forced_exit_no_liquidity", "", sell_adv=0.0)
    paths = write_case(tmp_path, case)
    with pytest.raises(InfeasibleError) as info:
        propose(paths["holdings"], paths["universe"], paths["scenario"], relax=True, taxable=False)
    assert info.value.relaxation == []
    assert info.value.unrelaxable == ["forced exit of S055 (restricted 'sell' in the universe)"]
