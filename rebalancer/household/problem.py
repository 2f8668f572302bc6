"""The joint problem of a household: one variable set per account, one objective.

Built by composition, without a stacked layout: each account has the variables of
``optimize.terms.Vars`` (w_a, cash_a, u_a ≥ |w_a − w₀_a|, and for a taxable account
buy_a and sold_a over its lot classes) and compiles its own limits — budget, cash
target, per-name bounds (restrictions, trade mode, forced exits), its linear rows
(turnover), its lots and gain budget — exactly as its own problem would
(``optimize.constraints.KINDS`` over the account's request, whose scenario has the
household limits lifted: ``household.request.account_scenario``). The household is a
second ``Vars`` whose weights are an expression of the accounts':

    W = Σ_a π_a w_a,   cash_H = Σ_a π_a cash_a,   U = Σ_a π_a u_a     (π_a = NAV_a / NAV)

with its own factor exposures f = Bᵀ(W − ref) and active weights W − ref. The
household's limits compile on that view unchanged: tilt bands, tracking error,
sector caps, active-position caps, position caps (W_i ≤ cap_i) and liquidity on the
summed dollar orders (U_i ≤ participation × ADV × days / NAV, i.e.
Σ_a NAV_a |z_a,i| ≤ the name's cap in dollars). The objective is

    αᵀW − λ(‖Lᵀf‖² + ‖√d∘(W − ref)‖²) − κ‖G(W − ref) − t‖² − Σ_a π_a (cost_a + tax_a)

once per household: a tilt is carried once, not once per account; each account's
trading and tax costs (in its own NAV units) are scaled to the household's.

Solved over every name (no working set), with the chain of ``optimize.problem``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import cvxpy as cp
import numpy as np

from rebalancer.errors import InfeasibleError, SolverFailure
from rebalancer.household.request import Household
from rebalancer.limits import in_scenario_terms
from rebalancer.optimize import constraints as lim
from rebalancer.optimize.params import Values
from rebalancer.optimize.problem import (
    FEASIBILITY_TOL,
    SOLVERS,
    Solution,
    _installed,
    _settings,
    solver_label,
    warnings_off,
)
from rebalancer.optimize.terms import (
    ActiveRisk,
    ExpectedReturn,
    NameMatrices,
    TaxCost,
    TiltPull,
    TradingCost,
    Vars,
)

# the household's limits on its combined weights; per-name caps are built directly
# (their ``of`` compiles them only in an elastic problem: elsewhere ``Bounds`` carries
# an account's)
HOUSEHOLD_KINDS = (lim.TrackingError, lim.TiltBands, lim.SectorCaps, lim.ActiveCap)


@dataclass
class HouseholdSolution:
    """The joint optimum: one ``Solution`` per account (its weights of its own NAV),
    the household's weights and what the solve took."""

    accounts: list[Solution]
    weights: np.ndarray  # W = Σ π_a w_a
    status: str
    solver: str
    objective: float
    seconds: float
    binding: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class HouseholdProblem:
    """The cvxpy problem of ``household`` (module docstring), constants only."""

    def __init__(self, household: Household, elastic: bool = False):
        self.household = household
        pi = household.shares
        self.accounts: list[SimpleNamespace] = []
        cons: list[cp.Constraint] = []
        costs = []
        for share, request in zip(pi, household.requests, strict=True):
            s, d = request.problem.structure, request.problem.data
            val = Values(d, False)
            n = s.size
            v = Vars(
                w=cp.Variable(n, name=f"w_{request.account}"),
                cash=cp.Variable(name=f"cash_{request.account}"),
                u=cp.Variable(n, nonneg=True, name=f"u_{request.account}"),
                f=None,
                active=None,
                w0=val.get("w0", n),
                ref=val.get("ref", n),
            )
            if s.lot_members is not None:
                v.buy = cp.Variable(n, nonneg=True)
                v.sold = cp.Variable(s.lot_members.shape[1], nonneg=True)
            p = SimpleNamespace(
                structure=s, values=val, names=NameMatrices(s, val), risk=None,
                tickers=s.tickers, elastic=elastic,
            )  # fmt: skip
            limits = [x for kind in lim.KINDS for x in kind.of(p) if kind not in HOUSEHOLD_KINDS]
            for limit in limits:
                cons += limit.compile(v, elastic)
            trading = TradingCost(val, n)
            cons += trading.constraints(v)
            cost = trading.expr(v)
            if s.lot_members is not None:
                cost = cost + TaxCost(val, s.lot_members.shape[1]).expr(v)
            costs.append(share * cost)
            self.accounts.append(SimpleNamespace(request=request, vars=v, limits=limits))

        s, d = household.structure(), household.data()
        val = Values(d, False)
        n, k = s.size, s.loadings.shape[1]
        names = NameMatrices(s, val)
        W = sum(share * a.vars.w for share, a in zip(pi, self.accounts, strict=True))
        ref = val.get("ref", n)
        h = Vars(
            w=W,
            cash=sum(share * a.vars.cash for share, a in zip(pi, self.accounts, strict=True)),
            u=sum(share * a.vars.u for share, a in zip(pi, self.accounts, strict=True)),
            f=cp.Variable(k, name="f"),
            active=W - ref,
            w0=val.get("w0", n),
            ref=ref,
        )
        self.vars = h
        risk = ActiveRisk(val, s.factor_chol, names)
        p = SimpleNamespace(
            structure=s, values=val, names=names, risk=risk, tickers=s.tickers, elastic=elastic
        )
        self.limits = [x for kind in HOUSEHOLD_KINDS for x in kind.of(p)]
        self.limits += [lim.PositionLimit(val, n, s.tickers), lim.Liquidity(val, n, s.tickers)]
        offset = val.get("factor_offset", k, of=lambda d: np.zeros(k))
        cons.append(h.f == names.factor(h.active) + offset)
        terms_minus = [risk]
        if len(s.tilt_labels):
            terms_minus.append(TiltPull(val, names))
        for term in terms_minus:
            cons += term.constraints(h)
        for limit in self.limits:
            cons += limit.compile(h, elastic)
        objective = ExpectedReturn(val, n).expr(h) - sum(t.expr(h) for t in terms_minus)
        objective = objective - sum(costs)
        if elastic:
            every = self.limits + [x for a in self.accounts for x in a.limits]
            objective = objective - sum(limit.penalty() for limit in every)
        self.problem = cp.Problem(cp.Maximize(objective), cons)

    def _violation(self) -> float:
        worst = 0.0
        with warnings_off():
            for constraint in self.problem.constraints:
                if isinstance(constraint, cp.constraints.PowCone3D):
                    continue  # the impact cones: measured in ``optimize.problem``'s own way
                try:
                    worst = max(worst, float(np.max(constraint.violation())))
                except (ValueError, TypeError):
                    return float("inf")
        return worst

    def _run(self) -> tuple[str, str, float, list[str]]:
        """Solve with the chain; (status, solver label, seconds, warnings)."""
        warnings: list[str] = []
        status, label, seconds = "not solved", "", 0.0
        for solver, options in SOLVERS:
            if solver not in _installed():
                continue
            options = _settings(solver, options)
            t0 = time.perf_counter()
            try:
                with warnings_off():
                    self.problem.solve(solver=solver, **options)
            except cp.SolverError as exc:
                warnings.append(f"solver {solver_label(solver, options)} failed ({exc})")
                continue
            seconds += time.perf_counter() - t0
            status, label = self.problem.status, solver_label(solver, options)
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and (
                self._violation() > FEASIBILITY_TOL
            ):
                status = "inaccurate_infeasible"
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.INFEASIBLE):
                break
            warnings.append(f"solver {label} ended with status {status}; trying the next")
        return status, label, seconds, warnings

    def solve(self) -> HouseholdSolution:
        """The joint optimum. An infeasible household raises ``InfeasibleError`` naming
        the limits its elastic form relaxes (a household limit by its name, an
        account's prefixed with the account)."""
        status, label, seconds, warnings = self._run()
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, "inaccurate_infeasible"):
            raise self.explain()
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise SolverFailure(f"the optimizer failed on household {self.household.name}")
        pi = self.household.shares
        solutions = []
        binding = [x for limit in self.limits for x in limit.binding_labels(self.vars)]
        for a in self.accounts:
            v = a.vars
            own = [x for limit in a.limits for x in limit.binding_labels(v)]
            binding += [f"{a.request.account}: {x}" for x in own]
            solutions.append(
                Solution(
                    np.asarray(v.w.value, float),
                    float(v.cash.value),
                    status,
                    label,
                    float(self.problem.value),
                    own,
                    0.0,
                    seconds,
                    list(warnings),
                    None if v.buy is None else np.maximum(np.asarray(v.buy.value, float), 0.0),
                    None if v.sold is None else np.maximum(np.asarray(v.sold.value, float), 0.0),
                )
            )
        weights = sum(p * s.weights for p, s in zip(pi, solutions, strict=True))
        return HouseholdSolution(
            solutions, weights, status, label, float(self.problem.value), seconds, binding, warnings
        )

    def explain(self) -> InfeasibleError:
        """The elastic form solved: the limits that had to give."""
        elastic = HouseholdProblem(self.household, elastic=True)
        status = elastic._run()[0]
        name = f"{self.household.name} (household)"
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return InfeasibleError(name, [], ["hard limits: long-only, budget and restrictions"])
        # each conflict as the scenario states it (``limits.in_scenario_terms``): the
        # household's under the household's scenario, an account's under its own
        found = [c for limit in elastic.limits for c in limit.conflicts(elastic.vars)]
        conflicts = in_scenario_terms(self.household.view, found)
        for a in elastic.accounts:
            found = [c for limit in a.limits for c in limit.conflicts(a.vars)]
            for c in in_scenario_terms(a.request, found):
                named = f"{a.request.account}: {c.constraint}"
                conflicts.append(dataclasses.replace(c, constraint=named))
        return InfeasibleError(name, conflicts, [])


