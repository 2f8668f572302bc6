"""Corrupted inputs through the real command line: refused cleanly, nothing written.

Every input of ``rebalancer propose`` (holdings, universe, prices, benchmark, accounts,
trade history, scenario) is corrupted the ways files really break — cut short, saved in
the wrong encoding or with the wrong separator, numbers that are no numbers, binary
junk, hostile YAML — and the command is run in-process with all three outputs asked
for, in a folder where two of them already exist with known bytes. Each corrupted file
must give exit code 1, exactly one line naming the file (and the row and column, or
the scenario key, where there is one), no traceback, and leave the output folder byte
for byte as it was. A file that is still valid (a UTF-8 byte-order mark, formula-like
names) must work and write every output. ``validate`` and ``batch`` get a few of the
same files: one line, nothing written (``batch`` stops before its output folder).

Then a seeded random mutator (bit flips, byte deletions and insertions, line shuffles,
cut files, odd cells) makes a few hundred more files; for those any of exit 0 (the
file is still valid: every output written, whole), exit 1 or exit 3 (one clean line,
nothing written) is fine, and nothing else is. ``REBALANCER_FUZZ_CASES=2000`` runs
more of them.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from rebalancer.cli import main
from tests.conftest import SCENARIOS, make_holdings, make_universe

AS_OF = "2026-11-20"
FUZZ_CASES = int(os.environ.get("REBALANCER_FUZZ_CASES", "210"))
FUZZ_SEED = int(os.environ.get("REBALANCER_FUZZ_SEED", "20261120"))

# role -> (CLI option, file name)
INPUTS = {
    "holdings": ("--holdings", "holdings.csv"),
    "universe": ("--universe", "universe.csv"),
    "prices": ("--prices", "prices.csv"),
    "benchmark": ("--benchmark", "benchmark.csv"),
    "accounts": ("--accounts", "accounts.csv"),
    "trade_history": ("--trade-history", "history.csv"),
    "scenario": ("--scenario", "scenario.yaml"),
}
CSV_ROLES = [role for role in INPUTS if role != "scenario"]
OUTPUTS = {"--out": "sheet.xlsx", "--trades": "trades.csv", "--json": "summary.json"}
# two of the three outputs exist before each run; the trades CSV does not
OLD_OUTPUTS = {"sheet.xlsx": b"PK\x03\x04 an old workbook", "summary.json": b'{"old": true}\n'}
# a numeric column of each CSV input, and the spreadsheet row corrupted in it
NUMERIC_CELL = {
    "holdings": ("quantity", 3),
    "universe": ("market_cap", 4),
    "prices": ("S020", 5),
    "benchmark": ("weight", 3),
    "accounts": ("cash_target", 2),
    "trade_history": ("price", 3),
}
SCENARIO = """\
# a small-cap tilt on the house base (found in the shipped library)
name: Fuzz
extends: base.yaml
risk_aversion: 5
tilts:
  "size:small": {target: 0.02, band: 0.02}
constraints:
  max_turnover: 0.30
"""
# what a user's terminal would show: Python hides these categories by default
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


# --- the market every case starts from -------------------------------------------------


def write_market(folder: Path, n_names: int = 30) -> dict[str, Path]:
    """Valid inputs of one taxable account, small enough to solve in a fraction of a second."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {role: folder / name for role, (_, name) in INPUTS.items()}
    uni = make_universe(n_names)
    hold = make_holdings(uni, n_names=20)
    uni.to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)
    rng = np.random.default_rng(3)
    steps = rng.normal(0.0003, 0.015, (80, n_names))
    closes = uni["price"].to_numpy() * np.exp(np.cumsum(steps, axis=0))
    prices = pd.DataFrame(
        closes.round(3), index=pd.bdate_range("2026-06-01", periods=80), columns=uni["ticker"]
    )
    prices.to_csv(paths["prices"], index_label="date", date_format="%Y-%m-%d")
    top = uni.sort_values("market_cap")["ticker"].tail(16)
    pd.DataFrame({"ticker": top, "weight": 1 / 16}).to_csv(paths["benchmark"], index=False)
    paths["accounts"].write_text(
        "account,scenario,benchmark,taxable,cash_target,household\n"
        "ACC1,scenario.yaml,benchmark.csv,true,0.02,H1\n"
    )
    held = hold["ticker"].iloc[0]
    paths["trade_history"].write_text(
        "account,ticker,date,side,quantity,price,realized_gain\n"
        f"ACC1,{held},2026-11-02,BUY,10,100.5,\n"
        "ACC1,S003,2026-10-20,SELL,5,20.25,-31.5\n"
        "ACC1,S004,2026-09-01,SELL,7,31.00,12.75\n"
    )
    paths["scenario"].write_text(SCENARIO)
    return paths


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return write_market(tmp_path_factory.mktemp("pristine"))["holdings"].parent


@dataclass
class Case:
    """One run's folder: the inputs (copied from the pristine market) and the outputs."""

    folder: Path
    paths: dict[str, Path]
    out: Path

    @classmethod
    def make(cls, pristine: Path, folder: Path) -> Case:
        shutil.copytree(pristine, folder)
        out = folder / "out"
        out.mkdir()
        for name, data in OLD_OUTPUTS.items():
            (out / name).write_bytes(data)
        paths = {role: folder / name for role, (_, name) in INPUTS.items()}
        return cls(folder, paths, out)

    def corrupt(self, role: str, change: Callable[[bytes], bytes]) -> Path:
        path = self.paths[role]
        path.write_bytes(change(path.read_bytes()))
        return path

    def outputs(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.out.iterdir())}


@dataclass
class Run:
    result: Result
    seconds: float
    shown_warnings: list[str]

    @property
    def lines(self) -> list[str]:
        """The output's lines but warnings (``validate`` warns of scenario settings the
        universe leaves without effect, such as base.yaml's EM screens here)."""
        output = self.result.output.splitlines()
        return [line for line in output if line.strip() and not line.startswith("warning: ")]

    def describe(self) -> str:
        exc = self.result.exception
        crash = "" if exc is None or isinstance(exc, SystemExit) else f" raised {exc!r}"
        return (
            f"exit {self.result.exit_code}{crash} after {self.seconds:.2f}s; "
            f"output {self.result.output!r}; warnings {self.shown_warnings}"
        )


