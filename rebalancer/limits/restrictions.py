"""The universe's restrictions (``restricted``: no_buy, no_sell, no_trade, sell), the
scenario's ``constraints.no_buy`` groups and its ``screens``: names that may not be
bought, or sold, or must be sold. Hard in the optimizer (never relaxed:
``optimize.constraints.Restrictions``), and the rounding trades none of them; orders
that broke one all the same would make the request infeasible (exit 3), never a
proposal with a warning."""

from __future__ import annotations

from rebalancer.limits.base import AdvisorLimit, shares_tol
from rebalancer.scenario.expressions import parse_condition
from rebalancer.scenario.selectors import match, parse_selector

NO_BUY = ["no_buy", "no_trade", "sell"]
NO_SELL = ["no_sell", "no_trade"]
RESTRICTED = "restricted names respected"  # the Checks row of the universe's restrictions


class Restrictions(AdvisorLimit):
    name = "restrictions"
    key = "constraints.no_buy"
    hard = True

    def measures(self, check: str) -> bool:
        # one row for the universe's restrictions, one per no_buy group and screen
        return check == RESTRICTED or check.startswith(("no_buy ", "screen "))

    def hard_conflict(self, request, row, w_after, how: str):
        # named by its row ("screen region:EM & size:small: ..."), the names it lists
        return self.conflict(row.check, 0.0, float(row.value), f"{how}; {row.detail}".strip())

    def measure(self, final, add) -> None:
        universe, trade = final.universe, final.trade
        r = universe["restricted"]
        bought = trade > 1e-12
        sold = trade < -1e-12
        bad = (
            (r.isin(NO_BUY) & bought)
            | (r.isin(NO_SELL) & sold)
            | ((r == "sell") & (final.after > shares_tol(final.before)))
        )
        names = ", ".join(universe.index[bad.to_numpy()][:5])
        add(RESTRICTED, 0.0, float(bad.sum()), not bad.any(), names)
        self._screens(final, add)

    @staticmethod
    def _screens(final, add) -> None:
        """No name in a no_buy group, or failing a screen of its group, is bought (it
        may be held or sold)."""
        universe, scenario = final.universe, final.scenario
        trade = final.trade.to_numpy()
        for text in scenario.constraints.no_buy:
            members = match(parse_selector(text), universe)
            bought = members & (trade > 1e-12)
            add(
                f"no_buy {text}",
                0.0,
                float(bought.sum()),
                not bought.any(),
                f"{int(members.sum())} name(s) may not be bought",
            )
        for screen in scenario.screens:
            condition = parse_condition(screen.require)
            failing = match(parse_selector(screen.where), universe) & ~condition.holds(universe)
            bought = failing & (trade > 1e-12)
            names = list(universe.index[failing])
            detail = (
                f"{len(names)} name(s) may not be bought: "
                + ", ".join(names[:40])
                + (" ..." if len(names) > 40 else "")
            )
            add(
                f"screen {screen.where}: {screen.require}",
                0.0,
                float(bought.sum()),
                not bought.any(),
                detail,
            )


RESTRICTIONS = Restrictions()
