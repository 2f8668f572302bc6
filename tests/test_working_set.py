"""The working set: an account's problem is solved over a few names and the others are
priced in until none would improve the answer, so the answer is the optimum of the
problem over the whole universe.

The reference is the same model solved over every name at once (no working set, no
pricing), and objectives are evaluated here, with numpy, from the whole-universe
arrays: αᵀw − λ·aᵀΣa − κ‖G a − t‖² − sᵀ|Δw| − mᵀ|Δw|^{3/2}.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rebalancer.errors import InfeasibleError
from rebalancer.optimize.layout import restrict, row_columns
from rebalancer.optimize.problem import RebalanceProblem, Structure
from rebalancer.optimize.working_set import WorkingSet, eligible, outside_columns
from rebalancer.prepare.build import prepare
from rebalancer.scenario import load_scenario
from rebalancer.scenario.schema import build
from tests.conftest import SCENARIOS

AS_OF = "2026-11-20"


def objective(w: np.ndarray, s: Structure, d) -> float:
    """The whole-universe objective at universe weights ``w``, recomputed from arrays."""
    a = w - d.ref
    factor = s.factor_chol.T @ (s.loadings.T @ a)
    variance = factor @ factor + np.sum(s.specific_var * a * a)
    miss = s.tilt_groups @ a - d.tilt_target
    z = np.abs(w - d.w0)
    return float(
        d.alpha @ w
        - d.risk_aversion * variance
        - d.tilt_strength * miss @ miss
        - d.spread @ z
        - d.impact @ z**1.5
    )


def whole_universe(s: Structure, d) -> np.ndarray:
    return RebalanceProblem(s, d, parametric=False).solve(d).weights


def solve_through(s: Structure, d, keep: np.ndarray) -> tuple[WorkingSet, np.ndarray]:
    """The working set's answer from the first set ``keep``, as universe weights."""
    ws = WorkingSet(s, keep)
    return ws, ws.solve(d, price=True).weights


def held_plus_best(request, extra: int) -> np.ndarray:
    """A deliberately poor first working set: the held names and a few best alphas."""
    keep = request.position.weight > 0
    buyable = np.flatnonzero(request.limits.may_buy & ~keep)
    keep[buyable[np.argsort(-request.returns.alpha[buyable])[:extra]]] = True
    return keep


def scenario_with(base: str, **changes) -> object:
    data = load_scenario(SCENARIOS / base).to_data()
    for key, value in changes.items():
        node = data
        *path, last = key.split("__")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return build(data, None)


@pytest.mark.parametrize(
    ("scenario", "account"),
    [
        ("smallcap_rerating.yaml", "FDN-20M"),
        ("balanced_rerating.yaml", "IRA-250K"),
        ("em_smallcap.yaml", "TAX-2M"),
    ],
)
def test_working_set_answer_is_the_optimum_over_the_whole_universe(
    example_inputs, scenario, account
):
    request = prepare(example_inputs, load_scenario(SCENARIOS / scenario), account, AS_OF)
    s, d = request.problem.structure, request.problem.data
    ws, w = solve_through(s, d, held_plus_best(request, 20))
    assert ws.unproven == 0
    assert ws.added > 0, "the poor first set must have been improved by pricing"
    assert ws.keep.sum() < len(ws.keep) / 3, "a working set, not the universe"
    best = objective(whole_universe(s, d), s, d)
    mine = objective(w, s, d)
    assert mine == pytest.approx(best, rel=1e-6, abs=1e-9)


def test_without_pricing_the_first_working_set_falls_short(example_inputs):
    """What pricing buys: the poor first set alone is measurably worse."""
    request = prepare(
        example_inputs, load_scenario(SCENARIOS / "smallcap_rerating.yaml"), "FDN-20M", AS_OF
    )
    s, d = request.problem.structure, request.problem.data
    keep = held_plus_best(request, 40)
    ss, dd = restrict(s, d, keep)
    alone = np.zeros(len(keep))
    alone[keep] = RebalanceProblem(ss, dd, parametric=False).solve(dd).weights
    best = objective(whole_universe(s, d), s, d)
    assert objective(alone, s, d) < best - 1e-4 * abs(best)


def test_names_inside_price_zero_and_names_outside_price_negative_at_the_optimum(
    example_inputs,
):
    """The multipliers' signs, checked by the KKT conditions of the whole problem: with
    no impact cost, a name held strictly between 0 and its caps that was not held
    before has a zero gain, and a name left at 0 a gain ≤ 0. Turnover, the tilt bands
    and a sector cap bind here (no pull toward the tilt targets: the bands do the
    work), so their multipliers are in the sums."""
    scenario = scenario_with(
        "smallcap_rerating.yaml", constraints__sector_max=0.18, tilt_strength=0.0
    )
    request = prepare(example_inputs, scenario, "FDN-20M", AS_OF)
    s = request.problem.structure
    d = dataclasses.replace(request.problem.data, impact=np.zeros(len(request.position.price_usd)))
    problem = RebalanceProblem(s, d, parametric=False)
    solution = problem.solve(d)
    assert any(b.startswith("sector_max") for b in solution.binding)
    assert "max_turnover" in solution.binding
    assert any(b.startswith("tilt ") for b in solution.binding)
    w = solution.weights
    names = np.flatnonzero(eligible(d))
    gains = problem.marginal_gains(outside_columns(s, d, w, names))
    inside = (
        (w[names] > 1e-5)
        & (w[names] < d.position_cap[names] - 1e-5)
        & (w[names] < d.liquidity_cap[names] - 1e-5)
    )
    at_zero = w[names] < 1e-8
    assert inside.sum() >= 10 and at_zero.sum() >= 100
    assert np.abs(gains[inside]).max() < 1e-5
    assert gains[at_zero].max() < 1e-6


