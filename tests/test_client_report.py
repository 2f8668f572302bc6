"""The client proposal PDF (``propose --report``), opened with a PDF reader (pypdf,
pure Python): two to four pages; the account, the scenario's belief, the number of
orders, the largest buy and sale and the tax figures in its text, equal to the JSON
summary's and the trades CSV's (formatted here, independently); charts embedded as
images; every text from the inputs (a scenario's name and description, the config's
firm name and disclaimer) written as text, never markup or a link; a bad config one
line, exit 1, nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from rebalancer.export.csvout import read_written_trades
from tests.conftest import BOOK_AS_OF, EXAMPLES, SCENARIOS, propose_example, write_scenario

# markup of every kind a renderer might act on, a formula, a TeX string, HTML, a link
HOSTILE_DESCRIPTION = "<b>bold</b> **not bold** =HYPERLINK(1) $\\frac{1}{2}$ & <script>x</script>"
HOSTILE_FIRM = "<i>Acme</i> & Co =1+1 **Wealth**"


def _usd(value: float) -> str:
    whole = round(value)
    return f"-${-whole:,}" if whole < 0 else f"${whole:,}"


def _propose(tmp: Path, account: str, *extra) -> object:
    return propose_example(account, *extra)


@pytest.fixture(scope="module")
def taxable(tmp_path_factory):
    """TAX-2M under a scenario with a hostile name and description (the small-cap
    re-rating otherwise), with a config naming a hostile firm: report, JSON, trades."""
    tmp = tmp_path_factory.mktemp("client_report")
    scenario = write_scenario(
        tmp / "hostile.yaml",
        "extends: smallcap_rerating.yaml\n"
        f"name: '<u>Re-rating</u>'\n"
        f"description: {json.dumps(HOSTILE_DESCRIPTION)}\n",
    )
    config = tmp / "report.yaml"
    config.write_text(
        f"firm_name: {json.dumps(HOSTILE_FIRM)}\ndisclaimer: 'Not advice. <a href=x>click</a>'\n"
        "top_trades: 3\n",
        encoding="utf-8",
    )
    result = _propose(tmp, "TAX-2M", "--scenario", scenario, "--report", tmp / "r.pdf",
                      "--report-config", config, "--json", tmp / "s.json",
                      "--trades", tmp / "t.csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp


def _text(reader: PdfReader) -> str:
    # one space between words whatever the extractor's line breaks and spacing
    return " ".join(" ".join(p.extract_text() for p in reader.pages).split())


def test_the_report_has_two_to_four_pages_and_the_key_figures(taxable):
    reader = PdfReader(taxable / "r.pdf")
    assert 2 <= len(reader.pages) <= 4
    text = _text(reader)
    summary = json.loads((taxable / "s.json").read_text())
    trades = read_written_trades(taxable / "t.csv")
    assert "Account TAX-2M" in text
    assert f"Orders {summary['n_trades']} (" in text
    assert f"Realised gain (net) {_usd(summary['realized_gain'])}" in text
    assert f"Estimated tax {_usd(summary['estimated_tax'])}" in text
    assert f"Losses harvested {_usd(summary['harvested_losses'])}" in text
    assert f"Estimated trading cost {_usd(summary['est_cost'])}" in text
    for side, title in (("BUY", "Largest buys"), ("SELL", "Largest sales")):
        mine = trades[trades["side"] == side].sort_values("notional", ascending=False)
        listed = text.split(title, 1)[1]
        for top in mine.head(3).itertuples():  # top_trades: 3, each with shares and amount
            assert f"{top.ticker} " in listed and _usd(top.notional) in listed
            assert f"{int(top.quantity):,} {_usd(top.notional)}" in listed
    # top_trades: 3 from the config: the fourth largest buy is not listed
    buys = trades[trades["side"] == "BUY"].sort_values("notional", ascending=False)
    assert _usd(buys.iloc[3]["notional"]) not in text.split("Largest sales")[0]
    vol = f"{summary['volatility'] * 100:.1f}%"
    assert vol in text
    for stress in summary["stress"]:
        assert _usd(stress["pnl_after_usd"]) in text


def test_the_report_embeds_its_charts_as_images(taxable):
    reader = PdfReader(taxable / "r.pdf")
    images = sum(len(page.images) for page in reader.pages)
    assert images >= 2  # the allocation chart, the stress chart


def test_text_from_the_inputs_is_written_as_text(taxable):
    reader = PdfReader(taxable / "r.pdf")
    text = _text(reader)
    assert HOSTILE_DESCRIPTION in text  # every character shown, nothing interpreted
    assert HOSTILE_FIRM in text
    assert "<u>Re-rating</u>" in text
    assert "Not advice. <a href=x>click</a>" in text
    raw = (taxable / "r.pdf").read_bytes()
    for action in (b"/URI", b"/JavaScript", b"/Launch", b"/Annots"):
        assert action not in raw


def test_a_tax_exempt_account_says_so(tmp_path):
    result = _propose(tmp_path, "IRA-250K", "--scenario", SCENARIOS / "smallcap_rerating.yaml",
                      "--report", tmp_path / "r.pdf", "--json", tmp_path / "s.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    reader = PdfReader(tmp_path / "r.pdf")
    assert 2 <= len(reader.pages) <= 4
    text = _text(reader)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert f"Orders {summary['n_trades']} (" in text
    assert "not a taxable account" in text
    assert "Overweight undervalued, profitable small caps against large caps." in text


@pytest.mark.parametrize(
    "config, message",
    [
        ("firm_nam: Acme\n", "key 'firm_nam': unknown key (did you mean 'firm_name'?)"),
        ("logo: x.png\n", "key 'logo': unknown key; expected firm_name, disclaimer, top_trades"),
        ("top_trades: 0\n", "key 'top_trades': expected a whole number from 1 to 10"),
        ("firm_name: [a, b]\n", "key 'firm_name': expected text of at most 200 characters"),
        ("- a\n- b\n", "expected a mapping of settings at the top level"),
        ("firm_name: Acme\nfirm_name: Beta\n", "firm_name"),
    ],
)
def test_a_bad_report_config_is_one_line_and_nothing_is_written(tmp_path, config, message):
    path = tmp_path / "cfg.yaml"
    path.write_text(config, encoding="utf-8")
    out = tmp_path / "out"
    result = _propose(tmp_path, "TAX-2M", "--scenario", SCENARIOS / "smallcap_rerating.yaml",
                      "--report", out / "r.pdf", "--report-config", path,
                      "--json", out / "s.json")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert message in result.output and str(path) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_a_report_config_without_a_report_is_refused(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("firm_name: Acme\n", encoding="utf-8")
    result = _propose(tmp_path, "TAX-2M", "--scenario", SCENARIOS / "smallcap_rerating.yaml",
                      "--report-config", path, "--json", tmp_path / "s.json")  # fmt: skip
    assert result.exit_code == 1
    assert "--report-config: given without --report" in result.output
    assert not (tmp_path / "s.json").exists()


def test_the_longest_inputs_still_fit_in_four_pages(tmp_path):
    """A scenario at every length the report shows (a long description, a tilt on every
    sector, more stress tests than it lists) and a config at its limits (ten trades a
    side, the longest firm name and disclaimer): four pages at most, the figures kept."""
    import pandas as pd

    from rebalancer.export.client_report import write_client_report
    from rebalancer.export.report_config import MAX_DISCLAIMER, MAX_FIRM, ReportConfig
    from rebalancer.runs.propose import propose_to_files

    sectors = sorted(pd.read_csv(EXAMPLES / "universe.csv")["sector"].unique())
    tilts = "".join(f"  'sector:{s}': {{target: 0.0, band: 0.5}}\n" for s in sectors)
    shocks = "".join(f"  - {{name: shock {k}, 'size:small': -0.0{k % 9 + 1}}}\n" for k in range(20))
    scenario = write_scenario(
        tmp_path / "long.yaml",
        "extends: smallcap_rerating.yaml\n"
        f"description: {json.dumps('A belief stated at length. ' * 120)}\n"
        f"tilts:\n{tilts}shocks:\n{shocks}",
    )
    proposal, _ = propose_to_files(
        EXAMPLES / "holdings.csv", EXAMPLES / "universe.csv", scenario,
        prices=EXAMPLES / "prices.csv", benchmark=EXAMPLES / "benchmark.csv",
        accounts=EXAMPLES / "accounts.csv", account="TAX-2M", as_of=BOOK_AS_OF,
    )  # fmt: skip
    config = ReportConfig("F" * MAX_FIRM, "Read this. " * (MAX_DISCLAIMER // 11), 10)
    write_client_report(proposal, tmp_path / "r.pdf", config)
    reader = PdfReader(tmp_path / "r.pdf")
    assert 2 <= len(reader.pages) <= 4
    text = _text(reader)
    assert f"Orders {proposal.metrics.n_trades} (" in text
    assert _usd(proposal.metrics.realized_gain_usd) in text
    # text the font cannot draw is shown as "?", never dropped; a bidi override as its escape
    write_client_report(proposal, tmp_path / "cjk.pdf", ReportConfig("株式会社 Acme 🚀 \u202eevil"))
    text = _text(PdfReader(tmp_path / "cjk.pdf"))
    assert "???? Acme ? \\u202eevil" in text


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler's pdftotext not installed")
def test_pdftotext_reads_the_same_figures(taxable):
    """A second reader (poppler, as a client's viewer would be) finds the same text."""
    done = subprocess.run(["pdftotext", str(taxable / "r.pdf"), "-"], capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    text = " ".join(done.stdout.split())
    summary = json.loads((taxable / "s.json").read_text())
    assert "Account TAX-2M" in text and HOSTILE_DESCRIPTION in text
    assert f"{summary['n_trades']} (" in text
    for figure in ("realized_gain", "estimated_tax", "harvested_losses"):
        assert _usd(summary[figure]) in text
