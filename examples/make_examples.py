"""Generate the synthetic example data set shipped with Rebalancer.

The files feed ``rebalancer demo``, the documentation and the tests: a security master
of about 1,500 names across US, developed (DM) and emerging (EM) markets with
valuation, quality and rate-sensitivity signals; three years of daily prices from a
factor model; a cap-weighted all-cap benchmark; and three large-cap-heavy client
accounts (an IRA, a taxable account with tax lots and a foundation) that a
"small-cap re-rating" scenario wants to tilt. Every number is made up.

Regenerate (deterministic; the output is byte-identical on every run)::

    python examples/make_examples.py            # writes into examples/
    python examples/make_examples.py --out DIR  # writes somewhere else

Files: universe.csv, prices.csv, benchmark.csv, holdings.csv, accounts.csv (the
column contracts are in docs/contracts.md §1). The knobs are the constants below;
``tests/test_examples.py`` checks the committed files against a fresh run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------- knobs

SEED = 20261120
AS_OF = pd.Timestamp("2026-11-20")  # last price date; "today" for the tax lots
N_PRICE_DAYS = 756  # three years of business days
LOT_HISTORY_YEARS = 6  # tax lots are acquired within this many years before AS_OF

# (region, size bucket) -> number of securities
BUCKET_COUNTS: dict[tuple[str, str], int] = {
    ("US", "large"): 250,
    ("US", "mid"): 300,
    ("US", "small"): 350,
    ("US", "micro"): 150,
    ("DM", "large"): 130,
    ("DM", "mid"): 90,
    ("DM", "small"): 30,
    ("EM", "large"): 40,
    ("EM", "mid"): 60,
    ("EM", "small"): 100,
}
SIZES = ("large", "mid", "small", "micro")
# lower bounds of the size buckets in USD, as in the scenarios (micro: the smallest name)
SIZE_BOUNDS = {"large": 10e9, "mid": 2e9, "small": 3e8, "micro": 2e7}
LARGE_CAP_MAX = 9e11  # for the lognormal draws; the mega caps below are set by hand
# market cap per bucket: lognormal (median, sigma), truncated to the bucket
MCAP_LOGNORMAL = {
    "large": (25e9, 1.3),
    "mid": (4e9, 0.5),
    "small": (7e8, 0.6),
    "micro": (1.2e8, 0.6),
}
# a few mega caps (market cap, sector) at the top of the US large caps, like a real
# all-cap index; the sector-weight repair never moves them
US_MEGA_CAPS = (
    (3.7e12, "Information Technology"),
    (3.2e12, "Communication Services"),
    (2.6e12, "Information Technology"),
    (2.1e12, "Consumer Discretionary"),
    (1.6e12, "Communication Services"),
    (1.2e12, "Information Technology"),
    (1.0e12, "Financials"),
)

SECTORS = (
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
)
# sector mix by count (same order as SECTORS); small companies lean industrial
SECTOR_PROBS_LARGE = (7, 10, 7, 6, 14, 11, 13, 16, 5, 4, 5)
SECTOR_PROBS_SMALLER = (4, 11, 4, 6, 15, 11, 20, 11, 6, 7, 3)
# cap-weighted benchmark sector weights are pushed below this (contract: < 0.25)
SECTOR_WEIGHT_LIMIT = 0.23

INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Communication Services": (
        "Telecom Services",
        "Media",
        "Entertainment",
        "Interactive Media & Services",
    ),
    "Consumer Discretionary": (
        "Automobiles",
        "Auto Components",
        "Hotels Restaurants & Leisure",
        "Specialty Retail",
        "Textiles Apparel & Luxury Goods",
        "Household Durables",
        "Broadline Retail",
    ),
    "Consumer Staples": (
        "Food Products",
        "Beverages",
        "Household Products",
        "Personal Care Products",
        "Consumer Staples Distribution & Retail",
        "Tobacco",
    ),
    "Energy": (
        "Oil & Gas",
        "Oil & Gas Equipment & Services",
        "Oil & Gas Refining & Marketing",
        "Oil & Gas Midstream",
        "Coal & Consumable Fuels",
    ),
    "Financials": (
        "Banks",
        "Insurance",
        "Capital Markets",
        "Consumer Finance",
        "Financial Services",
    ),
    # "Biotechnology" is given only to the names tagged ``biotech`` (see N_BIOTECH)
    "Health Care": (
        "Pharmaceuticals",
        "Health Care Equipment",
        "Health Care Providers & Services",
        "Life Sciences Tools & Services",
    ),
    "Industrials": (
        "Aerospace & Defense",
        "Machinery",
        "Electrical Equipment",
        "Building Products",
        "Construction & Engineering",
        "Air Freight & Logistics",
        "Trucking",
        "Commercial Services & Supplies",
        "Industrial Conglomerates",
        "Marine Transportation",
        "Airlines",
    ),
    "Information Technology": (
        "Software",
        "Semiconductors",
        "Technology Hardware",
        "IT Services",
        "Communications Equipment",
        "Electronic Equipment",
    ),
    "Materials": (
        "Chemicals",
        "Metals & Mining",
        "Construction Materials",
        "Containers & Packaging",
        "Paper & Forest Products",
    ),
    "Real Estate": (
        "Industrial REITs",
        "Residential REITs",
        "Office REITs",
        "Retail REITs",
        "Specialized REITs",
        "Real Estate Management & Development",
    ),
    "Utilities": (
        "Electric Utilities",
        "Gas Utilities",
        "Multi-Utilities",
        "Water Utilities",
        "Independent Power Producers",
    ),
}
BIOTECH_INDUSTRY = "Biotechnology"

# themes: biotech names per (region, size), then sub-tags drawn among them
BIOTECH_COUNTS: dict[tuple[str, str], int] = {
    ("US", "large"): 5,
    ("US", "mid"): 20,
    ("US", "small"): 32,
    ("US", "micro"): 8,
    ("DM", "mid"): 5,
}
N_RNA = 20
N_ONCOLOGY = 25
N_RNA_AND_ONCOLOGY = 5  # names carrying both sub-tags
N_RESHORING = 120  # US small/mid industrials, energy, materials, logistics, trucking
RESHORING_SECTORS = ("Industrials", "Energy", "Materials")
NOT_RESHORING_INDUSTRIES = ("Airlines", "Commercial Services & Supplies", "Marine Transportation")

COUNTRY_WEIGHTS: dict[str, dict[str, float]] = {
    "US": {"US": 1.0},
    "DM": {
        "JP": 0.22,
        "GB": 0.17,
        "FR": 0.10,
        "CA": 0.10,
        "DE": 0.09,
        "CH": 0.08,
        "AU": 0.07,
        "NL": 0.05,
        "SE": 0.04,
        "DK": 0.03,
        "ES": 0.03,
        "IT": 0.02,
    },
    "EM": {
        "CN": 0.27,
        "IN": 0.20,
        "TW": 0.16,
        "KR": 0.10,
        "BR": 0.06,
        "SA": 0.04,
        "ZA": 0.04,
        "MX": 0.03,
        "ID": 0.03,
        "TH": 0.03,
        "MY": 0.02,
        "CL": 0.02,
    },
}

# prices: lognormal around PRICE_MEDIAN, clipped; a few large caps trade above 1,000
PRICE_MEDIAN, PRICE_SIGMA, PRICE_RANGE = 45.0, 0.85, (2.0, 950.0)
N_HIGH_PRICE, HIGH_PRICE_RANGE = 8, (1000.0, 4000.0)
N_LOT_100 = 8  # EM small/mid names that trade in lots of 100 shares
LOT_100_COUNTRIES = ("CN", "TW", "ID", "TH", "MY")

# adv = market cap x daily turnover (lognormal); thin names are clipped to a band
TURNOVER_MEDIAN, TURNOVER_SIGMA, TURNOVER_RANGE = 0.0045, 0.35, (0.002, 0.01)
THIN_TURNOVER_MEDIAN, THIN_TURNOVER_SIGMA, THIN_ADV_RANGE = 0.0006, 0.6, (2e4, 1e6)

# signals
SIG_DIGITS = 4
PB_MEDIAN = {"large": 3.2, "mid": 2.6, "small": 2.2, "micro": 1.8}
PB_SIGMA = 0.5
SMALL_PB_DISCOUNT = 0.30  # median small-cap P/B vs median large-cap P/B (calibrated exactly)
SECTOR_PB_MULT = {
    "Communication Services": 1.3,
    "Consumer Discretionary": 1.2,
    "Consumer Staples": 1.3,
    "Energy": 0.65,
    "Financials": 0.45,
    "Health Care": 1.4,
    "Industrials": 1.1,
    "Information Technology": 1.8,
    "Materials": 0.8,
    "Real Estate": 0.6,
    "Utilities": 0.7,
}
PE_MEDIAN = {"large": 22.0, "mid": 18.0, "small": 14.0, "micro": 12.0}
PE_SIGMA = 0.35
N_LOSS_MAKERS = 120  # blank P/E (about 8%)
LOSS_WEIGHT = {"large": 1.0, "mid": 2.0, "small": 3.5, "micro": 6.0}
BIOTECH_LOSS_WEIGHT = 6.0
ROA_MEAN = {"large": 0.072, "mid": 0.07, "small": 0.075, "micro": 0.045}  # quality small caps
ROA_SD = 0.035
SECTOR_ROA_MULT = {"Financials": 0.25, "Real Estate": 0.5, "Utilities": 0.5}
MOMENTUM_MEAN, MOMENTUM_SD, MOMENTUM_RANGE = 0.08, 0.28, (-0.8, 2.5)
N_MOMENTUM_MISSING = 45  # about 3%
LEVERAGE_MEDIAN = {"large": 1.5, "mid": 1.8, "small": 2.0, "micro": 2.2}
EM_SMALL_LEVERAGE_MEDIAN = 2.5  # about a third of EM small caps above 3x
LEVERAGE_SIGMA, LEVERAGE_MAX = 0.6, 6.0
SECTOR_LEVERAGE_MULT = {"Utilities": 1.6, "Real Estate": 1.5, "Information Technology": 0.6}
FLOATING_DEBT_MEAN = {"large": 0.2, "mid": 0.32, "small": 0.45, "micro": 0.5}
FLOATING_DEBT_CONCENTRATION = 8.0
BETA_MEAN = {"large": 1.0, "mid": 1.08, "small": 1.18, "micro": 1.25}
BETA_SD, BETA_RANGE = 0.18, (0.5, 1.8)
SECTOR_BETA_SHIFT = {
    "Utilities": -0.35,
    "Consumer Staples": -0.3,
    "Health Care": -0.1,
    "Real Estate": -0.1,
    "Information Technology": 0.15,
    "Consumer Discretionary": 0.1,
    "Energy": 0.05,
    "Financials": 0.05,
}

# factor model for prices: annual vol and annual drift per factor
TRADING_DAYS = 252
MARKET_VOL, MARKET_DRIFT = 0.16, 0.07
STYLE_VOLS = {"size": 0.08, "value": 0.06, "momentum": 0.07}
STYLE_DRIFTS = {"size": -0.03, "value": -0.01, "momentum": 0.03}  # small caps lagged
SECTOR_FACTOR_VOL, REGION_FACTOR_VOL = 0.08, 0.10
IDIO_VOL = {"large": 0.20, "mid": 0.30, "small": 0.40, "micro": 0.55}
BIOTECH_IDIO_MULT = 1.6
MOMENTUM_WINDOW = (252, 21)  # 12-1 months in trading days before AS_OF

BENCHMARK_DECIMALS = 12


@dataclass(frozen=True)
class AccountSpec:
    """One example client account: what it holds today."""

    account: str
    nav: float  # target NAV in USD
    cash_weight: float
    taxable: bool
    n_us_large: int
    n_dm_large: int
    n_us_mid: int
    lots: tuple[int, int]  # min, max tax lots per position
    track_basis: bool  # write cost_basis and acquired


ACCOUNTS = (
    AccountSpec("IRA-250K", 250_000, 0.02, False, 24, 0, 0, (1, 1), False),
    AccountSpec("TAX-2M", 2_000_000, 0.02, True, 30, 2, 3, (2, 4), True),
    AccountSpec("FDN-20M", 20_000_000, 0.03, False, 84, 20, 6, (1, 1), True),
)
SCENARIO_FILE = "smallcap_rerating.yaml"
NAV_JITTER = 0.015  # actual NAV = target x (1 + U(-j, j))
POSITION_CAP = 0.042  # weights are capped here before rounding to shares
MAX_POSITION = 0.045  # hard check after rounding
MIN_SHARES_PER_POSITION = 20  # skip names too expensive for the account size
SHORT_TERM_LOT_PROB = 0.15  # share of TAX-2M lots bought within the last year
PRE_HISTORY_GROWTH, PRE_HISTORY_VOL = 0.09, 0.22  # cost basis before the price history
# one ``no_buy`` name, not held by any account, in each of these (region, size) groups
NO_BUY_GROUPS = (("US", "large"), ("US", "small"), ("EM", "small"))

# --------------------------------------------------------------------------- words

PREFIXES = (
    "Apex", "Summit", "Harbor", "Pioneer", "Northstar", "Bluewater", "Crescent", "Ironwood",
    "Meridian", "Silverline", "Redwood", "Granite", "Beacon", "Vertex", "Horizon", "Evergreen",
    "Keystone", "Lakeshore", "Cobalt", "Sterling", "Atlas", "Orion", "Zenith", "Pinnacle",
    "Cascade", "Frontier", "Liberty", "Westbrook", "Ridgeview", "Stonebridge", "Clearwater",
    "Falcon", "Sequoia", "Juniper", "Aurora", "Polaris", "Trident", "Highland", "Oakmont",
    "Riverton", "Copperfield", "Bridgeport", "Kingsley", "Larkspur", "Mariner", "Newhaven",
    "Obsidian", "Pacifica", "Quarry", "Rockport", "Saxon", "Tidewater", "Unity", "Valley",
    "Windward", "Alder", "Brighton", "Cedar", "Eastgate", "Fairview", "Glacier", "Hawthorne",
    "Ivory", "Jasper", "Kestrel", "Lumen", "Monarch", "Nova", "Onyx", "Prairie", "Radiant",
    "Solstice", "Tamarack", "Upland", "Willow", "Xenon", "Yarrow", "Zephyr", "Aspen", "Bayview",
    "Canyon", "Driftwood", "Ember", "Foxglove", "Greystone", "Halcyon", "Lodestar", "Marlin",
    "Osprey", "Paragon", "Regal", "Sable", "Talon", "Vista", "Wexford", "Acorn", "Bristol",
    "Corvus", "Dunmore", "Everest", "Fulcrum", "Garnet", "Heron", "Indigo", "Keswick",
)  # fmt: skip
INDUSTRY_NOUNS: dict[str, tuple[str, ...]] = {
    "Telecom Services": ("Telecom", "Communications", "Wireless"),
    "Media": ("Media", "Broadcasting", "Publishing"),
    "Entertainment": ("Entertainment", "Studios", "Games"),
    "Interactive Media & Services": ("Interactive", "Digital", "Online"),
    "Automobiles": ("Motors", "Automotive"),
    "Auto Components": ("Auto Parts", "Drivetrain", "Components"),
    "Hotels Restaurants & Leisure": ("Hospitality", "Resorts", "Restaurants", "Leisure"),
    "Specialty Retail": ("Retail", "Outfitters", "Stores"),
    "Textiles Apparel & Luxury Goods": ("Apparel", "Brands", "Fashion"),
    "Household Durables": ("Homes", "Home Furnishings", "Appliances"),
    "Broadline Retail": ("Marketplace", "Commerce", "Department Stores"),
    "Food Products": ("Foods", "Farms", "Provisions"),
    "Beverages": ("Beverages", "Brewing", "Bottling"),
    "Household Products": ("Household Products", "Home Care"),
    "Personal Care Products": ("Personal Care", "Cosmetics"),
    "Consumer Staples Distribution & Retail": ("Grocers", "Markets", "Supermarkets"),
    "Tobacco": ("Tobacco", "Leaf"),
    "Oil & Gas": ("Energy", "Petroleum", "Resources", "Oil & Gas"),
    "Oil & Gas Equipment & Services": ("Drilling", "Oilfield Services", "Energy Services"),
    "Oil & Gas Refining & Marketing": ("Refining", "Fuels"),
    "Oil & Gas Midstream": ("Midstream", "Pipelines"),
    "Coal & Consumable Fuels": ("Coal", "Uranium"),
    "Banks": ("Bancorp", "Bank", "Financial"),
    "Insurance": ("Insurance", "Assurance", "Underwriters"),
    "Capital Markets": ("Capital", "Asset Management", "Securities"),
    "Consumer Finance": ("Credit", "Lending"),
    "Financial Services": ("Financial", "Payments"),
    "Biotechnology": ("Biologics", "Therapeutics", "Biosciences", "Genomics", "Bio"),
    "Pharmaceuticals": ("Pharma", "Pharmaceuticals", "Laboratories"),
    "Health Care Equipment": ("Medical", "Surgical", "Devices"),
    "Health Care Providers & Services": ("Health", "Care", "Clinics"),
    "Life Sciences Tools & Services": ("Life Sciences", "Scientific", "Instruments"),
    "Aerospace & Defense": ("Aerospace", "Defense", "Avionics"),
    "Machinery": ("Machinery", "Industries", "Tool Works"),
    "Electrical Equipment": ("Electric", "Power Systems", "Electrical"),
    "Building Products": ("Building Products", "Doors & Windows", "Roofing"),
    "Construction & Engineering": ("Construction", "Engineering", "Builders"),
    "Air Freight & Logistics": ("Logistics", "Freight", "Air Cargo"),
    "Trucking": ("Trucking", "Transport", "Freightways"),
    "Commercial Services & Supplies": ("Services", "Environmental", "Staffing"),
    "Industrial Conglomerates": ("Industries", "Enterprises"),
    "Marine Transportation": ("Shipping", "Maritime"),
    "Airlines": ("Airlines", "Air"),
    "Software": ("Software", "Systems", "Cloud"),
    "Semiconductors": ("Semiconductor", "Microdevices", "Silicon"),
    "Technology Hardware": ("Computing", "Devices", "Hardware"),
    "IT Services": ("Technologies", "Consulting", "Data"),
    "Communications Equipment": ("Networks", "Optical"),
    "Electronic Equipment": ("Electronics", "Instruments", "Sensors"),
    "Chemicals": ("Chemical", "Specialty Chemicals", "Polymers"),
    "Metals & Mining": ("Mining", "Metals", "Steel"),
    "Construction Materials": ("Cement", "Aggregates"),
    "Containers & Packaging": ("Packaging", "Containers"),
    "Paper & Forest Products": ("Paper", "Timber"),
    "Industrial REITs": ("Industrial Realty", "Logistics Properties"),
    "Residential REITs": ("Residential", "Apartment Communities"),
    "Office REITs": ("Office Properties", "Realty"),
    "Retail REITs": ("Retail Properties", "Shopping Centers"),
    "Specialized REITs": ("Towers", "Data Centers", "Storage"),
    "Real Estate Management & Development": ("Land", "Properties", "Development"),
    "Electric Utilities": ("Electric", "Power & Light", "Energy"),
    "Gas Utilities": ("Gas", "Natural Gas"),
    "Multi-Utilities": ("Utilities", "Energy Group"),
    "Water Utilities": ("Water", "Water Works"),
    "Independent Power Producers": ("Renewables", "Power"),
}
COMPANY_SUFFIXES: dict[str, tuple[str, ...]] = {
    "US": ("Inc", "Corp", "Holdings", "Co", "Group"),
    "GB": ("plc", "Group plc"),
    "JP": ("Corp", "Holdings", "Co Ltd"),
    "DE": ("AG", "SE"),
    "FR": ("SA", "SE"),
    "CH": ("AG", "Holding AG"),
    "CA": ("Inc", "Ltd", "Corp"),
    "AU": ("Ltd", "Group Ltd"),
    "NL": ("NV",),
    "SE": ("AB",),
    "DK": ("A/S",),
    "ES": ("SA",),
    "IT": ("SpA",),
    "CN": ("Co Ltd", "Group Co Ltd", "Holdings Ltd"),
    "IN": ("Ltd", "Industries Ltd"),
    "TW": ("Corp", "Co Ltd"),
    "KR": ("Co Ltd", "Corp"),
    "BR": ("SA",),
    "SA": ("Co",),
    "ZA": ("Ltd",),
    "MX": ("SAB de CV",),
    "ID": ("Tbk",),
    "TH": ("PCL",),
    "MY": ("Bhd",),
    "CL": ("SA",),
}
# never use these as tickers: reserved, or read as missing/boolean by CSV readers
BLOCKED_TICKERS = frozenset({"CASH", "NULL", "NAN", "NONE", "TRUE", "FALSE", "INF", "DATE"})

# --------------------------------------------------------------------------- helpers

_POW10 = np.array([float(10**k) for k in range(23)])


def round_sig(values: np.ndarray, digits: int = SIG_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits so that repr() prints the short decimal."""
    x = np.asarray(values, dtype=float)
    out = x.copy()
    ok = np.isfinite(x) & (x != 0)
    v = x[ok]
    shift = digits - 1 - np.floor(np.log10(np.abs(v))).astype(int)
    res = np.empty_like(v)
    up = shift >= 0
    res[up] = np.rint(v[up] * _POW10[shift[up]]) / _POW10[shift[up]]
    res[~up] = np.rint(v[~up] / _POW10[-shift[~up]]) * _POW10[-shift[~up]]
    out[ok] = res + 0.0  # no negative zeros
    return out


