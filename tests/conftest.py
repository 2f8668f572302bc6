"""Shared fixtures: a small synthetic market written to CSV files, a book of accounts
proposed once per session, and CLI helpers.

``REBALANCER_ONE_ANSWER_ACCOUNTS`` sets the book's size (default 24 accounts; 50 for the
full run of ``tests/test_one_answer.py``, which checks every account of it)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rebalancer.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCENARIOS = ROOT / "scenarios"
SECTORS = ["Energy", "Financials", "Health Care", "Industrials", "Information Technology"]


def make_universe(n: int = 80, seed: int = 7) -> pd.DataFrame:
    """A small universe spanning the size buckets and regions, with signals."""
    rng = np.random.default_rng(seed)
    caps = np.exp(np.linspace(np.log(1e8), np.log(4e11), n))
    uni = pd.DataFrame(
        {
            "ticker": [f"S{i:03d}" for i in range(n)],
            "name": [f"Company {i}" for i in range(n)],
            "price": rng.uniform(10, 200, n).round(2),
            "sector": [SECTORS[i % len(SECTORS)] for i in range(n)],
            "region": rng.choice(["US", "DM", "EM"], n, p=[0.6, 0.25, 0.15]),
            "market_cap": caps,
            "adv": caps * 0.004,
            "themes": ["biotech" if i % 11 == 0 else "" for i in range(n)],
            "lot_size": 1,
            "pb": rng.lognormal(1.0, 0.5, n).round(3),
            "pe": rng.lognormal(3.0, 0.4, n).round(3),
            "roa": rng.normal(0.05, 0.03, n).round(4),
            "momentum": rng.normal(0.0, 0.2, n).round(4),
            "restricted": "",
        }
    )
    return uni


def make_holdings(
    uni: pd.DataFrame,
    account: str = "ACC1",
    cash: float = 20_000.0,
    n_names: int = 25,
    value_each: float = 40_000.0,
) -> pd.DataFrame:
    """An account holding the largest names in about equal dollars, one lot each, plus cash."""
    big = uni.sort_values("market_cap").tail(n_names)
    rows = []
    for t, p in zip(big["ticker"], big["price"], strict=True):
        shares = float(np.floor(value_each / p))
        rows.append(
            {
                "account": account,
                "ticker": t,
                "quantity": shares,
                "cost_basis": round(p * shares * 0.8, 2),
                "acquired": "2022-03-01",
            }
        )
    rows.append(
        {"account": account, "ticker": "CASH", "quantity": cash, "cost_basis": "", "acquired": ""}
    )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session", autouse=True)
def _session_cache_dir(tmp_path_factory):
    """The commands' on-disk cache (``rebalancer.prepare.cache``) in the session's
    temporary folder, never the user's ~/.cache: set before any session fixture runs a
    command."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REBALANCER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache-session"))
        mp.delenv("REBALANCER_CACHE_MAX_MB", raising=False)
        yield


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch, request):
    """Each test its own cache folder (made by the first command that writes to it), so
    no test reads another's entries; the folder is not inside ``tmp_path``, which tests
    list to show nothing else was written."""
    name = f"cache-{os.getpid()}-{abs(hash(request.node.nodeid)):x}"
    monkeypatch.setenv("REBALANCER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / name))


@pytest.fixture
def market(tmp_path: Path) -> dict[str, Path]:
    """Universe and holdings CSVs of the small synthetic market, in tmp_path."""
    uni = make_universe()
    hold = make_holdings(uni)
    paths = {"universe": tmp_path / "universe.csv", "holdings": tmp_path / "holdings.csv"}
    uni.to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)
    return paths


@pytest.fixture(scope="session")
def example_inputs():
    """The shipped example files, read once per test session (read-only: do not mutate)."""
    from rebalancer.pipeline import load_inputs

    return load_inputs(
        EXAMPLES / "holdings.csv",
        EXAMPLES / "universe.csv",
        EXAMPLES / "prices.csv",
        EXAMPLES / "benchmark.csv",
        TAX_EXEMPT_EXAMPLES,
    )


# The example accounts as tests before tax status was required took them: every one
# tax-exempt, at its scenario's cash target (lots with a cost basis need a tax status;
# the examples' own accounts file makes TAX-2M taxable and FDN-20M hold 3% cash)
TAX_EXEMPT_EXAMPLES = pd.DataFrame(
    {
        "account": ["IRA-250K", "TAX-2M", "FDN-20M"],
        "scenario": "",
        "benchmark": "",
        "taxable": False,
        "cash_target": np.nan,
        "household": "",
        "lot_method": "",
    }
)


BOOK_AS_OF = "2026-11-20"
BOOK_ACCOUNTS = int(os.environ.get("REBALANCER_ONE_ANSWER_ACCOUNTS", "24"))
# three models (with taxable and not, six compiled problems a worker may meet: each is
# re-solved for several accounts); the status-quo one leaves a few accounts infeasible
BOOK_MODELS = ["smallcap_rerating.yaml", "balanced_rerating.yaml", "status_quo.yaml"]


