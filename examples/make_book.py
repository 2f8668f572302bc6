"""A synthetic book of accounts drawn from the example universe, for tests and benchmarks.

    python examples/make_book.py --accounts 1000 --out book/ [--seed 7]

Writes ``holdings.csv`` and ``accounts.csv`` into ``--out``: accounts of mixed size
($100k to $25M, log-uniform), each holding 15 to 60 large and mid caps (one to
three lots each, bought over the last five years, some at a loss) plus 1-5% cash,
assigned one of a few model scenarios, about 40% of them taxable, in households of
one to three accounts. The accounts file names scenarios by file name (they are
found in the shipped library) and the example benchmark by its path.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MODELS = ["smallcap_rerating.yaml", "balanced_rerating.yaml", "base.yaml", "status_quo.yaml",
          "rate_cuts.yaml"]  # fmt: skip
AS_OF = pd.Timestamp("2026-11-20")


def make_book(
    n_accounts: int,
    seed: int = 7,
    universe: pd.DataFrame | None = None,
    benchmark: str | None = "benchmark.csv",
    models: list[str] = MODELS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(holdings, accounts) frames for ``n_accounts`` accounts (``benchmark=None``: the
    accounts name none, so tilts are measured against current holdings). ``benchmark``
    is a path relative to the accounts file's folder, which it may not leave."""
    rng = np.random.default_rng(seed)
    uni = pd.read_csv(HERE / "universe.csv") if universe is None else universe
    uni = uni[(uni["market_cap"] >= 2e9) & (uni["restricted"].fillna("") == "")]
    weights = np.sqrt(uni["market_cap"].to_numpy())
    weights /= weights.sum()
    rows, accounts = [], []
    household = 0
    for k in range(n_accounts):
        name = f"ACC{k + 1:05d}"
        if k == 0 or rng.random() < 0.5:
            household += 1
        nav = float(np.exp(rng.uniform(np.log(1e5), np.log(2.5e7))))
        n_names = min(int(rng.integers(15, 61)), max(len(uni) // 2, 1))
        picks = rng.choice(len(uni), size=n_names, replace=False, p=weights)
        cash_share = rng.uniform(0.01, 0.05)
        value_each = nav * (1 - cash_share) / n_names
        for i in picks:
            price = float(uni["price"].iloc[i])
            shares = max(1.0, np.floor(value_each / price))
            n_lots = int(rng.integers(1, 4))
            split = rng.multinomial(int(shares), np.ones(n_lots) / n_lots)
            for lot_shares in split[split > 0]:
                days = int(rng.integers(30, 5 * 365))
                basis = price * float(np.exp(rng.normal(-0.1, 0.25)))
                rows.append(
                    {
                        "account": name,
                        "ticker": uni["ticker"].iloc[i],
                        "quantity": float(lot_shares),
                        "cost_basis": round(basis * lot_shares, 2),
                        "acquired": (AS_OF - pd.Timedelta(days=days)).date().isoformat(),
                    }
                )
        rows.append(
            {
                "account": name,
                "ticker": "CASH",
                "quantity": round(nav * cash_share, 2),
                "cost_basis": None,
                "acquired": None,
            }
        )
        accounts.append(
            {
                "account": name,
                "scenario": models[int(rng.integers(len(models)))],
                "benchmark": benchmark or "",
                "taxable": "true" if rng.random() < 0.4 else "false",
                "cash_target": round(float(rng.choice([0.01, 0.02, 0.03])), 2),
                "household": f"H{household:05d}",
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(accounts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    holdings, accounts = make_book(args.accounts, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    # the accounts file names its benchmark beside it (a book's paths stay in its folder)
    shutil.copyfile(HERE / "benchmark.csv", args.out / "benchmark.csv")
    holdings.to_csv(args.out / "holdings.csv", index=False, lineterminator="\n")
    accounts.to_csv(args.out / "accounts.csv", index=False, lineterminator="\n")
    print(f"wrote {len(accounts)} accounts, {len(holdings)} lots to {args.out}")


if __name__ == "__main__":
    main()
