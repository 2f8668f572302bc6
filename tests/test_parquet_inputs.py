"""Parquet inputs: the examples saved as typed Parquet files (numbers as numbers, dates
as timestamps, the prices' dates as the frame's index, as pandas writes them) read to
the very frames their CSVs give, dtypes included, and ``propose`` on them writes the
trades CSV and the JSON summary of the CSV run byte for byte, but for what names the
input files (their paths, sizes and digests) and the timings. A run on CSVs never
imports the Parquet reader. (Bad and damaged Parquet files, and random mutations of
them, are in tests/test_fuzz_inputs.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from rebalancer.cli import main
from rebalancer.errors import InputError
from rebalancer.inputs import read_accounts, read_benchmark, read_holdings, read_universe
from rebalancer.inputs.readers import read_prices, read_prices_by_cell

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ROLES = ("holdings", "universe", "prices", "benchmark", "accounts")
AS_OF = "2026-11-20"


@pytest.fixture(scope="module")
def parquet_examples(tmp_path_factory) -> Path:
    """The examples as an export would write them: typed columns, one Parquet file each."""
    folder = tmp_path_factory.mktemp("parquet")
    for role in ("holdings", "universe", "benchmark", "accounts"):
        dates = ["acquired"] if role == "holdings" else []
        frame = pd.read_csv(EXAMPLES / f"{role}.csv", parse_dates=dates)
        if role == "accounts":  # the benchmark each row names, as Parquet too
            frame["benchmark"] = frame["benchmark"].str.replace(".csv", ".parquet")
        frame.to_parquet(folder / f"{role}.parquet", index=False)
    prices = pd.read_csv(EXAMPLES / "prices.csv", index_col="date", parse_dates=["date"])
    prices.to_parquet(folder / "prices.parquet")
    return folder


def test_parquet_reads_to_the_frames_of_the_csv(parquet_examples):
    for reader, role in [
        (read_holdings, "holdings"),
        (read_universe, "universe"),
        (read_accounts, "accounts"),
    ]:
        from_csv = reader(EXAMPLES / f"{role}.csv")
        from_parquet = reader(parquet_examples / f"{role}.parquet")
        if role == "accounts":
            from_csv["benchmark"] = from_csv["benchmark"].str.replace(".csv", ".parquet")
        pd.testing.assert_frame_equal(from_parquet, from_csv, check_exact=True)
        assert from_parquet.dtypes.to_dict() == from_csv.dtypes.to_dict()
    pd.testing.assert_series_equal(
        read_benchmark(parquet_examples / "benchmark.parquet"),
        read_benchmark(EXAMPLES / "benchmark.csv"),
        check_exact=True,
    )
    csv_prices = read_prices(EXAMPLES / "prices.csv")
    # the typed read (floats as stored) and the cell-by-cell read (their text) agree
    for prices in (
        read_prices(parquet_examples / "prices.parquet"),
        read_prices_by_cell(parquet_examples / "prices.parquet"),
    ):
        pd.testing.assert_frame_equal(prices, csv_prices, check_exact=True)


def _comparable(summary: dict) -> dict:
    """The summary without what names the input files and the output paths, or times."""

    def strip(node):
        if isinstance(node, dict):
            return {
                key: strip(value)
                for key, value in node.items()
                if key not in ("inputs", "timings", "command", "summary_sha256", "path")
                and not key.endswith("_seconds")
            }
        if isinstance(node, list):
            return [strip(value) for value in node]
        return node

    return strip(summary)


def _propose(folder: Path, suffix: str, out: Path) -> tuple[bytes, dict]:
    out.mkdir()
    args = ["propose", "--account", "TAX-2M", "--as-of", AS_OF, "-q"]
    for role in ROLES:
        args += [f"--{role}", str(folder / f"{role}{suffix}")]
    args += ["--scenario", str(ROOT / "scenarios" / "smallcap_rerating.yaml")]
    args += ["--trades", str(out / "trades.csv"), "--json", str(out / "summary.json")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return (out / "trades.csv").read_bytes(), json.loads((out / "summary.json").read_text())


def test_propose_on_parquet_writes_what_it_writes_on_csv(parquet_examples, tmp_path):
    csv_trades, csv_summary = _propose(EXAMPLES, ".csv", tmp_path / "csv")
    pq_trades, pq_summary = _propose(parquet_examples, ".parquet", tmp_path / "parquet")
    assert pq_trades == csv_trades
    assert csv_summary["n_trades"] > 0
    assert json.dumps(_comparable(pq_summary)) == json.dumps(_comparable(csv_summary))
    assert {role: Path(pq_summary["inputs"][role]).suffix for role in ROLES} == dict.fromkeys(
        ROLES, ".parquet"
    )


def _imports_parquet(*inputs: str) -> bool:
    """Whether ``validate`` of ``inputs`` (role, path pairs) imports the Parquet reader,
    in a fresh interpreter (the modules a process imported are the thing measured)."""
    script = (
        "import sys\nfrom rebalancer.cli import main\n"
        f"try:\n    main({list(inputs)!r}, prog_name='rebalancer')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('pyarrow.parquet' in sys.modules)\n"
    )
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"


def test_csv_inputs_never_import_the_parquet_reader(parquet_examples):
    """pandas imports pyarrow itself where it is installed; the Parquet reader
    (``pyarrow.parquet``, 20 ms and more) only a Parquet input brings in."""
    args = ["validate"]
    for role in ("holdings", "universe", "prices", "benchmark"):
        args += [f"--{role}", str(EXAMPLES / f"{role}.csv")]
    assert not _imports_parquet(*args)
    args[2] = str(parquet_examples / "holdings.parquet")
    assert _imports_parquet(*args)


def test_without_pyarrow_a_parquet_input_is_one_line_naming_it(parquet_examples, monkeypatch):
    """An install without the ``parquet`` extra: the reader cannot be imported."""
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # what an absent module raises
    path = parquet_examples / "holdings.parquet"
    with pytest.raises(InputError) as raised:
        read_holdings(path)
    assert str(path) in str(raised.value) and "needs the package pyarrow" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_other_reader_takes_parquet(tmp_path):
    """The trade history, the backtest's dividends and cash schedule, and a trades file
    for ``apply``: a typed Parquet file reads to the frame of its CSV."""
    from rebalancer.inputs import read_trade_history
    from rebalancer.runs.apply import read_trades
    from rebalancer.runs.backtest.cashflows import read_dividends, read_schedule

    files = {
        "history": (
            "account,ticker,date,side,quantity,price,realized_gain\n"
            "TAX-2M,AMA,2026-11-02,BUY,10,100.5,\nTAX-2M,BEA,2026-10-20,SELL,5,20.25,-31.5\n",
            ["date"],
            read_trade_history,
        ),
        "dividends": (
            "date,ticker,amount\n2024-03-15,AMA,0.25\n2024-06-14,BEA,0.3\n",
            ["date"],
            lambda p: read_dividends(p, pd.Index(["AMA", "BEA"])),
        ),
        "schedule": (
            "date,withdraw_usd,deposit_usd\n2024-03-01,1000,\n2024-06-03,,2500.5\n",
            ["date"],
            read_schedule,
        ),
        "trades": (
            "account,ticker,side,quantity,price\nTAX-2M,AMA,BUY,10,36.5\nTAX-2M,BEA,SELL,5.5,12\n",
            [],
            read_trades,
        ),
    }
    for name, (text, dates, reader) in files.items():
        csv_path = tmp_path / f"{name}.csv"
        csv_path.write_text(text)
        pq_path = tmp_path / f"{name}.parquet"
        pd.read_csv(csv_path, parse_dates=dates).to_parquet(pq_path, index=False)
        pd.testing.assert_frame_equal(reader(pq_path), reader(csv_path), check_exact=True)
