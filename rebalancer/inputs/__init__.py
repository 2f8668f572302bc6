"""Read and validate the input files of docs/contracts.md §1; every user mistake is an ``InputError``."""

from rebalancer.inputs.cells import (
    parse_bool,
    parse_choice,
    parse_columns,
    parse_date,
    parse_number,
    parse_text,
    trade_date,
)
from rebalancer.inputs.readers import (
    CASH,
    REGIONS,
    RESTRICTIONS,
    SIGNALS,
    check_benchmark_in_universe,
    check_holdings_in_universe,
    read_accounts,
    read_benchmark,
    read_holdings,
    read_holdings_by_account,
    read_prices,
    read_trade_history,
    read_universe,
    select_account,
)
from rebalancer.inputs.tables import read_table, require_columns

__all__ = [
    "CASH",
    "REGIONS",
    "RESTRICTIONS",
    "SIGNALS",
    "check_benchmark_in_universe",
    "check_holdings_in_universe",
    "parse_bool",
    "parse_choice",
    "parse_columns",
    "parse_date",
    "parse_number",
    "parse_text",
    "read_accounts",
    "read_benchmark",
    "read_holdings",
    "read_holdings_by_account",
    "read_prices",
    "read_table",
    "read_trade_history",
    "read_universe",
    "require_columns",
    "select_account",
    "trade_date",
]
