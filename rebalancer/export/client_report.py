"""The client proposal (PDF, ``propose --report``, ``batch --reports``): three or four
pages a client can read, from a finished ``Proposal`` alone.

Page 1, why and what: the scenario's belief in its own words (its ``description``) and
its tilts in plain words, the proposal in brief (orders, money moved, cost, tax), the
largest buys and sales with the reason for each. Page 2, what changes: the allocation
before and after by size, sector and region (a chart and tables). Page 3, risk, taxes
and costs: expected return, volatility and tracking error before and after, the stress
tests (a chart and a table), the gains realised, losses harvested and estimated tax,
the trading cost; then the disclaimer.

Written with fpdf2 (docs/contracts.md §4 says why): every text that comes from the
inputs — the scenario's name and description, tickers, security names, the firm name
and disclaimer of ``--report-config`` — is written as text with ``cell``/``multi_cell``
(markdown off), never parsed as markup, and with its control characters shown as
escapes (``errors.one_line``). The font is DejaVu Sans, which matplotlib ships, so any
text the inputs hold can be drawn (fpdf2's core fonts hold Latin-1 only).
"""

from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rebalancer.errors import one_line  # noqa: E402
from rebalancer.export.report_config import DEFAULT_DISCLAIMER, ReportConfig  # noqa: E402
from rebalancer.report.proposal import Proposal  # noqa: E402

MAX_DESCRIPTION = 1200  # a scenario's description beyond this is cut, marked with "..."
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
MAX_SHOCKS = 12  # stress tests shown; the workbook and JSON hold them all


# --- figures as the report words them -------------------------------------------------


def usd(value: float) -> str:
    """Dollars to the dollar: ``$1,234``, ``-$56,288``."""
    rounded = round(float(value))
    return f"-${-rounded:,}" if rounded < 0 else f"${rounded:,}"


