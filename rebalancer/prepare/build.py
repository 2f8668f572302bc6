"""``prepare``: the inputs and a scenario made into one account's ``Request``.

In steps, each a function below (the first two in ``position``, which ``validate`` shares
without the optimizer's imports): the account's position (``holdings_position``), the
weights it is measured against (``reference_weights``), the risk model and the alpha
(signals + Black-Litterman views, ``_returns``), the cost model (``_costs``), what
each name may do (``_name_limits``), the tax lots (``_tax``), and the problem's
``Structure`` (what fixes its shape) and ``ProblemData`` (the numbers a what-if
changes, ``_problem``); then the optimizer's first working set (seeded by
``optimize.seed.choose_candidates``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rebalancer import inputs as rd
from rebalancer.errors import Conflict, InfeasibleError, InputError
from rebalancer.limits import LIMITS
from rebalancer.limits.base import Row
from rebalancer.limits.cash import CASH
from rebalancer.limits.cash_request import deposited, for_withdrawal
from rebalancer.limits.liquidity import LIQUIDITY
from rebalancer.limits.position import POSITION
from rebalancer.limits.realized_gain import REALIZED_GAIN
from rebalancer.limits.sector import SECTOR
from rebalancer.limits.tilt_bands import TILT_BANDS
from rebalancer.limits.tracking_error import TRACKING_ERROR
from rebalancer.limits.trade_mode import for_mode, one_sided_bands, sides
from rebalancer.model.costs import CostModel
from rebalancer.model.risk import RiskModel
from rebalancer.model.signals import SignalResult
from rebalancer.model.substitutes import check_known, substitute_risk
from rebalancer.model.tax import TaxLots, build_tax_lots, recent_trades
from rebalancer.model.universe import (
    Misfit,
    fit_warnings,
    group_matrix,
    per_name,
    scenario_fit,
    screen_failures,
)
from rebalancer.model.views import build_views, implied_prior, posterior_returns
from rebalancer.optimize.layout import must_hold
from rebalancer.optimize.problem import BIG, ProblemData, Structure
from rebalancer.optimize.seed import choose_candidates, entry_gain, first_set_size, new_name_limit
from rebalancer.prepare.blas import one_blas_thread
from rebalancer.prepare.inputs import Inputs
from rebalancer.prepare.position import holdings_position, reference_weights
from rebalancer.prepare.request import (
    AccountPosition,
    AccountTax,
    ExpectedReturns,
    NameLimits,
    PreparedProblem,
    Request,
)
from rebalancer.prepare.terms import AccountTerms, account_terms
from rebalancer.scenario import Scenario, match, parse_selector
from rebalancer.scenario.selectors import empty_group


def prepare(
    data: Inputs,
    scenario: Scenario,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    *,
    taxable: bool | None = None,
    lot_method: str | None = None,
    exclusions: bool = True,
) -> Request:
    """The Request for one account under one scenario.

    Settings the universe leaves without effect (``universe.scenario_fit``) become
    warnings (``universe.fit_warnings``); a tilt whose band excludes 0 on a group with
    no security raises ``InfeasibleError`` naming the group and its scenario key.

    ``taxable``: True/False, or None to take it from the accounts file
    (``account_terms``: an account with a cost basis must have one). ``lot_method``
    (optimized|hifo|fifo) overrides the accounts file's and the scenario's. The
    account's cash target is the caller's to apply (``AccountTerms.scenario``), once,
    before any relaxation of the scenario.

    The accounts file's ``exclude`` of the account (``exclusions``; a household's view
    has none) makes its names ``restricted: sell`` in this account's universe
    (``excluded``). The scenario's substitute groups are one security to the risk
    model (``model.substitutes``).
    """
    with one_blas_thread():
        return _prepare(data, scenario, account, as_of, taxable, lot_method, exclusions)


def _prepare(data, scenario, account, as_of, taxable, lot_method, exclusions=True) -> Request:
    as_of = rd.trade_date(as_of)
    # a deposit is cash held before trading, a withdrawal cash that leaves with it
    lots = deposited(data.lots_of(account), scenario)
    account = str(lots["account"].iloc[0])
    uni = data.sized(scenario)
    check_known(scenario, uni, data.paths.get("scenario"))
    notes = _fit_notes(data, uni, scenario, account)

    mode_asked = scenario.constraints.trade_mode  # ``requested`` resolves cash-only
    scenario, shares_before, cash_before, nav = requested(lots, uni, scenario)
    price = uni["price"].to_numpy(float)
    w0 = shares_before * price / nav
    # without a benchmark the reference is today's portfolio, before a payout (its
    # weights of today's NAV): a withdrawal raised pro rata has no active weight
    paid = scenario.constraints.cash.withdraw_usd or 0.0
    ref, reference = reference_weights(
        data.reference_weights(uni) if data.benchmark is not None else None,
        shares_before * price / (nav + paid) if paid else w0,
    )
    factors = data.risk_model(uni)  # the signals' residual risk is each name's own
    signals, prior, alpha = _returns(data, uni, scenario, factors, ref)
    risk = substitute_risk(factors, scenario)
    cost = _costs(uni, scenario, risk)
    terms = account_terms(data, account, taxable=taxable, lot_method=lot_method)
    if exclusions and terms.exclude:  # what this account may hold: from here on
        uni = excluded(uni, terms)
    limits = _name_limits(data, uni, scenario, nav, shares_before, price)
    buys, sells = sides(scenario)
    if not (buys and sells):  # a mode of one side: the other side's caps are 0
        may_buy, may_sell = limits.may_buy & buys, limits.may_sell & sells
        limits = dataclasses.replace(limits, may_buy=may_buy, may_sell=may_sell)

    notes.extend(_acquired_after(lots, as_of))
    tax = _tax(data, terms, lots, uni, nav, as_of, scenario)
    may_buy = limits.may_buy
    if tax.lots is not None:  # the wash-sale rules' blocked buys
        may_buy &= ~uni.index.isin(tax.lots.blocked_buys["ticker"])

    # a limit that makes the account hold a name it neither holds nor may buy
    stuck = [x for a in LIMITS for x in a.out_of_reach(uni, scenario, ref, w0, may_buy)]
    if stuck:
        raise InfeasibleError(account, stuck)

    spread, impact = cost.weight_coefficients(nav)
    full_structure, full_data, sectors = _problem(
        data, uni, scenario, risk, tax.lots, nav, w0, ref, alpha, spread, impact, limits
    )

    # the whole-universe problem; the optimizer solves it through a working set of
    # candidate names, pricing the others in when they would improve the answer
    # (rebalancer.optimize.working_set)
    new_names = new_name_limit(nav, scenario.constraints)
    gain = entry_gain(alpha, spread, ref, risk.specific_var, scenario.risk_aversion)
    limit = first_set_size(risk.loadings.shape[1])
    groups = full_structure.tilt_groups
    keep = choose_candidates(w0, ref, gain, may_buy, groups, limit, new_names=new_names)
    keep |= must_hold(full_data)  # the names the limits' caps make the account hold
    return Request(
        account=account,
        scenario=scenario,
        as_of=as_of,
        lots=lots,
        universe=uni,
        position=AccountPosition(
            nav_usd=nav, cash_usd=cash_before, shares=shares_before, price_usd=price, weight=w0
        ),
        reference_weight=ref,
        reference=reference,
        risk=risk,
        returns=ExpectedReturns(signals=signals, prior=prior, alpha=alpha),
        cost=cost,
        limits=limits,
        sectors=list(sectors),
        problem=PreparedProblem(
            structure=full_structure,
            data=full_data,
            candidates=np.flatnonzero(keep),
            entry_gain=gain,
            new_names=new_names,
        ),
        tax=tax,
        paths=dict(data.paths),
        notes=notes,
        mode_asked=mode_asked,
    )


def excluded(uni: pd.DataFrame, terms: AccountTerms) -> pd.DataFrame:
    """A copy of the universe where the names of the account's ``exclude`` selectors
    are restricted as a forced exit is (``sell``: sold, never bought), or ``no_trade``
    where the universe forbids their sale. Raises ``InputError`` naming the accounts
    file's row and column for a selector that matches no security."""
    path, row = terms.exclude_at
    hit = np.zeros(len(uni), dtype=bool)
    for selector in terms.exclude:
        mask = match(selector, uni)
        if not mask.any():
            message = empty_group(selector.text, uni)
            raise InputError(path, f"exclude {message}", row=row, column="exclude")
        hit |= mask
    uni = uni.copy()
    restricted = uni["restricted"].to_numpy(object)
    frozen = np.isin(restricted, ["no_sell", "no_trade"])
    uni["restricted"] = np.where(hit & frozen, "no_trade", np.where(hit, "sell", restricted))
    return uni


