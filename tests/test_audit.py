"""The audit manifest in the JSON summary, and ``rebalancer verify``.

Digests are recomputed here with hashlib from the files themselves; a forged
proposal (trades edited and the manifest's digest updated to match) must be caught
by the re-measurement, not by the hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_cli, write_scenario

SCENARIO = """
name: audited
extends: base.yaml
tilts:
  "size:small": {target: 0.04, band: 0.03}
constraints:
  max_turnover: 0.30
  cash: {target: 0.02, min: 0.01}
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def canonical_sha256(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def forge(summary: dict, path: Path) -> None:
    """Write ``summary`` as a forger would: the scenario's and the summary's own digests
    recomputed to match (the summary's over everything but itself)."""
    m = summary["manifest"]
    m["scenario_sha256"] = canonical_sha256(m["scenario"])
    m.pop("summary_sha256", None)
    m["summary_sha256"] = canonical_sha256(summary)
    path.write_text(json.dumps(summary, indent=1))


@pytest.fixture
def written(market, tmp_path):
    scen = write_scenario(tmp_path / "audited.yaml", SCENARIO)
    out = {k: tmp_path / f"p.{k}" for k in ("xlsx", "csv", "json")}
    result = run_cli(
        "propose",
        "--holdings",
        market["holdings"],
        "--universe",
        market["universe"],
        "--scenario",
        scen,
        "--as-of",
        "2026-11-20",
        "--out",
        out["xlsx"],
        "--trades",
        out["csv"],
        "--json",
        out["json"],
        "-q",
    )
    assert result.exit_code == 0, result.output
    return {**market, "scenario": scen, **out}


def test_manifest_records_every_input_and_output_by_digest(written):
    summary = json.loads(written["json"].read_text())
    m = summary["manifest"]
    for role in ("holdings", "universe", "scenario"):
        assert m["inputs"][role]["sha256"] == sha256(written[role])
        assert Path(m["inputs"][role]["path"]) == Path(written[role]).resolve()
    assert m["outputs"]["trades"]["sha256"] == sha256(written["csv"])
    assert m["outputs"]["workbook"]["sha256"] == sha256(written["xlsx"])
    assert m["versions"]["rebalancer"] and m["versions"]["cvxpy"]
    assert m["solver"] == summary["solver"] and m["status"] == summary["status"]
    assert m["as_of"] == "2026-11-20" and m["account"] == "ACC1"
    # the effective scenario: extends resolved, our own settings in place
    assert m["scenario"]["constraints"]["max_turnover"] == 0.30
    canonical = json.dumps(m["scenario"], sort_keys=True, separators=(",", ":"))
    assert m["scenario_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert set(m["timings"]) >= {"prepare", "optimize", "total"}


def test_verify_passes_on_a_fresh_proposal_and_reproduces_it(written):
    result = run_cli("verify", written["json"], "--reproduce")
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert "reproduced: the same" in result.output
    assert "FAIL" not in result.output


def test_verify_names_a_changed_input(written):
    holdings = written["holdings"]
    holdings.write_text(holdings.read_text() + "ACC1,CASH,1,,\n")
    result = run_cli("verify", written["json"])
    assert result.exit_code == 1
    assert f"input holdings: {Path(holdings).resolve()} has changed" in result.output


def test_verify_names_an_edited_trades_file(written):
    written["csv"].write_text(written["csv"].read_text().replace("BUY", "SELL", 1))
    result = run_cli("verify", written["json"])
    assert result.exit_code == 1
    assert "output trades" in result.output and "has changed" in result.output


def test_a_forged_proposal_is_caught_by_re_measuring(written):
    """Trades doubled and the digest in the manifest forged to match: the hash no
    longer helps; the re-measured cash, turnover and limits must."""
    trades = pd.read_csv(written["csv"], keep_default_na=False)
    buys = trades["side"] == "BUY"
    assert buys.any()
    trades.loc[buys, "quantity"] *= 3
    trades.loc[buys, "notional"] *= 3
    trades.to_csv(written["csv"], index=False)
    summary = json.loads(written["json"].read_text())
    summary["manifest"]["outputs"]["trades"]["sha256"] = sha256(written["csv"])
    summary["manifest"]["outputs"]["trades"]["bytes"] = written["csv"].stat().st_size
    summary["manifest"]["outputs"].pop("workbook")
    forge(summary, written["json"])
    result = run_cli("verify", written["json"])
    assert result.exit_code == 1
    assert "FAIL JSON cash_after" in result.output
    assert "FAIL JSON turnover" in result.output
    assert "FAIL cash floor (USD)" in result.output


def test_verify_catches_an_oversold_lot_in_the_stated_lot_sales(written):
    summary = json.loads(written["json"].read_text())
    if not summary["lot_sales"]:
        pytest.skip("this proposal sells nothing")
    summary["lot_sales"][0]["quantity_sold"] += 1e6
    forge(summary, written["json"])
    result = run_cli("verify", written["json"])
    assert result.exit_code == 1
    assert "FAIL no oversold lot" in result.output


def test_verify_without_a_manifest_is_one_clear_line(tmp_path):
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({"account": "A"}))
    result = run_cli("verify", bad)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "no manifest" in result.output and str(bad) in result.output
    missing = run_cli("verify", tmp_path / "nope.json")
    assert missing.exit_code == 1 and "cannot be read" in missing.output
