"""``verify`` against edited proposals, special files and forgeries (issue 14, point 4).

Every case ends in exit 1 with ``FAIL`` lines or one error line — never a traceback,
never a hang — and a forged limit or digest is caught. Digests are recomputed here
with hashlib from the files and the JSON, as a forger would.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from tests.conftest import make_holdings, make_universe, run_cli, write_scenario

SCENARIO = """
name: loose
extends: base.yaml
tilts:
  "size:small": {{target: 0.30, band: 0.02}}
constraints:
  max_turnover: {turnover}
  max_position: 0.2
  cash: {{target: 0.02, min: 0.01}}
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def canonical_sha256(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def reseal(summary: dict) -> dict:
    """``summary`` with its scenario's and its own digests recomputed to match (the
    summary's over everything but itself), as a forger would."""
    m = summary["manifest"]
    m["scenario_sha256"] = canonical_sha256(m["scenario"])
    m.pop("summary_sha256", None)
    m["summary_sha256"] = canonical_sha256(summary)
    return summary


def forge(summary: dict, path: Path) -> None:
    path.write_text(json.dumps(reseal(summary), indent=1))


def propose(
    folder: Path, turnover: float = 0.60, taxable: bool = False, extra: str = ""
) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    uni = make_universe()
    paths = {"universe": folder / "universe.csv", "holdings": folder / "holdings.csv"}
    uni.to_csv(paths["universe"], index=False)
    make_holdings(uni).to_csv(paths["holdings"], index=False)
    text = SCENARIO.format(turnover=turnover) + extra
    paths["scenario"] = write_scenario(folder / "loose.yaml", text)
    paths["csv"], paths["json"] = folder / "p.csv", folder / "p.json"
    result = run_cli(
        "propose", "--holdings", paths["holdings"], "--universe", paths["universe"],
        "--scenario", paths["scenario"], "--as-of", "2026-11-20",
        "--trades", paths["csv"], "--json", paths["json"], "-q",
        *(["--taxable"] if taxable else []),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return paths


@pytest.fixture(scope="module")
def proposal(tmp_path_factory) -> dict[str, Path]:
    return propose(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def fresh(proposal, tmp_path) -> tuple[dict[str, Path], dict]:
    """A copy of the JSON to edit (the inputs and the trades CSV are shared)."""
    copy = tmp_path / "p.json"
    copy.write_bytes(proposal["json"].read_bytes())
    return {**proposal, "json": copy}, json.loads(copy.read_text())


def verify(path: Path, *args: str, seconds: float = 60):
    """``verify`` in-process, bounded in time (a hang fails the test, not the run)."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=run_cli("verify", path, *args)))
    thread.daemon = True
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"verify {path} still running after {seconds} s"
    return box["result"]


def assert_refused(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_the_scenario_is_read_from_its_recorded_file(proposal, tmp_path):
    """Proposed under max_turnover 0.60, then the manifest pointed at a 0.25 file with
    its true digest: the limits come from that file, so the 0.60 is caught."""
    summary = json.loads(proposal["json"].read_text())
    assert summary["turnover"] > 0.25  # the forgery would hide a real breach
    strict = write_scenario(tmp_path / "strict.yaml", SCENARIO.format(turnover=0.25))
    summary["manifest"]["inputs"]["scenario"].update(
        path=str(strict), sha256=sha256(strict), bytes=strict.stat().st_size
    )
    path = tmp_path / "p.json"
    forge(summary, path)
    for args in ((), ("--reproduce",)):
        result = verify(path, *args)
        assert_refused(result, "FAIL scenario constraints.max_turnover: 0.25 in")
        assert "0.6 in the proposal" in result.output


def test_a_forged_limit_in_the_recorded_scenario_is_caught(fresh):
    paths, summary = fresh
    summary["manifest"]["scenario"]["constraints"]["max_turnover"] = 0.9
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), "FAIL scenario constraints.max_turnover")


def test_a_forged_relaxation_record_must_still_match_the_file(fresh):
    """A relaxation the manifest records explains only the move it records."""
    paths, summary = fresh
    summary["manifest"]["relaxed"] = [
        {"constraint": "turnover", "key": "constraints.max_turnover", "limit": 0.5,
         "relaxed_to": 0.9}
    ]  # fmt: skip
    summary["manifest"]["scenario"]["constraints"]["max_turnover"] = 0.9
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), "FAIL scenario constraints.max_turnover: 0.6 in")


@pytest.mark.parametrize("role", ["universe", "holdings", "scenario"])
def test_a_forged_input_digest_is_caught(fresh, role):
    paths, summary = fresh
    summary["manifest"]["inputs"][role]["sha256"] = "0" * 64
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), f"FAIL input {role}:", "SHA-256 differs")


def test_an_edited_summary_is_caught_by_its_own_digest(fresh):
    paths, summary = fresh
    summary["est_cost"] = summary["est_cost"] / 2
    paths["json"].write_text(json.dumps(summary))
    assert_refused(verify(paths["json"]), "FAIL the JSON summary was edited")


# a re-signed forgery of each headline figure: verify recomputes it from the written
# trades and the inputs (cost model, risk model, returns, lots) and finds it moved
FORGED_FIGURES = {
    "est_cost": lambda v: v / 2,
    "expected_return": lambda v: v + 0.01,
    "expected_return_before": lambda v: v - 0.01,
    "active_return": lambda v: v + 0.005,
    "volatility": lambda v: v * 0.9,
    "tracking_error": lambda v: v * 0.9,
    "tracking_error_before": lambda v: v + 0.01,  # 0 here: measured against the holdings
    "turnover": lambda v: v * 0.99,
    "cash_after": lambda v: v + 100.0,
    "cash_before": lambda v: v + 100.0,
    "nav": lambda v: v * 1.01,
    "n_trades": lambda v: v - 1,
    "estimated_tax": lambda v: v + 500.0,  # a tax-exempt account owes none
    "income_tax": lambda v: v + 500.0,  # nor tax on income
    "income_tax_before": lambda v: v + 500.0,
}


@pytest.mark.parametrize("key", FORGED_FIGURES)
def test_a_re_signed_forged_figure_is_recomputed_and_caught(fresh, key):
    paths, summary = fresh
    summary[key] = FORGED_FIGURES[key](summary[key])
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), f"FAIL JSON {key} = {summary[key]} but the trades CSV")


def test_a_re_signed_forged_account_type_is_caught(fresh):
    paths, summary = fresh
    summary["account_type"] = "tax_deferred"
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), "FAIL JSON account_type = tax_deferred but the inputs")


def test_a_re_signed_forged_order_cost_in_the_trades_csv_is_caught(fresh, tmp_path):
    """The trades CSV's est_cost column halved and the CSV's digest re-signed."""
    import pandas as pd

    paths, summary = fresh
    trades = pd.read_csv(paths["csv"], keep_default_na=False)
    trades["est_cost"] = trades["est_cost"] / 2
    forged = tmp_path / "p.csv"
    trades.to_csv(forged, index=False)
    summary["manifest"]["outputs"]["trades"].update(
        path=str(forged), sha256=sha256(forged), bytes=forged.stat().st_size
    )
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), "FAIL trades CSV est_cost of ")


def test_a_taxable_proposals_tax_figures_are_recomputed(tmp_path):
    """A taxable proposal's realized gains by term, estimated tax and harvested losses
    come from its lot sales and the lots: each, forged and re-signed, is caught."""
    paths = propose(tmp_path / "p", taxable=True)
    summary = json.loads(paths["json"].read_text())
    assert summary["taxable"] and summary["lot_sales"]
    result = verify(paths["json"])
    assert result.exit_code == 0, result.output
    for key in ("realized_gain", "short_term_gain", "long_term_gain", "estimated_tax",
                "harvested_losses"):  # fmt: skip
        forged = json.loads(json.dumps(summary))
        forged[key] = (forged[key] or 0.0) + 250.0
        forge(forged, paths["json"])
        assert_refused(verify(paths["json"]), f"FAIL JSON {key} = {forged[key]} but")


def test_reformatted_json_still_verifies(fresh):
    paths, summary = fresh
    paths["json"].write_text(json.dumps(summary, indent=None, sort_keys=True))
    result = verify(paths["json"])
    assert result.exit_code == 0, result.output


def _deep(n: int) -> str:
    return "[" * n + "]" * n


# (case, edit of the parsed summary or of its text, expected text in the output)
EDITS = [
    ("n_trades as text", lambda s: s.update(n_trades="63"), "JSON.n_trades: expected a number"),
    ("checks an object", lambda s: s.update(checks={}), "JSON.checks: expected a list"),
    ("lot sale a number", lambda s: s.update(lot_sales=[5]), "JSON.lot_sales[0]: expected an"),
    ("turnover 10**400", lambda s: s.update(turnover=10**400), "an integer of 401 digits"),
    ("turnover 1e400", lambda s: s.update(turnover="@1e400@"), "beyond a float's range"),
    ("cash_after NaN", lambda s: s.update(cash_after="@NaN@"), "NaN is not a JSON number"),
    ("deep nesting", lambda s: s.update(warnings="@" + _deep(100_000) + "@"), "nested more than"),
    ("moderately deep", lambda s: s.update(warnings="@" + _deep(500) + "@"), "nested more than"),
    ("no manifest", lambda s: s.pop("manifest"), "no manifest"),
    ("no account", lambda s: s["manifest"].pop("account"), "JSON.manifest: no key 'account'"),
    ("inputs a list", lambda s: s["manifest"].update(inputs=[]), "manifest.inputs: expected an"),
    (
        "no universe",
        lambda s: s["manifest"]["inputs"].pop("universe"),
        "manifest.inputs: no key 'universe'",
    ),
    (
        "path a number",
        lambda s: s["manifest"]["outputs"]["trades"].update(path=3),
        "outputs.trades.path: expected text",
    ),
    ("taxable text", lambda s: s["manifest"].update(taxable="yes"), "taxable: expected true"),
    ("as_of year 1", lambda s: s["manifest"].update(as_of="0001-01-01"), "in 1900-2099"),
    ("scenario a list", lambda s: s["manifest"].update(scenario=[1]), "scenario: expected an"),
    (
        "scenario key wrong type",
        lambda s: s["manifest"]["scenario"]["constraints"].update(max_turnover="lots"),
        "key 'constraints.max_turnover'",
    ),
    ("version", lambda s: s["manifest"].update(manifest_version=[]), "manifest version"),
    ("bytes huge", lambda s: s["manifest"]["inputs"]["universe"].update(bytes=1e300), "bytes"),
    ("relaxed junk", lambda s: s["manifest"].update(relaxed=[{"key": 1}]), "relaxed[0]"),
    ("a list", lambda s: [s], "not a JSON object"),
]


@pytest.mark.parametrize(("case", "edit", "expected"), EDITS, ids=[e[0] for e in EDITS])
def test_edited_json_is_refused_in_lines_never_a_traceback(fresh, case, edit, expected):
    paths, summary = fresh
    edited = edit(summary)
    text = json.dumps(edited if isinstance(edited, list) else summary)
    # "@...@" marks raw JSON text that json.dumps cannot write
    text = text.replace('"@', "").replace('@"', "")
    paths["json"].write_text(text)
    result = verify(paths["json"])
    assert_refused(result, expected)
    assert len(result.output.strip().splitlines()) <= 51


def test_not_json_at_all(tmp_path):
    for name, data in [("empty", b""), ("latin1", b'{"a": "\xe9"}'), ("cut", b'{"manifest": {')]:
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        assert_refused(verify(path), "not a JSON proposal summary")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_refused_without_reading_them(fresh, tmp_path):
    """/dev/zero, a FIFO nobody writes to, a folder and a 65 MB sparse file, as the JSON
    itself and as a recorded input: one line each, at once."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:
        fh.truncate(65 << 20)
    cases = [
        ("/dev/zero", "is a character device"),
        (fifo, "is a FIFO"),
        (huge, "is 68,157,440 bytes, more than"),
        (tmp_path, "is a folder"),  # (click refuses it as the JSON: a usage error)
    ]
    for path, expected in cases[:3]:
        result = verify(Path(path), seconds=20)
        assert_refused(result, expected)
        assert len(result.output.strip().splitlines()) == 1
    paths, summary = fresh
    for path, expected in [cases[0], cases[1], cases[3]]:
        summary["manifest"]["inputs"]["holdings"]["path"] = str(path)
        forge(summary, paths["json"])
        assert_refused(verify(paths["json"], seconds=20), f"FAIL input holdings: {path}", expected)


def test_an_input_of_another_size_is_not_read(fresh, tmp_path):
    paths, summary = fresh
    bigger = tmp_path / "universe.csv"
    bigger.write_bytes(Path(summary["manifest"]["inputs"]["universe"]["path"]).read_bytes() * 2)
    summary["manifest"]["inputs"]["universe"]["path"] = str(bigger)
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), "FAIL input universe:", "(size differs)")


def test_a_ticker_beginning_with_a_quote_reads_back_as_itself(tmp_path):
    """The CSV guard writes ``=2+2`` as ``'=2+2``; the ticker ``'=2+2`` itself must not
    read back as ``=2+2`` (verify then called it missing from the universe)."""
    uni = make_universe()
    hold = make_holdings(uni)
    held = hold["ticker"].iloc[0]
    for frame in (uni, hold):
        frame["ticker"] = frame["ticker"].replace({held: "'=2+2"})
    uni.loc[uni["ticker"] == "'=2+2", "restricted"] = "sell"  # so that it trades
    paths = {"universe": tmp_path / "u.csv", "holdings": tmp_path / "h.csv"}
    uni.to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)
    out = {"csv": tmp_path / "t.csv", "json": tmp_path / "t.json"}
    result = run_cli(
        "propose", "--holdings", paths["holdings"], "--universe", paths["universe"],
        "--scenario", write_scenario(tmp_path / "s.yaml", "extends: base.yaml\n"),
        "--as-of", "2026-11-20", "--trades", out["csv"], "--json", out["json"], "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ACC1,''=2+2,SELL," in out["csv"].read_text()
    result = verify(out["json"])
    assert result.exit_code == 0, result.output


def test_a_cash_target_is_explained_only_by_the_accounts_file(tmp_path):
    """A book sets an account's cash target from the accounts file; any other cash
    target in the recorded scenario is a forgery."""
    paths = propose(tmp_path / "p")
    accounts = write_scenario(
        tmp_path / "accounts.csv",
        "account,scenario,taxable,cash_target\nACC1,loose.yaml,false,0.05\n",
    )
    summary = json.loads(paths["json"].read_text())
    summary["manifest"]["inputs"]["accounts"] = {
        "path": str(accounts), "sha256": sha256(accounts), "bytes": accounts.stat().st_size,
    }  # fmt: skip
    summary["manifest"]["scenario"]["constraints"]["cash"]["target"] = 0.07
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), "FAIL scenario constraints.cash.target: 0.02 in")


