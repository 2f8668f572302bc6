"""Re-measure every limit on the final trades, from the inputs alone.

Nothing here imports the optimizer: the positions after the trades are rebuilt
from the account's lots and the trades table, and each limit of the scenario is
measured again on them. A proposal whose checks fail is still shown (the Checks
sheet lists the failure), but the money invariants failing is a bug.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.risk import RiskModel
from rebalancer.scenario.expressions import parse_condition
from rebalancer.scenario.schema import Scenario
from rebalancer.scenario.selectors import match, parse_selector
from rebalancer.universe import per_name

TOL = 1e-6  # weights
USD_TOL = 0.005  # a half cent
# Share counts and dollars are sums of floats (lots, orders), exact only to a few units
# in the last place of the numbers summed: 2.3e-9 shares on a $5B account's sale. So a
# tolerance on them is relative to the size of what is compared, never a bare constant.
SHARES_REL = 1e-9
USD_REL = 1e-12


def shares_tol(quantity) -> np.ndarray | float:
    """How far two share counts of about ``quantity`` may differ: 1e-9 of it, at
    least 1e-9 of a share."""
    return SHARES_REL * np.maximum(1.0, np.abs(quantity))


def usd_tol(amount) -> np.ndarray | float:
    """How far two dollar amounts of about ``amount`` may differ: half a cent plus
    1e-12 of it (a float's worth of a large NAV)."""
    return USD_TOL + USD_REL * np.abs(amount)


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
) -> pd.DataFrame:
    """One row per limit: check, limit, value, ok, detail. See the module docstring.

    For a taxable account also the tax limits: the net realized gain budget, no
    short-term gain, and the wash-sale rules against ``recent`` (the household's
    trades inside the wash-sale window) and within the proposal itself.
    """
    rows: list[dict] = []

    def add(check: str, limit, value, ok: bool, detail: str = "") -> None:
        rows.append(
            {"check": check, "limit": limit, "value": value, "ok": bool(ok), "detail": detail}
        )

    c = scenario.constraints
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

    floor = c.cash.min * nav
    add(
        "cash floor (USD)",
        floor,
        cash_after,
        cash_after >= floor - usd_tol(money),
        f"{cash_after / nav:.4%} of NAV after trades",
    )

    _lot_checks(add, lots, lot_sales, trades)
    _restriction_checks(add, universe, trade, after, before_all)
    _screen_checks(add, universe, scenario, trade)

    adv = universe["adv"].to_numpy(float)
    part = per_name(universe, c.liquidity.max_participation, "min")
    cap = part * adv * c.liquidity.days
    traded = np.abs(trade.to_numpy()) * price.to_numpy()
    worst = traded - cap
    i = int(np.argmax(worst)) if len(worst) else 0
    add(
        "liquidity (participation of ADV)",
        float(cap[i]) if len(cap) else 0.0,
        float(traded[i]) if len(traded) else 0.0,
        (worst <= USD_TOL + 1e-9 * cap).all(),
        f"tightest: {universe.index[i]}" if len(worst) else "",
    )

    turnover = (buys + sells) / (2 * nav)
    if c.max_turnover is not None:
        add("max_turnover", c.max_turnover, turnover, turnover <= c.max_turnover + TOL)

    w_after = after * price / nav
    w_before = before_all * price / nav
    if c.max_position is not None:
        caps = per_name(universe, c.max_position, "min")
        room = caps - w_after.to_numpy()
        i = int(np.argmin(room)) if len(room) else 0
        add(
            "max_position",
            float(caps[i]),
            float(w_after.iloc[i]),
            (room >= -TOL).all(),
            f"closest to its cap: {universe.index[i]}",
        )
    if c.sector_max is not None:
        by_sector = w_after.groupby(universe["sector"]).sum()
        add(
            "sector_max",
            c.sector_max,
            float(by_sector.max()),
            by_sector.max() <= c.sector_max + TOL,
            f"largest: {by_sector.idxmax()}",
        )

    ref = reference.reindex(universe.index, fill_value=0.0)
    active = (w_after - ref).to_numpy()
    te = float(np.sqrt(max(risk.variance(active), 0.0)))
    if c.max_tracking_error is not None:
        add("max_tracking_error", c.max_tracking_error, te, te <= c.max_tracking_error * (1 + 1e-4))
    for text, tilt in scenario.tilts.items():
        members = match(parse_selector(text), universe)
        exposure = float(active[members].sum())
        lo, hi = tilt.target - tilt.band, tilt.target + tilt.band
        add(
            f"tilt {text}",
            f"[{lo:.4f}, {hi:.4f}]",
            exposure,
            lo - TOL <= exposure <= hi + TOL,
            f"active exposure before {float((w_before - ref).to_numpy()[members].sum()):.4f}",
        )

    if taxable:
        _tax_checks(add, scenario, trades, lot_sales, recent)

    # an order that closes its position (to a float's worth of what was held)
    closes = np.abs(after.reindex(trades["ticker"]).to_numpy()) <= shares_tol(
        before_all.reindex(trades["ticker"]).to_numpy()
    )
    if c.min_trade_usd > 0 and len(trades):
        small = (notional < c.min_trade_usd - USD_TOL) & ~closes
        add(
            "min_trade_usd",
            c.min_trade_usd,
            float(notional.min()),
            not small.any(),
            f"{int(small.sum())} order(s) below the minimum",
        )
    if c.round_lots and len(trades):
        lot = universe["lot_size"].reindex(trades["ticker"]).to_numpy(float)
        q = trades["quantity"].to_numpy(float)
        off = ~np.isclose(np.round(q / lot) * lot, q) & ~closes
        add("round lots", 0.0, float(off.sum()), not off.any(), "orders not in whole lots")
    return pd.DataFrame(rows, columns=["check", "limit", "value", "ok", "detail"])


