"""The outputs of ``propose --household``, written together, whole or not at all
(``export.atomic.OutputSet``): the trades CSV (every account's orders, its
``account`` column telling them apart), the JSON (``HouseholdProposal.summary``) and
a workbook: a Household sheet (its figures, exposures and checks) and each account's
sheets, titled after the account."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from rebalancer.export.atomic import OutputSet, protected_files
from rebalancer.export.csvout import trades_frame, write_frame
from rebalancer.export.jsonout import write_json
from rebalancer.export.manifest import (
    file_digest,
    input_digests,
    run_record,
    scenario_digest,
)
from rebalancer.export.safe import write_cell
from rebalancer.export.xlsx import (
    checks_sheet,
    exposures_sheet,
    page_setup,
    proposal_sheets,
    table_sheet,
)
from rebalancer.household.build import HouseholdProposal
from rebalancer.report.proposal import TRADE_COLUMNS

PathArg = str | os.PathLike[str]


def write_household_csv(hp: HouseholdProposal, path: PathArg) -> None:
    """Every account's trades CSV rows (docs/contracts.md §4), account after account."""
    frame = pd.concat([trades_frame(p) for p in hp.proposals], ignore_index=True)
    # the contract's columns first, in its order (an account with no known gains has
    # no tax columns), then the accounts' cash request columns
    first = [c for c in TRADE_COLUMNS if c in frame]
    write_frame(frame[first + [c for c in frame if c not in first]], path)


def write_household_workbook(hp: HouseholdProposal, path: PathArg) -> None:
    """The Household sheets (figures, the accounts side by side, exposures, checks,
    where the income-heavy names are held: ``household.build.Location``),
    then each account's sheets
    prefixed by the account (``export.xlsx.proposal_sheets``)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Household"
    write_cell(ws["A1"], f"Household {hp.name}").font = Font(bold=True, size=14)
    summary = hp.summary()["household"]
    location = summary["location"] or {"sheltered_before": None, "sheltered_after": None}
    lines = [
        ("scenario", hp.scenario_name),
        ("accounts", ", ".join(summary["accounts"])),
        ("NAV (USD)", hp.nav_usd),
        ("status", hp.status),
        ("income tax a year before (USD)", summary["income_tax_before"]),
        ("income tax a year after (USD)", summary["income_tax"]),
        ("income tax saved a year (USD)", summary["income_tax_saved"]),
        ("income-heavy names held tax-advantaged before", location["sheltered_before"]),
        ("income-heavy names held tax-advantaged after", location["sheltered_after"]),
        ("checks", "all pass" if bool(hp.checks["ok"].all()) else "SOME FAIL"),
    ]
    for row, (label, value) in enumerate(lines, start=3):
        write_cell(ws.cell(row=row, column=1), label).font = Font(bold=True)
        write_cell(ws.cell(row=row, column=2), value)
    table_sheet(wb.create_sheet("Household Accounts"), hp.accounts_frame())
    exposures_sheet(wb.create_sheet("Household Exposures"), hp.exposures)
    checks_sheet(wb.create_sheet("Household Checks"), hp.checks)
    if hp.location is not None:
        table_sheet(wb.create_sheet("Household Location"), hp.location.names)
    as_of = hp.proposals[0].as_of if hp.proposals else ""
    for sheet in wb.worksheets:  # each account's sheets get theirs in proposal_sheets
        page_setup(
            sheet,
            title=f"Household {hp.name}",
            as_of=as_of,
            header_row=None if sheet is ws else 1,
            one_page=sheet is ws,
        )
    for proposal in hp.proposals:
        proposal_sheets(wb, proposal, prefix=f"{proposal.account} ")
    wb.properties.creator = "rebalancer"
    wb.save(path)


def write_household_outputs(
    hp: HouseholdProposal,
    inputs: dict[str, str | None],
    *,
    out: PathArg | None = None,
    trades: PathArg | None = None,
    json_path: PathArg | None = None,
) -> list[Path]:
    """Write the outputs asked for together; none may be a file of ``inputs`` (role ->
    path, the scenario's ``extends`` chain included). Returns the paths written."""
    staged: dict[str, tuple[Path, Path]] = {}  # role -> (target, temp)
    with OutputSet(protected=protected_files(inputs)) as outputs:
        for role, path, option, writer in [
            ("workbook", out, "--out", write_household_workbook),
            ("trades", trades, "--trades", write_household_csv),
        ]:
            if path is not None:
                temp = outputs.stage(path, option)
                writer(hp, temp)
                staged[role] = (Path(path).expanduser().resolve(), temp)
        if json_path is not None:
            # the manifest records the other outputs' final names and their digests
            digests = {
                role: {**file_digest(temp), "path": str(target)}
                for role, (target, temp) in staged.items()
            }
            manifest = household_manifest(hp, digests)
            write_json(hp, outputs.stage(json_path, "--json"), manifest)
        written = outputs.targets
    return written


def household_manifest(hp: HouseholdProposal, outputs: dict[str, dict]) -> dict:
    """The audit manifest of a household's JSON (as an account's,
    ``export.manifest.build_manifest``): the run record, the household, its accounts
    and as-of date, every input's digest (the accounts' files are one set), the
    household's effective scenario and its digest, what ``--relax`` moved, the solver
    and status, and the outputs written beside the JSON."""
    first = hp.proposals[0]
    scenario = hp.scenario.to_data()
    return {
        **run_record(),
        "household": hp.name,
        "accounts": [p.account for p in hp.proposals],
        "as_of": first.as_of,
        "inputs": input_digests(first.inputs),
        "scenario_sha256": scenario_digest(scenario),
        "scenario": scenario,
        "relaxed": list(hp.relaxed),
        "solver": hp.solver,
        "status": hp.status,
        "outputs": dict(outputs),
    }
