"""One account under one scenario, made ready for the optimizer.

``prepare`` turns the inputs and a scenario into a ``Request``: the account's
positions and weights, the risk model, the alpha (signals + Black-Litterman views),
the cost model, the per-name limits, and the problem's ``Structure`` (what fixes
its shape) and ``ProblemData`` (the numbers a what-if changes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from rebalancer import inputs as rd
from rebalancer.errors import Conflict, InfeasibleError, InputError
from rebalancer.limits import LIMITS
from rebalancer.limits.cash import CASH
from rebalancer.limits.liquidity import LIQUIDITY
from rebalancer.limits.position import POSITION
from rebalancer.limits.realized_gain import REALIZED_GAIN
from rebalancer.limits.sector import SECTOR
from rebalancer.limits.tilt_bands import TILT_BANDS
from rebalancer.limits.tracking_error import TRACKING_ERROR
from rebalancer.limits.turnover import TURNOVER
from rebalancer.model.costs import CostModel
from rebalancer.model.risk import RiskModel, build_risk_model
from rebalancer.model.signals import SignalResult, signal_alpha
from rebalancer.model.tax import TaxLots, build_tax_lots, recent_trades
from rebalancer.model.universe import (
    Misfit,
    fit_warnings,
    group_matrix,
    per_name,
    scenario_fit,
    screen_failures,
    with_size,
)
from rebalancer.model.views import build_views, implied_prior, posterior_returns
from rebalancer.optimize.layout import must_hold, restrict
from rebalancer.optimize.problem import BIG, ProblemData, Structure
from rebalancer.scenario import Scenario, match, parse_selector
from rebalancer.solve.seed import choose_candidates, entry_gain, first_set_size, new_name_limit


@dataclass
class Inputs:
    """The files of one run, read and cross-checked."""

    holdings: pd.DataFrame
    universe: pd.DataFrame
    prices: pd.DataFrame | None = None
    benchmark: pd.Series | None = None
    paths: dict[str, str] = field(default_factory=dict)
    accounts: pd.DataFrame | None = None  # account, taxable, household, ... (books)
    history: pd.DataFrame | None = None  # past trades (wash-sale rules)
    _risk: dict = field(default_factory=dict, repr=False)  # cached models, frames, alphas

    def lots_of(self, account: str | None) -> pd.DataFrame:
        """The holdings rows of ``account`` (None: the file's only account). A book asks
        for each of thousands of accounts: the rows are indexed by account once."""
        path = self.paths.get("holdings", "holdings")
        if account is None:
            return rd.select_account(self.holdings, account, path)
        rows = self.cached(
            "accounts", lambda: self.holdings.groupby("account", sort=False).indices, self.holdings
        ).get(account)
        if rows is None:  # not in the file: the reader's message names what is
            return rd.select_account(self.holdings, account, path)
        return self.holdings.iloc[rows]

    def reference_weights(self, universe: pd.DataFrame) -> np.ndarray:
        """The benchmark's weights in the universe's order (cached per benchmark and
        universe frame: pandas copies a series' attrs, the benchmark's row numbers, on
        every reindex)."""

        def weights() -> np.ndarray:
            bench = pd.Series(self.benchmark.to_numpy(float), index=self.benchmark.index)
            return bench.reindex(universe.index, fill_value=0.0).to_numpy(float)

        return self.cached("reference", weights, self.benchmark, universe).copy()

    def sized(self, scenario: Scenario) -> pd.DataFrame:
        """The universe with the scenario's size buckets (one frame per set of bounds,
        shared and read-only, so group masks are computed once)."""
        key = ("sized", tuple(sorted(scenario.size_buckets.items())))
        if key not in self._risk:
            self._risk[key] = with_size(self.universe, scenario)
        return self._risk[key]

    def signals(self, universe: pd.DataFrame, scenario: Scenario, risk: RiskModel) -> SignalResult:
        """The signal alpha of a scenario's signal settings (cached per settings)."""
        key = ("signals", id(universe), id(risk), repr(scenario.signals))
        if key not in self._risk:
            self._risk[key] = signal_alpha(universe, scenario.signals, risk.specific_vol())
        return self._risk[key]

    def cached(self, name: Hashable, compute: Callable[[], Any], *of: object) -> Any:
        """``compute()``, once per ``name`` and the objects ``of`` it is computed from
        (frames shared and read-only, such as a universe: what a book's thousands of
        accounts would otherwise each recompute). The objects themselves are kept and
        compared, so a new one at a freed address is not taken for the old."""
        key = (name, *map(id, of))
        known = self._risk.get(key)
        if known is None or any(a is not b for a, b in zip(known[0], of, strict=True)):
            known = self._risk[key] = (of, compute())
        return known[1]

    def risk_model(self, universe: pd.DataFrame) -> RiskModel:
        """One risk model per universe (cached: every account of a book shares it)."""
        key = self.cached("sizes", lambda: tuple(universe["size"]), universe)
        if key not in self._risk:
            self._risk[key] = build_risk_model(universe, self.prices)
        return self._risk[key]


