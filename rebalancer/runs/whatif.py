"""What-if analysis: several scenarios and parameter sweeps on one account.

Each run is a full proposal (rounded orders, lots, checks). Runs that share a
problem structure share one compiled cvxpy problem: only the numbers that differ
between them are Parameters, so every run after the first re-solves without
recompiling. A run whose limits conflict is kept in the comparison, marked
infeasible, with the conflict named. With ``relax`` such a run is relaxed as
``propose --relax`` relaxes a proposal (``pipeline.relaxing``: the smallest relaxation
of its scenario, on a problem of its own) and the comparison's ``relaxed`` column says
what was moved, per run ("KEY OLD -> NEW, ..."; empty for a run not relaxed).

The runs are every scenario × every point of the ``--vary`` grid (``runs.vary``).
``--shock "name=relapse,size:small=-0.275,size:mid=-0.2"`` adds a
stress test to every run.

Each run's expected return is its own scenario's belief, so two runs' figures differ
by belief as well as by trades. Every run is therefore also measured under one common
belief, the base run's (the first run's) expected total return per name
(``CommonBelief``): ``expected_return_common`` and ``active_return_common``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rebalancer.errors import InfeasibleError
from rebalancer.export import check_outputs, protected_files, write_comparison_outputs
from rebalancer.limits.cash_request import request_cells, request_of
from rebalancer.limits.relax import Relaxation
from rebalancer.model.stress import parse_shock
from rebalancer.optimize.problem import ProblemData
from rebalancer.pipeline import propose_request, relaxing
from rebalancer.prepare.blas import one_blas_thread
from rebalancer.prepare.build import prepare
from rebalancer.prepare.inputs import Inputs, load_inputs
from rebalancer.prepare.request import Request
from rebalancer.prepare.terms import account_terms
from rebalancer.report.build import expected_total_returns
from rebalancer.report.proposal import Proposal, Timings
from rebalancer.runs.vary import scenario_runs
from rebalancer.scenario.schema import Scenario
from rebalancer.solve.driver import SharedSet


@dataclass(frozen=True)
class Run:
    label: str
    scenario: Scenario
    overrides: dict[str, Any]
    proposal: Proposal | None = None
    conflict: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "infeasible" if self.proposal is None else self.proposal.status


@dataclass(frozen=True)
class CommonBelief:
    """The base run's beliefs every run is also measured under: a name's expected total
    return a year, r_f + prior + α (as ``report.build.figures``), and r_f for cash.

    Under it, weights w (by ticker) with cash weight c expect w · μ + c · r_f; a run's
    active return is that of its weights after trading less that of its reference
    (cash weight 1 − Σ ref)."""

    run: str | None  # the base run's label; None: the scenario of --common-belief
    scenario: str  # its scenario's name
    risk_free_rate: float
    expected: pd.Series  # per ticker

    @classmethod
    def of(cls, run: str | None, request: Request) -> CommonBelief:
        mu = expected_total_returns(request)
        rf = request.scenario.risk_free_rate
        return cls(run, request.scenario.name, rf, pd.Series(mu, index=request.universe.index))

    def expected_return(self, weights: pd.Series, cash: float) -> float:
        mu = self.expected.reindex(weights.index)
        return float((weights * mu).sum() + cash * self.risk_free_rate)

    def figures(self, proposal: Proposal, reference: pd.Series) -> dict[str, float]:
        """``expected_return_common`` and ``active_return_common`` of a run: its
        weights after trading (the Holdings frame) and its reference under this belief."""
        h = proposal.holdings
        is_cash = h["ticker"] == "CASH"
        w = pd.Series(h.loc[~is_cash, "weight_after"].to_numpy(float), h.loc[~is_cash, "ticker"])
        after = self.expected_return(w, float(h.loc[is_cash, "weight_after"].sum()))
        ref = reference[reference != 0]
        return {
            "expected_return_common": after,
            "active_return_common": after - self.expected_return(ref, 1.0 - float(ref.sum())),
        }

    def describe(self) -> str:
        """Which belief the common figures use, in words."""
        if self.run is None:
            return f"every run under scenario {self.scenario}'s expected returns (--common-belief)"
        return f"every run under run {self.run}'s expected returns (scenario {self.scenario})"

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "scenario": self.scenario,
            "risk_free_rate": self.risk_free_rate,
            "expected_returns": {str(k): float(v) for k, v in self.expected.items()},
        }


@dataclass(frozen=True)
class Comparison:
    account: str
    runs: list[Run]
    table: pd.DataFrame  # one row per run
    timings: Timings = field(default_factory=Timings)  # prepare_s (every run's), total_s
    belief: CommonBelief | None = None  # the common belief; None: no run was prepared


def _varying_fields(datas: list[ProblemData]) -> frozenset[str]:
    first = datas[0]
    names = []
    for f in dataclasses.fields(ProblemData):
        a = np.asarray(getattr(first, f.name), dtype=float)
        if any(
            # unset fields read as NaN: equal, not varying
            not np.array_equal(a, np.asarray(getattr(d, f.name), dtype=float), equal_nan=True)
            for d in datas[1:]
        ):
            names.append(f.name)
    return frozenset(names)


CASH_TARGET = "constraints.cash.target"  # a run that varies it keeps its own

# names a what-if's shared working set takes beyond the first run's, best entry gain
# first: room for the other runs' pricing, so they rarely need a new compilation
SHARED_BUFFER = 60


def _shared_set(requests: list[Request]) -> SharedSet | None:
    """The working set and compiled problem runs of one structure take turns with: the
    numbers that differ between them are Parameters, so each run re-solves it; it
    starts as the first run's working set and the best of the rest, and grows where a
    run's pricing adds names. None for a single run."""
    if len(requests) < 2:
        return None
    first = requests[0]
    keep = first.problem.first_set()
    rest = np.flatnonzero(~keep & first.limits.may_buy)
    keep[rest[np.argsort(-first.problem.entry_gain[rest], kind="stable")[:SHARED_BUFFER]]] = True
    return SharedSet(_varying_fields([r.problem.data for r in requests]), keep)


