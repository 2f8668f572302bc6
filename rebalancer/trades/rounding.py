"""From optimal weights to orders an advisor can send: shares, lots, cash.

1. ``round_orders``: the continuous answer becomes whole lots, rounded toward no
   trade (so no trade grows past what the optimizer allowed: liquidity, turnover
   and buys only shrink); a target under half a lot becomes a full exit; orders
   under ``min_trade_usd`` are dropped unless they close a position; sells are
   topped up where rounding left a position or a sector above its cap; buys are
   trimmed until the orders keep the turnover cap and cash, net of estimated
   costs, is above its floor (each of these fix-ups takes its name from those whose
   change keeps every tilt band and the tracking error, where there is one, and no
   fix-up sells a name below its floor, ``position_floor``, where a limit sets one);
   and whole lots that lower the tracking error are traded where rounding left it
   above its cap. What each advisor limit asks of the rounding comes from the limit
   (``rebalancer.limits``, ``AdvisorLimit.rounding``) as these rules' fields.
2. ``allocate_lots``: each sale is taken from the account's tax lots, highest
   cost per share first (HIFO), so realised gains are as small as the lots allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EPS = 1e-9
# idle cash is put back to work only in names the rounding left short by at least this
# share of the step (a lot bought, or a lot less sold): the name then ends at most
# half a step further from its target, while cash comes a whole step nearer to its own
DEPLOY_MIN_SHORTFALL = 0.25
MAX_OFFSETS = 3  # trades outside a tilted group that may pay for one lot inside it


def is_long_term(acquired, sold: pd.Timestamp):
    """Held more than one year: sold after the first anniversary of the purchase
    (calendar years, so a lot bought 2023-06-30 is long-term from 2024-07-01).
    ``acquired`` is a date or a Series of dates (an unknown date is not long-term)."""
    return sold > acquired + pd.DateOffset(years=1)


@dataclass(frozen=True)
class RoundingRules:
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
    max_traded_usd: float | None = None  # buys + sells (2 × turnover cap × NAV)
    # the tracking-error cap, its reference weights and the risk model (``variance``,
    # ``cov_times``, ``total_vol`` of weight vectors), for the fix-ups to keep it
    max_tracking_error: float | None = None
    te_reference: np.ndarray | None = None
    risk: object | None = None
    # the least weight of each name a fix-up may sell it down to (an advisor limit's
    # floor, such as ref − max_active_position); None: no floor
    position_floor: np.ndarray | None = None


def round_orders(target_weight: np.ndarray, rules: RoundingRules, cost_usd) -> np.ndarray:
    """Signed share quantities to trade. ``cost_usd(trade_usd) -> per-name cost``."""
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

    q = _fix_positions(q, r, cost_usd)
    if r.sector_max is not None:
        q = _fix_sectors(q, r, cost_usd)
    q = _enforce_min_trade(q, r)
    q = _fix_turnover(q, r)
    q = _repair_cash(q, r, cost_usd)
    planned_cash_weight = 1.0 - float(np.maximum(target_weight, 0.0).sum())
    q = _keep_planned_cash(q, r, cost_usd, planned_cash_weight)
    if r.band_groups is not None and len(r.band_groups):
        q = _fix_bands(q, r, delta, cost_usd)
    q = _fix_tracking_error(q, r, cost_usd)
    planned_cash_usd = planned_cash_weight * nav_after_usd(q, r, cost_usd)
    q = _deploy_cash(q, r, target_shares, planned_cash_usd, cost_usd)
    # the repairs' buys cost money too, which lowers the NAV after trades: a buy that
    # ended at its cap is cut to it again (a lot less), lest the next run sell it
    return np.where(q > 0, _fix_positions(q, r, cost_usd), q)


def nav_after_usd(q: np.ndarray, r: RoundingRules, cost_usd) -> float:
    """NAV after the orders: NAV − their estimated costs (paid from cash). The next
    run's weights are of this NAV, so a position or cash that keeps its limit against
    the NAV before trades only can break it on the next run (a re-trade)."""
    return r.nav_usd - float(cost_usd(q * r.price).sum())


def _keep_planned_cash(q: np.ndarray, r: RoundingRules, cost_usd, cash_weight: float):
    """The optimizer's budget leaves the trading costs out, and rounding moves cash
    by up to a lot per name: trim buys (largest first, whole lots; one left under the
    minimum is dropped) until cash after trades and costs is the optimizer's cash
    weight of the NAV after trades, so the next run finds its cash target met rather
    than selling to restore it. Sales are not added for this (only the floor does)."""
    q = q.copy()
    for _ in range(4 * len(q) + 10):
        trade_usd = q * r.price
        cash_after = r.cash_before_usd - trade_usd.sum() - cost_usd(trade_usd).sum()
        deficit = cash_weight * nav_after_usd(q, r, cost_usd) - cash_after
        buys = np.flatnonzero(q > 0)
        if deficit <= EPS * r.nav_usd or not len(buys):
            return q
        cut = np.ceil(deficit / (r.lot * r.price) - EPS) * r.lot
        pool = _keeping(q, r, buys, -np.minimum(cut, q) * r.price)
        i = pool[np.argmax(trade_usd[pool])]
        q[i] = max(q[i] - cut[i], 0.0)
        if 0 < q[i] * r.price[i] < r.min_trade_usd:
            q[i] = 0.0
    return q


def _enforce_min_trade(q: np.ndarray, r: RoundingRules) -> np.ndarray:
    """Drop buys under the minimum; lift sells a fix-up left under it (or close them)."""
    closes = np.isclose(q, -r.shares_before) & (r.shares_before > 0)
    small = (q != 0) & (np.abs(q) * r.price < r.min_trade_usd) & ~closes
    if not small.any():
        return q
    q = np.where(small & (q > 0), 0.0, q)
    room = _room_to_sell(q, r)
    for i in np.flatnonzero(small & (q < 0)):
        lots_needed = np.ceil(r.min_trade_usd / (r.lot[i] * r.price[i]) - EPS) * r.lot[i]
        extra = lots_needed - abs(q[i])
        if extra <= room[i]:
            q[i] -= extra
        elif r.shares_before[i] * r.price[i] <= r.liquidity_cap_usd[i] and (
            r.sellable_shares is None or r.sellable_shares[i] >= r.shares_before[i] - EPS
        ):
            q[i] = -r.shares_before[i]
    return q


def _room_to_sell(q: np.ndarray, r: RoundingRules) -> np.ndarray:
    """Shares more that may be sold per name: held, allowed, within liquidity; in whole
    lots, unless they are all that is left (selling them closes the position). A
    fractional holding of which a tax rule blocks some lots is thus sold down to whole
    lots, not to its blocked fraction."""
    held = r.shares_before + q
    post = held
    if r.sellable_shares is not None:
        post = np.minimum(post, r.sellable_shares + np.minimum(q, 0.0))
    liq_left = np.maximum(r.liquidity_cap_usd - np.abs(np.minimum(q, 0.0)) * r.price, 0.0)
    room = np.minimum(post, np.floor(liq_left / (r.lot * r.price) + EPS) * r.lot)
    room = np.where(np.isclose(room, held), room, np.floor(room / r.lot + EPS) * r.lot)
    return np.where(r.may_sell & (q <= 0), np.maximum(room, 0.0), 0.0)


def _fix_positions(q: np.ndarray, r: RoundingRules, cost_usd) -> np.ndarray:
    """Sell (or buy less of) what rounding, or the costs, left above its cap: of the
    NAV after trades, which the next run measures against (``nav_after_usd``)."""
    post_value = (r.shares_before + q) * r.price
    excess = post_value - r.position_cap * nav_after_usd(q, r, cost_usd)
    over = excess > EPS * r.nav_usd
    if not over.any():
        return q
    need = np.ceil(np.where(over, excess, 0.0) / (r.lot * r.price) - EPS) * r.lot
    # a buy is cut (whole, if what is left is under the minimum); a sale is topped up
    bought = np.maximum(q, 0.0)
    cut = np.minimum(need, bought)
    left = bought - cut
    cut = np.where((left > 0) & (left * r.price < r.min_trade_usd), bought, cut)
    extra = np.where(q > 0, cut, np.minimum(need, _room_to_sell(q, r)))
    return q - np.where(over, extra, 0.0)


def _fix_sectors(q: np.ndarray, r: RoundingRules, cost_usd) -> np.ndarray:
    """Cut buys, then add to sales, where a sector is above its cap of the NAV after
    trades (``nav_after_usd``)."""
    q = q.copy()
    for code in np.unique(r.sector_codes):
        members = np.flatnonzero(r.sector_codes == code)
        for _ in range(len(members) * 4):
            cap_usd = r.sector_max * nav_after_usd(q, r, cost_usd)
            post_value = (r.shares_before[members] + q[members]) * r.price[members]
            excess = post_value.sum() - cap_usd
            if excess <= EPS * r.nav_usd:
                break
            # cut buys first (largest), then add to sells of the largest positions; of
            # the names whose change keeps the tilt bands and tracking error, if any
            lots = np.ceil(excess / (r.lot * r.price) - EPS) * r.lot
            buys = members[q[members] > 0]
            if len(buys):
                pool = _keeping(q, r, buys, -np.minimum(lots, q) * r.price)
                i = pool[np.argmax(q[pool] * r.price[pool])]
                q[i] = max(q[i] - lots[i], 0.0)
                continue
            room = _room_to_sell(q, r)
            sellers = members[room[members] > 0]
            if not len(sellers):
                break
            pool = _keeping(q, r, sellers, -np.minimum(lots, room) * r.price)
            i = pool[np.argmax((r.shares_before[pool] + q[pool]) * r.price[pool])]
            q[i] -= min(lots[i], room[i])
    return q


def _fix_bands(q: np.ndarray, r: RoundingRules, wanted: np.ndarray, cost_usd) -> np.ndarray:
    """Rounding every order toward zero can leave a tilted group just outside its band
    (each order keeps up to a lot less than the optimizer asked), and the trims for
    cash or a cap can take it further. Move whole lots, name by name, in the names the
    rounding shorted most, until every band holds: each move gives a name back what
    the rounding kept from it, at most what closes the gap (``_band_jump``), or one
    lot where that much would break a limit. A move is made only if it keeps every
    other limit: the other bands, position, sector, liquidity, turnover, the cash
    floor, the minimum trade and the tracking error. Under a tracking-error cap the
    move that raises it least per unit of exposure goes first, and where the cap
    blocks every move, one lot is paired with a trade outside the group that brings
    the tracking error back under it."""
    q = q.copy()
    groups = np.asarray(r.band_groups, float)
    for _ in range(4 * len(q) + 10):
        exposure = groups @ ((r.shares_before + q) * r.price) / r.nav_usd - r.band_reference
        below = r.band_lo - exposure
        above = exposure - r.band_hi
        worst = np.maximum(below, above)
        g = int(np.argmax(worst))
        if worst[g] <= EPS:
            return q
        step = 1.0 if below[g] > 0 else -1.0
        # a name's move is the jump of ``_band_jump`` where that keeps every limit (the
        # tracking error included), else one lot
        jump = _band_jump(q, r, step, wanted, worst[g] * r.nav_usd)
        jump_ok = _band_move_ok(q, jump, r, g, step, cost_usd)
        jump_ok &= _keeps_tracking_error(q, r, (jump - q) * r.price)
        new_q = np.where(jump_ok, jump, _lot_step(q, r, step))
        step_usd = (new_q - q) * r.price
        ok = _band_move_ok(q, new_q, r, g, step, cost_usd)
        # with a tracking-error cap: steps that keep it, the one raising it least per unit
        # of exposure first (the optimizer spread a group's weight to keep it low)
        capped = r.max_tracking_error is not None and r.risk is not None
        if capped:
            var, after = _tracking_variance(q, r, step_usd)
            te_cost = (after - var) / np.maximum(np.abs(step_usd) / r.nav_usd, EPS)
            ok_te = ok & ((after <= r.max_tracking_error**2) | (after <= var))
        else:
            ok_te = ok
        candidates = np.flatnonzero(ok_te)
        if not len(candidates):
            if not ok.any() or not capped:
                return q
            # only the tracking error stands in the way: take the step with trades the
            # other way outside the group (a few at most) that bring it back under the
            # cap, as the optimizer funded the group's buys (or placed its sales)
            trial = q.copy()
            i = np.flatnonzero(ok)[np.argmin(te_cost[ok])]
            trial[i] = new_q[i]
            for _ in range(MAX_OFFSETS):
                offset = _offset_step(trial, r, groups[g] == 0, -step, cost_usd)
                if offset is None:
                    break
                trial[offset[0]] = offset[1]
                if _active_variance(trial, r) <= max(r.max_tracking_error**2, var):
                    break
            if _active_variance(trial, r) > max(r.max_tracking_error**2, var):
                return q
            q = trial
            continue
        if capped:
            i = candidates[np.argmin(te_cost[candidates])]
        else:  # the name the rounding shorted most in this direction
            shorted = step * (wanted - q) / r.lot
            i = candidates[np.argmax(shorted[candidates])]
        q[i] = new_q[i]
    return q


def _band_move_ok(
    q: np.ndarray, new_q: np.ndarray, r: RoundingRules, g: int, step: float, cost_usd
) -> np.ndarray:
    """Per name: is moving its order from ``q`` to ``new_q`` a move ``_fix_bands`` may
    make for band ``g`` (in direction ``step``)? The name is of group g, every band that
    holds still holds, g is not carried past its other edge, and every per-order limit
    holds (``_step_keeps_limits``)."""
    groups = np.asarray(r.band_groups, float)
    exposure = groups @ ((r.shares_before + q) * r.price) / r.nav_usd - r.band_reference
    inside = np.maximum(r.band_lo - exposure, exposure - r.band_hi) <= EPS
    new_exp = exposure[:, None] + groups * ((new_q - q) * r.price / r.nav_usd)
    ok = np.all(
        ~inside[:, None] | ((new_exp >= r.band_lo[:, None] - EPS)
                            & (new_exp <= r.band_hi[:, None] + EPS)),
        axis=0,
    )  # fmt: skip
    if step > 0:
        ok &= new_exp[g] <= r.band_hi[g] + EPS
    else:
        ok &= new_exp[g] >= r.band_lo[g] - EPS
    return (groups[g] > 0) & ok & _step_keeps_limits(q, new_q, r, step, cost_usd)


def _band_jump(
    q: np.ndarray, r: RoundingRules, step: float, wanted: np.ndarray, gap_usd: float
) -> np.ndarray:
    """Per name, the order ``_fix_bands`` tries first in direction ``step``: k whole lots
    more that way, with c the fewest lots that close the band's gap of ``gap_usd`` alone
    and s the whole lots the rounding kept from the optimizer's order ``wanted`` that
    way: k = min(s, c) where s ≥ 1 (what the rounding shorted, so a gap is spread
    over the names it shorted), else c; a new order at least the fewest lots the
    minimum trade allows. One lot at a time, a large account with lots of one share
    could need thousands of moves to close a gap of a few basis points. An order off
    the lot grid (a fractional exit) moves one step (``_lot_step``)."""
    lot_usd = r.lot * r.price
    short = np.floor(step * (wanted - q) / r.lot + EPS)
    closes_gap = np.maximum(np.ceil(gap_usd / lot_usd - EPS), 1.0)
    k = np.where(short >= 1.0, np.minimum(short, closes_gap), closes_gap)
    fewest = np.ceil(r.min_trade_usd / lot_usd - EPS)
    k = np.where(q == 0, np.maximum(k, fewest), k)
    lots = q / r.lot
    on_grid = np.isclose(lots, np.round(lots))
    return np.where(on_grid, q + step * k * r.lot, _lot_step(q, r, step))


def _step_keeps_limits(
    q: np.ndarray, new_q: np.ndarray, r: RoundingRules, step: float, cost_usd
) -> np.ndarray:
    """Per name, whether moving its order from ``q`` to ``new_q`` (all in direction
    ``step``) keeps every per-order limit the rounding keeps: no short, allowed to buy
    or sell, liquidity, position, the minimum trade, lots free of tax blocks, turnover,
    and for a step up the sector cap and the cash floor (costs included)."""
    post = r.shares_before + new_q
    value = np.abs(new_q) * r.price
    step_usd = (new_q - q) * r.price
    ok = post >= -EPS
    # a step may shrink a sale the rounding may not buy, never carry it across zero
    # into a buy (or a buy into a sale): a jump of several lots can
    ok &= np.where(new_q > q, r.may_buy | (new_q <= 0), r.may_sell | (new_q >= 0))
    ok &= value <= r.liquidity_cap_usd * (1 + 1e-9)
    # caps of the NAV after trades, the step's own cost (< 1%) included
    nav_next = nav_after_usd(q, r, cost_usd) - 0.01 * np.abs(step_usd)
    ok &= post * r.price <= r.position_cap * nav_next * (1 + 1e-9) + EPS
    ok &= (value >= r.min_trade_usd) | (new_q == 0)
    if r.sellable_shares is not None:
        ok &= -np.minimum(new_q, 0.0) <= r.sellable_shares + EPS
    if r.position_floor is not None:
        ok &= (new_q >= q) | _keeps_floor(q, r, step_usd)
    traded = np.abs(q) * r.price
    if r.max_traded_usd is not None:
        ok &= traded.sum() - traded + value <= r.max_traded_usd + EPS
    if step > 0:
        if r.sector_max is not None:
            sector_usd = np.bincount(r.sector_codes, weights=(r.shares_before + q) * r.price)
            ok &= sector_usd[r.sector_codes] + step_usd <= r.sector_max * nav_next * (1 + 1e-9)
        trade_usd = q * r.price  # the cash a buy (or a smaller sale) needs, its cost < 1%
        cash_after = r.cash_before_usd - trade_usd.sum() - cost_usd(trade_usd).sum()
        ok &= cash_after - step_usd * 1.01 >= r.cash_floor_usd
    return ok


def _fix_tracking_error(q: np.ndarray, r: RoundingRules, cost_usd) -> np.ndarray:
    """Rounding every order toward no trade (and dropping those under the minimum)
    moves each name up to a step off the optimizer's answer, which in a small account
    can lift the tracking error well past the optimizer's margin under its cap. Take
    whole-lot steps, the one lowering it most first — a lot more or less of one name,
    or a new order of the fewest lots the minimum trade allows — within every limit
    the rounding keeps, until it is under its cap (or no step lowers it)."""
    if r.max_tracking_error is None or r.risk is None:
        return q
    q = q.copy()
    anywhere = np.ones(len(q), dtype=bool)
    for _ in range(4 * len(q) + 10):
        if _active_variance(q, r) <= r.max_tracking_error**2:
            return q
        best, best_var = None, np.inf
        for direction in (-1.0, 1.0):
            step = _offset_step(q, r, anywhere, direction, cost_usd)
            if step is None:
                continue
            trial = q.copy()
            trial[step[0]] = step[1]
            var = _active_variance(trial, r)
            if var < best_var:
                best, best_var = step, var
        if best is None:
            return q
        q[best[0]] = best[1]
    return q


def _lot_step(q: np.ndarray, r: RoundingRules, step: float) -> np.ndarray:
    """Per name, the next order from ``q`` in direction ``step`` (+1 up, −1 down) on
    the whole-lot grid: a lot more or less, or from an order off the grid — the full
    exit of a fractional holding — the nearest whole-lot order that way (the sale of
    the whole lots it holds), so a fix-up never leaves a fraction in an order."""
    lots = q / r.lot
    on_grid = np.isclose(lots, np.round(lots))
    nearest = np.floor(lots + EPS) + 1.0 if step > 0 else np.ceil(lots - EPS) - 1.0
    return np.where(on_grid, q + step * r.lot, nearest * r.lot)


def _offset_step(
    q: np.ndarray, r: RoundingRules, outside: np.ndarray, step: float, cost_usd
) -> tuple[int, float] | None:
    """(name, its new order): the trade, outside the group being repaired, in direction
    ``step`` (−1 sells, +1 buys) that lowers the tracking error most, within every
    limit the rounding keeps: one lot more, or for a name not traded yet, the fewest
    lots the minimum trade allows. None if no such trade lowers it."""
    fewest = np.maximum(np.ceil(r.min_trade_usd / (r.lot * r.price) - EPS), 1.0)
    new_q = np.where(q == 0, step * fewest * r.lot, _lot_step(q, r, step))
    step_usd = (new_q - q) * r.price
    ok = outside & _step_keeps_limits(q, new_q, r, step, cost_usd)
    if ok.any():
        ok &= _keeps_bands(q, r, step_usd)
    if not ok.any():
        return None
    var, after = _tracking_variance(q, r, step_usd)
    candidates = np.flatnonzero(ok & (after < var))
    if not len(candidates):
        return None
    j = int(candidates[np.argmin(after[candidates])])
    return j, float(new_q[j])


def _deploy_cash(
    q: np.ndarray, r: RoundingRules, target_shares: np.ndarray, planned_cash_usd: float, cost_usd
) -> np.ndarray:
    """Rounding every order toward no trade leaves cash the optimizer meant to invest:
    up to a lot per name, which in a small account (or with a large lot or price) is
    percents of NAV, and more where a sale rounded to a full exit funds buys that
    rounded away. Put that cash back to work one step at a time, where the rounding
    left a name furthest under its target: one lot more bought, or one lot less sold
    (an exit of a fractional holding undone). A step is taken only while cash stays
    above its floor and above the optimizer's own cash (so rounding never leaves less
    cash than the optimizer planned), only where the name was short by at least
    ``DEPLOY_MIN_SHORTFALL`` of the step (names the optimizer hardly wanted are not
    bought to fill a gap), and only if it keeps every limit the rounding keeps:
    position, sector, liquidity, turnover, the minimum trade, the tilt bands and the
    tracking error. In dollars, each step brings the portfolio nearer the optimizer's
    (cash by the whole step, the name by at least half of it)."""
    q = q.copy()
    bands = r.band_groups is not None and len(r.band_groups) > 0
    for _ in range(4 * len(q) + 10):
        # the next step up: a lot more bought, or the next whole-lot sale below this one
        lots_sold = np.ceil(-q / r.lot - EPS)
        new_q = np.where(q < 0, -np.maximum(lots_sold - 1.0, 0.0) * r.lot, q + r.lot)
        step_usd = (new_q - q) * r.price
        trade_usd = q * r.price
        cash_after = r.cash_before_usd - trade_usd.sum() - cost_usd(trade_usd).sum()
        spare = cash_after - max(r.cash_floor_usd, planned_cash_usd)
        post = r.shares_before + new_q
        short_usd = (target_shares - (r.shares_before + q)) * r.price
        ok = short_usd >= DEPLOY_MIN_SHORTFALL * step_usd
        ok &= np.where(new_q > 0, r.may_buy, True)
        ok &= step_usd * 1.01 <= spare  # the step and its cost (far below 1%)
        ok &= np.abs(new_q) * r.price <= r.liquidity_cap_usd * (1 + 1e-9)
        # caps of the NAV after trades, the step's own cost (< 1%) included
        nav_next = nav_after_usd(q, r, cost_usd) - 0.01 * step_usd
        ok &= post * r.price <= r.position_cap * nav_next * (1 + 1e-9)
        ok &= (np.abs(new_q) * r.price >= r.min_trade_usd) | (new_q == 0)
        if r.max_traded_usd is not None:
            ok &= np.abs(trade_usd).sum() + np.where(q < 0, 0.0, step_usd) <= r.max_traded_usd
        if r.sector_max is not None:
            sector_cap = r.sector_max * nav_next
            sector_usd = np.bincount(r.sector_codes, weights=(r.shares_before + q) * r.price)
            ok &= sector_usd[r.sector_codes] + step_usd <= sector_cap * (1 + 1e-9)
        if bands and ok.any():
            ok &= _keeps_bands(q, r, step_usd)
        if ok.any():
            ok &= _keeps_tracking_error(q, r, step_usd)
        candidates = np.flatnonzero(ok)
        if not len(candidates):
            return q
        # the largest gain in dollars: the shortfall, up to the step
        i = candidates[np.argmax(np.minimum(short_usd, step_usd)[candidates])]
        q[i] = new_q[i]
    return q


def _keeps_bands(q: np.ndarray, r: RoundingRules, step_usd: np.ndarray) -> np.ndarray:
    """Per name: would adding ``step_usd`` of it keep every tilt band that holds, and
    move none that does not further outside?"""
    if r.band_groups is None or not len(r.band_groups):
        return np.ones(len(q), dtype=bool)
    groups = np.asarray(r.band_groups, float)
    exposure = groups @ ((r.shares_before + q) * r.price) / r.nav_usd - r.band_reference
    new = exposure[:, None] + groups * (step_usd / r.nav_usd)
    lo, hi = r.band_lo[:, None], r.band_hi[:, None]
    miss = np.maximum(lo - exposure[:, None], exposure[:, None] - hi).clip(min=0.0)
    new_miss = np.maximum(lo - new, new - hi).clip(min=0.0)
    return np.all(new_miss <= miss + EPS, axis=0)


def _keeps_tracking_error(q: np.ndarray, r: RoundingRules, step_usd: np.ndarray) -> np.ndarray:
    """Per name: would adding ``step_usd`` of it keep the tracking error under its cap
    (or, where it is over already, not raise it)? One step changes the active weights
    by d in one name: TE² moves by 2·d·(Σa)ᵢ + d²·Σᵢᵢ."""
    if r.max_tracking_error is None or r.risk is None:
        return np.ones(len(q), dtype=bool)
    var, new = _tracking_variance(q, r, step_usd)
    return (new <= r.max_tracking_error**2) | (new <= var)


def _keeping(q: np.ndarray, r: RoundingRules, names: np.ndarray, step_usd: np.ndarray):
    """Of ``names`` (positions), those whose step of ``step_usd`` (per name) keeps every
    tilt band and the tracking error (``_keeps_bands``, ``_keeps_tracking_error``); all
    of ``names`` if none does. A fix-up that must buy less or sell more somewhere picks
    its name from these: any name restores the cash or the cap it repairs, but a name of
    a tilted group can push the group out of its band, where another name would not
    (a sector cap topped up by selling the group's only member, which the optimizer
    did not trade, leaves the group out by the whole sale)."""
    if not len(names):
        return names
    keeps = _keeps_bands(q, r, step_usd) & _keeps_tracking_error(q, r, step_usd)
    if r.position_floor is not None:
        keeps &= _keeps_floor(q, r, step_usd)
    return names[keeps[names]] if keeps[names].any() else names


def _keeps_floor(q: np.ndarray, r: RoundingRules, step_usd: np.ndarray) -> np.ndarray:
    """Per name: would adding ``step_usd`` of it keep the name at or above its floor
    (``position_floor``), or, where it is below already, not take it further down?"""
    value = (r.shares_before + q) * r.price
    floor = r.position_floor * r.nav_usd
    return (value + step_usd >= floor - EPS * r.nav_usd) | (step_usd >= 0)


def _active_variance(q: np.ndarray, r: RoundingRules) -> float:
    return r.risk.variance((r.shares_before + q) * r.price / r.nav_usd - r.te_reference)


def _tracking_variance(q: np.ndarray, r: RoundingRules, step_usd: np.ndarray):
    """The active variance now, and per name after adding ``step_usd`` of it."""
    active = (r.shares_before + q) * r.price / r.nav_usd - r.te_reference
    var = r.risk.variance(active)
    d = step_usd / r.nav_usd
    return var, var + 2.0 * d * r.risk.cov_times(active) + d * d * r.risk.total_vol() ** 2


def _fix_turnover(q: np.ndarray, r: RoundingRules) -> np.ndarray:
    """Sells that rounding made full exits, lifted to the minimum trade or topped up
    for a position or sector cap trade more than the optimizer planned, which can take
    buys + sells past twice the turnover cap. Trim buys in whole lots (dropping one
    left under the minimum) until the orders are back under it: first the buys whose
    trim keeps every tilt band and the tracking error, the largest first, then any
    buy. Sells are left alone: they fund the buys and keep the caps. If the sells
    alone trade more than the cap allows, the turnover check reports it."""
    if r.max_traded_usd is None:
        return q
    q = q.copy()
    for _ in range(4 * len(q) + 10):
        excess = float(np.abs(q * r.price).sum()) - r.max_traded_usd
        buys = np.flatnonzero(q > 0)
        if excess <= EPS or not len(buys):
            return q
        cut = np.minimum(np.ceil(excess / (r.lot * r.price) - EPS) * r.lot, np.maximum(q, 0.0))
        left = q - cut
        cut = np.where((left > 0) & (left * r.price < r.min_trade_usd), q, cut)
        pool = _keeping(q, r, buys, -cut * r.price)
        i = pool[np.argmax((q * r.price)[pool])]
        q[i] -= cut[i]
    return q


def _repair_cash(q: np.ndarray, r: RoundingRules, cost_usd) -> np.ndarray:
    """Trim buys (largest first) until cash after trades and costs is above the floor."""
    q = q.copy()
    for _ in range(4 * len(q) + 10):
        trade_usd = q * r.price
        cash_after = r.cash_before_usd - trade_usd.sum() - cost_usd(trade_usd).sum()
        deficit = r.cash_floor_usd - cash_after
        if deficit <= 0:
            return q
        buys = np.flatnonzero(q > 0)
        if len(buys):
            cut = np.ceil(deficit / (r.lot * r.price) - EPS) * r.lot
            pool = _keeping(q, r, buys, -np.minimum(cut, q) * r.price)
            i = pool[np.argmax(trade_usd[pool])]
            q[i] = max(q[i] - cut[i], 0.0)
            if 0 < q[i] * r.price[i] < r.min_trade_usd:
                q[i] = 0.0
            continue
        room = _room_to_sell(q, r)
        sellers = np.flatnonzero(room > 0)
        if not len(sellers):
            return q  # nothing left to sell: the cash check will report the shortfall
        add = np.ceil(max(deficit, r.min_trade_usd) / (r.lot * r.price) - EPS) * r.lot
        pool = _keeping(q, r, sellers, -np.minimum(add, room) * r.price)
        i = pool[np.argmax((r.shares_before[pool] + q[pool]) * r.price[pool])]
        q[i] -= min(add[i], room[i])
    return q


def allocate_lots(
    lots: pd.DataFrame,
    sells: pd.Series,
    price: pd.Series,
    as_of: pd.Timestamp,
    priority: pd.Series | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Take each sale from its lots: highest cost per share first (HIFO) by default,
    or in ascending ``priority`` (a value per ``lot_id``: the acquisition date for
    FIFO, tax per dollar sold for the tax-optimal order). Lots in ``exclude`` (wash
    sale or short-term blocks) are never sold from.

    ``lots``: holdings rows (account, ticker, quantity, cost_basis, acquired, lot_id);
    ``sells``: shares sold per ticker (positive). Returns one row per lot touched:
    account, ticker, lot_id, acquired, quantity_sold, cost_basis_sold_usd,
    proceeds_usd, realized_gain_usd, term (ST/LT, "" when the date is unknown).
    """
    wanted = sells[sells > 0]
    held = lots[lots["ticker"].isin(wanted.index) & ~lots["lot_id"].isin(exclude)]
    ticker = held["ticker"].to_numpy()
    quantity = held["quantity"].to_numpy(float)
    per_share = held["cost_basis"].to_numpy(float) / quantity
    acquired = pd.to_datetime(held["acquired"])
    # the sale order, in numpy (a book sorts thousands of accounts' lots): by ticker,
    # then highest cost per share (or the lowest ``priority``), then oldest; a missing
    # key sorts last, ties keep the file's order
    first_key = -per_share if priority is None else _sort_key(held["lot_id"].map(priority))
    dates = acquired.to_numpy("datetime64[ns]")
    codes = pd.factorize(ticker, sort=True)[0]
    order = np.lexsort(
        (
            np.where(np.isnat(dates), 0, dates.view("int64")),
            np.isnat(dates),
            np.where(np.isnan(first_key), 0.0, first_key),
            np.isnan(first_key),
            codes,
        )
    )
    ticker, quantity, per_share, codes = (
        ticker[order],
        quantity[order],
        per_share[order],
        codes[order],
    )
    held, acquired = held.iloc[order], acquired.iloc[order]
    # each lot gives what is left of its ticker's sale after the lots before it
    total = np.cumsum(quantity)
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1] if len(codes) else np.zeros(0, int)
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    before = total - quantity - (total[group_start] - quantity[group_start])
    want = wanted.reindex(ticker).to_numpy(float)
    take = np.clip(want - before, 0.0, quantity)
    given = pd.Series(take).groupby(ticker).sum() if len(take) else pd.Series(dtype=float)
    short = wanted - given.reindex(wanted.index, fill_value=0.0)
    if (short > 1e-6).any():
        bad = short.idxmax()
        raise AssertionError(f"sale of {wanted[bad]} {bad} exceeds its lots by {short[bad]}")
    sold = take > EPS
    held, acquired, take = held[sold], acquired[sold], take[sold]
    proceeds = take * price.reindex(ticker[sold]).to_numpy(float)
    basis = take * per_share[sold]
    long_term = np.asarray(is_long_term(acquired, as_of))
    term = np.where(acquired.isna(), "", np.where(long_term, "LT", "ST"))
    columns = [
        "account",
        "ticker",
        "lot_id",
        "acquired",
        "quantity_sold",
        "cost_basis_sold_usd",
        "proceeds_usd",
        "realized_gain_usd",
        "term",
    ]
    out = pd.DataFrame(
        {
            "account": held["account"].to_numpy(),
            "ticker": held["ticker"].to_numpy(),
            "lot_id": held["lot_id"].to_numpy(),
            "acquired": acquired.to_numpy(),
            "quantity_sold": take,
            "cost_basis_sold_usd": basis,
            "proceeds_usd": proceeds,
            "realized_gain_usd": proceeds - basis,
            "term": term,
        },
        columns=columns,
    )
    return out


def _sort_key(values: pd.Series) -> np.ndarray:
    """A lot-priority column as floats to sort on (dates as nanoseconds), NaN where
    missing."""
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = pd.to_datetime(values).to_numpy("datetime64[ns]")
        return np.where(np.isnat(dates), np.nan, dates.view("int64").astype(float))
    return pd.to_numeric(values, errors="coerce").to_numpy(float)
