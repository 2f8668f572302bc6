"""A book of accounts against a 2,000-name universe, on 2 local worker processes.

    .venv/bin/python -m benchmarks.bench_book [--accounts 1000] [--names 2000] [--workers 2]

Writes a synthetic market (benchmarks/synthetic.py) and a synthetic book
(examples/make_book.py: mixed sizes, models, taxable and tax-exempt accounts) to a
temporary folder and times ``rebalancer batch`` on it as a whole process. Prints the
wall time, accounts per second and the count of each status. Not part of the test
suite.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
from rebalancer.examples.make_book import make_book

from benchmarks.synthetic import scaled_market


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--names", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        uni, prices, bench = scaled_market(args.names)
        uni.to_csv(folder / "universe.csv", index=False)
        prices.round(4).to_csv(folder / "prices.csv", index_label="date")
        bench.rename_axis("ticker").reset_index().to_csv(folder / "benchmark.csv", index=False)
        holdings, accounts = make_book(
            args.accounts, universe=uni, benchmark=str(folder / "benchmark.csv")
        )
        holdings.to_csv(folder / "holdings.csv", index=False)
        accounts.to_csv(folder / "accounts.csv", index=False)
        cmd = [
            str(Path(sys.executable).with_name("rebalancer")),
            "batch",
            "--accounts",
            str(folder / "accounts.csv"),
            "--holdings",
            str(folder / "holdings.csv"),
            "--universe",
            str(folder / "universe.csv"),
            "--prices",
            str(folder / "prices.csv"),
            "--out-dir",
            str(folder / "out"),
            "--workers",
            str(args.workers),
            "--as-of",
            "2026-11-20",
            "--quiet",
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        rows = list(
            openpyxl.load_workbook(folder / "out" / "book_summary.xlsx", read_only=True)[
                "Accounts"
            ].values
        )
        status = rows[0].index("status")
        counts: dict[str, int] = {}
        for row in rows[1:]:
            counts[row[status]] = counts.get(row[status], 0) + 1
    print(
        f"{platform.machine()}, Python {platform.python_version()}: {args.accounts} accounts, "
        f"{args.names} names, {args.workers} workers: {wall:.1f} s "
        f"({args.accounts / wall:.2f} accounts/s); {counts}"
    )


if __name__ == "__main__":
    main()
