"""From the household's joint optimum to its proposal: each account rounded to whole
lots as today (``report.build.build_proposal`` on the account's request, whose
scenario has the household limits lifted, so its rounding and its checks keep the
account's own rules: cash, restrictions, trade mode, lots and taxes, turnover), then
the household limits re-measured on the summed whole lots.

The household's checks read a ``limits.base.Final`` of the summed shares at the
household's NAV (``checks.measure.run_checks`` over every account's holdings rows and
orders, against the household's reference): the money invariants of the sum, then
liquidity, position, active-position, sector, tracking-error and tilt-band rows under
the household's scenario, and no wash sale across its accounts.

Each account's rounding keeps its share of the household's position caps, liquidity
caps and tilt bands (``with_share_of_*``: shares that sum to the household's limit,
around the account's optimum), so the rounding's own repairs work for the household.
A hard limit of the household (position, active-position, sector, tracking error,
liquidity: ``limits.HARD_LIMITS``) still broken after rounding makes the household
infeasible, exit 3, naming the row and its value, as one account's whole lots do
(``checks.hard.require_hard_limits``); a tilt band outside after rounding is a target
the Checks rows and a warning flag, as for one account. No repair pass moves lots
between accounts yet (docs/households.md)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.checks.hard import require_hard_limits
from rebalancer.checks.measure import run_checks
from rebalancer.errors import InfeasibleError
from rebalancer.household.problem import solve_household
from rebalancer.household.request import Household
from rebalancer.limits.active_position import ACTIVE_POSITION
from rebalancer.limits.liquidity import LIQUIDITY
from rebalancer.limits.position import POSITION
from rebalancer.limits.sector import SECTOR
from rebalancer.limits.tilt_bands import TILT_BANDS
from rebalancer.limits.tracking_error import TRACKING_ERROR
from rebalancer.model.substitutes import wash_ids, wash_keys
from rebalancer.model.tax import income_yield
from rebalancer.report.build import build_proposal
from rebalancer.report.frames import exposures_frame
from rebalancer.report.proposal import Proposal, Timings, _num, check_records
from rebalancer.scenario import Scenario

# the limits the household keeps on its combined portfolio, in Checks order
HOUSEHOLD_LIMITS = (LIQUIDITY, POSITION, ACTIVE_POSITION, SECTOR, TRACKING_ERROR, TILT_BANDS)


@dataclass(frozen=True)
class HouseholdProposal:
    """A household's proposal: one ``Proposal`` per account (its orders, lots and own
    checks) and the household's figures re-measured on the summed orders."""

    name: str
    scenario_name: str
    proposals: list[Proposal]
    nav_usd: float
    exposures: pd.DataFrame  # as ``Proposal.exposures``, of the household's weights
    checks: pd.DataFrame  # the household rows (module docstring)
    status: str
    solver: str
    solve_seconds: float
    binding: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # limits --relax moved to make the household feasible (as ``Proposal.relaxed``)
    relaxed: list[dict[str, Any]] = field(default_factory=list)
    location: Location | None = None  # where the income-heavy names are held
    scenario: Any = None  # the household's effective scenario (a ``Scenario``)

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all()) and all(p.ok for p in self.proposals)

    @property
    def trades(self) -> pd.DataFrame:
        return pd.concat([p.trades for p in self.proposals], ignore_index=True)

    def accounts_frame(self) -> pd.DataFrame:
        """One row per account: what it is, what it trades, its tax, and its share of
        each tilted group's active exposure before and after (against its own
        reference): where the household's tilt was carried."""
        rows = []
        for p in self.proposals:
            m = p.metrics
            row = {
                "account": p.account, "account_type": m.account_type, "nav": m.nav_usd,
                "turnover": m.turnover, "buys": m.buys_usd, "sells": m.sells_usd,
                "realized_gain": m.realized_gain_usd, "estimated_tax": m.estimated_tax_usd,
                "income_tax_before": m.income_tax_before_usd, "income_tax": m.income_tax_usd,
            }  # fmt: skip
            for group in self.exposures.index[self.exposures["target"].notna()]:
                row[f"{group} before"] = float(p.exposures.loc[group, "before"])
                row[f"{group} after"] = float(p.exposures.loc[group, "after"])
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """The JSON of ``propose --household`` (docs/contracts.md §4): ``household``,
        then ``accounts``, each account's ``Proposal.summary()``."""

        def col(name: str) -> dict[str, float | None]:
            return {str(k): _num(v) for k, v in self.exposures[name].items()}

        metrics = [p.metrics for p in self.proposals]
        before = sum(m.income_tax_before_usd for m in metrics)
        after = sum(m.income_tax_usd for m in metrics)
        return {
            "household": {
                "name": self.name,
                "scenario": self.scenario_name,
                "relaxed": list(self.relaxed),
                "accounts": [p.account for p in self.proposals],
                "nav": _num(self.nav_usd),
                "status": self.status,
                "solver": self.solver,
                "solve_seconds": _num(self.solve_seconds),
                "exposures": {
                    "before": col("before"),
                    "after": col("after"),
                    "target": col("target"),
                },
                "checks": check_records(self.checks),
                "binding": list(self.binding),
                "income_tax_before": _num(before),
                "income_tax": _num(after),
                "income_tax_saved": _num(before - after),
                "location": None if self.location is None else self.location.summary(),
                "warnings": list(self.warnings),
            },
            "accounts": [p.summary() for p in self.proposals],
        }


