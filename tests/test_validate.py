"""`rebalancer validate`: every problem in the inputs and scenarios, one line each, exit 1;
'ok' and exit 0 when there is none; and nothing written either way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SCENARIOS, make_universe, run_cli, write_scenario

BASE = SCENARIOS / "base.yaml"

# Seven mistakes against the synthetic market (its biotech theme has 8 names).
MANY_MISTAKES = """
extends: base.yaml
risk_aversoin: 5
tilts:
  "size:large": {target: 1.5}
  "size:mid": {target: 0.0, band: -0.02}
  "sector:Mining": {target: 0.05, band: 0.01}
  "theme:biotech": {target: 0.40, band: 0.02}
constraints:
  cash: {target: 0.01, min: 0.03}
  max_position: {default: 0.05, "theme:biotech": 0.01}
screens:
  - {where: all, require: "levrage <= 3"}
"""

# (key named on the line, what the line says)
EXPECTED = [
    ("risk_aversoin", "unknown key (did you mean 'risk_aversion'?)"),
    ("tilts.size:large.target", "1.5 is outside [-1, 1]"),
    ("tilts.size:mid.band", "-0.02 is outside [0, 1]"),
    (
        "tilts.sector:Mining",
        "group 'sector:Mining' matches no security in the universe: its active exposure is 0,"
        " outside the band [0.04, 0.06]",
    ),
    # 8 biotech names × 1% cap = 8% at most; the tilt needs 40% − 2% = 38%
    (
        "tilts.theme:biotech",
        "needs active exposure >= 0.38 but the position caps allow at most 0.08",
    ),
    ("constraints.cash", "min 0.03 is above target 0.01"),
    # after base.yaml's two screens (screens accumulate along extends)
    ("screens[3].require", "unknown column 'levrage' (did you mean 'leverage'?)"),
]


def validate(scenario: Path, universe: Path):
    return run_cli("validate", "--scenario", scenario, "--universe", universe)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.fixture
def many_mistakes(market, tmp_path):
    scenario = write_scenario(tmp_path / "mistakes.yaml", MANY_MISTAKES)
    return validate(scenario, market["universe"])


def test_validate_exits_1_on_a_scenario_with_mistakes(many_mistakes):
    assert many_mistakes.exit_code == 1


@pytest.mark.parametrize(("key", "message"), EXPECTED, ids=[k for k, _ in EXPECTED])
def test_validate_names_each_mistake_on_one_line(many_mistakes, key, message):
    lines = [line for line in error_lines(many_mistakes.output) if f"key '{key}': " in line]
    assert len(lines) == 1, many_mistakes.output
    assert lines[0].endswith(message)
    assert "mistakes.yaml" in lines[0]


def test_validate_reports_nothing_beyond_the_mistakes(many_mistakes):
    assert len(error_lines(many_mistakes.output)) == len(EXPECTED), many_mistakes.output


def test_validate_reports_an_extends_cycle(tmp_path, market):
    write_scenario(tmp_path / "a.yaml", "extends: b.yaml\n")
    write_scenario(tmp_path / "b.yaml", "extends: a.yaml\n")
    result = validate(tmp_path / "a.yaml", market["universe"])
    assert result.exit_code == 1
    assert "extends cycle: a.yaml -> b.yaml -> a.yaml" in result.output


def test_validate_reports_a_missing_parent(tmp_path, market):
    child = write_scenario(tmp_path / "child.yaml", "extends: nowhere.yaml\n")
    result = validate(child, market["universe"])
    assert result.exit_code == 1
    assert "key 'extends': parent scenario 'nowhere.yaml' not found" in result.output


def test_validate_prints_ok_and_exits_0_on_a_clean_scenario(tmp_path, market):
    clean = write_scenario(
        tmp_path / "clean.yaml",
        'extends: base.yaml\ntilts:\n  "size:mid": {target: 0.05, band: 0.02}\n',
    )
    result = validate(clean, market["universe"])
    assert result.exit_code == 0, result.output
    # base.yaml's EM screens read a leverage column this universe lacks: warnings only
    assert not error_lines(result.output), result.output
    assert result.output.strip().splitlines()[-1] == "ok: no problems found"


def test_validate_reports_a_bad_universe_cell_and_a_bad_scenario_in_one_run(tmp_path):
    uni = make_universe().astype(object)
    uni.loc[3, "price"] = "abc"  # the fifth line of the file: spreadsheet row 5
    uni.to_csv(tmp_path / "universe.csv", index=False)
    scenario = write_scenario(tmp_path / "s.yaml", "extends: base.yaml\nrisk_aversoin: 5\n")
    result = validate(scenario, tmp_path / "universe.csv")
    assert result.exit_code == 1
    lines = error_lines(result.output)
    assert len(lines) == 2, result.output
    assert any("universe.csv, row 5, column 'price'" in line for line in lines)
    assert any("key 'risk_aversoin': unknown key" in line for line in lines)


@pytest.mark.parametrize("text", [MANY_MISTAKES, "extends: base.yaml\n"], ids=["bad", "clean"])
def test_validate_writes_no_file(tmp_path, market, monkeypatch, text):
    monkeypatch.chdir(tmp_path)  # anything written relative to the working folder shows too
    scenario = write_scenario(tmp_path / "s.yaml", text)

    def listing():
        return sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))

    before = listing()
    run_cli(
        "validate",
        "--scenario", scenario,
        "--universe", market["universe"],
        "--holdings", market["holdings"],
    )  # fmt: skip
    assert listing() == before


# --- settings a universe leaves without effect: warnings, not problems -------------------


def warning_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize(
    ("snippet", "key", "says"),
    [
        (
            'screens:\n  - {where: all, require: "leverage <= 3"}\n',
            "screens[3].require",  # after base.yaml's two
            "the universe has no values in column 'leverage': the 80 names of 'all' cannot be"
            " screened (leverage <= 3) and are not bought (they may be held and sold)",
        ),
        (
            'views:\n  - {long: "size:small", rate_change: -0.01, sensitivity: 4,'
            " scale_by: floating_debt_pct}\n",
            "views[1]",
            "the universe has no values in column 'floating_debt_pct': the view is left out",
        ),
        (
            'constraints:\n  max_position: {default: 0.05, "sector:Industrial": 0.02}\n',
            "constraints.max_position.sector:Industrial",
            "group 'sector:Industrial' matches no security in the universe (did you mean"
            " 'sector:Industrials'?): no effect on constraints.max_position.sector:Industrial",
        ),
        (
            'tilts:\n  "theme:rna": {target: 0.0, band: 0.01}\n',
            "tilts.theme:rna",
            "group 'theme:rna' matches no security in the universe: no effect on tilts.theme:rna",
        ),
    ],
    ids=["screen-column", "rate-view-column", "near-miss-sector", "tilt-holding-0"],
)
def test_validate_warns_of_a_setting_without_effect_and_passes(
    tmp_path, market, snippet, key, says
):
    # the synthetic market's universe file has no leverage or floating_debt_pct column,
    # its sectors include Industrials, its only theme is biotech
    scenario = write_scenario(tmp_path / "s.yaml", f"extends: base.yaml\n{snippet}")
    result = validate(scenario, market["universe"])
    assert result.exit_code == 0, result.output
    lines = [line for line in warning_lines(result.output) if f"key '{key}': " in line]
    assert len(lines) == 1, result.output
    assert lines[0].endswith(says)
    assert not error_lines(result.output)


# --- tilts measured as propose measures them -------------------------------------------


def _large_weight(market) -> float:
    """The account's current weight in size:large (base.yaml's buckets: cap >= 10e9),
    from the holdings and universe files."""
    import pandas as pd

    uni = pd.read_csv(market["universe"]).set_index("ticker")
    lots = pd.read_csv(market["holdings"])
    stock = lots[lots["ticker"] != "CASH"]
    value = stock["quantity"] * stock["ticker"].map(uni["price"])
    nav = value.sum() + lots.loc[lots["ticker"] == "CASH", "quantity"].sum()
    large = stock["ticker"].map(uni["market_cap"]) >= 10e9
    return float(value[large].sum() / nav)


def test_validate_without_a_benchmark_measures_tilts_against_the_holdings(tmp_path, market):
    """Without a benchmark a proposal's active exposure is against the account's current
    weights: an underweight of large caps the account can sell into is reachable, an
    overweight beyond what the caps leave above its holdings is not."""
    held = _large_weight(market)
    assert held > 0.9  # the synthetic account holds the largest names
    under = write_scenario(
        tmp_path / "under.yaml",
        'extends: base.yaml\ntilts:\n  "size:large": {target: -0.10, band: 0.02}\n',
    )
    args = ["validate", "--universe", market["universe"], "--holdings", market["holdings"]]
    result = run_cli(*args, "--scenario", under)
    assert result.exit_code == 0, result.output  # zero weights said "no less than -0"
    over = write_scenario(
        tmp_path / "over.yaml",
        'extends: base.yaml\ntilts:\n  "size:large": {target: 0.10, band: 0.02}\n',
    )
    result = run_cli(*args, "--scenario", over)
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result.output)
    most = 1 - 0.01 - held  # base.yaml: 1% cash floor; 5% caps on 30-odd large caps
    assert "over.yaml" in line and "key 'tilts.size:large'" in line
    assert line.endswith(
        f"account ACC1: needs active exposure >= 0.08 but the position caps allow at most {most:.4g}"
    )
    # with no holdings either, no reference is known: nothing against the underweight
    result = run_cli("validate", "--universe", market["universe"], "--scenario", under)
    assert result.exit_code == 0, result.output


# --- a book's accounts file: its own benchmarks and scenarios, resolved as batch does --

OVER = 'extends: base.yaml\ntilts:\n  "size:large": {target: 0.10, band: 0.02}\n'


def _benchmark(path: Path, market, large: bool) -> Path:
    """Equal weights in the universe's large caps (large) or in the rest; written."""
    import pandas as pd

    uni = pd.read_csv(market["universe"])
    names = uni.loc[(uni["market_cap"] >= 10e9) == large, "ticker"]
    pd.DataFrame({"ticker": names, "weight": 1 / len(names)}).to_csv(path, index=False)
    return path


