"""Black-Litterman views (rebalancer/model/views.py): the implied prior, the view portfolios and
their returns, and the posterior — checked against sums and PyPortfolioOpt computed here.

Group memberships and cap weights are rebuilt from the universe's market caps in each
test; Σ is formed densely from the risk model's factor form, B F Bᵀ + diag(d).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt.black_litterman import BlackLittermanModel

from rebalancer.model.risk import MAX_DENSE_NAMES, RiskModel, build_risk_model, default_factor_model
from rebalancer.model.universe import with_size
from rebalancer.model.views import build_views, implied_prior, posterior_returns
from rebalancer.scenario.schema import Scenario, View
from tests.conftest import make_universe

DELTA = 2.5
TAU = 0.05
SMALL_LO, MID_LO, LARGE_LO = 3e8, 2e9, 10e9  # the default size buckets' lower bounds
X = 0.03  # "small caps beat large caps by 3% a year"


def universe(n: int = 80) -> pd.DataFrame:
    """The synthetic market indexed by ticker, with the default size buckets."""
    return with_size(make_universe(n).set_index("ticker"), Scenario())


def dense_sigma(risk: RiskModel) -> np.ndarray:
    return risk.loadings @ risk.factor_cov @ risk.loadings.T + np.diag(risk.specific_var)


def cap_weights(uni: pd.DataFrame, members: np.ndarray) -> np.ndarray:
    """Cap weights inside a group, summing to 1; zero outside it."""
    w = np.where(members, uni["market_cap"].to_numpy(float), 0.0)
    return w / w.sum()


def small_and_large(uni: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    cap = uni["market_cap"].to_numpy(float)
    small = cap_weights(uni, (cap >= SMALL_LO) & (cap < MID_LO))
    large = cap_weights(uni, cap >= LARGE_LO)
    return small, large


def small_beats_large(confidence: float) -> View:
    return View(long="size:small", short="size:large", excess_return=X, confidence=confidence)


def posterior_and_prior(uni: pd.DataFrame, views: list[View]) -> tuple[np.ndarray, np.ndarray]:
    risk = build_risk_model(uni, None)
    prior = implied_prior(risk, uni["market_cap"].to_numpy(float), DELTA)
    return posterior_returns(risk, prior, build_views(uni, views), TAU), prior


# --- the prior --------------------------------------------------------------------------


def test_implied_prior_is_delta_times_sigma_times_cap_weights():
    uni = universe()
    risk = default_factor_model(uni)
    cap = uni["market_cap"].to_numpy(float)
    expected = DELTA * dense_sigma(risk) @ (cap / cap.sum())
    np.testing.assert_allclose(implied_prior(risk, cap, DELTA), expected, rtol=1e-12)


# --- group views ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [80, 350], ids=["dense", "factor-form"])
def test_a_view_held_with_zero_confidence_leaves_the_prior(n):
    posterior, prior = posterior_and_prior(universe(n), [small_beats_large(0.0)])
    np.testing.assert_allclose(posterior, prior, rtol=1e-6)


def test_a_half_confident_view_moves_the_spread_strictly_toward_the_view():
    uni = universe()
    small, large = small_and_large(uni)
    posterior, prior = posterior_and_prior(uni, [small_beats_large(0.5)])
    before, after = (small - large) @ prior, (small - large) @ posterior
    assert abs(before - X) > 0.01  # the view disagrees with the prior
    assert min(before, X) < after < max(before, X)
    assert abs(after - X) < abs(before - X)


@pytest.mark.parametrize("confidence", [0.25, 0.5, 0.75])
def test_a_single_view_moves_the_spread_by_its_confidence_share_of_the_gap(confidence):
    # Idzorek: ω = τ (1−c)/c · pΣpᵀ, so p μ = p π + τ pΣpᵀ / (τ pΣpᵀ + ω) (Q − p π)
    #                                       = p π + c (Q − p π)
    uni = universe()
    small, large = small_and_large(uni)
    posterior, prior = posterior_and_prior(uni, [small_beats_large(confidence)])
    before = (small - large) @ prior
    assert (small - large) @ posterior == pytest.approx(before + confidence * (X - before))


def test_a_fully_confident_view_sets_the_spread_to_the_view():
    uni = universe()
    small, large = small_and_large(uni)
    posterior, _ = posterior_and_prior(uni, [small_beats_large(1.0)])
    assert (small - large) @ posterior == pytest.approx(X, rel=1e-9)


def test_a_group_view_picks_cap_weights_long_minus_short():
    uni = universe()
    small, large = small_and_large(uni)
    views = build_views(uni, [small_beats_large(0.5)])
    np.testing.assert_allclose(views.picks, [small - large], atol=1e-15)
    assert list(views.returns) == [X]


def test_the_factor_form_agrees_with_pypfopt_on_the_dense_sigma():
    uni = universe(350)
    assert len(uni) > MAX_DENSE_NAMES  # so posterior_returns takes the factor form
    risk = default_factor_model(uni)
    prior = implied_prior(risk, uni["market_cap"].to_numpy(float), DELTA)
    views = build_views(
        uni,
        [
            small_beats_large(0.5),
            View(long="sector:Energy", excess_return=0.02, confidence=0.3, weighting="equal"),
            View(long="theme:biotech", short="size:mid", excess_return=-0.01, confidence=0.9),
            View(long="region:EM", excess_return=0.05, confidence=0.0),
        ],
    )
    bl = BlackLittermanModel(
        pd.DataFrame(dense_sigma(risk)),
        pi=prior,
        P=views.picks,
        Q=views.returns,
        omega="idzorek",
        view_confidences=list(views.confidences),
        tau=TAU,
    )
    expected = bl.bl_returns().to_numpy()
    np.testing.assert_allclose(posterior_returns(risk, prior, views, TAU), expected, atol=1e-8)


# --- rate views -------------------------------------------------------------------------

RATE_VIEW = View(
    long="sector:Financials",
    rate_change=-0.01,
    sensitivity=4,
    scale_by="floating_debt_pct",
    confidence=0.5,
)


def indebted_universe() -> pd.DataFrame:
    uni = universe()
    rng = np.random.default_rng(11)
    uni["floating_debt_pct"] = rng.uniform(0.0, 0.8, len(uni)).round(3)
    return uni


def test_a_rate_view_weights_the_group_by_cap_times_floating_debt():
    uni = indebted_universe()
    financials = (uni["sector"] == "Financials").to_numpy()
    raw = uni["market_cap"].to_numpy(float) * uni["floating_debt_pct"].to_numpy(float)
    expected = np.where(financials, raw, 0.0) / raw[financials].sum()
    np.testing.assert_allclose(build_views(uni, [RATE_VIEW]).picks[0], expected, rtol=1e-12)


def test_a_rate_view_returns_cut_times_sensitivity_times_average_floating_debt():
    uni = indebted_universe()
    fin = uni[uni["sector"] == "Financials"]
    weight = fin["market_cap"] * fin["floating_debt_pct"]
    average = float((weight * fin["floating_debt_pct"]).sum() / weight.sum())
    expected = 0.01 * 4 * average  # a 1-point cut lifts returns by 4 × the floating share
    assert build_views(uni, [RATE_VIEW]).returns[0] == pytest.approx(expected, rel=1e-12)
