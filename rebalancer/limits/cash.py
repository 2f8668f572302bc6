"""``constraints.cash``: the cash the optimizer aims at (``target``, within a narrow
band: ``optimize.constraints.CashTarget``) and the floor the final trades keep
(``min``, costs included: the rounding trims buys and adds sales until it holds, and a
break left after that is infeasible). A conflict of the target is relaxed by moving
it to what the closest feasible portfolio holds; where whole-lot sales cannot raise
that much, the floor is in conflict too and moves to what they can raise."""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.limits.base import EXTRA, AdvisorLimit, usd_tol
from rebalancer.limits.cash_request import WITHDRAWAL

TARGET_KEY = "constraints.cash.target"
FLOOR_KEY = "constraints.cash.min"
TOLERANCE = 0.0005  # the optimizer's band around the target, at most


class Cash(AdvisorLimit):
    name = "cash"
    key = FLOOR_KEY
    check = "cash floor (USD)"
    hard = True
    sources = ("cash_target",)

    @staticmethod
    def tolerance(scenario) -> float:
        """Half the band the optimizer keeps cash in around the target."""
        c = scenario.constraints.cash
        return min(TOLERANCE, (c.target - c.min) / 2)

    def measure(self, final, add) -> None:
        floor = final.scenario.constraints.cash.min * final.nav
        add(
            self.check,
            floor,
            final.cash_after,
            final.cash_after >= floor - usd_tol(final.money),
            f"{final.cash_after / final.nav:.4%} of NAV after trades",
        )

    def hard_conflict(self, request, row, w_after, how):
        # as the scenario states it: a weight
        floor = request.scenario.constraints.cash.min
        return self.conflict("cash floor", floor, float(row.value) / request.position.nav_usd, how)

    def in_scenario_terms(self, request, conflict):
        """The target's conflict, and the floor's where whole-lot sales raise less
        than the target needs (up to a lot per sale). With a withdrawal, the weights
        are those of what stays (``cash_request``), and a floor that cannot be kept is
        the withdrawal's conflict (never relaxed)."""
        x = dataclasses.replace(conflict, key=TARGET_KEY, source=self.name)
        c = request.scenario.constraints
        floor = x.needed
        if x.needed < x.limit:
            held = request.limits.may_sell & (request.position.shares > 0)
            value = request.position.shares * request.position.price_usd
            cushion = (
                float(np.minimum(request.lot_usd, value)[held].sum()) / request.position.nav_usd
            )
            floor = max(x.needed - EXTRA - cushion, 0.0)
        if c.cash.withdraw_usd and c.cash.min > floor:
            # the target is moot where the floor cannot be kept: the withdrawal's
            # conflict (never relaxed; the weights are of what stays, ``cash_request``)
            how = "the scenario's other limits"
            return [WITHDRAWAL.short(request, x.needed * request.position.nav_usd, how)]
        out = [x]
        if c.cash.min > floor:
            out.append(
                self.conflict("cash floor", c.cash.min, floor, "what whole-lot sales can raise")
            )
        return out

    def relax(self, scenario, x, universe, want, blocked) -> None:
        c = scenario.constraints.cash
        if x.key == TARGET_KEY:
            moved = x.needed - EXTRA if x.needed < x.limit else x.needed + EXTRA
            want(x, x.key, c.target, float(np.clip(moved, 0.0, 1.0)))
        else:
            want(x, x.key, c.min, max(min(x.needed, c.min), 0.0))

    def apply(self, data, key, value) -> None:
        cash = data["constraints"]["cash"]
        if key == TARGET_KEY:
            cash["target"] = value
            cash["min"] = min(cash["min"], value)
        else:
            cash["min"] = min(value, cash["target"])

    @staticmethod
    def applied_last(key: str) -> bool:
        """The floor is applied after the target: moving the target may have pulled it
        down already."""
        return key == FLOOR_KEY

    def rounding(self, request) -> dict:
        c = request.scenario.constraints
        return {
            "cash_floor_usd": c.cash.min * request.position.nav_usd,
            # a deposit (or invest-cash) is invested to the cash target: idle cash may
            # open the buys the minimum trade dropped (``trades.repairs.cash.IdleCash``)
            "invest_cash": bool(c.cash.deposit_usd) or c.trade_mode == "invest-cash",
        }


CASH = Cash()