def _accounts(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "book" / "accounts.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("account,scenario,benchmark\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_validate_measures_an_account_against_its_own_benchmark(tmp_path, market):
    """+8% of large caps: unreachable against ACC1's holdings (over 90% large), reachable
    against a benchmark of small names, unreachable against one all in large caps; the
    line names the account."""
    over = write_scenario(tmp_path / "over.yaml", OVER)
    book = tmp_path / "book"
    book.mkdir()
    _benchmark(book / "small.csv", market, large=False)
    _benchmark(book / "large.csv", market, large=True)
    args = ["validate", "--universe", market["universe"], "--holdings", market["holdings"]]
    held = run_cli(*args, "--scenario", over)
    assert held.exit_code == 1, held.output
    small = run_cli(*args, "--scenario", over, "--accounts", _accounts(tmp_path, "ACC1,,small.csv"))
    assert small.exit_code == 0, small.output
    large = run_cli(*args, "--scenario", over, "--accounts", _accounts(tmp_path, "ACC1,,large.csv"))
    assert large.exit_code == 1, large.output
    (line,) = error_lines(large.output)
    assert "key 'tilts.size:large'" in line
    # 5% caps on the large caps leave 99% (1% cash floor); the benchmark holds 100% there
    assert line.endswith("account ACC1: needs active exposure >= 0.08 but the position caps "
                         "allow at most -0.01")  # fmt: skip


def test_validate_reads_each_named_benchmark_and_refuses_one_outside_the_folder(tmp_path, market):
    book = tmp_path / "book"
    book.mkdir()
    (book / "bad.csv").write_text("ticker,weight\nS001,0.5\nNOPE,0.5\n")
    (tmp_path / "outside.csv").write_text("ticker,weight\nS001,1\n")
    accounts = _accounts(
        tmp_path, "A1,base.yaml,bad.csv", "A2,base.yaml,../outside.csv", "A3,base.yaml,bad.csv"
    )
    result = run_cli("validate", "--universe", market["universe"], "--accounts", accounts)
    assert result.exit_code == 1, result.output
    lines = error_lines(result.output)
    assert len(lines) == 2, result.output  # bad.csv read once for A1 and A3
    assert lines[0].startswith(f"error: {book / 'bad.csv'}, row 3, column 'ticker': ")
    assert "NOPE" in lines[0]
    assert lines[1].startswith(f"error: {accounts}, row 3, column 'benchmark': ")
    assert "outside" in lines[1]


def test_validate_with_an_accounts_file_alone_checks_the_scenarios_it_names(tmp_path, market):
    """Without --scenario: each scenario the accounts name (relative to the accounts file,
    or a bare name from the shipped library), measured against the references of the
    accounts that name it."""
    book = tmp_path / "book"
    book.mkdir()
    write_scenario(book / "over.yaml", OVER)
    _benchmark(book / "small.csv", market, large=False)
    args = ["validate", "--universe", market["universe"], "--holdings", market["holdings"]]
    # ACC1 against its holdings: the tilt is out of reach; the library's base is fine
    result = run_cli(*args, "--accounts", _accounts(tmp_path, "ACC1,over.yaml,", "B,base.yaml,"))
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result.output)
    assert f"{book / 'over.yaml'}" in line and "account ACC1: needs active exposure" in line
    # named by an account with a small-cap benchmark only: reachable
    result = run_cli(
        *args, "--accounts", _accounts(tmp_path, "ACC1,base.yaml,", "B,over.yaml,small.csv")
    )
    assert result.exit_code == 0, result.output
    assert "ok: no problems found" in result.output
    # a scenario out of the folder: the accounts file's row and column
    result = run_cli(*args, "--accounts", _accounts(tmp_path, "ACC1,../over.yaml,"))
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result.output)
    assert line.startswith(f"error: {book / 'accounts.csv'}, row 2, column 'scenario': ")


