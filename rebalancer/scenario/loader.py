"""Read scenario YAML files: safe YAML, ``extends`` inheritance, validation.

A scenario is data, never code: it is read with PyYAML's safe loader (no Python
tags) under limits a scenario never comes near but a hostile or broken file does —
its size, how deep it nests, how many values it holds with every alias expanded
(a "billion laughs" file is a few lines that expand to 10**9 values), no alias
that contains itself — and a key given twice is an error rather than silently
the last one.

``extends: parent.yaml`` (relative to the file) loads the parent first and merges the
child over it: mappings merge key by key, ``screens`` accumulate (the child's are
added after the parent's, an identical one once: due diligence a parent states holds
in every child), anything else replaces, and a key set to ``null`` in the child
removes the parent's entry (e.g. drop one tilt; ``screens: null`` drops the inherited
screens, which a scenario must say why it does). The parent
must be in the folder of the scenario that was asked for (or below it): an
absolute path or one that climbs out with ``..`` is refused, so a scenario cannot
make the tool read files elsewhere. A bare name missing there is taken from the
shipped library, so ``extends: base.yaml`` works from any folder.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

from rebalancer.errors import InputError, ScenarioError
from rebalancer.scenario.schema import Problems, Scenario, build
from rebalancer.scenario.selectors import SelectorSyntaxError, parse_selector
from rebalancer.shipped import library_folder
from rebalancer.textfile import CONTROL_CHARACTER, NotText, decode_utf8

MAX_SCENARIO_BYTES = 1_000_000
MAX_DEPTH = 50  # mappings and lists inside each other (a scenario needs about 5)
MAX_VALUES = 20_000  # with every alias expanded (a scenario holds a few hundred)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with the limits of the module docstring."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", self._mark()
                )
            if self._nodes > MAX_VALUES:
                raise ComposerError(None, None, f"more than {MAX_VALUES:,} values", self._mark())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node:
        node = super().compose_document()
        _check_expanded(node)
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. 2024-13-45, an int of 5,000 digits
            raise ConstructorError(None, None, str(exc), node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:  # "<<: *defaults" entries may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base class says so
            if seen is not key_node:
                first_line = seen.start_mark.line + 1
                problem = f"key '{_short(key)}' is given twice (first at line {first_line})"
                raise ConstructorError(None, None, problem, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def _mark(self) -> yaml.Mark | None:
        return self.peek_event().start_mark if self.check_event() else None


def _short(value: Any) -> str:
    """A key or name as a message quotes it: a long one is cut."""
    text = str(value)
    return f"{text[:40]}..." if len(text) > 43 else text


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expanded(root: Node) -> None:
    """Refuse a document that, with every alias expanded, holds more than MAX_VALUES
    values, nests deeper than MAX_DEPTH, or contains itself.

    Aliases share nodes, so each distinct node is measured once (linear time
    however large the expansion); the walk keeps its own stack, no recursion.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) expanded
    open_nodes: set[int] = set()  # the nodes on the current path from the root
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            parts = [measured[id(child)] for child in _children(node)]
            values = 1 + sum(v for v, _ in parts)
            depth = 1 + max((d for _, d in parts), default=0)
            open_nodes.discard(id(node))
            measured[id(node)] = (values, depth)
            if values > MAX_VALUES:
                problem = f"expands to more than {MAX_VALUES:,} values (aliases of aliases?)"
                raise ComposerError(None, None, problem, node.start_mark)
            if depth > MAX_DEPTH:
                problem = f"nests more than {MAX_DEPTH} levels deep once aliases are expanded"
                raise ComposerError(None, None, problem, node.start_mark)
            continue
        if id(node) in measured:
            continue
        if id(node) in open_nodes:
            raise ComposerError(
                None, None, "an alias refers to a value that holds it", node.start_mark
            )
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in measured)


