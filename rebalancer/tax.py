"""Taxes for taxable accounts: lots as the optimizer sees them, wash sales, estimates.

Each held lot ℓ of security i carries
- its weight q_ℓ = shares × price / NAV (the most that can be sold from it),
- its gain per dollar sold g_ℓ = 1 − basis_per_share / price (negative at a loss;
  0 when the basis is unknown),
- its rate τ_ℓ: short-term within a year of ``acquired``, long-term after,
and the optimizer sells s_ℓ ∈ [0, cap_ℓ] from it, paying τ_ℓ g_ℓ s_ℓ in tax (in
NAV units, scaled by ``tax.weight``). A loss lot earns its tax benefit only when
``tax.harvest`` is set and the loss passes both thresholds; otherwise it is tax
neutral to the optimizer (its loss still offsets gains in the reported tax).

Wash sales (``tax.wash_sale_days``, 30 by default), from the trade history of the
account (or of its whole household): a security sold at a loss in the window may
not be bought; a security bought in the window may not be sold at a loss (its loss
lots are capped at 0). A sale whose gain the history does not give counts as a
loss. ``no_short_term_gains`` caps every short-term lot at a gain at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.scenario.schema import Scenario
from rebalancer.trades import is_long_term


@dataclass(frozen=True)
class TaxLots:
    """The account's lots as the optimizer sees them (one row per lot)."""

    frame: pd.DataFrame  # lot_id, ticker, security, quantity, basis_per_share, acquired,
    #                      term, rate, gain_frac, weight, cap, tax_coef, blocked
    blocked_buys: pd.DataFrame  # ticker, rule, detail: wash-sale blocks on buying
    n_securities: int = 0  # the universe's size (rows of the membership matrix)

    @property
    def members(self):
        """Sparse N×L matrix: 1 where lot ℓ belongs to security i."""
        from scipy import sparse

        f = self.frame
        return sparse.csr_matrix(
            (np.ones(len(f)), (f["security"], np.arange(len(f)))), shape=(self.n_securities, len(f))
        )

    def blocks(self) -> pd.DataFrame:
        """Every wash-sale or short-term block: ticker, lot_id, rule, detail."""
        lots = self.frame[self.frame["blocked"] != ""]
        rows = [
            {"ticker": r.ticker, "lot_id": r.lot_id, "rule": r.blocked, "detail": ""}
            for r in lots.itertuples()
        ]
        rows += [
            {"ticker": r.ticker, "lot_id": "", "rule": r.rule, "detail": r.detail}
            for r in self.blocked_buys.itertuples()
        ]
        return pd.DataFrame(rows, columns=["ticker", "lot_id", "rule", "detail"])


def recent_trades(
    history: pd.DataFrame | None, accounts: list[str], as_of: pd.Timestamp, days: float
) -> pd.DataFrame:
    """The trades of ``accounts`` within ``days`` before ``as_of`` (inclusive)."""
    if history is None or not len(history) or days <= 0:
        return pd.DataFrame(
            columns=["account", "ticker", "date", "side", "quantity", "price", "realized_gain"]
        )
    window = history[history["account"].isin(accounts)]
    start = as_of - pd.Timedelta(days=days)
    return window[(window["date"] >= start) & (window["date"] <= as_of)]


