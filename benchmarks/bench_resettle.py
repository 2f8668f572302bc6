"""Re-runs settle: apply a proposal, propose again, and again.

    .venv/bin/python -m benchmarks.bench_resettle [--runs 5] [--account FDN-20M ...]
        [--set costs.impact=0 --set constraints.liquidity.days=20 ...]

For each example account: propose under the scenario (default smallcap_rerating,
with the ``--set KEY=VALUE`` overrides, YAML values; ``null`` removes a limit),
apply the orders to the holdings (``rebalancer.runs.apply``: lots reduced HIFO or as the
proposal sold them, buys as new lots, cash by notional and estimated cost), and
propose again, ``--runs`` times. Prints per run the number of orders, the turnover,
the largest order and the summary's ``path`` block. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import yaml

from rebalancer.inputs.readers import read_holdings
from rebalancer.pipeline import load_inputs, propose_account
from rebalancer.runs.apply import apply_proposal, write_holdings
from rebalancer.scenario import load_scenario
from rebalancer.shipped import example_paths


def scenario_with(base: Path, overrides: list[str], folder: Path) -> Path:
    """A child of ``base`` with each ``KEY=VALUE`` (dotted key, YAML value) set."""
    child: dict = {"name": f"{base.stem} (re-run)", "extends": str(base.name)}
    for item in overrides:
        key, value = item.split("=", 1)
        node = child
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    path = folder / "resettle.yaml"
    path.write_text(yaml.safe_dump(child, sort_keys=False))
    return path


def runs(account: str, scenario_path: Path, count: int, folder: Path, as_of: str) -> list[dict]:
    paths = example_paths()
    data = load_inputs(
        paths["holdings"], paths["universe"], paths["prices"], paths["benchmark"], paths["accounts"]
    )
    scenario = load_scenario(scenario_path)
    rows = []
    for k in range(count):
        t0 = time.perf_counter()
        proposal = propose_account(data, scenario, account, as_of)
        seconds = time.perf_counter() - t0
        trades = proposal.trades
        largest = trades.sort_values("notional").iloc[-1] if len(trades) else None
        rows.append(
            {
                "run": k + 1,
                "orders": len(trades),
                "turnover": proposal.metrics.turnover,
                "largest": "-"
                if largest is None
                else f"{largest.side} {largest.quantity:g} {largest.ticker} "
                f"(${largest.notional:,.0f})",
                "path": proposal.summary().get("path"),
                "seconds": seconds,
            }
        )
        held = folder / f"{account}.run{k + 1}.csv"
        write_holdings(apply_proposal(data.holdings, proposal), held)
        data = dataclasses.replace(data, holdings=read_holdings(held))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--account", action="append")
    parser.add_argument("--scenario", default="smallcap_rerating.yaml")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--as-of", default="2026-11-20")
    args = parser.parse_args()
    base = example_paths()["scenarios"] / args.scenario
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scenario_path = scenario_with(base, args.set, folder)
        for account in args.account or ["FDN-20M", "TAX-2M", "IRA-250K"]:
            print(f"{account}  {args.scenario} {' '.join(args.set)}")
            for row in runs(account, scenario_path, args.runs, folder, args.as_of):
                print(
                    f"  run {row['run']}: {row['orders']:3d} orders, turnover "
                    f"{row['turnover']:.4%}, largest {row['largest']}, {row['seconds']:.1f}s"
                    f"  path {row['path']}"
                )


if __name__ == "__main__":
    main()
