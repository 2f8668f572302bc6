"""Whole lots in small accounts: the product's rounding against a mixed-integer one.

    .venv/bin/python -m benchmarks.bench_rounding [--navs 5000 10000 25000 50000 100000]
        [--accounts IRA-250K TAX-2M] [--scenarios base.yaml ...] [--readme]

Cases: each example account (its lots scaled to each NAV, whole shares, cost bases
scaled alike; cash scaled) under each shipped scenario, against the example universe,
prices and benchmark. Per case the continuous optimum is solved once
(``prepare`` + ``optimize``) and rounded two ways from the same ``RoundingRules``:

- heuristic: ``rebalancer.trades.rounding.round_orders`` (what the product does);
- MILP (``milp_orders``): integer lots per name the continuous answer trades, in its
  direction, solved by HiGHS. With v_i the post-trade value of name i, t_i its value at
  the continuous answer, c the cash after trades and costs and c* the continuous cash,
  u_g ≥ 0 the miss of tilt band g, it minimises

      (Σ_i |v_i − t_i| + |c − c*|) / NAV + λ · Σ_g u_g        (λ = ``BAND_PENALTY``)

  subject to the linear hard limits: cash ≥ floor net of costs, no short, position and
  sector caps of the NAV after costs, buys + sells ≤ 2 × turnover cap × NAV, each
  order within its liquidity cap, sales only from sellable lots, and the minimum
  trade as a binary on/off per order (an order that closes a position is exempt, and
  may sell a fractional remainder). Costs are linear upper bounds: per name the
  secant of the (convex) cost curve from 0 to the largest order it may place. The
  tracking error is quadratic: it is checked after, not constrained.

Measured per NAV: tilt-band misses (bands missed by more than 1e-6 over all cases, and
their total in % of NAV), the L1 distance to the continuous answer (% of NAV, median),
the objective given up against the continuous answer (bp a year, median: the
optimizer's own objective at the rounded weights), how many cases keep every hard
limit (the MILP's and the tracking error, re-measured from the orders with the real
cost curve), and the time per case (median; the MILP's includes building the cvxpy
problem). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd

from benchmarks.report import Table
from benchmarks.synthetic import EXAMPLES
from rebalancer.pipeline import load_inputs, prepare
from rebalancer.prepare.terms import account_terms
from rebalancer.scenario import load_scenario
from rebalancer.solve.driver import optimize
from rebalancer.trades.repairs.rows import dollar_rows
from rebalancer.trades.rounding import EPS, round_orders
from rebalancer.trades.rules import RoundingRules, rounding_rules

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-20"
BAND_PENALTY = 10.0  # a band missed by 1% of NAV costs as much as 10% of NAV misplaced
MISS_TOL = 1e-6  # the product's checks allow 1e-6 on a tilt band
USD_TOL = 0.01
TRADED = 1e-6  # a continuous trade of less than this share of NAV is no trade


@dataclass
class Outcome:
    band_misses: int
    band_total: float  # weight
    distance: float  # weight
    objective_loss: float  # objective units (a year, fraction of NAV)
    keeps_limits: bool
    seconds: float  # the whole rounding
    solver_seconds: float | None = None  # the MILP solver's own


def scaled_holdings(account: str, nav: float, folder: Path) -> Path:
    """The example account's lots (and cash) scaled by ``nav`` / its NAV: whole shares,
    a lot scaled to none dropped."""
    lots = pd.read_csv(EXAMPLES / "holdings.csv", keep_default_na=False)
    lots = lots[lots["account"] == account].copy()
    uni = pd.read_csv(EXAMPLES / "universe.csv", keep_default_na=False).set_index("ticker")
    price = lots["ticker"].map(uni["price"]).fillna(1.0).astype(float)
    scale = nav / float((lots["quantity"].astype(float) * price).sum())
    quantity = lots["quantity"].astype(float) * scale
    is_cash = lots["ticker"] == "CASH"
    lots["quantity"] = np.where(is_cash, quantity.round(2), np.floor(quantity))
    basis = pd.to_numeric(lots["cost_basis"], errors="coerce")
    lots["cost_basis"] = (basis * scale).round(2).astype(object).where(basis.notna(), "")
    path = folder / f"{account}_{nav:.0f}.csv"
    lots[lots["quantity"] > 0].to_csv(path, index=False)
    return path


def milp_orders(
    target_weight: np.ndarray,
    r: RoundingRules,
    cost_usd,
    cash_target_usd: float,
    time_limit: float | None = None,
) -> tuple[np.ndarray, float]:
    """Signed share quantities: the mixed-integer rounding of the module docstring, and
    the solver's own time in seconds. ``time_limit``: seconds HiGHS may search (its
    best orders by then; none found: no trades)."""
    n = len(r.price)
    lot_usd = r.lot * r.price
    target_usd = np.maximum(target_weight, 0.0) * r.nav_usd
    delta_usd = target_usd - r.shares_before * r.price
    sellable = r.shares_before if r.sellable_shares is None else r.sellable_shares
    liq_lots = np.floor(r.liquidity_cap_usd / lot_usd + EPS)
    # the names the continuous answer trades: by more than the interior-point solver's
    # noise (weights of 1e-9 on names it does not want)
    traded = TRADED * r.nav_usd
    buy = np.flatnonzero((delta_usd > traded) & r.may_buy & (liq_lots > 0))
    sell = np.flatnonzero((delta_usd < -traded) & r.may_sell & (r.shares_before > 0))
    names = np.r_[buy, sell]
    if not len(names):
        return np.zeros(n), 0.0
    sign = np.r_[np.ones(len(buy)), -np.ones(len(sell))]
    held_lots = np.floor(r.shares_before[names] / r.lot[names] + EPS)
    whole = np.floor(np.minimum(sellable[names], r.shares_before[names]) / r.lot[names] + EPS)
    # a buy of more than the NAV cannot keep the cash floor: a finite bound for the solver
    afford = np.floor(r.nav_usd / lot_usd[names]) + 1.0
    most = np.where(
        sign > 0, np.minimum(liq_lots[names], afford), np.minimum(whole, liq_lots[names])
    )
    # a sale may close the position (its fractional remainder included) where every
    # lot may be sold and the liquidity cap allows the whole holding
    frac = np.where(sign < 0, r.shares_before[names] - held_lots * r.lot[names], 0.0)
    may_close = (
        (sign < 0)
        & (sellable[names] >= r.shares_before[names] - EPS)
        & (r.shares_before[names] * r.price[names] <= r.liquidity_cap_usd[names] * (1 + 1e-9))
    )
    k = len(names)
    lots = cp.Variable(k, integer=True)
    on = cp.Variable(k, boolean=True)
    close = cp.Variable(k, boolean=True)
    price = r.price[names]
    value = cp.multiply(lot_usd[names], lots) + cp.multiply(frac * price, close)
    trade = cp.multiply(sign, value)  # signed dollars
    largest = most * lot_usd[names] + frac * price
    full = np.zeros(n)
    full[names] = largest
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(largest > 0, cost_usd(full)[names] / largest, 0.0)
    cost = rate @ value
    cash = r.cash_before_usd - cp.sum(trade) - cost
    nav_after = r.nav_usd - cost
    post = r.shares_before[names] * price + trade
    cons = [
        lots >= 0,
        lots <= cp.multiply(most, on),
        close <= on,
        close <= may_close.astype(float),
        cp.multiply(np.where(may_close, held_lots, 0.0), close) <= lots,
        value >= r.min_trade_usd * (on - close),
        cash >= r.cash_floor_usd,
        post <= cp.multiply(r.position_cap[names], nav_after),
    ]
    for row in dollar_rows(r):  # the limits' rows (the turnover cap...)
        bought, sold = cp.multiply(sign > 0.0, value), cp.multiply(sign < 0.0, value)
        held = row.weight[names] @ post if row.weight.any() else 0.0
        before = row.parts(np.zeros(n), r)  # the rows' weights part of names not traded
        outside = before.sum() - before[names].sum()
        cons.append(row.buy[names] @ bought + row.sell[names] @ sold + held + outside <= row.rhs)
    before_usd = r.shares_before * r.price
    if r.sector_max is not None:
        for code in np.unique(r.sector_codes[names]):
            inside = r.sector_codes[names] == code
            others = before_usd[r.sector_codes == code].sum() - before_usd[names][inside].sum()
            cons.append(others + cp.sum(post[inside]) <= r.sector_max * nav_after)
    objective = cp.sum(cp.abs(post - target_usd[names])) + cp.abs(cash - cash_target_usd)
    objective = objective / r.nav_usd
    if r.band_groups is not None and len(r.band_groups):
        groups = np.asarray(r.band_groups, float)
        fixed = groups @ before_usd - groups[:, names] @ (before_usd[names])
        exposure = (fixed + groups[:, names] @ post) / r.nav_usd - r.band_reference
        miss = cp.Variable(len(groups), nonneg=True)
        cons += [exposure >= r.band_lo - miss, exposure <= r.band_hi + miss]
        objective = objective + BAND_PENALTY * cp.sum(miss)
    problem = cp.Problem(cp.Minimize(objective), cons)
    limit = {} if time_limit is None else {"time_limit": time_limit}
    problem.solve(solver=cp.HIGHS, output_flag=False, **limit)
    seconds = float(problem.solver_stats.solve_time or 0.0)
    q = np.zeros(n)
    if lots.value is None:  # no whole-lot orders keep the limits: trade nothing
        return q, seconds
    shares = np.round(lots.value) * r.lot[names] + frac * np.round(close.value)
    q[names] = sign * shares
    return q, seconds


def limits_missed(q: np.ndarray, r: RoundingRules, cost_usd, w_cont: np.ndarray) -> list[str]:
    """The hard limits the orders ``q`` break, re-measured with the real cost curve; a
    limit the continuous answer ``w_cont`` breaks too is not counted against them."""
    trade = q * r.price
    cost = float(cost_usd(trade).sum())
    nav_after = r.nav_usd - cost
    cash = r.cash_before_usd - float(trade.sum()) - cost
    post = r.shares_before + q
    post_usd = post * r.price
    closes = np.isclose(post, 0.0, atol=1e-9) & (q != 0)
    missed = []
    if cash < r.cash_floor_usd - USD_TOL:
        missed.append("cash floor")
    if (post < -1e-9).any():
        missed.append("short")
    cont_ok = w_cont <= r.position_cap * (1 + 1e-6)
    if (cont_ok & (post_usd > r.position_cap * nav_after * (1 + 1e-9) + USD_TOL)).any():
        missed.append("position")
    if r.sector_max is not None:
        sector = np.bincount(r.sector_codes, weights=post_usd)
        cont = np.bincount(r.sector_codes, weights=np.maximum(w_cont, 0.0))
        if ((sector > r.sector_max * nav_after + USD_TOL) & (cont <= r.sector_max + 1e-6)).any():
            missed.append("sector")
    missed += [row.name for row in dollar_rows(r) if row.excess(q, r) > USD_TOL]
    if (np.abs(trade) > r.liquidity_cap_usd * (1 + 1e-9) + USD_TOL).any():
        missed.append("liquidity")
    small = (q != 0) & (np.abs(trade) < r.min_trade_usd - 0.005) & ~closes
    if small.any():
        missed.append("min trade")
    lots = q / r.lot
    if (~np.isclose(lots, np.round(lots)) & ~closes).any():
        missed.append("lots")
    if ((q > 0) & ~r.may_buy).any() or ((q < 0) & ~r.may_sell).any():
        missed.append("restricted")
    if r.sellable_shares is not None and (-q > r.sellable_shares + 1e-9).any():
        missed.append("tax-blocked lots")
    if r.max_tracking_error is not None and r.risk is not None:
        te = np.sqrt(max(r.risk.variance(post_usd / r.nav_usd - r.te_reference), 0.0))
        te_cont = np.sqrt(max(r.risk.variance(w_cont - r.te_reference), 0.0))
        if te > r.max_tracking_error * (1 + 1e-4) and te_cont <= r.max_tracking_error:
            missed.append("tracking error")
    return missed


def band_misses(q: np.ndarray, r: RoundingRules) -> tuple[int, float]:
    if r.band_groups is None or not len(r.band_groups):
        return 0, 0.0
    post_usd = (r.shares_before + q) * r.price
    exposure = np.asarray(r.band_groups, float) @ post_usd / r.nav_usd - r.band_reference
    miss = np.maximum(np.maximum(r.band_lo - exposure, exposure - r.band_hi), 0.0)
    return int((miss > MISS_TOL).sum()), float(miss[miss > MISS_TOL].sum())


def measure(q, seconds, r, cost_usd, w_cont, cash_cont_usd, evaluate, solver=None) -> Outcome:
    trade = q * r.price
    post_usd = (r.shares_before + q) * r.price
    cash = r.cash_before_usd - float(trade.sum()) - float(cost_usd(trade).sum())
    distance = (
        np.abs(post_usd - np.maximum(w_cont, 0.0) * r.nav_usd).sum() + abs(cash - cash_cont_usd)
    ) / r.nav_usd
    at_cont, at_q = evaluate(w_cont), evaluate(post_usd / r.nav_usd)
    loss = np.nan if at_cont is None or at_q is None else at_cont - at_q
    count, total = band_misses(q, r)
    keeps = not limits_missed(q, r, cost_usd, w_cont)
    return Outcome(count, total, float(distance), float(loss), keeps, seconds, solver)


def run_case(
    holdings: Path, account: str, scenario_path: Path, time_limit: float
) -> list[Outcome] | None:
    """The heuristic's, the MILP's and the time-limited MILP's outcomes (None: the
    continuous problem is infeasible)."""
    data = load_inputs(
        holdings,
        EXAMPLES / "universe.csv",
        EXAMPLES / "prices.csv",
        EXAMPLES / "benchmark.csv",
        EXAMPLES / "accounts.csv",
    )
    terms = account_terms(data, account)
    scenario = terms.scenario(load_scenario(scenario_path))
    request = prepare(
        data, scenario, terms.account, AS_OF, taxable=terms.taxable, lot_method=terms.lot_method
    )
    try:
        solution = optimize(request)
    except Exception:  # an infeasible account: nothing to round  # noqa: BLE001
        return None
    rules = rounding_rules(request)
    cost_usd = request.cost.cost_usd
    w = solution.weights
    cash_cont_usd = (1.0 - float(np.maximum(w, 0.0).sum())) * rules.nav_usd
    args = (rules, cost_usd, w, cash_cont_usd, solution.evaluate)
    t0 = time.perf_counter()
    q = round_orders(w, rules, cost_usd)
    outcomes = [measure(q, time.perf_counter() - t0, *args)]
    for limit in (None, time_limit):
        t0 = time.perf_counter()
        q, solver_seconds = milp_orders(w, rules, cost_usd, cash_cont_usd, limit)
        outcomes.append(measure(q, time.perf_counter() - t0, *args, solver=solver_seconds))
    return outcomes


def summarise(outcomes: list[Outcome], compared: list[bool]) -> list[str]:
    """The table cells of one method over one NAV's cases; the objective lost over the
    ``compared`` cases only (those where the objective could be evaluated at every
    method's weights, so the medians are of the same cases)."""
    losses = [o.objective_loss for o, ok in zip(outcomes, compared, strict=True) if ok]
    solver = [o.solver_seconds for o in outcomes if o.solver_seconds is not None]
    return [
        f"{sum(o.band_misses for o in outcomes)} / {100 * sum(o.band_total for o in outcomes):.2f}%",
        f"{100 * statistics.median(o.distance for o in outcomes):.2f}%",
        f"{1e4 * statistics.median(losses):.1f}" if losses else "n/a",
        f"{sum(o.keeps_limits for o in outcomes)}/{len(outcomes)}",
        f"{1e3 * statistics.median(o.seconds for o in outcomes):.1f}",
        f"{1e3 * statistics.median(solver):.1f}" if solver else "",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--navs", type=float, nargs="+", default=[5e3, 1e4, 2.5e4, 5e4, 1e5])
    ap.add_argument("--accounts", nargs="+", default=["IRA-250K", "TAX-2M"])
    ap.add_argument("--scenarios", nargs="+", default=None, help="file names in scenarios/")
    ap.add_argument(
        "--time-limit", type=float, default=0.05, help="seconds, for the time-limited MILP"
    )
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = ap.parse_args()
    scenarios = (
        [ROOT / "scenarios" / s for s in args.scenarios]
        if args.scenarios
        else sorted((ROOT / "scenarios").glob("*.yaml"))
    )
    table = Table(
        "rounding",
        [
            "NAV",
            "rounding",
            "cases",
            "band misses / total",
            "L1 to continuous (median)",
            "objective lost, bp (median)",
            "keeps every limit",
            "ms per case (median)",
            "solver ms (median)",
        ],
    )
    load = os.getloadavg()[0]  # the machine is shared: say how busy it was
    labels = ["heuristic", "MILP (HiGHS)", f"MILP, {1e3 * args.time_limit:g} ms limit"]
    with tempfile.TemporaryDirectory() as tmp:
        for nav in args.navs:
            cases: list[list[Outcome]] = []
            for account in args.accounts:
                holdings = scaled_holdings(account, nav, Path(tmp))
                for scenario in scenarios:
                    result = run_case(holdings, account, scenario, args.time_limit)
                    if result is not None:
                        cases.append(result)
            compared = [all(np.isfinite(o.objective_loss) for o in case) for case in cases]
            for k, label in enumerate(labels):
                outcomes = [case[k] for case in cases]
                if outcomes:
                    table.add(f"${nav:,.0f}", label, len(outcomes), *summarise(outcomes, compared))
    table.notes.append(
        f"Example accounts {', '.join(args.accounts)} scaled to each NAV, "
        f"{len(scenarios)} scenarios; MILP band penalty λ = {BAND_PENALTY:g}. "
        f"Load average {load:.1f} on {os.cpu_count()} cores at the start"
        + (" (other work was running: times are inflated)." if load > 1.0 else ".")
    )
    table.emit(args.readme)


if __name__ == "__main__":
    main()