def run_whatif(
    data: Inputs,
    scenarios: list[str | Path | Scenario],
    *,
    account: str | None = None,
    vary: list[str] = (),
    shocks: list[str] = (),
    as_of=None,
    taxable: bool | None = None,
    lot_method: str | None = None,
    on_run: Callable[[Run], None] | None = None,
    relax: bool = False,
    common_belief: str | Path | Scenario | None = None,
) -> Comparison:
    """Every scenario × vary point as a full proposal; see the module docstring.
    ``common_belief``: the scenario whose expected returns every run is also measured
    under (``--common-belief``); None: the first run's.
    The account's row of the accounts file applies to every run as it does to a
    proposal (``request.account_terms``; ``taxable`` and ``lot_method`` override it),
    its cash target where a run does not vary the cash target itself. ``relax``: an
    infeasible run is relaxed as ``propose --relax`` relaxes (the module docstring)."""
    with one_blas_thread():
        return _run_whatif(
            data, scenarios, account, vary, shocks, as_of, taxable, lot_method, on_run, relax,
            common_belief,
        )  # fmt: skip


def _run_whatif(
    data, scenarios, account, vary, shocks, as_of, taxable, lot_method, on_run, relax=False,
    common_belief=None,
):  # fmt: skip
    t0 = time.perf_counter()
    extra = [parse_shock(s) for s in shocks]
    terms = account_terms(data, account, taxable=taxable, lot_method=lot_method)
    plans = [
        (label, terms.scenario(scenario, with_target=CASH_TARGET not in overrides), overrides)
        for label, scenario, overrides in scenario_runs(list(scenarios), list(vary), extra)
    ]
    requests: list[Request | InfeasibleError] = []
    for _label, scenario, _ in plans:
        try:  # a scenario the universe cannot meet (a tilt on an empty group) is one run
            requests.append(
                prepare(
                    data,
                    scenario,
                    terms.account,
                    as_of,
                    taxable=terms.taxable,
                    lot_method=terms.lot_method,
                )
            )
        except InfeasibleError as exc:
            requests.append(exc)
    # one compiled problem per structure; only the numbers that differ are Parameters
    groups: dict[tuple, list[Request]] = {}
    for r in requests:
        if isinstance(r, Request):
            groups.setdefault(r.structure_key(), []).append(r)
    shared = {key: _shared_set(members) for key, members in groups.items()}
    t_prepare = time.perf_counter() - t0
    runs = []
    references: dict[str, pd.Series] = {}  # each run's reference weights, by label
    for (label, scenario, overrides), request in zip(plans, requests, strict=True):
        t1 = time.perf_counter()

        def attempt(tried: Scenario, planned=scenario, request=request, label=label) -> Proposal:
            if tried is not planned:  # relaxed: prepared again, on a problem of its own
                again = prepare(
                    data, tried, terms.account, as_of, taxable=terms.taxable,
                    lot_method=terms.lot_method,
                )  # fmt: skip
                references[label] = _reference(again)
                return propose_request(again)
            if isinstance(request, InfeasibleError):
                raise request
            references[label] = _reference(request)
            # the run as planned: its structure's shared problem
            return propose_request(request, shared=shared[request.structure_key()])

        try:
            if relax:
                proposal, scenario = relaxing(scenario, attempt, data.sized, relax=True)
            else:
                proposal = attempt(scenario)
        except InfeasibleError as exc:
            run = Run(label, scenario, overrides, None, str(exc), time.perf_counter() - t1)
        else:
            run = Run(label, scenario, overrides, proposal, None, time.perf_counter() - t1)
        runs.append(run)
        if on_run is not None:
            on_run(run)
    account_name = requests[0].account  # an InfeasibleError names its account too
    # the base run's beliefs as planned (a relaxation moves limits, not beliefs); a
    # base run its universe could not meet leaves the first run that was prepared
    base = next(
        ((p[0], r) for p, r in zip(plans, requests, strict=True) if isinstance(r, Request)), None
    )
    belief = None if base is None else CommonBelief.of(*base)
    if common_belief is not None:  # a scenario of the advisor's: its beliefs, no run
        ((_, believed, _),) = scenario_runs([common_belief], [], extra)
        belief = CommonBelief.of(
            None,
            prepare(
                data, terms.scenario(believed), terms.account, as_of, taxable=terms.taxable,
                lot_method=terms.lot_method,
            ),
        )  # fmt: skip
    timings = Timings(prepare_s=t_prepare, total_s=time.perf_counter() - t0)
    table = comparison_table(runs, relax=relax, belief=belief, references=references)
    return Comparison(account_name, runs, table, timings, belief)


