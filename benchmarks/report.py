"""Benchmark tables: printed, and with ``--readme`` written into README.md.

Each benchmark builds a :class:`Table` and calls :meth:`Table.emit`. The table is
always printed; with ``readme=True`` it also replaces the block between
``<!-- bench:KEY -->`` and ``<!-- /bench:KEY -->`` in the README's performance
section, headed by the command that produced it, the date and the machine, so the
figures a reader sees are the last ones measured and say where they came from.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f", {int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def machine() -> str:
    """One line: CPU, cores, memory and the versions the figures depend on."""
    return (
        f"{_cpu()}, {os.cpu_count()} cores{_memory_gib()}; Python {platform.python_version()}, "
        f"cvxpy {_version('cvxpy')}, Clarabel {_version('clarabel')}, "
        f"PyPortfolioOpt {_version('pyportfolioopt')}"
    )


def working_set(names: int, rounds: int) -> str:
    """'458 names, 3 pricing rounds'."""
    return f"{names} names, {rounds} pricing round{'' if rounds == 1 else 's'}"


def command_line() -> str:
    """The command that ran this benchmark, as a reader would type it."""
    module = Path(sys.argv[0]).stem
    args, skip = [], False
    for arg in sys.argv[1:]:  # where the outputs go does not change what is measured
        if skip or arg == "--readme":
            skip = False
            continue
        if arg == "--keep":
            skip = True
            continue
        args.append(arg)
    return " ".join([".venv/bin/python -m", f"benchmarks.{module}", *args])


@dataclass
class Table:
    """A benchmark's result: columns, rows of already formatted cells, and notes
    (one line each) printed under it."""

    key: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def text(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.columns, *self.rows]) for i in range(len(self.columns))
        ]
        lines = [
            "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True))
            for r in [self.columns, *self.rows]
        ]
        return "\n".join([*lines, *self.notes])

    def markdown(self) -> str:
        head = f"| {' | '.join(self.columns)} |"
        rule = f"|{'|'.join('---' for _ in self.columns)}|"
        body = [f"| {' | '.join(r)} |" for r in self.rows]
        return "\n".join([head, rule, *body])

    def emit(self, readme: bool = False) -> None:
        print(machine())
        print(self.text(), flush=True)
        if readme:
            write_readme(self.key, self.block())
            print(f"written to {README.name} (bench:{self.key})")

    def block(self) -> str:
        notes = "".join(f"\n{n}" for n in self.notes)
        return (
            f"`{command_line()}` — {dt.date.today():%Y-%m-%d}, {machine()}:\n\n"
            f"{self.markdown()}\n{notes}"
        ).rstrip()


def write_readme(key: str, block: str, path: Path = README) -> None:
    """Replace the text between this key's markers in ``path`` (whole file rewritten
    through a temporary file, so a failure leaves the old README)."""
    text = path.read_text()
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path.name}: no '{start}' ... '{end}' block to write into")
    new = pattern.sub(lambda _m: f"{start}\n{block}\n{end}", text)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new)
    tmp.replace(path)