def solve_household(
    household: Household, max_passes: int = 3
) -> tuple[Household, HouseholdSolution]:
    """The household's joint optimum (``HouseholdProblem``) with no wash sale inside the
    run: no account buys a security a taxable account of the household sells at a
    loss. No convex problem states that rule (a choice between two sides), so, as for
    one account (``solve.wash``), the answer is solved again: per security i with
    L_i the dollars a taxable account sells of it at a loss and B_i the dollars the
    household's accounts buy of it (that account included), where both exceed 1e-6
    of the household's NAV the larger side stays and the other is forbidden —
    B_i ≥ L_i closes i's loss lots in the selling accounts (``lot_cap`` 0), else i's
    buys in the buying accounts (``buy_cap`` 0); at most ``max_passes`` times.
    Returns the household with those caps (its rounding keeps them: a buy forbidden
    is a name the account may not buy) and the last solution."""
    solution = HouseholdProblem(household).solve()
    for _ in range(max_passes):
        changed = _forbid_household_washes(household, solution)
        if changed is household:
            break
        household = changed
        solution = HouseholdProblem(household).solve()
    return household, solution


def _forbid_household_washes(household: Household, solution: HouseholdSolution) -> Household:
    """``household`` with the caps one pass of ``solve_household`` sets (itself when
    the answer has no wash sale)."""
    n = len(household.view.position.price_usd)
    losses, bought = np.zeros(n), np.zeros(n)
    sold_at_loss = []
    for request, own in zip(household.requests, solution.accounts, strict=True):
        nav = request.position.nav_usd
        bought += nav * np.maximum(own.weights - request.position.weight, 0.0)
        if request.tax.lots is None or own.lot_sold is None:
            sold_at_loss.append(None)
            continue
        lots = request.tax.lots.classes
        loss = lots["gain_frac"].to_numpy() < 0
        security = lots["security"].to_numpy()
        mine = nav * np.bincount(security[loss], weights=own.lot_sold[loss], minlength=n)
        losses += mine
        sold_at_loss.append(mine)
    tol = 1e-6 * household.nav_usd
    both = (losses > tol) & (bought > tol)
    if not both.any():
        return household
    close, block = both & (bought >= losses), both & (bought < losses)
    requests = []
    for request, own, mine in zip(household.requests, solution.accounts, sold_at_loss, strict=True):
        data, limits = request.problem.data, request.limits
        buys = own.weights - request.position.weight > 1e-6
        if (block & buys).any():
            data = dataclasses.replace(data, buy_cap=np.where(block, 0.0, data.buy_cap))
            limits = dataclasses.replace(limits, may_buy=limits.may_buy & ~block)
        if mine is not None and (close & (mine > 0)).any():
            lots = request.tax.lots.classes
            shut = (lots["gain_frac"].to_numpy() < 0) & close[lots["security"].to_numpy()]
            data = dataclasses.replace(data, lot_cap=np.where(shut, 0.0, data.lot_cap))
        problem = dataclasses.replace(request.problem, data=data)
        requests.append(dataclasses.replace(request, problem=problem, limits=limits))
    return dataclasses.replace(household, requests=tuple(requests))
