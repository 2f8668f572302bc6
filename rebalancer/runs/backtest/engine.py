"""The backtest loop: one account, rebalanced on a calendar or on drift, over history.

Day by day over the price dates in ``[start, end]`` (the window), per scenario:

- **cash** earns ``cash_rate`` (annual, compounded by calendar day): between two price
  dates ``d0 < d1`` cash is multiplied by ``(1 + cash_rate) ** ((d1 − d0).days / 365)``.
- **holdings drift** with prices: shares stay as they are; a name is valued at its
  last close on or before the day (a blank price carries the previous one forward).
- **dividends** (``dividends``, ``cashflows.dividends_by_date``): cash is credited,
  before the day's trades, the dividend per share times the shares held at the close
  of the price date before.
- **cash requests** (``schedule``, ``cashflows.requests_by_date``): each request is
  passed to the proposal of the first rebalance date on or after it (its
  ``withdraw_usd``/``deposit_usd``); the deposit joins and the withdrawal leaves cash
  with that day's trades (on a date held: as they are, cash may go below 0). With
  ``every="drift"`` a date with a request is rebalanced whatever the scan says.
  ``hold`` books the same requests to its cash on the same dates.
- **a rebalance date** (``rebalance_dates``): the pipeline runs on data up to that day
  only — the universe's ``price`` column replaced by the day's closes, the price
  history cut at the day (the risk model's trailing window), the benchmark as given —
  and the proposal's orders are executed at those closes with the cost model's
  estimated costs (spread and impact): ``rebalancer.runs.apply.apply_proposal``,
  lots sold as the proposal names them, buys as new lots acquired that day, cash net
  of notional and costs. A date whose limits conflict (``InfeasibleError``) or whose
  solvers all fail (``SolverFailure``) is held and listed with its message.
- ``every="drift"``: on each month's first price date (the ``month`` calendar) the
  drift scan (``rebalancer.runs.drift.scan_account``, the scenario's triggers) is run
  on that day's data; the account is rebalanced only when it is not in tolerance.

The NAV path ``nav[k]`` is the account at the close of the k-th price date after that
day's trades, except ``nav[0]``: the starting holdings at the first day's close
before any trade (so the first rebalance's costs fall in the first day's return).

Taxable accounts carry their lots forward (cost basis and acquisition date, as
``apply`` books them), and each rebalance sees the backtest's own earlier orders as its
trade history (wash sales across dates). Every lot sold is logged (``sales``: the
proposal's lot sales, gain = proceeds − basis, costs not deducted, term ``LT`` past a
year held, else ``ST``). **Tax is paid from cash** on the last price date of each
calendar year of the window (after that day's trades; the window's last date for its
last, possibly partial, year): ``year_tax`` nets the year's short- and long-term gains
with the losses carried from earlier years and charges the scenario's rates, and the
year's income (dividends credited plus the cash's interest) is charged
``tax.income_rate`` (``hold`` pays its income's tax at the first scenario's). Cash left
below 0 by a payment is owed: the next rebalance raises it as a withdrawal (its
proposal's ``withdraw_usd``) and until then it accrues at the cash rate like cash.

At a rebalance date the universe's signal, ADV and market-cap columns are as of that
day when a dated signals file gives them (``signals``: the latest non-blank value dated
on or before the day); the columns it does not give, and every other universe column
but ``price``, are today's, and every result carries a warning naming them. Without
``dividends`` and without ``total_return`` (the prices include dividends) a warning
says the returns are price-only.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rebalancer.errors import InfeasibleError, InputError, RebalancerError, SolverFailure
from rebalancer.inputs.readers import CASH
from rebalancer.model.risk import MIN_HISTORY_DAYS
from rebalancer.pipeline import proposal_scenario, propose_account
from rebalancer.prepare.blas import one_blas_thread
from rebalancer.prepare.inputs import Inputs, InputsCache
from rebalancer.prepare.terms import account_terms
from rebalancer.runs.apply import apply_proposal
from rebalancer.runs.backtest.cashflows import dividends_by_date, requests_by_date
from rebalancer.runs.backtest.signals import DatedSignals, constant_columns
from rebalancer.runs.drift import IN_TOLERANCE, scan_account

EVERY = ("month", "quarter", "drift")
DAYS_A_YEAR = 365  # calendar days: cash interest compounds by calendar day
HOLD = "hold"  # the label of the starting portfolio held throughout
PRICE_ONLY_WARNING = (
    "returns are price-only: no --dividends and no --total-return, so dividends paid in "
    "the window are in neither the prices nor the cash"
)


def signals_warning(columns: list[str], dated: bool) -> str:
    """The warning for universe columns that are today's at every date."""
    if not dated:
        return (
            "signals are constant: the universe's signal, ADV and market-cap columns are "
            "today's at every date (no dated signals file: --signals), so the backtest sees "
            "today's valuations in the past; only prices are as of each date"
        )
    return (f"signals partly constant: {', '.join(columns)} (not in the --signals file) "
            "are the universe's today at every date")  # fmt: skip


