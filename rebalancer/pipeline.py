"""``propose``: holdings + universe + scenario -> a checked Proposal.

read -> groups -> risk -> signals / returns -> optimizer -> rounded orders -> lots
-> checks -> Proposal. Each stage lives in its own package; this module only wires
them: ``prepare.build.prepare`` -> ``solve.driver.optimize`` ->
``report.build.build_proposal``, and for an infeasible request the relaxation of the
scenario (``limits.relax``) around them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pandas as pd

from rebalancer.errors import InfeasibleError
from rebalancer.limits.relax import Relaxation, plan
from rebalancer.limits.relax import relax as relaxed_scenario
from rebalancer.model.stress import parse_shock
from rebalancer.optimize.layout import SlotProblem
from rebalancer.prepare.blas import one_blas_thread
from rebalancer.prepare.build import prepare
from rebalancer.prepare.inputs import Inputs, load_inputs
from rebalancer.prepare.request import Request
from rebalancer.prepare.terms import account_terms
from rebalancer.report.build import build_proposal
from rebalancer.report.proposal import Proposal, Timings
from rebalancer.scenario import Scenario, load_scenario
from rebalancer.solve.driver import SharedSet, optimize

__all__ = [
    "Inputs", "load_inputs", "prepare", "propose", "propose_account", "propose_inputs",
    "propose_request", "proposal_scenario", "relaxing",
]  # fmt: skip


def propose(
    holdings,
    universe,
    scenario,
    *,
    prices=None,
    benchmark=None,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    shocks: list[str] = (),
    accounts=None,
    trade_history=None,
    taxable: bool | None = None,
    lot_method: str | None = None,
    relax: bool = False,
    withdraw_usd: float | None = None,
    deposit_usd: float | None = None,
    mode: str | None = None,
) -> Proposal:
    """One account's rebalance proposal (the Python API of ``rebalancer propose``).

    ``holdings``/``universe``/``prices``/``benchmark`` are paths or already-read
    frames; ``scenario`` a path or a ``Scenario``; ``shocks`` extra stress tests in
    the ``--shock`` form (``"name=NAME,GROUP=RETURN,..."``); ``accounts`` (the
    account's row: tax status, cash target, household, lot method) and
    ``trade_history`` (wash sales) are optional paths or frames; ``taxable`` and
    ``lot_method`` override the accounts file (lots with a cost basis need a tax
    status from one or the other); ``withdraw_usd`` and ``deposit_usd`` (the cash
    request, ``rebalancer.limits.cash_request``) and ``mode`` (``limits.trade_mode``)
    override the accounts file's; ``relax`` applies the smallest relaxation
    of the scenario when the request is infeasible. Raises ``InputError``
    or ``ScenarioError`` for bad input and ``InfeasibleError`` when no portfolio
    meets the limits.
    """
    data = load_inputs(holdings, universe, prices, benchmark, accounts, trade_history)
    return propose_inputs(
        data,
        scenario,
        account=account,
        as_of=as_of,
        shocks=shocks,
        taxable=taxable,
        lot_method=lot_method,
        relax=relax,
        withdraw_usd=withdraw_usd,
        deposit_usd=deposit_usd,
        mode=mode,
    )


def propose_inputs(
    data: Inputs,
    scenario,
    *,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    shocks: list[str] = (),
    taxable: bool | None = None,
    lot_method: str | None = None,
    relax: bool = False,
    withdraw_usd: float | None = None,
    deposit_usd: float | None = None,
    mode: str | None = None,
) -> Proposal:
    """``propose`` on inputs already read (``load_inputs``): a caller that looks at
    them first (``runs.propose``: is the account in tolerance?) reads them once."""
    scenario = proposal_scenario(data, scenario, shocks)
    return propose_account(
        data,
        scenario,
        account,
        as_of,
        taxable=taxable,
        lot_method=lot_method,
        relax=relax,
        withdraw_usd=withdraw_usd,
        deposit_usd=deposit_usd,
        mode=mode,
    )


def proposal_scenario(data: Inputs, scenario, shocks: list[str] = ()) -> Scenario:
    """The scenario ``propose`` runs under: ``scenario`` read (a path; recorded in
    ``data.paths``) with the stress tests of ``shocks`` (the ``--shock`` form) after
    its own. A bad file or shock raises ``ScenarioError``/``InputError`` naming it."""
    if not isinstance(scenario, Scenario):
        data.paths["scenario"] = str(scenario)
        scenario = load_scenario(scenario)
    if shocks:
        extra = [parse_shock(s) for s in shocks]
        scenario = dataclasses.replace(scenario, shocks=[*scenario.shocks, *extra])
    return scenario


def propose_account(
    data: Inputs,
    scenario: Scenario,
    account: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    *,
    taxable: bool | None = None,
    lot_method: str | None = None,
    cash_target: float | None = None,
    relax: bool = False,
    slots: Callable[[Request], SlotProblem | None] | None = None,
    withdraw_usd: float | None = None,
    deposit_usd: float | None = None,
    mode: str | None = None,
) -> Proposal:
    """One account's proposal from already-read inputs (what ``batch`` and ``demo`` call).

    ``taxable``, ``lot_method``, ``cash_target``, the cash request
    (``withdraw_usd``, ``deposit_usd``) and the trade ``mode`` override what the accounts file says of the
    account (``prepare.terms.account_terms``), which overrides the scenario.

    ``slots`` (a book): gives the compiled problem of the request's model to fill, or
    None for a problem of the account's own (``rebalancer.runs.book.models.ModelProblems``).

    An infeasible request raises ``InfeasibleError`` naming the conflicts and the
    smallest relaxation of the scenario that removes them; with ``relax`` that
    relaxation is applied and the proposal, labelled as relaxed, is returned instead.
    """
    terms = account_terms(
        data,
        account,
        taxable=taxable,
        lot_method=lot_method,
        cash_target=cash_target,
        withdraw_usd=withdraw_usd,
        deposit_usd=deposit_usd,
        mode=mode,
    )

    def attempt(scenario: Scenario) -> Proposal:
        with one_blas_thread():
            return _propose_once(
                data, scenario, terms.account, as_of, terms.taxable, terms.lot_method, slots
            )

    return relaxing(terms.scenario(scenario), attempt, data.sized, relax=relax)[0]


def relaxing(
    scenario: Scenario,
    attempt: Callable[[Scenario], Proposal],
    sized: Callable[[Scenario], pd.DataFrame],
    *,
    relax: bool,
) -> tuple[Proposal, Scenario]:
    """``attempt(scenario)``, the proposal of one account under ``scenario``, and the
    scenario it was made with — where the request is infeasible, relaxed: the one
    relaxation loop of ``propose --relax`` and ``whatif --relax``.

    An ``InfeasibleError`` is given the smallest relaxation of the scenario that lifts
    its conflicts (``rebalancer.limits.relax.plan`` over ``sized(scenario)``, the
    universe with the scenario's size buckets), or the conflicts none can lift. Without
    ``relax`` it is raised so. With ``relax`` the relaxation is applied and the attempt
    made again, up to ``MAX_RELAXATIONS`` times (rounding can break a limit the
    relaxed optimum kept); the proposal is labelled as relaxed: scenario name
    "NAME (relaxed)", ``relaxed`` (per setting moved: from the scenario's own value to
    the last one tried) and a first warning saying so. Raised as named when nothing
    can be relaxed or the relaxations run out."""

    applied: dict[str, Relaxation] = {}  # per setting: from the scenario's value to the last
    for tries in range(MAX_RELAXATIONS + 1):
        try:
            proposal = attempt(scenario)
            break
        except InfeasibleError as exc:
            changes, blocked = plan(scenario, exc.conflicts, sized(scenario))
            if blocked:  # relaxing the other limits would leave it infeasible
                changes = []
            exc.relaxation = [change.describe() for change in changes]
            exc.unrelaxable = blocked
            exc.args = (str(exc),)
            if not relax or not changes or tries == MAX_RELAXATIONS:
                raise
            scenario = relaxed_scenario(scenario, changes)
            for change in changes:
                first = applied.get(change.key, change)
                applied[change.key] = dataclasses.replace(change, limit=first.limit)
    if not applied:
        return proposal, scenario
    what = ", ".join(change.describe() for change in applied.values())
    relaxed = dataclasses.replace(
        proposal,
        scenario_name=f"{proposal.scenario_name} (relaxed)",
        relaxed=[change.to_data() for change in applied.values()],
        warnings=[f"RELAXED to be feasible (--relax): {what}", *proposal.warnings],
    )
    return relaxed, scenario


MAX_RELAXATIONS = 3


def _propose_once(data, scenario, account, as_of, taxable, lot_method, slots=None) -> Proposal:
    t0 = time.perf_counter()
    request = prepare(data, scenario, account, as_of, taxable=taxable, lot_method=lot_method)
    return propose_request(
        request,
        slots=None if slots is None else slots(request),
        prepare_seconds=time.perf_counter() - t0,
    )


def propose_request(
    request: Request,
    *,
    slots: SlotProblem | None = None,
    shared: SharedSet | None = None,
    prepare_seconds: float | None = None,
) -> Proposal:
    """A prepared request's proposal: ``optimize`` (on a book model's ``slots`` or a
    what-if's ``shared`` problem when given), then ``report.build.build_proposal`` (rounded
    orders, lots, checks). Every path that proposes — ``propose``, a book's account, a
    what-if's run — ends here. The proposal's timings: optimize, compile and solve,
    with ``prepare`` and the total when ``prepare_seconds`` is given."""
    t1 = time.perf_counter()
    solution = optimize(request, slots=slots, shared=shared)
    optimized = time.perf_counter() - t1
    timings = Timings(
        prepare_s=prepare_seconds,
        optimize_s=optimized,
        compile_s=solution.compile_seconds,
        solve_s=solution.solve_seconds,
        total_s=None if prepare_seconds is None else prepare_seconds + optimized,
    )
    return build_proposal(request, solution, timings)
