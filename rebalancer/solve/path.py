"""Is a proposal the whole move, or one step of a path? How many steps remain?

Three things make one run stop short of where the scenario wants the account, so that
the same run, applied and proposed again in the same market, trades again:

- ``max_turnover``: a per-run cap on buys + sells;
- ``liquidity``: a per-run cap on each order (participation × ADV × days);
- ``impact``: the cost m·|Δw|^{3/2} grows faster than the gain of moving, so the
  one-period optimum goes part of the way and the next run, from nearer, again goes
  part of the remaining way (a geometric path).

The *destination* is the optimum with those three removed (no turnover cap, no
liquidity cap, no impact; every other limit, the spread and the taxes kept), solved
over the same working set as the proposal — one extra solve, its seconds reported.
Without a benchmark the tracking error is measured from the current holdings, which
each run moves: its cap is a per-run limit too, and the destination drops it.

A step goes only toward its destination, each name most of the way it has left
(``floored_box`` inside ``step_box``, re-solved by ``rebalancer.solve.step.toward_destination``
when the free step leaves it). Why it settles:
with the linear spread cost s·|x − w₀| and F the rest of the objective (convex, the
same every run in the same market against a fixed reference), let d be the
destination from w₀ and w₁ lie coordinatewise between w₀ and d. Then
|d − w₁| = |d − w₀| − |w₁ − w₀| and |x − w₁| ≥ |x − w₀| − |w₁ − w₀| for every x, so

    F(d) + s|d − w₁| = F(d) + s|d − w₀| − s|w₁ − w₀|
                     ≤ F(x) + s|x − w₀| − s|w₁ − w₀| ≤ F(x) + s|x − w₁|:

d is still the destination from w₁. Each run's box is then inside the last one's: the
next run trades the same names the same way, no new names, and never back. The box
alone keeps each name's side and end, not its step size: the risk, the tilts and the
budget couple the names, so a name's gain of moving can grow as the others move, and a
name the first step left alone inside its box can start on the next. Hence the floor
(``floored_box``), where the liquidity cap holds the step back: each name the box
trades moves at least β = 0.6 of what it has left (and at least one minimum order,
in whole lots enough that the next run's nearest whole lots are fewer), or its
per-run liquidity cap where that is less; the next run's move is at most what is
left, (1 − β) of it, less than β: each name's step is smaller than the last, or as
large only at its liquidity cap. A move under ``WHOLE_ORDER`` (3/4) of one order waits
(a whole order may be a trade the step does not want; a box would let the next run
start it), and one of 3/4 of an order or more is floored to a whole one, past the
destination by at most a quarter of an order, which the next run finds under 3/4 and
leaves: the quarter is a margin for what moves the next run's measure of the move
(its NAV lower by this run's costs, ``next_run_move``; a taxable account's
destination, which moves with its lots), which at exactly one order left a move a
hair under it this run and a hair over it the next. Where the cash
target leaves one side (buys or sales) less room than its floors, that side's floors
are scaled to fit. Where the turnover cap binds too, it decides which names go
first: floors on every name would spend it on all instead of the best, so the names
go in the free step's order (the turnover it gives each) while their floors fit in
0.9 of each side's share of the cap, and the rest wait (caps 0) for a later run to
start (``first_in_line``); the turnover cap then held the step back, whatever
turnover the step ends at (``Destination.turnover_waits``). No floors where they do
not fit the cap, nor where the
impact cost alone holds the step back (a geometric path, each run the one-period
optimum's share of what is left; floors would buy more impact; also under a binding
turnover cap) — unless the step moves a name less than one minimum order that its
destination moves 3/4 of one or more (and no turnover cap binds): the minimum-trade
passes would drop or lift it differently each run, so the floors (whole order, or
wait) decide it. Where no portfolio in the floored box keeps the hard limits this run,
the box alone is kept, and where the box has none either (a tilt band the destination
reaches through a name the liquidity cap lets trade only a little this run, or a
turnover cap that reaches it only through names the destination does not trade), the
free step — unless what the box cannot keep is a soft band, below. In the box alone a name whose move is at least half of one minimum order
(the minimum trade and a lot) may trade a whole one its way — it then lands nearer
the destination than no order — so that a move smaller than an order is made whole,
not dropped.

A soft band the box cannot keep this run — the cash target band, a tilt band: the
destination reaches it by trading names the liquidity cap (or another per-run limit)
lets trade only a little this run, so the free step would reach it with substitutes
the next run unwinds — is *reached over a path* (an owners' decision,
docs/contracts.md): the step stays in its box (floored first, then alone) and keeps
the band in a weaker form, no farther outside it than today and as close as this
run's limits allow (``rebalancer.solve.step.bands_over_path``: the box solved with
only those bands elastic, each no farther out than today, then with each band that
had to give widened to what that reaches). Each run then gets nearer the band on the
same names as the destination. Never the cash floor, a position, sector,
tracking-error or turnover cap, a restriction or a screen: a hard limit the box cannot
keep still leaves the free step. The path block names the bands
(``reached_over_path``), the Checks sheet reports them as reached over a path, not as
failed, where they end no farther outside than today (``rebalancer.limits.tilt_bands``,
``rebalancer.limits.cash``), and the rounding keeps them in that form (no whole lots
bought outside the step to reach them).

Without a benchmark the tilts are measured from today's holdings too: each run tilts
away from where the last one left the account, a new move (``reference_moves``;
``describe`` says to give a benchmark for re-runs that settle).
Measured in turnover (Σ|Δw|/2, fractions of NAV):

    total      = Σ|w_dest − w₀|/2       the whole move
    remaining  = Σ|w_dest − w_after|/2  what this step leaves (w_after: the rounded orders)
    step_fraction = 1 − remaining/total (1 when total is immaterial)

The proposal is one step of a path when something held it back and ``remaining``
exceeds ``IMMATERIAL`` (0.25% of NAV: the size below which the optimizer leaves small
orders to the rounding), unless it holds (``rebalancer.trades.settle``). What held it back
(``held_back_by``), and the runs still to go by each (the largest counts):

    max_turnover  the cap binds (or the turnover is within 1% of it), or the step
                  left names to wait for it (``first_in_line``):
                  ⌈remaining / max_turnover⌉
    liquidity     an order is within 1% of its per-run cap and the name has further
                  to go: max over such names of ⌈what remains / the per-run cap⌉
    max_tracking_error  no benchmark (the cap measured from today's holdings) and
                  the cap binds (or the orders' tracking error is within 1% of it):
                  ⌈TE(w_dest − w_after) / cap⌉
    impact        impact > 0 and the optimizer's own (continuous, unrounded) step
                  stops more than ``IMMATERIAL`` short: ⌈log(immaterial / left) /
                  log(1 − f)⌉ with f the continuous step's fraction (each run
                  repeats it on what is left), or 1 beside a cap (whose count
                  already covers the path)

Whole lots and the minimum trade alone leave every name a little off the destination;
that is not a path (a re-run does not chase it), hence the continuous step for impact.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from rebalancer.errors import RebalancerError

if TYPE_CHECKING:  # the console and the workbook import ``describe`` without cvxpy
    from rebalancer.optimize.problem import ProblemData
    from rebalancer.optimize.working_set import WorkingSet

# below this share of NAV in all, remaining trades are immaterial (pipeline's threshold
# for leaving small orders to the rounding)
IMMATERIAL = 0.0025
# an order this close to its per-run liquidity cap counts as held back by it
AT_CAP = 0.99


@dataclasses.dataclass(frozen=True)
class Destination:
    """The optimum without per-run limits and impact, and what finding it cost;
    ``path_bands``: the soft bands the step toward it reaches over a path, named as
    their Checks rows are (``rebalancer.limits.cash.TARGET_CHECK``,
    ``rebalancer.limits.tilt_bands.check_name``; module docstring), and
    ``turnover_waits``, set by ``rebalancer.solve.step.toward_destination``."""

    weights: np.ndarray | None  # None when it could not be solved
    seconds: float
    path_bands: tuple[str, ...] = ()
    # the step's box made names wait for a later run so that the turnover cap goes to
    # the names the free step prefers (``first_in_line``): the cap held the step back
    turnover_waits: bool = False


def destination_data(data: ProblemData, te_per_run: bool = False) -> ProblemData:
    """``data`` without the per-run limits and the impact cost; ``te_per_run``: the
    tracking error is measured from the current holdings (no benchmark), so its cap
    limits each run's move, not where the path ends, and goes too."""
    from rebalancer.optimize import rows
    from rebalancer.optimize.problem import BIG

    return dataclasses.replace(
        data,
        impact=np.zeros_like(np.asarray(data.impact, float)),
        liquidity_cap=np.full_like(np.asarray(data.liquidity_cap, float), 2.0),
        max_tracking_error=BIG if te_per_run else data.max_tracking_error,
        **rows.lifted(data, rows.on_trades(data)),  # the turnover cap, limits of sales
    )


