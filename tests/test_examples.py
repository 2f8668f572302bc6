"""The example data in examples/: reproducible from its generator and shaped as documented.

The checks read the CSV files with pandas on their own; nothing here imports the
generator, so a change to it that breaks the data's promises shows up here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPT = EXAMPLES / "make_examples.py"
FILES = ("universe.csv", "prices.csv", "benchmark.csv", "holdings.csv", "accounts.csv")
AS_OF = pd.Timestamp("2026-11-20")
TARGET_NAV = {"IRA-250K": 250_000, "TAX-2M": 2_000_000, "FDN-20M": 20_000_000}
SECTORS = {
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
}
UNIVERSE_COLUMNS = [
    "ticker", "name", "country", "region", "sector", "industry", "themes", "market_cap",
    "adv", "price", "lot_size", "pb", "pe", "roa", "momentum", "leverage",
    "floating_debt_pct", "beta", "restricted",
]  # fmt: skip


def size_of(market_cap: pd.Series) -> pd.Series:
    """large >= 10bn, mid >= 2bn, small >= 300m, else micro (USD)."""
    bins = [-np.inf, 3e8, 2e9, 10e9, np.inf]
    labels = ["micro", "small", "mid", "large"]
    return pd.cut(market_cap, bins, right=False, labels=labels).astype(str)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A fresh run of the generator into a temporary folder, and how long it took."""
    out = tmp_path_factory.mktemp("examples")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out, time.perf_counter() - started


@pytest.fixture(scope="module")
def universe() -> pd.DataFrame:
    df = pd.read_csv(
        EXAMPLES / "universe.csv",
        keep_default_na=False,
        na_values={c: [""] for c in ("pe", "momentum", "pb", "roa", "leverage", "beta")},
    )
    df["size"] = size_of(df["market_cap"])
    df["tags"] = df["themes"].str.split(";").apply(lambda t: {x for x in t if x})
    return df


