"""Exporters: the workbook, trades CSV and JSON summary of a hand-made proposal."""

from __future__ import annotations

import csv as csv_module
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from rich.console import Console

from rebalancer.console import print_summary
from rebalancer.errors import RebalancerError
from rebalancer.export import OutputSet, write_outputs, write_trades_csv, write_workbook
from rebalancer.export.csvout import read_written_trades
from rebalancer.export.jsonout import write_json
from rebalancer.export.safe import safe_text
from rebalancer.export.xlsx import checks_frame, heading
from rebalancer.limits.cash_request import REQUEST_COLUMNS
from rebalancer.report.proposal import TRADE_COLUMNS, Metrics, Proposal
from tests.sheets import EXPOSURE_NAMES, TRADE_SHEET_NAMES, table

ACCOUNT = "+cmd"
EVIL_NAME = '=HYPERLINK("x")'
NAN = float("nan")

DESIGN_KEYS = {
    "account", "scenario", "status", "nav", "cash_before", "cash_after", "turnover",
    "n_trades", "est_cost", "expected_return", "volatility", "tracking_error", "exposures",
    "binding", "warnings",
}  # fmt: skip


# --- the fixture: a small proposal built by hand to the contracts of proposal.py ----------


def _trades() -> pd.DataFrame:
    rows = [
        # account, ticker, side, quantity, price, notional, w_before, w_after, pct_adv,
        # days_to_trade, est_cost, reason, realized_gain, term, lot_id
        (ACCOUNT, "AAA", "BUY", 100.0, 50.125, 5012.5, 0.01, 0.06, 0.0005, 0.0025,
         2.506251, "tilt size:small", NAN, "", ""),
        (ACCOUNT, "BBB", "SELL", 40.5, 123.4567, 4999.99635, 0.09, 0.04, 0.00125, 0.00625,
         1.2499991, "-trim overweight", 812.33, "LT", "L1"),
        (ACCOUNT, "CCC", "BUY", 30.0, 33.33, 999.9, 0.0, 0.01, 0.002, 0.02,
         0.74, "theme:biotech", NAN, "", ""),
        (ACCOUNT, "DDD", "SELL", 12.0, 250.0, 3000.0, 0.05, 0.02, 0.0001, 0.0005,
         0.9, "@restricted: sell", -150.25, "ST", "L2;L3"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)


def _holdings() -> pd.DataFrame:
    rows = [
        ("AAA", "Alpha Small Co", "Industrials", "US", "small", 50.125, 0.0, 100.0,
         0.0, 5012.5, 0.01, 0.061, 0.06, 0.02),
        ("BBB", EVIL_NAME, "Health Care", "US", "large", 123.4567, 80.5, 40.0,
         9938.26, 4938.27, 0.09, 0.04, 0.04, 0.05),
        ("CASH", "Cash", "Cash", "US", "", 1.0, 20000.0, 16000.0,
         20000.0, 16000.0, 0.2, 0.16, 0.16, 0.0),
    ]  # fmt: skip
    columns = [
        "ticker", "name", "sector", "region", "size", "price", "shares_before", "shares_after",
        "value_before_usd", "value_after_usd", "weight_before", "weight_optimal", "weight_after",
        "benchmark_weight",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _exposures() -> pd.DataFrame:
    index = pd.Index(["size:small", "theme:biotech", "sector:Energy", "region:EM"], name="selector")
    return pd.DataFrame(
        {
            "before": [-0.02, 0.0, 0.01, -0.03],
            "after": [0.09, 0.025, 0.012, -0.03],
            "target": [0.10, 0.03, NAN, NAN],
            "band_lo": [0.07, 0.01, NAN, NAN],
            "band_hi": [0.13, 0.05, NAN, NAN],
            "weight_before": [0.08, 0.02, 0.06, 0.0],
            "weight_after": [0.19, 0.045, 0.062, 0.0],
            "reference": [0.10, 0.02, 0.05, 0.03],
        },
        index=index,
    )


def _checks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "check": ["cash floor", "max_turnover", "no short"],
            "limit": [0.01, 0.25, 0.0],
            "value": [0.16, 0.27, 0.0],
            "ok": [True, False, True],
            "detail": ["", "turnover re-measured on rounded trades", ""],
        }
    )


