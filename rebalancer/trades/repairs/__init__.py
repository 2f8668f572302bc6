"""Each advisor limit's part in the rounding to whole lots (``base.Repair``), and the
order the repairs run in.

``round_orders`` rounds every order toward no trade, then runs the ``fix`` of every
repair in ``REPAIRS`` that applies to the rules, in this order:

1. position caps: sell what whole lots left above a name's cap (first: a cap broken
   by a lot can be many basis points of NAV);
2. sector caps: cut buys, then add to sales, in a sector above its cap;
3. the minimum trade: drop buys the fixes left under it, lift sales to it;
4. the limits' linear rows (``rows``: the turnover cap, the most sold in a run...):
   trim buys where the sales of 1–3 took a row past its right side (a row on
   sales alone: sell less where every other limit allows);
5. the cash floor: trim buys (with none left, add to sales) until cash after costs
   is above it;
6. the optimizer's cash: trim buys until cash after costs is its cash weight;
7. tilt bands: move whole lots back into a band that 1–6 left a group outside;
8. the tracking error: whole-lot steps that bring it back under its cap;
9. idle cash: put what rounding left uninvested to work, a lot at a time, where a
   name is furthest under its target (cash stays at or above 5 and 6);
10. position caps again, on buys only: the repairs' costs lowered the NAV after
    trades, against which a buy at its cap is cut to it again.

Each fix moves lots only where every repair's ``keeps_step`` holds (liquidity, position
cap and floor, the minimum trade, lots free of tax blocks, the rows and, for a step
up, the sector cap and the cash floor), and a trim picks a name every repair
``spares`` where there is one (tilt bands, tracking error, floors). The limits give
the numbers (``AdvisorLimit.rounding``, gathered by ``rebalancer.trades.rules``); a
limit stated as linear rows (``limits.base.RowCap``) gives rows (``rounding_rows``)
that ``rows.Rows`` keeps, with no repair of its own; another new limit's part is a
``Repair`` in a module here, placed in ``REPAIRS``.
"""

from __future__ import annotations

from rebalancer.trades.repairs.base import Repair, Rounding
from rebalancer.trades.repairs.cash import CashFloor, IdleCash, PlannedCash
from rebalancer.trades.repairs.liquidity import Liquidity
from rebalancer.trades.repairs.min_trade import MinTrade
from rebalancer.trades.repairs.position import PositionCap, PositionCapAfterCosts, PositionFloor
from rebalancer.trades.repairs.rows import Rows
from rebalancer.trades.repairs.sector import SectorCap
from rebalancer.trades.repairs.tax_lots import SellableLots
from rebalancer.trades.repairs.tilt_bands import TiltBands
from rebalancer.trades.repairs.tracking_error import TrackingError

# the order their fixes run in (module docstring); the first three fix nothing: they
# only keep their limit in the other repairs' moves
REPAIRS: tuple[Repair, ...] = (
    Liquidity(),
    SellableLots(),
    PositionFloor(),
    PositionCap(),
    SectorCap(),
    MinTrade(),
    Rows(),
    CashFloor(),
    PlannedCash(),
    TiltBands(),
    TrackingError(),
    IdleCash(),
    PositionCapAfterCosts(),
)

__all__ = ["REPAIRS", "Repair", "Rounding"]
