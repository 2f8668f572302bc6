"""Trading cost model, shared by the optimizer and the report.

For a trade of value T dollars in a name with average daily traded value ADV and
daily volatility σ_d:

    cost(T) = spread × |T|  +  impact × σ_d × |T| × √(|T| / ADV)

the first term is the one-way spread (``spread_bps`` / 10⁴), the second the
square-root market-impact law, i.e. a 3/2-power of traded value. In weights of
NAV (z = T / NAV) the same cost as a fraction of NAV is

    spread × |z|  +  impact × σ_d × √(NAV / ADV) × |z|^{3/2}

which is how the optimizer sees it (``weight_coefficients``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRADING_DAYS = 252


@dataclass(frozen=True)
class CostModel:
    spread: np.ndarray  # one-way cost per dollar traded (fraction)
    impact: float  # coefficient of the square-root law
    daily_vol: np.ndarray  # σ_d per name
    adv_usd: np.ndarray

    @classmethod
    def build(
        cls, spread_bps: np.ndarray, impact: float, annual_vol: np.ndarray, adv_usd: np.ndarray
    ) -> CostModel:
        return cls(
            np.asarray(spread_bps, float) / 1e4,
            float(impact),
            np.asarray(annual_vol, float) / np.sqrt(TRADING_DAYS),
            np.asarray(adv_usd, float),
        )

    def cost_usd(self, trade_usd: np.ndarray) -> np.ndarray:
        """Per-name cost in dollars of trades of the given signed dollar values."""
        t = np.abs(np.asarray(trade_usd, float))
        with np.errstate(divide="ignore", invalid="ignore"):
            impact = np.where(
                self.adv_usd > 0, self.impact * self.daily_vol * t * np.sqrt(t / self.adv_usd), 0.0
            )
        return self.spread * t + impact

    def weight_coefficients(self, nav_usd: float) -> tuple[np.ndarray, np.ndarray]:
        """(linear, 3/2-power) coefficients of the cost as a fraction of NAV in |z|."""
        with np.errstate(divide="ignore"):
            root = np.where(
                self.adv_usd > 0, np.sqrt(nav_usd / np.maximum(self.adv_usd, 1e-12)), 0.0
            )
        return self.spread.copy(), self.impact * self.daily_vol * root
