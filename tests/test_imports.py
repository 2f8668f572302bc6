"""What each command imports: ``rebalancer --help`` and a usage error wait for no
numerical library, ``validate`` not for the optimizer, and cvxpy comes without
``scipy.stats`` (``rebalancer.cvxpy_import``) yet computes what it computed.

Each case runs in a fresh interpreter (a real process: the modules a process has
imported are the thing measured), with this checkout first on the path. No timings
are asserted (the machine is shared); the README's benchmark tables have them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "scipy", "cvxpy", "openpyxl", "yaml", "dask")


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it leaves its findings in ``found`` (a
    dict), to which the top-level packages then imported are added."""
    script = (
        "import json, sys\nfound = {}\n"
        + code
        + "\nfound['modules'] = sorted({m.split('.')[0] for m in sys.modules})"
        + "\nfound['stats'] = 'scipy.stats' in sys.modules"
        + "\nprint(json.dumps(found))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(args: list[str]) -> str:
    return (
        "from rebalancer.cli import main\n"
        "try:\n"
        f"    main({args!r}, prog_name='rebalancer')\n"
        "except SystemExit as exc:\n"
        "    found['exit'] = exc.code\n"
    )


@pytest.mark.parametrize("args", [["--help"], ["propose", "--help"], ["propose", "--bogus"]])
def test_help_and_usage_errors_import_no_numerical_library(args):
    found = loaded_after(run_cli(args))
    assert found["exit"] in (0, 2)
    assert not set(HEAVY) & set(found["modules"])


def test_validate_does_not_import_the_optimizer():
    examples = ROOT / "examples"
    args = ["validate"]
    for role in ("holdings", "universe", "prices", "benchmark"):
        args += [f"--{role}", str(examples / f"{role}.csv")]
    args += ["--scenario", str(ROOT / "scenarios" / "base.yaml")]
    found = loaded_after(run_cli(args))
    assert found["exit"] in (0, None)
    assert "cvxpy" not in found["modules"]
    assert "pandas" in found["modules"]  # it did read the files


def test_cvxpy_comes_without_scipy_stats_and_computes_the_same():
    found = loaded_after(
        "import rebalancer.optimize.problem\n"
        "found['early'] = 'scipy.stats' in sys.modules\n"
        "atom = sys.modules['cvxpy.atoms.quantum_rel_entr']\n"
        "found['entropy'] = float(atom.entropy([0.2, 0.3, 0.5]))\n"
        "import scipy.stats\n"
        "found['real'] = scipy.stats.__file__ is not None and hasattr(scipy.stats, 'norm')\n"
        "found['same'] = float(scipy.stats.entropy([0.2, 0.3, 0.5])) == found['entropy']\n"
        "import cvxpy as cp\n"
        "x = cp.Variable(2)\n"
        "p = cp.Problem(cp.Minimize(cp.sum_squares(x - [1, 2])), [cp.sum(x) == 1])\n"
        "p.solve(solver=cp.CLARABEL)\n"
        "found['x'] = [round(float(v), 6) for v in x.value]\n"
    )
    assert not found["early"]
    assert found["real"] and found["same"]
    assert found["entropy"] == pytest.approx(
        -sum(p * __import__("math").log(p) for p in (0.2, 0.3, 0.5))
    )
    assert found["x"] == [0.0, 1.0]


def test_scipy_stats_imported_first_is_left_alone():
    found = loaded_after(
        "import scipy.stats\n"
        "import rebalancer.optimize.problem\n"
        "found['same'] = sys.modules['cvxpy.atoms.quantum_rel_entr'].entropy "
        "is scipy.stats.entropy\n"
    )
    assert found["same"]


def test_a_cvxpy_that_imports_a_scipy_stats_submodule_is_imported_whole(tmp_path):
    """A cvxpy release whose package imports a submodule of ``scipy.stats`` (which the
    stand-in, not a package, cannot give) is imported again with the real module.
    The stand-in release is a package named ``cvxpy`` first on the path that does
    just that, with a submodule of its own imported before the failing line."""
    fake = tmp_path / "cvxpy"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "from cvxpy import part\n"
        "import scipy.stats.distributions as d\n"
        "VALUE = float(d.norm.cdf(0.0))\n"
    )
    (fake / "part.py").write_text("PART = 1\n")
    script = (
        "import json, sys\n"
        "import rebalancer\n"
        "import cvxpy\n"
        "import scipy.stats\n"
        "print(json.dumps({'value': cvxpy.VALUE, 'part': cvxpy.part.PART,"
        " 'real': hasattr(scipy.stats, 'norm') and scipy.stats.__file__ is not None}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"value": 0.5, "part": 1, "real": True}


def test_propose_without_a_workbook_does_not_import_openpyxl(tmp_path):
    examples = ROOT / "examples"
    args = ["propose", "--account", "IRA-250K", "--force", "--quiet", "--as-of", "2026-11-20"]
    for role in ("holdings", "universe", "prices", "benchmark"):
        args += [f"--{role}", str(examples / f"{role}.csv")]
    args += ["--scenario", str(ROOT / "scenarios" / "base.yaml")]
    args += ["--trades", str(tmp_path / "trades.csv"), "--json", str(tmp_path / "summary.json")]
    found = loaded_after(run_cli(args))
    assert found["exit"] in (0, None)
    assert (tmp_path / "trades.csv").exists() and (tmp_path / "summary.json").exists()
    assert "openpyxl" not in found["modules"]
    assert "cvxpy" in found["modules"]  # it did optimise
