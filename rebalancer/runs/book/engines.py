"""Where a book's accounts run — local worker processes or a Dask cluster — and how a
run survives losing a worker and stops when told to.

Both engines take the accounts still to do and a ``run(job) -> AccountResult`` that
never raises, and yield one result per account as it finishes, in any order.

Local (``local_engine.local``): ``workers`` processes forked from this one (so they
inherit the inputs already read), each given one account at a time over a pipe. A
worker that dies — killed, out of memory, a crash in native code — loses only the
account it held: it is replaced and that account given again, at most ``RETRIES``
more times, then reported failed. Workers die with this process (Linux's
parent-death signal; elsewhere a thread that sees the parent gone) and ignore Ctrl-C,
which the terminal sends to the whole process group: this process decides.

Dask (``dask_engine.dask``): one task per account. An account whose worker keeps
dying is failed by the scheduler (``KilledWorker``, after its ``allowed-failures``)
and reported failed; any other error of a task fails that account only. No worker at
all for ``REBALANCER_NO_WORKERS_TIMEOUT`` seconds (default 60) stops the engine with
``WorkersLost``: the accounts finished are kept.

This module holds what both share. Stopping: ``cancel_on_signals`` turns SIGINT and
SIGTERM into a flag (``Cancel``). An engine checks it at least every ``POLL``
seconds; once set it gives out no more accounts, stops its local workers (an account
in flight is lost: its outputs are written whole or not at all) and returns. Before
any account is given out (``Cancel.at_once``: planning, nothing written yet) a signal
stops the run at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import threadpool_limits

from rebalancer.errors import RebalancerError, Stopped
from rebalancer.runs.book.jobs import AccountResult, Job

RETRIES = 2  # times an account is given again after its worker died running it
POLL = 0.2  # seconds between looks at the cancel flag and the workers
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


def failed(job: Job, why: str) -> AccountResult | list[AccountResult]:
    """``job``'s account failed, for ``why`` (a household's job: each of its accounts)."""
    if job.members:
        return [AccountResult(a, "failed", why, household=job.account) for a in job.members]
    return AccountResult(job.account, "failed", why)
