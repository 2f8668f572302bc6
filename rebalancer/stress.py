"""Stress tests: the P&L of a portfolio under group shocks.

A shock gives a return per group selector; where a name is in several listed
groups the returns add (``all: -0.10`` plus ``size:small: -0.10`` is −20% for a
small cap). Cash is not shocked. P&L = Σ_i value_i × r_i.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.errors import ScenarioError
from rebalancer.scenario.schema import Shock
from rebalancer.scenario.selectors import SelectorSyntaxError, match, parse_selector


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
    """``"name=relapse,size:small=-0.275,size:mid=-0.2"`` -> Shock (name optional)."""
    name, returns = text, {}
    for part in text.split(","):
        key, sep, value = part.strip().rpartition("=")
        if not sep or not key:
            raise ScenarioError("--shock", f"'{part.strip()}' is not GROUP=RETURN")
        if key.strip() == "name":
            name = value.strip()
            continue
        try:
            selector = parse_selector(key.strip())
            returns[selector.text] = float(value)
        except (SelectorSyntaxError, ValueError) as exc:
            raise ScenarioError("--shock", f"'{part.strip()}': {exc}") from None
    if not returns:
        raise ScenarioError("--shock", f"'{text}' names no group")
    return Shock(name, returns)
