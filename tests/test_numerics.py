"""Badly scaled inputs: tiny and huge accounts, prices, ADV, market caps and lot sizes.

Each case runs the real ``rebalancer propose`` command and either exits 0 with every
money invariant holding on the trades it wrote -- measured here, from the input files
and the output files only -- or exits 1/3 with one clean line naming the problem.
The optimizer works in weights of NAV, so a $500 and a $5B account must see the same
numbers; the rounding to whole shares and lots works in shares and dollars, so prices
from $0.05 to $500,000 and lots from 0.001 to a million shares must not upset it.

Also: the solver fallback chain, with the first solver made to fail for real (an
iteration limit), is taken and named in the warnings of the solution and the JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.optimize import problem as problem_module
from rebalancer.optimize.layout import restrict
from rebalancer.optimize.problem import RebalanceProblem
from rebalancer.pipeline import load_inputs, prepare
from rebalancer.scenario import load_scenario
from tests.conftest import SECTORS, run_cli, write_scenario

# A standalone scenario (no ``extends``) so the test knows every limit it measures.
PARTICIPATION = {"default": 0.20, "size:small": 0.10, "size:micro": 0.05, "region:EM": 0.05}
SIZE_BUCKETS = {"large": 10e9, "mid": 2e9, "small": 3e8}
CASH_TARGET, CASH_MIN = 0.02, 0.01
MAX_POSITION = 0.05
AS_OF = "2026-11-20"

SCENARIO = """
name: numerics {label}
risk_aversion: 10
tilt_strength: 10
size_buckets: {{large: 10e9, mid: 2e9, small: 3e8}}
signals:
  weight: 1.0
  metrics: {{pb: -1, pe: -0.5, roa: 1, momentum: 0.5}}
{extra}
constraints:
  cash: {{target: 0.02, min: 0.01}}
  max_position: 0.05
  max_turnover: {turnover}
  max_tracking_error: {te}
  sector_max: 0.30
  liquidity:
    max_participation: {{default: 0.20, "size:small": 0.10, "size:micro": 0.05, "region:EM": 0.05}}
    days: {days}
  min_trade_usd: {min_trade}
  round_lots: true
costs:
  spread_bps: {{default: 5, "size:small": 25, "size:micro": 60, "region:EM": 40}}
  impact: 0.7
"""

TILTS = """
views:
  - {long: "size:small", short: "size:large", excess_return: 0.03, confidence: 0.5}
tilts:
  "size:small": {target: 0.04, band: 0.03}
