"""Where a book's accounts run — local worker processes or a Dask cluster — and how a
run survives losing a worker and stops when told to.

Both engines take the accounts still to do and a ``run(job) -> AccountResult`` that
never raises, and yield one result per account as it finishes, in any order.

Local (``local``): ``workers`` processes forked from this one (so they inherit the
inputs already read), each given one account at a time over a pipe. A worker that
dies — killed, out of memory, a crash in native code — loses only the account it
held: it is replaced and that account given again, at most ``RETRIES`` more times,
then reported failed. Workers die with this process (Linux's parent-death signal;
elsewhere a thread that sees the parent gone) and ignore Ctrl-C, which the terminal
sends to the whole process group: this process decides.

Dask (``dask``): one task per account. An account whose worker keeps dying is failed
by the scheduler (``KilledWorker``, after its ``allowed-failures``) and reported
failed; any other error of a task fails that account only. No worker at all for
``REBALANCER_NO_WORKERS_TIMEOUT`` seconds (default 60)
stops the engine with ``WorkersLost``: the accounts finished are kept.

Stopping: ``cancel_on_signals`` turns SIGINT and SIGTERM into a flag (``Cancel``).
An engine checks it at least every ``POLL`` seconds; once set it gives out no more
accounts, stops its local workers (an account in flight is lost: its outputs are
written whole or not at all) and returns. Before any account is given out
(``Cancel.at_once``: planning, nothing written yet) a signal stops the run at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import wait as wait_ready
from typing import Any

from threadpoolctl import threadpool_limits

from rebalancer.errors import RebalancerError, Stopped
from rebalancer.runs.book.jobs import AccountResult

RETRIES = 2  # times an account is given again after its worker died running it
POLL = 0.2  # seconds between looks at the cancel flag and the workers
# settings, in seconds, from the environment: name -> default
NO_WORKERS_TIMEOUT = "REBALANCER_NO_WORKERS_TIMEOUT"  # with no Dask worker, before stopping
CONNECT_TIMEOUT = "REBALANCER_CONNECT_TIMEOUT"  # to reach a Dask scheduler or a result
DEFAULTS = {NO_WORKERS_TIMEOUT: 60.0, CONNECT_TIMEOUT: 10.0}
STOP_WAIT = 5.0  # seconds a stopped local worker gets before SIGKILL


class WorkersLost(RebalancerError):
    """No worker could run the book's remaining accounts."""


