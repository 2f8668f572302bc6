"""The same command again on unchanged market files: the on-disk cache, cold and warm.

    .venv/bin/python -m benchmarks.bench_cache [--sizes 2000 5000] [--runs 5] [--readme]

For each size, writes the scale benchmark's synthetic market (``bench_scale.write_market``:
the universe, three years of daily prices, the benchmark and a $20M large-cap account)
to a temporary folder, then runs ``rebalancer propose ... --scenario
scenarios/balanced_rerating.yaml`` as a process, in turn (so each sees the same load on
a shared machine), ``--runs`` times each way:

- ``--no-cache``: reads the files and fits the risk model, touches no cache;
- cold: an empty cache folder (reads, fits and writes the entries);
- warm: the cache folder the first cold run filled (the files unchanged).

Medians; the cache's size on disk after a cold run. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.bench_lots import run_process
from benchmarks.bench_scale import ROOT, SCENARIO, command, write_market
from benchmarks.report import Table


def _ok(result: tuple[float, float, int]) -> tuple[float, float, int]:
    if result[2] not in (0, 3):
        raise SystemExit(f"the command exited {result[2]}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = ap.parse_args()
    table = Table(
        "cache",
        ["names", "--no-cache", "cold (empty cache)", "warm (unchanged files)", "warm / no cache",
         "cache on disk", "peak memory warm"],
        notes=[
            f"`rebalancer propose` of a $20M large-cap account under {SCENARIO.name} as a "
            f"process, medians of {args.runs} runs taken in turn; cold: an empty cache "
            "folder (the files read, the risk model fitted, the entries written); warm: "
            "the same command again on the unchanged files (the universe, prices and "
            "risk model read from the cache)."
        ],
    )  # fmt: skip
    load = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_market(n, Path(tmp))
            cmd = command(paths)
            warm_dir = Path(tmp) / "warm-cache"
            _ok(run_process(cmd, ROOT, warm_dir))  # fills the warm folder
            size_mb = sum(p.stat().st_size for p in warm_dir.iterdir()) / 2**20
            off, cold, warm = [], [], []
            for _ in range(args.runs):
                load.append(os.getloadavg()[0])
                off.append(_ok(run_process([*cmd, "--no-cache"], ROOT)))
                cold.append(_ok(run_process(cmd, ROOT)))  # a new empty folder each time
                warm.append(_ok(run_process(cmd, ROOT, warm_dir)))
            t_off, t_cold, t_warm = (statistics.median(r[0] for r in runs)
                                     for runs in (off, cold, warm))  # fmt: skip
            table.add(
                f"{n:,}",
                f"{t_off:.2f} s",
                f"{t_cold:.2f} s",
                f"{t_warm:.2f} s",
                f"{t_warm / t_off:.2f}",
                f"{size_mb:.0f} MB",
                f"{statistics.median(r[1] for r in warm):.0f} MiB",
            )
    table.notes.append(
        f"Load average (1 min) during the runs: {min(load):.1f} to {max(load):.1f} on "
        f"{os.cpu_count()} cores (other work on the machine slows every column alike)."
    )
    table.emit(args.readme)


if __name__ == "__main__":
    main()
