"""``rebalancer backtest`` against a peer: cvxportfolio's simulator on the same prices.

    .venv/bin/python -m benchmarks.bench_backtest_peer [--names 100] [--nav 1e6]
        [--peer-python .venv-peer/bin/python] [--readme]

The policy both run: a costless, tax-free, monthly equal-weight account. On our side
``rebalancer backtest --scenario benchmarks/equal_weight.yaml --tax-exempt`` on an
account holding only cash, with an equal-weight benchmark file (the scenario's
optimum is the benchmark: no signal, view or tilt, no cost, no limit); on the peer's,
its ``PeriodicRebalance`` of equal weights (``benchmarks/peer_cvxportfolio.py``). The
window is the whole price file (benchmarks/synthetic.py's market of ``--names``
names: three years of daily closes); rebalanced on its first date and on the first
price date of each later month, orders executed at the day's close, cash earning 0.

Fractional shares: the universe's ``lot_size`` is 1e-8 shares (a lot size is the
package's only unit of trading; below a share it trades fractions), and cvxportfolio
trades weights exactly: the final values agree to 1e-6 relative or better. Whole
shares: ``lot_size`` 1, and the peer's ``round_trades`` (to the nearest share);
each side is then within its rounding bound of the exact policy (the third row, a
recomputation from the price file alone): ours rounds toward no trade and trims buys
until cash is not below 0, so Σ|dᵢ|·pᵢ ≤ 2·Σ lot·pᵢ at each rebalance (d the shares
away from the exact target); the peer rounds to the nearest share, Σ|dᵢ|·pᵢ ≤
½·Σ pᵢ. Over a holding period from prices p to p′ such a d moves the value by at
most Σ|dᵢ|·pᵢ·max|p′ᵢ/pᵢ − 1|; the bound is the product of (1 + that / the exact
account's value at p′) over the periods, less 1, and the two sides differ by at most
the sum of their bounds.

cvxportfolio is GPL: it is not a dependency of the package and is never imported
by it or by this script. It runs in an environment of its own:

    python -m venv .venv-peer && .venv-peer/bin/pip install cvxportfolio

and without one the peer's rows say so. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import Table
from benchmarks.synthetic import scaled_market

ROOT = Path(__file__).resolve().parents[1]
EQUAL_WEIGHT = ROOT / "benchmarks" / "equal_weight.yaml"
PEER_SCRIPT = ROOT / "benchmarks" / "peer_cvxportfolio.py"
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
FRACTIONAL_LOT = 1e-8  # shares: orders rounded to this are fractional to ~1e-6 dollars


def write_world(n: int, folder: Path, lot: float, nav: float) -> dict[str, Path]:
    """A market of ``n`` names (``scaled_market``) with every ``lot_size`` ``lot``, an
    equal-weight benchmark and an account holding ``nav`` dollars of cash."""
    uni, prices, _ = scaled_market(n)
    uni["lot_size"] = lot
    paths = {k: folder / f"{k}.csv" for k in ("universe", "prices", "benchmark", "holdings")}
    uni.to_csv(paths["universe"], index=False)
    prices.round(4).to_csv(paths["prices"], index_label="date")
    pd.DataFrame({"ticker": uni["ticker"], "weight": 1.0 / n}).to_csv(
        paths["benchmark"], index=False
    )
    pd.DataFrame({"account": ["PEER"], "ticker": ["CASH"], "quantity": [nav]}).to_csv(
        paths["holdings"], index=False
    )
    return paths


def window(paths: dict[str, Path]) -> tuple[str, str]:
    dates = pd.read_csv(paths["prices"], usecols=["date"])["date"]
    return str(dates.iloc[0]), str(dates.iloc[-1])


def backtest_command(paths: dict[str, Path], scenario: Path, out: Path, *extra: str) -> list[str]:
    """``rebalancer backtest`` of the world's account as a process (the code on the path)."""
    start, end = window(paths)
    return [sys.executable, "-c", "from rebalancer.cli import main; main()", "backtest",
            "--holdings", str(paths["holdings"]), "--universe", str(paths["universe"]),
            "--prices", str(paths["prices"]), "--benchmark", str(paths["benchmark"]),
            "--scenario", str(scenario), "--start", start, "--end", end, "--tax-exempt",
            "--json", str(out), "-q", *extra]  # fmt: skip


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child and its children, its stdout), the
    child run with an empty on-disk cache; a failure stops the benchmark with the
    command's error."""
    with tempfile.TemporaryDirectory() as cache:  # an empty on-disk cache: a cold run
        env = {**os.environ, "PYTHONPATH": str(ROOT), "REBALANCER_CACHE_DIR": cache}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd[:5])}... failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def peer_python(path: str | None) -> Path | None:
    """The peer environment's interpreter when it can import cvxportfolio, else None."""
    python = Path(path) if path else PEER_PYTHON
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import cvxportfolio"], capture_output=True)
    return python if probe.returncode == 0 else None


