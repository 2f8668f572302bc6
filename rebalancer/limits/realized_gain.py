"""``constraints.max_realized_gain``: the net realized gain of the sales (losses
included) ≤ a budget in USD, taxable accounts only. The optimizer works to the budget
over NAV itself (``optimize.constraints.RealizedGainLimit``): sales are taken from the
lots it chose, and rounding only sells less. A break after rounding is infeasible.
Relaxed by raising the budget to what the closest feasible portfolio realizes."""

from __future__ import annotations

import pandas as pd

from rebalancer.limits.base import EXTRA_USD, ScalarCap, usd_tol


class RealizedGain(ScalarCap):
    name = "max_realized_gain"
    check = "max_realized_gain (USD)"

    def relaxed_to(self, needed: float) -> float:
        return needed + EXTRA_USD

    def measure(self, final, add) -> None:
        budget = self.setting(final.scenario)
        if not final.taxable or budget is None:
            return
        sales = final.lot_sales
        gains = sales["realized_gain_usd"].fillna(0.0) if len(sales) else pd.Series(dtype=float)
        net = float(gains.sum())
        add(
            self.check,
            budget,
            net,
            net <= budget + usd_tol(gains.abs().sum()),
            "net of realized losses",
        )


REALIZED_GAIN = RealizedGain()
