"""``propose``: holdings + universe + scenario -> a checked Proposal.

read -> groups -> risk -> signals / returns -> optimizer -> rounded orders -> lots
-> checks -> Proposal. Each stage lives in its own module; this one only wires them:
``request.prepare`` -> ``optimize`` -> ``report.build_proposal``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer.errors import InfeasibleError, RebalancerError, SolverFailure
from rebalancer.model.stress import parse_shock
from rebalancer.optimize.constraints import SLACK_TOL
from rebalancer.optimize.layout import SlotProblem
from rebalancer.optimize.min_trade import solve_with_min_trade
from rebalancer.optimize.problem import (
    BIG,
    ProblemData,
    RebalanceProblem,
    Solution,
    interior_point_solvers,
)
from rebalancer.optimize.working_set import WorkingSet
from rebalancer.prepare.request import (
    Inputs,
    Request,
    account_terms,
    load_inputs,
    one_blas_thread,
    prepare,
)
from rebalancer.report.build import build_proposal
from rebalancer.report.proposal import Proposal, Timings
from rebalancer.scenario import Scenario, load_scenario
from rebalancer.solve.path import find_destination, floored_box, step_box, te_per_run
from rebalancer.trades.settle import Evaluator

__all__ = [
    "Inputs", "load_inputs", "optimize", "prepare", "propose", "propose_account", "propose_request",
    "relaxing",
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
) -> Proposal:
    """One account's rebalance proposal (the Python API of ``rebalancer propose``).

    ``holdings``/``universe``/``prices``/``benchmark`` are paths or already-read
    frames; ``scenario`` a path or a ``Scenario``; ``shocks`` extra stress tests in
    the ``--shock`` form (``"name=NAME,GROUP=RETURN,..."``); ``accounts`` (the
    account's row: tax status, cash target, household, lot method) and
    ``trade_history`` (wash sales) are optional paths or frames; ``taxable`` and
    ``lot_method`` override the accounts file (lots with a cost basis need a tax
    status from one or the other); ``relax`` applies the smallest relaxation
    of the scenario when the request is infeasible. Raises ``InputError``
    or ``ScenarioError`` for bad input and ``InfeasibleError`` when no portfolio
    meets the limits.
    """
    data = load_inputs(holdings, universe, prices, benchmark, accounts, trade_history)
    if not isinstance(scenario, Scenario):
        data.paths["scenario"] = str(scenario)
        scenario = load_scenario(scenario)
    if shocks:
        extra = [parse_shock(s) for s in shocks]
        scenario = dataclasses.replace(scenario, shocks=[*scenario.shocks, *extra])
    return propose_account(
        data, scenario, account, as_of, taxable=taxable, lot_method=lot_method, relax=relax
    )


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
) -> Proposal:
    """One account's proposal from already-read inputs (what ``batch`` and ``demo`` call).

    ``taxable``, ``lot_method`` and ``cash_target`` override what the accounts file
    says of the account (``request.account_terms``), which overrides the scenario.

    ``slots`` (a book): gives the compiled problem of the request's model to fill, or
    None for a problem of the account's own (``rebalancer.runs.book.models.ModelProblems``).

    An infeasible request raises ``InfeasibleError`` naming the conflicts and the
    smallest relaxation of the scenario that removes them; with ``relax`` that
    relaxation is applied and the proposal, labelled as relaxed, is returned instead.
    """
    terms = account_terms(
        data, account, taxable=taxable, lot_method=lot_method, cash_target=cash_target
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
    from rebalancer.limits.relax import Relaxation, plan
    from rebalancer.limits.relax import relax as relaxed_scenario

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
    what-if's ``shared`` problem when given), then ``report.build_proposal`` (rounded
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
    """``_optimize``, and where the limits leave no room only by a hair, again with
    room: a request whose limits, at the optimizer's margins inside the scenario's
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
        roomier = dataclasses.replace(request, full_data=within_hairline(request.full_data))
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
    cash tolerance, position, active-position, liquidity and turnover caps. The
    realized-gain budget is not (the rounding only sells less)."""

    def wider(cap: float) -> float:
        return cap + HAIRLINE if cap < BIG else cap

    return dataclasses.replace(
        data,
        tilt_lo=np.asarray(data.tilt_lo, float) - HAIRLINE,
        tilt_hi=np.asarray(data.tilt_hi, float) + HAIRLINE,
        sector_max=wider(data.sector_max),
        max_tracking_error=wider(data.max_tracking_error),
        max_turnover=wider(data.max_turnover),
        cash_tolerance=data.cash_tolerance + HAIRLINE,
        position_cap=np.asarray(data.position_cap, float) + HAIRLINE,
        liquidity_cap=np.asarray(data.liquidity_cap, float) + HAIRLINE,
        active_caps=None if data.active_caps is None else data.active_caps + HAIRLINE,
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
    held the step back, it is re-solved (``_toward_destination``; one more solve of the
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
        request.first_set()
        if slots is None
        else slots.first_set(request.full_data, request.new_names)
    )
    # the first solve is not re-solved: constants (fastest), or a what-if's Parameters
    fields: frozenset[str] | bool = False
    problem = None
    if shared is not None:
        fields = shared.fields
        # the runs' set already holds the account's names: pricing adds what this run
        # needs (its own first set, which differs with the varied numbers, would make
        # every run compile a problem of its own)
        first, problem = shared.keep | (request.w0 > 0), shared.problem
    ws = WorkingSet(request.full_structure, first, fields=fields, slots=slots, problem=problem)
    data = request.full_data
    try:
        found = ws.solve(data, price=True)
        if shared is not None:
            shared.keep, shared.problem = ws.keep.copy(), ws.problem
        # the path's working set and problem end here: the answer is re-solved over its
        # support by the account's own problem, the same on every path (final_set)
        final = WorkingSet(
            request.full_structure,
            final_set(request, found.weights),
            fields=_resolved_fields(request),
        )
        try:
            solution = final.solve(data, explain=False)
        except InfeasibleError:
            # names left out of the support held a limit by a hair: the path's own set
            final = WorkingSet(request.full_structure, ws.keep, fields=_resolved_fields(request))
            solution = final.solve(data)
        if request.tax_lots is not None:
            data, solution = _no_wash_round_trips(final, request, data, solution)
    except InfeasibleError as exc:
        from rebalancer.limits.relax import in_scenario_terms

        raise InfeasibleError(
            request.account,
            in_scenario_terms(request, exc.conflicts),
            exc.binding + _tax_rules_in_force(request),
        ) from None
    # where the path ends (per-run limits and impact removed), measured on the final
    # set: the same on every path; a step held back goes only toward it
    destination = find_destination(final, request.full_data, te_per_run(request))
    lot = request.lot_usd / request.nav
    min_order = request.scenario.constraints.min_trade_usd / request.nav + lot
    data, solution = _toward_destination(final, data, solution, destination, min_order, lot)
    solution = solve_with_min_trade(
        final,
        data,
        solution,
        request.nav,
        request.scenario.constraints.min_trade_usd,
        request.lot_usd,
        request.full_structure.tilt_groups,
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


# a name not held is in the final set when the optimum gives it more than this weight:
# far above the solvers' noise (different formulations of one optimum agree to ~1e-7,
# at worst ~1e-6 on a 50-account book) and below any order (a $250 position in a $25M
# account); the optimum's weights are sparse near it (names are either held at real
# weight or at the solver's ~1e-8 for zero)
SUPPORT_WEIGHT = 1e-5


def final_set(request: Request, weights: np.ndarray) -> np.ndarray:
    """The names the final solve is over (a mask over the universe): every held name
    and the names not held with weight above ``SUPPORT_WEIGHT`` in the whole-universe
    optimum ``weights`` — for a small account the ``request.new_names`` largest (ties
    in universe order).

    Why: a book's shared problem, a what-if's shared one and a proposal's own reach the
    same optimum only to the solvers' accuracy (~1e-7), and whole-lot rounding turns
    such differences into different orders. Whichever found the optimum, its support
    is the same, and the final solve — the account's own problem over exactly that set,
    built from the same data, with the same re-solves after it — is then the same
    computation on every path: one account, one answer. (The optimum is unchanged:
    names outside its support are at weight 0 in it.)

    Where the objective is flat a path's optimum, proven to 1e-5 of the objective, can
    still differ from another's by ~1e-4 in a name's weight, so a support alone may
    differ too: an account without a new-name limit also keeps its own first working
    set (``Request.first_set``, a function of the request alone), which holds nearly
    every name any path buys; the final solve over that union is the same problem on
    every path unless a path priced in a name outside it."""
    held = request.w0 > 0
    new = np.flatnonzero(~held & (weights > SUPPORT_WEIGHT))
    if request.new_names is not None and len(new) > request.new_names:
        new = np.sort(new[np.argsort(-weights[new], kind="stable")[: request.new_names]])
    keep = held | request.first_set() if request.new_names is None else held.copy()
    keep[new] = True
    return keep


def learned_order(
    request: Request,
    data: Inputs | None,
    probes: tuple[str, ...] = (),
    scenario: Scenario | None = None,
):
    """A model's names in the order its accounts' first working sets take them: the
    names its probe accounts buy (each solved over the whole universe, most often
    bought first), then ``request.model_order``. Accounts of a model trade alike —
    they buy the benchmark names the view likes and that offset the exposures their
    holdings share — and a first working set that has those names needs fewer rounds
    of pricing. ``scenario``: the model's (default the request's). A probe that cannot
    be solved (a spoilt holdings row, infeasible limits) teaches nothing."""
    from collections import Counter

    from rebalancer.errors import RebalancerError
    from rebalancer.prepare.request import model_order

    base = model_order(request)
    bought: Counter[int] = Counter()
    for account in probes if data is not None else ():
        try:
            probe = prepare(
                data, scenario or request.scenario, account, request.as_of, taxable=False
            )
            ws = WorkingSet(probe.full_structure, probe.first_set())
            weights = ws.solve(probe.full_data, price=True).weights
        except RebalancerError:
            continue
        bought.update(np.flatnonzero((weights > 1e-6) & (probe.w0 <= 0)).tolist())
    hot = np.array([name for name, _ in bought.most_common()], dtype=int)
    return np.concatenate([hot, base[~np.isin(base, hot)]])


def slot_sizes(request: Request) -> tuple[int, int] | None:
    """(held slots, lot slots per held slot) of the shared problem that takes
    ``request``'s account, or None when no size fits (too many holdings or lots)."""
    from rebalancer.optimize.layout import HELD_SIZES, LOT_SIZES, MAX_LOT_SLOTS, bucket

    held = bucket(int(np.count_nonzero(request.w0)), HELD_SIZES)
    if held is None:
        return None
    if request.tax_lots is None:
        return held, 0
    security = request.tax_lots.classes["security"].to_numpy()
    lots = bucket(int(np.bincount(security).max()) if len(security) else 1, LOT_SIZES)
    if lots is None or held * lots > MAX_LOT_SLOTS:
        return None
    return held, lots


