"""The what-if chart (PNG, matplotlib): the trade-off a sweep traces, and exposures.

Left: expected active return against turnover (or tracking error when turnover
does not vary), one labelled point per feasible run, joined in run order. Right:
active exposure to every tilted group after each run, with the account's current
exposure as a marker.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def write_chart(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the chart of ``table`` (the what-if comparison) as a PNG at ``path``."""
    # every label comes from inputs and options (scenario names, shock names, tilted
    # groups): "$" in one is text, never the start of TeX (mathtext), which a label
    # such as "$\frac{" would break with a parse error
    with plt.rc_context({"text.parse_math": False}):
        _draw(table, path)


def _draw(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    ok = table[table["status"] != "infeasible"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110)
    x_name = "turnover"
    if len(ok) and ok["turnover"].nunique() <= 1 and ok["tracking_error"].nunique() > 1:
        x_name = "tracking_error"
    for scenario, runs in ok.groupby("scenario", sort=False):
        x = runs[x_name].to_numpy(float) * 100
        y = runs["active_return"].to_numpy(float) * 100
        left.plot(x, y, "-o", label=str(scenario))
        for label, xi, yi in zip(runs.index, x, y, strict=True):
            short = str(label).split(" ", 1)[1] if " " in str(label) else str(label)
            left.annotate(short, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if len(ok):
        left.legend(fontsize=8, loc="best")
    left.set_xlabel(f"{x_name.replace('_', ' ')} (%)")
    left.set_ylabel("expected active return (% a year)")
    left.set_title("Trade-off across runs")
    left.grid(alpha=0.3)
    bad = table[table["status"] == "infeasible"]
    if len(bad):
        left.text(
            0.01,
            0.01,
            "infeasible: " + ", ".join(map(str, bad.index)),
            transform=left.transAxes,
            fontsize=7,
            color="#9c0006",
            va="bottom",
        )

    groups = [c[len("after ") :] for c in table.columns if c.startswith("after ")]
    if groups and len(ok):
        width = 0.8 / max(len(ok), 1)
        pos = np.arange(len(groups))
        for k, (label, row) in enumerate(ok.iterrows()):
            right.barh(
                pos + k * width,
                [row[f"after {g}"] * 100 for g in groups],
                height=width,
                label=str(label),
            )
        first = ok.iloc[0]
        right.scatter(
            [first[f"before {g}"] * 100 for g in groups],
            pos + width * (len(ok) - 1) / 2,
            marker="|",
            s=300,
            color="black",
            label="current",
            zorder=3,
        )
        right.set_yticks(pos + width * (len(ok) - 1) / 2, groups, fontsize=8)
        right.axvline(0, color="grey", lw=0.8)
        right.legend(fontsize=7, loc="best")
    right.set_xlabel("active exposure after (%)")
    right.set_title("Tilted groups")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
