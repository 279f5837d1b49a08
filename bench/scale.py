"""The audit out of core: generated logs as a folder of Parquet files, attached, then verified.

    python bench/scale.py --rows 100000000 --snapshot 50000000

Generates the rows in chunks of ``--chunk`` (each with its own seed, so ids stay unique, and its
numeric job ids moved past the chunk before's, as BullMQ's ids grow) into
one Parquet file per chunk under ``llama_logs/``, and the snapshot's chunks (the pre-migration
columns) under ``enrichment_logs/``, so no process ever holds the whole table. A store file
attaches both folders (``store.attach``: read in place, checked once as a load would) and loads
the migration history; then ``lla.verify(store)`` runs in a child process, whose time and peak
memory (VmHWM) are printed with each check's time and finding (``--memory-limit``: DuckDB's
memory limit for the store and the audit, 3GB by default as for every store). ``--keep DIR``
writes into DIR and keeps it, so a second run can skip the generation (``--reuse DIR``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _child
import polars as pl

import llamalog_analytics as lla
from llamalog_analytics import schema

CHILD = """
import json, sys, time
import llamalog_analytics as lla
from _child import peak, timed_checks
took = {}
checks = timed_checks(took)
start = time.perf_counter()
with lla.LogStore(sys.argv[1], memory_limit=sys.argv[3]) as store:
    attached = {}
    for table in ("llama_logs", "enrichment_logs"):
        began = time.perf_counter()
        store.attach(f"{sys.argv[2]}/{table}", table)
        attached[table] = time.perf_counter() - began
    store.load_files(f"{sys.argv[2]}/migrations.csv", "_prisma_migrations", quiet=True)
    began = time.perf_counter()
    report = lla.verify(store, checks=checks, memory_limit=sys.argv[3])
    seconds = time.perf_counter() - began
print(json.dumps({"attach": attached, "verify": seconds, "rss": peak(), "status": report.status,
                  "checks": {c.name: [c.status, c.count, took[c.name]] for c in report.checks}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--snapshot", type=int, default=50_000_000)
    parser.add_argument("--chunk", type=int, default=2_000_000)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--reuse", type=Path, help="a folder --keep wrote: skip the generation")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB's memory limit, store and audit")
    args = parser.parse_args()
    if args.reuse:
        measure(args.reuse, args.memory_limit)
    elif args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        generate(args, args.keep)
        measure(args.keep, args.memory_limit)
    else:
        with tempfile.TemporaryDirectory(prefix="llamalog-scalebench-") as work:
            generate(args, Path(work))
            measure(Path(work), args.memory_limit)


def generate(args: argparse.Namespace, work: Path) -> None:
    """The rows, chunk by chunk, as Parquet files in ``work``."""
    started = time.perf_counter()
    for table in ("llama_logs", "enrichment_logs"):
        (work / table).mkdir(exist_ok=True)
    for number, first in enumerate(range(0, args.rows, args.chunk)):
        data = lla.synthetic.generate(min(args.chunk, args.rows - first), seed=1000 + number)
        logs = _numbered_from(data.llama_logs, first)
        lla.write_logs(logs, work / "llama_logs" / f"part-{number:04}.parquet")
        within = max(0, min(args.chunk, args.snapshot - first))
        if within:
            snapshot = logs.head(within).select(c.name for c in schema.LEGACY_COLUMNS)
            lla.write_logs(snapshot, work / "enrichment_logs" / f"part-{number:04}.parquet")
        if number == 0:
            data.prisma_migrations.write_csv(work / "migrations.csv")
    size = sum(f.stat().st_size for f in work.rglob("*.parquet"))
    print(
        f"rows: {args.rows:,}, snapshot {args.snapshot:,}, in chunks of {args.chunk:,}: "
        f"{size / 2**30:.1f} GiB of Parquet, generated in {time.perf_counter() - started:.0f}s"
    )


def _numbered_from(logs: pl.DataFrame, first: int) -> pl.DataFrame:
    """``logs`` with its numeric job ids moved up by ``first``: BullMQ's ids grow, so each chunk's
    jobs get ids of their own (the generator numbers every chunk's jobs from 1, which would make
    each id run in every chunk, a Redis reset every chunk)."""
    return logs.with_columns(
        pl.when(pl.col(c).str.contains(r"^[0-9]+$"))
        .then((pl.col(c).cast(pl.Int64, strict=False) + first).cast(pl.String))
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("job_id", "parent_job_id", "root_job_id")
    )


def measure(work: Path, memory_limit: str) -> None:
    """Attach ``work``'s folders to a new store and time ``lla.verify`` in a child process."""
    with tempfile.TemporaryDirectory(prefix="llamalog-scalestore-") as folder:
        store = str(Path(folder) / "store.duckdb")
        ours = json.loads(_child.run(CHILD, store, str(work), memory_limit))
    for table, took in ours["attach"].items():
        print(f"attach {table}: {took:.1f}s (the files read once, checked as a load checks them)")
    print(
        f"lla.verify on the attached files: {ours['verify']:.1f}s, peak memory (VmHWM) "
        f"{ours['rss'] / 2**30:.2f} GiB, status {ours['status']}"
    )
    for name, (status, count, seconds) in ours["checks"].items():
        print(f"  {name:<26} {seconds:7.1f}s  {status:<5} {count:>12,}")


if __name__ == "__main__":
    main()
