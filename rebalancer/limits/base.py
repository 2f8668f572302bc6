"""What every advisor limit states once: the protocol of ``rebalancer.limits``.

An advisor limit is a scenario setting (``key``) that the final orders must keep. Its
class says, in one place:

- ``measure(final, add)``: the check rows, re-measured on the positions after the
  trades (``Final``, rebuilt from the inputs and the trades table alone);
- ``hard``: whether whole-lot orders that break it make the request infeasible (exit
  3, ``hard_conflict``) rather than a row the Checks sheet flags;
- ``sources``: the names of the optimizer's constraint objects that compile it
  (``rebalancer.optimize.constraints``), whose elastic conflicts are its conflicts,
  and ``in_scenario_terms``: such a conflict restated in the scenario's own numbers
  (the inverse of the margin the optimizer works to);
- ``relax``: the scenario change that lifts a conflict of it, and ``apply``: how that
  change is written into the scenario's data;
- ``rounding(request)``: what the rounding to whole lots must keep of it
  (``rebalancer.trades.rules.RoundingRules`` fields; what the rounding does with them
  is the limit's repair, ``rebalancer.trades.repairs``).

A limit that is one linear row of the orders (``Row``: a·buys + b·sells + c·w ≤ rhs,
a scalar cap such as the turnover) is a ``RowCap``: ``problem_rows`` gives the row the
optimizer works to (``optimize.constraints.LinearRow``, one kind for every such
limit) and ``rounding_rows`` the row the rounding keeps
(``trades.repairs.rows.Rows``, one repair for every such limit): it needs nothing
outside this package but its setting.

A limit on each name's active weight needs no object of its own in ``optimize/``:
``problem_caps`` gives the caps of the optimizer's ``ActiveCap`` (whose working sets
keep the names the caps make an account hold: ``optimize.layout.must_hold``), and
``out_of_reach`` the conflicts of names the optimizer never sees (see
``active_position``).

Nothing here imports the optimizer or cvxpy: the checks, ``verify`` and the relaxation
use these classes without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rebalancer.errors import Conflict

if TYPE_CHECKING:
    from rebalancer.model.risk import RiskModel
    from rebalancer.scenario.schema import Scenario

TOL = 1e-6  # weights
USD_TOL = 0.005  # a half cent
USD_REL = 1e-12
SHARES_REL = 1e-9
EXTRA = 1e-4  # weights: the hair a relaxation adds beyond the gap
EXTRA_USD = 1.0

# add(check, limit, value, ok, detail): one row of the Checks table
Add = Callable[..., None]
# want(conflict, key, old, new): a relaxation of the scenario setting ``key``
Want = Callable[[Conflict, str, float, float], None]


def usd_tol(amount) -> np.ndarray | float:
    """How far two dollar amounts of about ``amount`` may differ: half a cent plus
    1e-12 of it (a float's worth of a large NAV)."""
    return USD_TOL + USD_REL * np.abs(amount)


def shares_tol(quantity) -> np.ndarray | float:
    """How far two share counts of about ``quantity`` may differ: 1e-9 of it, at
    least 1e-9 of a share."""
    return SHARES_REL * np.maximum(1.0, np.abs(quantity))


@dataclass(frozen=True)
class Final:
    """One account after its trades, rebuilt from the inputs and the trades table (what
    every limit's ``measure`` reads). Series are indexed by the universe's tickers."""

    universe: pd.DataFrame
    scenario: Scenario
    risk: RiskModel
    nav: float
    trades: pd.DataFrame
    lot_sales: pd.DataFrame
    lots: pd.DataFrame
    notional: np.ndarray  # per trades row, |quantity| × price
    buys: float
    sells: float
    cash_after: float
    money: float  # the size of the cash sums (for their tolerance)
    trade: pd.Series  # signed shares traded
    before: pd.Series  # shares held before
    after: pd.Series  # shares held after
    w_before: pd.Series
    w_after: pd.Series
    reference: pd.Series
    active: np.ndarray  # w_after − reference
    closes: np.ndarray  # per trades row: the order closes its position
    taxable: bool = False
    recent: pd.DataFrame | None = None  # the household's trades in the wash window
    # the soft bands the proposal reaches over a path (its path block's
    # ``reached_over_path``, named as their Checks rows): kept as no farther outside
    # than before the trades (``rebalancer.solve.path``)
    over_path: frozenset[str] = frozenset()


def outside_by(value, lo: float, hi: float):
    """How far ``value`` is outside [lo, hi] (0 inside)."""
    return np.maximum(np.maximum(lo - value, value - hi), 0.0)


def over_path_row(
    value: float, before: float, lo: float, hi: float, whole_lots: float = 0.0
) -> tuple[bool, str]:
    """(ok, detail) of the Checks row of a soft band reached over a path
    (``rebalancer.solve.path``): kept where the value after the trades is inside
    [lo, hi] or no farther outside than ``before`` (to ``TOL``), or farther by no more
    than ``whole_lots``: what whole-lot rounding explains where the rounding does not
    keep the band itself (the cash target: ``rebalancer.limits.cash``)."""
    if outside_by(value, lo, hi) <= TOL:
        return True, f"reached over a path, inside now (before {before:.4f})"
    farther = float(outside_by(value, lo, hi) - outside_by(before, lo, hi))
    if farther <= TOL:
        return (
            True,
            f"reached over a path: no farther outside than before the trades ({before:.4f})",
        )
    if farther <= whole_lots + TOL:
        return True, (
            f"reached over a path: farther outside than before the trades ({before:.4f}) by "
            f"{farther:.4f}, within what whole lots explain ({whole_lots:.4f})"
        )
    return False, f"reached over a path: FARTHER outside than before the trades ({before:.4f})"


@dataclass(frozen=True)
class Row:
    """One linear row a limit puts on an account's orders, in weights of NAV:

        Σᵢ buyᵢ·boughtᵢ + sellᵢ·soldᵢ + weightᵢ·wᵢ ≤ rhs

    with boughtᵢ, soldᵢ ≥ 0 the weight of name i bought and sold this run (wᵢ − w₀ᵢ =
    boughtᵢ − soldᵢ) and wᵢ its weight after. Each coefficient is one number for every
    name or one per name (in the universe's order). ``buy`` and ``sell`` are ≥ 0: the
    row is then convex in the trades (the optimizer may state a trade's bought and sold
    weight as more than it is, never less). ``name`` is the limit's (``source``)."""

    name: str
    rhs: float
    buy: float | np.ndarray = 0.0
    sell: float | np.ndarray = 0.0
    weight: float | np.ndarray = 0.0

    def per_name(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(buy, sell, weight) as arrays of ``n`` names."""
        return tuple(
            np.broadcast_to(np.asarray(x, float), (n,)) for x in (self.buy, self.sell, self.weight)
        )

    def value(self, bought: np.ndarray, sold: np.ndarray, w_after: np.ndarray) -> float:
        """The row's left side at per-name ``bought``, ``sold`` and ``w_after`` (in
        weights, or in dollars for a row in dollars)."""
        buy, sell, weight = self.per_name(len(bought))
        return float(buy @ bought + sell @ sold + weight @ w_after)

    def scaled(self, factor: float) -> Row:
        """The row with both sides times ``factor`` (> 0): weights of NAV to dollars."""
        return Row(self.name, self.rhs * factor, self.buy, self.sell, self.weight)


class AdvisorLimit:
    """One advisor limit (module docstring). Subclasses set the class attributes and
    override what applies to them; the defaults are a limit with nothing to do there."""

    name = ""  # the limit's one name: conflicts and relaxations carry it (``source``)
    key = ""  # the scenario setting
    check = ""  # the Checks row that measures it, where it is hard
    hard = False
    sources: tuple[str, ...] = ()

    def measure(self, final: Final, add: Add) -> None:
        """Add the limit's rows to the Checks table (none: nothing to check)."""

    def measures(self, check: str) -> bool:
        """Whether the Checks row named ``check`` is this limit's (its ``check``)."""
        return bool(self.check) and check == self.check

    def hard_conflict(self, request, row, w_after: np.ndarray, how: str) -> Conflict:
        """The failed check ``row`` of a hard limit as the conflict exit 3 names."""
        return self.conflict(self.name, float(row.limit), float(row.value), how)

    def conflict(self, label: str, limit: float, needed: float, detail: str = "", **kw):
        """A conflict of this limit, keyed on its scenario setting."""
        return Conflict(label, limit, needed, detail, key=self.key, source=self.name, **kw)

    def in_scenario_terms(self, request, conflict: Conflict) -> list[Conflict]:
        """The optimizer's ``conflict`` with the limit as the scenario states it."""
        return [dataclasses.replace(conflict, key=self.key, source=self.name)]

    def relax(self, scenario: Scenario, x: Conflict, universe, want: Want, blocked: list) -> None:
        """Ask ``want`` for the scenario change that lifts ``x``, or say in ``blocked``
        why none does."""
        blocked.append(x.describe())

    def apply(self, data: dict[str, Any], key: str, value: float) -> None:
        """Write the relaxed ``value`` of ``key`` into the scenario's ``data``: by
        default the setting at that dotted path."""
        node = data
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value

    def problem_caps(self, universe, scenario) -> np.ndarray | None:
        """For a limit on each name's active weight (``optimize.constraints.ActiveCap``):
        the caps the optimizer works to, per name; None for any other limit, or unset."""
        return None

    def out_of_reach(self, universe, scenario, ref, w0, may_buy) -> list[Conflict]:
        """Conflicts of names the optimizer never sees: those neither held nor open to
        buy stay at weight 0 outside its working set, so a limit that makes the account
        hold one conflicts before any solve. None by default."""
        return []

    def rounding(self, request) -> dict[str, Any]:
        """``RoundingRules`` fields the rounding must keep of this limit (a per-name cap
        that two limits give, such as ``position_cap``, takes the smaller of the two)."""
        return {}

    def problem_rows(self, universe, scenario, nav_usd: float) -> list[Row]:
        """For a limit of linear rows (``RowCap``): the rows the optimizer works to, in
        weights of NAV; none for any other limit, or unset."""
        return []

    def rounding_rows(self, request) -> list[Row]:
        """For a limit of linear rows: the rows the rounding to whole lots keeps, in
        dollars (the orders' bought and sold notional, the positions' value after);
        none for any other limit, or unset."""
        return []


class ConstraintSetting(AdvisorLimit):
    """A limit set by ``constraints.<name>``: its scenario key, its Checks row and the
    optimizer's constraint that carries it (``source``) are its name, unless a subclass
    says otherwise."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if "name" in own:
            cls.key = own.get("key", f"constraints.{cls.name}")
            cls.check = own.get("check", cls.name)
            cls.sources = own.get("sources", (cls.name,))

    def setting(self, scenario) -> Any:
        """The setting as the scenario states it (None: not set)."""
        return getattr(scenario.constraints, self.name)


class ScalarCap(ConstraintSetting):
    """A limit of one number, ``constraints.<name>`` (None: not set), that the optimizer
    works to as ``inside(cap)`` and a relaxation raises to ``relaxed_to(needed)``."""

    hard = True
    margin = False  # whether ``inside`` moves the cap (its conflicts are then restated)

    def inside(self, cap: float) -> float:
        """The cap the optimizer works to."""
        return cap

    def relaxed_to(self, needed: float) -> float:
        """The scenario cap whose inside value reaches ``needed`` (and a hair more)."""
        raise NotImplementedError

    def in_scenario_terms(self, request, conflict):
        (x,) = super().in_scenario_terms(request, conflict)
        cap = self.setting(request.scenario)
        return [x if cap is None or not self.margin else dataclasses.replace(x, limit=cap)]

    def relax(self, scenario, x, universe, want, blocked) -> None:
        cap = self.setting(scenario)
        if cap is None:
            blocked.append(x.describe())
            return
        want(x, self.key, cap, self.relaxed_to(x.needed))


class RowCap(ScalarCap):
    """A scalar cap on one linear row of the orders (``Row``): Σ buy·bought + sell·sold
    + weight·w ≤ cap, in weights of NAV, with the coefficients the class states (one
    number for every name; a subclass with per-name coefficients overrides ``row``).

    All it takes, beyond its setting in the scenario: the optimizer works to
    ``inside(cap)`` through the generic row kind (``optimize.constraints.LinearRow``,
    elastic, so a conflict names it and ``--relax`` raises it to ``relaxed_to``); the
    rounding keeps the row at the scenario's cap through the generic row repair
    (``trades.repairs.rows``); the Checks row measures it on the final orders
    (``measure``); a break left after rounding makes the request infeasible (``hard``).
    A row on buys or sells limits one run's trades: the path's destination
    (``solve.path``) leaves it out."""

    buy = 0.0
    sell = 0.0
    weight = 0.0
    ceiling = 1.0  # the setting's largest value: a relaxation stops there

    def row(self, universe, scenario, cap: float) -> Row:
        """The row with right side ``cap`` (weights of NAV)."""
        return Row(self.name, cap, self.buy, self.sell, self.weight)

    def problem_rows(self, universe, scenario, nav_usd):
        cap = self.setting(scenario)
        return [] if cap is None else [self.row(universe, scenario, self.inside(cap))]

    def rounding_rows(self, request):
        cap = self.setting(request.scenario)
        if cap is None:
            return []
        return [self.row(request.universe, request.scenario, cap).scaled(request.position.nav_usd)]

    def relaxed_to(self, needed: float) -> float:
        return min(needed + EXTRA, self.ceiling)

    def measured(self, final: Final, row: Row) -> float:
        """The row's left side on the final orders, in weights of NAV."""
        price = final.universe["price"].to_numpy(float)
        traded = final.trade.to_numpy(float) * price / final.nav
        bought, sold = np.maximum(traded, 0.0), np.maximum(-traded, 0.0)
        return row.value(bought, sold, final.w_after.to_numpy(float))

    def measure(self, final, add) -> None:
        cap = self.setting(final.scenario)
        if cap is None:
            return
        value = self.measured(final, self.row(final.universe, final.scenario, cap))
        add(self.check, cap, value, value <= cap + TOL)
