"""The result of one rebalance: what every exporter and the Python API receive.

Frozen data only; built by ``rebalancer.pipeline`` from the final (rounded) trades
and re-measured by ``rebalancer.checks.measure``. Column contracts:

``trades`` — one row per order, in docs/contracts.md §4 order:
    account, ticker, side (BUY|SELL), quantity (shares, > 0), price (USD),
    notional (USD, > 0), weight_before, weight_after (of NAV), pct_adv
    (notional / adv), days_to_trade (notional / (participation limit × adv)),
    est_cost (USD), reason (text), realized_gain (USD, NaN when unknown),
    term (ST|LT|mixed|"" when unknown)

``lot_sales`` — one row per (lot, sale): account, ticker, lot_id, acquired,
    quantity_sold, cost_basis_sold_usd, proceeds_usd, realized_gain_usd, term

``holdings`` — one row per security held before or after (plus a CASH row):
    ticker, name, sector, region, size, price, shares_before, shares_after,
    value_before_usd, value_after_usd, weight_before, weight_optimal (the
    optimizer's continuous answer), weight_after, benchmark_weight

``exposures`` — index: group selector (``size:small``, ``sector:Energy`` ...);
    columns before, optimal, after, target (active exposures, i.e. portfolio
    minus reference weight), band_lo, band_hi (the band's bounds on active
    exposure: target − band and target + band; NaN for untilted groups),
    weight_before, weight_after, reference (absolute weights)

``checks`` — one row per limit re-measured on the final trades:
    check, limit, value, ok (bool), detail
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

TRADE_COLUMNS = [
    "account",
    "ticker",
    "side",
    "quantity",
    "price",
    "notional",
    "weight_before",
    "weight_after",
    "pct_adv",
    "days_to_trade",
    "est_cost",
    "reason",
    "realized_gain",
    "term",
    "lot_id",
]


@dataclass(frozen=True)
class Metrics:
    """Headline numbers of a proposal (all weights are fractions of NAV)."""

    nav_usd: float
    cash_before_usd: float
    cash_after_usd: float
    turnover: float  # (buys + sells) / (2 × NAV)
    n_trades: int
    buys_usd: float
    sells_usd: float
    est_cost_usd: float  # spread + impact, as the cost model prices the final trades
    expected_return_before: float  # annual, total
    expected_return: float  # annual, total, after trades
    active_return: float  # expected_return minus the reference's
    volatility_before: float
    volatility: float  # annual ex-ante, after trades
    tracking_error_before: float
    tracking_error: float  # annual ex-ante vs the reference, after trades
    realized_gain_usd: float  # net, over lots sold (NaN without cost basis)
    short_term_gain_usd: float
    long_term_gain_usd: float
    taxable: bool = False
    estimated_tax_usd: float = 0.0  # taxable accounts: ST/LT netted, at the scenario's rates
    harvested_losses_usd: float = 0.0  # losses realized (positive number)
    account_type: str = "tax_exempt"  # taxable, tax_deferred or tax_exempt
    # taxable accounts: the tax a year on the holdings' income (``model.tax.income_tax_usd``)
    income_tax_before_usd: float = 0.0
    income_tax_usd: float = 0.0  # after the trades


@dataclass(frozen=True)
class Timings:
    """Seconds a run spent, by stage (None: not measured by this run).

    A proposal: ``prepare_s`` (reading the request; None for a what-if's runs, which
    are prepared together), ``optimize_s`` (of which ``compile_s`` compiling and
    ``solve_s`` in the solvers), ``trades_and_checks_s`` (rounding, lots, checks) and
    ``total_s`` (their sum; without ``prepare_s`` only the trades and checks). A
    what-if comparison: ``prepare_s`` (every run's request) and ``total_s``."""

    prepare_s: float | None = None
    optimize_s: float | None = None
    compile_s: float | None = None
    solve_s: float | None = None
    trades_and_checks_s: float | None = None
    total_s: float | None = None

    def as_dict(self) -> dict[str, float]:
        """The JSON summary's and manifest's ``timings``: stage -> seconds, the stages
        measured only, in the order they are written (the total follows the stage it
        was first taken after: the optimizer's when the run prepared its request, else
        the trades and checks)."""
        before = {"prepare": self.prepare_s, "optimize": self.optimize_s,
                  "compile": self.compile_s, "solve": self.solve_s}  # fmt: skip
        after = {"trades_and_checks": self.trades_and_checks_s}
        if self.prepare_s is not None:
            ordered = {**before, "total": self.total_s, **after}
        else:
            ordered = {**before, **after, "total": self.total_s}
        return {stage: s for stage, s in ordered.items() if s is not None}


@dataclass(frozen=True)
class Proposal:
    account: str
    scenario_name: str
    scenario: dict[str, Any]  # the effective settings after `extends`
    status: str  # "optimal" | "optimal_inaccurate"
    solver: str
    reference: str  # "benchmark" or "current holdings"
    metrics: Metrics
    trades: pd.DataFrame
    lot_sales: pd.DataFrame
    holdings: pd.DataFrame
    exposures: pd.DataFrame
    checks: pd.DataFrame
    binding: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stress: pd.DataFrame | None = (
        None  # shock, pnl_before_usd, pnl_after_usd, pct_before, pct_after
    )
    screened: pd.DataFrame | None = None  # ticker, screen, values: names a screen kept from buying
    coverage: dict[str, int] = field(default_factory=dict)  # signal metric -> names lacking it
    tax_blocks: pd.DataFrame | None = None  # ticker, lot_id, rule, detail (wash sales, ST)
    lot_method: str = "hifo"
    # the account's cash request and mode (``limits.cash_request.request_of``): any of
    # withdraw_usd, deposit_usd, mode (as traded) and mode_asked; empty (and no JSON
    # key) for neither
    cash_request: dict[str, Any] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)
    # what the on-disk cache of the market files gave (``prepare.cache``): role
    # (universe, prices, risk_model) -> "hit" | "miss"; empty (and no JSON key) when off
    cache: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # role -> path
    as_of: str = ""  # the trade date (ISO) the holding periods and wash sales count to
    # limits --relax moved to make the request feasible: constraint, key, limit, relaxed_to
    relaxed: list[dict[str, Any]] = field(default_factory=list)
    # the optimizer's working set: names, pricing_rounds, priced_in, gap_bound,
    # shared_problem (rebalancer.optimize.working_set)
    optimizer: dict[str, Any] = field(default_factory=dict)
    # a book's account: the model whose compiled problem it re-solved — its scenario
    # file and probe accounts (rebalancer.runs.book) — so verify --reproduce takes that path
    book_model: dict[str, Any] = field(default_factory=dict)
    # one step of a path? (rebalancer.solve.path): is_step, step_fraction, destination_turnover,
    # remaining_turnover, remaining_runs_estimate, held_back_by, destination_seconds,
    # reference_moves
    path: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all()) if len(self.checks) else True

    def summary(self) -> dict[str, Any]:
        """The JSON summary of docs/contracts.md §4 (plain Python types only)."""
        m = self.metrics

        def col(name: str) -> dict[str, float | None]:
            return {str(k): _num(v) for k, v in self.exposures[name].items()}

        return {
            "account": self.account,
            "scenario": self.scenario_name,
            "as_of": self.as_of,
            "relaxed": list(self.relaxed),
            "status": self.status,
            "solver": self.solver,
            "reference": self.reference,
            "nav": _num(m.nav_usd),
            "cash_before": _num(m.cash_before_usd),
            "cash_after": _num(m.cash_after_usd),
            "turnover": _num(m.turnover),
            "n_trades": m.n_trades,
            "buys": _num(m.buys_usd),
            "sells": _num(m.sells_usd),
            "est_cost": _num(m.est_cost_usd),
            "expected_return_before": _num(m.expected_return_before),
            "expected_return": _num(m.expected_return),
            "active_return": _num(m.active_return),
            "volatility_before": _num(m.volatility_before),
            "volatility": _num(m.volatility),
            "tracking_error_before": _num(m.tracking_error_before),
            "tracking_error": _num(m.tracking_error),
            "realized_gain": _num(m.realized_gain_usd),
            "short_term_gain": _num(m.short_term_gain_usd),
            "long_term_gain": _num(m.long_term_gain_usd),
            "taxable": bool(m.taxable),
            "account_type": m.account_type,
            "lot_method": self.lot_method,
            **({"cash_request": dict(self.cash_request)} if self.cash_request else {}),
            "estimated_tax": _num(m.estimated_tax_usd),
            "harvested_losses": _num(m.harvested_losses_usd),
            "income_tax_before": _num(m.income_tax_before_usd),
            "income_tax": _num(m.income_tax_usd),
            "tax_blocks": [] if self.tax_blocks is None else self.tax_blocks.to_dict("records"),
            "lot_sales": [
                {
                    "ticker": r.ticker,
                    "lot_id": str(r.lot_id),
                    "quantity_sold": float(r.quantity_sold),
                }
                for r in self.lot_sales.itertuples(index=False)
            ],
            "exposures": {"before": col("before"), "after": col("after"), "target": col("target")},
            "binding": list(self.binding),
            "checks": check_records(self.checks),
            "stress": []
            if self.stress is None
            else [
                {k: (_num(v) if not isinstance(v, str) else v) for k, v in row.items()}
                for row in self.stress.to_dict("records")
            ],
            "screened": [] if self.screened is None else self.screened.to_dict("records"),
            "signal_missing": {k: int(v) for k, v in self.coverage.items()},
            "warnings": list(self.warnings),
            "timings": self.timings.as_dict(),
            **({"cache": dict(self.cache)} if self.cache else {}),
            "optimizer": dict(self.optimizer),
            "path": dict(self.path),
            "inputs": dict(self.inputs),
        }


def check_records(checks: pd.DataFrame) -> list[dict[str, Any]]:
    """The Checks rows as the JSON summary writes them."""
    return [
        {
            "check": r.check,
            "limit": _num(r.limit),
            "value": _num(r.value),
            "ok": bool(r.ok),
            "detail": str(r.detail),
        }
        for r in checks.itertuples(index=False)
    ]


def _num(value: Any) -> float | None:
    """JSON has no NaN: missing numbers become null."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f or f in (float("inf"), float("-inf")) else f
