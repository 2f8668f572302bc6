"""Where the data shipped with the package lives: the example files
(``rebalancer.examples``) and the scenario library (``rebalancer.scenarios``), from a
checkout or an installed copy alike."""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path


def library_folder() -> Path:
    """The scenario library shipped with the package (``base.yaml`` and the views)."""
    return _folders()[1]


def example_paths() -> dict[str, Path]:
    """The shipped example files by role (``holdings``, ``universe``, ``prices``,
    ``benchmark``, ``accounts``) and the scenario library (``scenarios``)."""
    base, scenarios = _folders()
    return {
        "holdings": base / "holdings.csv",
        "universe": base / "universe.csv",
        "prices": base / "prices.csv",
        "benchmark": base / "benchmark.csv",
        "accounts": base / "accounts.csv",
        "scenarios": scenarios,
    }


@functools.cache
def _folders() -> tuple[Path, Path]:
    # looked up once per process: importlib.resources takes milliseconds a call, and a
    # book looks up a scenario of the shipped library for every account
    return Path(str(files("rebalancer.examples"))), Path(str(files("rebalancer.scenarios")))
