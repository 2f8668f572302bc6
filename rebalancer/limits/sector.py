"""``constraints.sector_max``: the weight of every sector ≤ cap. The optimizer works to
the cap less ``SECTOR_MARGIN`` (``optimize.constraints.SectorCaps``) so that rounding to
whole lots keeps it; the rounding tops up sales where it does not (``trades.repairs.sector``),
and a break left after that is infeasible. Relaxed by raising the cap to what the
closest feasible portfolio holds in its largest sector."""

from __future__ import annotations

from rebalancer.limits.base import EXTRA, TOL, ScalarCap

SECTOR_MARGIN = 0.0005


class SectorMax(ScalarCap):
    name = "sector_max"
    margin = True

    def inside(self, cap: float) -> float:
        return max(cap - SECTOR_MARGIN, 0.0)

    def relaxed_to(self, needed: float) -> float:
        return min(needed + SECTOR_MARGIN + EXTRA, 1.0)

    def measure(self, final, add) -> None:
        cap = self.setting(final.scenario)
        if cap is not None:
            by_sector = final.w_after.groupby(final.universe["sector"]).sum()
            add(
                self.check,
                cap,
                float(by_sector.max()),
                by_sector.max() <= cap + TOL,
                f"largest: {by_sector.idxmax()}",
            )

    def rounding(self, request) -> dict:
        return {"sector_max": self.setting(request.scenario)}


SECTOR = SectorMax()
