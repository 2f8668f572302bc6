"""Read and validate the input files of DESIGN.md §1; every user mistake is an ``InputError``."""

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
    read_prices,
    read_universe,
    select_account,
)
from rebalancer.inputs.tables import (
    parse_bool,
    parse_choice,
    parse_columns,
    parse_date,
    parse_number,
    parse_text,
    read_table,
    require_columns,
)

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
    "read_prices",
    "read_table",
    "read_universe",
    "require_columns",
    "select_account",
]
