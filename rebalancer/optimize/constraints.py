"""Limits as small objects that compile themselves to cvxpy.

Each limit is named as an advisor would name it and holds its own Parameters.
A *soft* limit can be compiled elastically: its slack s ≥ 0 relaxes it and the
objective pays ``ELASTIC_PENALTY · Σs``, so an infeasible request still solves and
the slacks say which limits conflict and by how much. Hard limits (long-only, the
budget, restrictions) are never relaxed.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from rebalancer.errors import Conflict
from rebalancer.optimize.params import Values
from rebalancer.optimize.terms import ActiveRisk, Columns, NameMatrices, Vars, at_most, dual

ELASTIC_PENALTY = 1e3
FORCED_EXIT_WEIGHT = 10.0  # a forced exit's slack costs this many times another's
# A tilt band and the limit that keeps it out of reach often trade 1:1 (a point of
# exposure is a point of turnover, of a sector's or the names' weight), so the elastic
# answer is a tie that solver noise would break either way. Bands cost a little more:
# the explanation then names the limit that blocks the view rather than the view.
BAND_WEIGHT = 1.01
BINDING_TOL = 1e-5
SLACK_TOL = 1e-5


class Limit:
    name = "limit"
    soft = True

    def __init__(self) -> None:
        self.slack: cp.Variable | None = None

    def _slack(self, shape: int | tuple = ()) -> cp.Expression | float:
        if not self.elastic:
            return 0.0
        self.slack = cp.Variable(shape, nonneg=True, name=f"slack_{self.name}")
        return self.slack

    @classmethod
    def of(cls, p) -> list[Limit]:
        """The instances of this limit that the problem ``p`` (a ``RebalanceProblem``:
        its ``structure``, ``values``, ``names``, ``risk``, ``tickers`` and ``elastic``)
        compiles: none where its structure has no such limit."""
        return [cls()]

    def compile(self, v: Vars, elastic: bool) -> list[cp.Constraint]:
        self.elastic = elastic and self.soft
        return self.build(v)

    def build(self, v: Vars) -> list[cp.Constraint]:
        raise NotImplementedError

    def penalty(self) -> cp.Expression | float:
        return ELASTIC_PENALTY * cp.sum(self.slack) if self.slack is not None else 0.0

    def binding(self, v: Vars) -> bool:
        return False

    def binding_labels(self, v: Vars) -> list[str]:
        """The limits an advisor would read as 'at their limit' after the solve."""
        return [self.name] if self.binding(v) else []

    def conflicts(self, v: Vars) -> list[Conflict]:
        return []

    def marginal(self, v: Vars, cols: Columns) -> np.ndarray | float:
        """−μ·∂g/∂w_j: what this limit charges for buying the first bit of each name
        outside the problem (``cols``), μ its multiplier at the optimum. Zero for
        limits a first small buy of an eligible outside name cannot press on (its own
        caps are positive and its weight starts at 0)."""
        return 0.0

    def _relaxed(self) -> np.ndarray:
        if self.slack is None or self.slack.value is None:
            return np.zeros(1)
        return np.atleast_1d(self.slack.value)


class LongOnly(Limit):
    """w ≥ 0: no short positions."""

    name, soft = "long_only", False

    @classmethod
    def of(cls, p):
        return [cls()] if p.elastic else []

    def build(self, v):
        return [v.w >= 0]


class Bounds(Limit):
    """lower ≤ w ≤ upper: every per-name limit of a request at once — no short, the
    restrictions (``Restrictions``), the position cap and the liquidity cap:

        lower = max(0, w₀ − sell_cap, w₀ − liquidity_cap)
        upper = min(position_cap, w₀ + buy_cap, w₀ + liquidity_cap)

    Two rows per name instead of five, none a copy of another: an interior-point
    solver converges in fewer, cheaper iterations. (Elastic problems, which explain an
    infeasibility, keep the limits apart, each with its slack.)"""

    name, soft = "bounds", False

    @classmethod
    def of(cls, p):
        # elastic problems keep the per-name limits apart, each with its slack
        return [] if p.elastic else [cls(p.values, p.structure.size)]

    def __init__(self, values: Values, n: int):
        super().__init__()
        self.values = values
        self.lower = values.get(
            "w_lower", n, nonneg=True, of=_lower, sources=("w0", "sell_cap", "liquidity_cap")
        )
        self.upper = values.get(
            "w_upper",
            n,
            of=_upper,
            sources=("w0", "buy_cap", "position_cap", "liquidity_cap"),
        )
        self.rows = _binding_rows(values.constant("w_upper"), n)

    def build(self, v):
        return [v.w >= self.lower, *at_most(v.w, self.upper, self.rows)]

    def binding_labels(self, v):
        d, w = self.values.data, v.w.value
        z = w - np.asarray(d.w0, float)
        out = []
        if np.any(np.asarray(d.position_cap) - w <= BINDING_TOL):
            out.append(PositionLimit.name)
        traded = np.abs(z) > 1e-6
        if np.any(traded & (np.asarray(d.liquidity_cap) - np.abs(z) <= BINDING_TOL)):
            out.append(Liquidity.name)
        return out


def _lower(data) -> np.ndarray:
    w0 = np.asarray(data.w0, float)
    return np.maximum.reduce([np.zeros_like(w0), w0 - data.sell_cap, w0 - data.liquidity_cap])


def _upper(data) -> np.ndarray:
    w0 = np.asarray(data.w0, float)
    return np.minimum.reduce(
        [np.asarray(data.position_cap, float), w0 + data.buy_cap, w0 + data.liquidity_cap]
    )


class Budget(Limit):
    """Σw + cash = 1 and u ≥ |w − w₀| (the traded weights)."""

    name, soft = "budget", False

    def build(self, v):
        self.budget = cp.sum(v.w) + v.cash == 1
        return [self.budget, v.u >= v.z, v.u >= -v.z]

    def marginal(self, v, cols):
        # a weight bought is a weight of cash spent: the budget's price of NAV
        return -dual(self.budget)


class CashTarget(Limit):
    """|cash − target| ≤ tolerance: fully invested but for the cash the scenario keeps.

    A narrow band rather than an equality: an equality leaves no interior when
    most trades are frozen (minimum trade size), and interior-point solvers stall
    on such problems. The rounding moves cash by more than the band anyway.
    """

    name = "cash_target"

    @classmethod
    def of(cls, p):
        return [cls(p.values)]

    def __init__(self, values: Values):
        super().__init__()
        self.target = values.get("cash_target", nonneg=True)
        self.tolerance = values.get("cash_tolerance", nonneg=True)

    def build(self, v):
        s = self._slack(2)
        up, down = (0.0, 0.0) if isinstance(s, float) else (s[0], s[1])
        return [
            v.cash <= self.target + self.tolerance + up,
            v.cash >= self.target - self.tolerance - down,
        ]

    def conflicts(self, v):
        s = self._relaxed()
        if s.max() <= SLACK_TOL:
            return []
        return [
            Conflict(
                "cash target",
                float(self.target.value),
                float(v.cash.value),
                source=self.name,
            )
        ]


class Restrictions(Limit):
    """w₀ − sell_cap ≤ w ≤ w₀ + buy_cap: no_buy / no_sell / no_trade and the screens.

    A negative ``sell_cap`` is a minimum buy (used to lift an order that a small
    account needs up to the minimum trade size)."""

    name, soft = "restrictions", False

    @classmethod
    def of(cls, p):
        return [cls(p.values, p.structure.size)] if p.elastic else []

    def __init__(self, values: Values, n: int):
        super().__init__()
        self.buy_cap = values.get("buy_cap", n, nonneg=True)
        # negative: a minimum buy. Selling all of w₀ or more only restates w ≥ 0: such a
        # row is written slack, never as a second copy of the long-only bound (two
        # copies of one active bound make the problem degenerate for an interior-point
        # solver: it slows down or fails); a constant one is left out
        self.sell_cap = values.get("sell_cap", n, of=_sell_cap)
        self.buy_rows = _binding_rows(values.constant("buy_cap"), n)
        sell, w0 = values.constant("sell_cap"), values.constant("w0")
        self.sell_rows = None if sell is None or w0 is None else np.flatnonzero(sell < w0)

    def build(self, v):
        return at_most(v.z, self.buy_cap, self.buy_rows) + at_most(
            -v.z, self.sell_cap, self.sell_rows
        )


def _sell_cap(data) -> np.ndarray:
    """The sell caps as the restriction writes them: a cap of all of w₀ or more, slack."""
    cap = np.asarray(data.sell_cap, float)
    return np.where(cap >= np.asarray(data.w0, float), SLACK_CAP, cap)


SLACK_CAP = 10.0  # a cap no weight can reach: its row never binds
# no weight or traded weight exceeds 1 (long-only, budget 1, cash within its band), so
# a per-name cap at or above this cannot bind: a constant one's row is left out
NEVER_BINDS = 2.0


def _binding_rows(cap: np.ndarray | None, n: int) -> np.ndarray | None:
    """The rows of a constant per-name cap that can bind (None: a Parameter, keep all)."""
    if cap is None:
        return None
    rows = np.flatnonzero(np.broadcast_to(cap, (n,)) < NEVER_BINDS)
    return None if len(rows) == n else rows


class _VectorCap(Limit):
    """Shared shape of per-name caps: expr_i ≤ cap_i (+ slack_i)."""

    label = ""
    field = ""

    @classmethod
    def of(cls, p):
        return [cls(p.values, p.structure.size, p.tickers)] if p.elastic else []

    def __init__(self, values: Values, n: int, tickers):
        super().__init__()
        self.cap = values.get(self.field, n, nonneg=True)
        self.tickers = list(tickers)
        self.rows = _binding_rows(values.constant(self.field), n)

    def lhs(self, v):
        raise NotImplementedError

    def build(self, v):
        if self.rows is None:
            return [self.lhs(v) <= self.cap + self._slack(self.cap.shape)]
        if not len(self.rows):
            return []
        rows = self.rows
        return [self.lhs(v)[rows] <= self.cap[rows] + self._slack(len(rows))]

    def binding(self, v):
        return bool(np.any(self.cap.value - self.lhs(v).value <= BINDING_TOL))

    def conflicts(self, v):
        s = np.zeros(len(self.tickers))
        s[slice(None) if self.rows is None else self.rows] = self._relaxed()
        bad = np.flatnonzero(s > SLACK_TOL)
        if not len(bad):
            return []
        value, cap = self.lhs(v).value, self.cap.value
        worst = bad[np.argmax(s[bad])]
        detail = (
            f"{len(bad)} name(s), worst {self.tickers[worst]} needs "
            f"{value[worst]:.4%} of NAV vs {cap[worst]:.4%}"
        )
        return [
            Conflict(
                self.label,
                float(cap[worst]),
                float(value[worst]),
                detail,
                source=self.name,
                names=tuple((self.tickers[i], float(value[i]), float(cap[i])) for i in bad),
            )
        ]


class PositionLimit(_VectorCap):
    """w_i ≤ max_position (0 for a forced exit)."""

    name, label, field = "max_position", "max_position", "position_cap"

    def lhs(self, v):
        return v.w

    def penalty(self):
        if self.slack is None:
            return 0.0
        # a zero cap is a forced exit (the universe's rule, not the scenario's): let it
        # give last, so that a name that cannot be sold in time is blamed on a limit a
        # scenario can relax (the liquidity rule's days), not on its exit
        weight = np.where(np.asarray(self.cap.value) > 0, 1.0, FORCED_EXIT_WEIGHT)
        if self.rows is not None:
            weight = weight[self.rows]
        return ELASTIC_PENALTY * cp.sum(cp.multiply(weight, self.slack))


class Liquidity(_VectorCap):
    """|w_i − w₀_i| ≤ participation_i × ADV_i × days / NAV."""

    name, label, field = "liquidity", "liquidity (max participation of ADV)", "liquidity_cap"

    def lhs(self, v):
        return v.u

    def binding(self, v):
        traded = np.abs(v.z.value) > 1e-6
        return bool(np.any(traded & (self.cap.value - np.abs(v.z.value) <= BINDING_TOL)))


class _ScalarCap(Limit):
    """One number bounded above: value(v) ≤ limit (+ slack)."""

    def __init__(self, values: Values):
        super().__init__()
        self.limit = values.get(self.name, nonneg=True)

    def value_expr(self, v):
        raise NotImplementedError

    def build(self, v):
        self.constraint = self.value_expr(v) <= self.limit + self._slack()
        return [self.constraint]

    def gradient(self, v, cols) -> np.ndarray | float:
        """∂value/∂w_j of the limited number for a first buy of each outside name."""
        return 0.0

    def marginal(self, v, cols):
        return -dual(self.constraint) * self.gradient(v, cols)

    def measured(self, v) -> float:
        return float(self.value_expr(v).value)

    def binding(self, v):
        return self.limit.value - self.measured(v) <= BINDING_TOL * max(1.0, self.limit.value)

    def conflicts(self, v):
        if self._relaxed().max() <= SLACK_TOL:
            return []
        return [Conflict(self.name, float(self.limit.value), self.measured(v), source=self.name)]


class LinearRow(_ScalarCap):
    """Σᵢ buyᵢ·boughtᵢ + sellᵢ·soldᵢ + weightᵢ·wᵢ ≤ rhs: an advisor limit stated as one
    linear row of the trades (``Structure.rows`` names it; its numbers are row ``row``
    of ProblemData's ``row_*`` fields). With z = w − w₀ and u ≥ |z| the traded weight,
    bought = (u + z)/2 and sold = (u − z)/2, so the row is written

        Σᵢ pᵢuᵢ + qᵢzᵢ + weightᵢ·wᵢ ≤ rhs,   p = (buy + sell)/2,  q = (buy − sell)/2,

    exact where u = |z| (a taxable problem's u is bought + sold), and with buy, sell ≥ 0
    (p ≥ |q|) a u above |z| only raises the left side: a point the row admits keeps it
    at u = |z|. A part whose coefficients are constant zeros is left out, one constant
    for every name is written on a sum. Its conflicts and binding label carry the
    limit's name (``source``); a what-if varying the limit makes ``row_rhs`` a
    Parameter, so the sweep re-uses the compiled problem."""

    @classmethod
    def of(cls, p):
        n = p.structure.size
        return [cls(p.values, n, name, row) for row, name in enumerate(p.structure.rows)]

    def __init__(self, values: Values, n: int, name: str, row: int):
        Limit.__init__(self)
        self.name, self.row = name, row
        self.limit = values.get(
            f"row_rhs_{name}", of=lambda d: d.row_rhs[row], sources=("row_rhs",)
        )
        # the coefficients are the limit's form, constants even in a parametric problem
        # (a row of one number for every name stays a sum)
        buy, sell, weight = (
            np.broadcast_to(
                values.fixed(f"{field}_{name}", lambda d, f=field: getattr(d, f)[row]), (n,)
            )
            for field in ("row_buy", "row_sell", "row_weight")
        )
        self.parts = (((buy + sell) / 2, "u"), ((buy - sell) / 2, "z"), (weight, "w"))

    def value_expr(self, v):
        terms = []
        for coef, var in self.parts:
            if not coef.any():
                continue
            x = getattr(v, var)
            terms.append(float(coef[0]) * cp.sum(x) if (coef == coef[0]).all() else coef @ x)
        return sum(terms[1:], terms[0]) if terms else cp.Constant(0.0)

    def gradient(self, v, cols):
        # a first buy of name j raises its bought weight and its weight alike
        return cols.row_buy_weight[self.row]


class TrackingError(_ScalarCap):
    """√(aᵀΣa) ≤ max_tracking_error, as a second-order cone."""

    name = "max_tracking_error"

    @classmethod
    def of(cls, p):
        return [cls(p.values, p.risk)] if p.structure.has_tracking_error else []

    def __init__(self, values: Values, risk: ActiveRisk):
        self.risk = risk
        super().__init__(values)

    def value_expr(self, v):
        parts = [self.risk.factor_part(v)]
        if self.risk.has_specific:
            parts.append(self.risk.specific_part(v))
        parts.append(cp.reshape(self.risk.outside, (1,), order="C"))
        return cp.norm(cp.hstack(parts), 2)

    def gradient(self, v, cols):
        # ∂√(aᵀΣa)/∂w_j = (Σa)_j / √(aᵀΣa)
        te = self.measured(v)
        return cols.cov_active / te if te > 0 else 0.0


class TiltBands(Limit):
    """lo_g ≤ (G a)_g ≤ hi_g: active exposure of each tilted group inside its band."""

    name = "tilt_bands"

    @classmethod
    def of(cls, p):
        labels = list(p.structure.tilt_labels)
        return [cls(p.values, p.names, labels)] if labels else []

    def __init__(self, values: Values, names: NameMatrices, labels: list[str]):
        super().__init__()
        self.names = names
        self.labels = labels
        m = len(labels)
        self.offset = values.get(
            "tilt_offset", m, of=lambda d: np.zeros(m) if d.tilt_offset is None else d.tilt_offset
        )
        self.lo = values.get("tilt_lo", m)
        self.hi = values.get("tilt_hi", m)

    def build(self, v):
        m = len(self.labels)
        self.slack_lo = self._slack(m)
        lo_slack = self.slack_lo
        hi_slack = self._slack(m)
        self.slack_hi = hi_slack
        self.slacks = [x for x in (lo_slack, hi_slack) if not isinstance(x, float)]
        exposure = self.exposure = self.names.groups(v.active) + self.offset
        self.lower = exposure >= self.lo - lo_slack
        self.upper = exposure <= self.hi + hi_slack
        return [self.lower, self.upper]

    def marginal(self, v, cols):
        # a group's exposure rises with every member bought: the upper band charges
        # for it, the lower band pays
        return -(cols.tilt_groups.T @ (dual(self.upper) - dual(self.lower)))

    def penalty(self):
        if not getattr(self, "slacks", None):
            return 0.0
        return BAND_WEIGHT * ELASTIC_PENALTY * sum(cp.sum(s) for s in self.slacks)

    def binding_labels(self, v) -> list[str]:
        exp = self.exposure.value
        out = []
        for g, label in enumerate(self.labels):
            if exp[g] - self.lo.value[g] <= BINDING_TOL:
                out.append(f"tilt {label} (lower band)")
            if self.hi.value[g] - exp[g] <= BINDING_TOL:
                out.append(f"tilt {label} (upper band)")
        return out

    def conflicts(self, v):
        if not getattr(self, "slacks", None):
            return []
        exp = self.exposure.value
        out = []
        for g, label in enumerate(self.labels):
            if self.slack_lo.value[g] > SLACK_TOL:
                out.append(
                    Conflict(
                        f"tilt {label} lower band",
                        float(self.lo.value[g]),
                        float(exp[g]),
                        "active exposure",
                        source=self.name,
                        group=label,
                    )
                )
            if self.slack_hi.value[g] > SLACK_TOL:
                out.append(
                    Conflict(
                        f"tilt {label} upper band",
                        float(self.hi.value[g]),
                        float(exp[g]),
                        "active exposure",
                        source=self.name,
                        group=label,
                    )
                )
        return out


class SectorCaps(Limit):
    """S w ≤ sector_max: the weight of every sector."""

    name = "sector_max"

    @classmethod
    def of(cls, p):
        s = p.structure
        return [cls(p.values, p.names, list(s.sector_labels))] if s.has_sector_max else []

    def __init__(self, values: Values, names: NameMatrices, labels: list[str]):
        super().__init__()
        self.names = names
        self.labels = labels
        self.limit = values.get("sector_max", nonneg=True)

    def build(self, v):
        self.weights = self.names.sectors(v.w)
        self.constraint = self.weights <= self.limit + self._slack(len(self.labels))
        return [self.constraint]

    def marginal(self, v, cols):
        return -(cols.sector_groups.T @ dual(self.constraint))

    def binding_labels(self, v):
        weights = self.weights.value
        return [
            f"sector_max ({self.labels[g]})"
            for g in np.flatnonzero(self.limit.value - weights <= BINDING_TOL)
        ]

    def conflicts(self, v):
        s = self._relaxed()
        weights = self.weights.value
        return [
            Conflict(
                f"sector_max ({self.labels[g]})",
                float(self.limit.value),
                float(weights[g]),
                source=self.name,
            )
            for g in np.flatnonzero(s > SLACK_TOL)
        ]


class LotSales(Limit):
    """Sales come out of lots: w − w₀ = b − M s, traded u = b + M s, 0 ≤ s ≤ cap.

    M is the security × lot membership matrix; a lot blocked by a wash-sale or
    short-term rule has cap 0.
    """

    name, soft = "lot_sales", False

    @classmethod
    def of(cls, p):
        members = p.structure.lot_members
        return [] if members is None else [cls(p.values, members)]

    def __init__(self, values: Values, members):
        super().__init__()
        self.members = members
        self.cap = values.get("lot_cap", members.shape[1], nonneg=True)

    def build(self, v):
        sold = self.members @ v.sold
        return [v.z == v.buy - sold, v.u == v.buy + sold, v.sold <= self.cap]


class RealizedGainLimit(_ScalarCap):
    """Σ_ℓ g_ℓ s_ℓ ≤ max_realized_gain / NAV: the net realized gain (losses included),
    in NAV units inside the problem and in dollars in its messages."""

    name = "max_realized_gain"

    @classmethod
    def of(cls, p):
        s = p.structure
        if s.lot_members is None or not s.has_gain_limit:
            return []
        return [cls(p.values, s.lot_members.shape[1], p.values.data.nav_usd)]

    def __init__(self, values: Values, n_lots: int, nav_usd: float):
        Limit.__init__(self)
        self.gain = values.get("lot_gain", n_lots)
        self.limit = values.get("max_realized_gain_nav")
        self.nav_usd = nav_usd

    def value_expr(self, v):
        return self.gain @ v.sold

    def binding(self, v):
        return float(self.limit.value) - self.measured(v) <= 1e-7

    def conflicts(self, v):
        if self._relaxed().max() <= SLACK_TOL:
            return []
        return [
            Conflict(
                "max_realized_gain (USD)",
                float(self.limit.value) * self.nav_usd,
                self.measured(v) * self.nav_usd,
                source=self.name,
            )
        ]


class ActiveCap(_VectorCap):
    """|w_i − ref_i| ≤ cap_i: each name's active weight within its cap, both ways.

    The optimizer's form of an advisor limit on active weights: ``name`` is the limit's
    (what its conflicts carry), ``label`` how messages name it, and its caps are
    row ``row`` of ``ProblemData.active_caps``. With one slack per name, a name over its
    cap either way is a conflict ``(ticker, |a_i| needed, cap_i)``."""

    @classmethod
    def of(cls, p):
        n = p.structure.size
        return [
            cls(p.values, n, p.tickers, name, label, row)
            for row, (name, label) in enumerate(p.structure.active_caps)
        ]

    def __init__(self, values: Values, n: int, tickers, name: str, label: str, row: int):
        Limit.__init__(self)
        self.name, self.label = name, label
        self.cap = values.get(
            f"active_cap_{name}",
            n,
            nonneg=True,
            of=lambda d: d.active_caps[row],
            sources=("active_caps",),
        )
        self.tickers = list(tickers)
        self.rows = None

    def lhs(self, v):
        return cp.abs(v.active)

    def build(self, v):
        s = self._slack(self.cap.shape)
        return [v.active <= self.cap + s, -v.active <= self.cap + s]


# every limit a problem may compile, in the order it compiles them (``Limit.of`` says
# which, and how many, a structure has)
KINDS: tuple[type[Limit], ...] = (
    Budget,
    CashTarget,
    LongOnly,
    Restrictions,
    PositionLimit,
    Liquidity,
    Bounds,
    LinearRow,
    TrackingError,
    TiltBands,
    SectorCaps,
    LotSales,
    RealizedGainLimit,
    ActiveCap,
)
