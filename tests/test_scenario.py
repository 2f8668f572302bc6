"""Scenario files: inheritance, validation messages, and group selectors (docs/contracts.md §2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.errors import ScenarioError
from rebalancer.model.universe import per_name
from rebalancer.scenario import (
    ByGroup,
    load_scenario,
    match,
    parse_selector,
    scenario_problems,
)
from rebalancer.scenario.selectors import SelectorSyntaxError
from tests.conftest import SCENARIOS

PARENT = """
name: Parent
risk_aversion: 7
tilts:
  "size:small": {target: 0.10, band: 0.02}
  "theme:biotech": {target: 0.03, band: 0.01}
constraints:
  cash: {target: 0.03, min: 0.01}
  max_turnover: 0.20
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- extends ---------------------------------------------------------------------------


def test_extends_merges_nested_mappings_key_by_key(tmp_path):
    write(tmp_path, "parent.yaml", PARENT)
    child = write(
        tmp_path,
        "child.yaml",
        "extends: parent.yaml\nconstraints:\n  cash: {min: 0.02}\n",
    )
    scen = load_scenario(child)
    # the child changed only cash.min; cash.target and max_turnover come from the parent
    assert scen.constraints.cash.min == 0.02
    assert scen.constraints.cash.target == 0.03
    assert scen.constraints.max_turnover == 0.20
    assert scen.risk_aversion == 7


def test_extends_child_overrides_one_field_of_a_parent_tilt(tmp_path):
    write(tmp_path, "parent.yaml", PARENT)
    child = write(
        tmp_path, "child.yaml", 'extends: parent.yaml\ntilts:\n  "size:small": {target: 0.05}\n'
    )
    tilt = load_scenario(child).tilts["size:small"]
    assert (tilt.target, tilt.band) == (0.05, 0.02)


def test_extends_child_null_removes_a_parent_tilt(tmp_path):
    write(tmp_path, "parent.yaml", PARENT)
    child = write(tmp_path, "child.yaml", 'extends: parent.yaml\ntilts:\n  "size:small": null\n')
    assert set(load_scenario(child).tilts) == {"theme:biotech"}


def test_extends_child_null_removes_a_parent_tilt_spelt_differently(tmp_path):
    write(tmp_path, "parent.yaml", PARENT)
    child = write(tmp_path, "child.yaml", 'extends: parent.yaml\ntilts:\n  "Size:Small": null\n')
    assert set(load_scenario(child).tilts) == {"theme:biotech"}


SCREENED_PARENT = """
screens:
  - {where: "region:EM & size:small", require: "leverage <= 3 and roa > 0"}
"""


def test_extends_child_screens_add_to_the_parents(tmp_path):
    write(tmp_path, "parent.yaml", SCREENED_PARENT)
    child = write(
        tmp_path,
        "child.yaml",
        'extends: parent.yaml\nscreens:\n  - {where: "size:small", require: "roa > 0"}\n'
        '  - {where: "region:EM & size:small", require: "leverage <= 3 and roa > 0"}\n',
    )
    screens = [(s.where, s.require) for s in load_scenario(child).screens]
    # the parent's first, the child's after; the one the child repeats is kept once
    assert screens == [
        ("region:EM & size:small", "leverage <= 3 and roa > 0"),
        ("size:small", "roa > 0"),
    ]


def test_extends_child_null_drops_the_parents_screens(tmp_path):
    write(tmp_path, "parent.yaml", SCREENED_PARENT)
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nscreens: null\n")
    assert load_scenario(child).screens == []


def test_extends_child_without_name_is_named_after_its_file(tmp_path):
    write(tmp_path, "parent.yaml", PARENT)
    child = write(tmp_path, "my_child.yaml", "extends: parent.yaml\nrisk_aversion: 3\n")
    assert load_scenario(child).name == "my_child"


def test_extends_child_with_name_keeps_it(tmp_path):
    write(tmp_path, "parent.yaml", PARENT)
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nname: Mine\n")
    assert load_scenario(child).name == "Mine"


