"""``validate``: every problem in the given inputs and scenarios, without writing anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rebalancer import inputs as rd
from rebalancer.errors import RebalancerError, ScenarioError, ScenarioWarning
from rebalancer.inputs.tables import PROBLEMS_PER_FILE, Problems
from rebalancer.request import holdings_position, reference_weights
from rebalancer.scenario import scenario_problems
from rebalancer.universe import scenario_fit, tilt_reach, with_size

ROLES = ("universe", "benchmark", "holdings")  # what the scenario checks measure against


def validate(
    *,
    scenarios: list[Path],
    holdings: Path | None = None,
    universe: Path | None = None,
    prices: Path | None = None,
    benchmark: Path | None = None,
    accounts: Path | None = None,
    trade_history: Path | None = None,
) -> list[RebalancerError]:
    """All problems found (empty when everything is usable).

    Each input file is read and validated, every problem of it at once (the first
    ``PROBLEMS_PER_FILE``, then how many more), each naming the file, the row and the
    column; holdings and benchmark are checked against the universe (when it has no
    problem of its own); each scenario is checked on its own (schema, extends,
    selectors, screens) and, with a sound universe, against it: tilts that no portfolio
    can reach within the position caps, measured as ``propose`` measures them (against
    the benchmark when one is given, else against each account's current holdings, the
    line naming the account; ``_references``), or on a group with no security. Settings the universe leaves without effect
    (``universe.scenario_fit``: a group with no security, a column without values)
    are ``ScenarioWarning``s: reported, not problems.
    """
    files = {
        "universe": (universe, rd.read_universe),
        "holdings": (holdings, rd.read_holdings),
        "prices": (prices, rd.read_prices),
        "benchmark": (benchmark, rd.read_benchmark),
        "accounts": (accounts, rd.read_accounts),
        "trade_history": (trade_history, rd.read_trade_history),
    }
    frames = {}
    found: dict[str, Problems] = {}
    for role, (path, reader) in files.items():
        if path is not None:
            found[role] = Problems(PROBLEMS_PER_FILE)
            frames[role] = found[role].check(reader, path)
    # the tickers of a universe with bad cells still say what is in it
    if frames.get("universe") is not None:
        for role, check in (
            ("holdings", rd.check_holdings_in_universe),
            ("benchmark", rd.check_benchmark_in_universe),
        ):
            if frames.get(role) is not None:
                found[role].check(check, frames[role], frames["universe"], files[role][0])
    problems: list[RebalancerError] = [
        error for role, each in found.items() for error in each.listed(files[role][0])
    ]
    # the scenario checks measure groups and weights: only on files without a problem
    uni, bench, held = (frames.get(r) if r in found and not found[r].count else None for r in ROLES)
    for path in scenarios:
        scenario, errors = scenario_problems(path)
        problems.extend(errors)
        if scenario is None or uni is None:
            continue
        sized = with_size(uni, scenario)
        for misfit in scenario_fit(sized, scenario):
            kind = ScenarioWarning if misfit.harmless else ScenarioError
            problems.append(kind(path, misfit.message, key=misfit.key))
        for account, reference in _references(sized, bench, held):
            for key, message in tilt_reach(sized, scenario, reference):
                where = f"account {account}: " if account is not None else ""
                problems.append(ScenarioError(path, where + message, key=key))
    return problems


def _references(universe, benchmark, holdings) -> list[tuple[str | None, np.ndarray | None]]:
    """(account, reference weights) that tilts are measured against, as ``propose``
    measures them (``request.reference_weights``): the benchmark when given (one for
    every account), else each account's current weights in the holdings file, else
    unknown (None: only what holds for every reference is checked)."""
    if benchmark is not None:
        weights = benchmark.reindex(universe.index, fill_value=0.0).to_numpy(float)
        return [(None, reference_weights(weights, None)[0])]
    if holdings is None:
        return [(None, None)]
    price = universe["price"].to_numpy(float)
    found = []
    for account, lots in holdings.groupby("account", sort=False):
        shares, _, nav = holdings_position(lots, universe)
        if nav > 0:  # an account worth nothing: propose refuses it, naming the account
            found.append((str(account), reference_weights(None, shares * price / nav)[0]))
    return found
