"""The workbooks as a client opens and prints them: LibreOffice converts each to PDF
headless (the real client, not our own reading of the file), and the pages are counted
and read (poppler's ``pdfinfo`` and ``pdftotext``).

What is asserted, from the printout alone:

* TAX-2M's proposal prints on at most ``TAX_2M_PAGES`` landscape pages (before page
  setup: 39 portrait pages, the Summary's values on a page apart from their labels).
  The bound is the sheets' own: Summary 1, Trades 2–3 (67 orders, wrapped reasons),
  Exposures 2 (the table, then the chart on a page of its own), Holdings 3 (84 rows),
  Scenario 3, Checks 1, Tax 1 — 13 measured, 16 allowed for fonts that set a little
  larger on another machine;
* the Summary is one page, each label's value beside it on that page;
* every page of a table sheet carries the table's first and last header (one page
  wide, header row repeated) and the page header names the account;
* the what-if workbook and the book summary within their bounds (before: 77 and
  13 pages; the book's Accounts sheet was three pages wide).

LibreOffice (``libreoffice-calc``), poppler (``poppler-utils``) and a font
(``fonts-dejavu-core``) are installed by ``make test`` where the machine allows (root
with ``apt-get``: about 30 s and 300 MB on Debian 12); elsewhere these tests skip,
saying so.

Slow family: by default a sample — TAX-2M's proposal, a two-scenario what-if and the
example book's summary. ``REBALANCER_RENDER_ALL=1`` renders every workbook: each
example account's proposal, the README's six-run what-if and the book with its
per-account workbooks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from rebalancer.export.xlsx import heading
from tests.conftest import EXAMPLES, SCENARIOS, run_cli

ALL = os.environ.get("REBALANCER_RENDER_ALL") == "1"
TOOLS = ("soffice", "pdfinfo", "pdftotext")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not installed: `make test` installs libreoffice-calc and "
    "poppler-utils with apt-get when run as root on Debian/Ubuntu",
)

TAX_2M_PAGES = 16
WHATIF_SAMPLE_PAGES = 12  # two runs, about 150 orders
WHATIF_ALL_PAGES = 24  # the README's six runs, about 490 orders
BOOK_PAGES = 14
MARKET = [
    "--holdings", EXAMPLES / "holdings.csv", "--universe", EXAMPLES / "universe.csv",
    "--prices", EXAMPLES / "prices.csv", "--accounts", EXAMPLES / "accounts.csv",
]  # fmt: skip


def to_pdf(workbooks: list[Path], out: Path) -> dict[str, Path]:
    """Each workbook converted by LibreOffice, in one process (its own profile, so
    that tests running side by side do not share one)."""
    out.mkdir(parents=True, exist_ok=True)
    profile = (out / "lo-profile").as_uri()
    subprocess.run(
        ["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(out), *map(str, workbooks)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    pdfs = {w.stem: out / f"{w.stem}.pdf" for w in workbooks}
    assert all(p.exists() for p in pdfs.values()), sorted(out.iterdir())
    return pdfs


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def pages(pdf: Path) -> list[str]:
    """Each page's text, laid out as printed (form feeds split the pages)."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text.split("\f")[: page_count(pdf)]


def sheet_pages(texts: list[str], sheet: str) -> list[str]:
    """The pages of one sheet: the footer names the sheet ("Trades ... Page 2 of 12")."""
    return [t for t in texts if re.search(rf"^\s*{re.escape(sheet)}\s+Page \d+ of \d+", t, re.M)]


def _summary_on_one_page(workbook: Path, texts: list[str]) -> None:
    """Every Summary label on the Summary's one page, with its value on the same line
    (as the sheet holds it: a number as formatted, text as its first words)."""
    ws = openpyxl.load_workbook(workbook)["Summary"]
    summary = sheet_pages(texts, "Summary")
    assert len(summary) == 1, [t[:200] for t in summary]
    lines = summary[0].splitlines()
    for label, value in ws.iter_rows(min_row=3, max_col=2, values_only=True):
        if not label or value is None or label in ("Warnings", "Path", "Returns assume"):
            continue  # a blank row, or long text that wraps under its first line
        shown = _formatted(value, ws)
        assert any(label in line and shown in line for line in lines), (label, shown)


