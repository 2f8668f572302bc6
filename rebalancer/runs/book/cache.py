"""The worker side's per-process cache: what a worker process reads once and every
account it runs shares — the book's inputs (per benchmark), each scenario, the
accounts file, the files an output may not be, the compiled problems of the models
(``models.ModelProblems``). Keyed by file path: ``clear`` before a book reads files
that may have changed since the last one in this process (a notebook, one local
worker)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from rebalancer.errors import InputError
from rebalancer.export import protected_files
from rebalancer.inputs import (
    check_benchmark_in_universe,
    read_accounts,
    read_benchmark,
    read_holdings_by_account,
    read_universe,
)
from rebalancer.prepare.inputs import Inputs, load_inputs
from rebalancer.prepare.terms import AccountTerms
from rebalancer.runs.book.models import ModelProblems
from rebalancer.runs.book.plan import BookFiles
from rebalancer.scenario import Scenario, load_scenario

_CACHE: dict[Any, Any] = {}


def clear() -> None:
    """Forget everything read: the next book reads its files afresh."""
    _CACHE.clear()


def inputs(files: BookFiles, benchmark: str | None) -> Inputs:
    """The book's shared inputs with ``benchmark`` (a path, or None for none)."""
    key = ("inputs", files, benchmark)
    if key not in _CACHE:
        base = _CACHE.get(("base", files))
        if base is None:
            universe = read_universe(files.universe)
            holdings, spoilt = read_holdings_by_account(files.holdings, universe)
            base = load_inputs(
                holdings, universe, files.prices, None, files.accounts, files.trade_history
            )
            base.paths.update(holdings=files.holdings, universe=files.universe)
            _CACHE[("base", files)] = base
            _CACHE[("spoilt", files)] = spoilt
        bench = None
        if benchmark is not None:
            bench = read_benchmark(benchmark)
            check_benchmark_in_universe(bench, base.universe, benchmark)
        data = dataclasses.replace(
            base, benchmark=bench, paths={**base.paths, "benchmark": benchmark or ""}
        )
        _CACHE[key] = data
    return _CACHE[key]


def spoilt(files: BookFiles, account: str) -> InputError | None:
    """Why ``account``'s holdings rows cannot be used (None: they can), as ``inputs``
    found when it read the holdings."""
    return _CACHE[("spoilt", files)].get(account)


def read_scenario(path: str) -> Scenario:
    """The scenario file at ``path``, loaded once."""
    key = ("scenario", path)
    if key not in _CACHE:
        _CACHE[key] = load_scenario(path)
    return _CACHE[key]


def with_cash_target(scenario: Scenario, accounts: str, account: str) -> Scenario:
    """``scenario`` as the account's worker applies it: with the cash target of its
    row of the accounts file (``terms.AccountTerms.scenario``)."""
    key = ("accounts", accounts)
    if key not in _CACHE:
        _CACHE[key] = read_accounts(accounts)
    table = _CACHE[key]
    row = table[table["account"].astype(str) == account]
    if row.empty or pd.isna(row["cash_target"].iloc[0]):
        return scenario
    target = float(row["cash_target"].iloc[0])
    return AccountTerms(account, False, None, target, (account,)).scenario(scenario)


def protected(roles: dict[str, str]) -> dict[str, str]:
    """The files no output of an account may be (``export.protected_files``), read once
    per model: every account of a model reads the same files."""
    key = ("protected", *sorted(roles.items()))
    if key not in _CACHE:
        _CACHE[key] = protected_files(roles)
    return _CACHE[key]


def model_problems() -> ModelProblems:
    """This process's compiled problems of the models (one for the book's life)."""
    if "models" not in _CACHE:
        _CACHE["models"] = ModelProblems()
    return _CACHE["models"]