def load_inputs(
    holdings, universe, prices=None, benchmark=None, accounts=None, history=None
) -> Inputs:
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
    acc = read(accounts, rd.read_accounts, "accounts")
    hist = read(history, rd.read_trade_history, "trade_history")
    rd.check_holdings_in_universe(hold, uni, paths.get("holdings", "holdings"))
    if bench is not None:
        rd.check_benchmark_in_universe(bench, uni, paths.get("benchmark", "benchmark"))
    return Inputs(hold, uni, px, bench, paths, accounts=acc, history=hist)


@dataclass(frozen=True)
class AccountTerms:
    """What the accounts file says of one account, under the options that override it.
    ``account_terms`` is the one place an account's row becomes settings: ``propose``,
    ``whatif``, ``batch`` and ``verify --reproduce`` all take them from there."""

    account: str
    taxable: bool
    lot_method: str | None = None  # None: the scenario's tax.lot_method
    cash_target: float | None = None  # None: the scenario's cash target
    household: tuple[str, ...] = ()  # the accounts whose trades count for wash sales

    def scenario(self, scenario: Scenario) -> Scenario:
        """``scenario`` with the account's cash target (and the cash floor lowered to
        it where the scenario's is above it)."""
        if self.cash_target is None:
            return scenario
        c = scenario.constraints
        cash = dataclasses.replace(
            c.cash, target=self.cash_target, min=min(c.cash.min, self.cash_target)
        )
        return dataclasses.replace(scenario, constraints=dataclasses.replace(c, cash=cash))


def account_terms(
    data: Inputs,
    account: str | None,
    *,
    taxable: bool | None = None,
    lot_method: str | None = None,
    cash_target: float | None = None,
) -> AccountTerms:
    """The settings of ``account`` (None: the holdings' only account): each option
    given here, else the account's row of the accounts file, else the scenario's.

    An account whose lots carry a cost basis must have a tax status — ``taxable`` or
    a row of the accounts file — or this raises ``InputError`` asking for one: treated
    as tax-exempt by default, a taxable account's sales would ignore their gains.
    """
    lots = data.lots_of(account)
    name = str(lots["account"].iloc[0])
    row = _account_row(data, name)
    if taxable is None and row is not None:
        taxable = bool(row["taxable"])
    if taxable is None:
        if lots["cost_basis"].notna().any():
            if data.accounts is not None:  # given, without the account's row
                raise InputError(
                    data.paths.get("accounts", "accounts"),
                    f"no row for account {name}, whose lots carry a cost basis: add its "
                    "row with its tax status, or say --taxable or --tax-exempt",
                    column="account",
                )
            raise InputError(
                data.paths.get("holdings", "holdings"),
                f"account {name} has lots with a cost basis but no tax status: say "
                "--taxable or --tax-exempt, or give --accounts with its row",
            )
        taxable = False
    household: tuple[str, ...] = (name,)
    if row is not None:
        if lot_method is None and row.get("lot_method"):
            lot_method = str(row["lot_method"])
        if cash_target is None and not pd.isna(row["cash_target"]):
            cash_target = float(row["cash_target"])
        if row["household"]:
            table = data.accounts
            household = tuple(table.loc[table["household"] == row["household"], "account"])
    return AccountTerms(name, taxable, lot_method, cash_target, household)