def test_a_working_set_that_cannot_meet_a_tilt_prices_in_the_names_that_can(example_inputs):
    """Phase one: the held names alone (no emerging-market small cap among them) cannot
    reach a tilt to EM small caps; the elastic form prices such names in and the answer
    meets the band."""
    scenario = scenario_with(
        "base.yaml", tilts={"region:EM & size:small": {"target": 0.01, "band": 0.003}}
    )
    request = prepare(example_inputs, scenario, "FDN-20M", AS_OF)
    s, d = request.problem.structure, request.problem.data
    held = request.position.weight > 0
    ss, dd = restrict(s, d, held)
    with pytest.raises(InfeasibleError):
        RebalanceProblem(ss, dd, parametric=False).solve(dd)
    _, w = solve_through(s, d, held)
    exposure = float(s.tilt_groups[0] @ (w - d.ref))
    assert d.tilt_lo[0] - 1e-7 <= exposure <= d.tilt_hi[0] + 1e-7
    best = objective(whole_universe(s, d), s, d)
    assert objective(w, s, d) == pytest.approx(best, rel=1e-6)


def test_a_request_infeasible_over_the_universe_stays_infeasible(example_inputs):
    scenario = scenario_with(
        "base.yaml",
        tilts={"region:EM & size:small": {"target": 0.01, "band": 0.003}},
        constraints__max_turnover=0.004,
    )
    request = prepare(example_inputs, scenario, "FDN-20M", AS_OF)
    with pytest.raises(InfeasibleError) as caught:
        solve_through(request.problem.structure, request.problem.data, request.position.weight > 0)
    assert any("max_turnover" in c.constraint for c in caught.value.conflicts)


def test_more_factors_than_names_are_compressed_without_changing_the_problem(example_inputs):
    """A Ledoit-Wolf Σ in factor form has a factor per day: restricted to a working set
    of fewer names it is written with one row per name (thin QR) and the constants
    the names outside leave behind. Same optimum as the uncompressed form."""
    request = prepare(
        example_inputs, load_scenario(SCENARIOS / "smallcap_rerating.yaml"), "FDN-20M", AS_OF
    )
    s, d = request.problem.structure, request.problem.data
    rng = np.random.default_rng(3)
    n = len(request.position.price_usd)
    days = 400
    loadings = rng.normal(0.0, 0.012, (n, days)) * np.sqrt(252 / days)
    s = dataclasses.replace(
        s, loadings=loadings, factor_chol=np.eye(days), specific_var=np.full(n, 0.01)
    )
    keep = held_plus_best(request, 120)
    assert keep.sum() < days
    compressed, dc = restrict(s, d, keep)
    assert compressed.loadings.shape == (keep.sum(), keep.sum())
    w = np.zeros(n)
    w[keep] = RebalanceProblem(compressed, dc, parametric=False).solve(dc).weights
    plain = dataclasses.replace(
        s,
        tickers=tuple(np.asarray(s.tickers, dtype=object)[keep]),
        specific_var=s.specific_var[keep],
        tilt_groups=s.tilt_groups[:, keep],
        sector_groups=s.sector_groups[:, keep],
        loadings=s.loadings[keep],
    )
    wp = np.zeros(n)
    wp[keep] = (
        RebalanceProblem(plain, dc_uncompressed(s, d, keep), parametric=False).solve().weights
    )
    assert objective(w, s, d) == pytest.approx(objective(wp, s, d), rel=1e-7)
    assert np.abs(w - wp).max() < 1e-5


def dc_uncompressed(s: Structure, d, keep: np.ndarray):
    """The restricted data without compression: offsets of the names outside by hand."""
    out = ~keep
    ref_out = d.ref[out]
    fields = ("alpha", "w0", "ref", "spread", "impact", "liquidity_cap", "buy_cap", "sell_cap",
              "position_cap")  # fmt: skip
    return dataclasses.replace(
        d,
        **{f: getattr(d, f)[keep] for f in fields},
        factor_offset=-(s.loadings[out].T @ ref_out),
        specific_offset=float(np.sum(s.specific_var[out] * ref_out**2)),
        tilt_offset=-(s.tilt_groups[:, out] @ ref_out),
        **row_columns(d, keep),  # the limits' rows (the turnover cap), sliced like w0
    )
