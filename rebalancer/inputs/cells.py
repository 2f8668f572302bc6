"""Parse a table's cells with messages that name the cell.

Cell types (``Text``, ``Number``, ``Date``, ``Flag``, ``Choice``) are small frozen
objects with a scalar ``parse`` (the one source of every "expected ..., got ..."
message) and a vectorised ``parse_many`` that agrees with it, so a table of a
million cells parses at pandas speed and still reports its first bad cell exactly.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from rebalancer.errors import InputError, nearest
from rebalancer.inputs.problems import Problems
from rebalancer.inputs.tables import ROW

MAX_MAGNITUDE = 1e15  # the largest number (either side of 0) an input cell may hold


class CellType(Protocol):
    """How one column's cells parse: ``parse`` one cell, ``parse_many`` a whole column.

    ``parse_many`` returns (values, bad mask) and must reject exactly what ``parse``
    rejects; ``parse`` raises ``CellError`` with the message a user sees.
    """

    def parse(self, text: Any) -> Any: ...

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class CellError(ValueError):
    """A cell that does not parse; ``str()`` is the "expected ..., got ..." text."""

    def __init__(self, expected: str, text: object, hint: str | None = None):
        self.expected = expected
        self.text = text
        suggestion = f"; did you mean '{hint}'?" if hint else ""
        super().__init__(f"expected {expected}, got {shown(text)}{suggestion}")


def shown(text: object) -> str:
    """A cell's content as a message quotes it."""
    text = "" if text is None else str(text)
    if text == "":
        return "an empty cell"
    return f"'{text[:40]}...'" if len(text) > 43 else f"'{text}'"


@dataclass(frozen=True)
class Text:
    """Free text; a blank cell is ``default`` unless ``required``."""

    required: bool = False
    default: str = ""

    def parse(self, text: str) -> str:
        if text == "":
            if self.required:
                raise CellError("a value", text)
            return self.default
        return text

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        blank = texts == ""
        values = np.where(blank, self.default, texts).astype(object)
        return values, blank if self.required else np.zeros(len(texts), dtype=bool)


_PLAIN = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")  # 1,234,567.89 — never 1,5


@dataclass(frozen=True)
class Number:
    """A finite number within optional bounds; a blank cell is ``default`` unless ``required``.

    Accepts ``1234.5``, ``-1e6`` and thousands separators (``1,234.5``); rejects
    ``nan``, ``inf``, anything else that is not a plain number, and numbers beyond
    ``MAX_MAGNITUDE`` either side of zero (no quantity, price or amount is that
    large; ``1e308`` is corruption, and sums of such numbers overflow to inf).
    """

    required: bool = True
    min: float | None = None
    min_inclusive: bool = True
    max: float | None = None
    max_inclusive: bool = True
    default: float = math.nan

    @property
    def expected(self) -> str:
        lo = None if self.min is None else f"{'>=' if self.min_inclusive else '>'} {self.min:g}"
        hi = None if self.max is None else f"{'<=' if self.max_inclusive else '<'} {self.max:g}"
        if lo and hi:
            if self.min_inclusive and self.max_inclusive:
                return f"a number between {self.min:g} and {self.max:g}"
            return f"a number {lo} and {hi}"
        return f"a number {lo or hi}" if (lo or hi) else "a number"

    def parse(self, text: str) -> float:
        if text == "":
            if self.required:
                raise CellError(self.expected, text)
            return self.default
        value = _to_float(text)
        if value is None or not self.in_range(np.array([value]))[0]:
            too_large = value is not None and abs(value) > MAX_MAGNITUDE
            size = f", at most {MAX_MAGNITUDE:g} in size" if too_large else ""
            raise CellError(self.expected + size, text)
        return value

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        blank = texts == ""
        values = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
        values = values.to_numpy(dtype=float, na_value=np.nan, copy=True)
        # Cells the fast path could not read (thousands separators, words, nan/inf).
        odd = np.flatnonzero(~np.isfinite(values) & ~blank)
        unreadable = np.zeros(len(texts), dtype=bool)
        for i in odd:
            value = _to_float(texts[i])
            if value is None:
                unreadable[i] = True
            else:
                values[i] = value
        bad = unreadable | (~blank & ~unreadable & ~self.in_range(values))
        values[blank] = self.default
        if self.required:
            bad |= blank
        return values, bad

    def in_range(self, values: np.ndarray) -> np.ndarray:
        """Which ``values`` (read from cells that are not blank) this type accepts."""
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(values) & (np.abs(values) <= MAX_MAGNITUDE)
            if self.min is not None:
                ok &= values >= self.min if self.min_inclusive else values > self.min
            if self.max is not None:
                ok &= values <= self.max if self.max_inclusive else values < self.max
        return ok


