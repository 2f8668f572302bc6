"""The benchmarks' ``--readme`` writes: every table has its block in the README,
and writing one block leaves the rest of the file as it was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.report import README, Table, write_readme

KEYS = [
    "propose",
    "whatif",
    "scale",
    "cache",
    "pypfopt-ledoit-wolf",
    "pypfopt-ledoit-wolf-weekly",
    "pypfopt-factor",
    "book",
]


def test_every_benchmark_has_one_block_in_the_readme():
    text = README.read_text()
    for key in KEYS:
        assert text.count(f"<!-- bench:{key} -->") == 1, key
        assert text.count(f"<!-- /bench:{key} -->") == 1, key
        assert text.index(f"<!-- bench:{key} -->") < text.index(f"<!-- /bench:{key} -->")
    sources = "".join(p.read_text() for p in Path(README.parent, "benchmarks").glob("bench_*.py"))
    for key in ("propose", "whatif", "scale", "cache", "book"):
        assert f'"{key}"' in sources, key


def test_write_replaces_only_its_block(tmp_path):
    readme = tmp_path / "README.md"
    before = "intro\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\nmiddle\n<!-- bench:b -->\nold b\n<!-- /bench:b -->\nend\n"
    readme.write_text(before)
    table = Table("a", ["names", "time"])
    table.add("2,000", "0.75 s")
    write_readme("a", table.markdown(), readme)
    after = readme.read_text()
    assert "old a" not in after and "| 2,000 | 0.75 s |" in after
    assert after.replace(
        re.search(r"<!-- bench:a -->.*?<!-- /bench:a -->", after, re.S)[0], ""
    ) == before.replace("<!-- bench:a -->\nold a\n<!-- /bench:a -->", "")
    write_readme("a", "again", readme)  # a second write finds its markers again
    assert "again" in readme.read_text() and "old b" in readme.read_text()


def test_missing_block_is_one_clear_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no '<!-- bench:x -->'"):
        write_readme("x", "table", readme)
    assert readme.read_text() == "no markers\n"
