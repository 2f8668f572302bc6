"""Books of accounts: one proposal per account, on a local process pool or a Dask cluster.

``run_book`` reads the accounts file (docs/contracts.md §1: account, scenario, benchmark,
taxable, cash_target, household), sends one job per account to the engine
(``rebalancer.engines``: local worker processes or a Dask cluster, which survive a
lost worker and stop on SIGINT or SIGTERM) and collects what comes back. Each worker
process reads the shared inputs once and
keeps one risk model; an account that fails — bad scenario, infeasible limits, an
unexpected error — is recorded with its message and never stops the others. A
shared input that cannot be read (holdings, universe, prices, trade history, the
default benchmark) stops the whole book before anything is written.

Every account's trades CSV and JSON summary (and workbook with ``workbooks``) are
written by the worker that ran it, whole or not at all, so ``resume`` can reuse an
account whose outputs are complete (its JSON parses, the files beside it are the
ones its manifest records) and were made as this run would make them (the
manifest's input digests, effective scenario, as-of date and program version are
this run's; ``reusable``); any other account is redone and the reason recorded.
Workers are given absolute paths, and write only in the output folder. The book
summary workbook and the block orders (trades added up per ticker and side, with
each account's allocation) are written last.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook

import rebalancer
from rebalancer import engines
from rebalancer.errors import InfeasibleError, InputError, RebalancerError, ScenarioError
from rebalancer.export import protected_files, write_outputs
from rebalancer.export.atomic import (
    OutputSet,
    check_target,
    protected_identities,
    remove_stale_temps,
)
from rebalancer.export.csvout import read_written_trades
from rebalancer.export.manifest import file_digest, scenario_digest
from rebalancer.export.safe import safe_text
from rebalancer.export.xlsx import stream_table
from rebalancer.inputs import (
    check_benchmark_in_universe,
    read_accounts,
    read_benchmark,
    read_holdings_by_account,
    read_universe,
)
from rebalancer.inputs.readers import listed_names
from rebalancer.jobs import AccountResult, Job
from rebalancer.scenario import load_scenario
from rebalancer.scenario.loader import named_in_accounts

SUMMARY_COLUMNS = [
    "account", "scenario", "status", "message", "nav", "cash_after", "turnover", "n_trades",
    "est_cost", "expected_return", "tracking_error", "taxable", "estimated_tax",
    "realized_gain", "seconds",
]  # fmt: skip


@dataclass(frozen=True)
class BookFiles:
    """The shared inputs of a book, as paths every worker can read."""

    holdings: str
    universe: str
    accounts: str
    prices: str | None = None
    benchmark: str | None = None  # used when the accounts file names none
    trade_history: str | None = None

    def absolute(self) -> BookFiles:
        """The same files named by absolute paths: a worker runs in a folder of its own
        (a Dask worker started elsewhere), where the client's relative paths mean
        other files or none."""
        return BookFiles(
            *(None if p is None else os.path.abspath(p) for p in dataclasses.astuple(self))
        )

    def roles(self) -> dict[str, str | None]:
        """Role -> path, as a proposal's ``inputs`` names them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def plan(files: BookFiles) -> list[Job]:
    """One job per row of the accounts file; paths in it are relative to that file (a
    scenario not found there is looked up in the shipped library)."""
    table = read_accounts(files.accounts)
    base = Path(files.accounts).resolve().parent
    jobs = []
    for row in table.itertuples():
        _check_file_name(str(row.account), files.accounts, row.row)
        if not row.scenario:
            raise ScenarioError(
                files.accounts,
                f"row {row.row}: account {row.account} names no scenario",
                key="scenario",
            )
        named = {
            column: named_in_accounts(base, value, files.accounts, row.row, column)
            for column, value in (("scenario", row.scenario), ("benchmark", row.benchmark))
            if value
        }
        jobs.append(
            Job(str(row.account), named["scenario"], named.get("benchmark", files.benchmark))
        )
    models: dict[tuple, list[str]] = {}
    for job in jobs:
        models.setdefault((job.scenario, job.benchmark), []).append(job.account)
    return [
        dataclasses.replace(job, probes=tuple(models[(job.scenario, job.benchmark)][:PROBES]))
        for job in jobs
    ]


