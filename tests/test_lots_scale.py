"""Tax lots at scale: a taxable account's memory grows linearly with its lots.

Before lot classes (rebalancer.model.tax) the compiled problem held a tensor of lots ×
lots: 3,000 lots took 1.7 GB and 12,000 a MemoryError. Here an account of 20,000
lots proposes as a process within a bound on its peak resident memory, and its
output is re-measured from the input files alone: no lot sold beyond what it holds,
lot sales = the sell orders, each sale's gain = shares × (price − basis per share),
and its term from the holding period.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer.model.tax import lot_classes
from tests.conftest import ROOT, SCENARIOS, make_universe

N_LOTS = 20_000
AS_OF = pd.Timestamp("2026-11-20")
# the process's whole peak (Python, pandas, cvxpy and the solver take about 250 MiB);
# the code before lot classes needed several GiB for these lots
PEAK_MIB = 600
# The process's own peak: its VmHWM at exit (/proc/self/status), the high-water mark of
# the memory it mapped after exec. Not wait4's ru_maxrss: Linux carries the parent's
# high-water mark across fork and exec into the child's, so a test worker grown past
# the bound (a pytest-xdist worker after many tests) failed this test without the
# command using any of it.
HIGH_WATER = (
    "import atexit, os\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as status, open(os.environ['PEAK_FILE'], 'w') as out:\n"
    "        out.write(next(line for line in status if line.startswith('VmHWM')))\n"
    "atexit.register(_peak)\n"
)


def lots_account(uni: pd.DataFrame, n_lots: int, nav: float = 10e6) -> pd.DataFrame:
    """``n_lots`` lots of the universe's 100 largest names, at bases from about half to
    twice today's price, bought over five years; 2% cash."""
    rng = np.random.default_rng(3)
    big = uni.sort_values("market_cap").tail(100)
    which = rng.integers(0, len(big), n_lots)
    price = big["price"].to_numpy()[which]
    quantity = np.maximum(1.0, np.round(rng.uniform(0.2, 1.8, n_lots) * nav / n_lots / price))
    days = pd.to_timedelta(rng.integers(1, 5 * 365, n_lots), "D")
    lots = pd.DataFrame(
        {
            "account": "DI",
            "ticker": big["ticker"].to_numpy()[which],
            "quantity": quantity,
            "cost_basis": np.round(quantity * price * np.exp(rng.normal(0, 0.35, n_lots)), 2),
            "acquired": (AS_OF - days).strftime("%Y-%m-%d"),
        }
    )
    cash = {"account": "DI", "ticker": "CASH", "quantity": nav * 0.02}
    return pd.concat([lots, pd.DataFrame([cash])], ignore_index=True)


# the neutral house limits, a small-cap tilt the large-cap lots pay for, losses harvested
# and the optimizer choosing the lots
SCENARIO = """\
name: small-cap tilt, harvested losses
extends: base.yaml
tilts:
  "size:small": {target: 0.04, band: 0.01}
tax:
  lot_method: optimized
  harvest: {min_loss_usd: 100, min_loss_pct: 0.05}
"""