def requested(
    lots: pd.DataFrame, universe: pd.DataFrame, scenario: Scenario
) -> tuple[Scenario, np.ndarray, float, float]:
    """(the scenario as the account's cash request and mode adjust it, and the
    account's shares, cash and NAV): ``lots`` are its holdings rows with its deposit
    and withdrawal (``deposited``). The one place the adjustment is made, once, on the scenario the
    caller gives (``verify`` re-applies it to the recorded request)."""
    shares_before, cash_before, nav = holdings_position(lots, universe)
    # NAV after the payout (``deposited``): a withdrawal above the NAV is refused
    scenario = for_withdrawal(scenario, nav)
    scenario = for_mode(scenario, cash_before, nav)  # which side it may trade
    return scenario, shares_before, cash_before, nav


def _fit_notes(data: Inputs, uni: pd.DataFrame, scenario: Scenario, account: str) -> list[str]:
    """The warnings of settings the universe leaves without effect; raises
    ``InfeasibleError`` for a tilt whose band excludes 0 on a group with no security.
    (Measured once per universe and scenario: a book's accounts of a model share it.)"""
    fit = data.cached(("fit", repr(scenario)), lambda: scenario_fit(uni, scenario), uni)
    impossible = [misfit for misfit in fit if not misfit.harmless]
    if impossible:
        raise InfeasibleError(account, [_empty_tilt(scenario, m) for m in impossible])
    return fit_warnings(fit)


