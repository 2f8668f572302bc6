"""The documentation stays true: `docs/contracts.md` names every contract the code has,
and the README points only inside the repository.

Each test reads a contract from the code itself (click's commands and options, the
scenario schema's dataclass fields, the readers' column tables, the trades CSV columns,
the keys of a real proposal's JSON) and looks for it on the page, so a new option,
key or column fails here until it is documented.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import pytest

from rebalancer.cli import main
from rebalancer.inputs import readers
from rebalancer.limits.cash_request import REQUEST_COLUMNS
from rebalancer.report.proposal import TRADE_COLUMNS
from rebalancer.scenario import schema
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "docs" / "contracts.md"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def page() -> str:
    return CONTRACTS.read_text(encoding="utf-8")


def _code_spans(text: str) -> set[str]:
    """Every `inline code` span of a markdown text, and each comma- or space-separated
    word inside it (so `account, ticker` names both)."""
    spans = set()
    for span in re.findall(r"`([^`]+)`", text):
        spans.add(span)
        spans.update(w for w in re.split(r"[\s,()|\[\]{}]+", span) if w)
    return spans


def test_every_command_and_option_is_documented(page):
    spans = _code_spans(page)
    missing = []
    for name, command in main.commands.items():
        if name not in spans:
            missing.append(name)
        for param in command.params:
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("--") and opt != "--help" and opt not in spans:
                    missing.append(f"{name} {opt}")
    assert not missing, f"not in docs/contracts.md: {missing}"


def _fields(cls, prefix: str = ""):
    """Dotted keys of the values a scenario gives, recursing into nested dataclasses
    (also through ``list[...]`` and ``X | None``)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        inner = [
            t
            for t in [hints[f.name], *typing.get_args(hints[f.name])]
            if dataclasses.is_dataclass(t) and t is not schema.ByGroup
        ]
        if not inner:
            yield key  # a leaf: a value the YAML gives
        for t in inner:
            yield from _fields(t, f"{key}.")


def test_every_scenario_key_is_documented(page):
    spans = _code_spans(page)
    # a key inside a list or a map of groups is documented by its own name on the row of
    # its parent (views[]: `long`, ...), a nested one by its dotted path
    lists = ("views.", "screens.", "shocks.", "tilts.")
    missing = [
        key
        for key in _fields(schema.Scenario)
        # a shock's returns are its other keys in the YAML (`"size:small": -0.2`)
        if key != "shocks.returns"
        and key not in spans
        and not (key.startswith(lists) and key.split(".")[-1] in spans)
    ]
    assert not missing, f"scenario keys not in docs/contracts.md: {missing}"


@pytest.mark.parametrize(
    "table",
    ["HOLDINGS_CELLS", "UNIVERSE_CELLS", "BENCHMARK_CELLS", "ACCOUNTS_CELLS", "HISTORY_CELLS"],
)
def test_every_input_column_is_documented(page, table):
    spans = _code_spans(page)
    missing = [c for c in getattr(readers, table) if c not in spans]
    assert not missing, f"{table} columns not in docs/contracts.md: {missing}"


def test_the_trades_csv_columns_are_documented_in_order(page):
    section = page.split("### Trades CSV", 1)[1].split("###", 1)[0]
    columns = TRADE_COLUMNS + REQUEST_COLUMNS
    found = [c for c in re.findall(r"[a-z_]+", section) if c in columns]
    order = list(dict.fromkeys(found))
    assert order == columns


