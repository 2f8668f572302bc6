"""One account, one answer: for the same inputs, scenario and as-of date, ``propose``,
the base run of ``whatif``, ``batch`` and ``verify --reproduce`` give the same orders,
share for share, with everything the accounts file says of the account applied on
each path; and lots with a cost basis are never taken as tax-exempt unasked.

The book: the session's shared book (``tests/conftest.py``'s ``model_book``, taxable and
tax-exempt accounts of three models with cash targets of 1-3% on a 400-name market), of
``REBALANCER_ONE_ANSWER_ACCOUNTS`` accounts: 24 by default (about 25 s on two cores),
``REBALANCER_ONE_ANSWER_ACCOUNTS=50`` for the full run. ``propose`` and ``whatif`` run
in-process through the functions the commands call after reading their files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.checks.measure import signed_shares
from rebalancer.pipeline import load_inputs, propose_account
from rebalancer.runs.book.plan import plan
from rebalancer.runs.verify import verify
from rebalancer.runs.whatif import run_whatif
from rebalancer.scenario import load_scenario
from tests.conftest import (
    BOOK_ACCOUNTS,
    BOOK_AS_OF,
    EXAMPLES,
    SCENARIOS,
    make_holdings,
    make_universe,
    run_cli,
)

AS_OF = BOOK_AS_OF


def _orders(trades: pd.DataFrame) -> pd.Series:
    return signed_shares(trades).sort_index()


def test_every_path_gives_each_account_of_a_book_the_same_orders(model_book):
    files, folder, result = model_book
    accounts = pd.read_csv(files.accounts, keep_default_na=False)
    assert len(accounts) == BOOK_ACCOUNTS
    assert set(accounts["taxable"]) == {True, False}, "taxable and tax-exempt accounts"
    assert accounts["cash_target"].nunique() >= 2, "differing cash targets"
    data = load_inputs(
        files.holdings, files.universe, files.prices, folder / "benchmark.csv", files.accounts
    )
    data.paths.update(holdings=files.holdings, universe=files.universe)
    status = dict(zip(result.summary["account"], result.summary["status"], strict=True))
    compared = 0
    for job in plan(files):
        if status[job.account] in ("infeasible", "failed"):
            continue
        batch = _orders(pd.read_csv(folder / "local" / f"{job.account}.trades.csv"))
        summary = json.loads((folder / "local" / f"{job.account}.json").read_text())
        row = accounts.set_index("account").loc[job.account]
        # the accounts file's row applied by batch: tax status and cash target
        assert summary["taxable"] == bool(row["taxable"])
        assert summary["manifest"]["scenario"]["constraints"]["cash"]["target"] == pytest.approx(
            row["cash_target"]
        )
        proposed = propose_account(data, load_scenario(job.scenario), job.account, AS_OF)
        assert proposed.metrics.taxable == bool(row["taxable"])
        pd.testing.assert_series_equal(_orders(proposed.trades), batch, check_names=False)
        # the base run of a what-if whose runs share one problem (the same file twice)
        comparison = run_whatif(
            data, [job.scenario, job.scenario], account=job.account, as_of=AS_OF
        )
        base_run = comparison.runs[0].proposal
        pd.testing.assert_series_equal(_orders(base_run.trades), batch, check_names=False)
        report = verify(folder / "local" / f"{job.account}.json", reproduce=True)
        assert report.passed, report.problems
        assert any(text.startswith("reproduced: the same") for _, text in report.findings)
        compared += 1
    assert compared >= 0.8 * len(accounts)


def _cash_share(trades_csv: Path, lots: pd.DataFrame, uni: pd.DataFrame) -> float:
    """Cash after the written trades as a share of NAV, from the input files alone."""
    trades = pd.read_csv(trades_csv)
    cash = float(lots.loc[lots["ticker"] == "CASH", "quantity"].sum())
    held = lots[lots["ticker"] != "CASH"].groupby("ticker")["quantity"].sum()
    nav = float((held * uni["price"].reindex(held.index)).sum()) + cash
    signed = np.where(trades["side"] == "BUY", 1.0, -1.0) * trades["notional"]
    return (cash - float(signed.sum())) / nav


EXAMPLE_ARGS = [
    "--holdings", EXAMPLES / "holdings.csv", "--universe", EXAMPLES / "universe.csv",
    "--prices", EXAMPLES / "prices.csv", "--benchmark", EXAMPLES / "benchmark.csv",
    "--as-of", AS_OF,
]  # fmt: skip


def test_propose_takes_the_cash_target_of_the_accounts_file(tmp_path):
    """FDN-20M's row asks for 3% cash where its scenario says 2%."""
    uni = pd.read_csv(EXAMPLES / "universe.csv").set_index("ticker")
    lots = pd.read_csv(EXAMPLES / "holdings.csv")
    lots = lots[lots["account"] == "FDN-20M"]
    target = (
        pd.read_csv(EXAMPLES / "accounts.csv").set_index("account").at["FDN-20M", "cash_target"]
    )
    assert target == 0.03
    shares = {}
    for name, extra in [("row", ["--accounts", EXAMPLES / "accounts.csv"]), ("no row", [])]:
        result = run_cli(
            "propose", *EXAMPLE_ARGS, "--account", "FDN-20M",
            "--scenario", SCENARIOS / "smallcap_rerating.yaml",
            "--trades", tmp_path / f"{name}.csv", "--quiet", *extra,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        shares[name] = _cash_share(tmp_path / f"{name}.csv", lots, uni)
    assert abs(shares["row"] - 0.03) < 0.002
    assert abs(shares["no row"] - 0.02) < 0.002


# --- whatif takes propose's account options ------------------------------------------


@pytest.fixture(scope="module")
def lots_market(tmp_path_factory) -> dict[str, Path]:
    """ACC1 holds the 20 largest names in two lots each: an old one at a large gain and
    a recent one at a loss (so HIFO and FIFO sell differently); a trade history in
    which ACC1 bought one of them ten days ago (a wash-sale window)."""
    uni = make_universe()
    big = uni.sort_values("market_cap").tail(20)
    rows = []
    for t, p in zip(big["ticker"], big["price"], strict=True):
        shares = float(np.floor(20_000 / p))
        rows.append(["ACC1", t, shares, round(0.5 * p * shares, 2), "2020-03-02"])
        rows.append(["ACC1", t, shares, round(1.3 * p * shares, 2), "2026-05-04"])
    rows.append(["ACC1", "CASH", 20_000.0, "", ""])
    hold = pd.DataFrame(rows, columns=["account", "ticker", "quantity", "cost_basis", "acquired"])
    history = pd.DataFrame(
        [["ACC1", big["ticker"].iloc[-1], "2026-11-10", "BUY", 10, float(big["price"].iloc[-1])]],
        columns=["account", "ticker", "date", "side", "quantity", "price"],
    )
    folder = tmp_path_factory.mktemp("lots_market")
    paths = {
        "universe": folder / "universe.csv",
        "holdings": folder / "holdings.csv",
        "history": folder / "history.csv",
        "accounts": folder / "accounts.csv",
    }
    uni.to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)
    history.to_csv(paths["history"], index=False)
    paths["accounts"].write_text("account,taxable,cash_target,lot_method\nACC1,true,0.04,fifo\n")
    return paths


