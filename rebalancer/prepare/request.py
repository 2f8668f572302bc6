"""One account under one scenario, made ready for the optimizer: the ``Request``
(``rebalancer.prepare.build.prepare`` makes it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rebalancer.model.costs import CostModel
from rebalancer.model.risk import RiskModel
from rebalancer.model.signals import SignalResult
from rebalancer.model.tax import TaxLots
from rebalancer.optimize.layout import MODEL_NAMES, NEW_SLOTS
from rebalancer.optimize.problem import DENSE_FACTORS, ProblemData, Structure
from rebalancer.scenario import Scenario


@dataclass(frozen=True)
class NameLimits:
    """What each name may do in one account: arrays in the universe's order."""

    participation: np.ndarray  # the most of its average daily traded value an order takes
    liquidity_usd: np.ndarray  # the most that may be traded: participation × ADV × days
    may_buy: np.ndarray  # this account may buy it (a whole lot fits; no wash-sale block)
    may_sell: np.ndarray
    open_to_buy: np.ndarray  # the scenario lets any account buy it (restrictions, screens)
    position_cap_weight: np.ndarray  # the most the account may hold, a fraction of NAV
    screened: pd.DataFrame  # the screens' failures: ticker, screen, values


@dataclass(frozen=True)
class AccountTax:
    """How the account's sales are taxed."""

    taxable: bool
    lot_method: str  # optimized | hifo | fifo: which lots sales come from
    lots: TaxLots | None = None  # None: tax-exempt
    recent_trades: pd.DataFrame | None = None  # the household's trades in the wash window


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
    limits: NameLimits  # what each name may do in this account
    sectors: list[str]
    structure: Structure  # the problem over the first working set (``candidates``)
    data: ProblemData
    full_structure: Structure  # the problem over the whole universe
    full_data: ProblemData
    tax: AccountTax
    paths: dict[str, str] = field(default_factory=dict)
    entry_gain: np.ndarray | None = None  # what ranks the first working set's names
    candidates: np.ndarray | None = None  # universe positions of the first working set
    new_names: int | None = None  # most names not held a small account's set may take
    notes: list[str] = field(default_factory=list)  # warnings found while preparing

    @property
    def open_to_buy(self) -> np.ndarray:
        """``limits.open_to_buy``, for ``model_order`` until it moves with the working
        set's seeding."""
        return self.limits.open_to_buy

    @property
    def tax_lots(self) -> TaxLots | None:
        """``tax.lots``, for the optimizer's driver until it moves to ``solve``."""
        return self.tax.lots

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
    return DENSE_CANDIDATES if n_factors >= DENSE_FACTORS else MAX_CANDIDATES


def new_name_limit(nav: float, c) -> int | None:
    """How many names a small account may buy that it does not hold: what its NAV could
    buy in orders of twice the minimum size, never fewer than 50 (None: no limit
    below the first working set's size). A small account thus does not spread its
    buys over names it cannot afford: its first working set takes that many, and its
    final solve keeps that many of the optimum's largest buys (``pipeline.final_set``:
    pricing picks which names, not how many). (It
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