@pytest.fixture(scope="session")
def model_book(tmp_path_factory):
    """(files, folder, result): a book of ``BOOK_ACCOUNTS`` accounts of the three
    ``BOOK_MODELS`` (taxable and not, cash targets of 1-3%) on a 400-name market with
    prices and a benchmark, proposed by ``run_book`` on two local workers into
    ``folder / "local"``. Read-only: a test that writes makes its own folder.

    One book for the tests of a book's models and of one answer on every path (a book
    is the slowest thing to make; run in two worker processes, each makes it once if
    it runs a module using it)."""
    from rebalancer.examples.make_book import make_book

    from benchmarks.synthetic import scaled_market
    from rebalancer.runs.book.plan import BookFiles
    from rebalancer.runs.book.run import run_book

    folder = tmp_path_factory.mktemp("model_book")
    uni, prices, bench = scaled_market(400, seed=3)
    uni.to_csv(folder / "universe.csv", index=False)
    prices.round(4).to_csv(folder / "prices.csv", index_label="date")
    bench.rename_axis("ticker").reset_index().to_csv(folder / "benchmark.csv", index=False)
    holdings, accounts = make_book(
        BOOK_ACCOUNTS,
        seed=23,
        universe=uni,
        benchmark="benchmark.csv",
        models=BOOK_MODELS,
    )
    holdings.to_csv(folder / "holdings.csv", index=False)
    accounts.to_csv(folder / "accounts.csv", index=False)
    files = BookFiles(
        str(folder / "holdings.csv"),
        str(folder / "universe.csv"),
        str(folder / "accounts.csv"),
        prices=str(folder / "prices.csv"),
    )
    result = run_book(files, folder / "local", workers=2, as_of=BOOK_AS_OF)
    return files, folder, result


def write_account_files(
    folder: Path,
    uni: pd.DataFrame,
    benchmark: pd.DataFrame,
    lots: list[dict],
    accounts: str,
    scenario: str,
) -> dict[str, Path]:
    """A small market's files in ``folder`` (the universe, the benchmark's ``ticker,
    weight``, the holdings' lot rows, the accounts file and the scenario), by role."""
    paths = {name: folder / f"{name}.csv" for name in ("universe", "benchmark", "holdings")}
    uni.to_csv(paths["universe"], index=False)
    benchmark.to_csv(paths["benchmark"], index=False)
    pd.DataFrame(lots).to_csv(paths["holdings"], index=False)
    paths["accounts"] = folder / "accounts.csv"
    paths["accounts"].write_text(accounts)
    paths["scenario"] = write_scenario(folder / "scenario.yaml", scenario)
    return paths


def write_scenario(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


TAX_STATUS = ("--taxable", "--tax-exempt", "--accounts")


def run_cli(*args: str, tax_status: bool = True, force: bool = True):
    """Run the CLI in-process; returns the click Result (exit_code, output).

    ``propose`` and ``whatif`` without a tax status get ``--tax-exempt`` (what tests
    written before a cost basis required one meant); ``tax_status=False`` leaves the
    arguments as given. ``propose`` gets ``--force`` (tests written before an account
    in tolerance was left alone meant a proposal); ``force=False`` leaves it out."""
    args = [str(a) for a in args]
    if tax_status and args[:1] in (["propose"], ["whatif"]) and not set(args) & set(TAX_STATUS):
        args.append("--tax-exempt")
    if force and args[:1] == ["propose"] and "--force" not in args:
        args.append("--force")
    return CliRunner().invoke(main, args, catch_exceptions=False)


def propose_example(account: str, *extra) -> object:
    """``rebalancer propose`` of one example account with all the example inputs, its row
    of the examples' accounts file, on ``BOOK_AS_OF``, quiet; ``extra`` adds options."""
    return run_cli(
        "propose",
        "--holdings", EXAMPLES / "holdings.csv",
        "--universe", EXAMPLES / "universe.csv",
        "--prices", EXAMPLES / "prices.csv",
        "--benchmark", EXAMPLES / "benchmark.csv",
        "--accounts", EXAMPLES / "accounts.csv",
        "--account", account,
        "--as-of", BOOK_AS_OF,
        "-q",
        *extra,
    )  # fmt: skip


# The slowest modules (15-60 s each on a two-core machine) first: the workers take
# modules in collection order, so the long ones start at once and the short ones fill
# in at the end, rather than one long module running on alone while the other worker
# idles.
SLOW_FIRST = [
    "test_book_faults.py",
    "test_fuzz_inputs.py",
    "test_book_models.py",
    "test_properties.py",
    "test_one_answer.py",
    "test_any_universe.py",
    "test_tax.py",
    "test_whatif.py",
    "test_resettle.py",
    "test_scenario_library.py",
]


def pytest_collection_modifyitems(items):
    """The slowest modules first (``SLOW_FIRST``); every module's tests keep their order."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