def find_destination(ws: WorkingSet, data: ProblemData, te_per_run: bool = False) -> Destination:
    """Solve ``destination_data(data, te_per_run)`` over ``ws``'s working set (a
    problem of its own, built with constants: without impact it has no power cones)."""
    from rebalancer.optimize.working_set import WorkingSet

    t0 = time.perf_counter()
    own = WorkingSet(ws.structure, ws.keep)
    try:
        weights = own.solve(destination_data(data, te_per_run), explain=False).weights
    except (RebalancerError, RuntimeError):
        weights = None
    return Destination(weights, time.perf_counter() - t0)


def te_per_run(request) -> bool:
    """Whether the tracking-error cap limits each run rather than where the path ends:
    without a benchmark it is measured from the current holdings, which each run moves."""
    return (
        request.reference != "benchmark"
        and request.scenario.constraints.max_tracking_error is not None
    )


# the box's slack over the move left (weights): the solvers' accuracy, so that a name
# the destination trades by a hair is not held to an infeasibly exact cap
BOX_TOL = 1e-7


def step_box(
    data: ProblemData, dest: np.ndarray, min_order: np.ndarray | float = 0.0
) -> ProblemData:
    """``data`` with each name's buys and sells cut to the box between where it is and
    its destination: buy up to dest − w₀ where the destination is above, sell down to
    the destination where it is below, nothing where it is at w₀ (module docstring).
    ``min_order`` (weights, per name): a name the destination trades may trade at least
    this much its way — the smallest order the rounding keeps (the minimum trade and a
    lot) — so that a move smaller than an order is made whole rather than dropped."""
    move = np.asarray(dest, float) - np.asarray(data.w0, float)
    least = np.broadcast_to(np.asarray(min_order, float), move.shape)
    # a whole order lands nearer the destination than no order where the move is at
    # least half of it
    whole = np.where(np.abs(move) >= least / 2, np.maximum(np.abs(move), least), np.abs(move))
    up = np.where(move > BOX_TOL, whole + BOX_TOL, 0.0)
    down = np.where(-move > BOX_TOL, whole + BOX_TOL, 0.0)
    return dataclasses.replace(
        data,
        buy_cap=np.minimum(data.buy_cap, up),
        sell_cap=np.minimum(data.sell_cap, down),
    )


