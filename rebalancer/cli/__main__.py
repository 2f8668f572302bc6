"""``python -m rebalancer.cli``: the command line."""

from rebalancer.cli import main

main()
