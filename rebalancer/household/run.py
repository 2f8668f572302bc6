"""``rebalancer propose --household NAME --accounts FILE``: the household's proposal,
checked and written (``household.export``), whole or not at all."""

from __future__ import annotations

from pathlib import Path

from rebalancer.errors import InputError
from rebalancer.export import check_outputs, protected_files
from rebalancer.household.build import HouseholdProposal, propose_household
from rebalancer.household.export import write_household_outputs
from rebalancer.household.request import prepare_household
from rebalancer.pipeline import proposal_scenario, relaxing
from rebalancer.prepare.blas import one_blas_thread
from rebalancer.prepare.inputs import load_inputs
from rebalancer.scenario import Scenario


def propose_household_to_files(
    name: str,
    holdings,
    universe,
    scenario,
    *,
    accounts,
    prices=None,
    benchmark=None,
    trade_history=None,
    as_of=None,
    shocks=(),
    out=None,
    trades=None,
    json_path=None,
    relax: bool = False,
    refused: dict[str, bool] | None = None,
    not_yet: dict[str, bool] | None = None,
    cache: bool = False,
) -> tuple[HouseholdProposal, list[Path]]:
    """Refuse an option a household takes from its accounts file (``refused``: option ->
    given), an output not written for a household yet (``not_yet``) and an output
    that is an input; read, prepare the household
    (``household.request``), propose it (``household.build``) and write the outputs
    asked for; ``relax``: apply the smallest relaxation of the scenario that makes an
    infeasible household feasible; ``cache``: the market files and the risk model
    through the on-disk cache (``prepare.cache``). Raises ``RebalancerError`` before writing anything."""
    for option, given in (refused or {}).items():
        if given:
            raise InputError(
                None,
                f"{option} cannot be given with --household: each account's terms come "
                "from the --accounts file",
            )
    for option, given in (not_yet or {}).items():
        if given:
            raise InputError(
                None, f"{option} cannot be given with --household: not written for a household yet"
            )
    if accounts is None:
        raise InputError(None, "--household needs --accounts (the file with a household column)")
    inputs = {"holdings": holdings, "universe": universe, "prices": prices,
              "benchmark": benchmark, "accounts": accounts, "trade_history": trade_history}  # fmt: skip
    check_outputs({"--out": out, "--trades": trades, "--json": json_path},
                  protected_files(inputs, [scenario]))  # fmt: skip
    data = load_inputs(holdings, universe, prices, benchmark, accounts, trade_history, cache=cache)
    scenario = proposal_scenario(data, scenario, list(shocks))

    def attempt(scenario: Scenario) -> HouseholdProposal:
        with one_blas_thread():
            return propose_household(prepare_household(data, scenario, name, as_of))

    # an infeasible household is given the smallest relaxation of its scenario (applied
    # with ``relax``), as one account is (``pipeline.relaxing``)
    proposal, _ = relaxing(scenario, attempt, data.sized, relax=relax)
    written = write_household_outputs(
        proposal, dict(data.paths), out=out, trades=trades, json_path=json_path
    )
    return proposal, written
