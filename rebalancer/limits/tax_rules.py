"""Taxable accounts: ``constraints.no_short_term_gains`` and the wash-sale rules (no
loss sale and buy of one name within the proposal, nor against the household's trades
of the last ``tax.wash_sale_days``). The tax lots keep them: blocked lots are never
sold (``rebalancer.model.tax``), and buys of a name sold at a loss are re-solved away."""

from __future__ import annotations

import pandas as pd

from rebalancer.limits.base import AdvisorLimit
from rebalancer.model.substitutes import same_wash


class TaxRules(AdvisorLimit):
    name = "tax_rules"
    key = "constraints.no_short_term_gains"

    def measure(self, final, add) -> None:
        if not final.taxable:
            return
        scenario, trades, lot_sales, recent = (
            final.scenario,
            final.trades,
            final.lot_sales,
            final.recent,
        )
        gains = (
            lot_sales["realized_gain_usd"].fillna(0.0) if len(lot_sales) else pd.Series(dtype=float)
        )
        if scenario.constraints.no_short_term_gains:
            st = (
                lot_sales[(lot_sales["term"] == "ST") & (gains > 0)]
                if len(lot_sales)
                else lot_sales
            )
            add(
                "no short-term gains",
                0.0,
                float(st["realized_gain_usd"].sum()) if len(st) else 0.0,
                st.empty,
                ", ".join(st["lot_id"].astype(str)) if len(st) else "",
            )
        loss_sold = set(lot_sales.loc[gains < 0, "ticker"]) if len(lot_sales) else set()
        bought = set(trades.loc[trades["side"] == "BUY", "ticker"])
        # a name stands for its identical substitutes too (``model.substitutes``)
        round_trips = sorted(
            (same_wash(loss_sold, scenario) & bought) | (loss_sold & same_wash(bought, scenario))
        )
        add(
            "no wash sale within the proposal",
            0.0,
            float(len(round_trips)),
            not round_trips,
            ", ".join(round_trips),
        )
        if recent is not None and len(recent):
            sold = recent[recent["side"] == "SELL"]
            sold_at_loss = set(sold.loc[~(sold["realized_gain"] >= 0), "ticker"])
            recently_bought = set(recent.loc[recent["side"] == "BUY", "ticker"])
            bad = sorted(
                (bought & same_wash(sold_at_loss, scenario))
                | (loss_sold & same_wash(recently_bought, scenario))
            )
            add(
                f"no wash sale against the last {scenario.tax.wash_sale_days:g} days",
                0.0,
                float(len(bad)),
                not bad,
                ", ".join(bad),
            )

    def rounding(self, request) -> dict:
        """Shares per name in lots that may be sold (none given: every lot may)."""
        if request.tax.lots is None:
            return {}
        f = request.tax.lots.frame
        open_lots = f[f["blocked"] == ""]
        sellable = (
            open_lots.groupby("security")["quantity"]
            .sum()
            .reindex(range(len(request.universe)), fill_value=0.0)
            .to_numpy(float)
        )
        return {"sellable_shares": sellable}


TAX_RULES = TaxRules()
