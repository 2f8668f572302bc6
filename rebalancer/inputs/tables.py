"""Read a CSV, XLSX or Parquet table as text.

``read_table`` does no type guessing: every cell comes back as stripped text
(``""`` for a blank cell), so that the cell parsers (``rebalancer.inputs.cells``) can
say exactly which cell is wrong and what it holds. Each data row keeps the row number
a spreadsheet shows for it (header = row 1, first data row = row 2) in the column
``row``, even after blank rows are dropped. A workbook's or a Parquet file's typed
cells become the text a CSV export of them holds (``_cell_text``), so all three go
through the same checks and give the same values; a Parquet file's n-th record is
row n + 1, the row it has in that CSV.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer.errors import InputError, nearest
from rebalancer.inputs.problems import Problems
from rebalancer.textfile import CONTROL_CHARACTER, NotText, decode_utf8, has_control_character

ROW = "row"  # the column holding each row's spreadsheet row number
PARQUET_SUFFIXES = (".parquet", ".pq")
SUFFIXES = (".csv", ".xlsx", *PARQUET_SUFFIXES)
BLANK_HEADER = "expected the header row of column names, found a blank row"
MAX_UNPACKED_BYTES = 1 << 30  # of a workbook or a Parquet file; more is a bomb, not holdings

_strip = np.frompyfunc(str.strip, 1, 1)  # 10x faster than .str.strip() per column


def read_table(
    path: str | Path, *, lowercase_header: bool = True, allow_empty: bool = False
) -> pd.DataFrame:
    """Every cell of a ``.csv`` (UTF-8, BOM or not), ``.xlsx`` (first sheet) or
    ``.parquet``/``.pq`` file as text.

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
            path,
            f"unsupported file type '{path_obj.suffix}', expected a .csv, .xlsx or .parquet file",
        )
    try:
        if not path_obj.exists():
            raise InputError(path, "file not found")
        if not path_obj.is_file():
            raise InputError(path, "is not a file")
    except OSError as err:  # a name too long for the file system, say
        raise InputError(path, f"cannot be read: {err.strerror or err}") from None
    if suffix == ".csv":
        grid = _read_csv_grid(path)
    elif suffix == ".xlsx":
        grid = _read_xlsx_grid(path)
    else:
        grid = _read_parquet_grid(path)
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


def read_wide_numbers(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """A wide CSV of numbers read straight to floats: (the header's names, the first
    column's cells as stripped text, the other cells as a float array with NaN for a
    blank cell) — or None, and the caller reads the file with ``read_table`` and the
    cell parsers, which say what is wrong with it.

    The exact read holds millions of cells as Python strings (seconds for the prices
    of 5,000 names); this one has pandas' C reader convert the cells to floats as it
    splits them, with the converter ``pd.to_numeric`` (and so ``Number.parse_many``)
    applies to a cell's text, so every value is the same to the bit. It gives up on
    whatever the exact read treats with care: a file that is not UTF-8 text or holds
    a control character, a header that is not plain names (blank, quoted, a blank
    name, ``row``, a name twice, a line break other than LF or CRLF), a first data row
    not as wide as the header, a wider row, a last row cut short, a cell that is
    neither blank nor a number in plain notation (thousands separators, words, a cell
    of spaces alone). A file it reads the exact read reads the same way; what the
    caller checks of the values (bounds, dates) it must check as the cell types do.
    """
    try:
        raw = Path(path).read_bytes()
        text = decode_utf8(raw)
    except (OSError, NotText):
        return None
    if has_control_character(raw, text):
        return None
    first_line = text[: text.find("\n")].removesuffix("\r") if "\n" in text else text
    header = [name.strip() for name in first_line.split(",")]
    if (
        '"' in first_line
        or "\r" in first_line
        or len(header) < 2
        or "" in header
        or len(set(header)) < len(header)
        or ROW in header
    ):
        return None
    if not text.endswith(("\n", "\r")) and len(_last_record(text)) < len(header):
        return None  # cut short (``_read_csv_grid``)
    body = raw.removeprefix(codecs.BOM_UTF8)
    dtypes: dict[int, type] = {0: object} | dict.fromkeys(range(1, len(header)), np.float64)
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            header=None,
            skiprows=1,
            dtype=dtypes,
            keep_default_na=False,
            na_values=[""],  # a blank cell, and only that, is NaN
            low_memory=False,  # one pass: the chunks of a wide file cost their joining
        )
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None  # a cell that is no plain number, a row wider than the first
    if frame.shape[1] != len(header) or not len(frame):
        return None
    first = frame[0].to_numpy(dtype=object)
    if not all(isinstance(cell, str) for cell in first):  # a blank first cell
        return None
    first = _strip(first)
    # column by column: slicing a frame of thousands of columns costs more
    values = np.column_stack([frame[j].to_numpy(dtype=np.float64) for j in range(1, len(header))])
    return header, first, values