def fmt_float(value: float) -> str:
    """Shortest round-trip text of an already-rounded float; blank for NaN."""
    return "" if np.isnan(value) else repr(float(value))


def truncated_lognormal(
    rng: np.random.Generator, n: int, median: float, sigma: float, lo: float, hi: float
) -> np.ndarray:
    """``n`` lognormal draws kept inside [lo, hi] (rejection sampling)."""
    out = np.empty(0)
    while out.size < n:
        draw = median * np.exp(sigma * rng.standard_normal(2 * n))
        out = np.concatenate([out, draw[(draw >= lo) & (draw <= hi)]])
    return out[:n]


def cap_weights(raw: np.ndarray, total: float, cap: float) -> np.ndarray:
    """Scale ``raw`` to sum to ``total`` with no weight above ``cap`` (water filling)."""
    w = raw / raw.sum() * total
    for _ in range(100):
        over = w > cap
        if not over.any():
            break
        excess = float((w[over] - cap).sum())
        w[over] = cap
        free = w < cap
        w[free] += excess * w[free] / w[free].sum()
    return w


def stage_rng(stage: int) -> np.random.Generator:
    """An independent stream per stage, so tuning one stage leaves the others alone."""
    return np.random.default_rng([SEED, stage])


# --------------------------------------------------------------------------- universe


