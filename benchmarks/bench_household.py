"""Time a household solved as one problem against its accounts solved one by one.

    .venv/bin/python -m benchmarks.bench_household [--names 2000] [--scenario smallcap_rerating.yaml]

A four-account household (a taxable account of tax lots, a traditional IRA, a Roth and
a trust, each holding a sample of the large caps with 3% cash) on a universe of
``--names`` names generated like the examples (``benchmarks.synthetic``), against its
benchmark. Prints the seconds to prepare the household, to build and solve the joint
problem (``rebalancer.household.problem``: every name, no working set), the whole
``propose_household`` (solve, rounding per account, checks), and ``propose_account``
for each account alone; and the household's tilt exposures after each way. Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.report import Table
from benchmarks.synthetic import large_cap_account, lots_account, scaled_market
from rebalancer.household.build import propose_household
from rebalancer.household.problem import HouseholdProblem
from rebalancer.household.request import prepare_household
from rebalancer.pipeline import load_inputs, propose_account
from rebalancer.scenario import load_scenario
from rebalancer.shipped import example_paths

AS_OF = "2026-11-20"
ACCOUNTS = (("TAX", "taxable", 4e6), ("IRA", "tax_deferred", 2e6), ("ROTH", "tax_exempt", 1e6),
            ("TRUST", "tax_exempt", 3e6))  # fmt: skip


def household_inputs(names: int):
    """(inputs, benchmark weights): the four accounts of ``ACCOUNTS`` on ``names`` names."""
    uni, prices, bench = scaled_market(names)
    parts = []
    for i, (account, kind, nav) in enumerate(ACCOUNTS):
        if kind == "taxable":
            rows = lots_account(uni, bench, 400, nav=nav, seed=7 + i)
        else:
            rows = large_cap_account(uni, nav=nav, n_names=100, seed=5 + i)
        parts.append(rows.assign(account=account))
    folder = Path(tempfile.mkdtemp(prefix="bench_household_"))
    pd.concat(parts, ignore_index=True).to_csv(folder / "holdings.csv", index=False)
    uni.to_csv(folder / "universe.csv", index=False)
    prices.round(4).to_csv(folder / "prices.csv", index_label="date")
    bench.rename_axis("ticker").reset_index().to_csv(folder / "benchmark.csv", index=False)
    rows = [f"{a},{k},FAMILY" for a, k, _ in ACCOUNTS]
    (folder / "accounts.csv").write_text("account,account_type,household\n" + "\n".join(rows))
    names = ("holdings", "universe", "prices", "benchmark", "accounts")
    return load_inputs(*(folder / f"{name}.csv" for name in names)), bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=2000)
    parser.add_argument("--scenario", default="smallcap_rerating.yaml")
    args = parser.parse_args()
    data, _ = household_inputs(args.names)
    scenario = load_scenario(example_paths()["scenarios"] / args.scenario)
    table = Table(
        "household",
        ["step", "seconds"],
        notes=[f"{len(ACCOUNTS)} accounts on {args.names} names under {args.scenario}"],
    )
    t0 = time.perf_counter()
    household = prepare_household(data, scenario, "FAMILY", AS_OF)
    table.add("prepare the household (4 requests and the view)", f"{time.perf_counter() - t0:.2f}")
    t0 = time.perf_counter()
    problem = HouseholdProblem(household)
    built = time.perf_counter() - t0
    solution = problem.solve()
    compiled = problem.problem.compilation_time or 0.0
    table.add("build the joint problem (cvxpy expressions)", f"{built:.2f}")
    table.add("compile it (cvxpy)", f"{compiled:.2f}")
    table.add("solve it (the solver chain)", f"{solution.seconds - compiled:.2f}")
    t0 = time.perf_counter()
    proposal = propose_household(household)
    table.add("propose_household (solve, round, check)", f"{time.perf_counter() - t0:.2f}")
    alone = 0.0
    for account, *_ in ACCOUNTS:
        t0 = time.perf_counter()
        propose_account(data, scenario, account, AS_OF)
        alone += time.perf_counter() - t0
    table.add("propose_account for each account alone, summed", f"{alone:.2f}")
    print(table.text())
    after = proposal.exposures.loc[list(scenario.tilts), ["before", "after", "band_lo", "band_hi"]]
    print(after.to_string())
    failed = proposal.checks[~proposal.checks["ok"]]
    print("household checks:", "all pass" if failed.empty else ", ".join(failed["check"]))


if __name__ == "__main__":
    main()