def check_total_return(dividends, total_return: bool) -> None:
    """``--total-return`` (the prices include dividends) with ``--dividends`` would
    count them twice: ``RebalancerError``."""
    if total_return and dividends is not None:
        raise RebalancerError(
            "--total-return: the prices already include dividends; --dividends with it "
            "would count them twice (give one or the other)"
        )


SALE_COLUMNS = ["date", "scenario", "account", "ticker", "acquired", "quantity", "price",
                "cost_basis", "gain", "term"]  # fmt: skip
TAX_COLUMNS = ["date", "scenario", "account", "short_term_gain", "long_term_gain",
               "carried_short_term", "carried_long_term", "gains_tax_usd", "dividends",
               "interest", "income_tax_usd", "tax_usd"]  # fmt: skip
ORDER_COLUMNS = ["date", "scenario", "account", "ticker", "side", "quantity", "price", "cost"]
POSITION_COLUMNS = ["date", "scenario", "account", "ticker", "quantity", "price"]
HISTORY_COLUMNS = ["account", "ticker", "date", "side", "quantity", "price", "realized_gain"]


@dataclass
class ScenarioRun:
    """One scenario's backtest (or ``HOLD``, the starting portfolio held)."""

    label: str
    dates: pd.DatetimeIndex
    nav: np.ndarray  # per date (module docstring: nav[0] before any trade)
    orders: pd.DataFrame  # ORDER_COLUMNS
    positions: pd.DataFrame  # POSITION_COLUMNS, after each rebalance and at the end
    events: pd.DataFrame  # date, action (rebalanced, held, in tolerance), detail, figures
    sales: pd.DataFrame  # SALE_COLUMNS: every lot sold
    tax_log: pd.DataFrame  # TAX_COLUMNS: each year's tax paid (taxable accounts)
    tax_paid: np.ndarray  # per date: the tax paid from cash since the date before
    flows: np.ndarray  # per date: deposits − withdrawals since the date before
    dividends: float  # Σ dividends credited
    costs: float = 0.0
    taxes: float = 0.0  # Σ tax paid from cash
    turnover: float = 0.0  # Σ per rebalance (buys + sells) / (2 × NAV before its trades)
    realized_gain: float = 0.0  # Σ net realised gains of the lots sold (taxable accounts)
    warnings: list[str] = field(default_factory=list)
    interest: float = 0.0  # Σ the cash's accrual at the cash rate
    income_taxes: float = 0.0  # Σ the tax on dividends and interest (part of ``taxes``)

    def held_dates(self) -> pd.DataFrame:
        """The dates held for a conflict or a solver failure, with its message."""
        return self.events.loc[self.events["action"] == "held", ["date", "detail"]]


@dataclass
class Backtest:
    """Every scenario's run, the starting portfolio held, the benchmark's daily returns."""

    runs: list[ScenarioRun]
    hold: ScenarioRun
    benchmark_returns: np.ndarray | None  # per date from the second, constant weights
    settings: dict
    warnings: list[str]
    seconds: float


def year_tax(
    short: float, long: float, carry_short: float, carry_long: float, rates
) -> tuple[float, float, float]:
    """The tax of a calendar year and the losses carried out of it.

    With ``s = short + carry_short`` and ``l = long + carry_long`` (the year's net
    realised short- and long-term gains and the losses carried in, ≤ 0): a net loss of
    one term offsets a net gain of the other (what remains keeps its term), then
    ``tax = short_term_rate × max(s, 0) + long_term_rate × max(l, 0)`` and the losses
    ``min(s, 0)``, ``min(l, 0)`` are carried to the next year (no cap, no offset
    against other income). Returns (tax, carried short, carried long)."""
    s, lt = short + carry_short, long + carry_long
    if s < 0 < lt or lt < 0 < s:
        net = s + lt
        s, lt = (0.0, net) if (net >= 0) == (lt > 0) else (net, 0.0)
    tax = rates.short_term_rate * max(s, 0.0) + rates.long_term_rate * max(lt, 0.0)
    return tax, min(s, 0.0), min(lt, 0.0)


