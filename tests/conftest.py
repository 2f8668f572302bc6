"""Shared fixtures: a small synthetic market written to CSV files, and CLI helpers."""

from __future__ import annotations

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


def write_scenario(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


TAX_STATUS = ("--taxable", "--tax-exempt", "--accounts")


def run_cli(*args: str, tax_status: bool = True):
    """Run the CLI in-process; returns the click Result (exit_code, output).

    ``propose`` and ``whatif`` without a tax status get ``--tax-exempt`` (what tests
    written before a cost basis required one meant); ``tax_status=False`` leaves the
    arguments as given."""
    args = [str(a) for a in args]
    if tax_status and args[:1] in (["propose"], ["whatif"]) and not set(args) & set(TAX_STATUS):
        args.append("--tax-exempt")
    return CliRunner().invoke(main, args, catch_exceptions=False)