def _lot_sales() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account": [ACCOUNT, ACCOUNT],
            "ticker": ["BBB", "DDD"],
            "lot_id": ["BBB-1", "DDD-1"],
            "acquired": pd.to_datetime(["2019-03-01", "2024-11-15"]),
            "quantity_sold": [40.5, 12.0],
            "cost_basis_sold_usd": [4187.66635, 3150.25],
            "proceeds_usd": [4999.99635, 3000.0],
            "realized_gain_usd": [812.33, -150.25],
            "term": ["LT", "ST"],
        }
    )


def _stress() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "shock": ["small caps -20%", "rates -100bp"],
            "pnl_before_usd": [-1600.0, 500.0],
            "pnl_after_usd": [-3800.0, 650.0],
            "pct_before": [-0.016, 0.005],
            "pct_after": [-0.038, 0.0065],
        }
    )


SCENARIO = {
    "name": "Small-cap re-rating",
    "risk_aversion": 5,
    "signals": {"weight": 0.6, "metrics": {"pb": -1, "roa": 1}, "neutralize": "sector"},
    "views": [{"long": "size:small", "short": "size:large", "excess_return": 0.03}],
    "tilts": {"size:small": {"target": 0.10, "band": 0.03}},
    "constraints": {"cash": {"target": 0.02, "min": 0.01}, "max_turnover": 0.25},
    "exclude": ["XYZ", "QQQ"],
    "round_lots": True,
}


@pytest.fixture
def proposal(tmp_path: Path) -> Proposal:
    trades = _trades()
    metrics = Metrics(
        nav_usd=100_000.0,
        cash_before_usd=20_000.0,
        cash_after_usd=16_000.0,
        turnover=0.0650619,
        n_trades=len(trades),
        buys_usd=6012.4,
        sells_usd=7999.99635,
        est_cost_usd=float(trades["est_cost"].sum()),
        expected_return_before=0.061,
        expected_return=0.068,
        active_return=0.004,
        volatility_before=0.15,
        volatility=0.16,
        tracking_error_before=0.02,
        tracking_error=0.031,
        realized_gain_usd=662.08,
        short_term_gain_usd=-150.25,
        long_term_gain_usd=812.33,
    )
    return Proposal(
        account=ACCOUNT,
        scenario_name="Small-cap re-rating",
        scenario=SCENARIO,
        status="optimal",
        solver="CLARABEL",
        reference="benchmark",
        metrics=metrics,
        trades=trades,
        lot_sales=_lot_sales(),
        holdings=_holdings(),
        exposures=_exposures(),
        checks=_checks(),
        binding=["max_turnover"],
        warnings=["DDD is restricted: forced sale"],
        stress=_stress(),
        inputs={"holdings": str(tmp_path / "holdings.csv")},
    )


@pytest.fixture
def written(proposal: Proposal, tmp_path: Path) -> dict[str, Path]:
    paths = {
        "xlsx": tmp_path / "out" / "proposal.xlsx",
        "csv": tmp_path / "out" / "trades.csv",
        "json": tmp_path / "out" / "summary.json",
    }
    write_outputs(proposal, out=paths["xlsx"], trades=paths["csv"], json_path=paths["json"])
    return paths


def _sheet_rows(ws) -> list[list]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