OPTION_SETS = {
    "tax-exempt": ["--tax-exempt"],
    "taxable": ["--taxable"],
    "taxable fifo": ["--taxable", "--lot-method", "fifo"],
    "taxable with history": ["--taxable", "--trade-history", "history"],
    "accounts row": ["--accounts", "accounts"],
}


def _options(market: dict[str, Path], names: list[str]) -> list:
    return [market.get(a, a) for a in names]


def _propose_and_whatif(market, tmp_path, options):
    common = [
        "--holdings", market["holdings"], "--universe", market["universe"],
        "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--as-of", AS_OF,
        *_options(market, options),
    ]  # fmt: skip
    proposed = run_cli("propose", *common, "--json", tmp_path / "p.json", "--quiet")
    assert proposed.exit_code == 0, proposed.output
    whatif = run_cli("whatif", *common, "--json", tmp_path / "w.json", "--quiet")
    assert whatif.exit_code == 0, whatif.output
    p = json.loads((tmp_path / "p.json").read_text())
    run = json.loads((tmp_path / "w.json").read_text())["runs"][0]
    return p, run


@pytest.fixture(scope="module")
def option_runs(lots_market, tmp_path_factory):
    """name -> (propose's summary, whatif's base run) for ``OPTION_SETS[name]``, each
    pair run once for the module."""
    done: dict[str, tuple[dict, dict]] = {}

    def runs(name: str) -> tuple[dict, dict]:
        if name not in done:
            folder = tmp_path_factory.mktemp("options")
            done[name] = _propose_and_whatif(lots_market, folder, OPTION_SETS[name])
        return done[name]

    return runs


