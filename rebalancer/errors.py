"""Errors a user can cause, each with a message that names the place.

Programming errors are left to raise as ordinary exceptions; everything a user
can get wrong (a bad file, a bad scenario, a request no portfolio can meet) is a
``RebalancerError`` whose ``str()`` is one line fit for the console, and whose
``exit_code`` is the CLI contract of docs/contracts.md §3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Line breaks and other control characters (C0, DEL, C1, the Unicode line and paragraph
# separators): a message quotes cells and keys as found, and these must not reach a
# console raw, where they would break the one line or act as terminal escapes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """``text`` with every control character written as its escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    code = ord(char)
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class RebalancerError(Exception):
    """Base of all user-caused errors. ``str(err)`` is the one line to print."""

    exit_code = 1

    def __str__(self) -> str:
        return one_line(super().__str__())


class InputError(RebalancerError):
    """A bad input file: names the file, the spreadsheet row and the column.

    ``row`` is 1-based as a spreadsheet shows it (the header is row 1, the first
    data row is row 2); ``None`` when the problem is the file as a whole.
    """

    def __init__(
        self,
        path: str | Path | None,
        message: str,
        *,
        row: int | None = None,
        column: str | tuple[str, ...] | None = None,
    ):
        self.path = str(path) if path is not None else None
        self.row = row
        self.column = column
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.path or "<input>"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if isinstance(self.column, tuple):  # cells that disagree: every column named
            where.append("columns " + " and ".join(f"'{c}'" for c in self.column))
        elif self.column is not None:
            where.append(f"column '{self.column}'")
        return one_line(f"{', '.join(where)}: {self.message}")


class InputWarning(InputError):
    """Input that is usable today but will not be once a planned feature needs it (a
    household whose accounts disagree, ``inputs.households``): ``validate`` prints it as
    a warning and it fails nothing."""


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run before it wrote anything (a book still planning:
    reading its inputs, checking its outputs, connecting to Dask): exit 128 + the
    signal's number, one line. A KeyboardInterrupt, so that no handler of errors on
    the way out takes it for a problem of an input, and an event loop passes it on
    (asyncio logs any other exception raised in a callback, where a signal handler
    may run, and goes on waiting)."""

    def __init__(self, signum: int, message: str):
        self.exit_code = 128 + signum
        super().__init__(message)

    def __str__(self) -> str:
        return one_line(super().__str__())


class ScenarioError(RebalancerError):
    """A bad scenario file: names the file and the key path (``constraints.max_turnover``)."""

    def __init__(self, path: str | Path | None, message: str, *, key: str | None = None):
        self.path = str(path) if path is not None else None
        self.key = key
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<scenario>"
        if self.key:
            where += f", key '{self.key}'"
        return one_line(f"{where}: {self.message}")


class ScenarioWarning(ScenarioError):
    """A scenario setting the universe leaves without effect (``universe.scenario_fit``):
    ``validate`` prints it as a warning and it fails nothing; a proposal lists it among
    its warnings."""


# what ``validate`` reports as warnings, failing nothing
WARNINGS = (ScenarioWarning, InputWarning)


class SolverFailure(RebalancerError, RuntimeError):
    """Every solver of the chain failed on a request (numerical trouble, not a conflict
    of limits): one line naming each solver and how it ended, never a traceback."""


@dataclass(frozen=True)
class Conflict:
    """One limit the elastic solve had to relax, and by how much."""

    constraint: str  # the limit as an advisor names it, e.g. "max_turnover"
    limit: float  # the value the scenario asks for
    needed: float  # the value the closest feasible portfolio reaches
    detail: str = ""
    key: str = ""  # the scenario setting that states the limit, e.g. "constraints.max_turnover"
    # a per-name cap (position, liquidity): (ticker, value needed, cap) of each name over it
    names: tuple[tuple[str, float, float], ...] = ()
    # the optimizer's name for the constraint that gave (``Limit.name`` in
    # rebalancer.optimize.constraints) and, for a limit per group, the group: the
    # optimizer knows no scenario key, ``rebalancer.limits`` maps these to one
    source: str = ""
    group: str = ""

    @property
    def gap(self) -> float:
        return self.needed - self.limit

    def describe(self) -> str:
        text = f"{self.constraint} {figure(self.limit)} would need {figure(self.needed)}"
        return f"{text} ({self.detail})" if self.detail else text


def figure(value: float) -> str:
    """A limit as a message states it: a weight to 5 significant digits, dollars (a gain
    budget) to the cent."""
    return f"{value:.2f}" if abs(value) >= 100 else f"{value:.5g}"


@dataclass
class InfeasibleError(RebalancerError):
    """No portfolio meets every hard limit; ``conflicts`` names the limits to relax."""

    account: str
    conflicts: list[Conflict] = field(default_factory=list)
    binding: list[str] = field(default_factory=list)
    relaxation: list[str] = field(default_factory=list)  # what --relax would change
    unrelaxable: list[str] = field(default_factory=list)  # conflicts no scenario change lifts
    exit_code = 3

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.conflicts:
            return one_line(
                f"account {self.account}: infeasible, and the elastic solve found no single "
                "limit to blame"
            )
        parts = "; ".join(c.describe() for c in self.conflicts)
        text = f"account {self.account}: infeasible: the limits conflict: {parts}"
        if self.binding:
            text += f"; held against: {', '.join(self.binding)}"
        if self.relaxation:
            text += f"; smallest relaxation (--relax applies it): {', '.join(self.relaxation)}"
        if self.unrelaxable:
            text += (
                "; no scenario relaxation makes it feasible (--relax cannot help): "
                + ", ".join(self.unrelaxable)
            )
        return one_line(text)


def nearest(word: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.5) -> str | None:
    """The closest valid name to a misspelt one, for 'did you mean' hints."""
    import difflib  # late: the CLI imports this module for --help too

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None
