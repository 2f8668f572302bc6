"""Books survive faults: real ``rebalancer batch`` processes, real signals, a real Dask
LocalCluster on loopback. Each test injects one fault — a local worker or the main
process killed, Ctrl-C or SIGTERM, every Dask worker lost, an account whose worker
keeps dying, a bad or unreachable ``--scheduler``, a full disk, two runs writing the
same folder — and checks the stated behaviour: the exit code, within a generous
bound; no process of the run left alive; no temporary file left; and, after
``--resume``, a book equal to an uninterrupted run's, trades CSV by trades CSV.

By default each fault is injected once on a small book. ``REBALANCER_FAULTS=all`` adds
SIGTERM, a refused connection, a Dask worker that keeps dying (and restarted workers
keeping one thread), a real full tmpfs (when this machine lets the tests mount one)
and concurrent runs.
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from rebalancer.runs.book.jobs import AccountResult, Job
from rebalancer.runs.book.plan import BookFiles
from rebalancer.runs.book.run import run_book
from tests.conftest import make_holdings, make_universe, run_cli

psutil = pytest.importorskip("psutil")

FULL = os.environ.get("REBALANCER_FAULTS", "") == "all"
AS_OF = "2026-11-20"
N_ACCOUNTS = 12
REBALANCER = str(Path(sys.executable).with_name("rebalancer"))
EXIT_WITHIN = 60.0  # seconds: generous, the machine is shared


def full_only(reason: str):
    return pytest.mark.skipif(not FULL, reason=f"{reason}: REBALANCER_FAULTS=all")


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> tuple[BookFiles, Path]:
    """A small book (its inputs) and the outputs of an uninterrupted run of it."""
    folder = tmp_path_factory.mktemp("faults")
    uni = make_universe(n=40)
    accounts = [f"A{k:02d}" for k in range(N_ACCOUNTS)]
    holdings = pd.concat(
        [make_holdings(uni, a, n_names=24 + k % 6) for k, a in enumerate(accounts)]
    )
    uni.to_csv(folder / "universe.csv", index=False)
    holdings.to_csv(folder / "holdings.csv", index=False)
    taxable = [k % 2 == 0 for k in range(N_ACCOUNTS)]
    pd.DataFrame({"account": accounts, "scenario": "base.yaml", "taxable": taxable}).to_csv(
        folder / "accounts.csv", index=False
    )
    files = BookFiles(*(str(folder / f) for f in ("holdings.csv", "universe.csv", "accounts.csv")))
    first = run_book(files, folder / "reference", workers=1, as_of=AS_OF)
    assert first.exit_code == 0, first.summary
    return files, folder / "reference"


def _args(files: BookFiles, out: Path, *extra: str) -> list[str]:
    return [
        REBALANCER, "batch", "--accounts", files.accounts, "--holdings", files.holdings,
        "--universe", files.universe, "--out-dir", str(out), "--as-of", AS_OF, "-q", *extra,
    ]  # fmt: skip


def _start(files: BookFiles, out: Path, *extra: str, env: dict | None = None):
    """``rebalancer batch`` in a session of its own (a terminal's Ctrl-C reaches every
    process of the group: ``os.killpg``)."""
    return subprocess.Popen(
        _args(files, out, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def _wait_for_accounts(out: Path, n: int, proc, timeout: float = EXIT_WITHIN) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("*.json"))) < n:
        assert proc.poll() is None, f"the run ended before {n} accounts: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {n} accounts within {timeout} s"
        time.sleep(0.02)


def _finish(proc, timeout: float = EXIT_WITHIN) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds to exit); a run still going is killed."""
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, err = proc.communicate()
        pytest.fail(f"still running after {timeout} s; stderr: {err[-2000:]}")
    return proc.returncode, out, err, time.monotonic() - t0


