"""The what-if grid: every scenario × every point of the ``--vary`` settings, each a
scenario built and checked by the schema, with a label.

``--vary constraints.max_turnover=0.05,0.1,0.2`` sets a dotted key of the scenario to
each value in turn (values are read as YAML scalars); two ``--vary`` options make a
grid. A problem only a ``--vary`` value brings in is blamed on the option.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any

import yaml

from rebalancer.errors import ScenarioError
from rebalancer.scenario.loader import resolve
from rebalancer.scenario.schema import Problems, Scenario, Shock, build

MAX_RUNS = 200  # what-if runs of one command: scenarios × the points of the --vary grid


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``"constraints.max_turnover=0.05,0.1"`` -> (key, [0.05, 0.1]).

    Each value is one YAML scalar (a number, text, true/false, null); an empty one
    (``0.1,`` or ``0.1,,0.2``) or a list or mapping (``[...]``, ``{...}``) is refused,
    naming the option, before YAML reads it."""
    key, values = _vary_parts(text)
    parsed = []
    for raw in values:
        if not raw:
            raise ScenarioError(f"--vary '{text}'", "an empty value (a comma too many?)")
        if raw[0] in "[{":
            raise ScenarioError(
                _vary_option(key, raw[:40]), "not a single value (a number, text or true/false)"
            )
        try:
            parsed.append(yaml.safe_load(raw))
        except (yaml.YAMLError, RecursionError):
            raise ScenarioError(_vary_option(key, raw[:40]), "not a value") from None
    return key, parsed


def _vary_parts(text: str) -> tuple[str, list[str]]:
    """The key and the value texts of a ``--vary`` option."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ScenarioError(
            f"--vary '{text}'", "not KEY=V1,V2,... (e.g. constraints.max_turnover=0.05,0.1,0.2)"
        )
    return key, [raw.strip() for raw in values.split(",")]


def _vary_option(key: str, raw: Any) -> str:
    """How a message names one value of a ``--vary`` option: ``--vary KEY=VALUE``."""
    return f"--vary {key}={raw}"


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ScenarioError(_vary_option(key, value), f"'{part}' is not a group of settings")
        node = child
    node[parts[-1]] = value


def _with(base: dict[str, Any], overrides: dict[str, Any], where: str) -> tuple[Scenario, Problems]:
    """``base`` with ``overrides`` set, built by the schema (problems collected)."""
    data = copy.deepcopy(base)
    for key, value in overrides.items():
        _set(data, key, value)
    problems = Problems(where)
    return build(data, where, problems), problems


def _varied(
    base: dict[str, Any], overrides: dict[str, Any], where: str, raws: dict[str, str]
) -> Scenario:
    """The scenario ``base`` with ``overrides`` set. The base has passed the schema
    alone, so a problem is the options': the first is blamed on the ``--vary`` value
    that brings it in alone, else on the values that bring it in together."""
    scenario, problems = _with(base, overrides, where)
    if not problems.items:
        return scenario
    first = problems.items[0]
    alone = [key for key in overrides if _with(base, {key: overrides[key]}, where)[1].items]
    culprits = alone or list(overrides)
    option = " ".join(_vary_option(key, raws[key]) for key in culprits)
    raise ScenarioError(option, first.message, key=None if first.key in culprits else first.key)


def scenario_runs(
    scenarios: list[str | Path | Scenario], vary: list[str], shocks: list[Shock] = ()
) -> list[tuple[str, Scenario, dict[str, Any]]]:
    """(label, scenario, overrides) for every scenario × every point of the vary grid.

    A problem of a scenario file is blamed on the file; one that only a ``--vary``
    value brings in (an unknown key, a value outside the schema's range) is blamed
    on the option, as ``--vary KEY=VALUE``."""
    grid = [(*parse_vary(v), _vary_parts(v)[1]) for v in vary]
    sizes = [len(scenarios), *(len(values) for _, values, _ in grid)]
    if math.prod(sizes) > MAX_RUNS:
        raise ScenarioError(
            "--vary" if grid else "--scenario",
            f"{' × '.join(map(str, sizes))} = {math.prod(sizes):,} what-if runs "
            f"(scenarios × values); at most {MAX_RUNS} in one command",
        )
    points = list(itertools.product(*[range(len(values)) for _, values, _ in grid])) or [()]
    runs = []
    for source in scenarios:
        if isinstance(source, Scenario):
            base, name, where = source.to_data(), source.name, None
        else:
            base = resolve(source)
            base.setdefault("name", Path(source).stem)
            name, where = Path(source).stem, str(source)
            build(base, where)  # the file's own problems are the file's
        for point in points:
            overrides = {key: values[i] for (key, values, _), i in zip(grid, point, strict=True)}
            raws = {key: raw[i] for (key, _, raw), i in zip(grid, point, strict=True)}
            scenario = _varied(base, overrides, where or "--vary", raws)
            if shocks:
                scenario = dataclasses.replace(scenario, shocks=[*scenario.shocks, *shocks])
            label = name + "".join(f" {k.split('.')[-1]}={v}" for k, v in overrides.items())
            runs.append((label, scenario, overrides))
    labels = [r[0] for r in runs]
    if len(set(labels)) != len(labels):  # the same file twice: number them
        runs = [(f"{i + 1}. {label}", s, o) for i, (label, s, o) in enumerate(runs)]
    return runs