def _account_row(data: Inputs, account: str) -> pd.Series | None:
    """The account's row of the accounts file (None: no file, or not listed in it)."""
    if data.accounts is None:
        return None
    rows = data.cached(
        "account rows", lambda: data.accounts.set_index("account", drop=False), data.accounts
    )
    return rows.loc[account] if account in rows.index else None


@dataclass(frozen=True)
class Request:
    """Everything the optimizer, the rounding and the report need for one run."""

    account: str
    scenario: Scenario
    as_of: pd.Timestamp
    lots: pd.DataFrame  # the account's holdings rows (lots and cash)
    universe: pd.DataFrame  # with a size column
    nav: float
    cash_before: float
    shares_before: np.ndarray
    price: np.ndarray
    w0: np.ndarray
    ref: np.ndarray
    reference: str  # "benchmark" or "current holdings"
    risk: RiskModel
    signals: SignalResult
    prior: np.ndarray  # market-implied excess returns
    alpha: np.ndarray  # signal + view alpha
    cost: CostModel
    participation: np.ndarray
    liquidity_usd: np.ndarray
    may_buy: np.ndarray
    may_sell: np.ndarray
    open_to_buy: np.ndarray  # what the scenario lets any account buy (may_buy: this one)
    position_cap: np.ndarray
    screened: pd.DataFrame
    sectors: list[str]
    structure: Structure  # the problem over the first working set (``candidates``)
    data: ProblemData
    full_structure: Structure  # the problem over the whole universe
    full_data: ProblemData
    paths: dict[str, str] = field(default_factory=dict)
    taxable: bool = False
    tax_lots: TaxLots | None = None
    recent_trades: pd.DataFrame | None = None  # the household's trades in the wash window
    entry_gain: np.ndarray | None = None  # what ranks the first working set's names
    candidates: np.ndarray | None = None  # universe positions of the first working set
    new_names: int | None = None  # most names not held a small account's set may take
    lot_method: str = "hifo"
    notes: list[str] = field(default_factory=list)  # warnings found while preparing

    def first_set(self) -> np.ndarray:
        """The first working set (``candidates``) as a mask over the universe."""
        keep = np.zeros(len(self.price), dtype=bool)
        keep[self.candidates] = True
        return keep

    @property
    def lot_usd(self) -> np.ndarray:
        lots = (
            self.universe["lot_size"].to_numpy(float)
            if self.scenario.constraints.round_lots
            else np.ones(len(self.price))
        )
        return self.price * lots

    def structure_key(self) -> tuple:
        """Requests with equal keys can share one compiled (parametric) slot problem
        (``rebalancer.optimize.layout``): the same risk model and universe, the same
        tilted groups, limits and lots. Which names the working set holds is not part
        of it: slots take them."""
        s = self.full_structure
        lots = None if s.lot_members is None else s.lot_members.shape
        return (
            id(self.risk),
            id(self.universe),
            s.tilt_labels,
            s.has_turnover,
            s.has_tracking_error,
            s.has_sector_max,
            lots,
            s.has_gain_limit,
            s.active_caps,
            self.w0.tobytes(),
        )


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """NumPy's BLAS on one thread while an account is computed (risk model, returns,
    problem data, solves). A sum split over threads adds in another order, and the
    last bit that changes (1e-17 in an alpha) moves the solver's answer by ~1e-7 —
    enough to change a whole-lot order. On one thread a proposal, a what-if, a
    verify and a book's worker (on one thread anyway) compute the same numbers, bit
    for bit, whichever of them built the cached risk model."""
    with threadpool_limits(1, user_api="blas"):
        yield


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


def holdings_position(
    lots: pd.DataFrame, universe: pd.DataFrame
) -> tuple[np.ndarray, float, float]:
    """(shares of each universe name, cash, NAV) of one account's holdings rows:
    NAV = Σ shares·price + cash; its current weights are shares·price / NAV."""
    is_cash = lots["ticker"] == "CASH"
    cash = float(lots.loc[is_cash, "quantity"].sum())
    shares = (
        lots[~is_cash]
        .groupby("ticker")["quantity"]
        .sum()
        .reindex(universe.index, fill_value=0.0)
        .to_numpy(float)
    )
    return shares, cash, float(shares @ universe["price"].to_numpy(float) + cash)


