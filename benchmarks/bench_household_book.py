"""A book of households: ``batch --households`` against the same accounts one by one.

    .venv/bin/python -m benchmarks.bench_household_book [--accounts 1000] [--names 2000]
        [--size 4] [--workers 2] [--runs 3] [--readme] [--keep DIR]

The synthetic book of ``benchmarks.bench_book`` (examples/make_book.py on a market of
``--names`` names, benchmarks/synthetic.py) with its ``household`` column rewritten into
households of ``--size`` consecutive accounts, each account given its household's first
account's scenario (a household is solved under one scenario). The same files are run
``--runs`` times each way, alternating: ``rebalancer batch`` (every account solved
alone; the column only joins wash-sale windows) and ``rebalancer batch --households``
(each household one joint problem), as whole processes on ``--workers`` workers. Prints
the median wall time of each way and the count of each status. Not part of the test
suite.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from rebalancer.examples.make_book import make_book

from benchmarks.bench_book import _statuses, run
from benchmarks.report import Table
from benchmarks.synthetic import scaled_market


def household_book(folder: Path, accounts: int, names: int, size: int) -> int:
    """Write the book into ``folder``; returns the number of households."""
    uni, prices, bench = scaled_market(names)
    uni.to_csv(folder / "universe.csv", index=False)
    prices.round(4).to_csv(folder / "prices.csv", index_label="date")
    bench.rename_axis("ticker").reset_index().to_csv(folder / "benchmark.csv", index=False)
    holdings, book = make_book(accounts, universe=uni, benchmark="benchmark.csv")
    group = book.index // size
    book["household"] = [f"H{g + 1:05d}" for g in group]
    book["scenario"] = book.groupby(group)["scenario"].transform("first")
    holdings.to_csv(folder / "holdings.csv", index=False)
    book.to_csv(folder / "accounts.csv", index=False)
    return int(group.max()) + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--names", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4, help="accounts per household")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="runs of each way (median)")
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    ap.add_argument("--keep", metavar="DIR", help="write the book and outputs to DIR")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        households = household_book(folder, args.accounts, args.names, args.size)
        ways = {
            "account by account (`batch`)": ("alone", ()),
            "one problem per household (`batch --households`)": ("joint", ("--households",)),
        }
        walls: dict[str, list[float]] = {way: [] for way in ways}
        counts: dict[str, dict] = {}
        for i in range(args.runs):
            for way, (out, extra) in ways.items():
                wall, counts[way], _ = run(folder, args.workers, f"{out}{i}", extra=extra)
                walls[way].append(wall)
                print(f"run {i + 1}: {way} {wall:.1f} s", flush=True)
        table = Table(
            "household-book",
            ["way", "wall (median)", "runs", "accounts per second", "statuses"],
            notes=[
                f"{args.accounts:,} synthetic accounts (examples/make_book.py) in {households:,} "
                f"households of {args.size} (each under its first account's scenario) on a "
                f"{args.names:,}-name market, `rebalancer batch --workers {args.workers}` as "
                f"one process, the two ways alternating, {args.runs} runs each."
            ],
        )
        for way in ways:
            median = statistics.median(walls[way])
            table.add(
                way,
                f"**{median:.1f} s**",
                ", ".join(f"{w:.1f}" for w in walls[way]),
                f"{args.accounts / median:.1f}",
                _statuses(counts[way]),
            )
        alone, joint = (statistics.median(walls[way]) for way in ways)
        table.notes.append(f"Households as one problem: {joint / alone:.2f}× the wall time.")
        table.emit(args.readme)


if __name__ == "__main__":
    main()
