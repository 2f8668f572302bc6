"""The audit manifest a JSON summary carries, and the digests it is made of.

The manifest records what a proposal was made from and with: the program's and the
solver stack's versions, the SHA-256 of every input file and of the effective scenario
(after ``extends``, ``--shock`` and ``--relax``), the options that change the answer
(account, as-of date, tax status, lot method), the solver and its status, the timings,
the SHA-256 of the trades CSV and workbook written beside the JSON, and the digest of
the whole summary (``seal``). ``rebalancer.runs.verify.verify`` re-checks a summary against it;
a book's ``--resume`` compares it with what this run would record.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import rebalancer

MANIFEST_VERSION = 2  # 2: the summary's own digest, summary_sha256
_PACKAGES = ("cvxpy", "clarabel", "scs", "numpy", "pandas", "scipy", "pypfopt", "openpyxl")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{path, sha256, bytes}`` of a file (cached by path, size and modification time,
    so a book's shared files are hashed once per process)."""
    p = Path(path).resolve()
    st = p.stat()
    return _digest(str(p), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return {"path": path, "sha256": hash_stream(fh), "bytes": size}


def scenario_digest(scenario: dict[str, Any]) -> str:
    """SHA-256 of the effective scenario as canonical JSON (sorted keys)."""
    text = json.dumps(scenario, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(text.encode("utf-8"))


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    found = {"rebalancer": rebalancer.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        dist = "pyportfolioopt" if name == "pypfopt" else name
        try:
            found[name] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def run_record() -> dict[str, Any]:
    """What every manifest opens with: its version, the program's and the solver
    stack's versions, the platform and the command line."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "versions": _versions(),
        "platform": f"{platform.system()} {platform.machine()}",
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:2000],
    }


def input_digests(paths: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """role -> ``file_digest`` of each input given (``sha256`` None for a frame passed
    through the API, which has no file)."""
    inputs = {}
    for role, path in paths.items():
        if not path:
            continue
        try:
            inputs[role] = file_digest(path)
        except OSError:
            inputs[role] = {"path": str(path), "sha256": None, "bytes": None}
    return inputs


def build_manifest(proposal, outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The manifest of ``proposal``; ``outputs`` maps role -> the digest of a file
    written beside the JSON (``file_digest`` under its final name)."""
    inputs = input_digests(proposal.inputs)
    return {
        **run_record(),
        "account": proposal.account,
        "as_of": proposal.as_of,
        "taxable": bool(proposal.metrics.taxable),
        "lot_method": proposal.lot_method,
        "inputs": inputs,
        "scenario_sha256": scenario_digest(proposal.scenario),
        "scenario": proposal.scenario,
        "relaxed": list(proposal.relaxed),
        "solver": proposal.solver,
        "status": proposal.status,
        "timings": {k: round(float(v), 6) for k, v in proposal.timings.as_dict().items()},
        "outputs": dict(outputs),
        **({"book_model": dict(proposal.book_model)} if proposal.book_model else {}),
    }


# --- the summary's own digest ----------------------------------------------------------


def summary_digest(summary: dict[str, Any]) -> str:
    """SHA-256 of the whole JSON summary as canonical JSON (sorted keys, no spaces),
    without ``manifest.summary_sha256`` itself: any edit of any value shows."""
    manifest = summary.get("manifest")
    if isinstance(manifest, dict) and "summary_sha256" in manifest:
        summary = {
            **summary,
            "manifest": {k: v for k, v in manifest.items() if k != "summary_sha256"},
        }
    text = json.dumps(
        summary, sort_keys=True, separators=(",", ":"), allow_nan=False, default=plain_json
    )
    return sha256_bytes(text.encode("utf-8"))


def seal(summary: dict[str, Any]) -> None:
    """Record ``summary_digest`` in the summary's manifest (the last thing written)."""
    summary["manifest"]["summary_sha256"] = summary_digest(summary)


def plain_json(value: Any) -> Any:
    # numpy scalars (np.int64 counts, np.bool_ flags) that slipped into the summary
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def hash_stream(fh) -> str:
    """SHA-256 (hex) of what is left to read in the binary file ``fh``, a block at a time."""
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()