def propose_household(household: Household) -> HouseholdProposal:
    """The household's joint optimum (``household.problem``), rounded per account and
    checked per account and as a household (module docstring). Raises
    ``InfeasibleError`` when the joint problem, or an account's whole lots, break a
    hard limit."""
    t0 = time.perf_counter()
    household, solution = solve_household(household)
    optimized = time.perf_counter() - t0
    proposals = []
    caps = household.data().position_cap
    for request, own in zip(household.requests, solution.accounts, strict=True):
        timings = Timings(optimize_s=optimized, solve_s=solution.seconds)
        request = with_share_of_caps(request, own.weights, solution.weights, caps)
        request = with_share_of_liquidity(household, request, own.weights, solution)
        request = with_share_of_bands(household, request, own.weights, solution.weights)
        request = without_new_washes(household, request, own, solution)
        proposal = build_proposal(request, own, timings)
        proposals.append(dataclasses.replace(proposal, scenario_name=household.scenario.name))
    checks, w_after = household_checks(
        household, [p.trades for p in proposals], [p.lot_sales for p in proposals]
    )
    require_household_limits(household, checks, w_after)
    afters = [shares_after(r, p.trades) for r, p in zip(household.requests, proposals, strict=True)]
    location = asset_location(household, afters)
    view, scenario = household.view, household.scenario
    exposures = exposures_frame(
        view.universe,
        scenario,
        household.weight,
        w_after,
        household.reference_weight,
        solution.weights,
    )
    warnings = [
        f"household check failed after rounding: {r.check} (limit {r.limit}, value {r.value})"
        for r in checks[~checks["ok"]].itertuples()
    ]
    return HouseholdProposal(
        name=household.name,
        scenario_name=scenario.name,
        proposals=proposals,
        nav_usd=household.nav_usd,
        exposures=exposures,
        checks=checks,
        status=solution.status,
        solver=solution.solver,
        solve_seconds=solution.seconds,
        binding=solution.binding,
        warnings=[*solution.warnings, *warnings],
        location=location,
        scenario=scenario,
    )


@dataclass(frozen=True)
class Location:
    """Where the household holds its income-heavy names, before and after the trades.

    Income-heavy: a name whose ``income_yield`` exceeds the household's own yield before
    (its income a year over its invested value, Σ y·v / Σ v over every account's
    holdings). ``names``: one row per income-heavy name held before or after —
    ticker, income_yield, value_before and value_after (the household's, USD at
    today's prices), sheltered_before and sheltered_after (of it, in the tax-deferred
    and tax-exempt accounts). ``sheltered_before``/``sheltered_after``: those names'
    share held in those accounts, Σ sheltered / Σ value (None when there is none)."""

    threshold: float
    names: pd.DataFrame
    sheltered_before: float | None
    sheltered_after: float | None

    def summary(self) -> dict[str, Any]:
        return {
            "income_heavy_yield": _num(self.threshold),
            "sheltered_before": _num(self.sheltered_before),
            "sheltered_after": _num(self.sheltered_after),
            "names": [
                {k: (v if k == "ticker" else _num(v)) for k, v in row.items()}
                for row in self.names.to_dict("records")
            ],
        }


def shares_after(request, t: pd.DataFrame) -> np.ndarray:
    """The account's shares after its orders ``t`` (trades rows), in the universe's
    order."""
    sign = np.where(t["side"] == "BUY", 1.0, -1.0) * t["quantity"].to_numpy(float)
    traded = pd.Series(sign, index=t["ticker"]).groupby(level=0).sum()
    index = request.universe.index
    return request.position.shares + traded.reindex(index, fill_value=0.0).to_numpy(float)