def build_skeleton(rng: np.random.Generator) -> pd.DataFrame:
    """One row per security: region, size bucket, market cap."""
    frames = []
    for (region, size), count in BUCKET_COUNTS.items():
        median, sigma = MCAP_LOGNORMAL[size]
        lo = SIZE_BOUNDS[size]
        hi = LARGE_CAP_MAX if size == "large" else SIZE_BOUNDS[SIZES[SIZES.index(size) - 1]]
        # keep clear of the bucket edges so rounding to 4 digits cannot change the bucket
        mcap = truncated_lognormal(rng, count, median, sigma, lo * 1.002, hi * 0.998)
        if (region, size) == ("US", "large"):
            mcap[: len(US_MEGA_CAPS)] = [cap for cap, _ in US_MEGA_CAPS]
        frames.append(pd.DataFrame({"region": region, "size": size, "market_cap": mcap}))
    df = pd.concat(frames, ignore_index=True)
    df["market_cap"] = round_sig(df["market_cap"].to_numpy())
    return df


def assign_sectors(df: pd.DataFrame, rng: np.random.Generator) -> None:
    """Sectors (biotech names fixed to Health Care), then cap the benchmark sector weights."""
    n = len(df)
    mega = np.flatnonzero((df["region"] == "US") & (df["size"] == "large"))[: len(US_MEGA_CAPS)]
    df["biotech"] = False
    for (region, size), count in BIOTECH_COUNTS.items():
        pool = np.flatnonzero((df["region"] == region) & (df["size"] == size))
        pool = np.setdiff1d(pool, mega)
        df.loc[rng.choice(pool, count, replace=False), "biotech"] = True
    p_large = np.array(SECTOR_PROBS_LARGE, float) / sum(SECTOR_PROBS_LARGE)
    p_small = np.array(SECTOR_PROBS_SMALLER, float) / sum(SECTOR_PROBS_SMALLER)
    large = (df["size"] == "large").to_numpy()
    sector = np.where(
        large,
        rng.choice(len(SECTORS), n, p=p_large),
        rng.choice(len(SECTORS), n, p=p_small),
    )
    sector[df["biotech"].to_numpy()] = SECTORS.index("Health Care")
    sector[mega] = [SECTORS.index(name) for _, name in US_MEGA_CAPS]

    # push every sector's cap weight in the benchmark (non-micro names) below the limit
    mcap = df["market_cap"].to_numpy()
    in_bench = (df["size"] != "micro").to_numpy()
    movable = in_bench & ~df["biotech"].to_numpy()
    movable[mega] = False
    total = mcap[in_bench].sum()
    for _ in range(200):
        weights = np.bincount(sector[in_bench], mcap[in_bench], len(SECTORS)) / total
        heavy = int(np.argmax(weights))
        if weights[heavy] < SECTOR_WEIGHT_LIMIT:
            break
        light = int(np.argmin(weights))
        excess = weights[heavy] - SECTOR_WEIGHT_LIMIT + 0.005
        cands = np.flatnonzero(movable & (sector == heavy))
        cands = cands[np.argsort(mcap[cands], kind="stable")]
        big_enough = cands[mcap[cands] / total >= excess]
        move = big_enough[0] if big_enough.size else cands[-1]
        sector[move] = light
    else:
        raise RuntimeError("could not bring the benchmark sector weights under the limit")
    df["sector"] = [SECTORS[s] for s in sector]


