"""Screen conditions: ``leverage <= 3``, ``roa > 0 and adv >= 1e6``.

A condition is comparisons of a universe column with a number, joined with
``and`` (or ``&``). It is tokenised and parsed here, never evaluated by Python.
A name whose value is missing fails the comparison: a screen is due diligence,
and an unknown balance sheet has not passed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.errors import nearest

NUMERIC_COLUMNS = (
    "price", "market_cap", "adv", "lot_size", "pb", "pe", "roa", "momentum", "leverage",
    "floating_debt_pct", "beta",
)  # fmt: skip
OPERATORS = {
    "<=": np.less_equal, ">=": np.greater_equal, "<": np.less, ">": np.greater,
    "==": np.equal, "!=": np.not_equal,
}  # fmt: skip
_COMPARISON = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$"
)


class ExpressionError(ValueError):
    """A condition that does not parse; the message is fit for the user."""


@dataclass(frozen=True)
class Comparison:
    column: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Condition:
    comparisons: tuple[Comparison, ...]

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.comparisons)

    @property
    def columns(self) -> list[str]:
        return [c.column for c in self.comparisons]

    def holds(self, universe: pd.DataFrame) -> np.ndarray:
        """True where every comparison holds (missing values fail)."""
        ok = np.ones(len(universe), dtype=bool)
        for c in self.comparisons:
            x = universe[c.column].astype(float).to_numpy()
            with np.errstate(invalid="ignore"):
                ok &= np.isfinite(x) & OPERATORS[c.op](x, c.value)
        return ok


def has_values(universe: pd.DataFrame, column: str) -> bool:
    """Whether the universe gives any value in ``column`` (the reader fills an optional
    column the file lacks with blanks, so a column left out and one left blank
    throughout look the same)."""
    return column in universe and bool(universe[column].notna().any())


def parse_condition(text: str) -> Condition:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("a condition must be text like 'leverage <= 3'")
    parts = re.split(r"\s+and\s+|\s*&\s*", text.strip(), flags=re.IGNORECASE)
    out = []
    for part in parts:
        m = _COMPARISON.match(part)
        if not m:
            raise ExpressionError(
                f"'{part}' is not 'column op number' (ops: {', '.join(OPERATORS)})"
            )
        column = m.group(1).lower()
        if column not in NUMERIC_COLUMNS:
            hint = nearest(column, NUMERIC_COLUMNS)
            raise ExpressionError(
                f"unknown column '{column}'"
                + (
                    f" (did you mean '{hint}'?)"
                    if hint
                    else f" (one of {', '.join(NUMERIC_COLUMNS)})"
                )
            )
        out.append(Comparison(column, m.group(2), float(m.group(3))))
    return Condition(tuple(out))
