"""The Dask engine: a book's accounts as tasks on a Dask cluster (``engines`` tells
how it survives a lost worker and stops). Dask is optional (``dask[distributed]``):
it is imported only where a cluster is used."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from contextlib import suppress

from rebalancer.errors import RebalancerError
from rebalancer.runs.book.engines import (
    POLL,
    RETRIES,
    STOP_WAIT,
    Cancel,
    WorkersLost,
    failed,
    one_thread_each,
)

# settings, in seconds, from the environment: name -> default
NO_WORKERS_TIMEOUT = "REBALANCER_NO_WORKERS_TIMEOUT"  # with no Dask worker, before stopping
CONNECT_TIMEOUT = "REBALANCER_CONNECT_TIMEOUT"  # to reach a Dask scheduler or a result
DEFAULTS = {NO_WORKERS_TIMEOUT: 60.0, CONNECT_TIMEOUT: 10.0}


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
                    result = failed(job, "its result was lost with its Dask worker each time")
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
        return failed(job, "its Dask worker died each time it ran it (KilledWorker); not retried")
    text = str(exc).splitlines()[0] if str(exc) else ""
    return failed(job, f"{name}: {text[:300]}" if text else name)
