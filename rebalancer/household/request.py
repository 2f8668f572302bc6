"""A household: its accounts' ``Request``s and each one's share of the household.

Each account is prepared as today (``prepare.build.prepare``) under its *account
scenario*: the household's scenario with the limits the household carries lifted
(tilts, and ``HOUSEHOLD_SETTINGS``: tracking error, sector caps,
position and active-position caps), so that neither the account's problem data nor its rounding
nor its checks hold the account alone to what only the household must keep. The
household's own numbers (bands, caps, reference) come from a request prepared under
the household's scenario (``view``) and are put on the household's weights
``W = Σ_a π_a w_a``, π_a = NAV_a / Σ NAV (``rebalancer.household.problem``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.errors import InputError
from rebalancer.inputs.households import household_disagreements
from rebalancer.limits.active_position import ACTIVE_POSITION
from rebalancer.limits.position import POSITION
from rebalancer.limits.sector import SECTOR
from rebalancer.limits.tracking_error import TRACKING_ERROR
from rebalancer.optimize.problem import BIG, ProblemData, Structure
from rebalancer.prepare.build import prepare
from rebalancer.prepare.inputs import Inputs
from rebalancer.prepare.request import Request
from rebalancer.prepare.terms import account_terms
from rebalancer.scenario import Scenario

# the limits a household keeps on its combined portfolio, lifted from each account's
# own scenario (docs/households.md, "Where each limit applies"): the tilts, and these
# settings of ``constraints`` (each limit's ``name`` is its field there)
HOUSEHOLD_SETTINGS = (TRACKING_ERROR, SECTOR, POSITION, ACTIVE_POSITION)


def account_scenario(scenario: Scenario) -> Scenario:
    """``scenario`` without the limits the household carries: no tilts, and no
    ``HOUSEHOLD_SETTINGS``."""
    lifted = {limit.name: None for limit in HOUSEHOLD_SETTINGS}
    c = dataclasses.replace(scenario.constraints, **lifted)
    return dataclasses.replace(scenario, tilts={}, constraints=c)


@dataclass(frozen=True)
class Household:
    """``requests``: the accounts' requests under their account scenarios, in the
    accounts file's order; ``view``: the first account prepared under the household's
    ``scenario`` (where the household's tilt, sector, position, tracking-error and
    liquidity numbers are read)."""

    name: str
    scenario: Scenario
    requests: tuple[Request, ...]
    view: Request

    @property
    def accounts(self) -> list[str]:
        return [r.account for r in self.requests]

    @property
    def navs(self) -> np.ndarray:
        return np.array([r.position.nav_usd for r in self.requests], float)

    @property
    def nav_usd(self) -> float:
        return float(self.navs.sum())

    @property
    def shares(self) -> np.ndarray:
        """π_a = NAV_a / household NAV, per account."""
        return self.navs / self.nav_usd

    @property
    def weight(self) -> np.ndarray:
        """The household's weights before trading, W₀ = Σ π_a w₀_a."""
        return sum(p * r.position.weight for p, r in zip(self.shares, self.requests, strict=True))

    @property
    def reference_weight(self) -> np.ndarray:
        """What the household is measured against: Σ π_a ref_a (the benchmark, when the
        accounts share one; else the household's current weights)."""
        return sum(p * r.reference_weight for p, r in zip(self.shares, self.requests, strict=True))

    def structure(self) -> Structure:
        """The household limits' structure: the view's, without an account's lots and
        linear rows (those stay per account)."""
        return dataclasses.replace(
            self.view.problem.structure, lot_members=None, has_gain_limit=False, rows=()
        )

    def data(self) -> ProblemData:
        """The household limits' numbers in weights of the household's NAV: its W₀ and
        reference, the position caps per name, the liquidity cap on the summed orders
        (participation × ADV × days / household NAV) and the view's bands and caps."""
        v = self.view
        return dataclasses.replace(
            v.problem.data,
            w0=self.weight,
            ref=self.reference_weight,
            liquidity_cap=np.minimum(v.limits.liquidity_usd / self.nav_usd, BIG),
            position_cap=v.limits.position_cap_weight,
            nav_usd=self.nav_usd,
            lot_cap=None,
            lot_tax=None,
            lot_gain=None,
            row_rhs=None,
            row_buy=None,
            row_sell=None,
            row_weight=None,
        )


def household_accounts(data: Inputs, name: str, option: str = "--household") -> list[str]:
    """The accounts of household ``name`` in the accounts file, in file order. Raises
    ``InputError`` (one line naming the file, the row and the column) for no accounts
    file, no such household, an account of it without holdings, or accounts that name
    different scenarios or benchmarks."""
    path = data.paths.get("accounts", "accounts")
    accounts = data.accounts
    if accounts is None:
        raise InputError(None, f"{option} needs --accounts (the file with a household column)")
    if "household" not in accounts:
        raise InputError(
            path, f"no household column: {option} {name} names none", column="household"
        )
    rows = accounts[accounts["household"].astype(str) == name]
    if rows.empty:
        raise InputError(path, f"no account of household '{name}'", column="household")
    for d in household_disagreements(rows):
        raise InputError(
            path,
            d.message().replace("; households will be", "; a household is"),
            row=d.row,
            column=d.column,
        )
    held = set(data.holdings["account"].astype(str))
    for account, row in zip(rows["account"].astype(str), rows["row"], strict=True):
        if account not in held:
            holdings = data.paths.get("holdings", "holdings")
            raise InputError(
                path,
                f"account '{account}' of household '{name}' has no rows in {holdings}",
                row=int(row),
                column="account",
            )
    return list(rows["account"].astype(str))


def prepare_household(
    data: Inputs, scenario: Scenario, name: str, as_of: str | pd.Timestamp | None = None
) -> Household:
    """The household ``name`` of the accounts file under ``scenario``: each account's
    request under its account scenario (the accounts file's cash target, cash request
    and mode applied, ``AccountTerms.scenario``), and the view."""
    accounts = household_accounts(data, name)
    requests = []
    for account in accounts:
        terms = account_terms(data, account)
        own = account_scenario(terms.scenario(scenario))
        requests.append(prepare(data, own, account, as_of))
    # the view carries the household's caps: not one account's ``exclude``
    view = prepare(data, scenario, accounts[0], as_of, exclusions=False)
    return Household(name, scenario, tuple(requests), view)
