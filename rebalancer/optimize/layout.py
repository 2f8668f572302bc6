"""How the whole-universe problem is laid out as a compiled problem over fewer names.

``restrict``: the problem over the names of a working set, the others fixed at
weight 0 (their active weight −ref enters the factor exposures, the specific risk
and the tilt exposures as constants). A factor model with more factors than names
(a Ledoit-Wolf Σ in factor form has one factor per return observation) is
compressed on the way: with M = Lᵀ B_Wᵀ = Q R (thin QR),
‖Lᵀ(B_Wᵀ a + c)‖² = ‖R a + Qᵀ Lᵀ c‖² + ‖(I − QQᵀ) Lᵀ c‖², exactly, with as many rows
as names.

``SlotProblem``: a book's compiled problem, one per model, filled with each account's
names in turn. A book rebalances many accounts against a few models. The accounts of a model differ
in what they hold, their size and their lots, not in the model's view, so each
worker compiles one problem per model (with Parameters for everything an account
changes) and re-solves it for each account (DPP: no compilation after the first).
Its weight vector is laid out in slots:

    [ model names (M) | held slots (H, P lot slots each when taxable) | new slots (E) ]

- the *model names* are the model's likeliest buys (largest benchmark weights, best
  alpha overall and in each tilted group), the same for every account: their loadings,
  groups and sectors are constants of the compiled problem;
- the *held slots* take the account's holdings, with their tax lots;
- the *new slots* take the names pricing adds for this account
  (``rebalancer.optimize.working_set``).

Held and new slots are free: their loadings, specific variances, groups and sectors
are Parameters. A model name the account holds sits in a held slot (with its lots);
its model slot, like an unused slot, is switched off — no weight, no trade, no
benchmark weight — so it changes nothing. Names in no slot keep weight 0 and enter
the risk and the tilts as constants, as in ``restrict``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from rebalancer.optimize.problem import BIG, ProblemData, RebalanceProblem, Structure, or_zeros

# the numbers an account changes: Parameters of the compiled problem (the others — risk
# aversion, tilt targets and bands, turnover, tracking-error and sector caps — are the
# model's and stay constants)
ACCOUNT_FIELDS = frozenset(
    {
        "alpha", "w0", "ref", "spread", "impact", "liquidity_cap", "buy_cap", "sell_cap",
        "position_cap", "cash_target", "cash_tolerance", "factor_offset", "specific_offset",
        "tilt_offset", "free_loadings", "free_specific_var", "free_tilt_groups",
        "free_sector_groups", "lot_cap", "lot_tax", "lot_gain", "max_realized_gain_nav",
        "active_caps",
    }
)  # fmt: skip
PER_NAME = ("alpha", "w0", "ref", "spread", "impact", "liquidity_cap", "buy_cap", "sell_cap",
            "position_cap")  # fmt: skip
PER_LOT = ("lot_cap", "lot_tax", "lot_gain")
NEW_SLOTS = 32  # names pricing may add to one account before it outgrows the problem
# a switched-off slot: a name with an expected return of −100% a year, no holding and
# caps that do not bind, so its weight rests at 0 with a large multiplier
OFF_ALPHA = -1.0
OFF_VALUES = {
    "alpha": OFF_ALPHA,
    "impact": 1.0,  # a positive price on the impact variable, or it has no upper end
    "liquidity_cap": BIG,
    "buy_cap": BIG,
    "position_cap": 1.0,
}
OFF_TOL = 1e-6  # a switched-off slot holding more than this: the answer is not used
IDLE = 1e-6  # a name weighing less (of NAV) is at its bound: it may leave a working set
MODEL_NAMES = 60  # a model's names: constants of its compiled problem


def bucket(count: int, sizes: tuple[int, ...]) -> int | None:
    """The smallest of ``sizes`` that holds ``count`` (None: none does)."""
    return next((size for size in sizes if count <= size), None)


HELD_SIZES = (64, 128, 256, 512, 1024)
LOT_SIZES = (4, 16, 64)
MAX_LOT_SLOTS = 4096  # more lot slots than this: the account gets a problem of its own


@dataclass(frozen=True)
class Placement:
    """Which universe name sits in each slot (−1: switched off) and, for a taxable
    account, which of its lots sits in each lot slot (−1: empty; a lot may fill
    several); ``lots`` None means the lot slots are the account's lots in order."""

    names: np.ndarray
    lots: np.ndarray | None = None

    @property
    def on(self) -> np.ndarray:
        return self.names >= 0


