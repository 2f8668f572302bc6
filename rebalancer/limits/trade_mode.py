"""``constraints.trade_mode``: which side of the book an account may trade.

- ``rebalance`` (unset): buys and sales, as the scenario asks;
- ``raise-cash``: sales only, toward the scenario (the optimizer picks the sales that
  harm the tilts, the risk and the taxes least) until the cash reaches its target;
- ``invest-cash``: buys only, the cash above the target put to work toward the
  scenario;
- ``cash-only``: ``raise-cash`` where the cash is below its target, else
  ``invest-cash`` (``propose --mode``, or the accounts file's ``mode`` column).

The mode closes a side per name: no buys is a buy cap of 0 for every name, no sales a
sell cap of 0 (``sides``; ``prepare`` narrows what each name may do, which the
optimizer's bounds and the rounding both read). A mode of one side cannot move the
cash the other way: its target is held where the cash already is on that side
(``for_mode``); nor need it reach a tilt band only the other side could reach: the
bands the optimizer works to take in each group's exposure today
(``one_sided_bands``), the tilts still pull toward their targets.

Turnover, Σ|trade| / (2 NAV), is capped by ``constraints.max_turnover`` in
``rebalance`` only, less a deposit's buys: cap + deposit / (2 NAV) on the NAV with
the deposit. In the other modes the cash request sizes the trades and no turnover
cap applies.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.errors import InputError
from rebalancer.inputs.readers import TRADE_MODES as MODES
from rebalancer.limits.base import AdvisorLimit

KEY = "constraints.trade_mode"


def mode_of(text: str | None, where: str) -> str | None:
    """A mode as an option or a cell gives it (None: not given); an unknown one raises
    ``InputError`` naming ``where``."""
    if text is None or text == "":
        return None
    if text not in MODES:
        raise InputError(where, f"unknown mode {text!r}: expected one of {', '.join(MODES)}")
    return text


def for_mode(scenario, cash_before: float, nav: float):
    """``scenario`` as the account's mode trades it (module docstring): ``cash-only``
    resolved to the side its cash calls for, the turnover cap lifted outside
    ``rebalance`` (raised by the deposit's buys inside it), and a one-sided mode's
    cash target held where the cash is when that side cannot reach it. The scenario
    as it is without a mode or a deposit."""
    c = scenario.constraints
    mode, cash = c.trade_mode, c.cash
    if mode in (None, "rebalance"):
        if not cash.deposit_usd or c.max_turnover is None:
            return scenario
        cap = min(c.max_turnover + cash.deposit_usd / (2 * nav), 1.0)
        return dataclasses.replace(scenario, constraints=dataclasses.replace(c, max_turnover=cap))
    held = cash_before / nav
    if mode == "cash-only":
        mode = "raise-cash" if held < cash.target else "invest-cash"
    if mode == "raise-cash" and held > cash.target:  # no buys: the cash stays
        cash = dataclasses.replace(cash, target=held)
    if mode == "invest-cash" and held < cash.target:  # no sales: nothing to invest
        cash = dataclasses.replace(cash, target=max(held, cash.min))
    c = dataclasses.replace(c, trade_mode=mode, max_turnover=None, cash=cash)
    return dataclasses.replace(scenario, constraints=c)


def sides(scenario) -> tuple[bool, bool]:
    """(may buy, may sell) under the scenario's mode, resolved by ``for_mode``."""
    mode = scenario.constraints.trade_mode
    return mode != "raise-cash", mode != "invest-cash"


def one_sided_bands(scenario, exposure, lo, hi):
    """The tilt bands the optimizer works to (``lo``, ``hi``) under a mode of one side:
    widened to the group's ``exposure`` today where it is outside them, so that a
    band the closed side would have to trade toward does not make the request
    infeasible; the tilts still pull toward their targets, and the Checks flag the
    bands the orders leave unmet. The bands as they are in ``rebalance``."""
    if all(sides(scenario)):
        return lo, hi
    return np.minimum(lo, exposure), np.maximum(hi, exposure)


class TradeMode(AdvisorLimit):
    name = "trade_mode"
    key = KEY
    check = "trade mode"
    hard = True

    def measure(self, final, add) -> None:
        mode = final.scenario.constraints.trade_mode
        if mode in (None, "rebalance"):
            return
        side = "BUY" if mode == "raise-cash" else "SELL"
        wrong = final.trades["side"].to_numpy() == side
        count = int(wrong.sum())
        add(self.check, 0, count, count == 0, f"{mode}: {count} {side.lower()} order(s)")

    def hard_conflict(self, request, row, w_after, how):
        mode = request.scenario.constraints.trade_mode
        return self.conflict(f"trade mode {mode}", 0.0, float(row.value), f"orders of {how}")


TRADE_MODE = TradeMode()
