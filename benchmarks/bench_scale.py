"""One account on universes of 500, 2,000 and 5,000 names, all constraints on.

    .venv/bin/python -m benchmarks.bench_scale [--sizes 500 2000 5000] [--runs 3]
        [--before REV] [--peer]

For each size, writes a synthetic market (benchmarks/synthetic.py: universe, three
years of daily prices, benchmark) and a $20M large-cap account to a temporary
folder, then measures, as medians of ``--runs``: the optimisation inside the
pipeline (``propose_account``'s optimize timing), and the whole command
``rebalancer propose ... --scenario scenarios/balanced_rerating.yaml`` as a process
with its peak memory (the child's maximum resident set, from ``os.wait4``), each
run with an empty on-disk cache (``bench_lots.run_process``: a cold run; the same
command again on unchanged files is ``bench_cache``'s).
``--before REV``: the same command run by the package of git revision REV too, its
runs taken in turn with the current code's (so both see the same load on a shared
machine), and the ratio of their medians. ``--peer``: PyPortfolioOpt's whole script
(``benchmarks/peers/pypfopt_script.py``: the CSVs read with pandas, Ledoit-Wolf Σ, the
same 5% and 30% sector caps, a linear cost, whole shares) run as a process on the
same files, in turn with the command, and the ratio of their medians. Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_lots import checkout, run_process
from benchmarks.report import Table, working_set
from benchmarks.synthetic import large_cap_account, scaled_market
from rebalancer.pipeline import load_inputs, propose_account
from rebalancer.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "balanced_rerating.yaml"
PEER = ROOT / "benchmarks" / "peers" / "pypfopt_script.py"


def write_market(n: int, folder: Path) -> dict[str, Path]:
    uni, prices, bench = scaled_market(n)
    paths = {k: folder / f"{k}.csv" for k in ("universe", "prices", "benchmark", "holdings")}
    uni.to_csv(paths["universe"], index=False)
    prices.round(4).to_csv(paths["prices"], index_label="date")
    bench.rename_axis("ticker").reset_index().to_csv(paths["benchmark"], index=False)
    large_cap_account(uni).to_csv(paths["holdings"], index=False)
    return paths


def command(paths: dict[str, Path]) -> list[str]:
    exe = Path(sys.executable).with_name("rebalancer")
    return [
        str(exe),
        "propose",
        "--holdings",
        str(paths["holdings"]),
        "--universe",
        str(paths["universe"]),
        "--prices",
        str(paths["prices"]),
        "--benchmark",
        str(paths["benchmark"]),
        "--scenario",
        str(SCENARIO),
        "--as-of",
        "2026-11-20",
        "--quiet",
    ]


def peer_command(paths: dict[str, Path]) -> list[str]:
    """PyPortfolioOpt's script on the same files (its orders written beside them)."""
    files = [f"--{k}={paths[k]}" for k in ("holdings", "universe", "prices")]
    return [sys.executable, str(PEER), *files, f"--out={paths['holdings'].parent / 'peer.csv'}"]


def finished(cmd: list[str], source: Path) -> tuple[float, float, int]:
    """``run_process``, which must end with a proposal (exit 0) or its conflict (3)."""
    wall, peak, code = run_process(cmd, source)
    if code not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} exited {code} with the code of {source}")
    return wall, peak, code


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", help="git revision to compare with (the code before)")
    ap.add_argument("--peer", action="store_true", help="also time PyPortfolioOpt's whole script")
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = ap.parse_args()
    scenario = load_scenario(SCENARIO)
    table = Table(
        "scale",
        [
            "names",
            "optimisation",
            "whole proposal",
            "whole command",
            "peak memory",
            "trades",
            "working set",
            "status",
        ],
        notes=[
            f"{SCENARIO.name}, a $20M large-cap account, every limit on; medians of "
            f"{args.runs}; the command is `rebalancer propose` as a process, peak memory "
            "its maximum resident set."
        ],
    )
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            old = checkout(args.before, Path(tmp)) if args.before else None
            paths = write_market(n, Path(tmp))
            data = load_inputs(
                paths["holdings"], paths["universe"], paths["prices"], paths["benchmark"]
            )
            opt, whole, proposal = [], [], None
            for _ in range(args.runs):
                proposal = propose_account(data, scenario, None, "2026-11-20")
                opt.append(proposal.timings.optimize_s)
                whole.append(proposal.timings.total_s)
            runs, before, peer = [], [], []
            for _ in range(args.runs):  # in turn, so each sees the same load
                runs.append(finished(command(paths), ROOT))
                if args.before:
                    before.append(finished(command(paths), old))
                if args.peer:
                    peer.append(run_process(peer_command(paths), ROOT))
                    if peer[-1][2] != 0:
                        raise SystemExit(f"{PEER.name} exited {peer[-1][2]} at {n:,} names")
            used = proposal.optimizer
            table.add(
                f"{n:,}",
                f"{statistics.median(opt):.2f} s",
                f"{statistics.median(whole):.2f} s",
                f"{statistics.median(r[0] for r in runs):.2f} s",
                f"{statistics.median(r[1] for r in runs):.0f} MiB",
                proposal.metrics.n_trades,
                working_set(used["names"], used["pricing_rounds"]),
                proposal.status,
            )
            if before:
                wall = statistics.median(r[0] for r in before)
                peak = statistics.median(r[1] for r in before)
                table.add(f"{n:,} (before: {args.before})", "", "",
                          f"{wall:.2f} s", f"{peak:.0f} MiB", "", "", "")  # fmt: skip
                now = statistics.median(r[0] for r in runs)
                table.notes.append(
                    f"{n:,} names, the code before ({args.before}) / now, in the same "
                    f"run: {wall / now:.1f}× the time of the whole command."
                )
            if peer:
                wall = statistics.median(r[0] for r in peer)
                peak = statistics.median(r[1] for r in peer)
                table.add(f"{n:,} (peer: PyPortfolioOpt script)", "", "",
                          f"{wall:.2f} s", f"{peak:.0f} MiB", "", "", "")  # fmt: skip
                now = statistics.median(r[0] for r in runs)
                table.notes.append(
                    f"{n:,} names, PyPortfolioOpt's whole script ({PEER.name}) / "
                    f"`rebalancer propose`, in the same run: {wall / now:.1f}× the time."
                )
    table.emit(args.readme)


if __name__ == "__main__":
    main()