def _to_float(text: str) -> float | None:
    """The value of a plain number's text, or None (for nan, inf and non-numbers)."""
    if _PLAIN.fullmatch(text):
        value = float(text)
    elif _GROUPED.fullmatch(text):
        value = float(text.replace(",", ""))
    else:
        return None
    return value if math.isfinite(value) else None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# Dates an input may hold: holding periods and wash-sale windows are differences of
# dates, which overflow nanosecond timestamps beyond 292 years (a lot "bought" in 1677).
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2099, 12, 31)


@dataclass(frozen=True)
class Date:
    """An ISO date ``YYYY-MM-DD`` (from ``FIRST_DATE`` to ``LAST_DATE``) as a
    ``pd.Timestamp``; blank is ``NaT`` unless ``required``."""

    required: bool = False

    def parse(self, text: str | dt.date) -> pd.Timestamp:
        if isinstance(text, dt.date):  # a raw Excel date cell
            return self._checked(dt.date(text.year, text.month, text.day), text)
        if text == "":
            if self.required:
                raise CellError("a date as YYYY-MM-DD", text)
            return pd.NaT
        if _ISO_DATE.fullmatch(text):
            try:
                day = dt.date.fromisoformat(text)
            except ValueError:
                pass  # 2021-02-30
            else:
                return self._checked(day, text)
        raise CellError("a date as YYYY-MM-DD", text)

    @staticmethod
    def _checked(day: dt.date, text: object) -> pd.Timestamp:
        if not FIRST_DATE <= day <= LAST_DATE:
            raise CellError(f"a date from {FIRST_DATE} to {LAST_DATE}", text)
        return pd.Timestamp(day)

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, bad = parse_by_unique(self, texts)
        return pd.to_datetime(pd.Series(values, dtype=object)).to_numpy("datetime64[ns]"), bad


def trade_date(value: str | dt.date | None) -> pd.Timestamp:
    """The trade date (``--as-of``): today when None, else a date as a date cell
    holds one (``YYYY-MM-DD``, from ``FIRST_DATE`` to ``LAST_DATE``); ``InputError``
    naming the option otherwise."""
    if value is None:
        return pd.Timestamp.today().normalize()
    if isinstance(value, dt.datetime):
        value = value.date()
    try:
        return Date(required=True).parse(value if isinstance(value, dt.date) else str(value))
    except CellError as exc:
        raise InputError("--as-of", str(exc)) from None


_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True)
class Flag:
    """A yes/no cell: true/false, yes/no or 1/0 in any case; blank is ``default``."""

    default: bool = False

    def parse(self, text: str) -> bool:
        word = text.lower()
        if word == "":
            return self.default
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise CellError("true/false, yes/no or 1/0", text)

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, bad = parse_by_unique(self, texts)
        return np.where(bad, self.default, values).astype(bool), bad


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of words, matched case-insensitively and stored as spelt in
    ``choices``; with ``suggest``, a near miss is told the nearest choice."""

    choices: tuple[str, ...]
    required: bool = False
    default: str = ""
    suggest: bool = False

    def parse(self, text: str) -> str:
        if text == "" and not self.required:
            return self.default
        for choice in self.choices:
            if text.lower() == choice.lower():
                return choice
        hint = nearest(text.lower(), self.choices) if self.suggest and text else None
        raise CellError(f"one of {', '.join(self.choices)}", text, hint)

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return parse_by_unique(self, texts)


def parse_by_unique(cell_type: CellType, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scalar ``parse`` once per distinct text: dates, flags and words repeat a lot."""
    parsed: dict[str, object] = {}
    bad_texts: set[str] = set()
    for text in pd.unique(pd.Series(texts, dtype=object)):
        try:
            parsed[text] = cell_type.parse(text)
        except CellError:
            bad_texts.add(text)
            parsed[text] = None
    values = np.array([parsed[t] for t in texts], dtype=object)
    bad = np.array([t in bad_texts for t in texts], dtype=bool)
    return values, bad


