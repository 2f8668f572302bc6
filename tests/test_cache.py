"""The on-disk cache of the market files and the risk model (``rebalancer.prepare.cache``):
a run that reads the cache writes what a run that does not writes; a changed byte, a
corrupt entry or a writer killed mid-write is a miss, never a wrong answer; two runs at
once both succeed and agree; ``--no-cache`` leaves the folder alone; the size bound
evicts the least recently used entries.

Each test has its own cache folder (``conftest._cache_dir`` sets
``REBALANCER_CACHE_DIR``); the commands run on copies of the shipped example files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rebalancer.prepare.cache import (
    ENTRY_SUFFIX,
    STALE_TEMP_S,
    TEMP_PREFIX,
    DiskCache,
    Key,
    frame_digest,
)
from tests.conftest import BOOK_AS_OF, EXAMPLES, ROOT, SCENARIOS, run_cli

# values two runs of the same code on the same inputs may differ in
VOLATILE = {"timings", "cache", "summary_sha256", "command", "destination_seconds",
            "compile_seconds"}  # fmt: skip
ROLES = ("universe", "prices", "risk_model")


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Copies of the example files the tests may change a byte of."""
    folder = tmp_path / "in"
    folder.mkdir()
    names = ("holdings", "universe", "prices", "benchmark", "accounts")
    for name in names:
        shutil.copy(EXAMPLES / f"{name}.csv", folder / f"{name}.csv")
    return {name: folder / f"{name}.csv" for name in names}


def cache_dir() -> Path:
    return Path(os.environ["REBALANCER_CACHE_DIR"])


def entries() -> list[Path]:
    folder = cache_dir()
    return sorted(folder.glob(f"*{ENTRY_SUFFIX}")) if folder.exists() else []


def propose_args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "propose",
        "--holdings", str(files["holdings"]),
        "--universe", str(files["universe"]),
        "--prices", str(files["prices"]),
        "--benchmark", str(files["benchmark"]),
        "--accounts", str(files["accounts"]),
        "--account", "TAX-2M",
        "--scenario", str(SCENARIOS / "balanced_rerating.yaml"),
        "--as-of", BOOK_AS_OF,
        "--trades", str(out / "trades.csv"),
        "--json", str(out / "summary.json"),
        "--force",
        "-q",
        *extra,
    ]  # fmt: skip


def propose(files: dict[str, Path], out: Path, *extra: str) -> tuple[bytes, dict]:
    """The trades CSV's bytes and the JSON summary of one ``propose`` into ``out`` (the
    same paths every time, so the manifests name the same files)."""
    out.mkdir(exist_ok=True)
    result = run_cli(*propose_args(files, out, *extra), tax_status=False, force=False)
    assert result.exit_code == 0, result.output
    trades = (out / "trades.csv").read_bytes()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return trades, summary


def test_a_hit_writes_what_a_miss_writes(files, tmp_path):
    out = tmp_path / "out"
    trades_cold, cold = propose(files, out)
    assert cold["cache"] == dict.fromkeys(ROLES, "miss")
    assert {p.name.split("-")[0] for p in entries()} == set(ROLES)
    trades_warm, warm = propose(files, out)
    assert warm["cache"] == dict.fromkeys(ROLES, "hit")
    trades_off, off = propose(files, out, "--no-cache")
    assert "cache" not in off
    assert trades_warm == trades_cold == trades_off
    assert _stable(warm) == _stable(cold) == _stable(off)
    assert warm["manifest"]["inputs"] == cold["manifest"]["inputs"]


def _change_a_price(path: Path) -> None:
    """One byte of the prices file changed: the last digit of a price on the last day."""
    text = path.read_bytes()
    end = text.rstrip(b"\n").rfind(b",") - 1  # the digit before the last comma
    while not text[end : end + 1].isdigit():
        end -= 1
    digit = text[end : end + 1]
    path.write_bytes(text[:end] + (b"1" if digit != b"1" else b"2") + text[end + 1 :])


