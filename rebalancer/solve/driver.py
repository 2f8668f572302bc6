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
from rebalancer.limits.base import outside_by
from rebalancer.limits.cash import TARGET_CHECK
from rebalancer.limits.tilt_bands import check_name
from rebalancer.limits.turnover import TURNOVER
from rebalancer.optimize import rows
from rebalancer.optimize.constraints import SLACK_TOL
from rebalancer.optimize.layout import SlotProblem
from rebalancer.optimize.min_trade import solve_with_min_trade
from rebalancer.optimize.problem import BIG, ProblemData, RebalanceProblem, Solution
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.prepare.request import Request
from rebalancer.solve.final import final_set, resolved_fields
from rebalancer.solve.path import find_destination, te_per_run
from rebalancer.solve.step import bands_over_path, toward_destination
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
    """The optimizer's answer for ``request`` (``within_margins``); where the scenario's
    limits conflict, and only soft bands the account is outside of today make them (not
    the turnover cap), the answer with those bands kept no farther outside than today
    (``from_today``)."""
    try:
        return within_margins(request, slots, shared)
    except InfeasibleError as exc:
        if not exc.conflicts or any(c.key == TURNOVER.key for c in exc.conflicts):
            # the turnover cap, a per-run limit, too small for the scenario's move: the
            # scenario asks more than this run's limits let it (exit 3, --relax raises
            # the cap), not whole lots left out of reach
            raise
        solution = from_today(request)
        if solution is None:
            raise
        return solution


def from_today(request: Request) -> Solution | None:
    """The answer of an infeasible ``request`` whose conflict is only that of soft bands
    the account is outside of today by no more than a run's whole lots leave
    (``rounding_misses``) — the cash target band, tilt bands — with each such band kept
    no farther outside than today and as close as the limits allow, as a band the step
    reaches over a path (``rebalancer.solve.step.bands_over_path``: the request's
    problem solved with only those bands elastic, over its first working set, then
    each band that had to give widened to what that reaches); None where that leaves a
    band farther outside than today or a hard limit unmet, or widens a band farther
    out than whole lots leave (the conflict is raised as found: an account the
    scenario asks to move farther than this run's limits let it, exit 3 as always).

    Why: a run's whole lots can leave the account where the next run's limits cannot
    reach a band at all this run — an $11K account whose single shares of 4-5% of NAV
    a position cap made the rounding sell whole, its EM small-cap tilt then 2.3% under
    its band and a turnover cap letting the next run buy back only part; a $6.6K
    account whose positions a 5% cap and a $1,000 minimum trade made the rounding
    close (92% cash), the caps then letting no run invest to its 15% cash target. A
    feasible run's result must be a feasible start for the next: the next run accepts
    where the account is, no worse, and goes toward the band as far as it can. A
    band the account is inside of today is never widened (a conflict there is raised
    as found), nor a hard limit (the cash floor, the caps, the restrictions)."""
    held = request.position.weight > 0
    ws = WorkingSet(request.problem.structure, request.problem.first_set() | held)
    try:
        widened = bands_over_path(ws, request.problem.data)
    except RebalancerError:
        return None
    if widened is None:
        return None
    data, bands = widened
    if not set(bands) <= rounding_misses(request):
        return None  # a band farther out than whole lots leave: the scenario's conflict
    wider = dataclasses.replace(request, problem=dataclasses.replace(request.problem, data=data))
    try:
        solution = within_margins(wider)
    except RebalancerError:
        return None
    destination = solution.destination
    if destination is not None:
        named = tuple(dict.fromkeys([*bands, *destination.path_bands]))
        destination = dataclasses.replace(destination, path_bands=named)
    note = (
        f"{', '.join(bands)}: out of this run's reach from today's holdings with the "
        "scenario's other limits; kept no farther outside than today, as close as they allow"
    )
    return dataclasses.replace(
        solution, destination=destination, warnings=[note, *solution.warnings]
    )


# one order (a round lot or the minimum trade) of at least this part of NAV is coarse
COARSE_ORDER = 0.01


def rounding_misses(request: Request) -> set[str]:
    """The soft bands (named as their Checks rows) today's holdings are outside of by
    no more than a run's whole lots can leave them: one order — a round lot or the
    minimum trade, whichever is larger — for each name the account could trade whose
    order is coarse (at least ``COARSE_ORDER`` of NAV), of the group for a tilt band,
    of the universe for the cash target band (the property tests' allowance for a band
    missed after rounding, for the names whose lots are coarse)."""
    d, structure = request.problem.data, request.problem.structure
    w0 = np.asarray(d.w0, float)
    tradable = request.limits.may_buy | (request.limits.may_sell & (w0 > 0))
    order = np.where(
        tradable,
        np.maximum(request.lot_usd, request.scenario.constraints.min_trade_usd),
        0.0,
    ) / float(request.position.nav_usd)
    # only coarse orders: where one order is a small part of NAV, whole lots leave a band
    # as close as the optimizer's margins, and a band out of reach is the scenario's
    # conflict (exit 3), not the rounding's
    order = np.where(order >= COARSE_ORDER, order, 0.0)
    out = set()
    low = float(d.cash_target - d.cash_tolerance)
    high = float(d.cash_target + d.cash_tolerance)
    if outside_by(1.0 - float(w0.sum()), low, high) <= order.sum():
        out.add(TARGET_CHECK)
    if len(structure.tilt_labels):
        groups = np.asarray(structure.tilt_groups, float)
        today = groups @ (w0 - np.asarray(d.ref, float))
        miss = outside_by(today, np.asarray(d.tilt_lo, float), np.asarray(d.tilt_hi, float))
        out |= {
            check_name(label)
            for label, m, allowed in zip(structure.tilt_labels, miss, groups @ order, strict=True)
            if m <= allowed
        }
    return out


def within_margins(
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
    by less. A floored box with no feasible point gives way to the box alone; where
    neither keeps a soft band this run (the cash target band, a tilt band), the band is
    reached over a path (the boxes again with it widened as far as this run needs,
    ``rebalancer.solve.step.bands_over_path``), and only then the free step.

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
    data, solution, destination = toward_destination(
        final, data, solution, destination, min_order, lot
    )
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
