"""The joint problem of a household: one variable set per account, one objective.

Built by composition, without a stacked layout: each account has the variables of
``optimize.terms.Vars`` (w_a, cash_a, u_a ≥ |w_a − w₀_a|, and for a taxable account
buy_a and sold_a over its lot classes) and compiles its own limits — budget, cash
target, per-name bounds (restrictions, trade mode, forced exits), its linear rows
(turnover), its lots and gain budget — exactly as its own problem would
(``optimize.constraints.KINDS`` over the account's request, whose scenario has the
household limits lifted: ``household.request.account_scenario``). The household is a
second ``Vars`` whose weights are an expression of the accounts':

    W = Σ_a π_a S_a w_a,   cash_H = Σ_a π_a cash_a,   U = Σ_a π_a S_a u_a

(π_a = NAV_a / NAV; w_a is over the account's own names — of the working set, those it
holds or may buy — and S_a puts them among the set's)

with its own factor exposures f = Bᵀ(W − ref) and active weights W − ref. The
household's limits compile on that view unchanged: tilt bands, tracking error,
sector caps, active-position caps, position caps (W_i ≤ cap_i) and liquidity on the
summed dollar orders (U_i ≤ participation × ADV × days / NAV, i.e.
Σ_a NAV_a |z_a,i| ≤ the name's cap in dollars). The objective is

    αᵀW − λ(‖Lᵀf‖² + ‖√d∘(W − ref)‖²) − κ‖G(W − ref) − t‖²
        − Σ_a π_a (cost_a + tax_a + c_aᵀ w_a)

once per household: a tilt is carried once, not once per account; each account's
trading and tax costs (in its own NAV units) are scaled to the household's. The last
term is asset location (``income_charge``): c_a = rate × income_yield in a taxable
account (0 in a tax-deferred or tax-exempt one), the tax a year on the income of what
it holds, so that between accounts holding the same W the optimum puts income-heavy
names where their income is not taxed; moving them costs the trading and the realized
gains' tax of the sales, which the account's own gain budget still caps.

Solved with the chain of ``optimize.problem`` through a working set of names priced
at each optimum (``priced``), and again where the answer has a wash sale across the
household (``solve_household``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import cvxpy as cp
import numpy as np
from scipy import sparse

from rebalancer.errors import InfeasibleError, SolverFailure
from rebalancer.household.request import Household
from rebalancer.limits import in_scenario_terms
from rebalancer.model.substitutes import wash_ids
from rebalancer.model.tax import income_yield
from rebalancer.optimize import constraints as lim
from rebalancer.optimize.layout import buyable, must_hold, restrict
from rebalancer.optimize.params import Values
from rebalancer.optimize.problem import (
    FEASIBILITY_TOL,
    SOLVERS,
    Solution,
    installed_solvers,
    interior_point_solvers,
    or_zeros,
    solver_label,
    solver_settings,
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
from rebalancer.optimize.working_set import (
    GAIN_TOL,
    GAP_TOL,
    MAX_ROUNDS,
    STEP_DIV,
    STEP_MIN,
    outside_columns,
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
    names: int = 0  # the names solved over (the working set's)


class HouseholdProblem:
    """The cvxpy problem of ``household`` (module docstring), constants only."""

    def __init__(self, household: Household, elastic: bool = False, keep: np.ndarray | None = None):
        self.household = household
        # the working set: the names solved over (the others at weight 0 in every
        # account, constants of the household's risk and tilts: ``layout.restrict``)
        self.keep = np.ones(len(household.view.position.weight), bool) if keep is None else keep
        pi = household.shares
        self.accounts: list[SimpleNamespace] = []
        cons: list[cp.Constraint] = []
        costs = []
        for share, request in zip(pi, household.requests, strict=True):
            # the account's own names: of the set, those it holds or may buy (a name it
            # may not buy would only pin a variable at 0, which leaves an interior-point
            # solver no interior)
            whole = request.problem.data
            mask = self.keep & ((whole.w0 > 0) | buyable(whole))
            s, d = restrict(request.problem.structure, whole, mask)
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
            charge = income_charge(request)
            if charge.any():
                cost = cost + charge[mask] @ v.w
            costs.append(share * cost)
            # its weights among the set's: W = Σ π_a S_a w_a with S_a the set's columns
            # of its names
            at = np.flatnonzero(mask[self.keep])
            scatter = sparse.csr_matrix(
                (np.ones(len(at)), (at, np.arange(len(at)))), shape=(int(self.keep.sum()), len(at))
            )
            self.accounts.append(
                SimpleNamespace(
                    request=request,
                    vars=v,
                    limits=limits,
                    mask=mask,
                    scatter=scatter,
                    charge=charge,
                )  # fmt: skip
            )

        s, d = restrict(household.structure(), household.data(), self.keep)
        val = Values(d, False)
        n, k = s.size, s.loadings.shape[1]
        names = NameMatrices(s, val)
        W = sum(share * (a.scatter @ a.vars.w) for share, a in zip(pi, self.accounts, strict=True))
        ref = val.get("ref", n)
        h = Vars(
            w=W,
            cash=sum(share * a.vars.cash for share, a in zip(pi, self.accounts, strict=True)),
            u=sum(
                share * (a.scatter @ a.vars.u) for share, a in zip(pi, self.accounts, strict=True)
            ),
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
        offset = val.get("factor_offset", k, of=lambda d: or_zeros(d.factor_offset, k))
        cons.append(h.f == names.factor(h.active) + offset)
        terms_minus = [risk]
        if len(s.tilt_labels):
            terms_minus.append(TiltPull(val, names))
        for term in terms_minus:
            cons += term.constraints(h)
        for limit in self.limits:
            cons += limit.compile(h, elastic)
        self.terms_plus, self.terms_minus = [ExpectedReturn(val, n)], terms_minus
        objective = self.terms_plus[0].expr(h) - sum(t.expr(h) for t in terms_minus)
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

    def _run(self, chain=None) -> tuple[str, str, float, list[str]]:
        """Solve with the chain (``chain``, default ``SOLVERS``); (status, solver label,
        seconds, warnings)."""
        warnings: list[str] = []
        status, label, seconds = "not solved", "", 0.0
        # an inaccurate optimum from an interior-point entry: the later Clarabel entries
        # (not SCS) try for an accurate one (the shorter steps often find it), and where
        # none does the first is solved again (the same answer: a deterministic solver)
        inaccurate: tuple[str, dict] | None = None
        for solver, options in SOLVERS if chain is None else chain:
            if solver not in installed_solvers() or (inaccurate and solver == "SCS"):
                continue
            options = solver_settings(solver, options)
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
            if status == cp.OPTIMAL_INACCURATE and solver != "SCS":
                inaccurate = inaccurate or (solver, options)
                warnings.append(f"solver {label} reported an inaccurate optimum; trying the next")
                continue
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.INFEASIBLE):
                break
            warnings.append(f"solver {label} ended with status {status}; trying the next")
        if inaccurate is not None and status != cp.OPTIMAL:
            solver, options = inaccurate
            t0 = time.perf_counter()
            with warnings_off():
                self.problem.solve(solver=solver, **options)
            seconds += time.perf_counter() - t0
            status, label = self.problem.status, solver_label(solver, options)
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and (
                self._violation() > FEASIBILITY_TOL
            ):
                status = "inaccurate_infeasible"
        return status, label, seconds, warnings

    def solve(self, explain: bool = True, chain=None) -> HouseholdSolution:
        """The joint optimum. An infeasible household raises ``InfeasibleError`` naming
        the limits its elastic form relaxes (a household limit by its name, an
        account's prefixed with the account); with ``explain=False`` it names none (the
        elastic form is not solved: a working set's infeasibility is not the
        household's, and its elastic solve can cost more than the household's).
        ``chain``: the solvers to try, as ``_run``."""
        status, label, seconds, warnings = self._run(chain)
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, "inaccurate_infeasible"):
            if not explain:
                raise InfeasibleError(f"{self.household.name} (household)")
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
                    self._whole(v.w.value, a.mask),
                    float(v.cash.value),
                    status,
                    label,
                    float(self.problem.value),
                    own,
                    0.0,
                    seconds,
                    list(warnings),
                    None if v.buy is None else np.maximum(self._whole(v.buy.value, a.mask), 0.0),
                    None if v.sold is None else np.maximum(np.asarray(v.sold.value, float), 0.0),
                )
            )
        weights = sum(p * s.weights for p, s in zip(pi, solutions, strict=True))
        return HouseholdSolution(
            solutions, weights, status, label, float(self.problem.value), seconds, binding, warnings
        )

    def _whole(self, values, mask: np.ndarray) -> np.ndarray:
        """An account's values over its names (``mask``) as the universe's (0 outside)."""
        full = np.zeros(len(mask))
        full[mask] = np.asarray(values, float)
        return full

    def gains(self, solution: HouseholdSolution) -> tuple[np.ndarray, np.ndarray]:
        """(the names outside the working set that some account may buy, and per account
        × name the gain in the objective of a first unit bought there) at the last
        optimum: the Lagrangian's derivative, as ``RebalanceProblem.marginal_gains`` for
        one account. A unit of w_a,j is π_a of W_j, so

            gain_a,j = π_a (h_j − s_a,j) + (a's own limits' parts: its budget, its rows)

        with h_j the household terms' and limits' part (α_j − 2λ(Σa)_j − tilt pull −
        the bands', sectors' and tracking error's multipliers) at the household's
        weights, s_a,j the account's spread and c_a,j its income charge
        (``income_charge``). ``−inf`` where the account may not buy."""
        household = self.household
        outside = ~self.keep & (household.data().position_cap > 0)
        whole = [r.problem for r in household.requests]
        may = [outside & buyable(p.data) & (p.data.w0 <= 0) for p in whole]
        names = np.flatnonzero(np.logical_or.reduce(may))
        if not len(names):
            return names, np.zeros((len(whole), 0))
        cols = outside_columns(household.structure(), household.data(), solution.weights, names)
        h = self.vars
        part = sum(t.marginal(h, cols) for t in self.terms_plus) - sum(
            t.marginal(h, cols) for t in self.terms_minus
        )
        part = part + sum(limit.marginal(h, cols) for limit in self.limits)
        gains = np.full((len(whole), len(names)), -np.inf)
        for i, (a, p, own, share) in enumerate(
            zip(self.accounts, whole, solution.accounts, household.shares, strict=True)
        ):
            mine = outside_columns(p.structure, p.data, own.weights, names)
            limits = sum(limit.marginal(a.vars, mine) for limit in a.limits)
            gain = share * (part - mine.spread - a.charge[names]) + limits
            gains[i] = np.where(may[i][names], gain, -np.inf)
        return names, gains

    def explain(self) -> InfeasibleError:
        """The elastic form solved: the limits that had to give."""
        elastic = HouseholdProblem(self.household, elastic=True, keep=self.keep)
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


def income_charge(request) -> np.ndarray:
    """c_a = rate × income_yield per name (the universe's order): the tax a year on the
    income of a whole NAV of the account held in each name, i.e. ``model.tax.
    income_tax_usd`` / NAV_a per unit of weight, at the account scenario's
    ``tax.ordinary_income_rate``. Zero in a tax-deferred or tax-exempt account and for
    a universe without ``income_yield`` (no term then: the problem is the one without
    asset location)."""
    yields = income_yield(request.universe)
    if not request.tax.taxable:
        return np.zeros_like(yields)
    return request.scenario.tax.ordinary_income_rate * yields


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
    solution, keep = priced(household)
    for _ in range(max_passes):
        changed = _forbid_household_washes(household, solution)
        if changed is household:
            break
        household = changed
        solution, keep = priced(household, keep)
    return household, solution


def first_set(household: Household) -> np.ndarray:
    """The first working set: every name an account holds, each account's own first
    set (``Request.first_set``), the view's, and the names the household's active caps
    make it hold."""
    keep = household.view.problem.first_set() | must_hold(household.data())
    for request in household.requests:
        keep |= request.problem.first_set() | (request.position.weight > 0)
    return keep


def priced(
    household: Household, keep: np.ndarray | None = None
) -> tuple[HouseholdSolution, np.ndarray]:
    """The household's optimum over the whole universe through a working set over
    names (one for every account): solved over ``keep`` (default ``first_set``), then
    grown by the names outside with the largest gain in any account
    (``HouseholdProblem.gains``) until what they could still add — Σ of the positive
    gains, each at most a whole weight — is under ``GAP_TOL``, or after ``MAX_ROUNDS``
    (a warning then says so). A set with no feasible point is solved over every name
    instead (whose infeasibility, if any, is the household's). A set the interior-point
    solvers (Clarabel's three entries of the chain) fail on is solved over every name by
    them, and only where they fail there too by the whole chain over the set (SCS, its
    last resort, took 40-55 s on a 624-name set of a 4-account household that Clarabel
    with shorter steps solves in 6 s).
    Returns the solution and the set it ended with."""
    keep = first_set(household) if keep is None else keep.copy()
    seconds = 0.0
    for rounds in range(MAX_ROUNDS + 1):
        problem = HouseholdProblem(household, keep=keep)
        whole = bool(keep.all())
        try:
            # over every name already: the household's own infeasibility, explained
            solution = problem.solve(whole, None if whole else interior_point_solvers())
        except InfeasibleError:
            if whole:
                raise
            keep = np.ones_like(keep)
            solution = HouseholdProblem(household, keep=keep).solve()
            break
        except SolverFailure:
            if whole:
                raise
            try:
                every = np.ones_like(keep)
                solution = HouseholdProblem(household, keep=every).solve(
                    chain=interior_point_solvers()
                )
                keep = every
                break
            except SolverFailure:
                # neither: the set with the whole chain (SCS last), priced on as before
                solution = problem.solve()
        seconds += solution.seconds
        names, gains = problem.gains(solution)
        best = gains.max(axis=0) if len(names) else np.zeros(0)
        positive = best > GAIN_TOL
        gap = float(np.maximum(gains[:, positive], 0.0).sum())
        if gap <= GAP_TOL:
            break
        if rounds == MAX_ROUNDS:
            solution.warnings.append(
                f"optimality over the whole universe not proven: {int(positive.sum())} "
                f"name(s) outside the {int(keep.sum())} optimised still priced positive "
                f"(the optimum could be better by up to {gap:.2g} a year)"
            )
            break
        step = max(STEP_MIN, int(keep.sum()) // STEP_DIV)
        order = np.argsort(-best[positive], kind="stable")[:step]
        keep[names[positive][order]] = True
    solution.seconds = seconds or solution.seconds
    solution.names = int(keep.sum())
    return solution, keep


def _forbid_household_washes(household: Household, solution: HouseholdSolution) -> Household:
    """``household`` with the caps one pass of ``solve_household`` sets (itself when
    the answer has no wash sale)."""
    n = len(household.view.position.price_usd)
    losses, bought = np.zeros(n), np.zeros(n)
    sold_at_loss = []
    for request, own in zip(household.requests, solution.accounts, strict=True):
        nav = request.position.nav_usd
        # a taxable account's buys are its own variable (it may buy and sell one name)
        buys = own.buy if own.buy is not None else own.weights - request.position.weight
        bought += nav * np.maximum(buys, 0.0)
        if request.tax.lots is None or own.lot_sold is None:
            sold_at_loss.append(None)
            continue
        lots = request.tax.lots.classes
        loss = lots["gain_frac"].to_numpy() < 0
        security = lots["security"].to_numpy()
        mine = nav * np.bincount(security[loss], weights=own.lot_sold[loss], minlength=n)
        losses += mine
        sold_at_loss.append(mine)
    # an identical substitute group is one security to the rule (``model.substitutes``)
    key = wash_ids(household.view.universe.index, household.scenario)
    losses, bought = (np.bincount(key, weights=x, minlength=n)[key] for x in (losses, bought))
    tol = 1e-6 * household.nav_usd
    both = (losses > tol) & (bought > tol)
    if not both.any():
        return household
    close, block = both & (bought >= losses), both & (bought < losses)
    requests = []
    for request, own, mine in zip(household.requests, solution.accounts, sold_at_loss, strict=True):
        data, limits = request.problem.data, request.limits
        buys = (own.buy if own.buy is not None else own.weights - request.position.weight) > 1e-6
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