def parse_columns(
    table: pd.DataFrame,
    path: str | Path,
    cell_types: Mapping[str, CellType],
    problems: Problems | None = None,
) -> dict[str, np.ndarray]:
    """Parse the named columns of ``table``; a column the file lacks is read as blank.

    Every bad cell is a problem, in file order: row by row, and within a row column by
    column in the order of ``cell_types`` (so a raising read stops at the first). What
    a bad cell reads as is unspecified: only a collecting read returns past one.
    """
    problems = problems or Problems()
    blank = np.full(len(table), "", dtype=object)
    texts = {
        c: table[c].to_numpy(dtype=object) if c in table.columns else blank for c in cell_types
    }
    parsed: dict[str, np.ndarray] = {}
    bad_masks: dict[str, np.ndarray] = {}
    for column, cell_type in cell_types.items():
        parsed[column], bad_masks[column] = cell_type.parse_many(texts[column])
    if not any(bad.any() for bad in bad_masks.values()):
        return parsed
    columns = list(cell_types)
    # row-major: the bad cells in file order
    cells = np.argwhere(np.column_stack([bad_masks[c] for c in columns]))
    rows = table[ROW].to_numpy()

    def error(k: int) -> InputError:
        i, j = cells[k]
        column = columns[j]
        return cell_error(path, int(rows[i]), column, cell_types[column], texts[column][i])

    problems.add_each(len(cells), error)
    return parsed


def cell_error(
    path: str | Path, row: int, column: str, cell_type: CellType, text: Any
) -> InputError:
    """The ``InputError`` for one cell that ``cell_type`` rejects."""
    try:
        cell_type.parse(text)
    except CellError as err:
        return InputError(path, str(err), row=row, column=column)
    raise AssertionError(f"{cell_type!r}.parse_many rejected {text!r} but parse accepts it")


# ------------------------------------------------------------- scalar cell parsers


def parse_number(
    path: str | Path,
    row: int,
    column: str,
    text: str,
    *,
    required: bool = True,
    min: float | None = None,
    min_inclusive: bool = True,
    max: float | None = None,
    max_inclusive: bool = True,
    default: float = math.nan,
) -> float:
    """One cell as a finite float within the bounds, else ``InputError`` naming the cell."""
    cell = Number(required, min, min_inclusive, max, max_inclusive, default)
    return _parse_cell(path, row, column, cell, text)


def parse_date(
    path: str | Path, row: int, column: str, value: str | dt.date, *, required: bool = False
) -> pd.Timestamp:
    """One cell as a ``pd.Timestamp`` from ``YYYY-MM-DD`` text or an Excel date cell."""
    return _parse_cell(path, row, column, Date(required), value)


def parse_text(
    path: str | Path, row: int, column: str, text: str, *, required: bool = False, default: str = ""
) -> str:
    """One cell as text; an empty cell is an error when ``required``."""
    return _parse_cell(path, row, column, Text(required, default), text)


def parse_bool(
    path: str | Path, row: int, column: str, text: str, *, default: bool = False
) -> bool:
    """One cell as a bool from true/false, yes/no or 1/0 (any case)."""
    return _parse_cell(path, row, column, Flag(default), text)


def parse_choice(
    path: str | Path,
    row: int,
    column: str,
    text: str,
    choices: Iterable[str],
    *,
    required: bool = False,
    default: str = "",
) -> str:
    """One cell as one of ``choices`` (case-insensitive), returned as spelt in ``choices``."""
    return _parse_cell(path, row, column, Choice(tuple(choices), required, default), text)


def _parse_cell(path: str | Path, row: int, column: str, cell_type: CellType, text: Any) -> Any:
    try:
        return cell_type.parse(text)
    except CellError as err:
        raise InputError(path, str(err), row=row, column=column) from None
