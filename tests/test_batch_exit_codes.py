"""``batch`` exit codes: 1 when any account failed, else 3 when any account's limits
conflict, else 0; the other accounts are written either way, and the console and
book_summary.xlsx (its Not proposed sheet) name the accounts that were not."""

from __future__ import annotations

import openpyxl
from rebalancer.examples.make_book import make_book

from tests.conftest import make_universe, run_cli, write_scenario

# the small-cap band needs far more than 2% turnover from these large-cap accounts
TIGHT = 'extends: base.yaml\ntilts: {"size:small": {target: 0.10, band: 0.01}}\n'
TIGHT += "constraints: {max_turnover: 0.02}\n"


def test_batch_exits_1_on_a_failed_account_and_3_on_an_infeasible_one(tmp_path):
    uni = make_universe()
    holdings, accounts = make_book(4, seed=3, universe=uni, benchmark=None, models=["base.yaml"])
    accounts.loc[accounts["account"] == "ACC00002", "scenario"] = "tight.yaml"
    write_scenario(tmp_path / "tight.yaml", TIGHT)
    bad_lot = holdings.index[holdings["account"] == "ACC00003"][0]
    good_quantity = holdings.loc[bad_lot, "quantity"]
    holdings.loc[bad_lot, "quantity"] = -5.0
    uni.to_csv(tmp_path / "universe.csv", index=False)
    holdings.to_csv(tmp_path / "holdings.csv", index=False)
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    out = tmp_path / "book"

    def batch(*extra: str):
        return run_cli(
            "batch", "--accounts", tmp_path / "accounts.csv",
            "--holdings", tmp_path / "holdings.csv", "--universe", tmp_path / "universe.csv",
            "--out-dir", out, "--workers", "1", "--as-of", "2026-11-20", "--quiet", *extra,
        )  # fmt: skip

    # a failed account wins over an infeasible one: exit 1, the other two written
    result = batch()
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 2 of 4 accounts not proposed: ")
    assert "1 failed (ACC00003)" in lines[0] and "1 infeasible (ACC00002)" in lines[0]
    for account in ("ACC00001", "ACC00004"):
        assert (out / f"{account}.json").exists() and (out / f"{account}.trades.csv").exists()
    for account in ("ACC00002", "ACC00003"):
        assert not (out / f"{account}.json").exists()
    book = openpyxl.load_workbook(out / "book_summary.xlsx")
    rows = list(book["Not proposed"].values)
    assert rows[0] == ("account", "status", "message")
    listed = {r[0]: (r[1], r[2]) for r in rows[1:]}
    assert set(listed) == {"ACC00002", "ACC00003"}
    assert listed["ACC00002"][0] == "infeasible" and "max_turnover" in listed["ACC00002"][1]
    assert listed["ACC00003"][0] == "failed" and "column 'quantity'" in listed["ACC00003"][1]

    # the bad lot mended: only the infeasible account is left, exit 3
    holdings.loc[bad_lot, "quantity"] = good_quantity
    holdings.to_csv(tmp_path / "holdings.csv", index=False)
    result = batch("--resume")
    assert result.exit_code == 3, result.output
    assert result.output.strip() == (
        "infeasible: 1 of 4 accounts not proposed: 1 infeasible (ACC00002); the other 3 "
        "were written (book_summary.xlsx lists why)"
    )
    assert (out / "ACC00003.json").exists()

    # and a book whose accounts are all proposed exits 0
    accounts.loc[accounts["account"] == "ACC00002", "scenario"] = "base.yaml"
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    assert batch("--resume").exit_code == 0
    assert not list(openpyxl.load_workbook(out / "book_summary.xlsx")["Not proposed"].values)[1:]
