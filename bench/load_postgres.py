"""Time loading from PostgreSQL 15 against the physical limit and other readers, in one run.

    python bench/load_postgres.py --rows 5000000

Starts a throwaway PostgreSQL 15 (or uses LLAMALOG_TEST_PG_URL), fills ``llama_logs`` with N
generated rows and the upstream indexes, then times:

* ``psql -c "COPY (SELECT * FROM llama_logs) TO STDOUT (FORMAT binary)" > /dev/null`` (the limit);
* ``LogStore(file).load_postgres(url)``: a full load into a fresh persistent store with
  ``--streams`` streams, then with the default ones (by CPUs and table size), each in a child
  process; the latter's peak memory (VmHWM) is reported next to the size of the resulting store;
* an incremental load with nothing new (its fixed costs, by phase: imports, opening the store, the
  load, closing it) and one after adding 1% new rows (the table vacuumed, as autovacuum leaves it);
* an incremental load after deleting 100 old rows (the server's counters show the delete, so
  the older rows' ids are compared), then one after updating 100 old rows (the counters show
  updates, so every row is fetched and compared with the stored ones);
* ``pandas.read_sql`` through SQLAlchemy and ``polars.read_database_uri`` (connectorx), when
  installed (``pip install pandas connectorx``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgserver import PgServer, copy_rows, create_indexes, create_upstream

import llamalog_analytics as lla

CHILD = """
import json, sys, time
start = time.perf_counter()
import duckdb, adbc_driver_manager, adbc_driver_postgresql
import llamalog_analytics as lla
from llamalog_analytics import postgres
imported = time.perf_counter()
store = lla.LogStore(sys.argv[1])
opened = time.perf_counter()
streams = int(sys.argv[4]) if sys.argv[4] != "auto" else None
result = store.load_postgres(sys.argv[2], full=sys.argv[3] == "full", streams=streams, quiet=True)
loaded = time.perf_counter()
store.close()
end = time.perf_counter()
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork and exec.
rss = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": end - start, "rows": result.rows_read, "inserted": result.rows_inserted,
                  "disappeared": sum(s.rows_disappeared for s in result.sources),
                  "changed": sum(s.rows_changed for s in result.sources), "rss": rss,
                  "phases": {"imports": imported - start, "open": opened - imported,
                             "load": loaded - opened, "close": end - loaded}}))
