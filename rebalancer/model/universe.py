"""The security master as the optimizer sees it: size buckets, groups, per-name limits.

Everything here is a pure function of the universe and the scenario; nothing knows
about accounts or the optimizer.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.model.views import view_gap
from rebalancer.scenario.expressions import ExpressionError, has_values, parse_condition
from rebalancer.scenario.loader import load_scenario
from rebalancer.scenario.schema import ByGroup, Scenario
from rebalancer.scenario.selectors import (
    Selector,
    SelectorSyntaxError,
    empty_group,
    match,
    parse_selector,
    size_bucket,
)
from rebalancer.shipped import library_folder


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
    group: str = ""  # an empty group's selector
    uses: int = 0  # how many settings use that group
    library: bool = False  # every one of them is the shipped base.yaml's, as it ships

    @property
    def warning(self) -> str:
        """The line a proposal's warnings show."""
        return self.message if self.keys_named else f"scenario key '{self.key}': {self.message}"


LIBRARY_BASE = "base.yaml"  # the shipped parent of every scenario


def fit_warnings(fit: list[Misfit]) -> list[str]:
    """The warnings a proposal shows for ``fit``: one line per misfit, except the empty
    groups that only settings of the shipped ``base.yaml`` (as it ships) use: a
    library made for every universe names groups many universes lack, so these are
    named together in one short line (``validate`` lists each with its keys)."""
    lines = [m.warning for m in fit if not m.library]
    inherited = [m for m in fit if m.library]
    if inherited:
        count = sum(m.uses for m in inherited)
        groups = ", ".join(m.group for m in inherited)
        lines.append(
            f"{LIBRARY_BASE}: {count} setting{'s' if count > 1 else ''} for "
            f"group{'s' if len(inherited) > 1 else ''} absent from this universe ({groups}) "
            f"{'have' if count > 1 else 'has'} no effect"
        )
    return lines


def scenario_fit(universe: pd.DataFrame, scenario: Scenario) -> list[Misfit]:
    """What in ``scenario`` this universe (with its ``size`` column) leaves without
    effect, each empty group named once with every key that uses it (``library``
    when each of those is a setting of the shipped ``base.yaml``, unchanged), and the
    tilts it makes impossible."""
    uses = _group_uses(scenario)
    found: list[Misfit] = []
    for text, tilt in scenario.tilts.items():
        empty = _empty(text, universe)
        if empty is None:
            continue
        lo, hi = tilt.target - tilt.band, tilt.target + tilt.band
        if not lo - 1e-12 <= 0.0 <= hi + 1e-12:
            found.append(
                Misfit(
                    f"tilts.{text}",
                    f"{empty}: its active exposure is 0, outside the band [{lo:.4g}, {hi:.4g}]",
                    harmless=False,
                )
            )
    for i, screen in enumerate(scenario.screens, 1):
        if _empty(screen.where, universe) is not None:
            continue  # among the group's uses
        try:
            columns = parse_condition(screen.require).columns
        except ExpressionError:  # reported by the schema already
            continue
        missing = [column for column in dict.fromkeys(columns) if not has_values(universe, column)]
        if missing:
            names = int(_mask(screen.where, universe).sum())
            found.append(
                Misfit(
                    f"screens[{i}].require",
                    f"the universe has no values in {_listed(missing)}: the {names} "
                    f"names of '{screen.where}' cannot be screened ({screen.require}) and are "
                    "not bought (they may be held and sold)",
                )
            )
    for i, view in enumerate(scenario.views, 1):
        empty = [t for t in (view.long, view.short) if t and _empty(t, universe) is not None]
        gap = None if empty else view_gap(universe, view)  # an empty group: among its uses
        if gap is not None:
            found.append(Misfit(f"views[{i}]", f"{gap}: the view is left out"))
    library = _group_uses(_library_base())
    for text, settings in uses.items():
        empty = _empty(text, universe)
        if empty is not None:
            keys = [key for key, _ in settings]
            message = f"{empty}: no effect on {', '.join(keys)}"
            shipped = all(setting in library.get(text, ()) for setting in settings)
            found.append(
                Misfit(
                    keys[0],
                    message,
                    keys_named=True,
                    group=text,
                    uses=len(keys),
                    library=shipped,
                )
            )
    return found


