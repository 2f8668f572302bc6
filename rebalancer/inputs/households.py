"""What the accounts of one household must share once a household is solved as one
problem (issue 17; docs/households.md): one scenario and one benchmark.

Today every account is solved alone and a household only joins the wash-sale window,
so ``validate --accounts`` reports a disagreement as a warning
(``household_warnings``); when households are solved together the same check refuses
the accounts file in ``validate`` and ``batch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rebalancer.errors import InputWarning
from rebalancer.inputs.readers import listed_names
from rebalancer.inputs.tables import ROW

# the columns a household's accounts must agree on: its combined portfolio has one
# scenario (tilts, limits, taxes) and one reference to measure them against
SHARED = ("scenario", "benchmark")


@dataclass(frozen=True)
class Disagreement:
    """The accounts of ``household`` name more than one value in ``column``: ``values``
    maps each value as written ("" for a blank cell) to its accounts, in file order;
    ``row`` is the first row that differs from the household's first account."""

    household: str
    column: str
    values: dict[str, tuple[str, ...]]
    row: int

    def message(self) -> str:
        named = ", ".join(
            f"{value or '(blank)'} ({listed_names(list(accounts))})"
            for value, accounts in self.values.items()
        )
        return (
            f"household {self.household} names different {self.column}s: {named}; households "
            f"will be solved as one problem, with one {self.column}"
        )


def household_disagreements(accounts: pd.DataFrame) -> list[Disagreement]:
    """Each household (the ``household`` column, blank: none) whose accounts name more
    than one scenario or benchmark (``SHARED``, compared as written), in the order of
    the households' first rows, then ``SHARED``'s order."""
    if "household" not in accounts:
        return []
    found = []
    members = accounts[accounts["household"] != ""]
    for household, rows in members.groupby("household", sort=False):
        for column in SHARED:
            if column not in rows:
                continue
            cells = rows[column].fillna("").astype(str)
            if cells.nunique() < 2:
                continue
            values = {
                value: tuple(rows.loc[cells == value, "account"].astype(str))
                for value in dict.fromkeys(cells)
            }
            first_other = int(rows.loc[cells != cells.iloc[0], ROW].iloc[0])
            found.append(Disagreement(str(household), column, values, first_other))
    return found


def household_warnings(accounts: pd.DataFrame, path: str | Path) -> list[InputWarning]:
    """``household_disagreements`` as warnings naming the accounts file, the row and
    the column (``validate --accounts``)."""
    return [
        InputWarning(path, d.message(), row=d.row, column=d.column)
        for d in household_disagreements(accounts)
    ]
