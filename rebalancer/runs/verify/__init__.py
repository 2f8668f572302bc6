"""``verify``: re-check a written proposal against the audit manifest its JSON summary
carries (written by ``rebalancer.export.manifest``: the digests of the inputs, of the
effective scenario and of the outputs, the options and versions). Are the inputs and
outputs still the files the proposal was made from, and does every limit still hold
when the written trades are re-measured against those inputs; with ``reproduce``,
does the proposal come out the same when run again.

Its parts, in the order ``verify`` uses them: ``schema`` (the JSON's shape),
``scenario`` (the recorded scenario explained against its file), ``recorded`` (the
inputs and request read again), ``measure`` (every limit and figure re-measured from
the written trades), ``findings`` (what it found, line by line).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rebalancer.checks.measure import signed_shares
from rebalancer.errors import InputError
from rebalancer.export.csvout import read_written_trades
from rebalancer.export.manifest import (
    MANIFEST_VERSION,
    hash_stream,
    scenario_digest,
    summary_digest,
)
from rebalancer.runs.verify.findings import Verification
from rebalancer.runs.verify.measure import moved_shares, remeasure
from rebalancer.runs.verify.recorded import recorded_request
from rebalancer.runs.verify.scenario import built_scenario, recorded_scenario
from rebalancer.runs.verify.schema import open_regular, read_summary, shape_problems


def verify(json_path: str | os.PathLike[str], *, reproduce: bool = False) -> Verification:
    """Re-check a written proposal against its inputs (see the module docstring).

    In order, each step trusting only what the steps before it checked: the JSON's
    shape (``rebalancer.runs.verify.schema``), its own digest, the effective scenario's
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
    if isinstance(summary.get("household"), dict):
        # late: it imports the optimizer (cvxpy), as the re-measurement does
        from rebalancer.runs.verify.household import verify_household

        return verify_household(path, summary, reproduce)
    if not isinstance(manifest, dict) or "inputs" not in manifest:
        raise InputError(
            path, "no manifest in this JSON summary (not written by rebalancer propose?)"
        )
    report = Verification(str(path))
    if not _same_version(report, manifest):
        return report
    for problem in shape_problems(summary):
        report.bad(problem)
    recorded = built_scenario(report, manifest) if report.passed else None
    if recorded is None:
        return report
    _digests(report, summary, manifest)
    if not report.passed:
        return report  # re-measuring against changed files would prove nothing
    scenarios = recorded_scenario(report, summary, manifest, recorded)
    if scenarios is None:
        return report
    if "trades" not in manifest["outputs"]:
        report.bad("no trades CSV was written with this proposal: nothing to re-measure")
        return report
    remeasure(report, summary, manifest, scenarios[0])
    if reproduce and report.passed:
        _reproduce(report, manifest, summary.get("cash_request", {}), *scenarios)
    return report


def _same_version(report: Verification, manifest: dict[str, Any]) -> bool:
    """Whether the manifest is of this ``MANIFEST_VERSION`` (else a line says so)."""
    if manifest.get("manifest_version") == MANIFEST_VERSION:
        return True
    report.bad(
        f"manifest version {str(manifest.get('manifest_version'))[:20]} is not "
        f"{MANIFEST_VERSION}: written by another rebalancer version (propose again)"
    )
    return False


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


def _reproduce(
    report: Verification, manifest: dict[str, Any], cash_request: dict, scenario, unrelaxed
) -> None:
    """Run the proposal again from its inputs and compare the orders. A relaxed
    proposal is run again from the scenario before ``--relax``, relaxing it anew: a
    recorded relaxation that was not needed shows as different orders."""
    # late: it imports the optimizer (cvxpy), which a verify stopped by the digests never needs
    from rebalancer.pipeline import propose_account

    relax = bool(manifest["relaxed"])
    args, options = recorded_request(manifest, unrelaxed if relax else scenario)
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
    moved = moved_shares(written, now)
    if moved.empty:
        report.ok(f"reproduced: the same {len(written)} orders, share for share")
    else:
        report.bad(
            f"reproduced with {len(moved)} order(s) differing (e.g. {moved.index[0]} by "
            f"{moved.iloc[0]:g} shares): solver or library versions may differ"
        )
