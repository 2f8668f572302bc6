"""The security master as the optimizer sees it: size buckets, groups, per-name limits.

Everything here is a pure function of the universe and the scenario; nothing knows
about accounts or the optimizer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.scenario.schema import ByGroup, Scenario
from rebalancer.scenario.selectors import (
    Selector,
    SelectorSyntaxError,
    match,
    parse_selector,
    size_bucket,
)


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


def scenario_mismatches(universe: pd.DataFrame, scenario: Scenario) -> list[tuple[str, str]]:
    """What in a scenario does not fit this universe: (key, message) pairs.

    A selector that matches no security, and a screen or view that names a column
    the universe file lacks. (The universe must carry a ``size`` column.)
    """
    from rebalancer.scenario.expressions import ExpressionError, parse_condition

    found: list[tuple[str, str]] = []
    texts = [(f"tilts.{t}", t) for t in scenario.tilts]
    c, costs = scenario.constraints, scenario.costs
    for key, setting in (
        ("constraints.liquidity.max_participation", c.liquidity.max_participation),
        ("constraints.max_position", c.max_position),
        ("costs.spread_bps", costs.spread_bps),
    ):
        if setting is not None:
            texts += [(f"{key}.{s.text}", s.text) for s, _ in setting.overrides]
    for i, view in enumerate(scenario.views, 1):
        texts += [
            (f"views[{i}].{k}", getattr(view, k))
            for k in ("long", "short")
            if getattr(view, k) is not None
        ]
        if view.scale_by is not None and _no_values(universe, view.scale_by):
            found.append(
                (f"views[{i}].scale_by", f"the universe has no values in column '{view.scale_by}'")
            )
    texts += [(f"constraints.no_buy[{i}]", t) for i, t in enumerate(c.no_buy, 1)]
    for i, screen in enumerate(scenario.screens, 1):
        texts.append((f"screens[{i}].where", screen.where))
        try:
            columns = parse_condition(screen.require).columns
        except ExpressionError:  # reported by the schema already
            columns = []
        for column in columns:
            if _no_values(universe, column):
                found.append(
                    (f"screens[{i}].require", f"the universe has no values in column '{column}'")
                )
    for i, shock in enumerate(scenario.shocks, 1):
        texts += [(f"shocks[{i}].{t}", t) for t in shock.returns]
    for key, text in texts:
        try:
            selector = parse_selector(text)
        except SelectorSyntaxError:  # reported by the schema already
            continue
        if not match(selector, universe).any():
            found.append((key, f"selector '{text}' matches no security in the universe"))
    return found


def _no_values(universe: pd.DataFrame, column: str) -> bool:
    """A column the file lacks or left blank throughout (the reader fills absent
    optional columns with NaN, so absence and emptiness look the same here)."""
    return column not in universe or bool(universe[column].isna().all())


def tilt_reach(
    universe: pd.DataFrame, scenario: Scenario, reference: pd.Series | None
) -> list[tuple[str, str]]:
    """Tilts no portfolio can reach within the position caps and long-only.

    A group's weight lies between 0 and min(1 − cash floor, Σ caps of its names);
    its active exposure therefore between −ref_g and that maximum − ref_g.
    """
    c = scenario.constraints
    caps = (
        per_name(universe, c.max_position, "min")
        if c.max_position is not None
        else np.ones(len(universe))
    )
    ref = (
        reference.reindex(universe.index, fill_value=0.0).to_numpy(float)
        if reference is not None
        else np.zeros(len(universe))
    )
    found = []
    for text, tilt in scenario.tilts.items():
        members = match(parse_selector(text), universe)
        if not members.any():
            continue  # an empty group is reported by scenario_mismatches
        most = min(1.0 - c.cash.min, float(caps[members].sum())) - float(ref[members].sum())
        least = -float(ref[members].sum())
        if tilt.target - tilt.band > most + 1e-12:
            found.append(
                (
                    f"tilts.{text}",
                    f"needs active exposure >= {tilt.target - tilt.band:.4g}"
                    f" but the position caps allow at most {most:.4g}",
                )
            )
        if tilt.target + tilt.band < least - 1e-12:
            found.append(
                (
                    f"tilts.{text}",
                    f"needs active exposure <= {tilt.target + tilt.band:.4g}"
                    f" but long-only allows no less than {least:.4g}",
                )
            )
    return found


def screen_failures(universe: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Names the scenario forbids buying: in a ``constraints.no_buy`` group, or in a
    screen's group and failing its condition.

    Columns: ticker, screen (``no_buy: group`` or ``where: require``), values.
    """
    from rebalancer.scenario.expressions import parse_condition

    rows = []
    for text in scenario.constraints.no_buy:
        for ticker in universe.index[match(parse_selector(text), universe)]:
            rows.append({"ticker": ticker, "screen": f"no_buy: {text}", "values": ""})
    for screen in scenario.screens:
        condition = parse_condition(screen.require)
        hit = match(parse_selector(screen.where), universe) & ~condition.holds(universe)
        for ticker in universe.index[hit]:
            values = ", ".join(f"{c}={universe.at[ticker, c]}" for c in condition.columns)
            rows.append(
                {"ticker": ticker, "screen": f"{screen.where}: {screen.require}", "values": values}
            )
    return pd.DataFrame(rows, columns=["ticker", "screen", "values"])
