"""Reading a proposal's JSON summary for ``verify``: a file that may have been edited.

Nothing in it is trusted before it has been checked. The file must be a regular
file of at most ``MAX_SUMMARY_BYTES`` (a FIFO, a device such as ``/dev/zero`` or a
huge file is refused from its ``fstat``, before a byte is read, so nothing hangs or
fills memory); the text strict JSON (no ``NaN``/``Infinity``, no number beyond a
float, no integer of more than ``MAX_INT_DIGITS`` digits, nesting at most
``MAX_DEPTH`` deep); and every value ``verify`` reads of the expected type and
range (``shape_problems``: one line per problem, naming the key path).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import stat
from collections.abc import Callable
from typing import Any

from rebalancer.errors import InputError
from rebalancer.inputs.readers import ACCOUNT_TYPES

MAX_SUMMARY_BYTES = 64 << 20  # a 100,000-lot account's summary is about 10 MB
MAX_INPUT_BYTES = 1 << 40  # what a recorded input or output may weigh
MAX_INT_DIGITS = 30
MAX_DEPTH = 32  # a summary nests 7 deep
MAX_PROBLEMS = 50
SHA256 = re.compile(r"[0-9a-f]{64}")
INPUT_ROLES = ("universe", "holdings", "scenario", "prices", "benchmark", "accounts")
INPUT_ROLES += ("trade_history",)
OUTPUT_ROLES = ("trades", "workbook", "orders", "report")


def open_regular(path: str | os.PathLike[str], max_bytes: int | None = None) -> int:
    """A file descriptor of ``path`` opened for reading, once ``fstat`` shows a regular
    file (of at most ``max_bytes``). Opening does not block on a FIFO (``O_NONBLOCK``)
    and the checks are of the file opened, so a file swapped in between cannot slip by.
    Raises ``InputError`` naming what the path is instead."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(path, f"is {_file_kind(st.st_mode)}, not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise InputError(path, f"is {st.st_size:,} bytes, more than {max_bytes:,}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def read_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed JSON summary at ``path`` (see the module docstring); ``InputError``
    when it is not a file, too large, not strict JSON or not a JSON object."""
    fd = open_regular(path, MAX_SUMMARY_BYTES)
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_SUMMARY_BYTES + 1)
    if len(raw) > MAX_SUMMARY_BYTES:  # grew since fstat
        raise InputError(path, f"is more than {MAX_SUMMARY_BYTES:,} bytes")
    try:
        summary = json.loads(
            raw.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_short_int,
        )
    except UnicodeDecodeError:
        raise InputError(path, "not a JSON proposal summary (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            path, f"not a JSON proposal summary (line {exc.lineno}: {exc.msg})"
        ) from None
    except _NotStrict as exc:
        raise InputError(path, f"not a JSON proposal summary ({exc})") from None
    except RecursionError:  # the parser's own guard against deep nesting
        raise InputError(path, f"nested more than {MAX_DEPTH} levels deep") from None
    if not isinstance(summary, dict):
        raise InputError(path, "not a JSON proposal summary (not a JSON object)")
    if _depth(summary) > MAX_DEPTH:
        raise InputError(path, f"nested more than {MAX_DEPTH} levels deep")
    return summary


class _NotStrict(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotStrict(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrict(f"the number {text[:20]} is beyond a float's range")
    return value


def _short_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotStrict(f"an integer of {len(text.lstrip('-')):,} digits")
    return int(text)


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list) and depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


# --- the shape of what verify reads ---------------------------------------------------

# a check: (value, where, problems) -> None, adding "where: what is wrong" to problems
Check = Callable[[Any, str, list[str]], None]


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, dict | list) else type(value).__name__
    return f"{text[:40]}..." if len(text) > 43 else text


def number(lo: float | None = None, hi: float | None = None, *, whole: bool = False) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{where}: expected a number, got {_shown(value)}")
        elif whole and value != int(value):
            problems.append(f"{where}: expected a whole number, got {_shown(value)}")
        elif (lo is not None and value < lo) or (hi is not None and value > hi):
            problems.append(f"{where}: {_shown(value)} is outside [{lo}, {hi}]")

    return check


def text(max_chars: int = 4096, pattern: re.Pattern[str] | None = None, what: str = "") -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            problems.append(f"{where}: expected text, got {_shown(value)}")
        elif not value or len(value) > max_chars or "\x00" in value:
            problems.append(f"{where}: expected text of 1 to {max_chars:,} characters")
        elif pattern is not None and not pattern.fullmatch(value):
            problems.append(f"{where}: expected {what}, got {_shown(value)}")

    return check


def flag(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(f"{where}: expected true or false, got {_shown(value)}")


def iso_date(value: Any, where: str, problems: list[str]) -> None:
    try:
        ok = isinstance(value, str) and 1900 <= dt.date.fromisoformat(value).year <= 2099
    except ValueError:
        ok = False
    if not ok:
        problems.append(f"{where}: expected a date YYYY-MM-DD in 1900-2099, got {_shown(value)}")


def one_of(*choices: Any) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if not any(value == c and type(value) is type(c) for c in choices):
            listed = ", ".join(json.dumps(c) for c in choices)
            problems.append(f"{where}: expected one of {listed}, got {_shown(value)}")

    return check


def nullable(inner: Check) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if value is not None:
            inner(value, where, problems)

    return check


def record(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """An object with the ``required`` keys and perhaps the ``optional`` ones (others are
    not read by verify and are left to the summary's digest)."""

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {_shown(value)}")
            return
        for key, inner in required.items():
            if key not in value:
                problems.append(f"{where}: no key '{key}'")
            else:
                inner(value[key], f"{where}.{key}", problems)
        for key, inner in (optional or {}).items():
            if key in value:
                inner(value[key], f"{where}.{key}", problems)

    return check


def mapping(keys: tuple[str, ...], inner: Check) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {_shown(value)}")
            return
        for key, item in value.items():
            if key not in keys:
                problems.append(f"{where}: unknown key {_shown(key)}")
            else:
                inner(item, f"{where}.{key}", problems)

    return check


def keyed(inner: Check, max_items: int = 100_000) -> Check:
    """An object of any text keys (group selectors), each value passing ``inner``."""

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {_shown(value)}")
            return
        _each(((f".{key[:60]}", item) for key, item in value.items()), len(value), inner,
              max_items, where, problems)  # fmt: skip

    return check


def _each(entries, count: int, inner: Check, max_items: int, where: str, problems: list[str]):
    """``inner`` on each (label, value) of a list or object of ``count`` entries, until
    ``MAX_PROBLEMS`` are found."""
    if count > max_items:
        problems.append(f"{where}: more than {max_items:,} entries")
        return
    for label, item in entries:
        inner(item, f"{where}{label}", problems)
        if len(problems) > MAX_PROBLEMS:
            return


def string(value: Any, where: str, problems: list[str]) -> None:
    """Text, empty allowed."""
    if not isinstance(value, str) or len(value) > 4096:
        problems.append(f"{where}: expected text of at most 4,096 characters, got {_shown(value)}")


def items(inner: Check, max_items: int = 10_000_000) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {_shown(value)}")
            return
        _each(((f"[{i}]", item) for i, item in enumerate(value)), len(value), inner,
              max_items, where, problems)  # fmt: skip

    return check


def any_object(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where}: expected an object, got {_shown(value)}")


USD = number(-1e15, 1e15)
FRACTION = number(-1e6, 1e6)  # of NAV: a weight, an exposure, a loss
DIGEST = text(64, SHA256, "a SHA-256 (64 lowercase hex digits)")
PATH = text(4096)


def _file(required_digest: bool) -> Check:
    """A recorded file: path, SHA-256 and size (an input passed in memory has neither)."""
    size = number(0, MAX_INPUT_BYTES, whole=True)
    if required_digest:
        return record({"path": PATH, "sha256": DIGEST, "bytes": size})
    return record({"path": PATH, "sha256": nullable(DIGEST), "bytes": nullable(size)})


SUMMARY = record(
    {
        "cash_after": nullable(USD),
        "buys": nullable(USD),
        "sells": nullable(USD),
        "turnover": nullable(number(-1e6, 1e6)),
        "n_trades": number(0, 1e9, whole=True),
        "checks": items(record({"check": text(), "ok": flag})),
        "lot_sales": items(
            record(
                {
                    "ticker": text(),
                    "lot_id": text(),
                    "quantity_sold": number(0, 1e15),
                }
            )
        ),
        "exposures": record(
            {kind: keyed(nullable(FRACTION)) for kind in ("before", "after", "target")}
        ),
        "stress": items(
            record(
                {
                    "shock": text(),
                    "pnl_before_usd": USD,
                    "pnl_after_usd": USD,
                    "pct_before": FRACTION,
                    "pct_after": FRACTION,
                }
            ),
            max_items=10_000,
        ),
        "screened": items(record({"ticker": text(), "screen": text(), "values": string})),
        "manifest": record(
            {
                "manifest_version": number(whole=True),
                "account": text(),
                "as_of": iso_date,
                "taxable": flag,
                "lot_method": one_of("optimized", "hifo", "fifo"),
                "inputs": record(
                    {"universe": _file(True), "holdings": _file(True), "scenario": _file(True)},
                    {role: _file(False) for role in INPUT_ROLES[3:]},
                ),
                "outputs": mapping(OUTPUT_ROLES, _file(True)),
                "scenario": any_object,  # checked by the scenario schema itself
                "scenario_sha256": DIGEST,
                "summary_sha256": DIGEST,
                "relaxed": items(
                    record(
                        {
                            "constraint": text(),
                            "key": text(),
                            "limit": number(-1e15, 1e15),
                            "relaxed_to": number(-1e15, 1e15),
                        }
                    ),
                    max_items=100,
                ),
            },
            {"book_model": record({"scenario": PATH, "probes": items(text(), 100)})},
        ),
    },
    {
        "realized_gain": nullable(USD),
        # added later: read where a summary has them
        "account_type": one_of(*ACCOUNT_TYPES),
        "income_tax_before": nullable(USD),
        "income_tax": nullable(USD),
    },
)


def shape_problems(summary: dict[str, Any]) -> list[str]:
    """Every value ``verify`` reads that is missing, of the wrong type or out of range:
    one line each (at most ``MAX_PROBLEMS``, then how many more)."""
    problems: list[str] = []
    SUMMARY(summary, "JSON", problems)
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], f"... and {more} more"]
    return problems
