"""Every limit and figure of a proposal re-measured from its written trades and the
re-read inputs: the Checks, the headline figures, exposures, stress results, screened
names, costs, the request's columns, each to a tolerance scaled to it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.checks.measure import run_checks, signed_shares, usd_tol
from rebalancer.export.csvout import read_written_trades
from rebalancer.limits.cash_request import REQUEST_COLUMNS, request_cells
from rebalancer.model.stress import shock_returns
from rebalancer.model.tax import is_long_term
from rebalancer.runs.verify.findings import ABSENT, Verification
from rebalancer.runs.verify.recorded import recorded_request
from rebalancer.scenario.selectors import SelectorSyntaxError, match, parse_selector

# the JSON's headline figures (Proposal.summary's names for Metrics), each recomputed
# from the written trades and the inputs (``report.figures``): dollars (Metrics' *_usd)
# to a cent and a float's worth of the NAV (they are sums over the orders and lots),
# fractions of NAV to 1e-9 (the risk model and returns are rebuilt from the same files,
# so they agree to rounding; a forged figure moves far more), counts exactly
FIGURES = {
    "nav": "nav_usd", "cash_before": "cash_before_usd", "cash_after": "cash_after_usd",
    "turnover": "turnover", "n_trades": "n_trades", "buys": "buys_usd", "sells": "sells_usd",
    "est_cost": "est_cost_usd", "expected_return_before": "expected_return_before",
    "expected_return": "expected_return", "active_return": "active_return",
    "volatility_before": "volatility_before", "volatility": "volatility",
    "tracking_error_before": "tracking_error_before", "tracking_error": "tracking_error",
    "realized_gain": "realized_gain_usd", "short_term_gain": "short_term_gain_usd",
    "long_term_gain": "long_term_gain_usd", "estimated_tax": "estimated_tax_usd",
    "harvested_losses": "harvested_losses_usd",
}  # fmt: skip


# figures added after proposals were first recorded: re-measured where the JSON has them
LATER_FIGURES = {"income_tax_before": "income_tax_before_usd", "income_tax": "income_tax_usd"}


_FIGURE_TOL = {"n_trades": 0} | {
    key: 1e-9 for key, attr in FIGURES.items() if not attr.endswith("_usd") and key != "n_trades"
}


def remeasure(
    report: Verification, summary: dict[str, Any], manifest: dict[str, Any], scenario
) -> None:
    # late: they import the optimizer (cvxpy), which a verify stopped by the digests never needs
    from rebalancer.prepare.build import prepare
    from rebalancer.report.build import figures

    args, options = recorded_request(manifest, scenario)
    request = prepare(*args, **options)
    scenario = request.scenario
    trades = read_written_trades(manifest["outputs"]["trades"]["path"])
    uni = request.universe
    unknown = sorted(set(trades["ticker"]) - set(uni.index))
    if unknown:
        report.bad(f"trades name securities the universe lacks: {', '.join(unknown[:5])}")
        return
    trades["price"] = uni.loc[trades["ticker"], "price"].to_numpy(float)
    lot_sales = _lot_sales(summary, request)
    # soft bands the proposal says it reaches over a path: measured as such
    over_path = summary.get("path", {}).get("reached_over_path", ())
    checks = request_checks(request, trades, lot_sales, over_path)
    report_checks(report, checks, summary.get("checks", []))
    # the headline figures of the JSON, recomputed from the trades CSV and the inputs
    trade = signed_shares(trades).reindex(uni.index, fill_value=0.0).to_numpy(float)
    measured = figures(request, trade, lot_sales)
    _remeasure_costs(report, trades, request)
    _request_columns(report, trades, summary.get("cash_request", {}))
    _remeasure_exposures(report, summary["exposures"], request, trade)
    _remeasure_stress(report, summary["stress"], request, trade)
    _remeasure_screened(report, summary["screened"], request)
    compare_figures(report, summary, measured, request.position.nav_usd)
    if "account_type" in summary:  # the inputs' and options' type, read again
        kind, said = measured.account_type, summary["account_type"]
        if said == kind:
            report.ok(f"JSON account_type = {said} matches the inputs")
        else:
            report.bad(f"JSON account_type = {said} but the inputs give {kind}")


def request_checks(request, trades: pd.DataFrame, lot_sales: pd.DataFrame, over_path=()):
    """Every limit of ``request``'s scenario measured on the written ``trades`` and the
    ``lot_sales`` they take (``checks.measure.run_checks``, the rows a proposal's Checks
    sheet has); ``over_path``: the soft bands measured as reached over a path."""
    from rebalancer.limits import LIMITS

    uni = request.universe
    return run_checks(
        lots=request.lots,
        universe=uni,
        scenario=request.scenario,
        reference=pd.Series(request.reference_weight, index=uni.index),
        risk=request.risk,
        trades=trades,
        lot_sales=lot_sales,
        taxable=request.tax.taxable,
        recent=request.tax.recent_trades,
        limits=LIMITS,
        over_path=over_path,
    )


def moved_shares(written: pd.Series, again: pd.Series) -> pd.Series:
    """|written − again| of two signed share counts by the same index (an order absent
    from one side counts as 0 there), only where they differ: a reproduction's test."""
    both = written.index.union(again.index)
    diff = (written.reindex(both, fill_value=0) - again.reindex(both, fill_value=0)).abs()
    return diff[diff > 0]


