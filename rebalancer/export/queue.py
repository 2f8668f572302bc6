"""The drift queue of ``rebalancer drift`` (``runs.drift``): a workbook (sheet Queue)
or a CSV, and a JSON document ``{counts, accounts}``, written together or not at all."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from rebalancer.errors import RebalancerError
from rebalancer.export.atomic import OutputSet
from rebalancer.export.safe import safe_text

SUFFIXES = (".xlsx", ".csv")


def queue_format(path) -> str | None:
    """Why ``path`` cannot be a queue (its suffix), or None."""
    suffix = Path(path).suffix.lower()
    return None if suffix in SUFFIXES else f"{path}: the queue is written as .xlsx or .csv"


def write_queue_files(
    queue: pd.DataFrame, counts: dict[str, int], *, out=None, json_path=None, protected=None
) -> list[Path]:
    """``out`` (by its suffix: a workbook with the sheet Queue, or a CSV whose text
    cells are guarded against spreadsheet formulas) and ``json_path`` (``counts``:
    accounts per status; ``accounts``: the queue's rows, blank measures as null)."""
    if out is not None and queue_format(out):
        raise RebalancerError(f"--out: {queue_format(out)}")
    with OutputSet(protected=protected) as outputs:
        try:
            if out is not None:
                temp = outputs.stage(out, "--out")
                if Path(out).suffix.lower() == ".xlsx":
                    # late: openpyxl (0.1 s to import), for a workbook only
                    from openpyxl import Workbook

                    from rebalancer.export.xlsx import stream_table

                    wb = Workbook(write_only=True)
                    stream_table(wb, "Queue", queue)
                    wb.save(temp)
                else:
                    frame = queue.copy()
                    for column in frame.columns:
                        if frame[column].dtype == object:
                            frame[column] = frame[column].map(lambda v: safe_text(v, csv=True))
                    frame.to_csv(temp, index=False, encoding="utf-8", lineterminator="\n")
            if json_path is not None:
                records = [
                    {k: _plain(v) for k, v in row.items()} for row in queue.to_dict("records")
                ]
                text = json.dumps({"counts": counts, "accounts": records}, indent=1,
                                  allow_nan=False)  # fmt: skip
                outputs.stage(json_path, "--json").write_text(text + "\n", encoding="utf-8")
        except OSError as err:  # a full disk: nothing is published (OutputSet)
            raise RebalancerError(f"cannot write the queue: {err.strerror or err}") from err
        return outputs.targets


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # a NumPy number
        return _plain(value.item())
    return value
