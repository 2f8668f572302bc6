"""The inputs and request a proposal recorded, read again: the files its manifest
names (refused when they are no longer what it digested) and the account's request as
``propose`` made it from them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rebalancer.inputs import read_holdings_by_account, read_universe


def recorded_request(manifest: dict[str, Any], scenario):
    """The proposal's inputs, effective scenario (verified: ``recorded_scenario``) and
    options, as recorded: the arguments of ``prepare`` and ``propose_account``."""
    data = recorded_inputs(manifest)
    options = {"taxable": manifest["taxable"], "lot_method": manifest["lot_method"]}
    return (data, scenario, manifest["account"], manifest["as_of"]), options


def recorded_inputs(manifest: dict[str, Any]):
    """The recorded input files, read (``_read_inputs``); the account's spoilt holdings
    rows raise their ``InputError``."""
    recorded = tuple(
        (role, entry["path"], entry.get("sha256"))
        for role, entry in sorted(manifest["inputs"].items())
        if role != "scenario"
    )
    data, spoilt = _read_inputs(recorded)
    if manifest["account"] in spoilt:
        raise spoilt[manifest["account"]]
    return data


@lru_cache(maxsize=2)
def _read_inputs(recorded: tuple[tuple[str, str, str | None], ...]):
    """(Inputs, the accounts whose holdings rows are spoilt) of the recorded input files
    — ``(role, path, sha256)``, checked unchanged before — read once per process for
    the same contents: a verify's re-measurement and its reproduction share one risk
    model, and so do the accounts of a book verified in one process."""
    # late: it imports the optimizer (cvxpy), which a verify stopped by the digests never needs
    from rebalancer.prepare.inputs import load_inputs

    files = {role: path for role, path, _ in recorded}
    # a book's holdings file: another account's bad row does not stop this one's check
    universe = read_universe(files["universe"])
    holdings, spoilt = read_holdings_by_account(files["holdings"], universe)
    data = load_inputs(
        holdings,
        universe,
        files.get("prices"),
        files.get("benchmark"),
        files.get("accounts"),
        files.get("trade_history"),
    )
    data.paths.update(holdings=files["holdings"], universe=files["universe"])
    return data, spoilt
