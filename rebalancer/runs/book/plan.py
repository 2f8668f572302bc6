"""A book's plan: its shared input files, one job per row of the accounts file
(docs/contracts.md §1: account, scenario, benchmark, taxable, cash_target, household)
and where each account's outputs go."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rebalancer.errors import InputError, RebalancerError, ScenarioError
from rebalancer.inputs import read_accounts
from rebalancer.runs.book.jobs import Job
from rebalancer.scenario.loader import named_in_accounts


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


def plan(
    files: BookFiles, table: pd.DataFrame | None = None, households: bool = False
) -> list[Job]:
    """One job per row of the accounts file (``table``: its rows as ``read_accounts``
    reads them, when the caller has them already); paths in it are relative to that
    file (a scenario not found there is looked up in the shipped library).
    ``households``: the accounts of each name of the ``household`` column are one job
    instead (``households``), an account without one its own job as before."""
    if table is None:
        table = read_accounts(files.accounts)
    base = Path(files.accounts).resolve().parent
    jobs = []
    # a book names a few files in thousands of rows: each name is resolved once (the
    # first row naming it is the one a refusal names)
    resolved: dict[tuple[str, str], str] = {}
    for row in table.itertuples():
        _check_file_name(str(row.account), files.accounts, row.row)
        if not row.scenario:
            raise no_scenario(files.accounts, row.row, row.account)
        named = {}
        for column, value in (("scenario", row.scenario), ("benchmark", row.benchmark)):
            if value and (column, value) not in resolved:
                resolved[column, value] = named_in_accounts(
                    base, value, files.accounts, row.row, column
                )
            if value:
                named[column] = resolved[column, value]
        jobs.append(
            Job(str(row.account), named["scenario"], named.get("benchmark", files.benchmark))
        )
    if not households:
        return with_probes(jobs)
    return by_household(with_probes(jobs), table, files.accounts)


def by_household(jobs: list[Job], table: pd.DataFrame, accounts: str) -> list[Job]:
    """The jobs with each household's accounts replaced by one job at its first
    account's place: named after the household, under that account's scenario and
    benchmark (the household's proposal refuses accounts that name others), its
    ``members`` in the accounts file's order. A household of one account is a
    household too: every path gives a household's accounts the household's answer."""
    if "household" not in table:
        return jobs
    names = dict(zip(table["account"].astype(str), table["household"], strict=True))
    rows = dict(zip(table["account"].astype(str), table["row"], strict=True))
    members: dict[str, list[str]] = {}
    for job in jobs:
        name = names.get(job.account)
        if isinstance(name, str) and name:
            members.setdefault(name, []).append(job.account)
    out = []
    for job in jobs:
        name = names.get(job.account)
        if not (isinstance(name, str) and name):
            out.append(job)
        elif members[name][0] == job.account:
            # its files are named after it, as an account's are after the account
            _check_file_name(name, accounts, rows[job.account], column="household")
            out.append(Job(name, job.scenario, job.benchmark, members=tuple(members[name])))
    return out


def no_scenario(accounts: str | Path, row: int, account: str) -> ScenarioError:
    """The refusal of an accounts-file row that names no scenario: ``batch`` has
    nothing to propose it under (``propose --accounts`` takes ``--scenario``)."""
    return ScenarioError(
        accounts, f"row {row}: account {account} names no scenario", key="scenario"
    )


def with_probes(jobs: list[Job]) -> list[Job]:
    """The jobs, each with the first ``PROBES`` accounts of its model among them."""
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


def _check_file_name(account: str, path: str, row: int, column: str = "account") -> None:
    """An account id names its output files, so it must be a plain file name (and not
    one another program would take for an option)."""
    bad = "/" in account or "\\" in account or account in (".", "..") or account[:1] == "-"
    if bad or len(account) > 200:
        raise InputError(
            path,
            f"{column} '{account[:40]}' cannot name its output files; use an id without "
            "'/' or '\\', not starting with '-', at most 200 characters",
            row=row,
            column=column,
        )