def report_checks(
    report: Verification, checks: pd.DataFrame, stated: list, label: str = ""
) -> None:
    """A line per re-measured Checks row: a failing row is a finding unless the JSON's
    ``stated`` rows report it failed too."""
    said = {c.get("check"): c for c in stated if isinstance(c, dict)}
    for row in checks.itertuples(index=False):
        text = f"{label}{row.check}: {row.value:.6g} against limit {row.limit}"
        if row.ok:
            report.ok(text)
        elif row.check in said and not said[row.check].get("ok"):
            report.ok(f"{text} — fails, as the proposal itself reports")
        else:
            report.bad(f"{text} — FAILS on the written trades ({row.detail})")


def compare_figures(
    report: Verification, summary: dict[str, Any], measured, nav_usd: float, label: str = "JSON"
) -> None:
    """The headline figures ``summary`` states (``FIGURES``, and ``LATER_FIGURES`` where
    it has them) against ``measured`` (``report.build.figures`` of the written trades),
    a line each: dollars to ``2 × usd_tol(nav_usd)``, fractions to 1e-9, counts exactly."""
    later = {key: attr for key, attr in LATER_FIGURES.items() if key in summary}
    for key, attr in (FIGURES | later).items():
        got, said = getattr(measured, attr), summary.get(key)
        tol = 2 * usd_tol(nav_usd) if attr.endswith("_usd") else _FIGURE_TOL.get(key, 0)
        if got != got:  # NaN: no cost basis to measure a gain from
            fine = said is None
        else:
            fine = isinstance(said, int | float) and abs(float(said) - got) <= tol
        if fine:
            report.ok(f"{label} {key} = {said} matches the trades CSV and the inputs")
        else:
            report.bad(f"{label} {key} = {said} but the trades CSV and the inputs give {got:.10g}")


FRACTION_TOL = 1e-9  # a weight or fraction of NAV recomputed from the same files


def _fraction_tol(value: float) -> float:
    return FRACTION_TOL * (1 + abs(value))


def _differences(
    report: Verification, what: str, compared: list[tuple[str, Any, Any, float]], ok: str
) -> None:
    """``compared``: (label, the JSON's value, the value recomputed, tolerance) each; a
    line for each of the first ``MAX_SHOWN`` that differ and how many more, else one
    ``ok`` line. None recomputed: the JSON must say null."""
    bad = []
    for label, said, got, tol in compared:
        if got is None:
            fine = said is None
        else:
            number = isinstance(said, int | float) and not isinstance(said, bool)
            fine = number and abs(float(said) - got) <= tol
        if not fine:
            shown = "(missing)" if said is ABSENT else json.dumps(said)[:40]
            bad.append(f"{label} = {shown} but the trades CSV and the inputs give {got}")
    for line in bad[:MAX_SHOWN]:
        report.bad(f"JSON {what} {line}")
    if len(bad) > MAX_SHOWN:
        report.bad(f"JSON {what}: ... and {len(bad) - MAX_SHOWN} more differ")
    if not bad:
        report.ok(ok)


