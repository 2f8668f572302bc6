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


def write_json(proposal: Proposal, path: str | os.PathLike[str]) -> None:
    """Write ``proposal.summary()``; NaN or infinity is an error, never invalid JSON."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(proposal.summary(), fh, indent=2, allow_nan=False, default=_plain)
        fh.write("\n")
