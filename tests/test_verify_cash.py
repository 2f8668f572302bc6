"""``verify`` of a proposal made with a cash request and a trade mode (``propose
--withdraw/--deposit/--mode``), through the CLI on the examples.

The proposal records its scenario as ``prepare`` adjusted it to the request (the cash
target and floor moved by a withdrawal, the turnover cap lifted by a one-sided mode);
verify must recompute that adjustment from the scenario file, the recorded request and
the recorded inputs, accept it, reproduce the orders, and reject a proposal whose
request or adjusted settings were edited (the digests recomputed as a forger would).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli
from tests.test_audit import forge

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
COMMON = [
    "--scenario", ROOT / "scenarios" / "smallcap_rerating.yaml",
    "--benchmark", EXAMPLES / "benchmark.csv", "--prices", EXAMPLES / "prices.csv",
    "--universe", EXAMPLES / "universe.csv", "--holdings", EXAMPLES / "holdings.csv",
    "--as-of", "2026-11-20", "--accounts", EXAMPLES / "accounts.csv", "--account", "TAX-2M",
]  # fmt: skip
REQUESTS = {
    "withdraw": ["--withdraw", "150000", "--mode", "raise-cash"],
    "deposit": ["--deposit", "100000", "--mode", "invest-cash"],
    "deposit-rebalance": ["--deposit", "100000"],  # the turnover cap raised, not lifted
    # the cash after the withdrawal is below its target: cash-only resolves to raise-cash
    "cash-only": ["--withdraw", "150000", "--mode", "cash-only"],
}


def _propose(where: Path, request: list[str]) -> Path:
    where.mkdir()
    out = where / "p.json"
    result = run_cli(
        "propose", *COMMON, *request, "--json", out, "--trades", where / "p.csv",
        "--out", where / "p.xlsx", "-q", tax_status=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def proposals(tmp_path_factory):
    base = tmp_path_factory.mktemp("cash")
    return {name: _propose(base / name, request) for name, request in REQUESTS.items()}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_verify_accepts_and_reproduces_a_proposal_made_with_a_cash_request(proposals, name):
    summary = json.loads(proposals[name].read_text())
    assert summary["cash_request"]  # the request was recorded
    result = run_cli("verify", proposals[name], "--reproduce")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "(moved by the cash request / mode, as recorded)" in result.output
    assert "reproduced: the same" in result.output


@pytest.mark.parametrize(
    ("name", "asked", "traded"),
    [("withdraw", "raise-cash", "raise-cash"), ("deposit-rebalance", "rebalance", "rebalance"),
     ("cash-only", "cash-only", "raise-cash")],
)  # fmt: skip
def test_every_output_records_the_request_and_the_mode_asked_and_traded(
    proposals, name, asked, traded
):
    """JSON, trades CSV (every row) and the workbook's Summary and Trades sheets, read
    back, say the mode asked, the side traded and the dollars asked."""
    import openpyxl
    import pandas as pd

    options = dict(zip(REQUESTS[name][::2], REQUESTS[name][1::2], strict=True))
    withdraw, deposit = (float(options.get(o, 0)) for o in ("--withdraw", "--deposit"))
    summary = json.loads(proposals[name].read_text())
    assert summary["cash_request"]["mode"] == traded
    assert summary["cash_request"]["mode_asked"] == asked
    trades = pd.read_csv(proposals[name].with_name("p.csv"))
    assert len(trades)
    assert set(trades["mode"]) == {traded} and set(trades["mode_asked"]) == {asked}
    assert set(trades["withdraw_usd"]) == {withdraw} and set(trades["deposit_usd"]) == {deposit}
    if traded == "raise-cash":
        assert set(trades["side"]) == {"SELL"}
    book = openpyxl.load_workbook(proposals[name].with_name("p.xlsx"), read_only=True)
    lines = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row}
    shown = traded if asked == traded else f"{traded} ({asked} asked)"
    assert lines["Trade mode"] == shown
    # the workbook's Trades sheet leaves the request, the same on every row, to the
    # Summary (its orders print one page wide); the trades CSV keeps it on each row
    header = next(book["Trades"].iter_rows(values_only=True))
    assert not {"mode", "mode_asked", "withdraw_usd", "deposit_usd"} & set(header)


def _small_cap_exposure(trades: pd.DataFrame | None) -> float:
    """size:small's active weight against the benchmark, from the input files (and the
    written trades: after them), NAV = holdings at universe prices + cash."""
    uni = pd.read_csv(EXAMPLES / "universe.csv").set_index("ticker")
    lots = pd.read_csv(EXAMPLES / "holdings.csv", dtype={"account": str})
    lots = lots[lots["account"] == "TAX-2M"]
    shares = lots[lots["ticker"] != "CASH"].groupby("ticker")["quantity"].sum()
    nav = float((shares * uni.loc[shares.index, "price"]).sum())
    nav += float(lots.loc[lots["ticker"] == "CASH", "quantity"].sum())
    if trades is not None:
        sign = np.where(trades["side"] == "BUY", 1.0, -1.0)
        moved = pd.Series(sign * trades["quantity"].to_numpy(), index=trades["ticker"])
        shares = shares.add(moved.groupby(level=0).sum(), fill_value=0.0)
    small = uni.index[(uni["market_cap"] >= 3e8) & (uni["market_cap"] < 2e9)]
    held = shares.reindex(small, fill_value=0.0)
    weight = float((held * uni.loc[small, "price"]).sum()) / nav
    bench = pd.read_csv(EXAMPLES / "benchmark.csv").set_index("ticker")["weight"]
    return weight - float(bench.reindex(small, fill_value=0.0).sum())


def test_a_one_sided_mode_checks_the_band_it_kept_and_says_why(proposals):
    """raise-cash cannot buy small caps: the band the run keeps is the scenario's
    [0.05, 0.11] widened to today's exposure (below it), which the Checks row names;
    its status is that band's, both re-measured from the inputs and the trades CSV."""
    import openpyxl

    before = _small_cap_exposure(None)
    after = _small_cap_exposure(pd.read_csv(proposals["withdraw"].with_name("p.csv")))
    assert before < 0.05  # the scenario's band is out of reach of sales alone
    book = openpyxl.load_workbook(proposals["withdraw"].with_name("p.xlsx"), read_only=True)
    rows = list(book["Checks"].iter_rows(values_only=True))
    header = rows[0]
    row = dict(zip(header, next(r for r in rows if r[0] == "tilt size:small"), strict=True))
    assert "widened to today's exposure by raise-cash" in row["detail"]
    # the sheet shows the band kept as percents to 2 decimals ("-0.87% to 11.00%")
    lo, hi = (float(x.strip().rstrip("%")) / 100 for x in row["limit"].split(" to "))
    assert lo == pytest.approx(before, abs=1e-4) and hi == pytest.approx(0.11)
    assert row["value"] == pytest.approx(after, abs=1e-9)
    assert row["ok"] == ("PASS" if lo - 1e-4 <= after <= hi else "FAIL")
    summary = json.loads(proposals["withdraw"].read_text())
    check = next(c for c in summary["checks"] if c["check"] == "tilt size:small")
    assert check["ok"] == (row["ok"] == "PASS")


