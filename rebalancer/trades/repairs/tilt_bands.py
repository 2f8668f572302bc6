"""Tilt bands: each tilted group's active exposure, ``band_groups`` (m × n, 0/1) times
the weights less ``band_reference``, within [``band_lo``, ``band_hi``]."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Repair, Rounding, lot_step
from rebalancer.trades.repairs.tracking_error import (
    active_variance,
    keeps_tracking_error,
    offset_step,
    tracking_variance,
)

MAX_OFFSETS = 3  # trades outside a tilted group that may pay for one lot inside it


def _exposure(q: np.ndarray, c: Rounding, groups: np.ndarray) -> np.ndarray:
    r = c.rules
    return groups @ ((r.shares_before + q) * r.price) / r.nav_usd - r.band_reference


class TiltBands(Repair):
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
    the tracking error back under it (``offset_step``). Other repairs spare the bands:
    a step that keeps every band that holds and moves none that does not further
    outside."""

    def applies(self, r) -> bool:
        return r.band_groups is not None and len(r.band_groups) > 0

    def fix(self, q, c):
        r = c.rules
        wanted = c.wanted
        q = q.copy()
        groups = np.asarray(r.band_groups, float)
        for _ in range(4 * len(q) + 10):
            exposure = _exposure(q, c, groups)
            below = r.band_lo - exposure
            above = exposure - r.band_hi
            worst = np.maximum(below, above)
            g = int(np.argmax(worst))
            if worst[g] <= EPS:
                return q
            step = 1.0 if below[g] > 0 else -1.0
            # a name's move is the jump of ``_band_jump`` where that keeps every limit
            # (the tracking error included), else one lot
            jump = _band_jump(q, c, step, wanted, worst[g] * r.nav_usd)
            jump_ok = _band_move_ok(q, jump, c, g, step)
            capped = r.max_tracking_error is not None and r.risk is not None
            if capped:
                jump_ok &= keeps_tracking_error(q, c, (jump - q) * r.price)
            new_q = np.where(jump_ok, jump, lot_step(q, r, step))
            step_usd = (new_q - q) * r.price
            ok = _band_move_ok(q, new_q, c, g, step)
            # with a tracking-error cap: steps that keep it, the one raising it least per
            # unit of exposure first (the optimizer spread a group's weight to keep it low)
            if capped:
                var, after = tracking_variance(q, c, step_usd)
                te_cost = (after - var) / np.maximum(np.abs(step_usd) / r.nav_usd, EPS)
                ok_te = ok & ((after <= r.max_tracking_error**2) | (after <= var))
            else:
                ok_te = ok
            candidates = np.flatnonzero(ok_te)
            if not len(candidates):
                if not ok.any() or not capped:
                    return q
                # only the tracking error stands in the way: take the step with trades
                # the other way outside the group (a few at most) that bring it back under
                # the cap, as the optimizer funded the group's buys (or placed its sales)
                trial = q.copy()
                i = np.flatnonzero(ok)[np.argmin(te_cost[ok])]
                trial[i] = new_q[i]
                for _ in range(MAX_OFFSETS):
                    offset = offset_step(trial, c, groups[g] == 0, -step)
                    if offset is None:
                        break
                    trial[offset[0]] = offset[1]
                    if active_variance(trial, c) <= max(r.max_tracking_error**2, var):
                        break
                if active_variance(trial, c) > max(r.max_tracking_error**2, var):
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

    def spares(self, q, step_usd, c):
        r = c.rules
        groups = np.asarray(r.band_groups, float)
        exposure = _exposure(q, c, groups)
        new = exposure[:, None] + groups * (step_usd / r.nav_usd)
        lo, hi = r.band_lo[:, None], r.band_hi[:, None]
        miss = np.maximum(lo - exposure[:, None], exposure[:, None] - hi).clip(min=0.0)
        new_miss = np.maximum(lo - new, new - hi).clip(min=0.0)
        return np.all(new_miss <= miss + EPS, axis=0)


def _band_move_ok(q: np.ndarray, new_q: np.ndarray, c: Rounding, g: int, step: float) -> np.ndarray:
    """Per name: is moving its order from ``q`` to ``new_q`` a move ``TiltBands.fix``
    may make for band ``g`` (in direction ``step``)? The name is of group g, every band
    that holds still holds, g is not carried past its other edge, and every limit the
    rounding keeps holds (``Rounding.keeps_step``)."""
    r = c.rules
    groups = np.asarray(r.band_groups, float)
    exposure = _exposure(q, c, groups)
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
    return (groups[g] > 0) & ok & c.keeps_step(q, new_q, step)


def _band_jump(
    q: np.ndarray, c: Rounding, step: float, wanted: np.ndarray, gap_usd: float
) -> np.ndarray:
    """Per name, the order ``TiltBands.fix`` tries first in direction ``step``: k whole
    lots more that way, with c the fewest lots that close the band's gap of ``gap_usd``
    alone and s the whole lots the rounding kept from the optimizer's order ``wanted``
    that way: k = min(s, c) where s ≥ 1 (what the rounding shorted, so a gap is spread
    over the names it shorted), else c; a new order at least the fewest lots the
    minimum trade allows. One lot at a time, a large account with lots of one share
    could need thousands of moves to close a gap of a few basis points. An order off
    the lot grid (a fractional exit) moves one step (``lot_step``)."""
    r = c.rules
    lot_usd = r.lot * r.price
    short = np.floor(step * (wanted - q) / r.lot + EPS)
    closes_gap = np.maximum(np.ceil(gap_usd / lot_usd - EPS), 1.0)
    k = np.where(short >= 1.0, np.minimum(short, closes_gap), closes_gap)
    fewest = np.ceil(r.min_trade_usd / lot_usd - EPS)
    k = np.where(q == 0, np.maximum(k, fewest), k)
    lots = q / r.lot
    on_grid = np.isclose(lots, np.round(lots))
    return np.where(on_grid, q + step * k * r.lot, lot_step(q, r, step))
