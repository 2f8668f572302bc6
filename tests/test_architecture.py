"""The package's import graph, read from the source: no module imports, however late
(at the top of a module or inside a function), a module that imports it back.

The graph is built with ``ast`` from every ``rebalancer/**/*.py``: an edge A -> B for
each ``import`` or ``from ... import`` in A that names B or something inside B (a
function-level import counts: it runs when the function does). Importing
``rebalancer.x.y`` also runs the package ``rebalancer.x`` first, so that is an edge
too, unless the importer is inside that package (its package is always set up
before it). The root package ``rebalancer`` is left out: every module is inside it,
and its ``__getattr__`` re-exports the public API (``propose``, ``whatif``) lazily
from the top of the pipeline.

``KNOWN_CYCLES`` lists the cycles that remain until the package is restructured;
the test fails on any cycle not in it, and on an entry of it that is gone (so the
list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rebalancer"

# Cycles still in the code, each as its modules in order from the smallest name.
# Empty: none remain. A cycle may be added here only with a comment saying which
# restructuring step removes it.
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement asks for (``from a import b``: ``a.b``,
    which is the module ``a`` when ``b`` is a name in it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the importer's package up
            parents = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parents, *([base] if base else [])])
        return [f"{base}.{alias.name}" for alias in node.names]
    return []


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (see the module docstring)."""
    modules = _modules()

    def owner(name: str) -> str | None:  # the module a dotted name is, or is inside
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for name in _imported(node, package):
                target = owner(name)
                if target is None:
                    continue  # not the package's
                parts = target.split(".")
                for i in range(2, len(parts) + 1):  # the packages it runs first, then it
                    step = ".".join(parts[:i])
                    if not (module == step or module.startswith(step + ".")):
                        targets.add(step)
        graph[module] = targets - {"rebalancer"}
    graph.pop("rebalancer", None)
    return graph


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Every elementary cycle, each once: its modules in order, starting from the
    smallest name (a depth-first search from each module through larger names only)."""
    found: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.add(tuple(path))
            elif nxt > start and nxt not in path:
                walk(start, nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return found


def _shown(cycle: tuple[str, ...]) -> str:
    return " -> ".join([*cycle, cycle[0]])


def test_the_graph_is_read():
    # the reader finds the modules and their imports, late ones included
    graph = import_graph()
    assert "rebalancer.cli.propose" in graph and "rebalancer.export.atomic" in graph
    assert "rebalancer.runs.propose" in graph["rebalancer.cli.propose"]  # inside a command
    assert "rebalancer.export" in graph["rebalancer.runs.book.run"]  # a package runs first


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == {("a", "b"), ("a", "b", "c")}


def test_no_import_cycles():
    found = cycles(import_graph())
    new = sorted(_shown(c) for c in found - KNOWN_CYCLES)
    gone = sorted(_shown(c) for c in KNOWN_CYCLES - found)
    assert not new, "import cycles (see the module docstring):\n" + "\n".join(new)
    assert not gone, "no longer cycles: remove them from KNOWN_CYCLES:\n" + "\n".join(gone)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_checks_and_the_limits_never_import_the_optimizer():
    # the checks re-measure the limits from the inputs alone, and verify runs them
    # without cvxpy; the limits (rebalancer.limits) are read by both
    graph = import_graph()
    for package in ("rebalancer.checks", "rebalancer.limits"):
        for start in (m for m in graph if _inside(m, package)):
            found = sorted(m for m in reachable(graph, start) if _inside(m, "rebalancer.optimize"))
            assert not found, f"{start} imports the optimizer through {found}"


def test_the_optimizer_knows_no_scenario_key():
    # a limit's scenario setting is stated once, by its limit (rebalancer.limits): the
    # optimizer names its constraints, and the limits map them to settings
    graph = import_graph()
    optimizer = [m for m in graph if _inside(m, "rebalancer.optimize")]
    assert optimizer
    for module in optimizer:
        assert not any(_inside(m, "rebalancer.limits") for m in graph[module]), module
    for path in (PACKAGE / "optimize").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for key in ('"constraints.', "'constraints.", '"tilts.', 'f"tilts.', 'f"constraints.'):
            assert key not in text, f"{path.name} names a scenario key ({key}...)"


# modules that may still write a limit's key: the scenario package declares them,
# the verify report explains the settings a run moved, and ``universe.scenario_fit``
# lists the per-group settings whose groups it checks (in the order of its warnings)
NAMES_KEYS = {"runs/verify", "model/universe.py"}


def test_nothing_outside_the_limits_names_a_limits_setting():
    # every advisor limit's scenario key is written in its own module of
    # rebalancer.limits; the rest loops over the limits
    from rebalancer.limits import LIMITS

    keys = {limit.key for limit in LIMITS if "." in limit.key}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if parts[0] in ("limits", "scenario") or any(
            "/".join(parts).startswith(allowed) for allowed in NAMES_KEYS
        ):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [
            f"{path.name}: {node.value}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in keys
        ]
    assert not offenders, offenders


def test_every_constraint_that_can_give_belongs_to_a_limit():
    # the elastic solve's conflicts carry their constraint's name (Conflict.source):
    # each soft kind of the optimizer is some advisor limit's, which states it in the
    # scenario's terms and relaxes it
    from rebalancer.limits import LIMITS, AdvisorLimit
    from rebalancer.optimize.constraints import KINDS, ActiveCap, LinearRow

    sources = {source for limit in LIMITS for source in limit.sources}
    named = [kind.name for kind in KINDS if kind.soft and kind not in (ActiveCap, LinearRow)]
    assert named and set(named) <= sources, set(named) - sources
    # an ActiveCap or a LinearRow is named by its limit: each limit giving caps or rows
    # is the source of its own
    for method in ("problem_caps", "problem_rows"):
        giving = [
            limit
            for limit in LIMITS
            if getattr(type(limit), method) is not getattr(AdvisorLimit, method)
        ]
        assert giving and all(limit.name in limit.sources for limit in giving), method


# Structure flags that say whether one limit is set: each still fixes that limit's
# constraint kind. A new limit of linear rows states none (``Structure.rows``); the
# list only shrinks, as kinds move onto rows.
KNOWN_FLAGS = {"has_tracking_error", "has_sector_max", "has_gain_limit"}


def test_no_new_flag_per_limit_in_the_problem_structure():
    import dataclasses

    from rebalancer.optimize.problem import Structure

    flags = {f.name for f in dataclasses.fields(Structure) if f.name.startswith("has_")}
    assert flags <= KNOWN_FLAGS, f"a flag per limit in Structure: {sorted(flags - KNOWN_FLAGS)}"
    assert flags >= KNOWN_FLAGS, f"gone: remove from KNOWN_FLAGS: {sorted(KNOWN_FLAGS - flags)}"


def test_every_limit_module_is_in_the_limits():
    # a limit's module is all the package needs of it (``limits._discovered``): the
    # checks, the relaxation, the rounding and the optimizer's rows loop over LIMITS
    import importlib

    from rebalancer.limits import _MACHINERY, LIMITS, AdvisorLimit

    for path in sorted((PACKAGE / "limits").glob("*.py")):
        if path.stem in _MACHINERY or path.stem == "__init__":
            continue
        module = importlib.import_module(f"rebalancer.limits.{path.stem}")
        own = [
            v
            for v in vars(module).values()
            if isinstance(v, AdvisorLimit) and type(v).__module__ == module.__name__
        ]
        assert all(any(v is x for x in LIMITS) for v in own), path.name


def test_stages_do_not_import_the_commands():
    # the commands' library functions (``rebalancer.runs``) and the command line wire
    # the stages together: they may import any stage, no stage imports them
    graph = import_graph()
    top = ("rebalancer.runs", "rebalancer.cli")

    def is_top(name: str) -> bool:
        return any(name == t or name.startswith(t + ".") for t in top)

    assert any(is_top(m) for m in graph) and any(not is_top(m) for m in graph)
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not is_top(module)
        for target in targets
        if is_top(target)
    )
    assert not wrong, "a stage imports a command (docs/architecture.md):\n" + "\n".join(wrong)


def test_every_subpackage_is_installed():
    # pyproject.toml lists the packages a wheel carries: a folder left out of the list
    # imports from a checkout and fails from an installed copy
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        for init in PACKAGE.rglob("__init__.py")
    }
    assert folders <= listed, f"not in pyproject.toml's packages: {sorted(folders - listed)}"
