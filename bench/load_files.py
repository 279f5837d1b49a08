"""Time loading files into a store against bare DuckDB reading the same files, in one run.

    python bench/load_files.py --rows 10000000

Generates N synthetic rows, writes them as Parquet and as psql-style CSV, then for each format
times (a) a bare ``CREATE TABLE t AS SELECT * FROM read_parquet(...)`` / ``read_csv(...)`` into
a fresh DuckDB file and (b) ``LogStore(path).load_files(...)`` into a fresh store file, and prints
rows/s and the ratio (b)/(a). Also times ``import llamalog_analytics`` in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

import llamalog_analytics as lla

BARE = {
    "parquet": "CREATE TABLE t AS SELECT * FROM read_parquet(?)",
    "csv": "CREATE TABLE t AS SELECT * FROM read_csv(?)",
}


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bare_load(source: Path, db: Path, fmt: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(BARE[fmt], [str(source)])


def store_load(source: Path, db: Path) -> None:
    with lla.LogStore(db) as store:
        result = store.load_files(source, quiet=True)
    assert result.rows_rejected == 0, result


def import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import llamalog_analytics; print(time.perf_counter() - t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(5)]
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dir", type=Path, default=None, help="work directory, kept (default: a temp dir, removed)"
    )
    args = parser.parse_args()
    if args.dir is None:
        with tempfile.TemporaryDirectory(prefix="llamalog-bench-") as work:
            measure(args, Path(work))
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        measure(args, args.dir)


def measure(args: argparse.Namespace, work: Path) -> None:
    """Write the generated rows to files in ``work`` and time both loads of each."""
    start = time.perf_counter()
    data = lla.synthetic.generate(args.rows, seed=args.seed)
    generated = time.perf_counter() - start
    files = {"parquet": work / "logs.parquet", "csv": work / "logs.csv"}
    written = {}
    for fmt, path in files.items():
        started = time.perf_counter()
        lla.write_logs(data.llama_logs, path)
        written[fmt] = time.perf_counter() - started
    del data
    print(
        f"rows: {args.rows:,}  generate: {generated:.1f}s  "
        + "  ".join(f"write {fmt}: {s:.1f}s" for fmt, s in written.items())
    )

    for fmt, source in files.items():
        bare_db, store_db = work / f"bare-{fmt}.duckdb", work / f"store-{fmt}.duckdb"
        for db in (bare_db, store_db):
            db.unlink(missing_ok=True)
        bare = timed(lambda s=source, d=bare_db, f=fmt: bare_load(s, d, f))
        ours = timed(lambda s=source, d=store_db: store_load(s, d))
        print(
            f"{fmt:8} bare duckdb: {bare:6.1f}s ({args.rows / bare:>12,.0f} rows/s)   "
            f"load_files: {ours:6.1f}s ({args.rows / ours:>12,.0f} rows/s)   ratio {ours / bare:.2f}x"
        )
    print(f"import llamalog_analytics: {import_seconds() * 1000:.0f} ms (best of 5, fresh interpreter)")


if __name__ == "__main__":
    main()