# --- exposures, stress tests and screened names, recomputed ------------------------------

SHOCKS = """shocks:
  - {name: small caps -20%, "size:small": -0.20}
  - {name: broad sell-off, all: -0.10, "size:large": -0.05}
"""


@pytest.fixture(scope="module")
def shocked(tmp_path_factory) -> dict[str, Path]:
    """A proposal with two stress tests (one of two overlapping groups: returns add)."""
    return propose(tmp_path_factory.mktemp("shocked"), extra=SHOCKS)


@pytest.fixture
def fresh_shocked(shocked, tmp_path) -> tuple[dict[str, Path], dict]:
    copy = tmp_path / "p.json"
    copy.write_bytes(shocked["json"].read_bytes())
    return {**shocked, "json": copy}, json.loads(copy.read_text())


def _stress_by_hand(paths: dict[str, Path]) -> dict[str, float]:
    """The P&L of 'small caps -20%' after the trades, from the files alone: holdings
    plus the trades CSV's signed quantities, at universe prices, −20% on the names
    with a market cap from 3e8 to 2e9 (base.yaml's small bucket)."""
    import pandas as pd

    uni = pd.read_csv(paths["universe"]).set_index("ticker")
    lots = pd.read_csv(paths["holdings"])
    shares = lots[lots["ticker"] != "CASH"].groupby("ticker")["quantity"].sum()
    trades = pd.read_csv(paths["csv"], keep_default_na=False)
    signed = trades["quantity"].where(trades["side"] == "BUY", -trades["quantity"])
    after = shares.add(signed.groupby(trades["ticker"]).sum(), fill_value=0.0)
    small = uni["market_cap"].between(3e8, 2e9, inclusive="left")
    value = after * uni["price"].reindex(after.index)
    return {"pnl_after_usd": float(-0.20 * value[small.reindex(after.index)].sum())}


