"""The valuation composite: winsorise, robust z within sector, signed average, alpha."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.model.signals import composite, robust_z, signal_alpha, winsorize
from rebalancer.scenario.schema import Signals

MAD_TO_SD = 1.4826  # a normal distribution's standard deviation per unit of MAD


def spec(metrics: dict[str, float], winsor: float = 0.0, neutralize: str = "sector") -> Signals:
    return Signals(weight=1.0, ic=0.05, metrics=metrics, neutralize=neutralize, winsorize=winsor)


def two_sector_universe(seed: int = 3, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sector": ["Energy"] * (n // 2) + ["Health Care"] * (n - n // 2),
            "pb": rng.lognormal(0.5, 0.5, n),
            "roa": rng.normal(0.05, 0.03, n),
        },
        index=[f"T{i:02d}" for i in range(n)],
    )


# --- winsorize -------------------------------------------------------------------------


def test_winsorize_clips_at_the_quantiles_numpy_computes():
    x = pd.Series(np.random.default_rng(0).standard_t(2, 50))
    lo, hi = np.quantile(x.to_numpy(), [0.1, 0.9])
    np.testing.assert_allclose(winsorize(x, 0.1).to_numpy(), np.clip(x.to_numpy(), lo, hi))


def test_winsorize_keeps_missing_values_missing():
    x = pd.Series([1.0, np.nan, 3.0, 4.0, 100.0])
    out = winsorize(x, 0.2)
    assert np.isnan(out.iloc[1])
    assert out.iloc[4] == np.quantile([1.0, 3.0, 4.0, 100.0], 0.8)


# --- robust z --------------------------------------------------------------------------


def test_robust_z_has_median_zero_in_every_sector():
    uni = two_sector_universe()
    z = robust_z(uni["roa"], uni["sector"])
    medians = z.groupby(uni["sector"]).median()
    np.testing.assert_allclose(medians.to_numpy(), 0.0, atol=1e-12)


def test_robust_z_divides_by_scaled_median_absolute_deviation():
    # sector A: median 13, absolute deviations 3,1,0,4,6 -> MAD 3
    x = pd.Series([10.0, 12.0, 13.0, 17.0, 19.0, 100.0, 200.0], index=list("abcdefg"))
    sector = pd.Series(["A"] * 5 + ["B"] * 2, index=x.index)
    z = robust_z(x, sector)
    assert z["d"] == pytest.approx((17.0 - 13.0) / (MAD_TO_SD * 3.0), rel=1e-12)


def test_robust_z_is_clipped_at_three():
    x = pd.Series([1.0, 2.0, 3.0, 4.0, 1000.0])
    assert robust_z(x, None).iloc[-1] == 3.0


def test_robust_z_of_a_constant_group_is_zero():
    x = pd.Series([5.0, 5.0, 5.0, 1.0, 2.0, 9.0])
    sector = pd.Series(["flat"] * 3 + ["varied"] * 3)
    z = robust_z(x, sector)
    assert z.iloc[:3].tolist() == [0.0, 0.0, 0.0]
    assert z.iloc[3:].abs().sum() > 0


def test_robust_z_of_a_missing_value_is_zero():
    x = pd.Series([1.0, np.nan, 3.0, 4.0])
    assert robust_z(x, None).iloc[1] == 0.0


# --- composite -------------------------------------------------------------------------


def test_composite_counts_names_missing_each_metric():
    uni = two_sector_universe()
    uni.loc["T01", "roa"] = np.nan
    uni.loc["T02", "pb"] = -1.0  # a negative book has no meaningful P/B
    uni.loc["T03", "pb"] = np.nan
    _, missing = composite(uni, spec({"pb": -1, "roa": 1, "pe": -1}))
    assert missing == {"pb": 2, "roa": 1, "pe": len(uni)}


def test_composite_scores_a_name_missing_its_only_metric_zero():
    uni = two_sector_universe()
    uni.loc["T01", "roa"] = np.nan
    score, _ = composite(uni, spec({"roa": 1}))
    assert score["T01"] == 0.0


def test_composite_matches_a_recomputation_by_hand():
    # one sector, no winsorising: z = (x - median) / (1.4826 MAD) on log P/B and ROA
    pb = np.array([0.8, 1.5, 2.0, 3.0, 6.0])
    roa = np.array([0.12, 0.06, 0.04, 0.02, -0.05])
    uni = pd.DataFrame({"sector": "S", "pb": pb, "roa": roa}, index=list("abcde"))

    def z(x):
        med = np.median(x)
        return np.clip((x - med) / (MAD_TO_SD * np.median(np.abs(x - med))), -3, 3)

    raw = (-1.0 * z(np.log(pb)) + 1.0 * z(roa)) / 2.0
    expected = raw / raw.std(ddof=1)
    score, _ = composite(uni, spec({"pb": -1, "roa": 1}))
    np.testing.assert_allclose(score.to_numpy(), expected, rtol=1e-12)


def test_composite_has_unit_cross_sectional_standard_deviation():
    uni = two_sector_universe()
    score, _ = composite(uni, spec({"pb": -1, "roa": 1}, winsor=0.05))
    assert score.std(ddof=1) == pytest.approx(1.0, rel=1e-12)


def test_composite_ranks_cheap_profitable_above_expensive_loss_maker():
    uni = pd.DataFrame(
        {
            "sector": "Industrials",
            "pb": [0.8, 1.5, 2.0, 2.5, 3.0, 6.0],
            "roa": [0.12, 0.05, 0.04, 0.06, 0.03, -0.05],
        },
        index=["CHEAP_PROFITABLE", "B", "C", "D", "E", "EXPENSIVE_LOSS"],
    )
    score, _ = composite(uni, spec({"pb": -1, "roa": 1}))
    assert score.idxmax() == "CHEAP_PROFITABLE"
    assert score.idxmin() == "EXPENSIVE_LOSS"


def test_flipping_every_sign_reverses_the_score():
    uni = two_sector_universe()
    score, _ = composite(uni, spec({"pb": -1, "roa": 1}, winsor=0.05))
    flipped, _ = composite(uni, spec({"pb": 1, "roa": -1}, winsor=0.05))
    np.testing.assert_allclose(flipped.to_numpy(), -score.to_numpy(), atol=1e-12)


def test_sector_neutral_score_ignores_a_shift_of_one_sectors_roa():
    uni = two_sector_universe()
    shifted = uni.copy()
    shifted.loc[shifted["sector"] == "Energy", "roa"] += 0.10
    before, _ = composite(uni, spec({"roa": 1}))
    after, _ = composite(shifted, spec({"roa": 1}))
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), atol=1e-12)


def test_sector_neutral_score_ignores_a_rescaling_of_one_sectors_pb():
    # P/B enters as a logarithm, so a sector-wide level change is a factor on P/B
    uni = two_sector_universe()
    scaled = uni.copy()
    scaled.loc[scaled["sector"] == "Energy", "pb"] *= 5.0
    before, _ = composite(uni, spec({"pb": -1, "roa": 1}))
    after, _ = composite(scaled, spec({"pb": -1, "roa": 1}))
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), atol=1e-12)


def test_sector_neutral_score_ignores_one_sectors_pb_level_when_winsorising():
    uni = two_sector_universe()
    scaled = uni.copy()
    scaled.loc[scaled["sector"] == "Energy", "pb"] *= 5.0
    before, _ = composite(uni, spec({"pb": -1, "roa": 1}, winsor=0.05))
    after, _ = composite(scaled, spec({"pb": -1, "roa": 1}, winsor=0.05))
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), atol=1e-9)


# --- alpha -----------------------------------------------------------------------------


def test_signal_alpha_is_weight_times_ic_times_vol_times_score():
    uni = two_sector_universe()
    signals = Signals(weight=0.6, ic=0.07, metrics={"pb": -1, "roa": 1}, winsorize=0.05)
    vol = np.linspace(0.15, 0.45, len(uni))
    result = signal_alpha(uni, signals, vol)
    expected = 0.6 * 0.07 * vol * result.score.to_numpy()
    np.testing.assert_array_equal(result.alpha.to_numpy(), expected)
    assert result.alpha.index.equals(uni.index)


def test_signal_alpha_of_one_sigma_score_is_ic_times_vol():
    # Grinold: a name one standard deviation above the mean earns IC x sigma a year
    uni = two_sector_universe()
    signals = Signals(weight=1.0, ic=0.05, metrics={"roa": 1}, winsorize=0.0)
    result = signal_alpha(uni, signals, np.full(len(uni), 0.30))
    ratio = result.alpha / result.score.where(result.score != 0)
    np.testing.assert_allclose(ratio.dropna().to_numpy(), 0.05 * 0.30)


# --- scores kept across copies of the inputs (a backtest's days) -----------------------


def test_inputs_reuse_a_score_only_while_the_scored_columns_are_equal():
    """A backtest's days share the scores: a day whose metrics and groups are as the
    day before's gets that score (the same object); a changed metric is scored anew,
    and the score equals ``composite`` of that day's universe."""
    from rebalancer.model.risk import default_factor_model
    from rebalancer.model.universe import with_size
    from rebalancer.prepare.inputs import Inputs, InputsCache
    from rebalancer.scenario import Scenario

    scenario = Scenario(signals=spec({"pb": -1.0, "roa": 1.0}))
    uni = with_size(two_sector_universe().assign(market_cap=5e9, price=10.0, region="US"), scenario)
    first = Inputs(holdings=pd.DataFrame(), universe=uni)

    def day(universe: pd.DataFrame) -> tuple:
        data = Inputs(holdings=pd.DataFrame(), universe=universe,
                      cache=InputsCache(scores=first.cache.scores))  # fmt: skip
        return data.signals(universe, scenario, default_factor_model(universe)).score

    score = day(uni)
    repriced = uni.assign(price=uni["price"] * 1.1)  # only the price moved
    assert day(repriced) is score
    rescored = uni.assign(pb=np.arange(len(uni), dtype=float) + 1.0)
    fresh = day(rescored)
    assert fresh is not score
    pd.testing.assert_series_equal(fresh, composite(rescored, scenario.signals)[0])
