"""``validate``: every problem in the given inputs and scenarios, without writing anything."""

from __future__ import annotations

from pathlib import Path

from rebalancer import inputs as rd
from rebalancer.errors import RebalancerError
from rebalancer.scenario import scenario_problems
from rebalancer.scenario.schema import Scenario
from rebalancer.universe import empty_selectors, with_size


def validate(
    *,
    scenarios: list[Path],
    holdings: Path | None = None,
    universe: Path | None = None,
    prices: Path | None = None,
    benchmark: Path | None = None,
) -> list[RebalancerError]:
    """All problems found (empty when everything is usable)."""
    problems: list[RebalancerError] = []
    uni = None
    readers = [
        ("universe", universe, rd.read_universe),
        ("holdings", holdings, rd.read_holdings),
        ("prices", prices, rd.read_prices),
        ("benchmark", benchmark, rd.read_benchmark),
    ]
    frames = {}
    for role, path, reader in readers:
        if path is None:
            continue
        try:
            frames[role] = reader(path)
        except RebalancerError as exc:
            problems.append(exc)
    uni = frames.get("universe")
    if uni is not None:
        for role, check in (
            ("holdings", rd.check_holdings_in_universe),
            ("benchmark", rd.check_benchmark_in_universe),
        ):
            if role in frames:
                try:
                    check(frames[role], uni, dict((r, p) for r, p, _ in readers)[role])
                except RebalancerError as exc:
                    problems.append(exc)
    for path in scenarios:
        scenario, found = scenario_problems(path)
        problems.extend(found)
        if isinstance(scenario, Scenario) and uni is not None:
            from rebalancer.errors import ScenarioError

            for text in empty_selectors(with_size(uni, scenario), scenario):
                problems.append(
                    ScenarioError(path, "matches no security in the universe", key=text)
                )
    return problems
