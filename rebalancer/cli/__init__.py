"""The ``rebalancer`` command line. Thin: each command parses its options, calls the
one library function an analyst would call from a notebook (``rebalancer.runs``, the
audit, the scenario catalog, ``apply``), shows what it returns and maps its errors to
exit codes. One module per command; what they share is ``cli.base``.
"""

from rebalancer.cli import (  # noqa: F401  (each registers its command on ``main``)
    apply,
    backtest,
    batch,
    catalog,
    demo,
    drift,
    propose,
    validate,
    verify,
    whatif,
)
from rebalancer.cli.base import main

__all__ = ["main"]
