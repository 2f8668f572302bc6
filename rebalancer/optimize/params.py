"""Where the numbers of a problem come from: Parameters or constants.

Every term and limit asks ``Values`` for the numbers it needs, naming the field of
``ProblemData`` they come from. Compiled with ``parametric=True`` those are
``cp.Parameter``s, set by ``update`` before each solve, so a what-if sweep or a
book of accounts re-solves without re-compiling (DPP). With ``parametric=False``
they are constants: cvxpy's DPP compilation is skipped, which makes a one-shot
proposal's first solve several times faster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cvxpy as cp
import numpy as np


class Values:
    """``parametric``: True (every number a Parameter), False (all constants), or the
    set of ``ProblemData`` field names to make Parameters — a sweep that changes only
    ``max_turnover`` compiles almost as fast as constants and still re-solves
    without recompiling."""

    def __init__(self, data: Any, parametric: bool | frozenset[str]):
        self.data = data
        self.names = parametric if isinstance(parametric, frozenset) else None
        self.parametric = bool(parametric)
        self._params: list[tuple[cp.Parameter, Callable[[Any], Any]]] = []
        self._constants: dict[str, Any] = {}

    def get(
        self,
        name: str,
        shape: int | tuple = (),
        nonneg: bool = False,
        of: Callable[[Any], Any] | None = None,
        sources: tuple[str, ...] = (),
    ) -> cp.Expression:
        """The number(s) at ``data.<name>`` (or ``of(data)``) as a Parameter or a Constant.
        ``sources``: the fields ``of`` reads (a Parameter when any of them is one)."""
        read = of or (lambda d: getattr(d, name))
        fields = sources or (name,)
        if not self.parametric or (
            self.names is not None and not any(f in self.names for f in fields)
        ):
            value = np.asarray(read(self.data), dtype=float)
            self._constants[name] = (read, value)
            return cp.Constant(value.reshape(shape) if shape != () else float(value))
        param = cp.Parameter(shape, nonneg=nonneg, name=name)
        self._params.append((param, read))
        param.value = read(self.data)
        return param

    def fixed(self, name: str, of: Callable[[Any], Any]) -> np.ndarray:
        """The number(s) ``of(data)`` as a constant, parametric or not: numbers that
        shape the problem (a limit's row coefficients) rather than change with an
        account; data with others is not ``accepts``-ed (the problem is rebuilt)."""
        value = np.asarray(of(self.data), dtype=float)
        self._constants[name] = (of, value)
        return value

    def constant(self, name: str) -> np.ndarray | None:
        """The value of ``name`` if it was compiled as a constant (asked for with
        ``get`` first), else None: a constant may prune rows that cannot bind."""
        found = self._constants.get(name)
        return None if found is None else found[1]

    def accepts(self, data: Any) -> bool:
        """True when ``data`` differs from the compiled problem only in its Parameters."""
        if not self.parametric:
            return data is self.data
        return all(
            np.array_equal(np.asarray(read(data), dtype=float), value)
            for read, value in self._constants.values()
        )

    def update(self, data: Any) -> None:
        if not self.accepts(data):
            raise RuntimeError(
                "the new numbers change a constant of the compiled problem; rebuild it"
            )
        self.data = data
        for param, read in self._params:
            param.value = read(data)