def _reference(request: Request) -> pd.Series:
    return pd.Series(request.reference_weight, index=request.universe.index)


def whatif(
    holdings,
    universe,
    scenarios,
    *,
    prices=None,
    benchmark=None,
    account: str | None = None,
    vary: list[str] = (),
    shocks: list[str] = (),
    as_of=None,
    accounts=None,
    trade_history=None,
    taxable: bool | None = None,
    lot_method: str | None = None,
    relax: bool = False,
) -> pd.DataFrame:
    """The comparison table (one row per run) — the Python API of ``rebalancer whatif``.
    ``accounts``, ``trade_history``, ``taxable``, ``lot_method`` and ``relax`` as for
    ``propose`` (``relax``: per run, with a ``relaxed`` column)."""
    data = load_inputs(holdings, universe, prices, benchmark, accounts, trade_history)
    return run_whatif(
        data,
        scenarios,
        account=account,
        vary=vary,
        shocks=shocks,
        as_of=as_of,
        taxable=taxable,
        lot_method=lot_method,
        relax=relax,
    ).table


def whatif_to_files(
    holdings,
    universe,
    scenarios: list[str | Path],
    *,
    prices=None,
    benchmark=None,
    accounts=None,
    trade_history=None,
    out=None,
    chart=None,
    json_path=None,
    on_start: Callable[[int], None] | None = None,
    cache: bool = False,
    **options: Any,
) -> tuple[Comparison, list[Path]]:
    """``rebalancer whatif``: refuse, before any work, an output (``out`` workbook,
    ``chart``, ``json_path``) that is an input or a scenario file of the run; read the
    inputs; run every scenario × vary point (``run_whatif`` with ``options``: account,
    vary, shocks, as_of, taxable, lot_method, on_run, relax, common_belief; ``on_start`` is
    given the number
    of runs first); write the outputs asked for together, whole or not at all. Returns
    the comparison and the paths written. ``cache``: the market files and the risk
    model through the on-disk cache (``prepare.cache``)."""
    inputs = {"holdings": holdings, "universe": universe, "prices": prices,
              "benchmark": benchmark, "accounts": accounts, "trade_history": trade_history}  # fmt: skip
    believed = [options["common_belief"]] if options.get("common_belief") else []
    check_outputs({"--out": out, "--chart": chart, "--json": json_path},
                  protected_files(inputs, [*scenarios, *believed]))  # fmt: skip
    data = load_inputs(holdings, universe, prices, benchmark, accounts, trade_history, cache=cache)
    if on_start:
        on_start(len(scenario_runs(list(scenarios), list(options.get("vary", ())))))
    comparison = run_whatif(data, list(scenarios), **options)
    written = write_comparison_outputs(
        comparison, out=out, chart=chart, json_path=json_path, protected=data.paths,
        scenarios=list(scenarios),
    )  # fmt: skip
    return comparison, written


