"""Substitute groups (issue 17 item 4, docs/households.md "Substitutes"): the
scenario's ``substitutes`` and the accounts file's ``exclude``.

A generated market of 30 stocks and four index funds: IVV and SCHX (large-cap US funds
the scenario names substitutes, not substantially identical), VOO and SPLG (an
identical group). A taxable account (and a household of it with an IRA) holds IVV at
a loss. Everything is measured from the written trades and the inputs: the group's
exposure change in dollars of NAV, the loss realized, and the wash sales recomputed
from the trades, the trade history and the groups (never the program's own Checks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_universe, run_cli, write_account_files

AS_OF = "2026-11-20"
FUNDS = ("IVV", "SCHX", "VEA", "IEFA")
GROUPS = """substitutes:
  - [IVV, SCHX]
  - {tickers: [VEA, IEFA], identical: true}
"""
SCENARIO = """name: substitutes test
risk_aversion: 10
size_buckets: {large: 10e9, mid: 2e9, small: 3e8}
constraints:
  cash: {target: 0.02, min: 0.0}
  max_position: 0.3
costs:
  spread_bps: {default: 5}
  impact: 0.2
tax:
  harvest: {min_loss_usd: 100}
"""
NAVS = {"TAX": 500_000.0, "IRA": 250_000.0}
ACCOUNTS = "account,account_type,household,exclude\nTAX,taxable,SMITH,\nIRA,tax_deferred,SMITH,\n"
# the benchmark's weights of IVV and VEA (the rest: the stocks by market cap); each
# account holds IVV at its weight, at a loss, and VEA (at a gain) at its weight unless
# a test says less
BENCH = {"IVV": 0.25, "VEA": 0.15}


def _universe() -> pd.DataFrame:
    uni = make_universe(30, seed=5)
    funds = pd.DataFrame(
        {
            "ticker": list(FUNDS),
            "name": [f"{t} index fund" for t in FUNDS],
            "price": [500.0, 60.0, 50.0, 70.0],
            "sector": "Index Funds",
            "region": ["US", "US", "DM", "DM"],
            "market_cap": np.nan,
            "adv": 5e9,
            "themes": "",
            "lot_size": 1,
            "restricted": "",
        }
    )
    return pd.concat([uni, funds], ignore_index=True)


def write_market(
    folder: Path,
    groups: str = GROUPS,
    accounts: str = ACCOUNTS,
    vea: float = BENCH["VEA"],
    history: str | None = None,
) -> dict[str, Path]:
    """The files: each account holds the stocks at their benchmark weights and VEA at
    ``vea`` (bought at 80% of today's price: a gain), and IVV at its benchmark
    weight bought at 125% of today's price (a loss of 20% of its basis), 2% cash."""
    folder.mkdir(parents=True, exist_ok=True)
    uni = _universe()
    price = uni.set_index("ticker")["price"]
    stocks = uni[uni["market_cap"].notna()]
    bench = pd.Series(0.0, index=uni["ticker"])
    rest = 1.0 - sum(BENCH.values())
    bench[stocks["ticker"]] = (stocks["market_cap"] / stocks["market_cap"].sum() * rest).to_numpy()
    for ticker, weight in BENCH.items():
        bench[ticker] = weight
    rows = []
    for account, nav in NAVS.items():
        held = {t: bench[t] for t in stocks["ticker"]} | {"VEA": vea, "IVV": BENCH["IVV"]}
        for ticker, weight in held.items():
            q = float(np.floor(weight * nav / price[ticker]))
            basis = 1.25 if ticker == "IVV" else 0.8
            if q:
                rows.append({"account": account, "ticker": ticker, "quantity": q,
                             "cost_basis": round(price[ticker] * q * basis, 2),
                             "acquired": "2022-03-01"})  # fmt: skip
        rows.append({"account": account, "ticker": "CASH", "quantity": nav * 0.02,
                     "cost_basis": "", "acquired": ""})  # fmt: skip
    weights = bench.rename("weight").rename_axis("ticker").reset_index()
    paths = write_account_files(folder, uni, weights, rows, accounts, SCENARIO + groups)
    if history is not None:
        paths["history"] = folder / "history.csv"
        paths["history"].write_text(history)
    return paths


def propose(paths: dict[str, Path], out: Path, *extra: str):
    return run_cli(
        "propose", "--holdings", paths["holdings"], "--universe", paths["universe"],
        "--benchmark", paths["benchmark"], "--scenario", paths["scenario"],
        "--accounts", paths["accounts"], "--as-of", AS_OF, "--trades", out / "trades.csv",
        "--json", out / "summary.json", *extra,
    )  # fmt: skip


def _nav(paths: dict[str, Path], accounts) -> float:
    """The accounts' NAV from the holdings and universe files."""
    hold = pd.read_csv(paths["holdings"])
    hold = hold[hold["account"].isin(list(accounts))]
    price = pd.read_csv(paths["universe"]).set_index("ticker")["price"]
    cash = hold["ticker"] == "CASH"
    held = hold[~cash]
    return float(
        (held["quantity"] * price[held["ticker"]].to_numpy()).sum()
        + hold.loc[cash, "quantity"].sum()
    )


def _signed_usd(trades: pd.DataFrame) -> pd.Series:
    """Dollars bought (+) or sold (−) per ticker, from the written trades."""
    sign = np.where(trades["side"] == "BUY", 1.0, -1.0)
    return (sign * trades["quantity"] * trades["price"]).groupby(trades["ticker"]).sum()


def wash_sales(
    trades: pd.DataFrame,
    groups: list[tuple[list[str], bool]],
    history: pd.DataFrame | None = None,
    taxable: tuple[str, ...] = ("TAX",),
    days: int = 30,
) -> list[str]:
    """Wash sales recomputed from the written trades, the trade history and the groups:
    a loss sale by a taxable account of a security whose wash key (its identical
    group, else itself) is bought in the run by any account, or was bought in the
    window; and a buy of a key sold at a loss in the window (an unknown gain: a loss)."""
    key = {t: members[0] for members, identical in groups if identical for t in members}

    def k(t):
        return key.get(t, t)

    sold = trades[(trades["side"] == "SELL") & trades["account"].isin(taxable)]
    losses = {k(t) for t, g in zip(sold["ticker"], sold["realized_gain"], strict=True) if g < 0}
    bought = {k(t) for t in trades.loc[trades["side"] == "BUY", "ticker"]}
    found = sorted(losses & bought)
    if history is not None:
        recent = history[
            pd.to_datetime(history["date"]) >= pd.Timestamp(AS_OF) - pd.Timedelta(days=days)
        ]
        past_buys = {k(t) for t in recent.loc[recent["side"] == "BUY", "ticker"]}
        past = recent[recent["side"] == "SELL"]
        past_losses = {
            k(t) for t, g in zip(past["ticker"], past["realized_gain"], strict=True) if not g >= 0
        }
        found += sorted((losses & past_buys) | (bought & past_losses))
    return found


PARSED = [(["IVV", "SCHX"], False), (["VEA", "IEFA"], True)]


def _check_harvest(paths, out, accounts):
    trades = pd.read_csv(out / "trades.csv")
    ivv = trades[(trades["ticker"] == "IVV") & (trades["side"] == "SELL")]
    assert len(ivv) and (ivv["realized_gain"] < 0).all(), "IVV's loss is harvested"
    assert ((trades["ticker"] == "SCHX") & (trades["side"] == "BUY")).any(), "SCHX bought"
    usd = _signed_usd(trades)
    nav = _nav(paths, accounts)
    change = abs(usd.get("IVV", 0.0) + usd.get("SCHX", 0.0)) / nav
    assert change <= 0.005, f"the IVV/SCHX group moved {change:.2%} of NAV"
    assert wash_sales(trades, PARSED) == []
    return trades, change


def test_harvest_buys_the_substitute(tmp_path):
    """A taxable account holding IVV at a loss sells it, realizing the loss, and buys
    SCHX: the group's exposure changes by at most 0.5% of NAV; no wash sale. The
    trades' reasons say so."""
    paths = write_market(tmp_path)
    out = tmp_path / "out"
    result = propose(paths, out, "--account", "TAX")
    assert result.exit_code == 0, result.output
    trades, _ = _check_harvest(paths, out, ["TAX"])
    reasons = dict(zip(trades["ticker"] + " " + trades["side"], trades["reason"], strict=True))
    assert reasons["SCHX BUY"] == "substitute for IVV"
    assert reasons["IVV SELL"] == "harvest the loss: SCHX keeps the exposure"


def test_without_substitutes_the_loss_stays(tmp_path):
    """The same account without the groups: selling IVV would cost tracking error it
    cannot buy back, so the group's exposure is not kept by a substitute."""
    paths = write_market(tmp_path, groups="")
    out = tmp_path / "out"
    result = propose(paths, out, "--account", "TAX")
    assert result.exit_code == 0, result.output
    trades = pd.read_csv(out / "trades.csv")
    assert not ((trades["ticker"] == "SCHX") & (trades["side"] == "BUY")).any()


def test_household_harvest_buys_the_substitute(tmp_path):
    """The household (the taxable account and an IRA) harvests IVV's loss in the
    taxable account and keeps the household's IVV/SCHX exposure within 0.5% of its
    NAV; no wash sale across the accounts."""
    paths = write_market(tmp_path)
    out = tmp_path / "out"
    result = propose(paths, out, "--household", "SMITH")
    assert result.exit_code == 0, result.output
    trades, _ = _check_harvest(paths, out, NAVS)
    assert not ((trades["ticker"] == "IVV") & (trades["side"] == "BUY")).any()


HISTORY = (
    "account,ticker,date,side,quantity,price,realized_gain\nIRA,IEFA,2026-11-10,SELL,100,70,-900\n"
)


@pytest.mark.parametrize("household", [False, True])
def test_identical_buy_after_a_loss_sale_is_blocked(tmp_path, household):
    """IEFA was sold at a loss ten days ago in the household's IRA; VEA and IEFA are
    an identical group, so the taxable account, under its benchmark weight of VEA, buys
    neither (alone and as a household); marked not identical, it buys VEA back."""
    extra = ("--household", "SMITH") if household else ("--account", "TAX")
    history = pd.read_csv(pd.io.common.StringIO(HISTORY))
    for groups, blocked in (
        (GROUPS, True),
        ("substitutes:\n  - [IVV, SCHX]\n  - [VEA, IEFA]\n", False),
    ):
        folder = tmp_path / str(blocked)
        paths = write_market(folder, groups=groups, vea=0.05, history=HISTORY)
        out = folder / "out"
        result = propose(paths, out, *extra, "--trade-history", paths["history"])
        assert result.exit_code == 0, result.output
        trades = pd.read_csv(out / "trades.csv")
        taxable_buys = trades[(trades["account"] == "TAX") & (trades["side"] == "BUY")]
        bought = set(taxable_buys["ticker"]) & {"VEA", "IEFA"}
        if blocked:
            assert not bought, trades
            parsed = PARSED
            assert wash_sales(trades[trades["account"] == "TAX"], parsed, history) == []
        else:
            assert bought, "not identical: the substitute is bought"


def test_exclude_sells_the_sector_in_one_account(tmp_path):
    """The taxable account excludes sector:Energy: it sells every Energy name and
    buys none, keeps (or adds to) S024, the substitute of its largest Energy name S025;
    the IRA keeps its Energy names (it buys more of them: the household's exposure)."""
    accounts = "account,account_type,household,exclude\nTAX,taxable,SMITH,sector:Energy\nIRA,tax_deferred,SMITH,\n"
    paths = write_market(tmp_path, groups="substitutes:\n  - [S025, S024]\n", accounts=accounts)
    out = tmp_path / "out"
    result = propose(paths, out, "--household", "SMITH")
    assert result.exit_code == 0, result.output
    trades = pd.read_csv(out / "trades.csv")
    uni = pd.read_csv(paths["universe"]).set_index("ticker")
    hold = pd.read_csv(paths["holdings"])
    energy = set(uni.index[uni["sector"] == "Energy"])
    for account in NAVS:
        mine = hold[hold["account"] == account].groupby("ticker")["quantity"].sum()
        t = trades[trades["account"] == account]
        q = (np.where(t["side"] == "BUY", 1.0, -1.0) * t["quantity"]).groupby(t["ticker"]).sum()
        after = mine.add(q, fill_value=0.0)
        held_energy = after[after.index.isin(energy)]
        if account == "TAX":
            assert (held_energy.abs() < 1e-9).all(), held_energy
            assert not set(t.loc[t["side"] == "BUY", "ticker"]) & energy
            assert after.get("S024", 0.0) >= mine.get("S024", 0.0) > 0
        else:
            before = mine[mine.index.isin(energy) & (mine > 0)]
            assert (after[before.index] > 0).all(), "the IRA keeps its Energy names"


def test_exclude_works_for_one_account(tmp_path):
    accounts = "account,account_type,household,exclude\nTAX,taxable,SMITH,sector:Energy ; ticker:S029\nIRA,tax_deferred,SMITH,\n"
    paths = write_market(tmp_path, accounts=accounts)
    out = tmp_path / "out"
    result = propose(paths, out, "--account", "TAX")
    assert result.exit_code == 0, result.output
    trades = pd.read_csv(out / "trades.csv")
    uni = pd.read_csv(paths["universe"]).set_index("ticker")
    sold = set(trades.loc[trades["side"] == "SELL", "ticker"])
    hold = pd.read_csv(paths["holdings"])
    held = set(hold.loc[hold["account"] == "TAX", "ticker"])
    assert (set(uni.index[uni["sector"] == "Energy"]) | {"S029"}) & held <= sold


@pytest.mark.parametrize(
    "groups, accounts, expected",
    [
        (
            "substitutes:\n  - [IVV, XYZ]\n",
            ACCOUNTS,
            "key 'substitutes[1]': substitute XYZ is not in the universe",
        ),
        (
            "substitutes:\n  - [IVV, SCHX]\n  - [SCHX, VEA]\n",
            ACCOUNTS,
            "key 'substitutes[2]': SCHX is in substitute groups 1 and 2",
        ),
        (
            "substitutes:\n  - [IVV]\n",
            ACCOUNTS,
            "key 'substitutes[1]': a substitute group needs at least two",
        ),
        (
            "",
            ACCOUNTS.replace("SMITH,\n", "SMITH,sektor:Energy\n", 1),
            "row 2, column 'exclude': exclude 'sektor:Energy': unknown selector key 'sektor'",
        ),
        (
            "",
            ACCOUNTS.replace("SMITH,\n", "SMITH,sector:Energi\n", 1),
            "row 2, column 'exclude': exclude group 'sector:Energi' matches no security in the universe (did you mean 'sector:Energy'?)",
        ),
    ],
)
@pytest.mark.parametrize("household", [False, True])
def test_bad_input_one_line_nothing_written(tmp_path, groups, accounts, expected, household):
    paths = write_market(tmp_path, groups=groups, accounts=accounts)
    out = tmp_path / "out"
    extra = ("--household", "SMITH") if household else ("--account", "TAX")
    result = propose(paths, out, *extra)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output
    assert not out.exists() or not any(out.iterdir())


def test_validate_reads_exclude(tmp_path):
    """``validate --accounts`` names a bad ``exclude`` cell as ``propose`` does."""
    accounts = ACCOUNTS.replace("SMITH,\n", "SMITH,sektor:Energy\n", 1)
    paths = write_market(tmp_path, accounts=accounts)
    result = run_cli(
        "validate", "--scenario", paths["scenario"], "--universe", paths["universe"],
        "--holdings", paths["holdings"], "--accounts", paths["accounts"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "row 2, column 'exclude': exclude 'sektor:Energy': unknown selector key" in result.output
    good = write_market(tmp_path / "good")
    result = run_cli(
        "validate", "--scenario", good["scenario"], "--universe", good["universe"],
        "--holdings", good["holdings"], "--accounts", good["accounts"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("extra", [("--account", "TAX"), ("--household", "SMITH")])
def test_verify_reproduces(tmp_path, extra):
    """``verify --reproduce`` re-measures and re-solves a proposal made with substitutes
    and an exclusion from its recorded inputs: the same orders, share for share."""
    accounts = ACCOUNTS.replace("SMITH,\n", "SMITH,sector:Energy\n", 1)
    paths = write_market(tmp_path, accounts=accounts)
    out = tmp_path / "out"
    assert propose(paths, out, *extra).exit_code == 0
    result = run_cli("verify", out / "summary.json", "--reproduce")
    assert result.exit_code == 0, result.output
    assert "reproduced: the same" in result.output