def test_extends_cycle_raises_naming_extends_and_the_cycle(tmp_path):
    a = write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(a)
    assert info.value.key == "extends"
    assert "a.yaml -> b.yaml -> a.yaml" in str(info.value)


def test_extends_missing_parent_file_raises_naming_it(tmp_path):
    child = write(tmp_path, "child.yaml", "extends: no_such_parent.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    assert info.value.key == "extends"
    assert "no_such_parent.yaml" in str(info.value)
    assert "not found" in str(info.value)


# --- validation ------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_nearest(tmp_path):
    path = write(tmp_path, "s.yaml", "risk_aversoin: 3\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.key == "risk_aversoin"
    assert "did you mean 'risk_aversion'" in str(info.value)


def test_unknown_nested_key_names_its_path_and_suggests_the_nearest(tmp_path):
    path = write(tmp_path, "s.yaml", "constraints:\n  max_turnvoer: 0.2\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.key == "constraints.max_turnvoer"
    assert "did you mean 'max_turnover'" in str(info.value)


def test_scenario_problems_reports_every_mistake_at_once(tmp_path):
    path = write(
        tmp_path,
        "many.yaml",
        """
risk_aversoin: 3
tilts:
  "sectr:Energy": {target: 0.02}
  "size:tiny": {target: 0.02}
  "size:small": {target: 0.05, band: -0.01}
constraints:
  max_position: 1.5
  cash: {target: 0.01, min: 0.03}
""",
    )
    scen, problems = scenario_problems(path)
    assert scen is not None  # the sound parts are returned for checks against a universe
    found = {p.key: p.message for p in problems}
    assert len(found) == 6
    assert "did you mean 'risk_aversion'" in found["risk_aversoin"]
    assert "did you mean 'sector'" in found["tilts.sectr:Energy"]
    assert "unknown size bucket 'tiny'" in found["tilts.size:tiny"]
    assert "-0.01" in found["tilts.size:small.band"]
    assert "1.5" in found["constraints.max_position"]
    assert "above target" in found["constraints.cash"]


def test_scenario_problems_of_a_good_file_is_empty(tmp_path):
    path = write(tmp_path, "ok.yaml", PARENT)
    scen, problems = scenario_problems(path)
    assert problems == []
    assert scen is not None and scen.name == "Parent"


def test_size_buckets_accept_numbers_yaml_reads_as_text(tmp_path):
    # YAML 1.1 reads 10e9 (no dot) as a string, not a float
    path = write(tmp_path, "s.yaml", "size_buckets: {large: 10e9, mid: 2e9, small: 3e8}\n")
    assert load_scenario(path).size_buckets == {"large": 1e10, "mid": 2e9, "small": 3e8}


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, "s.yaml", "name: x\ntilts: {a: 1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    # the unclosed flow mapping is noticed at the end of the stream: line 3, column 1
    assert "line 3, column 1" in str(info.value)
    assert "not valid YAML" in str(info.value)


def test_top_level_list_is_rejected(tmp_path):
    path = write(tmp_path, "s.yaml", "- a\n- b\n")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenario(path)


# --- selectors -------------------------------------------------------------------------


def test_selector_is_canonicalised():
    assert parse_selector("size:small & region:em").text == "size:small & region:EM"


def test_selector_canonical_spelling_ignores_case_and_spaces():
    assert parse_selector("  Size : SMALL&Region:em ").text == "size:small & region:EM"


def test_selector_unknown_key_suggests_the_nearest():
    with pytest.raises(SelectorSyntaxError, match="did you mean 'region'"):
        parse_selector("regoin:EM")


def test_selector_without_colon_is_rejected():
    with pytest.raises(SelectorSyntaxError, match="key:value"):
        parse_selector("small")


def test_a_name_without_a_market_cap_is_in_the_fund_bucket():
    from rebalancer.scenario import size_bucket

    caps = pd.Series([5e10, 5e9, 5e8, 5e7, np.nan], index=list("ABCDE"))
    buckets = {"large": 10e9, "mid": 2e9, "small": 3e8}
    assert size_bucket(caps, buckets).tolist() == ["large", "mid", "small", "micro", "fund"]
    uni = pd.DataFrame({"size": size_bucket(caps, buckets)})
    assert match(parse_selector("size:fund"), uni).tolist() == [False] * 4 + [True]
    assert not match(parse_selector("size:micro"), uni)[-1]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("sector:Industrial", "sector:Industrials"),
        ("sector:Healthcare & size:small", "sector:Health Care & size:small"),
        ("theme:biotec", "theme:biotech"),
        ("sector:Mining", None),
        ("region:DM", None),  # a fixed vocabulary: EM is no near miss of DM
    ],
)
def test_a_group_value_no_security_has_gets_its_near_miss(text, hint):
    from rebalancer.scenario.selectors import near_miss

    uni = pd.DataFrame(
        {
            "sector": ["Industrials", "Health Care"],
            "region": ["EM", "US"],
            "size": ["small", "small"],
            "themes": ["biotech;rna", ""],
        }
    )
    assert near_miss(parse_selector(text), uni) == hint


def test_theme_selector_matches_one_tag_of_several():
    uni = pd.DataFrame(
        {"themes": ["biotech;rna", "biotech", "", "rnai"], "size": ["small"] * 4},
        index=["A", "B", "C", "D"],
    )
    assert match(parse_selector("theme:rna"), uni).tolist() == [True, False, False, False]
    assert match(parse_selector("theme:biotech"), uni).tolist() == [True, True, False, False]


# --- per-group values ------------------------------------------------------------------

# small & EM is in both listed groups; each other name in one or none
GROUPS = pd.DataFrame(
    {
        "size": ["small", "small", "large", "large"],
        "region": ["EM", "US", "EM", "US"],
    },
    index=["SMALL_EM", "SMALL_US", "LARGE_EM", "LARGE_US"],
)


@pytest.mark.parametrize("em_first", [False, True])
def test_participation_of_a_name_in_two_groups_is_the_smallest(em_first):
    small, em = (parse_selector("size:small"), 0.10), (parse_selector("region:EM"), 0.05)
    values = ByGroup(0.20, (em, small) if em_first else (small, em))
    got = per_name(GROUPS, values, "min")
    np.testing.assert_array_equal(got, [0.05, 0.10, 0.05, 0.20])


@pytest.mark.parametrize("em_first", [False, True])
def test_spread_of_a_name_in_two_groups_is_the_widest(em_first):
    small, em = (parse_selector("size:small"), 25.0), (parse_selector("region:EM"), 40.0)
    values = ByGroup(5.0, (em, small) if em_first else (small, em))
    got = per_name(GROUPS, values, "max")
    np.testing.assert_array_equal(got, [40.0, 25.0, 40.0, 5.0])


# --- shipped scenarios -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenario_loads_without_problems(path):
    scen, problems = scenario_problems(path)
    assert problems == []
    assert scen is not None and scen.name


def test_selector_masks_follow_the_values_of_a_new_frame():
    """A new frame with the same group column (a backtest's next day) matches as the
    old one did; a frame whose column changed matches by its own values."""
    from rebalancer.scenario.selectors import match, parse_selector

    uni = pd.DataFrame({"sector": ["Energy", "Utilities", "Energy"], "size": "mid"},
                       index=["A", "B", "C"])  # fmt: skip
    energy = parse_selector("sector:Energy")
    assert match(energy, uni).tolist() == [True, False, True]
    assert match(energy, uni.assign(price=1.0)).tolist() == [True, False, True]
    moved = uni.assign(sector=["Utilities", "Energy", "Energy"])
    assert match(energy, moved).tolist() == [False, True, True]
    assert match(energy, uni.copy()).tolist() == [True, False, True]
