"""A request whose limits conflict only by a hair at the optimizer's margins is solved,
not failed (``pipeline.optimize``: ``within_hairline``).

The case (found by the random property search, kept in ``tests/data/hairline``): a
$92.8M account under ``em_smallcap`` with tilts on ``region:EM & size:small`` and
``sector:Utilities``. The group's upper band, 5 bp inside the scenario's, is 0.0100549
of NAV; the liquidity cap lets the group go no lower than 0.0100561 — infeasible by
1.2e-6 of NAV, below what the elastic solve tells from zero, so no conflict was named
and no solver answered: exit 1 on valid inputs. The scenario's own band (to 0.010555)
has room. Now: exit 0, a warning says the margins were widened, and every invariant of
the property tests holds, re-measured from the inputs and the written outputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import run_cli
from tests.test_properties import ACCOUNT, AS_OF, check_proposal

CASE = Path(__file__).parent / "data" / "hairline"


def test_a_hairline_conflict_at_the_margins_is_solved_within_the_scenario(tmp_path):
    for f in CASE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    paths = {
        "holdings": tmp_path / "holdings.csv",
        "universe": tmp_path / "universe.csv",
        "scenario": tmp_path / "property.yaml",
        "benchmark": tmp_path / "benchmark.csv",
        "prices": tmp_path / "prices.csv",
        "accounts": tmp_path / "accounts.csv",
        "out": tmp_path / "proposal.xlsx",
        "trades": tmp_path / "proposal.csv",
        "json": tmp_path / "proposal.json",
    }
    args = ["propose", "--account", ACCOUNT, "--as-of", AS_OF.date().isoformat(), "--quiet"]
    for role, path in paths.items():
        args += [f"--{role}", path]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    warnings = json.loads(paths["json"].read_text())["warnings"]
    assert any("widened by" in w for w in warnings), warnings
    check_proposal(paths)
