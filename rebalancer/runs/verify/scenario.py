"""The scenario a proposal recorded, explained: re-read from its file, it must give
the effective scenario the JSON carries, up to what ``--shock``, ``--relax``, a book's
cash target and the cash request and mode moved — each difference explained, or a
problem named."""

from __future__ import annotations

import copy
import json
from typing import Any

import pandas as pd

from rebalancer.errors import RebalancerError
from rebalancer.inputs.readers import read_accounts
from rebalancer.limits.cash_request import deposited, request_of
from rebalancer.runs.verify.findings import ABSENT, Verification
from rebalancer.runs.verify.recorded import recorded_inputs
from rebalancer.scenario import load_scenario
from rebalancer.scenario.schema import Problems, build

MAX_LINES = 50  # of the recorded scenario's problems


def built_scenario(report: Verification, manifest: dict[str, Any]):
    """The scenario the manifest records, through the scenario schema (None, with a
    line per problem, when it does not pass)."""
    problems = Problems("manifest scenario")
    recorded = build(manifest["scenario"], "manifest scenario", problems)
    for problem in problems.items[:MAX_LINES]:
        report.bad(str(problem))
    return None if problems.items else recorded


def recorded_scenario(
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
        in_file, in_json = flat_file.get(key, ABSENT), flat_json.get(key, ABSENT)
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
        inputs = recorded_inputs(manifest)
        lots = deposited(inputs.lots_of(manifest["account"]), asked)
        adjusted = requested(lots, inputs.sized(asked), asked)[0]
    except RebalancerError as exc:
        report.bad(f"cash request {json.dumps(request_of(recorded))[:80]}: {exc}")
        return None
    flat_adjusted, flat_json = _flat(_unshocked(adjusted)), _flat(_unshocked(recorded))
    for key in sorted(flat_adjusted.keys() | flat_json.keys()):
        got, said = flat_adjusted.get(key, ABSENT), flat_json.get(key, ABSENT)
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
    return "(not set)" if value is ABSENT else json.dumps(value, default=str)[:60]


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