PROBES = 3  # accounts per model solved to learn its likeliest buys


def output_path(out_dir: str | Path, account: str, suffix: str) -> Path:
    """Where an account's output goes: ``<out_dir>/<account><suffix>`` (the account id
    whole: ``with_suffix`` would cut ``TAX.2M`` to ``TAX`` and mix up accounts), never
    outside ``out_dir``."""
    path = Path(out_dir) / f"{account}{suffix}"
    if path.parent != Path(out_dir):
        raise RebalancerError(f"account '{account[:40]}' cannot name a file in {out_dir}")
    return path


def _check_file_name(account: str, path: str, row: int) -> None:
    """An account id names its output files, so it must be a plain file name (and not
    one another program would take for an option)."""
    bad = "/" in account or "\\" in account or account in (".", "..") or account[:1] == "-"
    if bad or len(account) > 200:
        raise InputError(
            path,
            f"account '{account[:40]}' cannot name its output files; use an id without "
            "'/' or '\\', not starting with '-', at most 200 characters",
            row=row,
            column="account",
        )


# --- the worker side: per-process caches, so a worker reads each input once ---------

_CACHE: dict[Any, Any] = {}


def _inputs(files: BookFiles, benchmark: str | None):
    # late: the optimizer (cvxpy, a second to import), not needed to plan or refuse a book
    from rebalancer.request import load_inputs

    key = ("inputs", files, benchmark)
    if key not in _CACHE:
        base = _CACHE.get(("base", files))
        if base is None:
            universe = read_universe(files.universe)
            holdings, spoilt = read_holdings_by_account(files.holdings, universe)
            base = load_inputs(
                holdings, universe, files.prices, None, files.accounts, files.trade_history
            )
            base.paths.update(holdings=files.holdings, universe=files.universe)
            _CACHE[("base", files)] = base
            _CACHE[("spoilt", files)] = spoilt
        bench = None
        if benchmark is not None:
            bench = read_benchmark(benchmark)
            check_benchmark_in_universe(bench, base.universe, benchmark)
        data = dataclasses.replace(
            base, benchmark=bench, paths={**base.paths, "benchmark": benchmark or ""}
        )
        _CACHE[key] = data
    return _CACHE[key]


def _scenario(path: str):
    key = ("scenario", path)
    if key not in _CACHE:
        _CACHE[key] = load_scenario(path)
    return _CACHE[key]


def _with_cash_target(scenario, accounts: str, account: str):
    """``scenario`` as the account's worker applies it: with the cash target of its
    row of the accounts file (``request.AccountTerms.scenario``)."""
    # late: the optimizer (cvxpy, a second to import), not needed to plan or refuse a book
    from rebalancer.request import AccountTerms

    key = ("accounts", accounts)
    if key not in _CACHE:
        _CACHE[key] = read_accounts(accounts)
    table = _CACHE[key]
    row = table[table["account"].astype(str) == account]
    if row.empty or pd.isna(row["cash_target"].iloc[0]):
        return scenario
    target = float(row["cash_target"].iloc[0])
    return AccountTerms(account, False, None, target, (account,)).scenario(scenario)


def _protected(inputs: dict[str, str]) -> dict[str, str]:
    """The files no output of an account may be (``export.protected_files``), read once
    per model: every account of a model reads the same files."""
    key = ("protected", *sorted(inputs.items()))
    if key not in _CACHE:
        _CACHE[key] = protected_files(inputs)
    return _CACHE[key]


