"""Every shipped scenario backtested on the example data: the README's table and chart.

    .venv/bin/python -m benchmarks.backtest_library [--account IRA-250K]
        [--start 2024-11-20] [--end 2026-11-20] [--every month]
        [--chart docs/img/backtest.png] [--readme]

Runs ``rebalancer backtest`` (``runs.backtest.files.backtest_to_files``, in this
process) of one example account under each ``*.yaml`` of the scenario library, side by
side with its starting portfolio held, prints one row per scenario (the JSON's
figures), writes the equity-curve chart (a small palette PNG) and, with ``--readme``,
the table into README.md. The example prices are synthetic
(``examples/make_examples.py``): the figures show the machinery, not how a thesis
would have done. Not part of the test suite; about 4 minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

from benchmarks.report import Table
from rebalancer.runs.backtest.files import backtest_to_files, summary
from rebalancer.shipped import example_paths

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "docs" / "img" / "backtest.png"
HELD_LABEL = "starting portfolio held"


def library() -> list[Path]:
    """The shipped scenarios, ``base.yaml`` first, then by file name."""
    paths = sorted(example_paths()["scenarios"].glob("*.yaml"))
    return sorted(paths, key=lambda p: p.name != "base.yaml")


def small_png(source: Path, target: Path, colours: int = 48) -> None:
    """``source`` re-encoded as a palette PNG of ``colours`` colours (a line chart
    loses nothing visible; the file shrinks several times)."""
    from PIL import Image

    with Image.open(source) as image:
        quantized = image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".png.tmp")
    quantized.save(tmp, format="PNG", optimize=True)
    tmp.replace(target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--account", default="IRA-250K")
    ap.add_argument("--start", default="2024-11-20")
    ap.add_argument("--end", default="2026-11-20")
    ap.add_argument("--every", default="month")
    ap.add_argument("--chart", type=Path, default=CHART, help="the PNG to write")
    ap.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = ap.parse_args()
    files = example_paths()
    scenarios = library()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "backtest.png"
        result, _ = backtest_to_files(
            files["holdings"], files["universe"], files["prices"], scenarios,
            start=args.start, end=args.end, every=args.every, benchmark=files["benchmark"],
            accounts=files["accounts"], account=args.account, chart=raw,
        )  # fmt: skip
        small_png(raw, args.chart)
    data = summary(result)
    table = Table(
        "backtest",
        [
            "scenario",
            "annual return",
            "volatility",
            "max drawdown",
            "tracking error",
            "turnover (window)",
            "costs",
            "rebalances",
            "dates held",
        ],  # fmt: skip
    )
    runs = [*data["scenarios"].items(), (HELD_LABEL, data["hold"])]
    for label, fig in runs:
        te = fig.get("tracking_error")
        table.add(label, f"{fig['annual_return']:.2%}", f"{fig['volatility']:.2%}",
                  f"{fig['max_drawdown']:.2%}", "–" if te is None else f"{te:.2%}",
                  f"{fig['turnover']:.2f}", f"${fig['costs']:,.0f}", fig["rebalances"],
                  len(fig["held_dates"]))  # fmt: skip
    settings = data["settings"]
    bench = data["hold"].get("benchmark_return")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table.notes = [
        f"`{settings['account']}` rebalanced every {settings['every']} from "
        f"{settings['start']} to {settings['end']} ({settings['price_dates']} price dates) "
        "under every shipped scenario, against holding its starting portfolio. **The "
        "example prices are synthetic** (`examples/make_examples.py`) and the example has "
        "no dated signals file: these figures show the machinery, not how any thesis "
        f"would have done. Cash at {settings['cash_rate']:.0%}"
        + (
            ""
            if bench is None
            else f"; the benchmark (its weights held constant) returned {bench:.2%} a year"
        )  # fmt: skip
        + f". {result.seconds:.0f} s and {peak_mib:,.0f} MiB peak for the "
        f"{len(scenarios)} scenarios (load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end). Warnings: " + "; ".join(data["warnings"]) + ".",
        "",
        f"![Equity curves and drawdowns]({args.chart.resolve().relative_to(ROOT).as_posix()})",
    ]
    table.emit(args.readme)
    print(f"wrote {args.chart} ({args.chart.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
