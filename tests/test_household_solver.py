"""A household's joint problem that Clarabel's default steps cannot finish.

On the synthetic book of ``benchmarks.bench_household_book`` (a 2,000-name market),
household H00004 — four accounts of $0.23M to $18.5M under ``rate_cuts`` — has a
first working set on which Clarabel, with or without equilibration, stops with
InsufficientProgress: its steps onto the impact cones' boundary collapse to 0 with
the gap near 2e-4. The chain then fell back to SCS (40-55 s a solve on such sets).
Clarabel with steps of at most 0.9 of the way to the boundary (the chain's third
entry, ``optimize.problem.SOLVERS``) ends optimal. Each solve here is checked on its
own point: the constraints' violation and the objective against the other answer.
"""

from __future__ import annotations

from pathlib import Path

import cvxpy as cp
import pytest

from benchmarks.bench_household_book import household_book
from rebalancer.household import problem as hp
from rebalancer.household.request import prepare_household
from rebalancer.optimize.problem import SOLVERS, installed_solvers
from rebalancer.runs.book import cache
from rebalancer.runs.book.plan import BookFiles
from rebalancer.scenario import load_scenario
from rebalancer.scenario.loader import named_in_accounts

pytestmark = pytest.mark.skipif(
    "CLARABEL" not in installed_solvers(), reason="the failing class is Clarabel's"
)


@pytest.fixture(scope="module")
def joint(tmp_path_factory) -> hp.HouseholdProblem:
    folder = tmp_path_factory.mktemp("book")
    household_book(folder, 16, 2000, 4)
    files = BookFiles(*(str(folder / f) for f in ("holdings.csv", "universe.csv",
                                                  "accounts.csv", "prices.csv")))  # fmt: skip
    data = cache.inputs(files, str(folder / "benchmark.csv"))
    accounts = str(folder / "accounts.csv")
    scenario = load_scenario(
        named_in_accounts(Path(folder), "rate_cuts.yaml", accounts, 2, "scenario")
    )
    household = prepare_household(data, scenario, "H00004", "2026-11-20")
    cache.clear()
    return hp.HouseholdProblem(household, keep=hp.first_set(household))


def test_default_steps_stall_and_shorter_steps_solve(joint):
    short = [entry for entry in SOLVERS if entry[1].get("max_step_fraction")]
    assert short, "the chain has no Clarabel entry with shorter steps"
    # the class: both default-step Clarabel entries give no answer
    status, _, _, warnings = joint._run(SOLVERS[:2])
    assert status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE), status
    assert len(warnings) == 2
    status, label, _, _ = joint._run(short)
    assert status == cp.OPTIMAL, status
    assert "max_step_fraction=0.9" in label
    assert joint._violation() <= 1e-6
    value = joint.problem.value
    # the whole chain (as ``priced`` calls it) answers the same way, at the same optimum
    solution = joint.solve(explain=False, chain=hp.interior_point_solvers())
    assert solution.status == cp.OPTIMAL
    assert solution.objective == pytest.approx(value, rel=1e-6, abs=1e-9)