def _lot_checks(add, lots: pd.DataFrame, lot_sales: pd.DataFrame, trades: pd.DataFrame) -> None:
    held = lots.set_index("lot_id")["quantity"]
    if len(lot_sales):
        sold = lot_sales.groupby("lot_id")["quantity_sold"].sum()
        lot_held = held.reindex(sold.index)
        over = sold - lot_held
        add("no oversold lot", 0.0, float(over.max()), (over <= shares_tol(lot_held)).all())
        per_ticker = lot_sales.groupby("ticker")["quantity_sold"].sum()
    else:
        add("no oversold lot", 0.0, 0.0, True)
        per_ticker = pd.Series(dtype=float)
    sells = trades[trades["side"] == "SELL"].groupby("ticker")["quantity"].sum()
    gap = (sells - per_ticker.reindex(sells.index, fill_value=0.0)).abs()
    ok = (gap <= shares_tol(sells)).all()
    add("lot sales = sell orders", 0.0, float(gap.max()) if len(gap) else 0.0, ok)


def _restriction_checks(
    add, universe: pd.DataFrame, trade: pd.Series, after: pd.Series, before: pd.Series
) -> None:
    r = universe["restricted"]
    bought = trade > 1e-12
    sold = trade < -1e-12
    bad = (
        (r.isin(["no_buy", "no_trade", "sell"]) & bought)
        | (r.isin(["no_sell", "no_trade"]) & sold)
        | ((r == "sell") & (after > shares_tol(before)))
    )
    names = ", ".join(universe.index[bad.to_numpy()][:5])
    add("restricted names respected", 0.0, float(bad.sum()), not bad.any(), names)


def _screen_checks(add, universe: pd.DataFrame, scenario: Scenario, trade: pd.Series) -> None:
    """No name in a no_buy group, or failing a screen of its group, is bought (it may be
    held or sold)."""
    for text in scenario.constraints.no_buy:
        members = match(parse_selector(text), universe)
        bought = members & (trade.to_numpy() > 1e-12)
        add(
            f"no_buy {text}",
            0.0,
            float(bought.sum()),
            not bought.any(),
            f"{int(members.sum())} name(s) may not be bought",
        )
    for screen in scenario.screens:
        condition = parse_condition(screen.require)
        failing = match(parse_selector(screen.where), universe) & ~condition.holds(universe)
        bought = failing & (trade.to_numpy() > 1e-12)
        names = list(universe.index[failing])
        detail = (
            f"{len(names)} name(s) may not be bought: "
            + ", ".join(names[:40])
            + (" ..." if len(names) > 40 else "")
        )
        add(
            f"screen {screen.where}: {screen.require}",
            0.0,
            float(bought.sum()),
            not bought.any(),
            detail,
        )


def _tax_checks(
    add,
    scenario: Scenario,
    trades: pd.DataFrame,
    lot_sales: pd.DataFrame,
    recent: pd.DataFrame | None,
) -> None:
    c = scenario.constraints
    gains = lot_sales["realized_gain_usd"].fillna(0.0) if len(lot_sales) else pd.Series(dtype=float)
    if c.max_realized_gain is not None:
        net = float(gains.sum())
        add(
            "max_realized_gain (USD)",
            c.max_realized_gain,
            net,
            net <= c.max_realized_gain + usd_tol(gains.abs().sum()),
            "net of realized losses",
        )
    if c.no_short_term_gains:
        st = lot_sales[(lot_sales["term"] == "ST") & (gains > 0)] if len(lot_sales) else lot_sales
        add(
            "no short-term gains",
            0.0,
            float(st["realized_gain_usd"].sum()) if len(st) else 0.0,
            st.empty,
            ", ".join(st["lot_id"].astype(str)) if len(st) else "",
        )
    loss_sold = set(lot_sales.loc[gains < 0, "ticker"]) if len(lot_sales) else set()
    bought = set(trades.loc[trades["side"] == "BUY", "ticker"])
    round_trips = sorted(loss_sold & bought)
    add(
        "no wash sale within the proposal",
        0.0,
        float(len(round_trips)),
        not round_trips,
        ", ".join(round_trips),
    )
    if recent is not None and len(recent):
        sold = recent[recent["side"] == "SELL"]
        sold_at_loss = set(sold.loc[~(sold["realized_gain"] >= 0), "ticker"])
        recently_bought = set(recent.loc[recent["side"] == "BUY", "ticker"])
        bad = sorted((bought & sold_at_loss) | (loss_sold & recently_bought))
        add(
            f"no wash sale against the last {scenario.tax.wash_sale_days:g} days",
            0.0,
            float(len(bad)),
            not bad,
            ", ".join(bad),
        )
