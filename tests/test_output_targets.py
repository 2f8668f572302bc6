"""Outputs never harm anything: a file the run reads (an input, any scenario of its
``extends`` chain, every what-if scenario, a book's scenarios), a link, a device, a
pipe or a name starting with '-' is refused before any work, naming the option and
the path; one run's outputs are published together (a folder lock held while they
are renamed, the JSON last); a killed run's temporaries are removed by the next run.
Each test reproduces a way the tool harmed a file before."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.export.atomic import OutputSet, remove_stale_temps
from rebalancer.runs.verify import verify
from tests.conftest import ROOT, run_cli

SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A copy of the scenario library (its files extend base.yaml)."""
    return Path(shutil.copytree(SCENARIOS, tmp_path / "sc"))


def _propose(market, scenario, *outputs):
    return run_cli(
        "propose",
        "--holdings",
        market["holdings"],
        "--universe",
        market["universe"],
        "--scenario",
        scenario,
        "--as-of",
        "2026-11-20",
        "-q",
        *outputs,
    )


def _one_line(result, option: str, path) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert option in lines[0] and str(path) in lines[0], lines[0]
    return lines[0]


def test_json_onto_the_extends_parent_is_refused(market, library):
    parent = library / "base.yaml"
    before = parent.read_bytes()
    result = _propose(market, library / "smallcap_rerating.yaml", "--json", parent)
    line = _one_line(result, "--json", parent)
    assert "smallcap_rerating.yaml extends" in line
    assert parent.read_bytes() == before


def test_an_input_under_another_spelling_or_a_hard_link_is_refused(market, library, tmp_path):
    holdings = market["holdings"]
    before = holdings.read_bytes()
    other = tmp_path / "sub" / ".." / holdings.name
    (tmp_path / "sub").mkdir()
    _one_line(_propose(market, library / "base.yaml", "--trades", other), "--trades", other)
    linked = tmp_path / "linked.csv"
    os.link(holdings, linked)
    line = _one_line(_propose(market, library / "base.yaml", "--json", linked), "--json", linked)
    assert "holdings input" in line
    assert holdings.read_bytes() == before


def test_whatif_output_onto_one_of_its_scenarios_is_refused(market, library):
    second = library / "status_quo.yaml"
    before = second.read_bytes()
    result = run_cli(
        "whatif",
        "--holdings",
        market["holdings"],
        "--universe",
        market["universe"],
        "--scenario",
        library / "smallcap_rerating.yaml",
        "--scenario",
        second,
        "--json",
        second,
        "-q",
    )
    _one_line(result, "--json", second)
    assert second.read_bytes() == before


def test_a_link_a_device_and_a_pipe_are_never_replaced(market, library, tmp_path):
    link = tmp_path / "out.csv"
    link.symlink_to("/proc/self/fd/1")
    _one_line(_propose(market, library / "base.yaml", "--trades", link), "--trades", link)
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    null = Path("/dev/null")
    _one_line(_propose(market, library / "base.yaml", "--trades", null), "--trades", null)
    assert null.is_char_device()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _one_line(_propose(market, library / "base.yaml", "--json", fifo), "--json", fifo)
    assert fifo.is_fifo()


def test_a_name_starting_with_a_dash_is_refused(market, library, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _propose(market, library / "base.yaml", "--json", "-TAX.json")
    _one_line(result, "--json", "-TAX.json")
    assert not (tmp_path / "-TAX.json").exists()


# --- books --------------------------------------------------------------------------------


def _book(folder: Path, accounts: list[str], scenario: str = "base.yaml", universe="universe.csv"):
    from tests.conftest import make_holdings, make_universe

    folder.mkdir(parents=True, exist_ok=True)
    uni = make_universe(n=40)
    uni.to_csv(folder / universe, index=False)
    pd.concat([make_holdings(uni, a) for a in accounts]).to_csv(
        folder / "holdings.csv", index=False
    )
    pd.DataFrame({"account": accounts, "scenario": scenario}).to_csv(
        folder / "accounts.csv", index=False
    )
    return folder


def _batch(folder: Path, out: Path, universe="universe.csv"):
    return run_cli(
        "batch",
        "--accounts",
        folder / "accounts.csv",
        "--holdings",
        folder / "holdings.csv",
        "--universe",
        folder / universe,
        "--out-dir",
        out,
        "--workers",
        "1",
        "--as-of",
        "2026-11-20",
        "-q",
    )


def test_a_book_scenario_outside_the_accounts_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.yaml").write_text("extends: base.yaml\n")
    folder = _book(tmp_path / "a" / "b", ["A1"], scenario="../../outside/evil.yaml")
    result = _batch(folder, tmp_path / "out")
    line = _one_line(result, "accounts.csv", folder / "accounts.csv")
    assert "row 2" in line and "scenario" in line and "outside the scenario folder" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["../../outside/bench.csv", "absolute"])