def test_the_withdrawal_leaves_the_cash_floor_and_target_and_the_nav_is_after_it(proposals):
    # the withdrawal is cash that leaves: the floor and target stay the scenario's (the
    # accounts file's target 0.02, the scenario's floor 0.01), of the NAV after it,
    # NAV = holdings at universe prices + cash − W, from the input files
    summary = json.loads(proposals["withdraw"].read_text())
    cash = summary["manifest"]["scenario"]["constraints"]["cash"]
    assert (cash["min"], cash["target"]) == (0.01, 0.02)
    uni = pd.read_csv(EXAMPLES / "universe.csv").set_index("ticker")
    lots = pd.read_csv(EXAMPLES / "holdings.csv", dtype={"account": str})
    lots = lots[lots["account"] == "TAX-2M"]
    held = lots[lots["ticker"] != "CASH"]
    nav = float((held["quantity"].to_numpy() * uni.loc[held["ticker"], "price"].to_numpy()).sum())
    nav += float(lots.loc[lots["ticker"] == "CASH", "quantity"].sum())
    assert summary["nav"] == pytest.approx(nav - 150_000, abs=0.01)


def _edited(proposal: Path, tmp_path: Path, edit) -> Path:
    summary = json.loads(proposal.read_text())
    edit(summary)
    out = tmp_path / "forged.json"
    forge(summary, out)
    return out