"""


def scenario_text(
    label: str,
    *,
    turnover: str = "0.30",
    te: str = "0.08",
    days: float = 1,
    min_trade: float = 1000,
    tilts: bool = False,
) -> str:
    return SCENARIO.format(
        label=label,
        turnover=turnover,
        te=te,
        days=days,
        min_trade=min_trade,
        extra=TILTS if tilts else "",
    )


def universe(
    n: int = 60,
    *,
    seed: int = 11,
    prices: tuple[float, float] = (10.0, 200.0),
    caps: tuple[float, float] = (2e8, 4e11),
    adv: tuple[float, float] | None = None,
    lots: tuple[float, ...] = (1.0,),
) -> pd.DataFrame:
    """A universe whose prices, caps, ADVs and lot sizes span the given ranges (log-spaced,
    shuffled against each other so every extreme meets every other)."""
    rng = np.random.default_rng(seed)

    def span(lo: float, hi: float) -> np.ndarray:
        return np.exp(np.linspace(np.log(lo), np.log(hi), n))[rng.permutation(n)]

    cap = np.exp(np.linspace(np.log(caps[0]), np.log(caps[1]), n))
    return pd.DataFrame(
        {
            "ticker": [f"N{i:03d}" for i in range(n)],
            "name": [f"Name {i}" for i in range(n)],
            "price": span(*prices).round(4),
            "sector": [SECTORS[i % len(SECTORS)] for i in range(n)],
            "region": rng.choice(["US", "DM", "EM"], n, p=[0.6, 0.25, 0.15]),
            "market_cap": cap,
            "adv": cap * 0.004 if adv is None else span(*adv),
            "lot_size": rng.choice(lots, n),
            "pb": rng.lognormal(1.0, 0.5, n).round(3),
            "pe": rng.lognormal(3.0, 0.4, n).round(3),
            "roa": rng.normal(0.05, 0.03, n).round(4),
            "momentum": rng.normal(0.0, 0.2, n).round(4),
            "restricted": "",
        }
    )


def benchmark(uni: pd.DataFrame) -> pd.DataFrame:
    """Cap weights of the universe (a market benchmark)."""
    w = uni["market_cap"] / uni["market_cap"].sum()
    return pd.DataFrame({"ticker": uni["ticker"], "weight": w})


def holdings(
    uni: pd.DataFrame, nav: float, invested: bool, n_names: int = 25, tax_lots: bool = False
) -> pd.DataFrame:
    """Cash only, or about 97% of ``nav`` in the largest names in whole lots (a name whose
    lot costs more than its share is held as a fraction of a lot: a fund, a gift). With
    ``tax_lots`` each position is three lots bought at different prices and dates."""
    rows = []
    cash = nav
    if invested:
        big = uni.sort_values("market_cap").tail(n_names)
        each = 0.97 * nav / n_names
        for t, p, lot in zip(big["ticker"], big["price"], big["lot_size"], strict=True):
            q = np.floor(each / (p * lot)) * lot or np.floor(each / p * 1000) / 1000
            if q <= 0:
                continue
            cash -= q * p
            if not tax_lots:
                rows.append({"account": "A", "ticker": t, "quantity": q})
                continue
            parts = [q / 2, q / 3, q - q / 2 - q / 3]
            for part, basis, acquired in zip(
                parts, (0.6, 1.1, 0.95), ("2019-05-02", "2024-01-15", "2026-09-01"), strict=True
            ):
                rows.append(
                    {
                        "account": "A",
                        "ticker": t,
                        "quantity": part,
                        "cost_basis": round(part * p * basis, 2),
                        "acquired": acquired,
                    }
                )
    rows.append({"account": "A", "ticker": "CASH", "quantity": round(cash, 2)})
    return pd.DataFrame(rows)


@dataclass
class Case:
    uni: pd.DataFrame
    hold: pd.DataFrame
    scenario: str
    days: float = 1.0
    taxable: bool = False


def run_propose(tmp_path: Path, case: Case):
    """Write the inputs and run ``rebalancer propose`` on them: (result, paths)."""
    p = {
        "universe": tmp_path / "universe.csv",
        "holdings": tmp_path / "holdings.csv",
        "benchmark": tmp_path / "benchmark.csv",
        "scenario": write_scenario(tmp_path / "scenario.yaml", case.scenario),
        "trades": tmp_path / "trades.csv",
        "json": tmp_path / "summary.json",
    }
    case.uni.to_csv(p["universe"], index=False)
    case.hold.to_csv(p["holdings"], index=False)
    benchmark(case.uni).to_csv(p["benchmark"], index=False, float_format="%.15g")
    args = ["propose", "--holdings", p["holdings"], "--universe", p["universe"]]
    args += ["--benchmark", p["benchmark"], "--scenario", p["scenario"], "--as-of", AS_OF]
    args += ["--trades", p["trades"], "--json", p["json"], "--quiet"]
    args += ["--taxable"] if case.taxable else []
    return run_cli(*args), p


def read_trades(path: Path) -> pd.DataFrame:
    """The trades CSV, numbers as floats even when it has no row."""
    trades = pd.read_csv(path, dtype={"ticker": str, "side": str})
    numbers = ["quantity", "price", "notional", "weight_before", "weight_after", "pct_adv"]
    return trades.astype({c: float for c in [*numbers, "days_to_trade", "est_cost"]})


def participation(uni: pd.DataFrame) -> pd.Series:
    """The scenario's participation limit per name, from its market cap and region."""
    cap = uni["market_cap"]
    size = np.select(
        [cap >= SIZE_BUCKETS["large"], cap >= SIZE_BUCKETS["mid"], cap >= SIZE_BUCKETS["small"]],
        ["large", "mid", "small"],
        "micro",
    )
    out = []
    for s, region in zip(size, uni["region"], strict=True):
        hits = [v for k, v in PARTICIPATION.items() if k in (f"size:{s}", f"region:{region}")]
        out.append(min(hits) if hits else PARTICIPATION["default"])
    return pd.Series(out, index=uni["ticker"].to_numpy())


