"""One account under one scenario, made ready for the optimizer.

``prepare`` turns the inputs and a scenario into a ``Request``: the account's
positions and weights, the risk model, the alpha (signals + Black-Litterman views),
the cost model, the per-name limits, and the problem's ``Structure`` (what fixes
its shape) and ``ProblemData`` (the numbers a what-if changes).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rebalancer import inputs as rd
from rebalancer.costs import CostModel
from rebalancer.errors import ScenarioError
from rebalancer.optimize.layout import restrict
from rebalancer.optimize.problem import BIG, ProblemData, Structure
from rebalancer.risk import RiskModel, build_risk_model
from rebalancer.scenario import Scenario, parse_selector
from rebalancer.signals import SignalResult, signal_alpha
from rebalancer.tax import TaxLots, build_tax_lots, recent_trades
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
# and by this much more in absolute terms: the rounding's noise in the tracking error
# is a lot or so per name, whatever the cap, so a small cap needs more than 0.5% of it
TE_ABS_MARGIN = 0.0002


def tracking_error_inside(cap: float) -> float:
    """The tracking-error cap the optimizer works to for the scenario's ``cap``."""
    return max(cap * TE_MARGIN - TE_ABS_MARGIN, 0.5 * cap)


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
            self.w0.tobytes(),
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


def prepare(
    data: Inputs,
    scenario: Scenario,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    *,
    taxable: bool | None = None,
    lot_method: str | None = None,
) -> Request:
    """The Request for one account under one scenario (raises ScenarioError when the
    scenario does not fit the universe).

    ``taxable``: True/False, or None to take it from the accounts file (tax-exempt
    when the account is not listed). ``lot_method`` (optimized|hifo|fifo) overrides
    the scenario's ``tax.lot_method``.
    """
    as_of = rd.trade_date(as_of)
    lots = data.lots_of(account)
    account = str(lots["account"].iloc[0])
    uni = data.sized(scenario)
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
        ref = data.reference_weights(uni)
        reference = "benchmark"
    else:
        ref, reference = w0.copy(), "current holdings"

    risk = data.risk_model(uni)
    signals = data.signals(uni, scenario, risk)
    market = uni["market_cap"].to_numpy(float)
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
    participation = per_name(uni, c.liquidity.max_participation, "min")
    liq_usd = participation * uni["adv"].to_numpy(float) * c.liquidity.days
    restricted = uni["restricted"].to_numpy()
    screened = screen_failures(uni, scenario)
    position_cap = (
        per_name(uni, c.max_position, "min") if c.max_position is not None else np.ones(len(uni))
    )
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

    notes: list[str] = _acquired_after(lots, as_of)
    taxable = _is_taxable(data, account, taxable, lots, notes)
    tax_lots = recent = None
    if taxable:
        recent = recent_trades(
            data.history, _household(data, account), as_of, scenario.tax.wash_sale_days
        )
        tax_lots = build_tax_lots(lots, uni, nav, as_of, scenario, recent)
        may_buy &= ~uni.index.isin(tax_lots.blocked_buys["ticker"])

    tilt_labels = list(scenario.tilts)
    groups = data.cached(
        ("tilt groups", *tilt_labels),
        lambda: group_matrix(uni, [parse_selector(t) for t in tilt_labels]),
        uni,
    ).copy()
    targets = np.array([scenario.tilts[t].target for t in tilt_labels])
    bands = np.array([scenario.tilts[t].band for t in tilt_labels])
    margin = np.minimum(0.1 * bands, BAND_MARGIN)
    sectors, sector_groups = data.cached("sectors", lambda: _sector_groups(uni), uni)

    # the whole-universe problem; the optimizer solves it through a working set of
    # candidate names, pricing the others in when they would improve the answer
    # (rebalancer.optimize.working_set)
    new_names = new_name_limit(nav, c)
    gain = entry_gain(alpha, spread, ref, risk.specific_var, scenario.risk_aversion)
    limit = first_set_size(risk.loadings.shape[1])
    keep = choose_candidates(w0, ref, gain, may_buy, groups, limit, new_names=new_names)
    full_structure = Structure(
        tickers=data.cached("tickers", lambda: tuple(uni.index), uni),
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
        lot_members=None if tax_lots is None else tax_lots.members,
        has_gain_limit=tax_lots is not None and c.max_realized_gain is not None,
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
        cash_tolerance=min(0.0005, (c.cash.target - c.cash.min) / 2),
        tilt_target=targets,
        tilt_lo=targets - bands + margin,
        tilt_hi=targets + bands - margin,
        tilt_strength=scenario.tilt_strength,
        max_turnover=c.max_turnover if c.max_turnover is not None else BIG,
        max_tracking_error=(
            tracking_error_inside(c.max_tracking_error) if c.max_tracking_error is not None else BIG
        ),
        sector_max=(max(c.sector_max - SECTOR_MARGIN, 0.0) if c.sector_max is not None else BIG),
        lot_cap=None if tax_lots is None else tax_lots.frame["cap"].to_numpy(float),
        lot_tax=None if tax_lots is None else tax_lots.frame["tax_coef"].to_numpy(float),
        lot_gain=None if tax_lots is None else tax_lots.frame["gain_frac"].to_numpy(float),
        # sales are later taken from the lots the optimizer chose, losses first, and
        # rounding only sells less: the budget needs no margin
        max_realized_gain_nav=(
            c.max_realized_gain / nav if c.max_realized_gain is not None else BIG
        ),
        nav_usd=nav,
    )
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
        lot_method=lot_method or scenario.tax.lot_method,
        notes=notes,
    )


