"""Time one proposal on the example data: where the seconds go.

    .venv/bin/python -m benchmarks.bench_propose [--account FDN-20M] [--runs 7] [--readme]

Prints the median (and min–max) over ``--runs`` of: the first working set's problem
built with constants and solved, the same problem compiled with Parameters (first
solve and a re-solve after a parameter change), the pipeline's whole optimisation
(the working set priced until no name outside would improve it, then the
minimum-trade re-solves), and the whole ``propose_account`` call. The
compiled-with-constants build is the peer the parametric build is compared with.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np

from benchmarks.report import Table
from rebalancer.optimize import problem as opt
from rebalancer.pipeline import load_inputs, prepare, propose_account
from rebalancer.scenario import load_scenario
from rebalancer.shipped import example_paths
from rebalancer.solve.driver import optimize


def capture_problem(data, scenario, account):
    """Run the pipeline once and keep the structure and numbers it solved."""
    seen = {}
    original = opt.RebalanceProblem.__init__

    def keep(self, structure, values, **kw):
        seen.setdefault("args", (structure, values))
        original(self, structure, values, **kw)

    opt.RebalanceProblem.__init__ = keep
    try:
        propose_account(data, scenario, account, "2026-11-20", taxable=False)
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


def row(table, label, secs):
    table.add(label, f"{statistics.median(secs):.3f} s", f"{min(secs):.3f}–{max(secs):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--account", default="FDN-20M")
    ap.add_argument("--scenario", default="smallcap_rerating.yaml")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = ap.parse_args()
    paths = example_paths()
    scenario = load_scenario(paths["scenarios"] / args.scenario)
    data = load_inputs(paths["holdings"], paths["universe"], paths["prices"], paths["benchmark"])
    structure, values = capture_problem(data, scenario, args.account)
    n, k = structure.loadings.shape
    table = Table(
        "propose",
        ["step", "median", "range"],
        notes=[
            f"{args.account} under {args.scenario}: the first working set has {n} names, "
            f"{k} factors, {len(structure.tilt_labels)} tilts; {args.runs} runs."
        ],
    )

    def constant_once():
        opt.RebalanceProblem(structure, values, parametric=False).solve()

    row(
        table, "first working set: built with constants and solved", timed(constant_once, args.runs)
    )

    def parametric_first():
        opt.RebalanceProblem(structure, values, parametric=True).solve()

    row(
        table,
        "the same, every number a Parameter: DPP compile + first solve",
        timed(parametric_first, max(3, args.runs // 2)),
    )
    compiled = opt.RebalanceProblem(structure, values, parametric=True)
    compiled.solve()
    turnovers = np.linspace(0.10, 0.30, args.runs)
    it = iter(turnovers)

    def turnover(cap: float) -> np.ndarray:
        # the limits' rows with the turnover cap's set to ``cap``
        return np.where(np.asarray(structure.rows) == "max_turnover", cap, values.row_rhs)

    row(
        table,
        "re-solve of that build after changing max_turnover",
        timed(lambda: compiled.solve(replace(values, row_rhs=turnover(next(it)))), args.runs),
    )
    request = prepare(data, scenario, args.account, "2026-11-20", taxable=False)
    row(
        table,
        "pipeline optimisation: working set priced to optimality, minimum-trade re-solves",
        timed(lambda: optimize(request), args.runs),
    )
    row(
        table,
        "whole propose_account: optimisation, rounding, lots, checks (risk model cached)",
        timed(
            lambda: propose_account(data, scenario, args.account, "2026-11-20", taxable=False),
            args.runs,
        ),
    )
    table.emit(args.readme)


if __name__ == "__main__":
    main()