# each name the floored box trades moves at least this share of what it has left: more
# than half, so that its next step, at most what is left, is smaller than this one (the
# slack over one half absorbs whole-lot rounding)
FLOOR = 0.6
# the share of a turnover cap (or of one side's room for the cash) the floors may take:
# the rest is the step's own room
FLOOR_TURNOVER = 0.98
# under a binding turnover cap, the share of each side's room the floors may take: the
# rest lets the step meet the other limits (tilt bands, the cash band) as it prefers
CAPPED_FLOORS = 0.9
# a name the free step leaves no further than this from its destination (weights) is
# not held back: far above the solvers' noise (two formulations of one optimum agree to
# ~1e-7) and below any order
REACHED = 1e-5
# a move of at least this share of one order is floored to a whole order (past the
# destination by at most the rest, which the next run leaves); under it, it waits. The
# rest is a margin for the next run's measure of the move (its costs, a taxable
# destination's drift): at 1 a move a hair under one order waited and the next run
# found it a hair over
WHOLE_ORDER = 0.75
# a floor at the per-run liquidity cap sits this much under it (relative): the step
# keeps an interior for the solvers
AT_LIQUIDITY = 1e-6


def floored_box(
    data: ProblemData,
    boxed: ProblemData,
    dest: np.ndarray,
    min_order: np.ndarray | float,
    lot: np.ndarray | float,
    step: np.ndarray,
) -> tuple[ProblemData, np.ndarray] | None:
    """``boxed`` (``step_box`` of ``data``) with a floor on each move: a name the box
    trades moves at least f(rᵢ) of what it has left, rᵢ = |dᵢ − w₀ᵢ|, or its per-run
    liquidity cap Lᵢ where that is less:

        min(f(rᵢ), Lᵢ) ≤ sᵢ ≤ min(max(boxᵢ, f(rᵢ)), Lᵢ)
        f(r) = max(β r, oᵢ, kᵢ(r) uᵢ)   (β = FLOOR, oᵢ one minimum order, uᵢ one lot)
        kᵢ(r) = 1 for r < 1.5 lots, else ⌊(r / u + 1/2) / 2⌋ + 1 lots

    Why: from a step in the box the destination stays d (module docstring), so the
    next run's move in name i is at most rᵢ − sᵢ ≤ (1 − β) rᵢ < β rᵢ ≤ sᵢ: each name's
    next step is smaller than this one, or as large only at its liquidity cap; and no
    name the box trades is left for a later run to start. The lots: the rounding
    takes ⌊s⌋ lots, and the next run makes a move of half a lot or more a whole one
    (its box reaches the nearest whole lots), so k lots must leave under k − 1/2
    (r − k < k − 1/2, k > (r + 1/2)/2, the k above): the next run's whole lots,
    the nearest to r − k, are then fewer than k — 3.8 lots left take 3, not 2 (2
    would leave 1.8, which the next run makes 2 again). For k = 1: under half a
    lot (r < 1.5), none next run; from 1.5 lots two, past the destination where r < 2
    (two lots land nearer than one). A floor is a minimum
    trade through the caps (w₀ − sell_cap ≤ w ≤ w₀ + buy_cap): a negative ``sell_cap``
    is a minimum buy, a negative ``buy_cap`` a minimum sale.

    A name the free ``step`` takes to its destination (within ``REACHED``: nothing
    held it back) is floored too, but under a binding turnover cap (which
    ``first_in_line`` shares among the names held back): unfloored, the floors on the
    others spend its room (the cash, the budget), the floored step leaves it where
    it is, and the next run, held back less, starts it. Not floored: a move under
    ``WHOLE_ORDER`` of one order (a whole order there is a trade the step may not want
    at all), as the next run measures it (``next_run_move``: a sale grows by this
    run's costs). Such a move waits (its caps 0): the next run, toward the same
    destination, finds it under 3/4 of an order again, where a box would let it
    start, or go further than the last run did. A move of 3/4 of an order or more is
    floored to a whole one (the next run finds it past the destination by under a
    quarter of an order, and leaves it): the margin takes what moves the next run's
    measure of it.

    None (the box alone is the step's) where the free step is not held back (under
    ``IMMATERIAL`` short of the destination in all, the path summary's measure of a
    step), where no order of it is within ``AT_CAP`` of its liquidity cap (the impact
    cost alone held it back: each run the one-period optimum's share of what is left,
    which floors would trade for more impact; but for a name the step moves less
    than one minimum order and its destination 3/4 of one or more, no turnover cap
    binding, which the minimum-trade passes would drop or lift differently each
    run), where the floors
    do not fit under
    FLOOR_TURNOVER of the turnover cap, and where no name is floored. Where the
    turnover cap binds, only the names ``first_in_line`` picks are floored (the free
    step's favourites, as many as fit under ``CAPPED_FLOORS`` of the cap); the other
    floored names wait (caps 0). Returns the box and the names the turnover cap
    makes wait (a mask: the step was held back by the cap, ``path_summary``).

    The cash: buys and sales net to what the cash target asks of the run (Σ buys −
    Σ sales = cash now − target), so where one side's floors are more than the other
    side can take this run (its liquidity and position caps), that side's floors are
    scaled down to fit (a name then floored under β of its move)."""
    from rebalancer.optimize.problem import BIG
    from rebalancer.optimize.rows import turnover_cap

    max_turnover = turnover_cap(boxed)
    dest, step, w0 = (np.asarray(x, float) for x in (dest, step, data.w0))
    position_cap = np.asarray(data.position_cap, float)
    liquidity = np.asarray(data.liquidity_cap, float)
    gap = np.abs(dest - step)  # how far the free step stops short, per name
    if gap.sum() / 2 <= IMMATERIAL:
        return None  # not held back: the whole move but for the solvers and the rounding
    traded = np.abs(step - w0)
    capped = max_turnover < BIG and traded.sum() / 2 >= AT_CAP * max_turnover
    move = dest - w0
    left = np.abs(move)
    least = np.broadcast_to(np.asarray(min_order, float), move.shape)
    # the impact cost alone held it back where no order is at its liquidity cap: a
    # geometric path, each run the same share of what is left (the one-period optimum;
    # floors would trade it for more impact) — unless the step moves a name by less
    # than one minimum order where its destination is 3/4 of one or more away: the
    # minimum-trade passes would drop or lift it, differently on the next run, so the
    # floors below decide it (whole, or wait) from w₀ and d, as the next run will
    # (not under a binding turnover cap, which decides who goes first by itself)
    sub_order = (left >= WHOLE_ORDER * least) & (traded < least) & (not capped)
    if not (traded >= AT_CAP * liquidity).any() and not sub_order.any():
        return None
    unit = np.maximum(np.broadcast_to(np.asarray(lot, float), move.shape), 1e-12)
    lots = left / unit
    whole_lots = np.where(lots < 1.5, 1.0, np.floor((lots + 0.5) / 2) + 1)
    # a hair over the lots, so that the rounding's ⌊s⌋ is them, not one fewer
    want = np.maximum.reduce([FLOOR * left, least, whole_lots * unit * (1 + 1e-6)])
    up, down = move > BOX_TOL, -move > BOX_TOL
    # how far the request itself lets each name go its way (the box's room aside)
    room = np.where(
        up,
        np.minimum(data.buy_cap, position_cap - w0),
        np.where(down, np.minimum(data.sell_cap, w0), 0.0),
    )
    floor = np.minimum.reduce([want, np.maximum(room, 0.0), liquidity * (1 - AT_LIQUIDITY)])
    # a move smaller than one order the box leaves to the step: a whole order there
    # is a trade the step may not want at all (the minimum-trade passes decide). A name
    # the free step takes all the way is floored too (the floors on the others would
    # otherwise spend its room: the floored step leaves it where it is, and the next
    # run starts it), except under a binding turnover cap, which ``first_in_line``
    # shares among the names held back
    short = gap > REACHED
    # 3/4 of an order or more as the next run measures it (``next_run_move``: a sale
    # under one order today can be one after this run's costs), floored to a whole one
    whole = next_run_move(data, dest, step) >= WHOLE_ORDER * least
    floorable = (up | down) & whole & (short if capped else True)
    floor = np.where(floorable, np.maximum(floor, 0.0), 0.0)
    wait = np.zeros(move.shape, bool)
    # the cash: buys and sales must net to what the cash target asks of the run
    net = (1.0 - float(w0.sum())) - float(data.cash_target)
    if capped:
        floor, wait = first_in_line(floor, move, step - w0, short, max_turnover, net)
    if not floor.any():
        return None
    if floor.sum() > 2 * FLOOR_TURNOVER * max_turnover:
        return None  # the floors do not fit the turnover cap
    # the box reaches each floor (whole lots past the destination), as far as the
    # request lets the name go
    reach = floor + BOX_TOL
    buy_cap = np.where(
        up,
        np.minimum(np.maximum(boxed.buy_cap, reach), np.maximum(data.buy_cap, 0.0)),
        boxed.buy_cap,
    )
    sell_cap = np.where(
        down,
        np.minimum(np.maximum(boxed.sell_cap, reach), np.maximum(data.sell_cap, 0.0)),
        boxed.sell_cap,
    )
    # a move under 3/4 of an order waits: the next run, toward the same destination,
    # finds it under 3/4 again (in a box it would start there, or go further)
    small = ((up | down) & ~whole) | wait
    buy_cap[small] = 0.0
    sell_cap[small] = 0.0
    # the cash: buys and sales must still net to what the cash target asks of the run
    # (Σ buys − Σ sales = cash now − its target), and one side's floors may be more than
    # the other side can take this run (its liquidity and position caps): that side's
    # floors are scaled down to fit (a name then floored less than β of its move)
    most = np.minimum(
        liquidity,
        np.where(up, np.minimum(buy_cap, position_cap - w0), 0.0)
        + np.where(down, np.minimum(sell_cap, w0), 0.0),
    )
    buys, sells = float(most[up].sum()), float(most[down].sum())
    for side, room_left in ((down, buys - net), (up, sells + net)):
        need = float(floor[side].sum())
        if need > FLOOR_TURNOVER * max(room_left, 0.0):
            floor[side] *= FLOOR_TURNOVER * max(room_left, 0.0) / need
    buy_cap = np.where(down, -floor, buy_cap)
    sell_cap = np.where(up, -floor, sell_cap)
    return dataclasses.replace(boxed, buy_cap=buy_cap, sell_cap=sell_cap), wait


