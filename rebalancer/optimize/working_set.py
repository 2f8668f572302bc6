"""Solve over a working set of names, and prove the answer optimal for the whole universe.

An account trades a few dozen of a universe's thousands of names, so its problem is
built over a *working set* — the held names and the likeliest buys — while every
other name keeps weight 0 and enters the risk and the tilts as a constant
(``restrict``). That alone would be a heuristic. Here it is exact, by pricing
(column generation): at the optimum of the restricted problem, the gain of buying
a first bit of an outside name j is the derivative of the Lagrangian,

    γ_j = α_j − s_j − (2λ + μ_TE/TE)·(Σa)_j − Σ_g (2κ·miss_g + μ⁺_g − μ⁻_g)·G_gj
          − Σ_s μ_s·S_sj − y − μ_turnover/2

(α the expected return, s the spread, a the active weights, G the tilted groups, S
the sectors, y the price of the budget, μ the multipliers of the limits; each term
and limit object states its own part: ``RebalanceProblem.marginal_gains``). The
name's own caps are positive and its weight starts at 0, so the KKT conditions of
the whole-universe problem hold exactly when no γ_j is positive. Otherwise the
names with the largest gains join the working set and the problem is solved again.
An infeasible working set is priced the same way through its elastic form (the
slacks' penalties make names that would relieve a limit price positive), so a
request is declared infeasible only when no name outside could help.

A factor model with more factors than working-set names (a Ledoit-Wolf Σ in factor
form has one factor per return observation) is compressed on the way: with
M = Lᵀ B_Wᵀ = Q R (thin QR), ‖Lᵀ(B_Wᵀ a + c)‖² = ‖R a + Qᵀ Lᵀ c‖² + ‖(I − QQᵀ) Lᵀ c‖²,
exactly, with as many rows as names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from rebalancer.errors import InfeasibleError
from rebalancer.optimize.problem import ProblemData, RebalanceProblem, Solution, Structure
from rebalancer.optimize.terms import Columns

# a name joins when buying it would raise the objective by more than this per unit
# weight (the objective is in annual return units: 1e-7 is a thousandth of a basis point)
GAIN_TOL = 1e-7
MAX_ROUNDS = 8
NO_CAP = 1e-12  # a cap at or below this is a cap of zero: the name cannot be bought

# ProblemData fields with one value per name: sliced to the working set
_PER_NAME = (
    "alpha", "w0", "ref", "spread", "impact", "liquidity_cap", "buy_cap", "sell_cap",
    "position_cap",
)  # fmt: skip


def restrict(
    structure: Structure, data: ProblemData, keep: np.ndarray
) -> tuple[Structure, ProblemData]:
    """The problem over the names ``keep`` (a boolean mask), the others fixed at weight
    0: their active weight −ref enters the factor exposures, the specific risk and
    the tilt exposures as constants. Every held name must be kept."""
    keep = np.asarray(keep, bool)
    out = ~keep
    if np.any(data.w0[out] > 0):
        raise ValueError("a held name cannot be left out of the working set")
    ref_out = data.ref[out]
    k = structure.loadings.shape[1]
    n_groups = structure.tilt_groups.shape[0]
    factor_offset = _or_zeros(data.factor_offset, k) - structure.loadings[out].T @ ref_out
    specific_offset = data.specific_offset + float(np.sum(structure.specific_var[out] * ref_out**2))
    tilt_offset = _or_zeros(data.tilt_offset, n_groups) - structure.tilt_groups[:, out] @ ref_out
    loadings, chol = structure.loadings[keep], structure.factor_chol
    n = int(keep.sum())
    if k > n:  # more factors than names: the exact compressed form (module docstring)
        q, r = np.linalg.qr(chol.T @ loadings.T)  # K×n, n×n
        c = chol.T @ factor_offset
        inside = q.T @ c
        specific_offset += float(max(c @ c - inside @ inside, 0.0))
        loadings, chol, factor_offset = r.T, np.eye(n), inside
    members = structure.lot_members
    sliced = dataclasses.replace(
        structure,
        tickers=tuple(np.asarray(structure.tickers, dtype=object)[keep]),
        loadings=loadings,
        factor_chol=chol,
        specific_var=structure.specific_var[keep],
        tilt_groups=structure.tilt_groups[:, keep],
        sector_groups=structure.sector_groups[:, keep],
        lot_members=None if members is None else members[keep],
    )
    values = {name: getattr(data, name)[keep] for name in _PER_NAME}
    return sliced, dataclasses.replace(
        data,
        **values,
        factor_offset=factor_offset,
        specific_offset=specific_offset,
        tilt_offset=tilt_offset,
    )


def _or_zeros(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n) if values is None else np.asarray(values, float)


def eligible(data: ProblemData) -> np.ndarray:
    """Names a first buy of which no per-name rule forbids (restrictions, screens,
    a forced exit, no liquidity): only these can be priced into a working set."""
    return (
        (data.buy_cap > NO_CAP)
        & (data.position_cap > NO_CAP)
        & (data.liquidity_cap > NO_CAP)
        & (data.w0 <= 0)
    )


def outside_columns(
    structure: Structure, data: ProblemData, weights: np.ndarray, names: np.ndarray
) -> Columns:
    """The columns of ``names`` (positions in the universe) at the universe weights
    ``weights``: (Σa)_j from the whole model, Σ = B L Lᵀ Bᵀ + diag(d), a = w − ref."""
    active = weights - data.ref
    exposure = structure.loadings.T @ active + _or_zeros(
        data.factor_offset, len(structure.factor_chol)
    )
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
    )


@dataclass(frozen=True)
class WorkingSet:
    """A solved working-set problem: ``keep`` is the final working set (a mask over the
    universe), ``structure``/``data``/``problem``/``solution`` are over its names."""

    keep: np.ndarray
    structure: Structure
    data: ProblemData
    problem: RebalanceProblem
    solution: Solution
    rounds: int  # solves after the first
    added: int  # names priced in
    unproven: int  # names still pricing positive when the rounds ran out (0: proven)

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Values over the working set as values over the universe (0 outside)."""
        full = np.zeros(len(self.keep))
        full[self.keep] = values
        return full


