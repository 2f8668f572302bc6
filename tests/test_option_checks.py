"""``--shock`` and ``--vary`` are checked by the scenario schema, as the YAML is: a value
out of range, a percentage or a misspelt key is one line naming the option (never the
scenario file), exit 1, nothing written."""

from __future__ import annotations

import pytest

from rebalancer.errors import ScenarioError
from rebalancer.model.stress import parse_shock
from rebalancer.runs.vary import scenario_runs
from rebalancer.scenario import load_scenario
from tests.conftest import EXAMPLES, SCENARIOS, run_cli, write_scenario

INPUTS = ("--holdings", EXAMPLES / "holdings.csv", "--universe", EXAMPLES / "universe.csv")


@pytest.mark.parametrize(
    ("shock", "message"),
    [
        ("name=x,size:small=-30", "--shock 'size:small=-30': -30 is outside [-1, 10]"),
        ("name=x,size:small=-30%", "--shock 'size:small=-30%': expected a number, got text"),
        ("name=x,size:small=nan", "--shock 'size:small=nan': expected a finite number"),
        ("name=x,sizee:small=-0.3", "--shock 'sizee:small=-0.3': unknown selector key"),
        ("name=x", "--shock 'name=x': names no group"),
        ("name=x,size:small", "--shock 'size:small': not GROUP=RETURN"),
    ],
)
def test_bad_shock_is_one_line_naming_the_option_exit_1(tmp_path, shock, message):
    out = tmp_path / "p.json"
    result = run_cli(
        "propose", *INPUTS, "--account", "IRA-250K", "--scenario", SCENARIOS / "status_quo.yaml",
        "--shock", shock, "--json", out, "--quiet",
    )  # fmt: skip
    assert_one_line(result, message, out)


def assert_one_line(result, message: str, out) -> None:
    """Exit 1, one line holding ``message``, ``out`` not written."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_the_shock_range_is_the_yaml_range(tmp_path):
    """One home for the range: the same return is refused in a scenario file and in the
    option, and the boundary values are accepted by both."""
    for value, ok in ((-1.0, True), (10.0, True), (-1.01, False), (-30.0, False), (10.5, False)):
        path = write_scenario(
            tmp_path / "s.yaml",
            f"extends: base.yaml\nshocks:\n  - {{name: x, size:small: {value}}}\n",
        )
        try:
            yaml_shock = load_scenario(path).shocks[0]
        except ScenarioError:
            yaml_shock = None
        try:
            option_shock = parse_shock(f"name=x,size:small={value}")
        except ScenarioError:
            option_shock = None
        assert (yaml_shock is not None) is ok and (option_shock is not None) is ok, value
        assert yaml_shock == option_shock


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        (
            "constraints.max_turnovr=0.1,0.2",
            "--vary constraints.max_turnovr=0.1: unknown key (did you mean 'max_turnover'?)",
        ),
        (
            "constraints.max_turnover=0.1,abc",
            "--vary constraints.max_turnover=abc: expected a number",
        ),
        (
            "constraints.max_turnover=0.1,2",
            "--vary constraints.max_turnover=2: 2 is outside [0, 1]",
        ),
        (
            "constraints.cash.min=0.5",
            "--vary constraints.cash.min=0.5, key 'constraints.cash': min",
        ),
        ("risk_aversion.x=1", "--vary risk_aversion.x=1: 'risk_aversion' is not a group"),
        ("constraints.max_turnover", "--vary 'constraints.max_turnover': not KEY=V1,V2"),
    ],
)
def test_bad_vary_is_blamed_on_the_option_not_the_file(tmp_path, vary, message):
    out = tmp_path / "c.xlsx"
    result = run_cli(
        "whatif", *INPUTS, "--account", "IRA-250K", "--scenario", SCENARIOS / "status_quo.yaml",
        "--vary", vary, "--out", out, "--quiet",
    )  # fmt: skip
    assert_one_line(result, message, out)
    assert "status_quo.yaml" not in result.output


def test_a_grid_point_bad_only_in_combination_names_both_options(tmp_path):
    scenario = write_scenario(
        tmp_path / "s.yaml", "extends: base.yaml\nconstraints: {cash: {target: 0.1, min: 0.01}}\n"
    )
    with pytest.raises(ScenarioError) as err:
        scenario_runs(
            [scenario], ["constraints.cash.min=0.01,0.06", "constraints.cash.target=0.1,0.05"]
        )
    assert str(err.value) == (
        "--vary constraints.cash.min=0.06 --vary constraints.cash.target=0.05, "
        "key 'constraints.cash': min 0.06 is above target 0.05"
    )


def test_a_problem_of_the_scenario_file_is_still_the_files(tmp_path):
    scenario = write_scenario(tmp_path / "s.yaml", "extends: base.yaml\nrisk_aversoin: 3\n")
    with pytest.raises(ScenarioError) as err:
        scenario_runs([scenario], ["constraints.max_turnover=0.1"])
    assert str(err.value).startswith(f"{scenario}, key 'risk_aversoin': unknown key")