MAX_SHOWN = 5  # differing values named, per part of the JSON


def _remeasure_exposures(report: Verification, stated: dict, request, trade: np.ndarray) -> None:
    """Each group's active exposure the JSON states, recomputed: Σ over the group's
    names of (weight − reference weight), before and after the written trades
    (weight = shares × price / NAV), and its tilt's target (null for a group without
    one). Every tilted group must be stated."""
    uni, tilts = request.universe, request.scenario.tilts
    price, nav, ref = request.position.price_usd, request.position.nav_usd, request.reference_weight
    active = {
        "before": request.position.shares * price / nav - ref,
        "after": (request.position.shares + trade) * price / nav - ref,
    }
    missing = [text for text in tilts if text not in stated["after"]]
    if missing:
        report.bad(f"JSON exposures: no entry for the tilted group(s) {', '.join(missing[:5])}")
    compared = []
    groups = sorted(set().union(*(stated[kind].keys() for kind in ("before", "after", "target"))))
    for text in groups:
        members = _members(text, uni)
        if members is None:
            report.bad(f"JSON exposures {text[:60]}: not a group of this universe")
            continue
        for kind, weights in active.items():
            got = float(weights[members].sum())
            compared.append((f"{kind}[{text}]", stated[kind].get(text, ABSENT), got,
                             _fraction_tol(got)))  # fmt: skip
        target = tilts[text].target if text in tilts else None
        compared.append((f"target[{text}]", stated["target"].get(text, ABSENT), target, 0.0))
    _differences(
        report, "exposures", compared,
        f"JSON exposures of {len(groups)} groups, before and after, match the trades CSV and "
        "the inputs",
    )  # fmt: skip


def _members(text: str, universe: pd.DataFrame) -> np.ndarray | None:
    """The names of the group ``text`` names (None: no group of this universe). A
    sector is matched by name: its name may hold the ``&`` that joins selector terms."""
    sector = text.removeprefix("sector:")
    if sector != text and sector in set(universe["sector"]):
        return (universe["sector"] == sector).to_numpy()
    try:
        return np.asarray(match(parse_selector(text), universe))
    except SelectorSyntaxError:
        return None


def _remeasure_stress(report: Verification, stated: list, request, trade: np.ndarray) -> None:
    """Each stress test the JSON states, recomputed: P&L = Σ value × the shock's return
    per name (``stress.shock_returns``: the groups' returns added), on the holdings
    before and after the written trades, and as a fraction of NAV. The shocks must be
    the scenario's, in its order."""
    shocks, nav = request.scenario.shocks, request.position.nav_usd
    names = [row["shock"] for row in stated]
    if names != [shock.name for shock in shocks]:
        report.bad(
            f"JSON stress: shocks {json.dumps(names)[:80]} but the scenario has "
            f"{json.dumps([shock.name for shock in shocks])[:80]}"
        )
        return
    value = {
        "before": request.position.shares * request.position.price_usd,
        "after": (request.position.shares + trade) * request.position.price_usd,
    }
    compared = []
    for shock, row in zip(shocks, stated, strict=True):
        returns = shock_returns(request.universe, shock)
        for kind, held in value.items():
            pnl = float(held @ returns)
            compared.append((f"{shock.name} pnl_{kind}_usd", row.get(f"pnl_{kind}_usd", ABSENT),
                             pnl, 2 * usd_tol(nav)))  # fmt: skip
            compared.append((f"{shock.name} pct_{kind}", row.get(f"pct_{kind}", ABSENT),
                             pnl / nav, _fraction_tol(pnl / nav)))  # fmt: skip
    _differences(
        report, "stress", compared,
        f"JSON stress: the P&L of {len(shocks)} shock(s), before and after, matches the "
        "trades CSV and the inputs"
        if shocks
        else "JSON stress: none, as the scenario has no shocks",
    )  # fmt: skip


