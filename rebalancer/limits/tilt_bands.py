"""``tilts``: the active exposure of each tilted group inside target ± band. The
optimizer works to bands ``margin`` narrower on each side
(``optimize.constraints.TiltBands``); the rounding moves whole lots back into a band
it left, and its other fix-ups spare the bands (``trades.repairs.tilt_bands``).
A band missed after that is a row the Checks sheet flags, not an infeasibility.
Relaxed by widening the band to what the closest feasible portfolio reaches or, where
a band that wide would leave [-1, 1], by moving the target."""

from __future__ import annotations

import dataclasses

import numpy as np

from rebalancer.limits.base import EXTRA, TOL, AdvisorLimit
from rebalancer.limits.trade_mode import one_sided_bands
from rebalancer.scenario.selectors import match, parse_selector

BAND_MARGIN = 0.0005
PREFIX = "tilts."


def margin(bands: np.ndarray) -> np.ndarray:
    """How far inside each band's edges the optimizer's band sits."""
    return np.minimum(0.1 * bands, BAND_MARGIN)


class TiltBands(AdvisorLimit):
    name = "tilt_bands"
    key = "tilts"
    sources = ("tilt_bands",)

    def bands(self, labels, scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(target, lo, hi) the optimizer works to, per tilt of ``labels``."""
        targets = np.array([scenario.tilts[t].target for t in labels])
        bands = np.array([scenario.tilts[t].band for t in labels])
        inside = margin(bands)
        return targets, targets - bands + inside, targets + bands - inside

    def measure(self, final, add) -> None:
        """Each group's active exposure after the orders against the band the run kept:
        the scenario's, or under a mode of one side the band widened to the exposure
        today (``trade_mode.one_sided_bands``, as the optimizer and the rounding
        widened it), which the row then names."""
        ref = final.reference
        before = (final.w_before - ref).to_numpy()
        for text, tilt in final.scenario.tilts.items():
            members = match(parse_selector(text), final.universe)
            exposure = float(final.active[members].sum())
            today = float(before[members].sum())
            stated = tilt.target - tilt.band, tilt.target + tilt.band
            lo, hi = (float(x) for x in one_sided_bands(final.scenario, today, *stated))
            detail = f"active exposure before {today:.4f}"
            if (lo, hi) != stated:
                mode = final.scenario.constraints.trade_mode
                detail = (
                    f"scenario band [{stated[0]:.4f}, {stated[1]:.4f}] widened to today's "
                    f"exposure by {mode}; {detail}"
                )
            add(
                f"tilt {text}",
                f"[{lo:.4f}, {hi:.4f}]",
                exposure,
                lo - TOL <= exposure <= hi + TOL,
                detail,
            )

    def group_conflict(self, label: str, limit: float, needed: float, detail: str):
        """The conflict of the tilt on group ``label``."""
        return dataclasses.replace(
            self.conflict(f"tilt {label}", limit, needed, detail), key=PREFIX + label
        )

    def in_scenario_terms(self, request, conflict):
        tilt = request.scenario.tilts.get(conflict.group)
        x = dataclasses.replace(conflict, key=PREFIX + conflict.group, source=self.name)
        if tilt is not None:
            edge = tilt.target - tilt.band if x.needed < tilt.target else tilt.target + tilt.band
            x = dataclasses.replace(x, limit=edge)
        return [x]

    def relax(self, scenario, x, universe, want, blocked) -> None:
        """Widen the band to reach what the elastic answer reaches; where a band that
        wide would leave [-1, 1], move the target toward it instead."""
        label = x.key[len(PREFIX) :]
        tilt = scenario.tilts.get(label)
        if tilt is None:
            blocked.append(x.describe())
            return
        band = abs(x.needed - tilt.target) + BAND_MARGIN + EXTRA
        if abs(tilt.target) + band <= 1.0:
            want(x, f"{x.key}.band", tilt.band, max(tilt.band, band))
            return
        # the optimizer's band edge sits margin(band) inside the scenario's
        inside = min(0.1 * tilt.band, BAND_MARGIN) + EXTRA
        if x.needed < tilt.target:
            target = x.needed + tilt.band - inside
        else:
            target = x.needed - tilt.band + inside
        if abs(target) + tilt.band <= 1.0:
            want(x, f"{x.key}.target", tilt.target, target)
        else:
            blocked.append(f"{x.describe()}: no band or target in [-1, 1] reaches it")

    def apply(self, data, key, value) -> None:
        # a group's text may hold dots: the field is what follows the last one
        label, _, field = key[len(PREFIX) :].rpartition(".")
        data["tilts"][label][field] = value

    def rounding(self, request) -> dict:
        tilts = request.scenario.tilts
        groups = np.array(
            [match(parse_selector(text), request.universe) for text in tilts], dtype=float
        ).reshape(len(tilts), len(request.universe))
        lo = np.array([t.target - t.band for t in tilts.values()])
        hi = np.array([t.target + t.band for t in tilts.values()])
        # a mode of one side keeps a band only as far as that side can reach it
        exposure = groups @ (request.position.weight - request.reference_weight)
        lo, hi = one_sided_bands(request.scenario, exposure, lo, hi)
        return {
            "band_groups": groups,
            "band_reference": groups @ request.reference_weight,
            "band_lo": lo,
            "band_hi": hi,
        }


TILT_BANDS = TiltBands()