def _workers(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def _kill_tree(pid: int) -> None:
    for p in [*_workers(pid), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def _alive(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Those of ``pids`` still running after ``timeout`` s (a zombie has ended)."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _temps(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob(".*.tmp"))


def _statuses(out: Path) -> dict[str, str]:
    table = pd.read_excel(out / "book_summary.xlsx", sheet_name="Accounts", dtype=str)
    return dict(zip(table["account"], table["status"], strict=True))


def _assert_same_book(out: Path, reference: Path) -> None:
    """Every account's trades CSV byte for byte, and each account's status."""
    theirs = sorted(p.name for p in reference.glob("*.trades.csv"))
    assert sorted(p.name for p in out.glob("*.trades.csv")) == theirs
    for name in theirs:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert _statuses(out) == _statuses(reference)
    assert _temps(out) == []


def _resume(files: BookFiles, out: Path, reference: Path) -> None:
    """``--resume`` completes the book as an uninterrupted run (in this process, one
    worker: a second interpreter's start-up is not what is tested here)."""
    result = run_cli(*_args(files, out, "--resume", "--workers", "1")[1:])
    assert result.exit_code == 0, result.output
    _assert_same_book(out, reference)


# --- local workers --------------------------------------------------------------------


def _running(files: BookFiles, out: Path, accounts: int):
    """A run on two local workers that has written ``accounts`` accounts, and the
    process ids of its workers."""
    proc = _start(files, out, "--workers", "2")
    _wait_for_accounts(out, accounts, proc)
    workers = _workers(proc.pid)
    assert len(workers) == 2
    return proc, workers


def test_a_killed_local_worker_loses_only_its_account_which_is_retried(book, tmp_path):
    files, reference = book
    out = tmp_path / "out"
    proc, workers = _running(files, out, 2)
    os.kill(workers[0], signal.SIGKILL)
    # a worker killed while it writes leaves its temporaries (the kill lands mid-write
    # only now and then, so one stands in for them): the book removes them at the end
    (out / ".A01.json.deadbeef.tmp").write_text("half a file")
    code, _, err, _ = _finish(proc)
    assert code == 0, err
    assert "Traceback" not in err
    _assert_same_book(out, reference)  # the killed worker's account was run again
    assert _alive(workers) == []


def test_a_killed_main_process_takes_its_workers_with_it(book, tmp_path):
    files, reference = book
    out = tmp_path / "out"
    proc, workers = _running(files, out, 1)
    os.kill(proc.pid, signal.SIGKILL)
    _finish(proc)
    assert _alive(workers) == [], "orphaned workers"
    _resume(files, out, reference)


SIGNALS = [
    pytest.param(signal.SIGINT, id="ctrl-c"),
    pytest.param(signal.SIGTERM, id="sigterm", marks=full_only("SIGTERM as Ctrl-C")),
]


@pytest.mark.parametrize("signum", SIGNALS)
def test_a_signal_cancels_promptly_and_writes_what_finished(book, tmp_path, signum):
    files, reference = book
    out = tmp_path / "out"
    proc, workers = _running(files, out, 2)
    # Ctrl-C at a terminal signals the whole process group; SIGTERM comes to the main
    # process only (a service manager's stop)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    finished = len(list(out.glob("*.json")))
    code, _, err, seconds = _finish(proc)
    assert code == 128 + signum, err
    assert "Traceback" not in err and "Aborted" not in err
    assert f"cancelled by {signal.Signals(signum).name}" in err and "--resume" in err
    # at most the accounts in flight finish after the signal (2 workers)
    done = len(list(out.glob("*.json")))
    assert done <= finished + 2
    statuses = _statuses(out)
    assert list(statuses.values()).count("not_run") == N_ACCOUNTS - done > 0
    assert _temps(out) == []
    assert _alive(workers) == []
    _resume(files, out, reference)


def _dies_for(tmp: Path, account: str, times: int):
    """A ``run`` whose worker process dies (SIGKILL) the first ``times`` times it is
    given ``account``: a crash in native code or the kernel's out-of-memory killer."""

    def run(job: Job) -> AccountResult:
        marks = tmp / f"{job.account}.deaths"
        seen = len(marks.read_text()) if marks.exists() else 0
        if job.account == account and seen < times:
            with marks.open("a") as f:
                f.write("x")
            os.kill(os.getpid(), signal.SIGKILL)
        return AccountResult(job.account, "optimal")

    return run


@pytest.mark.parametrize(("deaths", "status"), [(2, "optimal"), (50, "failed")])
def test_an_account_whose_worker_dies_is_retried_a_bounded_number_of_times(
    tmp_path, deaths, status
):
    from rebalancer.runs.book import engines, local_engine

    jobs = [Job(f"J{k}", "base.yaml", None) for k in range(6)]
    run = _dies_for(tmp_path, "J2", deaths)
    parent_children = {p.pid for p in psutil.Process().children()}
    results = list(local_engine.local(jobs, run, 2, engines.Cancel()))
    assert sorted(r.account for r in results) == [j.account for j in jobs]
    by_account = {r.account: r for r in results}
    assert by_account["J2"].status == status
    assert (tmp_path / "J2.deaths").read_text() == "x" * min(deaths, engines.RETRIES + 1)
    if status == "failed":
        assert "died 3 times" in by_account["J2"].message
        assert "SIGKILL" in by_account["J2"].message
    assert {r.status for a, r in by_account.items() if a != "J2"} == {"optimal"}
    assert {p.pid for p in psutil.Process().children()} <= parent_children  # all reaped


# --- Dask -----------------------------------------------------------------------------


@pytest.fixture
def scheduler():
    """A real scheduler on loopback with no workers of its own."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_all_dask_workers_lost_stops_with_a_message_and_keeps_what_finished(
    book, tmp_path, scheduler
):
    files, reference = book
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("dask")), "worker", scheduler, "--nthreads", "1",
         "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out = tmp_path / "out"
        env = {"REBALANCER_NO_WORKERS_TIMEOUT": "3"}
        proc = _start(files, out, "--scheduler", scheduler, env=env)
        _wait_for_accounts(out, 1, proc)
        worker.kill()
        code, _, err, _ = _finish(proc)
    finally:
        worker.kill()
        worker.wait()
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "all Dask workers lost" in lines[0], err
    assert "--resume" in lines[0]
    statuses = _statuses(out)
    done = len(list(out.glob("*.json")))
    assert 0 < done < N_ACCOUNTS
    assert list(statuses.values()).count("not_run") == N_ACCOUNTS - done
    _resume(files, out, reference)


def _threads_or_death(job: Job) -> AccountResult:
    """On a Dask worker: account 'die' kills its worker every time, 'once' the first
    time; each other account reports the thread settings of the worker it ran on."""
    from threadpoolctl import threadpool_info

    from rebalancer.optimize import problem

    marks = Path(job.scenario) / f"{job.account}.deaths"
    if job.account == "die" or (job.account == "once" and not marks.exists()):
        marks.write_text("x")
        os._exit(1)
    blas = max((p["num_threads"] for p in threadpool_info()), default=1)
    # the worker's thread settings travel back in the message
    return AccountResult(job.account, "optimal", f"clarabel={problem.CLARABEL_THREADS} blas={blas}")


@full_only("a LocalCluster whose worker is restarted")
def test_a_dask_worker_that_keeps_dying_fails_its_account_and_restarts_keep_one_thread(
    tmp_path,
):
    distributed = pytest.importorskip("distributed")
    import dask

    from rebalancer.runs.book import dask_engine, engines

    jobs = [Job(a, str(tmp_path), None) for a in ("once", "die", "A", "B")]
    with (
        # one task at a time on the worker: only the task running blamed for its death
        dask.config.set({
            "distributed.scheduler.allowed-failures": 1,
            "distributed.scheduler.worker-saturation": 1.0,
        }),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
    ):  # fmt: skip
        results = list(
            dask_engine.dask(jobs, _threads_or_death, cluster.scheduler_address, engines.Cancel())
        )
    by_account = {r.account: r for r in results}
    assert by_account["die"].status == "failed"
    assert "KilledWorker" in by_account["die"].message
    for account in ("once", "A", "B"):
        assert by_account[account].status == "optimal"
        assert by_account[account].message == "clarabel=1 blas=1"


@pytest.fixture
def http_port():
    """A port where an HTTP server (a Dask dashboard, say) answers."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _refused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


ADDRESSES = [
    pytest.param(lambda port: "garbage", 2, "--scheduler", id="not-an-address"),
    pytest.param(lambda port: "tcp://127.0.0.1:99999", 2, "--scheduler", id="bad-port"),
    pytest.param(lambda port: f"tcp://127.0.0.1:{port}", 1, "cannot reach", id="http-port"),
    pytest.param(
        lambda port: f"tcp://127.0.0.1:{_refused_port()}", 1, "cannot reach", id="refused",
        marks=full_only("a refused connection"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("address", "code", "says"), ADDRESSES)
def test_a_bad_or_unreachable_scheduler_is_one_line(book, tmp_path, http_port, address, code, says):
    files, _ = book
    out = tmp_path / "out"
    # connecting gives up after 3 s here (10 s by default)
    proc = _start(files, out, "--scheduler", address(http_port),
                  env={"REBALANCER_CONNECT_TIMEOUT": "3"})  # fmt: skip
    got, _, err, _ = _finish(proc)
    assert got == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(("Error", "error"))]
    assert len(errors) == 1 and says in errors[0], err
    assert len(err.strip().splitlines()) == 1  # a usage error too: no usage block
    assert not out.exists()  # nothing written, not even the folder


PLANNING_SIGNALS = [
    pytest.param(signal.SIGINT, id="ctrl-c"),
    pytest.param(signal.SIGTERM, id="sigterm"),
]


@pytest.mark.parametrize("signum", PLANNING_SIGNALS)
def test_a_signal_while_the_book_plans_stops_it_at_once_writing_nothing(book, tmp_path, signum):
    """Before any account is given out (reading the inputs, checking the outputs,
    connecting to Dask) a signal stops the book at once: one line, 130 or 143, not even
    the output folder made. A listener that accepts and never answers holds the book in
    its last planning step, connecting; the signal comes once it has connected."""
    import socket

    files, _ = book
    out = tmp_path / "out"
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(EXIT_WITHIN)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        proc = _start(files, out, "--scheduler", address,
                      env={"REBALANCER_CONNECT_TIMEOUT": "600"})  # fmt: skip
        try:
            conn, _ = server.accept()  # the book has read its inputs and is connecting
        except TimeoutError:
            _kill_tree(proc.pid)
            pytest.fail(f"no connection within {EXIT_WITHIN} s: {proc.communicate()}")
        with conn:
            if signum == signal.SIGINT:
                os.killpg(proc.pid, signum)
            else:
                os.kill(proc.pid, signum)
            code, _, err, _ = _finish(proc)
    name = signal.Signals(signum).name
    assert code == 128 + signum, err
    assert err.strip() == f"error: cancelled by {name} before any account was run; nothing written"
    assert not out.exists()


# --- full disks -----------------------------------------------------------------------


def test_a_full_disk_fails_the_accounts_it_hits_and_names_the_book_file(
    book, tmp_path, monkeypatch, capsys
):
    """An injected ENOSPC: writing account A03's trades and the book summary."""
    import openpyxl

    from rebalancer.export import write_trades_csv

    files, reference = book
    out = tmp_path / "out"

    def full(proposal, path):
        if proposal.account == "A03":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_trades_csv(proposal, path)

    save_workbook = openpyxl.Workbook.save

    def save(self, filename):
        save_workbook(self, filename)  # the disk fills as the file is closed
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("rebalancer.export.write_trades_csv", full)
    monkeypatch.setattr(openpyxl.Workbook, "save", save)
    result = run_cli(*[a for a in _args(files, out, "--workers", "1")[1:] if a != "-q"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("  A03: cannot write") and "A03.*" in line for line in lines)
    assert "No space left on device" in result.output
    errors = [line for line in lines if line.startswith("error:")]
    assert errors[0] == f"error: cannot write {out / 'book_summary.xlsx'}: No space left on device"
    assert errors[1:] == [line for line in errors[1:] if "1 failed (A03)" in line]
    assert not (out / "book_summary.xlsx").exists() and not (out / "block_orders.csv").exists()
    assert not (out / "A03.json").exists() and not (out / "A03.trades.csv").exists()
    assert _temps(out) == []
    monkeypatch.undo()
    _resume(files, out, reference)


@pytest.fixture
def tmpfs(tmp_path):
    """A 400 kB tmpfs, made larger by calling the fixture's value (``grow()``)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")

    def grow():
        subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)

    yield folder, grow
    subprocess.run(["umount", "-l", str(folder)], check=False)


@full_only("a real full tmpfs")
def test_a_real_full_disk_then_resume(book, tmpfs):
    files, reference = book
    folder, grow = tmpfs
    # most of the space taken: some accounts fit, the rest and the summary do not
    (folder / "ballast").write_bytes(b"\0" * 330_000)
    out = folder / "out"
    code, stdout, err, _ = _finish(_start(files, out, "--workers", "2"))
    assert code == 1, err
    assert "Traceback" not in err and "No space left on device" in stdout + err
    assert _temps(out) == []
    grow()
    _resume(files, out, reference)


# --- concurrent runs ------------------------------------------------------------------


@full_only("two runs at once")
def test_two_runs_writing_the_same_folder_both_finish_whole(book, tmp_path):
    files, reference = book
    out = tmp_path / "out"
    runs = [_start(files, out, "--workers", "1") for _ in range(2)]
    for proc in runs:
        code, _, err, _ = _finish(proc, 2 * EXIT_WITHIN)
        assert code == 0, err
    _assert_same_book(out, reference)
