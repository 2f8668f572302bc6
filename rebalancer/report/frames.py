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
                _reason(restricted, i, q[i], w0, w_after, alpha, scenario, cap, members)
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


def _reason(restricted, i, qi, w0, w_after, alpha, scenario, cap, members) -> str:
    """A short, honest account of why the optimizer wanted this trade (``restricted``:
    the universe's restriction per name, as an array)."""
    if qi < 0 and restricted[i] == "sell":
        return "forced exit (restricted: sell)"
    if qi < 0 and w0[i] > cap[i] + 1e-9:
        return f"trim to position cap {cap[i]:.1%}"
    parts = []
    for text, tilt in scenario.tilts.items():
        if members[text][i]:
            want_more = tilt.target >= 0
            if (qi > 0) == want_more:
                parts.append(f"tilt {'toward' if want_more else 'away from'} {text}")
    if alpha[i] > 0 and qi > 0 or alpha[i] < 0 and qi < 0:
        parts.append(f"signal {'+' if alpha[i] > 0 else ''}{alpha[i]:.2%}/yr")
    if qi < 0 and w_after[i] <= 1e-12:
        parts.insert(0, "exit")
    if not parts:
        parts.append("fund purchases" if qi < 0 else "risk: closer to reference")
    return "; ".join(parts)


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
