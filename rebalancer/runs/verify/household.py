"""``verify`` of a household's JSON (``propose --household``): against the manifest it
carries (``household.export.household_manifest``), are the inputs and outputs still the
files the proposal was made from, is the recorded scenario its file's (up to what
``--shock`` added and ``--relax`` moved, as recorded), and do the limits hold on the
written trades, re-measured against the re-read inputs:

- each account's own limits (``checks.measure.run_checks`` under its account scenario:
  cash, restrictions, trade mode, lots and taxes, turnover, the money invariants — no
  short, no sale beyond the holding, notional = quantity × price) and its headline
  figures (``runs.verify.measure.compare_figures``);
- the household's limits on the summed written orders (``household.build.
  household_checks``: liquidity, position, active-position and sector caps, tracking
  error, tilt bands, no wash sale across the household), its exposures after, its
  income tax a year before and after and what it saves, and where its income-heavy
  names are held (``household.build.asset_location``).

A row the JSON itself reports as failed is a finding only where it fails on the
written trades and the JSON says it passed. ``reproduce``: the household solved again
from the recorded inputs and effective scenario (a relaxed one as recorded, not
relaxed anew), its orders compared share for share per account.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.checks.measure import signed_shares, usd_tol
from rebalancer.errors import InputError, RebalancerError
from rebalancer.export.csvout import read_written_trades
from rebalancer.runs.verify.findings import Verification
from rebalancer.runs.verify.measure import moved_shares


def verify_household(path: Path, summary: dict[str, Any], reproduce: bool) -> Verification:
    """The findings of ``verify`` on the household JSON ``summary`` read from ``path``
    (module docstring). Raises ``InputError`` when it carries no manifest."""
    from rebalancer.runs.verify import _digests, _same_version
    from rebalancer.runs.verify.scenario import built_scenario

    manifest = summary.get("manifest")
    if not isinstance(manifest, dict) or "household" not in manifest:
        raise InputError(
            path,
            "no manifest in this household's JSON summary (written before one was: propose again)",
        )
    report = Verification(str(path))
    if not _same_version(report, manifest):
        return report
    recorded = built_scenario(report, manifest)
    if recorded is None:
        return report
    _digests(report, summary, manifest)
    if not report.passed:
        return report  # re-measuring against changed files would prove nothing
    _as_in_its_file(report, manifest, recorded)
    if "trades" not in manifest["outputs"]:
        report.bad("no trades CSV was written with this proposal: nothing to re-measure")
    if not report.passed:
        return report
    household = _recorded_household(report, manifest, recorded)
    if household is None:
        return report
    _remeasure(report, summary, manifest, household)
    if reproduce and report.passed:
        _reproduce(report, manifest, household)
    return report


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """A scenario's data as dotted key -> leaf value."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _as_in_its_file(report: Verification, manifest: dict[str, Any], recorded) -> None:
    """The recorded scenario is the one its file gives, but for the stress tests
    ``--shock`` added after the file's and the settings ``--relax`` moved (recorded)."""
    from rebalancer.scenario import load_scenario

    where = manifest["inputs"]["scenario"]["path"]
    try:
        from_file = load_scenario(where).to_data()
    except RebalancerError as exc:
        report.bad(f"input scenario: {exc}")
        return
    said = recorded.to_data()
    shocks, said_shocks = from_file.pop("shocks"), said.pop("shocks")
    if said_shocks[: len(shocks)] != shocks:
        report.bad("manifest scenario: its stress tests are not its file's, then --shock's")
    moved = tuple(str(r.get("key", "")) for r in manifest["relaxed"] if isinstance(r, dict))
    a, b = _flat(from_file), _flat(said)
    differ = sorted(
        key
        for key in set(a) | set(b)
        if a.get(key) != b.get(key) and not key.startswith(moved or ("\0",))
        and key != "name"
    )  # fmt: skip
    if differ:
        report.bad(f"manifest scenario: {differ[0]} is not its file's ({where}), nor relaxed")
    else:
        report.ok(f"manifest scenario: its file's ({where}), as --shock and --relax recorded")


def _recorded_household(report: Verification, manifest: dict[str, Any], scenario):
    """The household prepared again from the recorded inputs under the recorded
    effective scenario (None, with a line, when its inputs no longer make one)."""
    from rebalancer.household.request import prepare_household
    from rebalancer.runs.verify.recorded import _read_inputs

    recorded = tuple(
        (role, entry["path"], entry.get("sha256"))
        for role, entry in sorted(manifest["inputs"].items())
        if role != "scenario"
    )
    try:
        data, spoilt = _read_inputs(recorded)
        for account in manifest["accounts"]:
            if account in spoilt:
                raise spoilt[account]
        household = prepare_household(data, scenario, manifest["household"], manifest["as_of"])
    except RebalancerError as exc:
        report.bad(f"the recorded inputs: {exc}")
        return None
    if household.accounts != list(manifest["accounts"]):
        report.bad(
            f"household {household.name}: the accounts file gives {household.accounts}, "
            f"the manifest {manifest['accounts']}"
        )
        return None
    return household