def assign_industries_and_themes(df: pd.DataFrame, rng: np.random.Generator) -> None:
    industry = []
    for sector, biotech in zip(df["sector"], df["biotech"], strict=True):
        options = INDUSTRIES[sector]
        industry.append(BIOTECH_INDUSTRY if biotech else options[rng.integers(len(options))])
    df["industry"] = industry

    tags: list[list[str]] = [[] for _ in range(len(df))]
    biotech = np.flatnonzero(df["biotech"].to_numpy())
    picked = rng.permutation(biotech)
    both = picked[:N_RNA_AND_ONCOLOGY]
    rna = np.concatenate([both, picked[N_RNA_AND_ONCOLOGY:N_RNA]])
    onc_end = N_RNA + N_ONCOLOGY - N_RNA_AND_ONCOLOGY
    oncology = np.concatenate([both, picked[N_RNA:onc_end]])
    for i in biotech:
        tags[i].append("biotech")
    for i in oncology:
        tags[i].append("oncology")
    for i in rna:
        tags[i].append("rna")

    eligible = (
        (df["region"] == "US")
        & df["size"].isin(["small", "mid"])
        & df["sector"].isin(RESHORING_SECTORS)
        & ~df["industry"].isin(NOT_RESHORING_INDUSTRIES)
    )
    pool = np.flatnonzero(eligible.to_numpy())
    if pool.size < N_RESHORING:
        raise RuntimeError(f"only {pool.size} reshoring candidates for {N_RESHORING}")
    for i in rng.choice(pool, N_RESHORING, replace=False):
        tags[i].append("reshoring")
    df["themes"] = [";".join(t) for t in tags]