def tax_dates(dates: pd.DatetimeIndex) -> set[pd.Timestamp]:
    """The last price date of each calendar year of the window (the window's last
    date among them)."""
    year = dates.year
    last = np.r_[year[1:] != year[:-1], True]
    return set(dates[last])


def rebalance_dates(dates: pd.DatetimeIndex, every: str) -> pd.DatetimeIndex:
    """The first price date of the window, then the first of each new month (``month``,
    also the days ``drift`` checks) or of each new calendar quarter (``quarter``)."""
    period = dates.to_period("Q" if every == "quarter" else "M")
    first = np.r_[True, period[1:] != period[:-1]]
    return dates[first]


def window(prices: pd.DataFrame, start: str, end: str, path: str = "prices") -> pd.DatetimeIndex:
    """The price dates in ``[start, end]``; ``InputError`` for a start before the first
    price date or a window holding no price date (naming the option and the dates)."""
    start_, end_ = pd.Timestamp(start), pd.Timestamp(end)
    first, last = prices.index[0], prices.index[-1]
    if start_ < first:
        raise InputError(
            path, f"--start {start_:%Y-%m-%d} is before the first price date {first:%Y-%m-%d}"
        )
    dates = prices.index[(prices.index >= start_) & (prices.index <= end_)]
    if len(dates) < 2:
        raise InputError(
            path,
            f"--start {start_:%Y-%m-%d} --end {end_:%Y-%m-%d}: the window holds "
            f"{len(dates)} price date(s) (prices run {first:%Y-%m-%d} to {last:%Y-%m-%d}); "
            "a backtest needs at least 2",
        )
    return dates


def check_every(every: str) -> str:
    """``every`` when it is one of ``EVERY``, else ``RebalancerError`` naming it."""
    if every not in EVERY:
        raise RebalancerError(f"--every {every}: expected one of {', '.join(EVERY)}")
    return every


def check_cash_rate(rate: float) -> float:
    """``rate`` (annual) when finite and from −0.1 to 1, else ``RebalancerError``."""
    if not np.isfinite(rate) or not -0.1 <= rate <= 1.0:
        raise RebalancerError(f"--cash-rate {rate}: expected an annual rate from -0.1 to 1")
    return float(rate)


