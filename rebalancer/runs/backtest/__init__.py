"""``rebalancer backtest``: how a scenario, rebalanced on a calendar or on drift, would
have done over the price history (``engine``: the loop; ``figures``: the return
figures; ``files``: the outputs)."""

from rebalancer.runs.backtest.engine import Backtest, ScenarioRun, run_backtest

__all__ = ["Backtest", "ScenarioRun", "run_backtest"]
