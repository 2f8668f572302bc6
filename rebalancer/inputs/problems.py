"""The problems a reader finds in one file: raised at the first (``propose``, ``batch``)
or collected, every one of them (``validate``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rebalancer.errors import InputError

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
