"""``validate`` lists every problem of every file at once (at most 50 per file, then how
many more), each naming the file, the row and the column; the first it lists for a
file is the one line ``propose`` stops at; and given nothing to check it is a usage
error (exit 2).

The first-problem check runs over seeded mutations of every CSV input:
``REBALANCER_VALIDATE_MUTATIONS`` of them (default 60, under a second; 600 for the full
run), the same ones every run."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from rebalancer import inputs as rd
from rebalancer.errors import InputError
from rebalancer.inputs.problems import PROBLEMS_PER_FILE, Problems
from tests.conftest import make_holdings, make_universe, run_cli
from tests.test_fuzz_inputs import mutate, write_market

READERS = {
    "holdings": rd.read_holdings,
    "universe": rd.read_universe,
    "prices": rd.read_prices,
    "benchmark": rd.read_benchmark,
    "accounts": rd.read_accounts,
    "trade_history": rd.read_trade_history,
}
OPTIONS = {role: "--" + role.replace("_", "-") for role in READERS}
MUTATIONS = int(os.environ.get("REBALANCER_VALIDATE_MUTATIONS", "60"))


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error: ")]


def test_every_problem_of_every_file_in_one_run(tmp_path):
    uni = make_universe(30).astype(object)
    hold = make_holdings(make_universe(30), n_names=10).astype(object)
    uni.loc[2, "price"] = "abc"  # row 4
    uni.loc[2, "region"] = "Mars"  # row 4, the next column of the contract
    uni.loc[7, "adv"] = "-1"  # row 9
    uni.loc[9, "ticker"] = uni.loc[8, "ticker"]  # row 11 repeats row 10
    hold.loc[0, "quantity"] = "-5"  # row 2
    hold.loc[3, "acquired"] = "2024-13-01"  # row 5
    hold.loc[4, "ticker"] = "NOPE"  # row 6: not in the universe
    uni.to_csv(tmp_path / "universe.csv", index=False)
    hold.to_csv(tmp_path / "holdings.csv", index=False)
    (tmp_path / "benchmark.csv").write_text("ticker,weight\nS029,0.5\nS028,x\nS029,0.5\n")
    (tmp_path / "accounts.csv").write_text("account,taxable\nA,maybe\nB,yes\nA,no\n")
    (tmp_path / "history.csv").write_text(
        "account,ticker,date,side,quantity,price\nA,S001,2026-01-02,HOLD,1,2\n"
        "A,S002,2026-01-32,BUY,0,2\n"
    )
    args = ["validate"] + [
        str(a)
        for role, name in [
            ("universe", "universe.csv"),
            ("holdings", "holdings.csv"),
            ("benchmark", "benchmark.csv"),
            ("accounts", "accounts.csv"),
            ("trade_history", "history.csv"),
        ]  # fmt: skip
        for a in (OPTIONS[role], tmp_path / name)
    ]
    result = run_cli(*args)
    assert result.exit_code == 1, result.output
    expected = [
        ("universe.csv", 4, "price", "expected a number >= 1e-06, got 'abc'"),
        ("universe.csv", 4, "region", "expected one of US, DM, EM, got 'Mars'"),
        ("universe.csv", 9, "adv", "expected a number >= 0, got '-1'"),
        ("universe.csv", 11, "ticker", "duplicate ticker 'S008' (first at row 10)"),
        ("holdings.csv", 2, "quantity", "expected a number > 0, got '-5'"),
        ("holdings.csv", 5, "acquired", "expected a date as YYYY-MM-DD, got '2024-13-01'"),
        ("holdings.csv", 6, "ticker", "ticker 'NOPE' is not in the universe"),
        ("benchmark.csv", 3, "weight", "expected a number >= 0, got 'x'"),
        ("benchmark.csv", 4, "ticker", "duplicate ticker 'S029' (first at row 2)"),
        ("accounts.csv", 2, "taxable", "expected true/false, yes/no or 1/0, got 'maybe'"),
        ("accounts.csv", 4, "account", "duplicate account 'A' (first at row 2)"),
        ("history.csv", 2, "side", "expected one of BUY, SELL, got 'HOLD'"),
        ("history.csv", 3, "date", "expected a date as YYYY-MM-DD, got '2026-01-32'"),
        ("history.csv", 3, "quantity", "expected a number > 0, got '0'"),
    ]
    lines = error_lines(result.output)
    assert len(lines) == len(expected), result.output
    for line, (name, row, column, says) in zip(lines, expected, strict=True):
        assert line == f"error: {tmp_path / name}, row {row}, column '{column}': {says}"


def test_a_file_with_many_problems_lists_the_first_50_and_counts_the_rest(tmp_path):
    uni = make_universe(120).astype(object)
    uni["price"] = "n/a"
    uni.loc[5, "sector"] = ""
    uni.to_csv(tmp_path / "universe.csv", index=False)
    result = run_cli("validate", "--universe", tmp_path / "universe.csv")
    assert result.exit_code == 1
    lines = error_lines(result.output)
    assert len(lines) == PROBLEMS_PER_FILE + 1, result.output
    assert lines[6] == (  # row 7: its price, then its sector
        f"error: {tmp_path / 'universe.csv'}, row 7, column 'sector': "
        "expected a value, got an empty cell"
    )
    assert lines[-1] == f"error: {tmp_path / 'universe.csv'}: ... and 71 more problems"


def test_missing_columns_are_listed_together_and_stop_the_cell_checks(tmp_path):
    (tmp_path / "u.csv").write_text("ticker,price,sector\nA,-1,Energy\n")
    result = run_cli("validate", "--universe", tmp_path / "u.csv")
    lines = error_lines(result.output)
    assert [line.split("column ")[1].split(":")[0] for line in lines] == [
        "'region'", "'market_cap'", "'adv'",
    ]  # fmt: skip


def test_nothing_to_check_is_a_usage_error():
    result = run_cli("validate")
    assert result.exit_code == 2
    assert "nothing to check" in result.output
    assert "ok" not in result.output


@pytest.mark.parametrize("index", range(MUTATIONS))
def test_the_first_problem_validate_lists_is_the_one_a_read_stops_at(tmp_path, index):
    """Over the fuzz suite's seeded mutations of every CSV input: a raising read (what
    propose does) and a collecting one (validate) check the same things in the same
    order, so the first collected problem is the error raised, and a file with none
    reads to the same table both ways."""
    paths = write_market(tmp_path / "market")
    role = list(READERS)[index % len(READERS)]
    path = paths[role]
    path.write_bytes(mutate(path.read_bytes(), 7_919 * index + 1)[0])
    read = READERS[role]
    try:
        raised, table = None, read(path)
    except InputError as exc:
        raised, table = str(exc), None
    problems = Problems(PROBLEMS_PER_FILE)
    collected_table = problems.check(read, path)
    collected = [str(p) for p in problems.listed(path)]
    assert (collected[0] if collected else None) == raised
    assert len(set(collected)) == len(collected), "a problem listed twice"
    if raised is None:
        assert_equal = (
            pd.testing.assert_series_equal
            if isinstance(table, pd.Series)
            else pd.testing.assert_frame_equal
        )
        assert_equal(collected_table, table)
