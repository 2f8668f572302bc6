"""The proposal's tables, from the rounded orders: the trades (one row per order, with
why it is made), the holdings before and after, and the active exposures of the
tilted and standard groups. Column contracts: ``rebalancer.report.proposal``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.report.proposal import TRADE_COLUMNS
from rebalancer.scenario import match, parse_selector
from rebalancer.scenario.selectors import SIZE_BUCKETS, Selector, Term


def trades_frame(
    account, uni, q, w0, w_after, participation, cost, lot_sales, scenario, ref, alpha, cap
) -> pd.DataFrame:
    idx = np.flatnonzero(q != 0)
    members = {text: match(parse_selector(text), uni) for text in scenario.tilts}
    price = uni["price"].to_numpy(float)
    notional = np.abs(q[idx]) * price[idx]
    adv = uni["adv"].to_numpy(float)[idx]
    restricted = uni["restricted"].to_numpy()
    gains = (
        lot_sales.groupby("ticker")["realized_gain_usd"].sum(min_count=1)
        if len(lot_sales)
        else pd.Series(dtype=float)
    )
    terms = pd.Series(dtype=str)
    if len(lot_sales):  # the ticker's one term, or "mixed" (no Python call per group)
        by_ticker = lot_sales.groupby("ticker")["term"]
        terms = by_ticker.first().where(by_ticker.nunique() == 1, "mixed")
    lot_ids = (
        lot_sales.groupby("ticker")["lot_id"].agg(";".join)
        if len(lot_sales)
        else pd.Series(dtype=str)
    )
    tickers = uni.index[idx]
    words = _Words(uni, scenario, w0, w_after, ref)
    frame = pd.DataFrame(
        {
            "account": account,
            "ticker": tickers,
            "side": np.where(q[idx] > 0, "BUY", "SELL"),
            "quantity": np.abs(q[idx]),
            "price": price[idx],
            "notional": notional,
            "weight_before": w0[idx],
            "weight_after": w_after[idx],
            "pct_adv": np.where(adv > 0, notional / np.where(adv > 0, adv, 1.0), np.inf),
            "days_to_trade": notional / np.maximum(participation[idx] * adv, 1e-12),
            "est_cost": cost.cost_usd(q * price)[idx],
            "reason": [
                _reason(restricted, i, q[i], w0, w_after, alpha, scenario, cap, members, words)
                for i in idx
            ],
            "realized_gain": [
                gains.get(t, np.nan) if q[i] < 0 else np.nan
                for t, i in zip(tickers, idx, strict=True)
            ],
            "term": [
                terms.get(t, "") if q[i] < 0 else "" for t, i in zip(tickers, idx, strict=True)
            ],
            "lot_id": [
                lot_ids.get(t, "") if q[i] < 0 else "" for t, i in zip(tickers, idx, strict=True)
            ],
        },
        columns=TRADE_COLUMNS,
    )
    return frame.sort_values(
        ["side", "notional"], ascending=[False, False], kind="stable"
    ).reset_index(drop=True)


def _reason(restricted, i, qi, w0, w_after, alpha, scenario, cap, members, words) -> str:
    """Why the trade is made, as an advisor would write it (``restricted``: the
    universe's restriction per name, as an array): the limit that forced it (a
    restriction, the position cap, the sector cap), else the scenario's belief that
    moved it — its tilts and what its signal sees in the name ("Small-cap re-rating:
    cheap, profitable small cap (P/B 0.6× its sector)") — else what it does for the
    portfolio (a sale that funds purchases, a buy that cuts tracking error)."""
    if qi < 0 and restricted[i] == "sell":
        return "forced exit: restricted (sell)"
    if qi < 0 and w0[i] > cap[i] + 1e-9:
        return f"trim to the {_pct(cap[i])} position cap"
    trimmed = words.sector_at_cap(i) if qi < 0 else ""
    if trimmed:
        return trimmed
    tilted = []
    for text, tilt in scenario.tilts.items():
        if members[text][i] and (qi > 0) == (tilt.target >= 0):
            tilted.append(("add " if qi > 0 else "trim ") + _group_words(text))
    seen = words.signal(i, buy=qi > 0) if alpha[i] * qi > 0 else ""
    said = "; ".join(p for p in (seen, *tilted) if p)
    if said:
        exit_ = "sell out: " if qi < 0 and w_after[i] <= 1e-12 else ""
        return f"{exit_}{scenario.name}: {said}"
    if qi < 0:
        return "sell out to fund purchases" if w_after[i] <= 1e-12 else "fund purchases"
    return words.risk(i)


def _pct(x: float) -> str:
    return f"{x * 100:.4g}%"


GROUP_WORDS = {"size": "{} caps", "sector": "{}", "region": "{} stocks", "country": "{} stocks"}
SIZE_WORDS = {"fund": "fund", "large": "large cap", "mid": "mid cap", "small": "small cap"}
METRIC_WORDS = {  # metric -> (label, word when it favours a buy, word when it favours a sale)
    "pb": ("P/B", "cheap", "expensive"),
    "pe": ("P/E", "cheap", "expensive"),
    "roa": ("ROA", "profitable", "less profitable"),
    "momentum": ("momentum", "rising", "falling"),
}
RATIOS = ("pb", "pe")  # multiples, said as a ratio to the sector's: "P/B 0.6× its sector"


def _group_words(text: str) -> str:
    """``size:small`` -> ``small caps``; a compound or unknown selector as written."""
    key, _, value = text.partition(":")
    if "&" in text or key not in GROUP_WORDS or not value:
        return text
    return GROUP_WORDS[key].format(value)


class _Words:
    """What the reasons say of a name, measured once per proposal: its signal metrics
    against its sector's median, its weight against the reference, its sector's
    weight against the sector cap."""

    def __init__(self, uni, scenario, w0, w_after, ref) -> None:
        self.uni, self.w0, self.w_after, self.ref = uni, w0, w_after, ref
        self.metrics = {
            m: float(sign)
            for m, sign in scenario.signals.metrics.items()
            if m in uni and sign and pd.api.types.is_numeric_dtype(uni[m])
        }
        sectors = uni["sector"].astype(str)
        # plain arrays: a pandas lookup per name and metric cost more than the reasons
        self.values = {m: uni[m].to_numpy(float) for m in self.metrics}
        self.size = uni["size"].astype(str).to_numpy() if "size" in uni else None
        self.medians = {
            m: uni[m].groupby(sectors).transform("median").to_numpy(float) for m in self.metrics
        }
        self.sector_cap = scenario.constraints.sector_max
        self.sector_after = (
            pd.Series(w_after).groupby(sectors.to_numpy()).transform("sum").to_numpy()
        )

    def signal(self, i: int, *, buy: bool) -> str:
        """``cheap, profitable small cap (P/B 0.6× its sector)``: the metrics of the
        scenario's signal that favour this side, and the largest gap, as a ratio to the
        sector median where both are positive."""
        favours, gaps = [], []
        for m, sign in self.metrics.items():
            v, med = float(self.values[m][i]), self.medians[m][i]
            if not (np.isfinite(v) and np.isfinite(med)) or v == med:
                continue
            if ((v - med) * sign > 0) != buy:
                continue
            if m in METRIC_WORDS:
                label, good, bad = METRIC_WORDS[m]
                word = good if buy else bad
            else:  # a metric without words of its own: which side of its sector it is
                label = m.replace("_", " ")
                word = f"{'high' if v > med else 'low'} {label}"
            if word not in favours:
                favours.append(word)
            if m in RATIOS and v > 0 and med > 0 and f"{v / med:.1f}" != "1.0":
                gaps.append(
                    (abs(np.log(v / med)) * abs(sign), f"{label} {v / med:.1f}× its sector")
                )
        size = "name" if self.size is None else SIZE_WORDS.get(self.size[i], "name")
        if not favours:
            return f"signal {'favours' if buy else 'against'} this {size}"
        gap = f" ({max(gaps)[1]})" if gaps else ""
        return f"{', '.join(favours)} {size}{gap}"

    def sector_at_cap(self, i: int) -> str:
        cap = self.sector_cap
        if cap is None or self.sector_after[i] < cap - 1e-6:
            return ""
        return f"trim {self.uni['sector'].iloc[i]} to the {_pct(cap)} sector cap"

    def risk(self, i: int) -> str:
        """A buy no belief asks for: it brings the name toward its reference weight
        (cutting tracking error), or spreads the risk the model sees."""
        if abs(self.w_after[i] - self.ref[i]) < abs(self.w0[i] - self.ref[i]):
            return "cut tracking error: toward its reference weight"
        return "spread risk (the risk model's diversifier)"


def holdings_frame(
    uni, before, after, w0, w_opt, w_after, ref, cash_before, cash_after, nav
) -> pd.DataFrame:
    keep = (before > 0) | (after > 0)
    price = uni["price"].to_numpy(float)
    frame = pd.DataFrame(
        {
            "ticker": uni.index[keep],
            "name": uni["name"].to_numpy()[keep] if "name" in uni else "",
            "sector": uni["sector"].to_numpy()[keep],
            "region": uni["region"].to_numpy()[keep],
            "size": uni["size"].to_numpy()[keep],
            "price": price[keep],
            "shares_before": before[keep],
            "shares_after": after[keep],
            "value_before_usd": before[keep] * price[keep],
            "value_after_usd": after[keep] * price[keep],
            "weight_before": w0[keep],
            "weight_optimal": w_opt[keep],
            "weight_after": w_after[keep],
            "benchmark_weight": ref[keep],
        }
    )
    frame = frame.sort_values("value_after_usd", ascending=False, kind="stable")
    cash = pd.DataFrame(
        [
            {
                "ticker": "CASH",
                "name": "Cash",
                "sector": "",
                "region": "",
                "size": "",
                "price": 1.0,
                "shares_before": cash_before,
                "shares_after": cash_after,
                "value_before_usd": cash_before,
                "value_after_usd": cash_after,
                "weight_before": cash_before / nav,
                "weight_optimal": 1 - float(w_opt.sum()),
                "weight_after": cash_after / nav,
                "benchmark_weight": max(1 - float(ref.sum()), 0.0),
            }
        ]
    )
    return pd.concat([frame, cash], ignore_index=True)


def exposures_frame(uni, scenario, w0, w_after, ref, w_opt) -> pd.DataFrame:
    """Active exposures of tilted groups first, then size, region and sector groups."""
    funds = bool((uni["size"] == "fund").any())
    buckets = [b for b in SIZE_BUCKETS if b != "fund" or funds]
    texts = [*scenario.tilts, *(f"size:{b}" for b in buckets)]
    texts += [f"region:{r}" for r in ("US", "DM", "EM")]
    groups = {text: parse_selector(text) for text in texts}
    for sector in sorted(uni["sector"].unique()):
        # built, not parsed: a sector name may hold the "&" that joins selector terms
        groups.setdefault(f"sector:{sector}", Selector((Term("sector", sector),)))
    rows = []
    for text, selector in groups.items():
        m = match(selector, uni)
        tilt = scenario.tilts.get(text)
        rows.append(
            {
                "selector": text,
                "reference": float(ref[m].sum()),
                "weight_before": float(w0[m].sum()),
                "weight_after": float(w_after[m].sum()),
                "before": float((w0 - ref)[m].sum()),
                "optimal": float((w_opt - ref)[m].sum()),
                "after": float((w_after - ref)[m].sum()),
                "target": tilt.target if tilt else np.nan,
                "band_lo": tilt.target - tilt.band if tilt else np.nan,
                "band_hi": tilt.target + tilt.band if tilt else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("selector")
