"""A fingerprint of what the program writes, to show a change of code changed no answer.

    .venv/bin/python -m benchmarks.fingerprint --out DIR [--book-accounts 200]
    .venv/bin/python -m benchmarks.fingerprint --compare BEFORE_DIR AFTER_DIR

Runs, on the shipped examples with a fixed ``--as-of``: ``propose`` for each example
account (with the examples' accounts file) under every shipped scenario, the README's
``whatif`` example, and ``batch`` on a synthetic book (``examples/make_book.py``,
``--book-accounts`` accounts). It keeps each trades CSV, JSON summary, the what-if JSON
and the book's ``block_orders.csv`` and writes ``DIR/fingerprint.tsv``: one line per
file with the SHA-256 of its content once run-dependent values are taken out (timings,
library versions, the command line, absolute paths and the digests that cover them).
``--compare`` prints the files whose fingerprints differ, with the first differing
line of each, and exits 1 when any does. Check out the code before a change, run it
with ``--out before``; after the change, ``--out after``; then ``--compare``.
Not part of the test suite (about two minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

from click.testing import CliRunner
from rebalancer.examples.make_book import make_book

from rebalancer.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCENARIOS = ROOT / "scenarios"
ACCOUNTS = ("IRA-250K", "TAX-2M", "FDN-20M")
AS_OF = "2026-11-20"
# values that differ between two runs of the same code on the same inputs
VOLATILE = {
    "timings",
    "versions",
    "command",
    "platform",
    "destination_seconds",
    "compile_seconds",
    "summary_sha256",
    "seconds",
    "cache",  # hit or miss: what an earlier run left in the on-disk cache
}


def _cli(*args) -> int:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code


def _market(*, prices: bool = True) -> list:
    args = ["--universe", EXAMPLES / "universe.csv", "--holdings", EXAMPLES / "holdings.csv"]
    if prices:
        args += ["--prices", EXAMPLES / "prices.csv"]
    return args


def run_all(out: Path, book_accounts: int) -> dict[str, int]:
    """Every run of the fingerprint into ``out``; returns each run's exit code."""
    codes = {}
    for scenario in sorted(SCENARIOS.glob("*.yaml")):
        for account in ACCOUNTS:
            stem = out / "propose" / f"{account}.{scenario.stem}"
            stem.parent.mkdir(parents=True, exist_ok=True)
            codes[stem.name] = _cli(
                "propose", *_market(), "--benchmark", EXAMPLES / "benchmark.csv",
                "--account", account, "--accounts", EXAMPLES / "accounts.csv",
                "--scenario", scenario, "--as-of", AS_OF, "-q",
                "--trades", f"{stem}.trades.csv", "--json", f"{stem}.json",
            )  # fmt: skip
    codes["whatif"] = _cli(
        "whatif", *_market(), "--benchmark", EXAMPLES / "benchmark.csv",
        "--account", "FDN-20M", "--accounts", EXAMPLES / "accounts.csv",
        "--scenario", SCENARIOS / "smallcap_rerating.yaml",
        "--scenario", SCENARIOS / "status_quo.yaml",
        "--vary", "constraints.max_turnover=0.1,0.2,0.3",
        "--shock", "name=relapse,size:small=-0.275,size:mid=-0.20,size:large=-0.12",
        "--as-of", AS_OF, "-q", "--json", out / "whatif.json",
    )  # fmt: skip
    book = out / "book"
    book.mkdir(parents=True, exist_ok=True)
    holdings, accounts = make_book(book_accounts)
    holdings.to_csv(book / "holdings.csv", index=False)
    accounts.to_csv(book / "accounts.csv", index=False)
    # the accounts name their benchmark beside the accounts file (as make_book's own
    # command writes it); without it every account fails and the block orders are empty
    shutil.copyfile(EXAMPLES / "benchmark.csv", book / "benchmark.csv")
    codes["book"] = _cli(
        "batch", "--accounts", book / "accounts.csv", "--holdings", book / "holdings.csv",
        "--universe", EXAMPLES / "universe.csv", "--prices", EXAMPLES / "prices.csv",
        "--out-dir", book / "out", "--workers", "2", "--as-of", AS_OF, "-q",
    )  # fmt: skip
    return codes


def _stable(value, root: str):
    """``value`` without what differs between runs: volatile keys dropped, paths made
    relative to the fingerprint's folder, input and output digests kept (they are of
    file contents, which must not change)."""
    if isinstance(value, dict):
        return {k: _stable(v, root) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<out>").replace(str(ROOT), "<repo>")
    return value


def _content(path: Path, root: Path) -> bytes:
    if path.suffix != ".json":
        return path.read_bytes()
    data = _stable(json.loads(path.read_text(encoding="utf-8")), str(root))
    if isinstance(data, dict) and isinstance(data.get("manifest"), dict):
        # the outputs' digests cover files fingerprinted on their own; their paths moved
        for entry in data["manifest"].get("outputs", {}).values():
            entry.pop("path", None)
    return json.dumps(data, sort_keys=True, indent=1).encode()


def _kept(path: Path, out: Path) -> bool:
    name = path.relative_to(out).as_posix()
    if name.startswith("book/out/"):  # a book's own files: its block orders stand for them
        return path.name == "block_orders.csv"
    return name.endswith((".trades.csv", ".json")) and name != "exit_codes.json"


def fingerprint(out: Path) -> dict[str, str]:
    files = sorted(p for p in out.rglob("*") if p.is_file() and _kept(p, out))
    return {str(p.relative_to(out)): hashlib.sha256(_content(p, out)).hexdigest() for p in files}


def compare(before: Path, after: Path) -> int:
    a, b = _read(before), _read(after)
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    for name in differ:
        if name not in a or name not in b:
            print(f"{name}: only in {'after' if name in b else 'before'}")
            continue
        old = _content(before / name, before).decode(errors="replace").splitlines()
        new = _content(after / name, after).decode(errors="replace").splitlines()
        first = next(
            (i for i, (x, y) in enumerate(zip(old, new, strict=False)) if x != y),
            min(len(old), len(new)),
        )
        print(f"{name}: line {first + 1}: {old[first : first + 1]} -> {new[first : first + 1]}")
    print(f"{len(a.keys() & b.keys()) - len(differ)} of {len(a.keys() | b.keys())} files identical")
    return 1 if differ else 0


def _read(folder: Path) -> dict[str, str]:
    lines = (folder / "fingerprint.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t") for line in lines[1:])


def main_(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--book-accounts", type=int, default=200)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("give --out DIR or --compare BEFORE AFTER")
    out = args.out.resolve()
    codes = run_all(out, args.book_accounts)
    prints = fingerprint(out)
    lines = ["file\tsha256", *(f"{k}\t{v}" for k, v in prints.items())]
    (out / "fingerprint.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "exit_codes.json").write_text(json.dumps(codes, indent=1), encoding="utf-8")
    print(f"{len(prints)} files fingerprinted in {out / 'fingerprint.tsv'}; exit codes: "
          + ", ".join(f"{c}: {sum(v == c for v in codes.values())}" for c in sorted(set(codes.values()))))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main_())