def slot_problem(request: Request, order: np.ndarray, sizes: tuple[int, int]) -> SlotProblem:
    """A shared problem for accounts like ``request``'s (``rebalancer.optimize.layout``):
    ``order`` its names (``learned_order``), ``sizes`` from ``slot_sizes``."""
    held, lots = sizes
    return SlotProblem(request.full_structure, order, held, lots, request.full_data)


# small orders worth less than this share of NAV in all are left to the rounding, which
# drops them, puts the cash back to work and moves whole lots back inside any tilt band
# the drop pushed a group out of, rather than re-solving for them
MIN_TRADE_IMMATERIAL = 0.0025


# cvxpy's parametric (DPP) compile keeps a tensor of variables × parameter entries: past
# this many lot classes that is hundreds of MB and seconds, more than compiling with
# constants again for each re-solve (a 100,000-lot account: 0.5 s in all, 300 MB)
DPP_MAX_LOT_CLASSES = 512


def _resolved_fields(request: Request) -> frozenset[str] | bool:
    """The numbers the re-solves after the first solve change (the minimum trade size
    freezes and lifts orders through the buy and sell caps; the wash-sale pass also
    closes lots): compiled as Parameters, so a re-solve skips compilation. The rest
    stay constants. False (all constants) when no re-solve can follow."""
    fields = set()
    if request.scenario.constraints.min_trade_usd > 0:
        fields |= {"buy_cap", "sell_cap"}
    if request.tax_lots is not None:
        if len(request.tax_lots.classes) > DPP_MAX_LOT_CLASSES:
            return False
        fields |= {"buy_cap", "lot_cap"}
    return frozenset(fields) if fields else False


