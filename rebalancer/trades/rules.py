"""What the rounding to whole lots must keep (``RoundingRules``), built from the
request and its limits (``rounding_rules``: each advisor limit's ``rounding(request)``
gives its fields; ``rebalancer.trades.repairs`` keeps them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rebalancer.limits import LIMITS
from rebalancer.limits.base import Row

if TYPE_CHECKING:
    from rebalancer.prepare.request import Request


@dataclass(frozen=True)
class RoundingRules:
    """What the rounding of one account's continuous answer works with: its NAV, cash,
    prices, lots and holdings, who may buy or sell, and the numbers each advisor limit
    gives (``AdvisorLimit.rounding``). Amounts in dollars (``_usd``), weights as
    fractions of NAV; a field left None is a limit not set (its repair does not
    apply)."""

    nav_usd: float
    cash_before_usd: float
    cash_floor_usd: float
    min_trade_usd: float
    price: np.ndarray
    lot: np.ndarray  # shares per tradable unit
    shares_before: np.ndarray
    liquidity_cap_usd: np.ndarray  # max |notional| per name
    may_buy: np.ndarray  # bool
    may_sell: np.ndarray  # bool
    position_cap: np.ndarray  # weight
    sector_codes: np.ndarray  # int per name
    sector_max: float | None
    sellable_shares: np.ndarray | None = None  # shares in lots that may be sold (tax blocks)
    # tilt bands on active exposure: groups (m × n, 0/1), their reference weight, lo, hi
    band_groups: np.ndarray | None = None
    band_reference: np.ndarray | None = None
    band_lo: np.ndarray | None = None
    band_hi: np.ndarray | None = None
    # the limits' linear rows in dollars (``limits.base.Row``: Σ buy·bought_usd +
    # sell·sold_usd + weight·held_usd after ≤ rhs, such as the turnover cap), which the
    # row repair keeps (``trades.repairs.rows``)
    rows: tuple[Row, ...] = ()
    # the tracking-error cap, its reference weights and the risk model (``variance``,
    # ``cov_times``, ``total_vol`` of weight vectors), for the fix-ups to keep it
    max_tracking_error: float | None = None
    te_reference: np.ndarray | None = None
    risk: object | None = None
    # the least weight of each name a fix-up may sell it down to (an advisor limit's
    # floor, such as ref − max_active_position); None: no floor
    position_floor: np.ndarray | None = None
    # cash to put to work (a deposit, or invest-cash): idle cash may open, at the
    # minimum trade, a buy the rounding dropped (``repairs.cash.IdleCash``)
    invest_cash: bool = False


def rounding_rules(r: Request) -> RoundingRules:
    """What the rounding of this request's continuous answer must keep (``round_orders``):
    the account's NAV, cash, prices, holdings and sectors, who may buy or sell, and what
    each advisor limit asks of it (``AdvisorLimit.rounding``, in the order of
    ``LIMITS``: the cash floor, liquidity, the position caps and floors, the sector
    cap, the tracking error, the tilt bands, the lots free of tax blocks, the minimum
    trade and the lot size), and the rows of the limits stated as linear rows of the
    orders (``AdvisorLimit.rounding_rows``: the turnover cap...). A field two limits
    give (``position_cap``: the position and the active-position limits) is the
    smaller of the two, per name."""
    sector_codes = pd.Categorical(r.universe["sector"], categories=r.sectors).codes
    kept: dict = {}
    for limit in LIMITS:
        for field, value in limit.rounding(r).items():
            # a per-name cap two limits give: the stricter holds
            kept[field] = value if field not in kept else np.minimum(kept[field], value)
    return RoundingRules(
        nav_usd=r.position.nav_usd,
        cash_before_usd=r.position.cash_usd,
        price=r.position.price_usd,
        shares_before=r.position.shares,
        may_buy=r.limits.may_buy,
        may_sell=r.limits.may_sell,
        sector_codes=np.asarray(sector_codes),
        rows=tuple(row for limit in LIMITS for row in limit.rounding_rows(r)),
        **kept,
    )


def sales_headroom(rules: RoundingRules, w0: np.ndarray, h: float) -> RoundingRules:
    """``rules`` with the cap of each name above it today (``w0``) lowered to cᵢ(1 − h),
    h the estimated cost of a path, this run and the later ones (the spread and impact
    of the whole move, a share of NAV).

    Why: a name sold down to its cap ends there of the NAV after the orders' costs
    (``repairs.position``, before the later repairs' own costs), and each later run's
    costs, paid from cash, lower the NAV again: the name then weighs cᵢ/(1 − c₂), over
    its cap, and that run must sell it again — a sale a hair over nothing that the
    minimum trade lifts to a whole order. Its sale now goes as much further as the
    path's costs (the rounding tops it up by whole lots, ``repairs.position``), as
    the step's buys stop short of a cap by them (``rebalancer.solve.step.with_headroom``)."""
    above = np.asarray(w0, float) > rules.position_cap
    if h <= 0 or not above.any():
        return rules
    cap = np.where(above, rules.position_cap * (1.0 - min(h, 0.5)), rules.position_cap)
    return dataclasses.replace(rules, position_cap=cap)
