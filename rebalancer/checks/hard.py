"""Whether a proposal's rounded orders may be sent: the checks stage decides that the
request is infeasible when the orders break a hard limit (``rebalancer.limits.HARD_LIMITS``),
the report only builds what it is given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.errors import InfeasibleError
from rebalancer.limits import HARD_LIMITS


def require_hard_limits(request, checks: pd.DataFrame, w_after: np.ndarray) -> None:
    """Raise ``InfeasibleError`` naming each hard limit the final orders break.

    ``request``: the prepared request (``rebalancer.prepare.request.Request``; not
    imported: the checks never reach the optimizer) whose ``checks`` (one row per limit,
    ``rebalancer.checks.measure.run_checks``) were measured on the weights ``w_after``.

    The optimizer keeps every limit with a margin and the rounding repairs what whole
    lots take past one, but the minimum trade and the lot sizes can leave no order list
    that keeps them all: position caps whose trims must be full exits (each under the
    minimum) can need more turnover than the cap allows, or more tracking error. Such a
    request is infeasible (exit 3, naming the limits the orders break and by how much;
    ``--relax`` can lift them), not a proposal to send. The limits this holds for are
    ``rebalancer.limits.HARD_LIMITS`` (tilt bands, the minimum trade itself and round
    lots are targets the Checks sheet flags instead)."""
    failed = checks[~checks["ok"].astype(bool)]
    if not len(failed):
        return
    c = request.scenario.constraints
    how = "orders in whole lots"
    if c.min_trade_usd > 0:
        how += f" of at least ${c.min_trade_usd:,.0f} (min_trade_usd)"
    conflicts = [
        limit.hard_conflict(request, row, w_after, how)
        for row in failed.itertuples()
        for limit in HARD_LIMITS
        if limit.measures(row.check)
    ]
    if conflicts:
        raise InfeasibleError(request.account, conflicts)
