"""Exporters: a finished ``Proposal`` in, files out. They know nothing of the optimizer.

``write_outputs`` writes every requested file together, whole or not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rebalancer.export.atomic import OutputSet, check_outputs, protected_files
from rebalancer.export.csvout import write_trades_csv
from rebalancer.export.jsonout import write_json
from rebalancer.export.manifest import build_manifest, file_digest
from rebalancer.export.safe import safe_text
from rebalancer.report.proposal import Proposal

__all__ = [
    "OUTPUT_OPTIONS",
    "OutputSet",
    "check_outputs",
    "client_terms",
    "protected_files",
    "safe_text",
    "write_json",
    "write_outputs",
    "write_trades_csv",
    "write_workbook",
]

PathArg = str | os.PathLike[str]

# each output of a proposal and the option of ``rebalancer propose`` that names it
OUTPUT_OPTIONS = {"workbook": "--out", "trades": "--trades", "orders": "--orders",
                  "report": "--report", "json": "--json"}  # fmt: skip


def __getattr__(name: str) -> Any:
    # late: the workbook writers import openpyxl (0.1 s), for a workbook only
    if name == "write_workbook":
        from rebalancer.export.xlsx import write_workbook

        return write_workbook
    raise AttributeError(name)


def _write_workbook(proposal: Proposal, path: Path) -> None:
    __getattr__("write_workbook")(proposal, path)


def write_outputs(
    proposal: Proposal,
    *,
    out: PathArg | None = None,
    trades: PathArg | None = None,
    json_path: PathArg | None = None,
    orders: PathArg | None = None,
    order_terms=None,
    report: PathArg | None = None,
    report_config=None,
    tidy: bool = True,
    protected: dict[str, str] | None = None,
) -> list[Path]:
    """Write the workbook (``out``), trades CSV, order file (``orders``, laid out as
    ``order_terms`` says: ``export.orders``), client report PDF (``report``, with
    ``report_config``: ``export.client_report``) and JSON summary that were asked for.

    All are staged and renamed into place together, the JSON last (its manifest holds
    the others' digests); if any fails, none is written and existing files keep their
    content. No output may be a file the proposal was computed from (its inputs, its
    scenario's ``extends`` chain) or a special file (see ``OutputSet``). Returns the
    paths written, in the order workbook, CSV, order file, report, JSON. ``protected``: those files, when
    the caller has them (``protected_files(proposal.inputs)``; a book's workers keep
    them per model rather than read a scenario's chain for every account).
    """
    if protected is None:
        protected = protected_files(proposal.inputs)
    staged: dict[str, tuple[Path, Path]] = {}  # role -> (target, temp)
    with OutputSet(protected=protected, tidy=tidy) as outputs:
        for role, path, writer in [
            ("workbook", out, _write_workbook),
            ("trades", trades, write_trades_csv),
            ("orders", orders, lambda p, temp: _write_orders(p, temp, order_terms)),
            ("report", report, lambda p, temp: _write_report(p, temp, report_config)),
        ]:
            if path is not None:
                temp = outputs.stage(path, OUTPUT_OPTIONS[role])
                writer(proposal, temp)
                staged[role] = (Path(path).expanduser().resolve(), temp)
        if json_path is not None:
            # the manifest records the other outputs' final names and their digests
            digests = {
                role: {**file_digest(temp), "path": str(target)}
                for role, (target, temp) in staged.items()
            }
            manifest = build_manifest(proposal, digests)
            write_json(proposal, outputs.stage(json_path, "--json"), manifest=manifest)
        written = outputs.targets
    return written


def client_terms(
    orders: PathArg | None,
    orders_format: str | None,
    limit_bps: str | float | None,
    report: PathArg | None,
    report_config: PathArg | None,
    *,
    orders_option: str = "--orders",
    report_option: str = "--report",
):
    """The order file's terms (``export.orders.order_terms``) and the report's config
    (``export.report_config``) as the options give them, checked before any work: a bad
    value, or a setting given without the output it is for, raises naming the option.
    Returns ``(OrderTerms, ReportConfig)``."""
    from rebalancer.errors import RebalancerError
    from rebalancer.export.orders import order_terms
    from rebalancer.export.report_config import load_report_config

    for given, option, needs in [
        (orders_format, "--orders-format", (orders, orders_option)),
        (limit_bps, "--limit-bps", (orders, orders_option)),
        (report_config, "--report-config", (report, report_option)),
    ]:
        if given is not None and needs[0] is None:
            raise RebalancerError(f"{option}: given without {needs[1]}, which it is for")
    return order_terms(orders_format, limit_bps), load_report_config(report_config)


def _write_orders(proposal: Proposal, path: Path, terms) -> None:
    from rebalancer.export.orders import OrderTerms, write_orders

    write_orders(proposal.trades, path, terms or OrderTerms())


def _write_report(proposal: Proposal, path: Path, config) -> None:
    # late: fpdf2 and matplotlib (most of a second to import) for a report only
    from rebalancer.export.client_report import write_client_report

    write_client_report(proposal, path, config)


def write_comparison_outputs(
    comparison,
    *,
    out: PathArg | None = None,
    chart: PathArg | None = None,
    json_path: PathArg | None = None,
    protected: dict[str, str] | None = None,
    scenarios: list[PathArg] = (),
) -> list[Path]:
    """Write the what-if workbook, chart and JSON table together, whole or not at all;
    none may be an input of ``protected`` (role -> path) or a file of ``scenarios``."""
    # late: matplotlib (half a second to import) for a what-if's --chart only
    from rebalancer.export.chart import write_chart
    from rebalancer.export.compare import write_comparison

    def table_json(comp, path: Path) -> None:
        records = json.loads(comp.table.reset_index().to_json(orient="records"))
        belief = None if comp.belief is None else comp.belief.to_json()
        body = {"account": comp.account, "runs": records, "common_belief": belief}
        Path(path).write_text(json.dumps(body, indent=2))

    jobs = [(path, label, writer) for path, label, writer in [
        (out, "--out", write_comparison),
        (chart, "--chart", lambda comp, p: write_chart(comp.table, p)),
        (json_path, "--json", table_json),
    ] if path is not None]  # fmt: skip
    with OutputSet(protected=protected_files(protected or {}, scenarios)) as outputs:
        for path, label, writer in jobs:
            writer(comparison, outputs.stage(path, label))
        written = outputs.targets
    return written
