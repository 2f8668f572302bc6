"""The scenario schema: frozen dataclasses, validated from plain YAML data.

A scenario states a view as tilts and limits. Every key is declared here; an
unknown key is rejected with the nearest valid name. Numbers carry their range in
field metadata, so the checks and the documentation live in one place.

Weights, targets and bands are fractions of NAV (0.05 = 5%); money is in USD;
costs are in basis points of traded value.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from rebalancer.errors import ScenarioError, nearest
from rebalancer.inputs.cells import MAX_MAGNITUDE
from rebalancer.inputs.readers import TRADE_MODES
from rebalancer.scenario.expressions import NUMERIC_COLUMNS, ExpressionError, parse_condition
from rebalancer.scenario.selectors import Selector, SelectorSyntaxError, parse_selector


def _num(lo: float | None = None, hi: float | None = None, doc: str = "") -> dict:
    return {"lo": lo, "hi": hi, "doc": doc}


# a setting added after proposals were first recorded: left out of ``to_data`` while
# unset, so a scenario without it keeps the digest (and verify the record) it had
UNSET_OMITTED = {"omit_unset": True}


@dataclass(frozen=True)
class ByGroup:
    """A value per group: ``{default: 0.2, "size:small": 0.1}``.

    For a security in several listed groups the strictest value wins (``pick``
    says which is strictest: the smallest participation, the widest spread).
    """

    default: float
    overrides: tuple[tuple[Selector, float], ...] = ()

    def to_data(self) -> dict[str, float]:
        return {"default": self.default, **{s.text: v for s, v in self.overrides}}


@dataclass(frozen=True)
class Cash:
    target: float = field(default=0.02, metadata=_num(0, 1, "cash weight the optimizer aims at"))
    min: float = field(default=0.01, metadata=_num(0, 1, "cash floor after the final trades"))
    # an account's cash request (``rebalancer.limits.cash_request``): usually set from
    # ``propose --withdraw/--deposit`` or the accounts file's columns of the same name
    withdraw_usd: float | None = field(
        default=None,
        metadata={**_num(0, None, "dollars to free above the floor, leaving after the trades"),
                  **UNSET_OMITTED},
    )  # fmt: skip
    deposit_usd: float | None = field(
        default=None,
        metadata={**_num(0, None, "dollars of cash arriving before the trades"), **UNSET_OMITTED},
    )


@dataclass(frozen=True)
class Liquidity:
    max_participation: ByGroup = field(
        default_factory=lambda: ByGroup(0.2),
        metadata=_num(0, 1, "largest trade as a share of average daily traded value"),
    )
    days: float = field(default=1.0, metadata=_num(0, 100, "trading days the trade may take"))


@dataclass(frozen=True)
class Constraints:
    cash: Cash = field(default_factory=Cash)
    max_position: ByGroup | None = field(
        default_factory=lambda: ByGroup(0.05),
        metadata=_num(0, 1, "largest weight of one name (per group: the strictest applies)"),
    )
    # |weight − reference weight| of each name (rebalancer.limits.active_position)
    max_active_position: ByGroup | None = field(
        default=None,
        metadata={**_num(0, 1, "largest distance of a name's weight from its reference weight"),
                  **UNSET_OMITTED},
    )  # fmt: skip
    max_turnover: float | None = field(default=None, metadata=_num(0, 1))
    # the most one run may sell, a fraction of NAV (rebalancer.limits.max_sales)
    max_sales: float | None = field(
        default=None,
        metadata={**_num(0, 1, "most one run may sell, a fraction of NAV"), **UNSET_OMITTED},
    )
    max_tracking_error: float | None = field(default=None, metadata=_num(0, 2))
    liquidity: Liquidity = field(default_factory=Liquidity)
    min_trade_usd: float = field(default=0.0, metadata=_num(0, None))
    # which side an account may trade (``rebalancer.limits.trade_mode``; unset: rebalance)
    trade_mode: str | None = field(default=None, metadata=UNSET_OMITTED)
    round_lots: bool = True
    sector_max: float | None = field(default=None, metadata=_num(0, 1))
    no_buy: list[str] = field(default_factory=list)  # groups that may be held or sold, not bought
    max_realized_gain: float | None = field(
        default=None, metadata=_num(None, None, "net realized gain budget, USD (taxable only)")
    )
    no_short_term_gains: bool = False


@dataclass(frozen=True)
class Costs:
    spread_bps: ByGroup = field(
        default_factory=lambda: ByGroup(5.0),
        metadata=_num(0, 10_000, "one-way cost of crossing the spread, bps of traded value"),
    )
    impact: float = field(
        default=0.7,
        metadata=_num(0, 100, "impact coefficient c: cost/value = c × daily vol × sqrt(trade/ADV)"),
    )
    # the least an optional trade list must gain over holding, bp of NAV in the
    # optimizer's objective (rebalancer.trades.settle.hurdle); unset: the default there
    hurdle_bps: float | None = field(
        default=None,
        metadata={**_num(0, 10_000, "least gain over holding, bps of NAV, for optional trades"),
                  **UNSET_OMITTED},
    )  # fmt: skip


@dataclass(frozen=True)
class Signals:
    weight: float = field(default=0.0, metadata=_num(0, 10, "scale of the signal alpha"))
    ic: float = field(default=0.05, metadata=_num(0, 1, "information coefficient"))
    metrics: dict[str, float] = field(default_factory=dict)
    neutralize: str = "sector"
    winsorize: float = field(default=0.05, metadata=_num(0, 0.5, "tail share clipped each side"))


@dataclass(frozen=True)
class View:
    """A Black-Litterman view: the ``long`` group beats the ``short`` group (or cash).

    ``excess_return`` is the view's annual return; a rate view states
    ``rate_change`` and ``sensitivity`` instead, and its return is
    −rate_change × sensitivity × (the view portfolio's average ``scale_by`` value).
    ``scale_by`` (a universe column) also weights the names inside each group,
    cap × column, so the view falls hardest on, e.g., floating-rate borrowers.
    """

    long: str
    short: str | None = None
    excess_return: float | None = field(default=None, metadata=_num(-1, 1))
    confidence: float = field(default=0.5, metadata=_num(0, 1, "Idzorek confidence"))
    scale_by: str | None = None
    rate_change: float | None = field(default=None, metadata=_num(-0.2, 0.2))
    sensitivity: float = field(default=1.0, metadata=_num(-100, 100))
    weighting: str = "cap"


@dataclass(frozen=True)
class Screen:
    """Due diligence: names in ``where`` that fail ``require`` may not be bought."""

    require: str
    where: str = "all"


@dataclass(frozen=True)
class Shock:
    """A stress test: a return per group (additive where groups overlap)."""

    name: str
    returns: dict[str, float] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, **self.returns}


@dataclass(frozen=True)
class Harvest:
    """Tax-loss harvesting: a loss lot counts as a tax benefit only past both thresholds."""

    min_loss_usd: float = field(default=0.0, metadata=_num(0, None))
    min_loss_pct: float = field(default=0.0, metadata=_num(0, 1, "loss as a share of basis"))


@dataclass(frozen=True)
class Tax:
    """How taxable accounts see taxes (tax-exempt accounts ignore all of it)."""

    short_term_rate: float = field(default=0.37, metadata=_num(0, 1))
    long_term_rate: float = field(default=0.20, metadata=_num(0, 1))
    weight: float = field(
        default=1.0, metadata=_num(0, 100, "tax dollars against a year of expected return")
    )
    lot_method: str = "optimized"
    harvest: Harvest | None = None
    wash_sale_days: float = field(default=30.0, metadata=_num(0, 366))
    # the rate on ordinary income (interest, non-qualified dividends; ``income_yield``);
    # unset: ``short_term_rate``, as short-term gains are taxed as ordinary income
    income_rate: float | None = field(
        default=None,
        metadata={**_num(0, 1, "rate on taxable income (unset: short_term_rate)"), **UNSET_OMITTED},
    )

    @property
    def ordinary_income_rate(self) -> float:
        """The rate the income of a taxable account's holdings is taxed at."""
        return self.short_term_rate if self.income_rate is None else self.income_rate


LOT_METHODS = ("optimized", "hifo", "fifo")


@dataclass(frozen=True)
class Tilt:
    target: float = field(metadata=_num(-1, 1, "active exposure to aim at"))
    band: float = field(default=0.0, metadata=_num(0, 1, "allowed distance from the target"))


@dataclass(frozen=True)
class Substitute:
    """A substitute group (``substitutes``): securities that stand for one another, so
    the optimizer sees one exposure (``model.substitutes``). ``identical``: the advisor
    judges them substantially identical, so a buy of any member within
    ``tax.wash_sale_days`` of a loss sale of another is a wash sale. Written as a list
    of tickers (not identical) or ``{tickers: [...], identical: true}``."""

    tickers: tuple[str, ...]
    identical: bool = False


@dataclass(frozen=True)
class Triggers:
    """When ``rebalancer drift`` flags an account for a rebalance (``runs.drift``).

    Each is a distance, as a fraction of NAV (tracking error: annual), past which the
    account needs action: a group's active exposure from its tilt target (past the
    tilt's band too, when that is wider), a name's weight from its reference weight
    plus any ``ticker:`` tilt target, the cash weight above or below the account's
    cash target, and the tracking error against the reference."""

    group_drift: float = field(
        default=0.03, metadata=_num(0, 1, "|active exposure − tilt target| of a group")
    )
    name_drift: float = field(
        default=0.02, metadata=_num(0, 1, "|weight − reference weight − name target| of a name")
    )
    cash_above: float = field(
        default=0.03, metadata=_num(0, 1, "cash weight above the cash target by more: high cash")
    )
    cash_below: float = field(
        default=0.015, metadata=_num(0, 1, "cash weight below the cash target by more: low cash")
    )
    tracking_error_above: float = field(
        default=0.04, metadata=_num(0, 2, "annual tracking error against the reference")
    )


@dataclass(frozen=True)
class Scenario:
    name: str = "unnamed"
    description: str = ""
    extends: str | None = None
    risk_aversion: float = field(default=5.0, metadata=_num(0, 1e6, "penalty on active variance"))
    tilt_strength: float = field(
        default=10.0, metadata=_num(0, 1e6, "pull toward tilt targets inside their bands")
    )
    risk_free_rate: float = field(default=0.04, metadata=_num(-0.1, 0.5))
    market_risk_aversion: float = field(
        default=2.5, metadata=_num(0, 100, "delta of the market-implied prior returns")
    )
    size_buckets: dict[str, float] = field(
        default_factory=lambda: {"large": 10e9, "mid": 2e9, "small": 3e8}
    )
    signals: Signals = field(default_factory=Signals)
    views: list[View] = field(default_factory=list)
    view_tau: float = field(default=0.05, metadata=_num(0, 1, "Black-Litterman tau"))
    tilts: dict[str, Tilt] = field(default_factory=dict)
    screens: list[Screen] = field(default_factory=list)
    constraints: Constraints = field(default_factory=Constraints)
    costs: Costs = field(default_factory=Costs)
    tax: Tax = field(default_factory=Tax)
    shocks: list[Shock] = field(default_factory=list)
    # ``rebalancer drift``'s thresholds; unset: the ``Triggers`` defaults (base.yaml's)
    triggers: Triggers | None = field(default=None, metadata=UNSET_OMITTED)
    # substitute groups (``Substitute``); unset: none
    substitutes: list[Substitute] | None = field(default=None, metadata=UNSET_OMITTED)

    def drift_triggers(self) -> Triggers:
        """The triggers in force: the scenario's, else the defaults."""
        return self.triggers or Triggers()

    def tilt_selectors(self) -> list[Selector]:
        return [parse_selector(s) for s in self.tilts]

    def to_data(self) -> dict[str, Any]:
        """The effective settings as plain data (for the Scenario sheet and JSON)."""
        return _to_data(self)


SIGNAL_METRICS = ("pb", "pe", "roa", "momentum", "leverage", "floating_debt_pct", "beta")
NEUTRALIZE = ("sector", "region", "none")


def _to_data(obj: Any) -> Any:
    if isinstance(obj, ByGroup | Shock):
        return obj.to_data()
    if isinstance(obj, list | tuple):
        return [_to_data(x) for x in obj]
    if dataclasses.is_dataclass(obj):
        return {
            f.name: _to_data(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get("omit_unset") and getattr(obj, f.name) is None)
        }
    if isinstance(obj, dict):
        return {k: _to_data(v) for k, v in obj.items()}
    return obj


class Problems:
    """Collects every problem in a scenario so validate can report them all at once."""

    def __init__(self, path: str | None):
        self.path = path
        self.items: list[ScenarioError] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(ScenarioError(self.path, message, key=key))


def build(data: dict[str, Any], path: str | None, problems: Problems | None = None) -> Scenario:
    """Validate merged scenario data into a ``Scenario``.

    With ``problems`` given, every problem is recorded there and defaults stand in
    for bad values; without it, the first problem raises ``ScenarioError``.
    """
    collect = problems if problems is not None else Problems(path)
    scenario = _build_dataclass(Scenario, data, "", collect)
    _cross_checks(scenario, collect)
    if problems is None and collect.items:
        raise collect.items[0]
    return scenario


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _build_dataclass(cls: type, data: Any, prefix: str, problems: Problems) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(prefix or "<top>", f"expected a mapping of settings, got {_kind(data)}")
        return cls() if _all_defaulted(cls) else None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, raw in data.items():
        where = _join(prefix, str(key))
        if key not in fields:
            hint = nearest(str(key), list(fields))
            problems.add(
                where,
                "unknown key"
                + (f" (did you mean '{hint}'?)" if hint else f" (valid: {', '.join(fields)})"),
            )
            continue
        value = _convert(hints[key], raw, where, fields[key].metadata, problems)
        if value is not _BAD:
            values[key] = value
    missing = [n for n, f in fields.items() if n not in data and _required(f)]
    for name in missing:
        problems.add(_join(prefix, name), "required setting is missing")
    if missing or any(n not in values and _required(f) for n, f in fields.items()):
        return None
    return cls(**values)


_BAD = object()


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _all_defaulted(cls: type) -> bool:
    return not any(_required(f) for f in dataclasses.fields(cls))


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    ) + (f" '{_shown(value)}'" if isinstance(value, str | int | float) else "")


