"""``validate``: every problem in the given inputs and scenarios, without writing anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rebalancer import inputs as rd
from rebalancer.errors import InputError, RebalancerError, ScenarioError, ScenarioWarning
from rebalancer.inputs.households import household_warnings
from rebalancer.inputs.problems import PROBLEMS_PER_FILE, Problems
from rebalancer.model.universe import scenario_fit, tilt_reach, with_size
from rebalancer.prepare.position import holdings_position, reference_weights
from rebalancer.prepare.terms import exclude_selectors
from rebalancer.runs.book.plan import no_scenario
from rebalancer.scenario import scenario_problems
from rebalancer.scenario.loader import named_in_accounts

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
    can reach within the position caps, measured as ``propose`` and ``batch`` measure
    them (``_references``: against an account's own benchmark from the accounts file,
    the line naming the account; for the others against the benchmark when one is
    given, else against each account's current holdings, the line naming the account),
    or on a group with no security. Without ``scenarios``, the scenarios the accounts
    file names are checked, each against the references of the accounts that name it.
    Paths in the accounts file resolve as ``batch`` resolves them
    (``loader.named_in_accounts``); one out of its folder is a problem naming the
    accounts file, the row and the column. Settings the universe leaves without effect
    (``universe.scenario_fit``: a group with no security, a column without values)
    are ``ScenarioWarning``s: reported, not problems. So is a household whose accounts
    name different scenarios or benchmarks (``inputs.households``: an ``InputWarning``
    until households are solved as one problem).
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
    if frames.get("accounts") is not None and not found["accounts"].count:
        problems.extend(household_warnings(frames["accounts"], accounts))
        for text, at in zip(frames["accounts"]["exclude"], frames["accounts"]["row"], strict=True):
            try:  # as ``propose`` reads them (``prepare.terms``)
                exclude_selectors(str(text or ""), accounts, int(at))
            except InputError as exc:
                problems.append(exc)
    # the scenario checks measure groups and weights: only on files without a problem
    uni, bench, held = (frames.get(r) if r in found and not found[r].count else None for r in ROLES)
    named = _Named(accounts, frames.get("accounts"), frames.get("universe"), problems)
    users: dict[Path, frozenset[str] | None] = dict.fromkeys(scenarios)
    if not scenarios:  # --accounts alone: the scenarios its rows name, as batch runs them
        users = {Path(path): frozenset(names) for path, names in named.scenarios.items()}
        if named.scenarios:  # a book: batch refuses its rows that name none
            problems.extend(no_scenario(accounts, row, account) for row, account in named.unnamed)
    for path, who in users.items():
        scenario, errors = scenario_problems(path)
        problems.extend(errors)
        if scenario is None or uni is None:
            continue
        sized = with_size(uni, scenario)
        for misfit in scenario_fit(sized, scenario):
            kind = ScenarioWarning if misfit.harmless else ScenarioError
            problems.append(kind(path, misfit.message, key=misfit.key))
        for ref in _references(sized, bench, held, named):
            if who is not None and ref.accounts is not None and not ref.accounts & who:
                continue  # no account of this scenario is measured against it
            for key, message in tilt_reach(sized, scenario, ref.weights):
                where = f"account {ref.account}: " if ref.account is not None else ""
                problems.append(ScenarioError(path, where + message, key=key))
    return problems


class _Named:
    """What an accounts file's rows name, resolved as ``batch`` resolves them
    (``loader.named_in_accounts``): ``benchmarks``, account -> its own benchmark
    (read and checked against the universe like ``--benchmark``, its problems added to
    ``problems``; None when it has one: nothing is measured against it),
    ``scenarios``, path -> the accounts that name it, and ``listed``, every account of
    the file (None without one)."""

    def __init__(self, path: Path | None, table, universe, problems: list[RebalancerError]):
        self.benchmarks: dict[str, pd.Series | None] = {}
        self.scenarios: dict[str, list[str]] = {}
        self.listed: set[str] | None = None
        self.unnamed: list[tuple[int, str]] = []  # (row, account) of rows without a scenario
        if path is None or table is None:
            return
        self.listed = {str(a) for a in table["account"]}
        base = Path(path).resolve().parent
        read: dict[str, pd.Series | None] = {}
        for row in table.itertuples():
            account = str(row.account)
            if not row.scenario:
                self.unnamed.append((row.row, account))
            for column in ("scenario", "benchmark"):
                name = getattr(row, column)
                if not name:
                    continue
                try:
                    found = named_in_accounts(base, name, str(path), row.row, column)
                except InputError as exc:
                    problems.append(exc)
                    continue
                if column == "scenario":
                    self.scenarios.setdefault(found, []).append(account)
                    continue
                if found not in read:
                    read[found] = _benchmark(Path(found), universe, problems)
                self.benchmarks[account] = read[found]


def _benchmark(path: Path, universe, problems: list[RebalancerError]) -> pd.Series | None:
    """A benchmark an accounts file names, read and checked as ``--benchmark`` is."""
    each = Problems(PROBLEMS_PER_FILE)
    bench = each.check(rd.read_benchmark, path)
    if bench is not None and universe is not None:
        each.check(rd.check_benchmark_in_universe, bench, universe, path)
    problems.extend(each.listed(path))
    return None if each.count else bench


@dataclass(frozen=True)
class _Reference:
    account: str | None  # named on the line; None: stands for several
    weights: np.ndarray | None  # None: unknown, only what holds for every reference
    accounts: frozenset[str] | None  # measured against it; None: any account


def _references(universe, benchmark, holdings, named: _Named) -> list[_Reference]:
    """The references tilts are measured against, as ``propose`` and ``batch`` measure
    them (``position.reference_weights``): an account's own benchmark from the accounts
    file; for the others the benchmark when given (one for all of them), else each
    account's current weights in the holdings file, else unknown."""

    def weights(bench: pd.Series) -> np.ndarray:
        return reference_weights(
            bench.reindex(universe.index, fill_value=0.0).to_numpy(float), None
        )[0]

    found = [
        _Reference(account, weights(bench), frozenset([account]))
        for account, bench in named.benchmarks.items()
        if bench is not None
    ]
    others = None if named.listed is None else frozenset(named.listed - set(named.benchmarks))
    if benchmark is not None or holdings is None:
        if others is None or others:
            ref = None if benchmark is None else weights(benchmark)
            found.append(_Reference(None, ref, others))
        return found
    price = universe["price"].to_numpy(float)
    for account, lots in holdings.groupby("account", sort=False):
        shares, _, nav = holdings_position(lots, universe)
        # an account worth nothing: propose refuses it, naming the account
        if nav > 0 and str(account) not in named.benchmarks:
            ref = reference_weights(None, shares * price / nav)[0]
            found.append(_Reference(str(account), ref, frozenset([str(account)])))
    return found
