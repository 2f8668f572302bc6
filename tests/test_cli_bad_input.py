"""Bad input: exit code 1, one line naming file, row and column, nothing written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SCENARIOS, make_holdings, make_universe, run_cli


def _write(
    tmp_path: Path, uni: pd.DataFrame, hold: pd.DataFrame, bench: pd.DataFrame | None = None
) -> dict[str, Path]:
    paths = {"universe": tmp_path / "universe.csv", "holdings": tmp_path / "holdings.csv"}
    uni.to_csv(paths["universe"], index=False)
    hold.to_csv(paths["holdings"], index=False)
    if bench is not None:
        paths["benchmark"] = tmp_path / "benchmark.csv"
        bench.to_csv(paths["benchmark"], index=False)
    return paths


def _propose(paths: dict[str, Path], tmp_path: Path):
    outputs = {
        "--out": tmp_path / "o" / "sheet.xlsx",
        "--trades": tmp_path / "o" / "t.csv",
        "--json": tmp_path / "o" / "s.json",
    }
    args = [
        "propose",
        "--holdings",
        paths["holdings"],
        "--universe",
        paths["universe"],
        "--scenario",
        SCENARIOS / "base.yaml",
    ]
    if "benchmark" in paths:
        args += ["--benchmark", paths["benchmark"]]
    for flag, path in outputs.items():
        args += [flag, path]
    return run_cli(*args), list(outputs.values())


def _universe_case(mutate):
    uni = make_universe().astype(object)
    hold = make_holdings(make_universe())
    mutate(uni, hold)
    return uni, hold


# (case id, mutation, file that is named, spreadsheet row, column)
CASES = [
    ("missing required column", lambda u, h: u.pop("adv"), "universe.csv", None, "adv"),
    (
        "empty required cell",
        lambda u, h: u.__setitem__("sector", u["sector"].where(u.index != 4, "")),
        "universe.csv",
        6,
        "sector",
    ),
    (
        "non-numeric cell",
        lambda u, h: u.__setitem__("market_cap", u["market_cap"].where(u.index != 2, "lots")),
        "universe.csv",
        4,
        "market_cap",
    ),
    (
        "zero price",
        lambda u, h: u.__setitem__("price", u["price"].where(u.index != 9, 0)),
        "universe.csv",
        11,
        "price",
    ),
    (
        "negative price",
        lambda u, h: u.__setitem__("price", u["price"].where(u.index != 0, -3)),
        "universe.csv",
        2,
        "price",
    ),
    (
        "duplicate ticker",
        lambda u, h: u.__setitem__("ticker", u["ticker"].where(u.index != 5, u["ticker"].iloc[3])),
        "universe.csv",
        7,
        "ticker",
    ),
    (
        "unknown region",
        lambda u, h: u.__setitem__("region", u["region"].where(u.index != 7, "MARS")),
        "universe.csv",
        9,
        "region",
    ),
    (
        "negative quantity",
        lambda u, h: h.__setitem__("quantity", h["quantity"].where(h.index != 3, -5)),
        "holdings.csv",
        5,
        "quantity",
    ),
    (
        "held ticker missing from universe",
        lambda u, h: h.__setitem__("ticker", h["ticker"].where(h.index != 1, "NOPE")),
        "holdings.csv",
        3,
        "ticker",
    ),
    (
        "empty quantity",
        lambda u, h: h.__setitem__(
            "quantity", h["quantity"].astype(object).where(h.index != 0, "")
        ),
        "holdings.csv",
        2,
        "quantity",
    ),
]


@pytest.mark.parametrize(
    ("case", "mutate", "file", "row", "column"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_exits_1_naming_the_cell_and_writes_nothing(
    tmp_path, case, mutate, file, row, column
):
    uni, hold = _universe_case(mutate)
    paths = _write(tmp_path, uni, hold)
    result, outputs = _propose(paths, tmp_path)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert file in lines[0]
    if row is not None:
        assert f"row {row}" in lines[0]
    assert f"'{column}'" in lines[0]
    assert not any(p.exists() for p in outputs)


def test_benchmark_not_summing_to_one_exits_1(tmp_path):
    uni = make_universe()
    bench = pd.DataFrame({"ticker": uni["ticker"].iloc[:4], "weight": [0.3, 0.3, 0.2, 0.1]})
    paths = _write(tmp_path, uni, make_holdings(uni), bench)
    result, outputs = _propose(paths, tmp_path)
    assert result.exit_code == 1
    assert "benchmark.csv" in result.output and "'weight'" in result.output
    assert "0.9" in result.output
    assert not any(p.exists() for p in outputs)


def test_bad_input_leaves_existing_outputs_untouched(tmp_path):
    uni, hold = _universe_case(
        lambda u, h: h.__setitem__("quantity", h["quantity"].where(h.index != 3, -5))
    )
    paths = _write(tmp_path, uni, hold)
    out = tmp_path / "o"
    out.mkdir()
    before = {name: f"old {name}".encode() for name in ("sheet.xlsx", "t.csv", "s.json")}
    for name, data in before.items():
        (out / name).write_bytes(data)
    result, _ = _propose(paths, tmp_path)
    assert result.exit_code == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unknown_scenario_key_names_the_nearest(tmp_path, market):
    scen = tmp_path / "s.yaml"
    scen.write_text("name: x\nconstraints:\n  max_turnvoer: 0.2\n")
    result = run_cli(
        "propose",
        "--holdings",
        market["holdings"],
        "--universe",
        market["universe"],
        "--scenario",
        scen,
    )
    assert result.exit_code == 1
    assert "constraints.max_turnvoer" in result.output
    assert "max_turnover" in result.output


def test_missing_option_is_a_usage_error(market):
    result = run_cli("propose", "--holdings", market["holdings"])
    assert result.exit_code == 2


# --- a malformed option value: one line naming the option, exit 2, nothing written ----

# (command and its arguments, the option named on the line); each with otherwise
# usable inputs (the market's) and outputs in tmp_path
MALFORMED = [
    pytest.param(["propose", "--as-of", "yesterday"], "'--as-of'", id="as-of"),
    pytest.param(["propose", "--lot-method", "lifo"], "'--lot-method'", id="lot-method"),
    pytest.param(["propose", "--out", "{tmp}"], "'--out'", id="out-is-a-folder"),
    pytest.param(["propose", "--bogus", "1"], "'--bogus'", id="unknown-option"),
    pytest.param(["whatif", "--as-of", "2026-02-30"], "'--as-of'", id="whatif-as-of"),
    pytest.param(["batch", "--scheduler", "not-an-address"], "'--scheduler'", id="scheduler"),
    pytest.param(["batch", "--workers", "0"], "'--workers'", id="workers"),
    pytest.param(["batch", "--as-of", "2100-01-01"], "'--as-of'", id="batch-as-of"),
    pytest.param(["apply", "--as-of", "1.5"], "'--as-of'", id="apply-as-of"),
    pytest.param(["demo", "--as-of", "someday"], "'--as-of'", id="demo-as-of"),
    pytest.param(["nosuch"], "'nosuch'", id="unknown-command"),
]


@pytest.mark.parametrize(("args", "names"), MALFORMED)
def test_a_malformed_option_is_one_line_naming_it_exit_2(market, tmp_path, args, names):
    """Not click's usage block ("Usage: ...", "Try ... for help.", "Error: ..."): one
    line, as every other user mistake is."""
    command, *rest = args
    given = {
        "propose": ["--scenario", SCENARIOS / "base.yaml", "--json", tmp_path / "o" / "s.json"],
        "whatif": ["--scenario", SCENARIOS / "base.yaml", "--json", tmp_path / "o" / "w.json"],
        "batch": ["--accounts", tmp_path / "accounts.csv", "--out-dir", tmp_path / "o"],
        "apply": ["--trades", tmp_path / "t.csv", "--account", "ACC1",
                  "--out", tmp_path / "o" / "h.csv"],
        "demo": ["--out-dir", tmp_path / "o"],
    }.get(command, [])  # fmt: skip
    inputs = ["--holdings", market["holdings"]]
    if command in ("propose", "whatif", "batch"):
        inputs += ["--universe", market["universe"]]
    if command in ("demo", "nosuch"):
        inputs = []
    rest = [str(a).replace("{tmp}", str(tmp_path)) for a in rest]
    result = run_cli(command, *inputs, *given, *rest)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and names in lines[0], result.output
    assert not (tmp_path / "o").exists()


def test_a_missing_option_is_one_line_naming_it(market):
    result = run_cli("propose", "--holdings", market["holdings"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: Missing option '--universe'."