def asset_location(household: Household, afters: list[np.ndarray]) -> Location:
    """The household's ``Location`` from each account's shares before and ``afters``
    (its shares after its orders, ``shares_after``)."""
    view = household.view
    price = view.position.price_usd
    yields = income_yield(view.universe)
    before = np.array([r.position.shares * price for r in household.requests])
    after = np.array([shares * price for shares in afters])
    sheltered = np.array([not r.tax.taxable for r in household.requests])
    invested = float(before.sum())
    threshold = float(yields @ before.sum(axis=0)) / invested if invested > 0 else 0.0
    heavy = (yields > threshold) & ((before.sum(axis=0) > 0) | (after.sum(axis=0) > 0))
    names = pd.DataFrame(
        {
            "ticker": view.universe.index[heavy].astype(str),
            "income_yield": yields[heavy],
            "value_before": before.sum(axis=0)[heavy],
            "value_after": after.sum(axis=0)[heavy],
            "sheltered_before": before[sheltered].sum(axis=0)[heavy],
            "sheltered_after": after[sheltered].sum(axis=0)[heavy],
        }
    )

    def share(held: str, value: str) -> float | None:
        total = float(names[value].sum())
        return float(names[held].sum()) / total if total > 0 else None

    return Location(
        threshold,
        names,
        share("sheltered_before", "value_before"),
        share("sheltered_after", "value_after"),
    )


def with_share_of_caps(request, weights, household_weights, caps):
    """``request`` whose rounding keeps the account at or under its share of the
    household's position caps: c_a = w*_a + (cap − W*) per name (w*_a the account's
    optimum, W* the household's), so that Σ_a π_a c_a = cap and whole lots under every
    c_a keep the household under its cap (the rounding sells what lies above it, and
    its repairs buy no more). A forced exit (cap 0 in the account) stays 0."""
    own = request.limits.position_cap_weight
    share = np.clip(weights + np.maximum(caps - household_weights, 0.0), 0.0, 1.0)
    limits = dataclasses.replace(request.limits, position_cap_weight=np.where(own > 0, share, 0.0))
    return dataclasses.replace(request, limits=limits)


def with_share_of_liquidity(household: Household, request, weights, solution):
    """``request`` whose rounding trades each name at most the account's share of the
    household's liquidity cap L (participation × ADV × days, dollars): its optimal
    order plus the household's room left, split by NAV,
    c_a = NAV_a|w*_a − w₀_a| + π_a (L − Σ_b NAV_b|w*_b − w₀_b|), which sum to L."""
    cap = household.view.limits.liquidity_usd
    orders = [
        r.position.nav_usd * np.abs(s.weights - r.position.weight)
        for r, s in zip(household.requests, solution.accounts, strict=True)
    ]
    room = np.maximum(cap - sum(orders), 0.0)
    pi = request.position.nav_usd / household.nav_usd
    mine = request.position.nav_usd * np.abs(weights - request.position.weight)
    share = np.minimum(mine + pi * room, request.limits.liquidity_usd)
    limits = dataclasses.replace(request.limits, liquidity_usd=share)
    return dataclasses.replace(request, limits=limits)


def with_share_of_bands(household: Household, request, weights, household_weights):
    """``request`` whose rounding (and own Checks rows) keep the account's share of each
    household tilt band: the band's width around t + e*_a − e*_H, with e*_a the
    account's active exposure at the optimum (against its reference) and e*_H the
    household's. Σ_a π_a e*_a = e*_H, so accounts inside their shares leave the
    household inside its band; the rounding's band repair moves whole lots back into
    an account's share rather than leaving the household's to chance."""
    tilts = household.scenario.tilts
    if not tilts:
        return request
    groups = household.view.problem.structure.tilt_groups
    labels = household.view.problem.structure.tilt_labels
    own = groups @ (weights - request.reference_weight)
    whole = groups @ (household_weights - household.reference_weight)
    shares = {
        label: dataclasses.replace(tilts[label], target=tilts[label].target + e - e_h)
        for label, e, e_h in zip(labels, own, whole, strict=True)
    }
    return dataclasses.replace(
        request, scenario=dataclasses.replace(request.scenario, tilts=shares)
    )