def placed(keep: np.ndarray) -> Placement:
    """The placement of a problem restricted to the names ``keep`` (``restrict``)."""
    return Placement(np.flatnonzero(keep))


class SlotProblem:
    """One model's compiled problem (module docstring). ``structure`` is an account's
    whole-universe structure (its constant matrices are the model's), ``order`` the
    model's candidate names in order (the first ``MODEL_NAMES`` are its model names,
    the next fill the free slots an account leaves), ``held`` and ``lots_per_slot``
    the held slots and lot slots per held slot (0: tax-exempt); ``data`` an account
    of the model to compile with."""

    def __init__(
        self,
        structure: Structure,
        order: np.ndarray,
        held: int,
        lots_per_slot: int,
        data: ProblemData,
    ):
        self.order = np.asarray(order, int)
        self.model = self.order[:MODEL_NAMES]
        self.in_model = np.zeros(len(structure.tickers), dtype=bool)
        self.in_model[self.model] = True
        self.held, self.lots_per_slot, self.new = held, lots_per_slot, NEW_SLOTS
        m, free = len(self.model), held + NEW_SLOTS
        s = structure
        members = None
        if lots_per_slot:
            rows = m + np.repeat(np.arange(held), lots_per_slot)
            members = sparse.csr_matrix(
                (np.ones(len(rows)), (rows, np.arange(len(rows)))),
                shape=(m + free, held * lots_per_slot),
            )
        self.structure = dataclasses.replace(
            s,
            tickers=tuple(np.asarray(s.tickers, dtype=object)[self.model]),
            loadings=s.loadings[self.model],
            specific_var=s.specific_var[self.model],
            tilt_groups=s.tilt_groups[:, self.model],
            sector_groups=s.sector_groups[:, self.model],
            lot_members=members,
            n_free=free,
        )
        self.whole = s  # the universe's matrices, read for the free slots
        placement = self.place(self.first_set(data), data, lot_security(structure))
        if placement is None:
            raise ValueError("the account used to compile a slot problem must fit in it")
        self.problem = RebalanceProblem(
            self.structure, self.data(data, placement), parametric=ACCOUNT_FIELDS
        )

    def first_set(self, data: ProblemData, new_names: int | None = None) -> np.ndarray:
        """An account's first working set: its holdings, the model names and, in the
        slots its holdings leave free, the model's next names (of those it may buy; as
        many names not held as a small account's ``new_names`` allows)."""
        keep = data.w0 > 0
        open_ = buyable(data) & ~keep
        free = max(self.held + self.new - int(keep.sum()), 0)
        fill = self.order[len(self.model) :]
        names = np.concatenate([self.model, fill[open_[fill]][:free]])
        names = names[open_[names]]
        keep[names[:new_names]] = True
        return keep | must_hold(data)

    def _extra(self, keep: np.ndarray, w0: np.ndarray) -> np.ndarray:
        """The names ``keep`` puts in free slots without holding them."""
        return keep & ~self.in_model & (w0 <= 0)

    def room(self, keep: np.ndarray, w0: np.ndarray) -> int:
        """Free slots left for more names of an account."""
        used = int(np.count_nonzero(w0 > 0)) + int(np.count_nonzero(self._extra(keep, w0)))
        return self.held + self.new - used

    def evictable(self, keep: np.ndarray, w0: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Names in free slots that hold no weight and are not held: a working set may
        let them go to make room (they are at their bound: the answer stays optimal
        for the smaller set)."""
        return np.flatnonzero(self._extra(keep, w0) & (weights <= IDLE))

    def place(
        self, keep: np.ndarray, data: ProblemData, lot_security: np.ndarray | None = None
    ) -> Placement | None:
        """Slots for the names ``keep`` of an account (held names in held slots, model
        names in their model slots, the rest in the held slots left and the new
        slots), or None when they do not fit (more holdings, lots per holding or names
        than there are slots). ``lot_security``: the universe position of each of a
        taxable account's lots; a holding's lots are spread over its lot slots (a lot
        in several slots is split evenly between them)."""
        held = np.flatnonzero(data.w0 > 0)
        extra = np.flatnonzero(self._extra(keep, data.w0))
        if len(held) > self.held or len(held) + len(extra) > self.held + self.new:
            return None
        names = np.full(len(self.model) + self.held + self.new, -1)
        # a model name this account holds sits in a held slot; one it may not buy (a
        # restriction, a lot too large for it) stays outside at weight 0
        model_on = keep[self.model] & (data.w0[self.model] <= 0) & buyable(data)[self.model]
        names[: len(self.model)] = np.where(model_on, self.model, -1)
        free = np.concatenate([held, extra])
        names[len(self.model) : len(self.model) + len(free)] = free
        lots = None
        if self.lots_per_slot:
            per = self.lots_per_slot
            lots = np.full(self.held * per, -1)
            order = np.argsort(lot_security, kind="stable")
            bounds = np.searchsorted(lot_security[order], held, side="left")
            ends = np.searchsorted(lot_security[order], held, side="right")
            for slot, (lo, hi) in enumerate(zip(bounds, ends, strict=True)):
                mine = order[lo:hi]
                if len(mine) > per or not len(mine):
                    return None
                lots[slot * per : (slot + 1) * per] = mine[np.arange(per) % len(mine)]
        return Placement(names, lots)

    def data(self, data: ProblemData, placement: Placement) -> ProblemData:
        """The account's whole-universe ``data`` in slots. A switched-off or empty slot is
        made a name nobody would buy (``OFF_ALPHA``, no holding, caps that do not bind)
        rather than one capped at zero: bounds that pin a variable leave an
        interior-point solver no interior, and it slows down or fails."""
        names, on = placement.names, placement.on
        idx = np.where(on, names, 0)
        values = {}
        for field in PER_NAME:
            column = np.asarray(getattr(data, field), float)[idx]
            values[field] = np.where(on, column, OFF_VALUES.get(field, 0.0))
        out = np.ones(len(data.w0), dtype=bool)
        out[names[on]] = False
        s = self.whole
        free = names[len(self.model) :]
        free_idx, free_on = np.where(free >= 0, free, 0), free >= 0
        lots = {}
        if self.lots_per_slot:
            slot_lots = placement.lots
            lot_on = slot_lots >= 0
            lot_idx = np.where(lot_on, slot_lots, 0)
            share = np.bincount(slot_lots[lot_on], minlength=len(data.lot_cap))[lot_idx]
            # a lot slot of an empty held slot holds nothing: selling from it would need
            # buying first, so an open cap costs nothing and pins nothing
            lots["lot_cap"] = np.where(lot_on, data.lot_cap[lot_idx] / np.maximum(share, 1), BIG)
            for field in ("lot_tax", "lot_gain"):
                lots[field] = np.where(lot_on, np.asarray(getattr(data, field))[lot_idx], 0.0)
        if data.active_caps is not None:  # a switched-off slot (w = ref = 0) keeps any cap
            values["active_caps"] = np.where(on, np.asarray(data.active_caps, float)[:, idx], 1.0)
        # a switched-off slot trades nothing: it takes the first name's coefficients, so
        # a row alike for every name stays so (a constant of the compiled problem)
        values.update(row_columns(data, idx))
        return dataclasses.replace(
            data,
            **values,
            **lots,
            **outside_offsets(s, data, out),
            free_loadings=s.loadings[free_idx] * free_on[:, None],
            free_specific_var=s.specific_var[free_idx] * free_on,
            free_tilt_groups=s.tilt_groups[:, free_idx] * free_on,
            free_sector_groups=s.sector_groups[:, free_idx] * free_on,
        )


def outside_offsets(structure: Structure, data: ProblemData, out: np.ndarray) -> dict:
    """What the names ``out`` (a mask), fixed at weight 0, add as constants: their active
    weight −ref in the factor exposures, the specific variance and the tilt exposures."""
    ref_out = np.where(out, data.ref, 0.0)  # (no copy of the loadings of the names out)
    s = structure
    k, n_groups = s.loadings.shape[1], s.tilt_groups.shape[0]
    return {
        "factor_offset": or_zeros(data.factor_offset, k) - s.loadings.T @ ref_out,
        "specific_offset": data.specific_offset + float(np.sum(s.specific_var * ref_out**2)),
        "tilt_offset": or_zeros(data.tilt_offset, n_groups) - s.tilt_groups @ ref_out,
    }


NO_CAP = 1e-12  # a cap at or below this is a cap of zero


def must_hold(data: ProblemData) -> np.ndarray:
    """Names a cap on active weights (``ProblemData.active_caps``) makes the account
    hold: their reference weight is above the cap. A working set must have them: a
    name left out weighs 0, and the cap is not asked of it."""
    if data.active_caps is None:
        return np.zeros(len(data.w0), dtype=bool)
    return (np.asarray(data.ref, float) > np.asarray(data.active_caps, float)).any(axis=0)


def buyable(data: ProblemData) -> np.ndarray:
    """Names a first buy of which no per-name rule forbids (restrictions, screens, a
    forced exit, no liquidity, a lot too large for the account)."""
    return (data.buy_cap > NO_CAP) & (data.position_cap > NO_CAP) & (data.liquidity_cap > NO_CAP)


def lot_security(structure: Structure) -> np.ndarray | None:
    """The universe position of each lot of a whole-universe structure (None: no lots)."""
    members = structure.lot_members
    if members is None:
        return None
    return np.asarray(members.tocsc().indices, int)  # one security per lot column


def restrict(
    structure: Structure, data: ProblemData, keep: np.ndarray
) -> tuple[Structure, ProblemData]:
    """The problem over the names ``keep`` (a mask), the others fixed at weight 0
    (module docstring). Every held name must be kept."""
    keep = np.asarray(keep, bool)
    out = ~keep
    if np.any(data.w0[out] > 0):
        raise ValueError("a held name cannot be left out of the working set")
    offsets = outside_offsets(structure, data, out)
    loadings, chol = structure.loadings[keep], structure.factor_chol
    n, k = int(keep.sum()), loadings.shape[1]
    if k > n:  # more factors than names: the exact compressed form (module docstring)
        q, r = np.linalg.qr(chol.T @ loadings.T)  # K×n, n×n
        c = chol.T @ offsets["factor_offset"]
        inside = q.T @ c
        offsets["specific_offset"] += float(max(c @ c - inside @ inside, 0.0))
        loadings, chol, offsets["factor_offset"] = r.T, np.eye(n), inside
    members = structure.lot_members
    sliced = dataclasses.replace(
        structure,
        tickers=tuple(np.asarray(structure.tickers, dtype=object)[keep]),
        loadings=loadings,
        factor_chol=chol,
        specific_var=structure.specific_var[keep],
        tilt_groups=structure.tilt_groups[:, keep],
        sector_groups=structure.sector_groups[:, keep],
        lot_members=None if members is None else members[keep],
    )
    values = {name: getattr(data, name)[keep] for name in PER_NAME}
    if data.active_caps is not None:
        values["active_caps"] = np.asarray(data.active_caps, float)[:, keep]
    values.update(row_columns(data, keep))
    return sliced, dataclasses.replace(data, **values, **offsets)


ROW_COEFFICIENTS = ("row_buy", "row_sell", "row_weight")


def row_columns(data: ProblemData, columns: np.ndarray) -> dict:
    """The linear rows' per-name coefficients (``ProblemData.row_*``) at ``columns``
    (a mask or positions of the universe's names); none without rows."""
    if data.row_rhs is None:
        return {}
    return {f: np.asarray(getattr(data, f), float)[:, columns] for f in ROW_COEFFICIENTS}
