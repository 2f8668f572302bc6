"""The prices file's fast read (``tables.read_wide_numbers``, straight to floats)
against its cell-by-cell read, on files made odd every way a cell, a header or a
line can be.

For each seeded random file: when the fast read accepts it, the cell-by-cell read
must accept it too and give the same frame to the bit (values, dates, tickers, their
order); when it gives up, ``read_prices`` must say exactly what the cell-by-cell read
says (the same error line, or the same frame). The fast read must accept the plain
files (most of them), or it would be no faster. ``REBALANCER_PRICES_FAST_CASES=3000``
runs more than the default 300.
"""

from __future__ import annotations

import codecs
import os
import random

import numpy as np
import pandas as pd
import pytest

from rebalancer.errors import InputError
from rebalancer.inputs.readers import (
    prices_from_numbers,
    read_prices,
    read_prices_by_cell,
)
from rebalancer.inputs.tables import read_wide_numbers

CASES = int(os.environ.get("REBALANCER_PRICES_FAST_CASES", "300"))

# cells a price file may hold, the plain ones most often
PLAIN = ["101.25", "99", "0.5", "1e2", "1.5E-3", "+7.125", ".5", "5.", "  12.5 ", '"42.1"', ""]
ODD = [
    "1,234.5",  # unquoted: splits the row
    '"1,234.5"',
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e500",
    "1e-500",
    "0",
    "-1",
    "-0",
    "abc",
    "   ",
    "\t3.5",
    "3.5\t",
    "3.5\u00a0",
    "\u0663",  # an Arabic-Indic digit
    "1_000",
    "0x10",
    "1.2.3",
    "N/A",
    "2e15",
    "\x0c4.5",
    "4.5\x85",
    "4\x1b5",
    '"4\n5"',
    "\u00e94",
]
DATES = ["2026-01-02", "2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09"]
ODD_DATES = ["", " 2026-01-12 ", "2026-02-30", "01/13/2026", "1899-12-31", "2026-01-02"]


def random_file(rng: random.Random) -> str:
    width = rng.randint(1, 5)
    names = [f"T{i}" for i in range(width)]
    header = ["date", *names]
    if rng.random() < 0.15:
        header[rng.randrange(len(header))] = rng.choice(
            ["", " T9 ", '"T,9"', "row", "T0", "Date", "DATE ", "t\u00e9"]
        )
    lines = [",".join(header)]
    dates = rng.sample(DATES, rng.randint(1, len(DATES)))
    for day in dates:
        if rng.random() < 0.05:
            day = rng.choice(ODD_DATES)
        cells = [rng.choice(ODD) if rng.random() < 0.04 else rng.choice(PLAIN) for _ in names]
        line = ",".join([day, *cells])
        if rng.random() < 0.05:
            line = ",".join(line.split(",")[: rng.randint(1, width + 1)])  # short
        if rng.random() < 0.03:
            line += ",9.5"  # long
        lines.append(line)
        if rng.random() < 0.04:
            lines.append(rng.choice(["", "   ", ",,", ","]))
    end = rng.choice(["\n", "\n", "\n", "\r\n", "\r", ""])
    text = end.join(lines) + (end if rng.random() < 0.9 else "")
    if rng.random() < 0.05:
        text = codecs.BOM_UTF8.decode() + text
    return text


def outcome(read, path):
    try:
        return read(path)
    except InputError as exc:
        return str(exc)


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return (
        a.index.equals(b.index)
        and list(a.columns) == list(b.columns)
        and a.to_numpy().tobytes() == b.to_numpy().tobytes()
    )


def test_fast_read_agrees_with_the_cell_by_cell_read(tmp_path):
    rng = random.Random(20261204)
    fast_accepted = 0
    for case in range(CASES):
        path = tmp_path / f"prices{case}.csv"
        path.write_bytes(random_file(rng).encode("utf-8"))
        by_cell = outcome(read_prices_by_cell, path)
        fast = prices_from_numbers(read_wide_numbers(path))
        if fast is not None:
            fast_accepted += 1
            assert isinstance(by_cell, pd.DataFrame), (case, path.read_bytes(), by_cell)
            assert same(fast, by_cell), (case, path.read_bytes())
        assert same(outcome(read_prices, path), by_cell), (case, path.read_bytes())
    assert fast_accepted > CASES // 4, fast_accepted


def test_fast_read_takes_the_plain_files(tmp_path):
    rng = np.random.default_rng(3)
    prices = pd.DataFrame(
        rng.lognormal(4, 1, (30, 40)).round(4),
        index=pd.bdate_range("2026-01-01", periods=30, name="date"),
        columns=[f"S{i}" for i in range(40)],
    )
    prices.iloc[3, 5] = np.nan
    path = tmp_path / "prices.csv"
    prices.to_csv(path, date_format="%Y-%m-%d")
    assert read_wide_numbers(path) is not None
    read = read_prices(path)
    assert same(read, read_prices_by_cell(path))
    prices.index = prices.index.as_unit("ns")
    pd.testing.assert_frame_equal(read, prices, check_freq=False, check_column_type=False)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("-1", "expected a number >= 1e-06, got '-1'"),
        ("nan", "expected a number >= 1e-06, got 'nan'"),
        ("1e500", "expected a number >= 1e-06, got '1e500'"),
        ("4\x0c5", "holds the control character U+000C"),
    ],
)
def test_a_bad_cell_is_named_whichever_read_meets_it(tmp_path, cell, says):
    path = tmp_path / "prices.csv"
    path.write_text(f"date,A,B\n2026-01-02,1.5,2\n2026-01-05,3,{cell}\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_prices(path)
    assert says in str(raised.value)
    assert "row 3" in str(raised.value) and str(path) in str(raised.value)


def test_cr_line_ends_a_quoted_last_cell_and_no_final_line_break_read(tmp_path):
    # the check for a last row cut short re-read such a file with a reader that took
    # the CR for a break inside a cell, and raised (a traceback, not a message)
    path = tmp_path / "prices.csv"
    path.write_bytes(b'date,A,B\r2026-01-02,1.5,2\r2026-01-05,3,"4.5"')
    expected = pd.DataFrame(
        [[1.5, 2.0], [3.0, 4.5]],
        index=pd.DatetimeIndex(["2026-01-02", "2026-01-05"], name="date").as_unit("ns"),
        columns=pd.Index(["A", "B"], dtype=object),
    )
    for read in (read_prices, read_prices_by_cell):
        pd.testing.assert_frame_equal(read(path), expected)
