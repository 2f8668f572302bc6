"""``constraints.min_trade_usd`` and ``constraints.round_lots``: no order under the
minimum (but one that closes its position), and orders in whole lots. No convex
problem states them: the optimizer re-solves with small orders frozen or lifted
(``optimize.min_trade``) and the rounding drops or lifts what is left under the
minimum (``trades.repairs.min_trade``). A miss is a row the Checks sheet flags."""

from __future__ import annotations

import numpy as np

from rebalancer.limits.base import USD_TOL, AdvisorLimit


class MinTrade(AdvisorLimit):
    name = "min_trade_usd"
    key = "constraints.min_trade_usd"

    def measure(self, final, add) -> None:
        c, trades, notional, closes = (
            final.scenario.constraints,
            final.trades,
            final.notional,
            final.closes,
        )
        if c.min_trade_usd > 0 and len(trades):
            small = (notional < c.min_trade_usd - USD_TOL) & ~closes
            add(
                "min_trade_usd",
                c.min_trade_usd,
                float(notional.min()),
                not small.any(),
                f"{int(small.sum())} order(s) below the minimum",
            )
        if c.round_lots and len(trades):
            lot = final.universe["lot_size"].reindex(trades["ticker"]).to_numpy(float)
            q = trades["quantity"].to_numpy(float)
            off = ~np.isclose(np.round(q / lot) * lot, q) & ~closes
            add("round lots", 0.0, float(off.sum()), not off.any(), "orders not in whole lots")

    def rounding(self, request) -> dict:
        c = request.scenario.constraints
        n = len(request.universe)
        return {
            "min_trade_usd": c.min_trade_usd,
            # shares per tradable unit: a name's lot, or one share without round lots
            "lot": request.universe["lot_size"].to_numpy(float) if c.round_lots else np.ones(n),
        }


MIN_TRADE = MinTrade()