# the first working set of an account's problem: pricing adds what it misses
# (rebalancer.optimize.working_set), so this is a speed setting, not a limit
MAX_CANDIDATES = 300
# with a dense risk model (a Ledoit-Wolf Σ: one factor per return observation) a
# working set is solved over a dense block whose factorisation grows with the cube of
# its names, so a smaller first set and a round of pricing are cheaper
DENSE_CANDIDATES = 150
MIN_NEW_NAMES = 50


def first_set_size(n_factors: int) -> int:
    """How many names an account's first working set holds, for a risk model of
    ``n_factors`` factors."""
    from rebalancer.optimize.problem import DENSE_FACTORS

    return DENSE_CANDIDATES if n_factors >= DENSE_FACTORS else MAX_CANDIDATES


def new_name_limit(nav: float, c) -> int | None:
    """How many names a small account may buy that it does not hold: what its NAV could
    buy in orders of twice the minimum size, never fewer than 50 (None: no limit
    below the first working set's size). A small account thus does not spread its
    buys over names it cannot afford: pricing picks which names, not how many. (It
    does not depend on the turnover cap, so a what-if sweep of that cap keeps one
    working set and one compiled problem.)"""
    if c.min_trade_usd <= 0:
        return None
    affordable = max(MIN_NEW_NAMES, int(nav / (2.0 * c.min_trade_usd)))
    return affordable if affordable < MAX_CANDIDATES else None


def entry_gain(
    alpha: np.ndarray,
    spread: np.ndarray,
    ref: np.ndarray,
    specific_var: np.ndarray,
    risk_aversion: float,
) -> np.ndarray:
    """A name's gain from a first buy, as pricing would see it in a portfolio that
    leaves the name out, before the limits' multipliers: α − s + 2λ·d·ref (its expected
    return, less its spread, plus the specific risk against the benchmark that holding
    it removes). What ranks the names a working set starts from: the names pricing
    adds are mostly benchmark names the view likes, which neither the largest
    benchmark weights nor the best alpha alone find."""
    return alpha - spread + 2.0 * risk_aversion * specific_var * ref


