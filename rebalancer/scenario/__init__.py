"""Scenario files: the advisor's view as tilts and limits (docs/contracts.md §2)."""

from rebalancer.scenario.loader import load_scenario, scenario_problems
from rebalancer.scenario.schema import ByGroup, Scenario, Tilt
from rebalancer.scenario.selectors import Selector, match, parse_selector, size_bucket

__all__ = [
    "ByGroup",
    "Scenario",
    "Selector",
    "Tilt",
    "load_scenario",
    "match",
    "parse_selector",
    "scenario_problems",
    "size_bucket",
]
