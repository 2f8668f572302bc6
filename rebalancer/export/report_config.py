"""``--report-config``: the small YAML file that names the firm on a client report
and its disclaimer (``export.client_report``), read as data and checked key by key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rebalancer.errors import ScenarioError, nearest

DEFAULT_DISCLAIMER = (
    "This proposal was prepared by a model from the holdings, prices and assumptions shown. "
    "Expected returns, volatility and tracking error are estimates under the scenario's "
    "beliefs, not promises; the stress tests are illustrations, not forecasts. Taxes are "
    "estimated at the rates stated and trading costs from a cost model: actual figures "
    "will differ. Please consult your tax adviser before acting on it."
)
MAX_FIRM = 200  # characters: a name, not a paragraph
MAX_DISCLAIMER = 3000  # characters: keeps the report within four pages


@dataclass(frozen=True)
class ReportConfig:
    """``--report-config``: the firm named in the header, the disclaimer closing the
    report, and how many buys and how many sales are listed (the largest by amount)."""

    firm_name: str = ""
    disclaimer: str = DEFAULT_DISCLAIMER
    top_trades: int = 5


CONFIG_KEYS = ("firm_name", "disclaimer", "top_trades")


def load_report_config(path: str | os.PathLike[str] | None) -> ReportConfig:
    """The report config YAML at ``path`` (None: the defaults), read as data with the
    scenario files' loader and limits, then checked: only ``CONFIG_KEYS``; ``firm_name``
    text of at most 200 characters, ``disclaimer`` text of at most 3000, ``top_trades``
    a whole number from 1 to 10. A problem raises ``ScenarioError`` naming the file and
    the key."""
    if path is None:
        return ReportConfig()
    from rebalancer.scenario.loader import read_yaml  # late: the loader's yaml set-up

    data = read_yaml(Path(path), empty_ok=True)
    for key in data:
        if key not in CONFIG_KEYS:
            near = nearest(str(key), CONFIG_KEYS)
            hint = f" (did you mean {near!r}?)" if near else f"; expected {', '.join(CONFIG_KEYS)}"
            raise ScenarioError(path, f"unknown key{hint}", key=str(key))
    values = {}
    for key, most in (("firm_name", MAX_FIRM), ("disclaimer", MAX_DISCLAIMER)):
        if key in data:
            value = data[key]
            if not isinstance(value, str) or len(value) > most:
                raise ScenarioError(path, f"expected text of at most {most} characters", key=key)
            values[key] = value.strip()
    if "top_trades" in data:
        value = data["top_trades"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
            raise ScenarioError(path, "expected a whole number from 1 to 10", key="top_trades")
        values["top_trades"] = value
    return ReportConfig(**values)
