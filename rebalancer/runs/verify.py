"""``verify``: re-check a written proposal against the audit manifest its JSON summary
carries (written by ``rebalancer.export.manifest``: the digests of the inputs, of the
effective scenario and of the outputs, the options and versions). Are the inputs and
outputs still the files the proposal was made from, and does every limit still hold
when the written trades are re-measured against those inputs; with ``reproduce``,
does the proposal come out the same when run again.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.checks.measure import run_checks, signed_shares, usd_tol
from rebalancer.errors import InputError, RebalancerError
from rebalancer.export.csvout import read_written_trades
from rebalancer.export.manifest import (
    MANIFEST_VERSION,
    hash_stream,
    scenario_digest,
    summary_digest,
)
from rebalancer.inputs import read_holdings_by_account, read_universe
from rebalancer.inputs.readers import read_accounts
from rebalancer.limits.cash_request import REQUEST_COLUMNS, deposited, request_cells, request_of
from rebalancer.model.stress import shock_returns
from rebalancer.model.tax import is_long_term
from rebalancer.runs.verify_schema import open_regular, read_summary, shape_problems
from rebalancer.scenario import load_scenario
from rebalancer.scenario.schema import Problems, build
from rebalancer.scenario.selectors import SelectorSyntaxError, match, parse_selector


@dataclass
class Verification:
    """What ``verify`` found: one line per finding, and whether all is well."""

    path: str
    findings: list[tuple[bool, str]] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.findings.append((True, text))

    def bad(self, text: str) -> None:
        self.findings.append((False, text))

    @property
    def passed(self) -> bool:
        return all(good for good, _ in self.findings)

    @property
    def problems(self) -> list[str]:
        return [text for good, text in self.findings if not good]


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
_FIGURE_TOL = {"n_trades": 0} | {
    key: 1e-9 for key, attr in FIGURES.items() if not attr.endswith("_usd") and key != "n_trades"
}
MAX_LINES = 50  # of the recorded scenario's problems
_ABSENT = object()  # a setting one scenario has and the other lacks


def verify(json_path: str | os.PathLike[str], *, reproduce: bool = False) -> Verification:
    """Re-check a written proposal against its inputs (see the module docstring).

    In order, each step trusting only what the steps before it checked: the JSON's
    shape (``rebalancer.runs.verify_schema``), its own digest, the effective scenario's
    digest, the digest of every input and output file, the scenario re-read from its
    recorded file (it must give the effective scenario, up to what ``--shock``,
    ``--relax``, a book's cash target and the cash request and mode recorded), then
    every limit re-measured on the written trades against the re-read inputs and that
    scenario, and the JSON's
    headline figures, exposures, stress results and screened names recomputed from
    them (each to a tolerance scaled to it: dollars to half a cent plus a float's
    worth, fractions of NAV to 1e-9 relative).

    Raises ``InputError`` when the JSON itself cannot be used (not a regular file,
    too large, not strict JSON, no manifest); every other finding is a line of the
    returned ``Verification``.
    """
    path = Path(json_path)
    summary = read_summary(path)
    manifest = summary.get("manifest")
    if not isinstance(manifest, dict) or "inputs" not in manifest:
        raise InputError(
            path, "no manifest in this JSON summary (not written by rebalancer propose?)"
        )
    report = Verification(str(path))
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        report.bad(
            f"manifest version {str(manifest.get('manifest_version'))[:20]} is not "
            f"{MANIFEST_VERSION}: written by another rebalancer version (propose again)"
        )
        return report
    for problem in shape_problems(summary):
        report.bad(problem)
    recorded = _built_scenario(report, manifest) if report.passed else None
    if recorded is None:
        return report
    _digests(report, summary, manifest)
    if not report.passed:
        return report  # re-measuring against changed files would prove nothing
    scenarios = _recorded_scenario(report, summary, manifest, recorded)
    if scenarios is None:
        return report
    if "trades" not in manifest["outputs"]:
        report.bad("no trades CSV was written with this proposal: nothing to re-measure")
        return report
    _remeasure(report, summary, manifest, scenarios[0])
    if reproduce and report.passed:
        _reproduce(report, manifest, summary.get("cash_request", {}), *scenarios)
    return report


def _digests(report: Verification, summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    """The summary's own digest, the effective scenario's, and every recorded file's."""
    if summary_digest(summary) != manifest["summary_sha256"]:
        report.bad("the JSON summary was edited after it was written (its SHA-256 differs)")
        return
    report.ok("JSON summary unchanged since it was written")
    try:
        scenario_sha256 = scenario_digest(manifest["scenario"])
    except (TypeError, ValueError):  # not JSON-able: cannot be what was written
        scenario_sha256 = None
    if scenario_sha256 != manifest["scenario_sha256"]:
        report.bad("manifest scenario: differs from its recorded SHA-256")
    model = manifest.get("book_model")
    if model and model["scenario"] != manifest["inputs"]["scenario"]["path"]:
        report.bad("manifest book_model: its scenario is not the recorded input scenario")
    _same_files(report, manifest["inputs"], "input")
    _same_files(report, manifest["outputs"], "output")


def _same_files(report: Verification, files: dict[str, Any], kind: str) -> None:
    for role, entry in files.items():
        where = entry["path"]
        if entry["sha256"] is None:
            report.bad(f"{kind} {role}: passed in memory, no file to re-check it against")
            continue
        try:
            now = _checked_digest(where, entry["bytes"])
        except InputError as exc:
            report.bad(f"{kind} {role}: {exc}")
            continue
        if now is None:
            report.bad(f"{kind} {role}: {where} has changed since the proposal (size differs)")
        elif now != entry["sha256"]:
            report.bad(f"{kind} {role}: {where} has changed since the proposal (SHA-256 differs)")
        else:
            report.ok(f"{kind} {role}: {where} unchanged (sha256 {now[:12]}…)")


def _checked_digest(path: str, size: int) -> str | None:
    """The SHA-256 of the regular file ``path``, or None when its size is not ``size``
    (then it is not read at all). Raises ``InputError`` for a missing or special file."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        if os.fstat(fh.fileno()).st_size != size:
            return None
        return hash_stream(fh)


def _built_scenario(report: Verification, manifest: dict[str, Any]):
    """The scenario the manifest records, through the scenario schema (None, with a
    line per problem, when it does not pass)."""
    problems = Problems("manifest scenario")
    recorded = build(manifest["scenario"], "manifest scenario", problems)
    for problem in problems.items[:MAX_LINES]:
        report.bad(str(problem))
    return None if problems.items else recorded


def _recorded_scenario(
    report: Verification, summary: dict[str, Any], manifest: dict[str, Any], recorded
):
    """The effective scenario, re-read from the recorded scenario file (its digest
    checked already) through ``extends``. The scenario the proposal recorded must be
    that one, but for what options change and the manifest records: stress tests
    added by ``--shock`` (after the file's own), the settings ``--relax`` moved (from
    the file's value to the recorded one), in a book, the cash target the accounts
    file gives the account (the cash floor pulled down to it), and the account's
    cash request and mode (``_requested``). Returns the scenario to give ``prepare``
    (the recorded one, or before the request's adjustment when it has one) and the
    one before ``--relax`` when it is so, else None with each difference reported."""
    where = manifest["inputs"]["scenario"]["path"]
    try:
        from_file = load_scenario(where)
    except RebalancerError as exc:
        report.bad(f"input scenario: {exc}")
        return None
    file_data, json_data = from_file.to_data(), recorded.to_data()
    file_shocks, json_shocks = file_data.pop("shocks"), json_data.pop("shocks")
    if json_shocks[: len(file_shocks)] != file_shocks:
        report.bad(f"scenario shocks: the stress tests of {where} are not those recorded")
    explained = _Explained(manifest)
    flat_file, flat_json = _flat(file_data), _flat(json_data)
    stated = summary.get("cash_request", {})
    # the mode asked for is the JSON's alone (the scenario holds the side cash-only
    # resolved to): ``_requested`` resolves it again from the recorded inputs
    request = request_of(recorded, stated.get("mode_asked"))
    if stated != request:  # the JSON's (absent without one) and the scenario's
        report.bad(
            f"JSON cash_request {json.dumps(stated)[:80]} is not the recorded scenario's "
            f"cash request {json.dumps(request)[:80]}"
        )
        return None
    asked = None  # the scenario before the request's adjustment (``prepare`` makes it)
    if request:
        asked = _requested(report, manifest, recorded, file_data, explained, request)
        if asked is None:
            return None
    for key in sorted(flat_file.keys() | flat_json.keys()):
        in_file, in_json = flat_file.get(key, _ABSENT), flat_json.get(key, _ABSENT)
        if in_file == in_json:
            continue
        if asked is not None and key in REQUEST_KEYS:  # each as ``_requested`` recomputed it
            by = "--relax and the " if key in explained.relaxed else "the "
            report.ok(
                f"scenario {key}: {_shown(in_file)} -> {_shown(in_json)} (moved by {by}"
                "cash request / mode, as recorded)"
            )
            continue
        why = explained(key, in_file, in_json)
        if why:
            report.ok(f"scenario {key}: {_shown(in_file)} -> {_shown(in_json)} ({why})")
        else:
            report.bad(
                f"scenario {key}: {_shown(in_file)} in {where} but {_shown(in_json)} in the "
                "proposal (not a recorded --relax or cash target)"
            )
    if not report.passed:
        return None
    extra = [shock["name"] for shock in json_shocks[len(file_shocks) :]]
    more = f", with the stress tests of --shock {', '.join(extra)}" if extra else ""
    report.ok(f"scenario: the limits are those of {where}{more}")
    unrelaxed = dict(file_data, shocks=json_shocks)
    if explained.book_cash_target or (asked is not None and explained.cash_target is not None):
        cash = unrelaxed["constraints"]["cash"]  # as batch or the accounts file set it
        cash.update(target=explained.cash_target, min=min(cash["min"], explained.cash_target))
    return (recorded if asked is None else asked), build(unrelaxed, where)


# the settings an account's cash request and mode set (the request's own) or move
# (``prepare.build.requested``): verify recomputes them rather than trust them
REQUEST_KEYS = {
    "constraints.cash.withdraw_usd", "constraints.cash.deposit_usd", "constraints.trade_mode",
    "constraints.cash.target", "constraints.cash.min", "constraints.max_turnover",
}  # fmt: skip


def _requested(report, manifest, recorded, file_data, explained, request):
    """A proposal made with a cash request or a mode (``request``, as its JSON
    records it): the scenario it asked for (the recorded one with the cash target,
    floor and turnover cap of the scenario file, moved as the accounts file's cash
    target and ``--relax`` recorded, and the mode asked for), and that
    scenario as ``prepare`` adjusts it (``prepare.build.requested``) on the NAV and
    cash recomputed from the recorded inputs. The recorded scenario must be that
    adjusted one: returns the scenario asked for, or None, with each difference
    reported, when it is not."""
    from rebalancer.prepare.build import requested  # late: it imports the optimizer

    where = manifest["inputs"]["scenario"]["path"]
    data = copy.deepcopy(recorded.to_data())
    file_cash, cash = file_data["constraints"]["cash"], data["constraints"]["cash"]
    before = {
        "constraints.cash.target": file_cash["target"],
        "constraints.cash.min": file_cash["min"],
        "constraints.max_turnover": file_data["constraints"].get("max_turnover"),
    }
    if explained.cash_target is not None:  # ``AccountTerms.scenario``, before --relax
        before["constraints.cash.target"] = explained.cash_target
        before["constraints.cash.min"] = min(file_cash["min"], explained.cash_target)
    for key in before:
        if key in explained.relaxed:
            before[key] = explained.relaxed[key][1]
    cash.update(target=before["constraints.cash.target"], min=before["constraints.cash.min"])
    data["constraints"]["max_turnover"] = before["constraints.max_turnover"]
    if request["mode_asked"] != request["mode"]:  # cash-only, resolved to a side
        data["constraints"]["trade_mode"] = request["mode_asked"]
    try:
        asked = build(data, where)
        inputs = _inputs(manifest)
        lots = deposited(inputs.lots_of(manifest["account"]), asked)
        adjusted = requested(lots, inputs.sized(asked), asked)[0]
    except RebalancerError as exc:
        report.bad(f"cash request {json.dumps(request_of(recorded))[:80]}: {exc}")
        return None
    flat_adjusted, flat_json = _flat(_unshocked(adjusted)), _flat(_unshocked(recorded))
    for key in sorted(flat_adjusted.keys() | flat_json.keys()):
        got, said = flat_adjusted.get(key, _ABSENT), flat_json.get(key, _ABSENT)
        if got != said:
            report.bad(
                f"scenario {key}: {_shown(said)} in the proposal but the recorded cash "
                f"request / mode gives {_shown(got)} from {where} and the recorded inputs"
            )
    return asked if report.passed else None


def _unshocked(scenario) -> dict[str, Any]:
    data = scenario.to_data()
    data.pop("shocks")
    return data


def _shown(value: Any) -> str:
    return "(not set)" if value is _ABSENT else json.dumps(value, default=str)[:60]


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"constraints.cash.min": 0.01, ...}`` (lists are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(_flat(value, where))
        else:
            flat[where] = value
    return flat


class _Explained:
    """Why a setting may differ between the scenario file and the proposal's scenario:
    the manifest's record of ``--relax`` and a book's cash target from its accounts file."""

    def __init__(self, manifest: dict[str, Any]):
        self.relaxed = {}
        for change in manifest["relaxed"]:
            moved = (change["limit"], change["relaxed_to"])
            # a per-group setting's relaxed default is its "default" in the scenario data
            self.relaxed[change["key"]] = self.relaxed[f"{change['key']}.default"] = moved
        self.cash_target = _book_cash_target(manifest)
        self.book_cash_target = False  # whether the proposal's cash target is that one

    def __call__(self, key: str, in_file: Any, in_json: Any) -> str | None:
        if key in self.relaxed and (in_file, in_json) == self.relaxed[key]:
            return "moved by --relax, as recorded"
        target_moved = "constraints.cash.target" in self.relaxed or self.cash_target is not None
        if key == "constraints.cash.target" and self.cash_target == in_json:
            self.book_cash_target = True
            return "the account's cash_target in the accounts file"
        if (
            key == "constraints.cash.min"
            and target_moved
            and _numbers(in_file, in_json)
            and in_json <= in_file
        ):
            return "pulled down with the cash target"
        return None


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _book_cash_target(manifest: dict[str, Any]) -> float | None:
    """The cash target the accounts file gives the proposal's account, if any."""
    entry = manifest["inputs"].get("accounts")
    if entry is None:
        return None
    accounts = read_accounts(entry["path"])
    row = accounts[accounts["account"] == manifest["account"]]
    if row.empty or pd.isna(row["cash_target"].iloc[0]):
        return None
    return float(row["cash_target"].iloc[0])


def _request(manifest: dict[str, Any], scenario):
    """The proposal's inputs, effective scenario (verified: ``_recorded_scenario``) and
    options, as recorded: the arguments of ``prepare`` and ``propose_account``."""
    data = _inputs(manifest)
    options = {"taxable": manifest["taxable"], "lot_method": manifest["lot_method"]}
    return (data, scenario, manifest["account"], manifest["as_of"]), options


def _inputs(manifest: dict[str, Any]):
    """The recorded input files, read (``_read_inputs``); the account's spoilt holdings
    rows raise their ``InputError``."""
    recorded = tuple(
        (role, entry["path"], entry.get("sha256"))
        for role, entry in sorted(manifest["inputs"].items())
        if role != "scenario"
    )
    data, spoilt = _read_inputs(recorded)
    if manifest["account"] in spoilt:
        raise spoilt[manifest["account"]]
    return data


@lru_cache(maxsize=2)
def _read_inputs(recorded: tuple[tuple[str, str, str | None], ...]):
    """(Inputs, the accounts whose holdings rows are spoilt) of the recorded input files
    — ``(role, path, sha256)``, checked unchanged before — read once per process for
    the same contents: a verify's re-measurement and its reproduction share one risk
    model, and so do the accounts of a book verified in one process."""
    # late: it imports the optimizer (cvxpy), which a verify stopped by the digests never needs
    from rebalancer.prepare.inputs import load_inputs

    files = {role: path for role, path, _ in recorded}
    # a book's holdings file: another account's bad row does not stop this one's check
    universe = read_universe(files["universe"])
    holdings, spoilt = read_holdings_by_account(files["holdings"], universe)
    data = load_inputs(
        holdings,
        universe,
        files.get("prices"),
        files.get("benchmark"),
        files.get("accounts"),
        files.get("trade_history"),
    )
    data.paths.update(holdings=files["holdings"], universe=files["universe"])
    return data, spoilt


def _remeasure(
    report: Verification, summary: dict[str, Any], manifest: dict[str, Any], scenario
) -> None:
    # late: they import the optimizer (cvxpy), which a verify stopped by the digests never needs
    from rebalancer.limits import LIMITS
    from rebalancer.prepare.build import prepare
    from rebalancer.report.build import figures

    args, options = _request(manifest, scenario)
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
    checks = run_checks(
        lots=request.lots,
        universe=uni,
        scenario=scenario,
        reference=pd.Series(request.reference_weight, index=uni.index),
        risk=request.risk,
        trades=trades,
        lot_sales=lot_sales,
        taxable=request.tax.taxable,
        recent=request.tax.recent_trades,
        limits=LIMITS,
        # soft bands the proposal says it reaches over a path: measured as such
        over_path=summary.get("path", {}).get("reached_over_path", ()),
    )
    stated = {c["check"]: c for c in summary.get("checks", [])}
    for row in checks.itertuples(index=False):
        text = f"{row.check}: {row.value:.6g} against limit {row.limit}"
        if row.ok:
            report.ok(text)
        elif row.check in stated and not stated[row.check]["ok"]:
            report.ok(f"{text} — fails, as the proposal itself reports")
        else:
            report.bad(f"{text} — FAILS on the written trades ({row.detail})")
    # the headline figures of the JSON, recomputed from the trades CSV and the inputs
    trade = signed_shares(trades).reindex(uni.index, fill_value=0.0).to_numpy(float)
    measured = figures(request, trade, lot_sales)
    _remeasure_costs(report, trades, request)
    _request_columns(report, trades, summary.get("cash_request", {}))
    _remeasure_exposures(report, summary["exposures"], request, trade)
    _remeasure_stress(report, summary["stress"], request, trade)
    _remeasure_screened(report, summary["screened"], request)
    for key, attr in FIGURES.items():
        got, said = getattr(measured, attr), summary.get(key)
        tol = (
            2 * usd_tol(request.position.nav_usd)
            if attr.endswith("_usd")
            else _FIGURE_TOL.get(key, 0)
        )
        if got != got:  # NaN: no cost basis to measure a gain from
            fine = said is None
        else:
            fine = isinstance(said, int | float) and abs(float(said) - got) <= tol
        if fine:
            report.ok(f"JSON {key} = {said} matches the trades CSV and the inputs")
        else:
            report.bad(f"JSON {key} = {said} but the trades CSV and the inputs give {got:.10g}")


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
            shown = "(missing)" if said is _ABSENT else json.dumps(said)[:40]
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
            compared.append((f"{kind}[{text}]", stated[kind].get(text, _ABSENT), got,
                             _fraction_tol(got)))  # fmt: skip
        target = tilts[text].target if text in tilts else None
        compared.append((f"target[{text}]", stated["target"].get(text, _ABSENT), target, 0.0))
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
            compared.append((f"{shock.name} pnl_{kind}_usd", row.get(f"pnl_{kind}_usd", _ABSENT),
                             pnl, 2 * usd_tol(nav)))  # fmt: skip
            compared.append((f"{shock.name} pct_{kind}", row.get(f"pct_{kind}", _ABSENT),
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


def _reproduce(
    report: Verification, manifest: dict[str, Any], cash_request: dict, scenario, unrelaxed
) -> None:
    """Run the proposal again from its inputs and compare the orders. A relaxed
    proposal is run again from the scenario before ``--relax``, relaxing it anew: a
    recorded relaxation that was not needed shows as different orders."""
    # late: it imports the optimizer (cvxpy), which a verify stopped by the digests never needs
    from rebalancer.pipeline import propose_account

    relax = bool(manifest["relaxed"])
    args, options = _request(manifest, unrelaxed if relax else scenario)
    options["relax"] = relax
    # the cash target as recorded (the account's, or the file's that --relax moves
    # anew); a book's account is re-solved as a proposal: every path gives an account
    # the same orders (``solve.final.final_set``), so this also checks the book's
    options["cash_target"] = args[1].constraints.cash.target
    # the cash request and mode as recorded (verified: ``_requested``), over the
    # accounts file's; ``prepare`` adjusts the scenario to them anew
    recorded = manifest["scenario"]["constraints"]
    asked = {
        "withdraw_usd": recorded["cash"].get("withdraw_usd"),
        "deposit_usd": recorded["cash"].get("deposit_usd"),
        "mode": recorded.get("trade_mode"),
    }
    if cash_request.get("mode_asked", asked["mode"]) != cash_request.get("mode", asked["mode"]):
        asked["mode"] = cash_request["mode_asked"]  # cash-only: resolved to its side anew
    options.update({key: value for key, value in asked.items() if value is not None})
    again = propose_account(*args, **options)
    written = signed_shares(read_written_trades(manifest["outputs"]["trades"]["path"]))
    now = signed_shares(again.trades)
    both = written.index.union(now.index)
    diff = (written.reindex(both, fill_value=0) - now.reindex(both, fill_value=0)).abs()
    moved = diff[diff > 0]
    if moved.empty:
        report.ok(f"reproduced: the same {len(written)} orders, share for share")
    else:
        report.bad(
            f"reproduced with {len(moved)} order(s) differing (e.g. {moved.index[0]} by "
            f"{moved.iloc[0]:g} shares): solver or library versions may differ"
        )
