"""The groundwork of households (issue 17): the accounts file's ``account_type``, the
universe's ``income_yield`` with the income tax a year it costs a taxable account, and
the check that a household's accounts name one scenario and one benchmark.

Through the command line: a bad or conflicting cell is one line naming the file, the
row and the column(s), exit 1, nothing written; the income-tax figures are recomputed
here from the universe file and the written trades, not taken from the optimizer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.inputs import read_accounts
from rebalancer.inputs.households import household_disagreements
from tests.conftest import SCENARIOS, make_holdings, make_universe, run_cli

BASE = SCENARIOS / "base.yaml"


def _accounts(path: Path, header: str, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows))
    return path


def _outputs(tmp_path: Path) -> list:
    out = tmp_path / "o"
    return ["--out", out / "p.xlsx", "--trades", out / "t.csv", "--json", out / "s.json"]


def _propose(market, tmp_path: Path, *extra):
    return run_cli(
        "propose", "--holdings", market["holdings"], "--universe", market["universe"],
        "--scenario", BASE, "--as-of", "2026-11-20", *_outputs(tmp_path), *extra,
    )  # fmt: skip


# ------------------------------------------------------------------ account_type


@pytest.mark.parametrize(
    ("taxable", "account_type", "want_taxable", "want_type"),
    [
        ("true", "", True, "taxable"),
        ("false", "", False, "tax_exempt"),
        ("", "", False, "tax_exempt"),
        ("", "taxable", True, "taxable"),
        ("", "tax_deferred", False, "tax_deferred"),
        ("no", "Tax_Exempt", False, "tax_exempt"),
        ("1", "taxable", True, "taxable"),
    ],
)
def test_either_column_alone_determines_the_other(
    tmp_path, taxable, account_type, want_taxable, want_type
):
    path = _accounts(
        tmp_path / "a.csv", "account,taxable,account_type", f"A,{taxable},{account_type}"
    )
    table = read_accounts(path)
    assert bool(table.loc[0, "taxable"]) is want_taxable
    assert table.loc[0, "account_type"] == want_type


def test_without_either_column_an_account_is_tax_exempt(tmp_path):
    table = read_accounts(_accounts(tmp_path / "a.csv", "account", "A"))
    assert table.loc[0, "account_type"] == "tax_exempt" and not table.loc[0, "taxable"]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("false,taxable", "taxable false conflicts with account_type taxable"),
        ("true,tax_deferred", "taxable true conflicts with account_type tax_deferred"),
        ("yes,tax_exempt", "taxable yes conflicts with account_type tax_exempt"),
        ("true,tax_defered", "expected one of taxable, tax_deferred, tax_exempt, got "
                             "'tax_defered'; did you mean 'tax_deferred'?"),
        ("true,roth", "expected one of taxable, tax_deferred, tax_exempt, got 'roth'"),
    ],
)  # fmt: skip
def test_a_bad_or_conflicting_type_is_one_line_exit_1_nothing_written(
    market, tmp_path, cells, message
):
    accounts = _accounts(
        tmp_path / "a.csv", "account,taxable,account_type", "OTHER,true,taxable", f"ACC1,{cells}"
    )
    result = _propose(market, tmp_path, "--accounts", accounts)
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    where = (
        "column 'account_type'" if "expected" in message else "columns 'taxable' and 'account_type'"
    )
    assert line.startswith(f"error: {accounts}, row 3, {where}: {message}"), line
    assert not (tmp_path / "o").exists()
    # validate --accounts names the same cell, and passes the sound row
    check = run_cli("validate", "--accounts", accounts)
    assert check.exit_code == 1, check.output
    assert check.output.strip().splitlines() == [line]


def test_validate_lists_every_bad_type_cell(tmp_path):
    accounts = _accounts(
        tmp_path / "a.csv",
        "account,taxable,account_type",
        "A,false,taxable", "B,true,tax_exempt", "C,,ira", "D,,tax_deferred",
    )  # fmt: skip
    result = run_cli("validate", "--accounts", accounts)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    # each cell that does not parse, then each conflict (as a raising read meets them)
    assert [line.split(", ")[1] for line in lines] == ["row 4", "row 2", "row 3"], result.output


def _summary(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "o" / "s.json").read_text())


@pytest.mark.parametrize(
    ("options", "row", "want"),
    [
        (["--taxable"], None, ("taxable", True)),
        (["--tax-exempt"], None, ("tax_exempt", False)),
        ([], "ACC1,,tax_deferred", ("tax_deferred", False)),
        # the option wins over the row: --taxable makes it taxable; --tax-exempt keeps
        # the row's kind of tax-advantaged account, and makes a taxable row tax_exempt
        (["--taxable"], "ACC1,,tax_deferred", ("taxable", True)),
        (["--tax-exempt"], "ACC1,,tax_deferred", ("tax_deferred", False)),
        (["--tax-exempt"], "ACC1,true,", ("tax_exempt", False)),
    ],
)
def test_the_summary_records_the_account_type(market, tmp_path, options, row, want):
    extra = list(options)
    if row is not None:
        extra += ["--accounts", _accounts(tmp_path / "a.csv", "account,taxable,account_type", row)]
    result = _propose(market, tmp_path, *extra)
    assert result.exit_code == 0, result.output
    summary = _summary(tmp_path)
    assert (summary["account_type"], summary["taxable"]) == want
    sheet = pd.read_excel(tmp_path / "o" / "p.xlsx", sheet_name="Summary", header=None)
    lines = dict(zip(sheet[0], sheet[1], strict=False))
    assert lines["Account type"] == want[0]
    verified = run_cli("verify", tmp_path / "o" / "s.json")
    assert verified.exit_code == 0, verified.output


# ------------------------------------------------------------------ income_yield


def _yielding_market(tmp_path: Path, yields: dict[int, str]) -> dict[str, Path]:
    uni = make_universe()
    hold = make_holdings(uni)
    column = pd.Series("", index=uni.index, dtype=object)
    for i, text in yields.items():
        column[i] = text
    uni["income_yield"] = column
    paths = {"universe": tmp_path / "universe.csv", "holdings": tmp_path / "holdings.csv"}
    uni.to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)
    return paths


@pytest.mark.parametrize(("text", "expected"), [("0.6", "a number between 0 and 0.5"),
                                                ("-0.01", "a number between 0 and 0.5"),
                                                ("high", "a number between 0 and 0.5")])  # fmt: skip
def test_a_bad_income_yield_is_one_line_naming_the_cell(tmp_path, text, expected):
    market = _yielding_market(tmp_path, {3: text})
    result = _propose(market, tmp_path, "--taxable")
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {market['universe']}, row 5, column 'income_yield': "), line
    assert f"expected {expected}, got '{text}'" in line
    assert not (tmp_path / "o").exists()


def test_validate_lists_each_bad_income_yield_cell(tmp_path):
    market = _yielding_market(tmp_path, {0: "0.7", 5: "x", 9: "0.02"})
    result = run_cli("validate", "--universe", market["universe"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2, result.output
    assert "row 2, column 'income_yield'" in lines[0] and "row 7, column 'income_yield'" in lines[1]


RATE = 0.30  # the scenario's tax.income_rate in the test below


@pytest.mark.parametrize("taxable", [True, False])
def test_the_income_tax_a_year_is_recomputed_from_the_universe_and_the_trades(tmp_path, taxable):
    """income tax = Σ income_yield × price × shares × tax.income_rate, before the trades
    and after them (holdings + the written trades' signed quantities); 0 for an
    account that is not taxable. A blank yield is 0."""
    yields = {i: f"{0.01 * (i % 7):.2f}" for i in range(0, 80, 2)}  # odd rows blank
    market = _yielding_market(tmp_path, yields)
    scenario = tmp_path / "income.yaml"
    scenario.write_text(f"extends: base.yaml\ntax:\n  income_rate: {RATE}\n")
    book = tmp_path / "book"
    book.mkdir()
    scenario.rename(book / "income.yaml")
    # a deposit to invest: orders whatever the tax on selling
    kind = "taxable" if taxable else "tax_deferred"
    accounts = _accounts(book / "accounts.csv", "account,account_type,deposit_usd",
                         f"ACC1,{kind},300000")  # fmt: skip
    result = run_cli(
        "propose", "--holdings", market["holdings"], "--universe", market["universe"],
        "--scenario", book / "income.yaml", "--accounts", accounts, "--as-of", "2026-11-20",
        *_outputs(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    uni = pd.read_csv(market["universe"]).set_index("ticker")
    income = uni["income_yield"].fillna(0.0) * uni["price"]
    held = pd.read_csv(market["holdings"])  # the deposit is cash: no income
    shares = held[held["ticker"] != "CASH"].groupby("ticker")["quantity"].sum()
    trades = pd.read_csv(tmp_path / "o" / "t.csv")
    signed = np.where(trades["side"] == "SELL", -1, 1) * trades["quantity"]
    after = shares.add(pd.Series(signed.to_numpy(), index=trades["ticker"]).groupby(level=0).sum(),
                       fill_value=0.0)  # fmt: skip
    want_before = float((income.reindex(shares.index) * shares).sum()) * RATE
    want_after = float((income.reindex(after.index) * after).sum()) * RATE
    summary = _summary(tmp_path)
    assert len(trades) > 0
    if taxable:
        assert want_before > 0 and want_after > 0
        assert summary["income_tax_before"] == pytest.approx(want_before, rel=1e-9)
        assert summary["income_tax"] == pytest.approx(want_after, rel=1e-9)
    else:
        assert summary["income_tax_before"] == 0.0 and summary["income_tax"] == 0.0
    sheet = pd.read_excel(tmp_path / "o" / "p.xlsx", sheet_name="Summary", header=None)
    lines = dict(zip(sheet[0], sheet[1], strict=False))
    assert ("Income tax a year before (USD)" in lines) is taxable
    if taxable:
        assert lines["Income tax a year after (USD)"] == pytest.approx(want_after, rel=1e-6)
    verified = run_cli("verify", tmp_path / "o" / "s.json")
    assert verified.exit_code == 0, verified.output


def test_a_bad_income_rate_is_named_by_its_key(market, tmp_path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("extends: base.yaml\ntax:\n  income_rate: 1.5\n")
    result = run_cli("validate", "--scenario", scenario)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "key 'tax.income_rate'" in line and "1.5 is outside [0, 1]" in line, line


# ------------------------------------------------------------------ households


def test_household_disagreements_names_each_household_and_column():
    table = pd.DataFrame(
        {
            "account": ["A", "B", "C", "D", "E", "F"],
            "scenario": ["s.yaml", "s.yaml", "t.yaml", "s.yaml", "s.yaml", "u.yaml"],
            "benchmark": ["b.csv", "c.csv", "b.csv", "b.csv", "b.csv", "b.csv"],
            "household": ["H1", "H1", "H1", "H2", "H2", ""],
            "row": [2, 3, 4, 5, 6, 7],
        }
    )
    found = household_disagreements(table)
    assert [(d.household, d.column) for d in found] == [("H1", "scenario"), ("H1", "benchmark")]
    assert found[0].values == {"s.yaml": ("A", "B"), "t.yaml": ("C",)}
    assert found[0].row == 4  # the first row that disagrees with the household's first


def test_validate_warns_of_a_household_whose_accounts_disagree(market, tmp_path):
    """A warning, not an error (exit 0), until households are solved as one."""
    book = tmp_path / "book"
    accounts = _accounts(
        book / "accounts.csv",
        "account,scenario,household",
        "ACC1,base.yaml,smith", "ACC2,rate_cuts.yaml,smith", "ACC3,base.yaml,jones",
    )  # fmt: skip
    result = run_cli("validate", "--accounts", accounts, "--scenario", BASE)
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("warning:")]
    assert line.startswith(f"warning: {accounts}, row 3, column 'scenario': household smith")
    assert "base.yaml (ACC1), rate_cuts.yaml (ACC2)" in line
    assert "will be solved as one" in line


def test_batch_shows_the_account_type_and_runs_a_household_that_disagrees(tmp_path):
    """The book summary's ``account_type`` column, as each account's JSON says; a
    household whose accounts name different scenarios is still run account by account
    (refused only once households are solved as one)."""
    uni = make_universe()
    book = tmp_path / "book"
    book.mkdir()
    uni.to_csv(book / "universe.csv", index=False)
    holdings = pd.concat(
        [make_holdings(uni, "ACC1"), make_holdings(uni, "ACC2", value_each=20_000.0)]
    )
    holdings.to_csv(book / "holdings.csv", index=False)
    (book / "other.yaml").write_text("extends: base.yaml\nrisk_aversion: 8\n")
    accounts = _accounts(
        book / "accounts.csv",
        "account,scenario,household,account_type",
        "ACC1,base.yaml,smith,tax_deferred", "ACC2,other.yaml,smith,taxable",
    )  # fmt: skip
    result = run_cli(
        "batch", "--universe", book / "universe.csv", "--holdings", book / "holdings.csv",
        "--accounts", accounts, "--out-dir", tmp_path / "out", "--as-of", "2026-11-20",
        "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_excel(tmp_path / "out" / "book_summary.xlsx", sheet_name="Accounts")
    assert dict(zip(table["account"], table["account_type"], strict=True)) == {
        "ACC1": "tax_deferred",
        "ACC2": "taxable",
    }
    for account, kind in (("ACC1", "tax_deferred"), ("ACC2", "taxable")):
        summary = json.loads((tmp_path / "out" / f"{account}.json").read_text())
        assert summary["account_type"] == kind


def test_batch_refuses_a_conflicting_row_in_one_line_writing_nothing(market, tmp_path):
    accounts = _accounts(
        tmp_path / "book" / "accounts.csv",
        "account,scenario,taxable,account_type",
        "ACC1,base.yaml,true,tax_exempt",
    )
    result = run_cli(
        "batch", "--universe", market["universe"], "--holdings", market["holdings"],
        "--accounts", accounts, "--out-dir", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {accounts}, row 2, columns 'taxable' and 'account_type': ")
    assert not (tmp_path / "out").exists()
