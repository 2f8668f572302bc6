"""Objective terms. Each holds its own ``cp.Parameter``s and compiles to one expression.

The objective maximised is

    αᵀw  −  λ · (‖Lᵀf‖² + ‖√d ∘ a‖²)  −  κ · ‖G a − t‖²  −  (sᵀu + mᵀu^{3/2})

with w the post-trade weights, a = w − w_ref the active weights, f = Bᵀa their
factor exposures (L Lᵀ = F), u ≥ |w − w₀| the traded weights, G the tilt groups
and t their targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np


@dataclass
class Vars:
    """The decision variables and the affine expressions built from them."""

    w: cp.Variable  # post-trade weights of the securities
    cash: cp.Variable  # post-trade cash weight
    u: cp.Variable  # traded weight per name, u ≥ |w − w₀|
    f: cp.Variable  # factor exposures of the active weights
    active: cp.Variable  # a = w − w_ref, its own variable so products with λ stay DPP
    w0: cp.Parameter  # current weights
    ref: cp.Parameter  # reference weights (benchmark or current holdings)

    @property
    def z(self) -> cp.Expression:
        return self.w - self.w0


class ExpectedReturn:
    """αᵀw: the expected active return of the post-trade weights."""

    def __init__(self, n: int):
        self.alpha = cp.Parameter(n, name="alpha")

    def expr(self, v: Vars) -> cp.Expression:
        return self.alpha @ v.w

    def update(self, data) -> None:
        self.alpha.value = data.alpha


class ActiveRisk:
    """λ · aᵀΣa with Σ = B F Bᵀ + diag(d), as λ(‖Lᵀf‖² + ‖√d∘a‖²), f = Bᵀa."""

    def __init__(self, factor_chol: np.ndarray, specific_var: np.ndarray):
        self.lt = factor_chol.T
        self.sqrt_d = np.sqrt(specific_var)
        self.has_specific = bool(np.any(self.sqrt_d))
        self.risk_aversion = cp.Parameter(nonneg=True, name="risk_aversion")

    def variance(self, v: Vars) -> cp.Expression:
        var = cp.sum_squares(self.lt @ v.f)
        if self.has_specific:
            var = var + cp.sum_squares(cp.multiply(self.sqrt_d, v.active))
        return var

    def expr(self, v: Vars) -> cp.Expression:
        return self.risk_aversion * self.variance(v)

    def update(self, data) -> None:
        self.risk_aversion.value = data.risk_aversion


class TiltPull:
    """κ · ‖G a − t‖²: pulls each tilted group's active exposure toward its target.

    The miss e = G a − t is its own variable (with an equality constraint) so that
    κ multiplies a parameter-free expression, as DPP requires.
    """

    def __init__(self, groups: np.ndarray):
        self.groups = groups
        self.target = cp.Parameter(groups.shape[0], name="tilt_target")
        self.strength = cp.Parameter(nonneg=True, name="tilt_strength")
        self.miss = cp.Variable(groups.shape[0], name="tilt_miss")

    def constraints(self, v: Vars) -> list[cp.Constraint]:
        return [self.miss == self.groups @ v.active - self.target]

    def expr(self, v: Vars) -> cp.Expression:
        return self.strength * cp.sum_squares(self.miss)

    def update(self, data) -> None:
        self.target.value = data.tilt_target
        self.strength.value = data.tilt_strength


class TradingCost:
    """sᵀu + mᵀu^{3/2}: spread plus square-root-law impact (see rebalancer.costs)."""

    def __init__(self, n: int):
        self.spread = cp.Parameter(n, nonneg=True, name="spread")
        self.impact = cp.Parameter(n, nonneg=True, name="impact")

    def expr(self, v: Vars) -> cp.Expression:
        return self.spread @ v.u + self.impact @ cp.power(v.u, 1.5)

    def update(self, data) -> None:
        self.spread.value = data.spread
        self.impact.value = data.impact