def test_validate_with_an_accounts_file_alone_refuses_a_row_without_a_scenario(tmp_path, market):
    """``batch`` refuses a row that names no scenario; ``validate --accounts`` of a book
    (without --scenario, a file whose rows name scenarios, checked as ``batch`` runs it)
    reports each such row, with the line ``batch`` gives for the first."""
    book = tmp_path / "book"
    book.mkdir()
    accounts = _accounts(tmp_path, "ACC1,,", "B,base.yaml,", "C,,")
    args = ["validate", "--universe", market["universe"], "--holdings", market["holdings"]]
    result = run_cli(*args, "--accounts", accounts)
    assert result.exit_code == 1, result.output
    lines = error_lines(result.output)
    assert len(lines) == 2, result.output
    assert "row 2: account ACC1 names no scenario" in lines[0] and str(accounts) in lines[0]
    assert "row 4: account C names no scenario" in lines[1]
    batch = run_cli(
        "batch", "--universe", market["universe"], "--holdings", market["holdings"],
        "--accounts", accounts, "--out-dir", tmp_path / "out",
    )  # fmt: skip
    assert batch.exit_code == 1, batch.output
    assert error_lines(batch.output) == lines[:1]
    assert not (tmp_path / "out").exists()
    # checking the files for propose --accounts --scenario: the rows need no scenario
    result = run_cli(*args, "--scenario", SCENARIOS / "base.yaml", "--accounts", accounts)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "column, value",
    [("status", "retired"), ("withdraw_usd", "-5"), ("deposit_usd", "lots"), ("mode", "sell-all")],
)
def test_validate_checks_the_daily_columns_of_an_accounts_file(tmp_path, market, column, value):
    # the columns of the advisor's day (a first rebalance, a cash request, a trade mode)
    # are read where every accounts column is, so validate names a bad cell of them too
    path = tmp_path / "book" / "accounts.csv"  # base.yaml: the shipped library's
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"account,scenario,{column}\nACC1,base.yaml,{value}\n")
    result = run_cli(
        "validate", "--universe", market["universe"], "--holdings", market["holdings"],
        "--accounts", path,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result.output)
    assert line.startswith(f"error: {path}, row 2, column '{column}': "), line