def next_run_move(data: ProblemData, dest: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Each name's move |dᵢ − w₀ᵢ| as the next run will measure it, in this run's
    weights, where this run leaves the name alone.

    This run's estimated costs ĉ (a share of NAV: spread sᵀ|z| and impact mᵀ|z|^{3/2}
    of the step z = ``step`` − w₀) are paid from cash, so the next run's NAV is
    (1 − ĉ) of this one's: a name left alone weighs w₀ᵢ/(1 − ĉ), one minimum order
    oᵢ/(1 − ĉ), and the destination, an optimum in weights, stays dᵢ. The next run's
    move in its own minimum orders is |dᵢ − w₀ᵢ/(1 − ĉ)|·(1 − ĉ)/oᵢ = |dᵢ(1 − ĉ) − w₀ᵢ|/oᵢ:
    a sale (dᵢ < w₀ᵢ) grows by dᵢĉ, a buy shrinks by as much. Returned in today's
    units (compared with today's oᵢ): |dᵢ − w₀ᵢ| + dᵢĉ for a sale, |dᵢ − w₀ᵢ| − dᵢĉ for
    a buy. Without it a sale a hair under one order waits, and the next run, the NAV
    lower by this run's costs, finds it a hair over and trades it whole."""
    w0 = np.asarray(data.w0, float)
    dest = np.asarray(dest, float)
    z = np.abs(np.asarray(step, float) - w0)
    cost = float(np.asarray(data.spread, float) @ z + np.asarray(data.impact, float) @ z**1.5)
    return np.abs(dest - w0) - np.sign(dest - w0) * np.maximum(dest, 0.0) * cost


def first_in_line(
    floor: np.ndarray,
    move: np.ndarray,
    z: np.ndarray,
    short: np.ndarray,
    max_turnover: float,
    net: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Under a binding turnover cap, the names that go this run, and the ones that wait.

    The cap decides which names go first: the free step ``z`` (w − w₀) spends it on the
    names it prefers. Ranked by the turnover the free step gives each its way
    (zᵢ·sign(mᵢ); under ``REACHED`` it is noise, not a trade), each floored name is
    taken in turn where its floor fits in what is left of its side's share of the
    cap, ``CAPPED_FLOORS`` of it: Σ buys + Σ sales ≤ 2·cap and Σ buys − Σ sales =
    ``net`` (the cash target's ask) give the buys cap + net/2 and the sales
    cap − net/2, less what the names the free step takes all the way (not ``short``)
    spend. A floor that does not fit is skipped, not cut (a name traded less than β
    of its way would take a larger step the next run), and a smaller one further down
    may fit. The rest wait (their caps 0) for a later run to start: a capped path may
    start a name on a later run. The margin under the cap leaves the step room for
    the tilt bands and the cash band. Returns (the floors, the names that wait)."""
    left = np.abs(move)
    toward = np.clip(z * np.sign(move), 0.0, None)
    floored = floor > 0
    up = move > 0
    # each side's share of the cap: Σ buys + Σ sales ≤ 2·cap and Σ buys − Σ sales =
    # net (the cash target's ask), less what the names the free step takes all the way
    # spend
    reached = (left > 0) & ~short
    budget = {
        True: CAPPED_FLOORS * (max_turnover + net / 2) - float(left[reached & up].sum()),
        False: CAPPED_FLOORS * (max_turnover - net / 2) - float(left[reached & ~up].sum()),
    }
    keep = np.zeros(floor.shape, bool)
    # the free step's favourites first: the most turnover it gives a name (a stable
    # sort: ties by position); noise under REACHED is no trade
    for i in np.argsort(-toward, kind="stable"):
        if not floored[i] or toward[i] <= REACHED:
            continue
        side = bool(up[i])
        if floor[i] > budget[side]:
            continue  # skipped, not cut: cut, the name's next step would be larger
        keep[i] = True
        budget[side] -= floor[i]
    return np.where(keep, floor, 0.0), floored & ~keep


def path_summary(
    hold: bool,
    binding: list[str],
    destination: Destination,
    w0: np.ndarray,
    w_step: np.ndarray,
    w_after: np.ndarray,
    trade_usd: np.ndarray,
    liquidity_usd: np.ndarray,
    nav_usd: float,
    max_turnover: float | None,
    impact: float,
    *,
    te_cap_per_run: float | None = None,
    tracking: tuple[float, float] = (0.0, 0.0),
    reference_moves: bool = False,
) -> dict:
    """The JSON summary's ``path`` block (module docstring): ``hold`` (the proposal
    has no orders: none beat holding, ``rebalancer.trades.settle``, or none were left after
    rounding), ``is_step``,
    ``step_fraction``, ``destination_turnover``, ``remaining_turnover``,
    ``remaining_runs_estimate``, ``held_back_by``, ``destination_seconds`` and
    ``reference_moves``; empty when the destination could not be solved.

    ``te_cap_per_run``: the tracking-error cap where it is measured from the current
    holdings (no benchmark: a per-run limit, ``te_per_run``), with ``tracking`` =
    (the orders' tracking error from the holdings, the tracking error of what is
    left: √((w_dest − w_after)ᵀΣ(w_dest − w_after))). ``reference_moves``: the
    reference is the current holdings and the scenario tilts away from it, so each
    re-run is a new move (``describe`` says so).

    ``reached_over_path`` (present only where there are some): the soft bands the step
    reaches over a path (``destination.path_bands``; module docstring), also where the
    proposal holds (its Checks rows measure them so). Such a step is one step of a path
    (at least one more run) unless it holds. ``max_turnover`` holds a step back also
    where it left names to wait for the cap (``destination.turnover_waits``), whatever
    turnover it ends at."""
    if destination.weights is None:
        return {}
    dest = destination.weights
    total = float(np.abs(dest - w0).sum() / 2)
    remaining = float(np.abs(dest - w_after).sum() / 2)
    fraction = 1.0 if total <= IMMATERIAL else float(np.clip(1.0 - remaining / total, 0.0, 1.0))
    # what the step itself (before rounding) left: whole lots and the minimum trade
    # move every name a little, and a re-run does not chase that (rebalancer.trades.settle)
    continuous_left = float(np.abs(dest - w_step).sum() / 2)
    turnover = float(np.abs(trade_usd).sum() / (2 * nav_usd))
    runs: dict[str, int] = {}
    if max_turnover is not None and (
        "max_turnover" in binding or turnover >= AT_CAP * max_turnover or destination.turnover_waits
    ):
        runs["max_turnover"] = math.ceil(remaining / max_turnover)
    te_after, te_left = tracking
    if te_cap_per_run is not None and (
        "max_tracking_error" in binding or te_after >= AT_CAP * te_cap_per_run
    ):
        runs["max_tracking_error"] = math.ceil(te_left / te_cap_per_run)
    left_usd = np.abs(dest - w_after) * nav_usd
    traded_usd = np.abs(trade_usd)
    if destination.path_bands:
        # a band reached over a path: the step (before whole lots) at a name's cap says
        # what holds the band back, where the rounding left the order under it
        traded_usd = np.maximum(traded_usd, np.abs(w_step - w0) * nav_usd)
    capped = (traded_usd >= AT_CAP * liquidity_usd) & (left_usd > 1e-5 * nav_usd)
    if capped.any():
        per_run = np.maximum(liquidity_usd[capped], 1e-9)
        runs["liquidity"] = int(np.ceil(left_usd[capped] / per_run).max())
    if impact > 0 and continuous_left > IMMATERIAL:
        step = 1.0 - continuous_left / total if total > 0 else 1.0
        # a step a cap held back goes further than its fraction once the cap lets go
        runs["impact"] = (
            math.ceil(math.log(IMMATERIAL / continuous_left) / math.log(1.0 - step))
            if 0.0 < step < 1.0 and not runs
            else 1
        )
    over_path = list(destination.path_bands)
    # a proposal that holds (rebalancer.trades.settle) is where re-runs stay: no step
    is_step = (bool(runs) and remaining > IMMATERIAL or bool(over_path)) and not hold
    if not is_step:
        runs = {}
    block = {
        "hold": bool(hold),
        "is_step": bool(is_step),
        "step_fraction": fraction,
        "destination_turnover": total,
        "remaining_turnover": remaining,
        # a band reached over a path with nothing else left: one more run at least
        "remaining_runs_estimate": max(runs.values(), default=int(is_step)),
        "held_back_by": sorted(runs),
        "destination_seconds": destination.seconds,
        "reference_moves": bool(reference_moves),
    }
    if over_path:  # holding too: its Checks rows are measured as reached over a path
        block["reached_over_path"] = over_path
    return block


def describe(path: dict) -> str:
    """One line for the console and the workbook: '' when the proposal is the whole
    move (or the destination is unknown) and its reference stays put."""
    if not path:
        return ""
    lines = []
    if path.get("is_step"):
        held = ", ".join(path["held_back_by"]) or "rounding"
        lines.append(
            f"one step of a path: {path['step_fraction']:.0%} of the way to where the "
            f"scenario leads ({path['remaining_turnover']:.2%} turnover left, held back by "
            f"{held}); about {path['remaining_runs_estimate']} more run(s)"
        )
    if path.get("reached_over_path"):
        bands = ", ".join(path["reached_over_path"])
        lines.append(
            f"reached over the path, not this run: {bands} (this run's limits let the "
            "names that reach it trade only part of the way; it ends no farther outside "
            "than today)"
        )
    if path.get("reference_moves"):
        lines.append(
            "tilts are measured from the current holdings: applied and proposed again, "
            "it moves again (give a benchmark for re-runs that settle)"
        )
    return "; ".join(lines)