"""


def child_load(store: Path, url: str, mode: str, streams: str = "auto") -> dict:
    os.sync()  # what earlier steps wrote reaches the disk first: no load pays for the one before it
    out = subprocess.check_output([sys.executable, "-c", CHILD, str(store), url, mode, streams])
    return json.loads(out)


def after_changing(store: Path, url: str, change: str, counted: str) -> dict:
    """An incremental load (in a child process) after ``change`` (SQL ending in ``WHERE``) was
    made to the 100 oldest rows, which the load must count as ``counted``."""
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"{change} id IN (SELECT id FROM llama_logs ORDER BY created_at LIMIT 100)")
    load = child_load(store, url, "incremental")
    assert load[counted] == 100, load
    return load


def phases(load: dict) -> str:
    return ", ".join(f"{name} {seconds:.3f}s" for name, seconds in load["phases"].items())


def timed_command(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--streams", type=int, default=2, help="streams of the load timed beside the default")
    parser.add_argument("--skip-others", action="store_true", help="skip pandas and connectorx")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llamalog-pgbench-"))
    server = PgServer.start()
    try:
        url = server.database("bench")
        started = time.perf_counter()
        data = lla.synthetic.generate(args.rows, seed=1)
        create_upstream(url, indexes=False)
        copy_rows(url, data.llama_logs)
        create_indexes(url)
        with psycopg.connect(url, autocommit=True) as con:  # a settled table, as autovacuum leaves it
            con.execute("VACUUM ANALYZE llama_logs")
        newest = data.llama_logs["created_at"].max()
        extra = data.llama_logs.head(args.rows // 100)
        del data
        print(f"rows: {args.rows:,}  prepared in {time.perf_counter() - started:.0f}s")

        psql = timed_command(["psql", url, "-c", "COPY (SELECT * FROM llama_logs) TO STDOUT (FORMAT binary)"])
        print(f"psql COPY binary > /dev/null: {psql:6.2f}s ({args.rows / psql:,.0f} rows/s)")
        store = work / "store.duckdb"
        several = child_load(store, url, "full", str(args.streams))
        store.unlink()
        seconds = several["seconds"]
        print(f"load_postgres (full, {args.streams} streams): {seconds:6.2f}s  ratio {seconds / psql:.2f}x")
        full = child_load(store, url, "full")
        store_bytes = store.stat().st_size
        print(
            f"load_postgres (full, default streams for {os.cpu_count()} CPUs): {full['seconds']:6.2f}s "
            f"({args.rows / full['seconds']:,.0f} rows/s)  ratio {full['seconds'] / psql:.2f}x"
        )
        print(
            f"  peak memory (VmHWM) {full['rss'] / 2**20:,.0f} MiB; "
            f"store file {store_bytes / 2**20:,.0f} MiB; peak / file = {full['rss'] / store_bytes:.2f}"
        )

        unchanged = child_load(store, url, "incremental")
        assert unchanged["inserted"] == 0, unchanged
        print(
            f"incremental, nothing new (the fixed costs): {unchanged['seconds']:6.2f}s = {phases(unchanged)}"
        )
        fresh = extra.with_columns(
            pl.Series("id", [str(uuid.uuid4()) for _ in range(extra.height)]),
            (pl.lit(newest) + pl.duration(seconds=pl.int_range(pl.len()) + 1)).alias("created_at"),
        )
        copy_rows(url, fresh)
        incremental = child_load(store, url, "incremental")
        assert incremental["inserted"] == extra.height, incremental
        print(
            f"incremental after +1% ({extra.height:,} rows): {incremental['seconds']:6.2f}s = "
            f"{100 * incremental['seconds'] / full['seconds']:.1f}% of the full load ({phases(incremental)})"
        )

        # cascade deletes of an old album's history
        after_delete = after_changing(store, url, "DELETE FROM llama_logs WHERE", "disappeared")
        print(
            f"incremental after 100 old rows deleted (older ids compared): {after_delete['seconds']:6.2f}s "
            f"= {100 * after_delete['seconds'] / full['seconds']:.1f}% of the full load"
        )
        # a deployed repair: old rows updated in place
        after_update = after_changing(
            store, url, "UPDATE llama_logs SET reason = 'repaired in place' WHERE", "changed"
        )
        print(
            f"incremental after 100 old rows updated (every row fetched and compared): "
            f"{after_update['seconds']:6.2f}s, {after_update['seconds'] / full['seconds']:.2f}x the full load"
        )

        if not args.skip_others:
            others(url, psql)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def others(url: str, psql: float) -> None:
    try:
        import pandas as pd
        from sqlalchemy import create_engine

        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        start = time.perf_counter()
        with engine.connect() as con:
            pd.read_sql("SELECT * FROM llama_logs", con)
        seconds = time.perf_counter() - start
        print(f"pandas.read_sql (SQLAlchemy): {seconds:6.2f}s  ratio {seconds / psql:.2f}x")
    except ImportError as exc:
        print(f"pandas.read_sql: skipped ({exc})")
    try:
        start = time.perf_counter()
        pl.read_database_uri("SELECT * FROM llama_logs", url, engine="connectorx")
        seconds = time.perf_counter() - start
        print(f"polars.read_database_uri (connectorx): {seconds:6.2f}s  ratio {seconds / psql:.2f}x")
    except Exception as exc:  # connectorx missing, or a type it cannot read
        print(f"polars.read_database_uri: failed ({str(exc).splitlines()[0][:120]})")


if __name__ == "__main__":
    main()
