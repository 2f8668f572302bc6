"""``rebalancer scenarios``: what each scenario file believes and changes.

For each file: its name and one-line description, its parent, and every effective
setting that differs from the parent's (or from the defaults for a root file) —
so an advisor sees at a glance which tilts and limits a scenario adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rebalancer.errors import RebalancerError, ScenarioError
from rebalancer.scenario.loader import (
    ACCUMULATED,
    parent_path,
    read_yaml,
    resolve,
)
from rebalancer.scenario.schema import Scenario, build
from rebalancer.shipped import library_folder

IDENTITY = ("name", "description", "extends")


@dataclass(frozen=True)
class Entry:
    path: Path
    name: str = ""
    description: str = ""
    parent: str | None = None
    changes: list[str] = field(default_factory=list)
    problem: str | None = None


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and set(value) == {"target", "band"}:  # a tilt: one line
        out[prefix] = f"{value['target']:+g} ± {value['band']:g}"
    elif isinstance(value, dict):
        for key, sub in value.items():  # an empty mapping adds nothing
            _flatten(sub, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return (
            "["
            + "; ".join(
                ", ".join(f"{k}: {_show(v)}" for k, v in x.items() if v is not None)
                if isinstance(x, dict)
                else _show(x)
                for x in value
            )
            + "]"
        )
    return "none" if value is None else str(value)


def differences(parent: dict[str, Any], child: dict[str, Any]) -> list[str]:
    """'key: old → new' for every effective setting that differs."""
    a, b = {}, {}
    _flatten({k: v for k, v in parent.items() if k not in IDENTITY}, "", a)
    _flatten({k: v for k, v in child.items() if k not in IDENTITY}, "", b)
    out = []
    for key in sorted(set(a) | set(b), key=lambda k: (k.split(".")[0], k)):
        if key not in a:
            out.append(f"+ {key}: {_show(b[key])}")
        elif key not in b:
            out.append(f"- {key}")
        elif a[key] != b[key] and key in ACCUMULATED and b[key][: len(a[key])] == a[key]:
            out.append(f"+ {key}: {_show(b[key][len(a[key]) :])}")
        elif a[key] != b[key]:
            out.append(f"  {key}: {_show(a[key])} → {_show(b[key])}")
    return out


def catalog(folder: str | Path | None = None) -> list[Entry]:
    """One entry per ``*.yaml`` file in ``folder`` (default: the shipped library),
    sorted by file name; ``RebalancerError`` when it holds none."""
    folder = library_folder() if folder is None else folder
    paths = sorted(Path(folder).glob("*.yaml"))
    if not paths:
        raise RebalancerError(f"{folder}: no *.yaml scenario files")
    entries = []
    for path in paths:
        try:
            data = resolve(path)
            data.setdefault("name", path.stem)
            scenario = build(data, str(path))
            parent_name = read_yaml(path).get("extends")
            if parent_name:
                parent_file = parent_path(path, parent_name)
                parent_data = resolve(parent_file)
                parent_data.setdefault("name", parent_file.stem)
                parent = build(parent_data, str(parent_file))
            else:
                parent = Scenario()
        except ScenarioError as exc:
            entries.append(Entry(path, problem=str(exc)))
            continue
        entries.append(
            Entry(
                path,
                scenario.name,
                scenario.description,
                parent_name,
                differences(parent.to_data(), scenario.to_data()),
            )
        )
    return entries