class ModelProblems:
    """One worker's compiled problems: one per model — the scenario (its cash target
    aside), the benchmark, the universe and risk model — and per size of slots, each
    compiled once and filled with every account of the model that fits in it
    (``rebalancer.optimize.layout.SlotProblem``). An account that fits none (too many
    holdings or lots) gets a problem of its own. The model's names, in order, are
    learnt once from its probe accounts (``pipeline.learned_order``): the same on
    every worker, so where an account runs does not change its first working set."""

    def __init__(self) -> None:
        self._problems: dict[tuple, Any] = {}
        self._models: dict[tuple, Any] = {}
        self._fingerprints: dict[int, tuple[Any, str]] = {}

    @property
    def compiled(self) -> int:
        return len(self._problems)

    def __call__(self, request, data=None, probes: tuple[str, ...] = (), scenario=None):
        """The compiled problem for ``request`` (None: it fits none). ``data``,
        ``probes`` and ``scenario``: the inputs, the model's probe accounts and its
        scenario, which the model's name order is learnt from the first time the model
        is seen."""
        # late: the optimizer (cvxpy, a second to import), not needed to plan or refuse a book
        from rebalancer.pipeline import learned_order, slot_problem, slot_sizes

        sizes = slot_sizes(request)
        if sizes is None:
            return None
        model_key = self._model_key(request)
        names = model_key[:-1]  # a model's names are the same taxable or not
        if names not in self._models or self._models[names][0] is not request.universe:
            order = learned_order(request, data, probes, scenario)
            self._models[names] = (request.universe, order)
        order = self._models[names][1]
        key = (model_key, *sizes)
        known = self._problems.get(key)
        # the key holds ids: the universe and risk model themselves make sure they are
        # the same objects, not new ones at a freed address
        if known is None or known[0] is not request.universe or known[1] is not request.risk:
            problem = slot_problem(request, order, sizes)
            known = self._problems[key] = (request.universe, request.risk, problem)
        return known[2]

    def slots_for(self, data, probes: tuple[str, ...], scenario):
        """What ``propose_account(..., slots=)`` takes for an account of the model of
        ``scenario`` and ``probes`` (its name order learnt from them)."""
        return lambda request: self(request, data, probes, scenario)

    def _model_key(self, request) -> tuple:
        scenario = request.scenario
        known = self._fingerprints.get(id(scenario))
        if known is None or known[0] is not scenario:
            settings = scenario.to_data()
            settings.get("constraints", {}).pop("cash", None)  # an account's number
            known = (scenario, json.dumps(settings, sort_keys=True, default=str))
            self._fingerprints[id(scenario)] = known
        bench = (
            hashlib.sha1(request.ref.tobytes()).hexdigest()
            if request.reference == "benchmark"
            else "current holdings"
        )
        return (id(request.universe), id(request.risk), bench, known[1], request.taxable)


# set (to anything) in a worker's environment: every account compiles a problem of its
# own, as ``rebalancer propose`` does (the book benchmark's peer)
OWN_PROBLEMS = "REBALANCER_OWN_PROBLEMS"


def _model_problems() -> ModelProblems:
    if "models" not in _CACHE:
        _CACHE["models"] = ModelProblems()
    return _CACHE["models"]


