"""Universes of any size "generated like the examples", for the scale benchmarks.

``scaled_market(n)`` resamples the example universe's rows (with fresh tickers,
market caps and prices jittered) and builds each name's price history from the
example history of the name it was drawn from plus its own idiosyncratic noise,
so the factor structure, sectors, size buckets and liquidity stay those of the
examples while every series is distinct.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def scaled_market(n: int, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(universe, prices, benchmark) with ``n`` names."""
    rng = np.random.default_rng(seed)
    base = pd.read_csv(
        EXAMPLES / "universe.csv",
        keep_default_na=False,
        na_values={
            c: [""]
            for c in ("pb", "pe", "roa", "momentum", "leverage", "floating_debt_pct", "beta")
        },
    )
    base = base[base["restricted"] == ""].reset_index(drop=True)
    prices = pd.read_csv(EXAMPLES / "prices.csv", index_col="date", parse_dates=True)
    pick = rng.integers(0, len(base), size=n)
    uni = base.iloc[pick].reset_index(drop=True).copy()
    uni["ticker"] = [f"S{i:05d}" for i in range(n)]
    jitter = np.exp(rng.normal(0.0, 0.15, n))
    uni["market_cap"] = uni["market_cap"] * jitter
    uni["adv"] = uni["adv"] * jitter
    source = prices[base["ticker"].iloc[pick]].to_numpy()
    returns = np.diff(np.log(source), axis=0) + rng.normal(0.0, 0.008, (len(source) - 1, n))
    path = np.exp(np.vstack([np.zeros((1, n)), np.cumsum(returns, axis=0)]))
    last = uni["price"].to_numpy() * np.exp(rng.normal(0.0, 0.1, n))
    uni["price"] = np.round(last, 2).clip(min=0.5)
    px = pd.DataFrame(
        path / path[-1] * uni["price"].to_numpy(), index=prices.index, columns=uni["ticker"]
    )
    big = uni["market_cap"].where(uni["market_cap"] >= 3e8, 0.0)
    bench = pd.Series(big.to_numpy() / big.sum(), index=uni["ticker"], name="weight")
    return uni, px, bench[bench > 0]


def large_cap_account(
    uni: pd.DataFrame, nav: float = 20e6, n_names: int = 120, seed: int = 5
) -> pd.DataFrame:
    """A large-cap-heavy account of ``n_names`` names plus 3% cash (one lot each)."""
    rng = np.random.default_rng(seed)
    large = uni[uni["market_cap"] >= 10e9]
    chosen = large.iloc[rng.choice(len(large), size=min(n_names, len(large)), replace=False)]
    each = nav * 0.97 / len(chosen)
    rows = [
        {"account": "BENCH", "ticker": t, "quantity": float(np.floor(each / p))}
        for t, p in zip(chosen["ticker"], chosen["price"], strict=True)
    ]
    rows.append({"account": "BENCH", "ticker": "CASH", "quantity": nav * 0.03})
    return pd.DataFrame(rows)


def lots_account(
    uni: pd.DataFrame, bench: pd.Series, n_lots: int, nav: float = 10e6, seed: int = 7
) -> pd.DataFrame:
    """A direct-indexing taxable account of ``n_lots`` tax lots: each lot's name drawn
    with its benchmark weight (so the account tracks the benchmark), worth about
    NAV / lots, bought over the last five years at a basis from about half to twice
    today's price; plus 2% cash."""
    rng = np.random.default_rng(seed)
    which = rng.choice(len(bench), size=n_lots, p=bench.to_numpy() / bench.sum())
    ticker = bench.index.to_numpy()[which]
    price = uni.set_index("ticker")["price"].reindex(ticker).to_numpy(float)
    each = rng.uniform(0.2, 1.8, n_lots) * nav * 0.98 / n_lots
    quantity = np.maximum(1.0, np.round(each / price))
    basis = np.round(quantity * price * np.exp(rng.normal(0.0, 0.35, n_lots)), 2)
    days = pd.to_timedelta(rng.integers(1, 5 * 365, n_lots), "D")
    lots = pd.DataFrame(
        {
            "account": "LOTS",
            "ticker": ticker,
            "quantity": quantity,
            "cost_basis": basis,
            "acquired": (pd.Timestamp("2026-11-20") - days).strftime("%Y-%m-%d"),
        }
    )
    cash = {"account": "LOTS", "ticker": "CASH", "quantity": round(nav * 0.02, 2)}
    return pd.concat([lots, pd.DataFrame([cash])], ignore_index=True)