def _cash(summary: dict) -> dict:
    return summary["manifest"]["scenario"]["constraints"]["cash"]


FORGERIES = {
    # the JSON's request alone: not the recorded scenario's
    "cash_request": lambda s: s["cash_request"].update(withdraw_usd=140000.0),
    # request and scenario alike: the figures re-measured on the NAV after it differ
    "request": lambda s: (
        s["cash_request"].update(withdraw_usd=140000.0),
        _cash(s).update(withdraw_usd=140000.0),
    ),
    # the adjusted floor lowered: not what the request gives
    "floor": lambda s: _cash(s).update(min=_cash(s)["min"] - 0.01),
    # the mode dropped from the scenario and the request: the turnover cap is not lifted
    "mode": lambda s: (
        s["cash_request"].update(mode="rebalance"),
        s["manifest"]["scenario"]["constraints"].pop("trade_mode"),
    ),
    # the mode asked for edited (raise-cash was asked and traded)
    "mode asked": lambda s: s["cash_request"].update(mode_asked="invest-cash"),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_verify_rejects_an_edited_cash_request(proposals, tmp_path, name):
    forged = _edited(proposals["withdraw"], tmp_path, FORGERIES[name])
    _rejected(forged)


def test_verify_rejects_cash_only_resolved_to_the_other_side(proposals, tmp_path):
    """A cash-only proposal whose side is recorded as invest-cash (the scenario and
    the JSON alike): the recorded inputs' cash calls for raise-cash."""

    def edit(s):
        s["cash_request"].update(mode="invest-cash")
        s["manifest"]["scenario"]["constraints"]["trade_mode"] = "invest-cash"

    _rejected(_edited(proposals["cash-only"], tmp_path, edit))


def _rejected(forged: Path) -> None:
    result = run_cli("verify", forged)
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert any("cash request" in line.replace("_", " ") for line in failed), failed


def test_verify_accepts_a_relaxed_turnover_cap_raised_by_a_deposit(tmp_path):
    # --relax moves the cap before prepare raises it by the deposit's buys: verify
    # must recompute both, and --reproduce relax it anew
    for name in ("base.yaml", "smallcap_rerating.yaml"):
        (tmp_path / name).write_text((ROOT / "scenarios" / name).read_text())
    tight = tmp_path / "tight.yaml"
    tight.write_text(
        "name: tight\nextends: smallcap_rerating.yaml\nconstraints:\n  max_turnover: 0.002\n"
    )
    args = [tight if a == COMMON[1] else a for a in COMMON]
    out = tmp_path / "p.json"
    result = run_cli(
        "propose", *args, "--deposit", "100000", "--relax", "--json", out,
        "--trades", tmp_path / "p.csv", "-q", tax_status=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        json.loads(out.read_text())["manifest"]["relaxed"][0]["key"] == "constraints.max_turnover"
    )
    result = run_cli("verify", out, "--reproduce")
    assert result.exit_code == 0, result.output
    assert "(moved by --relax and the cash request / mode, as recorded)" in result.output
    assert "reproduced: the same" in result.output