def _remeasure(report: Verification, summary, manifest, household) -> None:
    from rebalancer.household.build import asset_location, household_checks, shares_after
    from rebalancer.report.build import figures
    from rebalancer.report.frames import exposures_frame
    from rebalancer.runs.verify.measure import (
        _lot_sales,
        compare_figures,
        report_checks,
        request_checks,
    )

    trades = read_written_trades(manifest["outputs"]["trades"]["path"])
    uni = household.view.universe
    unknown = sorted(set(trades["ticker"]) - set(uni.index))
    strangers = sorted(set(trades.get("account", pd.Series(dtype=str))) - set(household.accounts))
    if unknown or strangers or "account" not in trades:
        what = unknown[:5] or strangers[:5] or ["(no account column)"]
        report.bad(f"trades name securities or accounts the inputs lack: {', '.join(what)}")
        return
    trades["price"] = uni.loc[trades["ticker"], "price"].to_numpy(float)
    stated = {a.get("account"): a for a in summary.get("accounts", []) if isinstance(a, dict)}
    mine, sales, afters, measured = [], [], [], []
    for request in household.requests:
        account = request.account
        own = stated.get(account)
        if own is None:
            report.bad(f"{account}: no summary of it in the JSON's accounts")
            return
        t = trades[trades["account"] == account].reset_index(drop=True)
        lot_sales = _lot_sales(own, request)
        checks = request_checks(request, t, lot_sales)
        report_checks(report, checks, own.get("checks", []), f"{account}: ")
        q = signed_shares(t).reindex(uni.index, fill_value=0.0).to_numpy(float)
        m = figures(request, q, lot_sales)
        compare_figures(report, own, m, request.position.nav_usd, label=f"{account}: JSON")
        mine.append(t)
        sales.append(lot_sales)
        afters.append(shares_after(request, t))
        measured.append(m)
    said = summary["household"]
    checks, w_after = household_checks(household, mine, sales)
    report_checks(report, checks, said.get("checks", []), "household: ")
    tol = 2 * usd_tol(household.nav_usd)
    before = sum(m.income_tax_before_usd for m in measured)
    after = sum(m.income_tax_usd for m in measured)
    location = asset_location(household, afters).summary()
    pairs = [
        ("income_tax_before", said.get("income_tax_before"), before, tol),
        ("income_tax", said.get("income_tax"), after, tol),
        ("income_tax_saved", said.get("income_tax_saved"), before - after, tol),
    ]
    stated_location = said.get("location") or {}
    for key in ("sheltered_before", "sheltered_after", "income_heavy_yield"):
        pairs.append((f"location.{key}", stated_location.get(key), location[key], 1e-9))
    exposures = exposures_frame(
        uni,
        household.scenario,
        household.weight,
        w_after,
        household.reference_weight,
        w_after,
    )
    for group, value in exposures["after"].items():
        got = said.get("exposures", {}).get("after", {}).get(str(group))
        pairs.append((f"exposures.after.{group}", got, float(value), 1e-9))
    for key, got, want, tolerance in pairs:
        if want is None or want != want:
            fine = got is None
        else:
            fine = isinstance(got, int | float) and abs(float(got) - want) <= tolerance
        if fine:
            report.ok(f"household: JSON {key} = {got} matches the trades CSV and the inputs")
        else:
            report.bad(
                f"household: JSON {key} = {got} but the trades CSV and the inputs give {want}"
            )


def _reproduce(report: Verification, manifest: dict[str, Any], household) -> None:
    """The household proposed again (``household.build.propose_household``); its orders
    against the written ones, per account and security, share for share."""
    from rebalancer.household.build import propose_household
    from rebalancer.prepare.blas import one_blas_thread

    with one_blas_thread():
        again = propose_household(household)
    written = read_written_trades(manifest["outputs"]["trades"]["path"])

    def by_account(frame: pd.DataFrame) -> pd.Series:
        sign = np.where(frame["side"] == "BUY", 1.0, -1.0) * frame["quantity"].to_numpy(float)
        keys = pd.MultiIndex.from_arrays([frame["account"].astype(str), frame["ticker"]])
        return pd.Series(sign, index=keys).groupby(level=[0, 1]).sum()

    old, new = by_account(written), by_account(again.trades)
    moved = moved_shares(old, new)
    if moved.empty:
        report.ok(f"reproduced: the same {len(written)} orders, share for share")
    else:
        (account, ticker), by = moved.index[0], moved.iloc[0]
        report.bad(
            f"reproduced with {len(moved)} order(s) differing (e.g. {account} {ticker} by "
            f"{by:g} shares): solver or library versions may differ"
        )