def test_a_book_benchmark_outside_the_accounts_folder_is_refused(tmp_path, where):
    """A benchmark the accounts file names follows the scenarios' folder rule."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bench.csv").write_text("ticker,weight\nS039,1.0\n")
    folder = _book(tmp_path / "a" / "b", ["A1", "A2"])
    name = str(outside / "bench.csv") if where == "absolute" else where
    table = pd.read_csv(folder / "accounts.csv")
    table["benchmark"] = ["", name]  # A1: the default benchmark (none); A2: outside
    table.to_csv(folder / "accounts.csv", index=False)
    result = _batch(folder, tmp_path / "out")
    line = _one_line(result, "accounts.csv", folder / "accounts.csv")
    assert "row 3" in line and "benchmark" in line, line
    said = "is outside the accounts file's folder" if where != "absolute" else "not a relative"
    assert said in line, line
    assert not (tmp_path / "out").exists()


def test_a_book_account_id_starting_with_a_dash_is_refused(tmp_path):
    folder = _book(tmp_path / "book", ["A1", "-TAX"])
    line = _one_line(_batch(folder, tmp_path / "out"), "accounts.csv", folder / "accounts.csv")
    assert "row 3" in line and "'-'" in line
    assert not (tmp_path / "out").exists()


def test_a_book_output_onto_its_own_input_is_refused(tmp_path):
    # the universe file is named like account A1's trades CSV, in the output folder
    folder = _book(tmp_path / "book", ["A1", "A2"], universe="A1.trades.csv")
    before = (folder / "A1.trades.csv").read_bytes()
    line = _one_line(_batch(folder, folder, universe="A1.trades.csv"), "--out-dir", folder)
    assert "universe input" in line
    assert (folder / "A1.trades.csv").read_bytes() == before
    assert not list(folder.glob("*.json"))


def test_a_book_output_onto_a_scenario_it_reads_is_refused(tmp_path):
    # account A2's scenario extends a file named like A1's JSON summary
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "A1.json").write_text("extends: base.yaml\nrisk_aversion: 3\n")
    (folder / "mine.yaml").write_text("extends: A1.json\n")
    _book(folder, ["A1", "A2"], scenario="mine.yaml")
    line = _one_line(_batch(folder, folder), "--out-dir", folder / "A1.json")
    assert "which " in line and "mine.yaml extends" in line
    assert (folder / "A1.json").read_text() == "extends: base.yaml\nrisk_aversion: 3\n"


# --- published together -----------------------------------------------------------------


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def test_concurrent_runs_to_the_same_outputs_publish_one_whole_set_at_a_time(market, tmp_path):
    """Two real processes write the same three outputs while this test holds the output
    folder's publishing lock: neither publishes anything until it is released, then
    one whole set replaces the other, and the JSON's manifest vouches for its CSV and
    workbook (before, renames went file by file: a slow rename mixed two runs)."""
    out = tmp_path / "out"
    out.mkdir()
    held = os.open(out, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    runs = []
    try:
        for scenario in ("base.yaml", "status_quo.yaml"):
            runs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "rebalancer.cli",
                        "propose",
                        "--holdings",
                        str(market["holdings"]),
                        "--universe",
                        str(market["universe"]),
                        "--scenario",
                        str(SCENARIOS / scenario),
                        "--as-of",
                        "2026-11-20",
                        "-q",
                        "--tax-exempt",
                        "--force",
                        "--out",
                        str(out / "p.xlsx"),
                        "--trades",
                        str(out / "p.csv"),
                        "--json",
                        str(out / "p.json"),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
            )
        deadline = time.monotonic() + 180
        while len(_temps(out)) < 6:  # both runs have staged all three outputs
            assert time.monotonic() < deadline, "the runs never staged their outputs"
            assert all(run.poll() is None for run in runs), [r.communicate() for r in runs]
            time.sleep(0.05)
        time.sleep(1.0)  # an unlocked run would have renamed its files by now
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == []
        assert all(run.poll() is None for run in runs)
    finally:
        os.close(held)  # releases the lock
    for run in runs:
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["p.csv", "p.json", "p.xlsx"]
    report = verify(out / "p.json")
    assert report.passed, report.problems
    assert any("output workbook" in text for _, text in report.findings)


def test_a_killed_runs_temporaries_are_removed_by_the_next_run(tmp_path):
    stale = tmp_path / ".p.csv.0badf00d.tmp"
    stale.write_text("half a file")
    live = tmp_path / ".p.csv.12345678.tmp"
    live.write_text("being written")
    mine = tmp_path / ".notes.tmp"  # not a name this tool makes: never touched
    mine.write_text("keep")
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a run still writing it holds its lock
    try:
        with OutputSet() as outputs:
            outputs.stage(tmp_path / "p.csv").write_text("a,b\n")
        assert not stale.exists()
        assert live.exists() and mine.exists()
    finally:
        os.close(fd)
    assert remove_stale_temps(tmp_path) == 1  # its writer is gone now
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmp", "p.csv"]
