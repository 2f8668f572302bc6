"""The rebalance problem: objective terms plus limit objects, compiled once.

``RebalanceProblem`` builds the cvxpy problem from the *structure* of a request
(universe size, risk model, tilt groups, which optional limits exist) and takes
every number an account or a what-if changes as Parameter values
(``ProblemData``), so a re-solve after ``update`` skips compilation (DPP).

An infeasible request is solved again in elastic form (soft limits with
penalised slacks); the limits that had to give, and by how much, are raised as an
``InfeasibleError``.
"""

from __future__ import annotations

import functools
import time
import warnings as _warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from rebalancer.errors import InfeasibleError, SolverFailure
from rebalancer.optimize import constraints as lim
from rebalancer.optimize.params import Values
from rebalancer.optimize.terms import (
    ActiveRisk,
    Columns,
    ExpectedReturn,
    NameMatrices,
    TaxCost,
    Term,
    TiltPull,
    TradingCost,
    Vars,
)


# The fallback chain: Clarabel without equilibration first (the problem is scaled
# in weights already, and Ruiz equilibration made Clarabel stall on some requests),
# Clarabel with its defaults next, then Clarabel with shorter steps, SCS last. Each
# entry: (solver, options). The shorter steps (at most 0.9 of the way to the cone
# boundary, not 0.99): on some households' joint problems (four accounts' impact
# cones t ≥ u^{3/2} in one problem, their costs weighted by NAV shares down to 0.6%)
# the default steps run the iterates onto the power cones' boundary, the step length
# collapses to 0 with the gap stuck near 2e-4, and Clarabel stops with
# InsufficientProgress; at 0.9 it ends optimal in about as many iterations (50, where
# SCS took 6,000 and 40-55 s).
@contextmanager
def warnings_off():
    """cvxpy warns about inaccurate or non-DPP solves, and NumPy about overflow when cvxpy
    evaluates the objective at a failed solve's huge point; the status is judged here
    instead."""
    with _warnings.catch_warnings(), np.errstate(all="ignore"):
        _warnings.simplefilter("ignore", UserWarning)
        _warnings.simplefilter("ignore", RuntimeWarning)
        yield


SOLVERS: tuple[tuple[str, dict], ...] = (
    ("CLARABEL", {"equilibrate_enable": False}),
    ("CLARABEL", {}),
    ("CLARABEL", {"equilibrate_enable": False, "max_step_fraction": 0.9}),
    ("SCS", {"eps_abs": 1e-6, "eps_rel": 1e-6, "max_iters": 10000}),
)
BIG = 10.0  # stands for "no limit" in a parameter that must hold a number
# threads Clarabel may use (None: its default, all cores). A book's worker processes
# set 1: N workers each running M threads would oversubscribe the cores
CLARABEL_THREADS: int | None = None


# A risk model with this many factors or more makes a dense block in the KKT system
# (a Ledoit-Wolf Σ compressed to the working set: one row per name). Clarabel's
# supernodal solver (faer) on one thread factors it about a third faster than its
# default (qdldl); on the sparse factor-model problems the two are even.
DENSE_FACTORS = 64


def solver_settings(solver: str, options: dict, dense: bool = False) -> dict:
    """A chain entry's options with this machine's thread policy (and, for a dense
    problem, Clarabel's supernodal factorisation)."""
    if solver != "CLARABEL":
        return options
    if dense:
        options = {"direct_solve_method": "faer", "max_threads": 1, **options}
    if CLARABEL_THREADS is not None:
        options = {**options, "max_threads": CLARABEL_THREADS}
    return options


@functools.cache
def installed_solvers() -> frozenset[str]:
    return frozenset(cp.installed_solvers())


def interior_point_solvers() -> tuple[tuple[str, dict], ...]:
    """The chain without its first-order fallback (SCS): for the re-solves that keep
    their last good answer when these fail. Read when called, like ``SOLVERS``."""
    return tuple(entry for entry in SOLVERS if entry[0] != "SCS")


