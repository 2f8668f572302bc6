"""An account's cash request: ``constraints.cash.withdraw_usd`` (dollars to free, above
the cash floor, for a payout) and ``constraints.cash.deposit_usd`` (cash that arrives
before the trades). ``propose --withdraw/--deposit`` and the accounts file's
``withdraw_usd``/``deposit_usd`` columns set them (``prepare.terms.AccountTerms``).

A deposit D is cash held before trading: the account's holdings gain a cash row of D
(``deposited``), so its NAV grows by D and every stage, the checks included, sees it.

A withdrawal W is cash that leaves with the trades: the holdings gain a cash row of
−W (``deposited`` too), so every stage works on the NAV after the payout, NAV − W, and
on the cash left after it (below 0 before the sales that raise it): the scenario's
cash target and floor, the position, sector, tilt and tracking-error limits are all
weights of what stays, and the trades keep

    cash after − W ≥ m·(NAV − W)   (the cash floor m on what stays),

which the optimizer's target band, the rounding's floor and the checks keep as they
keep any floor. This limit's own row re-measures the cash freed above the floor
(cash after the trades, the payout still held, less m·(NAV − W): at least W), and its
conflict names the most whole-lot sales can raise. A withdrawal is never relaxed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebalancer.errors import Conflict, InputError
from rebalancer.inputs.cells import MAX_MAGNITUDE
from rebalancer.limits.base import AdvisorLimit, usd_tol

KEY = "constraints.cash.withdraw_usd"
DEPOSIT_KEY = "constraints.cash.deposit_usd"


def request_of(scenario, mode_asked: str | None = None) -> dict:
    """The account's cash request and trade mode as the outputs show them: those set
    of ``withdraw_usd``, ``deposit_usd``, ``mode`` (as traded: the side ``cash-only``
    resolved to, ``rebalance`` when only a request is set) and ``mode_asked`` (the
    mode asked for, ``mode_asked``; the mode traded when not given); empty for
    neither. ``scenario`` is the one ``prepare`` adjusted (``trade_mode.for_mode``)."""
    c = scenario.constraints
    out = {key: getattr(c.cash, key) for key in ("withdraw_usd", "deposit_usd")}
    out = {key: float(value) for key, value in out.items() if value}
    if out or c.trade_mode is not None:
        out["mode"] = c.trade_mode or "rebalance"
        out["mode_asked"] = mode_asked or out["mode"]
    return out


def mode_text(request: dict) -> str:
    """The mode of a ``request_of`` in words: as traded, and as asked where it differs
    (``raise-cash (cash-only asked)``)."""
    mode, asked = request["mode"], request.get("mode_asked", request["mode"])
    return mode if asked == mode else f"{mode} ({asked} asked)"


# the trades CSV's columns of the request (docs/contracts.md §4), after the others
REQUEST_COLUMNS = ["mode", "mode_asked", "withdraw_usd", "deposit_usd"]


def request_cells(request: dict) -> dict:
    """A ``request_of`` as the trades CSV, a what-if's runs and a book's summary show
    it, every column filled: no request is mode ``rebalance`` and 0 dollars."""
    mode = request.get("mode", "rebalance")
    return {
        "mode": mode,
        "mode_asked": request.get("mode_asked", mode),
        "withdraw_usd": float(request.get("withdraw_usd", 0.0)),
        "deposit_usd": float(request.get("deposit_usd", 0.0)),
    }


def amount_usd(text: str | None, option: str) -> float | None:
    """A dollar amount of a cash request as an option gives it (None: not given); a
    negative, non-numeric or non-finite one raises ``InputError`` naming ``option``."""
    if text is None:
        return None
    try:
        value = float(str(text).replace(",", ""))
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or value < 0 or value > MAX_MAGNITUDE:
        raise InputError(option, f"expected dollars, a number >= 0; got {text!r}")
    return value


def deposited(lots: pd.DataFrame, scenario) -> pd.DataFrame:
    """The account's holdings rows with its deposit as one more cash row and its
    withdrawal as one of minus its amount (the rows as they are without either): the
    account as it stands after the payout (module docstring)."""
    cash = scenario.constraints.cash
    moves = [("deposit", cash.deposit_usd), ("withdrawal", -(cash.withdraw_usd or 0.0))]
    moves = [(name, float(amount)) for name, amount in moves if amount]
    if not moves:
        return lots
    account = lots["account"].iloc[0]
    row = {column: [np.nan] * len(moves) for column in lots.columns}
    row.update(account=[account] * len(moves), ticker=["CASH"] * len(moves),
               quantity=[amount for _, amount in moves])  # fmt: skip
    if "lot_id" in lots.columns:
        row["lot_id"] = [f"{account}:{name}" for name, _ in moves]
    extra = pd.DataFrame(row).astype({c: lots[c].dtype for c in ("account", "ticker")})
    return pd.concat([lots, extra], ignore_index=True)


def for_withdrawal(scenario, nav: float, source: str = "withdraw_usd"):
    """``scenario`` as it is: a withdrawal is cash that leaves (``deposited``), and
    ``nav`` the NAV after it. A withdrawal above the NAV (``nav`` below 0) is refused
    (``InputError`` naming ``source``)."""
    amount = scenario.constraints.cash.withdraw_usd
    if amount and nav < 0:
        raise InputError(
            source,
            f"withdrawal {amount:,.2f} USD is above the account's NAV {nav + amount:,.2f} USD",
        )
    return scenario


def withdrawal_from(cash_usd: float, floor: float, nav: float) -> float:
    """The largest withdrawal W that ``cash_usd`` after the trades allows with the
    floor ``floor`` on what stays: cash ≥ floor·(NAV − W) + W."""
    return max((cash_usd - floor * nav) / (1 - floor), 0.0) if floor < 1 else 0.0


def sellable_usd(request) -> tuple[float, list[str]]:
    """What whole-lot sales can raise at most, and what holds it: each held name the
    account may sell, whole or in whole lots inside its liquidity cap (restricted names
    and names without liquidity raise nothing)."""
    value = request.position.shares * request.position.price_usd
    held = value > 0
    may = request.limits.may_sell & held
    liquid = request.limits.liquidity_usd
    in_lots = np.floor(liquid / request.lot_usd + 1e-9) * request.lot_usd
    most = np.where(value <= liquid, value, np.minimum(in_lots, value))
    tickers = request.universe.index
    held_by = []
    if request.scenario.constraints.trade_mode == "invest-cash":
        held_by.append("trade mode invest-cash (no sales)")
    elif (held & ~request.limits.may_sell).any():
        held_by.append("restrictions (" + ", ".join(tickers[held & ~request.limits.may_sell]) + ")")
    if (may & (value > liquid)).any():
        held_by.append("liquidity caps (" + ", ".join(tickers[may & (value > liquid)]) + ")")
    return float(most[may].sum()), held_by


class Withdrawal(AdvisorLimit):
    name = "withdrawal"
    key = KEY
    check = "withdrawal (USD)"
    hard = True
    sources = ()  # the optimizer's cash target carries it: ``Cash`` restates its conflicts

    def measure(self, final, add) -> None:
        cash = final.scenario.constraints.cash
        if not cash.withdraw_usd:
            return
        # cash free above the floor on what stays, the payout still held: the checks'
        # cash and NAV are after it (``deposited``), so cash after + W − m·(NAV − W)
        free = final.cash_after + cash.withdraw_usd - cash.min * final.nav
        add(
            self.check,
            cash.withdraw_usd,
            free,
            free >= cash.withdraw_usd - usd_tol(final.money),
            "cash after trades above the floor on NAV after the withdrawal",
        )

    def short(self, request, reachable_usd: float, how: str) -> Conflict:
        """The withdrawal's conflict when the cash after the trades and the payout
        reaches at most ``reachable_usd``: the most that can be raised, and what holds
        it. The request's cash and NAV are after the payout: W is added back."""
        cash = request.scenario.constraints.cash
        paid = cash.withdraw_usd
        nav, held = request.position.nav_usd + paid, request.position.cash_usd + paid
        sales, held_by = sellable_usd(request)
        most = withdrawal_from(min(reachable_usd + paid, held + sales), cash.min, nav)
        if held + sales > reachable_usd + paid + usd_tol(nav):
            held_by.append(how)
        detail = f"at most {most:,.2f} USD can be raised above the floor; held by " + (
            "; ".join(held_by) or "the holdings' value"
        )
        return self.conflict("withdrawal (USD)", cash.withdraw_usd, most, detail)

    def hard_conflict(self, request, row, w_after, how):
        # the row's value: cash after + W − m·(NAV − W) (``measure``)
        cash = request.scenario.constraints.cash
        reachable = float(row.value) - cash.withdraw_usd + cash.min * request.position.nav_usd
        return self.short(request, reachable, how)


WITHDRAWAL = Withdrawal()