def run_backtest(
    data: Inputs,
    scenarios: list,
    *,
    start: str,
    end: str,
    every: str,
    account: str | None = None,
    cash_rate: float = 0.0,
    taxable: bool | None = None,
    dividends: pd.DataFrame | None = None,
    schedule: pd.DataFrame | None = None,
    schedule_path: str = "--cash-schedule",
    signals: DatedSignals | None = None,
    total_return: bool = False,
    on_date: Callable[[pd.Timestamp], None] | None = None,
) -> Backtest:
    """Backtest ``account`` of ``data`` (read inputs with prices) under each of
    ``scenarios`` (paths or ``Scenario``), rebalanced ``every`` month, quarter or on
    drift from ``start`` to ``end`` (module docstring); ``signals`` the dated signals
    (``signals.read_signals``), ``total_return`` when the prices include dividends.
    Raises ``RebalancerError`` for bad input before any proposal is made."""
    t0 = time.perf_counter()
    check_every(every)
    cash_rate = check_cash_rate(cash_rate)
    check_total_return(dividends, total_return)
    if data.prices is None:
        raise RebalancerError("--prices: a backtest needs the price history")
    price_path = data.paths.get("prices", "prices")
    dates = window(data.prices, start, end, price_path)
    lots = data.lots_of(account).drop(columns="row", errors="ignore").copy()
    account = str(lots["account"].iloc[0])
    terms = account_terms(data, account, taxable=taxable)  # a lot's basis needs a tax status
    closes = _closes(data, dates, price_path)
    labels = _labels(scenarios)
    loaded = [proposal_scenario(data, s) for s in scenarios]
    calendar_dates = rebalance_dates(dates, every)
    calendar = set(calendar_dates)
    per_share = dividends_by_date(dividends, dates)
    requests = requests_by_date(schedule, dates, calendar_dates, schedule_path)
    states = {label: _State(label, account, lots) for label in labels}
    year_ends = tax_dates(dates)
    hold = _State(HOLD, account, lots)
    constant = constant_columns(signals, data.universe)
    warnings = [signals_warning(constant, signals is not None)] if constant else []
    if dividends is None and not total_return:
        warnings.append(PRICE_ONLY_WARNING)
    if data.benchmark is not None:
        warnings.append("the benchmark's weights are the same at every date (as given)")
    history = int((data.prices.index <= dates[0]).sum())
    if history <= MIN_HISTORY_DAYS:  # build_risk_model's threshold for a model from prices
        warnings.append(
            f"only {history} price dates up to {dates[0]:%Y-%m-%d}: a rebalance with "
            f"{MIN_HISTORY_DAYS} or fewer dates of history uses the default factor model "
            "(textbook volatilities), not one estimated from prices"
        )
    for k, day in enumerate(dates):
        growth = 1.0 if k == 0 else (1 + cash_rate) ** ((day - dates[k - 1]).days / DAYS_A_YEAR)
        px = closes.loc[day]
        base = None
        if k == 0:  # hold's nav[0], before the first date's requests
            hold.append_nav(hold.value(px))
        for state in (hold, *states.values()):
            state.accrue(growth)
            if day in per_share:  # shares held since the last close
                state.credit_dividends(per_share[day])
        request = requests.get(day)
        if request is not None:  # hold trades nothing: its cash moves
            hold.move_cash(request[1] - request[0])
        for state, scenario in zip(states.values(), loaded, strict=True):
            if day not in calendar:
                continue
            if base is None:
                base = _day_inputs(data, day, px, signals)
            state.rebalance(base, scenario, day, every, taxable, request)
        if terms.taxable and day in year_ends:
            for state, scenario in zip(states.values(), loaded, strict=True):
                state.pay_tax(day, scenario.tax)
            hold.pay_tax(day, loaded[0].tax)  # its income only: it sells nothing
        for state in states.values():  # the day's trades and tax done
            if state.traded_on == day or k == len(dates) - 1:
                state.log_positions(day, px)
        for state in (hold, *states.values()):
            state.mark(day, px, before_trades=k == 0)
        if on_date is not None:
            on_date(day)
    last = dates[-1]
    if signals is not None:
        warnings += signals.warnings(calendar_dates, data.universe.index)
    runs = [state.result(dates) for state in states.values()]
    bench = None
    if data.benchmark is not None:
        weights = data.benchmark.reindex(closes.columns, fill_value=0.0).to_numpy(float)
        values = closes.to_numpy(float)
        bench = (values[1:] / values[:-1] - 1.0) @ weights
    settings = {"start": f"{dates[0]:%Y-%m-%d}", "end": f"{last:%Y-%m-%d}", "every": every,
                "cash_rate": cash_rate, "account": account, "price_dates": len(dates),
                "total_return": total_return,
                "signals": list(signals.columns) if signals is not None else []}  # fmt: skip
    return Backtest(runs, hold.result(dates), bench, settings, warnings, time.perf_counter() - t0)


def _labels(scenarios: list) -> list[str]:
    """Each scenario's label: its file name without ``.yaml`` (a ``Scenario``: its name);
    the same label twice is refused."""
    labels = []
    for s in scenarios:
        label = getattr(s, "name", None) or pd.io.common.stringify_path(s)
        label = str(label).replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".yaml")
        if label in labels or label == HOLD:
            raise RebalancerError(f"--scenario {s}: a second scenario labelled '{label}'")
        labels.append(label)
    return labels


def _closes(data: Inputs, dates: pd.DatetimeIndex, path: str) -> pd.DataFrame:
    """Each universe name's close on each date of the window: the last price on or
    before it. A universe name without a price by the first date is refused."""
    names = data.universe.index
    missing = names[~names.isin(data.prices.columns)]
    filled = data.prices.reindex(columns=names).ffill().loc[dates]
    unpriced = names[filled.iloc[0].isna().to_numpy()]
    if len(missing) or len(unpriced):
        which = list(dict.fromkeys([*missing, *unpriced]))
        raise InputError(
            path,
            f"{len(which)} universe name(s) without a price on or before {dates[0]:%Y-%m-%d} "
            f"(first: {', '.join(map(str, which[:5]))}); the backtest needs every universe "
            "name priced from the start",
        )
    return filled


