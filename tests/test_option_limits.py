"""``--vary``, ``--shock`` and ``--as-of`` are checked like the YAML (finite numbers in
range, no empty values, a bounded grid, dates in 1900-2099), and text from inputs and
options is escaped for the terminal and the chart (issue 14, point 5)."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from rebalancer.errors import InputError
from rebalancer.export.chart import write_chart
from rebalancer.runs.vary import MAX_RUNS
from tests.conftest import make_holdings, make_universe, run_cli, write_scenario


@pytest.fixture
def market(tmp_path):
    uni = make_universe()
    paths = {"universe": tmp_path / "universe.csv", "holdings": tmp_path / "holdings.csv"}
    uni.to_csv(paths["universe"], index=False)
    make_holdings(uni).to_csv(paths["holdings"], index=False)
    paths["scenario"] = write_scenario(tmp_path / "s.yaml", "extends: base.yaml\n")
    return paths


def inputs(market) -> list:
    return ["--holdings", market["holdings"], "--universe", market["universe"]]


def assert_one_line(result, message: str, *unwritten) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not any(path.exists() for path in unwritten)


@pytest.mark.parametrize(
    ("shock", "message"),
    [
        ("all=nan", "--shock 'all=nan': expected a finite number, got nan"),
        ("all=inf", "--shock 'all=inf': expected a finite number, got inf"),
        ("all=-inf", "--shock 'all=-inf': expected a finite number"),
        ("all=1e308", "--shock 'all=1e308': 1e+308 is larger than"),
        ("all=-0.1,", "--shock 'all=-0.1,': an empty part (a comma too many?)"),
        ("name=,all=-0.1", "--shock 'name=': an empty name"),
    ],
)
def test_a_shock_out_of_range_or_empty_is_one_line(market, tmp_path, shock, message):
    out = tmp_path / "p.json"
    result = run_cli(
        "propose", *inputs(market), "--scenario", market["scenario"], "--shock", shock,
        "--json", out, "-q",
    )  # fmt: skip
    assert_one_line(result, message, out)


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        ("constraints.max_turnover=nan", "--vary constraints.max_turnover=nan: expected a finite"),
        ("constraints.max_turnover=.inf", "--vary constraints.max_turnover=.inf: expected a fin"),
        ("constraints.max_turnover=0.1,", "an empty value (a comma too many?)"),
        ("constraints.max_turnover=0.1,,0.2", "an empty value (a comma too many?)"),
        (
            "name=" + "[" * 3000,
            "--vary name=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[: not a single",
        ),
        ("risk_aversion={a: 1}", "not a single value"),
    ],
)
def test_a_bad_vary_value_is_one_line(market, tmp_path, vary, message):
    out = tmp_path / "c.json"
    result = run_cli(
        "whatif", *inputs(market), "--scenario", market["scenario"], "--vary", vary,
        "--json", out, "-q",
    )  # fmt: skip
    assert_one_line(result, message, out)


def test_the_what_if_grid_is_bounded(market, tmp_path):
    """400 × 400 values: refused at once, naming the count and the limit."""
    out = tmp_path / "c.json"
    values = ",".join(f"{0.001 * (i + 1):.3f}" for i in range(400))
    started = time.perf_counter()
    result = run_cli(
        "whatif", *inputs(market), "--scenario", market["scenario"],
        "--vary", f"constraints.max_turnover={values}", "--vary", f"risk_aversion={values}",
        "--json", out, "-q",
    )  # fmt: skip
    assert time.perf_counter() - started < 20
    assert_one_line(
        result,
        f"1 × 400 × 400 = 160,000 what-if runs (scenarios × values); at most {MAX_RUNS}",
        out,
    )
    # the limit itself is allowed: two scenarios × 100 values
    from rebalancer.runs.vary import scenario_runs

    runs = scenario_runs(
        [market["scenario"], market["scenario"]],
        [f"constraints.max_turnover={','.join(f'{0.01 * (i + 1):.2f}' for i in range(100))}"],
    )
    assert len(runs) == MAX_RUNS


@pytest.mark.parametrize("date", ["0001-01-01", "1899-12-31", "2100-01-01", "9999-12-31"])
def test_as_of_is_within_1900_2099(market, tmp_path, date):
    out = tmp_path / "p.json"
    result = run_cli(
        "propose", *inputs(market), "--scenario", market["scenario"], "--as-of", date,
        "--json", out, "-q", "--tax-exempt",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"expected a date from 1900-01-01 to 2099-12-31, got '{date}'" in result.output
    assert not out.exists()
    import rebalancer

    with pytest.raises(InputError, match="--as-of: expected a date from 1900-01-01"):
        rebalancer.propose(
            market["holdings"], market["universe"], market["scenario"], as_of=date, taxable=False
        )


def test_an_as_of_before_the_lots_were_bought_is_a_warning(market, tmp_path):
    """Lots bought 2022-03-01 sold 'as of' 1990: every sale short-term — said aloud."""
    out = tmp_path / "p.json"
    result = run_cli(
        "propose", *inputs(market), "--scenario", market["scenario"], "--taxable",
        "--as-of", "1990-01-01", "--json", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lots = len(make_holdings(make_universe())) - 1  # one lot per name, plus cash
    said = (
        f"as-of date 1990-01-01 precedes the acquisition of {lots} lot(s) "
        "(bought 2022-03-01 to 2022-03-01)"
    )
    assert said in " ".join(result.output.split())
    assert any(said in w for w in json.loads(out.read_text())["warnings"])
    quiet = run_cli(
        "propose", *inputs(market), "--scenario", market["scenario"], "--taxable",
        "--as-of", "2026-11-20", "--json", out, "-q",
    )  # fmt: skip
    assert not any("precedes" in w for w in json.loads(out.read_text())["warnings"]), quiet


def test_escape_codes_from_options_and_file_names_never_reach_the_terminal(market, tmp_path):
    """A scenario file and a shock named with ESC sequences, and rich markup in a name:
    shown as escapes and as typed, never acting on the terminal."""
    scenario = write_scenario(tmp_path / "\x1b[2Jwiped.yaml", "extends: base.yaml\n")
    marked = write_scenario(tmp_path / "[bold]plain.yaml", "extends: base.yaml\n")
    out = tmp_path / "\x1b]0;title\x07c.json"
    result = run_cli(
        "whatif", *inputs(market), "--scenario", scenario, "--scenario", marked,
        "--shock", "name=\x1b[31mred,all=-0.1", "--json", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b[2Jwiped" in result.output and "\\x1b[31mred" in result.output
    assert "[bold]plain" in result.output
    propose = run_cli(
        "propose", *inputs(market), "--scenario", scenario, "--shock", "name=\x1b[31mred,all=-0.1",
        "--json", tmp_path / "p.json",
    )  # fmt: skip
    assert propose.exit_code == 0 and "\x1b" not in propose.output, propose.output


def test_a_tex_like_label_is_text_in_the_chart(tmp_path):
    """``$\\frac{`` in a scenario, run or group name: matplotlib's mathtext would fail to
    parse it (ParseFatalException); drawn as text, the chart is written."""
    label = "$\\frac{"
    table = pd.DataFrame(
        {
            "status": ["optimal", "optimal", "infeasible"],
            "scenario": [label, "b$x$", label],
            "turnover": [0.1, 0.2, None],
            "tracking_error": [0.01, 0.02, None],
            "active_return": [0.01, 0.02, None],
            f"after theme:{label}": [0.1, 0.2, None],
            f"before theme:{label}": [0.0, 0.0, None],
        },
        index=[f"{label} max_turnover=0.1", "b$x$ y=$2", f"{label} z=$^"],
    )
    path = tmp_path / "c.png"
    write_chart(table, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_tex_like_scenario_name_through_whatif(market, tmp_path):
    scenario = write_scenario(tmp_path / "$\\frac{$.yaml", "extends: base.yaml\n")
    chart = tmp_path / "c.png"
    result = run_cli(
        "whatif", *inputs(market), "--scenario", scenario,
        "--vary", "constraints.max_turnover=0.1,0.2", "--chart", chart, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert chart.stat().st_size > 1000
