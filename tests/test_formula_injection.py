"""Text that looks like a formula is stored as text, in the workbook and the CSV."""

from __future__ import annotations

import openpyxl
import pandas as pd

from tests.conftest import SCENARIOS, make_holdings, make_universe, run_cli


def test_formula_like_name_and_account_are_text_in_the_workbook(tmp_path):
    uni = make_universe()
    hold = make_holdings(uni, account="=cmd|' /C calc'!A0")
    held = hold["ticker"].iloc[0]
    uni.loc[uni["ticker"] == held, "name"] = '=HYPERLINK("x")'
    uni.to_csv(tmp_path / "u.csv", index=False)
    hold.to_csv(tmp_path / "h.csv", index=False)
    out, trades = tmp_path / "p.xlsx", tmp_path / "t.csv"
    result = run_cli(
        "propose",
        "--holdings",
        tmp_path / "h.csv",
        "--universe",
        tmp_path / "u.csv",
        "--scenario",
        SCENARIOS / "smallcap_rerating.yaml",
        "--out",
        out,
        "--trades",
        trades,
    )
    assert result.exit_code == 0, result.output

    wb = openpyxl.load_workbook(out)
    cells = [
        c
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("=")
    ]
    assert cells, "the formula-like texts must appear in the workbook"
    assert all(c.data_type == "s" for c in cells)
    names = [c.value for c in cells]
    assert '=HYPERLINK("x")' in names
    assert "=cmd|' /C calc'!A0" in names

    csv = pd.read_csv(trades, keep_default_na=False)
    assert set(csv["account"]) == {"'=cmd|' /C calc'!A0"}


def test_new_text_cells_from_inputs_stay_text(tmp_path):
    """The Trades sheet's reasons (they begin with the scenario's name), its lots sold
    (lot ids begin with the account) and the page headers (the account) hold input
    text: a formula-like scenario name and account are text cells, and a header's
    ``&`` (which starts a header code) prints as written."""
    account = "=cmd&P"
    uni = make_universe()
    hold = make_holdings(uni, account=account)
    hold["cost_basis"] = hold["quantity"] * 10.0  # lots with a basis: lots sold are listed
    hold.loc[hold["ticker"] == "CASH", "cost_basis"] = float("nan")
    hold["acquired"] = "2020-01-02"
    uni.to_csv(tmp_path / "u.csv", index=False)
    hold.to_csv(tmp_path / "h.csv", index=False)
    for name in ("base.yaml", "smallcap_rerating.yaml"):
        text = (SCENARIOS / name).read_text()
        if name == "smallcap_rerating.yaml":
            text = text.replace("name: Small-cap re-rating", 'name: "=HYPERLINK(\\"y\\")"')
        (tmp_path / name).write_text(text)
    out, trades = tmp_path / "p.xlsx", tmp_path / "t.csv"
    result = run_cli(
        "propose", "--holdings", tmp_path / "h.csv", "--universe", tmp_path / "u.csv",
        "--scenario", tmp_path / "smallcap_rerating.yaml", "--taxable",
        "--out", out, "--trades", trades, tax_status=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    ws = wb["Trades"]
    header = [c.value for c in ws[1]]
    reasons = [row[header.index("Reason")] for row in ws.iter_rows(min_row=2) if row[0].value]
    risky = [c for c in reasons if isinstance(c.value, str) and c.value.startswith("=")]
    assert risky, "some reason must begin with the scenario's name"
    assert all(c.data_type == "s" and c.quotePrefix for c in risky)
    lots = [row[header.index("Shares per lot sold")] for row in ws.iter_rows(min_row=2)]
    lots = [c for c in lots if isinstance(c.value, str) and c.value]
    assert lots and all(c.data_type == "s" and c.quotePrefix for c in lots)
    assert not [c for w in wb for row in w.iter_rows() for c in row if c.data_type == "f"]
    for sheet in wb.worksheets:
        assert sheet.oddHeader.left.text == "Account =cmd&&P"  # prints "Account =cmd&P"
    csv = pd.read_csv(trades, keep_default_na=False)
    assert all(r.startswith("'") for r in csv["reason"] if r.lstrip("'").startswith("="))


def test_whatif_text_cells_from_inputs_stay_text(tmp_path):
    """The what-if's run labels (from scenario file names) start its totals rows and its
    scenario names the Compare sheet's common-belief line: formula-like ones are text."""
    uni = make_universe()
    hold = make_holdings(uni)
    uni.to_csv(tmp_path / "u.csv", index=False)
    hold.to_csv(tmp_path / "h.csv", index=False)
    (tmp_path / "base.yaml").write_text((SCENARIOS / "base.yaml").read_text())
    text = (SCENARIOS / "smallcap_rerating.yaml").read_text()
    (tmp_path / "=run.yaml").write_text(
        text.replace("name: Small-cap re-rating", 'name: "=HYPERLINK(\\"y\\")"')
    )
    (tmp_path / "other.yaml").write_text(text)
    out = tmp_path / "w.xlsx"
    result = run_cli(
        "whatif", "--holdings", tmp_path / "h.csv", "--universe", tmp_path / "u.csv",
        "--scenario", tmp_path / "=run.yaml", "--scenario", tmp_path / "other.yaml",
        "--out", out, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    assert not [c for w in wb for row in w.iter_rows() for c in row if c.data_type == "f"]
    note = wb["Compare"].cell(row=2, column=2)
    assert "=run" in note.value and '=HYPERLINK("y")' in note.value
    labels = [c for (c,) in wb["Trades"].iter_rows(min_col=1, max_col=1)]
    totals = [c for c in labels if isinstance(c.value, str) and c.value.startswith("=run: ")]
    assert totals and all(c.data_type == "s" and c.quotePrefix for c in totals)
