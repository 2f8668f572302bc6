"""A book's unit of work and what comes of it: what crosses between the book
(``plan`` makes the jobs, ``run`` collects the results) and the engines that run them
(``engines``). They import it; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # only named in annotations: the engines' module stays light
    import pandas as pd


@dataclass(frozen=True)
class Job:
    """One account of a book to propose: its scenario and benchmark files (paths)."""

    account: str
    scenario: str  # path
    benchmark: str | None
    # the account's tax status, cash target, household and lot method are read from its
    # row by the worker, as every path reads them (``request.account_terms``)
    # the first accounts of this job's model (scenario and benchmark) in the accounts
    # file: every worker learns the model's likeliest buys from the same ones
    probes: tuple[str, ...] = ()
    # a household's job (``batch --households``): ``account`` is the household's name
    # and these its accounts, in the accounts file's order, solved as one problem
    members: tuple[str, ...] = ()

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts this job proposes: a household's members, else its account."""
        return self.members or (self.account,)


@dataclass(frozen=True)
class SummaryRow:
    """What the book summary shows of a proposed account: the figures of its JSON
    summary (docs/contracts.md §4) that are columns of ``book_summary.xlsx``. Weights
    and rates are fractions (of NAV, a year); a figure the JSON had no number for is
    None."""

    status: str
    nav_usd: float | None = None
    cash_after_usd: float | None = None
    turnover: float | None = None
    n_trades: int | None = None
    est_cost_usd: float | None = None
    expected_return: float | None = None
    tracking_error: float | None = None
    taxable: bool | None = None
    account_type: str | None = None  # taxable, tax_deferred or tax_exempt
    estimated_tax_usd: float | None = None
    realized_gain_usd: float | None = None
    # its cash request and mode (``limits.cash_request.request_cells``): as traded, as
    # asked, the withdrawal and deposit in dollars (none: rebalance and 0)
    mode: str | None = None
    mode_asked: str | None = None
    withdraw_usd: float | None = None
    deposit_usd: float | None = None

    # field -> the JSON summary's key and the book summary's column
    COLUMNS: ClassVar[dict[str, str]] = {
        "nav_usd": "nav", "cash_after_usd": "cash_after", "turnover": "turnover",
        "n_trades": "n_trades", "est_cost_usd": "est_cost", "expected_return": "expected_return",
        "tracking_error": "tracking_error", "taxable": "taxable", "account_type": "account_type",
        "estimated_tax_usd": "estimated_tax", "realized_gain_usd": "realized_gain",
    }  # fmt: skip

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> SummaryRow:
        """The row of an account's written JSON summary (a reused account's)."""
        # late: it imports pandas, which the engines' module does without
        from rebalancer.limits.cash_request import request_cells

        return cls(
            summary.get("status"),
            **{name: summary.get(key) for name, key in cls.COLUMNS.items()},
            **request_cells(summary.get("cash_request") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        """Column -> value, as the book summary writes it (``status`` first)."""
        return {
            "status": self.status,
            **{key: getattr(self, name) for name, key in self.COLUMNS.items()},
            **{key: getattr(self, key) for key in REQUEST_FIELDS},
        }


# the fields of the cash request, named as the book summary's columns
REQUEST_FIELDS = ("mode", "mode_asked", "withdraw_usd", "deposit_usd")


@dataclass(frozen=True)
class AccountResult:
    """What came of one account: its status, why when it was not proposed, and what
    travels back from the worker (the book summary's row and the orders)."""

    account: str
    status: str  # optimal | optimal_inaccurate | infeasible | failed | skipped | not_run
    message: str = ""
    summary: SummaryRow | None = None
    trades: pd.DataFrame | None = None
    seconds: float = 0.0
    household: str | None = None  # proposed with its household (``batch --households``)


# the statuses of an account that was not proposed (the book summary's "Not proposed")
NOT_PROPOSED = ("failed", "infeasible", "not_run")
