"""``constraints.max_tracking_error``: √(aᵀΣa) ≤ cap, a the active weights against the
reference. The optimizer works to ``inside(cap)`` (``optimize.constraints.TrackingError``,
a second-order cone): the rounding's noise in it is a lot or so per name, whatever
the cap. The rounding's fix-ups spare it and trade whole lots that lower it where it
is over (``trades.repairs.tracking_error``); a break left after
that is infeasible. Relaxed by raising the cap so that its inside value is what the
closest feasible portfolio reaches (``tracking_error_outside``)."""

from __future__ import annotations

import numpy as np

from rebalancer.limits.base import EXTRA, ScalarCap

TE_MARGIN = 0.995
# and by this much more in absolute terms: the rounding's noise in the tracking error
# is a lot or so per name, whatever the cap, so a small cap needs more than 0.5% of it
TE_ABS_MARGIN = 0.0002


def tracking_error_inside(cap: float) -> float:
    """The tracking-error cap the optimizer works to for the scenario's ``cap``."""
    return max(cap * TE_MARGIN - TE_ABS_MARGIN, 0.5 * cap)


def tracking_error_outside(inside: float) -> float:
    """The smallest scenario cap whose ``tracking_error_inside`` is at least ``inside``."""
    return min((inside + TE_ABS_MARGIN) / TE_MARGIN, 2.0 * inside)


class TrackingError(ScalarCap):
    name = "max_tracking_error"
    margin = True

    def inside(self, cap: float) -> float:
        return tracking_error_inside(cap)

    def relaxed_to(self, needed: float) -> float:
        # the cap the optimizer works to is then needed + EXTRA
        return min(tracking_error_outside(needed + EXTRA), 2.0)

    def measure(self, final, add) -> None:
        cap = self.setting(final.scenario)
        te = float(np.sqrt(max(final.risk.variance(final.active), 0.0)))
        if cap is not None:
            add(self.check, cap, te, te <= cap * (1 + 1e-4))

    def rounding(self, request) -> dict:
        return {
            "max_tracking_error": self.setting(request.scenario),
            "te_reference": request.reference_weight,
            "risk": request.risk,
        }


TRACKING_ERROR = TrackingError()
