"""The security master as the optimizer sees it: size buckets, groups, per-name limits.

Everything here is a pure function of the universe and the scenario; nothing knows
about accounts or the optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.scenario.schema import ByGroup, Scenario
from rebalancer.scenario.selectors import (
    Selector,
    SelectorSyntaxError,
    empty_group,
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


@dataclass(frozen=True)
class Misfit:
    """A scenario setting this universe gives nothing to act on.

    ``harmless``: the setting simply has no effect (a warning): a per-group override,
    ``no_buy`` group, shock, screen or view on a group that matches no security, a
    tilt on such a group whose band holds its exposure (0), a view scaled by a column
    without values; or a screen on a column without values, whose group is then not
    bought. Otherwise the scenario asks what no portfolio gives: a tilt whose band
    excludes 0 on an empty group (an infeasible request, exit 3).
    """

    key: str  # the scenario key, e.g. "tilts.size:small" (the first, for an empty group)
    message: str
    harmless: bool = True
    keys_named: bool = False  # the message lists every key (an empty group's uses)

    @property
    def warning(self) -> str:
        """The line a proposal's warnings show."""
        return self.message if self.keys_named else f"scenario key '{self.key}': {self.message}"


def scenario_fit(universe: pd.DataFrame, scenario: Scenario) -> list[Misfit]:
    """What in ``scenario`` this universe (with its ``size`` column) leaves without
    effect, each empty group named once with every key that uses it, and the tilts
    it makes impossible."""
    from rebalancer.scenario.expressions import ExpressionError, has_values, parse_condition
    from rebalancer.views import view_gap

    uses: dict[str, list[str]] = {}  # selector text -> the keys using it
    c, costs = scenario.constraints, scenario.costs
    for key, setting in (
        ("constraints.liquidity.max_participation", c.liquidity.max_participation),
        ("constraints.max_position", c.max_position),
        ("costs.spread_bps", costs.spread_bps),
    ):
        if setting is not None:
            for selector, _ in setting.overrides:
                uses.setdefault(selector.text, []).append(f"{key}.{selector.text}")
    for i, text in enumerate(c.no_buy, 1):
        uses.setdefault(text, []).append(f"constraints.no_buy[{i}]")
    for i, shock in enumerate(scenario.shocks, 1):
        for text in shock.returns:
            uses.setdefault(text, []).append(f"shocks[{i}].{text}")

    found: list[Misfit] = []
    for text, tilt in scenario.tilts.items():
        empty = _empty(text, universe)
        if empty is None:
            continue
        lo, hi = tilt.target - tilt.band, tilt.target + tilt.band
        if lo - 1e-12 <= 0.0 <= hi + 1e-12:
            uses.setdefault(text, []).append(f"tilts.{text}")
        else:
            found.append(
                Misfit(
                    f"tilts.{text}",
                    f"{empty}: its active exposure is 0, outside the band [{lo:.4g}, {hi:.4g}]",
                    harmless=False,
                )
            )
    for i, screen in enumerate(scenario.screens, 1):
        key = f"screens[{i}]"
        if _empty(screen.where, universe) is not None:
            uses.setdefault(screen.where, []).append(key)
            continue
        try:
            columns = parse_condition(screen.require).columns
        except ExpressionError:  # reported by the schema already
            continue
        missing = [column for column in dict.fromkeys(columns) if not has_values(universe, column)]
        if missing:
            names = int(_mask(screen.where, universe).sum())
            found.append(
                Misfit(
                    f"{key}.require",
                    f"the universe has no values in {_listed(missing)}: the {names} "
                    f"names of '{screen.where}' cannot be screened ({screen.require}) and are "
                    "not bought (they may be held and sold)",
                )
            )
    for i, view in enumerate(scenario.views, 1):
        empty = [t for t in (view.long, view.short) if t and _empty(t, universe) is not None]
        for text in empty:  # the view is left out (rebalancer.views.view_gap)
            uses.setdefault(text, []).append(f"views[{i}]")
        gap = None if empty else view_gap(universe, view)
        if gap is not None:
            found.append(Misfit(f"views[{i}]", f"{gap}: the view is left out"))
    for text, keys in uses.items():
        empty = _empty(text, universe)
        if empty is not None:
            message = f"{empty}: no effect on {', '.join(keys)}"
            found.append(Misfit(keys[0], message, keys_named=True))
    return found


def _mask(text: str, universe: pd.DataFrame) -> np.ndarray:
    return match(parse_selector(text), universe)


def _empty(text: str, universe: pd.DataFrame) -> str | None:
    """``empty_group``'s message, or None (also for a selector the schema refused)."""
    try:
        return empty_group(text, universe)
    except SelectorSyntaxError:
        return None


def _listed(columns: list[str]) -> str:
    named = ", ".join(f"'{column}'" for column in columns)
    return f"column{'s' if len(columns) > 1 else ''} {named}"


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
            continue  # an empty group is reported by scenario_fit
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
