"""A book's unit of work and what comes of it: what crosses between the book
(``plan`` makes the jobs, ``run`` collects the results) and the engines that run them
(``engines``). They import it; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


@dataclass(frozen=True)
class AccountResult:
    """What came of one account: its status, why when it was not proposed, and what
    travels back from the worker (the book summary's row and the orders)."""

    account: str
    status: str  # optimal | optimal_inaccurate | infeasible | failed | skipped | not_run
    message: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    trades: pd.DataFrame | None = None
    seconds: float = 0.0


# the statuses of an account that was not proposed (the book summary's "Not proposed")
NOT_PROPOSED = ("failed", "infeasible", "not_run")
