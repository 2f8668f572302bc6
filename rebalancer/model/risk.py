"""Risk models in factor form: Σ = B F Bᵀ + diag(d).

Every model is carried as loadings ``B`` (N×K), factor covariance ``F`` (K×K) and
specific variances ``d`` (N), all annualised, so the optimizer handles a dense
Ledoit-Wolf matrix and a 16-factor model the same way and never forms an N×N
matrix for a large universe:

- ``ledoit_wolf_model``: for a small universe with full price history, Σ is the
  Ledoit-Wolf shrunk sample covariance (PyPortfolioOpt) written as B = chol(Σ),
  F = I, d = 0.
- ``estimate_factor_model``: a fundamental model. Exposures are sector and region
  dummies plus z-scored size (log market cap), value (−log P/B) and momentum; daily
  factor returns come from a cross-sectional weighted least-squares regression of
  the names' returns on the exposures (weights √market cap); F is their sample
  covariance × 252 and d the residual variance × 252. A name without a market cap (a
  fund, size bucket ``fund``) has size exposure 0 (the average) and the median
  name's regression weight, as a missing P/B or momentum gives 0 exposure.
- ``default_factor_model``: the same exposures with textbook factor and specific
  volatilities, for when no price history is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TRADING_DAYS = 252
MIN_HISTORY_DAYS = 60
MAX_DENSE_NAMES = 300
STYLE_FACTORS = ("size", "value", "momentum")
# Annual specific volatility by size bucket when history is missing or too short.
# A fund is diversified: little risk of its own beyond its factors.
DEFAULT_SPECIFIC_VOL = {"large": 0.22, "mid": 0.28, "small": 0.36, "micro": 0.50, "fund": 0.10}


@dataclass(frozen=True)
class RiskModel:
    tickers: pd.Index
    loadings: np.ndarray  # B, N×K
    factor_cov: np.ndarray  # F, K×K, annual
    specific_var: np.ndarray  # d, N, annual
    factor_names: tuple[str, ...]
    kind: str  # "ledoit_wolf" | "factor" | "default_factor"

    def factor_chol(self) -> np.ndarray:
        """Lower-triangular L with L Lᵀ = F (a tiny ridge keeps it positive definite)."""
        k = self.factor_cov.shape[0]
        ridge = 1e-10 * max(1.0, float(np.trace(self.factor_cov)) / max(k, 1))
        return np.linalg.cholesky(self.factor_cov + ridge * np.eye(k))

    def variance(self, w: np.ndarray) -> float:
        """wᵀ Σ w without forming Σ."""
        f = self.loadings.T @ w
        return float(f @ self.factor_cov @ f + np.sum(self.specific_var * w * w))

    def cov_times(self, w: np.ndarray) -> np.ndarray:
        """Σ w without forming Σ."""
        return self.loadings @ (self.factor_cov @ (self.loadings.T @ w)) + self.specific_var * w

    def total_vol(self) -> np.ndarray:
        """Each name's own annual volatility √Σᵢᵢ."""
        systematic = np.einsum("ik,kl,il->i", self.loadings, self.factor_cov, self.loadings)
        return np.sqrt(systematic + self.specific_var)

    def specific_vol(self) -> np.ndarray:
        """Residual volatility; for a dense model (d = 0) the total volatility stands in."""
        if not np.any(self.specific_var):
            return self.total_vol()
        return np.sqrt(self.specific_var)


def _zscore(x: pd.Series) -> np.ndarray:
    v = x.astype(float)
    mu, sd = v.mean(), v.std()
    z = (v - mu) / sd if sd and np.isfinite(sd) else v * 0.0
    return np.clip(z.fillna(0.0).to_numpy(), -3.0, 3.0)


def factor_exposures(universe: pd.DataFrame) -> pd.DataFrame:
    """Exposures B: one dummy per sector, DM and EM dummies (US is the base), styles."""
    cols: dict[str, np.ndarray] = {}
    for sector in sorted(universe["sector"].unique()):
        cols[f"sector:{sector}"] = (universe["sector"] == sector).to_numpy(float)
    for region in ("DM", "EM"):
        hit = (universe["region"] == region).to_numpy(float)
        if hit.any():
            cols[f"region:{region}"] = hit
    cols["size"] = _zscore(np.log(universe["market_cap"].astype(float)))
    pb = universe["pb"].astype(float) if "pb" in universe else pd.Series(np.nan, universe.index)
    cols["value"] = _zscore(-np.log(pb.where(pb > 0)))
    mom = universe["momentum"] if "momentum" in universe else pd.Series(np.nan, universe.index)
    cols["momentum"] = _zscore(mom)
    return pd.DataFrame(cols, index=universe.index)


