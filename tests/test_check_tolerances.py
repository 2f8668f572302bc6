"""The product's own checks compare sums of floats with tolerances scaled to the
numbers compared: on a $5B account a lot-by-lot sale adds up to its order only to a
few units in the last place (2.3e-9 shares, found by tests/test_numerics.py), which an
exact comparison or a bare 1e-9 called a failure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.checks.measure import run_checks
from rebalancer.limits import LIMITS
from rebalancer.model.risk import RiskModel
from rebalancer.scenario.schema import build

# Three lots whose share counts add up differently summed left to right (as an order's
# quantity is) and compensated (as pandas adds lot sales): 7.45e-9 shares apart.
LOTS = (48_566_399.5, 0.9, 0.8)
PRICE_USD = 100.0  # a $4.9B position


def test_a_float_sum_of_lots_is_not_a_failed_check():
    a, b, c = LOTS
    order_shares = (a + b) + c
    sold = pd.Series(LOTS).groupby([0, 0, 0]).sum().iloc[0]
    assert abs(order_shares - sold) > 1e-9  # the case reproduces: not equal to 1e-9

    universe = pd.DataFrame(
        {
            "price": [PRICE_USD, 50.0],
            "sector": ["Energy", "Utilities"],
            "region": ["US", "US"],
            "market_cap": [5e11, 5e11],
            "adv": [1e12, 1e12],
            "lot_size": [1.0, 1.0],
            "restricted": ["sell", ""],
            "size": ["large", "large"],
            "themes": ["", ""],
            "country": ["", ""],
            "industry": ["", ""],
        },
        index=pd.Index(["X", "Y"], name="ticker"),
    )
    lots = pd.DataFrame(
        {
            "ticker": ["X", "X", "X", "CASH"],
            "quantity": [*LOTS, 1_000_000.0],
            "lot_id": ["A:2", "A:3", "A:4", "A:5"],
        }
    )
    proceeds_usd = order_shares * PRICE_USD
    trades = pd.DataFrame(
        {
            "ticker": ["X"],
            "side": ["SELL"],
            "quantity": [order_shares],
            "notional": [proceeds_usd],
        }
    )
    lot_sales = pd.DataFrame(
        {"ticker": ["X"] * 3, "lot_id": ["A:2", "A:3", "A:4"], "quantity_sold": list(LOTS)}
    )
    scenario = build(
        {"constraints": {"max_position": 1.0, "cash": {"target": 0.0, "min": 0.0}}}, None
    )
    risk = RiskModel(
        universe.index, np.zeros((2, 1)), np.zeros((1, 1)), np.full(2, 0.04), ("-",), "-"
    )
    checks = run_checks(
        lots=lots,
        universe=universe,
        scenario=scenario,
        reference=pd.Series(0.0, index=universe.index),
        risk=risk,
        trades=trades,
        lot_sales=lot_sales,
        limits=LIMITS,
    ).set_index("check")
    assert checks.loc["lot sales = sell orders", "value"] > 1e-9
    assert checks["ok"].all(), checks.loc[~checks["ok"]]