def reference_weights(
    benchmark: np.ndarray | None, w0: np.ndarray | None
) -> tuple[np.ndarray, str]:
    """The weights active exposures (tilts) and tracking error are measured against,
    and their name: the benchmark's (in the universe's order) when one is given, else
    the account's current weights ``w0`` (a proposal then tilts away from what it holds)."""
    if benchmark is not None:
        return benchmark, "benchmark"
    return w0.copy(), "current holdings"


def prepare(
    data: Inputs,
    scenario: Scenario,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    *,
    taxable: bool | None = None,
    lot_method: str | None = None,
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
    """
    with one_blas_thread():
        return _prepare(data, scenario, account, as_of, taxable, lot_method)


def _prepare(data, scenario, account, as_of, taxable, lot_method) -> Request:
    as_of = rd.trade_date(as_of)
    lots = data.lots_of(account)
    account = str(lots["account"].iloc[0])
    uni = data.sized(scenario)
    fit = scenario_fit(uni, scenario)
    impossible = [misfit for misfit in fit if not misfit.harmless]
    if impossible:
        raise InfeasibleError(account, [_empty_tilt(scenario, m) for m in impossible])
    notes = fit_warnings(fit)

    shares_before, cash_before, nav = holdings_position(lots, uni)
    price = uni["price"].to_numpy(float)
    w0 = shares_before * price / nav
    ref, reference = reference_weights(
        data.reference_weights(uni) if data.benchmark is not None else None, w0
    )

    risk = data.risk_model(uni)
    signals = data.signals(uni, scenario, risk)
    # funds (no market cap) are no part of the market portfolio: it holds their holdings
    # (a universe of funds alone: equal weights stand in for it)
    market = np.nan_to_num(uni["market_cap"].to_numpy(float))
    if not market.any():
        market = np.ones(len(market))
    if data.benchmark is not None and ref.sum() > 0:  # a benchmark of cash alone has no
        market = ref  # securities to imply returns from: market caps stand in for it
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
    participation = LIQUIDITY.participation(uni, scenario)
    liq_usd = LIQUIDITY.cap_usd(uni, scenario)
    restricted = uni["restricted"].to_numpy()
    screened = screen_failures(uni, scenario)
    position_cap = POSITION.caps(uni, scenario)
    position_cap[restricted == "sell"] = 0.0
    # orders go out in whole lots (whole shares without round_lots): a name of which
    # not one lot fits in its participation limit, or under its position cap (in a
    # small account, or for a high-priced name or a large lot, one lot can be worth
    # more than the cap), cannot be bought, and the optimizer must not plan buys of it
    lot_usd = price * (uni["lot_size"].to_numpy(float) if c.round_lots else 1.0)
    room_usd = position_cap * nav - shares_before * price
    # what the scenario lets any account buy (restrictions, screens)
    open_to_buy = ~np.isin(restricted, ["no_buy", "no_trade", "sell"]) & ~uni.index.isin(
        screened["ticker"]
    )
    may_buy = open_to_buy & (liq_usd >= lot_usd * (1 - 1e-9)) & (room_usd >= lot_usd * (1 - 1e-9))
    may_sell = ~np.isin(restricted, ["no_sell", "no_trade"]) & (liq_usd > 0)

    notes.extend(_acquired_after(lots, as_of))
    terms = account_terms(data, account, taxable=taxable, lot_method=lot_method)
    taxable = terms.taxable
    tax_lots = recent = None
    if taxable:
        recent = recent_trades(
            data.history, list(terms.household), as_of, scenario.tax.wash_sale_days
        )
        tax_lots = build_tax_lots(lots, uni, nav, as_of, scenario, recent)
        may_buy &= ~uni.index.isin(tax_lots.blocked_buys["ticker"])

    # a limit that makes the account hold a name it neither holds nor may buy
    stuck = [x for a in LIMITS for x in a.out_of_reach(uni, scenario, ref, w0, may_buy)]
    if stuck:
        raise InfeasibleError(account, stuck)

    # a tilt on a group with no security has nothing to act on (its band holds 0)
    tilt_labels = [t for t in scenario.tilts if match(parse_selector(t), uni).any()]
    groups = data.cached(
        ("tilt groups", *tilt_labels),
        lambda: group_matrix(uni, [parse_selector(t) for t in tilt_labels]),
        uni,
    ).copy()
    targets, tilt_lo, tilt_hi = TILT_BANDS.bands(tilt_labels, scenario)
    sectors, sector_groups = data.cached("sectors", lambda: _sector_groups(uni), uni)

    # the advisor's scalar limits as the scenario states them (None: not set)
    turnover, sector_max = TURNOVER.setting(scenario), SECTOR.setting(scenario)
    tracking_error = TRACKING_ERROR.setting(scenario)
    gain_budget = REALIZED_GAIN.setting(scenario)

    # the whole-universe problem; the optimizer solves it through a working set of
    # candidate names, pricing the others in when they would improve the answer
    # (rebalancer.optimize.working_set)
    new_names = new_name_limit(nav, c)
    gain = entry_gain(alpha, spread, ref, risk.specific_var, scenario.risk_aversion)
    limit = first_set_size(risk.loadings.shape[1])
    keep = choose_candidates(w0, ref, gain, may_buy, groups, limit, new_names=new_names)
    # the limits on each name's active weight (rebalancer.limits): their caps
    active_caps = {}
    for advisor in LIMITS:
        caps = advisor.problem_caps(uni, scenario)
        if caps is not None:
            active_caps[advisor.name] = caps
    full_structure = Structure(
        tickers=data.cached("tickers", lambda: tuple(uni.index), uni),
        loadings=risk.loadings,
        factor_chol=risk.factor_chol(),
        specific_var=risk.specific_var,
        tilt_groups=groups,
        tilt_labels=tuple(tilt_labels),
        sector_groups=sector_groups,
        sector_labels=tuple(sectors),
        has_turnover=turnover is not None,
        has_tracking_error=tracking_error is not None,
        has_sector_max=sector_max is not None,
        lot_members=None if tax_lots is None else tax_lots.members,
        has_gain_limit=tax_lots is not None and gain_budget is not None,
        active_caps=tuple((name, name) for name in active_caps),
    )
    full_data = ProblemData(
        alpha=alpha,
        w0=w0,
        ref=ref,
        risk_aversion=scenario.risk_aversion,
        spread=spread,
        impact=impact,
        # in NAV units a deep name's cap can be 10^7 (a small account): no trade weight
        # exceeds 2, and caps that large wreck the solvers' scaling, so BIG stands in
        liquidity_cap=np.minimum(liq_usd / nav, BIG),
        buy_cap=np.where(may_buy, BIG, 0.0),
        sell_cap=np.where(may_sell, w0, 0.0),
        position_cap=position_cap,
        cash_target=c.cash.target,
        cash_tolerance=CASH.tolerance(scenario),
        tilt_target=targets,
        tilt_lo=tilt_lo,
        tilt_hi=tilt_hi,
        tilt_strength=scenario.tilt_strength,
        max_turnover=BIG if turnover is None else TURNOVER.inside(turnover),
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
    )
    keep |= must_hold(full_data)  # the names those caps make the account hold
    structure, problem_data = restrict(full_structure, full_data, keep)
    return Request(
        account=account,
        scenario=scenario,
        as_of=as_of,
        lots=lots,
        universe=uni,
        nav=nav,
        cash_before=cash_before,
        shares_before=shares_before,
        price=price,
        w0=w0,
        ref=ref,
        reference=reference,
        risk=risk,
        signals=signals,
        prior=prior,
        alpha=alpha,
        cost=cost,
        participation=participation,
        liquidity_usd=liq_usd,
        may_buy=may_buy,
        may_sell=may_sell,
        open_to_buy=open_to_buy,
        position_cap=position_cap,
        screened=screened,
        sectors=list(sectors),
        structure=structure,
        data=problem_data,
        full_structure=full_structure,
        full_data=full_data,
        paths=dict(data.paths),
        taxable=taxable,
        tax_lots=tax_lots,
        recent_trades=recent,
        entry_gain=gain,
        candidates=np.flatnonzero(keep),
        new_names=new_names,
        lot_method=terms.lot_method or scenario.tax.lot_method,
        notes=notes,
    )


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
