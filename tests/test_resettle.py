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
Tallied on 200 feasible accounts (478 drawn): 104 settle, 57 only continue, 36
re-trade, 3 find the second run infeasible. The draw depends on which first runs are
infeasible (those are drawn again): with ``solve.driver.from_today`` (below) about 41
accounts of 519 that exited 3 now propose, a population the property did not count
before; without it (and before the last mechanism) the same test drew 519 for 200
feasible and tallied 117, 52, 31, 0: 39 failures against 31, which this draw cannot
split between the new accounts and the old. Between draws about ±7. On the
200 accounts of an earlier draw (464 drawn), stored and replayed to compare code
versions on the same accounts: 100 settle, 75 only continue, 25 re-trade, none finds
the second run infeasible (before the last mechanism: 100, 74, 26, 0; before the four
before it: 94, 72, 30, 4). The last: a step the impact cost alone holds back is floored
(whole order, or wait) where it moves a name under one minimum order that its
destination moves 3/4 of one or more (no turnover cap binding), which the minimum-trade
passes dropped or lifted differently each run (``path.floored_box``, ``sub_order``; ``impact_whole_order``).
Tried and left out: all such steps floored and, with nothing floored, every move under
3/4 of an order waiting, the floored box's soft bands reached over a path before the
box alone: 97, 79, 24, 0, fixing 6 and breaking 5, and a small account stayed 10% of
NAV from its destination and outside its cash target and tilt bands, every name
waiting; the floors under a binding turnover cap too: the same tally, but a shipped
example then held 44% of NAV from its destination, trading nothing. The four before:

- a feasible run's result is a feasible start for the next: where only soft bands the
  account is outside of today by no more than whole lots leave (one order for each
  name of the group it could trade whose order is at least 1% of NAV) make the limits
  conflict, and the turnover cap is not among them, the run keeps them no farther
  outside than today, reached over a path, instead of exit 3
  (``rebalancer.solve.driver.from_today``; the 4 infeasible second runs: 3 settle, 1
  re-trades one name);
- the rounding of a step sells a name above its position cap to the cap less the
  path's estimated costs, as the step's buys stop short of it
  (``rebalancer.trades.rules.sales_headroom``);
- in the floored box a move of 3/4 of one order or more is floored to a whole one, and
  under 3/4 it waits (``path.WHOLE_ORDER``: a quarter of an order's margin for the next
  run's measure of the move, which its costs or a taxable destination shift);
- a step that leaves names to wait for a binding turnover cap (``path.first_in_line``)
  is held back by ``max_turnover`` whatever turnover it ends at
  (``path.Destination.turnover_waits``), so the next run's start on them continues it.

(``tests/data`` ``second_cash``, ``second_tilt``, ``sale_headroom``, ``whole_order``,
``cap_waits``; ``test_kept_cases``.) Tried and left out: the floors elastic (each
floor's shortfall penalised, the floored box lowered to what that reaches): beside the
3/4 margin 30 re-trades against 27 without, as the L1 penalty drops whole floors; one
factor scaling every floor to fit keeps 0.23-0.35 of them, under the half that makes
the next step smaller. The second run's turnover may reach the turnover cap where it
held the first back (``turnover_grew``), as an order at its liquidity cap may repeat.

The mechanisms before that, and their tallies: a soft band that no step
inside the box keeps this run reached over a path (``path.reached_over_path``: the
cash target band or a tilt band the destination reaches by trading names the liquidity
cap lets trade only a little this run; the step stays in its box, no farther outside
the band than today and as close as this run's limits allow,
``rebalancer.solve.step.bands_over_path``; an owners' decision, docs/contracts.md),
and the steps the liquidity cap holds back floored (``path.floored_box``: each name
the box trades moves at least 0.6 of the way it has left — a name the free step takes
all the way too, but under a binding turnover cap — in whole lots k that leave under
k − 1/2, or its per-run liquidity cap, so its next step is smaller; moves under one
order wait), and where a turnover cap binds too, only the names the capped step
prefers, as many as their floors fit in 0.9 of the cap, the rest waiting
(``path.first_in_line``). Before the bands were reached over a path (the free step
reached them with substitutes the next run unwound): 102, 47, 47, 4; the bands over a
path alone: 94, 62, 40, 4. Before the reached names were floored and the lots counted
so (k lots leaving under k, which the next run rounded to k again): 101, 45, 50, 4
(``tests/data`` ``floor_lots``, ``floor_reached`` keep one of each;
``test_kept_cases``). Before that (no floors under a binding turnover cap): 100, 41,
55, 4; the box alone, before floors: 93, 23, 80, 4 (about ±7 between draws); floors on
every held-back step, the impact's and the turnover cap's too, tallied 102, 45, 49, 4
but spent a binding turnover cap on every name rather than the best (a what-if sweep
then expected less at a looser cap). Tried and measured, and left out: the floored box
giving a move of half an order or more the box's whole order (as the box alone does),
96, 49, 51, 4; the rounding's repairs preferring names on their way to the destination
(a sale only above it, a buy only below), 99, 48, 48, 4 with one first run infeasible;
with a band over a path, the floors the cash target scales freed, which settled one
account whose buys waited for the sales and broke two taxable ones.

Derandomised, the examples depend on this test's code (Hypothesis seeds its draw from
it; the xfail reason's text, which names no figures, was changed without changing the
draw): a change to the test's body draws other accounts, so code versions are compared
on the same accounts by storing the draw's files and replaying them. What is left, of
the 29 of the same 200 accounts (each a real re-trade, none an artefact of the
measure):

- 7: the floored box has no feasible point (its floors push a tilt band, a position or
  sector cap or the cash target past what the names the liquidity cap holds back can
  offset this run), so the box alone, or with the cash target or a tilt band reached
  over a path the band-elastic box (2), takes the step; either leaves names the
  destination trades untouched, and the next run, whose floored box fits, starts them (a
  sale the buys' liquidity holds back funds only so many buys a run, so not every name
  can move half its way this run: no floors fit all);
- 5: the impact cost alone holds the step back in a small account ($49K-$266K, one
  minimum order 40-270 bp of NAV): no floors, and the minimum-trade passes and whole
  lots lift different names on each run;
- 5 taxable, FIFO or HIFO: 4 whose destination moves 67-325 bp between runs (the
  optimizer prices the cheapest lots, the sale takes the method's; no convex model
  follows FIFO: its realized tax C(s) = Σ_ℓ c_ℓ·clip(s − before_ℓ, 0, q_ℓ) is not
  convex, and classes pooled to C's convex minorant fixed 2 and broke 4 of 47 FIFO and
  HIFO accounts), 1 whose floors the cash target scales down (the sales held back by
  the buys' liquidity, larger the next run);
- 2: a move under one order: a fractional holding under one lot sold whole, and a buy
  of 0.69 of an order that waited, which the next run's box alone (nothing floored
  any more) made whole;
- 1: a position cap: a run whose free step is the whole move while the cash band is
  reached over a path (no headroom there), whose next run's costs put a name above it;
- 2: no benchmark: the risk is measured from the current holdings, so the destination
  moves with them (announced, ``reference_moves``, only where the scenario tilts);
- 1: a binding turnover cap whose floors did not fit: the box alone, and the next run
  floored, larger steps;
- 1: a $7.6K account whose one lot is 2.7% of NAV: the whole lots move the
  destination 6%;
- 1: a tilt band the first run's rounding left 3 bp outside the optimizer's margin
  inside it (a second run infeasible before): the second run, keeping it no farther
  outside than today, sells 98 shares of a name the first bought.

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