def assert_money_invariants(case: Case, paths: dict) -> dict:
    """Every money invariant on the written trades, measured from the inputs alone;
    returns the JSON summary."""
    uni = case.uni.set_index("ticker")
    price, lot, adv = uni["price"], uni["lot_size"], uni["adv"]
    hold = case.hold
    is_cash = hold["ticker"] == "CASH"
    cash_before = float(hold.loc[is_cash, "quantity"].sum())
    before = hold[~is_cash].groupby("ticker")["quantity"].sum().reindex(uni.index, fill_value=0.0)
    nav = float((before * price).sum()) + cash_before
    summary = json.loads(paths["json"].read_text())
    trades = read_trades(paths["trades"])
    usd = 0.005 + 1e-12 * nav  # half a cent, and a float's worth of a huge NAV

    assert summary["nav"] == pytest.approx(nav, rel=1e-9, abs=0.005)
    assert summary["cash_before"] == pytest.approx(cash_before, abs=usd)
    assert trades["ticker"].is_unique, "one order per security"
    assert set(trades["side"]) <= {"BUY", "SELL"}
    assert (trades["quantity"] > 0).all()
    assert len(trades) == summary["n_trades"]
    q = trades["quantity"].to_numpy(float)
    px = price.reindex(trades["ticker"]).to_numpy()
    np.testing.assert_allclose(trades["price"], px, rtol=1e-12)
    notional = q * px
    np.testing.assert_allclose(trades["notional"], notional, rtol=1e-9, atol=0.005)
    finite = ["quantity", "price", "notional", "weight_before", "weight_after", "est_cost"]
    assert np.isfinite(trades[finite].to_numpy(float)).all()

    # pre + trade = post, in shares (no short, nothing sold that is not held) and in cash
    buy = (trades["side"] == "BUY").to_numpy()
    signed = pd.Series(np.where(buy, q, -q), index=trades["ticker"])
    after = before + signed.reindex(uni.index, fill_value=0.0)
    assert (after >= -1e-9 * np.maximum(before, 1.0)).all(), "short position"
    cash_after = cash_before - float(np.where(buy, notional, -notional).sum())
    assert summary["cash_after"] == pytest.approx(cash_after, abs=usd)
    assert cash_after >= CASH_MIN * nav - usd, f"cash {cash_after} under its floor"
    assert summary["turnover"] == pytest.approx(notional.sum() / (2 * nav), rel=1e-9, abs=1e-12)
    # whole lots, except an order that closes a position held in a fraction of a lot
    units = q / lot.reindex(trades["ticker"]).to_numpy()
    held_before = before.reindex(trades["ticker"]).to_numpy()
    closes = np.abs(after.reindex(trades["ticker"]).to_numpy()) <= 1e-9 * np.maximum(held_before, 1)
    whole = np.abs(units - np.round(units)) <= 1e-9 * np.maximum(units, 1.0)
    assert (whole | closes).all(), trades.loc[~(whole | closes), ["ticker", "quantity"]]
    # participation: no order past its share of a day's traded value (times the days)
    tickers = trades["ticker"]
    cap_usd = participation(case.uni).reindex(tickers).to_numpy() * adv.reindex(tickers) * case.days
    over = notional > cap_usd.to_numpy() * (1 + 1e-9) + 0.005
    assert not over.any(), trades.loc[over, ["ticker", "notional"]]
    np.testing.assert_allclose(trades["pct_adv"], notional / adv.reindex(tickers), rtol=1e-9)
    # weights of NAV, as the CSV reports them
    w_after = (after * price / nav).reindex(tickers).to_numpy()
    np.testing.assert_allclose(trades["weight_after"], w_after, rtol=1e-9, atol=1e-12)
    # sales come out of the lots held, never more than a lot holds
    sold = pd.DataFrame(summary["lot_sales"], columns=["ticker", "lot_id", "quantity_sold"])
    held = hold.assign(lot_id=[f"A:{i + 2}" for i in range(len(hold))]).set_index("lot_id")
    by_lot = sold.groupby("lot_id")["quantity_sold"].sum()
    assert (by_lot <= held["quantity"].reindex(by_lot.index) * (1 + 1e-12)).all()
    sells = signed[signed < 0].abs()
    by_ticker = sold.groupby("ticker")["quantity_sold"].sum().reindex(sells.index, fill_value=0)
    np.testing.assert_allclose(by_ticker.to_numpy(float), sells.to_numpy(float), rtol=1e-9)
    # nothing garbage: the product's own re-measured checks all pass, and no warning
    # says one failed
    failed = [c for c in summary["checks"] if not c["ok"]]
    assert not failed, failed
    assert not any("check failed" in w for w in summary["warnings"]), summary["warnings"]
    return summary