def read_yaml(path: Path, *, empty_ok: bool = False) -> dict[str, Any]:
    """One scenario file as plain data (no inheritance); with ``empty_ok`` any other small
    YAML settings file read with the same limits (an empty one is ``{}``)."""
    try:
        if not path.is_file():
            raise ScenarioError(path, "file not found")
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(path, f"file is larger than {MAX_SCENARIO_BYTES:,} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        text = decode_utf8(raw)
    except NotText as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise ScenarioError(path, f"{where}{exc.reason}; save it as UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.reader.ReaderError as exc:  # a control character where YAML allows none
        line = text.count("\n", 0, exc.position) + 1
        raise ScenarioError(
            path, f"line {line}: character U+{exc.character:04X} is not allowed in YAML"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(
            path, f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if data is None and empty_ok:
        return {}
    if data is None:
        raise ScenarioError(
            path, "holds no settings; a scenario states at least one (e.g. extends: base.yaml)"
        )
    if not isinstance(data, dict):
        raise ScenarioError(path, "expected a mapping of settings at the top level")
    _refuse_control_characters(data, path)
    return data


def _refuse_control_characters(data: Any, path: Path, key: str = "") -> None:
    """Raise naming the key of the first text (key or value) with a control character:
    YAML escapes ("\\x01", "\\e") can put in a scenario what no workbook can hold."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for name, value in items:
        where = f"{key}[{name + 1}]" if isinstance(data, list) else f"{key}.{name}".lstrip(".")
        for text in (name, value):
            found = CONTROL_CHARACTER.search(text) if isinstance(text, str) else None
            if found:
                raise ScenarioError(
                    path, f"holds the control character U+{ord(found[0]):04X}", key=where
                )
        if isinstance(value, dict | list):
            _refuse_control_characters(value, path, where)


def _canonical(key: object) -> object:
    """Selector keys compare by meaning: 'Size:Small' and 'size:small' are one key."""
    if isinstance(key, str) and (":" in key or key.strip().lower() == "all"):
        try:
            return parse_selector(key).text
        except SelectorSyntaxError:
            return key
    return key


# top-level lists a child adds to rather than replaces
ACCUMULATED = ("screens",)


def merge(parent: dict[str, Any], child: dict[str, Any], top: bool = True) -> dict[str, Any]:
    """Child over parent; nested mappings merge, ``ACCUMULATED`` lists add up (an entry
    already inherited is not repeated), ``None`` deletes."""
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
            value = merge(out[existing], value, top=False)
        elif top and key in ACCUMULATED and existing is not None:
            inherited = out[existing]
            if isinstance(inherited, list) and isinstance(value, list):
                value = inherited + [entry for entry in value if entry not in inherited]
        if existing is not None:
            out.pop(existing)
        out[key] = value
        index[_canonical(key)] = key
    return out


def parent_path(path: Path, name: Any, folder: Path | None = None) -> Path:
    """The file ``extends: name`` in the scenario ``path`` points at.

    ``name`` is relative to ``path``'s folder and must stay inside ``folder`` (by
    default that same folder): absolute paths and paths leading out of it are
    refused. A bare file name that is not there is looked up in the shipped library
    (``extends: base.yaml`` works from any folder), as ``batch`` looks up the
    scenarios its accounts file names (``locate``: one rule for both).
    """
    path = Path(path).resolve()
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(path, "expected the file name of the parent scenario", key="extends")
    try:
        found = locate(name, path.parent, folder or path.parent, what="a parent scenario")
    except OutsideFolder as exc:
        raise ScenarioError(path, str(exc), key="extends") from None
    if found is None:
        raise ScenarioError(path, f"parent scenario '{_short(name)}' not found", key="extends")
    return found


class OutsideFolder(ValueError):
    """A scenario path that leaves the folder it must stay in (the message says how)."""


def locate(name: str, start: Path, folder: Path, what: str = "a scenario") -> Path | None:
    """The scenario file ``name`` (relative to the folder ``start``) names, or None
    when there is none.

    The path must stay inside ``folder`` (``inside``). A bare file name that is not
    there is taken from the shipped library.
    """
    target = inside(name, start, folder, what)
    if _is_file(target):
        return target
    shipped = library_folder() / name
    if Path(name).name == name and _is_file(shipped):  # a bare name: the shipped library's
        return shipped.resolve()
    return None


def named_in_accounts(base: Path, name: str, accounts: str, row: int, column: str) -> str:
    """A scenario or benchmark the accounts file ``accounts`` (in the folder ``base``)
    names in ``row``, ``column``: relative to that folder and inside it — the rule of
    ``extends`` (``inside``) — and a scenario not found there is a bare name from the
    shipped library. A path out of the folder is refused naming the accounts file, its
    row and the column. One rule for ``batch`` and ``validate --accounts``."""
    try:
        if column == "scenario":
            found = locate(name, base, base)
        else:
            found = inside(name, base, base, what=f"a {column}", kind="accounts file's")
    except OutsideFolder as exc:
        raise InputError(accounts, str(exc), row=row, column=column) from None
    return str(found or base / name)  # a missing file: reading it says so


def inside(
    name: str, start: Path, folder: Path, what: str = "a scenario", kind: str = "scenario"
) -> Path:
    """``start / name`` resolved (symlinks too), which need not exist, when it stays
    inside ``folder``; an absolute path, or one that climbs out with ``..``, raises
    ``OutsideFolder`` (``what``: the file named, ``kind``: what the folder holds, for
    the message). The one rule for every path a scenario or an accounts file names."""
    folder = Path(folder).resolve()
    if "\x00" in name or Path(name).is_absolute():
        raise OutsideFolder(
            f"'{_short(name)}' is not a relative path; name {what} file in the {kind} "
            f"folder {folder}" + (" (e.g. base.yaml)" if kind == "scenario" else "")
        )
    target = (Path(start) / name).resolve()
    if not target.is_relative_to(folder):
        raise OutsideFolder(
            f"'{_short(name)}' is outside the {kind} folder {folder}; {what} must be in "
            "that folder or below it"
        )
    return target


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, say
        return False


def resolve(
    path: str | Path,
    _seen: tuple[Path, ...] = (),
    _folder: Path | None = None,
    files: list[Path] | None = None,
) -> dict[str, Any]:
    """The merged data of a scenario and all its ancestors (see ``parent_path``);
    ``files``, when given, receives the path of each file read, the scenario first."""
    path = Path(path).resolve()
    folder = _folder or path.parent
    if files is not None:
        files.append(path)
    if path in _seen:
        chain = " -> ".join(p.name for p in (*_seen, path))
        raise ScenarioError(_seen[0], f"extends cycle: {chain}", key="extends")
    data = read_yaml(path)
    if data.get("extends") is None:
        return data
    parent = parent_path(path, data["extends"], folder)
    # a parent from the shipped library extends within the library
    within = folder if parent.is_relative_to(folder) else parent.parent
    merged = merge(resolve(parent, (*_seen, path), within, files), data)
    if "name" not in data:  # a child is named after its own file, not its parent's name
        merged.pop("name", None)
    return merged


def scenario_files(path: str | Path) -> list[Path]:
    """Every file the scenario ``path`` reads: itself, then its ``extends`` chain (as far
    as it can be followed: a broken link is the load's error to report)."""
    files: list[Path] = []
    with suppress(ScenarioError):
        resolve(path, files=files)
    return list(dict.fromkeys(files))


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