def default_factor_model(universe: pd.DataFrame) -> RiskModel:
    """Textbook volatilities: sectors 18% with 0.7 correlation, DM 10%, EM 14%, styles 4-6%."""
    b = factor_exposures(universe)
    names = list(b.columns)
    vols = np.array(
        [
            0.18
            if n.startswith("sector:")
            else 0.10
            if n == "region:DM"
            else 0.14
            if n == "region:EM"
            else {"size": 0.04, "value": 0.05, "momentum": 0.06}[n]
            for n in names
        ]
    )
    corr = np.eye(len(names))
    sec = np.array([n.startswith("sector:") for n in names])
    corr[np.ix_(sec, sec)] = 0.7
    np.fill_diagonal(corr, 1.0)
    cov = corr * np.outer(vols, vols)
    size = universe["size"] if "size" in universe else pd.Series("mid", universe.index)
    spec = size.map(DEFAULT_SPECIFIC_VOL).fillna(0.3).to_numpy(float) ** 2
    return RiskModel(universe.index, b.to_numpy(), cov, spec, tuple(names), "default_factor")


def daily_returns(universe: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Simple daily returns aligned to the universe order (missing names all-NaN)."""
    px = prices.reindex(columns=universe.index).astype(float)
    return px.pct_change(fill_method=None).iloc[1:]


def estimate_factor_model(universe: pd.DataFrame, prices: pd.DataFrame) -> RiskModel:
    """Cross-sectional WLS regression of daily returns on the exposures (see module doc)."""
    b_frame = factor_exposures(universe)
    b = b_frame.to_numpy()
    r = daily_returns(universe, prices).to_numpy()
    t_days, n = r.shape
    cap = universe["market_cap"].to_numpy(float)
    weight = np.sqrt(np.where(np.isnan(cap), np.nanmedian(cap) if (cap > 0).any() else 1.0, cap))
    valid = np.isfinite(r)
    factor_ret = np.zeros((t_days, b.shape[1]))
    resid = np.full_like(r, np.nan)
    if valid.all():
        bw = b * weight[:, None]
        factor_ret = np.linalg.lstsq(bw.T @ b, bw.T @ r.T, rcond=None)[0].T
        resid = r - factor_ret @ b.T
    else:
        for t in range(t_days):
            ok = valid[t]
            if ok.sum() <= b.shape[1]:
                continue
            bw = b[ok] * weight[ok, None]
            factor_ret[t] = np.linalg.lstsq(bw.T @ b[ok], bw.T @ r[t, ok], rcond=None)[0]
            resid[t, ok] = r[t, ok] - b[ok] @ factor_ret[t]
    cov = np.cov(factor_ret, rowvar=False) * TRADING_DAYS
    counts = np.isfinite(resid).sum(axis=0)
    spec = np.nanvar(np.where(counts[None, :] > 1, resid, 0.0), axis=0, ddof=1) * TRADING_DAYS
    size = universe["size"] if "size" in universe else pd.Series("mid", universe.index)
    fallback = size.map(DEFAULT_SPECIFIC_VOL).fillna(0.3).to_numpy(float) ** 2
    spec = np.where(counts >= MIN_HISTORY_DAYS, spec, fallback)
    spec = np.maximum(spec, 0.05**2)
    return RiskModel(universe.index, b, cov, spec, tuple(b_frame.columns), "factor")


def ledoit_wolf_model(universe: pd.DataFrame, prices: pd.DataFrame) -> RiskModel:
    """Dense Ledoit-Wolf covariance (PyPortfolioOpt), carried as B = chol(Σ)."""
    # late: PyPortfolioOpt takes 0.1 s to import, for a dense model only
    from pypfopt.risk_models import CovarianceShrinkage

    px = prices.reindex(columns=universe.index).astype(float)
    sigma = CovarianceShrinkage(px, frequency=TRADING_DAYS).ledoit_wolf().to_numpy()
    n = len(universe)
    chol = np.linalg.cholesky(sigma + 1e-12 * np.eye(n))
    return RiskModel(
        universe.index,
        chol,
        np.eye(n),
        np.zeros(n),
        tuple(f"pc{i}" for i in range(n)),
        "ledoit_wolf",
    )


def build_risk_model(
    universe: pd.DataFrame, prices: pd.DataFrame | None, max_dense_names: int = MAX_DENSE_NAMES
) -> RiskModel:
    """Ledoit-Wolf when the universe is small and fully priced, else a factor model."""
    if prices is None or prices.shape[0] <= MIN_HISTORY_DAYS:
        return default_factor_model(universe)
    covered = universe.index.isin(prices.columns)
    if len(universe) <= max_dense_names and covered.all():
        hist = prices.reindex(columns=universe.index).iloc[-(TRADING_DAYS * 3) :]
        if hist.notna().all().all():
            return ledoit_wolf_model(universe, hist)
    return estimate_factor_model(universe, prices.iloc[-(TRADING_DAYS * 3) - 1 :])
