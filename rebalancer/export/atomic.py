"""Outputs are written whole or not at all.

Each output is written to a temporary file in its target's own folder (so the
final rename never crosses a file system) and renamed onto the target only when
every output of the set has been written. An error anywhere leaves the targets as
they were and no temporary file behind.

    with OutputSet() as outputs:
        write_workbook(proposal, outputs.stage("trades.xlsx"))
        write_trades_csv(proposal, outputs.stage("trades.csv"))
    # both files are in place here, or neither was touched
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from rebalancer.errors import RebalancerError


def _key(path: str | os.PathLike[str]) -> str:
    """One spelling per file: absolute, symlinks resolved, case folded where the OS does."""
    return os.path.normcase(str(Path(path).expanduser().resolve()))


class OutputSet:
    """A set of output files committed together on a clean exit of the ``with`` block.

    ``protected`` maps a role (``"holdings"``) to a path no output may overwrite,
    typically the inputs the outputs were computed from.
    """

    def __init__(self, protected: Mapping[str, str | os.PathLike[str]] | None = None) -> None:
        self._protected = {_key(p): role for role, p in (protected or {}).items()}
        self._staged: dict[str, tuple[Path, Path]] = {}  # key -> (target, temp)
        self._created_dirs: list[Path] = []
        self._closed = False

    def __enter__(self) -> OutputSet:
        return self

    def stage(self, path: str | os.PathLike[str]) -> Path:
        """A fresh temporary path to write ``path``'s content to, in ``path``'s folder."""
        if self._closed:
            raise RuntimeError("this OutputSet has already been committed or discarded")
        target = Path(path).expanduser()
        key = _key(target)
        if key in self._staged:
            first = self._staged[key][0]
            raise RebalancerError(
                f"two outputs point at the same file {target} (also given as {first}); "
                "give each output its own path"
            )
        if key in self._protected:
            raise RebalancerError(
                f"output {target} is the {self._protected[key]} input; "
                "writing it would overwrite the data it was computed from"
            )
        if target.is_dir():
            raise RebalancerError(f"output {target} is a folder; give a file name")
        self._make_parent(target.parent)
        temp = self._create_temp(target)
        self._staged[key] = (target, temp)
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
        return [target for target, _ in self._staged.values()]

    def commit(self) -> list[Path]:
        """Rename every temporary file onto its target."""
        self._closed = True
        pending = list(self._staged.values())
        try:
            for target, _ in pending:
                # A target turned into a folder since staging would fail half-way through.
                if target.is_dir():
                    raise RebalancerError(f"output {target} is a folder; give a file name")
            for target, temp in pending:
                os.replace(temp, target)
        except OSError as err:
            self._discard()
            raise RebalancerError(f"cannot write output {err.filename}: {err.strerror}") from err
        except BaseException:
            self._discard()
            raise
        targets = [target for target, _ in pending]
        self._staged.clear()
        return targets

    def _discard(self) -> None:
        for _, temp in self._staged.values():
            temp.unlink(missing_ok=True)
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
    def _create_temp(target: Path) -> Path:
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
            os.close(fd)
            return temp
        raise RebalancerError(f"cannot create a temporary file next to {target}")
