"""``constraints.cash``: the cash the optimizer aims at (``target``, within a narrow
band: ``optimize.constraints.CashTarget``) and the floor the final trades keep
(``min``, costs included: the rounding trims buys and adds sales until it holds, and a
break left after that is infeasible). A conflict of the target is relaxed by moving
it to what the closest feasible portfolio holds; where whole-lot sales cannot raise
that much, the floor is in conflict too and moves to what they can raise.

The target band is soft: where the proposal reaches it over a path
(``rebalancer.solve.path``: the step toward the destination cannot reach it this run
without substitutes) a Checks row ``TARGET_CHECK`` says so, failing only where the cash
ends farther from the band than before the trades by more than whole lots explain
(``whole_lots``). The floor never is."""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.limits.base import EXTRA, AdvisorLimit, over_path_row, usd_tol
from rebalancer.limits.cash_request import WITHDRAWAL

TARGET_KEY = "constraints.cash.target"
FLOOR_KEY = "constraints.cash.min"
TOLERANCE = 0.0005  # the optimizer's band around the target, at most
# the Checks row of the target band where it is reached over a path (and its name in
# the path block)
TARGET_CHECK = "cash target"


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
        if TARGET_CHECK not in final.over_path:
            return
        c, half = final.scenario.constraints.cash, self.tolerance(final.scenario)
        lo, hi = c.target - half, c.target + half
        after = final.cash_after / final.nav
        before = (final.cash_after + final.buys - final.sells) / final.nav
        ok, detail = over_path_row(after, before, lo, hi, whole_lots(final))
        add(TARGET_CHECK, f"[{lo:.4f}, {hi:.4f}]", after, ok, detail)

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


def whole_lots(final) -> float:
    """How far whole lots may take the cash from the step reached over a path, as a
    share of NAV: one order (a round lot or the minimum trade, whichever is larger) for
    each name traded, and the orders' estimated costs.

    Why: the step keeps the cash band no farther outside than today (``rebalancer.solve.
    step.bands_over_path``), but the rounding does not keep the target band as it keeps
    the tilt bands: it rounds each order toward no trade, tops a sale up to a position
    cap by a lot, and trims buys until the cash net of costs is at least the step's
    (``rebalancer.trades.repairs.cash``); each name then ends within one order of the
    step, so the cash within one order a name (and the costs) of the step's. In a
    small account one lot can be percents of NAV, which no run's whole lots can undo:
    the row is no failure then, as the target band of a run that is not a step has no
    row at all (the property tests allow a tilt band the same)."""
    trades = final.trades
    if not len(trades):
        return 0.0
    c = final.scenario.constraints
    price = final.universe["price"].reindex(trades["ticker"]).to_numpy(float)
    lot = (
        final.universe["lot_size"].reindex(trades["ticker"]).to_numpy(float)
        if c.round_lots
        else np.ones(len(trades))
    )
    order = np.maximum(np.nan_to_num(lot, nan=1.0) * price, c.min_trade_usd)
    costs = float(trades["est_cost"].sum()) if "est_cost" in trades else 0.0
    return float(order.sum() + costs) / final.nav


CASH = Cash()