def _formatted(value, ws) -> str:
    if isinstance(value, str):
        return value.split()[0] if value.split() else value
    if isinstance(value, bool):
        return str(value).upper()
    return ""  # a number: formatted by LibreOffice; its presence beside the label is enough


def _tables_one_page_wide(workbook: Path, texts: list[str], sheets: dict[str, tuple[str, str]]):
    """Each page of each named sheet holds the table's first and last header (the
    header row repeated, nothing cut off to the right) and the page header."""
    for sheet, (first, last) in sheets.items():
        found = sheet_pages(texts, sheet)
        assert found, sheet
        for k, text in enumerate(found):
            assert first in text and last.split()[0] in text, (sheet, k, text[:400])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Name -> (workbook, its PDF): TAX-2M's proposal, the what-if, the book's summary
    (and with REBALANCER_RENDER_ALL each account's workbook), converted in one
    LibreOffice run (its start-up is most of a conversion's time)."""
    out = tmp_path_factory.mktemp("render")
    benchmark = ["--benchmark", EXAMPLES / "benchmark.csv"]
    result = run_cli(
        "propose", *MARKET, "--account", "TAX-2M", *benchmark,
        "--scenario", SCENARIOS / "smallcap_rerating.yaml", "--out", out / "tax.xlsx", "-q",
        tax_status=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = ["--scenario", SCENARIOS / "smallcap_rerating.yaml", "--scenario", SCENARIOS / "status_quo.yaml"]  # fmt: skip
    if ALL:  # the README's example: six runs
        runs += ["--vary", "constraints.max_turnover=0.1,0.2,0.3"]
    result = run_cli(
        "whatif", *MARKET, "--account", "FDN-20M", *benchmark, *runs,
        "--out", out / "whatif.xlsx", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    extra = ["--workbooks"] if ALL else []
    result = run_cli("batch", *MARKET, "--out-dir", out / "book", "--workers", "1", *extra)
    assert result.exit_code == 0, result.output
    workbooks = [out / "tax.xlsx", out / "whatif.xlsx", *sorted((out / "book").glob("*.xlsx"))]
    pdfs = to_pdf(workbooks, out / "pdf")
    return {w.stem: (w, pdfs[w.stem]) for w in workbooks}


def test_tax_2m_proposal_prints_on_a_handful_of_landscape_pages(rendered):
    workbook, pdf = rendered["tax"]
    assert page_count(pdf) <= TAX_2M_PAGES
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert width > height  # landscape
    texts = pages(pdf)
    assert all("Account TAX-2M" in t for t in texts)  # the page header, on every page
    _summary_on_one_page(workbook, texts)
    trades = sheet_pages(texts, "Trades")
    assert 1 <= len(trades) <= 3
    _tables_one_page_wide(
        workbook,
        texts,
        {
            "Trades": (heading("ticker"), heading("lots_sold")),
            "Holdings": (heading("ticker"), heading("benchmark_weight")),
            "Checks": ("check", "detail"),
            "Tax": (heading("account"), heading("term")),
        },
    )
    assert "All orders" in trades[-1]  # the totals row, on the last page of the orders


def test_book_summary_prints_each_sheet_one_page_wide(rendered):
    workbook, pdf = rendered["book_summary"]
    texts = pages(pdf)
    assert len(texts) <= BOOK_PAGES
    assert all("Book summary" in t for t in texts)
    _tables_one_page_wide(
        workbook, texts, {"Accounts": ("account", "seconds"), "Allocations": ("ticker", "price")}
    )


@pytest.mark.skipif(not ALL, reason="every account's workbook: REBALANCER_RENDER_ALL=1")
def test_every_book_workbook_prints_its_summary_on_one_page(rendered):
    accounts = [name for name in rendered if name not in ("tax", "whatif", "book_summary")]
    assert accounts
    for name in accounts:
        workbook, pdf = rendered[name]
        texts = pages(pdf)
        assert len(texts) <= TAX_2M_PAGES, name
        _summary_on_one_page(workbook, texts)


def test_whatif_workbook_prints_one_page_wide(rendered):
    workbook, pdf = rendered["whatif"]
    texts = pages(pdf)
    assert len(texts) <= (WHATIF_ALL_PAGES if ALL else WHATIF_SAMPLE_PAGES)
    assert len(sheet_pages(texts, "Compare")) == 1
    _tables_one_page_wide(workbook, texts, {"Trades": (heading("run"), heading("lots_sold"))})
