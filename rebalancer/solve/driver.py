"""One request solved to the optimizer's answer (``optimize``): the working set priced
to the whole-universe optimum, the final solve over its support
(``rebalancer.solve.final``), the wash-sale passes (``rebalancer.solve.wash``), the
step toward the destination (``rebalancer.solve.path``, ``rebalancer.solve.step``) and
the minimum-trade passes (``rebalancer.optimize.min_trade``); solved again with a
hair of room where the limits leave none at the optimizer's margins
(``within_hairline``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from rebalancer.errors import InfeasibleError, RebalancerError, SolverFailure
from rebalancer.limits import in_scenario_terms
from rebalancer.optimize import rows
from rebalancer.optimize.constraints import SLACK_TOL
from rebalancer.optimize.layout import SlotProblem
from rebalancer.optimize.min_trade import solve_with_min_trade
from rebalancer.optimize.problem import BIG, ProblemData, RebalanceProblem, Solution
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.prepare.request import Request
from rebalancer.solve.final import final_set, resolved_fields
from rebalancer.solve.path import find_destination, te_per_run
from rebalancer.solve.step import toward_destination
from rebalancer.solve.wash import no_wash_round_trips
from rebalancer.trades.settle import Evaluator


@dataclass
class SharedSet:
    """The working set and compiled problem the runs of a what-if take turns with:
    ``fields`` are the ProblemData numbers that differ between the runs (Parameters),
    ``keep`` the working set so far (each run starts from it and leaves what its
    pricing added), ``problem`` the problem compiled for it."""

    fields: frozenset[str]
    keep: np.ndarray
    problem: RebalanceProblem | None = None


def optimize(
    request: Request, slots: SlotProblem | None = None, shared: SharedSet | None = None
) -> Solution:
    """The optimizer's answer for ``request``: the account's optimum over the whole
    universe within the scenario's limits (at the optimizer's margins inside them),
    as one step toward its destination, re-solved for what no convex problem states —
    no wash sale, the minimum trade size (``_optimize`` says how). ``slots`` (a book
    model's compiled problem) and ``shared`` (a what-if's runs' working set and
    problem) only change how the optimum is found: the final solve is the account's
    own on every path (``rebalancer.solve.final``).

    Where the limits leave no room only by a hair it is solved again with room: a
    request whose limits, at the optimizer's margins inside the scenario's
    (a tilt band 5 bp in, the tracking error and sector caps a little under), conflict
    by less than the elastic solve resolves (``SLACK_TOL``, 1e-5 of NAV) gets no
    conflict named and no answer from the solvers (an exit 1 on valid inputs). Such a
    request is solved again with every margin-carrying limit widened by
    ``HAIRLINE`` (``within_hairline``), on the account's own problem (no book or
    what-if sharing, so every path takes the same retry). The rounding and the checks
    still hold the scenario's own limits. A real conflict is raised as found."""
    try:
        return _optimize(request, slots, shared)
    except (SolverFailure, InfeasibleError) as exc:
        if isinstance(exc, InfeasibleError) and exc.conflicts:
            raise
        roomier = dataclasses.replace(
            request,
            problem=dataclasses.replace(
                request.problem, data=within_hairline(request.problem.data)
            ),
        )
        try:
            solution = _optimize(roomier)
        except RebalancerError:
            raise exc from None
    note = (
        "the limits left no room at the optimizer's margins (a conflict under 1e-5 of "
        f"NAV); solved with them widened by {HAIRLINE:g} of NAV"
    )
    return dataclasses.replace(solution, warnings=[note, *solution.warnings])


# how far ``within_hairline`` widens: twice what the elastic solve tells from zero
HAIRLINE = 2 * SLACK_TOL


def within_hairline(data: ProblemData) -> ProblemData:
    """``data`` with the limits that carry a margin or that the rounding enforces on
    its own widened by ``HAIRLINE``: tilt bands, sector and tracking-error caps, the
    cash tolerance, position, active-position and liquidity caps, and the limits'
    linear rows (the turnover cap). The realized-gain budget is not (the rounding only
    sells less)."""

    def wider(cap: float) -> float:
        return cap + HAIRLINE if cap < BIG else cap

    return dataclasses.replace(
        data,
        tilt_lo=np.asarray(data.tilt_lo, float) - HAIRLINE,
        tilt_hi=np.asarray(data.tilt_hi, float) + HAIRLINE,
        sector_max=wider(data.sector_max),
        max_tracking_error=wider(data.max_tracking_error),
        cash_tolerance=data.cash_tolerance + HAIRLINE,
        position_cap=np.asarray(data.position_cap, float) + HAIRLINE,
        liquidity_cap=np.asarray(data.liquidity_cap, float) + HAIRLINE,
        active_caps=None if data.active_caps is None else data.active_caps + HAIRLINE,
        **rows.widened(data, HAIRLINE),
    )


