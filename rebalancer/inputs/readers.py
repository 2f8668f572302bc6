"""Readers of the five input files of docs/contracts.md §1, and the checks between them.

Each reader returns a pandas object with the columns documented in its
docstring, or raises ``InputError`` naming the file, the spreadsheet row and the
column of the first problem (row by row, then column by column in the order of
the contract). Given a collecting ``Problems`` (``validate``), the same checks
record every problem of the file instead, in the same order. Readers know nothing
of the optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer.errors import InputError
from rebalancer.inputs.cells import (
    CellError,
    Choice,
    Date,
    Flag,
    Number,
    Text,
    parse_by_unique,
    parse_columns,
)
from rebalancer.inputs.problems import Problems
from rebalancer.inputs.tables import (
    PARQUET_SUFFIXES,
    ROW,
    read_table,
    read_wide_numbers,
    read_wide_parquet_numbers,
    require_columns,
)

CASH = "CASH"
REGIONS = ("US", "DM", "EM")
RESTRICTIONS = ("no_buy", "no_sell", "no_trade", "sell")
SIGNALS = ("pb", "pe", "roa", "momentum", "leverage", "floating_debt_pct", "beta")
WEIGHT_TOLERANCE = 1e-4
# the most taxable income a year a security may yield, a fraction of its price: above
# it a cell is a percentage typed as a number (5 for 5%), not a yield
MAX_INCOME_YIELD = 0.5
# The smallest share price taken (a millionth of a dollar): the optimizer divides by
# prices, and a price like 1e-300 overflows every quotient it enters.
MIN_PRICE = 1e-6


@dataclass(frozen=True)
class Ticker:
    """A security id; any spelling of ``cash`` becomes ``CASH`` (or is refused)."""

    allow_cash: bool = True

    def parse(self, text: str) -> str:
        if text == "":
            raise CellError("a ticker", text)
        if text.upper() == CASH:
            if not self.allow_cash:
                raise CellError("a security ticker (cash belongs in holdings as a CASH row)", text)
            return CASH
        return text

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return parse_by_unique(self, texts)


@dataclass(frozen=True)
class Themes:
    """``;``-separated tags, normalised to lowercase, stripped, de-duplicated: ``biotech;rna``."""

    def parse(self, text: str) -> str:
        tags = (tag.strip().lower() for tag in text.split(";"))
        return ";".join(dict.fromkeys(tag for tag in tags if tag))

    def parse_many(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return parse_by_unique(self, texts)


# Column order is the contract order, which is also the order cells are checked in.
HOLDINGS_REQUIRED = ("account", "ticker", "quantity")
HOLDINGS_CELLS = {
    "account": Text(required=True),
    "ticker": Ticker(),
    "quantity": Number(min=0, min_inclusive=False),
    "cost_basis": Number(required=False, min=0),
    "acquired": Date(),
}

UNIVERSE_REQUIRED = ("ticker", "price", "sector", "region", "market_cap", "adv")
UNIVERSE_CELLS = {
    "ticker": Ticker(allow_cash=False),
    "price": Number(min=MIN_PRICE),
    "sector": Text(required=True),
    "region": Choice(REGIONS, required=True),
    "market_cap": Number(required=False, min=0, min_inclusive=False),  # blank: a fund
    "adv": Number(min=0),
    "name": Text(),
    "country": Text(),
    "industry": Text(),
    "themes": Themes(),
    "lot_size": Number(required=False, min=0, min_inclusive=False, default=1.0),
    **{signal: Number(required=False) for signal in SIGNALS},
    "restricted": Choice(RESTRICTIONS),
    # taxable income a year, a fraction of price (blank or no column: 0, docs/contracts.md §1)
    "income_yield": Number(required=False, min=0, max=MAX_INCOME_YIELD, default=0.0),
}

BENCHMARK_REQUIRED = ("ticker", "weight")
BENCHMARK_CELLS = {"ticker": Ticker(), "weight": Number(min=0)}

ACCOUNTS_REQUIRED = ("account",)
# how an account is taxed: ``taxable`` (its gains and income are taxed), ``tax_deferred``
# (a traditional IRA, a 401k) and ``tax_exempt`` (a Roth); the last two are not taxable
# for capital gains or income today
ACCOUNT_TYPES = ("taxable", "tax_deferred", "tax_exempt")
# which side an account may trade (``rebalancer.limits.trade_mode``): the accounts
# file's ``mode`` column, ``propose --mode`` and the scenario's ``constraints.trade_mode``
TRADE_MODES = ("rebalance", "raise-cash", "invest-cash", "cash-only")
ACCOUNTS_CELLS = {
    "account": Text(required=True),
    "scenario": Text(),
    "benchmark": Text(),
    "taxable": Flag(default=False),
    "account_type": Choice(ACCOUNT_TYPES, suggest=True),  # agrees with taxable (read_accounts)
    "cash_target": Number(required=False, min=0, max=1),
    "household": Text(),
    "lot_method": Choice(("optimized", "hifo", "fifo")),
    # the account's cash request (``rebalancer.limits.cash_request``), dollars
    "withdraw_usd": Number(required=False, min=0),
    "deposit_usd": Number(required=False, min=0),
    "mode": Choice(TRADE_MODES),  # which side it may trade (``limits.trade_mode``)
    # ``new``: its first rebalance is due (``rebalancer drift``), whatever it holds
    "status": Choice(("new", "active")),
}

HISTORY_REQUIRED = ("account", "ticker", "date", "side", "quantity", "price")
HISTORY_CELLS = {
    "account": Text(required=True),
    "ticker": Ticker(allow_cash=False),
    "date": Date(required=True),
    "side": Choice(("BUY", "SELL"), required=True),
    "quantity": Number(min=0, min_inclusive=False),
    "price": Number(min=0, min_inclusive=False),
    "realized_gain": Number(required=False),
}


def read_trade_history(path: str | Path, problems: Problems | None = None) -> pd.DataFrame:
    """Past trades, for wash-sale rules: one row per trade.

    Columns: ``account``, ``ticker``, ``date`` (datetime64), ``side`` (BUY|SELL),
    ``quantity`` (> 0), ``price`` (> 0), ``realized_gain`` (USD, NaN when not
    given: a sale whose gain is unknown is treated as a loss by the wash-sale
    rules), ``row``.
    """
    table = read_table(path)
    require_columns(table, HISTORY_REQUIRED, path, problems)
    history = pd.DataFrame(parse_columns(table, path, HISTORY_CELLS, problems))
    history[ROW] = table[ROW].to_numpy()
    return history


def read_holdings(path: str | Path, problems: Problems | None = None) -> pd.DataFrame:
    """Tax lots, one row per lot, in file order.

    Columns: ``account`` (str), ``ticker`` (str; ``CASH`` for cash, whose
    ``quantity`` is dollars), ``quantity`` (float > 0), ``cost_basis`` (float >= 0,
    NaN when not given), ``acquired`` (datetime64[ns], NaT when not given),
    ``lot_id`` (``"{account}:{row}"``), ``row`` (spreadsheet row).
    """
    table = read_table(path)
    require_columns(table, HOLDINGS_REQUIRED, path, problems)
    return _parse_holdings(table, path, problems)


def _parse_holdings(
    table: pd.DataFrame, path: str | Path, problems: Problems | None = None
) -> pd.DataFrame:
    holdings = pd.DataFrame(parse_columns(table, path, HOLDINGS_CELLS, problems))
    holdings["acquired"] = holdings["acquired"].astype("datetime64[ns]")
    rows = table[ROW].to_numpy()
    holdings["lot_id"] = [f"{a}:{r}" for a, r in zip(holdings["account"], rows, strict=True)]
    holdings[ROW] = rows
    return holdings


def read_holdings_by_account(
    path: str | Path, universe: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, dict[str, InputError]]:
    """A book's holdings, account by account: a bad row spoils only its own account.

    Returns the holdings of the sound accounts (as ``read_holdings`` gives them) and,
    per spoilt account, the error naming its first bad cell (or a ticker missing from
    ``universe``). The file as a whole must still be readable and have the columns.
    """
    table = read_table(path)
    require_columns(table, HOLDINGS_REQUIRED, path)
    groups = table.groupby("account", sort=False)
    try:  # a sound file in one pass, rows grouped by account as below
        lots = _parse_holdings(table, path)
        if universe is not None:
            check_holdings_in_universe(lots, universe, path)
        order = np.concatenate(list(groups.indices.values())) if len(table) else []
        return lots.iloc[order].reset_index(drop=True), {}
    except InputError:
        pass  # account by account, to find which accounts are spoilt
    good, bad = [], {}
    for account, rows in groups:
        try:
            lots = _parse_holdings(rows, path)
            if universe is not None:
                check_holdings_in_universe(lots, universe, path)
            good.append(lots)
        except InputError as exc:
            bad[str(account)] = exc
    holdings = pd.concat(good, ignore_index=True) if good else _parse_holdings(table.iloc[:0], path)
    return holdings, bad


def read_universe(path: str | Path, problems: Problems | None = None) -> pd.DataFrame:
    """The security master, indexed by ``ticker`` (unique; ``CASH`` is not a security).

    Columns: ``price`` (>= ``MIN_PRICE``), ``sector`` (non-empty), ``region`` (US, DM or EM),
    ``market_cap`` (USD, > 0; NaN when blank: a fund or ETF, size bucket ``fund``), ``adv`` (average daily traded value, USD, >= 0),
    ``name``, ``country``, ``industry`` (str, default ""), ``themes`` (lowercase
    tags joined by ``;``, default ""), ``lot_size`` (shares, > 0, default 1),
    ``pb, pe, roa, momentum, leverage, floating_debt_pct, beta`` (float, NaN when
    blank), ``restricted`` ("", no_buy, no_sell, no_trade or sell), ``income_yield``
    (taxable income a year as a fraction of price, in [0, ``MAX_INCOME_YIELD``]; 0 when
    blank or not a column), ``row``.
    Columns outside the contract are ignored.
    """
    table = read_table(path)
    require_columns(table, UNIVERSE_REQUIRED, path, problems)
    universe = pd.DataFrame(parse_columns(table, path, UNIVERSE_CELLS, problems))
    universe[ROW] = table[ROW].to_numpy()
    _require_unique(universe["ticker"], universe[ROW], path, "ticker", problems)
    return universe.set_index("ticker")


def read_prices(path: str | Path, problems: Problems | None = None) -> pd.DataFrame:
    """Adjusted closes, wide: a DatetimeIndex ``date`` (ascending) and one float column per ticker.

    The first column must be ``date`` (``YYYY-MM-DD``, each date once); a blank
    price is NaN (no quote that day); a price must otherwise be >= ``MIN_PRICE``. Rows are
    sorted by date whatever their order in the file.

    A ``.csv`` or Parquet file is first read straight to floats
    (``tables.read_wide_numbers``, ``tables.read_wide_parquet_numbers``: seconds faster
    for thousands of names); when that gives up or a value fails a check, the file is
    read cell by cell, which names the first problem (or, given a collecting
    ``problems``, every one). Both reads give the same prices for a sound file.
    """
    suffix = Path(path).suffix.lower()
    fast = None
    if suffix == ".csv":
        fast = prices_from_numbers(read_wide_numbers(path))
    elif suffix in PARQUET_SUFFIXES:
        fast = prices_from_numbers(read_wide_parquet_numbers(path))
    return fast if fast is not None else read_prices_by_cell(path, problems)


def read_prices_by_cell(path: str | Path, problems: Problems | None = None) -> pd.DataFrame:
    """``read_prices`` cell by cell: every problem found names its cell."""
    table = read_table(path, lowercase_header=False)
    first = table.columns[0]
    if first.lower() != "date":
        raise InputError(path, f"the first column must be 'date', found '{first}'", column="date")
    table = table.rename(columns={first: "date"})
    tickers = [c for c in table.columns[1:] if c != ROW]
    if not tickers:
        raise InputError(path, "has no ticker columns after 'date'")
    cells = parse_columns(
        table, path, {"date": Date(required=True)} | dict.fromkeys(tickers, PRICE), problems
    )
    dates = pd.DatetimeIndex(cells["date"], name="date")
    _require_unique(
        pd.Series(dates), table[ROW], path, "date", problems, show=lambda d: f"{d:%Y-%m-%d}"
    )
    values = np.column_stack([cells[t] for t in tickers])
    return _wide_prices(values, dates, tickers)


PRICE = Number(required=False, min=MIN_PRICE)  # a cell of the prices file


def prices_from_numbers(
    read: tuple[list[str], np.ndarray, np.ndarray] | None,
) -> pd.DataFrame | None:
    """The prices of a file ``read_wide_numbers`` read, or None when it gave up or any
    cell fails the checks the cell-by-cell read makes (it then names the cell)."""
    if read is None:
        return None
    header, first, values = read
    if header[0].lower() != "date":
        return None
    days, bad = Date(required=True).parse_many(first)
    if bad.any():
        return None
    dates = pd.DatetimeIndex(days, name="date")
    if not dates.is_unique:
        return None
    quoted = ~np.isnan(values)  # NaN is a blank cell, and only that (read_wide_numbers)
    if not PRICE.in_range(values[quoted]).all():
        return None
    return _wide_prices(values, dates, header[1:])


def _wide_prices(values: np.ndarray, dates: pd.DatetimeIndex, tickers: list[str]) -> pd.DataFrame:
    prices = pd.DataFrame(values, index=dates, columns=pd.Index(tickers, dtype=object))
    return prices.sort_index(kind="stable")


def read_benchmark(path: str | Path, problems: Problems | None = None) -> pd.Series:
    """Benchmark weights: a float Series ``weight`` indexed by ``ticker``, in file order.

    Weights are >= 0 and sum to 1 (within 1e-4); tickers are unique. Each
    ticker's spreadsheet row is kept in ``series.attrs["rows"]`` (ticker -> row)
    so that ``check_benchmark_in_universe`` can name it.
    """
    problems = problems or Problems()
    table = read_table(path)
    require_columns(table, BENCHMARK_REQUIRED, path, problems)
    cells = parse_columns(table, path, BENCHMARK_CELLS, problems)
    cell_problems = problems.count  # a sum of weights some of which are bad means nothing
    rows = table[ROW].to_numpy()
    tickers = pd.Series(cells["ticker"])
    _require_unique(tickers, rows, path, "ticker", problems)
    total = float(cells["weight"].sum())
    if not cell_problems and abs(total - 1.0) > WEIGHT_TOLERANCE:
        problems.add(
            InputError(
                path,
                f"weights sum to {total:.6g}, expected 1 (±{WEIGHT_TOLERANCE:g})",
                column="weight",
            )
        )
    bench = pd.Series(
        cells["weight"], index=pd.Index(tickers.to_numpy(), name="ticker"), name="weight"
    )
    bench.attrs["rows"] = dict(zip(tickers, (int(r) for r in rows), strict=True))
    return bench


def read_accounts(path: str | Path, problems: Problems | None = None) -> pd.DataFrame:
    """A book of accounts, one row each, in file order.

    Columns: ``account`` (str, unique), ``scenario``, ``benchmark`` (str, "" when
    not given), ``taxable`` (bool from true/false, yes/no, 1/0) and ``account_type``
    (taxable, tax_deferred or tax_exempt), each given by the other where blank
    (``account_type``: both blank is not taxable, tax_exempt), ``cash_target`` (fraction of NAV in [0, 1], NaN when not given), ``household``
    (str, default ""), ``lot_method`` (optimized|hifo|fifo, "" for the scenario's),
    ``withdraw_usd`` and ``deposit_usd`` (dollars ≥ 0, NaN when not given), ``mode``
    and ``status`` (new|active; "" when not given), ``row``.
    """
    table = read_table(path)
    require_columns(table, ACCOUNTS_REQUIRED, path, problems)
    accounts = pd.DataFrame(parse_columns(table, path, ACCOUNTS_CELLS, problems))
    accounts[ROW] = table[ROW].to_numpy()
    _require_unique(accounts["account"], accounts[ROW], path, "account", problems)
    _tax_status(table, accounts, path, problems)
    return accounts


def account_type(taxable: bool, given: str = "") -> str:
    """The account type of a tax status: ``taxable`` when taxable, else ``given`` when it
    names a type that is not taxable, else ``tax_exempt`` (``--tax-exempt``'s word)."""
    if taxable:
        return "taxable"
    return given if given in ACCOUNT_TYPES[1:] else "tax_exempt"


def _tax_status(
    table: pd.DataFrame, accounts: pd.DataFrame, path: str | Path, problems: Problems | None
) -> None:
    """Make ``taxable`` and ``account_type`` agree, in place: each cell given says what
    the other's blank cell is (``account_type``); both given and in conflict — taxable
    true with a type that is not taxable, or false with ``taxable`` — is a problem
    naming the row and both columns. A cell that did not parse is left to its own
    problem."""
    texts = table["taxable"].to_numpy(object) if "taxable" in table else np.full(len(table), "")
    kinds = accounts["account_type"].to_numpy(object)
    flags = accounts["taxable"].to_numpy(bool)
    typed = np.array([isinstance(k, str) and k != "" for k in kinds], dtype=bool)
    said = (texts != "") & ~ACCOUNTS_CELLS["taxable"].parse_many(texts)[1]
    conflict = np.flatnonzero(typed & said & (flags != (kinds == "taxable")))
    rows = accounts[ROW].to_numpy()

    def error(k: int) -> InputError:
        i = conflict[k]
        why = "" if kinds[i] == "taxable" else f" ({kinds[i]} is not taxable)"
        return InputError(
            path,
            f"taxable {texts[i]} conflicts with account_type {kinds[i]}{why}: give one of "
            "them, or make them agree",
            row=int(rows[i]),
            column=("taxable", "account_type"),
        )

    (problems or Problems()).add_each(len(conflict), error)
    taxable = np.where(typed, kinds == "taxable", flags)
    accounts["taxable"] = taxable
    accounts["account_type"] = [
        account_type(bool(t), k if isinstance(k, str) else "")
        for t, k in zip(taxable, kinds, strict=True)
    ]


# --------------------------------------------------------------------- cross-checks


def check_holdings_in_universe(
    holdings: pd.DataFrame,
    universe: pd.DataFrame,
    path: str | Path,
    problems: Problems | None = None,
) -> None:
    """Every held ticker (other than CASH) must be in the universe; names each
    holdings row that holds one that is not (the first also lists them all)."""
    tickers = holdings["ticker"]
    _check_in_universe(tickers, holdings[ROW].to_numpy(), universe, path, "held", problems)


def check_benchmark_in_universe(
    bench: pd.Series, universe: pd.DataFrame, path: str | Path, problems: Problems | None = None
) -> None:
    """Every benchmark ticker (other than CASH) must be in the universe; names each
    benchmark row that names one that is not."""
    tickers = bench.index.to_series()
    rows = tickers.map(bench.attrs.get("rows", {})).to_numpy()
    _check_in_universe(tickers, rows, universe, path, "benchmark", problems)


def _check_in_universe(
    tickers: pd.Series,
    rows: np.ndarray,
    universe: pd.DataFrame,
    path: str | Path,
    role: str,
    problems: Problems | None,
) -> None:
    # a ticker cell that did not parse (None) is a problem of its own already
    known = tickers.isin(universe.index) | (tickers == CASH) | tickers.isna()
    if known.all():
        return
    where = np.flatnonzero(~known.to_numpy())
    missing = tickers.iloc[where]

    def error(k: int) -> InputError:
        ticker = missing.iloc[k]
        message = (
            _missing_message(ticker, missing.unique(), role)
            if k == 0
            else f"ticker '{ticker}' is not in the universe"
        )
        row = rows[where[k]]
        return InputError(path, message, row=None if pd.isna(row) else int(row), column="ticker")

    (problems or Problems()).add_each(len(where), error)


def select_account(holdings: pd.DataFrame, account: str | None, path: str | Path) -> pd.DataFrame:
    """The lots of one account; with ``account=None`` the file must hold a single account."""
    accounts = list(dict.fromkeys(holdings["account"]))
    if account is None:
        if len(accounts) <= 1:
            return holdings
        raise InputError(
            path,
            f"holds {len(accounts)} accounts ({listed_names(accounts)}); pass --account to choose one",
            column="account",
        )
    if account not in accounts:
        raise InputError(
            path,
            f"has no rows for account '{account}' (accounts found: {listed_names(accounts)})",
            column="account",
        )
    return holdings.loc[holdings["account"] == account]


# -------------------------------------------------------------------------- helpers


def _require_unique(
    values: pd.Series,
    rows,
    path: str | Path,
    column: str,
    problems: Problems | None = None,
    *,
    show=str,
) -> None:
    """Each repeat of a value (from its second occurrence on), naming its first row;
    values that did not parse (null) are left to their own problem."""
    values = values.reset_index(drop=True)
    repeated = values.duplicated() & values.notna()
    if not repeated.any():
        return
    rows = np.asarray(rows)
    where = np.flatnonzero(repeated.to_numpy())
    first_row = dict(zip(values[::-1], rows[::-1], strict=True))  # value -> its first row

    def error(k: int) -> InputError:
        i = where[k]
        return InputError(
            path,
            f"duplicate {column} '{show(values.iloc[i])}' (first at row {first_row[values.iloc[i]]})",
            row=int(rows[i]),
            column=column,
        )

    (problems or Problems()).add_each(len(where), error)


def _missing_message(ticker: str, missing, role: str) -> str:
    message = f"ticker '{ticker}' is not in the universe"
    if len(missing) > 1:
        message += f" ({len(missing)} {role} tickers are missing: {listed_names(list(missing))})"
    return message


def listed_names(names: list, limit: int = 8) -> str:
    """``names`` as a message lists them: the first ``limit``, then how many more."""
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
