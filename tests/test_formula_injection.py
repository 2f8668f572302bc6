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
