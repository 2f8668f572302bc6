"""From the optimizer's answer to a Proposal: rounded orders and the lots they sell
(``rebalancer.trades``), the tables (``report.frames``), the limits re-measured and the
decision whether the orders may be sent (``rebalancer.checks``), the headline figures."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from rebalancer.checks.hard import require_hard_limits
from rebalancer.checks.measure import run_checks
from rebalancer.errors import InfeasibleError
from rebalancer.limits import LIMITS
from rebalancer.limits.cash_request import request_of
from rebalancer.limits.realized_gain import REALIZED_GAIN
from rebalancer.limits.tilt_bands import TILT_BANDS
from rebalancer.limits.tracking_error import TRACKING_ERROR
from rebalancer.limits.turnover import TURNOVER
from rebalancer.model.stress import stress_table
from rebalancer.model.tax import estimated_tax, income_tax_usd
from rebalancer.optimize.problem import Solution
from rebalancer.prepare.request import Request
from rebalancer.report.frames import exposures_frame, holdings_frame, trades_frame
from rebalancer.report.proposal import Metrics, Proposal, Timings
from rebalancer.solve.path import IMMATERIAL, path_summary, te_per_run
from rebalancer.trades.lots import allocate_lots
from rebalancer.trades.rounding import round_orders
from rebalancer.trades.rules import rounding_rules, sales_headroom
from rebalancer.trades.settle import holding_stands_in, should_hold


def build_proposal(
    request: Request,
    solution: Solution,
    timings: Timings | None = None,
    held: str = "",
) -> Proposal:
    """Round the optimal weights to orders, take sales from lots, re-check every limit.

    Raises ``InfeasibleError`` when the orders break a hard limit (see
    ``rebalancer.checks.hard.require_hard_limits``) and holding breaks one too; where holding keeps them all
    (``rebalancer.trades.settle.holding_stands_in``: a continuation that whole lots,
    the minimum trade and the tax lots cannot make within the realized-gain budget),
    the proposal holds instead, ``held`` saying why."""
    timings = timings or Timings()
    t2 = time.perf_counter()
    r = request
    scenario, uni, account, nav = r.scenario, r.universe, r.account, r.position.nav_usd
    price, shares_before, cash_before = r.position.price_usd, r.position.shares, r.position.cash_usd
    w0, ref, alpha, risk, cost = (
        r.position.weight,
        r.reference_weight,
        r.returns.alpha,
        r.risk,
        r.cost,
    )
    participation, position_cap, lots = r.limits.participation, r.limits.position_cap_weight, r.lots
    is_cash = lots["ticker"] == "CASH"
    signals, screened, reference, as_of = r.returns.signals, r.limits.screened, r.reference, r.as_of
    rules = rounding_rules(r)
    # soft bands reached over a path (rebalancer.solve.path): kept no farther outside
    # than today, by the rounding and the checks alike
    over_path = () if solution.destination is None else solution.destination.path_bands
    if over_path:
        rules = dataclasses.replace(rules, **TILT_BANDS.over_path(rules, r, over_path))
    dest = None if solution.destination is None else solution.destination.weights
    if dest is not None and np.abs(dest - solution.weights).sum() / 2 > IMMATERIAL:
        # a step: a name sold down to its cap keeps room for the path's costs
        path_cost = float(cost.cost_usd((dest - w0) * nav).sum()) / nav
        rules = sales_headroom(rules, w0, path_cost)
    q = round_orders(solution.weights, rules, cost.cost_usd)
    hold = held or should_hold(r, solution.evaluate, q)
    if hold:  # the orders are not worth sending: re-runs settle (rebalancer.trades.settle)
        q = np.zeros_like(q)
    shares_after = shares_before + q
    trade_usd = q * price
    cash_after = cash_before - float(trade_usd.sum())
    sells = pd.Series(-np.minimum(q, 0.0), index=uni.index)
    priority, exclude = _lot_order(r, solution)
    lot_sales = allocate_lots(
        lots[~is_cash], sells[sells > 0], uni["price"], as_of, priority=priority, exclude=exclude
    )
    w_after = shares_after * price / nav

    trades = trades_frame(
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
    holdings = holdings_frame(
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
    exposures = exposures_frame(uni, scenario, w0, w_after, ref, solution.weights)
    reference_weights = pd.Series(ref, index=uni.index)
    checks = run_checks(
        lots=lots,
        universe=uni,
        scenario=scenario,
        reference=reference_weights,
        risk=risk,
        trades=trades,
        lot_sales=lot_sales,
        holdings=holdings,
        taxable=r.tax.taxable,
        recent=r.tax.recent_trades,
        limits=LIMITS,
        over_path=over_path,
    )
    try:
        require_hard_limits(r, checks, w_after)
    except InfeasibleError as exc:
        if hold or not holding_stands_in(r, solution.weights):
            raise
        broken = ", ".join(sorted({c.constraint for c in exc.conflicts}))
        why = (
            f"no trades: the orders in whole lots would break {broken}, and holding keeps "
            "every hard limit"
        )
        return build_proposal(request, solution, timings, held=why)
    trades_and_checks_s = time.perf_counter() - t2

    metrics = figures(r, q, lot_sales)
    stress = stress_table(uni, scenario.shocks, shares_before * price, shares_after * price, nav)
    warnings = list(solution.warnings) + list(r.notes) + ([hold] if hold else [])
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
    timings = dataclasses.replace(
        timings,
        trades_and_checks_s=trades_and_checks_s,
        total_s=(timings.total_s or 0.0) + time.perf_counter() - t2,
    )
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
        holdings=holdings,
        exposures=exposures,
        checks=checks,
        binding=solution.binding,
        warnings=warnings,
        stress=stress,
        screened=screened,
        coverage=signals.missing,
        timings=timings,
        inputs=dict(r.paths),
        as_of=pd.Timestamp(as_of).date().isoformat(),
        tax_blocks=None if r.tax.lots is None else r.tax.lots.blocks(),
        lot_method=r.tax.lot_method if r.tax.taxable else "hifo",
        cash_request=request_of(r.scenario, r.mode_asked),
        optimizer=dict(solution.working_set),
        # no orders (held, or none left after rounding): the same run again finds the
        # same holdings, so it is where the path ends, not a step
        path=_path(r, solution, bool(hold) or not q.any(), w_after, trade_usd),
    )


def expected_total_returns(r: Request) -> np.ndarray:
    """What the run expects of each universe name a year, in total: r_f + prior + α."""
    return r.scenario.risk_free_rate + r.returns.prior + r.returns.alpha


def figures(r: Request, q: np.ndarray, lot_sales: pd.DataFrame) -> Metrics:
    """The headline figures of the orders ``q`` (signed shares per universe name) and the
    ``lot_sales`` they take (realized_gain_usd and term per lot), from the request alone:
    what a proposal states and ``verify`` recomputes from the written trades.

    With w = shares · price / NAV: turnover = Σ|q·p| / (2 NAV); est_cost = Σ the cost
    model over the orders; expected return = w · (r_f + prior + α) + cash/NAV · r_f;
    volatility = √(wᵀΣw), tracking error = √((w − ref)ᵀΣ(w − ref)); the tax as
    ``tax.estimated_tax`` nets the lot gains, and the income tax a year is
    ``model.tax.income_tax_usd`` of the shares before and after (taxable accounts only)."""
    scenario, price, nav = r.scenario, r.position.price_usd, r.position.nav_usd
    trade_usd = q * price
    traded = np.flatnonzero(q != 0)
    cash_after = r.position.cash_usd - float(trade_usd.sum())
    w_after = (r.position.shares + q) * price / nav
    expected = expected_total_returns(r)

    def exp_ret(w: np.ndarray, cash_w: float) -> float:
        return float(w @ expected + cash_w * scenario.risk_free_rate)

    gains = lot_sales["realized_gain_usd"] if len(lot_sales) else pd.Series(dtype=float)
    known = gains.notna().any()
    term = lot_sales["term"] if len(lot_sales) else pd.Series(dtype=str)
    tax = (
        estimated_tax(lot_sales, scenario.tax.short_term_rate, scenario.tax.long_term_rate)
        if r.tax.taxable
        else None
    )
    w0, ref, risk = r.position.weight, r.reference_weight, r.risk
    rate = scenario.tax.ordinary_income_rate if r.tax.taxable else 0.0
    return Metrics(
        nav_usd=nav,
        cash_before_usd=r.position.cash_usd,
        cash_after_usd=cash_after,
        turnover=float(np.abs(trade_usd).sum() / (2 * nav)),
        n_trades=len(traded),
        buys_usd=float(trade_usd[trade_usd > 0].sum()),
        sells_usd=float(-trade_usd[trade_usd < 0].sum()),
        est_cost_usd=float(r.cost.cost_usd(trade_usd)[traded].sum()),
        expected_return_before=exp_ret(w0, r.position.cash_usd / nav),
        expected_return=exp_ret(w_after, cash_after / nav),
        active_return=exp_ret(w_after, cash_after / nav) - exp_ret(ref, 1 - ref.sum()),
        volatility_before=float(np.sqrt(risk.variance(w0))),
        volatility=float(np.sqrt(risk.variance(w_after))),
        tracking_error_before=float(np.sqrt(risk.variance(w0 - ref))),
        tracking_error=float(np.sqrt(risk.variance(w_after - ref))),
        realized_gain_usd=float(gains.sum()) if known else float("nan"),
        short_term_gain_usd=float(gains[term == "ST"].sum()) if known else float("nan"),
        long_term_gain_usd=float(gains[term == "LT"].sum()) if known else float("nan"),
        taxable=r.tax.taxable,
        estimated_tax_usd=tax["estimated_tax_usd"] if tax else 0.0,
        harvested_losses_usd=tax["harvested_losses_usd"] if tax else 0.0,
        account_type=r.tax.account_type,
        income_tax_before_usd=income_tax_usd(r.universe, r.position.shares, rate),
        income_tax_usd=income_tax_usd(r.universe, r.position.shares + q, rate),
    )


def _path(
    r: Request, solution: Solution, hold: bool, w_after: np.ndarray, trade_usd: np.ndarray
) -> dict:
    """Whether the proposal is one step of a path (``rebalancer.solve.path``)."""
    if solution.destination is None:
        return {}
    per_run = te_per_run(r)
    dest = solution.destination.weights
    tracking = (
        (
            float(np.sqrt(max(r.risk.variance(w_after - r.position.weight), 0.0))),
            float(np.sqrt(max(r.risk.variance(dest - w_after), 0.0))),
        )
        if per_run and dest is not None
        else (0.0, 0.0)
    )
    return path_summary(
        hold,
        solution.binding,
        solution.destination,
        r.position.weight,
        solution.weights,
        w_after,
        trade_usd,
        r.limits.liquidity_usd,
        r.position.nav_usd,
        TURNOVER.setting(r.scenario),
        r.scenario.costs.impact,
        te_cap_per_run=TRACKING_ERROR.setting(r.scenario) if per_run else None,
        tracking=tracking,
        reference_moves=r.reference != "benchmark" and bool(len(r.scenario.tilts)),
    )


def _lot_order(r: Request, solution: Solution) -> tuple[pd.Series | None, frozenset[str]]:
    """How sales are taken from lots: HIFO, FIFO, or the optimizer's own choice — the
    lots it sold first, lowest gain per dollar first among them, then the least tax
    per dollar (rounding sells at most what it sold). Blocked lots are excluded."""
    if r.tax.lots is None:
        return None, frozenset()
    f = r.tax.lots.frame.set_index("lot_id")
    exclude = frozenset(f.index[f["blocked"] != ""])
    if r.tax.lot_method == "fifo":
        return f["acquired"], exclude
    if r.tax.lot_method == "optimized":
        tax_per_dollar = f["rate"] * f["gain_frac"]
        if solution.lot_sold is None:
            return tax_per_dollar, exclude
        # a lot counts as chosen when the optimizer sold at least half a share of it
        # (below that it is solver noise); chosen lots come first, by tax per dollar,
        # or by gain per dollar when a realized-gain budget must hold
        price = r.position.price_usd[f["security"].to_numpy()]
        # (the optimizer sells from lot classes: each lot of a class sold from is chosen)
        chosen = solution.lot_sold[f["lot_class"].to_numpy()] * r.position.nav_usd >= 0.5 * price
        within = f["gain_frac"] if REALIZED_GAIN.setting(r.scenario) is not None else tax_per_dollar
        key = np.where(chosen, within - 1e6, tax_per_dollar)
        return pd.Series(key, index=f.index), exclude
    return None, exclude
