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

Lot classes: the optimizer sells from *classes* of lots, not from each lot, so a
direct-indexing account of 100,000 lots is a problem of a few thousand lot variables
(and its memory grows linearly with its lots). Lots of one security that are alike
to the optimizer — the same rate, the same kind (a gain, a harvestable loss, a
neutral loss or neither) and the same block — form a group; a group is cut, in
ascending gain per dollar, into at most K runs of consecutive lots, K the largest
that keeps the account within ``MAX_LOT_CLASSES`` classes (at least 1). A class has
cap Σ cap_ℓ, and its coefficients are the weight-averaged c̄ = Σ q_ℓ c_ℓ / Σ q_ℓ and
ḡ = Σ q_ℓ g_ℓ / Σ q_ℓ: exact when the class is sold whole; sold in part under
``lot_method: optimized``, its lots are taken lowest gain per dollar first (``report``'s
lot order), so the realized tax and gain are at most the optimizer's c̄ s and ḡ s. An
account with at most ``MAX_LOT_CLASSES`` lots has one class per lot, in the lots' order.

The budget is a bound on the classes only where the groups allow: the classes number
at most max(``MAX_LOT_CLASSES``, G), G the groups, and G ≤ 8 per name held (2 rates ×
4 kinds; a block only falls on whole kinds of a name: its loss lots for a wash sale,
its short-term gains). It is not forced lower, by merging groups, on purpose: across
rates or kinds, lowest gain first is no longer lowest tax first (a long-term gain can
cost less tax than a smaller short-term one; a small loss below the harvest threshold
is neutral while a larger one is not), so a merged class sold in part could realize
more tax than the optimizer counted. Above the budget the classes grow with the names
held, at most 8 per name, as the problem's own per-name variables do, never with the
lots (``tests/test_lots_scale.py`` measures the worst case).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from rebalancer.model.substitutes import same_wash, wash_keys
from rebalancer.scenario.schema import Scenario


def is_long_term(acquired, sold: pd.Timestamp):
    """Held more than one year: sold after the first anniversary of the purchase
    (calendar years, so a lot bought 2023-06-30 is long-term from 2024-07-01).
    ``acquired`` is a date or a Series of dates (an unknown date is not long-term)."""
    return sold > acquired + pd.DateOffset(years=1)


# the most lot classes (optimizer variables) an account is cut into where its groups
# allow (module docstring): a few thousand keep the problem's compile and solve to a
# second or two whatever the number of lots
MAX_LOT_CLASSES = 2048


