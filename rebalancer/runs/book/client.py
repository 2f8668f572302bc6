"""A book's files for the desk and the clients: one order file of every account's
allocations by block (``batch --orders``), and a client report per account
(``batch --reports DIR``: ``DIR/ACCOUNT.pdf``, written with the account's other
outputs by the worker that ran it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rebalancer.export import client_terms
from rebalancer.export.orders import OrderTerms
from rebalancer.export.report_config import ReportConfig
from rebalancer.runs.book.plan import output_path


@dataclass(frozen=True)
class ClientOutputs:
    """Where a book's order file and reports go (absolute paths; None: not asked for),
    the order file's terms and the reports' config. Crosses to the workers."""

    orders: str | None = None
    order_terms: OrderTerms = field(default_factory=OrderTerms)
    reports: str | None = None
    report_config: ReportConfig = field(default_factory=ReportConfig)
    config_file: str | None = None  # the --report-config file: an input, never an output

    @classmethod
    def of(
        cls,
        orders=None,
        orders_format: str | None = None,
        limit_bps: str | float | None = None,
        reports=None,
        report_config=None,
    ) -> ClientOutputs:
        """The options of ``batch`` checked (``export.client_terms``): a bad value, or
        a setting without its output, raises naming the option."""
        terms, config = client_terms(orders, orders_format, limit_bps, reports, report_config,
                                     report_option="--reports")  # fmt: skip
        absolute = lambda p: os.path.abspath(p) if p is not None else None  # noqa: E731
        return cls(absolute(orders), terms, absolute(reports), config, absolute(report_config))

    def report_path(self, account: str) -> Path | None:
        """The account's report, ``<reports>/<account>.pdf`` (None: no reports)."""
        return output_path(self.reports, account, ".pdf") if self.reports else None
