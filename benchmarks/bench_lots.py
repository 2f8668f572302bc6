"""A direct-indexing taxable account of 1,000, 10,000 and 100,000 tax lots.

    .venv/bin/python -m benchmarks.bench_lots [--lots 1000 10000 100000] [--runs 3]
        [--before REV] [--before-lots 1000]

For each size, writes the account (benchmarks/synthetic.py ``lots_account``: lots of
the example benchmark's names, drawn by benchmark weight, bases from about half to
twice today's price, bought over five years) to a temporary folder and measures, as
medians of ``--runs``, the whole command ``rebalancer propose ... --taxable`` with
the example universe, prices and benchmark and scenarios/balanced_rerating.yaml,
writing the workbook, the trades CSV and the JSON: its wall time and peak memory (the
child's maximum resident set, from ``os.wait4``). ``--before REV``: the same command
run by the code of git revision REV (extracted to a temporary folder) for the sizes
in ``--before-lots`` — the code before lot classes held a dense tensor of lots ×
lots (3,000 lots: 1.7 GB; 12,000: a MemoryError). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.report import Table
from benchmarks.synthetic import EXAMPLES, lots_account
from rebalancer.pipeline import load_inputs, prepare
from rebalancer.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "balanced_rerating.yaml"
AS_OF = "2026-11-20"


def write_account(n_lots: int, folder: Path) -> Path:
    uni = pd.read_csv(EXAMPLES / "universe.csv", keep_default_na=False)
    bench = pd.read_csv(EXAMPLES / "benchmark.csv").set_index("ticker")["weight"]
    path = folder / f"lots_{n_lots}.csv"
    lots_account(uni, bench, n_lots).to_csv(path, index=False)
    return path


def command(holdings: Path, out: Path) -> list[str]:
    """``rebalancer propose`` for ``holdings`` as a process, by the code on PYTHONPATH."""
    return [
        sys.executable,
        "-c",
        "from rebalancer.cli import main; main()",
        "propose",
        "--holdings",
        str(holdings),
        "--universe",
        str(EXAMPLES / "universe.csv"),
        "--prices",
        str(EXAMPLES / "prices.csv"),
        "--benchmark",
        str(EXAMPLES / "benchmark.csv"),
        "--scenario",
        str(SCENARIO),
        "--as-of",
        AS_OF,
        "--taxable",
        "--quiet",
        "--out",
        str(out / "proposal.xlsx"),
        "--trades",
        str(out / "trades.csv"),
        "--json",
        str(out / "proposal.json"),
    ]


def run_process(
    cmd: list[str], source: Path, cache_dir: Path | None = None
) -> tuple[float, float, int]:
    """(wall seconds, peak resident MiB, exit code) of one run of ``cmd`` with the
    package of ``source`` first on the path (run from ``source``: ``python -c`` puts
    the working folder before PYTHONPATH). The on-disk cache of the market files is
    ``cache_dir``; by default a new empty folder, removed after, so every run reads
    its files afresh (a cold run) and the user's cache is left alone."""
    with tempfile.TemporaryDirectory() as fresh:
        env = {**os.environ, "PYTHONPATH": str(source),
               "REBALANCER_CACHE_DIR": str(cache_dir or fresh)}  # fmt: skip
        t0 = time.perf_counter()
        child = subprocess.Popen(
            cmd, env=env, cwd=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, child.returncode


def measure(cmd: list[str], source: Path, runs: int) -> tuple[float, float, int]:
    """Medians of ``runs``: (wall seconds, peak MiB, the last exit code)."""
    results = [run_process(cmd, source) for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
        results[-1][2],
    )


def checkout(rev: str, folder: Path) -> Path:
    """The ``rebalancer`` package of git revision ``rev``, extracted under ``folder``."""
    archive = folder / "before.tar"
    with archive.open("wb") as f:
        subprocess.run(["git", "archive", rev, "rebalancer"], cwd=ROOT, stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "before", filter="data")
    return folder / "before"


def lot_classes(holdings: Path) -> int:
    data = load_inputs(
        holdings, EXAMPLES / "universe.csv", EXAMPLES / "prices.csv", EXAMPLES / "benchmark.csv"
    )
    request = prepare(data, load_scenario(SCENARIO), None, AS_OF, taxable=True)
    return len(request.tax.lots.classes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", help="git revision to compare with (the code before)")
    ap.add_argument("--before-lots", type=int, nargs="+", default=[1000])
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = ap.parse_args()
    table = Table(
        "lots",
        ["lots", "lot classes", "whole command", "peak memory", "lots sold", "exit"],
        notes=[
            f"A direct-indexing taxable account ($10M, lots of {SCENARIO.name}'s benchmark "
            f"names); `rebalancer propose --taxable` writing workbook, trades and JSON, as a "
            f"process; medians of {args.runs}; peak memory its maximum resident set."
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        before = checkout(args.before, folder) if args.before else None
        for n in args.lots:
            holdings = write_account(n, folder)
            out = folder / f"out_{n}"
            out.mkdir()
            wall, peak, code = measure(command(holdings, out), ROOT, args.runs)
            sold = len(json.loads((out / "proposal.json").read_text())["lot_sales"])
            table.add(
                f"{n:,}",
                f"{lot_classes(holdings):,}",
                f"{wall:.1f} s",
                f"{peak:.0f} MiB",
                f"{sold:,}",
                code,
            )
            if before is not None and n in args.before_lots:
                (out / "before").mkdir()
                b_wall, b_peak, b_code = measure(
                    command(holdings, out / "before"), before, args.runs
                )
                table.add(
                    f"{n:,} (before: {args.before})",
                    "one per lot",
                    f"{b_wall:.1f} s",
                    f"{b_peak:.0f} MiB",
                    "",
                    b_code,
                )
                table.notes.append(
                    f"{n:,} lots, the code before ({args.before}) / now: "
                    f"{b_wall / wall:.1f}× the time, {b_peak / peak:.1f}× the memory."
                )
    table.emit(args.readme)


if __name__ == "__main__":
    main()