def _cell(value):
    """One spelling per value across CSV and sheet: empty is None, CSV's leading ' undone."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    return value[1:] if isinstance(value, str) and value.startswith("'") else value


# --- the workbook --------------------------------------------------------------------------


def test_workbook_has_the_sheets_in_order(written):
    wb = openpyxl.load_workbook(written["xlsx"])
    assert wb.sheetnames == ["Summary", "Trades", "Exposures", "Holdings", "Scenario", "Checks", "Tax"]  # fmt: skip


def test_no_tax_sheet_without_lot_sales(proposal, tmp_path):
    no_lots = dataclasses.replace(proposal, lot_sales=proposal.lot_sales.iloc[0:0])
    write_workbook(no_lots, tmp_path / "p.xlsx")
    assert "Tax" not in openpyxl.load_workbook(tmp_path / "p.xlsx").sheetnames


def test_formula_like_name_reads_back_as_the_literal_string(written):
    ws = openpyxl.load_workbook(written["xlsx"])["Holdings"]
    header = [c.value for c in ws[1]]
    names = [row[header.index(heading("name"))] for row in ws.iter_rows(min_row=2)]
    evil = [c for c in names if c.value == EVIL_NAME]
    assert len(evil) == 1
    assert evil[0].data_type == "s"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_formula_like_account_reads_back_as_the_literal_string(written):
    wb = openpyxl.load_workbook(written["xlsx"])
    # the Trades sheet names the account in its page header (header codes escaped)
    assert wb["Trades"].oddHeader.left.text == f"Account {ACCOUNT}"
    assert "account" not in table(wb["Trades"]).columns
    summary_account = wb["Summary"]["B3"]
    assert (wb["Summary"]["A3"].value, summary_account.value) == ("Account", ACCOUNT)
    assert summary_account.data_type == "s"


def test_no_sheet_holds_a_formula(written):
    wb = openpyxl.load_workbook(written["xlsx"])
    assert not [c.coordinate for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]  # fmt: skip


def test_trade_numbers_stay_numbers(written):
    sheet = table(openpyxl.load_workbook(written["xlsx"])["Trades"])
    numeric = ["quantity", "price", "notional", "weight_before", "weight_after", "pct_adv",
               "days_to_trade", "est_cost"]  # fmt: skip
    for name in numeric:
        assert all(type(v) in (int, float) for v in sheet[name]), name
    assert sheet["notional"].iloc[0] == 5012.5


def test_trades_sheet_rows_equal_the_csv_rows(written):
    """The sheet holds the CSV's orders, in the same order, with the same values in
    every column they share (the sheet leaves out the account and the cash request,
    which the page header and the Summary say, and turns lot ids into lots with
    their shares)."""
    sheet = table(openpyxl.load_workbook(written["xlsx"])["Trades"])
    csv = pd.read_csv(written["csv"])
    shared = [c for c in csv.columns if c in sheet.columns]
    assert shared == [c for c in TRADE_COLUMNS if c not in ("account", "lot_id")]
    csv_rows = [[_cell(v) for v in row] for row in csv[shared].itertuples(index=False)]
    assert [[_cell(v) for v in row] for row in sheet[shared].itertuples(index=False)] == csv_rows


def test_trades_sheet_adds_names_cost_in_bp_lots_and_totals(written, proposal):
    ws = openpyxl.load_workbook(written["xlsx"])["Trades"]
    sheet = table(ws)
    names = proposal.holdings.set_index("ticker")["name"]
    shown = [v if isinstance(v, str) else None for v in sheet["name"]]
    assert shown == [names.get(t) for t in sheet["ticker"]]  # the fixture names two
    bps = sheet["est_cost"] / sheet["notional"] * 1e4
    np.testing.assert_allclose(sheet["est_cost_bps"].astype(float), bps, rtol=1e-12)
    # a sale's lots and the shares from each add up to the order
    for side, lots, quantity in zip(
        sheet["side"], sheet["lots_sold"], sheet["quantity"], strict=True
    ):
        if side == "SELL" and lots:
            shares = [
                float(part.rsplit("(", 1)[1].rstrip(")").replace(",", ""))
                for part in lots.split("; ")
            ]
            assert sum(shares) == pytest.approx(quantity)
    rows = _sheet_rows(ws)
    totals = {r[0]: r for r in rows[len(sheet) + 2 :] if r[0]}
    header = [heading(c) for c in sheet.columns]
    at = header.index("Notional (USD)")
    buys = sheet.loc[sheet["side"] == "BUY", "notional"].sum()
    assert totals["Buys"][at] == pytest.approx(buys)
    assert totals["All orders"][at] == pytest.approx(sheet["notional"].sum())
    assert totals["All orders"][1] == f"{len(sheet)} orders"
    assert ws.cell(row=len(sheet) + 2, column=1).value is None  # a blank row before the totals


def test_json_counts_and_cost_match_the_trades_csv(written):
    summary = json.loads(written["json"].read_text())
    csv = pd.read_csv(written["csv"])
    assert summary["n_trades"] == len(csv)
    assert summary["est_cost"] == pytest.approx(csv["est_cost"].sum(), rel=1e-12)


def test_table_sheets_have_a_frozen_bold_header_and_an_autofilter(written):
    wb = openpyxl.load_workbook(written["xlsx"])
    for name in ["Trades", "Exposures", "Holdings", "Scenario", "Checks", "Tax"]:
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        assert all(c.font.b for c in ws[1] if c.value is not None), name


def test_every_sheet_prints_landscape_one_page_wide_with_its_header(written, proposal):
    wb = openpyxl.load_workbook(written["xlsx"])
    for ws in wb.worksheets:
        setup = ws.page_setup
        assert setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert int(setup.fitToWidth) == 1, ws.title
        # the Summary on one page; a table as many pages tall as it takes
        assert int(setup.fitToHeight) == (1 if ws.title == "Summary" else 0), ws.title
        if ws.title != "Summary":
            assert ws.print_title_rows == "$1:$1", ws.title
        assert ws.oddHeader.left.text == f"Account {ACCOUNT}"
        dated = f"as of {proposal.as_of}" if proposal.as_of else "&D"  # else the print date
        assert ws.oddHeader.right.text == dated
        assert ws.oddFooter.right.text == "Page &P of &N"
        assert ws.page_margins.left == 0.5


def test_summary_says_active_return_before_and_after(written, proposal):
    rows = _sheet_rows(openpyxl.load_workbook(written["xlsx"])["Summary"])
    lines = {r[0]: r[1] for r in rows if r[0]}
    m = proposal.metrics
    reference = m.expected_return - m.active_return  # the same before and after
    assert lines["Active return before"] == pytest.approx(m.expected_return_before - reference)
    assert lines["Active return after"] == pytest.approx(m.active_return)
    assert "not a forecast" in lines["Returns assume"]


def test_money_percent_and_share_formats(written):
    ws = openpyxl.load_workbook(written["xlsx"])["Trades"]
    back = {heading(n): n for n in TRADE_SHEET_NAMES}
    fmt = {back[c.value]: ws.cell(row=2, column=c.column).number_format for c in ws[1]}
    assert fmt["est_cost_bps"] == '0.0" bp"'
    assert fmt["notional"] == fmt["est_cost"] == fmt["price"] == "#,##0.00"
    assert fmt["weight_before"] == fmt["weight_after"] == fmt["pct_adv"] == "0.00%"
    assert fmt["quantity"] == "#,##0.####"  # BBB sells 40.5 shares


def test_exposures_sheet_has_a_bar_chart_and_active_columns(written):
    ws = openpyxl.load_workbook(written["xlsx"])["Exposures"]
    assert ws._charts
    assert [c.value for c in ws[1]] == [heading(n) for n in EXPOSURE_NAMES]
    assert [ws.cell(row=2, column=i).value for i in (1, 5, 6, 9)] == ["size:small", -0.02, 0.10, 0.09]  # fmt: skip


def test_checks_sheet_says_pass_fail_and_highlights_failures(written):
    ws = openpyxl.load_workbook(written["xlsx"])["Checks"]
    header = [c.value for c in ws[1]]
    assert header == ["check", "meaning", "limit", "value", "unit", "ok", "detail"]
    ok = {row[0].value: row[5] for row in ws.iter_rows(min_row=2)}
    assert {k: c.value for k, c in ok.items()} == {
        "cash floor": "PASS", "max_turnover": "FAIL", "no short": "PASS",
    }  # fmt: skip
    assert ok["max_turnover"].fill.fgColor.rgb.endswith("FFC7CE")
    assert ok["cash floor"].fill.fill_type is None


def test_checks_sheet_says_each_row_in_words_with_its_unit(written):
    """Limit and value stay the numbers measured; their cells show them in the row's
    unit (no raw float), and a row says what it measures."""
    ws = openpyxl.load_workbook(written["xlsx"])["Checks"]
    rows = {r[0].value: {h.value: c for h, c in zip(ws[1], r, strict=True)} for r in ws.iter_rows(min_row=2)}  # fmt: skip
    turnover = rows["max_turnover"]
    assert turnover["meaning"].value == "turnover at most the cap"
    assert turnover["unit"].value == "% of NAV"
    assert turnover["limit"].number_format == turnover["value"].number_format == "0.00%"
    for row in rows.values():
        for name in ("limit", "value"):
            if isinstance(row[name].value, float):
                assert row[name].number_format != "General", (row["check"].value, name)


def test_a_tilt_rows_band_reads_as_a_percent_band():
    """The checks state a tilt's band as text ("[0.0500, 0.1100]", the JSON keeps it);
    the Checks sheet shows it in percent; a numeric limit stays a number."""
    checks = pd.DataFrame(
        {
            "check": ["tilt size:small", "max_turnover"],
            "limit": ["[0.0500, 0.1100]", 0.25],
            "value": [0.0731, 0.2],
            "ok": [True, True],
            "detail": ["", ""],
        }
    )
    limits = list(checks_frame(checks)["limit"])
    assert limits == ["5.00% to 11.00%", 0.25]


def test_tax_sheet_totals_short_and_long_term_gains(written):
    rows = _sheet_rows(openpyxl.load_workbook(written["xlsx"])["Tax"])
    header = rows[0]
    totals = {r[0]: r[header.index(heading("realized_gain_usd"))] for r in rows if r[0] and "total" in r[0].lower()}  # fmt: skip
    assert totals["Short-term total"] == pytest.approx(-150.25)
    assert totals["Long-term total"] == pytest.approx(812.33)
    assert totals["Total"] == pytest.approx(662.08)


def test_scenario_sheet_flattens_settings_to_dotted_keys(written):
    rows = _sheet_rows(openpyxl.load_workbook(written["xlsx"])["Scenario"])
    settings = dict(rows[1:])
    assert rows[0] == ["Key", "Value"]
    assert settings["constraints.cash.min"] == 0.01
    assert settings["tilts.size:small.band"] == 0.03
    assert settings["exclude"] == "XYZ, QQQ"
    assert settings["views[1]"] == "long: size:small, short: size:large, excess_return: 0.03"


def test_summary_sheet_lists_key_figures_and_the_stress_table(written):
    rows = _sheet_rows(openpyxl.load_workbook(written["xlsx"])["Summary"])
    labels = {r[0]: r[1] for r in rows if r[0]}
    assert labels["NAV (USD)"] == 100_000.0
    assert labels["Trades"] == 4
    assert labels["Binding constraints"] == "max_turnover"
    assert labels["Realized gain, short-term (USD)"] == -150.25
    shocks = [r[0] for r in rows]
    assert "small caps -20%" in shocks and "rates -100bp" in shocks


# --- the CSV -------------------------------------------------------------------------------


def test_csv_has_the_contract_columns_and_plain_utf8_lines(written):
    raw = written["csv"].read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw
    assert raw.split(b"\n")[0].decode() == ",".join(TRADE_COLUMNS + REQUEST_COLUMNS)


def test_csv_omits_tax_columns_when_no_gain_is_known(proposal, tmp_path):
    trades = proposal.trades.assign(realized_gain=NAN, term="")
    write_trades_csv(dataclasses.replace(proposal, trades=trades), tmp_path / "t.csv")
    header = (tmp_path / "t.csv").read_text().splitlines()[0].split(",")
    assert header == [
        c for c in TRADE_COLUMNS + REQUEST_COLUMNS if c not in ("realized_gain", "term", "lot_id")
    ]


def test_csv_quotes_formula_text_but_not_negative_numbers(written):
    csv = pd.read_csv(written["csv"])
    assert set(csv["account"]) == {"'" + ACCOUNT}
    assert list(csv["reason"]) == [
        "tilt size:small", "'-trim overweight", "theme:biotech", "'@restricted: sell",
    ]  # fmt: skip
    assert csv["realized_gain"].iloc[3] == -150.25  # a negative number stays a number


def test_csv_keeps_full_float_precision(written):
    csv = pd.read_csv(written["csv"])
    assert csv["notional"].iloc[1] == 4999.99635
    assert csv["est_cost"].iloc[0] == 2.506251


def test_csv_writes_whole_shares_as_integers_and_money_to_the_cent(proposal, tmp_path):
    """Only the text changes: ``2131.0`` shares is written ``2131``, ``62885.810000000005``
    dollars ``62885.81``; fractional fund shares and sub-cent amounts stay as they are,
    and every value reads back as the number computed (float noise aside)."""
    trades = proposal.trades.copy()
    trades["quantity"] = [2131.0, 40.5, 7.0, 12.0][: len(trades)]
    trades["notional"] = [62885.810000000005, 4999.99635, 1234.5, 0.1 + 0.2][: len(trades)]
    trades["price"] = [29.51, 123.4567, 250.0, 0.025][: len(trades)]
    write_trades_csv(dataclasses.replace(proposal, trades=trades), tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_text()
    rows = list(csv_module.DictReader(io.StringIO(text)))
    assert [r["quantity"] for r in rows] == ["2131", "40.5", "7", "12"][: len(rows)]
    assert [r["notional"] for r in rows] == ["62885.81", "4999.99635", "1234.50", "0.30"][: len(rows)]  # fmt: skip
    assert "withdraw_usd" in rows[0] and rows[0]["withdraw_usd"] == "0.00"
    back = read_written_trades(tmp_path / "t.csv")
    np.testing.assert_allclose(back["quantity"], trades["quantity"], rtol=0)
    np.testing.assert_allclose(back["notional"], trades["notional"], rtol=1e-12)
    np.testing.assert_allclose(back["est_cost"], trades["est_cost"], rtol=1e-12)
    # a price is money too: to the cent where it is whole cents, else as given
    assert [r["price"] for r in rows] == ["29.51", "123.4567", "250.00", "0.025"][: len(rows)]


def test_safe_text_marks_only_risky_strings():
    assert safe_text("=1+1", csv=True) == "'=1+1"
    assert safe_text("\tx", csv=True) == "'\tx"
    assert safe_text("\rx", csv=True) == "'\rx"
    assert safe_text("AAPL", csv=True) == "AAPL"
    assert safe_text(-1.5, csv=True) == -1.5
    assert safe_text("-1.5") == "-1.5" and type(safe_text("-1.5")) is not str


# --- the JSON ------------------------------------------------------------------------------


def _reject_nan(token: str):
    raise AssertionError(f"JSON holds {token}")


def test_json_has_every_design_key_and_no_nan(written):
    summary = json.loads(written["json"].read_text(), parse_constant=_reject_nan)
    assert summary.keys() >= DESIGN_KEYS
    assert set(summary["exposures"]) == {"before", "after", "target"}
    assert summary["exposures"]["target"]["sector:Energy"] is None
    assert summary["account"] == ACCOUNT


def test_json_writes_an_unknown_headline_number_as_null(proposal, tmp_path):
    odd = dataclasses.replace(proposal, metrics=dataclasses.replace(proposal.metrics, turnover=NAN))
    write_json(odd, tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["turnover"] is None


def test_json_accepts_numpy_scalars(proposal, tmp_path):
    metrics = dataclasses.replace(proposal.metrics, n_trades=np.int64(4))
    write_json(dataclasses.replace(proposal, metrics=metrics), tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["n_trades"] == 4


# --- whole or not at all -------------------------------------------------------------------


def test_failure_inside_output_set_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "trades.csv"
    target.write_bytes(b"old,content\n1,2\n")
    with pytest.raises(RuntimeError, match="boom"), OutputSet() as outputs:
        temp = outputs.stage(target)
        temp.write_text("new,content\n")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old,content\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trades.csv"]


def test_clean_exit_renames_every_output_into_place(tmp_path):
    with OutputSet() as outputs:
        a, b = outputs.stage(tmp_path / "a.txt"), outputs.stage(tmp_path / "sub" / "b.txt")
        assert a.parent == tmp_path and not (tmp_path / "a.txt").exists()
        a.write_text("A")
        b.write_text("B")
    assert (tmp_path / "a.txt").read_text() == "A"
    assert (tmp_path / "sub" / "b.txt").read_text() == "B"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.txt", "sub"]


def test_two_outputs_at_one_path_are_refused(tmp_path):
    with pytest.raises(RebalancerError, match="same file"), OutputSet() as outputs:
        outputs.stage(tmp_path / "x.csv")
        outputs.stage(tmp_path / "." / "x.csv")
    assert list(tmp_path.iterdir()) == []


def test_write_outputs_refuses_to_overwrite_an_input(proposal, tmp_path):
    holdings = Path(proposal.inputs["holdings"])
    holdings.write_text("account,ticker,quantity\n")
    with pytest.raises(RebalancerError, match="holdings input"):
        write_outputs(proposal, trades=holdings)
    assert holdings.read_text() == "account,ticker,quantity\n"


def test_write_outputs_writes_nothing_when_the_last_output_fails(proposal, tmp_path):
    (tmp_path / "s.json").mkdir()  # the JSON target is a folder: that output cannot be written
    with pytest.raises(RebalancerError):
        write_outputs(proposal, out=tmp_path / "p.xlsx", trades=tmp_path / "t.csv",
                      json_path=tmp_path / "s.json")  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_write_outputs_returns_the_targets(proposal, tmp_path):
    paths = write_outputs(proposal, trades=tmp_path / "t.csv", json_path=tmp_path / "s.json")
    assert paths == [tmp_path / "t.csv", tmp_path / "s.json"]
    assert all(p.exists() for p in paths)


# --- the console ---------------------------------------------------------------------------


def test_print_summary_mentions_the_account_and_failures(proposal):
    buffer = io.StringIO()
    print_summary(proposal, Console(file=buffer, width=100))
    text = buffer.getvalue()
    assert ACCOUNT in text
    assert "FAIL max_turnover" in text
    assert "size:small" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_print_summary_survives_markup_like_names(proposal):
    odd = dataclasses.replace(proposal, account="[bold]x[/]", warnings=["[red]"])
    buffer = io.StringIO()
    print_summary(odd, Console(file=buffer, width=100))
    assert "[bold]x[/]" in buffer.getvalue()
    assert "warning: [red]" in buffer.getvalue()


def test_tax_sheet_of_many_lots_reads_back_cell_for_cell(proposal, tmp_path):
    """The lot table, bound into the sheet in bulk with one style per column, holds each
    sale's value with its column's format, risky text quoted, missing values empty; the
    columns as wide as their widest formatted value (+2, within 6..60)."""
    n = 3_000
    rng = np.random.default_rng(5)
    quantity = rng.integers(1, 5_000, n) + np.where(rng.random(n) < 0.1, 0.25, 0.0)
    basis = (quantity * rng.uniform(5, 500, n)).round(2)
    proceeds = (quantity * rng.uniform(5, 500, n)).round(2)
    gain = (proceeds - basis).round(2)
    gain[7] = NAN  # a gain the lots do not give
    sales = pd.DataFrame(
        {
            "account": ACCOUNT,
            "ticker": [f"T{i % 97:02d}" for i in range(n)],
            "lot_id": [EVIL_NAME if i == 11 else f"L{i}" for i in range(n)],
            "acquired": pd.Timestamp("2023-01-02") + pd.to_timedelta(np.arange(n) % 900, "D"),
            "quantity_sold": quantity,
            "cost_basis_sold_usd": basis,
            "proceeds_usd": proceeds,
            "realized_gain_usd": gain,
            "term": np.where(np.arange(n) % 3 == 0, "ST", "LT"),
        }
    )
    write_workbook(dataclasses.replace(proposal, lot_sales=sales), tmp_path / "p.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "p.xlsx")["Tax"]
    header = [c.value for c in ws[1]]
    assert header == [heading(c) for c in sales.columns]
    assert all(c.font.b and c.fill.fgColor.rgb.endswith("DDEBF7") for c in ws[1])
    assert ws.auto_filter.ref == f"A1:I{n + 1}" and ws.freeze_panes == "A2"
    formats = {
        "quantity_sold": "#,##0.####",
        "cost_basis_sold_usd": "#,##0.00",
        "proceeds_usd": "#,##0.00",
        "realized_gain_usd": "#,##0.00",
    }
    rows = list(ws.iter_rows(min_row=2, max_row=n + 1))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            name = sales.columns[j]  # the header is its words
            want = sales.iloc[i, j]
            if name == "acquired":
                assert cell.value == want.to_pydatetime(), (i, name)
            elif name == "realized_gain_usd" and i == 7:
                assert cell.value is None
            else:
                assert cell.value == want, (i, name, cell.value, want)
            assert cell.number_format == formats.get(name, cell.number_format), (i, name)
            if name in ("account", "ticker", "lot_id", "term"):
                assert cell.data_type == "s"
    assert rows[11][2].quotePrefix and not rows[12][2].quotePrefix
    assert rows[0][3].number_format == rows[1][3].number_format  # one date format
    # the money columns' widest value is their total (the totals rows below the lots)
    for name, values in (("cost_basis_sold_usd", basis), ("proceeds_usd", proceeds)):
        words = heading(name)
        width = max([len(words)] + [len(f"{v:,.2f}") for v in [*values, values.sum()]])
        letter = openpyxl.utils.get_column_letter(header.index(words) + 1)
        assert ws.column_dimensions[letter].width == min(60, max(6, width + 2)), name