@pytest.mark.parametrize("name", list(OPTION_SETS))
def test_whatif_takes_proposes_account_options_and_agrees_with_it(option_runs, name):
    p, run = option_runs(name)
    assert run["n_trades"] == p["n_trades"]
    assert run["turnover"] == pytest.approx(p["turnover"], abs=1e-9)
    assert run["cash_after_usd"] == pytest.approx(p["cash_after"], abs=0.005)
    if p["taxable"]:
        assert run["realized_gain_usd"] == pytest.approx(p["realized_gain"], abs=0.005)
    else:
        assert "realized_gain_usd" not in run or run["realized_gain_usd"] is None
    manifest = p["manifest"]
    if name == "accounts row":  # the row: taxable, 4% cash, FIFO
        assert p["taxable"] and manifest["lot_method"] == "fifo"
        assert manifest["scenario"]["constraints"]["cash"]["target"] == 0.04
        assert p["cash_after"] / p["nav"] == pytest.approx(0.04, abs=0.002)
    if name == "taxable fifo":
        assert manifest["lot_method"] == "fifo"
    if name == "taxable with history":
        assert "trade_history" in manifest["inputs"]


def test_the_lot_method_and_tax_status_change_what_whatif_reports(option_runs):
    """The options are not only accepted: FIFO sells the old gain lots HIFO spares."""
    gains = {
        name: option_runs(name)[1]["realized_gain_usd"] for name in ("taxable", "taxable fifo")
    }
    assert gains["taxable fifo"] > gains["taxable"] + 1.0


def test_lots_with_a_cost_basis_and_no_tax_status_are_refused(lots_market, tmp_path):
    """Never silently tax-exempt: exit 1, one line naming the options, nothing written."""
    for command in ("propose", "whatif"):
        out = tmp_path / f"{command}.json"
        result = run_cli(
            command, "--holdings", lots_market["holdings"],
            "--universe", lots_market["universe"],
            "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--as-of", AS_OF,
            "--json", out, "--quiet", tax_status=False,
        )  # fmt: skip
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert "holdings.csv" in lines[0] and "ACC1" in lines[0]
        assert "--taxable" in lines[0] and "--tax-exempt" in lines[0] and "--accounts" in lines[0]
        assert not out.exists()


def test_lots_without_a_cost_basis_need_no_tax_status(tmp_path):
    uni = make_universe()
    hold = make_holdings(uni).assign(cost_basis="", acquired="")
    uni.to_csv(tmp_path / "universe.csv", index=False)
    hold.to_csv(tmp_path / "holdings.csv", index=False)
    result = run_cli(
        "propose", "--holdings", tmp_path / "holdings.csv",
        "--universe", tmp_path / "universe.csv",
        "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--as-of", AS_OF,
        "--json", tmp_path / "p.json", "--quiet", tax_status=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "p.json").read_text())["taxable"] is False


def test_an_accounts_file_without_the_accounts_row_is_named(lots_market, tmp_path):
    other = tmp_path / "other_accounts.csv"
    other.write_text("account,taxable\nOTHER,true\n")
    result = run_cli(
        "whatif", "--holdings", lots_market["holdings"], "--universe", lots_market["universe"],
        "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--as-of", AS_OF,
        "--accounts", other, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 1
    line = result.output.strip()
    assert "other_accounts.csv" in line and "ACC1" in line and "--tax-exempt" in line
