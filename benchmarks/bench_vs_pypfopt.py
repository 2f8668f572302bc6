"""The same problem solved by PyPortfolioOpt and by this project's optimizer, side by side.

    .venv/bin/python -m benchmarks.bench_vs_pypfopt [--sizes 500 2000 4000] [--runs 3]
        [--covariance ledoit-wolf|ledoit-wolf-weekly|factor] [--readme]

Problem (both sides): maximise μᵀw − (δ/2) wᵀΣw − k Σ|w − w₀| over long-only weights
summing to 1, each ≤ 5%, every sector ≤ 30%; μ from the valuation signals, Σ the
Ledoit-Wolf shrunk covariance of the names' daily returns (annualised), w₀ the
current weights of a large-cap account, k = 10 bp.

PyPortfolioOpt: ``EfficientFrontier(μ, Σ, weight_bounds=(0, 0.05), solver="CLARABEL")``
with ``objective_functions.transaction_cost`` and ``add_sector_constraints``, then
``max_quadratic_utility(δ)`` — a dense N×N Σ. This project: the same Σ written exactly
in factor form, Σ = B Bᵀ + d I with B = √(252(1−s)/T)·Xᶜᵀ (T factors, one per day)
and d = 252·s·trace(S)/N, where s is the Ledoit-Wolf shrinkage (with fewer names than
days, B = chol(Σ) and d = 0, the smaller form); the problem is the
``RebalanceProblem`` of the pipeline with those numbers, solved as the pipeline
solves it: over a working set of names (held names and the best alpha), the others
priced in until none would improve the objective (``rebalancer.optimize.working_set``),
which makes the answer the optimum over the whole universe. Both objective values are
evaluated on each side's weights with the dense Σ and must agree to 1e-4 relative.
With ``--covariance ledoit-wolf-weekly`` Σ is Ledoit-Wolf of weekly (Friday)
returns over the same three years: the same estimator with T = 156, so the exact
factor form has 155 factors instead of 755 (PyPortfolioOpt's dense Σ is the same
size either way). With ``--covariance factor`` the covariance is instead the pipeline's 16-factor
model (sectors, regions, size, value, momentum, specific risk), handed to
PyPortfolioOpt as the dense matrix it equals and to this project in factor form.
Prints times (median of ``--runs``; PyPortfolioOpt once at the largest size), their
ratio and both objectives. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, objective_functions
from pypfopt.risk_models import CovarianceShrinkage

from benchmarks.report import Table, working_set
from benchmarks.synthetic import large_cap_account, scaled_market
from rebalancer.model.signals import composite
from rebalancer.optimize.problem import BIG, ProblemData, Structure
from rebalancer.optimize.seed import choose_candidates, first_set_size
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.scenario.schema import Signals

DELTA, CAP, SECTOR_CAP, K = 2.0, 0.05, 0.30, 0.001
COVARIANCE_LABEL = {
    "ledoit-wolf": "Ledoit-Wolf, daily returns",
    "ledoit-wolf-weekly": "Ledoit-Wolf, weekly returns",
    "factor": "16-factor model (the pipeline's)",
}


def problem_inputs(n: int, covariance: str = "ledoit-wolf"):
    uni, prices, _ = scaled_market(n)
    uni = uni.set_index("ticker")
    score, _ = composite(uni, Signals(weight=1.0, metrics={"pb": -1, "roa": 1, "momentum": 0.5}))
    mu = 0.06 + 0.02 * score.to_numpy()
    account = large_cap_account(uni.reset_index())
    held = account[account["ticker"] != "CASH"].set_index("ticker")["quantity"]
    value = (held * uni["price"].reindex(held.index)).reindex(uni.index, fill_value=0.0)
    w0 = value / (value.sum() + account.loc[account["ticker"] == "CASH", "quantity"].sum())
    if covariance == "factor":
        # the pipeline's 16-factor model; PyPortfolioOpt gets the same Σ, dense
        from rebalancer.model.risk import estimate_factor_model
        from rebalancer.model.universe import with_size
        from rebalancer.scenario.schema import Scenario

        model = estimate_factor_model(with_size(uni, Scenario()), prices)
        dense = model.loadings @ model.factor_cov @ model.loadings.T + np.diag(model.specific_var)
        loadings = model.loadings @ model.factor_chol()
        sigma = pd.DataFrame(dense, index=uni.index, columns=uni.index)
        return uni, mu, sigma, w0.to_numpy(), loadings, model.specific_var
    periods = 252
    if covariance == "ledoit-wolf-weekly":  # Friday closes: T = weeks, not days
        prices, periods = prices.resample("W-FRI").last().dropna(how="all"), 52
    shrink = CovarianceShrinkage(prices, frequency=periods)
    sigma = shrink.ledoit_wolf()
    returns = prices.pct_change().dropna(how="all").to_numpy()
    centred = returns - returns.mean(axis=0)
    t = len(returns)
    s = float(shrink.delta)
    sample_trace = float(np.sum(centred * centred)) / t
    loadings = np.sqrt(periods * (1 - s) / t) * centred.T
    specific = np.full(n, periods * s * sample_trace / n)
    dense = sigma.to_numpy()
    assert np.allclose(loadings @ loadings.T + np.diag(specific), dense, rtol=1e-8, atol=1e-12)
    if n <= t:  # fewer names than days: the Cholesky factor of Σ is the smaller form
        loadings, specific = np.linalg.cholesky(dense), np.zeros(n)
    return uni, mu, sigma, w0.to_numpy(), loadings, specific


def utility(w, mu, dense, w0) -> float:
    return float(mu @ w - DELTA / 2 * w @ dense @ w - K * np.abs(w - w0).sum())


def solve_pypfopt(uni, mu, sigma, w0):
    ef = EfficientFrontier(
        pd.Series(mu, index=uni.index), sigma, weight_bounds=(0, CAP), solver="CLARABEL"
    )
    ef.add_objective(objective_functions.transaction_cost, w_prev=w0, k=K)
    sectors = uni["sector"].to_dict()
    ef.add_sector_constraints(
        sectors,
        {s: 0.0 for s in set(sectors.values())},
        {s: SECTOR_CAP for s in set(sectors.values())},
    )
    weights = ef.max_quadratic_utility(risk_aversion=DELTA)
    return np.array([weights[t] for t in uni.index])


def solve_ours(uni, mu, w0, loadings, specific):
    """This project's optimizer as the pipeline runs it: the first working set its
    candidate rule picks (held names, best alpha), the others priced in until none
    would improve the answer (rebalancer.optimize.working_set)."""
    n, k = loadings.shape
    sectors = sorted(uni["sector"].unique())
    structure = Structure(
        tickers=tuple(uni.index),
        loadings=loadings,
        factor_chol=np.eye(k),
        specific_var=specific,
        tilt_groups=np.zeros((0, n)),
        tilt_labels=(),
        sector_groups=np.vstack([(uni["sector"] == s).to_numpy(float) for s in sectors]),
        sector_labels=tuple(sectors),
        has_tracking_error=False,
        has_sector_max=True,
    )
    data = ProblemData(
        alpha=mu,
        w0=w0,
        ref=np.zeros(n),
        risk_aversion=DELTA / 2,
        spread=np.full(n, K),
        impact=np.zeros(n),
        liquidity_cap=np.full(n, BIG),
        buy_cap=np.full(n, BIG),
        sell_cap=w0,
        position_cap=np.full(n, CAP),
        cash_target=0.0,
        cash_tolerance=0.0,
        tilt_target=np.zeros(0),
        tilt_lo=np.zeros(0),
        tilt_hi=np.zeros(0),
        tilt_strength=0.0,
        sector_max=SECTOR_CAP,
    )
    groups = np.zeros((0, n))
    first = choose_candidates(w0, data.ref, mu, np.ones(n, bool), groups, first_set_size(k))
    ws = WorkingSet(structure, first)
    weights = ws.solve(data, price=True).weights
    assert ws.unproven == 0
    return weights, int(ws.keep.sum()), ws.rounds


def timed(fn, runs):
    out, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 4000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--covariance",
        choices=["ledoit-wolf", "ledoit-wolf-weekly", "factor"],
        default="ledoit-wolf",
        help="Ledoit-Wolf from daily returns (exact: one factor per day on our side), "
        "from weekly returns (one per week), or the pipeline's 16-factor model "
        "(dense for PyPortfolioOpt)",
    )
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = ap.parse_args()
    table = Table(
        f"pypfopt-{args.covariance}",
        [
            "names",
            "covariance",
            "PyPortfolioOpt",
            "this project",
            "ratio",
            "objectives agree to",
            "working set",
        ],
        notes=[
            f"Medians of {args.runs}; PyPortfolioOpt once at {max(args.sizes):,} names. "
            "Objectives evaluated on both answers with the dense covariance."
        ],
    )
    for n in args.sizes:
        uni, mu, sigma, w0, loadings, specific = problem_inputs(n, args.covariance)
        dense = sigma.to_numpy()
        runs = 1 if n == max(args.sizes) else args.runs
        t_pp, w_pp = timed(lambda a=(uni, mu, sigma, w0): solve_pypfopt(*a), runs)
        t_us, (w_us, kept, rounds) = timed(
            lambda a=(uni, mu, w0, loadings, specific): solve_ours(*a), args.runs
        )
        u_pp, u_us = utility(w_pp, mu, dense, w0), utility(w_us, mu, dense, w0)
        rel = abs(u_pp - u_us) / max(abs(u_pp), 1e-12)
        table.add(
            f"{n:,}",
            COVARIANCE_LABEL[args.covariance],
            f"{t_pp:.2f} s",
            f"{t_us:.2f} s",
            f"**{t_pp / t_us:.1f}×**",
            f"{rel:.0e}",
            working_set(kept, rounds),
        )
        print(f"{n} names: objectives {u_pp:.8f} (PyPortfolioOpt) and {u_us:.8f}", flush=True)
    table.emit(args.readme)


if __name__ == "__main__":
    main()