def candidate_order(
    ref: np.ndarray, gain: np.ndarray, may_buy: np.ndarray, groups: np.ndarray, limit: int
) -> np.ndarray:
    """Up to ``limit`` names (universe positions) in the order a working set takes them:
    round-robin over the largest reference weights (tracking), the best ``gain``
    (``entry_gain``: the view net of costs and tracking) and the best gain inside each
    tilted group (the tilts)."""

    def top(score: np.ndarray, mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        return idx[np.argsort(-score[idx], kind="stable")[:limit]]

    lists = [top(ref, ref > 0), top(gain, may_buy)]
    lists += [top(gain, may_buy & (row > 0)) for row in groups]
    names = np.concatenate(lists)
    rank = np.concatenate([np.arange(len(x)) for x in lists])
    source = np.concatenate([np.full(len(x), i) for i, x in enumerate(lists)])
    names = names[np.lexsort((source, rank))]
    _, first = np.unique(names, return_index=True)
    return names[np.sort(first)][:limit]


def model_order(request: Request) -> np.ndarray:
    """The names of the compiled problem a model's accounts share, in order: its model
    names (``layout.MODEL_NAMES``), then those that fill the free slots an account
    leaves — as ``candidate_order`` ranks them for any account of the model (its
    benchmark, its alpha and costs, what its scenario lets anyone buy)."""
    from rebalancer.optimize.layout import MODEL_NAMES, NEW_SLOTS

    ref = request.ref if request.reference == "benchmark" else np.zeros(len(request.ref))
    gain = entry_gain(
        request.alpha,
        request.full_data.spread,
        ref,
        request.risk.specific_var,
        request.scenario.risk_aversion,
    )
    return candidate_order(
        ref,
        gain,
        request.open_to_buy,
        request.full_structure.tilt_groups,
        MODEL_NAMES + 4 * NEW_SLOTS,
    )


def choose_candidates(
    w0: np.ndarray,
    ref: np.ndarray,
    alpha: np.ndarray,
    may_buy: np.ndarray,
    groups: np.ndarray,
    limit: int | None = None,
    new_names: int | None = None,
) -> np.ndarray:
    """The first working set of one account's problem (a mask): every held name and, in
    ``candidate_order``, others up to ``limit`` names in all (and at most
    ``new_names`` of them). A universe no larger than ``limit`` (default
    ``MAX_CANDIDATES``) is kept whole."""
    n = len(w0)
    keep = w0 > 0
    limit = MAX_CANDIDATES if limit is None else limit
    if n <= limit and new_names is None:
        return np.ones(n, dtype=bool)
    room = max(limit - int(keep.sum()), 0)
    if new_names is not None:
        room = min(room, new_names)
    keep[candidate_order(ref, alpha, may_buy & ~keep, groups, room)] = True
    return keep


def _is_taxable(
    data: Inputs, account: str, taxable: bool | None, lots: pd.DataFrame, notes: list[str]
) -> bool:
    if taxable is not None:
        return taxable
    if data.accounts is not None and account in set(data.accounts["account"]):
        return bool(data.accounts.set_index("account").at[account, "taxable"])
    if lots["cost_basis"].notna().any():
        notes.append(
            "lots carry a cost basis but the account's tax status is not given: "
            "treated as tax-exempt (pass --accounts or --taxable)"
        )
    return False


def _household(data: Inputs, account: str) -> list[str]:
    """The accounts whose trades count for this account's wash sales."""
    if data.accounts is None or account not in set(data.accounts["account"]):
        return [account]
    table = data.accounts.set_index("account")
    house = table.at[account, "household"]
    return [account] if not house else list(table.index[table["household"] == house])


def _sector_groups(uni: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The universe's sectors (sorted) and their 0/1 membership rows."""
    sectors = sorted(uni["sector"].unique())
    rows = np.vstack([(uni["sector"] == s).to_numpy(float) for s in sectors])
    rows.setflags(write=False)  # shared by every account of the universe
    return sectors, rows