def solver_label(solver: str, options: dict) -> str:
    """A chain entry as warnings name it: ``CLARABEL (equilibrate_enable=False)``."""
    settings = ", ".join(f"{k}={v}" for k, v in options.items())
    return f"{solver} ({settings})" if settings else solver


FEASIBILITY_TOL = 1e-5  # largest constraint violation accepted from an inaccurate solve


@dataclass(frozen=True)
class Structure:
    """What fixes the shape of the problem (changing it means recompiling)."""

    tickers: tuple[str, ...]
    loadings: np.ndarray  # B, N×K
    factor_chol: np.ndarray  # L, K×K
    specific_var: np.ndarray  # d, N
    tilt_groups: np.ndarray  # G, T×N
    tilt_labels: tuple[str, ...]
    sector_groups: np.ndarray  # S, sectors×N
    sector_labels: tuple[str, ...]
    has_tracking_error: bool
    has_sector_max: bool
    lot_members: object = None  # sparse (N + n_free)×L (taxable accounts), else None
    has_gain_limit: bool = False
    # free slots after the N names: their matrices are ProblemData's free_* fields,
    # compiled as Parameters (a book's problem, filled with each account's names)
    n_free: int = 0
    # advisor limits on each name's active weight (name, label): ``ActiveCap``s whose
    # caps are the rows of ProblemData's ``active_caps``, in this order
    active_caps: tuple[tuple[str, str], ...] = ()
    # the limits stated as linear rows of the trades (``LinearRow``), one name each:
    # row i of ProblemData's ``row_*`` fields, in this order
    rows: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Names and free slots: the length of the weight vector."""
        return self.loadings.shape[0] + self.n_free


@dataclass(frozen=True)
class ProblemData:
    """The numbers of one request; weights are fractions of NAV, returns annual."""

    alpha: np.ndarray  # expected active return per name
    w0: np.ndarray  # current weights
    ref: np.ndarray  # reference weights
    risk_aversion: float
    spread: np.ndarray  # linear cost per unit weight traded
    impact: np.ndarray  # coefficient of |z|^1.5
    liquidity_cap: np.ndarray  # max traded weight per name
    buy_cap: np.ndarray  # max weight bought per name (0 = may not buy)
    sell_cap: np.ndarray  # max weight sold per name (0 = may not sell)
    position_cap: np.ndarray  # max weight per name
    cash_target: float
    tilt_target: np.ndarray
    tilt_lo: np.ndarray
    tilt_hi: np.ndarray
    tilt_strength: float
    cash_tolerance: float = 0.0005
    # the cash floor: the band around the target keeps above it (its lower edge is at
    # least the floor), and a band widened to be reached over a path never goes below it
    cash_floor: float = 0.0
    lot_cap: np.ndarray | None = None  # weight that may be sold from each lot
    lot_tax: np.ndarray | None = None  # tax per unit weight sold from each lot
    lot_gain: np.ndarray | None = None  # realized gain (NAV units) per unit weight sold
    max_realized_gain_nav: float = BIG  # the net realized gain budget over NAV
    nav_usd: float = 1.0
    # names outside the problem (weight 0) still count, as constants: their factor
    # exposure, specific variance and tilt-group exposure against the reference
    factor_offset: np.ndarray | None = None  # K
    specific_offset: float = 0.0
    tilt_offset: np.ndarray | None = None  # T
    max_tracking_error: float = BIG
    sector_max: float = BIG
    # the matrices of a structure's free slots (Structure.n_free > 0): loadings H×K,
    # specific variances H, tilted groups T×H, sectors S×H
    free_loadings: np.ndarray | None = None
    free_specific_var: np.ndarray | None = None
    free_tilt_groups: np.ndarray | None = None
    free_sector_groups: np.ndarray | None = None
    # the caps per name of Structure.active_caps, one row each (columns sliced like w0)
    active_caps: np.ndarray | None = None
    # the linear rows of Structure.rows, Σᵢ buyᵢ·boughtᵢ + sellᵢ·soldᵢ + weightᵢ·wᵢ ≤ rhs
    # (weights of NAV): one right side each, and the coefficients per name, one row
    # each (columns sliced like w0; ``LinearRow``)
    row_rhs: np.ndarray | None = None
    row_buy: np.ndarray | None = None
    row_sell: np.ndarray | None = None
    row_weight: np.ndarray | None = None


@dataclass(frozen=True)
class Solution:
    weights: np.ndarray
    cash: float
    status: str
    solver: str
    objective: float
    binding: list[str] = field(default_factory=list)
    compile_seconds: float = 0.0
    solve_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    buy: np.ndarray | None = None  # taxable accounts: weight bought per name
    lot_sold: np.ndarray | None = None  # taxable accounts: weight sold per lot
    # how the working set got there (rebalancer.optimize.working_set): names solved
    # over, rounds of pricing, the bound on what names outside could still add to the
    # objective, and whether a shared compiled problem answered
    working_set: dict = field(default_factory=dict)
    # the optimum without per-run limits and impact (rebalancer.solve.path.Destination)
    destination: object = None
    # the objective at any whole-universe weights (rebalancer.trades.settle.objective_at)
    evaluate: object = None


def or_zeros(values, n: int) -> np.ndarray:
    """``values`` as an array of floats, or n zeros where it is unset (None)."""
    return np.zeros(n) if values is None else np.asarray(values, float)


def _power_cone_gap(cone: cp.constraints.PowCone3D) -> np.ndarray:
    """How far x^α·y^(1−α) ≥ |z| (x, y ≥ 0) is from holding, measured directly.

    cvxpy's own ``violation()`` of a power cone solves a projection problem with SCS
    for every check: slow, and its "inaccurate" warning leaked to the console."""
    x, y, z = (np.asarray(a.value, float) for a in (cone.x, cone.y, cone.z))
    alpha = np.asarray(cone.alpha.value, float)
    reach = np.maximum(x, 0.0) ** alpha * np.maximum(y, 0.0) ** (1 - alpha)
    return np.maximum.reduce([np.abs(z) - reach, -x, -y, np.zeros_like(z)])


class RebalanceProblem:
    """The cvxpy problem for one structure.

    ``parametric=True`` compiles once with Parameters (``update`` then re-solve);
    ``parametric=False`` bakes ``data`` in as constants (fastest for one solve).
    ``elastic=True`` compiles every soft limit elastic (the explanation of an
    infeasible request); a set of limit names compiles only those elastic, every other
    limit as in the ordinary problem (a soft band reached over a path,
    ``rebalancer.solve.step.bands_over_path``).
    """

    def __init__(
        self,
        structure: Structure,
        data: ProblemData,
        *,
        parametric: bool | frozenset[str] = True,
        elastic: bool | frozenset[str] = False,
    ):
        self.structure = structure
        # the explanation's form (every soft limit apart, with its slack) or not
        self.elastic = elastic is True
        self.elastic_problem: RebalanceProblem | None = None  # the last explanation's
        self._last_entry: tuple[str, dict] | None = None  # the chain entry solved last
        self.values = Values(data, parametric)
        s, val = structure, self.values
        n, k = s.size, s.loadings.shape[1]
        self.dense = k >= DENSE_FACTORS
        self.names = names = NameMatrices(s, val)
        tickers = (*s.tickers, *(f"slot {i + 1}" for i in range(s.n_free)))
        self.vars = Vars(
            w=cp.Variable(n, name="w"),
            cash=cp.Variable(name="cash"),
            u=cp.Variable(n, nonneg=True, name="u"),
            f=cp.Variable(k, name="f"),
            active=cp.Variable(n, name="active"),
            w0=val.get("w0", n),
            ref=val.get("ref", n),
        )
        if not val.parametric:  # no DPP to keep: the active weights need no variable
            self.vars.active = self.vars.w - self.vars.ref
        taxable = s.lot_members is not None
        if taxable:
            self.vars.buy = cp.Variable(n, nonneg=True, name="buy")
            self.vars.sold = cp.Variable(s.lot_members.shape[1], nonneg=True, name="sold")
        self.risk = ActiveRisk(val, s.factor_chol, names)
        self.terms_plus: list[Term] = [ExpectedReturn(val, n)]
        self.terms_minus: list[Term] = [self.risk, TradingCost(val, n)]
        if len(s.tilt_labels):
            self.terms_minus.append(TiltPull(val, names))
        if taxable:
            self.terms_minus.append(TaxCost(val, s.lot_members.shape[1]))
        self.tickers = tickers
        # each kind of limit says whether, and how many times, this structure has it
        self.limits: list[lim.Limit] = [x for kind in lim.KINDS for x in kind.of(self)]

        v = self.vars
        offset = val.get("factor_offset", k, of=lambda d: or_zeros(d.factor_offset, k))
        cons = [v.f == names.factor(v.active) + offset]
        if isinstance(v.active, cp.Variable):
            cons.append(v.active == v.w - v.ref)
        for term in (*self.terms_plus, *self.terms_minus):
            cons += term.constraints(v)
        for limit in self.limits:
            cons += limit.compile(v, elastic is True or limit.name in (elastic or ()))
        objective = sum(t.expr(v) for t in self.terms_plus) - sum(
            t.expr(v) for t in self.terms_minus
        )
        if elastic:
            objective = objective - sum(limit.penalty() for limit in self.limits)
        self.problem = cp.Problem(cp.Maximize(objective), cons)

    @property
    def answered(self) -> bool:
        """The last solve ended with an optimum (accurate or not)."""
        return self.problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)

    def update(self, data: ProblemData) -> None:
        """New numbers for a parametric problem; the next solve skips compilation."""
        self.values.update(data)

    def solve(
        self,
        data: ProblemData | None = None,
        solvers: tuple[tuple[str, dict], ...] | None = None,
        explain: bool = True,
    ) -> Solution:
        """Solve (for ``data`` when given: parametric problems only); the first solver
        of ``solvers`` (default: the module's ``SOLVERS``, read at each call) that
        answers wins, the rest are fallbacks. An answer from a fallback says so in the
        solution's warnings, naming the solvers that failed and how.

        An infeasible request raises ``InfeasibleError``; with ``explain`` its
        conflicts come from an elastic re-solve.
        """
        if data is not None and data is not self.values.data:
            self.update(data)
        data = self.values.data
        warnings: list[str] = []
        failed: list[str] = []  # how each solver of the chain that gave no answer ended
        status, used, label = "not solved", "", ""
        t_compile = t_solve = 0.0
        for solver, options in SOLVERS if solvers is None else solvers:
            if solver not in installed_solvers():
                continue
            options = solver_settings(solver, options, self.dense)
            if solver == "SCS" and explain and not self.elastic:
                # the interior-point attempts failed; before the slow first-order solver,
                # ask the elastic form: if a limit must give, the request is infeasible
                probe = self.explain(data)
                if probe.conflicts:
                    raise probe
            t0 = time.perf_counter()
            # cvxpy keeps a solver per problem and, warm-started, re-solves with the
            # settings that solver was made with plus the new ones: a fallback entry
            # with other settings would silently run as the one that failed. Only a
            # repeat of the same entry (a re-solve after ``update``) reuses it.
            entry, warm = (solver, dict(options)), (solver, options) == self._last_entry
            self._last_entry = entry
            try:
                with warnings_off():
                    self.problem.solve(solver=solver, warm_start=warm, **options)
            except cp.SolverError as exc:
                label = solver_label(solver, options)
                warnings.append(f"solver {label} failed ({exc}); trying the next")
                failed.append(f"{label} failed")
                continue
            stats = self.problem.compilation_time or 0.0
            t_compile += stats
            t_solve += time.perf_counter() - t0 - stats
            status, used, label = self.problem.status, solver, solver_label(solver, options)
            if status == cp.OPTIMAL_INACCURATE and self._violation() > FEASIBILITY_TOL:
                # an "inaccurate optimum" that breaks the limits is not an answer; it is
                # how an interior-point solver often meets an infeasible request
                status = "inaccurate_infeasible"
            elif status == cp.OPTIMAL and self._violation() > FEASIBILITY_TOL:
                # nor is an "optimum" whose point breaks the limits: Clarabel without
                # equilibration has returned one off by 10^5 on a feasible request
                status = "optimal_violated"
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.INFEASIBLE):
                break
            warnings.append(f"solver {label} ended with status {status}; trying the next")
            failed.append(f"{label} ended with status {status}")
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, "inaccurate_infeasible"):
            raise self.explain(data) if explain else InfeasibleError("", [])
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            tried = "; ".join(failed) or "no solver of the chain is installed"
            raise SolverFailure(f"the optimizer failed, no solver could solve the problem: {tried}")
        if failed:  # an earlier solver of the chain gave no answer
            warnings.append(f"answer from the fallback solver {label}")
        if status == cp.OPTIMAL_INACCURATE:
            warnings.append(f"solver {label} reported an inaccurate optimum")
        v = self.vars
        binding = [label for limit in self.limits for label in limit.binding_labels(v)]
        return Solution(
            np.asarray(v.w.value, float),
            float(v.cash.value),
            status,
            used,
            float(self.problem.value),
            binding,
            t_compile,
            t_solve,
            warnings,
            None if v.buy is None else np.maximum(np.asarray(v.buy.value, float), 0.0),
            None if v.sold is None else np.maximum(np.asarray(v.sold.value, float), 0.0),
        )

    def marginal_gains(self, cols: Columns) -> np.ndarray:
        """The gain in the objective per unit weight of a first buy of each name outside
        the problem (``cols``), at the last optimum: the Lagrangian's derivative
        α_j − s_j − 2λ(Σa)_j − … summed over the terms and limits (each states its
        own part). A name with a positive gain would improve the optimum; none
        positive means the answer is the optimum of the problem with those names in."""
        v = self.vars
        total = sum(t.marginal(v, cols) for t in self.terms_plus) - sum(
            t.marginal(v, cols) for t in self.terms_minus
        )
        total = total + sum(limit.marginal(v, cols) for limit in self.limits)
        return np.broadcast_to(np.asarray(total, float), cols.alpha.shape).copy()

    def _violation(self) -> float:
        """The largest violation of any constraint at the solver's answer (a failed
        solve's point can be huge: its overflow is the answer, not news)."""
        worst = 0.0
        with warnings_off():
            for constraint in self.problem.constraints:
                try:
                    if isinstance(constraint, cp.constraints.PowCone3D):
                        gap = _power_cone_gap(constraint)
                    else:
                        gap = constraint.violation()
                    worst = max(worst, float(np.max(gap)))
                except (ValueError, TypeError):  # no value to measure
                    return float("inf")
        return worst

    def explain(self, data: ProblemData) -> InfeasibleError:
        """Solve the elastic form and name the limits that had to give.

        The elastic form is feasible by construction, so the whole solver chain is
        asked until one answers it: Clarabel fails on some elastic forms (a solver
        error, or a status no feasible problem can have), and SCS then still names the
        conflicts instead of leaving the infeasibility unexplained."""
        elastic = RebalanceProblem(self.structure, data, parametric=False, elastic=True)
        self.elastic_problem = elastic
        for solver, options in SOLVERS:
            try:
                with warnings_off():
                    elastic.problem.solve(
                        solver=solver,
                        warm_start=False,
                        **solver_settings(solver, options, self.dense),
                    )
            except cp.SolverError:
                continue
            if elastic.problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and (
                elastic._violation() <= FEASIBILITY_TOL
            ):
                break
        if elastic.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return InfeasibleError("", [], ["hard limits: long-only, budget and restrictions"])
        v = elastic.vars
        conflicts = [c for limit in elastic.limits for c in limit.conflicts(v)]
        relaxed = {c.constraint.split(" (")[0] for c in conflicts}
        # a label names the same limit as a conflict: "tilt X (lower band)" is the
        # conflict "tilt X lower band", "sector_max (Energy)" the conflict of that name
        named = {c.constraint for c in conflicts}
        binding = [
            label
            for limit in elastic.limits
            if limit.soft
            for label in limit.binding_labels(v)
            if label.split(" (")[0] not in relaxed
            and label.replace(" (", " ").removesuffix(")") not in named
        ]
        return InfeasibleError("", conflicts, binding)
