"""Re-runs settle: apply a proposal, propose again in the same market — no trades, or
only continuations of what the first run was held back from.

Random accounts, universes and scenarios from the property tests' generator
(``tests/test_properties.py``: ``cases``); each is proposed in-process through the
Python API, its orders applied to its holdings (``rebalancer.apply``: lots reduced,
buys as new lots, cash net of notional and estimated costs) and proposed again with
the same inputs, scenario and ``--as-of``. The property, measured from the two
proposals' orders:

- the second run trades nothing; or
- every order of the second run *continues* one of the first: the same ticker, the
  same side, and a smaller quantity (a per-run limit — turnover cap, liquidity days
  — or the impact cost stopped the first short), and its turnover is smaller than
  the first run's; and then the first run's summary said it was one step of a path
  (``path.is_step``).

A request the first run finds infeasible (exit 3) is skipped; the second run of a
feasible first run must be feasible too (the first's result is a feasible start).

Examples: ``REBALANCER_RESETTLE_EXAMPLES`` (default 15, about 15 s; 200 for the full
run). Derandomised: the same examples every run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings

import rebalancer
from rebalancer.apply import apply_proposal, write_holdings
from rebalancer.errors import InfeasibleError
from rebalancer.inputs.readers import read_holdings
from tests.test_properties import ACCOUNT, AS_OF, cases, write_case

MAX_EXAMPLES = int(os.environ.get("REBALANCER_RESETTLE_EXAMPLES", "15"))


def propose(paths: dict[str, Path], holdings) -> rebalancer.proposal.Proposal:
    return rebalancer.propose(
        holdings,
        paths["universe"],
        paths["scenario"],
        prices=paths.get("prices"),
        benchmark=paths.get("benchmark"),
        accounts=paths.get("accounts"),
        account=ACCOUNT,
        as_of=AS_OF,
    )


def orders(proposal) -> pd.DataFrame:
    t = proposal.trades
    return pd.DataFrame(
        {"side": t["side"].to_numpy(), "quantity": t["quantity"].to_numpy(float)},
        index=t["ticker"].to_numpy(),
    )


def not_continuations(first: pd.DataFrame, second: pd.DataFrame) -> list[str]:
    """The second run's orders that do not continue a first-run order (text each)."""
    bad = []
    for ticker, row in second.iterrows():
        if ticker not in first.index:
            bad.append(f"{row.side} {row.quantity:g} {ticker}: not traded by the first run")
        elif first.loc[ticker, "side"] != row.side:
            bad.append(
                f"{row.side} {row.quantity:g} {ticker}: the first run traded it the other way"
            )
        elif row.quantity >= first.loc[ticker, "quantity"]:
            bad.append(
                f"{row.side} {row.quantity:g} {ticker}: not smaller than the first run's "
                f"{first.loc[ticker, 'quantity']:g}"
            )
    return bad


@pytest.mark.timeout(max(300, 6 * MAX_EXAMPLES))
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.generate],
)
@given(case=cases())
def test_a_proposal_applied_and_proposed_again_trades_nothing_or_continues(case):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_case(case, folder)
        try:
            first = propose(paths, paths["holdings"])
        except InfeasibleError as exc:
            event("first run infeasible")
            print("INFEASIBLE", str(exc)[:300])
            return
        applied = folder / "applied.csv"
        write_holdings(apply_proposal(read_holdings(paths["holdings"]), first), applied)
        second = propose(paths, applied)
    a, b = orders(first), orders(second)
    if not len(b):
        event("settled: no trades")
        return
    event("continues")
    bad = not_continuations(a, b)
    assert not bad, f"{len(bad)} of {len(b)} orders re-trade: " + "; ".join(bad[:8])
    assert second.metrics.turnover < first.metrics.turnover
    assert first.path.get("is_step"), f"the first run did not say it was a step: {first.path}"
