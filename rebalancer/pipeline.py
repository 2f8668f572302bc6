"""``propose``: holdings + universe + scenario -> a checked Proposal.

read -> groups -> risk -> signals / returns -> optimizer -> rounded orders -> lots
-> checks -> Proposal. Each stage lives in its own module; this one only wires them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer import inputs as rd
from rebalancer.checks import run_checks
from rebalancer.costs import CostModel
from rebalancer.errors import InfeasibleError, ScenarioError
from rebalancer.optimize.problem import BIG, SOLVERS, ProblemData, RebalanceProblem, Structure
from rebalancer.proposal import TRADE_COLUMNS, Metrics, Proposal
from rebalancer.risk import RiskModel, build_risk_model
from rebalancer.scenario import Scenario, load_scenario, match, parse_selector
from rebalancer.signals import signal_alpha
from rebalancer.stress import stress_table
from rebalancer.trades import RoundingRules, allocate_lots, round_orders
from rebalancer.universe import (
    group_matrix,
    per_name,
    scenario_mismatches,
    screen_failures,
    with_size,
)
from rebalancer.views import build_views, implied_prior, posterior_returns

# Limits are tightened by these margins inside the optimizer so that rounding to
# whole lots cannot push the final trades over the advisor's limits.
BAND_MARGIN = 0.0005
SECTOR_MARGIN = 0.0005
TE_MARGIN = 0.995


@dataclass
class Inputs:
    """The files of one run, read and cross-checked."""

    holdings: pd.DataFrame
    universe: pd.DataFrame
    prices: pd.DataFrame | None = None
    benchmark: pd.Series | None = None
    paths: dict[str, str] = field(default_factory=dict)
    _risk: dict = field(default_factory=dict, repr=False)

    def risk_model(self, universe: pd.DataFrame) -> RiskModel:
        """One risk model per universe (cached: every account of a book shares it)."""
        key = tuple(universe["size"])
        if key not in self._risk:
            self._risk[key] = build_risk_model(universe, self.prices)
        return self._risk[key]


def load_inputs(holdings, universe, prices=None, benchmark=None) -> Inputs:
    """Read (paths) or accept (DataFrames) the inputs and cross-check them."""
    paths = {}

    def read(value, reader, role):
        if value is None or isinstance(value, pd.DataFrame | pd.Series):
            return value
        paths[role] = str(value)
        return reader(value)

    uni = read(universe, rd.read_universe, "universe")
    hold = read(holdings, rd.read_holdings, "holdings")
    px = read(prices, rd.read_prices, "prices")
    bench = read(benchmark, rd.read_benchmark, "benchmark")
    rd.check_holdings_in_universe(hold, uni, paths.get("holdings", "holdings"))
    if bench is not None:
        rd.check_benchmark_in_universe(bench, uni, paths.get("benchmark", "benchmark"))
    return Inputs(hold, uni, px, bench, paths)


def propose(
    holdings,
    universe,
    scenario,
    *,
    prices=None,
    benchmark=None,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
) -> Proposal:
    """One account's rebalance proposal (the Python API of ``rebalancer propose``).

    ``holdings``/``universe``/``prices``/``benchmark`` are paths or already-read
    frames; ``scenario`` a path or a ``Scenario``. Raises ``InputError`` or
    ``ScenarioError`` for bad input and ``InfeasibleError`` when no portfolio meets
    the limits.
    """
    data = load_inputs(holdings, universe, prices, benchmark)
    if not isinstance(scenario, Scenario):
        data.paths["scenario"] = str(scenario)
        scenario = load_scenario(scenario)
    return propose_account(data, scenario, account, as_of)


def propose_account(
    data: Inputs,
    scenario: Scenario,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
) -> Proposal:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    as_of = pd.Timestamp(as_of or pd.Timestamp.today().normalize())
    lots = rd.select_account(data.holdings, account, data.paths.get("holdings", "holdings"))
    account = str(lots["account"].iloc[0])
    uni = with_size(data.universe, scenario)
    mismatches = scenario_mismatches(uni, scenario)
    if mismatches:
        key, message = mismatches[0]
        raise ScenarioError(data.paths.get("scenario"), message, key=key)

    is_cash = lots["ticker"] == "CASH"
    cash_before = float(lots.loc[is_cash, "quantity"].sum())
    shares_before = (
        lots[~is_cash]
        .groupby("ticker")["quantity"]
        .sum()
        .reindex(uni.index, fill_value=0.0)
        .to_numpy(float)
    )
    price = uni["price"].to_numpy(float)
    nav = float(shares_before @ price + cash_before)
    w0 = shares_before * price / nav
    if data.benchmark is not None:
        ref = data.benchmark.reindex(uni.index, fill_value=0.0).to_numpy(float)
        reference = "benchmark"
    else:
        ref, reference = w0.copy(), "current holdings"

    risk = data.risk_model(uni)
    timings["risk_model"] = time.perf_counter() - t0
    signals = signal_alpha(uni, scenario.signals, risk.specific_vol())
    market = ref if data.benchmark is not None else uni["market_cap"].to_numpy(float)
    prior = implied_prior(risk, market, scenario.market_risk_aversion)
    views = build_views(uni, scenario.views)
    view_alpha = posterior_returns(risk, prior, views, scenario.view_tau) - prior
    alpha = signals.alpha.to_numpy() + view_alpha

    c = scenario.constraints
    cost = CostModel.build(
        per_name(uni, scenario.costs.spread_bps, "max"),
        scenario.costs.impact,
        risk.total_vol(),
        uni["adv"].to_numpy(float),
    )
    spread, impact = cost.weight_coefficients(nav)
    participation = per_name(uni, c.liquidity.max_participation, "min")
    liq_usd = participation * uni["adv"].to_numpy(float) * c.liquidity.days
    restricted = uni["restricted"].to_numpy()
    screened = screen_failures(uni, scenario)
    may_buy = (
        ~np.isin(restricted, ["no_buy", "no_trade", "sell"])
        & (liq_usd > 0)
        & ~uni.index.isin(screened["ticker"])
    )
    may_sell = ~np.isin(restricted, ["no_sell", "no_trade"]) & (liq_usd > 0)
    position_cap = (
        per_name(uni, c.max_position, "min") if c.max_position is not None else np.ones(len(uni))
    )
    position_cap[restricted == "sell"] = 0.0

    tilt_labels = list(scenario.tilts)
    groups = group_matrix(uni, [parse_selector(t) for t in tilt_labels])
    targets = np.array([scenario.tilts[t].target for t in tilt_labels])
    bands = np.array([scenario.tilts[t].band for t in tilt_labels])
    margin = np.minimum(0.1 * bands, BAND_MARGIN)
    sectors = sorted(uni["sector"].unique())
    sector_groups = np.vstack([(uni["sector"] == s).to_numpy(float) for s in sectors])

    structure = Structure(
        tickers=tuple(uni.index),
        loadings=risk.loadings,
        factor_chol=risk.factor_chol(),
        specific_var=risk.specific_var,
        tilt_groups=groups,
        tilt_labels=tuple(tilt_labels),
        sector_groups=sector_groups,
        sector_labels=tuple(sectors),
        has_turnover=c.max_turnover is not None,
        has_tracking_error=c.max_tracking_error is not None,
        has_sector_max=c.sector_max is not None,
    )
    problem_data = ProblemData(
        alpha=alpha,
        w0=w0,
        ref=ref,
        risk_aversion=scenario.risk_aversion,
        spread=spread,
        impact=impact,
        liquidity_cap=liq_usd / nav,
        buy_cap=np.where(may_buy, BIG, 0.0),
        sell_cap=np.where(may_sell, w0, 0.0),
        position_cap=position_cap,
        cash_target=c.cash.target,
        cash_tolerance=min(0.0005, (c.cash.target - c.cash.min) / 2),
        tilt_target=targets,
        tilt_lo=targets - bands + margin,
        tilt_hi=targets + bands - margin,
        tilt_strength=scenario.tilt_strength,
        max_turnover=c.max_turnover if c.max_turnover is not None else BIG,
        max_tracking_error=(
            c.max_tracking_error * TE_MARGIN if c.max_tracking_error is not None else BIG
        ),
        sector_max=(max(c.sector_max - SECTOR_MARGIN, 0.0) if c.sector_max is not None else BIG),
    )
    t1 = time.perf_counter()
    timings["prepare"] = t1 - t0 - timings["risk_model"]
    # one solve and at most one re-solve: constants compile faster than Parameters here
    problem = RebalanceProblem(structure, problem_data, parametric=False)
    try:
        solution = problem.solve(problem_data)
    except InfeasibleError as exc:
        raise InfeasibleError(account, exc.conflicts, exc.binding) from None
    lot_usd = price * (uni["lot_size"].to_numpy(float) if c.round_lots else 1.0)
    solution = _without_small_trades(problem, problem_data, solution, nav, c.min_trade_usd, lot_usd)
    timings["optimize"] = time.perf_counter() - t1
    timings["compile"] = solution.compile_seconds
    timings["solve"] = solution.solve_seconds

    t2 = time.perf_counter()
    lot_size = uni["lot_size"].to_numpy(float) if c.round_lots else np.ones(len(uni))
    sector_codes = pd.Categorical(uni["sector"], categories=sectors).codes
    rules = RoundingRules(
        nav_usd=nav,
        cash_before_usd=cash_before,
        cash_floor_usd=c.cash.min * nav,
        min_trade_usd=c.min_trade_usd,
        price=price,
        lot=lot_size,
        shares_before=shares_before,
        liquidity_cap_usd=liq_usd,
        may_buy=may_buy,
        may_sell=may_sell,
        position_cap=position_cap,
        sector_codes=np.asarray(sector_codes),
        sector_max=c.sector_max,
    )
    q = round_orders(solution.weights, rules, cost.cost_usd)
    shares_after = shares_before + q
    trade_usd = q * price
    cash_after = cash_before - float(trade_usd.sum())
    sells = pd.Series(-np.minimum(q, 0.0), index=uni.index)
    lot_sales = allocate_lots(lots[~is_cash], sells[sells > 0], uni["price"], as_of)
    w_after = shares_after * price / nav

    trades = _trades_frame(
        account,
        uni,
        q,
        w0,
        w_after,
        participation,
        cost,
        lot_sales,
        scenario,
        ref,
        alpha,
        position_cap,
    )
    holdings_frame = _holdings_frame(
        uni,
        shares_before,
        shares_after,
        w0,
        solution.weights,
        w_after,
        ref,
        cash_before,
        cash_after,
        nav,
    )
    exposures = _exposures_frame(uni, scenario, w0, w_after, ref, solution.weights)
    reference_weights = pd.Series(ref, index=uni.index)
    checks = run_checks(
        lots=lots,
        universe=uni,
        scenario=scenario,
        reference=reference_weights,
        risk=risk,
        trades=trades,
        lot_sales=lot_sales,
        holdings=holdings_frame,
    )
    timings["trades_and_checks"] = time.perf_counter() - t2

    expected = scenario.risk_free_rate + prior + alpha

    def exp_ret(w: np.ndarray, cash_w: float) -> float:
        return float(w @ expected + cash_w * scenario.risk_free_rate)

    gains = lot_sales["realized_gain_usd"] if len(lot_sales) else pd.Series(dtype=float)
    known = gains.notna().any()
    term = lot_sales["term"] if len(lot_sales) else pd.Series(dtype=str)
    metrics = Metrics(
        nav_usd=nav,
        cash_before_usd=cash_before,
        cash_after_usd=cash_after,
        turnover=float(np.abs(trade_usd).sum() / (2 * nav)),
        n_trades=int(len(trades)),
        buys_usd=float(trade_usd[trade_usd > 0].sum()),
        sells_usd=float(-trade_usd[trade_usd < 0].sum()),
        est_cost_usd=float(trades["est_cost"].sum()),
        expected_return_before=exp_ret(w0, cash_before / nav),
        expected_return=exp_ret(w_after, cash_after / nav),
        active_return=exp_ret(w_after, cash_after / nav) - exp_ret(ref, 1 - ref.sum()),
        volatility_before=float(np.sqrt(risk.variance(w0))),
        volatility=float(np.sqrt(risk.variance(w_after))),
        tracking_error_before=float(np.sqrt(risk.variance(w0 - ref))),
        tracking_error=float(np.sqrt(risk.variance(w_after - ref))),
        realized_gain_usd=float(gains.sum()) if known else float("nan"),
        short_term_gain_usd=float(gains[term == "ST"].sum()) if known else float("nan"),
        long_term_gain_usd=float(gains[term == "LT"].sum()) if known else float("nan"),
    )
    stress = stress_table(uni, scenario.shocks, shares_before * price, shares_after * price, nav)
    warnings = list(solution.warnings)
    if risk.kind == "default_factor":
        warnings.append("no usable price history: risk uses a default factor model")
    for metric, count in signals.missing.items():
        if count:
            warnings.append(
                f"signal metric {metric} missing for {count} of {len(uni)} names "
                "(neutral on that metric)"
            )
    for row in checks[~checks["ok"]].itertuples():
        warnings.append(
            f"check failed after rounding: {row.check} (limit {row.limit}, value {row.value})"
        )
    timings["total"] = time.perf_counter() - t0
    return Proposal(
        account=account,
        scenario_name=scenario.name,
        scenario=scenario.to_data(),
        status=solution.status,
        solver=solution.solver,
        reference=reference,
        metrics=metrics,
        trades=trades,
        lot_sales=lot_sales,
        holdings=holdings_frame,
        exposures=exposures,
        checks=checks,
        binding=solution.binding,
        warnings=warnings,
        stress=stress,
        screened=screened,
        coverage=signals.missing,
        timings=timings,
        inputs=dict(data.paths),
    )


def _without_small_trades(
    problem: RebalanceProblem,
    data: ProblemData,
    solution,
    nav: float,
    min_trade_usd: float,
    lot_usd: np.ndarray,
    max_passes: int = 6,
):
    """Re-solve with trades under the minimum frozen until none is left, so the weight
    they held is put to work in fewer, larger orders instead of being dropped by the
    rounding (a minimum trade size is not convex; this is the usual iterative
    heuristic). A trade counts as small if rounding it down to whole lots could take
    it under the minimum. Sells that a position cap or forced exit needs are never
    frozen. Stops at the last feasible answer if freezing more makes the request
    infeasible."""
    if min_trade_usd <= 0:
        return solution
    buy_cap, sell_cap = data.buy_cap.copy(), data.sell_cap.copy()
    passes = [solution]
    for _ in range(max_passes):
        z_usd = (solution.weights - data.w0) * nav
        small = (np.abs(z_usd) > 1e-6 * nav) & (np.abs(z_usd) < min_trade_usd + lot_usd)
        closes = (data.w0 > 0) & (solution.weights * nav < 0.5 * lot_usd)
        freeze_buy = small & (z_usd > 0) & (buy_cap > 0)
        freeze_sell = (
            small & (z_usd < 0) & ~closes & (data.w0 <= data.position_cap) & (sell_cap > 0)
        )
        candidates = np.flatnonzero(freeze_buy | freeze_sell)
        # dropping trades worth less than the rounding margin in all cannot move a limit
        if np.abs(z_usd[candidates]).sum() < BAND_MARGIN * nav:
            break
        attempt = _freeze_or_lift(
            problem,
            data,
            buy_cap,
            sell_cap,
            candidates,
            z_usd,
            freeze_buy,
            nav,
            min_trade_usd + lot_usd,
            problem.structure.tilt_groups,
        )
        if attempt is None:
            break
        problem, solution, buy_cap, sell_cap = attempt
        passes.append(solution)
    return replace(
        solution,
        compile_seconds=sum(p.compile_seconds for p in passes),
        solve_seconds=sum(p.solve_seconds for p in passes),
        warnings=[w for p in passes for w in p.warnings],
    )


def _freeze_or_lift(
    problem,
    data,
    buy_cap,
    sell_cap,
    candidates,
    z_usd,
    is_buy,
    nav,
    minimum_usd,
    groups,
    max_lifts: int = 4,
):
    """One pass of ``_without_small_trades``.

    Small buys inside a tilted group are consolidated: the largest of them, as many
    as the group's small buys add up to in minimum-size orders, are lifted to the
    minimum and the others frozen, so a group's weight moves into a few orders
    instead of spreading thinly again. Every other small trade is frozen. If that
    leaves no feasible portfolio, the largest small buys are lifted one by one
    instead. Returns (problem, solution, buy_cap, sell_cap), or None if nothing works.
    """
    buys = candidates[is_buy[candidates]]
    consolidate: list[int] = []
    for row in groups:
        members = buys[row[buys] > 0]
        members = members[np.argsort(-z_usd[members])]
        k = int(z_usd[members].sum() // np.median(minimum_usd[members])) if len(members) else 0
        consolidate += [i for i in members[:k] if i not in consolidate]
    largest = list(buys[np.argsort(-z_usd[buys])][:max_lifts])
    attempts = ([np.array(consolidate, dtype=int)] if consolidate else []) + [
        np.array(largest[:n], dtype=int) for n in range(len(largest) + 1)
    ]
    for lifted in attempts:
        trial_buy, trial_sell = buy_cap.copy(), sell_cap.copy()
        frozen_idx = np.setdiff1d(candidates, lifted)
        trial_buy[frozen_idx[is_buy[frozen_idx]]] = 0.0
        trial_sell[frozen_idx[~is_buy[frozen_idx]]] = 0.0
        trial_sell[lifted] = -np.minimum(minimum_usd[lifted] / nav, trial_buy[lifted])
        trial = replace(data, buy_cap=trial_buy, sell_cap=trial_sell)
        if not problem.values.parametric:
            problem = RebalanceProblem(problem.structure, trial, parametric=False)
        try:  # no fallback solver here: a pass that fails keeps the last good answer
            solution = problem.solve(trial, solvers=SOLVERS[:2], explain=False)
        except (InfeasibleError, RuntimeError):
            continue
        return problem, solution, trial_buy, trial_sell
    return None


def _trades_frame(
    account, uni, q, w0, w_after, participation, cost, lot_sales, scenario, ref, alpha, cap
) -> pd.DataFrame:
    idx = np.flatnonzero(q != 0)
    price = uni["price"].to_numpy(float)
    notional = np.abs(q[idx]) * price[idx]
    adv = uni["adv"].to_numpy(float)[idx]
    gains = (
        lot_sales.groupby("ticker")["realized_gain_usd"].sum(min_count=1)
        if len(lot_sales)
        else pd.Series(dtype=float)
    )
    terms = (
        lot_sales.groupby("ticker")["term"].agg(
            lambda t: t.iloc[0] if t.nunique() == 1 else "mixed"
        )
        if len(lot_sales)
        else pd.Series(dtype=str)
    )
    tickers = uni.index[idx]
    frame = pd.DataFrame(
        {
            "account": account,
            "ticker": tickers,
            "side": np.where(q[idx] > 0, "BUY", "SELL"),
            "quantity": np.abs(q[idx]),
            "price": price[idx],
            "notional": notional,
            "weight_before": w0[idx],
            "weight_after": w_after[idx],
            "pct_adv": np.where(adv > 0, notional / np.where(adv > 0, adv, 1.0), np.inf),
            "days_to_trade": notional / np.maximum(participation[idx] * adv, 1e-12),
            "est_cost": cost.cost_usd(q * price)[idx],
            "reason": [_reason(uni, i, q[i], w0, w_after, ref, alpha, scenario, cap) for i in idx],
            "realized_gain": [
                gains.get(t, np.nan) if q[i] < 0 else np.nan
                for t, i in zip(tickers, idx, strict=True)
            ],
            "term": [
                terms.get(t, "") if q[i] < 0 else "" for t, i in zip(tickers, idx, strict=True)
            ],
        },
        columns=TRADE_COLUMNS,
    )
    return frame.sort_values(
        ["side", "notional"], ascending=[False, False], kind="stable"
    ).reset_index(drop=True)


def _reason(uni, i, qi, w0, w_after, ref, alpha, scenario, cap) -> str:
    """A short, honest account of why the optimizer wanted this trade."""
    restricted = uni["restricted"].iloc[i]
    if qi < 0 and restricted == "sell":
        return "forced exit (restricted: sell)"
    if qi < 0 and w0[i] > cap[i] + 1e-9:
        return f"trim to position cap {cap[i]:.1%}"
    parts = []
    row = uni.iloc[[i]]
    for text, tilt in scenario.tilts.items():
        if match(parse_selector(text), row)[0]:
            want_more = tilt.target >= 0
            if (qi > 0) == want_more:
                parts.append(f"tilt {'toward' if want_more else 'away from'} {text}")
    if alpha[i] > 0 and qi > 0 or alpha[i] < 0 and qi < 0:
        parts.append(f"signal {'+' if alpha[i] > 0 else ''}{alpha[i]:.2%}/yr")
    if qi < 0 and w_after[i] <= 1e-12:
        parts.insert(0, "exit")
    if not parts:
        parts.append("fund purchases" if qi < 0 else "risk: closer to reference")
    return "; ".join(parts)


def _holdings_frame(
    uni, before, after, w0, w_opt, w_after, ref, cash_before, cash_after, nav
) -> pd.DataFrame:
    keep = (before > 0) | (after > 0)
    price = uni["price"].to_numpy(float)
    frame = pd.DataFrame(
        {
            "ticker": uni.index[keep],
            "name": uni["name"].to_numpy()[keep] if "name" in uni else "",
            "sector": uni["sector"].to_numpy()[keep],
            "region": uni["region"].to_numpy()[keep],
            "size": uni["size"].to_numpy()[keep],
            "price": price[keep],
            "shares_before": before[keep],
            "shares_after": after[keep],
            "value_before_usd": before[keep] * price[keep],
            "value_after_usd": after[keep] * price[keep],
            "weight_before": w0[keep],
            "weight_optimal": w_opt[keep],
            "weight_after": w_after[keep],
            "benchmark_weight": ref[keep],
        }
    )
    frame = frame.sort_values("value_after_usd", ascending=False, kind="stable")
    cash = pd.DataFrame(
        [
            {
                "ticker": "CASH",
                "name": "Cash",
                "sector": "",
                "region": "",
                "size": "",
                "price": 1.0,
                "shares_before": cash_before,
                "shares_after": cash_after,
                "value_before_usd": cash_before,
                "value_after_usd": cash_after,
                "weight_before": cash_before / nav,
                "weight_optimal": 1 - float(w_opt.sum()),
                "weight_after": cash_after / nav,
                "benchmark_weight": max(1 - float(ref.sum()), 0.0),
            }
        ]
    )
    return pd.concat([frame, cash], ignore_index=True)


def _exposures_frame(uni, scenario, w0, w_after, ref, w_opt) -> pd.DataFrame:
    """Active exposures of tilted groups first, then size, region and sector groups."""
    selectors = list(scenario.tilts)
    selectors += [f"size:{b}" for b in ("large", "mid", "small", "micro")]
    selectors += [f"region:{r}" for r in ("US", "DM", "EM")]
    selectors += [f"sector:{s}" for s in sorted(uni["sector"].unique())]
    rows = []
    for text in dict.fromkeys(selectors):
        m = match(parse_selector(text), uni)
        tilt = scenario.tilts.get(text)
        rows.append(
            {
                "selector": text,
                "reference": float(ref[m].sum()),
                "weight_before": float(w0[m].sum()),
                "weight_after": float(w_after[m].sum()),
                "before": float((w0 - ref)[m].sum()),
                "optimal": float((w_opt - ref)[m].sum()),
                "after": float((w_after - ref)[m].sum()),
                "target": tilt.target if tilt else np.nan,
                "band_lo": tilt.target - tilt.band if tilt else np.nan,
                "band_hi": tilt.target + tilt.band if tilt else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("selector")


def example_paths() -> dict[str, Path]:
    """Where the shipped example data lives (also inside an installed package)."""
    from importlib.resources import files

    base = Path(str(files("rebalancer.examples")))
    scen = Path(str(files("rebalancer.scenarios")))
    return {
        "holdings": base / "holdings.csv",
        "universe": base / "universe.csv",
        "prices": base / "prices.csv",
        "benchmark": base / "benchmark.csv",
        "accounts": base / "accounts.csv",
        "scenarios": scen,
    }
