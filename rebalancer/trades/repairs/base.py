"""What a limit asks of the rounding to whole lots: the protocol of
``rebalancer.trades.repairs``, and the moves every repair shares.

Each advisor limit gives the rounding its numbers (``AdvisorLimit.rounding``, gathered
into ``RoundingRules``); its ``Repair`` here says what the rounding does with them:

- ``applies(rules)``: whether the rules set the limit at all (a repair that does not
  apply neither fixes nor constrains anything);
- ``fix(q, c)``: the orders ``q`` (signed shares) with what whole lots broke of the
  limit repaired, in whole lots; ``round_orders`` runs the fixes one after another, in
  the order of ``REPAIRS``;
- ``keeps_step(move, c)``: per name, whether moving its order from ``move.q`` to
  ``move.new_q`` keeps the limit (a limit every order must keep: liquidity, position,
  turnover...). A repair that moves lots to mend one limit moves only where every
  other limit's ``keeps_step`` holds (``Rounding.keeps_step``);
- ``spares(q, step_usd, c)``: per name, whether adding ``step_usd`` of it keeps the
  limit, or, where it is broken already, takes it no further (a limit a trim for cash
  or a cap should spare where another name will do: tilt bands, tracking error, the
  floors). A repair that must buy less or sell more somewhere picks its name from
  those every limit's ``spares`` allows, any name if none does (``Rounding.keeping``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rebalancer.trades.rules import RoundingRules

EPS = 1e-9


def nav_after_usd(q: np.ndarray, r: RoundingRules, cost_usd) -> float:
    """NAV after the orders: NAV − their estimated costs (paid from cash). The next
    run's weights are of this NAV, so a position or cash that keeps its limit against
    the NAV before trades only can break it on the next run (a re-trade)."""
    return r.nav_usd - float(cost_usd(q * r.price).sum())


@dataclass(frozen=True)
class Move:
    """Per name, its order moved from ``q`` to ``new_q``, all in direction ``step``
    (+1 up: more bought or less sold, −1 down), and what the limits measure of it."""

    q: np.ndarray
    new_q: np.ndarray
    step: float
    step_usd: np.ndarray  # (new_q − q) × price
    post: np.ndarray  # shares held after the move
    value: np.ndarray  # |new_q| × price: the new order's notional
    # NAV after trades, the step's own cost (< 1%) included: caps are of this NAV
    nav_next: np.ndarray


class Repair:
    """One limit's part in the rounding (module docstring); the defaults do nothing."""

    def applies(self, r: RoundingRules) -> bool:
        return True

    def fix(self, q: np.ndarray, c: Rounding) -> np.ndarray:
        return q

    def keeps_step(self, m: Move, c: Rounding) -> np.ndarray | None:
        """None: every move keeps it."""
        return None

    def spares(self, q: np.ndarray, step_usd: np.ndarray, c: Rounding) -> np.ndarray | None:
        """None: every step spares it."""
        return None


@dataclass(frozen=True)
class Rounding:
    """One rounding under way: its rules and cost model, the optimizer's answer, and
    the repairs that apply to these rules (in the order they run)."""

    rules: RoundingRules
    cost_usd: Callable[[np.ndarray], np.ndarray]
    target_shares: np.ndarray  # the optimizer's answer in shares
    wanted: np.ndarray  # its orders: target_shares − shares held
    planned_cash_weight: float  # 1 − its invested weight
    repairs: tuple[Repair, ...]
    _keep: tuple[Repair, ...] = field(init=False, repr=False)
    _spare: tuple[Repair, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        def overrides(repair: Repair, name: str) -> bool:
            return getattr(type(repair), name) is not getattr(Repair, name)

        keep = tuple(x for x in self.repairs if overrides(x, "keeps_step"))
        spare = tuple(x for x in self.repairs if overrides(x, "spares"))
        object.__setattr__(self, "_keep", keep)
        object.__setattr__(self, "_spare", spare)

    def nav_after(self, q: np.ndarray) -> float:
        return nav_after_usd(q, self.rules, self.cost_usd)

    def keeps_step(self, q: np.ndarray, new_q: np.ndarray, step: float) -> np.ndarray:
        """Per name, whether moving its order from ``q`` to ``new_q`` (all in direction
        ``step``) keeps what every order keeps — no short, a buy only where the name may
        be bought, a sale only where it may be sold — and every limit's ``keeps_step``."""
        r = self.rules
        step_usd = (new_q - q) * r.price
        m = Move(
            q=q,
            new_q=new_q,
            step=step,
            step_usd=step_usd,
            post=r.shares_before + new_q,
            value=np.abs(new_q) * r.price,
            nav_next=self.nav_after(q) - 0.01 * np.abs(step_usd),
        )
        ok = m.post >= -EPS
        # a step may shrink a sale the rounding may not buy, never carry it across zero
        # into a buy (or a buy into a sale): a jump of several lots can
        ok &= np.where(new_q > q, r.may_buy | (new_q <= 0), r.may_sell | (new_q >= 0))
        for repair in self._keep:
            ok &= repair.keeps_step(m, self)
        return ok

    def spares(self, q: np.ndarray, step_usd: np.ndarray) -> np.ndarray:
        """Per name: does adding ``step_usd`` of it spare every limit (``Repair.spares``)?"""
        ok = np.ones(len(q), dtype=bool)
        for repair in self._spare:
            ok &= repair.spares(q, step_usd, self)
        return ok

    def keeping(self, q: np.ndarray, names: np.ndarray, step_usd: np.ndarray) -> np.ndarray:
        """Of ``names`` (positions), those whose step of ``step_usd`` (per name) spares
        every limit (``spares``: the tilt bands, the tracking error, the floors); all of
        ``names`` if none does. A fix-up that must buy less or sell more somewhere picks
        its name from these: any name restores the cash or the cap it repairs, but a
        name of a tilted group can push the group out of its band, where another name
        would not (a sector cap topped up by selling the group's only member, which the
        optimizer did not trade, leaves the group out by the whole sale)."""
        if not len(names):
            return names
        keeps = self.spares(q, step_usd)
        return names[keeps[names]] if keeps[names].any() else names


def room_to_sell(q: np.ndarray, r: RoundingRules) -> np.ndarray:
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


def lot_step(q: np.ndarray, r: RoundingRules, step: float) -> np.ndarray:
    """Per name, the next order from ``q`` in direction ``step`` (+1 up, −1 down) on
    the whole-lot grid: a lot more or less, or from an order off the grid — the full
    exit of a fractional holding — the nearest whole-lot order that way (the sale of
    the whole lots it holds), so a fix-up never leaves a fraction in an order."""
    lots = q / r.lot
    on_grid = np.isclose(lots, np.round(lots))
    nearest = np.floor(lots + EPS) + 1.0 if step > 0 else np.ceil(lots - EPS) - 1.0
    return np.where(on_grid, q + step * r.lot, nearest * r.lot)