def _remeasure_screened(report: Verification, stated: list, request) -> None:
    """The names the JSON says a screen or ``no_buy`` kept from being bought: those the
    scenario's screens give on the re-read universe, each with the same values."""
    want = {(r.ticker, r.screen, r.values) for r in request.limits.screened.itertuples(index=False)}
    said = [(row.get("ticker"), row.get("screen"), row.get("values")) for row in stated]
    extra = [row for row in said if row not in want]
    lacking = sorted(want - set(said))
    if extra:
        report.bad(
            f"JSON screened: {len(extra)} entr(y/ies) no screen gives, e.g. {extra[0][0]} "
            f"({extra[0][1]})"
        )
    if lacking:
        report.bad(
            f"JSON screened: {len(lacking)} name(s) a screen keeps from being bought are "
            f"missing, e.g. {lacking[0][0]} ({lacking[0][1]})"
        )
    if len(said) != len(set(said)):
        report.bad("JSON screened: an entry is listed twice")
    if not (extra or lacking) and len(said) == len(set(said)):
        report.ok(f"JSON screened: the {len(said)} names the screens keep from buying")


def _remeasure_costs(report: Verification, trades: pd.DataFrame, request) -> None:
    """Each order's est_cost in the trades CSV against the cost model's price of its
    notional (the one model the optimizer and the proposal use)."""
    if not len(trades) or "est_cost" not in trades:
        return
    where = request.universe.index.get_indexer(trades["ticker"])
    notional = trades["quantity"].to_numpy(float) * request.position.price_usd[where]
    per_name = np.zeros(len(request.position.price_usd))
    per_name[where] = notional
    model = request.cost.cost_usd(per_name)[where]
    written = pd.to_numeric(trades["est_cost"], errors="coerce").to_numpy(float)
    gap = np.abs(written - model)
    bad = ~(gap <= usd_tol(model))  # a NaN written is bad too
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        report.bad(
            f"trades CSV est_cost of {trades['ticker'].iloc[i]} is {written[i]:.10g} but the "
            f"cost model gives {model[i]:.10g} ({int(bad.sum())} order(s) differ)"
        )
    else:
        report.ok(f"trades CSV est_cost of each of the {len(trades)} orders matches the cost model")


def _request_columns(report: Verification, trades: pd.DataFrame, cash_request: dict) -> None:
    """The trades CSV's cash request and mode columns: on every row, the JSON's."""
    want = request_cells(cash_request)
    missing = [c for c in REQUEST_COLUMNS if c not in trades]
    if missing:
        report.bad(f"trades CSV lacks the columns {', '.join(missing)}")
        return
    wrong = [
        c for c in REQUEST_COLUMNS if not all(_same_cell(v, want[c]) for v in trades[c].tolist())
    ]
    if wrong:
        report.bad(
            f"trades CSV {', '.join(wrong)} not the JSON's cash request "
            f"{json.dumps(cash_request)[:80]} on every row"
        )
    else:
        report.ok("trades CSV mode, withdraw_usd and deposit_usd are the JSON's cash request")


def _same_cell(value, want) -> bool:
    if isinstance(want, float):
        try:
            return abs(float(value) - want) <= usd_tol(want)
        except (TypeError, ValueError):
            return False
    return str(value) == want


def _lot_sales(summary: dict[str, Any], request) -> pd.DataFrame:
    """The lot sales the JSON states, with gains and terms recomputed from the lots."""
    columns = ["ticker", "lot_id", "quantity_sold", "realized_gain_usd", "term"]
    sales = pd.DataFrame(summary.get("lot_sales") or [], columns=columns[:3])
    if sales.empty:
        return pd.DataFrame(columns=columns)
    lots = request.lots.assign(lot_id=request.lots["lot_id"].astype(str)).set_index("lot_id")
    lot = lots.reindex(sales["lot_id"].astype(str))
    price = request.universe["price"].reindex(sales["ticker"]).to_numpy(float)
    basis = lot["cost_basis"].to_numpy(float) / lot["quantity"].to_numpy(float)
    q = sales["quantity_sold"].to_numpy(float)
    sales["realized_gain_usd"] = q * (price - basis)
    acquired = pd.to_datetime(lot["acquired"]).to_numpy()
    long_term = np.asarray(is_long_term(pd.Series(acquired), pd.Timestamp(request.as_of)))
    sales["term"] = np.where(pd.isna(acquired), "", np.where(long_term, "LT", "ST"))
    return sales