def _toward_destination(ws: WorkingSet, data, solution: Solution, destination, min_order, lot):
    """A step that per-run limits or the impact cost hold back, re-solved to go only
    toward its destination, each name it stopped short most of the way left: inside the
    floored box (``rebalancer.solve.path.floored_box``; moves under one order wait), else
    inside the box between the current weights and the destination
    (``rebalancer.solve.path.step_box``). Returns (data, solution): the data of the first of
    those the step is in already or re-solved in, with that step; the ones given when
    the destination is unknown or no box has a feasible point (a limit the account
    meets this run only through names the destination does not trade: the free step
    is kept)."""
    if destination.weights is None:
        return data, solution
    boxed = step_box(data, destination.weights, min_order)
    floored = floored_box(data, boxed, destination.weights, min_order, lot, solution.weights)
    z = solution.weights - np.asarray(data.w0, float)
    for box in (floored, boxed):
        if box is None:
            continue
        if in_box(z, box):
            # the minimum-trade passes that follow keep to it
            return box, solution
        try:
            stepped = ws.solve(box, solvers=interior_point_solvers(), explain=False)
        except (InfeasibleError, RuntimeError):
            continue
        return box, dataclasses.replace(
            stepped,
            compile_seconds=solution.compile_seconds + stepped.compile_seconds,
            solve_seconds=solution.solve_seconds + stepped.solve_seconds,
            warnings=list(dict.fromkeys([*solution.warnings, *stepped.warnings])),
        )
    return data, solution


