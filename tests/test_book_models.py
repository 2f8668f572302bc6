"""A book on a market like the examples' (the session's shared book, ``tests/conftest.py``'s
``model_book``: 400 names, a benchmark, 24 accounts of three models): each worker
compiles one problem per model and slot size and re-solves it for every account; that
reaches each account's own whole-universe optimum, explains an infeasible account as
``propose`` does, and gives the same trades on a Dask cluster as on the local pool."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.errors import InfeasibleError
from rebalancer.optimize.working_set import GAP_TOL, WorkingSet
from rebalancer.pipeline import load_inputs, propose_account
from rebalancer.prepare.build import prepare
from rebalancer.runs.book.models import ModelProblems
from rebalancer.runs.book.plan import BookFiles, plan
from rebalancer.runs.book.run import run_book
from rebalancer.runs.verify import verify
from rebalancer.scenario import load_scenario
from tests.conftest import BOOK_ACCOUNTS, BOOK_AS_OF
from tests.test_working_set import objective

AS_OF = BOOK_AS_OF


def _inputs(files: BookFiles, folder: Path):
    """The book's inputs, read once (every account of the book names one benchmark)."""
    return load_inputs(
        files.holdings, files.universe, files.prices, folder / "benchmark.csv", files.accounts
    )


def _summaries(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def _trades(out: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, keep_default_na=False) for p in sorted(out.glob("*.trades.csv"))]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True)[["account", "ticker", "side", "quantity"]]


def test_accounts_of_a_model_re_solve_its_compiled_problem(model_book):
    _, folder, book = model_book
    summaries = _summaries(folder / "local")
    assert len(summaries) >= BOOK_ACCOUNTS // 2
    shared = [s for s in summaries if s["optimizer"]["shared_problem"]]
    assert len(shared) >= 0.8 * len(summaries)
    # a worker compiles a model's problem for the first account of each slot size it
    # meets (2 workers, at most 3 models x taxable or not); every other account only
    # refreshes Parameter values (each then compiles its own final solve, not counted:
    # solve.final.final_set). A compile takes 0.07-0.6 s, a refresh 0.001-0.02 s; on a
    # loaded machine both take longer (a refresh paused for other work can pass 0.05 s),
    # so the bound between them grows with the slowest compile
    variants = {(s["scenario"], s["taxable"]) for s in shared}
    seconds = [s["optimizer"]["compile_seconds"] for s in shared]
    bound = max(0.05, 0.1 * max(seconds))
    compiled = [s for s in shared if s["optimizer"]["compile_seconds"] > bound]
    assert len(compiled) <= 2 * len(variants)
    assert len(shared) - len(compiled) >= len(shared) // 2
    for s in shared:
        assert s["optimizer"]["gap_bound"] <= GAP_TOL


def test_the_models_problem_reaches_each_accounts_own_optimum(model_book):
    """Through the model's slots and through a problem of the account's own, pricing
    ends at the same whole-universe optimum (to the pricing tolerance)."""
    files, folder, _ = model_book
    data = _inputs(files, folder)
    models = ModelProblems()
    compared = 0
    for job in plan(files):
        if compared == 6:
            break
        scenario = load_scenario(job.scenario)
        request = prepare(data, scenario, job.account, AS_OF)
        if request.problem.new_names is not None:
            continue  # a small account's limited set is a rule, not an optimum
        slots = models(request, data, job.probes, scenario)
        first = request.problem.first_set()
        s, d = request.problem.structure, request.problem.data
        try:
            own = WorkingSet(s, first).solve(d, price=True).weights
            shared = WorkingSet(s, slots.first_set(d), slots=slots).solve(d, price=True)
        except InfeasibleError:
            continue
        assert shared.working_set["shared_problem"]
        assert objective(shared.weights, s, d) == pytest.approx(
            objective(own, s, d), abs=2 * GAP_TOL
        )
        compared += 1
    assert compared == 6


def test_verify_reproduces_a_book_account_as_a_proposal(model_book):
    """An account's JSON records the model it re-solved (scenario, probes); ``verify
    --reproduce`` re-solves it as a proposal, with a problem of its own, and finds the
    same orders, share for share (one account, one answer: solve.final.final_set)."""
    _, folder, _ = model_book
    shared = [s for s in _summaries(folder / "local") if s["optimizer"]["shared_problem"]]
    for scenario in sorted({s["scenario"] for s in shared}):
        summary = next(s for s in shared if s["scenario"] == scenario)
        model = summary["manifest"]["book_model"]
        assert model["probes"] and model["scenario"].endswith(".yaml")
        report = verify(folder / "local" / f"{summary['account']}.json", reproduce=True)
        assert report.passed, report.findings
        assert any("reproduced: the same" in text for _, text in report.findings)


NUMBER = re.compile(r"([a-z_]+(?: \([^)]*\))?) ([-\d.]+) would need ([-\d.]+)")


def test_an_infeasible_account_is_explained_as_propose_explains_it(model_book):
    files, folder, book = model_book
    infeasible = book.summary[book.summary["status"] == "infeasible"]
    assert len(infeasible), "the status-quo model leaves some account infeasible"
    jobs = {job.account: job for job in plan(files)}
    data = _inputs(files, folder)
    for row in infeasible.itertuples():
        job = jobs[row.account]
        with pytest.raises(InfeasibleError) as caught:
            propose_account(data, load_scenario(job.scenario), job.account, AS_OF)
        theirs = {m[0]: (float(m[1]), float(m[2])) for m in NUMBER.findall(str(caught.value))}
        ours = {m[0]: (float(m[1]), float(m[2])) for m in NUMBER.findall(row.message)}
        assert ours.keys() == theirs.keys()
        for name, (limit, need) in ours.items():
            assert limit == theirs[name][0]
            assert need == pytest.approx(theirs[name][1], rel=1e-3)


def test_a_dask_cluster_gives_the_same_trades_as_the_local_pool(model_book, tmp_path):
    distributed = pytest.importorskip("distributed")
    files, folder, book = model_book
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote = run_book(
            files, tmp_path / "dask", scheduler=cluster.scheduler_address, as_of=AS_OF
        )
    assert list(remote.summary["status"]) == list(book.summary["status"])
    pd.testing.assert_frame_equal(_trades(tmp_path / "dask"), _trades(folder / "local"))