def run_account(
    job: Job, files: BookFiles, out_dir: str, as_of: str | None, workbooks: bool = False
) -> AccountResult:
    """One account, end to end, in whatever process runs it. Never raises."""
    # late: the optimizer (cvxpy, a second to import), not needed to plan or refuse a book
    from rebalancer.pipeline import propose_account

    t0 = time.perf_counter()
    writing = False
    try:
        data = _inputs(files, job.benchmark)
        spoilt = _CACHE[("spoilt", files)].get(job.account)
        if spoilt is not None:
            raise spoilt
        scenario = _scenario(job.scenario)
        shared = not os.environ.get(OWN_PROBLEMS)
        proposal = propose_account(
            data,
            scenario,
            job.account,
            as_of,
            # probes under the model's own scenario (no account's cash target): the
            # order they teach must not depend on which account a worker sees first
            slots=_model_problems().slots_for(data, job.probes, scenario) if shared else None,
        )
        proposal = dataclasses.replace(
            proposal,
            inputs={**proposal.inputs, "scenario": job.scenario},
            book_model={"scenario": job.scenario, "probes": list(job.probes)} if shared else {},
        )
        writing = True
        write_outputs(
            proposal,
            out=output_path(out_dir, job.account, ".xlsx") if workbooks else None,
            trades=output_path(out_dir, job.account, ".trades.csv"),
            json_path=output_path(out_dir, job.account, ".json"),
            tidy=False,  # the book removed stale temporaries before the workers started
            protected=_protected(proposal.inputs),
        )
        return AccountResult(
            job.account,
            proposal.status,
            "",
            _summary_row(proposal),
            proposal.trades[["ticker", "side", "account", "quantity", "price"]],
            time.perf_counter() - t0,
        )
    except InfeasibleError as exc:
        return AccountResult(job.account, "infeasible", str(exc), seconds=time.perf_counter() - t0)
    except RebalancerError as exc:
        return AccountResult(job.account, "failed", str(exc), seconds=time.perf_counter() - t0)
    except OSError as exc:  # a full or failing disk: its outputs were discarded whole
        where = exc.filename or (f"{output_path(out_dir, job.account, '')}.*" if writing else "")
        what = f"cannot write {where}" if writing else f"cannot read {where}"
        message = f"{what}: {exc.strerror or exc}" if where else f"{type(exc).__name__}: {exc}"
        return AccountResult(job.account, "failed", message, seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 — one account's bug must not stop the book
        return AccountResult(
            job.account, "failed", f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0
        )


def _summary_row(proposal) -> dict[str, Any]:
    """What the book summary shows of a proposal: the JSON summary's keys of
    ``SUMMARY_COLUMNS`` (the whole summary is in the account's JSON; only this and the
    orders travel back from a worker)."""
    m = proposal.metrics
    return {
        "status": proposal.status,
        "nav": m.nav_usd,
        "cash_after": m.cash_after_usd,
        "turnover": m.turnover,
        "n_trades": m.n_trades,
        "est_cost": m.est_cost_usd,
        "expected_return": m.expected_return,
        "tracking_error": m.tracking_error,
        "taxable": bool(m.taxable),
        "estimated_tax": m.estimated_tax_usd,
        "realized_gain": m.realized_gain_usd,
    }


# --- resume: which accounts' outputs can be reused -----------------------------------


def expected_manifest(job: Job, files: BookFiles, as_of: str | None) -> dict[str, Any]:
    """What the manifest of ``job``'s proposal records when it was made from this run's
    inputs, scenario, ``--as-of`` and program: ``inputs`` (role -> SHA-256),
    ``scenario_sha256`` (of the effective scenario, so a changed ``extends`` parent or
    cash target counts), ``as_of`` (ISO, today when not given) and ``version``.
    Raises ``RebalancerError`` when the scenario cannot be loaded."""
    roles = {**files.roles(), "benchmark": job.benchmark, "scenario": job.scenario}
    inputs = {role: file_digest(path)["sha256"] for role, path in roles.items() if path}
    scenario = _with_cash_target(_scenario(job.scenario), files.accounts, job.account)
    return {
        "inputs": inputs,
        "scenario_sha256": scenario_digest(scenario.to_data()),
        "as_of": pd.Timestamp(as_of or pd.Timestamp.today().normalize()).date().isoformat(),
        "version": rebalancer.__version__,
    }


def reusable(
    out_dir: Path, account: str, want: dict[str, Any] | None, workbooks: bool = False
) -> tuple[dict | None, list[str]]:
    """The summary of an account whose outputs are whole, agree with each other and were
    made as ``want`` (``expected_manifest``; None: the scenario cannot be loaded) says,
    else None and why it must be redone."""
    json_path = output_path(out_dir, account, ".json")
    if not json_path.exists():
        return None, ["no outputs yet"]
    try:
        summary = json.loads(json_path.read_text(encoding="utf-8"))
        manifest = summary["manifest"]
        written = manifest["outputs"]
        trades = read_written_trades(output_path(out_dir, account, ".trades.csv"))
    except (OSError, ValueError, TypeError, KeyError, RebalancerError):
        return None, ["outputs incomplete"]
    if summary.get("account") != account or summary.get("n_trades") != len(trades):
        return None, ["outputs incomplete"]
    for role, entry in written.items():
        # each file the JSON was published with: another run's file beside it is not it
        try:
            same = file_digest(output_path(out_dir, account, _SUFFIXES[role]))["sha256"]
        except (OSError, KeyError):
            same = None
        if not isinstance(entry, dict) or same != entry.get("sha256"):
            return None, [f"outputs incomplete ({role} is not the one its JSON records)"]
    if workbooks and "workbook" not in written:
        return None, ["no workbook yet"]
    if want is None:
        return None, ["scenario cannot be loaded"]
    why = _changes(manifest, want)
    return (summary, []) if not why else (None, why)


_SUFFIXES = {"trades": ".trades.csv", "workbook": ".xlsx"}


def _changes(manifest: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """What differs between an account's recorded manifest and this run (empty: nothing)."""
    had = {
        role: entry.get("sha256") if isinstance(entry, dict) else None
        for role, entry in (manifest.get("inputs") or {}).items()
    }
    why = []
    for role in dict.fromkeys([*want["inputs"], *had]):
        if role not in had:
            why.append(f"{role} added")
        elif role not in want["inputs"]:
            why.append(f"{role} no longer given")
        elif had[role] != want["inputs"][role]:
            why.append(f"{role} changed")
    if manifest.get("scenario_sha256") != want["scenario_sha256"] and "scenario changed" not in why:
        why.append("scenario changed")
    if manifest.get("as_of") != want["as_of"]:
        why.append(f"as-of changed ({manifest.get('as_of')} -> {want['as_of']})")
    version = (manifest.get("versions") or {}).get("rebalancer")
    if version != want["version"]:
        why.append(f"program changed ({version} -> {want['version']})")
    return why


NOT_PROPOSED = ("failed", "infeasible", "not_run")


@dataclass(frozen=True)
class BookResult:
    results: list[AccountResult]
    summary: pd.DataFrame
    blocks: pd.DataFrame
    seconds: float
    # --resume: account -> why its earlier outputs were not reused (absent: reused)
    redone: dict[str, list[str]] = field(default_factory=dict)
    # why the run stopped before every account ran (a signal, all workers lost), or
    # its book files could not be written; "" when neither
    problem: str = ""
    signum: int | None = None  # the signal that cancelled it
    written: bool = True  # book_summary.xlsx and block_orders.csv were written

    def resumed(self) -> str:
        """One line on what ``--resume`` reused and why it redid the rest."""
        reused = sum(r.status == "skipped" for r in self.results)
        counts: dict[str, int] = {}
        for why in self.redone.values():
            for reason in dict.fromkeys(w.split(" (")[0] for w in why):
                counts[reason] = counts.get(reason, 0) + 1
        line = f"--resume: {reused} of {len(self.results)} accounts reused"
        if self.redone:
            causes = ", ".join(f"{reason}: {n}" for reason, n in counts.items())
            line += f"; {len(self.redone)} redone ({causes})"
        return line

    @property
    def not_proposed(self) -> list[AccountResult]:
        """The accounts that failed or whose limits conflict, in accounts-file order."""
        return [r for r in self.results if r.status in NOT_PROPOSED]

    @property
    def exit_code(self) -> int:
        """The CLI contract for a book: 128 + the signal's number when one cancelled it
        (130 Ctrl-C, 143 SIGTERM); else 1 when any account failed (bad input, a bug, a
        worker that kept dying, a full disk) or was not run (all workers lost), or the
        book files could not be written; else 3 when any is infeasible; else 0. The
        accounts that finished are written whatever the code."""
        if self.signum:
            return 128 + self.signum
        statuses = {r.status for r in self.results}
        if statuses & {"failed", "not_run"} or not self.written:
            return 1
        return 3 if "infeasible" in statuses else 0

    def stopped(self) -> str:
        """One line on why the book stopped early or its files were not written, and how
        many accounts ``--resume`` still has to run (empty when neither happened)."""
        if not self.problem:
            return ""
        not_run = sum(r.status == "not_run" for r in self.results)
        rest = f"; {not_run} accounts not run (--resume runs them)" if not_run else ""
        return f"{self.problem}{rest}"

    def shortfall(self) -> str:
        """One line naming the accounts not proposed (empty when every one was, and
        when the only ones are those a stop left not run: ``stopped`` says so)."""
        if self.signum or all(r.status == "not_run" for r in self.not_proposed):
            return ""
        parts = []
        for status in NOT_PROPOSED:
            accounts = [r.account for r in self.results if r.status == status]
            if accounts:
                parts.append(f"{len(accounts)} {status} ({listed_names(accounts)})")
        if not parts:
            return ""
        done = len(self.results) - len(self.not_proposed)
        where = "book_summary.xlsx lists why" if self.written else "the lines above say why"
        return (
            f"{len(self.not_proposed)} of {len(self.results)} accounts not proposed: "
            f"{', '.join(parts)}; the other {done} {'was' if done == 1 else 'were'} written "
            f"({where})"
        )


def run_book(
    files: BookFiles,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    workbooks: bool = False,
    as_of: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[AccountResult], None] | None = None,
) -> BookResult:
    """Every account of the book; see the module docstring. ``on_start`` is told how
    many accounts the book has once they are known, ``on_result`` each account's
    result. SIGINT or SIGTERM while it plans — reads the inputs, checks the outputs,
    looks at what ``resume`` can reuse, connects to Dask — raises ``errors.Stopped`` at
    once, nothing written; once accounts are given out it cancels the book
    (``engines``): no more accounts are started, the workers are stopped, and the
    summary of what finished is written, the rest listed as ``not_run``; so are the
    rest when every Dask worker is lost. A book file that cannot be written (a full
    disk) is the result's ``problem``, not an exception, so the accounts that failed
    can still be told."""
    with engines.cancel_on_signals() as cancel:
        return _run_book(
            files,
            out_dir,
            cancel,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            workbooks=workbooks,
            as_of=as_of,
            on_start=on_start,
            on_result=on_result,
        )


def _run_book(
    files: BookFiles,
    out_dir: str | Path,
    cancel,
    *,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    workbooks: bool,
    as_of: str | None,
    on_start: Callable[[int], None] | None,
    on_result: Callable[[AccountResult], None] | None,
) -> BookResult:
    t0 = time.perf_counter()
    # nothing written and no account given out until the engine runs: a signal before
    # then stops the book at once (``Cancel.at_once``), even in a long read or connect
    with cancel.at_once():
        jobs, todo, redone, results, engine = _plan_book(
            files, out_dir, cancel, workers, scheduler, resume, workbooks, as_of
        )
    if on_start:  # told once planning is over: a stop before then is one line, no bar
        on_start(len(jobs))
    for result in results:  # reused by --resume
        if on_result:
            on_result(result)
    files, out = files.absolute(), Path(os.path.abspath(out_dir))
    problem = ""
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)  # a killed run's
        for result in engine:
            if result.account in redone and result.status not in NOT_PROPOSED:
                why = "; ".join(redone[result.account])
                result = dataclasses.replace(result, message=f"redone: {why}")
            results.append(result)
            if on_result:
                on_result(result)
    except engines.WorkersLost as exc:
        problem = str(exc)
    finally:
        engine.close()  # stops the workers, whatever ended the loop
    if cancel:
        problem = f"cancelled by {cancel.name}"
    if problem:
        remove_stale_temps(out)  # the stopped workers' (each output is whole or absent)
        seen = {r.account for r in results}
        results += [_unseen(job, files, out, as_of, workbooks, problem) for job in todo
                    if job.account not in seen]  # fmt: skip
    order = {job.account: i for i, job in enumerate(jobs)}
    results.sort(key=lambda r: order[r.account])
    summary = book_summary(results, {j.account: Path(j.scenario).stem for j in jobs})
    blocks = block_orders(out, [r for r in results if r.status not in NOT_PROPOSED])
    written = True
    try:
        write_book(out, summary, blocks)
    except RebalancerError as exc:
        problem, written = f"{problem}; {exc}" if problem else str(exc), False
    seconds = time.perf_counter() - t0
    return BookResult(results, summary, blocks, seconds, redone, problem, cancel.signum, written)