def _shown(value: Any) -> str:
    """A value as a message quotes it: a long one is cut (a file may hold 1 MB of text)."""
    text = str(value)
    return f"{text[:40]}..." if len(text) > 43 else text


def _convert(hint: Any, raw: Any, where: str, meta: Any, problems: Problems) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if (
        origin in (typing.Union, getattr(__import__("types"), "UnionType", None))
        and type(None) in args
    ):
        if raw is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is float:
        return _number(raw, where, meta, problems)
    if hint is bool:
        if not isinstance(raw, bool):
            problems.add(where, f"expected true or false, got {_kind(raw)}")
            return _BAD
        return raw
    if hint is str:
        if not isinstance(raw, str):
            problems.add(where, f"expected text, got {_kind(raw)}")
            return _BAD
        return raw
    if hint is ByGroup:
        return _by_group(raw, where, meta, problems)
    if dataclasses.is_dataclass(hint):
        built = _build_dataclass(hint, raw, where, problems)
        return _BAD if built is None else built
    if origin is dict:
        return _mapping(args[1], raw, where, problems)
    if origin is list:
        return _list(args[0], raw, where, problems)
    raise TypeError(f"schema type {hint!r} at {where} has no converter")


def _number(raw: Any, where: str, meta: Any, problems: Problems) -> Any:
    if isinstance(raw, str):
        try:  # YAML reads 10e9 as text; accept plain numeric text
            raw = float(raw.replace("_", ""))
        except ValueError:
            problems.add(where, f"expected a number, got {_kind(raw)}")
            return _BAD
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.add(where, f"expected a number, got {_kind(raw)}")
        return _BAD
    try:
        value = float(raw)
    except OverflowError:  # an integer of hundreds of digits
        value = math.inf
    if not math.isfinite(value):
        problems.add(where, f"expected a finite number, got {_shown(raw)}")
        return _BAD
    if abs(value) > MAX_MAGNITUDE:  # 1e308 is a typo; limits that large break the solver
        problems.add(where, f"{value:g} is larger than {MAX_MAGNITUDE:g} in size")
        return _BAD
    lo, hi = (meta or {}).get("lo"), (meta or {}).get("hi")
    if lo is not None and value < lo or hi is not None and value > hi:
        rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        problems.add(where, f"{value:g} is outside {rng}")
        return _BAD
    return value


