"""Rebalancer: a portfolio rebalancing optimizer for financial advisors.

``rebalancer.propose(...)`` returns the same proposal ``rebalancer propose`` writes;
``rebalancer.whatif(...)`` the comparison table of ``rebalancer whatif``.
"""

from __future__ import annotations

from typing import Any

from rebalancer import cvxpy_import

cvxpy_import.install()  # before any module of the package imports cvxpy

__version__ = "0.1.0"
__all__ = ["propose", "whatif", "__version__"]


def __getattr__(name: str) -> Any:
    # lazy: the CLI's --help should not pay for importing cvxpy
    if name == "propose":
        from rebalancer.pipeline import propose

        return propose
    if name == "whatif":
        from rebalancer.runs.whatif import whatif

        return whatif
    raise AttributeError(name)
