"""The security master as the optimizer sees it: size buckets, groups, per-name limits.

Everything here is a pure function of the universe and the scenario; nothing knows
about accounts or the optimizer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.scenario.schema import ByGroup, Scenario
from rebalancer.scenario.selectors import Selector, match, parse_selector, size_bucket


def with_size(universe: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The universe with a ``size`` column (large/mid/small/micro) per the scenario's buckets."""
    out = universe.copy()
    out["size"] = size_bucket(out["market_cap"], scenario.size_buckets)
    return out


def group_matrix(universe: pd.DataFrame, selectors: list[Selector]) -> np.ndarray:
    """Membership matrix G (groups × securities): G[g, i] = 1 when name i is in group g."""
    if not selectors:
        return np.zeros((0, len(universe)))
    return np.vstack([match(s, universe) for s in selectors]).astype(float)


def sector_selectors(universe: pd.DataFrame) -> list[Selector]:
    return [parse_selector(f"sector:{s}") for s in sorted(universe["sector"].unique())]


def per_name(universe: pd.DataFrame, values: ByGroup, strictest: str) -> np.ndarray:
    """A ByGroup setting resolved per security.

    A name in several listed groups takes the strictest value: ``strictest="min"``
    for limits (participation), ``"max"`` for costs (spread).
    """
    out = np.full(len(universe), values.default, dtype=float)
    pick = np.minimum if strictest == "min" else np.maximum
    seen = np.zeros(len(universe), dtype=bool)
    for selector, value in values.overrides:
        hit = match(selector, universe)
        # the first matching override replaces the default; later ones combine strictly
        out[hit & ~seen] = value
        out[hit & seen] = pick(out[hit & seen], value)
        seen |= hit
    return out


def empty_selectors(universe: pd.DataFrame, scenario: Scenario) -> list[str]:
    """Tilt and per-group selectors that match no security (a scenario mistake)."""
    texts = list(scenario.tilts)
    texts += [s.text for s, _ in scenario.constraints.liquidity.max_participation.overrides]
    texts += [s.text for s, _ in scenario.costs.spread_bps.overrides]
    return [t for t in texts if not match(parse_selector(t), universe).any()]


def screen_failures(universe: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Names a screen forbids buying: in the screen's group and failing its condition.

    Columns: ticker, screen (``where: require``), values (the failing values).
    """
    from rebalancer.scenario.expressions import parse_condition

    rows = []
    for screen in scenario.screens:
        condition = parse_condition(screen.require)
        hit = match(parse_selector(screen.where), universe) & ~condition.holds(universe)
        for ticker in universe.index[hit]:
            values = ", ".join(f"{c}={universe.at[ticker, c]}" for c in condition.columns)
            rows.append(
                {"ticker": ticker, "screen": f"{screen.where}: {screen.require}", "values": values}
            )
    return pd.DataFrame(rows, columns=["ticker", "screen", "values"])