def comparison_table(
    runs: list[Run],
    *,
    relax: bool = False,
    belief: CommonBelief | None = None,
    references: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """One row per run: headline figures, tilted-group exposures, stress P&L; with
    ``relax`` (``whatif --relax``) what each run's relaxation moved; with ``belief``
    each run's expected and active return also under it (``references``: each run's
    reference weights by label)."""
    groups = list(dict.fromkeys(t for r in runs for t in r.scenario.tilts))
    # the cash request and mode of each run (as traded where it was proposed), when
    # any run has one (``--accounts``' row, the scenario, a varied key)
    requests = [request_of(r.scenario) if r.proposal is None else r.proposal.cash_request
                for r in runs]  # fmt: skip
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run": run.label,
            "scenario": run.scenario.name,
            "status": run.status,
            "conflict": run.conflict or "",
        }
        if relax:
            moved = [] if run.proposal is None else run.proposal.relaxed
            row["relaxed"] = ", ".join(Relaxation(**change).describe() for change in moved)
        if any(requests):
            row.update(request_cells(requests[len(rows)]))
        row.update({k: v for k, v in run.overrides.items()})
        p = run.proposal
        if p is not None:
            m = p.metrics
            row.update(
                {
                    "expected_return": m.expected_return,
                    "active_return": m.active_return,
                    **(
                        belief.figures(p, references[run.label])
                        if belief is not None and references and run.label in references
                        else {}
                    ),
                    "volatility": m.volatility,
                    "tracking_error": m.tracking_error,
                    "turnover": m.turnover,
                    "est_cost_usd": m.est_cost_usd,
                    "n_trades": m.n_trades,
                    "cash_after_usd": m.cash_after_usd,
                    "checks_failed": int((~p.checks["ok"]).sum()),
                }
            )
            if m.taxable:  # what the runs cost in tax (--accounts, --taxable)
                row.update(
                    {
                        "realized_gain_usd": m.realized_gain_usd,
                        "estimated_tax_usd": m.estimated_tax_usd,
                    }
                )
            for g in groups:
                if g in p.exposures.index:
                    row[f"before {g}"] = p.exposures.at[g, "before"]
                    row[f"after {g}"] = p.exposures.at[g, "after"]
            if p.stress is not None:
                for s in p.stress.itertuples():
                    row[f"stress {s.shock} before"] = s.pnl_before_usd
                    row[f"stress {s.shock} after"] = s.pnl_after_usd
                    row[f"stress {s.shock} before %"] = s.pct_before
                    row[f"stress {s.shock} after %"] = s.pct_after
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")
