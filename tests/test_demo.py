"""``rebalancer demo`` (``rebalancer.runs.demo.run_demo``): every example account proposed
under the default scenario on the examples' trade date, and each proposal's files
re-checked on their own by ``verify`` (the limits re-measured on the written trades
against the example inputs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from rebalancer.runs.verify import verify

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("rebalancer")


def _demo(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), "demo", *map(str, args)], capture_output=True, text=True, timeout=600
    )


def test_demo_writes_every_example_account_and_each_verifies(tmp_path):
    run = _demo("--out-dir", tmp_path)
    assert run.returncode == 0, run.stderr
    holdings = pd.read_csv(ROOT / "examples" / "holdings.csv", dtype=str)
    accounts = list(dict.fromkeys(holdings["account"]))
    assert len(accounts) == 3
    wrote = [line for line in run.stdout.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == len(accounts)  # one line per account, in the holdings' order
    for account, line in zip(accounts, wrote, strict=True):
        files = [tmp_path / f"{account}{suffix}" for suffix in (".xlsx", ".trades.csv", ".json")]
        assert line == "wrote " + ", ".join(str(f) for f in files)
        assert all(f.is_file() for f in files)
        manifest = json.loads(files[2].read_text())["manifest"]
        assert manifest["as_of"] == "2026-11-20"
        assert Path(manifest["inputs"]["scenario"]["path"]).name == "smallcap_rerating.yaml"
        report = verify(files[2])
        assert report.passed, report.problems


def test_a_bad_scenario_is_one_line_and_writes_nothing(tmp_path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("constraints:\n  max_turnover: lots\n")
    out = tmp_path / "out"
    run = _demo("--out-dir", out, "--scenario", scenario, "-q")
    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1 and "bad.yaml" in run.stderr
    assert not out.exists() or not any(out.iterdir())
