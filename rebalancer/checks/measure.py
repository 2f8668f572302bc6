"""Re-measure every limit on the final trades, from the inputs alone.

Nothing here imports the optimizer: the positions after the trades are rebuilt
from the account's lots and the trades table, and each advisor limit
(``rebalancer.limits``, given as ``limits``) measures itself again on them. A
proposal whose checks fail is still shown (the Checks sheet lists the failure), but
the money invariants failing is a bug.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from rebalancer.limits.base import (
    SHARES_REL,
    TOL,
    USD_REL,
    USD_TOL,
    AdvisorLimit,
    Final,
    shares_tol,
    usd_tol,
)
from rebalancer.model.risk import RiskModel
from rebalancer.scenario.schema import Scenario

# Share counts and dollars are sums of floats (lots, orders), exact only to a few units
# in the last place of the numbers summed: 2.3e-9 shares on a $5B account's sale. So a
# tolerance on them is relative to the size of what is compared, never a bare constant
# (``shares_tol``, ``usd_tol``).
__all__ = [
    "SHARES_REL",
    "TOL",
    "USD_REL",
    "USD_TOL",
    "positions",
    "run_checks",
    "shares_tol",
    "signed_shares",
    "usd_tol",
]


def positions(lots: pd.DataFrame) -> tuple[pd.Series, float]:
    """Shares per ticker and cash in dollars, from holdings rows."""
    is_cash = lots["ticker"] == "CASH"
    shares = lots[~is_cash].groupby("ticker")["quantity"].sum()
    return shares, float(lots.loc[is_cash, "quantity"].sum())


def signed_shares(trades: pd.DataFrame) -> pd.Series:
    sign = np.where(trades["side"] == "BUY", 1.0, -1.0)
    return (
        pd.Series(sign * trades["quantity"].to_numpy(float), index=trades["ticker"])
        .groupby(level=0)
        .sum()
    )


def run_checks(
    *,
    lots: pd.DataFrame,
    universe: pd.DataFrame,
    scenario: Scenario,
    reference: pd.Series,
    risk: RiskModel,
    trades: pd.DataFrame,
    lot_sales: pd.DataFrame,
    holdings: pd.DataFrame | None = None,
    taxable: bool = False,
    recent: pd.DataFrame | None = None,
    limits: Sequence[AdvisorLimit],
    over_path: Collection[str] = (),
) -> pd.DataFrame:
    """One row per check: check, limit, value, ok, detail. See the module docstring.

    First the money invariants (notional, pre + trade = post, no short position), then
    each of ``limits`` in turn (``rebalancer.limits.LIMITS``). For a taxable account
    they include the tax limits: the net realized gain budget, no short-term gain, and
    the wash-sale rules against ``recent`` (the household's trades inside the
    wash-sale window) and within the proposal itself.

    ``over_path``: the soft bands the proposal reaches over a path (its path block's
    ``reached_over_path``; ``rebalancer.solve.path``), by Checks row name: their rows
    pass where the trades leave them no farther outside than before, and say "reached
    over a path" (the cash target band gets a row of its own then). Only soft bands
    are ever in it (the cash target and tilt bands): the hard limits' rows
    (``rebalancer.checks.hard``) are measured as always.
    """
    rows: list[dict] = []

    def add(check: str, limit, value, ok: bool, detail: str = "") -> None:
        rows.append(
            {"check": check, "limit": limit, "value": value, "ok": bool(ok), "detail": detail}
        )

    price = universe["price"]
    before, cash_before = positions(lots)
    nav = float((before * price.reindex(before.index)).sum() + cash_before)
    trade = signed_shares(trades).reindex(universe.index, fill_value=0.0)
    before_all = before.reindex(universe.index, fill_value=0.0)
    after = before_all + trade
    notional = trades["quantity"].to_numpy(float) * price.reindex(trades["ticker"]).to_numpy()
    arithmetic = np.abs(notional - trades["notional"].to_numpy(float)) <= USD_TOL + 1e-9 * notional
    add(
        "notional = quantity × price",
        0.0,
        float(np.max(np.abs(notional - trades["notional"].to_numpy(float)), initial=0.0)),
        arithmetic.all(),
    )
    buys = float(notional[trades["side"].to_numpy() == "BUY"].sum())
    sells = float(notional[trades["side"].to_numpy() == "SELL"].sum())
    cash_after = cash_before - buys + sells
    money = max(abs(cash_before), buys, sells, abs(nav))  # the size of the cash sums

    if holdings is not None:
        h = holdings[holdings["ticker"] != "CASH"].set_index("ticker")
        gap = h["shares_before"] + trade.reindex(h.index, fill_value=0.0) - h["shares_after"]
        size = np.maximum(h["shares_before"].abs(), h["shares_after"].abs())
        add(
            "pre + trade = post (shares)",
            0.0,
            float(gap.abs().max()),
            (gap.abs() <= shares_tol(size)).all(),
        )
        cash_row = holdings[holdings["ticker"] == "CASH"]
        if len(cash_row):
            gap_cash = abs(float(cash_row["value_after_usd"].iloc[0]) - cash_after)
            add("pre + trade = post (cash)", 0.0, gap_cash, gap_cash <= usd_tol(money))

    shortest = float(after.min()) if len(after) else 0.0
    add("no short position", 0.0, shortest, (after >= -shares_tol(before_all)).all())

    w_after = after * price / nav
    ref = reference.reindex(universe.index, fill_value=0.0)
    final = Final(
        universe=universe,
        scenario=scenario,
        risk=risk,
        nav=nav,
        trades=trades,
        lot_sales=lot_sales,
        lots=lots,
        notional=notional,
        buys=buys,
        sells=sells,
        cash_after=cash_after,
        money=money,
        trade=trade,
        before=before_all,
        after=after,
        w_before=before_all * price / nav,
        w_after=w_after,
        reference=ref,
        active=(w_after - ref).to_numpy(),
        # an order that closes its position (to a float's worth of what was held)
        closes=np.abs(after.reindex(trades["ticker"]).to_numpy())
        <= shares_tol(before_all.reindex(trades["ticker"]).to_numpy()),
        taxable=taxable,
        recent=recent,
        over_path=frozenset(over_path),
    )
    for limit in limits:
        limit.measure(final, add)
    return pd.DataFrame(rows, columns=["check", "limit", "value", "ok", "detail"])
