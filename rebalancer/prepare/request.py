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
from rebalancer.optimize.problem import ProblemData, Structure
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
class AccountPosition:
    """The account before trading, arrays in the universe's order. ``weight`` is
    shares × price / NAV, so ``weight.sum() + cash_usd / nav_usd == 1``."""

    nav_usd: float  # securities at ``price_usd`` plus cash
    cash_usd: float
    shares: np.ndarray
    price_usd: np.ndarray  # per share, as of the run
    weight: np.ndarray  # a fraction of NAV


@dataclass(frozen=True)
class AccountTax:
    """How the account's sales are taxed."""

    taxable: bool
    lot_method: str  # optimized | hifo | fifo: which lots sales come from
    lots: TaxLots | None = None  # None: tax-exempt
    recent_trades: pd.DataFrame | None = None  # the household's trades in the wash window
    # taxable, tax_deferred or tax_exempt (``prepare.terms.AccountTerms.account_type``)
    account_type: str = "tax_exempt"


@dataclass(frozen=True)
class ExpectedReturns:
    """What the run expects of each name, a year, in excess of the risk-free rate:
    ``prior + alpha`` (``rebalancer.model.views``)."""

    signals: SignalResult  # the scenario's signals: scores, screens and their alpha
    prior: np.ndarray  # market-implied excess returns
    alpha: np.ndarray  # the signals' alpha plus the views'


@dataclass(frozen=True)
class PreparedProblem:
    """The optimizer's problem for one account over the whole universe, and the names
    its first working set starts from (``rebalancer.optimize.working_set``)."""

    structure: Structure
    data: ProblemData
    candidates: np.ndarray  # universe positions of the first working set
    entry_gain: np.ndarray  # what ranked them: the gain of a first unit bought
    new_names: int | None = None  # most names not held a small account's set may take

    def first_set(self) -> np.ndarray:
        """The first working set (``candidates``) as a mask over the universe."""
        keep = np.zeros(len(self.data.w0), dtype=bool)
        keep[self.candidates] = True
        return keep


@dataclass(frozen=True)
class Request:
    """Everything the optimizer, the rounding and the report need for one run."""

    account: str
    scenario: Scenario
    as_of: pd.Timestamp
    lots: pd.DataFrame  # the account's holdings rows (lots and cash)
    universe: pd.DataFrame  # with a size column
    position: AccountPosition  # before trading
    reference_weight: np.ndarray  # what tilts and tracking error are measured from
    reference: str  # "benchmark" or "current holdings"
    risk: RiskModel
    returns: ExpectedReturns
    cost: CostModel
    limits: NameLimits  # what each name may do in this account
    sectors: list[str]
    problem: PreparedProblem
    tax: AccountTax
    paths: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # warnings found while preparing
    # the trade mode asked for (``cash-only``: ``scenario`` holds the side it resolved
    # to, ``limits.trade_mode.for_mode``); None: none asked
    mode_asked: str | None = None

    @property
    def lot_usd(self) -> np.ndarray:
        lots = (
            self.universe["lot_size"].to_numpy(float)
            if self.scenario.constraints.round_lots
            else np.ones(len(self.position.price_usd))
        )
        return self.position.price_usd * lots

    def structure_key(self) -> tuple:
        """Requests with equal keys can share one compiled (parametric) slot problem
        (``rebalancer.optimize.layout``): the same risk model and universe, the same
        tilted groups, limits and lots. Which names the working set holds is not part
        of it: slots take them."""
        s = self.problem.structure
        lots = None if s.lot_members is None else s.lot_members.shape
        return (
            id(self.risk),
            id(self.universe),
            s.tilt_labels,
            s.rows,
            s.has_tracking_error,
            s.has_sector_max,
            lots,
            s.has_gain_limit,
            s.active_caps,
            self.position.weight.tobytes(),
        )
