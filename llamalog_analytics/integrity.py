"""Whole-table checks of the job links: what makes provenance chains incomplete or odd.

Each function takes a store and a log table and returns a polars frame, one row per finding,
so an audit can count them, show examples, or join them back to the rows. Links follow job
instances (see :mod:`~llamalog_analytics.links`); pass ``link="job_id"`` for bare job ids.

Examples:
    >>> import llamalog_analytics as lla
    >>> from llamalog_analytics import integrity
    >>> with lla.sample_store() as store:
    ...     report = integrity.check(store)
    >>> report["check"].to_list()
    ['dangling parents', 'parent cycles', 'reused job ids', 'children before parents', \
'root flag mismatches']
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import polars as pl

from . import links, schema
from ._sql import quote

if TYPE_CHECKING:
    from .store import LogStore

Gap = timedelta | str | None


def dangling_parents(
    store: LogStore, table: str = schema.CURRENT_TABLE, *, link: str = "instance", reuse_gap: Gap = None
) -> pl.DataFrame:
    """Parent job ids whose run never logged a row: one row per id and reason, with how many
    rows point at it.

    Expected for sync batches, request ids and BullMQ jobs that never logged (their id may
    have been used by another run, too far away in time to be theirs); the chain's top is
    then the bare id.
    """
    rows = links.dangling_sql(_linked(store, table, link, reuse_gap))
    return store.frame(
        f"""SELECT parent_job_id, dangling, count(*) AS rows, min(created_at) AS first_seen,
  max(created_at) AS last_seen, list(DISTINCT operation ORDER BY operation) AS operations
FROM ({rows}) GROUP BY parent_job_id, dangling ORDER BY rows DESC, parent_job_id, dangling"""
    )


def parent_cycles(
    store: LogStore, table: str = schema.CURRENT_TABLE, *, link: str = "instance", reuse_gap: Gap = None
) -> pl.DataFrame:
    """Job instances on a parent loop, numbered by loop (see :func:`links.loops`)."""
    return links.loops(store, _linked(store, table, link, reuse_gap))


def reused_job_ids(
    store: LogStore, table: str = schema.CURRENT_TABLE, *, link: str = "instance", reuse_gap: Gap = None
) -> pl.DataFrame:
    """Every run of the job ids that ran more than once, with its span and operations.

    BullMQ's numeric ids restart when its Redis is reset, and some custom ids repeat.
    """
    sql = links.reused_sql(_linked(store, table, link, reuse_gap))
    return store.frame(f"{sql} ORDER BY job_id, job_instance")


def children_before_parents(
    store: LogStore, table: str = schema.CURRENT_TABLE, *, link: str = "instance", reuse_gap: Gap = None
) -> pl.DataFrame:
    """Rows created before the first row of their parent's run (the v1.4 add-album order)."""
    sql = links.before_parent_sql(_linked(store, table, link, reuse_gap))
    return store.frame(f"{sql} ORDER BY created_at, id")


def root_flag_mismatches(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Rows whose ``is_root_job`` disagrees with ``parent_job_id`` (what the admin UI uses).

    ``kind`` is ``root with parent`` or ``no parent, not root``; the second is expected for rows
    before 2026-02-06 and for writers that never set the flag.
    """
    return store.frame(root_flag_sql(_table(store, table)))


def root_flag_sql(table: str) -> str:
    """The SQL behind :func:`root_flag_mismatches`."""
    return f"""SELECT id, operation, created_at, job_id, parent_job_id, is_root_job,
  CASE WHEN is_root_job THEN 'root with parent' ELSE 'no parent, not root' END AS kind
FROM {quote(table)}
WHERE (is_root_job AND parent_job_id IS NOT NULL) OR (NOT is_root_job AND parent_job_id IS NULL)
ORDER BY created_at, id"""


CHECKS = {
    "dangling parents": dangling_parents,
    "parent cycles": parent_cycles,
    "reused job ids": reused_job_ids,
    "children before parents": children_before_parents,
    "root flag mismatches": root_flag_mismatches,
}


def check(
    store: LogStore, table: str = schema.CURRENT_TABLE, *, link: str = "instance", reuse_gap: Gap = None
) -> pl.DataFrame:
    """Every check above: its name, how many findings, and the findings themselves."""
    linking = {"link": link, "reuse_gap": reuse_gap}
    findings = {
        name: function(store, table, **({} if function is root_flag_mismatches else linking))
        for name, function in CHECKS.items()
    }
    return pl.DataFrame(
        {
            "check": list(findings),
            "findings": [f.height for f in findings.values()],
            "details": [f.to_dicts()[:20] for f in findings.values()],
        },
        schema={"check": pl.String, "findings": pl.Int64, "details": pl.Object},
    )


def _linked(store: LogStore, table: str, link: str, reuse_gap: Gap) -> str:
    return links.linked_sql(_table(store, table), links.Linking.of(link, reuse_gap))


def _table(store: LogStore, table: str) -> str:
    store._require(table)
    return table
