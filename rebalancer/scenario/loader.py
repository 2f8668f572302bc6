"""Read scenario YAML files: ``yaml.safe_load``, ``extends`` inheritance, validation.

``extends: parent.yaml`` (relative to the file) loads the parent first and merges the
child over it: mappings merge key by key, anything else replaces, and a key set to
``null`` in the child removes the parent's entry (e.g. drop one tilt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rebalancer.errors import ScenarioError
from rebalancer.scenario.schema import Problems, Scenario, build
from rebalancer.scenario.selectors import SelectorSyntaxError, parse_selector

MAX_SCENARIO_BYTES = 1_000_000


def read_yaml(path: Path) -> dict[str, Any]:
    """One scenario file as plain data (no inheritance)."""
    if not path.is_file():
        raise ScenarioError(path, "file not found")
    raw = path.read_bytes()
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(path, f"file is larger than {MAX_SCENARIO_BYTES:,} bytes")
    try:
        data = yaml.safe_load(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ScenarioError(path, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(
            path, f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScenarioError(path, "expected a mapping of settings at the top level")
    return data


def _canonical(key: object) -> object:
    """Selector keys compare by meaning: 'Size:Small' and 'size:small' are one key."""
    if isinstance(key, str) and (":" in key or key.strip().lower() == "all"):
        try:
            return parse_selector(key).text
        except SelectorSyntaxError:
            return key
    return key


def merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Child over parent; nested mappings merge, ``None`` deletes."""
    out = dict(parent)
    index = {_canonical(k): k for k in out}
    for key, value in child.items():
        existing = index.get(_canonical(key))
        if value is None and key != "extends":
            if existing is not None:
                out.pop(existing)
                index.pop(_canonical(key))
            continue
        if isinstance(value, dict) and existing is not None and isinstance(out[existing], dict):
            value = merge(out[existing], value)
        if existing is not None:
            out.pop(existing)
        out[key] = value
        index[_canonical(key)] = key
    return out


def resolve(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The merged data of a scenario and all its ancestors."""
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(p.name for p in (*_seen, path))
        raise ScenarioError(_seen[0], f"extends cycle: {chain}", key="extends")
    data = read_yaml(path)
    parent_name = data.get("extends")
    if parent_name is None:
        return data
    if not isinstance(parent_name, str):
        raise ScenarioError(path, "expected a file name", key="extends")
    parent_path = path.parent / parent_name
    if not parent_path.is_file():
        raise ScenarioError(path, f"parent scenario '{parent_name}' not found", key="extends")
    merged = merge(resolve(parent_path, (*_seen, path)), data)
    if "name" not in data:  # a child is named after its own file, not its parent's name
        merged.pop("name", None)
    return merged


def load_scenario(path: str | Path) -> Scenario:
    """Load, inherit and validate one scenario; raises ScenarioError on the first problem."""
    data = resolve(path)
    data.setdefault("name", Path(path).stem)
    return build(data, str(path))


def scenario_problems(path: str | Path) -> tuple[Scenario | None, list[ScenarioError]]:
    """Every problem in a scenario at once (for ``rebalancer validate``), and the
    scenario as far as it could be built (None when the file itself cannot be read
    or its ``extends`` chain is broken)."""
    try:
        data = resolve(path)
    except ScenarioError as exc:
        return None, [exc]
    data.setdefault("name", Path(path).stem)
    problems = Problems(str(path))
    scenario = build(data, str(path), problems)
    # a scenario with problems is still returned (bad entries left out) so that its
    # sound parts can be checked against a universe too
    return scenario, problems.items
