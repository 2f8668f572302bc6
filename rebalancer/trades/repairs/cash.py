"""Cash after the orders and their estimated costs: at least the floor
(``cash_floor_usd``), the optimizer's own cash where rounding left more to spend or
less, and no more idle cash than whole lots must leave."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Move, Repair, Rounding, room_to_sell
from rebalancer.trades.repairs.rows import keep_steps_up

# idle cash is put back to work only in names the rounding left short by at least this
# share of the step (a lot bought, or a lot less sold): the name then ends at most
# half a step further from its target, while cash comes a whole step nearer to its own
DEPLOY_MIN_SHORTFALL = 0.25


def _cash_after(q: np.ndarray, c: Rounding) -> float:
    """Cash after the orders ``q`` and their estimated costs."""
    trade_usd = q * c.rules.price
    return c.rules.cash_before_usd - trade_usd.sum() - c.cost_usd(trade_usd).sum()


def _trim_largest_buy(q: np.ndarray, c: Rounding, buys: np.ndarray, deficit: float) -> None:
    """Cut the largest of ``buys`` (of those whose cut spares the other limits, if any)
    by the whole lots that cover ``deficit`` dollars, dropping it if what is left is
    under the minimum trade; in place."""
    r = c.rules
    cut = np.ceil(deficit / (r.lot * r.price) - EPS) * r.lot
    pool = c.keeping(q, buys, -np.minimum(cut, q) * r.price)
    i = pool[np.argmax((q * r.price)[pool])]
    q[i] = max(q[i] - cut[i], 0.0)
    if 0 < q[i] * r.price[i] < r.min_trade_usd:
        q[i] = 0.0


class CashFloor(Repair):
    """Trim buys (largest first) until cash after trades and costs is above the floor;
    with no buys left, add to sales. A step up keeps cash above it."""

    def fix(self, q, c):
        r = c.rules
        q = q.copy()
        for _ in range(4 * len(q) + 10):
            deficit = r.cash_floor_usd - _cash_after(q, c)
            if deficit <= 0:
                return q
            buys = np.flatnonzero(q > 0)
            if len(buys):
                _trim_largest_buy(q, c, buys, deficit)
                continue
            room = room_to_sell(q, r)
            sellers = np.flatnonzero(room > 0)
            if not len(sellers):
                return q  # nothing left to sell: the cash check will report the shortfall
            add = np.ceil(max(deficit, r.min_trade_usd) / (r.lot * r.price) - EPS) * r.lot
            pool = c.keeping(q, sellers, -np.minimum(add, room) * r.price)
            i = pool[np.argmax((r.shares_before[pool] + q[pool]) * r.price[pool])]
            q[i] -= min(add[i], room[i])
        return q

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray:
        if m.step <= 0:  # a step down sells: cash grows
            return np.ones(len(m.q), dtype=bool)
        # the cash a buy (or a smaller sale) needs, its cost < 1%
        return _cash_after(m.q, c) - m.step_usd * 1.01 >= c.rules.cash_floor_usd


class PlannedCash(Repair):
    """The optimizer's budget leaves the trading costs out, and rounding moves cash
    by up to a lot per name: trim buys (largest first, whole lots; one left under the
    minimum is dropped) until cash after trades and costs is the optimizer's cash
    weight of the NAV after trades, so the next run finds its cash target met rather
    than selling to restore it. Sales are not added for this (only the floor does)."""

    def fix(self, q, c):
        r = c.rules
        q = q.copy()
        for _ in range(4 * len(q) + 10):
            deficit = c.planned_cash_weight * c.nav_after(q) - _cash_after(q, c)
            buys = np.flatnonzero(q > 0)
            if deficit <= EPS * r.nav_usd or not len(buys):
                return q
            _trim_largest_buy(q, c, buys, deficit)
        return q


class IdleCash(Repair):
    """Rounding every order toward no trade leaves cash the optimizer meant to invest:
    up to a lot per name, which in a small account (or with a large lot or price) is
    percents of NAV, and more where a sale rounded to a full exit funds buys that
    rounded away. Put that cash back to work one step at a time, where the rounding
    left a name furthest under its target: one lot more bought, or one lot less sold
    (an exit of a fractional holding undone). A step is taken only while cash stays
    above its floor and above the optimizer's own cash weight of the NAV after the
    repairs before this one (so rounding never leaves less cash than the optimizer
    planned), only where the name was short by at least ``DEPLOY_MIN_SHORTFALL`` of
    the step (names the optimizer hardly wanted are not bought to fill a gap), and
    only if it keeps every limit the rounding keeps: position, sector, liquidity,
    turnover, the minimum trade, and spares the tilt bands, the tracking error and the
    floors (every step is up: a floor never stands in its way). In dollars, each step
    brings the portfolio nearer the optimizer's (cash by the whole step, the name by
    at least half of it).

    With cash to invest (``invest_cash``: a deposit, or ``invest-cash``) the step of
    a name the optimizer buys and the rounding dropped (orders under the minimum
    trade are dropped: a deposit spread over many names leaves most of it idle)
    opens a buy of the fewest whole lots worth the minimum trade, under the same
    tests, so that the deposit is invested to the cash target."""

    def fix(self, q, c):
        r = c.rules
        planned_cash_usd = c.planned_cash_weight * c.nav_after(q)
        q = q.copy()
        # the fewest whole lots an opening buy takes: the minimum trade, or one lot
        opening = np.maximum(np.ceil(r.min_trade_usd / (r.lot * r.price) - EPS), 1.0) * r.lot
        for _ in range(4 * len(q) + 10):
            # the next step up: a lot more bought, or the next whole-lot sale below this
            # one; with cash to invest, a dropped buy the optimizer wanted opened
            lots_sold = np.ceil(-q / r.lot - EPS)
            up = q + r.lot
            if r.invest_cash:
                up = np.where((q == 0) & (c.wanted > 0), np.maximum(up, opening), up)
            new_q = np.where(q < 0, -np.maximum(lots_sold - 1.0, 0.0) * r.lot, up)
            step_usd = (new_q - q) * r.price
            spare = _cash_after(q, c) - max(r.cash_floor_usd, planned_cash_usd)
            post = r.shares_before + new_q
            short_usd = (c.target_shares - (r.shares_before + q)) * r.price
            ok = short_usd >= DEPLOY_MIN_SHORTFALL * step_usd
            ok &= np.where(new_q > 0, r.may_buy, True)
            ok &= step_usd * 1.01 <= spare  # the step and its cost (far below 1%)
            ok &= np.abs(new_q) * r.price <= r.liquidity_cap_usd * (1 + 1e-9)
            # caps of the NAV after trades, the step's own cost (< 1%) included
            nav_next = c.nav_after(q) - 0.01 * step_usd
            ok &= post * r.price <= r.position_cap * nav_next * (1 + 1e-9)
            ok &= (np.abs(new_q) * r.price >= r.min_trade_usd) | (new_q == 0)
            ok &= keep_steps_up(q, step_usd, r)  # the limits' rows (the turnover cap)
            if r.sector_max is not None:
                sector_cap = r.sector_max * nav_next
                sector_usd = np.bincount(r.sector_codes, weights=(r.shares_before + q) * r.price)
                ok &= sector_usd[r.sector_codes] + step_usd <= sector_cap * (1 + 1e-9)
            if ok.any():
                ok &= c.spares(q, step_usd)
            candidates = np.flatnonzero(ok)
            if not len(candidates):
                return q
            # the largest gain in dollars: the shortfall, up to the step
            i = candidates[np.argmax(np.minimum(short_usd, step_usd)[candidates])]
            q[i] = new_q[i]
        return q
