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


def dual(constraint: cp.Constraint) -> np.ndarray | float:
    """The multiplier of a constraint at the optimum (≥ 0 for an inequality), in the
    sign convention of ``maximise objective − Σ μ·(lhs − rhs)``."""
    value = constraint.dual_value
    return 0.0 if value is None else np.asarray(value, float)


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

    def __init__(self, values: Values, factor_chol: np.ndarray, specific_var: np.ndarray):
        self.lt = factor_chol.T
        self.sqrt_d = np.sqrt(specific_var)
        self.has_specific = bool(np.any(self.sqrt_d))
        self.risk_aversion = values.get("risk_aversion", nonneg=True)
        # √ of the specific variance of the names outside the problem (a constant)
        self.outside = values.get("specific_offset", of=lambda d: np.sqrt(d.specific_offset))

    def variance(self, v):
        var = cp.sum_squares(self.lt @ v.f)
        if self.has_specific:
            var = var + cp.sum_squares(cp.multiply(self.sqrt_d, v.active))
        return var

    def expr(self, v):
        return self.risk_aversion * self.variance(v)

    def marginal(self, v, cols):
        # ∂(λ aᵀΣa)/∂w_j = 2λ (Σa)_j
        return 2.0 * float(self.risk_aversion.value) * cols.cov_active


class TiltPull(Term):
    """κ · ‖G a − t‖²: pulls each tilted group's active exposure toward its target."""

    def __init__(self, values: Values, groups: np.ndarray):
        self.groups = groups
        m = groups.shape[0]
        self.offset = values.get(
            "tilt_offset", m, of=lambda d: np.zeros(m) if d.tilt_offset is None else d.tilt_offset
        )
        self.target = values.get("tilt_target", groups.shape[0])
        self.strength = values.get("tilt_strength", nonneg=True)
        self.miss = cp.Variable(groups.shape[0], name="tilt_miss")

    def constraints(self, v):
        return [self.miss == self.groups @ v.active + self.offset - self.target]

    def expr(self, v):
        return self.strength * cp.sum_squares(self.miss)

    def marginal(self, v, cols):
        return 2.0 * float(self.strength.value) * (cols.tilt_groups.T @ self.miss.value)


class TradingCost(Term):
    """sᵀu + mᵀt with t ≥ u^{3/2}: spread plus square-root-law impact (rebalancer.costs)."""

    def __init__(self, values: Values, n: int):
        self.spread = values.get("spread", n, nonneg=True)
        self.impact = values.get("impact", n, nonneg=True)
        fixed = values.constant("impact")
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
        return [cp.constraints.PowCone3D(self.t, np.ones(self.t.shape), v.u, 2 / 3)]

    def expr(self, v):
        linear = self.spread @ v.u
        return linear if self.t is None else linear + self.impact @ self.t

    def marginal(self, v, cols):
        # the impact m·u^{3/2} has slope 0 at u = 0: a first buy pays the spread only
        return cols.spread


class TaxCost(Term):
    """Σ_ℓ c_ℓ s_ℓ: the tax paid on what is sold from each lot (rebalancer.tax)."""

    def __init__(self, values: Values, n_lots: int):
        self.coef = values.get("lot_tax", n_lots)

    def expr(self, v):
        return self.coef @ v.sold
