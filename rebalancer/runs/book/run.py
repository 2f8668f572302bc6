"""Books of accounts: one proposal per account, on a local process pool or a Dask cluster.

``run_book`` reads the accounts file (docs/contracts.md §1: account, scenario, benchmark,
taxable, cash_target, household), sends one job per account to the engine
(``engines``: local worker processes or a Dask cluster, which survive a
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
this run's; ``resume.reusable``); any other account is redone and the reason recorded.
Workers are given absolute paths, and write only in the output folder. The book
summary workbook and the block orders (trades added up per ticker and side, with
each account's allocation) are written last.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from rebalancer.errors import RebalancerError
from rebalancer.export import protected_files
from rebalancer.export.atomic import check_target, protected_identities, remove_stale_temps
from rebalancer.inputs import read_accounts
from rebalancer.inputs.readers import listed_names
from rebalancer.runs.book import cache, dask_engine, engines, local_engine
from rebalancer.runs.book.account import HOUSEHOLD_SUFFIXES, run_job
from rebalancer.runs.book.blocks import block_orders
from rebalancer.runs.book.client import ClientOutputs
from rebalancer.runs.book.jobs import NOT_PROPOSED, AccountResult, Job, SummaryRow
from rebalancer.runs.book.plan import BookFiles, output_path, plan, with_probes
from rebalancer.runs.book.resume import (
    expected_manifest,
    household_reusable,
    household_unseen,
    reusable,
    unseen,
)
from rebalancer.runs.book.workbook import book_summary, write_book
from rebalancer.runs.drift import scan_book


@dataclass(frozen=True)
class BookResult:
    """What came of a book: every account's result in the accounts file's order, the
    book summary (``workbook.book_summary``) and block orders (``blocks``) written
    from them, and how long it took."""

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

    def headline(self) -> str:
        """One line: how many accounts, in how long, how many of each status."""
        by_status = self.summary["status"].value_counts().to_dict()
        counts = ", ".join(f"{n} {status}" for status, n in by_status.items())
        return f"{len(self.results)} accounts in {self.seconds:.1f} s: {counts}"

    def resumed(self) -> str:
        """One line on what ``--resume`` reused and why it redid the rest."""
        reused = sum(r.status == "skipped" and r.message.startswith("reused") for r in self.results)
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
    only_triggered: bool = False,
    client: ClientOutputs | None = None,
    households: bool = False,
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
    can still be told. ``only_triggered``: only the accounts the drift scan
    (``runs.drift``) flags are proposed; the others are ``skipped``, the reason theirs.
    ``client``: the order file of the book's allocations, written with the book's files,
    and a client report per account (``runs.book.client``). ``households``: each
    household of the accounts file is one problem (``plan.by_household``,
    ``account.run_household``), its accounts' results coming back together.
    """
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
            only_triggered=only_triggered,
            client=client or ClientOutputs(),
            households=households,
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
    only_triggered: bool,
    client: ClientOutputs,
    households: bool,
    on_start: Callable[[int], None] | None,
    on_result: Callable[[AccountResult], None] | None,
) -> BookResult:
    t0 = time.perf_counter()
    # nothing written and no account given out until the engine runs: a signal before
    # then stops the book at once (``Cancel.at_once``), even in a long read or connect
    with cancel.at_once():
        jobs, rows, todo, redone, results, engine = _plan_book(
            files, out_dir, cancel, workers, scheduler, resume, workbooks, as_of, only_triggered,
            client, households,
        )  # fmt: skip
    # the accounts file's order (a household's job is at its first account's place)
    accounts = sorted((a for job in jobs for a in job.accounts), key=rows.__getitem__)
    if on_start:  # told once planning is over: a stop before then is one line, no bar
        on_start(len(accounts))
    for result in results:  # reused by --resume
        if on_result:
            on_result(result)
    files, out = files.absolute(), Path(os.path.abspath(out_dir))
    problem = ""
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)  # a killed run's
        for came in engine:
            # a household's job brings back each of its accounts' results
            for result in came if isinstance(came, list) else [came]:
                key = result.household or result.account
                if key in redone and result.status not in NOT_PROPOSED:
                    why = "; ".join(redone[key])
                    result = dataclasses.replace(result, message=f"redone: {why}")
                results.append(result)
                if on_result:
                    on_result(result)
    except engines.WorkersLost as exc:
        problem = str(exc)
    finally:
        engine.close()  # stops the workers, whatever ended the loop
    # the stopped workers' and a killed one's, whose account was retried (each output
    # is whole or absent): no worker writes any more, so every temporary left is stale
    remove_stale_temps(out)
    if cancel:
        problem = f"cancelled by {cancel.name}"
    if problem:
        seen = {r.account for r in results}
        for job in todo:
            if job.members:
                if not seen & set(job.members):
                    results += household_unseen(job, files, out, as_of, workbooks, problem)
            elif job.account not in seen:
                results.append(unseen(job, files, out, as_of, workbooks, problem,
                                      client.report_path(job.account)))  # fmt: skip
    order = {account: i for i, account in enumerate(accounts)}
    results.sort(key=lambda r: order[r.account])
    scenarios = {a: Path(j.scenario).stem for j in jobs for a in j.accounts}
    summary = book_summary(results, scenarios, households=households)
    blocks = block_orders(out, [r for r in results if r.status not in NOT_PROPOSED])
    written = True
    try:
        write_book(out, summary, blocks, client.orders, client.order_terms)
    except RebalancerError as exc:
        problem, written = f"{problem}; {exc}" if problem else str(exc), False
    seconds = time.perf_counter() - t0
    return BookResult(results, summary, blocks, seconds, redone, problem, cancel.signum, written)