def run_peer(python: Path, paths: dict[str, Path], nav: float, whole: bool) -> dict:
    """The peer's final value and seconds (inside its backtest, and the process's)."""
    start, end = window(paths)
    cmd = [str(python), str(PEER_SCRIPT), str(paths["prices"]), start, end, str(nav)]
    wall, cpu, stdout = timed([*cmd, "--whole"] if whole else cmd)
    return {**json.loads(stdout.strip().splitlines()[-1]), "wall": wall, "cpu": cpu}


def periods(closes: pd.DataFrame) -> list[tuple[int, int]]:
    """(rebalance row, next rebalance row or the last row) of each holding period."""
    month = closes.index.to_period("M")
    first = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
    return list(zip(first, np.r_[first[1:], len(closes) - 1], strict=True))


def exact_path(closes: pd.DataFrame, nav: float) -> list[float]:
    """The exact policy's value at the end of each holding period (fractional shares:
    nav / n dollars of each name at each rebalance, held to the next)."""
    p, value, out = closes.to_numpy(float), nav, []
    for a, b in periods(closes):
        value = float((value / p.shape[1] / p[a]) @ p[b])
        out.append(value)
    return out


def rounding_bound(closes: pd.DataFrame, nav: float, dollars_per_price: float) -> float:
    """Π(1 + c·Σpᵢ·max|p′ᵢ/pᵢ − 1| / V′) − 1 over the holding periods (module
    docstring), ``c`` = ``dollars_per_price`` (2 for ours, ½ for the peer's)."""
    p, bound = closes.to_numpy(float), 1.0
    for (a, b), end_value in zip(periods(closes), exact_path(closes, nav), strict=True):
        bound *= 1.0 + dollars_per_price * p[a].sum() * np.abs(p[b] / p[a] - 1.0).max() / end_value
    return bound - 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--nav", type=float, default=1e6)
    parser.add_argument("--peer-python", help="an interpreter that imports cvxportfolio")
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    python = peer_python(args.peer_python)
    table = Table("backtest-peer", ["shares", "rebalancer final $", "cvxportfolio final $",
                                    "relative difference", "bound", "rebalancer s",
                                    "cvxportfolio s"])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for label, lot in (("fractional", FRACTIONAL_LOT), ("whole", 1.0)):
            folder = Path(tmp) / label
            folder.mkdir()
            paths = write_world(args.names, folder, lot, args.nav)
            closes = pd.read_csv(paths["prices"], index_col="date", parse_dates=True)
            wall, _, _ = timed(backtest_command(paths, EQUAL_WEIGHT, folder / "bt.json"))
            ours = json.loads((folder / "bt.json").read_text())["scenarios"]["equal_weight"]
            exact = exact_path(closes, args.nav)[-1]
            whole = label == "whole"
            ours_bound = rounding_bound(closes, args.nav, 2.0) if whole else 0.0
            peer_bound = rounding_bound(closes, args.nav, 0.5) if whole else 0.0
            if python is None:
                peer = {"final_value": float("nan"), "seconds": float("nan")}
            else:
                peer = run_peer(python, paths, args.nav, whole)
            diff = ours["final_nav"] / peer["final_value"] - 1.0
            table.add(label, f"{ours['final_nav']:,.4f}", f"{peer['final_value']:,.4f}",
                      f"{diff:.2e}", f"{ours_bound + peer_bound:.2e}" if whole else "1e-06",
                      f"{wall:.1f}", f"{peer['seconds']:.1f}")  # fmt: skip
            table.add(f"{label}: exact policy", f"{exact:,.4f}", "",
                      f"{ours['final_nav'] / exact - 1.0:.2e} (ours), "
                      f"{peer['final_value'] / exact - 1.0:.2e} (peer)",
                      f"{ours_bound:.2e}, {peer_bound:.2e}" if whole else "1e-06", "", "")  # fmt: skip
    table.notes.append(
        f"{args.names} names, ${args.nav:,.0f} of cash, 3 years of daily closes, "
        "equal weights reset monthly at the close, no costs, no tax, cash at 0%. "
        "relative difference: ours / the peer's − 1 (exact-policy rows: each side / "
        "the recomputation from the price file − 1); bound: the rounding bound "
        "(module docstring). Seconds: rebalancer's whole command; cvxportfolio's "
        "backtest call."
    )
    if python is None:
        table.notes.append("cvxportfolio not found: python -m venv .venv-peer && "
                           ".venv-peer/bin/pip install cvxportfolio")  # fmt: skip
    table.emit(readme=args.readme)


if __name__ == "__main__":
    main()
