"""A single-account command stopped by SIGTERM or Ctrl-C (SIGINT): one line, exit
128 + the signal's number, and nothing written — not a silent death, not a traceback
(docs/contracts.md §3). The signal is sent once the command handles it (its mask of
caught signals, read from /proc, says so), while it is still reading and optimizing;
a real process, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SCENARIOS

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads the caught-signal mask from /proc"
)

WITHIN_S = 120  # generous: a loaded 2-core machine


def _catches(pid: int, signum: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signum - 1) & 1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_stops_propose_with_one_line_and_nothing_written(tmp_path, signum):
    out = tmp_path / "out"
    args = [
        sys.executable, "-m", "rebalancer.cli", "propose",
        "--holdings", EXAMPLES / "holdings.csv", "--universe", EXAMPLES / "universe.csv",
        "--prices", EXAMPLES / "prices.csv", "--accounts", EXAMPLES / "accounts.csv",
        "--account", "FDN-20M", "--scenario", SCENARIOS / "smallcap_rerating.yaml",
        "--force", "--out", out / "p.xlsx", "--trades", out / "p.csv", "--json", out / "p.json",
    ]  # fmt: skip
    proc = subprocess.Popen([str(a) for a in args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + WITHIN_S
    # Python's own SIGINT handler is there from start-up: wait for the command's, which
    # replaces it when the command starts (SIGTERM's is the command's alone)
    while not _catches(proc.pid, signal.SIGTERM) and proc.poll() is None:
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.005)
    os.kill(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("still running after the signal")
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err
    assert err.strip() == f"error: stopped by {name}; nothing written", err
    assert not out.exists() or not any(out.iterdir())
