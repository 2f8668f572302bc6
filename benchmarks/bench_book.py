"""A book of accounts against a 2,000-name universe, on 2 local worker processes.

    .venv/bin/python -m benchmarks.bench_book [--accounts 1000] [--names 2000]
        [--workers 2] [--peer] [--readme] [--keep DIR]

Writes a synthetic market (benchmarks/synthetic.py) and a synthetic book
(examples/make_book.py: mixed sizes, models, taxable and tax-exempt accounts) to a
temporary folder and times ``rebalancer batch`` on it as a whole process. Prints the
wall time, accounts per second and the count of each status. With ``--peer`` the same
book runs again with ``REBALANCER_OWN_PROBLEMS=1`` — every account compiling a problem
of its own, as ``rebalancer propose`` does, instead of re-solving its model's — and
the ratio of the two wall times is printed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
from rebalancer.examples.make_book import make_book

from benchmarks.report import Table
from benchmarks.synthetic import scaled_market
from rebalancer.runs.book.account import OWN_PROBLEMS


def run(
    folder: Path, workers: int, out: str, env: dict | None = None, extra: tuple[str, ...] = ()
) -> tuple[float, dict]:
    """``rebalancer batch`` (with ``extra`` options) on the book in ``folder`` as a
    process: (wall seconds, the count of each status in its book summary)."""
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
        str(folder / out),
        "--workers",
        str(workers),
        "--as-of",
        "2026-11-20",
        "--quiet",
        *extra,
    ]
    t0 = time.perf_counter()
    # exit 3 (an account infeasible) and 1 (one failed) still write the book summary
    done = subprocess.run(cmd, env={**os.environ, **(env or {})})
    if done.returncode not in (0, 1, 3):
        raise subprocess.CalledProcessError(done.returncode, cmd)
    wall = time.perf_counter() - t0
    rows = list(
        openpyxl.load_workbook(folder / out / "book_summary.xlsx", read_only=True)[
            "Accounts"
        ].values
    )
    status = rows[0].index("status")
    counts: dict[str, int] = {}
    for row in rows[1:]:
        counts[row[status]] = counts.get(row[status], 0) + 1
    return wall, counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--names", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--peer",
        action="store_true",
        help="also run the book with every account compiling its own problem",
    )
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    ap.add_argument(
        "--keep",
        metavar="DIR",
        help="write the book and its outputs (out/, peer/) to DIR instead of a temporary folder",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        uni, prices, bench = scaled_market(args.names)
        uni.to_csv(folder / "universe.csv", index=False)
        prices.round(4).to_csv(folder / "prices.csv", index_label="date")
        bench.rename_axis("ticker").reset_index().to_csv(folder / "benchmark.csv", index=False)
        holdings, accounts = make_book(args.accounts, universe=uni, benchmark="benchmark.csv")
        holdings.to_csv(folder / "holdings.csv", index=False)
        accounts.to_csv(folder / "accounts.csv", index=False)
        wall, counts = run(folder, args.workers, "out")
        table = Table(
            "book",
            ["problems", "wall", "accounts per second", "statuses"],
            notes=[
                f"{args.accounts:,} synthetic accounts (examples/make_book.py: $100k–$25M, "
                f"five models, about 40% taxable) on a {args.names:,}-name market, "
                f"`rebalancer batch --workers {args.workers}` as one process."
            ],
        )
        table.add(
            "one compiled problem per model, re-solved per account",
            f"**{wall:.1f} s**",
            f"{args.accounts / wall:.1f}",
            _statuses(counts),
        )
        print(f"shared model problems: {wall:.1f} s", flush=True)
        if args.peer:
            peer, peer_counts = run(folder, args.workers, "peer", {OWN_PROBLEMS: "1"})
            table.add(
                "peer: every account compiles its own problem",
                f"{peer:.1f} s",
                f"{args.accounts / peer:.1f}",
                _statuses(peer_counts),
            )
            table.notes.append(f"Shared model problems {peer / wall:.2f}× faster than the peer.")
        table.emit(args.readme)


def _statuses(counts: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()