def assert_clean_failure(result, paths: dict) -> str:
    """Exit 1 (bad input) or 3 (infeasible): one line saying so, and no output written."""
    assert result.exit_code in (1, 3), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    prefix = "infeasible: " if result.exit_code == 3 else "error: "
    assert lines[0].startswith(prefix), lines[0]
    assert not any(w in lines[0].lower() for w in ("traceback", " nan", " inf ")), lines[0]
    assert not paths["trades"].exists() and not paths["json"].exists()
    return lines[0]


# ----------------------------------------------------------------- the badly scaled cases

NORMAL = {}
WIDE_PRICES = {"prices": (0.05, 5e5)}
WIDE_ADV = {"adv": (1e3, 5e10)}
WIDE_CAPS = {"caps": (1e6, 3e12)}
ODD_LOTS = {"lots": (0.001, 1.0, 100.0, 1e6)}
EVERYTHING = {**WIDE_PRICES, **WIDE_ADV, **WIDE_CAPS, **ODD_LOTS}

SOLVES, INFEASIBLE, EITHER = "solves", "infeasible", "either"

# id: (universe, NAV, invested, scenario settings, expected outcome, what must be named)
CASES = {
    # a $500 account: weights of NAV are the same numbers as for $1M, lots are not
    "500-cash": (NORMAL, 500, False, {"turnover": "null", "min_trade": 0}, EITHER, ""),
    "500-invested": (NORMAL, 500, True, {"min_trade": 0}, SOLVES, ""),
    "500-cash-names-up-to-500k": (WIDE_PRICES, 500, False, {"turnover": "null", "min_trade": 0},
                                  SOLVES, ""),
    "500-invested-min-trade-above-nav": (NORMAL, 500, True, {"min_trade": 1000}, EITHER, ""),
    "500-invested-everything-extreme": (EVERYTHING, 500, True, {"min_trade": 0}, SOLVES, ""),
    # a $5B account: liquidity, not money, binds
    "5B-cash-one-day": (NORMAL, 5e9, False, {"turnover": "null"}, INFEASIBLE, "liquidity"),
    "5B-cash-20-days": (NORMAL, 5e9, False, {"turnover": "null", "days": 20}, SOLVES, ""),
    "5B-invested-round-lots": ({"lots": (1.0, 100.0, 1000.0)}, 5e9, True, {"days": 20},
                               SOLVES, ""),
    "5B-invested-tax-lots": (NORMAL, 5e9, True, {"days": 5, "taxable": True}, SOLVES, ""),
    "5B-invested-everything-extreme": (EVERYTHING, 5e9, True, {"days": 20, "tilts": True},
                                       SOLVES, ""),
    # $1M, one extreme at a time
    "1M-prices-0.05-to-500k": (WIDE_PRICES, 1e6, True, {"tilts": True}, SOLVES, ""),
    "1M-adv-1k-to-50B": (WIDE_ADV, 1e6, True, {"tilts": True}, SOLVES, ""),
    "1M-caps-1M-to-3T": (WIDE_CAPS, 1e6, True, {"tilts": True}, SOLVES, ""),
    "1M-lots-0.001-to-1M": (ODD_LOTS, 1e6, False, {"turnover": "null"}, SOLVES, ""),
    "5B-adv-1k-to-50B": (WIDE_ADV, 5e9, True, {"days": 20, "tilts": True}, SOLVES, ""),
    "5B-lots-tilt-past-liquidity": (ODD_LOTS, 5e9, True, {"days": 20, "tilts": True},
                                    INFEASIBLE, "liquidity"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_badly_scaled_request_solves_or_fails_cleanly(name, tmp_path):
    spec, nav, invested, settings, expected, named = CASES[name]
    settings = dict(settings)
    taxable = settings.pop("taxable", False)
    uni = universe(**spec)
    case = Case(
        uni,
        holdings(uni, nav, invested, tax_lots=taxable),
        scenario_text(name, **settings),
        days=settings.get("days", 1.0),
        taxable=taxable,
    )
    result, paths = run_propose(tmp_path, case)
    if result.exit_code != 0:
        assert expected != SOLVES, f"{name} must solve: {result.output}"
        line = assert_clean_failure(result, paths)
        assert result.exit_code == 3 and "would need" in line, line
        assert named in line, line
        return
    assert expected != INFEASIBLE, f"{name} must be infeasible"
    summary = assert_money_invariants(case, paths)
    assert summary["status"] in ("optimal", "optimal_inaccurate")
    # not garbage: nothing bought past the position cap (a $500 account cannot buy a
    # $500,000 share), and cash moves toward its target: it never rises when above it,
    # and money is put to work down to a point of NAV from the target (8 points in a
    # $500 account, where one share may be worth the whole 5% position cap)
    trades = read_trades(paths["trades"])
    bought = trades[trades["side"] == "BUY"]
    assert (bought["weight_after"] <= MAX_POSITION + 1e-9).all(), bought
    # cash after the orders and their estimated costs, which are paid from it (rounding
    # keeps the costs' cash: a $5B order book's impact is about a point of NAV)
    before = summary["cash_before"] / nav
    after = (summary["cash_after"] - summary["est_cost"]) / nav
    idle = CASH_TARGET + (0.01 if nav >= 1e6 else 0.08)
    limit = idle if before <= CASH_TARGET else min(before, idle)
    path = summary["path"]
    if "cash target" in path.get("reached_over_path", []):
        # the names the destination buys cannot take the cash this run (their liquidity
        # caps): the cash target is reached over a path, this run as far as they take it
        assert path["is_step"] and path["held_back_by"], path
        limit = before
    assert after <= limit + 1e-12, f"cash {before:.2%} -> {after:.2%} of NAV"
    if taxable:
        assert summary["taxable"] and summary["lot_sales"], "a taxable account sells from lots"


# ----------------------------------------------------------------- the solver fallback

# A real failure: Clarabel stopped after one iteration ends with status user_limit.
CRIPPLED = ("CLARABEL", {"max_iter": 1})


@pytest.fixture(scope="module")
def request_1m():
    """One prepared $1M request (the optimizer's inputs), for solving with odd chains."""
    folder = Path(tempfile.mkdtemp(prefix="numerics-"))
    uni = universe()
    case = Case(uni, holdings(uni, 1e6, True), scenario_text("fallback", tilts=True))
    paths = {"universe": folder / "u.csv", "holdings": folder / "h.csv"}
    uni.to_csv(paths["universe"], index=False)
    case.hold.to_csv(paths["holdings"], index=False)
    benchmark(uni).to_csv(folder / "b.csv", index=False)
    scenario = load_scenario(write_scenario(folder / "s.yaml", case.scenario))
    data = load_inputs(paths["holdings"], paths["universe"], benchmark=folder / "b.csv")
    yield prepare(data, scenario, as_of=AS_OF)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    "fallback",
    [("CLARABEL", {}), ("SCS", {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 20000})],
    ids=["clarabel-defaults", "scs"],
)
def test_next_solver_answers_when_the_first_fails_and_the_warnings_say_so(request_1m, fallback):
    # the problem over the account's first working set, as the optimizer starts it
    problem = request_1m.problem
    structure, data = restrict(problem.structure, problem.data, problem.first_set())
    reference = RebalanceProblem(structure, data, parametric=False).solve()
    assert reference.solver == "CLARABEL" and not reference.warnings

    solution = RebalanceProblem(structure, data, parametric=False).solve(
        solvers=(CRIPPLED, fallback)
    )
    assert solution.solver == fallback[0]
    assert solution.status in ("optimal", "optimal_inaccurate")
    assert "solver CLARABEL (max_iter=1) ended with status user_limit" in solution.warnings[0]
    assert any(
        w.startswith(f"answer from the fallback solver {fallback[0]}") for w in solution.warnings
    ), solution.warnings
    # the fallback really ran with its own settings: its answer is the optimum (cvxpy's
    # cached solver would otherwise have run the crippled settings again)
    np.testing.assert_allclose(solution.weights, reference.weights, atol=2e-4)


def test_cli_names_the_fallback_in_the_json_warnings(tmp_path, monkeypatch):
    monkeypatch.setattr(problem_module, "SOLVERS", (CRIPPLED, *problem_module.SOLVERS))
    uni = universe()
    case = Case(uni, holdings(uni, 1e6, True), scenario_text("fallback", tilts=True))
    result, paths = run_propose(tmp_path, case)
    assert result.exit_code == 0, result.output
    summary = assert_money_invariants(case, paths)
    assert summary["solver"] == "CLARABEL"
    warnings = summary["warnings"]
    assert any("CLARABEL (max_iter=1) ended with status user_limit" in w for w in warnings)
    assert any(
        w == "answer from the fallback solver CLARABEL (equilibrate_enable=False)" for w in warnings
    ), warnings
    # said once, although every minimum-trade re-solve met the same failure
    assert len(warnings) == len(set(warnings))


def test_cli_says_in_one_line_when_every_solver_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(problem_module, "SOLVERS", (CRIPPLED,))
    uni = universe()
    case = Case(uni, holdings(uni, 1e6, True), scenario_text("no solver"))
    result, paths = run_propose(tmp_path, case)
    line = assert_clean_failure(result, paths)
    assert result.exit_code == 1
    assert "no solver could solve the problem" in line
    assert "CLARABEL (max_iter=1) ended with status user_limit" in line


def test_console_script_prints_one_clean_line_for_an_impossible_5b_request(tmp_path):
    """The installed command, in its own process: nothing but the one line on stderr
    (no solver warning, no traceback) and exit 3."""
    uni = universe()
    case = Case(uni, holdings(uni, 5e9, False), scenario_text("5B", turnover="null"))
    folder = tmp_path
    for role, frame in (("universe", uni), ("holdings", case.hold), ("benchmark", benchmark(uni))):
        frame.to_csv(folder / f"{role}.csv", index=False)
    scenario = write_scenario(folder / "scenario.yaml", case.scenario)
    args = [sys.executable, "-m", "rebalancer.cli", "propose", "--quiet"]
    for role in ("holdings", "universe", "benchmark"):
        args += [f"--{role}", str(folder / f"{role}.csv")]
    args += ["--scenario", str(scenario), "--json", str(folder / "summary.json")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infeasible: account A:"), done.stderr
    assert "liquidity" in lines[0] and "would need" in lines[0]
    assert not (folder / "summary.json").exists()