def assign_countries(df: pd.DataFrame, rng: np.random.Generator) -> None:
    country = np.empty(len(df), dtype=object)
    for region, weights in COUNTRY_WEIGHTS.items():
        idx = np.flatnonzero((df["region"] == region).to_numpy())
        codes = list(weights)
        p = np.array([weights[c] for c in codes])
        picks = rng.choice(len(codes), idx.size, p=p / p.sum())
        country[idx] = [codes[k] for k in picks]
    df["country"] = country


def _ticker_candidates(prefix: str, noun: str, size: str, rng: np.random.Generator) -> list[str]:
    """Ticker ideas from the name, shuffled; big companies prefer 3 letters, others 4."""
    p = "".join(ch for ch in prefix.upper() if ch.isalpha())
    n = "".join(ch for ch in noun.upper() if ch.isalpha())
    ideas = {
        p[:3], p[0] + n[:2], p[:2] + n[0], p[0] + p[2] + n[0],
        p[:4], p[:3] + n[0], p[:2] + n[:2], p[0] + n[:3], p[0] + p[2:4] + n[0],
        p[:5], p[:4] + n[0], p[:3] + n[:2],
    }  # fmt: skip
    ideas = {t for t in ideas if 3 <= len(t) <= 5}
    preference = {3: 0, 4: 1, 5: 2} if size == "large" else {4: 0, 3: 1, 5: 2}
    shuffled = [str(t) for t in rng.permutation(sorted(ideas))]
    return sorted(shuffled, key=lambda t: preference[len(t)])