def _plan_book(files: BookFiles, out_dir, cancel, workers, scheduler, resume, workbooks, as_of):
    """The book's accounts (``plan``), its shared inputs read, its outputs checked,
    the results of those ``resume`` reuses, and the engine to run the rest: all before
    anything is written."""
    # this process's worker caches are keyed by file path: a second book in the same
    # process (a notebook, one local worker) must read files changed since the last
    _CACHE.clear()
    # workers (a Dask worker started in another folder) get absolute paths only
    files = files.absolute()
    out = Path(os.path.abspath(out_dir))
    jobs = plan(files)
    # The inputs every account shares are read once here, before anything is written:
    # one that cannot be read is the book's error (exit 1), not a failure of each
    # account in turn. (Forked local workers inherit what was read.)
    _inputs(files, files.benchmark)
    _check_targets(jobs, files, out, workbooks)
    results: list[AccountResult] = []
    todo = []
    redone: dict[str, list[str]] = {}
    for job in jobs:
        if resume:
            try:
                want = expected_manifest(job, files, as_of)
            except RebalancerError:
                want = None  # its run says why
            done, why = reusable(out, job.account, want, workbooks)
            if done is not None:
                results.append(
                    AccountResult(job.account, "skipped", "reused: outputs up to date", done)
                )
                continue
            redone[job.account] = why
        todo.append(job)
    run = partial(run_account, files=files, out_dir=str(out), as_of=as_of, workbooks=workbooks)
    # a --scheduler that cannot be reached stops the book before anything is written
    engine = (
        engines.dask(todo, run, scheduler, cancel)
        if scheduler
        else engines.local(todo, run, workers or os.cpu_count() or 1, cancel)
    )
    return jobs, todo, redone, results, engine


