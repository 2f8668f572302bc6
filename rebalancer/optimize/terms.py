"""Objective terms. Each takes its numbers from ``Values`` and compiles to one expression.

The objective maximised is

    αᵀw  −  λ · (‖Lᵀf‖² + ‖√d ∘ a‖²)  −  κ · ‖e‖²  −  (sᵀu + mᵀt)

with w the post-trade weights, a = w − w_ref the active weights, f = Bᵀa their
factor exposures (L Lᵀ = F), e = G a − target the miss of the tilted groups,
u ≥ |w − w₀| the traded weights and t ≥ u^{3/2} the impact (a 3-D power cone per
name: interior-point solvers converge far faster on it than on the two
second-order cones cvxpy would otherwise write for u^{3/2}).
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from rebalancer.optimize.params import Values


@dataclass
class Vars:
    """The decision variables and the parameters they are measured against."""

    w: cp.Variable  # post-trade weights of the securities
    cash: cp.Variable  # post-trade cash weight
    u: cp.Variable  # traded weight per name, u ≥ |w − w₀|
    f: cp.Variable  # factor exposures of the active weights
    active: cp.Variable  # a = w − w_ref, its own variable so products with λ stay DPP
    w0: cp.Expression  # current weights
    ref: cp.Expression  # reference weights (benchmark or current holdings)
    buy: cp.Variable | None = None  # taxable accounts: weight bought per name
    sold: cp.Variable | None = None  # taxable accounts: weight sold from each lot

    @property
    def z(self) -> cp.Expression:
        return self.w - self.w0


@dataclass(frozen=True)
class Columns:
    """The names outside a problem, as the terms and limits would see them if they
    came in: what pricing them (``rebalancer.optimize.working_set``) needs."""

    alpha: np.ndarray  # expected active return per unit weight
    spread: np.ndarray  # linear cost per unit weight bought
    cov_active: np.ndarray  # (Σa)_j, the names' covariance with the active weights
    tilt_groups: np.ndarray  # T×m membership of the tilted groups
    sector_groups: np.ndarray  # S×m membership of the sectors
    # R×m: per linear row (``Structure.rows``), its buy plus weight coefficient
    row_buy_weight: np.ndarray | None = None


def dual(constraint: cp.Constraint) -> np.ndarray | float:
    """The multiplier of a constraint at the optimum (≥ 0 for an inequality), in the
    sign convention of ``maximise objective − Σ μ·(lhs − rhs)``."""
    value = constraint.dual_value
    return 0.0 if value is None else np.asarray(value, float)


def at_most(lhs: cp.Expression, cap: cp.Expression, rows: np.ndarray | None) -> list:
    """lhs ≤ cap on ``rows`` (None: every row; empty: no constraint at all)."""
    if rows is None:
        return [lhs <= cap]
    return [lhs[rows] <= cap[rows]] if len(rows) else []


class NameMatrices:
    """The per-name matrices of a problem as the linear maps the terms and limits use:
    loadings B (x ↦ Bᵀx), specific volatility √d (x ↦ √d∘x), tilted groups G and
    sectors S (x ↦ Gx, Sx). Constants for the structure's own names; for its *free*
    slots — a compiled problem that each solve fills with other names (a book's
    accounts) — Parameters read from ProblemData's ``free_*`` fields."""

    def __init__(self, structure, values: Values):
        s = structure
        self.fixed = s.loadings.shape[0]
        self.free = s.n_free
        self.loadings = s.loadings
        self.sqrt_d = np.sqrt(s.specific_var)
        self.tilt_groups = s.tilt_groups
        self.sector_groups = s.sector_groups
        self.has_specific = bool(np.any(self.sqrt_d)) or self.free > 0
        if self.free:
            h, k = self.free, s.loadings.shape[1]
            t, n_sectors = s.tilt_groups.shape[0], s.sector_groups.shape[0]
            self.free_loadings = values.get("free_loadings", (h, k))
            self.free_sqrt_d = values.get(
                "free_specific_var", h, nonneg=True, of=lambda d: np.sqrt(d.free_specific_var)
            )
            self.free_tilt = values.get("free_tilt_groups", (t, h)) if t else None
            self.free_sectors = values.get("free_sector_groups", (n_sectors, h))

    def _apply(self, fixed, free, x):
        if not self.free:
            return fixed(x)
        return fixed(x[: self.fixed]) + free(x[self.fixed :])

    def factor(self, x: cp.Expression) -> cp.Expression:
        return self._apply(lambda y: self.loadings.T @ y, lambda y: self.free_loadings.T @ y, x)

    def groups(self, x: cp.Expression) -> cp.Expression:
        return self._apply(lambda y: self.tilt_groups @ y, lambda y: self.free_tilt @ y, x)

    def sectors(self, x: cp.Expression) -> cp.Expression:
        return self._apply(lambda y: self.sector_groups @ y, lambda y: self.free_sectors @ y, x)

    def specific(self, x: cp.Expression) -> cp.Expression:
        if not self.free:
            return cp.multiply(self.sqrt_d, x)
        return cp.hstack(
            [
                cp.multiply(self.sqrt_d, x[: self.fixed]),
                cp.multiply(self.free_sqrt_d, x[self.fixed :]),
            ]
        )


