"""The on-disk cache of what a command computes from its market files: the validated
universe, the prices and the fitted risk model, so the same command run again on
unchanged files reads them back instead of parsing megabytes of CSV and refitting.

**Key.** An entry is named by the SHA-256 of its key, which holds: the cache's format
(``CACHE_FORMAT``), the program's version and a digest of the source of the modules
that shape an entry (``SHAPING_SOURCES``: an edited reader is a new key even at the
same version), the Python, NumPy and pandas versions, and then per kind

- ``universe`` / ``prices``: the SHA-256 of the file's bytes and its suffix (which
  reader reads it);
- ``risk_model``: the SHA-256 of the prices file, a digest of the whole universe frame
  the model is fitted on (every column, its size buckets included: what the
  scenario's ``size_buckets`` shape) and the fit's settings (lookback, dense-model
  limit, PyPortfolioOpt's version).

A changed byte of a file is another key; the old entry is left to the size bound.
The file's digest is of the bytes hashed while its size and modification time stay
what they were before the read; a file that changes while it is read is not stored.

**Writes.** An entry is one file: a header (a magic line, the payload's SHA-256 and
length, the key) then the pickled payload. It is written to a temporary file in the
same folder and renamed over the entry's name (``os.replace``, atomic), so a reader
sees the whole entry or none; a writer killed mid-write leaves a temporary file that
is never read as an entry (and is removed once an hour old). Two runs writing the same
key write the same bytes; the last rename wins. An entry whose checksum, length or key
does not match, or that cannot be read, is a miss: recomputed and written again. Only
what read or fitted without error is stored: a bad file is read (and refused) afresh
every time.

**Location and bound.** ``$REBALANCER_CACHE_DIR``, else ``$XDG_CACHE_HOME/rebalancer``,
else ``~/.cache/rebalancer``; at most ``$REBALANCER_CACHE_MAX_MB`` megabytes
(``DEFAULT_MAX_MB``): after a write, the entries least recently used (read or written:
a hit touches its file) are removed until the rest fit. Entries are pickles, which
run code when loaded, so the folder must be the user's own: it is created private
(0700) and a folder owned by someone else or writable by others is not used (the
commands run as without a cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import rebalancer

CACHE_FORMAT = 1
DEFAULT_MAX_MB = 2048
MAGIC = b"rebalancer-cache\n"
TEMP_PREFIX = ".tmp-"
ENTRY_SUFFIX = ".entry"
STALE_TEMP_S = 3600.0  # a temporary file this old is a killed writer's
# the modules whose code decides what an entry holds (the readers, the risk model
# and this file), relative to the package
SHAPING_SOURCES = ("inputs", "model/risk.py", "textfile.py", "errors.py", "prepare/cache.py")


@dataclass(frozen=True)
class Key:
    """An entry's name (``digest``) and what it was made from (``material``)."""

    kind: str
    material: dict[str, Any]

    @property
    def digest(self) -> str:
        text = json.dumps(self.material, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FileDigest:
    """A file's SHA-256 and the size and modification time it had when hashed."""

    sha256: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileDigest:
        st = os.stat(path)
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return cls(h.hexdigest(), st.st_size, st.st_mtime_ns)

    def unchanged(self, path: str | os.PathLike[str]) -> bool:
        """The file still has the size and modification time it had when hashed."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


def default_root() -> Path:
    """``$REBALANCER_CACHE_DIR``, else ``$XDG_CACHE_HOME/rebalancer``, else
    ``~/.cache/rebalancer``."""
    if os.environ.get("REBALANCER_CACHE_DIR"):
        return Path(os.environ["REBALANCER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rebalancer"


def default_max_bytes() -> int:
    """``$REBALANCER_CACHE_MAX_MB`` megabytes (``DEFAULT_MAX_MB`` when unset or not a
    number)."""
    try:
        mb = float(os.environ.get("REBALANCER_CACHE_MAX_MB", DEFAULT_MAX_MB))
    except ValueError:
        mb = DEFAULT_MAX_MB
    return max(int(mb * 1024 * 1024), 0)


_SOURCE_DIGEST: list[str] = []


def source_digest() -> str:
    """SHA-256 of the source files of ``SHAPING_SOURCES`` (once per process)."""
    if not _SOURCE_DIGEST:
        package = Path(rebalancer.__file__).resolve().parent
        h = hashlib.sha256()
        for name in SHAPING_SOURCES:
            path = package / name
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for file in files:
                h.update(str(file.relative_to(package)).encode() + b"\0")
                h.update(file.read_bytes())
        _SOURCE_DIGEST.append(h.hexdigest())
    return _SOURCE_DIGEST[0]


def _base_material(kind: str) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT,
        "kind": kind,
        "rebalancer": rebalancer.__version__,
        "source": source_digest(),
        "python": "{}.{}".format(*sys.version_info[:2]),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def file_key(kind: str, path: str | os.PathLike[str], digest: FileDigest) -> Key:
    """The key of a file read whole by one reader (``universe``, ``prices``)."""
    suffix = Path(path).suffix.lower()
    return Key(kind, {**_base_material(kind), "sha256": digest.sha256, "suffix": suffix})


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's content: its index, and each column's name, dtype and
    values (numbers as their bytes, anything else as ``repr``, so NaN and the text
    'nan' differ)."""
    h = hashlib.sha256()

    def add(name: str, values: Any) -> None:
        arr = np.asarray(values)
        h.update(f"{name}\0{values.dtype}\0{len(arr)}\0".encode())
        if arr.dtype.kind in "biufcmM":
            h.update(np.ascontiguousarray(arr).tobytes())
        else:
            h.update("\x1f".join(map(repr, arr.tolist())).encode("utf-8", "surrogatepass"))

    add("index:" + str(frame.index.name), frame.index)
    for column in frame.columns:
        add(f"column:{column!r}", frame[column])
    return h.hexdigest()


def risk_key(prices: FileDigest, universe: pd.DataFrame, settings: dict[str, Any]) -> Key:
    """The key of the risk model fitted on ``universe`` and the prices file."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pypfopt = version("pyportfolioopt")
    except PackageNotFoundError:
        pypfopt = None
    material = {**_base_material("risk_model"), "prices_sha256": prices.sha256,
                "universe": frame_digest(universe), "settings": settings,
                "pyportfolioopt": pypfopt}  # fmt: skip
    return Key("risk_model", material)


@dataclass(frozen=True)
class DiskCache:
    """The cache folder ``root`` and its bound ``max_bytes`` (see the module doc)."""

    root: Path
    max_bytes: int

    @classmethod
    def default(cls) -> DiskCache | None:
        """The cache at ``default_root()`` bounded by ``default_max_bytes()``; None when
        the folder cannot be made or is not the user's own."""
        try:
            cache = cls(default_root(), default_max_bytes())
        except (KeyError, RuntimeError):  # no home folder to put it in
            return None
        return cache if cache.usable() else None

    def usable(self) -> bool:
        """The folder exists (made private if not), is ours and not writable by others."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.stat(self.root)
        except OSError:
            return False
        others = hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022)
        return not others

    def path(self, key: Key) -> Path:
        return self.root / f"{key.kind}-{key.digest}{ENTRY_SUFFIX}"

    def get(self, key: Key) -> Any | None:
        """The entry's payload, or None when there is none or it is not sound."""
        path = self.path(key)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            payload = _unpack(data, key)
            if payload is None:
                return None
            value = pickle.loads(payload)
        except Exception:  # unreadable, truncated, corrupt, another version's classes
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be evicted
        return value

    def put(self, key: Key, value: Any) -> None:
        """Write the entry atomically, then keep the folder within its bound; a
        failure (a full disk, a folder gone) leaves the cache as it was."""
        payload = pickle.dumps(value, protocol=5)
        if len(payload) > self.max_bytes:
            return
        header = json.dumps(
            {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
             "key": key.material}, sort_keys=True,
        ).encode() + b"\n"  # fmt: skip
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=self.root)
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC + header)
                fh.write(payload)
            os.replace(tmp, self.path(key))
            tmp = None
            self.evict()
        except OSError:
            pass
        finally:
            if tmp is not None:
                _remove(tmp)

    def evict(self) -> None:
        """Remove the least recently used entries until the rest fit ``max_bytes``,
        and killed writers' temporary files."""
        entries, now = [], time.time()
        try:
            scan = list(os.scandir(self.root))
        except OSError:
            return
        for item in scan:
            try:
                st = item.stat()
            except OSError:
                continue
            if item.name.startswith(TEMP_PREFIX):
                if now - st.st_mtime > STALE_TEMP_S:
                    _remove(item.path)
            elif item.name.endswith(ENTRY_SUFFIX):
                entries.append((st.st_mtime_ns, st.st_size, item.path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):  # the least recently used first
            if total <= self.max_bytes:
                break
            _remove(path)
            total -= size


def _unpack(data: bytes, key: Key) -> bytes | None:
    """The payload of an entry's bytes, or None when the header, length, checksum or
    key does not match."""
    if not data.startswith(MAGIC):
        return None
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        return None
    header = json.loads(data[len(MAGIC) : end])
    payload = data[end + 1 :]
    if header.get("key") != key.material or header.get("bytes") != len(payload):
        return None
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        return None
    return payload


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def read_file(
    cache: DiskCache, kind: str, path: str | os.PathLike[str], reader, pending: list
) -> tuple[Any, str, FileDigest | None]:
    """(what ``reader(path)`` gives, "hit" or "miss", the file's digest: None when it
    could not be hashed or changed while it was read), from the cache when the file's
    digest has an entry. On a miss the value read is added to ``pending`` as (key,
    value), for the caller to ``store`` once every file is read and cross-checked.
    ``reader``'s errors pass through: nothing is cached for a bad file."""
    try:
        digest = FileDigest.of(path)
    except OSError:
        return reader(path), "miss", None  # the reader names the missing file
    key = file_key(kind, path, digest)
    value = cache.get(key)
    if value is not None:
        return value, "hit", digest
    value = reader(path)
    if not digest.unchanged(path):  # the digest may not be of the bytes read
        return value, "miss", None
    pending.append((key, value))
    return value, "miss", digest


def store(cache: DiskCache, pending: list) -> None:
    """``put`` each (key, value) of ``pending``."""
    for key, value in pending:
        cache.put(key, value)
