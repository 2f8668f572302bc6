"""A synthetic book for ``rebalancer drift``: accounts that track their benchmark, of
which a chosen share have drifted, written as the files the command reads.

``write_drift_book(folder, n_accounts, drifted=0.2)`` writes ``universe.csv``,
``benchmark.csv``, ``holdings.csv``, ``accounts.csv`` and ``model.yaml`` (extends
base.yaml: a small-cap tilt of +4% with a 1% band and base.yaml's triggers) into
``folder``. The benchmark holds the ``BENCHMARK_NAMES`` largest names; every account
holds them in proportion and ``SMALL_HELD`` small caps of its own for its tilt (cash at
its 2% target), about as many names as an advised account; a drifted account has
one of: one name doubled
(name drift), its small caps sold into its large caps (group drift), 10% cash (high
cash), no cash (low cash), a pending withdrawal or deposit, the ``new`` mark, or
cash alone. Which accounts drifted, and how, is returned (``Book.kind``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BENCHMARK_NAMES = 60
SMALL_HELD = 8
KINDS = ("name", "group", "high cash", "low cash", "withdraw", "deposit", "new", "cash only")
MODEL = """name: drift model
extends: base.yaml
tilts:
  "size:small": {target: 0.04, band: 0.01}
"""


@dataclass(frozen=True)
class Book:
    folder: Path
    kind: dict[str, str]  # account -> how it drifted ("" when it did not)


def write_drift_book(
    folder: Path, n_accounts: int, drifted: float = 0.2, n_names: int = 400, seed: int = 3
) -> Book:
    """The book's files in ``folder`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ticker = np.array([f"N{i:04d}" for i in range(n_names)], dtype=object)
    # caps from $100M to $500B; about a third below the small-cap bound's mid bucket
    cap = np.exp(rng.uniform(np.log(1e8), np.log(5e11), n_names))
    price = np.round(np.exp(rng.uniform(np.log(5), np.log(500), n_names)), 2)
    sectors = ["Tech", "Health", "Energy", "Financials", "Industrials", "Staples"]
    universe = pd.DataFrame(
        {
            "ticker": ticker,
            "price": price,
            "sector": rng.choice(sectors, n_names),
            "region": rng.choice(["US", "DM", "EM"], n_names, p=[0.7, 0.2, 0.1]),
            "market_cap": np.round(cap, -3),
            "adv": np.round(cap * 0.004, -2),
        }
    )
    universe.to_csv(folder / "universe.csv", index=False, lineterminator="\n")
    # the benchmark: the largest names, weights ∝ sqrt(cap)
    bench_idx = np.argsort(-cap)[:BENCHMARK_NAMES]
    bw = np.sqrt(cap[bench_idx])
    bw /= bw.sum()
    pd.DataFrame({"ticker": ticker[bench_idx], "weight": bw}).to_csv(
        folder / "benchmark.csv", index=False, lineterminator="\n", float_format="%.17g"
    )
    (folder / "model.yaml").write_text(MODEL, encoding="utf-8")

    # base.yaml's small bucket; the tilt's 4% comes out of the benchmark's names
    small = np.flatnonzero((cap >= 3e8) & (cap < 2e9))
    in_bench = np.zeros(n_names)
    in_bench[bench_idx] = bw
    n_drift = int(round(drifted * n_accounts))
    kinds = np.full(n_accounts, "", dtype=object)
    chosen = rng.choice(n_accounts, n_drift, replace=False)
    kinds[chosen] = rng.choice(KINDS, n_drift)
    accounts = [f"A{k:06d}" for k in range(n_accounts)]
    nav = np.exp(rng.uniform(np.log(2e5), np.log(2e7), n_accounts))
    weights = np.tile(in_bench * (0.98 - 0.04), (n_accounts, 1))
    picks = np.argsort(rng.random((n_accounts, len(small))), axis=1)[:, :SMALL_HELD]
    weights[np.arange(n_accounts)[:, None], small[picks]] = 0.04 / SMALL_HELD
    cash = np.full(n_accounts, 0.02)
    biggest = int(bench_idx[0])
    for k in np.flatnonzero(kinds == "name"):
        weights[k, biggest] += 0.03
        cash[k] = 0.02
        weights[k] *= 0.98 / weights[k].sum()
    for k in np.flatnonzero(kinds == "group"):  # the small caps sold into the benchmark's
        moved = weights[k, small].sum()
        weights[k, small] = 0.0
        weights[k, bench_idx] += moved * bw
    for k in np.flatnonzero(kinds == "high cash"):
        weights[k] *= 0.90 / 0.98
        cash[k] = 0.10
    for k in np.flatnonzero(kinds == "low cash"):
        weights[k] *= 1.0 / 0.98
        cash[k] = 0.0
    for k in np.flatnonzero(kinds == "cash only"):
        weights[k] = 0.0
        cash[k] = 1.0
    quantity = weights * nav[:, None] / price[None, :]
    a, i = np.nonzero(quantity > 0)
    lots = pd.DataFrame(
        {
            "account": np.array(accounts, dtype=object)[a],
            "ticker": ticker[i],
            "quantity": quantity[a, i],
        }  # fmt: skip
    )
    has_cash = cash > 0
    cash_rows = pd.DataFrame(
        {
            "account": np.array(accounts, dtype=object)[has_cash],
            "ticker": "CASH",
            "quantity": (cash * nav)[has_cash],
        }  # fmt: skip
    )
    holdings = pd.concat([lots, cash_rows], ignore_index=True)
    holdings.to_csv(folder / "holdings.csv", index=False, lineterminator="\n",
                    float_format="%.10g")  # fmt: skip
    table = pd.DataFrame(
        {
            "account": accounts,
            "scenario": "model.yaml",
            "benchmark": "benchmark.csv",
            "taxable": "false",
            "cash_target": 0.02,
            "status": np.where(kinds == "new", "new", ""),
            "withdraw_usd": np.where(kinds == "withdraw", "25000", ""),
            "deposit_usd": np.where(kinds == "deposit", "50000", ""),
        }
    )
    table.to_csv(folder / "accounts.csv", index=False, lineterminator="\n")
    return Book(folder, dict(zip(accounts, kinds.tolist(), strict=True)))
