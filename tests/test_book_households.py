"""``batch --households``: each household of the accounts file solved as one problem
(issue 17 item 1, docs/households.md), the accounts without one as before.

A generated book of two households (SMITH: a taxable account and a traditional IRA;
JONES: a taxable account and a Roth) and two accounts of their own, on a 30-name
universe under one scenario with a tilt band every account starts outside of. The
book's orders for each household are ``propose --household``'s, share for share, and
for each single account ``propose --account``'s; the block orders add up the
allocations written; ``--resume`` reuses every household and account it wrote; a Dask
``LocalCluster`` on loopback gives the local pool's block orders; a household whose
accounts name different scenarios fails its accounts alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from tests.conftest import make_universe, run_cli, write_account_files

AS_OF = "2026-11-20"
NAVS = {"S-TAX": 400_000.0, "S-IRA": 200_000.0, "J-TAX": 250_000.0, "J-ROTH": 150_000.0,
        "SOLO-IRA": 120_000.0, "SOLO-ROTH": 90_000.0}  # fmt: skip
HOUSEHOLDS = {"SMITH": ["S-TAX", "S-IRA"], "JONES": ["J-TAX", "J-ROTH"]}
SINGLES = ["SOLO-IRA", "SOLO-ROTH"]
ACCOUNTS = """account,scenario,benchmark,account_type,household
S-TAX,scenario.yaml,benchmark.csv,taxable,SMITH
SOLO-IRA,scenario.yaml,benchmark.csv,tax_deferred,
S-IRA,scenario.yaml,benchmark.csv,tax_deferred,SMITH
J-TAX,scenario.yaml,benchmark.csv,taxable,JONES
J-ROTH,scenario.yaml,benchmark.csv,tax_exempt,JONES
SOLO-ROTH,scenario.yaml,benchmark.csv,tax_exempt,
"""
SCENARIO = """name: book households test
risk_aversion: 10
tilt_strength: 10
size_buckets: {large: 10e9, mid: 2e9, small: 3e8}
tilts:
  "size:mid": {target: 0.23, band: 0.02}
constraints:
  cash: {target: 0.02, min: 0.01}
  max_position: 0.10
  max_turnover: 0.5
  sector_max: 0.40
  max_realized_gain: 20000
  min_trade_usd: 500
costs:
  spread_bps: {default: 5}
  impact: 0.7
"""
KEY = ["account", "ticker", "side"]


def _write(folder: Path) -> dict[str, Path]:
    """The book's files: the 20 largest names of the universe in every account, about
    equal dollars, bought at 70% of today's price (a sale realizes a gain), 3% cash."""
    folder.mkdir(parents=True, exist_ok=True)
    uni = make_universe(30, seed=5)
    big = uni.sort_values("market_cap").tail(20)
    rows = []
    for account, nav in NAVS.items():
        each = nav * 0.97 / len(big)
        for ticker, price in zip(big["ticker"], big["price"], strict=True):
            shares = float(np.floor(each / price))
            rows.append({"account": account, "ticker": ticker, "quantity": shares,
                         "cost_basis": round(price * shares * 0.7, 2), "acquired": "2020-03-01"})  # fmt: skip
        rows.append({"account": account, "ticker": "CASH", "quantity": nav * 0.03,
                     "cost_basis": "", "acquired": ""})  # fmt: skip
    weights = pd.DataFrame(
        {"ticker": uni["ticker"], "weight": uni["market_cap"] / uni["market_cap"].sum()}
    )
    return write_account_files(folder, uni, weights, rows, ACCOUNTS, SCENARIO)


def _batch(paths: dict[str, Path], out: Path, *extra: str):
    return run_cli(
        "batch", "--accounts", paths["accounts"], "--holdings", paths["holdings"],
        "--universe", paths["universe"], "--out-dir", out, "--as-of", AS_OF, "--quiet",
        *extra,
    )  # fmt: skip


