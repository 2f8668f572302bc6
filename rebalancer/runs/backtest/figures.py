"""The figures of a backtest run, from its NAV path alone.

With ``nav[0..n-1]`` the NAV path (``engine``: ``nav[0]`` before any trade, then each
price date's close after its trades), ``f_k`` the deposits less withdrawals booked
since nav[k−1] (a cash schedule; 0 without one) and ``r_k = (nav[k] − f_k) / nav[k-1]
− 1`` (k ≥ 1; time-weighted: a request moves the NAV, not the return), ``g_k`` =
Π_{j≤k} (1 + r_j) the growth of a dollar (g_0 = 1; nav[k]/nav[0] without requests):

- ``final_nav`` = nav[n−1]; ``total_return`` = g[n−1] − 1;
- ``annual_return`` = g[n−1] ** (252 / (n − 1)) − 1 (252 price dates a year);
- ``volatility`` = sample standard deviation of r (ddof 1) × √252;
- ``max_drawdown`` = max over k of 1 − g[k] / max(g[0..k]) (a fraction ≥ 0);
- ``tracking_error`` (with a benchmark) = std(r − b, ddof 1) × √252, b_k the
  benchmark's return Σ_i w_i (P_i,k / P_i,k−1 − 1) with its weights as given (held
  constant: the benchmark is rebalanced to them every day), and ``benchmark_return``
  its annualised return as above;
- ``turnover`` = Σ over rebalances of (buys + sells) / (2 × NAV before the trades),
  ``annual_turnover`` = turnover × 252 / (n − 1); ``costs``, ``taxes`` (Σ the tax
  paid from cash: gains and income), ``dividends`` (Σ credited), ``interest`` (Σ the
  cash's accrual at the cash rate), ``net_deposits`` (Σ f) and ``realized_gain`` (Σ net realised gains of the lots sold; taxable
  accounts, else 0) in dollars.

The NAV path pays the tax from cash, so the figures above are after tax. ``after_tax``
restates them: ``annual_return`` and ``total_return`` (as above), ``taxes_paid``,
``income_tax_paid`` (its part on dividends and interest), and
``before_tax_annual_return``, the same path with each payment added back:
Π_k (nav[k] + tax_k − f_k) / nav[k−1], annualised (tax_k the tax paid since nav[k−1]).
"""

from __future__ import annotations

import numpy as np

from rebalancer.runs.backtest.engine import ScenarioRun

TRADING_DAYS = 252


def annualised(growth: float, periods: int) -> float:
    return float(growth ** (TRADING_DAYS / periods) - 1.0)


def drawdown(nav: np.ndarray) -> np.ndarray:
    """1 − nav / its running peak, per date."""
    return 1.0 - nav / np.maximum.accumulate(nav)


def returns(run: ScenarioRun) -> np.ndarray:
    """r_k = (nav[k] − f_k) / nav[k−1] − 1, k ≥ 1 (module docstring)."""
    return (run.nav[1:] - run.flows[1:]) / run.nav[:-1] - 1.0


def growth(run: ScenarioRun) -> np.ndarray:
    """g_k, the growth of a dollar (g_0 = 1)."""
    return np.r_[1.0, np.cumprod(1.0 + returns(run))]


def figures(run: ScenarioRun, benchmark: np.ndarray | None) -> dict:
    """The figures of the module docstring for ``run``."""
    nav = run.nav
    periods = len(nav) - 1
    r = returns(run)
    g = growth(run)
    out = {
        "final_nav": float(nav[-1]),
        "start_nav": float(nav[0]),
        "total_return": float(g[-1] - 1.0),
        "annual_return": annualised(g[-1], periods),
        "volatility": float(np.std(r, ddof=1) * np.sqrt(TRADING_DAYS)) if periods > 1 else 0.0,
        "max_drawdown": float(drawdown(g).max()),
        "turnover": float(run.turnover),
        "annual_turnover": float(run.turnover * TRADING_DAYS / periods),
        "costs": float(run.costs),
        "taxes": float(run.taxes),
        "dividends": float(run.dividends),
        "interest": float(run.interest),
        "net_deposits": float(run.flows.sum()),
        "realized_gain": float(run.realized_gain),
        "rebalances": int((run.events["action"] == "rebalanced").sum()) if len(run.events) else 0,
        "n_orders": len(run.orders),
    }
    before_tax = float(np.prod((nav[1:] + run.tax_paid[1:] - run.flows[1:]) / nav[:-1]))
    out["after_tax"] = {
        "annual_return": out["annual_return"],
        "total_return": out["total_return"],
        "taxes_paid": float(run.taxes),
        "income_tax_paid": float(run.income_taxes),
        "before_tax_annual_return": annualised(before_tax, periods),
    }
    if benchmark is not None:
        active = r - benchmark
        te = np.std(active, ddof=1) * np.sqrt(TRADING_DAYS) if periods > 1 else 0.0
        out["tracking_error"] = float(te)
        out["benchmark_return"] = annualised(float(np.prod(1.0 + benchmark)), periods)
    return out