@pytest.fixture(scope="module")
def holdings() -> pd.DataFrame:
    return pd.read_csv(EXAMPLES / "holdings.csv", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def positions(holdings: pd.DataFrame, universe: pd.DataFrame) -> pd.DataFrame:
    """Holdings without cash, one row per lot, with universe attributes and market value."""
    lots = holdings[holdings["ticker"] != "CASH"]
    info = universe.set_index("ticker")[["price", "size", "region", "lot_size", "restricted"]]
    lots = lots.join(info, on="ticker", validate="many_to_one")
    return lots.assign(value=lots["quantity"] * lots["price"])


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return pd.read_csv(EXAMPLES / "prices.csv")


# --------------------------------------------------------------------------- reproducible


def test_generator_reproduces_the_committed_files(generated: tuple[Path, float]) -> None:
    out, _ = generated
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (out / name).read_bytes() == (EXAMPLES / name).read_bytes(), name


def test_generator_is_fast(generated: tuple[Path, float]) -> None:
    _, seconds = generated
    assert seconds < 20


def test_total_size_is_small() -> None:
    assert sum((EXAMPLES / name).stat().st_size for name in FILES) < 15e6


# --------------------------------------------------------------------------- universe


def test_universe_shape(universe: pd.DataFrame) -> None:
    assert list(universe.columns[: len(UNIVERSE_COLUMNS)]) == UNIVERSE_COLUMNS
    assert 1400 <= len(universe) <= 1600
    assert universe["ticker"].is_unique
    assert universe["ticker"].str.fullmatch(r"[A-Z]{3,5}").all()
    assert "CASH" not in set(universe["ticker"])
    assert set(universe["sector"]) == SECTORS
    assert set(universe["region"]) == {"US", "DM", "EM"}
    assert set(universe["size"]) == {"large", "mid", "small", "micro"}
    assert (universe["price"] > 0).all() and (universe["adv"] > 0).all()
    assert set(universe["lot_size"]) <= {1, 100}
    assert (universe.loc[universe["region"] == "US", "country"] == "US").all()
    assert not universe.loc[universe["region"] != "US", "country"].eq("US").any()


def test_region_and_size_mix(universe: pd.DataFrame) -> None:
    counts = universe.groupby(["region", "size"]).size()
    assert 200 <= counts["US", "large"] <= 300
    assert 250 <= counts["US", "small"] <= 450
    assert 100 <= counts["US", "micro"] <= 200
    assert counts["EM", "small"] >= 0.4 * counts["EM"].sum()
    assert "micro" not in counts["DM"] and "micro" not in counts["EM"]


def test_small_caps_trade_at_a_pb_discount(universe: pd.DataFrame) -> None:
    pb = universe.groupby("size")["pb"].median()
    discount = 1 - pb["small"] / pb["large"]
    assert 0.25 <= discount <= 0.35


def test_small_cap_quality_is_not_junk(universe: pd.DataFrame) -> None:
    roa = universe.groupby("size")["roa"]
    assert roa.median()["small"] > universe.loc[universe["size"] == "large", "roa"].quantile(1 / 3)


def test_signal_gaps_and_ranges(universe: pd.DataFrame) -> None:
    assert 0.05 <= universe["pe"].isna().mean() <= 0.11
    assert 0.01 <= universe["momentum"].isna().mean() <= 0.05
    assert universe[["pb", "roa", "leverage", "floating_debt_pct", "beta"]].notna().all().all()
    assert universe["leverage"].between(0, 6).all()
    assert universe["floating_debt_pct"].between(0, 1).all()
    assert universe["beta"].between(0.5, 1.8).all()
    em_small = universe[(universe["region"] == "EM") & (universe["size"] == "small")]
    assert 0.2 <= (em_small["leverage"] > 3).mean() <= 0.45
    floating = universe.groupby("size")["floating_debt_pct"].mean()
    assert floating["small"] > floating["large"] + 0.15


def test_themes(universe: pd.DataFrame) -> None:
    def tagged(tag: str) -> pd.DataFrame:
        return universe[universe["tags"].apply(lambda tags: tag in tags)]

    biotech = tagged("biotech")
    assert 60 <= len(biotech) <= 80
    assert (biotech["sector"] == "Health Care").all()
    assert (biotech["industry"] == "Biotechnology").all()
    assert biotech["size"].isin(["small", "mid"]).mean() > 0.5
    assert 15 <= len(tagged("rna")) <= 25
    assert 20 <= len(tagged("oncology")) <= 30
    assert tagged("rna")["tags"].apply(lambda tags: "biotech" in tags).all()
    reshoring = tagged("reshoring")
    assert 100 <= len(reshoring) <= 140
    assert (reshoring["region"] == "US").all()
    assert reshoring["size"].isin(["small", "mid"]).all()
    assert reshoring["sector"].isin(["Industrials", "Energy", "Materials"]).all()
    assert all(tag == tag.lower() for tags in universe["tags"] for tag in tags)


def test_restricted_names_are_not_held(universe: pd.DataFrame, holdings: pd.DataFrame) -> None:
    restricted = universe.loc[universe["restricted"] != "", ["ticker", "restricted"]]
    assert len(restricted) == 3
    assert (restricted["restricted"] == "no_buy").all()
    assert not restricted["ticker"].isin(holdings["ticker"]).any()


# --------------------------------------------------------------------------- prices


def test_prices(prices: pd.DataFrame, universe: pd.DataFrame) -> None:
    assert len(prices) == 756
    assert prices.columns[0] == "date"
    assert list(prices.columns[1:]) == list(universe["ticker"])
    dates = pd.to_datetime(prices["date"])
    assert dates.iloc[-1] == AS_OF
    assert dates.is_monotonic_increasing and (dates.dt.day_of_week < 5).all()
    closes = prices.iloc[:, 1:]
    assert closes.notna().all().all() and (closes > 0).all().all()
    last = closes.iloc[-1].to_numpy(dtype=float)
    np.testing.assert_allclose(last, universe["price"].to_numpy(), rtol=5e-4)


# --------------------------------------------------------------------------- benchmark


def test_benchmark(universe: pd.DataFrame) -> None:
    bench = pd.read_csv(EXAMPLES / "benchmark.csv")
    assert list(bench.columns) == ["ticker", "weight"]
    assert bench["ticker"].is_unique
    assert abs(bench["weight"].sum() - 1) < 1e-6
    assert (bench["weight"] > 0).all()
    info = universe.set_index("ticker")
    assert bench["ticker"].isin(info.index).all()
    assert (info.loc[bench["ticker"], "size"] != "micro").all()
    sectors = bench.groupby(info.loc[bench["ticker"], "sector"].to_numpy())["weight"].sum()
    assert len(sectors) == 11
    assert sectors.max() < 0.25


# --------------------------------------------------------------------------- accounts


def test_accounts_file() -> None:
    accounts = pd.read_csv(EXAMPLES / "accounts.csv", dtype=str)
    assert accounts.to_dict("records") == [
        {
            "account": "IRA-250K",
            "scenario": "smallcap_rerating.yaml",
            "benchmark": "benchmark.csv",
            "taxable": "false",
            "cash_target": "0.02",
        },
        {
            "account": "TAX-2M",
            "scenario": "smallcap_rerating.yaml",
            "benchmark": "benchmark.csv",
            "taxable": "true",
            "cash_target": "0.02",
        },
        {
            "account": "FDN-20M",
            "scenario": "smallcap_rerating.yaml",
            "benchmark": "benchmark.csv",
            "taxable": "false",
            "cash_target": "0.03",
        },
    ]


@pytest.mark.parametrize("account", list(TARGET_NAV))
def test_account_is_large_cap_heavy(
    account: str, holdings: pd.DataFrame, positions: pd.DataFrame
) -> None:
    rows = holdings[holdings["account"] == account]
    lots = positions[positions["account"] == account]
    cash = rows.loc[rows["ticker"] == "CASH", "quantity"].sum()
    nav = lots["value"].sum() + cash
    assert abs(nav / TARGET_NAV[account] - 1) <= 0.03
    assert 0.01 <= cash / nav <= 0.05
    assert (lots["quantity"] > 0).all()
    assert (lots["quantity"] % lots["lot_size"] == 0).all()
    by_size = lots.groupby("size")["value"].sum()
    assert by_size.get("large", 0) / lots["value"].sum() >= 0.85
    assert by_size.get("small", 0) == 0 and by_size.get("micro", 0) == 0
    assert lots.groupby("ticker")["value"].sum().max() / nav <= 0.045
    assert (lots["restricted"] == "").all()


def test_account_position_counts(positions: pd.DataFrame) -> None:
    counts = positions.groupby("account")["ticker"].nunique()
    assert 18 <= counts["IRA-250K"] <= 26
    assert 30 <= counts["TAX-2M"] <= 40
    assert 100 <= counts["FDN-20M"] <= 120
    assert (positions.loc[positions["account"] == "IRA-250K", "region"] == "US").all()
    assert (positions.loc[positions["account"] == "FDN-20M", "region"] == "DM").any()


def test_taxable_account_lots(positions: pd.DataFrame) -> None:
    lots = positions[positions["account"] == "TAX-2M"]
    assert lots[["cost_basis", "acquired"]].notna().all().all()
    per_position = lots.groupby("ticker").size()
    assert per_position.between(2, 4).all()
    acquired = pd.to_datetime(lots["acquired"])
    assert (acquired < AS_OF).all()
    assert (acquired >= AS_OF - pd.DateOffset(years=6)).all()
    assert (acquired > AS_OF - pd.Timedelta(days=365)).any()  # some short-term lots
    gain = lots["value"] - lots["cost_basis"]
    assert (gain > 0).any() and (gain < 0).any()


def test_foundation_lots_have_basis(positions: pd.DataFrame) -> None:
    lots = positions[positions["account"] == "FDN-20M"]
    assert lots["ticker"].is_unique
    assert lots[["cost_basis", "acquired"]].notna().all().all()