class Term:
    def expr(self, v: Vars) -> cp.Expression:
        raise NotImplementedError

    def constraints(self, v: Vars) -> list[cp.Constraint]:
        """Definitions of auxiliary variables the term needs (none by default)."""
        return []

    def marginal(self, v: Vars, cols: Columns) -> np.ndarray | float:
        """∂(term)/∂w_j for a first buy of each name outside the problem (``cols``)."""
        return 0.0


class ExpectedReturn(Term):
    """αᵀw: the expected active return of the post-trade weights."""

    def __init__(self, values: Values, n: int):
        self.alpha = values.get("alpha", n)

    def expr(self, v):
        return self.alpha @ v.w

    def marginal(self, v, cols):
        return cols.alpha


class ActiveRisk(Term):
    """λ · aᵀΣa with Σ = B F Bᵀ + diag(d), as λ(‖Lᵀf‖² + ‖√d∘a‖²), f = Bᵀa."""

    def __init__(self, values: Values, factor_chol: np.ndarray, names: NameMatrices):
        k = factor_chol.shape[0]
        # an identity L (a Ledoit-Wolf Σ compressed to its names) is left out: as a dense
        # constant it would double the nonzeros of the problem
        self.lt = None if np.array_equal(factor_chol, np.eye(k)) else factor_chol.T
        self.names = names
        self.has_specific = names.has_specific
        self.risk_aversion = values.get("risk_aversion", nonneg=True)
        # √ of the specific variance of the names outside the problem (a constant)
        self.outside = values.get("specific_offset", of=lambda d: np.sqrt(d.specific_offset))
        # with free slots √d is a Parameter: its product with the weights gets a
        # variable of its own, so λ·‖·‖² stays DPP whether λ is a Parameter or not
        self.spec = cp.Variable(names.fixed + names.free, name="spec") if names.free else None

    def factor_part(self, v) -> cp.Expression:
        return v.f if self.lt is None else self.lt @ v.f

    def specific_part(self, v) -> cp.Expression:
        return self.names.specific(v.active) if self.spec is None else self.spec

    def constraints(self, v):
        return [] if self.spec is None else [self.spec == self.names.specific(v.active)]

    def variance(self, v):
        var = cp.sum_squares(self.factor_part(v))
        if self.has_specific:
            var = var + cp.sum_squares(self.specific_part(v))
        return var

    def expr(self, v):
        return self.risk_aversion * self.variance(v)

    def marginal(self, v, cols):
        # ∂(λ aᵀΣa)/∂w_j = 2λ (Σa)_j
        return 2.0 * float(self.risk_aversion.value) * cols.cov_active


class TiltPull(Term):
    """κ · ‖G a − t‖²: pulls each tilted group's active exposure toward its target."""

    def __init__(self, values: Values, names: NameMatrices):
        self.names = names
        m = names.tilt_groups.shape[0]
        self.offset = values.get(
            "tilt_offset", m, of=lambda d: np.zeros(m) if d.tilt_offset is None else d.tilt_offset
        )
        self.target = values.get("tilt_target", m)
        self.strength = values.get("tilt_strength", nonneg=True)
        self.miss = cp.Variable(m, name="tilt_miss")

    def constraints(self, v):
        return [self.miss == self.names.groups(v.active) + self.offset - self.target]

    def expr(self, v):
        return self.strength * cp.sum_squares(self.miss)

    def marginal(self, v, cols):
        return 2.0 * float(self.strength.value) * (cols.tilt_groups.T @ self.miss.value)


class TradingCost(Term):
    """sᵀu + mᵀt with t ≥ u^{3/2}: spread plus square-root-law impact (rebalancer.model.costs)."""

    def __init__(self, values: Values, n: int):
        self.spread = values.get("spread", n, nonneg=True)
        self.impact = values.get("impact", n, nonneg=True)
        fixed = values.constant("impact")
        # the names whose t only t ≤ u bounds (None: a Parameter, any may be 0)
        self.free_rows = (
            None if fixed is None else np.flatnonzero(np.broadcast_to(fixed, (n,)) <= 0)
        )
        # a constant zero impact needs no cones (n fewer variables and cones)
        self.t = (
            None
            if fixed is not None and not fixed.any()
            else cp.Variable(n, nonneg=True, name="impact_t")
        )

    def constraints(self, v):
        if self.t is None:
            return []
        # PowCone3D(x, y, z, α): x^α · y^(1−α) ≥ |z|; with y = 1 this is t^{2/3} ≥ u
        cone = [cp.constraints.PowCone3D(self.t, np.ones(self.t.shape), v.u, 2 / 3)]
        # a name whose impact is 0 leaves its t free upward, which an interior-point
        # solver follows off to infinity; u ≤ 1 so u^{3/2} ≤ u, and t ≤ u bounds it
        return cone + at_most(self.t, v.u, self.free_rows)

    def expr(self, v):
        linear = self.spread @ v.u
        return linear if self.t is None else linear + self.impact @ self.t

    def marginal(self, v, cols):
        # the impact m·u^{3/2} has slope 0 at u = 0: a first buy pays the spread only
        return cols.spread


class TaxCost(Term):
    """Σ_ℓ c_ℓ s_ℓ: the tax paid on what is sold from each lot (rebalancer.model.tax)."""

    def __init__(self, values: Values, n_lots: int):
        self.coef = values.get("lot_tax", n_lots)

    def expr(self, v):
        return self.coef @ v.sold
