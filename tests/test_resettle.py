"""Re-runs settle: apply a proposal, propose again in the same market — no trades, or
only continuations of what the first run was held back from.

Random accounts, universes and scenarios from the property tests' generator
(``tests/test_properties.py``: ``cases``); each is proposed in-process through the
Python API, its orders applied to its holdings (``rebalancer.runs.apply``: lots reduced,
buys as new lots, cash net of notional and estimated costs) and proposed again with
the same inputs, scenario and ``--as-of``. The property, measured from the two
proposals' orders:

- the second run trades nothing; or
- every order of the second run *continues* the first (a per-run limit — turnover
  cap, liquidity days — or the impact cost stopped the first short): the same
  ticker, the same side, and a smaller quantity, or the same one where both orders
  are at the name's per-run liquidity cap; where the turnover cap held the first
  run back, also names it had not reached yet (never the other way on a name it
  traded). The second run's turnover is no larger than the first's (or than the
  turnover cap, where it held the first back: ``turnover_grew``), and the first
  run's summary said it was one step of a path (``path.is_step``).

A request the first run finds infeasible (exit 3) is not an account of the property:
it is rejected and another drawn (about 1.4 infeasible per feasible one), so the
examples counted are accounts whose first run is feasible; the second run of a
feasible first run must be feasible too (the first's result is a feasible start).

Examples: ``REBALANCER_RESETTLE_EXAMPLES`` feasible accounts (default 8, about 20 s;
200 for the full run, about 4-9 minutes). Derandomised: the same examples every run.
``REBALANCER_RESETTLE_TALLY=1`` counts the outcomes instead of stopping at the first
re-trade, also by reference (read them with ``--hypothesis-show-statistics``):

    REBALANCER_RESETTLE_EXAMPLES=200 REBALANCER_RESETTLE_TALLY=1 .venv/bin/python -m \
        pytest tests/test_resettle.py -k trades_nothing --runxfail \
        --hypothesis-show-statistics

Not yet met on every random account: the property is marked ``xfail`` (not strict).

The mechanisms that make re-runs settle (each kept by a case of ``tests/data``,
``test_kept_cases``, or a test below):

- holding is a candidate: where the current holdings keep every limit, orders that
  improve the optimizer's objective by no more than the materiality hurdle
  (``costs.hurdle_bps``, 1 bp of NAV unset) are not proposed, and never a required
  trade (a cash request, a forced exit, a breach: holding does not keep the limits
  there) (``rebalancer.trades.settle``);
- a step held back goes only toward the destination (the optimum without turnover
  cap, liquidity cap and impact): each name the destination's way and at most as far
  (``solve.path.step_box``), and where the liquidity cap held it back each name at
  least 0.6 of the way it has left in whole lots, or its per-run cap
  (``path.floored_box``); under a binding turnover cap only the names the capped
  step prefers, the rest waiting (``path.first_in_line``,
  ``Destination.turnover_waits``); under the impact cost alone only the names the
  step moves less than one minimum order (``sub_order``); a move under 3/4 of one
  order waits, from 3/4 it is a whole one (``path.WHOLE_ORDER``);
- a soft band no step in the box keeps this run is reached over a path
  (``path.reached_over_path``, ``solve.step.bands_over_path``), and a band the last
  run's whole lots left out of reach is kept no farther outside than today
  (``solve.driver.from_today``);
- the step's buys stop short of a position cap by the path's costs, and its sales
  go to the cap less them (``solve.step.with_headroom``,
  ``trades.rules.sales_headroom``).

Tally on 200 feasible accounts. The draw depends on which first runs are infeasible
(those are drawn again) and on this test's code (Hypothesis seeds its draw from it):
code versions are compared on the same accounts by storing a draw's cases and
replaying them. This test's own draw (478 drawn for 200 feasible): 111 settle, 52
only continue, 34 re-trade, 3 find the second run infeasible (with no materiality
hurdle, the optimizer's tolerance alone: 104, 57, 36, 3 on the same accounts). On an
earlier draw, stored and replayed, before the hurdle: 100, 75, 25, 0.

What is left of the re-trades (each a real re-trade, none an artefact of the measure),
by class on the stored draw before the hurdle: the floored box has no feasible point
(its floors push a band or cap past what the names held back can offset this run),
so the box alone takes the step and the next run, whose floored box fits, starts
names it left; small accounts where one minimum order is 40-270 bp of NAV and the
minimum-trade passes lift different names each run; taxable FIFO and HIFO accounts
(the optimizer prices the cheapest lots, the sale takes the method's: no convex model
follows FIFO); moves under one order; a sale down to a position cap; no benchmark
(the risk measured from today's holdings moves with them, ``reference_moves``); a
binding turnover cap whose floors did not fit; a tilt band the rounding left a hair
outside the optimizer's margin.

The example accounts, below, settle.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, reject, settings

import rebalancer
from rebalancer.errors import InfeasibleError
from rebalancer.inputs.readers import read_holdings
from rebalancer.report.proposal import Proposal
from rebalancer.runs.apply import apply_proposal, write_holdings
from rebalancer.scenario import load_scenario
from rebalancer.solve.path import describe
from tests.test_properties import ACCOUNT, AS_OF, cases, write_case

MAX_EXAMPLES = int(os.environ.get("REBALANCER_RESETTLE_EXAMPLES", "8"))
# count the outcomes (--hypothesis-show-statistics) instead of stopping at the first
# account that re-trades
TALLY = bool(os.environ.get("REBALANCER_RESETTLE_TALLY"))


def propose(paths: dict[str, Path], holdings) -> Proposal:
    return rebalancer.propose(
        holdings,
        paths["universe"],
        paths["scenario"],
        prices=paths.get("prices"),
        benchmark=paths.get("benchmark"),
        accounts=paths.get("accounts"),
        account=ACCOUNT,
        as_of=AS_OF,
        # without an accounts file, tax-exempt (as ``tests.conftest.run_cli`` says it):
        # lots with a cost basis need a tax status
        taxable=None if "accounts" in paths else False,
    )


def orders(proposal, days: float, lots: pd.Series) -> pd.DataFrame:
    """The orders by ticker: side, quantity, and whether the order is at its per-run
    liquidity cap: one more tradable unit (``lots``: shares per unit by ticker) would
    take it past the scenario's ``liquidity.days`` (days_to_trade is notional /
    (participation × ADV), proportional to the quantity)."""
    t = proposal.trades
    quantity = t["quantity"].to_numpy(float)
    lot = lots.reindex(t["ticker"]).to_numpy(float)
    one_more = t["days_to_trade"].to_numpy(float) * (quantity + lot) / quantity
    return pd.DataFrame(
        {
            "side": t["side"].to_numpy(),
            "quantity": quantity,
            "at_cap": one_more > days * (1 + 1e-9),
        },
        index=t["ticker"].to_numpy(),
    )


def lot_sizes(universe: pd.DataFrame, round_lots: bool) -> pd.Series:
    """Shares per tradable unit by ticker (1 where lots are not rounded or not given)."""
    tickers = universe["ticker"].to_numpy()
    if not round_lots or "lot_size" not in universe:
        return pd.Series(1.0, index=tickers)
    lots = pd.to_numeric(universe["lot_size"], errors="coerce").to_numpy(float)
    return pd.Series(lots, index=tickers).fillna(1.0)


def not_continuations(first: pd.DataFrame, second: pd.DataFrame, capped: bool) -> list[str]:
    """The second run's orders that do not continue the first run (text each).

    A continuation: the same ticker and side as a first-run order and a smaller
    quantity — or the same quantity when both orders are at the name's per-run
    liquidity cap (a large position sold over several runs takes equal steps). Where
    the first run's turnover cap held it back (``capped``), the next run may also
    start on names the first did not reach (the cap let the best trades go first);
    never the other way on a name the first run traded."""
    bad = []
    for ticker, row in second.iterrows():
        if ticker not in first.index:
            if not capped:
                bad.append(f"{row.side} {row.quantity:g} {ticker}: not traded by the first run")
            continue
        before = first.loc[ticker]
        if before.side != row.side:
            bad.append(
                f"{row.side} {row.quantity:g} {ticker}: the first run traded it the other way"
            )
        elif row.quantity > before.quantity or (
            row.quantity == before.quantity and not (row.at_cap and before.at_cap)
        ):
            bad.append(
                f"{row.side} {row.quantity:g} {ticker}: not smaller than the first run's "
                f"{before.quantity:g}"
            )
    return bad


def turnover_grew(first: float, second: float, capped: bool, max_turnover) -> bool:
    """Whether the second run trades more than the first (turnover, fractions of NAV).

    Where the turnover cap held the first run back (``capped``), both runs trade up to
    the cap, and a second run nearer it by a lot's rounding (0.001% of NAV) is the same
    step, not a larger one: it may reach the cap, as an order at its liquidity cap may
    repeat (``not_continuations``)."""
    if capped and max_turnover is not None and second <= max_turnover * (1 + 1e-9):
        return False
    return second > first * (1 + 1e-9)


@pytest.mark.xfail(
    strict=False,
    reason="re-runs of random accounts held back by impact and liquidity still re-trade "
    "(how many, and what is left: the module docstring)",
)
# about 2.7 accounts drawn per feasible one: the infeasible are drawn again
@pytest.mark.timeout(max(300, 15 * MAX_EXAMPLES))
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    phases=[Phase.explicit, Phase.generate],
)
@given(case=cases(fixed_reference=True))
def test_a_proposal_applied_and_proposed_again_trades_nothing_or_continues(case):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_case(case, folder)
        constraints = load_scenario(paths["scenario"]).constraints
        days = float(constraints.liquidity.days)
        max_turnover = constraints.max_turnover
        lots = lot_sizes(case["universe"], constraints.round_lots)
        try:
            first = propose(paths, paths["holdings"])
        except InfeasibleError:
            # not an account of the property: drawn again, so the examples counted are
            # accounts whose first run is feasible
            reject()
        applied = folder / "applied.csv"
        write_holdings(apply_proposal(read_holdings(paths["holdings"]), first), applied)
        try:
            second = propose(paths, applied)
        except InfeasibleError:
            if not TALLY:
                raise
            event("second run infeasible")
            return
    a, b = orders(first, days, lots), orders(second, days, lots)
    # tilts and the tracking error are measured against the reference: without a
    # benchmark, the current holdings, which the first run's orders move
    reference = f"reference: {first.reference}"
    if not len(b):
        event("settled: no trades")
        event(f"settled: no trades ({reference})")
        return
    assert len(a), "a first run without orders leaves the same holdings: no second-run orders"
    event("continues")
    path = getattr(first, "path", {})  # the summary's path block
    capped = "max_turnover" in path.get("held_back_by", [])
    bad = not_continuations(a, b, capped)
    grew = turnover_grew(first.metrics.turnover, second.metrics.turnover, capped, max_turnover)
    if TALLY:
        outcome = "re-trades" if bad or grew else "continues only"
        event(outcome)
        event(f"{outcome} ({reference})")
        event(
            f"first run said: {'a step' if getattr(first, 'path', {}).get('is_step') else 'the whole move'}"
        )
        return
    assert not bad, f"{len(bad)} of {len(b)} orders re-trade: " + "; ".join(bad[:8])
    assert not grew, (first.metrics.turnover, second.metrics.turnover, max_turnover)
    assert getattr(first, "path", {}).get("is_step"), (
        f"the first run did not say it was a step: {first.path}"
    )


def reruns(account: str, runs: int, scenario: dict, tmp_path: Path) -> list:
    """``runs`` proposals of an example account, each applied before the next."""
    from tests.conftest import EXAMPLES

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    holdings = read_holdings(EXAMPLES / "holdings.csv")
    out = []
    for k in range(runs):
        proposal = rebalancer.propose(
            holdings,
            EXAMPLES / "universe.csv",
            tmp_path / "s.yaml",
            prices=EXAMPLES / "prices.csv",
            benchmark=EXAMPLES / "benchmark.csv",
            accounts=EXAMPLES / "accounts.csv",
            account=account,
            as_of=AS_OF,
        )
        out.append(proposal)
        write_holdings(apply_proposal(holdings, proposal), tmp_path / f"h{k}.csv")
        holdings = read_holdings(tmp_path / f"h{k}.csv")
    return out


def test_no_dust_left_for_the_next_run(tmp_path):
    """FDN-20M without impact, 20 liquidity days and no turnover cap: nothing holds the
    first run back, so it is the whole move, and the second run trades nothing (it sold
    168 shares of FBA the first had left)."""
    scenario = {
        "name": "no per-run limits",
        "extends": "smallcap_rerating.yaml",
        "costs": {"impact": 0},
        "constraints": {"liquidity": {"days": 20}, "max_turnover": None},
    }
    first, second = reruns("FDN-20M", 2, scenario, tmp_path)
    assert len(first.trades) > 100 and not first.path["is_step"]
    assert len(second.trades) == 0, second.trades[["ticker", "side", "quantity"]]


def test_a_turnover_capped_path_is_announced_and_settles(tmp_path):
    """IRA-250K under smallcap_rerating (turnover cap 25%): the first run says it is
    one step held back by the cap; each run trades no more than the cap; within five
    runs a run trades nothing, and every later one too."""
    runs = reruns("IRA-250K", 5, {"name": "house", "extends": "smallcap_rerating.yaml"}, tmp_path)
    first = runs[0].path
    assert first["is_step"] and "max_turnover" in first["held_back_by"]
    assert first["remaining_runs_estimate"] >= 1
    turnover = [p.metrics.turnover for p in runs]
    assert max(turnover) <= 0.25 + 1e-9
    quiet = [k for k, p in enumerate(runs) if not len(p.trades)]
    assert quiet and all(not len(p.trades) for p in runs[quiet[0] :]), turnover
    assert not runs[-1].path["is_step"]


def test_tilts_against_the_current_holdings_are_announced_as_moving_again():
    """Without a benchmark the tilts are measured from today's holdings: the path block
    says a re-run moves again (``reference_moves``) and the console line says to give a
    benchmark; with one, nothing is announced of the reference."""
    from tests.conftest import EXAMPLES, SCENARIOS

    def run(benchmark):
        return rebalancer.propose(
            EXAMPLES / "holdings.csv",
            EXAMPLES / "universe.csv",
            SCENARIOS / "deregulation.yaml",
            prices=EXAMPLES / "prices.csv",
            benchmark=benchmark,
            accounts=EXAMPLES / "accounts.csv",
            account="IRA-250K",
            as_of=AS_OF,
        )

    own = run(None)
    assert own.reference == "current holdings" and own.path["reference_moves"]
    assert "give a benchmark" in describe(own.path)
    fixed = run(EXAMPLES / "benchmark.csv")
    assert not fixed.path["reference_moves"]
    assert "benchmark" not in describe(fixed.path)


def test_a_tilt_band_out_of_this_runs_reach_is_reached_over_a_path(tmp_path):
    """FDN-20M under balanced_rerating: the destination reaches the EM small-cap band by
    buying names the liquidity cap lets trade only a little this run, so no step inside
    the box keeps the band; it is reached over a path: the path block names it, its
    Checks row passes as reached over a path, the trades leave it no farther outside than
    before (measured from the trades, the holdings and the universe), and the next run
    only continues the first."""
    from tests.conftest import EXAMPLES

    band = "tilt region:EM & size:small"
    runs = reruns("FDN-20M", 2, {"name": "house", "extends": "balanced_rerating.yaml"}, tmp_path)
    first, second = runs
    assert first.path["is_step"] and band in first.path["reached_over_path"], first.path
    assert "reached over the path" in describe(first.path)
    row = first.checks.set_index("check").loc[band]
    assert row.ok and "reached over a path" in row.detail
    # the group's active exposure moves by the orders' weight in it: toward the band
    held = first.holdings[first.holdings["ticker"] != "CASH"].set_index("ticker")
    nav = float(first.holdings["value_before_usd"].sum())
    members = held.index[(held["region"] == "EM") & (held["size"] == "small")]
    moved = float(
        (held.loc[members, "value_after_usd"] - held.loc[members, "value_before_usd"]).sum()
    )
    constraints = load_scenario(tmp_path / "s.yaml")
    tilt = constraints.tilts["region:EM & size:small"]
    before = float(first.exposures.loc["region:EM & size:small", "before"])
    after = before + moved / nav
    assert max(tilt.target - tilt.band - after, 0.0) <= max(tilt.target - tilt.band - before, 0.0)
    assert moved > 0
    days = float(constraints.constraints.liquidity.days)
    lots = lot_sizes(pd.read_csv(EXAMPLES / "universe.csv"), constraints.constraints.round_lots)
    capped = "max_turnover" in first.path["held_back_by"]
    a, b = orders(first, days, lots), orders(second, days, lots)
    assert not not_continuations(a, b, capped)


def propose_once(scenario: dict, folder: Path):
    """IRA-250K proposed once under status_quo with ``scenario``'s keys."""
    folder.mkdir(exist_ok=True)
    child = {"name": "house", "extends": "status_quo.yaml", **scenario}
    (proposal,) = reruns("IRA-250K", 1, child, folder)
    return proposal


