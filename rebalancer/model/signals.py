"""The valuation / quality / momentum composite and the alpha it implies.

For each metric m with scenario sign s_m (−1: lower is better, as for P/B):

1. transform: P/B and P/E enter as logarithms (ratios are skewed; P/E ≤ 0 is
   missing — loss makers have no meaningful multiple);
2. winsorise: clip to the q and 1−q quantiles within the neutralising group (so a
   sector with high multiples keeps its own spread);
3. robust z-score within the neutralising group g (sector or region):
   z = (x − median_g) / (1.4826 · MAD_g), clipped to ±3; a group whose MAD is 0
   gives 0; a missing value gives 0 (neutral on that metric) and is counted;
4. composite c = Σ_m s_m z_m / Σ_m |s_m|, re-standardised to unit cross-sectional
   standard deviation.

Alpha follows Grinold's rule, alpha_i = weight × IC × σ_i × score_i, with σ_i the
name's residual (specific) volatility: a one-sigma score earns IC × σ a year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.scenario.schema import Signals

LOG_METRICS = ("pb", "pe")


@dataclass(frozen=True)
class SignalResult:
    score: pd.Series  # composite, unit std (0 where no metric is known)
    alpha: pd.Series  # annual expected active return
    missing: dict[str, int]  # metric -> names lacking it


def winsorize(x: pd.Series, q: float) -> pd.Series:
    """Clip to the q and 1−q quantiles (NaN stays NaN)."""
    if q <= 0 or x.notna().sum() < 3:
        return x
    lo, hi = x.quantile(q), x.quantile(1 - q)
    return x.clip(lo, hi)


def winsorize_within(x: pd.Series, q: float, groups: pd.Series | None) -> pd.Series:
    """``winsorize`` applied within each group (a group of fewer than 3 values is left)."""
    if groups is None:
        return winsorize(x, q)
    if q <= 0:
        return x
    by = x.groupby(groups)
    lo = groups.map(by.quantile(q)).astype(float)
    hi = groups.map(by.quantile(1 - q)).astype(float)
    enough = by.transform("count") >= 3
    return x.where(~enough, x.clip(lo, hi))


def robust_z(x: pd.Series, groups: pd.Series | None) -> pd.Series:
    """(x − median) / (1.4826 · MAD) within each group, clipped to ±3; NaN → 0.

    A group whose MAD is 0 (all values alike) scores 0."""
    if groups is None:
        med = x.median()
        mad = (x - med).abs().median() * 1.4826
    else:
        med = x.groupby(groups).transform("median")
        mad = (x - med).abs().groupby(groups).transform("median") * 1.4826
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - med) / mad
    z = (
        z.where(np.isfinite(mad) & (mad > 0), 0.0)
        if isinstance(mad, pd.Series)
        else (z if np.isfinite(mad) and mad > 0 else x * 0.0)
    )
    return z.reindex(x.index).clip(-3, 3).fillna(0.0)


def metric_values(universe: pd.DataFrame, metric: str) -> pd.Series:
    if metric not in universe:
        return pd.Series(np.nan, index=universe.index, dtype=float)
    x = universe[metric].astype(float)
    if metric in LOG_METRICS:
        x = np.log(x.where(x > 0))
    return x


def composite(universe: pd.DataFrame, spec: Signals) -> tuple[pd.Series, dict[str, int]]:
    """The signed, neutralised composite score and the count of names missing each metric."""
    groups = None if spec.neutralize == "none" else universe[spec.neutralize]
    total = pd.Series(0.0, index=universe.index)
    missing: dict[str, int] = {}
    weight_sum = sum(abs(s) for s in spec.metrics.values())
    if not weight_sum:
        return total, missing
    for metric, sign in spec.metrics.items():
        x = metric_values(universe, metric)
        missing[metric] = int(x.isna().sum())
        total += sign * robust_z(winsorize_within(x, spec.winsorize, groups), groups)
    score = total / weight_sum
    sd = score.std()
    return (score / sd if sd and np.isfinite(sd) and sd > 0 else score * 0.0), missing


def signal_alpha(
    universe: pd.DataFrame,
    spec: Signals,
    residual_vol: np.ndarray,
    scored: tuple[pd.Series, dict[str, int]] | None = None,
) -> SignalResult:
    """alpha_i = weight × IC × σ_i × score_i (annual); ``scored``: ``composite``'s
    result when it is known already."""
    score, missing = composite(universe, spec) if scored is None else scored
    alpha = spec.weight * spec.ic * residual_vol * score.to_numpy()
    return SignalResult(score, pd.Series(alpha, index=universe.index), missing)