def _optimize(
    request: Request, slots: SlotProblem | None = None, shared: SharedSet | None = None
) -> Solution:
    """Solve the request over the whole universe (through a working set of candidate
    names, pricing the others in: ``rebalancer.optimize.working_set``), then solve the
    account's own problem over that optimum's support (``final_set``) and re-solve it
    for what no convex problem states: no buying back a security sold at a loss
    (taxable accounts) and the minimum trade size.

    Before the minimum-trade passes the *destination* d is solved over the final set
    (``rebalancer.solve.path``: without the per-run limits and the impact cost). Where those
    held the step back, it is re-solved (``rebalancer.solve.step``; one more solve of the
    compiled final problem) inside the box between w₀ and d — buy name i only up to
    max(dᵢ − w₀ᵢ, one minimum order) where dᵢ > w₀ᵢ, sell only as far where dᵢ < w₀ᵢ,
    nothing where dᵢ = w₀ᵢ (1e-7) — and, where the liquidity cap held it back, with a
    floor on each name it stopped short: at least 0.6 of the way it has left (and
    whole lots enough), or its per-run liquidity cap (``rebalancer.solve.path.floored_box``).
    The minimum-trade passes work inside that box too: from a step in the box d stays
    the destination, so the next run continues on the same names, the same way, each
    by less. A floored box with no feasible point gives way to the box alone, and that
    to the free step.

    The first solve is built with constants (fastest for one solve); with ``slots`` (a
    book's model) the model's compiled problem is filled with this request's numbers
    instead; with ``shared`` (a what-if's runs) the runs' working set and problem are
    re-solved and passed on. The final problem is the same on every path: constants
    but for the numbers its re-solves change. Raises ``InfeasibleError`` naming the
    conflicts.
    """
    # with a model's problem: the model's names, as many as the account may take
    first = (
        request.problem.first_set()
        if slots is None
        else slots.first_set(request.problem.data, request.problem.new_names)
    )
    # the first solve is not re-solved: constants (fastest), or a what-if's Parameters
    fields: frozenset[str] | bool = False
    problem = None
    if shared is not None:
        fields = shared.fields
        # the runs' set already holds the account's names: pricing adds what this run
        # needs (its own first set, which differs with the varied numbers, would make
        # every run compile a problem of its own)
        first, problem = shared.keep | (request.position.weight > 0), shared.problem
    ws = WorkingSet(request.problem.structure, first, fields=fields, slots=slots, problem=problem)
    data = request.problem.data
    try:
        found = ws.solve(data, price=True)
        if shared is not None:
            shared.keep, shared.problem = ws.keep.copy(), ws.problem
        # the path's working set and problem end here: the answer is re-solved over its
        # support by the account's own problem, the same on every path (final_set)
        final = WorkingSet(
            request.problem.structure,
            final_set(request, found.weights),
            fields=resolved_fields(request),
        )
        try:
            solution = final.solve(data, explain=False)
        except InfeasibleError:
            # names left out of the support held a limit by a hair: the path's own set
            final = WorkingSet(request.problem.structure, ws.keep, fields=resolved_fields(request))
            solution = final.solve(data)
        if request.tax.lots is not None:
            data, solution = no_wash_round_trips(final, request, data, solution)
    except InfeasibleError as exc:
        raise InfeasibleError(
            request.account,
            in_scenario_terms(request, exc.conflicts),
            exc.binding + _tax_rules_in_force(request),
        ) from None
    # where the path ends (per-run limits and impact removed), measured on the final
    # set: the same on every path; a step held back goes only toward it
    destination = find_destination(final, request.problem.data, te_per_run(request))
    lot = request.lot_usd / request.position.nav_usd
    min_order = request.scenario.constraints.min_trade_usd / request.position.nav_usd + lot
    data, solution = toward_destination(final, data, solution, destination, min_order, lot)
    solution = solve_with_min_trade(
        final,
        data,
        solution,
        request.position.nav_usd,
        request.scenario.constraints.min_trade_usd,
        request.lot_usd,
        request.problem.structure.tilt_groups,
        immaterial=MIN_TRADE_IMMATERIAL,
    )
    return dataclasses.replace(
        solution,
        destination=destination,
        evaluate=Evaluator(final, data),
        compile_seconds=found.compile_seconds + solution.compile_seconds,
        solve_seconds=found.solve_seconds + solution.solve_seconds,
        warnings=list(dict.fromkeys([*found.warnings, *solution.warnings])),
        # how the path found the optimum: its working set and what compiling it cost
        working_set={**found.working_set, "compile_seconds": found.compile_seconds},
    )


# small orders worth less than this share of NAV in all are left to the rounding, which
# drops them, puts the cash back to work and moves whole lots back inside any tilt band
# the drop pushed a group out of, rather than re-solving for them
MIN_TRADE_IMMATERIAL = 0.0025


def _tax_rules_in_force(request: Request) -> list[str]:
    """The tax rules that block lots or buys, to name beside an infeasibility."""
    if request.tax.lots is None:
        return []
    blocks = request.tax.lots.blocks()
    return [
        f"tax rule '{rule}' ({', '.join(sorted(set(group['ticker'])))})"
        for rule, group in blocks.groupby("rule")
    ]
