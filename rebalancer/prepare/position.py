"""An account's position before trading and the weights it is measured against:
shared by ``build.prepare`` and ``validate``, which checks a scenario's tilts without
the optimizer (and its imports)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def holdings_position(
    lots: pd.DataFrame, universe: pd.DataFrame
) -> tuple[np.ndarray, float, float]:
    """(shares of each universe name, cash, NAV) of one account's holdings rows:
    NAV = Σ shares·price + cash; its current weights are shares·price / NAV."""
    is_cash = lots["ticker"] == "CASH"
    cash = float(lots.loc[is_cash, "quantity"].sum())
    shares = (
        lots[~is_cash]
        .groupby("ticker")["quantity"]
        .sum()
        .reindex(universe.index, fill_value=0.0)
        .to_numpy(float)
    )
    return shares, cash, float(shares @ universe["price"].to_numpy(float) + cash)


def reference_weights(
    benchmark: np.ndarray | None, w0: np.ndarray | None
) -> tuple[np.ndarray, str]:
    """The weights active exposures (tilts) and tracking error are measured against,
    and their name: the benchmark's (in the universe's order) when one is given, else
    the account's current weights ``w0`` (a proposal then tilts away from what it holds)."""
    if benchmark is not None:
        return benchmark, "benchmark"
    return w0.copy(), "current holdings"
