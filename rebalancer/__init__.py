"""Rebalancer: a portfolio rebalancing optimizer for financial advisors."""

__version__ = "0.1.0"
