"""Text that a spreadsheet would run as a formula is written as literal text.

A cell whose text begins with ``= + - @``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as the start of a formula (CSV/formula
injection: a security name ``=HYPERLINK(...)`` in a vendor file would become a
live link in the advisor's trade sheet). Such text is *marked*, never altered:

* in a workbook the cell is stored as a string (``data_type "s"``) with Excel's
  quote-prefix flag, so it displays and reads back exactly as given;
* in a CSV, where no type exists, it gets a leading ``'`` (the OWASP advice):
  spreadsheets then show it as text, and a script can strip the one quote (text
  that begins with ``'`` itself gets one too, so stripping one is never ambiguous).

Numbers are never touched: ``-0.5`` is a number, only the *string* ``"-0.5"``
is text that needs marking.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_QUOTE = "'"


class LiteralText(str):
    """Text that must be stored as text, never interpreted as a formula."""


def needs_marking(value: Any) -> bool:
    """True for a string a spreadsheet would read as the start of a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def safe_text(value: Any, *, csv: bool = False) -> Any:
    """``value`` made safe for a spreadsheet; anything but risky text is returned as is.

    Risky text comes back as :class:`LiteralText` (for :func:`write_cell`), or
    with a leading ``'`` when ``csv`` is true.
    """
    if csv and isinstance(value, str) and value.startswith(CSV_QUOTE):
        return CSV_QUOTE + value  # marked too, so that reading back is unambiguous
    if not needs_marking(value):
        return value
    return CSV_QUOTE + value if csv else LiteralText(value)


def csv_text(text: str) -> str:
    """Text of a CSV cell as written by ``safe_text(..., csv=True)``: one leading ``'``
    removed. Text that began with ``'`` was written with a second one, so ``'=2+2``
    (written ``''=2+2``) and ``=2+2`` (written ``'=2+2``) come back apart."""
    return text[1:] if text.startswith(CSV_QUOTE) else text


def cell_value(value: Any) -> Any:
    """A pandas/numpy value as openpyxl stores it: missing and non-finite become empty."""
    if value is None:
        return None
    if isinstance(value, str):
        # no workbook holds C0 control characters (the readers refuse them in inputs;
        # text from elsewhere, a --shock name say, shows them as escapes)
        return _illegal_characters().sub(lambda m: f"\\x{ord(m[0]):02x}", value)
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # openpyxl would write "nan", which Excel reports as a corrupt file
    if isinstance(value, dt.datetime):
        if value != value:  # NaT
            return None
        return value.replace(tzinfo=None)
    try:
        if value != value:  # pd.NA raises here, other NaN-likes compare unequal
            return None
    except TypeError:
        return None
    return value


@cache
def _illegal_characters():
    # late: openpyxl (0.1 s to import) for a workbook only; a CSV needs safe_text alone
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE


def write_cell(cell: Cell, value: Any) -> Cell:
    """Store ``value`` in ``cell``; risky text goes in as a quote-prefixed string."""
    value = safe_text(cell_value(value))
    if isinstance(value, LiteralText):
        cell.value = str(value)
        # openpyxl types a leading "=" as a formula on assignment; undo that.
        cell.data_type = "s"
        cell.quotePrefix = True
    else:
        cell.value = value
    return cell