def _propose(paths: dict[str, Path], out: Path, *extra: str):
    """``propose`` of one household or account of the book, into ``out``."""
    result = run_cli(
        "propose", "--holdings", paths["holdings"], "--universe", paths["universe"],
        "--benchmark", paths["benchmark"], "--scenario", paths["scenario"],
        "--accounts", paths["accounts"], "--as-of", AS_OF, "--trades", out / "trades.csv",
        "--json", out / "summary.json", *extra, tax_status=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return _orders(out / "trades.csv")


def _orders(path: Path) -> pd.DataFrame:
    """The orders of a written trades CSV: account, ticker, side -> quantity."""
    trades = pd.read_csv(path, dtype={"account": str, "ticker": str})
    return trades.set_index(KEY)["quantity"].sort_index()


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("book_households")
    paths = _write(folder)
    out = folder / "out"
    result = _batch(paths, out, "--households", "--workers", "2")
    return paths, out, result


def test_the_book_with_households_exits_0_and_writes_each_household(book):
    _, out, result = book
    assert result.exit_code == 0, result.output
    for name in HOUSEHOLDS:
        assert (out / f"{name}.household.trades.csv").exists()
        assert (out / f"{name}.household.json").exists()
    for account in SINGLES:
        assert (out / f"{account}.trades.csv").exists()
    for account in (a for members in HOUSEHOLDS.values() for a in members):
        assert not (out / f"{account}.trades.csv").exists()  # its household's file has it


def test_each_household_gets_propose_households_orders_share_for_share(book, tmp_path):
    paths, out, _ = book
    for name in HOUSEHOLDS:
        alone = _propose(paths, tmp_path / name, "--household", name)
        batched = _orders(out / f"{name}.household.trades.csv")
        assert len(batched) > 0
        pd.testing.assert_series_equal(batched, alone)


def test_each_single_account_gets_propose_accounts_orders(book, tmp_path):
    paths, out, _ = book
    for account in SINGLES:
        alone = _propose(paths, tmp_path / account, "--account", account)
        pd.testing.assert_series_equal(_orders(out / f"{account}.trades.csv"), alone)


def test_block_orders_add_up_every_accounts_allocations(book):
    _, out, _ = book
    blocks = pd.read_csv(out / "block_orders.csv", dtype={"account": str, "ticker": str})
    written = pd.concat(
        [_orders(out / f"{n}.household.trades.csv") for n in HOUSEHOLDS]
        + [_orders(out / f"{a}.trades.csv") for a in SINGLES]
    ).sort_index()
    pd.testing.assert_series_equal(
        blocks.set_index(KEY)["quantity"].sort_index(), written, check_dtype=False
    )
    summed = blocks.groupby(["ticker", "side"])["quantity"].transform("sum")
    assert (summed == blocks["block_quantity"]).all()
    assert set(blocks["account"]) <= set(NAVS)


def test_the_accounts_sheet_names_each_accounts_household(book):
    _, out, _ = book
    ws = openpyxl.load_workbook(out / "book_summary.xlsx")["Accounts"]
    rows = list(ws.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r and r[0] == "account")
    cols = rows[header]
    table = [dict(zip(cols, r, strict=False)) for r in rows[header + 1 :] if r and r[0]]
    named = {r["account"]: r["household"] or "" for r in table}
    want = {a: n for n, members in HOUSEHOLDS.items() for a in members}
    assert named == {a: want.get(a, "") for a in NAVS}
    # the accounts file's order, as without households
    assert [r["account"] for r in table] == [line.split(",")[0] for line in ACCOUNTS.split()[1:]]
    assert {r["status"] for r in table} == {"optimal"}


def test_resume_reuses_every_household_and_account(book):
    paths, out, _ = book
    before = (out / "block_orders.csv").read_text()
    again = _batch(paths, out, "--households", "--workers", "1", "--resume")
    assert again.exit_code == 0, again.output
    assert (out / "block_orders.csv").read_text() == before
    ws = openpyxl.load_workbook(out / "book_summary.xlsx")["Accounts"]
    messages = [r for r in ws.iter_rows(values_only=True) if r and r[0] in NAVS]
    assert len(messages) == len(NAVS)
    assert all("reused" in str(r) for r in messages), messages


def test_households_refuse_what_is_not_built_for_them(book, tmp_path):
    paths, _, _ = book
    result = _batch(paths, tmp_path / "out", "--households", "--reports", tmp_path / "reports")
    assert result.exit_code == 1
    assert "--reports cannot be given with --households" in result.output
    assert not (tmp_path / "out").exists()


def test_a_dask_cluster_gives_each_household_the_local_pools_orders(book, tmp_path):
    distributed = pytest.importorskip("distributed")
    paths, out, _ = book
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = _batch(paths, tmp_path / "dask", "--households", "--scheduler",
                        cluster.scheduler_address)  # fmt: skip
    assert result.exit_code == 0, result.output
    local = pd.read_csv(out / "block_orders.csv", dtype={"account": str, "ticker": str})
    remote = pd.read_csv(
        tmp_path / "dask" / "block_orders.csv", dtype={"account": str, "ticker": str}
    )
    pd.testing.assert_frame_equal(remote, local)


def test_a_household_whose_accounts_disagree_fails_alone(book, tmp_path):
    """A household whose accounts name different scenarios is refused as
    ``propose --household`` refuses it: each of its accounts fails with that line
    (exit 1), and the rest of the book is written."""
    paths, _, _ = book
    folder = tmp_path / "book"
    folder.mkdir()
    for name in ("holdings", "universe", "benchmark", "scenario"):
        (folder / paths[name].name).write_text(paths[name].read_text())
    (folder / "other.yaml").write_text(SCENARIO.replace("band: 0.02", "band: 0.03"))
    text = ACCOUNTS.replace("J-ROTH,scenario.yaml", "J-ROTH,other.yaml")
    (folder / "accounts.csv").write_text(text)
    moved = {k: folder / p.name for k, p in paths.items()}
    result = _batch(moved, tmp_path / "out", "--households")
    assert result.exit_code == 1, result.output
    ws = openpyxl.load_workbook(tmp_path / "out" / "book_summary.xlsx")["Accounts"]
    rows = {r[0]: r for r in ws.iter_rows(values_only=True) if r and r[0] in NAVS}
    status = {a: r[3] for a, r in rows.items()}
    assert status == {a: "failed" if a in HOUSEHOLDS["JONES"] else "optimal" for a in NAVS}
    assert all("names different scenarios" in rows[a][4] for a in HOUSEHOLDS["JONES"])
    assert not (tmp_path / "out" / "JONES.household.json").exists()
    assert (tmp_path / "out" / "SMITH.household.json").exists()
