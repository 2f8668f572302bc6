"""``rebalancer drift`` over a synthetic book: the scan of every account, timed.

    .venv/bin/python -m benchmarks.bench_drift [--accounts 10000] [--names 2000]
        [--repeats 3] [--readme] [--keep DIR]

Writes a book (benchmarks/drift_book.py: accounts that track a 200-name benchmark
under a small-cap tilt, 20% of them drifted) and times ``rebalancer drift --out
queue.csv`` and ``--out queue.xlsx`` (each with ``--json``) on it as whole processes,
and the scan's own seconds as the command reports them; medians of ``--repeats``. Not part of the test suite. Target: 10,000 accounts under 10 s on 2
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.drift_book import write_drift_book
from benchmarks.report import Table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--names", type=int, default=2_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    ap.add_argument("--keep", type=Path, help="write the book here and keep it")
    args = ap.parse_args()
    load = os.getloadavg()[0]  # the machine may be shared: the figures say so
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        book = write_drift_book(folder, args.accounts, n_names=args.names)
        cmd = [str(Path(sys.executable).with_name("rebalancer")), "drift",
               "--accounts", str(folder / "accounts.csv"), "--holdings",
               str(folder / "holdings.csv"), "--universe", str(folder / "universe.csv"),
               "--json", str(folder / "queue.json")]  # fmt: skip
        wall: dict[str, list[float]] = {".csv": [], ".xlsx": []}
        scan: list[float] = []
        for _ in range(args.repeats):
            for suffix, times in wall.items():
                t0 = time.perf_counter()
                done = subprocess.run([*cmd, "--out", str(folder / f"queue{suffix}")],
                                      capture_output=True, text=True, check=True)  # fmt: skip
                times.append(time.perf_counter() - t0)
                scan.append(float(re.search(r"scanned in ([\d.]+) s", done.stdout).group(1)))
        counts = json.loads((folder / "queue.json").read_text())["counts"]
    drifted = sum(bool(k) for k in book.kind.values())
    med = statistics.median
    table = Table(
        "drift",
        [
            "accounts",
            "names",
            "scan (median)",
            "process, queue.csv + JSON",
            "process, queue.xlsx + JSON",
        ],
        notes=[
            f"{drifted:,} drifted accounts; medians of {args.repeats} runs of each; the scan "
            "is the seconds the command reports (reading the files, the risk model, the "
            "measures), the process adds start-up and writing the queue. Statuses: "
            + ", ".join(f"{n:,} {status}" for status, n in counts.items())
            + f". Load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            "(2 cores: above 2, other work shared them)."
        ],
    )
    table.add(f"{args.accounts:,}", f"{args.names:,}", f"{med(scan):.2f} s",
              f"{med(wall['.csv']):.2f} s", f"{med(wall['.xlsx']):.2f} s")  # fmt: skip
    table.emit(args.readme)


if __name__ == "__main__":
    main()
