"""What the benches' child processes share: each recording of an audit run timed, and peak memory.

Importing it wraps ``history.record`` so that ``recording`` lists how long each took.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

import llamalog_analytics as lla
from llamalog_analytics.audit import history

SETTLE = 12.0
"""Seconds for polars' allocator (jemalloc) to return what was freed: it gives freed pages back
after a delay, so right after frames are let go of they still count."""

recording: list[float] = []
_record = history.record


def _timed_record(*args: Any) -> Any:
    start = time.perf_counter()
    try:
        return _record(*args)
    finally:
        recording.append(time.perf_counter() - start)


history.record = _timed_record


def timed_checks(took: dict[str, float]) -> list[Any]:
    """The audit's default checks, each writing its seconds into ``took`` (by its name) as it runs."""
    from llamalog_analytics import audit

    def timed(check: Any) -> Any:
        def run(on: Any) -> Any:
            start = time.perf_counter()
            try:
                return check(on)
            finally:
                took[check.__name__] = time.perf_counter() - start

        return run

    return [timed(check) for check in audit.DEFAULT_CHECKS]


def memory(field: str) -> int:
    """This process's memory in bytes from ``/proc/self/status``: ``VmRSS`` (now), ``VmHWM``
    (peak), ``RssFile`` (pages of mapped files, now)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field + ":"))


def peak() -> int:
    """The process's peak resident memory in bytes (VmHWM)."""
    return memory("VmHWM")


def reset_peak() -> int:
    """From here on, :func:`peak` counts from what the process holds now (Linux ``clear_refs``),
    which it returns in bytes (VmRSS)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return memory("VmRSS")


def warm(path: Path) -> None:
    """Write what the preparation left in memory to disk (``sync``: gigabytes at 10M rows, which
    the kernel would otherwise write while the bench times), then read ``path`` through once, so
    that the page cache holds it, as PostgreSQL's tables are after ``VACUUM ANALYZE`` (and any
    file a session just used)."""
    os.sync()
    with open(path, "rb") as file:
        while file.read(1 << 24):
            pass


def run(child: str, *arguments: str) -> str:
    """Run ``child`` (Python source) in a new process that can import this module; its stdout."""
    here = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.check_output(
        [sys.executable, "-c", child, *arguments], env={**os.environ, "PYTHONPATH": path}
    )


def arguments(doc: str, no_postgres: str) -> argparse.Namespace:
    """The benches' command line: ``--rows``, ``--snapshot`` and ``--no-postgres`` (``no_postgres``
    says what that leaves)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--snapshot", type=int, default=5_000_000)
    parser.add_argument("--no-postgres", action="store_true", help=no_postgres)
    return parser.parse_args()


def write_store(work: Path, logs: pl.DataFrame, snapshot: pl.DataFrame, migrations: pl.DataFrame) -> Path:
    """A store file in ``work`` holding ``logs`` as llama_logs, ``snapshot`` as enrichment_logs and
    the migration history, each loaded from an exported file as a user would."""
    path = work / "store.duckdb"
    with lla.LogStore(path) as store:
        for table, frame in (("llama_logs", logs), ("enrichment_logs", snapshot)):
            lla.write_logs(frame, work / f"{table}.parquet")
            store.load_files(work / f"{table}.parquet", table, quiet=True)
        migrations.write_csv(work / "migrations.csv")
        store.load_files(work / "migrations.csv", "_prisma_migrations", quiet=True)
    return path