def _unseen(job: Job, files: BookFiles, out: Path, as_of, workbooks: bool, problem: str):
    """An account whose result did not come back before the book stopped: written all
    the same when its outputs are whole and this run's (a worker finished it as the
    book stopped), else not run."""
    try:
        done, _ = reusable(out, job.account, expected_manifest(job, files, as_of), workbooks)
    except RebalancerError:
        done = None
    if done is not None:
        return AccountResult(
            job.account, "skipped", f"written as the book stopped ({problem})", done
        )
    return AccountResult(job.account, "not_run", f"not run: {problem}; --resume runs it")


def _check_targets(jobs: list[Job], files: BookFiles, out: Path, workbooks: bool) -> None:
    """Refuse, before anything is written, a book whose outputs would harm a file: one
    the book reads (its inputs, every account's benchmark and scenario with its
    ``extends`` chain), a special file or a link (``atomic.check_target``)."""
    if out.name.startswith("-"):
        raise RebalancerError(
            f"--out-dir: {out} starts with '-', which other programs read as an option; "
            "choose a name"
        )
    benchmarks = {f"benchmark (account {j.account})": j.benchmark for j in jobs}
    inputs = {**{k: v for k, v in benchmarks.items() if v}, **files.roles()}
    protected = protected_identities(
        protected_files(inputs, dict.fromkeys(j.scenario for j in jobs))
    )
    suffixes = [".json", ".trades.csv", *([".xlsx"] if workbooks else [])]
    targets = [output_path(out, j.account, suffix) for j in jobs for suffix in suffixes]
    for target in [*targets, out / "book_summary.xlsx", out / "block_orders.csv"]:
        check_target(target, "--out-dir", protected)


