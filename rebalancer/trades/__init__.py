"""Trades: from optimal weights to whole-share orders (``rules``: what the rounding keeps,
from the limits; ``rounding``, with each limit's repair in ``repairs``), the tax lots
each sale is taken from (``lots``), or holding (``settle``)."""
