"""The backtest's dated signals: ``--signals FILE``, the universe's signal, ADV and
market-cap columns as they were at each date.

The file is long: ``date``, ``ticker`` and at least one of ``DATED_COLUMNS`` (the
universe's column names, each cell checked as the universe checks it; a blank cell
gives no value that date), ``.csv``, ``.xlsx`` or Parquet. At a rebalance date ``t`` each
ticker's value of a column is the one of its latest row dated on or before ``t``
whose cell is not blank (an as-of join: a row dated after ``t`` is never seen). A
ticker with no such row yet keeps the universe file's value, and the backtest warns
how many did. A column the file lacks is the universe's at every date, and the
backtest says which (``warnings``).

A bad cell, a ticker the universe lacks, a column outside ``DATED_COLUMNS`` or a
ticker dated twice raises ``InputError`` naming the file, row and column.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.errors import InputError
from rebalancer.inputs.cells import Date, parse_columns
from rebalancer.inputs.readers import SIGNALS, UNIVERSE_CELLS, Ticker
from rebalancer.inputs.tables import ROW, read_table, require_columns

# the universe columns a dated signals file may give (docs/contracts.md §1)
DATED_COLUMNS = ("market_cap", "adv", *SIGNALS, "income_yield")
KEYS = ("date", "ticker")


def _cell(column: str):
    """The universe's cell rule for ``column``, a blank allowed (no value that date)."""
    return dataclasses.replace(UNIVERSE_CELLS[column], required=False, default=np.nan)


@dataclass
class DatedSignals:
    """Per column of the file, its values wide (dates × tickers), each blank carried
    from the row before (the as-of value of every date of the file)."""

    columns: tuple[str, ...]
    wide: dict[str, pd.DataFrame]

    def values(self, column: str, day: pd.Timestamp, tickers: pd.Index) -> pd.Series:
        """``column`` of each of ``tickers`` as of ``day``; NaN where none yet."""
        seen = self.wide[column].loc[:day]
        return (seen.iloc[-1] if len(seen) else pd.Series(dtype=float)).reindex(tickers)

    def as_of(self, day: pd.Timestamp, universe: pd.DataFrame) -> pd.DataFrame:
        """``universe`` with each column of the file replaced by its value as of
        ``day`` (a name without one yet keeps the universe's)."""
        out = universe.copy()
        for column in self.columns:
            dated = self.values(column, day, out.index).to_numpy(float)
            out[column] = np.where(np.isnan(dated), out[column].to_numpy(float), dated)
        return out

    def warnings(self, dates: pd.DatetimeIndex, tickers: pd.Index) -> list[str]:
        """One line per column whose universe value stood in for a dated one at some
        of ``dates``: how many name-dates."""
        lines = []
        for column in self.columns:
            n = sum(int(self.values(column, d, tickers).isna().sum()) for d in dates)
            if n:
                lines.append(
                    f"--signals: {column} had no dated value for {n:,} of {len(tickers):,} "
                    f"names × {len(dates)} rebalance dates (name-dates); the universe "
                    "file's value was used there"
                )
        return lines


def read_signals(path, tickers: pd.Index) -> DatedSignals:
    """The dated signals file (module docstring); every ticker in ``tickers``."""
    table = read_table(path, allow_empty=True)
    require_columns(table, KEYS, path)
    given = [c for c in table.columns if c not in (*KEYS, ROW)]
    unknown = [c for c in given if c not in DATED_COLUMNS]
    if unknown:
        raise InputError(path, f"expected columns among {', '.join(DATED_COLUMNS)}",
                         column=unknown[0])  # fmt: skip
    if not given:
        raise InputError(path, f"expected at least one of {', '.join(DATED_COLUMNS)}")
    columns = tuple(c for c in DATED_COLUMNS if c in given)
    cells = {"date": Date(required=True), "ticker": Ticker(allow_cash=False)}
    frame = pd.DataFrame(parse_columns(table, path, {**cells, **{c: _cell(c) for c in columns}}))
    frame[ROW] = table[ROW].to_numpy()
    unknown_ticker = ~frame["ticker"].isin(tickers)
    if unknown_ticker.any():
        first = frame[unknown_ticker].iloc[0]
        raise InputError(path, f"ticker '{first['ticker']}' is not in the universe",
                         row=int(first[ROW]), column="ticker")  # fmt: skip
    twice = frame.duplicated(list(KEYS))
    if twice.any():
        first = frame[twice].iloc[0]
        raise InputError(path, f"ticker '{first['ticker']}' is dated {first['date']:%Y-%m-%d} "
                         "twice", row=int(first[ROW]), column="date")  # fmt: skip
    wide = {
        c: frame.pivot(index="date", columns="ticker", values=c).sort_index().ffill()
        for c in columns
    }
    return DatedSignals(columns, wide)


def constant_columns(signals: DatedSignals | None, universe: pd.DataFrame) -> list[str]:
    """The ``DATED_COLUMNS`` the universe gives a value (a signal not all blank, a
    yield not all 0) that no dated file covers: today's at every date."""
    covered = () if signals is None else signals.columns
    return [c for c in DATED_COLUMNS if c in universe.columns and c not in covered
            and universe[c].fillna(0.0).ne(0.0).any()]  # fmt: skip
