"""The files of one run, read and cross-checked (``load_inputs``), with what is
computed once from them and shared by every account prepared from them
(``InputsCache``: a book's thousands of accounts share one universe, one risk model)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rebalancer import inputs as rd
from rebalancer.model.risk import (
    MAX_DENSE_NAMES,
    MIN_HISTORY_DAYS,
    TRADING_DAYS,
    RiskModel,
    build_risk_model,
)
from rebalancer.model.signals import SignalResult, composite, signal_alpha
from rebalancer.model.universe import with_size
from rebalancer.prepare import cache as on_disk
from rebalancer.prepare.blas import one_blas_thread
from rebalancer.scenario import Scenario


@dataclass
class InputsCache:
    """What the accounts of one run's inputs share, each kind under its own key.

    ``derived`` holds ``Inputs.cached``'s results: (name, ids of the objects it was
    computed from) -> (those objects, the result); the objects are kept so a new one
    at a freed address is not taken for the old.
    """

    sized: dict[tuple, pd.DataFrame] = field(default_factory=dict)  # per size buckets
    risk_models: dict[tuple, RiskModel] = field(default_factory=dict)  # per names' sizes
    signals: dict[tuple, SignalResult] = field(default_factory=dict)  # per signal settings
    # the composite scores per signal settings: (the columns they were scored from, the
    # score and missing counts); kept by copies with other prices (a backtest's days
    # share one), a score is reused only when those columns are equal
    scores: dict[str, tuple[pd.DataFrame, tuple]] = field(default_factory=dict)
    derived: dict[tuple, tuple[tuple, Any]] = field(default_factory=dict)
    # the on-disk cache (None: off), the digests of the files the frames were read
    # from (role -> (the frame, its file's digest): a copy of the inputs with other
    # prices has none) and what the disk gave (role -> "hit" | "miss")
    store: on_disk.DiskCache | None = None
    digests: dict[str, tuple[object, on_disk.FileDigest]] = field(default_factory=dict)
    disk_use: dict[str, str] = field(default_factory=dict)


@dataclass
class Inputs:
    """The files of one run, read and cross-checked."""

    holdings: pd.DataFrame
    universe: pd.DataFrame
    prices: pd.DataFrame | None = None
    benchmark: pd.Series | None = None
    paths: dict[str, str] = field(default_factory=dict)
    accounts: pd.DataFrame | None = None  # account, taxable, household, ... (books)
    history: pd.DataFrame | None = None  # past trades (wash-sale rules)
    # shared by the copies ``dataclasses.replace`` makes (a book's inputs per benchmark)
    cache: InputsCache = field(default_factory=InputsCache, repr=False)

    def lots_of(self, account: str | None) -> pd.DataFrame:
        """The holdings rows of ``account`` (None: the file's only account). A book asks
        for each of thousands of accounts: the rows are indexed by account once."""
        path = self.paths.get("holdings", "holdings")
        if account is None:
            return rd.select_account(self.holdings, account, path)
        rows = self.cached(
            "accounts", lambda: self.holdings.groupby("account", sort=False).indices, self.holdings
        ).get(account)
        if rows is None:  # not in the file: the reader's message names what is
            return rd.select_account(self.holdings, account, path)
        return self.holdings.iloc[rows]

    def reference_weights(self, universe: pd.DataFrame) -> np.ndarray:
        """The benchmark's weights in the universe's order (cached per benchmark and
        universe frame: pandas copies a series' attrs, the benchmark's row numbers, on
        every reindex)."""

        def weights() -> np.ndarray:
            bench = pd.Series(self.benchmark.to_numpy(float), index=self.benchmark.index)
            return bench.reindex(universe.index, fill_value=0.0).to_numpy(float)

        return self.cached("reference", weights, self.benchmark, universe).copy()

    def sized(self, scenario: Scenario) -> pd.DataFrame:
        """The universe with the scenario's size buckets (one frame per set of bounds,
        shared and read-only, so group masks are computed once)."""
        key = tuple(sorted(scenario.size_buckets.items()))
        if key not in self.cache.sized:
            self.cache.sized[key] = with_size(self.universe, scenario)
        return self.cache.sized[key]

    def signals(self, universe: pd.DataFrame, scenario: Scenario, risk: RiskModel) -> SignalResult:
        """The signal alpha of a scenario's signal settings (cached per settings)."""
        key = (id(universe), id(risk), repr(scenario.signals))
        if key not in self.cache.signals:
            score = self._score(universe, scenario)
            self.cache.signals[key] = signal_alpha(
                universe, scenario.signals, risk.specific_vol(), score
            )
        return self.cache.signals[key]

    def _score(self, universe: pd.DataFrame, scenario: Scenario) -> tuple:
        """``composite`` of the scenario's signal settings: the one remembered for
        them when the columns it reads (the metrics, the neutralising group) are equal
        to this universe's (a backtest's days without dated signals: only prices move)."""
        spec = scenario.signals
        columns = [c for c in dict.fromkeys([*spec.metrics, spec.neutralize]) if c in universe]
        read = universe[columns]
        known = self.cache.scores.get(repr(spec))
        if known is not None and known[0].equals(read):
            return known[1]
        score = composite(universe, spec)
        self.cache.scores[repr(spec)] = (read.copy(), score)
        return score

    def cached(self, name: Hashable, compute: Callable[[], Any], *of: object) -> Any:
        """``compute()``, once per ``name`` and the objects ``of`` it is computed from
        (frames shared and read-only, such as a universe: what a book's thousands of
        accounts would otherwise each recompute). The objects themselves are kept and
        compared, so a new one at a freed address is not taken for the old."""
        key = (name, *map(id, of))
        known = self.cache.derived.get(key)
        if known is None or any(a is not b for a, b in zip(known[0], of, strict=True)):
            known = self.cache.derived[key] = (of, compute())
        return known[1]

    def risk_model(self, universe: pd.DataFrame) -> RiskModel:
        """One risk model per universe (cached: every account of a book shares it)."""
        key = self.cached("sizes", lambda: tuple(universe["size"]), universe)
        if key not in self.cache.risk_models:
            self.cache.risk_models[key] = self._fitted(universe)
        return self.cache.risk_models[key]

    def _fitted(self, universe: pd.DataFrame) -> RiskModel:
        """``build_risk_model``, from the disk cache when the prices are a file's (on one
        BLAS thread, as ``prepare`` fits it: a cached model has the same bits)."""
        source = self.cache.digests.get("prices")
        if self.cache.store is None or source is None or source[0] is not self.prices:
            return build_risk_model(universe, self.prices)
        settings = {"trading_days": TRADING_DAYS, "min_history_days": MIN_HISTORY_DAYS,
                    "max_dense_names": MAX_DENSE_NAMES}  # fmt: skip
        key = on_disk.risk_key(source[1], universe, settings)
        model = self.cache.store.get(key)
        if isinstance(model, RiskModel):
            self._used("risk_model", "hit")
            return model
        with one_blas_thread():
            model = build_risk_model(universe, self.prices)
        self.cache.store.put(key, model)
        self._used("risk_model", "miss")
        return model

    def _used(self, role: str, how: str) -> None:
        # one miss of a role (a second risk model) makes the role's record a miss
        if self.cache.disk_use.get(role) != "miss":
            self.cache.disk_use[role] = how


