"""A book of accounts against a 2,000-name universe, on 2 local worker processes.

    .venv/bin/python -m benchmarks.bench_book [--accounts 1000] [--names 2000]
        [--workers 2] [--peer] [--dask] [--readme] [--keep DIR]

Writes a synthetic market (benchmarks/synthetic.py) and a synthetic book
(examples/make_book.py: mixed sizes, models, taxable and tax-exempt accounts) to a
temporary folder and times ``rebalancer batch`` on it as a whole process. Prints the
wall time, accounts per second and the count of each status. With ``--peer`` the same
book runs again with ``REBALANCER_OWN_PROBLEMS=1`` — every account compiling a problem
of its own, as ``rebalancer propose`` does, instead of re-solving its model's — and
the ratio of the two wall times is printed. With ``--dask`` the book runs instead on
a Dask ``LocalCluster`` of ``--workers`` worker processes (one thread each) that this
benchmark starts on loopback, through ``rebalancer batch --scheduler``; the table adds
each worker's peak memory (its high-water resident set, read on the worker once the
book is done). Each row also gives the CPU seconds per account of the command and its
workers (less sensitive than the wall time to other work on the machine). Not part
of the test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
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
    folder: Path,
    workers: int,
    out: str,
    env: dict | None = None,
    scheduler: str | None = None,
    extra: tuple[str, ...] = (),
) -> tuple[float, dict, float]:
    """``rebalancer batch`` (with ``extra`` options) on the book in ``folder`` as a
    process (on the Dask cluster at ``scheduler`` when given): (wall seconds, the count
    of each status in its book summary, CPU seconds of the process and its local
    workers)."""
    where = ["--scheduler", scheduler] if scheduler else ["--workers", str(workers)]
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
        *where,
        "--as-of",
        "2026-11-20",
        "--quiet",
        *extra,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # exit 3 (an account infeasible) and 1 (one failed) still write the book summary
    done = subprocess.run(cmd, env={**os.environ, **(env or {})})
    if done.returncode not in (0, 1, 3):
        raise subprocess.CalledProcessError(done.returncode, cmd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = list(
        openpyxl.load_workbook(folder / out / "book_summary.xlsx", read_only=True)[
            "Accounts"
        ].values
    )
    status = rows[0].index("status")
    counts: dict[str, int] = {}
    for row in rows[1:]:
        counts[row[status]] = counts.get(row[status], 0) + 1
    return wall, counts, cpu


def on_local_cluster(folder: Path, workers: int, out: str) -> tuple[float, dict, float, list]:
    """``run`` on a Dask ``LocalCluster`` of ``workers`` processes started here: (wall
    seconds, statuses, CPU seconds of the workers, each worker's peak memory in MiB)."""
    import distributed  # optional: only with --dask

    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=None,  # measured, not capped: a capped worker is paused or restarted
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        start = client.run(_worker_usage)
        wall, counts, _ = run(folder, workers, out, scheduler=cluster.scheduler_address)
        end = client.run(_worker_usage)
    cpu = sum(end[w][0] - start[w][0] for w in end if w in start)
    return wall, counts, cpu, sorted(peak for _, peak in end.values())


def _worker_usage() -> tuple[float, float]:
    """(CPU seconds, peak resident MiB) of this worker process: its VmHWM, which unlike
    ``ru_maxrss`` is not carried over from the process it was forked from."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = 0.0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return usage.ru_utime + usage.ru_stime, peak


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
    ap.add_argument(
        "--dask",
        action="store_true",
        help="run the book on a Dask LocalCluster of --workers processes instead",
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
        book = f"{args.accounts:,} synthetic accounts (examples/make_book.py: $100k–$25M, "
        book += f"five models, about 40% taxable) on a {args.names:,}-name market"
        if args.dask:
            wall, counts, cpu, peaks = on_local_cluster(folder, args.workers, "out")
            table = Table(
                "book_dask",
                [
                    "engine",
                    "wall",
                    "accounts per second",
                    "CPU per account",
                    "peak memory per worker",
                    "statuses",
                ],  # fmt: skip
                notes=[
                    f"{book}, `rebalancer batch --scheduler` on a Dask LocalCluster of "
                    f"{args.workers} worker processes, one thread each, on this machine."
                ],
            )
            table.add(
                f"Dask LocalCluster, {args.workers} workers",
                f"**{wall:.1f} s**",
                f"{args.accounts / wall:.1f}",
                f"{cpu / args.accounts:.3f} s",
                " / ".join(f"{p:.0f} MiB" for p in peaks),
                _statuses(counts),
            )
            print(f"Dask LocalCluster: {wall:.1f} s", flush=True)
            table.emit(args.readme)
            return
        wall, counts, cpu = run(folder, args.workers, "out")
        table = Table(
            "book",
            ["problems", "wall", "accounts per second", "CPU per account", "statuses"],
            notes=[f"{book}, `rebalancer batch --workers {args.workers}` as one process."],
        )
        table.add(
            "one compiled problem per model, re-solved per account",
            f"**{wall:.1f} s**",
            f"{args.accounts / wall:.1f}",
            f"{cpu / args.accounts:.3f} s",
            _statuses(counts),
        )
        print(f"shared model problems: {wall:.1f} s", flush=True)
        if args.peer:
            peer, peer_counts, peer_cpu = run(folder, args.workers, "peer", {OWN_PROBLEMS: "1"})
            table.add(
                "peer: every account compiles its own problem",
                f"{peer:.1f} s",
                f"{args.accounts / peer:.1f}",
                f"{peer_cpu / args.accounts:.3f} s",
                _statuses(peer_counts),
            )
            table.notes.append(f"Shared model problems {peer / wall:.2f}× faster than the peer.")
        table.emit(args.readme)


def _statuses(counts: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()
