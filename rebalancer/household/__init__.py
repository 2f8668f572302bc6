"""Households solved as one problem (issue 17 item 1; docs/households.md): the
accounts' requests and their shares of the household (``request``), the joint
problem (``problem``), rounding per account and the household's checks (``build``),
and its outputs (``export``)."""
