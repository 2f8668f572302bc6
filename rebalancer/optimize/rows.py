"""The linear rows of a problem's numbers (``ProblemData.row_*``, compiled by
``constraints.LinearRow``) as the solve stages move them: widened by a hair, lifted
for the path's destination or a pinned evaluation, and the turnover they allow."""

from __future__ import annotations

import numpy as np

from rebalancer.optimize.problem import BIG, ProblemData


def on_trades(data: ProblemData) -> np.ndarray:
    """Per row, whether it limits the run's trades (a buy or sell coefficient): a
    per-run limit, which the path's destination leaves out. A row of weights alone
    limits where the path ends."""
    if data.row_rhs is None:
        return np.zeros(0, dtype=bool)
    return np.asarray(data.row_buy, float).any(axis=1) | np.asarray(data.row_sell, float).any(
        axis=1
    )


def lifted(data: ProblemData, rows: np.ndarray | None = None) -> dict:
    """``ProblemData`` fields with ``rows`` (a mask; None: all) set to no limit (``BIG``)."""
    if data.row_rhs is None:
        return {}
    rhs = np.asarray(data.row_rhs, float)
    return {"row_rhs": np.full_like(rhs, BIG) if rows is None else np.where(rows, BIG, rhs)}


def widened(data: ProblemData, by: float) -> dict:
    """``ProblemData`` fields with every row's right side (those set) ``by`` wider."""
    if data.row_rhs is None:
        return {}
    rhs = np.asarray(data.row_rhs, float)
    return {"row_rhs": np.where(rhs < BIG, rhs + by, rhs)}


def turnover_cap(data: ProblemData) -> float:
    """The least cap the rows put on the turnover Σ|w − w₀| / 2: a row of k·bought +
    k·sold for every name alike (k > 0, no weights) caps it at rhs / (2k). ``BIG``
    where none does."""
    if data.row_rhs is None:
        return BIG
    caps = [BIG]
    for rhs, buy, sell, weight in zip(
        data.row_rhs, data.row_buy, data.row_sell, data.row_weight, strict=True
    ):
        k = float(buy[0]) if len(buy) else 0.0
        if k > 0 and (buy == k).all() and (sell == k).all() and not np.any(weight):
            caps.append(float(rhs) / (2 * k))
    return min(caps)
