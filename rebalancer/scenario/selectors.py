"""Group selectors: ``sector:Energy``, ``size:small & region:EM``, ``theme:biotech``, ``all``.

A selector is a conjunction of ``key:value`` terms joined with ``&``. It is parsed
by splitting, never evaluated. Matching is case-insensitive; ``theme`` matches one
tag of the ``;``-separated ``themes`` column, every other key matches the column
of the same name (``size`` is the bucket computed from ``market_cap``: ``large``,
``mid``, ``small``, ``micro``, and ``fund`` for a name without a market cap — a fund
or an ETF, which is no micro cap).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.errors import nearest

KEYS = ("sector", "region", "size", "theme", "country", "industry", "ticker")
SIZE_BUCKETS = ("large", "mid", "small", "micro", "fund")
REGIONS = ("US", "DM", "EM")


@dataclass(frozen=True)
class Term:
    key: str
    value: str


@dataclass(frozen=True)
class Selector:
    """A parsed group selector; ``text`` is its canonical spelling."""

    terms: tuple[Term, ...]

    @property
    def text(self) -> str:
        return " & ".join(f"{t.key}:{t.value}" for t in self.terms) or "all"

    def __str__(self) -> str:
        return self.text


class SelectorSyntaxError(ValueError):
    """Raised with a message fit for the user; callers add the file and key."""


def parse_selector(text: str) -> Selector:
    """Parse ``"size:small & region:EM"``; raises SelectorSyntaxError on bad input."""
    if not isinstance(text, str) or not text.strip():
        raise SelectorSyntaxError("a group selector must be a non-empty text like 'size:small'")
    if text.strip().lower() == "all":
        return Selector(())
    terms = []
    for part in text.split("&"):
        key, sep, value = part.strip().partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key or not value:
            raise SelectorSyntaxError(
                f"'{part.strip()}' is not of the form key:value (keys: {', '.join(KEYS)})"
            )
        if key not in KEYS:
            hint = nearest(key, KEYS)
            raise SelectorSyntaxError(
                f"unknown selector key '{key}'"
                + (f" (did you mean '{hint}'?)" if hint else f" (keys: {', '.join(KEYS)})")
            )
        if key == "size":
            value = value.lower()
            if value not in SIZE_BUCKETS:
                raise SelectorSyntaxError(
                    f"unknown size bucket '{value}' (one of {', '.join(SIZE_BUCKETS)})"
                )
        elif key == "region":
            value = value.upper()
            if value not in REGIONS:
                raise SelectorSyntaxError(f"unknown region '{value}' (one of {', '.join(REGIONS)})")
        elif key in ("theme",):
            value = value.lower()
        elif key in ("country", "ticker"):
            value = value.upper()
        terms.append(Term(key, value))
    return Selector(tuple(terms))


def size_bucket(market_cap: pd.Series, thresholds: dict[str, float]) -> pd.Series:
    """Bucket by market cap: >= large, >= mid, >= small, else micro (lower bounds in USD);
    ``fund`` where the market cap is blank (funds and ETFs have none)."""
    mc = market_cap.to_numpy(dtype=float)
    out = np.full(mc.shape, "micro", dtype=object)
    for name in ("small", "mid", "large"):
        out[mc >= thresholds[name]] = name
    out[np.isnan(mc)] = "fund"
    return pd.Series(out, index=market_cap.index, name="size")


# Masks of each universe frame, by term: a book or a sweep matches the same few
# selectors against the same frame thousands of times. Entries die with the frame.
_MASKS: dict[int, tuple[weakref.ref, dict[Term, np.ndarray]]] = {}


def _term_mask(term: Term, universe: pd.DataFrame) -> np.ndarray:
    entry = _MASKS.get(id(universe))
    if entry is None or entry[0]() is not universe:
        key = id(universe)
        entry = (weakref.ref(universe, lambda _ref, key=key: _MASKS.pop(key, None)), {})
        _MASKS[key] = entry
    masks = entry[1]
    if term not in masks:
        masks[term] = _by_values(term, universe)
    return masks[term]


# The masks of the last values of each column, by term: a backtest builds a new universe
# frame each day whose group columns are as before (only prices move), so a mask is
# reused when the column it reads (the index for tickers) is equal to the one it was
# computed from.
_BY_VALUES: dict[str, tuple[pd.Series | pd.Index, dict[Term, np.ndarray]]] = {}


def _by_values(term: Term, universe: pd.DataFrame) -> np.ndarray:
    column = {"ticker": "", "theme": "themes"}.get(term.key, term.key)
    values = universe.index if column == "" else universe[column]
    known = _BY_VALUES.get(column)
    if known is None or not known[0].equals(values):
        known = _BY_VALUES[column] = (values.copy(), {})
    masks = known[1]
    if term not in masks:
        if term.key == "theme":
            tags = universe["themes"].astype(str).str.lower().str.split(";")
            hit = tags.map(lambda ts, v=term.value: v in [t.strip() for t in ts]).to_numpy(bool)
        elif term.key == "ticker":
            hit = universe.index.astype(str).str.upper().to_numpy() == term.value
        else:
            col = universe[term.key].astype(str).str.strip()
            hit = (col.str.lower() == term.value.lower()).to_numpy(bool)
        hit.flags.writeable = False
        masks[term] = hit
    return masks[term]


def match(selector: Selector, universe: pd.DataFrame) -> np.ndarray:
    """Boolean mask over ``universe`` rows (it must carry a ``size`` column).

    The universe is taken as read-only: masks are remembered per frame, and for a
    new frame whose column a term reads equals the last one's (``_by_values``)."""
    mask = np.ones(len(universe), dtype=bool)
    for term in selector.terms:
        mask &= _term_mask(term, universe)
    return mask


# keys whose values come from the universe file (size and region are fixed vocabularies
# the parser checks already): a value no security has may be a near miss of one it has
_FREE_KEYS = ("sector", "country", "industry", "theme", "ticker")


def near_miss(selector: Selector, universe: pd.DataFrame) -> str | None:
    """The selector spelt as the universe spells a value it has, when one of its terms
    matches nothing and is close to such a value (``sector:Industrial`` ->
    ``sector:Industrials``); None otherwise."""
    terms = list(selector.terms)
    changed = False
    for i, term in enumerate(terms):
        if term.key not in _FREE_KEYS or match(Selector((term,)), universe).any():
            continue
        if term.key == "theme":
            values = {t.strip() for ts in universe["themes"].astype(str) for t in ts.split(";")}
        elif term.key == "ticker":
            values = set(universe.index.astype(str))
        else:
            values = set(universe[term.key].astype(str).str.strip())
        spelt = {v.lower(): v for v in values if v}
        hint = nearest(term.value.lower(), sorted(spelt), cutoff=0.75)
        if hint is not None:
            terms[i] = Term(term.key, spelt[hint])
            changed = True
    return Selector(tuple(terms)).text if changed else None


def empty_group(text: str, universe: pd.DataFrame) -> str | None:
    """'group 'X' matches no security in the universe (did you mean 'Y'?)' when the
    selector ``text`` matches nothing, else None."""
    selector = parse_selector(text)
    if match(selector, universe).any():
        return None
    hint = near_miss(selector, universe)
    return f"group '{text}' matches no security in the universe" + (
        f" (did you mean '{hint}'?)" if hint else ""
    )
