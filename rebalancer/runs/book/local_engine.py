"""The local engine: a book's accounts on worker processes forked from this one
(``engines`` tells how it survives a lost worker and stops)."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from multiprocessing.connection import wait as wait_ready
from typing import Any

from rebalancer.runs.book.engines import (
    POLL,
    RETRIES,
    STOP_WAIT,
    Cancel,
    failed,
    one_thread_each,
)


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
                    yield failed(
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