def _returns(
    data: Inputs, uni: pd.DataFrame, scenario: Scenario, risk: RiskModel, ref: np.ndarray
) -> tuple[SignalResult, np.ndarray, np.ndarray]:
    """(the signals, the market-implied prior π = δ·Σ·w_mkt, the alpha): the alpha is
    the signals' plus the views', the Black-Litterman posterior less the prior."""
    signals = data.signals(uni, scenario, risk)
    # funds (no market cap) are no part of the market portfolio: it holds their holdings
    # (a universe of funds alone: equal weights stand in for it)
    market = np.nan_to_num(uni["market_cap"].to_numpy(float))
    if not market.any():
        market = np.ones(len(market))
    if data.benchmark is not None and ref.sum() > 0:  # a benchmark of cash alone has no
        market = ref  # securities to imply returns from: market caps stand in for it
    prior = implied_prior(risk, market, scenario.market_risk_aversion)
    views = data.cached(
        ("views", repr(scenario.views)), lambda: build_views(uni, scenario.views), uni
    )
    view_alpha = posterior_returns(risk, prior, views, scenario.view_tau) - prior
    return signals, prior, signals.alpha.to_numpy() + view_alpha


def _costs(uni: pd.DataFrame, scenario: Scenario, risk: RiskModel) -> CostModel:
    """The trading cost model: each name's half spread (the widest its selectors give)
    and market impact from its volatility and average daily volume."""
    return CostModel.build(
        per_name(uni, scenario.costs.spread_bps, "max"),
        scenario.costs.impact,
        risk.total_vol(),
        uni["adv"].to_numpy(float),
    )


