"""``constraints.max_sales``: the most this run may sell, a fraction of NAV:
Σ sales ≤ cap × NAV (the notional of every sell order, NAV before the trades).
Advisors cap what one run sells to bound the gains it realises and its market
impact (a maximum-sell percentage); unset, no limit.

- One linear row of the orders (``RowCap``, 1 × the weight sold of every name): the
  optimizer works to the cap itself, elastic, so a conflict names this key and
  ``--relax`` raises the cap to what the closest feasible portfolio sells (and a
  hair more).
- The rounding toward no trade only sells less; where its fix-ups sell more (a full
  exit, a sale lifted to the minimum trade, topped up for a cap or for the cash
  floor), the row repair sells less again, a lot at a time, where every other limit
  allows.
- Hard: orders that still sell more than the cap make the request infeasible (exit
  3 naming this key).
- The destination of a path (``propose`` over several runs) is not limited by it: it
  limits each run, not where the runs lead.
"""

from __future__ import annotations

from rebalancer.limits.base import RowCap


class MaxSales(RowCap):
    name = "max_sales"
    sell = 1.0


MAX_SALES = MaxSales()
