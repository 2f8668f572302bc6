"""The JSON summary of DESIGN.md §3 (``Proposal.summary()``), strict JSON."""

from __future__ import annotations

import json
import os
from typing import Any

from rebalancer.proposal import Proposal


def _plain(value: Any) -> Any:
    # numpy scalars (np.int64 counts, np.bool_ flags) that slipped into the summary
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_json(
    proposal: Proposal, path: str | os.PathLike[str], manifest: dict[str, Any] | None = None
) -> None:
    """Write ``proposal.summary()`` (with the audit ``manifest`` when given, see
    :mod:`rebalancer.audit`); NaN or infinity is an error, never invalid JSON."""
    summary = proposal.summary()
    if manifest is not None:
        summary["manifest"] = manifest
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(summary, fh, indent=2, allow_nan=False, default=_plain)
        fh.write("\n")