def _by_group(raw: Any, where: str, meta: Any, problems: Problems) -> Any:
    if not isinstance(raw, dict):
        value = _number(raw, where, meta, problems)
        return _BAD if value is _BAD else ByGroup(value)
    default = 0.0
    overrides = []
    if "default" not in raw:
        problems.add(where, "a per-group setting needs a 'default' value")
    for key, val in raw.items():
        sub = f"{where}.{key}"
        num = _number(val, sub, meta, problems)
        if num is _BAD:
            continue
        if key == "default":
            default = num
            continue
        sel = _selector(str(key), sub, problems)
        if sel is not None:
            overrides.append((sel, num))
    return ByGroup(default, tuple(overrides))


def _selector(text: str, where: str, problems: Problems) -> Selector | None:
    try:
        return parse_selector(text)
    except SelectorSyntaxError as exc:
        problems.add(where, str(exc))
        return None


def _mapping(value_hint: Any, raw: Any, where: str, problems: Problems) -> Any:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(where, f"expected a mapping, got {_kind(raw)}")
        return _BAD
    out = {}
    for key, val in raw.items():
        sub = f"{where}.{key}"
        if value_hint is Tilt:
            sel = _selector(str(key), sub, problems)
            if sel is None:
                continue
            if isinstance(val, int | float) and not isinstance(val, bool):
                val = {"target": val}
            built = _build_dataclass(Tilt, val, sub, problems)
            if built is not None:
                out[sel.text] = built
        else:
            num = _number(val, sub, None, problems)
            if num is not _BAD:
                out[str(key)] = num
    return out