def test_twenty_thousand_lots_propose_in_bounded_memory_with_exact_lot_sales(tmp_path: Path):
    uni = make_universe(n=150)
    held = lots_account(uni, N_LOTS)
    uni.to_csv(tmp_path / "universe.csv", index=False)
    held.to_csv(tmp_path / "holdings.csv", index=False)
    shutil.copy(SCENARIOS / "base.yaml", tmp_path / "base.yaml")
    (tmp_path / "tilt.yaml").write_text(SCENARIO)
    peak_file = tmp_path / "peak.txt"
    cmd = [
        sys.executable,
        "-c",
        HIGH_WATER + "from rebalancer.cli import main; main()",
        "propose",
        "--holdings",
        str(tmp_path / "holdings.csv"),
        "--universe",
        str(tmp_path / "universe.csv"),
        "--scenario",
        str(tmp_path / "tilt.yaml"),
        "--as-of",
        AS_OF.date().isoformat(),
        "--taxable",
        "--quiet",
        "--trades",
        str(tmp_path / "trades.csv"),
        "--json",
        str(tmp_path / "proposal.json"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEAK_FILE": str(peak_file)}
    with (tmp_path / "stderr.txt").open("wb") as err:  # a file: no pipe to fill and block
        done = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert done.returncode == 0, stderr
    peak_mib = int(peak_file.read_text().split()[1]) / 1024  # "VmHWM: N kB"
    assert peak_mib <= PEAK_MIB, f"peak memory {peak_mib:.0f} MiB for {N_LOTS:,} lots"

    # re-measured from the input files
    trades = pd.read_csv(tmp_path / "trades.csv", keep_default_na=False)
    sales = pd.DataFrame(json.loads((tmp_path / "proposal.json").read_text())["lot_sales"])
    lots = held[held["ticker"] != "CASH"].copy()
    lots["lot_id"] = [f"DI:{row + 2}" for row in lots.index]  # spreadsheet rows
    lots = lots.set_index("lot_id")
    sells = trades[trades["side"] == "SELL"].set_index("ticker")
    assert len(sells) and len(sales)
    assert sales["lot_id"].is_unique
    lot = lots.loc[sales["lot_id"]]
    assert (lot["ticker"].to_numpy() == sales["ticker"].to_numpy()).all()
    sold = sales["quantity_sold"].to_numpy(float)
    assert (sold > 0).all() and (sold <= lot["quantity"].to_numpy() + 1e-9).all()
    by_ticker = sales.groupby("ticker")["quantity_sold"].sum()
    assert set(by_ticker.index) == set(sells.index)
    np.testing.assert_allclose(
        by_ticker.reindex(sells.index), sells["quantity"].astype(float), rtol=1e-12
    )
    price = uni.set_index("ticker")["price"].reindex(sales["ticker"]).to_numpy()
    gain = sold * (price - lot["cost_basis"].to_numpy() / lot["quantity"].to_numpy())
    gains = pd.Series(gain, index=sales["ticker"].to_numpy()).groupby(level=0).sum()
    np.testing.assert_allclose(
        sells["realized_gain"].astype(float), gains.reindex(sells.index), rtol=1e-9, atol=0.01
    )
    acquired = pd.to_datetime(lot["acquired"]).to_numpy()
    long = AS_OF.to_datetime64() > pd.DatetimeIndex(acquired) + pd.DateOffset(years=1)
    terms = pd.Series(np.where(long, "LT", "ST"), index=sales["ticker"].to_numpy())
    one = terms.groupby(level=0).agg(lambda t: t.iloc[0] if t.nunique() == 1 else "mixed")
    assert (sells["term"] == one.reindex(sells.index)).all()


def test_lot_classes_partition_each_group_by_gain_and_keep_its_totals():
    """Re-measured from the lots: each class lies in one group (security, rate, kind,
    block), a group's classes are runs of consecutive gains, at most K per group with
    the classes within the budget (or one per group), caps summed and coefficients
    weight-averaged; below the budget, one class per lot in the lots' order."""
    rng = np.random.default_rng(11)
    n = 3_000
    gain = rng.normal(0.0, 0.3, n)
    rate = rng.choice([0.2, 0.37], n)
    weight = rng.uniform(1e-5, 1e-4, n)
    blocked = np.where(rng.random(n) < 0.1, "no short-term gains", "")
    coef = rate * np.where((gain > 0) | (rng.random(n) < 0.5), gain, 0.0)
    frame = pd.DataFrame(
        {
            "security": rng.integers(0, 40, n),
            "rate": rate,
            "gain_frac": gain,
            "tax_coef": coef,
            "weight": weight,
            "cap": np.where(blocked == "", weight, 0.0),
            "blocked": blocked,
        }
    )
    kind = np.select([gain > 0, coef < 0, gain < 0], [0, 1, 2], 3)
    group = pd.Series(list(zip(frame["security"], rate, kind, blocked != "", strict=True)))
    for most in (200, 800):
        lot_class, classes = lot_classes(frame, most)
        assert lot_class.min() == 0 and lot_class.max() == len(classes) - 1
        assert group.groupby(lot_class).nunique().max() == 1
        size = group.value_counts()
        runs = pd.Series(lot_class).groupby(group).nunique().reindex(size.index)
        k = int(runs.max())
        assert (runs == np.minimum(size, k)).all()
        assert k == 1 or np.minimum(size, k).sum() <= most
        assert np.minimum(size, k + 1).sum() > most
        for _, members in pd.Series(range(n)).groupby(group):
            ordered = members.to_numpy()[np.argsort(gain[members], kind="stable")]
            changes = np.count_nonzero(np.diff(lot_class[ordered]))
            assert len(np.unique(lot_class[ordered])) == 1 + changes  # consecutive runs
        np.testing.assert_allclose(
            classes["cap"], np.bincount(lot_class, weights=frame["cap"]), rtol=1e-12
        )
        total = np.bincount(lot_class, weights=weight)
        for column, per_lot in (("tax_coef", coef), ("gain_frac", gain)):
            mean = np.bincount(lot_class, weights=weight * per_lot) / total
            np.testing.assert_allclose(classes[column], mean, rtol=1e-9, atol=1e-15)
        assert (classes["security"].to_numpy()[lot_class] == frame["security"]).all()
    lot_class, classes = lot_classes(frame, n)
    assert (lot_class == np.arange(n)).all()
    assert (classes["tax_coef"].to_numpy() == coef).all()
    assert (classes["cap"].to_numpy() == frame["cap"].to_numpy()).all()


def test_lot_classes_worst_case_is_one_class_per_group_at_most_eight_per_name():
    """The budget bounds the classes where the groups allow, else one class per group
    (rebalancer.model.tax's docstring): an account of 400 names each with lots of both rates
    and all four kinds, some blocked as build_tax_lots blocks them, has 3,200 groups
    for a budget of 2,048; each is one class, and no name has more than eight."""
    from rebalancer.model.tax import MAX_LOT_CLASSES

    names, per = 400, 3  # lots per (rate, kind) of a name
    rates = np.array([0.2, 0.37])
    gains = np.array([0.3, -0.4, -0.01, 0.0])  # a gain, a harvestable loss, a neutral loss, 0
    security, rate, gain = (
        a.ravel()
        for a in np.meshgrid(np.arange(names), rates, np.repeat(gains, per), indexing="ij")
    )
    harvest = gain <= -0.1
    coef = rate * np.where((gain > 0) | harvest, gain, 0.0)
    weight = np.full(len(gain), 1.0 / len(gain))
    wash = (security % 2 == 0) & (gain < 0)  # bought within the window: no loss sale
    short_gain = (security % 3 == 0) & (rate == 0.37) & (gain > 0)  # no_short_term_gains
    blocked = np.where(wash, "wash sale", np.where(short_gain, "no short-term gains", ""))
    frame = pd.DataFrame(
        {
            "security": security,
            "rate": rate,
            # distinct gains inside each (rate, kind); a gain of 0 stays 0
            "gain_frac": gain * (1 + np.tile(np.linspace(0, 1e-3, per), len(gain) // per)),
            "tax_coef": coef,
            "weight": weight,
            "cap": np.where(blocked == "", weight, 0.0),
            "blocked": blocked,
        }
    )
    kind = np.select([gain > 0, coef < 0, gain < 0], [0, 1, 2], 3)
    group = pd.Series(list(zip(security, rate, kind, blocked != "", strict=True)))
    groups = group.nunique()
    assert groups == names * 8 > MAX_LOT_CLASSES
    lot_class, classes = lot_classes(frame, MAX_LOT_CLASSES)
    assert len(classes) == groups == max(MAX_LOT_CLASSES, groups)
    assert group.groupby(lot_class).nunique().max() == 1  # no class mixes groups
    assert classes.groupby("security").size().max() <= 8