def _group_uses(scenario: Scenario) -> dict[str, list[tuple[str, object]]]:
    """Selector text -> (scenario key, setting) of each setting that acts on that group
    alone: per-group overrides, ``no_buy`` groups, shock returns, tilts whose band holds
    0 (an empty group's exposure), screens and views."""
    uses: dict[str, list[tuple[str, object]]] = {}
    c = scenario.constraints
    for key, setting in _per_group_settings(c, "constraints") + _per_group_settings(
        scenario.costs, "costs"
    ):
        for selector, value in setting.overrides:
            uses.setdefault(selector.text, []).append((f"{key}.{selector.text}", value))
    for i, text in enumerate(c.no_buy, 1):
        uses.setdefault(text, []).append((f"constraints.no_buy[{i}]", text))
    for i, shock in enumerate(scenario.shocks, 1):
        for text, value in shock.returns.items():
            uses.setdefault(text, []).append((f"shocks[{i}].{text}", (shock.name, value)))
    for text, tilt in scenario.tilts.items():
        if tilt.target - tilt.band - 1e-12 <= 0.0 <= tilt.target + tilt.band + 1e-12:
            uses.setdefault(text, []).append((f"tilts.{text}", tilt))
    for i, screen in enumerate(scenario.screens, 1):
        uses.setdefault(screen.where, []).append((f"screens[{i}]", screen))
    for i, view in enumerate(scenario.views, 1):
        for text in dict.fromkeys(t for t in (view.long, view.short) if t):
            uses.setdefault(text, []).append((f"views[{i}]", view))
    return uses


def _per_group_settings(section: object, key: str) -> list[tuple[str, ByGroup]]:
    """(scenario key, setting) of every per-group setting (``ByGroup``) in ``section``
    of the scenario and the sections inside it, in the schema's order: a per-group
    limit added to the schema is covered here without an edit."""
    found: list[tuple[str, ByGroup]] = []
    for f in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, f.name)
        if isinstance(value, ByGroup):
            found.append((f"{key}.{f.name}", value))
        elif dataclasses.is_dataclass(value):
            found += _per_group_settings(value, f"{key}.{f.name}")
    return found


@functools.cache
def _library_base() -> Scenario:
    """The shipped ``base.yaml``, as it ships."""
    return load_scenario(library_folder() / LIBRARY_BASE)


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
    universe: pd.DataFrame, scenario: Scenario, reference: np.ndarray | None
) -> list[tuple[str, str]]:
    """Tilts no portfolio can reach within the position caps and long-only.

    ``reference``: the weights active exposure is measured against, in the universe's
    order (``position.reference_weights``), or None when unknown. A group's weight lies
    between 0 and min(1 − cash floor, Σ caps of its names); its active exposure
    therefore between −ref_g and that maximum − ref_g. With no reference known, only
    what holds for every reference (ref_g ≥ 0) is checked: the maximum with ref_g = 0.
    """
    c = scenario.constraints
    caps = (
        per_name(universe, c.max_position, "min")
        if c.max_position is not None
        else np.ones(len(universe))
    )
    known = reference is not None
    ref = np.asarray(reference, dtype=float) if known else np.zeros(len(universe))
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
        if known and tilt.target + tilt.band < least - 1e-12:
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
    rows = []
    for text in scenario.constraints.no_buy:
        for ticker in universe.index[match(parse_selector(text), universe)]:
            rows.append({"ticker": ticker, "screen": f"no_buy: {text}", "values": ""})
    for screen in scenario.screens:
        condition = parse_condition(screen.require)
        hit = match(parse_selector(screen.where), universe) & ~condition.holds(universe)
        columns = condition.columns
        # each column's values of the names hit, as ``universe.at`` gives them (a
        # screen that many names fail: one lookup per column, not per name and column)
        cells = [universe[c].to_numpy()[hit] for c in columns]
        for i, ticker in enumerate(universe.index[hit]):
            values = ", ".join(f"{c}={cell[i]}" for c, cell in zip(columns, cells, strict=True))
            rows.append(
                {"ticker": ticker, "screen": f"{screen.where}: {screen.require}", "values": values}
            )
    return pd.DataFrame(rows, columns=["ticker", "screen", "values"])
