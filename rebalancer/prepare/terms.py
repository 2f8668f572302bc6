"""What the accounts file says of one account, under the options that override it:
its tax status and account type, lot method, cash target, cash request and household
(``account_terms``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebalancer.errors import InputError
from rebalancer.inputs.readers import account_type
from rebalancer.inputs.tables import ROW
from rebalancer.prepare.inputs import Inputs
from rebalancer.scenario import Scenario
from rebalancer.scenario.selectors import Selector, SelectorSyntaxError, parse_selector


@dataclass(frozen=True)
class AccountTerms:
    """What the accounts file says of one account, under the options that override it.
    ``account_terms`` is the one place an account's row becomes settings: ``propose``,
    ``whatif``, ``batch`` and ``verify --reproduce`` all take them from there."""

    account: str
    taxable: bool
    lot_method: str | None = None  # None: the scenario's tax.lot_method
    cash_target: float | None = None  # None: the scenario's cash target
    household: tuple[str, ...] = ()  # the accounts whose trades count for wash sales
    # the cash request (``rebalancer.limits.cash_request``); None: the scenario's
    withdraw_usd: float | None = None
    deposit_usd: float | None = None
    mode: str | None = None  # which side it may trade (``limits.trade_mode``); None: the scenario's
    # taxable, tax_deferred or tax_exempt (docs/contracts.md §1): agrees with ``taxable``
    account_type: str = "tax_exempt"
    # the accounts file's ``exclude``: names this account may not hold (it sells them,
    # buys none), as selectors; with the file and row they came from, for messages
    exclude: tuple[Selector, ...] = ()
    exclude_at: tuple[str | None, int | None] = (None, None)

    def scenario(self, scenario: Scenario, *, with_target: bool = True) -> Scenario:
        """``scenario`` with the account's cash target (and the cash floor lowered to
        it where the scenario's is above it; not ``with_target``: a what-if run that
        varies the target keeps its own), its cash request and its mode."""
        cash = scenario.constraints.cash
        if self.cash_target is not None and with_target:
            target = self.cash_target
            cash = dataclasses.replace(cash, target=target, min=min(cash.min, target))
        request = {"withdraw_usd": self.withdraw_usd, "deposit_usd": self.deposit_usd}
        request = {key: value for key, value in request.items() if value is not None}
        if request:
            cash = dataclasses.replace(cash, **request)
        c = scenario.constraints
        if self.mode is not None:
            c = dataclasses.replace(c, trade_mode=self.mode)
        if cash is scenario.constraints.cash and c is scenario.constraints:
            return scenario
        return dataclasses.replace(scenario, constraints=dataclasses.replace(c, cash=cash))


def account_terms(
    data: Inputs,
    account: str | None,
    *,
    taxable: bool | None = None,
    lot_method: str | None = None,
    cash_target: float | None = None,
    withdraw_usd: float | None = None,
    deposit_usd: float | None = None,
    mode: str | None = None,
) -> AccountTerms:
    """The settings of ``account`` (None: the holdings' only account): each option
    given here, else the account's row of the accounts file, else the scenario's.

    A withdrawal above the account's NAV (with its deposit) raises ``InputError``
    naming the option (``--withdraw``) or the accounts file's row and column.

    An account whose lots carry a cost basis must have a tax status — ``taxable`` or
    a row of the accounts file — or this raises ``InputError`` asking for one: treated
    as tax-exempt by default, a taxable account's sales would ignore their gains.

    The account type follows the tax status (``readers.account_type``): ``taxable``
    (``--taxable``) is ``taxable``; not taxable (``--tax-exempt``) keeps the row's
    ``tax_deferred`` or ``tax_exempt``, else is ``tax_exempt``.
    """
    lots = data.lots_of(account)
    name = str(lots["account"].iloc[0])
    row = _account_row(data, name)
    if taxable is None and row is not None:
        taxable = bool(row["taxable"])
    if taxable is None:
        if lots["cost_basis"].notna().any():
            if data.accounts is not None:  # given, without the account's row
                raise InputError(
                    data.paths.get("accounts", "accounts"),
                    f"no row for account {name}, whose lots carry a cost basis: add its "
                    "row with its tax status, or say --taxable or --tax-exempt",
                    column="account",
                )
            raise InputError(
                data.paths.get("holdings", "holdings"),
                f"account {name} has lots with a cost basis but no tax status: say "
                "--taxable or --tax-exempt, or give --accounts with its row",
            )
        taxable = False
    household: tuple[str, ...] = (name,)
    if row is not None:
        if lot_method is None and row.get("lot_method"):
            lot_method = str(row["lot_method"])
        if cash_target is None and not pd.isna(row["cash_target"]):
            cash_target = float(row["cash_target"])
        if row["household"]:
            table = data.accounts
            household = tuple(table.loc[table["household"] == row["household"], "account"])
    where = ("--withdraw", None)
    if row is not None:
        # an accounts frame given in Python may lack the columns: none asked
        if withdraw_usd is None and not pd.isna(row.get("withdraw_usd", np.nan)):
            withdraw_usd = float(row["withdraw_usd"])
            where = (data.paths.get("accounts", "accounts"), int(row.get(ROW, 0)))
        if deposit_usd is None and not pd.isna(row.get("deposit_usd", np.nan)):
            deposit_usd = float(row["deposit_usd"])
        if mode is None and row.get("mode"):
            mode = str(row["mode"])
    if withdraw_usd:
        _within_nav(data, lots, withdraw_usd, deposit_usd or 0.0, where)
    # an accounts frame given in Python may lack the column: the tax status says
    kind = account_type(taxable, str(row.get("account_type") or "") if row is not None else "")
    exclude, exclude_at = _exclude(data, row)
    return AccountTerms(
        name,
        taxable,
        lot_method,
        cash_target,
        household,
        withdraw_usd,
        deposit_usd,
        mode,
        kind,
        exclude,
        exclude_at,
    )


def _exclude(data: Inputs, row: pd.Series | None) -> tuple[tuple[Selector, ...], tuple]:
    """The row's ``exclude`` selectors and where they are written (``exclude_selectors``)."""
    text = str(row.get("exclude") or "") if row is not None else ""
    if not text.strip():
        return (), (None, None)
    path, at = data.paths.get("accounts", "accounts"), int(row.get(ROW, 0))
    return exclude_selectors(text, path, at), (path, at)


def exclude_selectors(text: str, path, at: int) -> tuple[Selector, ...]:
    """The ``;``-separated selectors of an accounts file's ``exclude`` cell; raises
    ``InputError`` naming the file, row ``at`` and column for one that does not parse."""
    selectors = []
    for part in (p for p in text.split(";") if p.strip()):
        try:
            selectors.append(parse_selector(part))
        except SelectorSyntaxError as exc:
            raise InputError(
                path, f"exclude '{part.strip()}': {exc}", row=at, column="exclude"
            ) from None
    return tuple(selectors)


def _within_nav(data: Inputs, lots: pd.DataFrame, withdraw: float, deposit: float, where):
    """Refuse a withdrawal above the account's NAV (its deposit included)."""
    price = data.universe["price"]
    is_cash = lots["ticker"] == "CASH"
    held = lots.loc[~is_cash]
    nav = float((held["quantity"] * price.reindex(held["ticker"]).to_numpy()).sum())
    nav += float(lots.loc[is_cash, "quantity"].sum()) + deposit
    if withdraw > nav:
        message = f"withdrawal {withdraw:,.2f} USD is above the account's NAV {nav:,.2f} USD"
        path, row = where  # the option, or the accounts file's row
        raise InputError(path, message, row=row, column=None if row is None else "withdraw_usd")


def _account_row(data: Inputs, account: str) -> pd.Series | None:
    """The account's row of the accounts file (None: no file, or not listed in it)."""
    if data.accounts is None:
        return None
    rows = data.cached(
        "account rows", lambda: data.accounts.set_index("account", drop=False), data.accounts
    )
    return rows.loc[account] if account in rows.index else None