def test_orders_under_the_materiality_hurdle_are_not_proposed(tmp_path):
    """IRA-250K under status_quo: holding keeps every limit and the three orders
    improve the objective by tens of bp. With ``costs.hurdle_bps`` above their gain
    nothing is proposed, the warning saying by how much they would improve it, and
    the path block says the proposal holds; at 0 the orders go (the hurdle alone
    held them)."""
    held = propose_once({"costs": {"hurdle_bps": 10_000}}, tmp_path)
    assert not len(held.trades) and held.path["hold"] and not held.path["is_step"]
    (why,) = [w for w in held.warnings if "not worth trading" in w]
    assert "under the 10000 bp hurdle" in why, why
    gain_bp = float(why.split("objective by ")[1].split(" bp")[0])
    assert 0 < gain_bp < 10_000
    every = propose_once({"costs": {"hurdle_bps": 0}}, tmp_path / "zero")
    assert len(every.trades) and not every.path["hold"]
    assert not any("not worth trading" in w for w in every.warnings)


def test_the_materiality_hurdle_never_holds_back_a_required_trade(tmp_path):
    """The same account and hurdle with a withdrawal: holding leaves the cash the
    payout needs unraised (the cash floor of what stays), so the sales go, whatever
    they gain; an orders' gain is judged only where holding keeps every limit."""
    proposal = propose_once(
        {"costs": {"hurdle_bps": 10_000}, "constraints": {"cash": {"withdraw_usd": 3_000}}},
        tmp_path,
    )
    assert len(proposal.trades) and not proposal.path["hold"]
    sold = float(proposal.trades.loc[proposal.trades["side"] == "SELL", "notional"].sum())
    bought = float(proposal.trades.loc[proposal.trades["side"] == "BUY", "notional"].sum())
    assert sold - bought >= 3_000 * 0.5, (sold, bought)
    assert not any("not worth trading" in w for w in proposal.warnings)
