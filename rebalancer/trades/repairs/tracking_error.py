"""The tracking error after the orders: at most ``max_tracking_error`` against the
reference ``te_reference``, under the risk model ``risk``. With active weights a,
TE² = aᵀΣa; one name's order moved by d of the NAV moves it by 2·d·(Σa)ᵢ + d²·Σᵢᵢ."""

from __future__ import annotations

import numpy as np

from rebalancer.trades.repairs.base import EPS, Repair, Rounding, lot_step


def active_variance(q: np.ndarray, c: Rounding) -> float:
    r = c.rules
    return r.risk.variance((r.shares_before + q) * r.price / r.nav_usd - r.te_reference)


def tracking_variance(q: np.ndarray, c: Rounding, step_usd: np.ndarray):
    """The active variance now, and per name after adding ``step_usd`` of it."""
    r = c.rules
    active = (r.shares_before + q) * r.price / r.nav_usd - r.te_reference
    var = r.risk.variance(active)
    d = step_usd / r.nav_usd
    return var, var + 2.0 * d * r.risk.cov_times(active) + d * d * r.risk.total_vol() ** 2


def keeps_tracking_error(q: np.ndarray, c: Rounding, step_usd: np.ndarray) -> np.ndarray:
    """Per name: would adding ``step_usd`` of it keep the tracking error under its cap
    (or, where it is over already, not raise it)?"""
    var, new = tracking_variance(q, c, step_usd)
    return (new <= c.rules.max_tracking_error**2) | (new <= var)


def offset_step(
    q: np.ndarray, c: Rounding, outside: np.ndarray, step: float
) -> tuple[int, float] | None:
    """(name, its new order): the trade in one of the names ``outside`` marks (those
    outside the group being repaired, or every name), in direction ``step`` (−1
    sells, +1 buys), that lowers the tracking error most, within every limit the
    rounding keeps (``Rounding.keeps_step``) and sparing every limit
    (``Rounding.spares``: the tilt bands; the tracking error's own test there passes
    for any step that lowers it, and a floor's for any step ``keeps_step`` allows):
    one lot more, or for a name not traded yet, the fewest lots the minimum trade
    allows. None if no such trade lowers it."""
    r = c.rules
    fewest = np.maximum(np.ceil(r.min_trade_usd / (r.lot * r.price) - EPS), 1.0)
    new_q = np.where(q == 0, step * fewest * r.lot, lot_step(q, r, step))
    step_usd = (new_q - q) * r.price
    ok = outside & c.keeps_step(q, new_q, step)
    if ok.any():
        ok &= c.spares(q, step_usd)
    if not ok.any():
        return None
    var, after = tracking_variance(q, c, step_usd)
    candidates = np.flatnonzero(ok & (after < var))
    if not len(candidates):
        return None
    j = int(candidates[np.argmin(after[candidates])])
    return j, float(new_q[j])


class TrackingError(Repair):
    """Rounding every order toward no trade (and dropping those under the minimum)
    moves each name up to a step off the optimizer's answer, which in a small account
    can lift the tracking error well past the optimizer's margin under its cap. Take
    whole-lot steps, the one lowering it most first — a lot more or less of one name,
    or a new order of the fewest lots the minimum trade allows (``offset_step``) —
    within every limit the rounding keeps, until it is under its cap (or no step
    lowers it). Other repairs spare it: a step that keeps it under its cap, or, where
    it is over already, does not raise it."""

    def applies(self, r) -> bool:
        return r.max_tracking_error is not None and r.risk is not None

    def fix(self, q, c):
        r = c.rules
        q = q.copy()
        anywhere = np.ones(len(q), dtype=bool)
        for _ in range(4 * len(q) + 10):
            if active_variance(q, c) <= r.max_tracking_error**2:
                return q
            best, best_var = None, np.inf
            for direction in (-1.0, 1.0):
                step = offset_step(q, c, anywhere, direction)
                if step is None:
                    continue
                trial = q.copy()
                trial[step[0]] = step[1]
                var = active_variance(trial, c)
                if var < best_var:
                    best, best_var = step, var
            if best is None:
                return q
            q[best[0]] = best[1]
        return q

    def spares(self, q, step_usd, c):
        return keeps_tracking_error(q, c, step_usd)
