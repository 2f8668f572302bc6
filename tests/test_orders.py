"""The order file (docs/contracts.md §4, Order file), read back and reconciled: a
proposal's orders against its trades CSV, a book's allocations against each account's
trades CSV and against their blocks (a block is the sum of its allocations), limit
prices within the tolerance asked, bad settings refused in one line with nothing
written. A book's client reports are checked here too (one per account, 2-4 pages,
reused by ``--resume``), where the book is run once."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.export.csvout import read_written_trades
from tests.conftest import BOOK_AS_OF, EXAMPLES, SCENARIOS, propose_example, run_cli

AS_OF = BOOK_AS_OF
TEXT = {"order_id": str, "block_id": str, "account": str, "side": str, "symbol": str,
        "order_type": str, "time_in_force": str}  # fmt: skip


def _propose(tmp: Path, *extra: str):
    return propose_example("TAX-2M", "--scenario", SCENARIOS / "smallcap_rerating.yaml", *extra)


@pytest.fixture(scope="module")
def proposed(tmp_path_factory):
    """TAX-2M proposed once with its trades CSV and both order layouts (the IBKR one
    with 25 bp limits) written from the same orders (``--reproduce``-equal runs)."""
    tmp = tmp_path_factory.mktemp("orders")
    first = _propose(tmp, "--trades", tmp / "t.csv", "--orders", tmp / "generic.csv",
                     "--json", tmp / "s.json")  # fmt: skip
    assert first.exit_code == 0, first.output
    second = _propose(tmp, "--trades", tmp / "t2.csv", "--orders", tmp / "ibkr.csv",
                      "--orders-format", "ibkr", "--limit-bps", "25")  # fmt: skip
    assert second.exit_code == 0, second.output
    return tmp


def _key(frame: pd.DataFrame, symbol: str, side: str, quantity: str) -> list[tuple]:
    return [(str(s), str(d), float(q)) for s, d, q in
            zip(frame[symbol], frame[side], frame[quantity], strict=True)]  # fmt: skip


def test_the_generic_order_file_holds_the_trades_csv_orders(proposed):
    trades = read_written_trades(proposed / "t.csv")
    orders = pd.read_csv(proposed / "generic.csv", dtype=TEXT, keep_default_na=False)
    assert list(orders.columns) == [
        "order_id", "block_id", "account", "side", "symbol", "quantity", "order_type",
        "limit_price", "time_in_force", "reference_price", "block_quantity",
    ]  # fmt: skip
    assert len(orders) == len(trades) > 0
    assert _key(orders, "symbol", "side", "quantity") == _key(trades, "ticker", "side", "quantity")
    assert set(orders["account"]) == {"TAX-2M"}
    assert orders["order_id"].is_unique and (orders["block_id"] == "").all()
    assert set(orders["order_type"]) == {"MKT"} and (orders["limit_price"] == "").all()
    assert set(orders["time_in_force"]) == {"DAY"}
    assert orders["reference_price"].tolist() == trades["price"].tolist()
    # whole shares are written as integers for order entry (2131, never 2131.0)
    raw = (proposed / "generic.csv").read_text().splitlines()[1:]
    quantities = [line.split(",")[5] for line in raw]
    assert all(q.isdigit() for q in quantities), quantities[:5]


def test_the_ibkr_basket_holds_the_same_orders_with_limits_within_the_tolerance(proposed):
    trades = read_written_trades(proposed / "t2.csv")
    basket = pd.read_csv(proposed / "ibkr.csv", dtype={"Symbol": str, "Account": str})
    assert list(basket.columns) == [
        "Action", "Quantity", "Symbol", "SecType", "Exchange", "Currency", "TimeInForce",
        "OrderType", "LmtPrice", "BasketTag", "Account",
    ]  # fmt: skip
    assert _key(basket, "Symbol", "Action", "Quantity") == _key(
        trades, "ticker", "side", "quantity"
    )
    assert set(basket["OrderType"]) == {"LMT"} and set(basket["TimeInForce"]) == {"DAY"}
    assert set(basket["SecType"]) == {"STK"} and set(basket["Currency"]) == {"USD"}
    for side, limit, price in zip(trades["side"], basket["LmtPrice"], trades["price"], strict=True):
        assert round(limit * 100, 6).is_integer()  # whole cents
        bound = price * (1 + 25e-4) if side == "BUY" else price * (1 - 25e-4)
        if side == "BUY":  # never pays more than 25 bp over, and within a cent of it
            assert bound - 0.01 < limit <= bound + 1e-9
        else:
            assert bound - 1e-9 <= limit < bound + 0.01


def test_verify_checks_the_order_file_the_json_records(proposed):
    summary = json.loads((proposed / "s.json").read_text())
    assert summary["manifest"]["outputs"]["orders"]["path"] == str(proposed / "generic.csv")
    assert run_cli("verify", proposed / "s.json", "-q").exit_code == 0
    # an order file edited after the proposal is not the one it recorded
    path = proposed / "generic.csv"
    kept = path.read_bytes()
    try:
        path.write_bytes(kept + b"O999,,TAX-2M,BUY,XYZ,1,MKT,,DAY,1.0,\n")
        failed = run_cli("verify", proposed / "s.json", "-q")
    finally:
        path.write_bytes(kept)
    assert failed.exit_code == 1 and "FAIL output orders" in failed.output


@pytest.mark.parametrize(
    "options, message",
    [
        (["--orders-format", "schwab"], "--orders-format: unknown layout 'schwab'"),
        (["--limit-bps", "-1"], "--limit-bps: expected basis points"),
        (["--limit-bps", "2000"], "--limit-bps: expected basis points"),
        (["--limit-bps", "nan"], "--limit-bps: expected basis points"),
    ],
)
def test_a_bad_order_setting_is_one_line_and_nothing_is_written(tmp_path, options, message):
    result = _propose(tmp_path, "--trades", tmp_path / "t.csv", "--orders", tmp_path / "o.csv",
                      "--json", tmp_path / "s.json", *options)  # fmt: skip
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_an_order_setting_without_the_order_file_is_refused(tmp_path):
    result = _propose(tmp_path, "--trades", tmp_path / "t.csv", "--orders-format", "ibkr")
    assert result.exit_code == 1
    assert "--orders-format: given without --orders" in result.output
    assert not list(tmp_path.iterdir())


def test_the_order_file_may_not_overwrite_an_input(tmp_path):
    holdings = tmp_path / "holdings.csv"
    shutil.copy(EXAMPLES / "holdings.csv", holdings)
    before = holdings.read_bytes()
    result = run_cli(
        "propose", "--holdings", holdings, "--universe", EXAMPLES / "universe.csv",
        "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--account", "IRA-250K",
        "--orders", holdings, "-q",
    )  # fmt: skip
    assert result.exit_code == 1 and "--orders" in result.output
    assert holdings.read_bytes() == before


# --- a book -------------------------------------------------------------------------------


def _batch(out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``rebalancer batch`` in its own process, as a desk runs it."""
    return subprocess.run(
        [sys.executable, "-m", "rebalancer.cli", "batch",
         "--accounts", str(EXAMPLES / "accounts.csv"),
         "--holdings", str(EXAMPLES / "holdings.csv"),
         "--universe", str(EXAMPLES / "universe.csv"),
         "--prices", str(EXAMPLES / "prices.csv"),
         "--out-dir", str(out / "out"), "--workers", "1", "--as-of", AS_OF, "-q", *extra],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("book_orders")
    done = _batch(tmp, "--orders", str(tmp / "orders.csv"), "--reports", str(tmp / "reports"))
    assert done.returncode == 0, done.stderr
    return tmp


def test_a_books_allocations_sum_to_their_blocks_and_match_each_accounts_trades(book):
    orders = pd.read_csv(book / "orders.csv", dtype=TEXT, keep_default_na=False)
    assert orders["order_id"].is_unique and (orders["block_id"] != "").all()
    for block_id, rows in orders.groupby("block_id"):
        assert rows[["symbol", "side"]].drop_duplicates().shape[0] == 1, block_id
        assert rows["block_quantity"].nunique() == 1
        assert math.isclose(rows["quantity"].sum(), rows["block_quantity"].iloc[0], abs_tol=1e-9)
        assert all(o.startswith(f"{block_id}-") for o in rows["order_id"])
    assert orders[["symbol", "side"]].drop_duplicates().shape[0] == orders["block_id"].nunique()
    accounts = sorted(set(orders["account"]))
    assert accounts == ["FDN-20M", "IRA-250K", "TAX-2M"]
    for account in accounts:
        trades = read_written_trades(book / "out" / f"{account}.trades.csv")
        mine = orders[orders["account"] == account]
        assert sorted(_key(mine, "symbol", "side", "quantity")) == sorted(
            _key(trades, "ticker", "side", "quantity")
        )


def test_a_book_writes_one_client_report_per_account_and_resume_reuses_them(book):
    from pypdf import PdfReader

    for account in ("FDN-20M", "IRA-250K", "TAX-2M"):
        reader = PdfReader(book / "reports" / f"{account}.pdf")
        assert 2 <= len(reader.pages) <= 4
        assert f"Account {account}" in reader.pages[0].extract_text()
    again = _batch(book, "--resume", "--reports", str(book / "reports"))
    assert again.returncode == 0, again.stderr
    summary = pd.read_excel(book / "out" / "book_summary.xlsx", sheet_name="Accounts")
    assert summary["message"].str.startswith("reused").all(), summary["message"].tolist()
    # reports asked for in another folder: each account is redone, its report written there
    moved = _batch(book, "--resume", "--reports", str(book / "reports2"))
    assert moved.returncode == 0, moved.stderr
    summary = pd.read_excel(book / "out" / "book_summary.xlsx", sheet_name="Accounts")
    assert (summary["message"] == "redone: no report yet").all(), summary["message"].tolist()
    assert sorted(p.name for p in (book / "reports2").iterdir()) == [
        "FDN-20M.pdf", "IRA-250K.pdf", "TAX-2M.pdf"
    ]  # fmt: skip


def test_text_a_spreadsheet_would_run_is_marked_in_both_layouts(tmp_path):
    from rebalancer.export.csvout import csv_text
    from rebalancer.export.orders import OrderTerms, write_orders

    allocations = pd.DataFrame(
        {"account": ["=cmd|'/c calc'!A1", "@SUM(1)"], "ticker": ["+X", "-Y"],
         "side": ["BUY", "SELL"], "quantity": [10.0, 2.5], "price": [12.34, 5.0],
         "block_quantity": [10.0, 2.5]}
    )  # fmt: skip
    for layout, account, symbol in (
        ("generic", "account", "symbol"),
        ("ibkr", "Account", "Symbol"),
    ):
        for book in (False, True):
            path = tmp_path / f"{layout}{book}.csv"
            write_orders(allocations, path, OrderTerms(layout), book=book)
            back = pd.read_csv(path, dtype=str, keep_default_na=False)
            if layout == "ibkr":  # market orders: the header names no limit price
                assert "LmtPrice" not in back and back["OrderType"].eq("MKT").all()
            assert all(v.startswith("'") for v in [*back[account], *back[symbol]])
            assert [csv_text(v) for v in back[account]] == allocations["account"].tolist()
            assert [csv_text(v) for v in back[symbol]] == allocations["ticker"].tolist()


@pytest.mark.parametrize(
    "options, message",
    [
        (["--orders", "o.csv", "--orders-format", "fix"], "--orders-format: unknown layout 'fix'"),
        (["--limit-bps", "10"], "--limit-bps: given without --orders"),
        (["--reports", "r", "--report-config", "cfg.yaml"], "key 'firm': unknown key"),
    ],
)
def test_a_bad_book_setting_is_one_line_and_nothing_is_written(tmp_path, options, message):
    (tmp_path / "cfg.yaml").write_text("firm: Acme\n", encoding="utf-8")
    given = [str(tmp_path / o) if o in ("o.csv", "r", "cfg.yaml") else o for o in options]
    done = _batch(tmp_path, *given)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]
