"""The JSON summary of docs/contracts.md §4 (``Proposal.summary()``), strict JSON."""

from __future__ import annotations

import json
import os
from typing import Any

from rebalancer.export.manifest import plain_json, seal
from rebalancer.report.proposal import Proposal


def write_json(
    proposal: Proposal, path: str | os.PathLike[str], manifest: dict[str, Any] | None = None
) -> None:
    """Write ``proposal.summary()`` (with the audit ``manifest`` when given, see
    :mod:`rebalancer.export.manifest`, sealed with the digest of the whole summary); NaN or
    infinity is an error, never invalid JSON. Any object with a ``summary()`` of that
    kind serves (a household's proposal too)."""
    summary = proposal.summary()
    if manifest is not None:
        summary["manifest"] = manifest
        seal(summary)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(summary, fh, indent=2, allow_nan=False, default=plain_json)
        fh.write("\n")