def test_every_json_key_of_a_proposal_is_documented(page, tmp_path):
    out = tmp_path / "p.json"
    result = run_cli(
        "propose",
        "--holdings", EXAMPLES / "holdings.csv",
        "--account", "TAX-2M",
        "--accounts", EXAMPLES / "accounts.csv",
        "--universe", EXAMPLES / "universe.csv",
        "--scenario", ROOT / "scenarios" / "base.yaml",
        "--json", out,
        "--as-of", "2026-11-20",
        "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    spans = _code_spans(page)
    keys = [*summary, *(f"manifest.{k}" for k in summary["manifest"])]
    for block in ("optimizer", "path"):
        keys += [f"{block}.{k}" for k in summary[block]]
    missing = [k for k in keys if k.split(".")[-1] not in spans]
    assert not missing, f"JSON keys not in docs/contracts.md: {missing}"


def _undocumented(page: str, keys: list[str]) -> list[str]:
    """The keys (dotted paths) whose last part is not a code span of the page."""
    spans = _code_spans(page)
    return [k for k in keys if k.split(".")[-1] not in spans]


def _nested_keys(value, prefix: str = "", skip=frozenset()) -> list[str]:
    """Every key of a JSON value as a dotted path, lists read through their first item;
    the values of a key in ``skip`` are named by the data (scenario names, dates,
    exposure labels), so only the key itself is a contract."""
    keys = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            keys.append(path)
            if key not in skip:
                keys += _nested_keys(item, path, skip)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        keys += _nested_keys(value[0], prefix + "[]", skip)
    return keys


def test_every_json_key_of_a_whatif_a_household_and_a_backtest_is_documented(page, tmp_path):
    """The other commands' JSON: a what-if comparison, a household's summary and a
    backtest's figures, each key on the contracts page. A what-if run's exposure and
    stress columns are named after the scenario's groups (``before size:small``), so
    keys with a space are data, not contract."""
    common = (
        "--holdings", EXAMPLES / "holdings.csv",
        "--universe", EXAMPLES / "universe.csv",
        "--benchmark", EXAMPLES / "benchmark.csv",
        "--as-of", "2026-11-20",
        "-q",
    )  # fmt: skip
    scenario = ROOT / "scenarios" / "smallcap_rerating.yaml"
    whatif = tmp_path / "w.json"
    result = run_cli(
        "whatif", *common, "--account", "TAX-2M", "--accounts", EXAMPLES / "accounts.csv",
        "--scenario", scenario, "--scenario", ROOT / "scenarios" / "status_quo.yaml",
        "--json", whatif,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "account,taxable,cash_target,household\nIRA-250K,false,0.02,H\nTAX-2M,true,0.02,H\n"
    )
    household = tmp_path / "h.json"
    result = run_cli(
        "propose", *common, "--household", "H", "--accounts", accounts,
        "--scenario", scenario, "--json", household,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    backtest = tmp_path / "b.json"
    result = run_cli(
        "backtest", *common[:6], "--prices", EXAMPLES / "prices.csv", "--account", "IRA-250K",
        "--accounts", EXAMPLES / "accounts.csv",
        "--scenario", scenario, "--start", "2026-09-01", "--end", "2026-11-20",
        "--every", "month", "--json", backtest, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    keys = [
        k
        for k in _nested_keys(json.loads(whatif.read_text()), skip={"expected_returns"})
        if " " not in k
    ]
    keys += _nested_keys(
        json.loads(household.read_text()), skip={"exposures", "inputs", "versions", "scenario"}
    )
    bt = json.loads(backtest.read_text())
    keys += _nested_keys({k: v for k, v in bt.items() if k not in ("scenarios", "nav")})
    keys += _nested_keys(bt["scenarios"]["smallcap_rerating"], "scenarios.NAME")
    keys += ["nav.date"]
    missing = _undocumented(page, keys)
    assert not missing, f"JSON keys not in docs/contracts.md: {missing}"


def test_the_readme_points_only_inside_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "DESIGN.md" not in readme
    assert "docs/contracts.md" in readme
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if re.match(r"[a-z]+://", target):
            continue
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"README link leaves the repository: {target}"
        assert path.exists(), f"README link to a missing file: {target}"
    assert "docs/architecture.md" in readme
    # the code's paths it names (`rebalancer/trades/rounding.py`, `examples/*.csv`) are the
    # repository's files
    for named in re.findall(
        r"`((?:rebalancer|docs|benchmarks|tests|examples|scenarios)/[^`\s]*)`", readme
    ):
        assert any(ROOT.glob(named.rstrip("/"))), f"README names a missing path: {named}"