def book_summary(results: list[AccountResult], scenarios: dict[str, str]) -> pd.DataFrame:
    rows = []
    for r in results:
        s = r.summary or {}
        rows.append(
            {
                "account": r.account,
                "scenario": scenarios.get(r.account, ""),
                "status": s.get("status", r.status) if r.status == "skipped" else r.status,
                "message": r.message,
                "nav": s.get("nav"),
                "cash_after": s.get("cash_after"),
                "turnover": s.get("turnover"),
                "n_trades": s.get("n_trades"),
                "est_cost": s.get("est_cost"),
                "expected_return": s.get("expected_return"),
                "tracking_error": s.get("tracking_error"),
                "taxable": s.get("taxable"),
                "estimated_tax": s.get("estimated_tax"),
                "realized_gain": s.get("realized_gain"),
                "seconds": r.seconds,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def block_orders(out: Path, results: list[AccountResult]) -> pd.DataFrame:
    """Trades added up per ticker and side, one row per account's allocation.

    Columns: ticker, side, block_quantity, account, quantity, price. The
    allocations of a block sum exactly to its quantity (they are its parts).
    """
    frames = []
    for r in results:
        trades = r.trades
        if trades is None:  # resumed: read back what was written, ids and tickers as text
            path = output_path(out, r.account, ".trades.csv")
            trades = read_written_trades(path) if path.exists() else None
        if trades is not None and len(trades):
            frames.append(trades[["ticker", "side", "account", "quantity", "price"]])
    if not frames:
        return pd.DataFrame(
            columns=["ticker", "side", "block_quantity", "account", "quantity", "price"]
        )
    alloc = pd.concat(frames, ignore_index=True)
    total = alloc.groupby(["ticker", "side"])["quantity"].transform("sum")
    alloc.insert(2, "block_quantity", total)
    return alloc.sort_values(["ticker", "side", "account"], kind="stable").reset_index(drop=True)


def write_book(out: Path, summary: pd.DataFrame, blocks: pd.DataFrame) -> None:
    """book_summary.xlsx (Accounts, Blocks, Allocations, and Not proposed: the accounts
    that failed, are infeasible or were not run, with why) and block_orders.csv,
    together or neither (``RebalancerError`` naming the file that could not be written)."""

    def workbook(path: Path) -> None:
        wb = Workbook(write_only=True)  # a book's allocations run to tens of thousands
        stream_table(wb, "Accounts", summary)
        per_block = blocks.groupby(["ticker", "side"], as_index=False).agg(
            quantity=("quantity", "sum"), accounts=("account", "nunique")
        )
        stream_table(wb, "Blocks", per_block)
        stream_table(wb, "Allocations", blocks)
        missing = summary["status"].isin(NOT_PROPOSED)
        stream_table(wb, "Not proposed", summary.loc[missing, ["account", "status", "message"]])
        wb.save(path)

    csv = blocks.copy()
    for column in ("ticker", "side", "account"):
        csv[column] = csv[column].map(lambda v: safe_text(v, csv=True))
    with OutputSet() as outputs:
        target = out / "book_summary.xlsx"
        try:
            workbook(outputs.stage(target, "--out-dir"))
            target = out / "block_orders.csv"
            csv.to_csv(outputs.stage(target, "--out-dir"), index=False, lineterminator="\n")
        except OSError as err:  # a full disk: neither file is published (OutputSet)
            raise RebalancerError(f"cannot write {target}: {err.strerror or err}") from err