def _name_limits(
    data: Inputs,
    uni: pd.DataFrame,
    scenario: Scenario,
    nav: float,
    shares_before: np.ndarray,
    price: np.ndarray,
) -> NameLimits:
    """What each name may do in this account, before the wash-sale rules' blocked buys
    (``_tax`` finds them; ``prepare`` then narrows ``may_buy`` in place)."""
    participation = LIQUIDITY.participation(uni, scenario)
    liq_usd = LIQUIDITY.cap_usd(uni, scenario)
    restricted = uni["restricted"].to_numpy()
    # the same names for every account of a model: found once per universe and screens
    screens = repr((scenario.constraints.no_buy, scenario.screens))
    screened = data.cached(("screened", screens), lambda: screen_failures(uni, scenario), uni)
    position_cap = POSITION.caps(uni, scenario)
    position_cap[restricted == "sell"] = 0.0
    # orders go out in whole lots (whole shares without round_lots): a name of which
    # not one lot fits in its participation limit, or under its position cap (in a
    # small account, or for a high-priced name or a large lot, one lot can be worth
    # more than the cap), cannot be bought, and the optimizer must not plan buys of it
    lot_usd = price * (uni["lot_size"].to_numpy(float) if scenario.constraints.round_lots else 1.0)
    room_usd = position_cap * nav - shares_before * price
    # what the scenario lets any account buy (restrictions, screens)
    open_to_buy = ~np.isin(restricted, ["no_buy", "no_trade", "sell"]) & ~uni.index.isin(
        screened["ticker"]
    )
    may_buy = open_to_buy & (liq_usd >= lot_usd * (1 - 1e-9)) & (room_usd >= lot_usd * (1 - 1e-9))
    may_sell = ~np.isin(restricted, ["no_sell", "no_trade"]) & (liq_usd > 0)
    return NameLimits(
        participation=participation,
        liquidity_usd=liq_usd,
        may_buy=may_buy,
        may_sell=may_sell,
        open_to_buy=open_to_buy,
        position_cap_weight=position_cap,
        screened=screened,
    )


def _acquired_after(lots: pd.DataFrame, as_of: pd.Timestamp) -> list[str]:
    """A warning when the trade date precedes lots' acquisition (an ``--as-of`` in the
    past): their holding periods are negative, so a sale of one is short-term."""
    acquired = pd.to_datetime(lots.get("acquired", pd.Series(dtype="datetime64[ns]")))
    later = acquired[acquired > as_of]
    if later.empty:
        return []
    return [
        f"as-of date {as_of.date()} precedes the acquisition of {len(later)} lot(s) "
        f"(bought {later.min().date()} to {later.max().date()}): they count as held "
        "less than a year, so their sales as short-term"
    ]


def _tax(
    data: Inputs,
    terms: AccountTerms,
    lots: pd.DataFrame,
    uni: pd.DataFrame,
    nav: float,
    as_of: pd.Timestamp,
    scenario: Scenario,
) -> AccountTax:
    """How the account's sales are taxed: its lot method (the account's, else the
    scenario's) and, when taxable, its tax lots and the household's trades in the
    wash-sale window."""
    lot_method = terms.lot_method or scenario.tax.lot_method
    if not terms.taxable:
        return AccountTax(False, lot_method, account_type=terms.account_type)
    recent = recent_trades(data.history, list(terms.household), as_of, scenario.tax.wash_sale_days)
    tax_lots = build_tax_lots(lots, uni, nav, as_of, scenario, recent)
    return AccountTax(True, lot_method, tax_lots, recent, terms.account_type)