def priced_in(
    problem: RebalanceProblem,
    structure: Structure,
    data: ProblemData,
    keep: np.ndarray,
    weights: np.ndarray,
    max_add: int,
) -> tuple[np.ndarray, int]:
    """(the outside names to add — the largest gains above ``GAIN_TOL``, at most
    ``max_add`` — and how many priced positive in all), at the last optimum of
    ``problem`` (restricted to ``keep``), ``weights`` over the universe."""
    candidates = np.flatnonzero(~keep & eligible(data))
    if not len(candidates):
        return candidates, 0
    gains = problem.marginal_gains(outside_columns(structure, data, weights, candidates))
    positive = np.flatnonzero(gains > GAIN_TOL)
    best = positive[np.argsort(-gains[positive], kind="stable")[:max_add]]
    return candidates[best], len(positive)


def solve_working_set(
    structure: Structure,
    data: ProblemData,
    keep: np.ndarray,
    *,
    problem: RebalanceProblem | None = None,
    parametric: bool | frozenset[str] = False,
    max_rounds: int = MAX_ROUNDS,
    max_add: int | None = None,
) -> WorkingSet:
    """Solve the whole-universe problem (``structure``/``data`` over every name) through
    the working set ``keep``, pricing the names outside until none would improve the
    answer (module docstring). ``problem``: an already compiled problem for the first
    working set (a what-if's shared one). Raises ``InfeasibleError`` — with the
    conflicts of the last working set's elastic form — only when no outside name
    prices in. ``max_add``: names added per round (default: a third of the set,
    at least 60: a first answer far from the optimum prices hundreds of names
    positive, most of which the next answer no longer wants)."""
    keep = np.asarray(keep, bool).copy()
    added = rounds = unproven = 0
    spent = [0.0, 0.0]  # compile and solve seconds over the rounds
    s, d = restrict(structure, data, keep)
    if problem is None or not problem.values.accepts(d):
        problem = RebalanceProblem(s, d, parametric=parametric)
    while True:
        step = max_add or max(60, int(keep.sum()) // 3)
        try:
            solution = problem.solve(d)
            spent[0] += solution.compile_seconds
            spent[1] += solution.solve_seconds
            weights = _expand(keep, solution.weights)
            judge = problem
        except InfeasibleError as exc:
            judge = problem.elastic_problem  # price the elastic form (phase one)
            if judge is None or judge.vars.w.value is None or rounds >= max_rounds:
                raise
            weights = _expand(keep, judge.vars.w.value)
            new, _ = priced_in(judge, structure, data, keep, weights, step)
            if not len(new):
                raise exc from None
        else:
            new, unproven = priced_in(judge, structure, data, keep, weights, step)
            if not len(new) or rounds >= max_rounds:
                unproven = unproven if len(new) else 0
                break
        keep[new] = True
        added += len(new)
        rounds += 1
        s, d = restrict(structure, data, keep)
        problem = RebalanceProblem(s, d, parametric=parametric)
    solution = dataclasses.replace(solution, compile_seconds=spent[0], solve_seconds=spent[1])
    if unproven:
        solution = dataclasses.replace(
            solution,
            warnings=[
                *solution.warnings,
                f"optimality over the whole universe not proven: {unproven} name(s) outside "
                f"the {int(keep.sum())} optimised still priced positive after {rounds} rounds",
            ],
        )
    return WorkingSet(keep, s, d, problem, solution, rounds, added, unproven)


def _expand(keep: np.ndarray, values) -> np.ndarray:
    full = np.zeros(len(keep))
    full[keep] = np.asarray(values, float)
    return full
