"""Time one proposal on the example data: where the seconds go.

    .venv/bin/python benchmarks/bench_propose.py [--account FDN-20M] [--runs 7]

Prints the median (and min–max) over ``--runs`` of: the optimisation as the
pipeline runs it (problem built with constants, solved, plus the min-trade
re-solve), the same problem compiled with Parameters (first solve and a re-solve
after a parameter change), and the whole ``propose_account`` call. The
compiled-with-constants build is the peer the parametric build is compared with.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import replace

import numpy as np

from rebalancer.optimize import problem as opt
from rebalancer.pipeline import example_paths, load_inputs, propose_account
from rebalancer.scenario import load_scenario


def capture_problem(data, scenario, account):
    """Run the pipeline once and keep the structure and numbers it solved."""
    seen = {}
    original = opt.RebalanceProblem.__init__

    def keep(self, structure, values, **kw):
        seen.setdefault("args", (structure, values))
        original(self, structure, values, **kw)

    opt.RebalanceProblem.__init__ = keep
    try:
        propose_account(data, scenario, account, "2026-11-20")
    finally:
        opt.RebalanceProblem.__init__ = original
    return seen["args"]


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def row(label, secs):
    print(f"{label:<52} {statistics.median(secs):7.3f} s  ({min(secs):.3f}–{max(secs):.3f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--account", default="FDN-20M")
    ap.add_argument("--scenario", default="smallcap_rerating.yaml")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    paths = example_paths()
    scenario = load_scenario(paths["scenarios"] / args.scenario)
    data = load_inputs(paths["holdings"], paths["universe"], paths["prices"], paths["benchmark"])
    structure, values = capture_problem(data, scenario, args.account)
    n, k = structure.loadings.shape
    print(
        f"{platform.processor() or platform.machine()}, {platform.python_version()}, "
        f"{args.account}: {n} names, {k} factors, {len(structure.tilt_labels)} tilts; "
        f"median of {args.runs} runs"
    )

    def constant_once():
        opt.RebalanceProblem(structure, values, parametric=False).solve()

    row("optimisation, constants (build + solve)", timed(constant_once, args.runs))

    def parametric_first():
        opt.RebalanceProblem(structure, values, parametric=True).solve()

    row(
        "optimisation, Parameters (build + DPP compile + solve)",
        timed(parametric_first, max(3, args.runs // 2)),
    )
    compiled = opt.RebalanceProblem(structure, values, parametric=True)
    compiled.solve()
    turnovers = np.linspace(0.10, 0.30, args.runs)
    it = iter(turnovers)
    row(
        "re-solve after a parameter change (max_turnover)",
        timed(lambda: compiled.solve(replace(values, max_turnover=float(next(it)))), args.runs),
    )
    row(
        "whole proposal (propose_account, risk model cached)",
        timed(lambda: propose_account(data, scenario, args.account, "2026-11-20"), args.runs),
    )


if __name__ == "__main__":
    main()
