"""``batch --resume`` knows what it resumes: an account is reused only when its
manifest's input digests, effective scenario, ``--as-of`` and program equal this
run's, else redone with the reason on the console and in the book summary; ids and
tickers come back as text; workers get absolute paths and write only in --out-dir.
Each test reproduces a way a resumed or remote book went wrong before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.runs.book.plan import BookFiles
from rebalancer.runs.book.run import run_book
from tests.conftest import make_holdings, make_universe, run_cli

AS_OF = "2026-11-20"
ACCOUNTS = ["0042", "1.50"]  # ids a type-guessing reader turns into 42 and 1.5


def _book(folder: Path, scenario: str = "base.yaml") -> BookFiles:
    """Two accounts that both sell the restricted, formula-like ticker '=X' (every
    other name is the small synthetic market's)."""
    folder.mkdir(parents=True, exist_ok=True)
    uni = make_universe(n=40)
    uni.loc[5, ["ticker", "restricted"]] = ["=X", "sell"]
    lots = [
        {"account": a, "ticker": "=X", "quantity": 100.0, "cost_basis": 900.0,
         "acquired": "2022-03-01"}
        for a in ACCOUNTS
    ]  # fmt: skip
    holdings = pd.concat([*(make_holdings(uni, a) for a in ACCOUNTS), pd.DataFrame(lots)])
    uni.to_csv(folder / "universe.csv", index=False)
    holdings.to_csv(folder / "holdings.csv", index=False)
    pd.DataFrame({"account": ACCOUNTS, "scenario": scenario}).to_csv(
        folder / "accounts.csv", index=False
    )
    return BookFiles(*(str(folder / f) for f in ("holdings.csv", "universe.csv", "accounts.csv")))


def _blocks(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "block_orders.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """A book run once (its files and output folder copied by each test)."""
    folder = tmp_path_factory.mktemp("resume")
    files = _book(folder / "in")
    book = run_book(files, folder / "out", workers=1, as_of=AS_OF)
    assert [r.status for r in book.results] == ["optimal", "optimal"]
    return folder


@pytest.fixture
def book(first, tmp_path) -> tuple[BookFiles, Path]:
    shutil.copytree(first / "in", tmp_path / "in")
    shutil.copytree(first / "out", tmp_path / "out")
    files = BookFiles(*(str(tmp_path / "in" / f) for f in ("holdings.csv", "universe.csv",
                                                            "accounts.csv")))  # fmt: skip
    return files, tmp_path / "out"


def test_changed_prices_and_as_of_redo_every_account_and_say_why(book):
    files, out = book
    uni = pd.read_csv(files.universe, keep_default_na=False)
    uni["price"] = (uni["price"] * 1.1).round(2)
    uni.to_csv(files.universe, index=False)
    result = run_cli(
        "batch", "--accounts", files.accounts, "--holdings", files.holdings,
        "--universe", files.universe, "--out-dir", out, "--workers", "1",
        "--as-of", "2026-11-27", "--resume",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # the block orders carry this run's prices, each account's JSON this run's date
    price = dict(zip(uni["ticker"], uni["price"], strict=True))
    blocks = _blocks(out)
    for ticker, block_price in zip(blocks["ticker"], blocks["price"], strict=True):
        assert float(block_price) == price[ticker.removeprefix("'")]
    for account in ACCOUNTS:
        assert json.loads((out / f"{account}.json").read_text())["as_of"] == "2026-11-27"
    assert "--resume: 0 of 2 accounts reused; 2 redone (universe changed: 2, as-of changed: 2)" in (
        result.output
    )
    summary = pd.read_excel(out / "book_summary.xlsx", sheet_name="Accounts", dtype=str)
    for message in summary["message"]:
        assert message.startswith("redone: ") and "universe changed" in message
        assert "as-of changed (2026-11-20 -> 2026-11-27)" in message


def test_a_changed_extends_parent_redoes_the_accounts_of_its_children(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "parent.yaml").write_text("extends: base.yaml\nrisk_aversion: 4\n")
    (folder / "child.yaml").write_text("extends: parent.yaml\ntilt_strength: 1\n")
    files = _book(folder, scenario="child.yaml")
    run_book(files, tmp_path / "out", workers=1, as_of=AS_OF)
    again = run_book(files, tmp_path / "out", workers=1, as_of=AS_OF, resume=True)
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    assert again.resumed() == "--resume: 2 of 2 accounts reused"
    (folder / "parent.yaml").write_text("extends: base.yaml\nrisk_aversion: 6\n")
    third = run_book(files, tmp_path / "out", workers=1, as_of=AS_OF, resume=True)
    assert third.redone == {a: ["scenario changed"] for a in ACCOUNTS}
    assert [r.message for r in third.results] == ["redone: scenario changed"] * 2


def test_ids_and_formula_like_tickers_come_back_as_text_after_a_resume(book):
    files, out = book
    (out / "1.50.json").unlink()  # one account resumed (read back), one redone
    (out / ".1.50.json.0badf00d.tmp").write_text('{"half": ')  # a killed run's
    again = run_book(files, out, workers=1, as_of=AS_OF, resume=True)
    assert list(out.glob(".*")) == []
    assert [r.status for r in again.results] == ["skipped", "optimal"]
    blocks = _blocks(out)
    assert set(blocks["account"]) == set(ACCOUNTS)
    sold = blocks[blocks["ticker"] == "'=X"]  # guarded in the CSV, one block
    assert list(sold["account"]) == ACCOUNTS and set(sold["block_quantity"]) == {
        "200"
    }  # whole shares
    assert "=X" not in set(blocks["ticker"])


def test_a_workbook_from_another_run_is_not_reused(book, tmp_path):
    files, out = book
    run_book(files, out, workers=1, as_of=AS_OF, workbooks=True)
    # another run's workbook lands beside 0042's CSV and JSON (a mixed output set)
    shutil.copy(out / "1.50.xlsx", out / "0042.xlsx")
    again = run_book(files, out, workers=1, as_of=AS_OF, resume=True, workbooks=True)
    assert [r.status for r in again.results] == ["optimal", "skipped"]
    assert again.redone["0042"] == ["outputs incomplete (workbook is not the one its JSON records)"]


def test_a_worker_in_another_folder_reads_and_writes_where_the_client_means(
    first, tmp_path, monkeypatch
):
    """A Dask worker started in another folder, given the client's relative paths,
    failed every account — or, where the same relative tree existed, wrote the
    accounts' files into its own folder."""
    distributed = pytest.importorskip("distributed")
    client_dir, worker_dir = tmp_path / "client", tmp_path / "worker"
    shutil.copytree(first / "in", client_dir / "in")
    shutil.copytree(first / "in", worker_dir / "in")  # the same relative tree
    monkeypatch.chdir(worker_dir)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        monkeypatch.chdir(client_dir)
        files = BookFiles("in/holdings.csv", "in/universe.csv", "in/accounts.csv")
        book = run_book(files, "out", scheduler=cluster.scheduler_address, as_of=AS_OF)
    assert [r.status for r in book.results] == ["optimal", "optimal"], book.results
    assert sorted(p.name for p in (client_dir / "out").glob("*.json")) == [
        f"{a}.json" for a in ACCOUNTS
    ]
    assert not (worker_dir / "out").exists()
    manifest = json.loads((client_dir / "out" / "0042.json").read_text())["manifest"]
    assert manifest["inputs"]["holdings"]["path"] == str(client_dir / "in" / "holdings.csv")
