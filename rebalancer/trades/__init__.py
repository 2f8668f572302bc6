"""Trades: from optimal weights to whole-share orders and tax-lot sales (``rounding``), or holding (``settle``)."""
