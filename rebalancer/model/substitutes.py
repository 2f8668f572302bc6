"""Substitute groups (the scenario's ``substitutes``): securities that stand for one
another — IVV, VOO and SPLG for the S&P 500 — as the optimizer and the wash-sale
rules see them.

*Exposure.* The risk model treats a group as one security: each member's factor
loadings become the group's average row, and its specific risk one risk the members
share — a factor of the group, loading 1 on each member, whose variance is the
members' average specific variance, their own specific variance set to 0. So for a
group g with members M_g and weights w_j, the covariance of any portfolio depends on
its members' weights only through their sum W_g = Σ_{j∈M_g} w_j: selling IVV and
buying as much VOO changes neither the risk nor the tracking error, and a loss sold
for its tax benefit is bought back in a substitute at the cost of the trades alone.
A group held away from its reference is pulled back as one name would be.

*Wash sales.* Each security has a *wash key*: its own ticker, or, for a member of a
group the advisor marks ``identical`` (substantially identical: the advisor's
judgement, not the program's), the group's first ticker. Every wash-sale rule —
against the household's trade history, within the proposal, and across the
household's accounts — compares wash keys instead of tickers. Without groups the key
is the ticker and every rule is as before.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rebalancer.errors import ScenarioError, nearest
from rebalancer.model.risk import RiskModel
from rebalancer.scenario.schema import Scenario


def wash_keys(scenario: Scenario) -> dict[str, str]:
    """Ticker -> its wash key, for the members of identical groups (every other
    ticker is its own key)."""
    return {
        t: group.tickers[0]
        for group in scenario.substitutes or ()
        if group.identical
        for t in group.tickers
    }


def wash_key(tickers, scenario: Scenario) -> np.ndarray:
    """Each of ``tickers``' wash key (module docstring), as an array of text."""
    keys = wash_keys(scenario)
    return np.array([keys.get(str(t), str(t)) for t in tickers], dtype=object)


def wash_ids(tickers: pd.Index, scenario: Scenario) -> np.ndarray:
    """Per security of ``tickers`` (the universe's order), the index of its wash key's
    first member in it: ``arange(n)`` without identical groups."""
    keys = wash_key(tickers, scenario)
    first = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    return np.array([first[key] for key in keys], dtype=int)


def same_wash(tickers, scenario: Scenario) -> set[str]:
    """``tickers`` and every ticker that shares a wash key with one of them."""
    keys = wash_keys(scenario)
    wanted = {keys.get(str(t), str(t)) for t in tickers}
    return {str(t) for t in tickers} | {t for t, k in keys.items() if k in wanted}


def check_known(scenario: Scenario, universe: pd.DataFrame, path: str | None) -> None:
    """Raise ``ScenarioError`` naming ``substitutes[i]`` for a ticker the universe has
    not (with the nearest it has)."""
    tickers = set(universe.index.astype(str))
    for i, group in enumerate(scenario.substitutes or (), 1):
        for ticker in group.tickers:
            if ticker not in tickers:
                hint = nearest(ticker, sorted(tickers))
                raise ScenarioError(
                    path,
                    f"substitute {ticker} is not in the universe"
                    + (f" (did you mean {hint}?)" if hint else ""),
                    key=f"substitutes[{i}]",
                )


def member_groups(scenario: Scenario, tickers: pd.Index) -> list[np.ndarray]:
    """Each group's members as positions in ``tickers`` (every member must be there:
    ``check_known``)."""
    return [tickers.get_indexer(list(g.tickers)) for g in scenario.substitutes or ()]


def substitute_risk(risk: RiskModel, scenario: Scenario) -> RiskModel:
    """``risk`` with each substitute group as one security (module docstring): its
    members' loadings the group's average, and one extra factor per group carrying
    the members' average specific variance in place of their own. ``risk`` itself
    when the scenario has no groups."""
    groups = member_groups(scenario, risk.tickers)
    if not groups:
        return risk
    loadings = risk.loadings.copy()
    specific = risk.specific_var.copy()
    extra = np.zeros((len(specific), len(groups)))
    variances = []
    for k, members in enumerate(groups):
        loadings[members] = risk.loadings[members].mean(axis=0)
        variances.append(float(risk.specific_var[members].mean()))
        specific[members] = 0.0
        extra[members, k] = 1.0
    kf = risk.factor_cov.shape[0]
    cov = np.zeros((kf + len(groups), kf + len(groups)))
    cov[:kf, :kf] = risk.factor_cov
    cov[kf:, kf:] = np.diag(variances)
    names = tuple(f"substitutes:{'|'.join(g.tickers)}" for g in scenario.substitutes)
    return dataclasses.replace(
        risk,
        loadings=np.hstack([loadings, extra]),
        factor_cov=cov,
        specific_var=specific,
        factor_names=(*risk.factor_names, *names),
    )
