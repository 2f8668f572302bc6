"""Black-Litterman: the market-implied prior and views on groups.

Prior (reverse optimisation): π = δ Σ w_mkt, with w_mkt the benchmark (or the
universe's cap weights) and δ the market's risk aversion.

Each view k is a portfolio p_k — the ``long`` group's weights (cap-weighted, or
equal, optionally × a ``scale_by`` column) minus the ``short`` group's, each
summing to 1 — and a return Q_k. Its uncertainty follows Idzorek's confidence
c_k ∈ [0, 1]: ω_k = τ · (1 − c_k)/c_k · p_k Σ p_kᵀ (c_k = 0 means no view at all).
A view that cannot be stated on the universe — one of its groups matches no
security or carries no weight, or its ``scale_by`` column has no values — is left
out (``view_gap`` says why; the proposal's warnings name it). Names without a
market cap (funds) weigh nothing in a cap-weighted group.

The posterior mean is

    μ = π + τ Σ Pᵀ (τ P Σ Pᵀ + Ω)⁻¹ (Q − P π)

PyPortfolioOpt's ``BlackLittermanModel`` computes it from a dense Σ; for a
universe above a few hundred names the same formula is evaluated here with Σ in
factor form (Σ Pᵀ = B F Bᵀ Pᵀ + d ∘ Pᵀ), so no N×N matrix is formed. The view
alpha the optimizer sees is μ − π.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.model.risk import MAX_DENSE_NAMES, RiskModel
from rebalancer.scenario.expressions import has_values
from rebalancer.scenario.schema import View
from rebalancer.scenario.selectors import empty_group, match, parse_selector


@dataclass(frozen=True)
class Views:
    picks: np.ndarray  # P, K×N
    returns: np.ndarray  # Q, K
    confidences: np.ndarray  # K
    labels: list[str]


def implied_prior(risk: RiskModel, market_weights: np.ndarray, delta: float) -> np.ndarray:
    """π = δ Σ w_mkt (annual excess returns), without forming Σ."""
    w = np.asarray(market_weights, float)
    return delta * risk.cov_times(w / w.sum())


def _group_weights(universe: pd.DataFrame, text: str, view: View) -> np.ndarray:
    mask = match(parse_selector(text), universe)
    w = (
        np.nan_to_num(universe["market_cap"].to_numpy(float))
        if view.weighting == "cap"
        else np.ones(len(mask))
    )
    if view.scale_by is not None:
        col = universe[view.scale_by].astype(float).fillna(0.0).clip(lower=0.0).to_numpy()
        w = w * col
    w = np.where(mask, w, 0.0)
    total = w.sum()
    return w / total if total > 0 else w


def view_gap(universe: pd.DataFrame, view: View) -> str | None:
    """Why ``view`` cannot be stated on this universe (it is then left out), or None."""
    if view.scale_by is not None and not has_values(universe, view.scale_by):
        return f"the universe has no values in column '{view.scale_by}'"
    for text in (view.long, view.short):
        if text is None:
            continue
        empty = empty_group(text, universe)
        if empty:
            return empty
        if not _group_weights(universe, text, view).any():
            weights = "market cap" if view.weighting == "cap" else "weight"
            by = f" × {view.scale_by}" if view.scale_by else ""
            return f"group '{text}' carries no {weights}{by}"
    return None


def build_views(universe: pd.DataFrame, views: list[View]) -> Views:
    """P, Q and confidences of the scenario's views (those ``view_gap`` finds fault
    with are left out)."""
    rows, returns, conf, labels = [], [], [], []
    for view in views:
        if view_gap(universe, view) is not None:
            continue
        p = _group_weights(universe, view.long, view)
        if view.short is not None:
            p = p - _group_weights(universe, view.short, view)
        if not np.any(p):
            continue
        if view.rate_change is not None:
            col = universe[view.scale_by].astype(float).fillna(0.0).to_numpy()
            q = -view.rate_change * view.sensitivity * float(p @ col)
        else:
            q = float(view.excess_return)
        rows.append(p)
        returns.append(q)
        conf.append(view.confidence)
        labels.append(view.long + (f" vs {view.short}" if view.short else ""))
    n = len(universe)
    return Views(np.array(rows).reshape(len(rows), n), np.array(returns), np.array(conf), labels)


def posterior_returns(risk: RiskModel, prior: np.ndarray, views: Views, tau: float) -> np.ndarray:
    """μ of the module docstring: PyPortfolioOpt for a small universe, factor form above."""
    if not len(views.returns):
        return prior.copy()
    n = len(prior)
    if n <= MAX_DENSE_NAMES:
        # late: PyPortfolioOpt takes 0.1 s to import, for small universes only
        from pypfopt.black_litterman import BlackLittermanModel

        sigma = risk.loadings @ risk.factor_cov @ risk.loadings.T + np.diag(risk.specific_var)
        model = BlackLittermanModel(
            pd.DataFrame(sigma),
            pi=prior,
            P=views.picks,
            Q=views.returns,
            omega="idzorek",
            view_confidences=list(views.confidences),
            tau=tau,
        )
        return model.bl_returns().to_numpy()
    sigma_pt = np.column_stack([risk.cov_times(p) for p in views.picks])  # Σ Pᵀ, N×K
    p_sigma_pt = views.picks @ sigma_pt
    omega = np.array([1e6 if c == 0 else tau * (1 - c) / c * p_sigma_pt[k, k]
                      for k, c in enumerate(views.confidences)])  # fmt: skip
    a = tau * p_sigma_pt + np.diag(omega)
    b = views.returns - views.picks @ prior
    return prior + tau * sigma_pt @ np.linalg.solve(a, b)
