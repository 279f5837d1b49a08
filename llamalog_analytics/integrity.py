"""Whole-table checks of the job links: what makes provenance chains incomplete or odd.

Each function takes a store and a log table and returns a polars frame, one row per finding,
so an audit can count them, show examples, or join them back to the rows.

Examples:
    >>> import llamalog_analytics as lla
    >>> from llamalog_analytics import integrity
    >>> with lla.sample_store() as store:
    ...     report = integrity.check(store)
    >>> report["check"].to_list()
    ['dangling parents', 'parent cycles', 'duplicate job ids', 'children before parents', \
'root flag mismatches']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from . import schema
from ._sql import quote
from .chains import parent_loops

if TYPE_CHECKING:
    from .store import LogStore


def dangling_parents(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Parent job ids no row was logged by: one row per id, with how many rows point at it.

    Expected for sync batches, request ids and BullMQ jobs that never logged; the chain's top is
    then the bare id.
    """
    return store.frame(query("dangling parents", _table(store, table)))


def parent_cycles(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Job ids on a parent loop (a job that is, through its parents, its own ancestor).

    One row per job on a loop, numbered by loop. Links that cannot be on a loop (out of a job
    no link points at, or into a job with no parent) are trimmed with whole-column joins, in
    SQL and then until nothing changes; :func:`~llamalog_analytics.chains.parent_loops` finds
    the loops among the few that remain.
    """
    links = store.frame(
        f"""WITH links AS (
  SELECT DISTINCT job_id AS job, parent_job_id AS parent FROM {quote(_table(store, table))}
  WHERE job_id IS NOT NULL AND parent_job_id IS NOT NULL)
SELECT * FROM links WHERE job IN (SELECT parent FROM links) AND parent IN (SELECT job FROM links)"""
    )
    while True:  # drop links out of jobs nothing points at, and into jobs that point nowhere
        kept = links.join(links.select(job=pl.col("parent")).unique(), on="job", how="semi").join(
            links.select(parent=pl.col("job")).unique(), on="parent", how="semi"
        )
        if kept.height == links.height:
            break
        links = kept
    loops = [sorted(jobs) for jobs in parent_loops(links.rows())]
    return pl.DataFrame(
        [(number, job) for number, jobs in enumerate(loops, 1) for job in jobs],
        schema={"cycle": pl.Int64, "job_id": pl.String},
        orient="row",
    )


def duplicate_job_ids(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Job ids carried by more than one row, with their span and operations.

    Many are one job logging several rows; a long span or unrelated operations suggest a reused
    id (BullMQ's numeric ids restart when Redis is reset).
    """
    return store.frame(query("duplicate job ids", _table(store, table)))


def children_before_parents(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Rows created before the first row of their parent job (the v1.4 add-album order)."""
    return store.frame(query("children before parents", _table(store, table)))


def root_flag_mismatches(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Rows whose ``is_root_job`` disagrees with ``parent_job_id`` (what the admin UI uses).

    ``kind`` is ``root with parent`` or ``no parent, not root``; the second is expected for rows
    before 2026-02-06 and for writers that never set the flag.
    """
    return store.frame(query("root flag mismatches", _table(store, table)))


_DANGLING_ROWS = """SELECT c.id, c.created_at, c.operation, c.parent_job_id FROM {t} AS c
WHERE c.parent_job_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM {t} AS p WHERE p.job_id = c.parent_job_id)"""

_QUERIES = {
    "dangling parent rows": _DANGLING_ROWS,
    "dangling parents": f"""SELECT parent_job_id, count(*) AS rows, min(created_at) AS first_seen,
  max(created_at) AS last_seen, list(DISTINCT operation ORDER BY operation) AS operations
FROM ({_DANGLING_ROWS})
GROUP BY parent_job_id ORDER BY rows DESC, parent_job_id""",
    "duplicate job ids": """SELECT job_id, count(*) AS rows, min(created_at) AS first_seen,
  max(created_at) AS last_seen,
  list(DISTINCT operation ORDER BY operation) AS operations
FROM {t} WHERE job_id IS NOT NULL
GROUP BY job_id HAVING count(*) > 1 ORDER BY rows DESC, job_id""",
    "children before parents": """WITH parents AS (
  SELECT job_id, min(created_at) AS parent_created_at FROM {t}
  WHERE job_id IN (SELECT parent_job_id FROM {t}) GROUP BY job_id)
SELECT c.id, c.operation, c.job_id, c.parent_job_id, c.created_at, p.parent_created_at,
  epoch_ms(p.parent_created_at) - epoch_ms(c.created_at) AS ahead_by_ms
FROM {t} AS c JOIN parents AS p ON p.job_id = c.parent_job_id
WHERE c.created_at < p.parent_created_at ORDER BY c.created_at, c.id""",
    "root flag mismatches": """SELECT id, operation, created_at, job_id, parent_job_id, is_root_job,
  CASE WHEN is_root_job THEN 'root with parent' ELSE 'no parent, not root' END AS kind
FROM {t}
WHERE (is_root_job AND parent_job_id IS NOT NULL) OR (NOT is_root_job AND parent_job_id IS NULL)
ORDER BY created_at, id""",
}


def query(check: str, table: str = schema.CURRENT_TABLE) -> str:
    """The DuckDB SQL behind one of the SQL checks above, for ``table``.

    Examples:
        >>> print(query("duplicate job ids").splitlines()[3])
        FROM "llama_logs" WHERE job_id IS NOT NULL
    """
    return _QUERIES[check].format(t=quote(table))


CHECKS = {
    "dangling parents": dangling_parents,
    "parent cycles": parent_cycles,
    "duplicate job ids": duplicate_job_ids,
    "children before parents": children_before_parents,
    "root flag mismatches": root_flag_mismatches,
}


def check(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Every check above: its name, how many findings, and the findings themselves."""
    findings = {name: function(store, table) for name, function in CHECKS.items()}
    return pl.DataFrame(
        {
            "check": list(findings),
            "findings": [f.height for f in findings.values()],
            "details": [f.to_dicts()[:20] for f in findings.values()],
        },
        schema={"check": pl.String, "findings": pl.Int64, "details": pl.Object},
    )


def _table(store: LogStore, table: str) -> str:
    store._require(table)
    return table