def test_verify_passes_the_exposures_stress_and_screened_names_as_written(fresh_shocked):
    paths, summary = fresh_shocked
    # the JSON's figure is what the files give (an independent recomputation)
    assert summary["stress"][0]["shock"] == "small caps -20%"
    by_hand = _stress_by_hand(paths)["pnl_after_usd"]
    assert abs(summary["stress"][0]["pnl_after_usd"] - by_hand) < 0.01
    result = verify(paths["json"])
    assert result.exit_code == 0, result.output
    for says in ("ok   JSON exposures of ", "ok   JSON stress: the P&L of 2 shock(s)",
                 "ok   JSON screened: the "):  # fmt: skip
        assert says in result.output, result.output


FORGED_PARTS = {
    "exposure after": (
        lambda s: s["exposures"]["after"].update({"size:small": s["exposures"]["after"]["size:small"] - 0.01}),
        "FAIL JSON exposures after[size:small] = ",
    ),
    "exposure before": (
        lambda s: s["exposures"]["before"].update({"region:US": s["exposures"]["before"]["region:US"] + 1e-6}),
        "FAIL JSON exposures before[region:US] = ",
    ),
    "tilt target": (
        lambda s: s["exposures"]["target"].update({"size:small": 0.25}),
        "FAIL JSON exposures target[size:small] = 0.25",
    ),
    "tilted group dropped": (
        lambda s: [s["exposures"][k].pop("size:small") for k in ("before", "after", "target")],
        "FAIL JSON exposures: no entry for the tilted group(s) size:small",
    ),
    "stress dollars": (
        lambda s: s["stress"][0].update(pnl_after_usd=s["stress"][0]["pnl_after_usd"] * 0.5),
        "FAIL JSON stress small caps -20% pnl_after_usd = ",
    ),
    "stress fraction": (
        lambda s: s["stress"][1].update(pct_before=s["stress"][1]["pct_before"] + 0.001),
        "FAIL JSON stress broad sell-off pct_before = ",
    ),
    "stress dropped": (
        lambda s: s["stress"].pop(),
        "FAIL JSON stress: shocks",
    ),
    "screened dropped": (lambda s: s["screened"].pop(0), "FAIL JSON screened: 1 name(s)"),
    "screened added": (
        lambda s: s["screened"].append({"ticker": "S000", "screen": "all: roa > 0", "values": ""}),
        "FAIL JSON screened: 1 entr(y/ies) no screen gives, e.g. S000",
    ),
}  # fmt: skip


@pytest.mark.parametrize("part", FORGED_PARTS)
def test_a_re_signed_forged_exposure_stress_or_screen_is_caught(fresh_shocked, part):
    """Each edited in the JSON and the digests re-signed, as a forger would: verify
    recomputes it from the written trades and the inputs and names it."""
    paths, summary = fresh_shocked
    edit, says = FORGED_PARTS[part]
    assert summary["screened"], "base.yaml's screens keep some names from being bought"
    edit(summary)
    forge(summary, paths["json"])
    assert_refused(verify(paths["json"]), says)
