"""Books of accounts on the small synthetic market: a poisoned account fails alone,
--resume redoes only what is missing, block orders reconcile with the accounts'
trades. (The same trades on a real Dask cluster: tests/test_book_models.py.)"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from rebalancer.examples.make_book import make_book

from rebalancer.runs.book.plan import BookFiles
from rebalancer.runs.book.run import run_book
from rebalancer.runs.verify import verify
from tests.conftest import make_universe, run_cli

N_ACCOUNTS = 12


def _book(folder: Path, poison: str | None = None) -> BookFiles:
    """A synthetic book on the small synthetic market (no benchmark: tilts are measured
    against each account's holdings), optionally with one account's lot made invalid."""
    folder.mkdir(parents=True, exist_ok=True)
    uni = make_universe()
    holdings, accounts = make_book(
        N_ACCOUNTS,
        seed=3,
        universe=uni,
        benchmark=None,
        models=["smallcap_rerating.yaml", "base.yaml"],
    )
    if poison:
        first = holdings.index[holdings["account"] == poison][0]
        holdings.loc[first, "quantity"] = -5.0
    uni.to_csv(folder / "universe.csv", index=False)
    holdings.to_csv(folder / "holdings.csv", index=False)
    accounts.to_csv(folder / "accounts.csv", index=False)
    return BookFiles(
        str(folder / "holdings.csv"), str(folder / "universe.csv"), str(folder / "accounts.csv")
    )


def _trades(out: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, keep_default_na=False) for p in sorted(out.glob("*.trades.csv"))]
    frames = [f for f in frames if len(f)]  # an account may propose no trade
    return pd.concat(frames, ignore_index=True)[["account", "ticker", "side", "quantity"]]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("book")
    files = _book(folder)
    book = run_book(files, folder / "local", workers=2, as_of="2026-11-20")
    return files, folder, book


def test_every_account_of_the_book_is_proposed(local_run):
    _, folder, book = local_run
    assert len(book.results) == N_ACCOUNTS
    assert set(book.summary["status"]) <= {"optimal", "infeasible"}
    assert (book.summary["status"] == "optimal").sum() >= N_ACCOUNTS - 1
    for r in book.results:
        if r.status == "optimal":
            assert (folder / "local" / f"{r.account}.json").exists()


def test_block_orders_add_up_to_the_accounts_trades(local_run):
    _, folder, _ = local_run
    blocks = pd.read_csv(folder / "local" / "block_orders.csv", keep_default_na=False)
    trades = _trades(folder / "local")
    per_block = blocks.groupby(["ticker", "side"])
    assert (per_block["quantity"].sum() == per_block["block_quantity"].first()).all()
    want = trades.groupby(["ticker", "side"])["quantity"].sum()
    got = per_block["quantity"].sum()
    # the trades CSVs write whole shares as integers: equal values, whatever the dtype
    pd.testing.assert_series_equal(
        got.sort_index(), want.sort_index(), check_names=False, check_dtype=False
    )
    # whole shares are written as integers, as in the trades CSV ("2131", not "2131.0")
    text = pd.read_csv(folder / "local" / "block_orders.csv", dtype=str, keep_default_na=False)
    for column in ("block_quantity", "quantity"):
        whole = blocks[column].astype(float) % 1 == 0
        assert not text.loc[whole, column].str.contains(".", regex=False).any(), column
    pairs = set(zip(blocks["account"], blocks["ticker"], blocks["side"], strict=True))
    assert pairs == set(zip(trades["account"], trades["ticker"], trades["side"], strict=True))


def test_book_summary_prints_one_page_wide_with_formatted_figures(local_run):
    """Each sheet of the write-only book summary carries its page setup (set before
    its first row), and the dollar, rate and share columns their formats."""
    _, folder, _ = local_run
    wb = openpyxl.load_workbook(folder / "local" / "book_summary.xlsx")
    assert wb.sheetnames == ["Accounts", "Blocks", "Allocations", "Not proposed"]
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert (int(ws.page_setup.fitToWidth), int(ws.page_setup.fitToHeight)) == (1, 0)
        assert ws.print_title_rows == "$1:$1", ws.title
        assert ws.oddHeader.left.text == "Book summary"
    accounts = wb["Accounts"]
    formats = {c.value: accounts.cell(row=2, column=c.column).number_format for c in accounts[1]}
    assert formats["nav"] == formats["est_cost"] == formats["cash_after"] == "#,##0.00"
    assert formats["turnover"] == formats["expected_return"] == "0.00%"
    allocations = wb["Allocations"]
    formats = {c.value: allocations.cell(row=2, column=c.column).number_format for c in allocations[1]}  # fmt: skip
    assert formats["block_quantity"] in ("#,##0", "#,##0.####")


def test_a_poisoned_account_fails_alone(tmp_path):
    files = _book(tmp_path, poison="ACC00004")
    book = run_book(files, tmp_path / "out", workers=1, as_of="2026-11-20")
    status = dict(zip(book.summary["account"], book.summary["status"], strict=True))
    assert status["ACC00004"] == "failed"
    message = book.summary.set_index("account").at["ACC00004", "message"]
    assert "holdings.csv" in message and "column 'quantity'" in message and "row " in message
    others = [s for a, s in status.items() if a != "ACC00004"]
    assert sum(s == "optimal" for s in others) >= len(others) - 1
    assert not (tmp_path / "out" / "ACC00004.json").exists()
    # the book's holdings file keeps the bad row: the other accounts still verify
    good = next(a for a, s in status.items() if s == "optimal")
    report = verify(tmp_path / "out" / f"{good}.json", reproduce=True)
    assert report.passed, report.findings
    assert any("reproduced: the same" in text for _, text in report.findings)


def test_resume_redoes_only_what_is_missing_or_broken(local_run, tmp_path):
    files, folder, _ = local_run
    out = tmp_path / "resume"
    first = run_book(files, out, workers=1, as_of="2026-11-20")
    ok = [r.account for r in first.results if r.status == "optimal"]
    gone, broken = ok[0], ok[1]
    (out / f"{gone}.json").unlink()
    csv = out / f"{broken}.trades.csv"
    csv.write_text(csv.read_text().splitlines()[0] + "\n")  # header only: n_trades disagrees
    again = run_book(files, out, workers=1, resume=True, as_of="2026-11-20")
    status = dict((r.account, r.status) for r in again.results)
    assert status[gone] == "optimal" and status[broken] == "optimal"
    assert all(s == "skipped" for a, s in status.items() if a not in (gone, broken) and a in ok)
    # the redone accounts come back exactly as the first run wrote them
    pd.testing.assert_frame_equal(_trades(out), _trades(folder / "local"))


def test_batch_cli_writes_the_book_and_says_what_failed(tmp_path):
    files = _book(tmp_path, poison="ACC00002")
    result = run_cli(
        "batch",
        "--accounts",
        files.accounts,
        "--holdings",
        files.holdings,
        "--universe",
        files.universe,
        "--out-dir",
        tmp_path / "cli",
        "--workers",
        "1",
        "--as-of",
        "2026-11-20",
    )
    assert result.exit_code == 1, result.output  # an account failed; the rest is written
    assert "ACC00002" in result.output and "failed" in result.output
    assert (tmp_path / "cli" / "book_summary.xlsx").exists()
    assert (tmp_path / "cli" / "block_orders.csv").exists()
