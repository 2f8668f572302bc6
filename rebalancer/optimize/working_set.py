"""Solve over a working set of names, and prove the answer optimal for the whole universe.

An account trades a few dozen of a universe's thousands of names, so its problem is
solved over a *working set* — the held names and the likeliest buys — while every
other name keeps weight 0 and enters the risk and the tilts as a constant
(``rebalancer.optimize.layout``). That alone would be a heuristic. Here it is exact,
by pricing (column generation): at the optimum of the working-set problem, the gain
of buying a first bit of an outside name j is the derivative of the Lagrangian,

    γ_j = α_j − s_j − (2λ + μ_TE/TE)·(Σa)_j − Σ_g (2κ·miss_g + μ⁺_g − μ⁻_g)·G_gj
          − Σ_s μ_s·S_sj − y − μ_turnover/2

(α the expected return, s the spread, a the active weights, G the tilted groups, S
the sectors, y the price of the budget, μ the multipliers of the limits; each term
and limit object states its own part: ``RebalanceProblem.marginal_gains``). The
name's own caps are positive and its weight starts at 0, so the KKT conditions of
the whole-universe problem hold exactly when no γ_j is positive. More usefully, the
Lagrangian bounds how much better the whole-universe optimum can be (weak duality:
the objective is concave and every name inside is at its own optimum):

    f(w*) − f(ŵ) ≤ Σ_{j outside} max(γ_j, 0) · cap_j

with cap_j the name's tightest own cap (position, liquidity). Pricing stops when that
gap is below ``GAP_TOL``; otherwise the names with the largest gains join the working
set and the problem is solved again.
An infeasible working set is priced the same way through its elastic form (the
slacks' penalties make names that would relieve a limit price positive), so a
request is declared infeasible only when no name outside could help.

``WorkingSet`` holds one account's whole-universe structure, its working set and the
compiled problem, and answers every solve — the first, priced one and the re-solves
for the minimum trade size and wash sales — in whole-universe terms: ProblemData
over the universe in, a Solution over the universe out. The compiled problem is
either built for the working set (``restrict``, rebuilt when the set grows) or a
book's ``SlotProblem`` shared by the accounts of a model (filled, not rebuilt).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.errors import InfeasibleError, SolverFailure
from rebalancer.optimize.layout import (
    OFF_TOL,
    Placement,
    SlotProblem,
    buyable,
    lot_security,
    placed,
    restrict,
)
from rebalancer.optimize.problem import (
    ProblemData,
    RebalanceProblem,
    Solution,
    Structure,
    interior_point_solvers,
)
from rebalancer.optimize.terms import Columns

# pricing stops when the whole-universe optimum can be better by no more than this (the
# objective is in annual return units of NAV: 1e-5 is a tenth of a basis point a year)
GAP_TOL = 1e-5
GAIN_TOL = 1e-9  # a gain below this is solver noise
MAX_ROUNDS = 8
STEP_MIN, STEP_DIV = 60, 3  # a round adds a third of the set, at least 60 names


def eligible(data: ProblemData) -> np.ndarray:
    """Names not held that may be bought: the only ones a working set can take in (a
    name that may not be bought and is not held stays at weight 0 inside or out)."""
    return buyable(data) & (data.w0 <= 0)


def outside_columns(
    structure: Structure, data: ProblemData, weights: np.ndarray, names: np.ndarray
) -> Columns:
    """The columns of ``names`` (positions in the universe) at the universe weights
    ``weights``: (Σa)_j from the whole model, Σ = B L Lᵀ Bᵀ + diag(d), a = w − ref."""
    active = weights - data.ref
    k = structure.factor_chol.shape[0]
    offset = np.zeros(k) if data.factor_offset is None else data.factor_offset
    exposure = structure.loadings.T @ active + offset
    chol = structure.factor_chol
    cov_active = structure.loadings[names] @ (chol @ (chol.T @ exposure)) + (
        structure.specific_var[names] * active[names]
    )
    return Columns(
        alpha=data.alpha[names],
        spread=data.spread[names],
        cov_active=cov_active,
        tilt_groups=structure.tilt_groups[:, names],
        sector_groups=structure.sector_groups[:, names],
        row_buy_weight=None
        if data.row_rhs is None
        else (np.asarray(data.row_buy, float) + np.asarray(data.row_weight, float))[:, names],
    )


def expand(solution: Solution, placement: Placement, n_names: int, n_lots: int) -> Solution:
    """A compiled problem's solution as whole-universe weights (and per-lot sales)."""
    on = placement.on
    names = placement.names[on]

    def spread_out(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        full = np.zeros(n_names)
        full[names] = np.asarray(values, float)[on]
        return full

    sold = solution.lot_sold
    if sold is not None and placement.lots is not None:
        full = np.zeros(n_lots)
        mine = placement.lots >= 0
        np.add.at(full, placement.lots[mine], sold[mine])
        sold = full
    return dataclasses.replace(
        solution, weights=spread_out(solution.weights), buy=spread_out(solution.buy), lot_sold=sold
    )


class WorkingSet:
    """One account's whole-universe problem, solved through a working set (module
    docstring). ``keep``: the first working set (a mask over the universe); ``fields``:
    the ProblemData fields a problem built for the set compiles as Parameters (the
    numbers its re-solves change); ``slots``: a book model's shared problem to fill
    instead (the set then grows into its free slots, and an account that outgrows
    them falls back to a problem of its own); ``problem``: one already compiled for
    ``keep`` (a what-if's)."""

    def __init__(
        self,
        structure: Structure,
        keep: np.ndarray,
        *,
        fields: bool | frozenset[str] = False,
        slots: SlotProblem | None = None,
        problem: RebalanceProblem | None = None,
    ):
        self.structure = structure
        self.keep = np.asarray(keep, bool).copy()
        self.fields = fields
        # the account's own problem, when built (or given, compiled for ``keep``)
        self.problem: RebalanceProblem | None = problem
        self._built_for: np.ndarray | None = None if problem is None else self.keep.copy()
        self._shared = problem is not None  # until the set outgrows it
        self.slots = slots
        self.lot_security = lot_security(structure)
        self.n_lots = 0 if self.lot_security is None else len(self.lot_security)
        self.rounds = self.added = self.unproven = 0
        self.gap = 0.0  # the bound on the objective the last pricing left (docstring)

    # -- one solve ----------------------------------------------------------------

    def _compiled(self, data: ProblemData) -> tuple[RebalanceProblem, ProblemData, Placement]:
        if self.slots is not None:
            placement = self.slots.place(self.keep, data, self.lot_security)
            if placement is not None:
                d = self.slots.data(data, placement)
                if self.slots.problem.values.accepts(d):
                    return self.slots.problem, d, placement
            # the account outgrew the shared problem (or is not of its model): one of its own
            self.slots = None
        s, d = restrict(self.structure, data, self.keep)
        fresh = self._built_for is None or not np.array_equal(self._built_for, self.keep)
        if fresh or not self.problem.values.accepts(d):
            self._build(s, d)
            self._shared = False
        return self.problem, d, placed(self.keep)

    def _build(self, structure: Structure, data: ProblemData) -> None:
        """A problem of the account's own, for the working set as it is now."""
        self.problem = RebalanceProblem(structure, data, parametric=self.fields)
        self._built_for = self.keep.copy()

    def _solve_once(self, data, solvers, explain) -> tuple[RebalanceProblem, Solution]:
        problem, d, placement = self._compiled(data)
        shared = self.slots is not None
        try:
            # a shared problem is not asked to explain an infeasibility or to fall back
            # to the first-order solver: the account's own problem does both
            solution = problem.solve(
                d,
                solvers=interior_point_solvers() if shared else solvers,
                explain=explain and not shared,
            )
        except (InfeasibleError, SolverFailure) as exc:
            if not shared or (isinstance(exc, InfeasibleError) and not explain):
                raise
            self.slots = None
            if isinstance(exc, InfeasibleError):
                # infeasible as it stands: straight to the explanation over the same names
                # (the account's own elastic problem, which names them)
                s, d = restrict(self.structure, data, self.keep)
                self._build(s, d)
                raise self.problem.explain(d) from None
            return self._solve_once(data, solvers, explain)
        if shared and np.max(solution.weights[~placement.on], initial=0.0) > OFF_TOL:
            self.slots = None  # a switched-off slot took weight: not an answer to use
            return self._solve_once(data, solvers, explain)
        n = len(self.keep)
        return problem, expand(solution, placement, n, self.n_lots)

    def solve(
        self,
        data: ProblemData,
        *,
        price: bool = False,
        solvers: tuple[tuple[str, dict], ...] | None = None,
        explain: bool = True,
    ) -> Solution:
        """The optimum for the whole-universe ``data`` over the working set, as
        whole-universe weights; with ``price`` the set first grows until no name
        outside would improve it. Raises ``InfeasibleError`` (with ``explain``, the
        conflicts of the elastic form) and ``SolverFailure`` as the problem does."""
        if not price:
            return self._solve_once(data, solvers, explain)[1]
        # a name that may not be bought and is not held stays at 0 inside or out: out,
        # it does not pin a variable at a bound
        self.keep &= (data.w0 > 0) | eligible(data)
        spent = [0.0, 0.0]  # compile and solve seconds over the rounds
        while True:
            step = self._step()
            try:
                problem, solution = self._solve_once(data, solvers, explain)
                spent[0] += solution.compile_seconds
                spent[1] += solution.solve_seconds
                judge, weights = problem, solution.weights
            except InfeasibleError as exc:
                if not explain:
                    raise
                self._phase_one(data, exc)  # returns once the set has grown feasible
                continue
            else:
                if self.slots is not None and step:  # as many as the free slots can take
                    step = min(
                        step,
                        self.slots.room(self.keep, data.w0)
                        + len(self.slots.evictable(self.keep, data.w0, weights)),
                    )
                    if not step:
                        self.slots, step = None, self._step()
                new, gap = self._priced_in(judge, data, weights, step) if step else ([], 0.0)
                self.gap = gap
                if gap <= GAP_TOL or not len(new) or self.rounds >= MAX_ROUNDS:
                    self.unproven = len(new) if gap > GAP_TOL else 0
                    break
            self._make_room(len(new), data, weights)
            self.keep[new] = True
            self.added += len(new)
            self.rounds += 1
        solution = dataclasses.replace(
            solution,
            compile_seconds=spent[0],
            solve_seconds=spent[1],
            working_set=self.summary(),
        )
        if self.unproven:
            solution = dataclasses.replace(
                solution,
                warnings=[
                    *solution.warnings,
                    f"optimality over the whole universe not proven: {self.unproven} name(s) "
                    f"outside the {int(self.keep.sum())} optimised still priced positive after "
                    f"{self.rounds} rounds (the optimum could be better by up to "
                    f"{self.gap:.2g} a year)",
                ],
            )
        return solution

    def summary(self) -> dict:
        """How the set got where it is: names, rounds of pricing, names priced in, the
        bound on the objective left outside, and whether a shared problem answered."""
        return {
            "names": int(self.keep.sum()),
            "pricing_rounds": self.rounds,
            "priced_in": self.added,
            "gap_bound": float(self.gap),
            "shared_problem": self.slots is not None or self._shared,
        }

    def _phase_one(self, data: ProblemData, error: InfeasibleError) -> None:
        """An infeasible working set: price its elastic form (a name that would relieve
        a limit prices positive), grow the set and solve the elastic form again, until
        no name outside helps — raise the last set's ``error``, the request is
        infeasible — or its slacks are gone: return, the set is feasible now."""
        while True:
            elastic = None if self.slots is not None else self.problem.elastic_problem
            step = self._step()
            if elastic is None or not elastic.answered or not step or self.rounds >= MAX_ROUNDS:
                raise error
            weights = expand(
                dataclasses.replace(_EMPTY, weights=elastic.vars.w.value),
                placed(self.keep),
                len(self.keep),
                self.n_lots,
            ).weights
            new, _ = self._priced_in(elastic, data, weights, step)
            if not len(new):
                raise error
            self.keep[new] = True
            self.added += len(new)
            self.rounds += 1
            s, d = restrict(self.structure, data, self.keep)
            self._build(s, d)
            error = self.problem.explain(d)
            if not error.conflicts and self.problem.elastic_problem.answered:
                return

    def _step(self) -> int:
        """How many names the next round may add: a third of the set (at least 60: a
        first answer far from the optimum prices hundreds of names positive, most of
        which the next answer no longer wants; in a shared problem the free slots
        bound it, and the set grows beyond them in a problem of the account's own)."""
        return max(STEP_MIN, int(self.keep.sum()) // STEP_DIV)

    def _make_room(self, count: int, data: ProblemData, weights: np.ndarray) -> None:
        """In a shared problem, free slots for ``count`` more names: names there at
        weight 0 leave the working set (it stays optimal for the smaller set); an
        account still short of slots goes on in a problem of its own."""
        if self.slots is None:
            return
        short = count - self.slots.room(self.keep, data.w0)
        if short <= 0:
            return
        idle = self.slots.evictable(self.keep, data.w0, weights)
        if len(idle) < short:
            self.slots = None
            return
        self.keep[idle[:short]] = False

    def _priced_in(
        self, problem: RebalanceProblem, data: ProblemData, weights: np.ndarray, most: int
    ) -> tuple[np.ndarray, float]:
        """(the outside names to add — the largest gains, at most ``most`` — and the
        bound on what they could add to the objective), at the last optimum."""
        candidates = np.flatnonzero(~self.keep & eligible(data))
        if not len(candidates):
            return candidates, 0.0
        gains = problem.marginal_gains(outside_columns(self.structure, data, weights, candidates))
        positive = np.flatnonzero(gains > GAIN_TOL)
        cap = np.minimum.reduce(
            [
                data.position_cap[candidates[positive]],
                data.liquidity_cap[candidates[positive]],
                data.buy_cap[candidates[positive]],
                np.ones(len(positive)),
            ]
        )
        best = positive[np.argsort(-gains[positive], kind="stable")[:most]]
        return candidates[best], float(gains[positive] @ cap)


_EMPTY = Solution(np.zeros(0), 0.0, "", "", 0.0)