def invoke(args: list[object]) -> Run:
    """The CLI in-process, as a user runs it (exceptions kept, warnings a user would see)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
        seconds = time.perf_counter() - t0
    shown = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, HIDDEN_WARNINGS)
    ]
    return Run(result, seconds, shown)


def propose(case: Case, *extra: object, roles=tuple(INPUTS), quiet: bool = True) -> Run:
    args: list[object] = ["propose", "--as-of", AS_OF]
    for role in roles:
        args += [INPUTS[role][0], case.paths[role]]
    for flag, name in OUTPUTS.items():
        args += [flag, case.out / name]
    if "accounts" not in roles:  # the lots carry a cost basis: a tax status is needed
        args.append("--tax-exempt")
    return invoke([*args, *extra, *(["-q"] if quiet else [])])


# --- what a clean refusal and a clean success look like --------------------------------


def assert_no_crash(run: Run) -> None:
    exc = run.result.exception
    assert exc is None or isinstance(exc, SystemExit), run.describe()
    assert "Traceback" not in run.result.output, run.describe()
    assert not run.shown_warnings, run.describe()


def assert_refused(
    run: Run,
    case: Case | None,
    names: str | Path,
    *,
    row: int | None = None,
    column: str | None = None,
    key: str | None = None,
    code: int = 1,
    contains: str | None = None,
) -> str:
    """Exit ``code``, one line naming the file (row, column, key), outputs untouched."""
    assert_no_crash(run)
    assert run.result.exit_code == code, run.describe()
    assert len(run.lines) == 1, run.describe()
    line = run.lines[0]
    assert line in run.result.stderr, run.describe()
    assert line.startswith("error: " if code == 1 else "infeasible: "), run.describe()
    assert str(names) in line, run.describe()
    if row is not None:
        assert f", row {row}" in line, run.describe()
    if column is not None:
        assert f"column '{column}'" in line, run.describe()
    if key is not None:
        assert f"key '{key}'" in line, run.describe()
    if contains is not None:
        assert contains in line, run.describe()
    if case is not None:
        assert case.outputs() == OLD_OUTPUTS, "the outputs changed: " + run.describe()
    return line


def assert_written(run: Run, case: Case) -> None:
    """Exit 0 and every output written whole: a workbook, a trades CSV, a JSON summary."""
    assert_no_crash(run)
    assert run.result.exit_code == 0, run.describe()
    assert sorted(p.name for p in case.out.iterdir()) == sorted(OUTPUTS.values()), run.describe()
    summary = json.loads((case.out / "summary.json").read_text())
    assert {"account", "status", "nav", "n_trades", "exposures"} <= set(summary)
    with open(case.out / "trades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["account", "ticker", "side"]
    assert len(rows) - 1 == summary["n_trades"]
    book = openpyxl.load_workbook(case.out / "sheet.xlsx", read_only=True)
    assert book.sheetnames
    book.close()


# --- corruptions ----------------------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _n_rows(data: bytes) -> int:
    return len(data.splitlines())


def cut_mid_last_row(data: bytes) -> bytes:
    """The file cut in the middle of its last row, before that row's last cell."""
    lines = _lines(data)
    last = lines[-1].rstrip(b"\r\n")
    cut = last.rfind(b",") if b"," in last else len(last)  # YAML: mid-line
    return b"".join(lines[:-1]) + last[: min(len(last) // 2, cut)]


def cut_inside_quotes(data: bytes) -> bytes:
    """The last row's first cell opened with a quote that the end of the file cuts."""
    lines = _lines(data)
    return b"".join(lines[:-1]) + b'"' + lines[-1][:3]


def append_to_first_cell(row: int, extra: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        lines = _lines(data)
        first, rest = lines[row - 1].split(b",", 1)
        lines[row - 1] = first + extra + b"," + rest
        return b"".join(lines)

    return change


def latin1_in_row(row: int) -> Callable[[bytes], bytes]:
    return append_to_first_cell(row, "é".encode("latin-1"))


def set_cell(data: bytes, row: int, column: str, text: str) -> bytes:
    """The CSV with one cell's raw text replaced (``text`` is written as is, unquoted)."""
    lines = data.decode("utf-8").split("\n")
    header = lines[0].split(",")
    cells = lines[row - 1].split(",")
    cells[header.index(column)] = text
    lines[row - 1] = ",".join(cells)
    return "\n".join(lines).encode("utf-8")


def duplicate_header(data: bytes) -> bytes:
    lines = [line.rstrip(b"\r\n") for line in _lines(data)]
    second = lines[0].split(b",")[1]
    return b"".join([lines[0] + b"," + second + b"\n", *(line + b",x\n" for line in lines[1:])])


def garbage(seed: int, size: int = 3000) -> Callable[[bytes], bytes]:
    return lambda _: random.Random(seed).randbytes(size)


def utf16_no_bom(data: bytes) -> bytes:
    return data.decode("utf-8").encode("utf-16-le")


# (corruption id, change, the row named as a function of the pristine file's number of
# lines, text of the message)
CSV_CORRUPTIONS: list[tuple[str, Callable[[bytes], bytes], Callable[[int], int | None], str]] = [
    ("zero-bytes", lambda d: b"", lambda n: None, "file is empty"),
    ("blank-lines-only", lambda d: b"\r\n \n\n", lambda n: None, "file is empty"),
    ("header-only", lambda d: _lines(d)[0], lambda n: None, "no data rows"),
    ("cut-mid-row", cut_mid_last_row, lambda n: n, "looks cut short"),
    ("cut-inside-quotes", cut_inside_quotes, lambda n: n, "quoted cell is never closed"),
    ("utf16-bom", lambda d: d.decode("utf-8").encode("utf-16"), lambda n: None, "UTF-16"),
    ("utf16-no-bom", utf16_no_bom, lambda n: 1, "NUL"),
    ("utf32-bom", lambda d: d.decode("utf-8").encode("utf-32"), lambda n: None, "UTF-32"),
    ("latin1", latin1_in_row(2), lambda n: 2, "is not UTF-8"),
    ("semicolons", lambda d: d.replace(b",", b";"), lambda n: None, "separated by commas"),
    ("duplicate-header", duplicate_header, lambda n: 1, "duplicate column name"),
    ("binary-garbage", garbage(7), lambda n: None, "UTF-8"),
    ("binary-garbage-2", garbage(11, 64), lambda n: None, "UTF-8"),
]


@pytest.mark.parametrize("role", CSV_ROLES)
@pytest.mark.parametrize(
    ("name", "change", "row", "says"), CSV_CORRUPTIONS, ids=[c[0] for c in CSV_CORRUPTIONS]
)
def test_corrupted_csv_is_refused_naming_it_and_nothing_is_written(
    pristine, tmp_path, role, name, change, row, says
):
    case = Case.make(pristine, tmp_path / "case")
    lines = _n_rows(case.paths[role].read_bytes())
    path = case.corrupt(role, change)
    line = assert_refused(propose(case), case, path, row=row(lines), contains=says)
    if name == "duplicate-header":
        assert "column '" in line


@pytest.mark.parametrize("role", CSV_ROLES)
@pytest.mark.parametrize(
    "text", ["1e308", "-1e308", "1e400", "nan", "NaN", "inf", "-inf", "Infinity", '"1.234,50"']
)
def test_number_that_is_no_number_is_refused_naming_the_cell(pristine, tmp_path, role, text):
    case = Case.make(pristine, tmp_path / "case")
    column, row = NUMERIC_CELL[role]
    path = case.corrupt(role, lambda d: set_cell(d, row, column, text))
    assert_refused(propose(case), case, path, row=row, column=column, contains="expected a number")


@pytest.mark.parametrize("role", CSV_ROLES)
@pytest.mark.parametrize(
    "char", ["\x01", "\x1b[2J", "\x7f", "\x9b"], ids=["SOH", "ESC", "DEL", "CSI"]
)
def test_control_character_in_a_cell_is_refused_naming_it(pristine, tmp_path, role, char):
    """No workbook can hold it, and echoed to a console it is a terminal escape."""
    case = Case.make(pristine, tmp_path / "case")
    first = case.paths[role].read_text().split(",", 1)[0]
    path = case.corrupt(role, append_to_first_cell(2, char.encode("utf-8")))
    run = propose(case)
    assert_refused(run, case, path, row=2, column=first, contains="control character")
    assert "\x1b" not in run.result.output


@pytest.mark.parametrize("role", CSV_ROLES)
def test_decimal_comma_splits_the_row_and_is_refused_naming_it(pristine, tmp_path, role):
    case = Case.make(pristine, tmp_path / "case")
    column, row = NUMERIC_CELL[role]
    path = case.corrupt(role, lambda d: set_cell(d, row, column, "1.234,50"))
    assert_refused(propose(case), case, path, row=row, contains="cells but the header row has")


@pytest.mark.parametrize(
    ("role", "outcome"),
    [
        ("holdings", "read"),
        ("universe", "read"),
        ("prices", "read"),
        ("trade_history", "read"),
        ("benchmark", "weights sum to"),  # 1,234.5 is a number, but not a weight
        ("accounts", "between 0 and 1"),  # nor a cash target
    ],
)
def test_quoted_thousands_separator_is_read_as_the_number(pristine, tmp_path, role, outcome):
    case = Case.make(pristine, tmp_path / "case")
    column, row = NUMERIC_CELL[role]
    path = case.corrupt(role, lambda d: set_cell(d, row, column, '"1,234.50"'))
    run = propose(case)
    if outcome == "read":
        assert_no_crash(run)
        if run.result.exit_code == 3:  # 1,234.5 may well make the limits conflict
            assert_refused(run, case, "account ACC1", code=3)
        else:
            assert_written(run, case)
    else:
        assert_refused(run, case, path, column=column, contains=outcome)


@pytest.mark.parametrize("role", list(INPUTS))
def test_utf8_byte_order_mark_still_works(pristine, tmp_path, role):
    case = Case.make(pristine, tmp_path / "case")
    case.corrupt(role, lambda d: b"\xef\xbb\xbf" + d)
    assert_written(propose(case), case)


@pytest.mark.parametrize("role", CSV_ROLES)
def test_crlf_line_ends_and_no_final_line_break_still_work(pristine, tmp_path, role):
    case = Case.make(pristine, tmp_path / "case")
    case.corrupt(role, lambda d: d.replace(b"\n", b"\r\n").rstrip(b"\r\n"))
    assert_written(propose(case), case)


def test_short_last_row_that_ends_with_a_line_break_still_works(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    case.corrupt("holdings", lambda d: d.rstrip(b"\n").removesuffix(b",,") + b"\n")
    assert case.paths["holdings"].read_bytes().endswith(b",CASH,20000.0\n")
    assert_written(propose(case), case)


def _rows(n: int) -> Callable[[bytes], bytes]:
    return lambda data: b"".join(_lines(data)[:n])


def _two_columns(data: bytes) -> bytes:
    return b"".join(b",".join(line.rstrip(b"\n").split(b",")[:2]) + b"\n" for line in _lines(data))


ODD_BUT_VALID = [
    ("prices", "one-date", _rows(2)),
    ("prices", "two-dates", _rows(3)),
    ("prices", "dates-reversed", lambda d: _lines(d)[0] + b"".join(reversed(_lines(d)[1:]))),
    ("prices", "one-ticker", _two_columns),
    ("benchmark", "cash-only", lambda d: b"ticker,weight\nCASH,1\n"),
    ("benchmark", "one-name", lambda d: b"ticker,weight\nS029,1\n"),
    ("holdings", "cash-only", lambda d: _lines(d)[0] + _lines(d)[-1]),
    ("holdings", "every-lot-twice", lambda d: d + b"".join(_lines(d)[1:-1])),
    ("trade_history", "trades-after-as-of", lambda d: d.replace(b"2026-", b"2030-")),
    ("universe", "every-name-no-trade", lambda d: re.sub(rb",\r?\n", b",no_trade\n", d)),
    # "&" joins selector terms and ":" splits them: a sector name may hold both
    ("universe", "sector-with-ampersand", lambda d: d.replace(b",Energy,", b',"Oil & Gas: E&P",')),
]


@pytest.mark.parametrize(
    ("role", "name", "change"), ODD_BUT_VALID, ids=[f"{c[0]}-{c[1]}" for c in ODD_BUT_VALID]
)
def test_odd_but_valid_input_gives_a_proposal_or_names_the_conflict(
    pristine, tmp_path, role, name, change
):
    case = Case.make(pristine, tmp_path / "case")
    case.corrupt(role, change)
    run = propose(case)
    if run.result.exit_code == 3:
        assert_refused(run, case, "account ACC1", code=3)
    else:
        assert_written(run, case)


@pytest.mark.parametrize("suffix", ["zero", "half", "garbage", "csv-text", "bit-flips"])
def test_damaged_xlsx_input_is_refused_naming_it(pristine, tmp_path, suffix):
    case = Case.make(pristine, tmp_path / "case")
    frame = pd.read_csv(case.paths["holdings"], dtype=str, keep_default_na=False)
    good = tmp_path / "good.xlsx"
    frame.to_excel(good, index=False)
    data = good.read_bytes()
    damaged = {
        "zero": b"",
        "half": data[: len(data) // 2],
        "garbage": random.Random(5).randbytes(4000),
        "csv-text": case.paths["holdings"].read_bytes(),
        "bit-flips": _flip_bits(data, random.Random(0), 12),
    }[suffix]
    case.paths["holdings"] = case.folder / "holdings.xlsx"
    case.paths["holdings"].write_bytes(damaged)
    run = propose(case)
    assert_refused(run, case, case.paths["holdings"], contains=".xlsx workbook")


def test_intact_xlsx_input_works(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    frame = pd.read_csv(case.paths["holdings"], dtype=str, keep_default_na=False)
    case.paths["holdings"] = case.folder / "holdings.xlsx"
    frame.to_excel(case.paths["holdings"], index=False)
    assert_written(propose(case), case)


# --- the scenario ---------------------------------------------------------------------

BILLION_LAUGHS = "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
)

# (id, scenario text or bytes, key named, text in the message)
SCENARIO_CORRUPTIONS: list[tuple[str, str | bytes, str | None, str]] = [
    ("zero-bytes", b"", None, "holds no settings"),
    ("comments-only", "# nothing here\n\n", None, "holds no settings"),
    ("cut-mid-line", SCENARIO[: SCENARIO.index("band") + 3], None, "not valid YAML"),
    ("cut-inside-quotes", 'name: "Fuzz\nextends: base.yaml\n', None, "not valid YAML"),
    ("utf16-bom", SCENARIO.encode("utf-16"), None, "UTF-16"),
    ("utf16-no-bom", SCENARIO.encode("utf-16-le"), None, "line 1: contains NUL"),
    (
        "latin1",
        ("name: Société\n" + SCENARIO[SCENARIO.index("extends") :]).encode("latin-1"),
        None,
        "line 1: byte 0xe9 is not UTF-8",
    ),
    ("control-character", "name: Fuzz\x1b[2J\nextends: base.yaml\n", None, "U+001B"),
    (
        "control-character-escaped",
        SCENARIO.replace("name: Fuzz", 'name: "Fuzz\\e[2J"'),
        "name",
        "U+001B",
    ),
    (
        "control-character-in-a-key",
        SCENARIO.replace('"size:small"', '"size:small\\x01"'),
        "tilts.size:small\\x01",
        "U+0001",
    ),
    ("binary-garbage", random.Random(3).randbytes(2000), None, "UTF-8"),
    ("top-level-list", "- extends: base.yaml\n", None, "mapping of settings"),
    ("duplicate-key", SCENARIO + "risk_aversion: 6\n", None, "'risk_aversion' is given twice"),
    ("semicolons", SCENARIO.replace(":", ";"), None, "mapping of settings"),
    (
        "thousands-quoted",
        SCENARIO + 'risk_free_rate: "1,234.50"\n',
        "risk_free_rate",
        "expected a number",
    ),
    (
        "thousands-european",
        SCENARIO + "risk_free_rate: 1.234,50\n",
        "risk_free_rate",
        "expected a number",
    ),
    ("huge-1e308", SCENARIO + "risk_free_rate: 1.0e+308\n", "risk_free_rate", "1e+308"),
    ("huge-1e400", SCENARIO + "risk_free_rate: 1.0e+400\n", "risk_free_rate", "finite"),
    (
        "huge-budget",
        SCENARIO.replace("  max_turnover: 0.30\n", "  max_realized_gain: -1.0e+308\n"),
        "constraints.max_realized_gain",
        "1e+15",
    ),
    ("huge-integer", SCENARIO + "view_tau: " + "9" * 400 + "\n", "view_tau", "finite"),
    ("giant-integer", SCENARIO + "view_tau: " + "9" * 5000 + "\n", None, "4300 digits"),
    (
        "nan-value",
        SCENARIO.replace("risk_aversion: 5", "risk_aversion: .nan"),
        "risk_aversion",
        "finite",
    ),
    (
        "inf-value",
        SCENARIO.replace("risk_aversion: 5", "risk_aversion: .inf"),
        "risk_aversion",
        "finite",
    ),
    (
        "minus-inf-tilt",
        SCENARIO.replace("target: 0.02", "target: -.inf"),
        "tilts.size:small.target",
        "finite",
    ),
    (
        "bad-date",
        SCENARIO.replace("risk_aversion: 5", "risk_aversion: 2026-13-45"),
        None,
        "line 4",
    ),
    ("newline-in-key", SCENARIO + '"risk\\naversion": 1\n', "risk\\naversion", "unknown key"),
    (
        "python-object",
        SCENARIO + "description: !!python/object:os.system {}\n",
        None,
        "python/object",
    ),
    (
        "python-apply",
        "name: !!python/object/apply:os.system [echo pwned]\n",
        None,
        "python/object/apply",
    ),
    ("python-name", "name: !!python/name:os.system\n", None, "python/name"),
    ("custom-tag", "name: !include /etc/passwd\n", None, "!include"),
    ("billion-laughs", BILLION_LAUGHS, None, "expands to more than"),
    (
        "billion-laughs-in-a-setting",
        BILLION_LAUGHS + "tilts: *l9\n",
        None,
        "expands to more than",
    ),
    ("alias-holding-itself", SCENARIO + "views: &v [*v]\n", None, "holds it"),
    ("deep-nesting", "tilts: " + "[" * 20_000 + "]" * 20_000 + "\n", None, "levels deep"),
    (
        "deep-aliases",
        "".join(f"a{i}: &a{i} [{f'*a{i - 1}' if i else 1}]\n" for i in range(80)),
        None,
        "levels deep",
    ),
    ("too-large", "# " + "x" * 1_000_001 + "\n", None, "larger than 1,000,000 bytes"),
    (
        "extends-etc-passwd",
        "extends: ../../../../../../etc/passwd\n",
        "extends",
        "outside the scenario folder",
    ),
    ("extends-parent-folder", "extends: ../scenario.yaml\n", "extends", "outside"),
    ("extends-absolute", "extends: /etc/passwd\n", "extends", "not a relative path"),
    (
        "extends-absolute-library",
        f"extends: {SCENARIOS / 'base.yaml'}\n",
        "extends",
        "not a relative path",
    ),
    ("extends-nul", 'extends: "base\\0.yaml"\n', "extends", "control character U+0000"),
    ("extends-too-long", "extends: " + "a" * 5000 + ".yaml\n", "extends", "not found"),
    ("extends-a-list", "extends: [base.yaml]\n", "extends", "file name"),
    ("extends-itself", "extends: scenario.yaml\n", "extends", "extends cycle"),
]


@pytest.mark.parametrize(
    ("name", "text", "key", "says"), SCENARIO_CORRUPTIONS, ids=[c[0] for c in SCENARIO_CORRUPTIONS]
)
def test_corrupted_scenario_is_refused_naming_it_and_nothing_is_written(
    pristine, tmp_path, name, text, key, says
):
    case = Case.make(pristine, tmp_path / "case")
    data = text.encode("utf-8") if isinstance(text, str) else text
    path = case.corrupt("scenario", lambda _: data)
    run = propose(case)
    assert run.seconds < 30, run.describe()  # ~0.1-1.5 s; a hang or a blow-up takes far more
    assert_refused(run, case, path, key=key, contains=says)


def test_extends_through_a_symlink_out_of_the_folder_is_refused(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("risk_aversion: 1\n")
    (case.folder / "parent.yaml").symlink_to(outside)
    path = case.corrupt("scenario", lambda _: b"extends: parent.yaml\n")
    assert_refused(propose(case), case, path, key="extends", contains="outside the scenario folder")


def test_extends_in_a_subfolder_and_from_the_library_work(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    (case.folder / "house").mkdir()
    shutil.copy(SCENARIOS / "base.yaml", case.folder / "house" / "base.yaml")
    case.corrupt(
        "scenario", lambda d: d.replace(b"extends: base.yaml", b"extends: house/base.yaml")
    )
    assert_written(propose(case), case)


@pytest.mark.parametrize(
    ("role", "text", "says"),
    [
        ("holdings", "1677-09-21", "expected a date from 1900-01-01 to 2099-12-31"),
        ("prices", "0001-01-01", "expected a date from 1900-01-01 to 2099-12-31"),
        ("trade_history", "2262-04-12", "expected a date from 1900-01-01 to 2099-12-31"),
        ("holdings", "2026-02-30", "expected a date as YYYY-MM-DD"),
    ],
)
def test_date_out_of_range_is_refused_naming_the_cell(pristine, tmp_path, role, text, says):
    """Holding periods are date differences: a lot bought in 1677 overflowed them."""
    case = Case.make(pristine, tmp_path / "case")
    column = {"holdings": "acquired", "prices": "date", "trade_history": "date"}[role]
    path = case.corrupt(role, lambda d: set_cell(d, 3, column, text))
    assert_refused(propose(case), case, path, row=3, column=column, contains=says)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "1.5"])
def test_bad_as_of_date_is_a_usage_error(pristine, tmp_path, text):
    case = Case.make(pristine, tmp_path / "case")
    run = propose(case, "--as-of", text)
    assert_no_crash(run)
    assert run.result.exit_code == 2, run.describe()
    assert "expected a date as YYYY-MM-DD" in run.result.stderr
    assert case.outputs() == OLD_OUTPUTS


def test_billion_laughs_is_refused_fast_with_bounded_memory(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    path = case.corrupt("scenario", lambda _: (BILLION_LAUGHS + "tilts: *l9\n").encode())
    tracemalloc.start()
    try:
        run = propose(case)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_refused(run, case, path, contains="expands to more than")
    assert run.seconds < 2, run.describe()
    assert peak < 20_000_000, f"peak {peak:,} bytes"


def test_billion_laughs_through_the_installed_command(pristine, tmp_path):
    """The real process: its stderr is one line, its peak memory that of any run."""
    case = Case.make(pristine, tmp_path / "case")
    path = case.corrupt("scenario", lambda _: (BILLION_LAUGHS + "tilts: *l9\n").encode())
    command = Path(sys.executable).with_name("rebalancer")
    args = [command, "validate", "--scenario", path, "--universe", case.paths["universe"]]
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        child = subprocess.Popen([str(a) for a in args], stdout=out, stderr=err)
        deadline = time.monotonic() + 60
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                pytest.fail("rebalancer validate did not finish in 60 s")
            time.sleep(0.05)
        child.returncode = os.waitstatus_to_exitcode(status)
    stderr = (tmp_path / "stderr").read_text()
    assert child.returncode == 1, stderr
    assert len(stderr.splitlines()) == 1 and "expands to more than" in stderr, stderr
    assert (tmp_path / "stdout").read_text() == ""
    peak_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    assert peak_mb < 1024, f"peak {peak_mb:.0f} MB"


# --- text that looks like a formula (or console markup) is data, not an error ----------

FORMULA_TEXTS = ["=CMD|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)", '=HYPERLINK("x")']


def test_formula_like_names_are_valid_and_written_as_text(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    account = "=CMD|' /C calc'!A0"
    tickers = {"S029": "+PLUS", "S028": "-MINUS", "S027": "@AT", "S026": "=EQ"}

    def rename(data: bytes) -> bytes:
        text = data.decode("utf-8").replace("ACC1", account)
        for old, new in tickers.items():
            text = re.sub(rf"\b{old}\b", new, text)
        return text.encode("utf-8")

    for role in ("holdings", "universe", "prices", "benchmark", "accounts", "trade_history"):
        case.corrupt(role, rename)
    uni = pd.read_csv(case.paths["universe"], keep_default_na=False, dtype=str)
    uni.loc[0, "name"] = '=HYPERLINK("http://x","click")'
    uni.loc[1, "name"] = "[bold red]:smile: markup[/]"
    uni.loc[2, "industry"] = "@industry"
    uni.loc[3, "themes"] = "-theme;+theme"
    uni.to_csv(case.paths["universe"], index=False)
    case.corrupt("scenario", lambda d: d.replace(b"name: Fuzz", b"name: '=1+1'"))
    run = propose(case, "--account", account, quiet=False)  # the console summary too
    assert_written(run, case)

    with open(case.out / "trades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["account"] for r in rows} == {"'" + account}
    assert all(not r["ticker"].startswith(("=", "+", "-", "@")) for r in rows)
    summary = json.loads((case.out / "summary.json").read_text())
    assert summary["account"] == account  # JSON is data: kept exactly as given
    book = openpyxl.load_workbook(case.out / "sheet.xlsx")
    cells = [c for ws in book for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    risky = [c for c in cells if isinstance(c.value, str) and c.value.startswith(("=", "+", "@"))]
    shown = {c.value for c in risky}
    assert account in shown and "+PLUS" in shown
    assert all(c.data_type == "s" and c.quotePrefix for c in risky)


# --- big files ------------------------------------------------------------------------


def _big_holdings(case: Case, rows: int) -> pd.DataFrame:
    """``rows`` lots of about $100 each in the account's 20 largest names (the last row is
    its cash; each name ends near 4.5% of NAV), every cell as text."""
    uni = pd.read_csv(case.paths["universe"]).sort_values("market_cap").tail(20)
    rng = np.random.default_rng(4)
    pick = rng.integers(0, len(uni), rows - 1)
    quantity = rng.uniform(50, 150, rows - 1) / uni["price"].to_numpy()[pick]
    lots = pd.DataFrame(
        {
            "account": "ACC1",
            "ticker": uni["ticker"].to_numpy()[pick],
            "quantity": quantity.round(4).astype(str),
            "cost_basis": rng.uniform(50, 150, rows - 1).round(2).astype(str),
            "acquired": "2022-03-01",
        }
    )
    cash = pd.DataFrame([["ACC1", "CASH", "1000000", "", ""]], columns=lots.columns)
    return pd.concat([lots, cash], ignore_index=True)


def test_hundred_thousand_lot_holdings_work(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    _big_holdings(case, 100_000).to_csv(case.paths["holdings"], index=False)
    run = propose(case, roles=("holdings", "universe", "scenario"))
    assert_written(run, case)
    assert run.seconds < 30, run.describe()


@pytest.mark.parametrize(
    ("name", "row", "column", "says"),
    [
        ("bad-cell", 99_991, "quantity", "expected a number > 0"),
        ("cut-short", 100_001, None, "looks cut short"),
        ("unknown-ticker", 99_991, "ticker", "not in the universe"),
    ],
)
def test_hundred_thousand_lot_holdings_with_one_bad_row_fail_fast(
    pristine, tmp_path, name, row, column, says
):
    case = Case.make(pristine, tmp_path / "case")
    lots = _big_holdings(case, 100_000)
    if name == "bad-cell":
        lots.loc[row - 2, "quantity"] = "-1"
    if name == "unknown-ticker":
        lots.loc[row - 2, "ticker"] = "NOPE"
    lots.to_csv(case.paths["holdings"], index=False)
    if name == "cut-short":
        case.corrupt("holdings", cut_mid_last_row)
    run = propose(case, roles=("holdings", "universe", "scenario"))
    assert_refused(run, case, case.paths["holdings"], row=row, column=column, contains=says)
    assert run.seconds < 15, run.describe()  # ~0.5 s; a bound of 5 s left a loaded machine little


# --- validate and batch ---------------------------------------------------------------

VALIDATE_ROLES = ("scenario", "holdings", "universe", "prices", "benchmark")


@pytest.mark.parametrize("role", VALIDATE_ROLES)
@pytest.mark.parametrize(
    ("name", "change"),
    [("cut-mid-row", cut_mid_last_row), ("utf16", utf16_no_bom), ("garbage", garbage(9))],
)
def test_validate_reports_a_corrupted_file_on_one_line_and_writes_nothing(
    pristine, tmp_path, monkeypatch, role, name, change
):
    case = Case.make(pristine, tmp_path / "case")
    monkeypatch.chdir(case.folder)
    path = case.corrupt(role, change)
    before = sorted(p.name for p in case.folder.rglob("*"))
    args: list[object] = ["validate"]
    for each in VALIDATE_ROLES:
        args += [INPUTS[each][0], case.paths[each]]
    run = invoke(args)
    assert_refused(run, case, path)
    assert sorted(p.name for p in case.folder.rglob("*")) == before


BATCH_ROLES = ("accounts", "holdings", "universe", "prices", "trade_history")


@pytest.mark.parametrize("role", BATCH_ROLES)
@pytest.mark.parametrize(
    ("name", "change"),
    [("cut-mid-row", cut_mid_last_row), ("latin1", latin1_in_row(2)), ("garbage", garbage(13))],
)
def test_batch_stops_on_a_corrupted_shared_input_before_writing(
    pristine, tmp_path, role, name, change
):
    case = Case.make(pristine, tmp_path / "case")
    book = case.folder / "book"
    book.mkdir()
    (book / "book_summary.xlsx").write_bytes(b"an old summary")
    path = case.corrupt(role, change)
    args: list[object] = ["batch", "--out-dir", book, "--workers", "1", "--as-of", AS_OF, "-q"]
    for each in BATCH_ROLES:
        args += [INPUTS[each][0], case.paths[each]]
    run = invoke(args)
    assert_refused(run, None, path)
    assert {p.name: p.read_bytes() for p in book.iterdir()} == {
        "book_summary.xlsx": b"an old summary"
    }


@pytest.mark.parametrize("role", ["benchmark", "prices", "scenario"])
def test_input_path_too_long_for_the_file_system_is_refused(pristine, tmp_path, role):
    case = Case.make(pristine, tmp_path / "case")
    case.paths[role] = case.folder / ("x" * 300 + Path(INPUTS[role][1]).suffix)
    assert_refused(propose(case), case, "x" * 300, contains="File name too long")


def test_batch_account_whose_scenario_name_is_too_long_fails_alone(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    case.corrupt("accounts", lambda d: d.replace(b",scenario.yaml,", b"," + b"s" * 5000 + b","))
    book = case.folder / "book"
    args: list[object] = ["batch", "--out-dir", book, "--workers", "1", "--as-of", AS_OF, "-q"]
    for each in BATCH_ROLES:
        args += [INPUTS[each][0], case.paths[each]]
    run = invoke(args)
    assert_no_crash(run)
    assert run.result.exit_code == 1, run.describe()  # an account failed; the book is written
    summary = pd.read_excel(book / "book_summary.xlsx")
    assert summary["status"].tolist() == ["failed"]
    assert "File name too long" in summary["message"].iloc[0]


def test_batch_keeps_accounts_with_dots_apart(pristine, tmp_path):
    """Outputs are named after the whole account id: TAX.1 and TAX.2 are two files each."""
    case = Case.make(pristine, tmp_path / "case")
    lots = case.paths["holdings"].read_text().splitlines()
    rows = [line.replace("ACC1", account) for account in ("TAX.1", "TAX.2") for line in lots[1:]]
    case.paths["holdings"].write_text("\n".join([lots[0], *rows]) + "\n")
    case.corrupt("accounts", lambda d: d + d.splitlines(keepends=True)[1])
    case.corrupt("accounts", lambda d: d.replace(b"ACC1", b"TAX.1", 1).replace(b"ACC1", b"TAX.2"))
    book = case.folder / "book"
    args: list[object] = ["batch", "--out-dir", book, "--workers", "1", "--as-of", AS_OF, "-q"]
    for each in BATCH_ROLES:
        args += [INPUTS[each][0], case.paths[each]]
    run = invoke(args)
    assert_no_crash(run)
    assert run.result.exit_code == 0, run.describe()
    for account in ("TAX.1", "TAX.2"):
        assert json.loads((book / f"{account}.json").read_text())["account"] == account
        assert (book / f"{account}.trades.csv").exists()


@pytest.mark.parametrize("account", ["../escaped", "/tmp/absolute", "a\\b", ".."])
def test_batch_refuses_an_account_id_that_is_no_file_name(pristine, tmp_path, account):
    case = Case.make(pristine, tmp_path / "case")
    case.corrupt("holdings", lambda d: d.replace(b"ACC1", account.encode()))
    path = case.corrupt("accounts", lambda d: d.replace(b"ACC1", account.encode()))
    book = case.folder / "book"
    args: list[object] = ["batch", "--out-dir", book, "--workers", "1", "--as-of", AS_OF, "-q"]
    for each in BATCH_ROLES:
        args += [INPUTS[each][0], case.paths[each]]
    assert_refused(invoke(args), case, path, row=2, column="account", contains="file")
    assert not book.exists()
    assert not (tmp_path / "escaped.json").exists()


# --- the random mutator ---------------------------------------------------------------

SPECIAL = [
    b",", b'"', b"\n", b"\r", b";", b"\t", b"\x00", b"\xff", b"\xef\xbb\xbf", b"1e400",
    b"nan", b"-inf", b"1,234.50", b"=CMD|'/C calc'!A0", b"@", b"&", b"*a", b":", b"{", b"[",
    b"- ", b"!!python/object:os.system", b"\\", b"9" * 400, b"0", b"-1", b"\xc3", b"\xe2\x80\xa8",
    b"\x01", b"\x1b[2J", b"\x7f", b"\xc2\x9b", b'"\\x01"', b"../", b"/etc/passwd", b"&a", b"*",
    b"1677-09-21", b"0001-01-01", b"2262-04-12", b"2024-02-30", b"1e15", b"-1e15", b"1e-300",
    b"1e-7", b"CASH", b"cash", b"no_trade", b"sell", b"EM", b"true", b".nan", b"~", b"null",
]  # fmt: skip


def _flip_bits(data: bytes, rng: random.Random, n: int) -> bytes:
    out = bytearray(data)
    for _ in range(n):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


# scenario settings and values for the "setting" mutation: valid YAML, odd numbers
SETTINGS = [
    "risk_aversion", "tilt_strength", "view_tau", "market_risk_aversion", "risk_free_rate",
    "constraints.max_position", "constraints.max_turnover", "constraints.max_tracking_error",
    "constraints.cash.target", "constraints.cash.min", "constraints.liquidity.days",
    "constraints.liquidity.max_participation", "constraints.min_trade_usd",
    "constraints.sector_max", "constraints.max_realized_gain", "costs.impact",
    "costs.spread_bps", "tilts.size:small.target", "tilts.size:small.band",
    "tilts.size:micro.target", "signals.weight", "signals.ic", "size_buckets.small",
    "size_buckets.large", "tax.short_term_rate", "tax.wash_sale_days",
]  # fmt: skip
SETTING_VALUES = [0, 1e-12, 1e-6, 0.001, 0.01, 0.05, 0.2, 0.5, 0.99, 1, 2, 100, 1e6, 1e15, -1]


def _set_a_setting(data: bytes, rng: random.Random) -> tuple[bytes, str] | None:
    try:
        settings = yaml.safe_load(data)
    except yaml.YAMLError:
        return None
    if not isinstance(settings, dict):
        return None
    path, value = rng.choice(SETTINGS), rng.choice(SETTING_VALUES)
    *parents, last = path.split(".")
    node = settings
    for key in parents:
        node = node.setdefault(key, {}) if isinstance(node.get(key, {}), dict) else {}
    node[last] = value
    return yaml.safe_dump(settings).encode("utf-8"), f"set {path} = {value}"


def _mutate_once(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return rng.choice(SPECIAL), "insert into empty"
    op = rng.choice(
        ["flip", "flip", "delete", "insert", "special", "shuffle", "swap", "duplicate",
         "drop-line", "cut", "cell", "cell", "setting"]
    )  # fmt: skip
    if op == "setting" and (done := _set_a_setting(data, rng)) is not None:
        return done
    lines = _lines(data)
    if op == "flip":
        n = rng.choice([1, 1, 2, 4, 8])
        return _flip_bits(data, rng, n), f"flip {n} bits"
    if op == "delete":
        i = rng.randrange(len(data))
        n = rng.choice([1, 1, 2, 8, 64])
        return data[:i] + data[i + n :], f"delete {n} bytes at {i}"
    if op == "insert":
        i = rng.randrange(len(data) + 1)
        return data[:i] + rng.randbytes(rng.choice([1, 3, 16])) + data[i:], f"insert bytes at {i}"
    if op == "special":
        i = rng.randrange(len(data) + 1)
        token = rng.choice(SPECIAL)
        return data[:i] + token + data[i:], f"insert {token[:20]!r} at {i}"
    if op == "shuffle" and len(lines) > 2:
        body = lines[1:]
        rng.shuffle(body)
        return lines[0] + b"".join(body), "shuffle the rows"
    if op == "swap" and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"".join(lines), f"swap lines {i + 1} and {j + 1}"
    if op == "duplicate":
        i = rng.randrange(len(lines))
        return b"".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]), f"repeat line {i + 1}"
    if op == "drop-line" and len(lines) > 1:
        i = rng.randrange(len(lines))
        return b"".join(lines[:i] + lines[i + 1 :]), f"drop line {i + 1}"
    if op == "cut":
        i = rng.randrange(len(data))
        return data[:i], f"cut at byte {i}"
    # replace one cell (or one YAML value) with a special token
    i = rng.randrange(len(lines))
    parts = lines[i].split(b",") if b"," in lines[i] else lines[i].split(b": ")
    j = rng.randrange(len(parts))
    token = rng.choice(SPECIAL)
    ending = b"\n" if parts[j].endswith(b"\n") else b""
    parts[j] = token + ending
    joiner = b"," if b"," in lines[i] else b": "
    lines[i] = joiner.join(parts)
    return b"".join(lines), f"set a cell of line {i + 1} to {token[:20]!r}"


def mutate(data: bytes, seed: int) -> tuple[bytes, list[str]]:
    rng = random.Random(seed)
    done = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        data, what = _mutate_once(data, rng)
        done.append(what)
    return data, done


@pytest.mark.parametrize("index", range(FUZZ_CASES))
def test_randomly_mutated_input_exits_cleanly(pristine, tmp_path, index):
    role = list(INPUTS)[index % len(INPUTS)]
    seed = FUZZ_SEED * 100_003 + index
    case = Case.make(pristine, tmp_path / "case")
    ops: list[str] = []

    def change(data: bytes) -> bytes:
        mutated, done = mutate(data, seed)
        ops.extend(done)
        return mutated

    path = case.corrupt(role, change)
    run = propose(case)
    where = f"{role} mutated by seed {seed} ({'; '.join(ops)}): " + run.describe()
    assert_no_crash(run)
    code = run.result.exit_code
    assert code in (0, 1, 3), where
    if code == 0:
        assert_written(run, case)
        return
    assert len(run.lines) == 1, where
    assert run.lines[0].startswith("error: " if code == 1 else "infeasible: "), where
    assert case.outputs() == OLD_OUTPUTS, "outputs changed: " + where
    if code == 1 and "the optimizer failed" not in run.lines[0]:
        # a bad input: the line names it (the mutated file, or one that no longer fits it)
        assert any(str(p) in run.lines[0] for p in case.paths.values()), where
        assert str(path) in run.lines[0] or role in ("universe", "prices", "scenario"), where


# --- Parquet inputs -------------------------------------------------------------------

# dates read as dates, so the Parquet file holds typed timestamps as an export would
DATE_COLUMNS = {"holdings": ["acquired"], "trade_history": ["date"], "prices": ["date"]}
PARQUET_FUZZ_CASES = max(7, FUZZ_CASES // 10)


def as_parquet(
    case: Case, role: str, change: Callable[[pd.DataFrame], pd.DataFrame] | None = None
) -> Path:
    """The case's CSV of ``role`` written as a typed Parquet file (numbers as numbers,
    dates as timestamps; the prices' dates as the frame's index, as pandas writes a wide
    table), after ``change``; the case reads that file from now on."""
    csv_path = case.paths[role]
    dates = DATE_COLUMNS.get(role, [])
    frame = pd.read_csv(csv_path, parse_dates=dates)
    if role == "prices":
        frame = frame.set_index("date")
    if change is not None:
        frame = change(frame)
    path = csv_path.with_suffix(".parquet")
    frame.to_parquet(path, index=role == "prices")
    case.paths[role] = path
    return path


@pytest.mark.parametrize("role", [*CSV_ROLES, "all"])
def test_parquet_input_gives_the_trades_of_its_csv(pristine, tmp_path, role):
    """Each input as Parquet (typed columns), or all of them: the same trades, byte for byte."""
    reference = Case.make(pristine, tmp_path / "csv")
    assert_written(propose(reference), reference)
    case = Case.make(pristine, tmp_path / "parquet")
    for each in CSV_ROLES if role == "all" else [role]:
        as_parquet(case, each)
    assert_written(propose(case), case)
    assert (case.out / "trades.csv").read_bytes() == (reference.out / "trades.csv").read_bytes()


def _text(values) -> list[str | None]:
    """A column as text cells (Parquet holds one type a column)."""
    return [None if v is None or v is pd.NaT or v != v else str(v) for v in values]


def _set(column: str, row: int, value: object, as_text: bool = False):
    """Set the cell of spreadsheet ``row`` (the first record is row 2) in ``column``."""

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        if as_text:
            frame[column] = pd.Series(_text(frame[column]), index=frame.index, dtype=object)
        frame.loc[frame.index[row - 2], column] = value
        return frame

    return change


# (id, role, change of the typed frame, row, column, text of the message)
PARQUET_BAD = [
    ("text-in-a-number-column", "holdings", _set("quantity", 3, "abc", True), 3, "quantity",
     "expected a number > 0"),
    ("negative-quantity", "holdings", _set("quantity", 4, -5.0), 4, "quantity",
     "expected a number > 0"),
    ("nan-price", "universe", _set("price", 5, np.nan), 5, "price", "expected a number"),
    ("inf-price", "universe", _set("price", 3, np.inf), 3, "price", "expected a number"),
    ("number-as-date", "holdings", lambda f: f.assign(acquired=20220301), 2, "acquired",
     "expected a date"),
    ("flag-as-number", "accounts", lambda f: f.assign(cash_target=True), 2, "cash_target",
     "expected a number"),
    ("missing-column", "universe", lambda f: f.drop(columns="price"), None, "price",
     "required column is missing"),
    ("zero-price-in-prices", "prices", _set("S020", 5, 0.0), 5, "S020", "expected a number"),
    ("text-in-prices", "prices", _set("S020", 4, "n/a", True), 4, "S020", "expected a number"),
    ("duplicate-date", "prices", lambda f: pd.concat([f, f.iloc[[2]]]), 82, "date",
     "duplicate date"),
    ("history-side", "trade_history", _set("side", 3, "HOLD"), 3, "side", "expected one of"),
    ("benchmark-weights", "benchmark", _set("weight", 2, 0.5), None, "weight", "weights sum to"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "role", "change", "row", "column", "says"),
    PARQUET_BAD,
    ids=[c[0] for c in PARQUET_BAD],
)
def test_bad_parquet_cell_is_refused_naming_file_row_and_column(
    pristine, tmp_path, name, role, change, row, column, says
):
    case = Case.make(pristine, tmp_path / "case")
    path = as_parquet(case, role, change)
    assert_refused(propose(case), case, path, row=row, column=column, contains=says)


@pytest.mark.parametrize("role", CSV_ROLES)
@pytest.mark.parametrize("damage", ["zero", "half", "garbage", "csv-text", "no-footer"])
def test_damaged_parquet_is_refused_naming_it(pristine, tmp_path, role, damage):
    case = Case.make(pristine, tmp_path / "case")
    text = case.paths[role].read_bytes()
    path = as_parquet(case, role)
    data = path.read_bytes()
    path.write_bytes(
        {
            "zero": b"",
            "half": data[: len(data) // 2],
            "garbage": random.Random(5).randbytes(4000),
            "csv-text": text,
            "no-footer": data[:-12],
        }[damage]
    )
    assert_refused(propose(case), case, path, contains="cannot be read as a Parquet file")


def test_parquet_suffix_pq_and_an_unsupported_suffix(pristine, tmp_path):
    case = Case.make(pristine, tmp_path / "case")
    path = as_parquet(case, "holdings")
    case.paths["holdings"] = path.rename(path.with_suffix(".pq"))
    assert_written(propose(case), case)
    case = Case.make(pristine, tmp_path / "feather")
    case.paths["holdings"] = case.paths["holdings"].rename(case.folder / "holdings.feather")
    assert_refused(propose(case), case, "holdings.feather", contains=".csv, .xlsx or .parquet")


PARQUET_SPECIAL: list[object] = [
    None, np.nan, np.inf, -np.inf, -1.0, 0.0, 1e-300, 1e300, 1e15, 2**63 - 1, True, "", " ",
    "1,234.50", "=CMD|'/C calc'!A0", "\x1b[2J", "\x00", "CASH", "cash", "2024-02-30",
    "0001-01-01", pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11"), b"\xff\xfe",
]  # fmt: skip


def _mutate_parquet_frame(frame: pd.DataFrame, rng: random.Random) -> tuple[pd.DataFrame, str]:
    """One typed cell set to an odd value (its column becoming text where it must)."""
    column = rng.choice(list(frame.columns))
    row = rng.randrange(len(frame))
    value = rng.choice(PARQUET_SPECIAL)
    frame = frame.copy()
    try:
        frame.loc[frame.index[row], column] = value
    except (TypeError, ValueError):
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[row], column] = value
    if frame[column].dtype == object:  # Parquet holds one type a column: mixed become text
        kinds = {type(v) for v in frame[column] if v is not None and v is not pd.NaT}
        if len(kinds) > 1:
            frame[column] = pd.Series(_text(frame[column]), index=frame.index, dtype=object)
    return frame, f"set row {row + 2} of {column} to {value!r}"


@pytest.mark.parametrize("index", range(PARQUET_FUZZ_CASES))
def test_randomly_mutated_parquet_exits_cleanly(pristine, tmp_path, index):
    """A cell of a typed Parquet input set to an odd value, or the file's bytes damaged
    (``REBALANCER_FUZZ_CASES`` runs a tenth as many of these as of the CSV mutations)."""
    role = CSV_ROLES[index % len(CSV_ROLES)]
    seed = FUZZ_SEED * 100_019 + index
    rng = random.Random(seed)
    case = Case.make(pristine, tmp_path / "case")
    ops: list[str] = []

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        for _ in range(rng.choice([1, 1, 2])):
            frame, what = _mutate_parquet_frame(frame, rng)
            ops.append(what)
        return frame

    bytes_too = rng.random() < 0.4
    path = as_parquet(case, role, None if bytes_too else change)
    if bytes_too:
        mutated, done = mutate(path.read_bytes(), seed)
        path.write_bytes(mutated)
        ops.extend(done)
    run = propose(case)
    where = f"{role} mutated by seed {seed} ({'; '.join(ops)}): " + run.describe()
    assert_no_crash(run)
    code = run.result.exit_code
    assert code in (0, 1, 3), where
    if code == 0:
        assert_written(run, case)
        return
    assert len(run.lines) == 1, where
    assert run.lines[0].startswith("error: " if code == 1 else "infeasible: "), where
    assert case.outputs() == OLD_OUTPUTS, "outputs changed: " + where
    if code == 1 and "the optimizer failed" not in run.lines[0]:
        assert any(str(p) in run.lines[0] for p in case.paths.values()), where
