"""From optimal weights to orders an advisor can send: whole lots that keep the limits.

``round_orders``: the continuous answer becomes whole lots, rounded toward no trade
(so no trade grows past what the optimizer allowed: liquidity, turnover and buys only
shrink); a target under half a lot becomes a full exit; orders under
``min_trade_usd`` are dropped unless they close a position. Then each advisor limit's
repair (``rebalancer.trades.repairs``) mends what whole lots broke of it, one after
another in a stated order (``REPAIRS``): sales topped up where a position or a sector
is above its cap, the minimum trade restored, buys trimmed until the orders keep the
turnover cap and cash, net of estimated costs, is above its floor and at the
optimizer's cash, whole lots moved back into the tilt bands and traded to bring the
tracking error under its cap, idle cash put to work, buys cut to their cap again.
Each repair moves lots only where every other limit's test holds
(``Rounding.keeps_step``), and a trim picks a name whose change spares the tilt bands,
the tracking error and the floors where there is one (``Rounding.keeping``). What
each advisor limit asks of the rounding comes from the limit (``rebalancer.limits``,
``AdvisorLimit.rounding``) as the rules' fields (``rebalancer.trades.rules``).

The tax-lot allocation of the sales is ``rebalancer.trades.lots``.
"""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs import REPAIRS, Rounding
from rebalancer.trades.repairs.base import EPS
from rebalancer.trades.rules import RoundingRules

# ``rebalancer.runs`` (apply, verify) still imports the lot allocation from here, its
# home before ``rebalancer.trades.lots``
__all__ = ["EPS", "round_orders"]


def round_orders(target_weight: np.ndarray, rules: RoundingRules, cost_usd) -> np.ndarray:
    """Signed share quantities to trade. ``cost_usd(trade_usd) -> per-name cost``.

    First every order is rounded toward no trade (module docstring), then each limit's
    repair that applies to ``rules`` runs, in the order of ``REPAIRS``."""
    r = rules
    target_shares = np.maximum(target_weight, 0.0) * r.nav_usd / r.price
    delta = target_shares - r.shares_before
    q = np.sign(delta) * np.floor(np.abs(delta) / r.lot + EPS) * r.lot
    q = np.where(delta > 0, np.where(r.may_buy, q, 0.0), np.where(r.may_sell, q, 0.0))
    # never past the liquidity cap, whatever the weights asked for
    most = np.floor(r.liquidity_cap_usd / (r.lot * r.price) + EPS) * r.lot
    q = np.clip(q, -most, most)
    if r.sellable_shares is not None:  # lots blocked by wash-sale or short-term rules
        whole = np.floor(r.sellable_shares / r.lot + EPS) * r.lot
        closes = np.isclose(r.sellable_shares, r.shares_before)
        q = np.maximum(q, -np.where(closes, r.sellable_shares, whole))

    held = r.shares_before > 0
    exit_value = r.shares_before * r.price
    sellable = r.shares_before if r.sellable_shares is None else r.sellable_shares
    remainder_usd = (r.shares_before + q) * r.price
    full_exit = (
        (sellable >= r.shares_before - EPS)
        & held
        & (delta < 0)
        & r.may_sell
        & (
            (
                (target_shares < 0.5 * r.lot)
                # and the exit lands nearer the target than the rounded-down sale: in a
                # small account a lot can be worth percents of NAV, and a holding smaller
                # than a lot (fractional shares) must not be sold out for a target near
                # what it holds
                & (target_shares < (r.shares_before + q) - target_shares)
            )
            # no dust: a sale that would leave less than the minimum trade closes the
            # position where the exit lands nearer the target than the remainder (which
            # could never be trimmed by a smaller order, only sold whole by a later run)
            | (
                (remainder_usd < r.min_trade_usd)
                & (target_shares < (r.shares_before + q) - target_shares)
                & (q < 0)
            )
        )
        & (exit_value <= r.liquidity_cap_usd * (1 + 1e-9))
    )
    q = np.where(full_exit, -r.shares_before, q)

    small = np.abs(q) * r.price < r.min_trade_usd
    closes = np.isclose(q, -r.shares_before) & held
    q = np.where(small & ~closes, 0.0, q)

    c = Rounding(
        rules=r,
        cost_usd=cost_usd,
        target_shares=target_shares,
        wanted=delta,
        planned_cash_weight=1.0 - float(np.maximum(target_weight, 0.0).sum()),
        repairs=tuple(repair for repair in REPAIRS if repair.applies(r)),
    )
    for repair in c.repairs:
        q = repair.fix(q, c)
    return q
