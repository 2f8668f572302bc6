"""One account of a book, end to end, in whichever process runs it: proposed from the
worker's cached inputs (``cache``), on its model's shared problem (``models``), its
outputs written whole or not at all; what travels back is an ``AccountResult``."""

from __future__ import annotations

import dataclasses
import os
import time

from rebalancer.errors import InfeasibleError, RebalancerError
from rebalancer.export import write_outputs
from rebalancer.household.build import propose_household
from rebalancer.household.export import write_household_outputs
from rebalancer.household.request import prepare_household
from rebalancer.limits.cash_request import request_cells
from rebalancer.pipeline import propose_account
from rebalancer.report.proposal import Proposal
from rebalancer.runs.book import cache
from rebalancer.runs.book.client import ClientOutputs
from rebalancer.runs.book.jobs import AccountResult, Job, SummaryRow
from rebalancer.runs.book.plan import BookFiles, output_path

# set (to anything) in a worker's environment: every account compiles a problem of its
# own, as ``rebalancer propose`` does (the book benchmark's peer)
OWN_PROBLEMS = "REBALANCER_OWN_PROBLEMS"


def run_account(
    job: Job,
    files: BookFiles,
    out_dir: str,
    as_of: str | None,
    workbooks: bool = False,
    client: ClientOutputs | None = None,
) -> AccountResult:
    """One account, end to end, in whatever process runs it, with its client report
    when ``client`` asks for reports. Never raises."""
    client = client or ClientOutputs()
    t0 = time.perf_counter()
    writing = False
    try:
        data = cache.inputs(files, job.benchmark)
        spoilt = cache.spoilt(files, job.account)
        if spoilt is not None:
            raise spoilt
        scenario = cache.read_scenario(job.scenario)
        shared = not os.environ.get(OWN_PROBLEMS)
        proposal = propose_account(
            data,
            scenario,
            job.account,
            as_of,
            # probes under the model's own scenario (no account's cash target): the
            # order they teach must not depend on which account a worker sees first
            slots=cache.model_problems().slots_for(data, job.probes, scenario) if shared else None,
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
            report=client.report_path(job.account),
            report_config=client.report_config,
            tidy=False,  # the book removed stale temporaries before the workers started
            protected=cache.protected(proposal.inputs),
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


# a household's files in the output folder, beside its accounts' (role -> suffix)
HOUSEHOLD_SUFFIXES = {"json": ".household.json", "trades": ".household.trades.csv",
                      "workbook": ".household.xlsx"}  # fmt: skip


def run_job(job: Job, **kwargs) -> AccountResult | list[AccountResult]:
    """A book's job in whatever process runs it: a household's (``run_household``,
    one result per account) or one account's (``run_account``). Never raises."""
    return run_household(job, **kwargs) if job.members else run_account(job, **kwargs)


def run_household(
    job: Job,
    files: BookFiles,
    out_dir: str,
    as_of: str | None,
    workbooks: bool = False,
    client: ClientOutputs | None = None,
) -> list[AccountResult]:
    """A household's job (``job.account`` its name, ``job.members`` its accounts) as
    ``propose --household`` solves it: one problem (``household.build``), its files
    written whole or not at all as that command writes them, named after the household
    (``HOUSEHOLD_SUFFIXES``); one result per account, each with its own orders and
    summary row, named with its household. Never raises: a household that fails fails
    each of its accounts with one message. (Client reports are not written for a
    household yet: ``batch`` refuses ``--reports`` with ``--households``.)"""
    t0 = time.perf_counter()
    name = job.account

    def each(status: str, message: str) -> list[AccountResult]:
        seconds = time.perf_counter() - t0
        return [AccountResult(a, status, message, seconds=seconds, household=name)
                for a in job.members]  # fmt: skip

    writing = False
    try:
        data = cache.inputs(files, job.benchmark)
        for account in job.members:
            spoilt = cache.spoilt(files, account)
            if spoilt is not None:
                raise spoilt
        scenario = cache.read_scenario(job.scenario)
        hp = propose_household(prepare_household(data, scenario, name, as_of))
        hp = dataclasses.replace(
            hp,
            proposals=[
                dataclasses.replace(p, inputs={**p.inputs, "scenario": job.scenario})
                for p in hp.proposals
            ],
        )
        writing = True
        paths = {role: output_path(out_dir, name, suffix)
                 for role, suffix in HOUSEHOLD_SUFFIXES.items()}  # fmt: skip
        write_household_outputs(
            hp,
            dict(hp.proposals[0].inputs),
            out=paths["workbook"] if workbooks else None,
            trades=paths["trades"],
            json_path=paths["json"],
        )
    except InfeasibleError as exc:
        return each("infeasible", str(exc))
    except RebalancerError as exc:
        return each("failed", str(exc))
    except OSError as exc:  # a full or failing disk: its outputs were discarded whole
        where = exc.filename or (f"{output_path(out_dir, name, '')}.household.*" if writing else "")
        what = f"cannot write {where}" if writing else f"cannot read {where}"
        return each("failed", f"{what}: {exc.strerror or exc}" if where else f"{exc}")
    except Exception as exc:  # noqa: BLE001 — one household's bug must not stop the book
        return each("failed", f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - t0
    return [
        AccountResult(
            p.account,
            hp.status,
            "",
            _summary_row(p),
            p.trades[["ticker", "side", "account", "quantity", "price"]],
            seconds,
            household=name,
        )
        for p in hp.proposals
    ]


def _summary_row(proposal: Proposal) -> SummaryRow:
    """What the book summary shows of a proposal (the whole summary is in the account's
    JSON; only this and the orders travel back from a worker)."""
    m = proposal.metrics
    return SummaryRow(
        status=proposal.status,
        nav_usd=m.nav_usd,
        cash_after_usd=m.cash_after_usd,
        turnover=m.turnover,
        n_trades=m.n_trades,
        est_cost_usd=m.est_cost_usd,
        expected_return=m.expected_return,
        tracking_error=m.tracking_error,
        taxable=bool(m.taxable),
        account_type=m.account_type,
        estimated_tax_usd=m.estimated_tax_usd,
        realized_gain_usd=m.realized_gain_usd,
        **request_cells(proposal.cash_request),
    )