def _list(item: type, raw: Any, where: str, problems: Problems) -> Any:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(where, f"expected a list, got {_kind(raw)}")
        return _BAD
    out = []
    for i, entry in enumerate(raw):
        sub = f"{where}[{i + 1}]"
        if item is str:  # a list of group selectors
            sel = _selector(entry, sub, problems) if isinstance(entry, str) else None
            if not isinstance(entry, str):
                problems.add(sub, f"expected a group selector, got {_kind(entry)}")
            built = sel.text if sel is not None else None
        elif item is Shock:
            built = build_shock(entry, sub, problems)
        elif item is Substitute:
            built = build_substitute(entry, sub, problems)
        else:
            built = _build_dataclass(item, entry, sub, problems)
        if built is not None:
            out.append(built)
    return out


# a shock's return per group: a total loss at worst, and no more than +1,000%
SHOCK_RETURN = _num(-1, 10, "return of the group under the shock")


def build_shock(raw: Any, where: str, problems: Problems) -> Shock | None:
    """One stress test from ``{name: ..., GROUP: RETURN, ...}`` (a scenario's
    ``shocks`` entry, or a ``--shock`` option); each return in ``SHOCK_RETURN``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        problems.add(where, "a shock is a mapping with a 'name' and group: return entries")
        return None
    returns = {}
    for key, val in raw.items():
        if key == "name":
            continue
        sel = _selector(str(key), _join(where, str(key)), problems)
        num = _number(val, _join(where, str(key)), SHOCK_RETURN, problems)
        if sel is not None and num is not _BAD:
            returns[sel.text] = num
    return Shock(raw["name"], returns)


def build_substitute(raw: Any, where: str, problems: Problems) -> Substitute | None:
    """One substitute group from a list of tickers (not identical) or a mapping
    ``{tickers: [...], identical: true|false}``; at least two distinct tickers."""
    identical = False
    if isinstance(raw, dict):
        unknown = sorted(set(map(str, raw)) - {"tickers", "identical"})
        if unknown:
            problems.add(_join(where, unknown[0]), "unknown key (valid: tickers, identical)")
            return None
        identical = raw.get("identical", False)
        if not isinstance(identical, bool):
            problems.add(
                _join(where, "identical"), f"expected true or false, got {_kind(identical)}"
            )
            return None
        raw = raw.get("tickers")
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        problems.add(where, "a substitute group is a list of tickers, e.g. [IVV, VOO]")
        return None
    tickers = tuple(dict.fromkeys(t.strip() for t in raw))
    if len(tickers) < 2:
        problems.add(where, "a substitute group needs at least two different tickers")
        return None
    return Substitute(tickers, identical)


def _cross_checks(s: Scenario, problems: Problems) -> None:
    """Rules that involve more than one setting."""
    if s is None:
        return
    buckets = s.size_buckets
    if set(buckets) != {"large", "mid", "small"}:
        problems.add("size_buckets", "needs exactly the lower bounds large, mid and small")
    elif not buckets["large"] > buckets["mid"] > buckets["small"] > 0:
        problems.add("size_buckets", "lower bounds must fall: large > mid > small > 0")
    for metric in s.signals.metrics:
        if metric not in SIGNAL_METRICS:
            hint = nearest(metric, SIGNAL_METRICS)
            problems.add(
                f"signals.metrics.{metric}",
                "unknown metric" + (f" (did you mean '{hint}'?)" if hint else ""),
            )
    if s.signals.neutralize not in NEUTRALIZE:
        problems.add("signals.neutralize", f"expected one of {', '.join(NEUTRALIZE)}")
    cash = s.constraints.cash
    if cash.min > cash.target:
        problems.add("constraints.cash", f"min {cash.min:g} is above target {cash.target:g}")
    for sel, tilt in s.tilts.items():
        if tilt.target - tilt.band < -1 or tilt.target + tilt.band > 1:
            problems.add(f"tilts.{sel}", "target ± band leaves [-1, 1]")
    for i, view in enumerate(s.views, 1):
        where = f"views[{i}]"
        for key in ("long", "short"):
            text = getattr(view, key)
            if text is not None:
                _selector(text, f"{where}.{key}", problems)
        if (view.excess_return is None) == (view.rate_change is None):
            problems.add(where, "give either excess_return or rate_change (with sensitivity)")
        if view.scale_by is not None and view.scale_by not in NUMERIC_COLUMNS:
            hint = nearest(view.scale_by, NUMERIC_COLUMNS)
            problems.add(
                f"{where}.scale_by",
                f"unknown column '{view.scale_by}'"
                + (f" (did you mean '{hint}'?)" if hint else ""),
            )
        if view.rate_change is not None and view.scale_by is None:
            problems.add(where, "a rate view needs scale_by (e.g. floating_debt_pct)")
        if view.weighting not in ("cap", "equal"):
            problems.add(f"{where}.weighting", "expected 'cap' or 'equal'")
    mode = s.constraints.trade_mode
    if mode is not None and mode not in TRADE_MODES:
        problems.add("constraints.trade_mode", f"expected one of {', '.join(TRADE_MODES)}")
    if s.tax.lot_method not in LOT_METHODS:
        problems.add("tax.lot_method", f"expected one of {', '.join(LOT_METHODS)}")
    seen: dict[str, int] = {}
    for i, group in enumerate(s.substitutes or (), 1):
        for ticker in group.tickers:
            if ticker in seen:
                problems.add(
                    f"substitutes[{i}]",
                    f"{ticker} is in substitute groups {seen[ticker]} and {i}: a ticker "
                    "belongs to one group",
                )
            seen.setdefault(ticker, i)
    for i, screen in enumerate(s.screens, 1):
        _selector(screen.where, f"screens[{i}].where", problems)
        try:
            parse_condition(screen.require)
        except ExpressionError as exc:
            problems.add(f"screens[{i}].require", str(exc))
