"""The peer side of ``benchmarks.bench_backtest_peer``: cvxportfolio's simulator on a
price file, run in its own environment (cvxportfolio is GPL: it is never a
dependency of the package, and nothing of it is copied here; this script only calls
it). It imports numpy, pandas and cvxportfolio, nothing of the rebalancer, so that
environment needs only ``pip install cvxportfolio``:

    python -m venv .venv-peer && .venv-peer/bin/pip install cvxportfolio
    .venv-peer/bin/python benchmarks/peer_cvxportfolio.py PRICES START END NAV [--whole]

The policy: equal weights over every column of PRICES, all invested, reset on the
window's first price date and on the first price date of each later month, held in
between; no costs, cash earning 0. The conventions are those of ``rebalancer
backtest``: an order is executed at the day's close, and the value on a price date
is the account at that close after the day's trades. cvxportfolio's return at time
t is the return from t to the next time (``p[t+1] / p[t] − 1``, its documented
convention), so the returns given are close-to-close ones indexed by their first
day: trades at t are then executed at t's close. ``--whole``: the simulator rounds
each trade to whole shares at t's close (its ``round_trades``). Prints one JSON
line: the final value, the value per date and the seconds the backtest took.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("prices")
    parser.add_argument("start")
    parser.add_argument("end")
    parser.add_argument("nav", type=float)
    parser.add_argument("--whole", action="store_true", help="round trades to whole shares")
    args = parser.parse_args()

    import cvxportfolio as cvx

    px = pd.read_csv(args.prices, index_col="date", parse_dates=True).ffill()
    px = px.loc[args.start : args.end]
    # the return from each close to the next, indexed by the first; 0 after the last
    # (the simulator's calendar must reach the last date, whose return is never used)
    returns = (px.shift(-1) / px - 1.0).fillna(0.0)
    returns["cash"] = 0.0
    month = px.index.to_period("M")
    first = np.r_[True, month[1:] != month[:-1]]
    target = pd.Series(1.0 / px.shape[1], index=px.columns)
    target["cash"] = 0.0
    policy = cvx.PeriodicRebalance(target, px.index[first])
    simulator = cvx.MarketSimulator(
        returns=returns,
        prices=px,
        cash_key="cash",
        min_history=pd.Timedelta(0),
        round_trades=args.whole,
    )
    t0 = time.perf_counter()
    result = simulator.backtest(policy, start_time=px.index[0], end_time=px.index[-1],
                                initial_value=args.nav)  # fmt: skip
    seconds = time.perf_counter() - t0
    value = result.v
    print(json.dumps({"final_value": float(value.iloc[-1]), "last_date": f"{value.index[-1]:%Y-%m-%d}",
                      "seconds": seconds, "dates": len(value)}))  # fmt: skip


if __name__ == "__main__":
    main()