# the files the disk cache keeps as read (the others are small or per account)
DISK_CACHED = ("universe", "prices")


def load_inputs(
    holdings,
    universe,
    prices=None,
    benchmark=None,
    accounts=None,
    history=None,
    *,
    cache: bool = False,
) -> Inputs:
    """Read (paths) or accept (DataFrames) the inputs and cross-check them. ``cache``:
    the universe and prices files, and the risk model fitted on them, from and to the
    on-disk cache (``prepare.cache``) — stored only once every file is read and
    cross-checked without error."""
    paths: dict[str, str] = {}
    store = on_disk.DiskCache.default() if cache else None
    shared = InputsCache(store=store)
    pending: list = []

    def read(value, reader, role):
        if value is None or isinstance(value, pd.DataFrame | pd.Series):
            return value
        paths[role] = str(value)
        if store is None or role not in DISK_CACHED:
            return reader(value)
        frame, how, digest = on_disk.read_file(store, role, value, reader, pending)
        shared.disk_use[role] = how
        if digest is not None:
            shared.digests[role] = (frame, digest)
        return frame

    uni = read(universe, rd.read_universe, "universe")
    hold = read(holdings, rd.read_holdings, "holdings")
    px = read(prices, rd.read_prices, "prices")
    bench = read(benchmark, rd.read_benchmark, "benchmark")
    acc = read(accounts, rd.read_accounts, "accounts")
    hist = read(history, rd.read_trade_history, "trade_history")
    rd.check_holdings_in_universe(hold, uni, paths.get("holdings", "holdings"))
    if bench is not None:
        rd.check_benchmark_in_universe(bench, uni, paths.get("benchmark", "benchmark"))
    if store is not None:
        on_disk.store(store, pending)
    return Inputs(hold, uni, px, bench, paths, accounts=acc, history=hist, cache=shared)