def in_box(z: np.ndarray, box: ProblemData) -> bool:
    """Whether the trades ``z`` (weights) keep ``box``'s caps, to ``IN_BOX``."""
    return bool(np.all((z <= box.buy_cap + IN_BOX) & (-z <= box.sell_cap + IN_BOX)))


# a step off its box by no more than this in any name (weights) is in it: the solvers'
# noise on a name the step does not trade
IN_BOX = 1e-6


def _tax_rules_in_force(request: Request) -> list[str]:
    """The tax rules that block lots or buys, to name beside an infeasibility."""
    if request.tax_lots is None:
        return []
    blocks = request.tax_lots.blocks()
    return [
        f"tax rule '{rule}' ({', '.join(sorted(set(group['ticker'])))})"
        for rule, group in blocks.groupby("rule")
    ]


def _no_wash_round_trips(ws, request: Request, data, solution, max_passes: int = 3):
    """Selling a lot at a loss and buying the same security back is a wash sale: where
    the answer does both, keep the larger side and forbid the other, and re-solve."""
    lots = request.tax_lots.classes  # what the optimizer sells from
    loss = lots["gain_frac"].to_numpy() < 0
    security = lots["security"].to_numpy()
    n = len(request.price)
    for _ in range(max_passes):
        sold_at_loss = np.bincount(security[loss], weights=solution.lot_sold[loss], minlength=n)
        both = np.flatnonzero((solution.buy > 1e-6) & (sold_at_loss > 1e-6))
        if not len(both):
            break
        lot_cap, buy_cap = data.lot_cap.copy(), data.buy_cap.copy()
        for i in both:
            if solution.buy[i] >= sold_at_loss[i]:
                lot_cap[loss & (security == i)] = 0.0
            else:
                buy_cap[i] = 0.0
        data = dataclasses.replace(data, lot_cap=lot_cap, buy_cap=buy_cap)
        solution = ws.solve(data)
    return data, solution


def example_paths() -> dict[str, Path]:
    """Where the shipped example data lives (also inside an installed package)."""
    return dict(_example_paths())


@functools.cache
def _example_paths() -> dict[str, Path]:
    # looked up once per process: importlib.resources takes milliseconds a call, and a
    # book looks up a scenario of the shipped library for every account
    from importlib.resources import files

    base = Path(str(files("rebalancer.examples")))
    scen = Path(str(files("rebalancer.scenarios")))
    return {
        "holdings": base / "holdings.csv",
        "universe": base / "universe.csv",
        "prices": base / "prices.csv",
        "benchmark": base / "benchmark.csv",
        "accounts": base / "accounts.csv",
        "scenarios": scen,
    }
