"""The peer of ``rebalancer propose`` in the scale benchmark: one account rebalanced
with PyPortfolioOpt the way its users write it, from the same CSV files.

    python benchmarks/peers/pypfopt_script.py --holdings H --universe U --prices P
        --out trades.csv

Reads the files with pandas; Σ is the Ledoit-Wolf shrunk covariance of the daily
returns (``CovarianceShrinkage(prices).ledoit_wolf()``, annualised); μ = 6% + 2% × a
valuation score (the mean of the z-scores of −P/B, ROA and ½·momentum, as the
scenario ``balanced_rerating`` scores names); then ``EfficientFrontier`` long-only
with each name ≤ 5%, ``add_sector_constraints`` (every sector ≤ 30%), a linear
transaction cost of 10 bp on the move from today's weights
(``objective_functions.transaction_cost``) and ``max_quadratic_utility(δ = 2)``;
target shares are floor(weight × NAV / price), the orders their difference from
today's shares, written as a CSV. A script of its own, run as a process: the
benchmark imports none of it and it imports nothing of the project.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, objective_functions
from pypfopt.risk_models import CovarianceShrinkage

DELTA, CAP, SECTOR_CAP, COST = 2.0, 0.05, 0.30, 0.001


def zscore(column: pd.Series) -> pd.Series:
    z = (column - column.mean()) / column.std()
    return z.fillna(0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("--holdings", "--universe", "--prices", "--out"):
        ap.add_argument(name, required=True)
    args = ap.parse_args()

    universe = pd.read_csv(args.universe).set_index("ticker")
    prices = pd.read_csv(args.prices, index_col="date", parse_dates=True)
    prices = prices[universe.index]
    holdings = pd.read_csv(args.holdings)

    cash = holdings.loc[holdings["ticker"] == "CASH", "quantity"].sum()
    shares = (
        holdings[holdings["ticker"] != "CASH"]
        .groupby("ticker")["quantity"]
        .sum()
        .reindex(universe.index, fill_value=0.0)
    )
    price = universe["price"]
    nav = float((shares * price).sum() + cash)
    w_prev = (shares * price / nav).to_numpy()

    score = (
        zscore(-universe["pb"]) + zscore(universe["roa"]) + 0.5 * zscore(universe["momentum"])
    ) / 2.5
    mu = 0.06 + 0.02 * score
    sigma = CovarianceShrinkage(prices).ledoit_wolf()

    ef = EfficientFrontier(mu, sigma, weight_bounds=(0, CAP), solver="CLARABEL")
    sectors = universe["sector"].to_dict()
    ef.add_sector_constraints(
        sectors,
        {s: 0.0 for s in set(sectors.values())},
        {s: SECTOR_CAP for s in set(sectors.values())},
    )
    ef.add_objective(objective_functions.transaction_cost, w_prev=w_prev, k=COST)
    weights = pd.Series(ef.max_quadratic_utility(risk_aversion=DELTA))

    target = np.floor(weights.reindex(universe.index, fill_value=0.0) * nav / price)
    orders = (target - shares).loc[lambda q: q != 0]
    pd.DataFrame(
        {
            "ticker": orders.index,
            "side": np.where(orders > 0, "BUY", "SELL"),
            "quantity": orders.abs().to_numpy(),
            "price": price[orders.index].to_numpy(),
        }
    ).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