def _day_inputs(
    data: Inputs, day: pd.Timestamp, px: pd.Series, signals: DatedSignals | None = None
) -> Inputs:
    """The inputs as of ``day``: the universe priced at its closes (its dated columns
    as of the day with ``signals``), history up to it, and a cache of its own (the
    scenarios of the day share it; a cache kept from an earlier day would hand back that
    day's sized universe, its prices with it) but for the signal scores, which are reused
    only when the columns scored are equal."""
    universe = data.universe.copy() if signals is None else signals.as_of(day, data.universe)
    universe["price"] = px.to_numpy(float)
    return dataclasses.replace(
        data, universe=universe, prices=data.prices.loc[:day],
        cache=InputsCache(scores=data.cache.scores),
    )  # fmt: skip


def _shared_risk_model(data: Inputs, universe: pd.DataFrame):
    """The day's risk model from the inputs' cache, fitted as ``prepare`` fits it (one
    BLAS thread: the same bits): the drift scan and the proposal that follows it (and
    every scenario of the day) share one fit instead of one each."""
    with one_blas_thread():
        return data.risk_model(universe)


class _State:
    """One scenario's account through the window: its lots, cash and logs."""

    def __init__(self, label: str, account: str, lots: pd.DataFrame) -> None:
        self.label, self.account = label, account
        self.lots = lots[lots["ticker"] != CASH].reset_index(drop=True)
        self.cash = float(lots.loc[lots["ticker"] == CASH, "quantity"].sum())
        self.nav: list[float] = []
        self.orders: list[pd.DataFrame] = []
        self.positions: list[pd.DataFrame] = []
        self.events: list[dict] = []
        self.history: list[pd.DataFrame] = []
        self.sales: list[pd.DataFrame] = []
        self.tax_rows: list[dict] = []
        self.tax_paid: list[float] = []  # per date, aligned with nav
        self.tax_today = 0.0
        self.flows: list[float] = []  # per date: deposits − withdrawals since nav[k − 1]
        self.flow_today = 0.0
        self.dividends = self.interest = self.income_taxes = 0.0
        self.income_year = [0.0, 0.0]  # the calendar year's dividends and interest so far
        self.carry = (0.0, 0.0)  # short- and long-term losses carried (≤ 0)
        self.costs = self.taxes = self.turnover = self.realized_gain = 0.0
        self.warnings: list[str] = []
        self.traded_on: pd.Timestamp | None = None  # the last rebalance's date

    def accrue(self, growth: float) -> None:
        """Interest on the cash (negative on cash owed, or at a negative rate)."""
        grown = self.cash * growth
        earned = grown - self.cash
        self.cash = grown
        self.interest += earned
        self.income_year[1] += earned

    def credit_dividends(self, amount: pd.Series) -> None:
        """Dividends per share (``amount``, by ticker) on the shares held."""
        shares = self.shares()
        paid = float((shares * amount.reindex(shares.index, fill_value=0.0)).sum())
        self.cash += paid
        self.dividends += paid
        self.income_year[0] += paid

    def move_cash(self, usd: float) -> None:
        """A deposit (> 0) or withdrawal (< 0) booked to cash as it is."""
        self.cash += usd
        self.flow_today += usd

    @property
    def lots(self) -> pd.DataFrame:
        return self._lots

    @lots.setter
    def lots(self, frame: pd.DataFrame) -> None:
        # the shares per name and where they sit in the day's prices change only with
        # the lots (a rebalance), not every price date
        self._lots = frame
        self._shares: pd.Series | None = None
        self._where: tuple[pd.Index, np.ndarray] | None = None

    def shares(self) -> pd.Series:
        if self._shares is None:
            self._shares = self.lots.groupby("ticker", sort=True)["quantity"].sum()
        return self._shares

    def value(self, px: pd.Series) -> float:
        """Σ shares × the day's close, plus cash (``px``: one close per universe name)."""
        shares = self.shares()
        if self._where is None or self._where[0] is not px.index:
            self._where = (px.index, px.index.get_indexer(shares.index))
        where = self._where[1]
        if (where < 0).any():  # a name without a close: valued as pandas aligns it
            return float((shares * px.reindex(shares.index)).sum()) + self.cash
        return float((shares.to_numpy(float) * px.to_numpy(float)[where]).sum()) + self.cash

    def mark(self, day: pd.Timestamp, px: pd.Series, before_trades: bool) -> None:
        if before_trades and self.nav:  # the first day: nav[0] was taken before trading
            return
        self.append_nav(self.value(px))

    def append_nav(self, value: float) -> None:
        """nav[k], with tax_paid[k] the tax paid since nav[k − 1] (0 for nav[0])."""
        first = not self.nav
        self.nav.append(value)
        self.tax_paid.append(0.0 if first else self.tax_today)
        self.flows.append(0.0 if first else self.flow_today)
        if not first:
            self.tax_today = self.flow_today = 0.0

    def pay_tax(self, day: pd.Timestamp, rates) -> None:
        """The tax of ``day``'s calendar year, paid from cash: ``year_tax`` on the
        realised gains, plus ``income_rate`` × max(dividends + interest, 0) on the
        year's income (a net negative income is not carried)."""
        sold = [s for s in self.sales if s["date"].iloc[0].year == day.year]
        sold = pd.concat(sold) if sold else pd.DataFrame(columns=SALE_COLUMNS)
        lt = sold["term"] == "LT"
        short = float(sold.loc[~lt, "gain"].sum())
        long = float(sold.loc[lt, "gain"].sum())
        gains_tax, *self.carry = year_tax(short, long, *self.carry, rates)
        dividends, interest = self.income_year
        income_tax = rates.ordinary_income_rate * max(dividends + interest, 0.0)
        self.income_year = [0.0, 0.0]
        self.income_taxes += income_tax
        tax = gains_tax + income_tax
        self.cash -= tax
        self.taxes += tax
        self.tax_today += tax
        self.tax_rows.append({"date": day, "scenario": self.label, "account": self.account,
                              "short_term_gain": short, "long_term_gain": long,
                              "carried_short_term": self.carry[0],
                              "carried_long_term": self.carry[1], "gains_tax_usd": gains_tax,
                              "dividends": dividends, "interest": interest,
                              "income_tax_usd": income_tax, "tax_usd": tax})  # fmt: skip

    def holdings(self) -> pd.DataFrame:
        """The lots and cash as ``read_holdings`` gives them (lot ids renumbered)."""
        cash = pd.DataFrame({"account": [self.account], "ticker": [CASH],
                             "quantity": [self.cash], "cost_basis": [np.nan],
                             "acquired": [pd.NaT]})  # fmt: skip
        frame = pd.concat([self.lots, cash] if self.cash > 0 else [self.lots], ignore_index=True)
        frame["acquired"] = pd.to_datetime(frame["acquired"])
        frame["row"] = np.arange(2, len(frame) + 2)
        frame["lot_id"] = [f"{self.account}:{r}" for r in frame["row"]]
        return frame

    def rebalance(self, base: Inputs, scenario, day, every: str, taxable, request=None) -> None:
        """Propose and execute on ``day``; ``request`` (withdrawal, deposit) the cash
        requests the day is asked for, passed to the proposal (and booked to cash as
        they are when the day is held)."""
        px = base.universe["price"]
        if not self.nav:  # the first day: the NAV before any trade
            self.append_nav(self.value(px))
        withdraw, deposit = request or (0.0, 0.0)
        # cash below 0 (a tax payment it could not cover) is raised with the withdrawal
        owed = max(-self.cash, 0.0) + withdraw
        holdings = self.holdings()
        history = pd.concat(self.history, ignore_index=True) if self.history else None
        data = dataclasses.replace(base, holdings=holdings, history=history)
        why = ""  # with drift triggers: the scan's reason for rebalancing
        if every == "drift" and request is None:  # a request is traded whatever the drift
            row = scan_account(holdings, data.universe, scenario, prices=data.prices,
                               benchmark=data.benchmark, accounts=data.accounts,
                               risk_model=lambda u: _shared_risk_model(data, u))  # fmt: skip
            if row["status"] == IN_TOLERANCE:
                self.events.append({"date": day, "action": "in tolerance", "detail": row["reason"]})
                return
            why = f"{row['status']}: {row['reason']}"
        try:
            proposal = propose_account(data, scenario, self.account, day, taxable=taxable,
                                       withdraw_usd=owed or None,
                                       deposit_usd=deposit or None)  # fmt: skip
        except (InfeasibleError, SolverFailure) as exc:
            self.events.append({"date": day, "action": "held", "detail": str(exc)})
            self.move_cash(deposit - withdraw)
            return
        after = apply_proposal(holdings, proposal)
        trades = proposal.trades
        m = proposal.metrics
        self.lots = after[after["ticker"] != CASH].reset_index(drop=True)
        self.cash = float(after.loc[after["ticker"] == CASH, "quantity"].sum()) - owed + deposit
        self.flow_today += deposit - withdraw
        self.costs += m.est_cost_usd
        if m.taxable and len(proposal.lot_sales):
            self.log_sales(day, proposal.lot_sales)
        self.turnover += m.turnover
        self.events.append({"date": day, "action": "rebalanced", "detail": why,
                            "n_trades": len(trades), "turnover": m.turnover,
                            "cost": m.est_cost_usd, "tax": m.estimated_tax_usd})  # fmt: skip
        for w in proposal.warnings:
            if w not in self.warnings:
                self.warnings.append(w)
        if len(trades):
            self.orders.append(pd.DataFrame({
                "date": day, "scenario": self.label, "account": self.account,
                "ticker": trades["ticker"].astype(str).to_numpy(),
                "side": trades["side"].to_numpy(), "quantity": trades["quantity"].to_numpy(float),
                "price": trades["price"].to_numpy(float),
                "cost": trades["est_cost"].fillna(0.0).to_numpy(float),
            }))  # fmt: skip
            self.history.append(pd.DataFrame({
                "account": self.account, "ticker": trades["ticker"].astype(str).to_numpy(),
                "date": day, "side": trades["side"].to_numpy(),
                "quantity": trades["quantity"].to_numpy(float),
                "price": trades["price"].to_numpy(float),
                "realized_gain": trades["realized_gain"].to_numpy(float),
            }))  # fmt: skip
        self.traded_on = day

    def log_sales(self, day: pd.Timestamp, lot_sales: pd.DataFrame) -> None:
        """The lots sold (``SALE_COLUMNS``): an unknown holding period counts as short."""
        sold = lot_sales[lot_sales["quantity_sold"] > 0]
        quantity = sold["quantity_sold"].to_numpy(float)
        gain = (sold["proceeds_usd"] - sold["cost_basis_sold_usd"]).to_numpy(float)
        self.realized_gain += float(gain.sum())
        self.sales.append(pd.DataFrame({
            "date": day, "scenario": self.label, "account": self.account,
            "ticker": sold["ticker"].astype(str).to_numpy(),
            "acquired": pd.to_datetime(sold["acquired"]).dt.strftime("%Y-%m-%d").to_numpy(),
            "quantity": quantity, "price": sold["proceeds_usd"].to_numpy(float) / quantity,
            "cost_basis": sold["cost_basis_sold_usd"].to_numpy(float), "gain": gain,
            "term": np.where(sold["term"].astype(str) == "LT", "LT", "ST"),
        }))  # fmt: skip

    def log_positions(self, day: pd.Timestamp, px: pd.Series) -> None:
        shares = self.shares()
        shares = shares[shares > 0]
        frame = pd.DataFrame({"date": day, "scenario": self.label, "account": self.account,
                              "ticker": shares.index.astype(str),
                              "quantity": shares.to_numpy(float),
                              "price": px.reindex(shares.index).to_numpy(float)})  # fmt: skip
        cash = pd.DataFrame({"date": [day], "scenario": [self.label], "account": [self.account],
                             "ticker": [CASH], "quantity": [self.cash], "price": [1.0]})  # fmt: skip
        self.positions.append(pd.concat([frame, cash], ignore_index=True))

    def result(self, dates: pd.DatetimeIndex) -> ScenarioRun:
        def frame(parts, columns):
            return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

        events = pd.DataFrame(self.events, columns=["date", "action", "detail", "n_trades",
                                                    "turnover", "cost", "tax"])  # fmt: skip
        return ScenarioRun(
            self.label, dates, np.asarray(self.nav, float), frame(self.orders, ORDER_COLUMNS),
            frame(self.positions, POSITION_COLUMNS), events, frame(self.sales, SALE_COLUMNS),
            pd.DataFrame(self.tax_rows, columns=TAX_COLUMNS), np.asarray(self.tax_paid, float),
            np.asarray(self.flows, float), self.dividends, self.costs, self.taxes, self.turnover,
            self.realized_gain, self.warnings, self.interest, self.income_taxes,
        )  # fmt: skip
