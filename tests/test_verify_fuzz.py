"""``verify`` fuzzed: random type, value and structure edits of a real proposal's JSON.

Each case is one edit of the parsed JSON (a value of another type, another value, a
key removed or added, a list cut or grown, deep nesting) or of its text (cut short,
a byte flipped, ``NaN``), or a forgery: a limit of the recorded scenario or a
recorded digest changed with every digest of the JSON recomputed to match. For each:
no traceback, done within ``CASE_SECONDS``, exit 0 only when the JSON still means
the same (its canonical form is unchanged), every forgery caught. Other values
edited and resealed (a digest is no signature: what verify does not re-measure it
cannot see) must still end without a traceback.

A sample runs by default; ``REBALANCER_VERIFY_FUZZ_CASES=1000`` runs the full count.
"""

from __future__ import annotations

import copy
import json
import os
import random
import time

import pytest
from click.testing import CliRunner

from rebalancer.cli import main
from tests.test_verify_hostile import canonical_sha256, propose, reseal

CASES = int(os.environ.get("REBALANCER_VERIFY_FUZZ_CASES", "100"))
SEED = int(os.environ.get("REBALANCER_VERIFY_FUZZ_SEED", "20261204"))
CASE_SECONDS = 30.0
LIMITS = [  # (path in the recorded scenario, a forged value)
    (("constraints", "max_turnover"), 0.95),
    (("constraints", "max_position", "default"), 0.9),
    (("constraints", "cash", "min"), 0.0),
    (("constraints", "liquidity", "days"), 50.0),
    (("tilts", "size:small", "band"), 0.5),
    (("constraints", "max_tracking_error"), 1.5),
]


def _nodes(value, path=()):
    """Every (path, value) in a parsed JSON document, containers first."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _nodes(child, (*path, i))


def _set(doc, path, value):
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _other_value(rng: random.Random, value):
    """A value of another type, or of the same type with another value."""
    choices = [
        None, True, False, 0, -1, 1e308, -1e-300, 10**25, "", "x", "\x1b[31m", "2026-02-30",
        "a" * 5000, [], [1, "a"], {}, {"k": 1}, [[[[]]]],
    ]  # fmt: skip
    if isinstance(value, bool):
        choices.append(not value)
    elif isinstance(value, int | float):
        choices += [value + 1, -value, value * (1 + 1e-9), value * 1000, float(value) + 0.5]
    elif isinstance(value, str):
        choices += [value + "x", value.upper(), value[:-1], "'" + value, " " + value]
    return rng.choice(choices)


def _edit(rng: random.Random, original: dict) -> tuple[str, str, bool | None]:
    """(kind of edit, the edited JSON text, whether it is a forgery of a limit or a
    digest — None for other values resealed, which verify may or may not see)."""
    doc = copy.deepcopy(original)
    nodes = list(_nodes(doc))[1:]
    path, value = rng.choice(nodes)
    kind = rng.choices(
        ["same", "value", "delete", "add", "list", "nest", "text"]
        + ["forge limit", "forge digest", "resealed"],
        weights=[6, 36, 12, 8, 8, 4, 10, 6, 6, 4],
    )[0]
    if kind == "same":  # reformatted, reordered: the same in meaning
        return kind, json.dumps(doc, indent=rng.choice([None, 1, 4]), sort_keys=True), False
    if kind == "value":
        _set(doc, path, _other_value(rng, value))
    elif kind == "delete":
        parent = path[:-1]
        container = doc
        for part in parent:
            container = container[part]
        del container[path[-1]]
    elif kind == "add":
        containers = [(p, v) for p, v in _nodes(doc) if isinstance(v, dict)]
        _, target = rng.choice(containers)
        target[rng.choice(["extra", "manifest", "sha256", "path", "x" * 300])] = _other_value(
            rng, None
        )
    elif kind == "list":
        lists = [(p, v) for p, v in _nodes(doc) if isinstance(v, list) and v]
        if lists:
            p, target = rng.choice(lists)
            op = rng.choice(["drop", "double", "swap", "reverse"])
            if op == "drop":
                target.pop(rng.randrange(len(target)))
            elif op == "double":
                target.append(copy.deepcopy(target[rng.randrange(len(target))]))
            elif op == "swap" and len(target) > 1:
                i, j = rng.sample(range(len(target)), 2)
                target[i], target[j] = target[j], target[i]
            else:
                target.reverse()
    elif kind == "nest":
        depth = rng.choice([40, 900, 5000, 100_000])
        text = json.dumps(doc)
        cut = text.index("{", 1)
        return kind, text[:cut] + "[" * depth + "]" * depth + ", " + text[cut:], False
    elif kind == "text":
        text = json.dumps(doc, indent=1)
        op = rng.choice(["cut", "flip", "nan", "huge"])
        i = rng.randrange(len(text))
        if op == "cut":
            return kind, text[:i], False
        if op == "flip":
            return kind, text[:i] + chr(rng.randrange(32, 127)) + text[i + 1 :], False
        word = "NaN" if op == "nan" else "1" + "0" * 400
        return kind, text.replace('"n_trades": ', f'"n_trades": {word}, "_": ', 1), False
    elif kind == "forge limit":
        where, forged = rng.choice(LIMITS)
        node = doc["manifest"]["scenario"]
        for part in where[:-1]:
            node = node[part]
        node[where[-1]] = forged
        return kind, _forged(doc), True
    elif kind == "resealed":  # any value, digests recomputed: robustness only
        if path[:2] != ("manifest", "summary_sha256"):
            _set(doc, path, _other_value(rng, value))
        return kind, _forged(doc), None
    elif kind == "forge digest":
        m = doc["manifest"]
        files = [(k, r) for k in ("inputs", "outputs") for r in m[k]]
        kind_, role = rng.choice(files)
        m[kind_][role]["sha256"] = f"{rng.getrandbits(256):064x}"
        return kind, _forged(doc), True
    return kind, json.dumps(doc, indent=1), False


def _forged(doc: dict) -> str:
    return json.dumps(reseal(doc), indent=1)


def _means_the_same(text: str, original: dict) -> bool:
    """Whether ``text`` parses to the original document (same canonical JSON)."""
    try:
        return canonical_sha256(json.loads(text)) == canonical_sha256(original)
    except (ValueError, RecursionError):
        return False


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    paths = propose(tmp_path_factory.mktemp("fuzz"))
    return paths, json.loads(paths["json"].read_text())


def test_verify_fuzzed(base, tmp_path):
    paths, original = base
    runner = CliRunner()
    rng = random.Random(SEED)
    seen: dict[str, int] = {}
    for case in range(CASES):
        kind, text, forged = _edit(rng, original)
        expect = "fail" if forged else "pass" if _means_the_same(text, original) else "fail"
        if forged is None:
            expect = "either"
        seen[kind] = seen.get(kind, 0) + 1
        target = tmp_path / f"case{case % 2}.json"
        target.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        result = runner.invoke(main, ["verify", str(target)])
        took = time.perf_counter() - started
        where = f"case {case} ({kind}, seed {SEED}): {result.output[-600:]}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(where) from result.exception
        assert "Traceback" not in result.output, where
        assert took < CASE_SECONDS, f"{where} took {took:.1f} s"
        assert result.exit_code in (0, 1), where
        if expect != "either":
            assert result.exit_code == (0 if expect == "pass" else 1), where
        if result.exit_code == 1:
            assert result.output.strip(), where
    assert seen.get("forge limit", 0) + seen.get("forge digest", 0) > 0 or CASES < 20
