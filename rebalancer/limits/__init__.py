"""The advisor's limits, one module each, and the registry the rest loops over.

Each limit (``base.AdvisorLimit``) states its scenario setting, the margin the
optimizer works to and its inverse, its checks, what the rounding must keep, whether
a break after rounding is infeasible, and how it is relaxed. The checks
(``rebalancer.checks.measure``), the hard limits of a proposal (``rebalancer.checks.hard``), the
explanation of an infeasible request and its relaxation (``rebalancer.limits.relax``) and
the rounding's rules loop over ``LIMITS``; nothing outside this package names a
limit's scenario key.

Adding a limit: a module here with its class and its instance (a setting
``constraints.<name>`` subclasses ``base.ConstraintSetting``, whose key, Checks row
and optimizer source are its name; ``base.RowCap`` for a scalar cap on one linear
row of the orders, which the optimizer, the rounding, the checks and the relaxation
then keep with no code outside this package: see ``turnover``; a cap per name on
the active weight: see ``active_position``), and its setting in
``rebalancer.scenario.schema``. ``LIMITS`` takes it in with no entry here: the
limits listed below in the order of their Checks rows, then those of the package's
other modules (``_discovered``), by module name. A limit of another form says what
the rounding to whole lots must keep of it in ``rounding(request)`` (fields of
``rebalancer.trades.rules.RoundingRules``) and what the rounding does with them in
its repair in ``rebalancer.trades.repairs``.
"""

from __future__ import annotations

import importlib
import pkgutil

from rebalancer.errors import Conflict
from rebalancer.limits.active_position import ACTIVE_POSITION
from rebalancer.limits.base import AdvisorLimit, Final
from rebalancer.limits.cash import CASH
from rebalancer.limits.cash_request import WITHDRAWAL
from rebalancer.limits.liquidity import LIQUIDITY
from rebalancer.limits.lots import LOT_SALES
from rebalancer.limits.min_trade import MIN_TRADE
from rebalancer.limits.position import POSITION
from rebalancer.limits.realized_gain import REALIZED_GAIN
from rebalancer.limits.restrictions import RESTRICTIONS
from rebalancer.limits.sector import SECTOR
from rebalancer.limits.tax_rules import TAX_RULES
from rebalancer.limits.tilt_bands import TILT_BANDS
from rebalancer.limits.tracking_error import TRACKING_ERROR
from rebalancer.limits.trade_mode import TRADE_MODE
from rebalancer.limits.turnover import TURNOVER

# in the order of their rows in the Checks table
_LISTED: tuple[AdvisorLimit, ...] = (
    CASH,
    WITHDRAWAL,
    TRADE_MODE,
    LOT_SALES,
    RESTRICTIONS,
    LIQUIDITY,
    TURNOVER,
    POSITION,
    ACTIVE_POSITION,
    SECTOR,
    TRACKING_ERROR,
    TILT_BANDS,
    REALIZED_GAIN,
    TAX_RULES,
    MIN_TRADE,
)
# the package's modules that hold no limit: the protocol, and the relaxation (which
# imports this package)
_MACHINERY = frozenset({"base", "relax"})


def _discovered(listed: tuple[AdvisorLimit, ...]) -> tuple[AdvisorLimit, ...]:
    """The limits of this package's modules that ``listed`` does not hold, by module
    name: each module's ``AdvisorLimit`` instances of a class it defines. A new
    limit's module is thus all the package needs of it."""
    seen = {id(limit) for limit in listed}
    found: list[AdvisorLimit] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _MACHINERY:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            mine = type(value).__module__ == module.__name__
            if isinstance(value, AdvisorLimit) and mine and id(value) not in seen:
                seen.add(id(value))
                found.append(value)
    return tuple(found)


LIMITS: tuple[AdvisorLimit, ...] = _LISTED + _discovered(_LISTED)
# the limits whole-lot orders may still break after every repair of the rounding, and
# whose break makes the request infeasible (``rebalancer.checks.hard``)
HARD_LIMITS: tuple[AdvisorLimit, ...] = tuple(limit for limit in LIMITS if limit.hard)

_BY_NAME = {limit.name: limit for limit in LIMITS}
_BY_SOURCE = {source: limit for limit in LIMITS for source in limit.sources}


def limit_named(name: str) -> AdvisorLimit | None:
    """The limit a conflict or relaxation names (``source``), None for none."""
    return _BY_NAME.get(name)


def in_scenario_terms(request, conflicts: list[Conflict]) -> list[Conflict]:
    """The optimizer's conflicts, each restated by its limit as the scenario states it
    (``AdvisorLimit.in_scenario_terms``: the scenario's key, its own number rather than
    the one inside the optimizer's margin, and any conflict that follows from it). A
    conflict of no advisor limit is kept as it is."""
    out: list[Conflict] = []
    for x in conflicts:
        limit = _BY_SOURCE.get(x.source)
        out.extend([x] if limit is None else limit.in_scenario_terms(request, x))
    return out


__all__ = ["HARD_LIMITS", "LIMITS", "AdvisorLimit", "Final", "in_scenario_terms", "limit_named"]
