"""Read a CSV or XLSX table as text, and parse its cells with messages that name the cell.

``read_table`` does no type guessing: every cell comes back as stripped text
(``""`` for a blank cell), so that the cell parsers below can say exactly which
cell is wrong and what it holds. Each data row keeps the row number a
spreadsheet shows for it (header = row 1, first data row = row 2) in the
column ``row``, even after blank rows are dropped.

Cell types (``Text``, ``Number``, ``Date``, ``Flag``, ``Choice``) are small frozen
objects with a scalar ``parse`` (the one source of every "expected ..., got ..."
message) and a vectorised ``parse_many`` that agrees with it, so a table of a
million cells parses at pandas speed and still reports its first bad cell exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from rebalancer.errors import InputError, nearest
from rebalancer.textfile import CONTROL_CHARACTER, NotText, decode_utf8

ROW = "row"  # the column holding each row's spreadsheet row number
SUFFIXES = (".csv", ".xlsx")
BLANK_HEADER = "expected the header row of column names, found a blank row"
MAX_MAGNITUDE = 1e15  # the largest number (either side of 0) an input cell may hold
MAX_XLSX_BYTES = 1 << 30  # unpacked size of a workbook; more is a zip bomb, not holdings

_strip = np.frompyfunc(str.strip, 1, 1)  # 10x faster than .str.strip() per column

# ``validate`` reports this many problems of one file, then how many more there are
PROBLEMS_PER_FILE = 50


class Problems:
    """The problems a reader finds in one file, in the order it checks them.

    ``Problems()`` raises the first at once: what ``propose`` and ``batch`` get, one line
    and no work past it. ``Problems(limit)`` (``validate``) records every problem, keeps
    the first ``limit`` and counts the rest, so one run lists everything to fix; the
    first it lists is the one a raising read stops at. A problem that leaves the rest of
    the file unreadable is raised in both modes (``halt`` after a group of them).
    """

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.items: list[InputError] = []
        self.more = 0

    def add(self, error: InputError) -> None:
        if self.limit is None:
            raise error
        if len(self.items) < self.limit:
            self.items.append(error)
        else:
            self.more += 1

    def add_each(self, count: int, error: Callable[[int], InputError]) -> None:
        """``count`` problems, the i-th made by ``error(i)`` (only those kept are made)."""
        if self.limit is None:
            if count:
                raise error(0)
            return
        kept = min(count, max(0, self.limit - len(self.items)))
        self.items.extend(error(i) for i in range(kept))
        self.more += count - kept

    def halt(self) -> None:
        """End the reading here if anything was found: what follows needs it right."""
        if self.count:
            raise Halt

    def listed(self, path: str | Path) -> list[InputError]:
        """The problems kept, and a last line saying how many more there are."""
        tail = [InputError(path, f"... and {self.more} more problems")] if self.more else []
        return [*self.items, *tail]

    @property
    def count(self) -> int:
        """Problems found so far, kept or not."""
        return len(self.items) + self.more

    def check(self, check: Callable[..., Any], *args: Any) -> Any:
        """``check(*args, self)`` collecting (a reader, a cross-check): what it returns,
        or None when a problem ended it (the problem is recorded)."""
        try:
            return check(*args, self)
        except Halt:
            return None
        except InputError as exc:  # the file as a whole: nothing past it can be read
            self.add(exc)
            return None


class Halt(Exception):
    """Raised by ``Problems.halt``: the rest of the file cannot be checked."""


# --------------------------------------------------------------------------- tables


def read_table(
    path: str | Path, *, lowercase_header: bool = True, allow_empty: bool = False
) -> pd.DataFrame:
    """Every cell of a ``.csv`` (UTF-8, BOM or not) or ``.xlsx`` (first sheet) as text.

    Header names are stripped (and lowercased unless ``lowercase_header=False``,
    which the wide prices file needs to keep its tickers as written); cells are
    stripped, blank cells are ``""``, fully blank rows are dropped, and the column
    ``row`` holds each remaining row's spreadsheet row number. A file with a
    header but no data rows is an error unless ``allow_empty``.
    """
    path_obj = Path(path)
    suffix = path_obj.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            path, f"unsupported file type '{path_obj.suffix}', expected a .csv or .xlsx file"
        )
    try:
        if not path_obj.exists():
            raise InputError(path, "file not found")
        if not path_obj.is_file():
            raise InputError(path, "is not a file")
    except OSError as err:  # a name too long for the file system, say
        raise InputError(path, f"cannot be read: {err.strerror or err}") from None
    grid = _read_csv_grid(path) if suffix == ".csv" else _read_xlsx_grid(path)
    return _table_from_grid(grid, path, lowercase_header=lowercase_header, allow_empty=allow_empty)


def _read_csv_grid(path: str | Path) -> np.ndarray:
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot be read: {err.strerror or err}") from None
    try:
        text = decode_utf8(raw)
    except NotText as err:
        raise InputError(
            path, f"{err.reason}; save it from the spreadsheet as 'CSV UTF-8'", row=err.line
        ) from None
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,  # keeps record i at spreadsheet row i + 1
        )
    except pd.errors.EmptyDataError:
        if text.strip(" \t\r\n,"):
            raise InputError(path, BLANK_HEADER, row=1) from None
        raise InputError(path, "file is empty, expected a header row of column names") from None
    except pd.errors.ParserError as err:
        raise _parser_error(path, str(err)) from None
    grid = frame.to_numpy(dtype=object, copy=True)
    grid[pd.isna(grid)] = ""  # cells a short row (or a blank line) lacks
    if len(grid) > 1 and not text.endswith(("\n", "\r")) and "".join(grid[-1]).strip():
        # A last row short of cells, with no line break after it, is a file cut off
        # mid-row (a failed copy or download): its last cell may itself be cut short.
        cells = len(_last_record(text))
        if cells < grid.shape[1]:
            raise InputError(
                path,
                f"the last row has {cells} cells but the header row has {grid.shape[1]}, "
                "and no line break ends it: the file looks cut short",
                row=len(grid),
            )
    return grid


def _last_record(text: str) -> list[str]:
    """The cells of the last record of CSV ``text`` (which has balanced quotes)."""
    tail = text[max(text.rfind("\n"), text.rfind("\r")) + 1 :]
    if '"' not in tail:  # then no quoted cell spans into it: the tail is the whole record
        return tail.split(",")
    return list(csv.reader(io.StringIO(text)))[-1]  # rare: read it all to be sure


def _parser_error(path: str | Path, message: str) -> InputError:
    """The ``InputError`` for a pandas CSV ``ParserError``, naming the row where it can."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        width, line, seen = found.groups()
        return InputError(path, f"has {seen} cells but the header row has {width}", row=int(line))
    found = re.search(r"EOF inside string starting at row (\d+)", message)
    if found:  # the record index counts the header as 0
        return InputError(
            path,
            "a quoted cell is never closed (the file ends inside quotes: cut short?)",
            row=int(found.group(1)) + 1,
        )
    return InputError(path, f"cannot be read as CSV: {message}")