def build_tax_lots(
    lots: pd.DataFrame,
    universe: pd.DataFrame,
    nav: float,
    as_of: pd.Timestamp,
    scenario: Scenario,
    recent: pd.DataFrame,
) -> TaxLots:
    """Lots, rates, gains and caps for the optimizer (see the module docstring)."""
    tax, c = scenario.tax, scenario.constraints
    held = lots[lots["ticker"] != "CASH"].copy()
    price = universe["price"].reindex(held["ticker"]).to_numpy(float)
    held["security"] = universe.index.get_indexer(held["ticker"])
    held["basis_per_share"] = held["cost_basis"] / held["quantity"]
    held["gain_frac"] = (1.0 - held["basis_per_share"] / price).fillna(0.0)
    known = held["acquired"].notna()
    long = is_long_term(pd.to_datetime(held["acquired"]), as_of).to_numpy(bool)
    held["term"] = np.where(~known, "", np.where(long, "LT", "ST"))
    held["rate"] = np.where(long | ~known, tax.long_term_rate, tax.short_term_rate)
    held["weight"] = held["quantity"] * price / nav
    loss_usd = -held["gain_frac"] * held["quantity"] * price
    harvestable = np.zeros(len(held), dtype=bool)
    if tax.harvest is not None:
        pct = -held["gain_frac"] * price / held["basis_per_share"]
        harvestable = (
            (loss_usd > 0)
            & (loss_usd >= tax.harvest.min_loss_usd)
            & (pct.fillna(0.0) >= tax.harvest.min_loss_pct)
        ).to_numpy()
    gain = held["gain_frac"].to_numpy()
    held["tax_coef"] = (
        tax.weight * held["rate"] * np.where(gain > 0, gain, np.where(harvestable, gain, 0.0))
    )
    blocked = np.full(len(held), "", dtype=object)
    bought = set(recent.loc[recent["side"] == "BUY", "ticker"])
    loss_lot = gain < 0
    wash_lot = loss_lot & held["ticker"].isin(bought).to_numpy()
    blocked[wash_lot] = "wash sale: bought within the window, no loss sale"
    if c.no_short_term_gains:
        blocked[(held["term"] == "ST").to_numpy() & (gain > 0)] = "no short-term gains"
    held["blocked"] = blocked
    held["cap"] = np.where(blocked == "", held["weight"], 0.0)

    sells = recent[recent["side"] == "SELL"]
    at_loss = sells[~(sells["realized_gain"] >= 0)]  # unknown gain counts as a loss
    blocked_buys = pd.DataFrame(
        [
            {
                "ticker": t,
                "rule": "wash sale: sold at a loss within the window, no buy",
                "detail": f"sold {d.date().isoformat()}",
            }
            for t, d in at_loss.groupby("ticker")["date"].max().items()
        ],
        columns=["ticker", "rule", "detail"],
    )
    columns = [
        "lot_id",
        "ticker",
        "security",
        "quantity",
        "basis_per_share",
        "acquired",
        "term",
        "rate",
        "gain_frac",
        "weight",
        "cap",
        "tax_coef",
        "blocked",
    ]
    return TaxLots(held[columns].reset_index(drop=True), blocked_buys, len(universe))


def estimated_tax(lot_sales: pd.DataFrame, short_rate: float, long_rate: float) -> dict:
    """Tax on the realized gains, netting short- against long-term as the IRS does.

    Net ST and net LT gains are formed; a net loss on one side offsets a net gain on
    the other; tax = τ_ST × ST⁺ + τ_LT × LT⁺. What loss is left is carried forward.
    Lots with unknown term are taxed as long-term.
    """
    if not len(lot_sales):
        return {
            "estimated_tax_usd": 0.0,
            "net_short_term_usd": 0.0,
            "net_long_term_usd": 0.0,
            "harvested_losses_usd": 0.0,
            "loss_carryforward_usd": 0.0,
        }
    gains = lot_sales["realized_gain_usd"].fillna(0.0)
    st = float(gains[lot_sales["term"] == "ST"].sum())
    lt = float(gains[lot_sales["term"] != "ST"].sum())
    net_st, net_lt = st, lt
    if net_st < 0 < net_lt:
        net_lt, net_st = max(net_lt + net_st, 0.0), min(net_lt + net_st, 0.0)
    elif net_lt < 0 < net_st:
        net_st, net_lt = max(net_st + net_lt, 0.0), min(net_st + net_lt, 0.0)
    tax = short_rate * max(net_st, 0.0) + long_rate * max(net_lt, 0.0)
    return {
        "estimated_tax_usd": tax,
        "net_short_term_usd": st,
        "net_long_term_usd": lt,
        "harvested_losses_usd": float(-gains[gains < 0].sum()),
        "loss_carryforward_usd": float(-min(net_st, 0.0) - min(net_lt, 0.0)),
    }