def assign_names_and_tickers(df: pd.DataFrame, rng: np.random.Generator) -> None:
    """Unique names and tickers; the biggest companies get first pick of short tickers."""
    names = np.empty(len(df), dtype=object)
    tickers = np.empty(len(df), dtype=object)
    used_names: set[str] = set()
    used_tickers: set[str] = set(BLOCKED_TICKERS)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    order = np.argsort(-df["market_cap"].to_numpy(), kind="stable")
    for i in order:
        nouns = INDUSTRY_NOUNS[df.at[i, "industry"]]
        suffixes = COMPANY_SUFFIXES[df.at[i, "country"]]
        for _ in range(1000):
            prefix = PREFIXES[rng.integers(len(PREFIXES))]
            noun = nouns[rng.integers(len(nouns))]
            if f"{prefix} {noun}" not in used_names:
                break
        else:
            raise RuntimeError("ran out of company names")
        used_names.add(f"{prefix} {noun}")
        names[i] = f"{prefix} {noun} {suffixes[rng.integers(len(suffixes))]}"
        ideas = _ticker_candidates(prefix, noun, df.at[i, "size"], rng)
        free = [t for t in ideas if t not in used_tickers]
        while not free:
            guess = "".join(rng.choice(letters, int(rng.integers(3, 6))))
            free = [guess] if guess not in used_tickers else []
        tickers[i] = free[0]
        used_tickers.add(free[0])
    df["name"] = names
    df["ticker"] = tickers


def assign_trading(df: pd.DataFrame, rng: np.random.Generator) -> None:
    """Price, lot size and average daily traded value."""
    n = len(df)
    price = np.clip(PRICE_MEDIAN * np.exp(PRICE_SIGMA * rng.standard_normal(n)), *PRICE_RANGE)
    large = np.flatnonzero((df["size"] == "large").to_numpy())
    high = rng.choice(large, N_HIGH_PRICE, replace=False)
    lo, hi = np.log(HIGH_PRICE_RANGE[0]), np.log(HIGH_PRICE_RANGE[1])
    price[high] = np.exp(rng.uniform(lo, hi, N_HIGH_PRICE))
    df["price"] = np.round(price, 2)

    lot = np.ones(n, dtype=int)
    pool = (
        (df["region"] == "EM")
        & df["size"].isin(["small", "mid"])
        & df["country"].isin(LOT_100_COUNTRIES)
    )
    lot[rng.choice(np.flatnonzero(pool.to_numpy()), N_LOT_100, replace=False)] = 100
    df["lot_size"] = lot

    mcap = df["market_cap"].to_numpy()
    turnover = np.clip(
        TURNOVER_MEDIAN * np.exp(TURNOVER_SIGMA * rng.standard_normal(n)), *TURNOVER_RANGE
    )
    adv = mcap * turnover
    thin = ((df["size"] == "micro") | ((df["region"] == "EM") & (df["size"] == "small"))).to_numpy()
    thin_turnover = THIN_TURNOVER_MEDIAN * np.exp(THIN_TURNOVER_SIGMA * rng.standard_normal(n))
    adv[thin] = np.clip(mcap[thin] * thin_turnover[thin], *THIN_ADV_RANGE)
    df["adv"] = round_sig(adv)


def by_size(df: pd.DataFrame, table: dict[str, float]) -> np.ndarray:
    return np.array(df["size"].map(table), dtype=float)


def by_sector(df: pd.DataFrame, table: dict[str, float], default: float) -> np.ndarray:
    return np.array(df["sector"].map(table).fillna(default), dtype=float)


