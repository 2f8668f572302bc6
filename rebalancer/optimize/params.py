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
    def __init__(self, data: Any, parametric: bool):
        self.data = data
        self.parametric = parametric
        self._params: list[tuple[cp.Parameter, Callable[[Any], Any]]] = []

    def get(
        self,
        name: str,
        shape: int | tuple = (),
        nonneg: bool = False,
        of: Callable[[Any], Any] | None = None,
    ) -> cp.Expression:
        """The number(s) at ``data.<name>`` (or ``of(data)``) as a Parameter or a Constant."""
        read = of or (lambda d: getattr(d, name))
        if not self.parametric:
            value = np.asarray(read(self.data), dtype=float)
            return cp.Constant(value.reshape(shape) if shape != () else float(value))
        param = cp.Parameter(shape, nonneg=nonneg, name=name)
        self._params.append((param, read))
        param.value = read(self.data)
        return param

    def update(self, data: Any) -> None:
        if not self.parametric:
            raise RuntimeError("a problem compiled with constants cannot be updated; rebuild it")
        self.data = data
        for param, read in self._params:
            param.value = read(data)