@dataclass(frozen=True)
class TaxLots:
    """The account's lots (one row per lot) and the classes the optimizer sells from
    (one row per class; module docstring)."""

    frame: pd.DataFrame  # lot_id, ticker, security, quantity, basis_per_share, acquired,
    #                      term, rate, gain_frac, weight, cap, tax_coef, blocked, lot_class
    blocked_buys: pd.DataFrame  # ticker, rule, detail: wash-sale blocks on buying
    n_securities: int = 0  # the universe's size (rows of the membership matrix)
    classes: pd.DataFrame | None = None  # security, cap, tax_coef, gain_frac

    @property
    def members(self):
        """Sparse N×C matrix: 1 where lot class c belongs to security i."""
        security = self.classes["security"].to_numpy()
        n = len(security)
        return sparse.csr_matrix(
            (np.ones(n), (security, np.arange(n))), shape=(self.n_securities, n)
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


def income_tax_usd(universe: pd.DataFrame, shares: np.ndarray, rate: float) -> float:
    """The tax a year on the income of ``shares`` (the universe's order) held in a
    taxable account: Σᵢ income_yieldᵢ × priceᵢ × sharesᵢ × ``rate`` (the scenario's
    ``tax.ordinary_income_rate``). A universe without the ``income_yield`` column (a
    frame given in Python) yields nothing, as a blank cell does."""
    income_usd = income_yield(universe) * universe["price"].to_numpy(float)  # a year, per share
    return float(income_usd @ np.asarray(shares, float)) * rate


def income_yield(universe: pd.DataFrame) -> np.ndarray:
    """Each name's taxable income a year as a fraction of its price (the universe's
    order); 0 where blank, and everywhere for a universe without the column."""
    if "income_yield" not in universe:
        return np.zeros(len(universe))
    return universe["income_yield"].fillna(0.0).to_numpy(float)


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
    # a buy of any member of an identical substitute group counts for all of them
    bought = same_wash(recent.loc[recent["side"] == "BUY", "ticker"], scenario)
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
            for t, d in _loss_sales(at_loss, scenario).items()
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
    frame = held[columns].reset_index(drop=True)
    frame["lot_class"], classes = lot_classes(frame, MAX_LOT_CLASSES)
    return TaxLots(frame, blocked_buys, len(universe), classes)


def _loss_sales(at_loss: pd.DataFrame, scenario: Scenario) -> dict[str, pd.Timestamp]:
    """Ticker -> the last loss sale that blocks buying it: its own, or a member's of its
    identical substitute group (``model.substitutes``)."""
    last = at_loss.groupby("ticker")["date"].max()
    keys = wash_keys(scenario)
    out = dict(last.items())
    for ticker, date in last.items():
        key = keys.get(str(ticker))
        for other in (t for t, k in keys.items() if key is not None and k == key):
            out[other] = max(out.get(other, date), date)
    return dict(sorted(out.items()))


def lot_classes(frame: pd.DataFrame, most: int) -> tuple[np.ndarray, pd.DataFrame]:
    """(each lot's class, the classes: security, cap, tax_coef, gain_frac) — the
    module docstring's lot classes, numbered in the order of their first lot. Linear
    in the lots but for one sort."""
    n = len(frame)
    gain = frame["gain_frac"].to_numpy(float)
    coef = frame["tax_coef"].to_numpy(float)
    kind = np.select([gain > 0, coef < 0, gain < 0], [0, 1, 2], 3)
    keys = pd.DataFrame(
        {
            "security": frame["security"].to_numpy(),
            "rate": frame["rate"].to_numpy(float),
            "kind": kind,
            "blocked": frame["blocked"].to_numpy() != "",
        }
    )
    group = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    size = np.bincount(group)
    per = _runs_per_group(size, most)
    runs = np.minimum(size, per)
    # rank of each lot within its group, by gain per dollar (ties in the lots' order)
    order = np.lexsort((np.arange(n), gain, group))
    starts = np.r_[0, np.cumsum(size)[:-1]]
    rank = np.empty(n, int)
    rank[order] = np.arange(n) - starts[group[order]]
    raw = np.r_[0, np.cumsum(runs)[:-1]][group] + rank * runs[group] // size[group]
    first = np.full(int(runs.sum()), n)
    np.minimum.at(first, raw, np.arange(n))
    renumber = np.empty(len(first), int)
    renumber[np.argsort(first, kind="stable")] = np.arange(len(first))
    lot_class = renumber[raw]
    weight = frame["weight"].to_numpy(float)
    total = np.bincount(lot_class, weights=weight)
    safe = np.where(total > 0, total, 1.0)
    security = np.empty(len(first), int)
    security[lot_class] = frame["security"].to_numpy()
    mean_coef = np.bincount(lot_class, weights=weight * coef) / safe
    mean_gain = np.bincount(lot_class, weights=weight * gain) / safe
    alone = np.bincount(lot_class)[lot_class] == 1  # a class of one lot: its own numbers
    mean_coef[lot_class[alone]], mean_gain[lot_class[alone]] = coef[alone], gain[alone]
    classes = pd.DataFrame(
        {
            "security": security,
            "cap": np.bincount(lot_class, weights=frame["cap"].to_numpy(float)),
            "tax_coef": mean_coef,
            "gain_frac": mean_gain,
        }
    )
    return lot_class, classes


def _runs_per_group(size: np.ndarray, most: int) -> int:
    """The largest K ≥ 1 with Σ_g min(n_g, K) ≤ ``most`` (the largest group's size
    when every lot fits)."""
    if not len(size) or size.sum() <= most:
        return int(size.max(initial=1))
    lo, hi = 1, int(size.max())
    while lo < hi:  # Σ min(n_g, K) grows with K
        mid = (lo + hi + 1) // 2
        if np.minimum(size, mid).sum() <= most:
            lo = mid
        else:
            hi = mid - 1
    return lo


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