def without_new_washes(household: Household, request, own, solution):
    """``request`` whose rounding sells nothing in a taxable account of what another
    account of the household buys at the optimum, unless the optimum sells it there
    too (the solve has judged those sales: ``household.problem.solve_household``).
    The rounding's repairs (a band share, the cash floor) pick names by their own
    rules and would otherwise sell a loss lot of a name bought elsewhere: a wash sale
    across the household the optimum did not have. Tolerance: 1e-6 of the NAV."""
    if not request.tax.taxable:
        return request
    tol = 1e-6 * household.nav_usd
    bought = np.zeros(len(request.position.weight))
    for r, s in zip(household.requests, solution.accounts, strict=True):
        if r.account != request.account:
            bought += r.position.nav_usd * np.maximum(s.weights - r.position.weight, 0.0)
    sold = request.position.nav_usd * np.maximum(request.position.weight - own.weights, 0.0)
    # an identical substitute group is one security to the rule (``model.substitutes``)
    key = wash_ids(request.universe.index, household.scenario)
    bought, sold = (np.bincount(key, weights=x, minlength=len(key))[key] for x in (bought, sold))
    keep = (bought > tol) & (sold <= tol)
    if not keep.any():
        return request
    limits = dataclasses.replace(request.limits, may_sell=request.limits.may_sell & ~keep)
    return dataclasses.replace(request, limits=limits)


WASH_CHECK = "no wash sale across the household"


def wash_rows(
    accounts: list[tuple[str, bool, pd.DataFrame]], scenario: Scenario | None = None
) -> pd.DataFrame:
    """The Checks row of wash sales inside the run: securities a taxable account sells
    at a loss (a SELL row with a realized gain below 0) that another account of the
    household buys in the same run — the security or, under ``scenario``, a member of
    its identical substitute group (``model.substitutes``) — (value: how many).
    ``accounts``: (account, taxable, its trades) each."""
    keys = wash_keys(scenario) if scenario is not None else {}
    sold, bought = set(), {}
    for account, taxable, t in accounts:
        if taxable and "realized_gain" in t:
            gain = pd.to_numeric(t["realized_gain"], errors="coerce")
            sold |= {(account, x) for x in t.loc[(t["side"] == "SELL") & (gain < 0), "ticker"]}
        for x in t.loc[t["side"] == "BUY", "ticker"]:
            bought.setdefault(keys.get(x, x), set()).add(account)
    washed = sorted({x for account, x in sold if bought.get(keys.get(x, x), set()) - {account}})
    detail = ", ".join(washed) if washed else ""
    row = {
        "check": WASH_CHECK,
        "limit": 0,
        "value": len(washed),
        "ok": not washed,
        "detail": detail,
    }
    return pd.DataFrame([row])


def band_miss(household: Household, w_after: np.ndarray) -> np.ndarray:
    """Per household tilt (``structure.tilt_labels``' order), how far its active exposure
    at ``w_after`` (household weights) is outside target ± band: signed, 0 inside."""
    structure = household.view.problem.structure
    tilts = [household.scenario.tilts[label] for label in structure.tilt_labels]
    exposure = structure.tilt_groups @ (w_after - household.reference_weight)
    lo = np.array([t.target - t.band for t in tilts])
    hi = np.array([t.target + t.band for t in tilts])
    return exposure - np.clip(exposure, lo, hi)


def require_household_limits(household: Household, checks: pd.DataFrame, w_after) -> None:
    """Raise ``InfeasibleError`` (the household named) for each hard limit the summed
    whole lots break: the household's Checks rows (``household_checks``) read as one
    account's are (``require_hard_limits`` on the household's view, whose scenario and
    caps are the household's), ``w_after`` the household's weights after."""
    try:
        require_hard_limits(household.view, checks, w_after)
    except InfeasibleError as exc:
        raise dataclasses.replace(exc, account=f"{household.name} (household)") from None


def household_checks(
    household: Household, trades: list[pd.DataFrame], lot_sales: list[pd.DataFrame]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The household's Checks rows on the summed whole lots — each account's orders
    (``trades``, trades rows) and lot sales in the household's order — and its weights
    after them (summed shares × price / household NAV). ``verify`` measures a written
    household with it too."""
    view = household.view
    lots = pd.concat([r.lots for r in household.requests], ignore_index=True)
    checks = run_checks(
        lots=lots,
        universe=view.universe,
        scenario=household.scenario,
        reference=pd.Series(household.reference_weight, index=view.universe.index),
        risk=view.risk,
        trades=pd.concat(trades, ignore_index=True),
        lot_sales=pd.concat(lot_sales, ignore_index=True),
        limits=HOUSEHOLD_LIMITS,
    )
    sides = [(r.account, r.tax.taxable, t) for r, t in zip(household.requests, trades, strict=True)]
    checks = pd.concat([checks, wash_rows(sides, household.scenario)], ignore_index=True)
    after = sum(shares_after(r, t) for r, t in zip(household.requests, trades, strict=True))
    return checks, after * view.position.price_usd / household.nav_usd