def pct(value: float, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.0439`` -> ``4.4%``."""
    return f"{float(value) * 100:.{digits}f}%"


def shares(value: float) -> str:
    value = float(value)
    return f"{int(value):,}" if value.is_integer() else f"{value:,.3f}"


REGIONS = {"US": "United States", "DM": "Other developed markets", "EM": "Emerging markets"}
SIZES = {"large": "Large caps", "mid": "Mid caps", "small": "Small caps", "micro": "Micro caps",
         "fund": "Funds"}  # fmt: skip


def group_words(selector: str) -> str:
    """A group selector in words: ``size:small & region:EM`` -> ``Small caps in Emerging
    markets``; an unknown kind is shown as written."""
    parts = []
    for part in str(selector).split("&"):
        kind, _, name = part.strip().partition(":")
        if kind == "size":
            parts.append(SIZES.get(name, f"{name} caps"))
        elif kind == "region":
            parts.append(REGIONS.get(name, name))
        elif kind in ("sector", "theme", "country", "ticker"):
            parts.append(name if kind == "sector" else f"{kind} {name}")
        else:
            parts.append(part.strip())
    return " in ".join(parts)


def belief_lines(proposal: Proposal) -> list[str]:
    """The scenario's tilts in plain words, one line each: where it leans and by how
    much against the reference, and the band it keeps."""
    against = "the benchmark" if proposal.reference == "benchmark" else "today's portfolio"
    lines = []
    for selector, tilt in (proposal.scenario.get("tilts") or {}).items():
        target, band = float(tilt.get("target", 0.0)), float(tilt.get("band", 0.0) or 0.0)
        lean = "more" if target > 0 else "less" if target < 0 else "the same"
        size = f"{abs(target) * 100:.1f} points of the account {lean}" if target else lean
        keep = f" (kept within {pct(target - band)} to {pct(target + band)})" if band else ""
        lines.append(f"{group_words(selector)}: {size} than {against}{keep}.")
    return lines


def allocation(proposal: Proposal, by: str) -> pd.DataFrame:
    """Weights before and after (fractions of NAV) grouped by the holdings' column
    ``by`` (size, sector, region); cash its own row. Groups held neither before nor
    after are left out; largest after first."""
    h = proposal.holdings
    key = h[by].where(h["ticker"] != "CASH", "Cash").fillna("Other").astype(str)
    if by == "size":
        key = key.map(lambda s: SIZES.get(s, s))
    elif by == "region":
        key = key.map(lambda s: REGIONS.get(s, s))
    table = h.groupby(key)[["weight_before", "weight_after"]].sum()
    table = table[(table["weight_before"].abs() > 1e-9) | (table["weight_after"].abs() > 1e-9)]
    return table.sort_values("weight_after", ascending=False)


def top_trades(proposal: Proposal, side: str, n: int) -> pd.DataFrame:
    """The ``n`` largest orders of ``side`` by notional, with the security's name."""
    t = proposal.trades[proposal.trades["side"] == side]
    t = t.sort_values("notional", ascending=False, kind="stable").head(n)
    names = proposal.holdings.drop_duplicates("ticker").set_index("ticker")["name"]
    return t.assign(name=t["ticker"].map(names).fillna("").astype(str))


# --- charts ---------------------------------------------------------------------------


def _png(fig) -> io.BytesIO:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    plt.close(fig)
    buffer.seek(0)
    return buffer


def _before_after(ax, labels, before, after) -> None:
    """Paired horizontal bars, before (grey) above after (blue), in percent, the first
    label at the top; labels from the inputs shown as text, cut to 40 characters."""
    pos = range(len(labels))
    ax.barh([p + 0.2 for p in pos], before * 100, height=0.4, color="#b0b7c3", label="before")
    ax.barh([p - 0.2 for p in pos], after * 100, height=0.4, color="#1f4e79", label="after")
    ax.set_yticks(list(pos), [one_line(str(s))[:40] for s in labels])
    ax.invert_yaxis()


def allocation_chart(proposal: Proposal) -> io.BytesIO:
    """Three panels of horizontal bars, before and after: by size, sector and region."""
    # labels come from the inputs: "$" is text, never the start of TeX
    with plt.rc_context({"text.parse_math": False, "font.size": 8}):
        tables = [(by, allocation(proposal, by)) for by in ("size", "sector", "region")]
        rows = [max(len(t), 1) for _, t in tables]
        fig, axes = plt.subplots(
            3, 1, figsize=(7.2, 1.2 + 0.22 * sum(rows)), gridspec_kw={"height_ratios": rows}
        )
        for ax, (by, table) in zip(axes, tables, strict=True):
            _before_after(ax, table.index, table["weight_before"], table["weight_after"])
            ax.set_title(f"By {by}", loc="left", fontsize=9)
            ax.grid(axis="x", alpha=0.3)
        axes[0].legend(loc="lower right", fontsize=7)
        axes[-1].set_xlabel("% of the account")
        fig.tight_layout()
        return _png(fig)


def stress_chart(stress: pd.DataFrame) -> io.BytesIO:
    """Each stress test's loss or gain as % of the account, before and after."""
    with plt.rc_context({"text.parse_math": False, "font.size": 8}):
        fig, ax = plt.subplots(figsize=(7.2, 0.8 + 0.35 * len(stress)))
        _before_after(ax, stress["shock"], stress["pct_before"], stress["pct_after"])
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel("change in the account's value (%)")
        ax.legend(loc="best", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return _png(fig)


# --- the document -----------------------------------------------------------------------


# How much of the inputs page 1 shows, tried in turn until the report fits in four
# pages: (largest trades listed per side at most, description characters, tilt lines).
# The first fits any ordinary scenario; the others bound a pathological one (a long
# description, dozens of tilts, the config's ten trades a side and longest disclaimer).
FITS = ((10, MAX_DESCRIPTION, 8), (5, 500, 4), (3, 250, 2))
MAX_PAGES = 4


def write_client_report(
    proposal: Proposal, path: str | os.PathLike[str], config: ReportConfig | None = None
) -> None:
    """Write the client proposal of ``proposal`` as a PDF at ``path`` (module docstring):
    three pages, four when page 1 or 3 runs over, never more (``FITS``)."""
    from fpdf import FPDF  # late: only a run that writes a report pays for its import

    config = config or ReportConfig()
    stress = proposal.stress
    shown = stress.head(MAX_SHOCKS) if stress is not None and len(stress) else None
    charts = (allocation_chart(proposal), None if shown is None else stress_chart(shown))
    for top, described, tilts in FITS:
        pdf = _compose(FPDF, proposal, config, charts, min(top, config.top_trades), described,
                       tilts)  # fmt: skip
        if pdf.page_no() <= MAX_PAGES:
            break
    pdf.output(str(path))


def _compose(fpdf_class, proposal: Proposal, config: ReportConfig, charts, top: int,
             described: int, tilts: int):  # fmt: skip
    """The report laid out, showing at most ``top`` trades a side, ``described``
    characters of the description and ``tilts`` tilt lines."""
    m = proposal.metrics
    pdf = _Document(fpdf_class, config.firm_name, proposal)

    # page 1: why and what
    pdf.add_page()
    pdf.title("Rebalancing proposal")
    pdf.line_text(
        f"Account {proposal.account} · trade date {proposal.as_of} · "
        f"scenario {proposal.scenario_name}",
        size=9,
    )
    if proposal.relaxed:
        pdf.line_text(
            "Some limits were relaxed to make this proposal possible (the workbook lists them).",
            size=9,
        )
    pdf.heading("Why")
    description = str(proposal.scenario.get("description") or "").strip()
    if len(description) > described:
        description = description[:described].rstrip() + "..."
    pdf.paragraph(description or f"The scenario {proposal.scenario_name} states no description.")
    lines = belief_lines(proposal)
    for line in lines[:tilts]:
        pdf.paragraph(f"- {line}")
    if len(lines) > tilts:
        pdf.paragraph(f"- and {len(lines) - tilts} more tilts (the workbook lists them).")
    pdf.heading("In brief")
    buys = int((proposal.trades["side"] == "BUY").sum())
    sells = int((proposal.trades["side"] == "SELL").sum())
    brief = [
        ("Orders", f"{m.n_trades} ({buys} buys, {sells} sales)"),
        ("Bought", usd(m.buys_usd)),
        ("Sold", usd(m.sells_usd)),
        ("Share of the account traded (turnover)", pct(m.turnover)),
        ("Estimated trading cost", f"{usd(m.est_cost_usd)} ({pct(m.est_cost_usd / m.nav_usd, 2)})"),
        ("Realised gain (net)", _gain(m.realized_gain_usd)),
        ("Estimated tax", usd(m.estimated_tax_usd) if m.taxable else "none (not a taxable account)"),
        ("Account value", usd(m.nav_usd)),
    ]  # fmt: skip
    pdf.table(["", ""], brief, widths=(80, 60))
    for side, title in (("BUY", "Largest buys"), ("SELL", "Largest sales")):
        largest = top_trades(proposal, side, top)
        pdf.heading(title)
        if not len(largest):
            pdf.paragraph("None.")
            continue
        rows = [
            (r.ticker, str(r.name)[:34], shares(r.quantity), usd(r.notional), str(r.reason)[:60])
            for r in largest.itertuples(index=False)
        ]
        pdf.table(["Ticker", "Name", "Shares", "Amount", "Why"], rows,
                  widths=(18, 55, 20, 24, 73), size=8, align="LLRRL")  # fmt: skip

    # page 2: what changes
    pdf.add_page()
    pdf.heading("What changes: the allocation before and after")
    pdf.image(charts[0], max_height=140)
    for by in ("size", "region"):
        table = allocation(proposal, by)
        rows = [(str(k), pct(r.weight_before), pct(r.weight_after))
                for k, r in table.iterrows()]  # fmt: skip
        pdf.table([f"By {by}", "Before", "After"], rows, widths=(70, 30, 30), size=8)

    # page 3: risk, taxes, costs
    pdf.add_page()
    pdf.heading("Risk")
    pdf.table(
        ["", "Before", "After"],
        [
            ("Expected return a year (under the scenario's beliefs)",
             pct(m.expected_return_before), pct(m.expected_return)),
            ("Volatility a year", pct(m.volatility_before), pct(m.volatility)),
            ("Tracking error against the "
             + ("benchmark" if proposal.reference == "benchmark" else "current holdings"),
             pct(m.tracking_error_before), pct(m.tracking_error)),
        ],
        widths=(110, 30, 30),
    )  # fmt: skip
    stress = proposal.stress
    if charts[1] is not None:
        pdf.heading("Stress tests: what a shock would do to the account")
        shown = stress.head(MAX_SHOCKS)
        pdf.image(charts[1], max_height=60)
        rows = [(str(r.shock)[:50], usd(r.pnl_before_usd), usd(r.pnl_after_usd), pct(r.pct_after))
                for r in shown.itertuples(index=False)]  # fmt: skip
        pdf.table(["Shock", "Before", "After", "After (%)"], rows, widths=(80, 30, 30, 25),
                  size=8, align="LRRR")  # fmt: skip
        if len(stress) > MAX_SHOCKS:
            pdf.paragraph(f"And {len(stress) - MAX_SHOCKS} more in the workbook.")
    pdf.heading("Taxes")
    if m.taxable:
        pdf.table(
            ["", ""],
            [
                ("Realised gain (net)", _gain(m.realized_gain_usd)),
                ("of which short-term", _gain(m.short_term_gain_usd)),
                ("of which long-term", _gain(m.long_term_gain_usd)),
                ("Losses harvested", usd(m.harvested_losses_usd)),
                ("Estimated tax", usd(m.estimated_tax_usd)),
            ],
            widths=(80, 60),
        )
    else:
        pdf.paragraph(
            f"The account is {m.account_type.replace('_', '-')}: its sales realise no taxable gain."
        )
    pdf.heading("Costs")
    pdf.paragraph(
        f"Estimated trading cost {usd(m.est_cost_usd)}, {pct(m.est_cost_usd / m.nav_usd, 2)} "
        "of the account (the bid-ask spread and the price impact of the orders)."
    )
    pdf.heading("Important information")
    pdf.paragraph(config.disclaimer or DEFAULT_DISCLAIMER, size=7.5)
    return pdf


def _gain(value: float) -> str:
    return "not known (no cost basis)" if value is None or math.isnan(value) else usd(value)


def _font_files() -> tuple[str, str]:
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return str(fonts / "DejaVuSans.ttf"), str(fonts / "DejaVuSans-Bold.ttf")


class _Document:
    """The few layout moves the report makes, on an fpdf2 document (letter, portrait).
    Every string passes ``_drawable`` and goes in as text."""

    def __init__(self, fpdf_class, firm: str, proposal: Proposal) -> None:
        pdf = fpdf_class(orientation="portrait", unit="mm", format="letter")
        regular, bold = _font_files()
        pdf.add_font("DejaVu", "", regular)
        pdf.add_font("DejaVu", "B", bold)
        pdf.set_margins(18, 16, 18)
        pdf.set_auto_page_break(True, margin=16)
        pdf.set_title(one_line(f"Rebalancing proposal {proposal.account}"))  # metadata
        pdf.set_creator("rebalancer")
        footer_text = _drawable(pdf, firm) if firm else ""

        def footer() -> None:
            pdf.set_y(-12)
            pdf.set_font("DejaVu", "", 7)
            pdf.set_text_color(110)
            width = pdf.w - pdf.l_margin - pdf.r_margin
            firm = _fit(pdf, footer_text, width - 20) if footer_text else ""
            pdf.cell(0, 4, text=f"{firm}    page {pdf.page_no()}".strip(), align="R")
            pdf.set_text_color(0)

        pdf.footer = footer
        self.pdf = pdf
        self.firm = footer_text

    def __getattr__(self, name):
        return getattr(self.pdf, name)

    def title(self, text: str) -> None:
        if self.firm:
            self.line_text(self.firm, size=10, bold=True)
        self.pdf.set_font("DejaVu", "B", 18)
        self.pdf.multi_cell(0, 9, text=_drawable(self.pdf, text), new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        self.pdf.ln(2)
        self.pdf.set_font("DejaVu", "B", 12)
        self.pdf.set_text_color(31, 78, 121)
        self.pdf.multi_cell(0, 7, text=_drawable(self.pdf, text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0)

    def line_text(self, text: str, size: float = 10, bold: bool = False) -> None:
        self.pdf.set_font("DejaVu", "B" if bold else "", size)
        self.pdf.multi_cell(
            0, size * 0.5, text=_drawable(self.pdf, text), new_x="LMARGIN", new_y="NEXT"
        )

    def paragraph(self, text: str, size: float = 9.5) -> None:
        self.pdf.set_font("DejaVu", "", size)
        self.pdf.multi_cell(
            0, size * 0.5, text=_drawable(self.pdf, text), align="L", new_x="LMARGIN", new_y="NEXT"
        )
        self.pdf.ln(1)

    def table(self, header, rows, widths, size: float = 9, align: str = "") -> None:
        """Rows of cells, each cut to its column (``align``: a letter per column, by
        default the first left and the others right); a bold header row when it says
        anything."""
        pdf = self.pdf
        height = size * 0.55
        align = align or "L" + "R" * (len(widths) - 1)
        if any(header):
            pdf.set_font("DejaVu", "B", size)
            for text, width, how in zip(header, widths, align, strict=True):
                pdf.cell(width, height, text=_drawable(pdf, str(text)), border="B", align=how)
            pdf.ln(height)
        pdf.set_font("DejaVu", "", size)
        for row in rows:
            for text, width, how in zip(row, widths, align, strict=True):
                pdf.cell(width, height, text=_fit(pdf, _drawable(pdf, str(text)), width), align=how)
            pdf.ln(height)
        pdf.ln(1.5)

    def image(self, png: io.BytesIO, max_height: float = 150) -> None:
        """The chart across the text width, or narrower to stay ``max_height`` mm tall."""
        from PIL import Image  # matplotlib's own dependency

        pdf = self.pdf
        png.seek(0)  # a chart is drawn again when the report is laid out again (FITS)
        with Image.open(png) as im:
            aspect = im.height / im.width
        png.seek(0)
        width = min(pdf.w - pdf.l_margin - pdf.r_margin, max_height / aspect)
        pdf.image(png, x=pdf.l_margin, w=width, h=width * aspect)
        pdf.ln(1)


def _drawable(pdf, text: str) -> str:
    """``text`` as the report draws it: control characters as escapes (``one_line``), and
    the bidirectional overrides too (they would reorder what follows them on the line);
    each character the font has no glyph for (CJK, emoji) as ``?``, shown rather than
    silently left out."""
    glyphs = pdf.fonts["dejavu"].cmap
    text = BIDI_CONTROLS.sub(lambda m: f"\\u{ord(m[0]):04x}", one_line(text))
    return "".join(c if ord(c) in glyphs or c == " " else "?" for c in text)


def _fit(pdf, text: str, width: float) -> str:
    """``text`` cut (with "...") to fit a cell ``width`` mm wide at the current font."""
    if pdf.get_string_width(text) <= width - 1.5:
        return text
    while text and pdf.get_string_width(text + "...") > width - 1.5:
        text = text[:-1]
    return text + "..."
