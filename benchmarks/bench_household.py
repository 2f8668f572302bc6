"""Time a household solved as one problem against its accounts solved one by one.

    .venv/bin/python -m benchmarks.bench_household [--names 2000] [--scenario smallcap_rerating.yaml]

A four-account household (a taxable account of tax lots, a traditional IRA, a Roth and
a trust, each holding a sample of the large caps with 3% cash) on a universe of
``--names`` names generated like the examples (``benchmarks.synthetic``), against its
benchmark. Prints the seconds to prepare the household, to build and solve the joint
problem over every name and through its working set (``household.problem.priced``), the whole
``propose_household`` (solve, rounding per account, checks), and ``propose_account``
for each account alone; and the household's tilt exposures after each way. Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import Table
from benchmarks.synthetic import large_cap_account, lots_account, scaled_market
from rebalancer.household.build import band_miss, propose_household
from rebalancer.household.problem import HouseholdProblem, priced
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
    # income a year as a fraction of price (the universe's income_yield): 0-4%, so the
    # income tax a year of the taxable account is a figure to compare
    uni["income_yield"] = np.random.default_rng(3).uniform(0.0, 0.04, len(uni)).round(4)
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
    table.add("over every name: build the joint problem", f"{built:.2f}")
    table.add("over every name: compile it (cvxpy)", f"{compiled:.2f}")
    table.add("over every name: solve it (the solver chain)", f"{solution.seconds - compiled:.2f}")
    t0 = time.perf_counter()
    found, keep = priced(household)
    seconds = time.perf_counter() - t0
    table.add(
        f"through the working set ({int(keep.sum())} names): build, compile, solve",
        f"{seconds:.2f}",
    )
    gap = float(np.abs(found.weights - solution.weights).max())
    table.notes.append(
        f"working set vs every name: largest difference in a household weight {gap:.1e}"
    )
    t0 = time.perf_counter()
    proposal = propose_household(household)
    table.add("propose_household (solve, round, check)", f"{time.perf_counter() - t0:.2f}")
    alone, separate = 0.0, []
    for account, *_ in ACCOUNTS:
        t0 = time.perf_counter()
        separate.append(propose_account(data, scenario, account, AS_OF, relax=True))
        alone += time.perf_counter() - t0
    table.add("propose_account for each account alone (--relax), summed", f"{alone:.2f}")
    print(table.text())
    failed = proposal.checks[~proposal.checks["ok"]]
    print("household checks:", "all pass" if failed.empty else ", ".join(failed["check"]))
    print(comparison(household, proposal.proposals, separate).text())


def comparison(household, joint: list, separate: list) -> Table:
    """Joint vs account by account, each measured the same way from the proposals'
    orders: per tilt the household's active exposure after (its combined shares over
    the household's NAV) and how far outside its band; the taxable accounts' realized
    gain and estimated tax; the income tax a year; the household's turnover; and which
    accounts needed ``--relax`` alone."""
    tilts = household.scenario.tilts
    columns = ["way", *(f"{t} after (miss)" for t in tilts), "realized gain (taxable)",
               "estimated tax", "income tax a year", "turnover", "relaxed"]  # fmt: skip
    table = Table("household comparison", columns)
    for way, proposals in (("one problem", joint), ("account by account", separate)):
        shares = sum(r.position.shares for r in household.requests)
        trades = pd.concat([p.trades for p in proposals], ignore_index=True)
        sign = np.where(trades["side"] == "BUY", 1.0, -1.0) * trades["quantity"].to_numpy(float)
        traded = pd.Series(sign, index=trades["ticker"]).groupby(level=0).sum()
        uni = household.view.universe
        after = shares + traded.reindex(uni.index, fill_value=0.0).to_numpy(float)
        w_after = after * household.view.position.price_usd / household.nav_usd
        miss = band_miss(household, w_after)
        exposure = household.view.problem.structure.tilt_groups @ (
            w_after - household.reference_weight
        )
        taxable = [p.metrics for p in proposals if p.metrics.taxable]
        table.add(
            way,
            *(f"{e:+.4f} ({m:+.4f})" for e, m in zip(exposure, miss, strict=True)),
            f"{sum(m.realized_gain_usd for m in taxable):,.0f}",
            f"{sum(m.estimated_tax_usd for m in taxable):,.0f}",
            f"{sum(p.metrics.income_tax_usd for p in proposals):,.0f}",
            f"{float(trades['notional'].sum()) / (2 * household.nav_usd):.2%}",
            ", ".join(p.account for p in proposals if p.relaxed) or "none",
        )
    return table


if __name__ == "__main__":
    main()