def _problem(
    data: Inputs,
    uni: pd.DataFrame,
    scenario: Scenario,
    risk: RiskModel,
    tax_lots: TaxLots | None,
    nav: float,
    w0: np.ndarray,
    ref: np.ndarray,
    alpha: np.ndarray,
    spread: np.ndarray,
    impact: np.ndarray,
    limits: NameLimits,
) -> tuple[Structure, ProblemData, list[str]]:
    """The whole-universe problem: its ``Structure`` (the risk model, the tilted groups,
    the sectors, which limits are set, the lots), its ``ProblemData`` (alpha, costs and
    every limit in weights) and the universe's sectors."""
    c = scenario.constraints
    # a tilt on a group with no security has nothing to act on (its band holds 0)
    tilt_labels = [t for t in scenario.tilts if match(parse_selector(t), uni).any()]
    groups = data.cached(
        ("tilt groups", *tilt_labels),
        lambda: group_matrix(uni, [parse_selector(t) for t in tilt_labels]),
        uni,
    ).copy()
    targets, tilt_lo, tilt_hi = TILT_BANDS.bands(tilt_labels, scenario)
    tilt_lo, tilt_hi = one_sided_bands(scenario, groups @ (w0 - ref), tilt_lo, tilt_hi)
    sectors, sector_groups = data.cached("sectors", lambda: _sector_groups(uni), uni)

    # the advisor's scalar limits as the scenario states them (None: not set)
    sector_max = SECTOR.setting(scenario)
    tracking_error = TRACKING_ERROR.setting(scenario)
    gain_budget = REALIZED_GAIN.setting(scenario)
    # the limits on each name's active weight (rebalancer.limits): their caps
    active_caps = {}
    for advisor in LIMITS:
        caps = advisor.problem_caps(uni, scenario)
        if caps is not None:
            active_caps[advisor.name] = caps
    # the limits stated as linear rows of the trades (rebalancer.limits.base.RowCap)
    rows = [row for advisor in LIMITS for row in advisor.problem_rows(uni, scenario, nav)]
    structure = Structure(
        tickers=data.cached("tickers", lambda: tuple(uni.index), uni),
        loadings=risk.loadings,
        factor_chol=risk.factor_chol(),
        specific_var=risk.specific_var,
        tilt_groups=groups,
        tilt_labels=tuple(tilt_labels),
        sector_groups=sector_groups,
        sector_labels=tuple(sectors),
        has_tracking_error=tracking_error is not None,
        has_sector_max=sector_max is not None,
        lot_members=None if tax_lots is None else tax_lots.members,
        has_gain_limit=tax_lots is not None and gain_budget is not None,
        active_caps=tuple((name, name) for name in active_caps),
        rows=tuple(row.name for row in rows),
    )
    problem_data = ProblemData(
        alpha=alpha,
        w0=w0,
        ref=ref,
        risk_aversion=scenario.risk_aversion,
        spread=spread,
        impact=impact,
        # in NAV units a deep name's cap can be 10^7 (a small account): no trade weight
        # exceeds 2, and caps that large wreck the solvers' scaling, so BIG stands in
        liquidity_cap=np.minimum(limits.liquidity_usd / nav, BIG),
        buy_cap=np.where(limits.may_buy, BIG, 0.0),
        sell_cap=np.where(limits.may_sell, w0, 0.0),
        position_cap=limits.position_cap_weight,
        cash_target=c.cash.target,
        cash_tolerance=CASH.tolerance(scenario),
        cash_floor=c.cash.min,
        tilt_target=targets,
        tilt_lo=tilt_lo,
        tilt_hi=tilt_hi,
        tilt_strength=scenario.tilt_strength,
        max_tracking_error=BIG if tracking_error is None else TRACKING_ERROR.inside(tracking_error),
        sector_max=BIG if sector_max is None else SECTOR.inside(sector_max),
        lot_cap=None if tax_lots is None else tax_lots.classes["cap"].to_numpy(float),
        lot_tax=None if tax_lots is None else tax_lots.classes["tax_coef"].to_numpy(float),
        lot_gain=None if tax_lots is None else tax_lots.classes["gain_frac"].to_numpy(float),
        # sales are later taken from the lots the optimizer chose, losses first, and
        # rounding only sells less: the budget needs no margin
        max_realized_gain_nav=BIG if gain_budget is None else gain_budget / nav,
        nav_usd=nav,
        active_caps=np.vstack(list(active_caps.values())) if active_caps else None,
        **_row_fields(rows, len(uni)),
    )
    return structure, problem_data, sectors


def _row_fields(rows: list[Row], n: int) -> dict:
    """``ProblemData``'s ``row_*`` fields of the limits' linear rows (none: no rows)."""
    if not rows:
        return {}
    buy, sell, weight = (
        np.vstack(part) for part in zip(*(r.per_name(n) for r in rows), strict=True)
    )
    return {
        "row_rhs": np.array([r.rhs for r in rows], float),
        "row_buy": buy,
        "row_sell": sell,
        "row_weight": weight,
    }


def _empty_tilt(scenario: Scenario, misfit: Misfit) -> Conflict:
    """A tilt on a group with no security (exposure 0) whose band excludes 0, as the
    conflict the relaxation widens the band for."""
    label = misfit.key[len("tilts.") :]
    tilt = scenario.tilts[label]
    edge = tilt.target - tilt.band if tilt.target > 0 else tilt.target + tilt.band
    detail = f"scenario key '{misfit.key}': {misfit.message}"
    return TILT_BANDS.group_conflict(label, edge, 0.0, detail)


def _sector_groups(uni: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The universe's sectors (sorted) and their 0/1 membership rows."""
    sectors = sorted(uni["sector"].unique())
    rows = np.vstack([(uni["sector"] == s).to_numpy(float) for s in sectors])
    rows.setflags(write=False)  # shared by every account of the universe
    return sectors, rows
