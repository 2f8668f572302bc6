"""Outputs are written whole or not at all, together, and never harm anything.

Each output is written to a temporary file in its target's own folder (so the
final rename never crosses a file system) and renamed onto the target only when
every output of the set has been written. An error anywhere leaves the targets as
they were and no temporary file behind.

    with OutputSet(protected=protected_files(inputs, [scenario])) as outputs:
        write_workbook(proposal, outputs.stage("trades.xlsx", "--out"))
        write_trades_csv(proposal, outputs.stage("trades.csv", "--trades"))
    # both files are in place here, or neither was touched

A target is refused (one line naming the option and the path) when it is a file the
run reads (an input, a scenario or any file of its ``extends`` chain — compared by
identity, device and inode, so another spelling or a hard link is caught), when it
exists and is not a regular file (a symlink, a device such as ``/dev/null``, a pipe),
or when its name starts with ``-`` (other programs would read it as an option).

Published together: the targets are renamed in the order they were staged — a JSON
summary, whose manifest holds the SHA-256 of the other outputs, is staged last — while
this process holds an exclusive ``flock`` on each target folder, so two runs writing
the same outputs publish one after the other, never interleaved. Where a file system
has no such locks (some network mounts) the manifest still tells: a reader, ``verify``
or ``batch --resume`` treats a set whose recorded digests disagree as incomplete.

Each temporary file (``.NAME.XXXXXXXX.tmp``) is ``flock``-ed by its writer until it is
renamed or removed; one whose lock is free belongs to a run that was killed, and the
next run writing to that folder removes it (``remove_stale_temps``).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

from rebalancer.errors import RebalancerError
from rebalancer.scenario.loader import scenario_files

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, manifests still tell
    fcntl = None  # type: ignore[assignment]

PathArg = str | os.PathLike[str]
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")
PUBLISH_WAIT_SECONDS = 120.0  # another run's renames take milliseconds; more is a hung run


def _key(path: PathArg) -> str:
    """One spelling per file: absolute, symlinks resolved, case folded where the OS does."""
    return os.path.normcase(str(Path(path).expanduser().resolve()))


def _identity(path: PathArg) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` (symlinks followed), None if there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def protected_files(
    inputs: Mapping[str, PathArg | None], scenarios: Iterable[PathArg] = ()
) -> dict[str, str]:
    """What each file a run reads is -> its path: the ``inputs`` (role -> path, a
    ``scenario`` role included) and every scenario of ``scenarios`` with its whole
    ``extends`` chain."""
    found = {f"the {role} input": str(p) for role, p in inputs.items() if p and role != "scenario"}
    named = [*scenarios, *([inputs["scenario"]] if inputs.get("scenario") else [])]
    for scenario in dict.fromkeys(str(s) for s in named):
        chain = scenario_files(scenario)
        found.setdefault(f"the scenario {scenario}", scenario)
        for parent in chain[1:]:
            found.setdefault(f"the scenario {parent} (which {scenario} extends)", str(parent))
    return found


def check_target(
    path: PathArg, label: str, protected: Mapping[tuple[int, int], str] | None = None
) -> Path:
    """``path`` as an output target, or ``RebalancerError`` naming ``label`` (the option)
    and the path: its name starts with ``-``, it exists and is not a regular file, or it
    is one of the ``protected`` files ((device, inode) -> what it is)."""
    target = Path(path).expanduser()

    def refuse(problem: str) -> RebalancerError:
        return RebalancerError(f"{label}: {target} {problem}")

    if target.name.startswith("-"):
        raise refuse("starts with '-', which other programs read as an option; choose a name")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target  # a new file
    except (OSError, ValueError) as err:
        raise refuse(f"cannot be checked ({getattr(err, 'strerror', None) or err})") from None
    if stat.S_ISLNK(st.st_mode):
        raise refuse(
            "is a symbolic link; outputs replace regular files only (give the file itself "
            "or a new name)"
        )
    if stat.S_ISDIR(st.st_mode):
        raise refuse("is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise refuse(
            "is not a regular file (a device, pipe or socket); outputs replace regular files only"
        )
    what = (protected or {}).get((st.st_dev, st.st_ino))
    if what is not None:
        raise refuse(
            f"is {what}, which this run reads; writing it would overwrite the data the "
            "outputs are computed from"
        )
    return target


def protected_identities(protected: Mapping[str, PathArg] | None) -> dict[tuple[int, int], str]:
    """(device, inode) -> what it is, for the files of ``protected`` that exist."""
    found = {}
    for what, path in (protected or {}).items():
        identity = _identity(path)
        if identity is not None:
            found.setdefault(identity, what)
    return found


def check_outputs(
    outputs: Mapping[str, PathArg | None], protected: Mapping[str, PathArg] | None = None
) -> None:
    """Refuse, before any work, the outputs (option -> path) ``OutputSet`` would refuse."""
    identities = protected_identities(protected)
    for label, path in outputs.items():
        if path is not None:
            check_target(path, label, identities)


class OutputSet:
    """A set of output files committed together on a clean exit of the ``with`` block.

    ``protected`` maps what a file is (``"the holdings input"``) to a path no output
    may overwrite: the files the outputs were computed from (``protected_files``).
    ``tidy=False`` skips looking for stale temporaries beside each target (a book's
    workers: the book cleans its folder once, before they start).
    """

    def __init__(
        self, protected: Mapping[str, PathArg] | None = None, *, tidy: bool = True
    ) -> None:
        self._protected = protected_identities(protected)
        self._tidy = tidy  # remove a killed run's temporaries of each target
        self._staged: dict[str, tuple[Path, Path, int]] = {}  # key -> (target, temp, lock fd)
        self._created_dirs: list[Path] = []
        self._closed = False

    def __enter__(self) -> OutputSet:
        return self

    def stage(self, path: PathArg, label: str = "output") -> Path:
        """A fresh temporary path to write ``path``'s content to, in ``path``'s folder;
        ``label`` (the option that named it) is what a refusal names."""
        if self._closed:
            raise RuntimeError("this OutputSet has already been committed or discarded")
        target = check_target(path, label, self._protected)
        key = _key(target)
        if key in self._staged:
            first = self._staged[key][0]
            raise RebalancerError(
                f"{label}: two outputs point at the same file {target} (also given as "
                f"{first}); give each output its own path"
            )
        self._make_parent(target.parent)
        if self._tidy:
            remove_stale_temps(target.parent, target.name)
        temp, fd = self._create_temp(target)
        self._staged[key] = (target, temp, fd)
        return temp

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        if exc_type is not None:
            self._discard()
            return
        self.commit()

    @property
    def targets(self) -> list[Path]:
        """The staged targets, in the order they were staged."""
        return [target for target, _, _ in self._staged.values()]

    def commit(self) -> list[Path]:
        """Rename every temporary file onto its target, in the order they were staged,
        holding each target folder's publishing lock."""
        self._closed = True
        pending = list(self._staged.values())
        try:
            with publishing(target.parent for target, _, _ in pending):
                for target, _, _ in pending:
                    # checked again: the target may have become a folder, a link or a
                    # device since staging, and a rename would fail or replace it
                    check_target(target, "output", self._protected)
                with signals_held():  # a signal must not stop the renames halfway
                    for target, temp, _ in pending:
                        os.replace(temp, target)
                    _note_published()
        except OSError as err:
            self._discard()
            raise RebalancerError(f"cannot write output {err.filename}: {err.strerror}") from err
        except BaseException:
            self._discard()
            raise
        for _, _, fd in pending:
            os.close(fd)
        targets = [target for target, _, _ in pending]
        self._staged.clear()
        return targets

    def _discard(self) -> None:
        for _, temp, fd in self._staged.values():
            temp.unlink(missing_ok=True)
            with suppress(OSError):
                os.close(fd)
        self._staged.clear()
        for folder in reversed(self._created_dirs):
            try:
                folder.rmdir()  # only if still empty
            except OSError:
                break
        self._created_dirs.clear()

    def _make_parent(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:
                continue
            except OSError as err:
                raise RebalancerError(f"cannot create folder {new}: {err.strerror}") from err
            self._created_dirs.append(new)

    @staticmethod
    def _create_temp(target: Path) -> tuple[Path, int]:
        """A new temporary file beside ``target`` and an open descriptor holding its lock."""
        # os.open with O_EXCL rather than mkstemp: mkstemp makes the file 0600,
        # and the final output should get the usual permissions (umask).
        for _ in range(100):
            temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except OSError as err:
                raise RebalancerError(f"cannot write output {target}: {err.strerror}") from err
            if fcntl is not None:
                with suppress(OSError):  # a file system without locks: nothing to hold
                    fcntl.flock(fd, fcntl.LOCK_EX)
                if _gone(temp, fd):
                    os.close(fd)  # another run took it for stale before we locked it
                    continue
            return temp, fd
        raise RebalancerError(f"cannot create a temporary file next to {target}")


def _gone(path: Path, fd: int) -> bool:
    """True when ``path`` no longer names the file open as ``fd``."""
    st = os.fstat(fd)
    return _identity(path) != (st.st_dev, st.st_ino)


@contextmanager
def publishing(
    folders: Iterable[Path], wait_seconds: float = PUBLISH_WAIT_SECONDS
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on each folder (in one order, so two runs cannot
    deadlock) while outputs are renamed into it. Waits up to ``wait_seconds`` for
    another run to finish publishing there."""
    fds: list[int] = []
    try:
        for folder in sorted({os.path.realpath(f) for f in folders}):
            fd = _lock_folder(folder, wait_seconds)
            if fd is not None:
                fds.append(fd)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing releases the lock


def _lock_folder(folder: str, wait_seconds: float) -> int | None:
    if fcntl is None:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RebalancerError(
                    f"cannot write outputs to {folder}: another run has been publishing "
                    f"there for over {wait_seconds:.0f} s"
                ) from None
            time.sleep(0.02)
        except OSError:  # no locks on this file system: the manifests still tell
            os.close(fd)
            return None


def remove_stale_temps(folder: PathArg, name: str | None = None) -> int:
    """Remove the temporary files a killed run left in ``folder`` (of the target ``name``
    only, when given): those whose writer no longer holds their lock. Returns how many."""
    if fcntl is None:
        return 0
    prefix = f".{name}." if name is not None else "."
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(prefix) or not TEMP_NAME.match(entry.name):
            continue
        if name is not None and len(entry.name) != len(prefix) + len("XXXXXXXX.tmp"):
            continue  # the temporary of another target whose name starts like this one
        try:
            fd = os.open(entry.path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _gone(Path(entry.path), fd):  # still the file we locked
                os.unlink(entry.path)
                removed += 1
        except OSError:  # held by a live writer (or no locks here): leave it
            pass
        finally:
            os.close(fd)
    return removed


_published = 0  # how many output sets this process has published


def _note_published() -> None:
    global _published
    _published += 1


def published() -> int:
    """How many output sets this process has published: a command stopped by a signal
    says whether it had written its outputs by comparing this before and after."""
    return _published


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the block runs (delivered when it ends), on the
    main thread, where Python handles signals; elsewhere nothing to hold."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