class Cancel:
    """Set (to the signal's number) when the run is to stop."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._at_once = False

    @contextmanager
    def at_once(self) -> Iterator[None]:
        """While the block runs — before anything is written and any account is given
        out — a signal stops the run at once, even in a blocking read or connect:
        ``errors.Stopped`` is raised (the signal is still recorded). Outside it the
        signal only sets the flag, which the engines check between accounts."""
        if self:
            raise self.stopped()
        self._at_once = True
        try:
            yield
        except Exception:
            if self:  # an error the signal caused (a wait it cut short)
                raise self.stopped() from None
            raise
        finally:
            self._at_once = False
        if self:  # a signal an event loop only recorded (``cancel_on_signals``)
            raise self.stopped()

    def stopped(self) -> Stopped:
        return Stopped(
            self.signum or signal.SIGINT,
            f"cancelled by {self.name} before any account was run; nothing written",
        )

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""


@contextmanager
def cancel_on_signals() -> Iterator[Cancel]:
    """A ``Cancel`` that SIGINT and SIGTERM set while the block runs (the handlers
    before it are put back after). Off the main thread, where Python cannot install
    handlers, the flag is never set by a signal."""
    cancel = Cancel()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum: int, frame: Any) -> None:
        if cancel.signum is None:
            cancel.signum = signum
        # not inside an event loop: asyncio logs what a callback raises and goes on, so
        # there the flag is all (``_identify`` looks at it)
        if cancel._at_once and not _in_event_loop():
            cancel._at_once = False  # once: a second signal while it unwinds only records
            raise cancel.stopped()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_ONE_THREAD_PID: int | None = None


def one_thread_each() -> None:
    """Worker processes run side by side, one per core: each keeps to one thread (the
    solver's linear algebra, BLAS), or N workers × M threads oversubscribe the cores.
    Idempotent and cheap after the first call in a process, so a Dask worker restarted
    by its nanny gets it again with its first account."""
    global _ONE_THREAD_PID
    if os.getpid() == _ONE_THREAD_PID:
        return
    # late: the optimizer (cvxpy) is a second to import; this module also checks
    # --scheduler while the command line is parsed
    from rebalancer.optimize import problem

    problem.CLARABEL_THREADS = 1
    _ONE_THREAD_PID = os.getpid()
    threadpool_limits(1)


def _failed(job, why: str):
    return AccountResult(job.account, "failed", why)


# --- local worker processes -------------------------------------------------------


def local(jobs, run: Callable, workers: int, cancel: Cancel, retries: int = RETRIES):
    """Results of ``run`` over ``jobs`` on ``workers`` processes (one: in this one)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            if cancel:
                return
            yield run(job)
        return
    pool = _Pool(run)
    try:
        yield from pool.results(jobs, min(workers, len(jobs)), cancel, retries)
    finally:
        pool.stop()


class _Worker:
    def __init__(self, run: Callable) -> None:
        context = multiprocessing.get_context("fork")
        here, there = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(there, run, os.getpid()), name="rebalancer worker", daemon=True
        )
        self.process.start()
        there.close()
        self.conn = here

    def how_it_died(self) -> str:
        self.process.join(STOP_WAIT)
        code = self.process.exitcode
        if code is not None and code < 0:
            with suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def close(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.terminate()


class _Pool:
    """Worker processes, each running one job at a time; see the module docstring."""

    def __init__(self, run: Callable) -> None:
        self._run = run
        self._workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        worker = _Worker(self._run)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.close()
        self._workers.remove(worker)

    def results(self, jobs, workers: int, cancel: Cancel, retries: int):

        queue = deque((job, 0) for job in jobs)  # (job, deaths of workers running it)
        idle = [self._spawn() for _ in range(workers)]
        busy: dict[_Worker, tuple[Any, int]] = {}
        while queue or busy:
            if cancel:
                return
            while queue and idle:
                worker, (job, deaths) = idle.pop(), queue.popleft()
                busy[worker] = (job, deaths)
                with suppress(OSError):  # a worker already dead is found below
                    worker.conn.send(job)
            watched = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = set(wait_ready(watched, timeout=POLL))
            for worker in [w for w in busy if w.conn in ready or w.process.sentinel in ready]:
                job, deaths = busy.pop(worker)
                try:
                    result = worker.conn.recv() if worker.conn.poll() else None
                except (EOFError, OSError):
                    result = None
                if result is not None:
                    if worker.process.is_alive():
                        idle.append(worker)
                    else:  # answered, then died
                        self._retire(worker)
                        if queue:
                            idle.append(self._spawn())
                    yield result
                    continue
                how = worker.how_it_died()
                self._retire(worker)
                if deaths < retries:
                    queue.appendleft((job, deaths + 1))
                else:
                    yield _failed(
                        job,
                        f"its worker process died {deaths + 1} times running it (last: {how}); "
                        "not retried again",
                    )
                if queue:
                    idle.append(self._spawn())

    def stop(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after ``STOP_WAIT``) and reap it."""
        for worker in self._workers:
            worker.close()
        deadline = time.monotonic() + STOP_WAIT
        for worker in self._workers:
            worker.process.join(max(deadline - time.monotonic(), 0.0))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._workers.clear()


def _serve(conn, run: Callable, parent: int) -> None:
    """A local worker's life: run each job it is sent, until told to stop (None), its
    pipe closes or its parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler came with fork
    _die_with(parent)
    one_thread_each()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(run(job))


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """End this process when ``parent`` ends, however it ends (kill -9 included)."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="parent watch", daemon=True).start()


# --- Dask ---------------------------------------------------------------------------


def seconds(name: str) -> float:
    """The setting ``name`` (``NO_WORKERS_TIMEOUT``, ``CONNECT_TIMEOUT``) from the
    environment, else its default; anything but a positive number is refused."""
    text = os.environ.get(name, "")
    try:
        value = float(text) if text else DEFAULTS[name]
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise RebalancerError(f"{name}={text!r}: give a number of seconds above 0")
    return value


SCHEMES = ("tcp", "tls", "ucx", "ws", "wss", "inproc")


def scheduler_problem(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address (``tcp://HOST:PORT``), else None."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        return f"expected an address like tcp://HOST:PORT, got {address!r}"
    if scheme not in SCHEMES:
        return f"unknown protocol {scheme!r} (use {', '.join(SCHEMES[:3])}), got {address!r}"
    if scheme == "inproc":
        return None if rest else f"expected inproc://ADDRESS, got {address!r}"
    host, colon, port = rest.rpartition(":")
    if not colon or not host or "/" in rest or not port.isdigit() or not 0 < int(port) < 65536:
        return f"expected {scheme}://HOST:PORT with a port from 1 to 65535, got {address!r}"
    return None


def connect(address: str, cancel: Cancel | None = None):
    """A Dask ``Client`` of the scheduler at ``address``, or ``RebalancerError`` (one
    line naming it) within about ``seconds(CONNECT_TIMEOUT)``: nothing listens there, it
    is not a Dask scheduler (a dashboard's HTTP port), or it does not answer. A
    ``cancel`` set while it waits for the answer stops it within ``POLL`` seconds
    (``errors.Stopped``)."""
    try:  # optional (dask[distributed]) and slow to import: only with --scheduler
        from distributed import Client
    except ImportError:
        raise RebalancerError("--scheduler needs Dask: pip install 'dask[distributed]'") from None
    import dask  # optional too; the name is local: this module's ``dask`` is the engine

    problem = scheduler_problem(address)
    if problem:
        raise RebalancerError(f"--scheduler: {problem}")
    wait = seconds(CONNECT_TIMEOUT)
    # the handshake too is bounded: a server that accepts and never speaks Dask (an
    # HTTP port) otherwise holds the client for ever
    timeouts = {
        "distributed.comm.timeouts.connect": f"{wait}s",
        "distributed.comm.retry.count": 0,
    }
    try:
        with dask.config.set(timeouts):
            asyncio.run(_identify(address, wait, cancel))
            if cancel:
                raise cancel.stopped()
            return Client(address, timeout=f"{wait}s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001 — OSError, TimeoutError, a garbled reply
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RebalancerError(
            f"--scheduler {address}: cannot reach a Dask scheduler there ({why[:200]})"
        ) from None


async def _identify(address: str, wait: float, cancel: Cancel | None = None) -> None:
    """Ask whatever listens at ``address`` who it is, all within ``wait`` seconds:
    ``Client`` bounds the TCP connect but not Dask's handshake, which a server that
    never speaks Dask (an HTTP port) leaves waiting for ever. Returns early once
    ``cancel`` is set."""
    from distributed.comm import connect as open_comm  # optional, as in ``connect``

    async def ask() -> dict:
        comm = await open_comm(address, timeout=wait)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    answer = asyncio.ensure_future(asyncio.wait_for(ask(), wait))
    try:
        while not answer.done():
            await asyncio.wait({answer}, timeout=POLL)
            if cancel:
                return
        identity = answer.result()
    except TimeoutError:
        raise TimeoutError(f"no Dask answer within {wait:g} s ({CONNECT_TIMEOUT})") from None
    finally:
        answer.cancel()
    if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
        kind = identity.get("type") if isinstance(identity, dict) else None
        raise OSError(f"it is not a Dask scheduler ({kind or 'no identity'})")


def _remote(job, run: Callable):
    """One account on a Dask worker (a worker restarted by its nanny included)."""
    one_thread_each()
    return run(job)


def dask(jobs, run: Callable, scheduler: str, cancel: Cancel):
    """Results of ``run`` over ``jobs`` on the Dask cluster at ``scheduler``. Connects
    at once (``connect``'s errors are raised here); the results come as they are
    iterated over."""
    timeout = seconds(NO_WORKERS_TIMEOUT)
    return _dask_results(jobs, run, connect(scheduler, cancel), scheduler, cancel, timeout)


def _dask_results(jobs, run: Callable, client, scheduler: str, cancel: Cancel, timeout: float):
    from distributed import as_completed  # optional, as in ``connect``

    fetch = seconds(CONNECT_TIMEOUT)
    futures = []
    levels = _quiet_dask_logs()
    _quiet_loop(client)
    try:
        futures = client.map(_remote, jobs, run=run, pure=False)
        job_of = {future.key: job for future, job in zip(futures, jobs, strict=True)}
        finished = as_completed(futures, loop=client.loop)
        left = len(futures)
        lost: dict[str, int] = {}  # key -> times its finished result could not be fetched
        alone_since: float | None = None
        checked = 0.0
        while left:
            if cancel:
                return
            batch = finished.next_batch(block=False)
            for future in batch:
                job = job_of[future.key]
                result = _outcome(future, job, fetch)
                if result is None:  # its result went with a worker: the scheduler redoes it
                    lost[future.key] = lost.get(future.key, 0) + 1
                    if lost[future.key] <= RETRIES:
                        finished.add(future)
                        continue
                    result = _failed(job, "its result was lost with its Dask worker each time")
                left -= 1
                yield result
                future.release()
            if batch:
                alone_since = None
                continue
            time.sleep(POLL)
            if time.monotonic() - checked >= 1.0:
                checked = time.monotonic()
                if _workers(client):
                    alone_since = None
                elif alone_since is None:
                    alone_since = checked
                elif checked - alone_since > timeout:
                    raise WorkersLost(
                        f"all Dask workers lost: none at {scheduler} for {timeout:g} s "
                        f"({NO_WORKERS_TIMEOUT})"
                    )
    finally:
        with suppress(Exception):
            client.cancel([f for f in futures if not f.done()])
        with suppress(Exception):
            client.close(timeout=STOP_WAIT)
        for logger, level in levels.items():
            logger.setLevel(level)


def _quiet_dask_logs() -> dict[logging.Logger, int]:
    """Silence the Dask client's own logging (a lost worker, a result rescheduled,
    "Couldn't gather keys"): what goes wrong is told in one line per account or for
    the book, and these would come between them. Dask's logging config gives
    ``distributed.client`` and others levels of their own, so each logger under
    ``distributed`` is set, not only the parent. Returns the levels to restore."""
    names = ["distributed"] + [
        name for name in logging.root.manager.loggerDict if name.startswith("distributed.")
    ]
    levels = {}
    for name in names:
        logger = logging.getLogger(name)
        levels[logger] = logger.level
        logger.setLevel(logging.CRITICAL)
    return levels


def _quiet_loop(client) -> None:
    """The client's event loop reports a task whose exception nobody retrieved (a
    gather abandoned when its worker died: ``AllExit``) as a traceback on stderr when
    the task is collected, possibly after the book's last line; the book has already
    said what happened, so that loop's handler drops them."""
    with suppress(Exception):  # a client without an asyncio loop: nothing to quiet
        client.loop.asyncio_loop.set_exception_handler(lambda loop, context: None)


def _workers(client) -> int:
    """How many workers the scheduler has (0 when it cannot be asked)."""
    try:
        return len(client.nthreads())
    except Exception:  # noqa: BLE001 — the scheduler gone too: no workers
        return 0


def _outcome(future, job, fetch: float):
    """A finished Dask task's account result; a task that errored fails its account
    with one line saying why; None when it finished but its result is gone (the worker
    holding it died before it was fetched: the client would wait for it for ever, as
    long as no worker can run it again; ``fetch`` bounds the wait)."""
    if future.status == "finished":
        try:
            return future.result(timeout=fetch)
        except Exception:  # noqa: BLE001 — lost with its worker, any which way
            return None
    if future.status in ("pending", "lost"):  # finished, then lost: the scheduler redoes it
        return None
    try:
        exc = future.exception()
    except Exception as err:  # noqa: BLE001 — cancelled, or the result went with a worker
        exc = err
    name = type(exc).__name__
    if name == "KilledWorker":
        return _failed(job, "its Dask worker died each time it ran it (KilledWorker); not retried")
    text = str(exc).splitlines()[0] if str(exc) else ""
    return _failed(job, f"{name}: {text[:300]}" if text else name)
