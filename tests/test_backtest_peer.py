"""The costless, tax-free, monthly equal-weight backtest against a recomputation
from the price file alone (the policy ``benchmarks.bench_backtest_peer`` runs against
cvxportfolio's simulator; no peer here).

With the universe's ``lot_size`` at 1e-8 shares (fractional shares) the final value
equals, to 1e-9 relative, the account reset to equal weights at the window's first
close and at the first close of each later month, held in between. With whole shares
(``lot_size`` 1) every rebalance's positions are within the dollar bound the
rounding keeps (``_whole_share_bound``), and so is the final value.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli

EQUAL_WEIGHT = ROOT / "benchmarks" / "equal_weight.yaml"
N_NAMES = 12
NAV = 1_000_000.0
START, END = "2024-01-15", "2024-12-31"


def _market(folder: Path, lot: float) -> dict[str, Path]:
    rng = np.random.default_rng(8)
    dates = pd.bdate_range("2023-06-01", "2024-12-31")
    tickers = [f"E{i:02d}" for i in range(N_NAMES)]
    steps = rng.normal(0.0003, 0.015, (len(dates), N_NAMES))
    closes = np.round(rng.uniform(5, 400, N_NAMES) * np.exp(np.cumsum(steps, axis=0)), 2)
    caps = np.exp(np.linspace(np.log(5e9), np.log(2e11), N_NAMES))
    paths = {name: folder / f"{name}.csv" for name in ("prices", "universe", "holdings", "bench")}
    pd.DataFrame(closes, index=dates.rename("date"), columns=tickers).to_csv(
        paths["prices"], date_format="%Y-%m-%d"
    )
    pd.DataFrame({"ticker": tickers, "price": closes[-1], "sector": "Industrials",
                  "region": "US", "market_cap": caps, "adv": caps * 0.01,
                  "lot_size": lot}).to_csv(paths["universe"], index=False)  # fmt: skip
    pd.DataFrame({"account": ["EW"], "ticker": ["CASH"], "quantity": [NAV]}).to_csv(
        paths["holdings"], index=False
    )
    pd.DataFrame({"ticker": tickers, "weight": 1.0 / N_NAMES}).to_csv(paths["bench"], index=False)
    return paths


def _backtest(folder: Path, lot: float) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    paths = _market(folder, lot)
    out = folder / "out"
    result = run_cli("backtest", "--holdings", paths["holdings"], "--universe",
                     paths["universe"], "--prices", paths["prices"], "--benchmark",
                     paths["bench"], "--scenario", EQUAL_WEIGHT, "--tax-exempt",
                     "--start", START, "--end", END, "--json", out / "bt.json",
                     "--log-dir", out / "log", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    closes = pd.read_csv(paths["prices"], index_col="date", parse_dates=True).loc[START:END]
    figures = json.loads((out / "bt.json").read_text())["scenarios"]["equal_weight"]
    positions = pd.read_csv(out / "log" / "positions.csv", parse_dates=["date"])
    return closes, figures, positions


def _periods(closes: pd.DataFrame) -> list[tuple[int, int]]:
    """(rebalance row, next rebalance row or the last row) of each holding period."""
    month = closes.index.to_period("M")
    first = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
    return list(zip(first, np.r_[first[1:], len(closes) - 1], strict=True))


def _equal_weight_path(closes: pd.DataFrame) -> np.ndarray:
    """The ideal account's value at the end of each holding period: at each rebalance
    NAV / n dollars of each name (fractional shares), held to the next."""
    p, value, out = closes.to_numpy(float), NAV, []
    for a, b in _periods(closes):
        value = float((value / p.shape[1] / p[a]) @ p[b])
        out.append(value)
    return np.array(out)


def _whole_share_bound(closes: pd.DataFrame, lot: float) -> float:
    """How far whole shares can take the final value from the ideal's, relative.

    At a rebalance on prices p the account holds shares s = t + d, t the equal-weight
    target; cash is −dᵀp. The rounding (toward no trade, then buys trimmed until cash
    is not below 0) keeps Σ|dᵢ|pᵢ ≤ 2·Σ lot·pᵢ: every order is within a lot of its
    target, and the trims cover at most the sales' rounding. Over the period to the
    next rebalance (prices p′, ideal return R) the account ends at
    W(1 + R) + dᵀ(p′ − p), so its ratio to the ideal moves by at most
    ε = 2·Σ lot·pᵢ·max|p′ᵢ/pᵢ − 1| / V′ (V′ the ideal's value at p′, to first
    order) and the final ratio by at most Π(1 + ε) − 1."""
    p, ideal = closes.to_numpy(float), _equal_weight_path(closes)
    bound = 1.0
    for (a, b), end_value in zip(_periods(closes), ideal, strict=True):
        move = np.abs(p[b] / p[a] - 1.0).max()
        bound *= 1.0 + 2.0 * lot * p[a].sum() * move / end_value
    return bound - 1.0


def test_fractional_equal_weight_is_the_recomputation(tmp_path):
    closes, figures, _ = _backtest(tmp_path, lot=1e-8)
    ideal = _equal_weight_path(closes)[-1]
    assert figures["costs"] == 0.0 and figures["taxes"] == 0.0
    assert figures["final_nav"] == pytest.approx(ideal, rel=1e-9)


def test_whole_shares_stay_within_the_rounding_bound(tmp_path):
    closes, figures, positions = _backtest(tmp_path, lot=1.0)
    rebalances = closes.index[[a for a, _ in _periods(closes)]]
    for day in rebalances:  # Σ|dᵢ|pᵢ ≤ 2·Σ lot·pᵢ, from the written positions
        held = positions[positions["date"] == day].set_index("ticker")
        cash = float(held.loc["CASH", "quantity"])
        shares = held["quantity"].drop("CASH").reindex(closes.columns, fill_value=0.0)
        p = closes.loc[day]
        value = float(shares @ p) + cash
        assert cash >= -1e-6
        assert float((np.abs(shares - value / len(p) / p) * p).sum()) <= 2 * p.sum()
    ideal = _equal_weight_path(closes)[-1]
    bound = _whole_share_bound(closes, lot=1.0)
    assert abs(figures["final_nav"] / ideal - 1.0) <= bound
    assert 0 < bound < 0.01  # the bound says something at this account's size