def test_a_changed_byte_is_a_miss(files, tmp_path):
    out = tmp_path / "out"
    propose(files, out)
    before = set(entries())
    _change_a_price(files["prices"])
    _, changed = propose(files, out)
    assert changed["cache"] == {"universe": "hit", "prices": "miss", "risk_model": "miss"}
    assert len(set(entries()) - before) == 2  # a new prices entry and a new risk model
    # and the answer is the changed file's: the same as without the cache
    trades_off, off = propose(files, tmp_path / "off", "--no-cache")
    assert (out / "trades.csv").read_bytes() == trades_off
    assert _stable(changed)["manifest"]["inputs"] == _stable(off)["manifest"]["inputs"]


def test_a_corrupt_or_truncated_entry_is_a_miss(files, tmp_path):
    out = tmp_path / "out"
    trades, cold = propose(files, out)
    found = {p.name.split("-")[0]: p for p in entries()}
    data = found["prices"].read_bytes()
    found["prices"].write_bytes(data[: len(data) // 2])  # truncated
    data = bytearray(found["risk_model"].read_bytes())
    data[-100] ^= 0xFF  # a flipped byte inside the payload
    found["risk_model"].write_bytes(bytes(data))
    found["universe"].write_bytes(b"")  # empty
    again, summary = propose(files, out)
    assert summary["cache"] == dict.fromkeys(ROLES, "miss")
    assert again == trades and _stable(summary) == _stable(cold)
    # written again whole: the next run reads them all
    _, third = propose(files, out)
    assert third["cache"] == dict.fromkeys(ROLES, "hit")


def test_an_entry_under_another_key_is_not_read(tmp_path):
    cache = DiskCache(tmp_path / "c", 10**9)
    assert cache.usable()
    one, two = Key("prices", {"sha256": "a"}), Key("prices", {"sha256": "b"})
    cache.put(one, [1.0, 2.0])
    shutil.copy(cache.path(one), cache.path(two))  # a name that lies about its key
    assert cache.get(one) == [1.0, 2.0]
    assert cache.get(two) is None


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
import numpy as np
from rebalancer.prepare import cache as c

store = c.DiskCache(Path(sys.argv[1]), 10**10)
store.usable()
when = sys.argv[2]
real_fdopen = os.fdopen

class HalfThenDie:
    # the payload half written, then the process killed (SIGKILL: no clean-up runs)
    def __init__(self, fh):
        self.fh = fh
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def write(self, data):
        if len(data) > 1000:
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        self.fh.write(data)

if when == "mid-write":
    c.os.fdopen = lambda fd, mode: HalfThenDie(real_fdopen(fd, mode))
else:  # written whole, killed before the rename publishes it
    c.os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
store.put(c.Key("prices", {"sha256": "x"}), np.arange(100_000.0))
"""


@pytest.mark.parametrize("when", ["mid-write", "before-rename"])
def test_a_killed_writer_leaves_nothing_read_as_valid(tmp_path, when):
    root = tmp_path / "c"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(KILLED_WRITER), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script), str(root), when], env=env, timeout=120)
    assert done.returncode == -signal.SIGKILL
    left = list(root.iterdir())
    assert left and all(p.name.startswith(TEMP_PREFIX) for p in left)  # a temporary file only
    cache = DiskCache(root, 10**10)
    key = Key("prices", {"sha256": "x"})
    assert cache.get(key) is None
    # a later writer publishes the entry whole and removes the stale temporary file
    old = time.time() - STALE_TEMP_S - 60
    for p in left:
        os.utime(p, (old, old))
    cache.put(key, np.arange(10.0))
    assert np.array_equal(cache.get(key), np.arange(10.0))
    assert [p.name for p in root.iterdir()] == [cache.path(key).name]


def test_two_runs_at_once_both_succeed_and_agree(files, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs, outs = [], []
    for i in range(2):
        out = tmp_path / f"out{i}"
        out.mkdir()
        outs.append(out)
        cmd = [sys.executable, "-m", "rebalancer.cli", *propose_args(files, out)]
        runs.append(subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True))
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
    a, b = ((o / "trades.csv").read_bytes() for o in outs)
    assert a == b
    # what they left is sound: a third run reads every entry
    _, third = propose(files, tmp_path / "third")
    assert third["cache"] == dict.fromkeys(ROLES, "hit")
    assert (tmp_path / "third" / "trades.csv").read_bytes() == a
    assert not [p for p in cache_dir().iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_no_cache_writes_nothing(files, tmp_path):
    _, summary = propose(files, tmp_path / "out", "--no-cache")
    assert "cache" not in summary
    assert not cache_dir().exists()


def _bad_price(files: dict[str, Path]) -> str:
    lines = files["universe"].read_text(encoding="utf-8").splitlines()
    row = lines[1].split(",")
    row[lines[0].split(",").index("price")] = "abc"
    files["universe"].write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    return "universe.csv"


def _unknown_ticker(files: dict[str, Path]) -> str:
    # the universe and prices read whole and sound; the cross-check fails after them
    lines = files["holdings"].read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("ticker")] = "NOSUCH"
    files["holdings"].write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    return "holdings.csv"


@pytest.mark.parametrize("spoil", [_bad_price, _unknown_ticker])
def test_a_bad_file_is_refused_every_time_and_nothing_is_cached(files, tmp_path, spoil):
    named = spoil(files)
    out = tmp_path / "out"
    out.mkdir()
    said = set()
    for _ in range(2):
        result = run_cli(*propose_args(files, out), tax_status=False, force=False)
        assert result.exit_code == 1
        assert named in result.output
        said.add(result.output)
        assert not list(out.iterdir())
    assert len(said) == 1  # the same line both times
    assert entries() == []  # nothing stored for a run that failed reading


def test_the_size_bound_evicts_the_least_recently_used(tmp_path):
    cache = DiskCache(tmp_path / "c", 10**9)
    assert cache.usable()
    keys = [Key("prices", {"sha256": str(i)}) for i in range(3)]
    value = np.zeros(10_000)  # 80 kB each
    cache.put(keys[0], value)
    cache.put(keys[1], value)
    size = cache.path(keys[0]).stat().st_size
    for i, key in enumerate(keys[:2]):  # both written long ago, the first earlier
        t = time.time() - 1000 + i
        os.utime(cache.path(key), (t, t))
    assert cache.get(keys[0]) is not None  # the first now the most recently used
    bounded = DiskCache(cache.root, 2 * size + size // 2)  # room for two
    bounded.put(keys[2], value)
    assert cache.path(keys[0]).exists() and cache.path(keys[2]).exists()
    assert not cache.path(keys[1]).exists()
    # an entry larger than the whole bound is not written at all
    DiskCache(cache.root, 1000).put(Key("prices", {"sha256": "big"}), value)
    assert not cache.path(Key("prices", {"sha256": "big"})).exists()


def test_the_commands_keep_within_the_bound(files, tmp_path, monkeypatch):
    monkeypatch.setenv("REBALANCER_CACHE_MAX_MB", "1")  # the prices entry is ~7 MB
    _, summary = propose(files, tmp_path / "out")
    assert summary["cache"]["prices"] == "miss"
    assert sum(p.stat().st_size for p in entries()) <= 1024 * 1024
    _, again = propose(files, tmp_path / "out")
    assert again["cache"]["prices"] == "miss" and again["cache"]["universe"] == "hit"


def test_a_folder_others_may_write_is_not_used(tmp_path):
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX permissions")
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o777)
    assert not DiskCache(root, 10**9).usable()
    root.chmod(0o700)
    assert DiskCache(root, 10**9).usable()


def test_the_frame_digest_sees_every_cell():
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "nan"]}, index=["P", "Q"])
    digest = frame_digest(frame)
    assert frame_digest(frame.copy()) == digest
    changed = [
        frame.assign(a=[1.0, 2.0]),
        frame.assign(b=["x", np.nan]),
        frame.rename(index={"Q": "R"}),
        frame.rename(columns={"b": "c"}),
        frame.assign(a=[1, 0]),
    ]
    assert len({digest, *map(frame_digest, changed)}) == len(changed) + 1