def _plan_book(
    files: BookFiles, out_dir, cancel, workers, scheduler, resume, workbooks, as_of,
    only_triggered, client: ClientOutputs, households: bool = False,
):  # fmt: skip
    """The book's accounts (``plan``), its shared inputs read, its outputs checked,
    the results of those ``resume`` reuses, and the engine to run the rest: all before
    anything is written."""
    # this process's worker caches are keyed by file path: a second book in the same
    # process (a notebook, one local worker) must read files changed since the last
    cache.clear()
    # workers (a Dask worker started in another folder) get absolute paths only
    files = files.absolute()
    out = Path(os.path.abspath(out_dir))
    if households and client.reports:
        raise RebalancerError(
            "--reports cannot be given with --households: not built for a household yet"
        )
    table = read_accounts(files.accounts)
    jobs = plan(files, table, households=households)
    rows = dict(zip(table["account"].astype(str), table["row"], strict=True))
    # The inputs every account shares are read once here, before anything is written:
    # one that cannot be read is the book's error (exit 1), not a failure of each
    # account in turn. (Forked local workers inherit what was read.)
    cache.inputs(files, files.benchmark)
    _check_targets(jobs, files, out, workbooks, client)
    # --only-triggered: the accounts in tolerance are skipped before any is run
    todo_first, results = _triggered(jobs, files, households) if only_triggered else (jobs, [])
    todo = []
    redone: dict[str, list[str]] = {}
    for job in todo_first:
        if resume and job.members:
            done_household, why = household_reusable(out, job, files, as_of, workbooks)
            if done_household is not None:
                results += done_household
                continue
            redone[job.account] = why
        elif resume:
            try:
                want = expected_manifest(job, files, as_of)
            except RebalancerError:
                want = None  # its run says why
            done, why = reusable(out, job.account, want, workbooks,
                                 client.report_path(job.account))  # fmt: skip
            if done is not None:
                results.append(
                    AccountResult(
                        job.account,
                        "skipped",
                        "reused: outputs up to date",
                        SummaryRow.from_summary(done),
                    )
                )
                continue
            redone[job.account] = why
        todo.append(job)
    run = partial(run_job, files=files, out_dir=str(out), as_of=as_of, workbooks=workbooks,
                  client=client)  # fmt: skip
    # a --scheduler that cannot be reached stops the book before anything is written
    engine = (
        dask_engine.dask(todo, run, scheduler, cancel)
        if scheduler
        else local_engine.local(todo, run, workers or os.cpu_count() or 1, cancel)
    )
    return jobs, rows, todo, redone, results, engine


def _triggered(
    jobs: list[Job], files: BookFiles, households: bool = False
) -> tuple[list[Job], list[AccountResult]]:
    """The jobs of the accounts the drift scan flags (their models' probes among them),
    and a ``skipped`` result for each other account, in tolerance (no trades: earlier
    outputs in the folder are no part of this run's block orders). ``households``: a
    household is scanned on its combined portfolio (``scan_book(households=True)``),
    flagged or skipped whole, each of its accounts skipped with the household's
    reason."""
    scan = scan_book(files.accounts, files.holdings, files.universe, prices=files.prices,
                     benchmark=files.benchmark, households=households)  # fmt: skip
    flagged = set(scan.triggered())
    reason = dict(zip(scan.queue["account"], scan.queue["reason"], strict=True))
    skipped = [
        AccountResult(
            account,
            "skipped",
            f"in tolerance: {reason[job.account]}",
            trades=pd.DataFrame(),
            household=job.account if job.members else None,
        )
        for job in jobs
        if job.account not in flagged
        for account in job.accounts
    ]
    kept = [job for job in jobs if job.account in flagged]
    singles = iter(with_probes([job for job in kept if not job.members]))
    # a household's job keeps its own (it learns no model's order)
    return [job if job.members else next(singles) for job in kept], skipped


def _check_targets(
    jobs: list[Job], files: BookFiles, out: Path, workbooks: bool, client: ClientOutputs
) -> None:
    """Refuse, before anything is written, a book whose outputs would harm a file: one
    the book reads (its inputs, every account's benchmark and scenario with its
    ``extends`` chain), a special file or a link (``atomic.check_target``)."""
    if out.name.startswith("-"):
        raise RebalancerError(
            f"--out-dir: {out} starts with '-', which other programs read as an option; "
            "choose a name"
        )
    benchmarks = {f"benchmark (account {j.account})": j.benchmark for j in jobs}
    inputs = {**{k: v for k, v in benchmarks.items() if v}, **files.roles(),
              "report config": client.config_file}  # fmt: skip
    protected = protected_identities(
        protected_files(inputs, dict.fromkeys(j.scenario for j in jobs))
    )
    suffixes = [".json", ".trades.csv", *([".xlsx"] if workbooks else [])]
    targets = [output_path(out, a, suffix) for j in jobs for a in j.accounts for suffix in suffixes
               if not j.members]  # fmt: skip
    ours = [v for k, v in HOUSEHOLD_SUFFIXES.items() if workbooks or k != "workbook"]
    targets += [output_path(out, j.account, suffix) for j in jobs if j.members for suffix in ours]
    for target in [*targets, out / "book_summary.xlsx", out / "block_orders.csv"]:
        check_target(target, "--out-dir", protected)
    if client.orders:
        check_target(client.orders, "--orders", protected)
    if client.reports:
        for job in jobs:
            check_target(client.report_path(job.account), "--reports", protected)
