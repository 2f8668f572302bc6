"""``rebalancer apply``: a proposal's orders written back into the holdings.

Hand-made lots with the expected holdings worked out here: HIFO by default, the lots
a trades CSV names in its order, buys as new lots, cash net of notional and costs,
other accounts untouched; bad trades exit 1 naming the problem and write nothing;
and on an example account the trades CSV gives the same holdings as the proposal's
own lot sales.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.errors import InputError
from rebalancer.inputs.readers import read_holdings
from rebalancer.runs.apply import apply_files, apply_proposal, read_trades
from tests.conftest import EXAMPLES, SCENARIOS, run_cli

AS_OF = "2026-11-20"
HOLDINGS = """account,ticker,quantity,cost_basis,acquired
X,T1,10,100,2020-01-02
X,T1,10,300,2021-01-04
X,T2,5,50,
X,CASH,1000,,
Y,T1,7,70,2020-01-02
Y,CASH,5,,
"""
HEADER = "account,ticker,side,quantity,price,notional,est_cost,lot_id\n"


def write(tmp_path, holdings: str, trades: str):
    (tmp_path / "h.csv").write_text(holdings)
    (tmp_path / "t.csv").write_text(HEADER + trades)
    return tmp_path / "h.csv", tmp_path / "t.csv"


def lots_of(frame: pd.DataFrame, account: str, ticker: str) -> list[tuple[float, float]]:
    rows = frame[(frame["account"] == account) & (frame["ticker"] == ticker)]
    return [(float(q), float(b)) for q, b in zip(rows["quantity"], rows["cost_basis"], strict=True)]


def test_sales_hifo_buys_as_new_lots_cash_net_of_costs(tmp_path):
    h, t = write(
        tmp_path,
        HOLDINGS,
        "X,T1,SELL,15,20,300,1.5,\nX,T2,SELL,5,20,100,0.5,\nX,T3,BUY,3,50,150,1,\n",
    )
    after = apply_files(h, t, "X", AS_OF)
    # HIFO: the $30/share lot first (whole), then 5 of the $10/share lot, basis $10/share
    assert lots_of(after, "X", "T1") == [(5.0, 50.0)]
    assert lots_of(after, "X", "T2") == []  # sold out
    assert lots_of(after, "X", "T3") == [(3.0, 150.0)]
    new = after[(after["account"] == "X") & (after["ticker"] == "T3")]
    assert pd.Timestamp(new["acquired"].iloc[0]) == pd.Timestamp(AS_OF)
    assert lots_of(after, "X", "CASH")[0][0] == pytest.approx(1000 + 300 + 100 - 150 - 3.0)
    assert lots_of(after, "Y", "T1") == [(7.0, 70.0)] and lots_of(after, "Y", "CASH")[0][0] == 5


def test_named_lots_are_sold_in_the_order_given(tmp_path):
    # the trades CSV names lot X:2 (the $10/share lot, file row 2) first, then X:3
    h, t = write(tmp_path, HOLDINGS, "X,T1,SELL,15,20,300,0,X:2;X:3\n")
    after = apply_files(h, t, "X", AS_OF)
    assert lots_of(after, "X", "T1") == [(5.0, 150.0)]


def test_written_holdings_read_back_and_propose(tmp_path):
    h, t = write(tmp_path, HOLDINGS, "X,T1,SELL,20,20,400,0,\n")
    out = tmp_path / "after.csv"
    args = ["apply", "--holdings", h, "--trades", t, "--account", "X", "--as-of", AS_OF]
    result = run_cli(*args, "--out", out)
    assert result.exit_code == 0, result.output
    back = read_holdings(out)
    assert "T1" not in set(back.loc[back["account"] == "X", "ticker"])
    assert back.loc[(back["account"] == "X") & (back["ticker"] == "CASH"), "quantity"].sum() == 1400


@pytest.mark.parametrize(
    "trades, words",
    [
        ("X,T1,SELL,25,20,500,0,\n", "exceeds its lots"),
        ("X,T1,SELL,5,20,100,0,X:9\n", "exceeds its lots"),
        ("X,T1,SHORT,5,20,100,0,\n", "side"),
        ("Y,T1,SELL,5,20,100,0,\n", "not all account X"),
    ],
)
def test_bad_trades_exit_1_naming_the_problem_and_write_nothing(tmp_path, trades, words):
    h, t = write(tmp_path, HOLDINGS, trades)
    out = tmp_path / "after.csv"
    args = ["apply", "--holdings", h, "--trades", t, "--account", "X", "--as-of", AS_OF]
    result = run_cli(*args, "--out", out)
    assert result.exit_code == 1, result.output
    assert words in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(InputError):
        apply_files(h, t, "X", AS_OF)


def test_trades_csv_and_proposal_lot_sales_give_the_same_holdings(tmp_path):
    """TAX-2M (taxable, several lots per name, optimised lot choice): the trades CSV's
    lot_id column reproduces the proposal's own lot sales, lot for lot."""
    import rebalancer
    from rebalancer.export import write_outputs

    proposal = rebalancer.propose(
        EXAMPLES / "holdings.csv",
        EXAMPLES / "universe.csv",
        SCENARIOS / "smallcap_rerating.yaml",
        prices=EXAMPLES / "prices.csv",
        benchmark=EXAMPLES / "benchmark.csv",
        account="TAX-2M",
        accounts=EXAMPLES / "accounts.csv",
        as_of=AS_OF,
    )
    write_outputs(proposal, trades=tmp_path / "t.csv")
    from_csv = apply_files(EXAMPLES / "holdings.csv", tmp_path / "t.csv", "TAX-2M", AS_OF)
    direct = apply_proposal(read_holdings(EXAMPLES / "holdings.csv"), proposal)
    pd.testing.assert_frame_equal(from_csv, direct)
    # pre + trade = post per security, and cash by notional and costs
    trades = read_trades(tmp_path / "t.csv")
    signed = np.where(trades["side"] == "SELL", -1, 1) * trades["quantity"]
    before = read_holdings(EXAMPLES / "holdings.csv")
    before = before[before["account"] == "TAX-2M"].groupby("ticker")["quantity"].sum()
    after = direct[direct["account"] == "TAX-2M"].groupby("ticker")["quantity"].sum()
    moved = pd.Series(signed.to_numpy(), index=trades["ticker"]).groupby(level=0).sum()
    expect = before.add(moved, fill_value=0.0)
    cash = before["CASH"] - (np.where(trades["side"] == "SELL", -1, 1) * trades["notional"]).sum()
    expect["CASH"] = cash - trades["est_cost"].sum()
    expect = expect[expect > 1e-9]
    pd.testing.assert_series_equal(after.sort_index(), expect.sort_index(), check_names=False)
