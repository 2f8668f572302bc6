"""What the accounts file says of one account, under the options that override it:
its tax status, lot method, cash target and household (``account_terms``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from rebalancer.errors import InputError
from rebalancer.prepare.inputs import Inputs
from rebalancer.scenario import Scenario


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

    def scenario(self, scenario: Scenario) -> Scenario:
        """``scenario`` with the account's cash target (and the cash floor lowered to
        it where the scenario's is above it)."""
        if self.cash_target is None:
            return scenario
        c = scenario.constraints
        cash = dataclasses.replace(
            c.cash, target=self.cash_target, min=min(c.cash.min, self.cash_target)
        )
        return dataclasses.replace(scenario, constraints=dataclasses.replace(c, cash=cash))


def account_terms(
    data: Inputs,
    account: str | None,
    *,
    taxable: bool | None = None,
    lot_method: str | None = None,
    cash_target: float | None = None,
) -> AccountTerms:
    """The settings of ``account`` (None: the holdings' only account): each option
    given here, else the account's row of the accounts file, else the scenario's.

    An account whose lots carry a cost basis must have a tax status — ``taxable`` or
    a row of the accounts file — or this raises ``InputError`` asking for one: treated
    as tax-exempt by default, a taxable account's sales would ignore their gains.
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
    return AccountTerms(name, taxable, lot_method, cash_target, household)


def _account_row(data: Inputs, account: str) -> pd.Series | None:
    """The account's row of the accounts file (None: no file, or not listed in it)."""
    if data.accounts is None:
        return None
    rows = data.cached(
        "account rows", lambda: data.accounts.set_index("account", drop=False), data.accounts
    )
    return rows.loc[account] if account in rows.index else None