def _last_record(text: str) -> list[str]:
    """The cells of the last record of CSV ``text`` (which has balanced quotes)."""
    tail = text[max(text.rfind("\n"), text.rfind("\r")) + 1 :]
    if '"' not in tail:  # then no quoted cell spans into it: the tail is the whole record
        return tail.split(",")
    # rare: read it all to be sure (newline="": a line may end in CR alone)
    return list(csv.reader(io.StringIO(text, newline="")))[-1]


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
    if size > MAX_UNPACKED_BYTES:
        raise InputError(
            path,
            f"unpacks to {size:,} bytes, more than the {MAX_UNPACKED_BYTES:,} an input may hold",
        )
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [[_cell_text(v) for v in r] for r in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _read_parquet_grid(path: str | Path) -> np.ndarray:
    """A Parquet file's column names and cells as text: the grid of its CSV export."""
    frame = _read_parquet_frame(path)
    grid = np.full((len(frame) + 1, frame.shape[1]), "", dtype=object)
    grid[0] = [_cell_text(name) for name in frame.columns]
    for j in range(frame.shape[1]):
        cells = frame.iloc[:, j].to_numpy(dtype=object, na_value=None)
        grid[1:, j] = [_cell_text(cell) for cell in cells]
    return grid


def _read_parquet_frame(path: str | Path) -> pd.DataFrame:
    """A Parquet file as pandas reads it (pyarrow), a named index (the ``date`` of
    prices written from pandas) as its first columns."""
    try:
        # late: pandas reads Parquet through pyarrow, for a Parquet input only
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            path, "reading a Parquet file needs the package pyarrow (pip install pyarrow)"
        ) from None
    try:
        size = sum(group.total_byte_size for group in _row_groups(pq.ParquetFile(path).metadata))
        if size > MAX_UNPACKED_BYTES:
            raise InputError(
                path,
                f"unpacks to {size:,} bytes, more than the {MAX_UNPACKED_BYTES:,} an input may hold",
            )
        frame = pd.read_parquet(path, engine="pyarrow")
    except InputError:
        raise
    except OSError as err:
        if err.errno is not None:  # the file system's refusal, not the file's content
            raise InputError(path, f"cannot be read: {err.strerror or err}") from None
        raise InputError(path, f"cannot be read as a Parquet file ({_one_line(err)})") from None
    except Exception as err:  # noqa: BLE001
        # Whatever pyarrow trips over in a damaged file (magic bytes, thrift metadata,
        # a page or a type it cannot decode) is the file's fault, not a bug of ours.
        raise InputError(path, f"cannot be read as a Parquet file ({_one_line(err)})") from None
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    return frame


def read_wide_parquet_numbers(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """A wide Parquet file of numbers as ``read_wide_numbers`` gives a CSV: (the column
    names, the first column's cells as text, the other columns as floats with NaN for a
    missing value) — or None, and the caller reads it with ``read_table`` and the cell
    parsers, which say what is wrong with it. It gives up on a file that does not read,
    a name that is not plain (blank, padded, ``row``, twice, a control character) and
    a column after the first that is not a number column (text, flags, dates)."""
    try:
        frame = _read_parquet_frame(path)
    except InputError:
        return None
    header = list(frame.columns)
    if (
        len(header) < 2
        or not len(frame)
        or not all(isinstance(name, str) and name and name == name.strip() for name in header)
        or len(set(header)) < len(header)
        or ROW in header
        or CONTROL_CHARACTER.search("".join(header))
    ):
        return None
    numbers = frame.iloc[:, 1:]
    if not all(
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        for dtype in numbers.dtypes
    ):
        return None
    first = np.array(
        [_cell_text(c) for c in frame.iloc[:, 0].to_numpy(dtype=object, na_value=None)],
        dtype=object,
    )
    if (first == "").any():
        return None
    values = np.column_stack(
        [
            numbers.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan)
            for j in range(numbers.shape[1])
        ]
    )
    return header, _strip(first), values


def _row_groups(metadata) -> Iterable:
    return (metadata.row_group(i) for i in range(metadata.num_row_groups))


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _cell_text(value: object) -> str:
    """An XLSX or Parquet cell as the text a CSV export of it would hold (a missing
    value, NaN included, is a blank cell)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
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
