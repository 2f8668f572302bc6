"""``validate``: every problem in the given inputs and scenarios, without writing anything."""

from __future__ import annotations

from pathlib import Path

from rebalancer import inputs as rd
from rebalancer.errors import RebalancerError, ScenarioError, ScenarioWarning
from rebalancer.scenario import scenario_problems
from rebalancer.universe import scenario_fit, tilt_reach, with_size


def validate(
    *,
    scenarios: list[Path],
    holdings: Path | None = None,
    universe: Path | None = None,
    prices: Path | None = None,
    benchmark: Path | None = None,
) -> list[RebalancerError]:
    """All problems found (empty when everything is usable).

    Each input file is read and validated; holdings and benchmark are checked
    against the universe; each scenario is checked on its own (schema, extends,
    selectors, screens) and, with a universe, against it: tilts that no portfolio can
    reach within the position caps (relative to the benchmark when one is given) or
    on a group with no security. Settings the universe leaves without effect
    (``universe.scenario_fit``: a group with no security, a column without values)
    are ``ScenarioWarning``s: reported, not problems.
    """
    problems: list[RebalancerError] = []
    files = {
        "universe": (universe, rd.read_universe),
        "holdings": (holdings, rd.read_holdings),
        "prices": (prices, rd.read_prices),
        "benchmark": (benchmark, rd.read_benchmark),
    }
    frames = {}
    for role, (path, reader) in files.items():
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
                    check(frames[role], uni, files[role][0])
                except RebalancerError as exc:
                    problems.append(exc)
    for path in scenarios:
        scenario, found = scenario_problems(path)
        problems.extend(found)
        if scenario is None or uni is None:
            continue
        sized = with_size(uni, scenario)
        for misfit in scenario_fit(sized, scenario):
            kind = ScenarioWarning if misfit.harmless else ScenarioError
            problems.append(kind(path, misfit.message, key=misfit.key))
        for key, message in tilt_reach(sized, scenario, frames.get("benchmark")):
            problems.append(ScenarioError(path, message, key=key))
    return problems