def assign_signals(df: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(df)
    size = df["size"].to_numpy()
    biotech = df["biotech"].to_numpy()
    z = rng.standard_normal((6, n))

    pb = by_size(df, PB_MEDIAN) * by_sector(df, SECTOR_PB_MULT, 1.0) * np.exp(PB_SIGMA * z[0])
    # calibrate: median small-cap P/B exactly SMALL_PB_DISCOUNT below the large caps'
    small, large = size == "small", size == "large"
    pb[small] *= (1 - SMALL_PB_DISCOUNT) * np.median(pb[large]) / np.median(pb[small])
    df["pb"] = round_sig(pb)

    loss_weight = by_size(df, LOSS_WEIGHT) * np.where(biotech, BIOTECH_LOSS_WEIGHT, 1.0)
    loss = np.zeros(n, dtype=bool)
    loss[rng.choice(n, N_LOSS_MAKERS, replace=False, p=loss_weight / loss_weight.sum())] = True
    pe = by_size(df, PE_MEDIAN) * np.sqrt(pb / by_size(df, PB_MEDIAN)) * np.exp(PE_SIGMA * z[1])
    pe[loss] = np.nan
    df["pe"] = round_sig(pe)

    roa = (by_size(df, ROA_MEAN) + ROA_SD * z[2]) * by_sector(df, SECTOR_ROA_MULT, 1.0)
    roa = np.maximum(roa, 0.002)
    loss_roa = 0.06 * np.exp(0.6 * rng.standard_normal(n))
    loss_roa[biotech] *= 4.0  # cash-burning biotechs
    roa[loss] = -loss_roa[loss]
    df["roa"] = round_sig(roa)

    momentum = np.clip(MOMENTUM_MEAN + MOMENTUM_SD * z[3], *MOMENTUM_RANGE)
    momentum[rng.choice(n, N_MOMENTUM_MISSING, replace=False)] = np.nan
    df["momentum"] = round_sig(momentum)

    lev_median = by_size(df, LEVERAGE_MEDIAN)
    em_small = ((df["region"] == "EM") & (df["size"] == "small")).to_numpy()
    lev_median[em_small] = EM_SMALL_LEVERAGE_MEDIAN
    lev_median *= by_sector(df, SECTOR_LEVERAGE_MULT, 1.0)
    leverage = lev_median * np.exp(LEVERAGE_SIGMA * z[4])
    while (high := leverage > LEVERAGE_MAX).any():  # redraw rather than pile up at the cap
        leverage[high] = lev_median[high] * np.exp(LEVERAGE_SIGMA * rng.standard_normal(high.sum()))
    df["leverage"] = round_sig(leverage)

    mean = by_size(df, FLOATING_DEBT_MEAN)
    k = FLOATING_DEBT_CONCENTRATION
    floating = rng.beta(mean * k, (1 - mean) * k)
    df["floating_debt_pct"] = round_sig(floating)

    beta = by_size(df, BETA_MEAN) + by_sector(df, SECTOR_BETA_SHIFT, 0.0) + BETA_SD * z[5]
    df["beta"] = round_sig(np.clip(beta, *BETA_RANGE))


def build_universe() -> pd.DataFrame:
    df = build_skeleton(stage_rng(1))
    assign_sectors(df, stage_rng(2))
    assign_industries_and_themes(df, stage_rng(3))
    assign_countries(df, stage_rng(4))
    assign_names_and_tickers(df, stage_rng(5))
    assign_trading(df, stage_rng(6))
    assign_signals(df, stage_rng(7))
    df["restricted"] = ""
    return df.sort_values("ticker", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- prices


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / x.std(axis=0)


def factor_returns(
    rng: np.random.Generator, n_days: int, vol: float, drift: float, count: int = 1
) -> np.ndarray:
    """Daily factor returns whose realized annual drift and vol equal the knobs exactly."""
    z = _zscore(rng.standard_normal((n_days, count)))
    return drift / TRADING_DAYS + vol / np.sqrt(TRADING_DAYS) * z


def build_prices(universe: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Daily closes from a factor model, scaled so each path ends at the universe price."""
    dates = pd.bdate_range(end=AS_OF, periods=N_PRICE_DAYS)
    n_days, n = N_PRICE_DAYS - 1, len(universe)
    root = np.sqrt(TRADING_DAYS)

    momentum = universe["momentum"].to_numpy()
    exposures = {
        "size": -_zscore(np.log(universe["market_cap"].to_numpy())),
        "value": _zscore(-np.log(universe["pb"].to_numpy())),
        "momentum": np.nan_to_num(_zscore(np.nan_to_num(momentum, nan=np.nanmean(momentum)))),
    }
    market = factor_returns(rng, n_days, MARKET_VOL, MARKET_DRIFT)
    log_ret = market * universe["beta"].to_numpy()
    for name, exposure in exposures.items():
        log_ret += factor_returns(rng, n_days, STYLE_VOLS[name], STYLE_DRIFTS[name]) * exposure
    for column, vol in (("sector", SECTOR_FACTOR_VOL), ("region", REGION_FACTOR_VOL)):
        codes, levels = pd.factorize(universe[column], sort=True)
        log_ret += factor_returns(rng, n_days, vol, 0.0, len(levels))[:, codes]
    idio = by_size(universe, IDIO_VOL) * np.where(universe["biotech"], BIOTECH_IDIO_MULT, 1.0)
    log_ret += idio / root * rng.standard_normal((n_days, n))

    # make the path's 12-1 month return match the momentum column (a drift over that window)
    start, stop = n_days - MOMENTUM_WINDOW[0], n_days - MOMENTUM_WINDOW[1]
    realized = log_ret[start:stop].sum(axis=0)
    known = ~np.isnan(momentum)
    drift = (np.log1p(momentum[known]) - realized[known]) / (stop - start)
    log_ret[start:stop, known] += drift

    path = np.vstack([np.zeros(n), np.cumsum(log_ret, axis=0)])
    closes = universe["price"].to_numpy() * np.exp(path - path[-1])
    closes = round_sig(closes)
    closes[-1] = universe["price"].to_numpy()  # end exactly at the universe price
    out = pd.DataFrame(closes, columns=universe["ticker"].to_list())
    out.insert(0, "date", dates.strftime("%Y-%m-%d"))
    return out


# --------------------------------------------------------------------------- benchmark


def build_benchmark(universe: pd.DataFrame) -> pd.DataFrame:
    """Cap weights over the non-micro names, as exact decimals that sum to 1."""
    bench = universe.loc[universe["size"] != "micro", ["ticker", "market_cap"]]
    mcap = bench["market_cap"].to_numpy()
    scale = 10**BENCHMARK_DECIMALS
    units = np.rint(mcap / mcap.sum() * scale).astype(np.int64)
    units[np.argmax(units)] += scale - int(units.sum())
    weights = [f"0.{u:0{BENCHMARK_DECIMALS}d}" for u in units]
    return pd.DataFrame({"ticker": bench["ticker"].to_numpy(), "weight": weights})


# --------------------------------------------------------------------------- holdings


def _lot_cost_per_share(
    prices: pd.DataFrame, ticker: str, acquired: pd.Timestamp, rng: np.random.Generator
) -> float:
    """What a share cost on ``acquired``: the close if in the history, else extrapolated."""
    first = pd.Timestamp(prices["date"].iloc[0])
    fill = float(np.exp(0.005 * rng.standard_normal()))  # execution vs close
    if acquired >= first:
        row = int(np.searchsorted(prices["date"].to_numpy(), acquired.strftime("%Y-%m-%d")))
        return float(prices[ticker].iloc[row]) * fill
    years = (first - acquired).days / 365.25
    shock = PRE_HISTORY_VOL * np.sqrt(years) * rng.standard_normal()
    return float(prices[ticker].iloc[0]) * float(np.exp(-PRE_HISTORY_GROWTH * years + shock)) * fill


def _pick(
    universe: pd.DataFrame, mask: pd.Series, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` names from ``mask``, more likely the bigger ones (sqrt of market cap)."""
    pool = np.flatnonzero(mask.to_numpy())
    p = np.sqrt(universe["market_cap"].to_numpy()[pool])
    return np.sort(rng.choice(pool, count, replace=False, p=p / p.sum()))


def build_holdings(
    universe: pd.DataFrame, prices: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    lot_days = pd.bdate_range(AS_OF - pd.DateOffset(years=LOT_HISTORY_YEARS), AS_OF)[:-1]
    recent = lot_days[lot_days > AS_OF - pd.Timedelta(days=365)]
    rows: list[dict[str, str]] = []
    for spec in ACCOUNTS:
        nav = spec.nav * (1 + rng.uniform(-NAV_JITTER, NAV_JITTER))
        n_pos = spec.n_us_large + spec.n_dm_large + spec.n_us_mid
        max_price = nav * (1 - spec.cash_weight) / n_pos / MIN_SHARES_PER_POSITION
        ok = (universe["price"] <= max_price) & (universe["lot_size"] == 1)
        us, dm = universe["region"] == "US", universe["region"] == "DM"
        large, mid = universe["size"] == "large", universe["size"] == "mid"
        idx = np.sort(
            np.concatenate(
                [
                    _pick(universe, ok & us & large, spec.n_us_large, rng),
                    _pick(universe, ok & dm & large, spec.n_dm_large, rng),
                    _pick(universe, ok & us & mid, spec.n_us_mid, rng),
                ]
            )
        )
        mcap = universe["market_cap"].to_numpy()[idx]
        raw = np.exp(0.25 * rng.standard_normal(idx.size)) * (mcap / np.median(mcap)) ** 0.15
        weights = cap_weights(raw, 1 - spec.cash_weight, POSITION_CAP)
        price = universe["price"].to_numpy()[idx]
        lot = universe["lot_size"].to_numpy()[idx]
        qty = np.maximum(np.rint(weights * nav / price / lot), 1).astype(int) * lot
        cash = round(nav - float((qty * price).sum()), 2)
        if cash <= 0 or np.max(qty * price) / nav > MAX_POSITION:
            raise RuntimeError(f"{spec.account}: cash {cash:.2f} or a position over the limit")

        for i, q in zip(idx, qty, strict=True):
            ticker = str(universe.at[i, "ticker"])
            n_lots = min(int(rng.integers(spec.lots[0], spec.lots[1] + 1)), int(q))
            shares = _split_shares(int(q), n_lots, rng)
            dates = []
            for _ in range(n_lots):
                days = recent if rng.random() < SHORT_TERM_LOT_PROB else lot_days
                dates.append(days[rng.integers(len(days))])
            for s, acquired in sorted(zip(shares, dates, strict=True), key=lambda t: t[1]):
                row = {"account": spec.account, "ticker": ticker, "quantity": str(s)}
                if spec.track_basis:
                    cost = s * _lot_cost_per_share(prices, ticker, acquired, rng)
                    row |= {"cost_basis": f"{cost:.2f}", "acquired": acquired.strftime("%Y-%m-%d")}
                rows.append(row)
        rows.append({"account": spec.account, "ticker": "CASH", "quantity": f"{cash:.2f}"})
    out = pd.DataFrame(rows, columns=["account", "ticker", "quantity", "cost_basis", "acquired"])
    return out.fillna("")


def _split_shares(total: int, n_lots: int, rng: np.random.Generator) -> list[int]:
    """Split ``total`` shares into ``n_lots`` positive whole lots."""
    if n_lots <= 1:
        return [total]
    cuts = np.rint(np.cumsum(rng.dirichlet(np.full(n_lots, 2.0)))[:-1] * total).astype(int)
    cuts = np.clip(cuts, 1, total - 1)
    parts = np.diff(np.concatenate([[0], np.sort(cuts), [total]]))
    if (parts <= 0).any():
        return [total - (n_lots - 1)] + [1] * (n_lots - 1)
    return [int(p) for p in parts]


def mark_restricted(
    universe: pd.DataFrame, holdings: pd.DataFrame, rng: np.random.Generator
) -> None:
    """``no_buy`` on one name per NO_BUY_GROUPS entry that no account holds."""
    held = universe["ticker"].isin(holdings["ticker"])
    for region, size in NO_BUY_GROUPS:
        group = ~held & (universe["region"] == region) & (universe["size"] == size)
        universe.loc[rng.choice(np.flatnonzero(group.to_numpy())), "restricted"] = "no_buy"


def build_accounts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account": [a.account for a in ACCOUNTS],
            "scenario": SCENARIO_FILE,
            "benchmark": "benchmark.csv",
            "taxable": ["true" if a.taxable else "false" for a in ACCOUNTS],
            "cash_target": [repr(a.cash_weight) for a in ACCOUNTS],
        }
    )


# --------------------------------------------------------------------------- output

UNIVERSE_COLUMNS = (
    "ticker", "name", "country", "region", "sector", "industry", "themes", "market_cap",
    "adv", "price", "lot_size", "pb", "pe", "roa", "momentum", "leverage",
    "floating_debt_pct", "beta", "restricted",
)  # fmt: skip
SIGNAL_COLUMNS = ("pb", "pe", "roa", "momentum", "leverage", "floating_debt_pct", "beta")


def universe_table(universe: pd.DataFrame) -> pd.DataFrame:
    """The universe as text, column by column, so the CSV bytes never drift."""
    out = universe[list(UNIVERSE_COLUMNS)].copy()
    out["market_cap"] = [str(int(v)) for v in universe["market_cap"]]
    out["adv"] = [str(int(v)) for v in universe["adv"]]
    out["price"] = [f"{v:.2f}" for v in universe["price"]]
    out["lot_size"] = [str(int(v)) for v in universe["lot_size"]]
    for column in SIGNAL_COLUMNS:
        out[column] = [fmt_float(v) for v in universe[column]]
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--out", type=Path, default=here, help="output folder (default: examples/)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    universe = build_universe()
    prices = build_prices(universe, stage_rng(8))
    benchmark = build_benchmark(universe)
    holdings = build_holdings(universe, prices, stage_rng(9))
    mark_restricted(universe, holdings, stage_rng(10))

    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "universe.csv": universe_table(universe),
        "prices.csv": prices,
        "benchmark.csv": benchmark,
        "holdings.csv": holdings,
        "accounts.csv": build_accounts(),
    }
    for name, frame in files.items():
        write_csv(frame, args.out / name)
        print(f"{args.out / name}: {(args.out / name).stat().st_size:,} bytes")
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
