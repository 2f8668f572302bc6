"""The audit trail: a manifest in every JSON summary, and ``verify`` to re-check it.

The manifest records what a proposal was made from and with: the program's and
the solver stack's versions, the SHA-256 of every input file and of the effective
scenario (after ``extends``, ``--shock`` and ``--relax``), the options that change
the answer (account, as-of date, tax status, lot method), the solver and its
status, the timings, and the SHA-256 of the trades CSV and workbook written beside
the JSON. ``verify`` uses it later: are the inputs and outputs still the files the
proposal was made from, and does every limit still hold when the written trades
are re-measured against those inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.errors import InputError

MANIFEST_VERSION = 1
_PACKAGES = ("cvxpy", "clarabel", "scs", "numpy", "pandas", "scipy", "pypfopt", "openpyxl")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{path, sha256, bytes}`` of a file (cached by path, size and modification time,
    so a book's shared files are hashed once per process)."""
    p = Path(path).resolve()
    st = p.stat()
    return _digest(str(p), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"path": path, "sha256": h.hexdigest(), "bytes": size}


def scenario_digest(scenario: dict[str, Any]) -> str:
    """SHA-256 of the effective scenario as canonical JSON (sorted keys)."""
    text = json.dumps(scenario, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(text.encode("utf-8"))


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import rebalancer

    found = {"rebalancer": rebalancer.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        dist = "pyportfolioopt" if name == "pypfopt" else name
        try:
            found[name] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def build_manifest(proposal, outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The manifest of ``proposal``; ``outputs`` maps role -> the digest of a file
    written beside the JSON (``file_digest`` under its final name)."""
    inputs = {}
    for role, path in proposal.inputs.items():
        if not path:
            continue
        try:
            inputs[role] = file_digest(path)
        except OSError:  # a frame passed through the API has no file
            inputs[role] = {"path": str(path), "sha256": None, "bytes": None}
    return {
        "manifest_version": MANIFEST_VERSION,
        "versions": _versions(),
        "platform": f"{platform.system()} {platform.machine()}",
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:2000],
        "account": proposal.account,
        "as_of": proposal.as_of,
        "taxable": bool(proposal.metrics.taxable),
        "lot_method": proposal.lot_method,
        "inputs": inputs,
        "scenario_sha256": scenario_digest(proposal.scenario),
        "scenario": proposal.scenario,
        "relaxed": list(proposal.relaxed),
        "solver": proposal.solver,
        "status": proposal.status,
        "timings": {k: round(float(v), 6) for k, v in proposal.timings.items()},
        "outputs": dict(outputs),
        **({"book_model": dict(proposal.book_model)} if proposal.book_model else {}),
    }


# --- verify ------------------------------------------------------------------------


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


# headline numbers the JSON states and verify re-measures: dollars to a cent and a
# float's worth of the NAV (they are sums over the orders), turnover to 1e-9
_HEADLINE_USD = ("cash_after", "buys", "sells", "realized_gain")
_HEADLINE_TOL = {"turnover": 1e-9}


def verify(json_path: str | os.PathLike[str], *, reproduce: bool = False) -> Verification:
    """Re-check a written proposal against its inputs (see the module docstring).

    Raises ``InputError`` when the JSON itself cannot be used (missing, not JSON, no
    manifest); every other finding is a line of the returned ``Verification``.
    """
    path = Path(json_path)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot read the proposal ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError):
        raise InputError(path, "not a JSON proposal summary") from None
    manifest = summary.get("manifest") if isinstance(summary, dict) else None
    if not isinstance(manifest, dict) or "inputs" not in manifest:
        raise InputError(
            path, "no manifest in this JSON summary (not written by rebalancer propose?)"
        )
    report = Verification(str(path))
    _same_files(report, manifest.get("inputs", {}), "input")
    _same_files(report, manifest.get("outputs", {}), "output")
    if not report.passed:
        return report  # re-measuring against changed files would prove nothing
    if "trades" not in manifest.get("outputs", {}):
        report.bad("no trades CSV was written with this proposal: nothing to re-measure")
        return report
    _remeasure(report, summary, manifest)
    if reproduce and report.passed:
        _reproduce(report, manifest)
    return report


def _same_files(report: Verification, files: dict[str, Any], kind: str) -> None:
    for role, entry in files.items():
        where = entry.get("path")
        if entry.get("sha256") is None:
            report.ok(f"{kind} {role}: passed in memory, no file to check")
            continue
        try:
            now = file_digest(where)
        except OSError:
            report.bad(f"{kind} {role}: {where} is missing")
            continue
        if now["sha256"] != entry["sha256"]:
            report.bad(f"{kind} {role}: {where} has changed since the proposal (SHA-256 differs)")
        else:
            report.ok(f"{kind} {role}: {where} unchanged (sha256 {now['sha256'][:12]}…)")


def _request(manifest: dict[str, Any]):
    """The proposal's inputs, effective scenario and options, as recorded: the
    arguments of ``prepare`` and ``propose_account``."""
    from rebalancer.scenario.schema import build

    files = {role: entry["path"] for role, entry in manifest["inputs"].items()}
    recorded = tuple(
        (role, entry["path"], entry.get("sha256"))
        for role, entry in sorted(manifest["inputs"].items())
        if role != "scenario"
    )
    data, spoilt = _read_inputs(recorded)
    if manifest["account"] in spoilt:
        raise spoilt[manifest["account"]]
    scenario = build(manifest["scenario"], files.get("scenario", "<manifest scenario>"))
    options = {"taxable": manifest["taxable"], "lot_method": manifest["lot_method"]}
    return (data, scenario, manifest["account"], manifest["as_of"]), options


@lru_cache(maxsize=2)
def _read_inputs(recorded: tuple[tuple[str, str, str | None], ...]):
    """(Inputs, the accounts whose holdings rows are spoilt) of the recorded input files
    — ``(role, path, sha256)``, checked unchanged before — read once per process for
    the same contents: a verify's re-measurement and its reproduction share one risk
    model, and so do the accounts of a book verified in one process."""
    from rebalancer.inputs import read_holdings_by_account, read_universe
    from rebalancer.request import load_inputs

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


def _remeasure(report: Verification, summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    from rebalancer.checks import run_checks, signed_shares, usd_tol
    from rebalancer.request import prepare

    args, options = _request(manifest)
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
        reference=pd.Series(request.ref, index=uni.index),
        risk=request.risk,
        trades=trades,
        lot_sales=lot_sales,
        taxable=request.taxable,
        recent=request.recent_trades,
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
    # the headline numbers of the JSON, recomputed from the trades CSV
    trade = signed_shares(trades)
    value = trade * uni.loc[trade.index, "price"]
    cash_after = request.cash_before - float(value.sum())
    measured = {
        "cash_after": cash_after,
        "buys": float(value[value > 0].sum()),
        "sells": float(-value[value < 0].sum()),
        "turnover": float(value.abs().sum()) / (2 * request.nav),
        "n_trades": len(trades),
    }
    if manifest["taxable"] and len(lot_sales):
        measured["realized_gain"] = float(lot_sales["realized_gain_usd"].sum())
    for key, got in measured.items():
        said = summary.get(key)
        tol = 2 * usd_tol(request.nav) if key in _HEADLINE_USD else _HEADLINE_TOL.get(key, 0)
        if said is None or abs(float(said) - got) > tol:
            report.bad(f"JSON {key} = {said} but the trades CSV gives {got:.10g}")
        else:
            report.ok(f"JSON {key} = {said} matches the trades CSV")


def read_written_trades(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A trades CSV as ``write_trades_csv`` wrote it (text cells guarded against
    spreadsheet formulas lose their leading ``'``)."""
    try:
        frame = pd.read_csv(path, dtype={"ticker": str, "account": str}, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the trades CSV ({exc})") from None
    missing = {"ticker", "side", "quantity", "notional"} - set(frame.columns)
    if missing:
        raise InputError(path, f"not a trades CSV: no column {sorted(missing)[0]!r}")
    for column in ("ticker", "account", "side"):
        if column in frame:
            frame[column] = frame[column].astype(str).map(_unguard)
    frame["quantity"] = pd.to_numeric(frame["quantity"])
    frame["notional"] = pd.to_numeric(frame["notional"])
    return frame


def _unguard(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


def _lot_sales(summary: dict[str, Any], request) -> pd.DataFrame:
    """The lot sales the JSON states, with gains and terms recomputed from the lots."""
    from rebalancer.trades import is_long_term

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


def _reproduce(report: Verification, manifest: dict[str, Any]) -> None:
    """Run the proposal again from its inputs and compare the orders."""
    from rebalancer.checks import signed_shares
    from rebalancer.pipeline import propose_account

    args, options = _request(manifest)
    # the cash target as recorded (the account's, or where --relax moved it); a book's
    # account is re-solved as a proposal: every path gives an account the same orders
    # (``pipeline.final_set``), so this also checks the book's
    options["cash_target"] = args[1].constraints.cash.target
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
