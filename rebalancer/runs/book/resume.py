"""``--resume``: which accounts' earlier outputs a book can reuse, and why the others
are redone. An account's outputs are reused when they are whole (its JSON parses, the
files beside it are the ones its manifest records) and were made as this run would make
them (the manifest's input digests, effective scenario, as-of date and program version
are this run's)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

import rebalancer
from rebalancer.errors import RebalancerError
from rebalancer.export.csvout import read_written_trades
from rebalancer.export.manifest import file_digest, scenario_digest
from rebalancer.runs.book import cache
from rebalancer.runs.book.jobs import AccountResult, Job, SummaryRow
from rebalancer.runs.book.plan import BookFiles, output_path


def expected_manifest(job: Job, files: BookFiles, as_of: str | None) -> dict[str, Any]:
    """What the manifest of ``job``'s proposal records when it was made from this run's
    inputs, scenario, ``--as-of`` and program: ``inputs`` (role -> SHA-256),
    ``scenario_sha256`` (of the effective scenario, so a changed ``extends`` parent or
    cash target counts), ``as_of`` (ISO, today when not given) and ``version``.
    Raises ``RebalancerError`` when the scenario cannot be loaded. A household's job
    (``job.members``): its JSON's manifest records the household's scenario as read
    (each account's cash target is its own, from the accounts file, whose digest is
    among the inputs)."""
    roles = {**files.roles(), "benchmark": job.benchmark, "scenario": job.scenario}
    inputs = {role: file_digest(path)["sha256"] for role, path in roles.items() if path}
    scenario = cache.read_scenario(job.scenario)
    if not job.members:
        scenario = cache.with_cash_target(scenario, files.accounts, job.account)
    return {
        "inputs": inputs,
        "scenario_sha256": scenario_digest(scenario.to_data()),
        "as_of": pd.Timestamp(as_of or pd.Timestamp.today().normalize()).date().isoformat(),
        "version": rebalancer.__version__,
    }


def reusable(
    out_dir: Path,
    account: str,
    want: dict[str, Any] | None,
    workbooks: bool = False,
    report: Path | None = None,
) -> tuple[dict | None, list[str]]:
    """The summary of an account whose outputs are whole, agree with each other and were
    made as ``want`` (``expected_manifest``; None: the scenario cannot be loaded) says,
    and include its client ``report`` at that path when one is asked for; else None and
    why it must be redone."""
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
    stray = _not_recorded(written, lambda role: output_path(out_dir, account, _SUFFIXES[role]))
    if stray:
        return None, stray
    if workbooks and "workbook" not in written:
        return None, ["no workbook yet"]
    if report is not None and written.get("report", {}).get("path") != str(report):
        return None, ["no report yet"]
    if want is None:
        return None, ["scenario cannot be loaded"]
    why = _changes(manifest, want)
    return (summary, []) if not why else (None, why)


_SUFFIXES = {"trades": ".trades.csv", "workbook": ".xlsx"}


def _not_recorded(written: dict[str, Any], beside) -> list[str]:
    """Why the files a JSON was published with (its manifest's ``outputs``) are not all
    there: another run's file beside it is not it. ``beside(role)``: where a file of
    that role sits beside the JSON (the report is where --reports put it). Empty: all
    there."""
    for role, entry in written.items():
        try:
            path = Path(entry["path"]) if role == "report" else beside(role)
            same = file_digest(path)["sha256"]
        except (OSError, KeyError, TypeError):
            same = None
        if not isinstance(entry, dict) or same != entry.get("sha256"):
            return [f"outputs incomplete ({role} is not the one its JSON records)"]
    return []


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


def unseen(
    job: Job,
    files: BookFiles,
    out: Path,
    as_of,
    workbooks: bool,
    problem: str,
    report: Path | None = None,
) -> AccountResult:
    """An account whose result did not come back before the book stopped: written all
    the same when its outputs are whole and this run's (a worker finished it as the
    book stopped), else not run."""
    try:
        want = expected_manifest(job, files, as_of)
        done, _ = reusable(out, job.account, want, workbooks, report)
    except RebalancerError:
        done = None
    if done is not None:
        return AccountResult(
            job.account,
            "skipped",
            f"written as the book stopped ({problem})",
            SummaryRow.from_summary(done),
        )
    return AccountResult(job.account, "not_run", f"not run: {problem}; --resume runs it")


def household_reusable(
    out_dir: Path, job: Job, files: BookFiles, as_of: str | None, workbooks: bool = False
) -> tuple[list[AccountResult] | None, list[str]]:
    """A ``skipped`` result per account of a household's job whose files are whole (its
    JSON parses and names this household and these accounts, the trades CSV beside it is
    the one its manifest records and has as many orders as its accounts' summaries) and
    were made as this run would make them; else None and why the household is redone."""
    json_path = output_path(out_dir, job.account, ".household.json")
    if not json_path.exists():
        return None, ["no outputs yet"]
    try:
        summary = json.loads(json_path.read_text(encoding="utf-8"))
        manifest = summary["manifest"]
        written = manifest["outputs"]
        accounts = summary["accounts"]
        trades = read_written_trades(output_path(out_dir, job.account, ".household.trades.csv"))
        whole = (
            manifest.get("household") == job.account
            and [a["account"] for a in accounts] == list(job.members)
            and sum(a["n_trades"] for a in accounts) == len(trades)
        )
    except (OSError, ValueError, TypeError, KeyError, RebalancerError):
        return None, ["outputs incomplete"]
    if not whole:
        return None, ["outputs incomplete"]
    stray = _not_recorded(
        written, lambda role: output_path(out_dir, job.account, _HOUSEHOLD_SUFFIXES[role])
    )
    if stray:
        return None, stray
    if workbooks and "workbook" not in written:
        return None, ["no workbook yet"]
    try:
        want = expected_manifest(job, files, as_of)
    except RebalancerError:
        return None, ["scenario cannot be loaded"]
    why = _changes(manifest, want)
    if why:
        return None, why
    return [
        AccountResult(a["account"], "skipped", "reused: outputs up to date",
                      SummaryRow.from_summary(a), household=job.account)
        for a in accounts
    ], []  # fmt: skip


_HOUSEHOLD_SUFFIXES = {"trades": ".household.trades.csv", "workbook": ".household.xlsx"}


def household_unseen(
    job: Job, files: BookFiles, out: Path, as_of, workbooks: bool, problem: str
) -> list[AccountResult]:
    """``unseen`` for a household's job: its accounts written all the same when its
    files are whole and this run's, else not run."""
    done, _ = household_reusable(out, job, files, as_of, workbooks)
    if done is not None:
        return [dataclasses.replace(r, message=f"written as the book stopped ({problem})")
                for r in done]  # fmt: skip
    return [AccountResult(a, "not_run", f"not run: {problem}; --resume runs it",
                          household=job.account) for a in job.members]  # fmt: skip
