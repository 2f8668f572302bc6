"""NumPy's BLAS on one thread while an account is computed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """NumPy's BLAS on one thread while an account is computed (risk model, returns,
    problem data, solves). A sum split over threads adds in another order, and the
    last bit that changes (1e-17 in an alpha) moves the solver's answer by ~1e-7 —
    enough to change a whole-lot order. On one thread a proposal, a what-if, a
    verify and a book's worker (on one thread anyway) compute the same numbers, bit
    for bit, whichever of them built the cached risk model."""
    with threadpool_limits(1, user_api="blas"):
        yield
