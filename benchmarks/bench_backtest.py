"""``rebalancer backtest`` at scale: 1,000 names, 3 years, monthly (36 rebalances).

    .venv/bin/python -m benchmarks.bench_backtest [--names 1000] [--runs 3]
        [--peer-python .venv-peer/bin/python] [--readme]

Writes benchmarks/synthetic.py's market of ``--names`` names (three years of daily
closes) and times the whole command ``rebalancer backtest`` over the whole price file,
rebalanced monthly, as medians of ``--runs`` (wall and CPU seconds: on a shared
machine the CPU seconds say more), for two policies:

- ``balanced_rerating``: the shipped scenario on the $20M large-cap account of
  ``benchmarks.bench_scale`` (every limit on, cost model, rounding to whole shares);
- ``equal_weight``: the costless equal-weight policy of
  ``benchmarks.bench_backtest_peer`` on a $1M cash account, whole shares;

and cvxportfolio's simulator on the same prices with the same equal-weight policy
(``benchmarks/peer_cvxportfolio.py``, whole shares; its own environment, see
``benchmarks.bench_backtest_peer``): its backtest call and its whole process. The
target: the first ≤ 15 s on two cores. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.bench_backtest_peer import (
    EQUAL_WEIGHT,
    backtest_command,
    peer_python,
    run_peer,
    timed,
    write_world,
)
from benchmarks.bench_scale import write_market
from benchmarks.report import Table

ROOT = Path(__file__).resolve().parents[1]
RERATING = ROOT / "scenarios" / "balanced_rerating.yaml"


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-python", help="an interpreter that imports cvxportfolio")
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    python = peer_python(args.peer_python)
    table = Table("backtest-scale", ["run", "policy", "wall s", "CPU s"])
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "rerating").mkdir()
        (folder / "equal").mkdir()
        rerating = write_market(args.names, folder / "rerating")
        equal = write_world(args.names, folder / "equal", 1.0, 1e6)
        ours = {"balanced_rerating": [], "equal_weight": []}
        peer, peer_inside = [], []
        for _ in range(args.runs):  # in turn: each sees the same load
            for name, paths, scenario in (("balanced_rerating", rerating, RERATING),
                                          ("equal_weight", equal, EQUAL_WEIGHT)):  # fmt: skip
                wall, cpu, _ = timed(backtest_command(paths, scenario, folder / f"{name}.json"))
                ours[name].append((wall, cpu))
            if python is not None:
                result = run_peer(python, equal, 1e6, whole=True)
                peer.append((result["wall"], result["cpu"]))
                peer_inside.append(result["seconds"])
    for name, runs in ours.items():
        wall, cpu = medians(runs)
        table.add("rebalancer backtest (whole command)", name, f"{wall:.1f}", f"{cpu:.1f}")
    if python is not None:
        wall, cpu = medians(peer)
        table.add("cvxportfolio MarketSimulator (process)", "equal_weight", f"{wall:.1f}",
                  f"{cpu:.1f}")  # fmt: skip
        table.add("cvxportfolio MarketSimulator (backtest call)", "equal_weight",
                  f"{statistics.median(peer_inside):.1f}", "")  # fmt: skip
    else:
        table.notes.append("cvxportfolio not found: python -m venv .venv-peer && "
                           ".venv-peer/bin/pip install cvxportfolio")  # fmt: skip
    table.notes.append(
        f"{args.names} names, 3 years of daily closes, monthly (36 rebalances), medians "
        f"of {args.runs} runs taken in turn; CPU s: user + system of the process and "
        "its children. Target: balanced_rerating ≤ 15 s on two cores. Load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end."
    )
    table.emit(readme=args.readme)


if __name__ == "__main__":
    main()