def _read_xlsx_grid(path: str | Path) -> np.ndarray:
    try:
        rows = _xlsx_rows(path)
    except InputError:
        raise
    except OSError as err:
        raise InputError(path, f"cannot be read: {err.strerror or err}") from None
    except Exception as err:  # noqa: BLE001
        # Whatever the zip and workbook parsers trip over in a damaged file (a bad
        # member, zlib, XML, a missing part) is the file's fault, not a bug of ours.
        raise InputError(path, f"cannot be read as an .xlsx workbook ({err})") from None
    width = max((len(r) for r in rows), default=0)
    grid = np.full((len(rows), width), "", dtype=object)
    for i, r in enumerate(rows):
        grid[i, : len(r)] = r
    return grid


def _xlsx_rows(path: str | Path) -> list[list[str]]:
    import openpyxl  # late: 0.4 s to import, for an .xlsx input only

    with zipfile.ZipFile(path) as archive:
        size = sum(member.file_size for member in archive.infolist())
    if size > MAX_XLSX_BYTES:
        raise InputError(
            path, f"unpacks to {size:,} bytes, more than the {MAX_XLSX_BYTES:,} an input may hold"
        )
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [[_cell_text(v) for v in r] for r in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")  # a date cell's time of day is noise here
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _table_from_grid(
    grid: np.ndarray, path: str | Path, *, lowercase_header: bool, allow_empty: bool
) -> pd.DataFrame:
    if grid.size == 0:
        raise InputError(path, "file is empty, expected a header row of column names")
    grid = _strip(grid)
    _refuse_control_characters(grid, path)
    header = [h.lower() for h in grid[0]] if lowercase_header else list(grid[0])
    body = grid[1:]
    rows = np.arange(2, len(body) + 2)

    # Spreadsheets often carry trailing columns with neither name nor values.
    named = np.array([h != "" for h in header], dtype=bool)
    used = named | (body != "").any(axis=0) if len(body) else named
    if not named.any():
        raise InputError(path, BLANK_HEADER, row=1)
    unnamed = np.flatnonzero(used & ~named)
    if len(unnamed):
        raise InputError(
            path, f"column {unnamed[0] + 1} has values but no name in the header", row=1
        )
    header = [h for h, keep in zip(header, named, strict=True) if keep]
    body = body[:, named]

    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name in seen:
            raise InputError(
                path, f"duplicate column name (columns {seen[name]} and {i})", row=1, column=name
            )
        seen[name] = i
    if ROW in seen:
        raise InputError(path, "'row' is a reserved column name; rename it", row=1, column=ROW)
    if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
        raise InputError(
            path, f"has a single column '{header[0]}'; expected values separated by commas"
        )

    filled = (body != "").any(axis=1) if body.shape[1] else np.zeros(len(body), dtype=bool)
    body, rows = body[filled], rows[filled]
    if len(body) == 0 and not allow_empty:
        raise InputError(path, "has a header row but no data rows")
    table = pd.DataFrame(body, columns=header)
    table[ROW] = rows
    return table


def _refuse_control_characters(grid: np.ndarray, path: str | Path) -> None:
    """Raise naming the first cell (row by row) that holds a control character."""
    if not CONTROL_CHARACTER.search("\n".join(grid.ravel())):  # one C-speed scan
        return
    found = np.vectorize(lambda cell: CONTROL_CHARACTER.search(cell) is not None)(grid)
    i, j = np.argwhere(found)[0]  # row-major: the first in file order
    char = CONTROL_CHARACTER.search(grid[i, j])[0]
    header = grid[0, j] if i and not found[0, j] else ""
    raise InputError(
        path,
        f"holds the control character U+{ord(char):04X} (a damaged or binary file?)"
        + ("" if header else f" in column {j + 1}"),
        row=int(i) + 1,
        column=header or None,
    )


def require_columns(
    table: pd.DataFrame,
    columns: Iterable[str],
    path: str | Path,
    problems: Problems | None = None,
) -> None:
    """Each of ``columns`` absent from ``table``, naming the columns found; the cells
    cannot be checked without them (``problems.halt``)."""
    problems = problems or Problems()
    found = [c for c in table.columns if c != ROW]
    for column in columns:
        if column not in table.columns:
            hint = nearest(column, found)
            message = f"required column is missing (columns found: {', '.join(found)})"
            if hint:
                message += f"; did you mean '{hint}'?"
            problems.add(InputError(path, message, column=column))
    problems.halt()


# --------------------------------------------------------------------------- cells


class CellType(Protocol):
    """How one column's cells parse: ``parse`` one cell, ``parse_many`` a whole column.

    ``parse_many`` returns (values, bad mask) and must reject exactly what ``parse``
    rejects; ``parse`` raises ``CellError`` with the message a user sees.
    """

    def parse(self, text: Any) -> Any: ...

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class CellError(ValueError):
    """A cell that does not parse; ``str()`` is the "expected ..., got ..." text."""

    def __init__(self, expected: str, text: object):
        self.expected = expected
        self.text = text
        super().__init__(f"expected {expected}, got {shown(text)}")


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
        if value is None or not self._in_range(np.array([value]))[0]:
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
        bad = unreadable | (~blank & ~unreadable & ~self._in_range(values))
        values[blank] = self.default
        if self.required:
            bad |= blank
        return values, bad

    def _in_range(self, values: np.ndarray) -> np.ndarray:
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
    """One of a fixed set of words, matched case-insensitively and stored as spelt in ``choices``."""

    choices: tuple[str, ...]
    required: bool = False
    default: str = ""

    def parse(self, text: str) -> str:
        if text == "" and not self.required:
            return self.default
        for choice in self.choices:
            if text.lower() == choice.lower():
                return choice
        raise CellError(f"one of {', '.join(self.choices)}", text)

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
