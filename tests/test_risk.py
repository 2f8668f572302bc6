"""Risk models in factor form Σ = B F Bᵀ + diag(d): which model is chosen, and what it says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt.risk_models import CovarianceShrinkage

from rebalancer.model.risk import DEFAULT_SPECIFIC_VOL, build_risk_model
from rebalancer.model.universe import with_size
from rebalancer.scenario import Scenario

DAYS_PER_YEAR = 252
SPECIFIC_FLOOR_VAR = 0.05**2


def universe(n: int, sectors: list[str], seed: int = 0, regions=("US",)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    uni = pd.DataFrame(
        {
            "sector": [sectors[i % len(sectors)] for i in range(n)],
            "region": [regions[i % len(regions)] for i in range(n)],
            "market_cap": np.exp(rng.uniform(np.log(1e8), np.log(2e11), n)),
            "pb": rng.lognormal(0.5, 0.5, n),
            "momentum": rng.normal(0.0, 0.2, n),
        },
        index=pd.Index([f"T{i:03d}" for i in range(n)], name="ticker"),
    )
    return with_size(uni, Scenario())


def prices_from(returns: np.ndarray, tickers: pd.Index) -> pd.DataFrame:
    dates = pd.bdate_range("2021-01-04", periods=returns.shape[0] + 1, name="date")
    levels = 100.0 * np.vstack([np.ones(returns.shape[1]), np.cumprod(1 + returns, axis=0)])
    return pd.DataFrame(levels, index=dates, columns=tickers)


def random_prices(uni: pd.DataFrame, days: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.01, (days, 1))
    returns = market + rng.normal(0.0003, 0.015, (days, len(uni)))
    return prices_from(returns, uni.index)


def dense(model) -> np.ndarray:
    return model.loadings @ model.factor_cov @ model.loadings.T + np.diag(model.specific_var)


# --- which model -----------------------------------------------------------------------


def test_small_fully_priced_universe_gets_ledoit_wolf():
    uni = universe(30, ["Energy", "Financials", "Utilities"])
    assert build_risk_model(uni, random_prices(uni, 300)).kind == "ledoit_wolf"


def test_ledoit_wolf_covariance_equals_pypfopt():
    uni = universe(30, ["Energy", "Financials", "Utilities"])
    prices = random_prices(uni, 300)
    model = build_risk_model(uni, prices)
    expected = CovarianceShrinkage(prices).ledoit_wolf().to_numpy()  # annualised, 252 days
    np.testing.assert_allclose(dense(model), expected, rtol=0, atol=1e-8)


def test_universe_above_max_dense_names_gets_the_factor_model():
    uni = universe(30, ["Energy", "Financials", "Utilities"])
    model = build_risk_model(uni, random_prices(uni, 300), max_dense_names=10)
    assert model.kind == "factor"


def test_universe_without_prices_gets_the_default_factor_model():
    uni = universe(30, ["Energy", "Financials", "Utilities"])
    assert build_risk_model(uni, None).kind == "default_factor"


def test_small_universe_with_one_name_unpriced_gets_the_factor_model():
    uni = universe(30, ["Energy", "Financials", "Utilities"])
    prices = random_prices(uni, 300).drop(columns=uni.index[0])
    assert build_risk_model(uni, prices).kind == "factor"


# --- factor model algebra --------------------------------------------------------------


@pytest.fixture(scope="module")
def factor_model():
    uni = universe(200, ["Energy", "Financials", "Health Care", "Utilities"], regions=("US", "EM"))
    return build_risk_model(uni, random_prices(uni, 300), max_dense_names=10)


def test_factor_model_has_far_fewer_factors_than_names(factor_model):
    n, k = factor_model.loadings.shape
    assert n == 200
    # four sectors, the EM region (US is the base), size, value, momentum
    assert k == 8
    assert factor_model.factor_cov.shape == (k, k)
    assert factor_model.specific_var.shape == (n,)


def test_factor_model_variance_equals_dense_quadratic_form(factor_model):
    w = np.random.default_rng(9).dirichlet(np.ones(200))
    expected = w @ dense(factor_model) @ w
    assert factor_model.variance(w) == pytest.approx(expected, rel=1e-10)


def test_factor_model_active_variance_equals_dense_quadratic_form(factor_model):
    # a long-short (active) vector, as the tracking-error limit uses
    active = np.random.default_rng(10).normal(0.0, 0.01, 200)
    expected = active @ dense(factor_model) @ active
    assert factor_model.variance(active) == pytest.approx(expected, rel=1e-10)


def test_factor_model_cov_times_equals_dense_product(factor_model):
    w = np.random.default_rng(11).normal(size=200)
    np.testing.assert_allclose(factor_model.cov_times(w), dense(factor_model) @ w, rtol=1e-10)


def test_factor_model_total_vol_is_root_of_dense_diagonal(factor_model):
    np.testing.assert_allclose(
        factor_model.total_vol(), np.sqrt(np.diag(dense(factor_model))), rtol=1e-12
    )


# --- estimation on a known structure ---------------------------------------------------

CALM_VOL, WILD_VOL = 0.10, 0.30  # annual sector factor volatilities
NOISY_SPECIFIC_VOL = 0.40


@pytest.fixture(scope="module")
def two_sector_model():
    """Calm names move with their sector alone; wild names add 40% specific volatility."""
    days, n = 500, 120
    uni = universe(n, ["Calm", "Wild"], seed=4)
    rng = np.random.default_rng(5)
    daily = 1.0 / np.sqrt(DAYS_PER_YEAR)
    factors = {
        "Calm": rng.normal(0.0, CALM_VOL * daily, days),
        "Wild": rng.normal(0.0, WILD_VOL * daily, days),
    }
    returns = np.column_stack([factors[s] for s in uni["sector"]])
    wild = (uni["sector"] == "Wild").to_numpy()
    returns[:, wild] += rng.normal(0.0, NOISY_SPECIFIC_VOL * daily, (days, wild.sum()))
    model = build_risk_model(uni, prices_from(returns, uni.index), max_dense_names=10)
    return uni, model


def test_estimated_sector_factor_variances_rank_as_simulated(two_sector_model):
    _, model = two_sector_model
    var = dict(zip(model.factor_names, np.diag(model.factor_cov), strict=True))
    assert var["sector:Calm"] < var["sector:Wild"]


def test_estimated_sector_factor_vols_are_near_the_truth(two_sector_model):
    _, model = two_sector_model
    vol = dict(zip(model.factor_names, np.sqrt(np.diag(model.factor_cov)), strict=True))
    # 500 days give a standard error of about 1/√1000 ≈ 3% on a volatility
    assert vol["sector:Calm"] == pytest.approx(CALM_VOL, rel=0.15)
    assert vol["sector:Wild"] == pytest.approx(WILD_VOL, rel=0.15)


def test_specific_variance_is_floored_at_five_percent_vol():
    # every name is its sector factor plus 2% a year of specific noise: below the floor
    days, n = 300, 60
    uni = universe(n, ["Energy", "Utilities"], seed=7)
    rng = np.random.default_rng(8)
    daily = 1.0 / np.sqrt(DAYS_PER_YEAR)
    sector_returns = rng.normal(0.0, 0.2 * daily, (days, 2))
    returns = sector_returns[:, (uni["sector"] == "Utilities").to_numpy(int)]
    returns += rng.normal(0.0, 0.02 * daily, (days, n))
    model = build_risk_model(uni, prices_from(returns, uni.index), max_dense_names=10)
    np.testing.assert_array_equal(model.specific_var, SPECIFIC_FLOOR_VAR)


def test_specific_variance_of_noisy_names_is_estimated(two_sector_model):
    uni, model = two_sector_model
    wild = (uni["sector"] == "Wild").to_numpy()
    spec_vol = np.sqrt(model.specific_var[wild])
    assert np.median(spec_vol) == pytest.approx(NOISY_SPECIFIC_VOL, rel=0.1)


def test_names_with_too_little_history_get_their_size_bucket_default():
    uni = universe(60, ["Energy", "Financials", "Utilities"], seed=6)
    uni.loc["T000", "market_cap"], uni.loc["T000", "size"] = 5e8, "small"
    uni.loc["T001", "market_cap"], uni.loc["T001", "size"] = 5e10, "large"
    prices = random_prices(uni, 300)
    prices.iloc[:260, :2] = np.nan  # 40 prices, 39 returns: short of 60 days
    model = build_risk_model(uni, prices, max_dense_names=10)
    assert model.specific_var[0] == pytest.approx(DEFAULT_SPECIFIC_VOL["small"] ** 2)
    assert model.specific_var[1] == pytest.approx(DEFAULT_SPECIFIC_VOL["large"] ** 2)
    # names with full history are estimated: about 1.5% daily noise, ≈ 24% a year
    rest = np.sqrt(model.specific_var[2:])
    assert np.median(rest) == pytest.approx(0.015 * np.sqrt(DAYS_PER_YEAR), rel=0.1)


def test_size_bucket_defaults_grow_toward_small_caps():
    vols = [DEFAULT_SPECIFIC_VOL[b] for b in ("large", "mid", "small", "micro")]
    assert vols == sorted(vols)


def test_prices_of_sixty_days_or_fewer_give_the_default_factor_model():
    uni = universe(30, ["Energy", "Financials", "Utilities"])
    assert build_risk_model(uni, random_prices(uni, 59)).kind == "default_factor"
