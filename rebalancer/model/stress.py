"""Stress tests: the P&L of a portfolio under group shocks.

A shock gives a return per group selector; where a name is in several listed
groups the returns add (``all: -0.10`` plus ``size:small: -0.10`` is −20% for a
small cap). Cash is not shocked. P&L = Σ_i value_i × r_i.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rebalancer.errors import ScenarioError
from rebalancer.scenario.schema import Problems, Shock, build_shock
from rebalancer.scenario.selectors import match, parse_selector


def shock_returns(universe: pd.DataFrame, shock: Shock) -> np.ndarray:
    r = np.zeros(len(universe))
    for text, value in shock.returns.items():
        r += np.where(match(parse_selector(text), universe), value, 0.0)
    return r


def stress_table(
    universe: pd.DataFrame,
    shocks: list[Shock],
    value_before_usd: np.ndarray,
    value_after_usd: np.ndarray,
    nav_usd: float,
) -> pd.DataFrame:
    """shock, pnl_before_usd, pnl_after_usd, pct_before, pct_after (of NAV)."""
    rows = []
    for shock in shocks:
        r = shock_returns(universe, shock)
        before, after = float(value_before_usd @ r), float(value_after_usd @ r)
        rows.append(
            {
                "shock": shock.name,
                "pnl_before_usd": before,
                "pnl_after_usd": after,
                "pct_before": before / nav_usd,
                "pct_after": after / nav_usd,
            }
        )
    return pd.DataFrame(
        rows, columns=["shock", "pnl_before_usd", "pnl_after_usd", "pct_before", "pct_after"]
    )


def parse_shock(text: str) -> Shock:
    """``"name=relapse,size:small=-0.275,size:mid=-0.2"`` -> Shock (name optional).

    Validated by the scenario schema's own ``build_shock``, so a return outside
    the range a scenario's ``shocks`` allow is refused here too; the first problem
    raises a ``ScenarioError`` that names the option and the part of it at fault.
    """
    name, returns, parts = text, {}, {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise ScenarioError(f"--shock '{text}'", "an empty part (a comma too many?)")
        key, sep, value = (s.strip() for s in part.rpartition("="))
        if not sep or not key:
            raise ScenarioError(f"--shock '{part}'", "not GROUP=RETURN (e.g. size:small=-0.2)")
        if key == "name":
            if not value:
                raise ScenarioError(f"--shock '{part}'", "an empty name")
            name = value
            continue
        if key in returns:
            raise ScenarioError(f"--shock '{part}'", f"group '{key}' is given twice")
        returns[key], parts[key] = value, part
    if not returns:
        raise ScenarioError(f"--shock '{text}'", "names no group (e.g. size:small=-0.2)")
    problems = Problems("--shock")
    shock = build_shock({"name": name, **returns}, "", problems)
    if problems.items:
        first = problems.items[0]
        hint = (
            " (a return is a fraction: -0.3 is -30%)"
            if _percent_like(returns.get(first.key))
            else ""
        )
        raise ScenarioError(f"--shock '{parts.get(first.key, text)}'", first.message + hint)
    return shock


def _percent_like(text: str | None) -> bool:
    """A return written as a percentage (``-30%`` or ``-30``) rather than a fraction."""
    if text is None:
        return False
    try:
        return text.endswith("%") or 1 < abs(float(text)) < math.inf
    except ValueError:
        return False
