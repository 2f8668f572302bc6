"""``rebalancer drift``: which accounts need a rebalance today, and why.

Every account is measured against the targets its own scenario states (the scenario
and benchmark its row of the accounts file names, as ``batch`` resolves them), with
weights as fractions of NAV (holdings at universe prices + cash) and the reference
``r`` the optimizer uses: the benchmark's weights, or without a benchmark the
account's current weights (``prepare.position.reference_weights``). With the
scenario's ``triggers`` (``scenario.schema.Triggers``):

- **group drift** of each tilted group g: ``|Σ_{i∈g} (w_i − r_i) − target_g|``; past
  its trigger when above ``max(group_drift, band_g)`` (a band wider than the trigger
  is room the scenario grants).
- **name drift** of each name i: ``|w_i − r_i − t_i|``, with ``t_i`` the target of a
  ``ticker:`` tilt on the name (else 0); past its trigger above ``name_drift``.
- **tracking error**: ``sqrt((w − r)ᵀ Σ (w − r))`` with the risk model a proposal
  uses (from ``--prices``, else the factor model of the universe's columns); past
  its trigger above ``tracking_error_above``.
- **a hard limit broken today**: a name above its position cap (``max_position``,
  per group the strictest) or held though the universe says ``restricted: sell`` (a
  cap of 0): outside tolerance whatever the triggers, since a proposal must sell it.
- **cash drift**: cash weight − cash target (the accounts file's ``cash_target``,
  else the scenario's ``constraints.cash.target``); high cash above ``cash_above``,
  low cash below ``−cash_below``.

Each account gets the first status of ``STATUSES`` that applies: ``cash request`` (a
``withdraw_usd`` or ``deposit_usd`` above 0 in its row), ``first rebalance`` (it
holds no security, or its row's ``status`` is ``new``), ``high cash`` / ``low cash``,
``outside tolerance`` (a hard limit broken, or a group, a name or the tracking error
past its trigger), ``in tolerance``. The queue is sorted for action: by status in that order, then the most
urgent first (the largest amount requested against NAV; the largest NAV; the largest
ratio of a measure to its trigger), then by account.

The scan is vectorised over accounts (weights in blocks of ``CHUNK`` accounts) and
never calls the optimizer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from rebalancer.errors import RebalancerError
from rebalancer.export.atomic import check_target, protected_files, protected_identities
from rebalancer.export.queue import queue_format, write_queue_files
from rebalancer.inputs import readers as rd
from rebalancer.inputs.cells import parse_columns
from rebalancer.inputs.tables import ROW, read_table, require_columns
from rebalancer.limits.base import TOL
from rebalancer.limits.position import POSITION
from rebalancer.model.risk import RiskModel, build_risk_model
from rebalancer.model.universe import with_size
from rebalancer.runs.book.plan import BookFiles, plan
from rebalancer.scenario.loader import load_scenario
from rebalancer.scenario.schema import Scenario
from rebalancer.scenario.selectors import match, parse_selector

STATUSES = (
    "cash request",
    "first rebalance",
    "high cash",
    "low cash",
    "outside tolerance",
    "in tolerance",
)
IN_TOLERANCE = "in tolerance"
QUEUE_COLUMNS = [
    "account", "status", "reason", "scenario", "reference", "nav_usd", "cash_weight",
    "cash_target", "cash_drift", "name_drift", "worst_name", "group_drift", "worst_group",
    "tracking_error", "worst_names", "worst_groups", "withdraw_usd", "deposit_usd",
]  # fmt: skip
CHUNK = 1000  # accounts per block of dense weights (1,000 × 2,000 names: 16 MB)
SHOWN = 3  # worst names and groups listed per account


@dataclass(frozen=True)
class DriftScan:
    """The queue (``QUEUE_COLUMNS``, one row per account, sorted for action) and how
    long the scan took."""

    queue: pd.DataFrame
    seconds: float

    def counts(self) -> dict[str, int]:
        """Accounts per status, in ``STATUSES`` order (those with none left out)."""
        found = self.queue["status"].value_counts()
        return {s: int(found[s]) for s in STATUSES if s in found}

    def triggered(self) -> list[str]:
        """The accounts whose status is not ``in tolerance``, in queue order."""
        return self.queue.loc[self.queue["status"] != IN_TOLERANCE, "account"].tolist()

    def headline(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        return f"{len(self.queue)} accounts scanned in {self.seconds:.1f} s: {counts}"


@dataclass(frozen=True)
class _Model:
    """What the accounts of one scenario and benchmark are measured against."""

    scenario: Scenario
    label: str
    benchmark: pd.Series | None


def scan_book(
    accounts, holdings, universe, *, prices=None, benchmark=None, households: bool = False
) -> DriftScan:
    """Every account of the accounts file, measured and given its status (module
    docstring). ``benchmark``: for the accounts whose row names none. ``households``:
    each household of the ``household`` column measured as one account instead, on its
    combined portfolio (``_combined``), as ``batch --households`` proposes it. Raises
    ``RebalancerError`` naming the file, row and column (or scenario key) of a bad
    input."""
    t0 = time.perf_counter()
    files = BookFiles(str(holdings), str(universe), str(accounts),
                      None if prices is None else str(prices),
                      None if benchmark is None else str(benchmark))  # fmt: skip
    table = rd.read_accounts(accounts)
    # each row's scenario and benchmark, as a book resolves them
    jobs = plan(files, table, households=households)
    rows = _account_rows(table)
    uni = rd.read_universe(universe)
    lots = _positions(holdings)
    rd.check_holdings_in_universe(lots, uni, str(holdings))
    px = rd.read_prices(prices) if prices is not None else None
    scenarios = {path: load_scenario(path) for path in dict.fromkeys(j.scenario for j in jobs)}
    benchmarks = {path: _benchmark(path, uni) for path in {j.benchmark for j in jobs} if path}
    models = {
        (j.scenario, j.benchmark): _Model(
            scenarios[j.scenario], Path(j.scenario).stem, benchmarks.get(j.benchmark)
        )
        for j in jobs
    }
    if households:
        lots, rows = _combined(lots, rows, jobs, uni, scenarios)
    rows["model"] = [(j.scenario, j.benchmark) for j in jobs]
    queue = _measure(lots, uni, px, rows, models)
    return DriftScan(queue, time.perf_counter() - t0)


def scan_account(
    lots: pd.DataFrame,
    universe: pd.DataFrame,
    scenario: Scenario,
    *,
    prices: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
    accounts: pd.DataFrame | None = None,
    risk_model: Callable[[pd.DataFrame], RiskModel] | None = None,
) -> pd.Series:
    """One account's queue row (``lots``: its holdings rows, read and checked), under
    ``scenario`` (with no cash target of the account applied) and its row of the
    accounts file (``accounts``: as ``read_accounts`` reads it) when that lists it.
    ``risk_model``: the model of the universe with the scenario's size buckets, when
    the caller keeps one (``Inputs.risk_model``: a proposal that follows the scan then
    fits it once); else it is fitted here from ``prices``."""
    account = str(lots["account"].iloc[0])
    rows = _account_rows(accounts) if accounts is not None else None
    if rows is None or account not in set(rows["account"]):
        rows = pd.DataFrame({"account": [account], "cash_target": [np.nan], "new": [False],
                             "withdraw_usd": [np.nan], "deposit_usd": [np.nan]})  # fmt: skip
    rows = rows[rows["account"] == account].reset_index(drop=True)
    rows["model"] = [0]
    model = _Model(scenario, scenario.name, benchmark)
    return _measure(lots, universe, prices, rows, {0: model}, risk_model).iloc[0]


def drift_to_files(
    accounts, holdings, universe, *, prices=None, benchmark=None, out=None, json_path=None
) -> tuple[DriftScan, list[Path]]:
    """``rebalancer drift``: refuse an output that is an input, scan the book
    (``scan_book``), write the queue asked for. Nothing is written on an error."""
    inputs = {"accounts": accounts, "holdings": holdings, "universe": universe,
              "prices": prices, "benchmark": benchmark}  # fmt: skip
    protected = protected_files(inputs)
    if out is not None and queue_format(out):  # refused before the scan's seconds
        raise RebalancerError(f"--out: {queue_format(out)}")
    identities = protected_identities(protected)
    for path, option in ((out, "--out"), (json_path, "--json")):
        if path is not None:
            check_target(path, option, identities)
    scan = scan_book(accounts, holdings, universe, prices=prices, benchmark=benchmark)
    written = write_queue_files(scan.queue, scan.counts(), out=out, json_path=json_path,
                                protected=protected)  # fmt: skip
    return scan, written


# ------------------------------------------------------------------------ reading


def _account_rows(table: pd.DataFrame) -> pd.DataFrame:
    """account, cash_target (NaN: the scenario's), new (bool), withdraw_usd,
    deposit_usd (NaN when blank), row: the accounts file's rows (``table``, as
    ``read_accounts`` reads them) in file order."""
    return pd.DataFrame(
        {
            "account": table["account"].astype(str).to_numpy(),
            "cash_target": table["cash_target"].to_numpy(float),
            "new": (table["status"] == "new").to_numpy(),
            "withdraw_usd": table["withdraw_usd"].to_numpy(float),
            "deposit_usd": table["deposit_usd"].to_numpy(float),
            ROW: table[ROW].to_numpy(),
        }
    )


def _combined(lots, rows: pd.DataFrame, jobs, uni, scenarios: dict):
    """(lots, rows) with each household's accounts (a job with ``members``) as one
    account named after it: its holdings rows under its name (each name's shares and
    the cash summed: W = Σ π_a w_a), and one row at its first account's place — cash
    target the NAV-weighted mean of its accounts' (a blank one the scenario's: the
    household's cash Σ π_a c_a against Σ π_a t_a), new when any account is (a first
    investment is due), withdrawal and deposit the sums (blank when none is given)."""
    owner = {a: j.account for j in jobs for a in j.members}
    if not owner:
        return lots, rows
    cash = (lots["ticker"] == rd.CASH).to_numpy()
    price = uni["price"].reindex(lots["ticker"].where(~cash, uni.index[0])).to_numpy(float)
    value = lots["quantity"].to_numpy(float) * np.where(cash, 1.0, price)
    nav = pd.Series(value).groupby(lots["account"].to_numpy()).sum()
    by_account = rows.set_index("account")
    out = []
    for job in jobs:
        if not job.members:
            out.append(by_account.loc[[job.account]].reset_index())
            continue
        mine = by_account.loc[list(job.members)]
        weight = nav.reindex(mine.index, fill_value=0.0).to_numpy(float)
        target = mine["cash_target"].fillna(scenarios[job.scenario].constraints.cash.target)
        both = mine["cash_target"].notna().any() and weight.sum() > 0
        out.append(
            pd.DataFrame(
                {
                    "account": [job.account],
                    "cash_target": [float(target @ weight / weight.sum()) if both else np.nan],
                    "new": [bool(mine["new"].any())],
                    "withdraw_usd": [mine["withdraw_usd"].sum(min_count=1)],
                    "deposit_usd": [mine["deposit_usd"].sum(min_count=1)],
                    ROW: [mine[ROW].iloc[0]],
                }
            )
        )
    lots = lots.assign(account=lots["account"].map(lambda a: owner.get(a, a)))
    return lots, pd.concat(out, ignore_index=True)


def _positions(path) -> pd.DataFrame:
    """The holdings' ``account, ticker, quantity`` and ``row``, read and checked as
    ``read_holdings`` reads them; a lot's cost basis and date, which no drift measure
    uses, are left to the proposals (a book's million lots read in half the time)."""
    table = read_table(path)
    require_columns(table, rd.HOLDINGS_REQUIRED, path)
    cells = {c: rd.HOLDINGS_CELLS[c] for c in rd.HOLDINGS_REQUIRED}
    lots = pd.DataFrame(parse_columns(table, path, cells))
    lots[ROW] = table[ROW].to_numpy()
    return lots


def _benchmark(path: str, universe: pd.DataFrame) -> pd.Series:
    bench = rd.read_benchmark(path)
    rd.check_benchmark_in_universe(bench, universe, path)
    return bench


# ---------------------------------------------------------------------- measuring


def _measure(
    lots, universe, prices, rows: pd.DataFrame, models: dict, risk_model=None
) -> pd.DataFrame:
    """The queue of the accounts of ``rows`` (each with its ``model`` key); each set
    of size buckets' risk model from ``risk_model(sized universe)`` when given."""
    n = len(rows)
    position = pd.Index(rows["account"])
    held = lots[lots["account"].isin(position)]
    who = position.get_indexer(held["account"])
    cash_rows = (held["ticker"] == rd.CASH).to_numpy()
    quantity = held["quantity"].to_numpy(float)
    cash = np.bincount(who[cash_rows], quantity[cash_rows], minlength=n)
    names = universe.index.get_indexer(held["ticker"][~cash_rows])
    value = quantity[~cash_rows] * universe["price"].to_numpy(float)[names]
    w_usd = sparse.csr_matrix((value, (who[~cash_rows], names)), shape=(n, len(universe)))
    securities = np.asarray(w_usd.sum(axis=1)).ravel()
    nav = securities + cash

    out = pd.DataFrame({c: np.full(n, np.nan, dtype=object) for c in QUEUE_COLUMNS})
    out["account"] = rows["account"].to_numpy()
    out["nav_usd"] = nav
    out["withdraw_usd"] = rows["withdraw_usd"].to_numpy(float)
    out["deposit_usd"] = rows["deposit_usd"].to_numpy(float)
    # per account: each measure / its trigger (name, group, tracking error, cash) and
    # the triggers themselves, for the status, the reason and the order of the queue
    m = _Measures(n)
    sized: dict = {}
    keys = rows["model"].to_numpy(dtype=object)
    for key, model in models.items():
        members = np.flatnonzero(np.array([k == key for k in keys], dtype=bool))
        if not len(members):
            continue
        buckets = tuple(sorted(model.scenario.size_buckets.items()))
        if buckets not in sized:  # one risk model per set of size buckets, as a book has
            uni = with_size(universe, model.scenario)
            risk = risk_model(uni) if risk_model else build_risk_model(uni, prices)
            sized[buckets] = (uni, risk)
        _measure_model(w_usd, nav, cash, rows, members, model, *sized[buckets], out, m)

    asks = np.nan_to_num(out["withdraw_usd"].to_numpy(float)) + np.nan_to_num(
        out["deposit_usd"].to_numpy(float)
    )
    request = asks > 0
    first = rows["new"].to_numpy(bool) | (securities <= 0)
    high = out["cash_drift"].to_numpy(float) > m.cash_above
    low = out["cash_drift"].to_numpy(float) < -m.cash_below
    outside = (np.maximum.reduce([m.name, m.group, m.te]) > 1) | (m.breach != "")
    status = np.select([request, first, high, low, outside], list(STATUSES[:-1]), IN_TOLERANCE)
    out["status"] = status
    with np.errstate(divide="ignore", invalid="ignore"):
        cash_ratio = np.where(high, out["cash_drift"] / m.cash_above, 0.0)
        cash_ratio = np.where(low, -out["cash_drift"] / m.cash_below, cash_ratio)
        urgency = np.select(
            [request, first, high | low],
            [np.where(nav > 0, asks / nav, np.inf), nav, cash_ratio],
            # a broken hard limit before any drift past a trigger
            np.where(m.breach != "", np.inf, np.maximum.reduce([m.name, m.group, m.te])),
        )
    out["reason"] = [
        _reason(row, i, bool(new), m)
        for i, (row, new) in enumerate(zip(out.itertuples(index=False), rows["new"], strict=True))
    ]
    rank = pd.Series(status).map({s: i for i, s in enumerate(STATUSES)}).to_numpy()
    order = np.lexsort((out["account"].to_numpy(str), -urgency, rank))
    return out.iloc[order].reset_index(drop=True)


class _Measures:
    """Per account: each measure over its trigger, and the triggers in force."""

    def __init__(self, n: int) -> None:
        self.name, self.group, self.te = np.zeros(n), np.zeros(n), np.zeros(n)
        self.name_trigger, self.group_allowed = np.zeros(n), np.zeros(n)
        self.te_trigger = np.zeros(n)
        self.cash_above, self.cash_below = np.full(n, np.inf), np.full(n, np.inf)
        self.breach = np.full(n, "", dtype=object)  # the hard limit broken today, if any


def _ratio(value: np.ndarray, trigger) -> np.ndarray:
    """value / trigger, with a trigger of 0 passed by any value above 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            trigger > 0, value / np.where(trigger > 0, trigger, 1), np.inf * (value > 0)
        )


def _measure_model(w_usd, nav, cash, rows, members, model: _Model, uni, risk: RiskModel,
                   out, m: _Measures) -> None:  # fmt: skip
    """The measures of the accounts ``members`` of one model, into ``out`` and ``m``."""
    s = model.scenario
    trig = s.drift_triggers()
    tickers = uni.index.to_numpy(dtype=object)
    ref = None
    if model.benchmark is not None:
        ref = model.benchmark.reindex(uni.index, fill_value=0.0).to_numpy(float)
    texts = list(s.tilts)
    groups = np.zeros((len(uni), len(texts)))
    name_target = np.zeros(len(uni))
    for g, text in enumerate(texts):
        selector = parse_selector(text)
        groups[:, g] = match(selector, uni)
        if len(selector.terms) == 1 and selector.terms[0].key == "ticker":
            name_target[groups[:, g] > 0] = s.tilts[text].target
    targets = np.array([s.tilts[t].target for t in texts])
    allowed = np.maximum(trig.group_drift, np.array([s.tilts[t].band for t in texts]))
    chol = risk.factor_chol()
    # the position caps a proposal keeps (prepare.build: 0 for a forced exit)
    caps = POSITION.caps(uni, s)
    forced = (uni["restricted"] == "sell").to_numpy()
    caps[forced] = 0.0
    cash_target = rows["cash_target"].to_numpy(float)[members]
    cash_target = np.where(np.isnan(cash_target), s.constraints.cash.target, cash_target)
    out.loc[members, "scenario"] = model.label
    out.loc[members, "reference"] = "benchmark" if ref is not None else "current holdings"
    out.loc[members, "cash_target"] = cash_target
    m.name_trigger[members] = trig.name_drift
    m.te_trigger[members] = trig.tracking_error_above
    m.cash_above[members] = trig.cash_above
    m.cash_below[members] = trig.cash_below

    # a name neither held in the block, nor in the reference, nor a name target has no
    # active weight: the block is measured over the others alone
    fixed = np.flatnonzero((ref if ref is not None else 0) + np.abs(name_target))
    for start in range(0, len(members), CHUNK):
        part = members[start : start + CHUNK]
        rows_ = np.arange(len(part))
        positive = nav[part] > 0
        safe_nav = np.where(positive, nav[part], 1.0)
        block = w_usd[part]
        cols = np.union1d(block.indices, fixed) if len(block.indices) or len(fixed) else [0]
        w = block[:, cols].toarray() / safe_nav[:, None]
        # the reference: the benchmark, else today's weights (every active weight 0)
        active = w - ref[cols] if ref is not None else np.zeros_like(w)
        off = active - name_target[cols]
        dev = np.abs(off)
        k = min(SHOWN, len(cols))
        top = np.argpartition(-dev, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(dev, top, 1), 1), 1)
        name_drift = dev[rows_, top[:, 0]]
        gdev = active @ groups[cols] - targets
        gratio = _ratio(np.abs(gdev), allowed)
        factor = (active @ risk.loadings[cols]) @ chol
        te = np.sqrt(np.sum(factor * factor, axis=1) + (active * active) @ risk.specific_var[cols])
        names = tickers[cols]
        cash_w = np.where(positive, cash[part] / safe_nav, 0.0)
        over = w - caps[cols]
        worst_over = np.argmax(over, axis=1)
        for i in np.flatnonzero(over[rows_, worst_over] > TOL):
            j = worst_over[i]
            m.breach[part[i]] = (
                f"{names[j]} held though restricted: sell"
                if forced[cols[j]]
                else f"{names[j]} {_pct(w[i, j])} above its position cap {_pct(caps[cols[j]])}"
            )

        out.loc[part, "cash_weight"] = cash_w
        out.loc[part, "cash_drift"] = cash_w - cash_target[start : start + len(part)]
        out.loc[part, "name_drift"] = name_drift
        out.loc[part, "worst_name"] = names[top[:, 0]]
        out.loc[part, "worst_names"] = [
            "; ".join(f"{names[j]} {off[i, j]:+.2%}" for j in top[i]) for i in rows_
        ]
        out.loc[part, "tracking_error"] = te
        m.name[part] = _ratio(name_drift, trig.name_drift)
        m.te[part] = _ratio(te, trig.tracking_error_above)
        if texts:
            gorder = np.argsort(-gratio, axis=1, kind="stable")
            worst = gorder[:, 0]
            out.loc[part, "group_drift"] = np.abs(gdev[rows_, worst])
            out.loc[part, "worst_group"] = np.array(texts, dtype=object)[worst]
            out.loc[part, "worst_groups"] = [
                "; ".join(f"{texts[g]} {gdev[i, g]:+.2%}" for g in gorder[i, :SHOWN]) for i in rows_
            ]
            m.group[part] = gratio[rows_, worst]
            m.group_allowed[part] = allowed[worst]
        else:
            out.loc[part, "worst_group"] = ""
            out.loc[part, "worst_groups"] = ""


def _pct(x: float) -> str:
    return f"{x:.2%}"


def _reason(row, i: int, new: bool, m: _Measures) -> str:
    """Why the account has its status, in one line."""
    if row.status == "cash request":
        asks = [f"{what} of ${amount:,.0f}"
                for what, amount in (("withdrawal", row.withdraw_usd), ("deposit", row.deposit_usd))
                if amount > 0]  # fmt: skip
        return f"{' and '.join(asks)} pending"
    if row.status == "first rebalance":
        return "marked new in the accounts file" if new else "holds no security yet"
    if row.status in ("high cash", "low cash"):
        side, trigger = (
            ("above", m.cash_above[i]) if row.cash_drift > 0 else ("below", m.cash_below[i])
        )
        return (
            f"cash {_pct(row.cash_weight)} is {_pct(abs(row.cash_drift))} {side} its target "
            f"{_pct(row.cash_target)} (trigger {_pct(trigger)})"
        )
    measures = [
        (m.name[i], f"name {row.worst_name} {_pct(row.name_drift)} from its target "
                    f"(trigger {_pct(m.name_trigger[i])})"),
        (m.group[i], f"group {row.worst_group} {_pct(row.group_drift)} from its tilt target "
                     f"(trigger {_pct(m.group_allowed[i])})"),
        (m.te[i], f"tracking error {_pct(row.tracking_error)} (trigger {_pct(m.te_trigger[i])})"),
    ]  # fmt: skip
    if row.status == "outside tolerance":
        parts = [m.breach[i]] if m.breach[i] else []
        parts += [text for ratio, text in measures if ratio > 1]
        return "; ".join(parts)
    closest = max(measures, key=lambda pair: pair[0])[1]
    return f"within every trigger (closest: {closest})"
