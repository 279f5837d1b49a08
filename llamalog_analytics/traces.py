"""Provenance chains as traces, for Jaeger, Grafana Tempo and Perfetto.

A chain is a small tree of job runs, which is what a distributed trace is too. Each **job
instance** (a run of a ``job_id``, see :mod:`~llamalog_analytics.links`) becomes one **span**,
from its first row's start (``created_at`` minus ``duration_ms``) to its last row; a row without
a job id is a zero-length span of its own. A span's parent is the run its first row's parent
link resolves to, when that run is in the chain; otherwise the span starts a trace of its own (a
parent whose run never logged is kept as ``llamalog.dangling_parent_job_id``, and a loop of
runs is cut at its oldest span). Every chain row is one **event** on its span, so nothing is
lost. Ids are hashes of the job ids and row ids: the same rows give the same trace and span ids
every time. Times are UTC.

:func:`spans` gives the spans as a frame; :mod:`~llamalog_analytics.trace_formats` turns them
into OTLP/JSON and Perfetto JSON, and ``lla.write_trace`` writes either.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     album = store.execute("SELECT album_id FROM llama_logs WHERE category = 'CREATED' "
    ...                           "AND album_id IS NOT NULL ORDER BY created_at LIMIT 1")[0][0]
    ...     rows = lla.chain(store, "ALBUM", album)
    >>> found = spans(rows)
    >>> found.height, found["trace_id"].n_unique(), found["job_instance"].max()  # one job id ran twice
    (6, 5, 2)
    >>> ids = set(found["span_id"])
    >>> all(parent in ids for parent in found["parent_span_id"].drop_nulls())
    True
    >>> found["events"].list.len().sum() == rows.height
    True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import polars as pl

from . import links
from ._format import count
from ._time import created_utc
from .errors import ExportError
from .log_view import log_rows

REQUIRED = ("id", "created_at", "operation", "job_id", "parent_job_id")
# Span attributes: spans() column → attribute key (NULL and false values are left out).
SPAN_ATTRIBUTES = {
    "job_id": "llamalog.job_id",
    "job_instance": "llamalog.job_instance",
    "row_id": "llamalog.row_id",
    "parent_job_id": "llamalog.parent_job_id",
    "parent_instance": "llamalog.parent_instance",
    "dangling_parent_job_id": "llamalog.dangling_parent_job_id",
    "loop_broken": "llamalog.loop_broken",
    "rows": "llamalog.rows",
}
# Event attributes: log row column → attribute key.
EVENT_ATTRIBUTES = {
    "id": "llamalog.row_id",
    "category": "llamalog.category",
    "operation": "llamalog.operation",
    "status": "llamalog.status",
    "entity_type": "llamalog.entity_type",
    "entity_id": "llamalog.entity_id",
    "album_id": "llamalog.album_id",
    "artist_id": "llamalog.artist_id",
    "track_id": "llamalog.track_id",
    "error_message": "llamalog.error_message",
    "duration_ms": "llamalog.duration_ms",
    "triggered_by": "llamalog.triggered_by",
    "user_id": "llamalog.user_id",
    "relation": "llamalog.relation",
    "before_parent": "llamalog.before_parent",  # what the timeline rings: true, else left out
    "in_cycle": "llamalog.in_cycle",
}
_EVENT_TYPES = {
    "duration_ms": pl.Int64(),
    "before_parent": pl.Boolean(),
    "in_cycle": pl.Boolean(),
}  # else text


def spans(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per span of a chain (or of any log rows): its ids, times, status and events.

    Columns: ``trace_id`` (32 hex), ``span_id`` (16 hex), ``parent_span_id`` (NULL for a trace's
    root), ``name`` (the first row's operation and the job id), ``start`` and ``end`` (naive UTC),
    ``status`` (``error`` when a row FAILED, else ``ok``), ``status_message`` (the first failed
    row's error message), ``job_id`` and ``job_instance`` (NULL for a job-less row's span, which
    has ``row_id``), ``parent_job_id`` and ``parent_instance`` (the run the parent link resolves
    to, in the chain or not), ``dangling_parent_job_id`` (the bare id of the parent whose run
    never logged above the span's trace),
    ``loop_broken`` (a loop of runs was cut above this span), ``rows`` and ``events`` (one struct
    per row, oldest first: ``time``, ``name`` and the row's columns in :data:`EVENT_ATTRIBUTES`).

    Rows without a chain's link annotations are linked among themselves first
    (:func:`~llamalog_analytics.links.annotate`). Spans come oldest trace first, then by start.

    Examples:
        >>> from datetime import datetime
        >>> rows = pl.DataFrame({
        ...     "id": ["r1", "r2", "r3", "r4"], "operation": ["sync", "album", "fix", "track"],
        ...     "job_id": ["s", "a", None, "t"], "parent_job_id": [None, "s", "a", "gone"],
        ...     "duration_ms": [None, 2000, None, None], "status": ["SUCCESS", "FAILED", None, None],
        ...     "created_at": [datetime(2026, 3, 1, 12, 0, s) for s in (0, 5, 6, 7)]})
        >>> found = spans(rows)
        >>> found.select("name", "start", "status", "dangling_parent_job_id").rows()
        ... # doctest: +NORMALIZE_WHITESPACE
        [('sync s', datetime.datetime(2026, 3, 1, 12, 0), 'ok', None),
         ('album a', datetime.datetime(2026, 3, 1, 12, 0, 3), 'error', None),
         ('fix', datetime.datetime(2026, 3, 1, 12, 0, 6), 'ok', None),
         ('track t', datetime.datetime(2026, 3, 1, 12, 0, 7), 'ok', 'gone')]
        >>> parents = dict(zip(found["span_id"], found["parent_span_id"]))
        >>> [parents[s] == p for s, p in zip(found["span_id"][1:3], found["span_id"][:2])]
        [True, True]
        >>> found["trace_id"].n_unique()  # the sync's tree, and the track under a parent that never logged
        2
    """
    rows = log_rows(rows, REQUIRED, ExportError)
    for column, needed_for in (("operation", "names its span"), ("created_at", "places it in time")):
        lacking = rows.filter(pl.col(column).is_null()).sort("id")
        if lacking.height:
            raise ExportError(
                f"{count(lacking.height, 'row')} without {column} (the first: {lacking['id'][0]}), which "
                f"{needed_for}. Hint: fill it, or leave those rows out: rows.drop_nulls('{column}')"
            )
    rows = links.annotate(
        rows.with_columns(
            pl.col("id", "job_id", "parent_job_id").cast(pl.String), created_utc(rows, ExportError)
        )
    )
    grouped = _runs(_events(rows))
    return _named(grouped.with_columns(pl.Series(name, values) for name, values in _tree(grouped).items()))


def _events(rows: pl.DataFrame) -> pl.DataFrame:
    """Each row keyed by its span (``_job``, ``_run``; ``_row`` for a job-less row), with its
    start, whether it failed, and its span event, oldest first."""
    ran = _column(rows, "duration_ms", pl.Int64()).fill_null(0).clip(lower_bound=0)  # NULL counts as 0
    failed = (_column(rows, "status", pl.String()) == "FAILED") | (
        _column(rows, "category", pl.String()) == "FAILED"
    )
    return rows.select(
        pl.col("job_id").alias("_job"),
        pl.col("job_instance").alias("_run"),
        pl.when(pl.col("job_id").is_null()).then(pl.col("id")).alias("_row"),
        "id",
        "operation",
        "parent_job_id",
        "parent_instance",
        pl.col("created_at").alias("_at"),
        pl.when(pl.col("job_id").is_null())  # a row without a job id is a zero-length span
        .then(pl.col("created_at"))
        .otherwise(pl.col("created_at") - pl.duration(milliseconds=ran))
        .alias("_start"),
        failed.fill_null(False).alias("_failed"),
        _column(rows, "error_message", pl.String()).alias("_error"),
        pl.struct(
            pl.col("created_at").alias("time"),
            pl.col("operation").alias("name"),
            *(_column(rows, c, _EVENT_TYPES.get(c, pl.String())).alias(c) for c in EVENT_ATTRIBUTES),
        ).alias("events"),
    ).sort("_at", "id")


def _runs(events: pl.DataFrame) -> pl.DataFrame:
    """One row per span: its times, failure, first row's parent link, row count and events."""
    return events.group_by("_job", "_run", "_row", maintain_order=True).agg(
        pl.col("operation").first(),
        pl.col("id").first().alias("first_id"),
        pl.col("_at").first().alias("first_at"),
        pl.col("_start").min().alias("start"),
        pl.col("_at").max().alias("end"),
        pl.col("_failed").any().alias("failed"),
        pl.col("_error").filter(pl.col("_failed")).drop_nulls().first().alias("_error"),
        pl.col("operation").filter(pl.col("_failed")).first().alias("_failed_operation"),
        pl.col("parent_job_id").first(),  # a run's parent is its first row's (links)
        pl.col("parent_instance").first(),
        pl.len().cast(pl.Int64).alias("rows"),
        pl.col("events"),
    )


def _named(spans: pl.DataFrame) -> pl.DataFrame:
    """The spans with their names, statuses and dangling parents, in :func:`spans`' columns."""
    dangling = links.DANGLING_PARENT
    return (
        spans.with_columns(
            pl.when(pl.col("_job").is_null())
            .then(pl.col("operation"))
            .otherwise(pl.concat_str("operation", pl.lit(" "), "_job"))
            .alias("name"),
            pl.when("failed").then(pl.lit("error")).otherwise(pl.lit("ok")).alias("status"),
            pl.when("failed")
            .then(pl.coalesce("_error", pl.concat_str("_failed_operation", pl.lit(" failed"))))
            .alias("status_message"),
            pl.when(dangling).then("parent_job_id").alias("dangling_parent_job_id"),
            pl.when(~dangling).then("parent_job_id").alias("parent_job_id"),
        )
        .with_columns(  # every span below a parent that never logged carries its bare id
            pl.col("dangling_parent_job_id")
            .filter(pl.col("parent_span_id").is_null())
            .first()
            .over("trace_id")
        )
        .sort("_trace_start", "trace_id", "start", "first_at", "first_id")
        .select(
            "trace_id",
            "span_id",
            "parent_span_id",
            "name",
            "start",
            "end",
            "status",
            "status_message",
            pl.col("_job").alias("job_id"),
            pl.col("_run").alias("job_instance"),
            pl.col("_row").alias("row_id"),
            "parent_job_id",
            "parent_instance",
            "dangling_parent_job_id",
            "loop_broken",
            "rows",
            "events",
        )
    )


def _tree(grouped: pl.DataFrame) -> dict[str, pl.Series]:
    """Each span's ids, parent span, trace and whether a loop was cut above it (one pass per span)."""
    keys = list(grouped.select("_job", "_run", "_row").iter_rows())
    where = {key: at for at, key in enumerate(keys)}
    parent = np.array(
        [
            where.get((job, run, None), -1) if run is not None else -1
            for job, run in grouped.select("parent_job_id", "parent_instance").iter_rows()
        ],
        dtype=np.int64,
    )
    age = list(grouped.select("first_at", "first_id").iter_rows())
    broken = np.zeros(len(keys), dtype=bool)
    for loop in links.parent_loops((c, p) for c, p in enumerate(parent.tolist()) if p >= 0):
        oldest = min(loop, key=lambda at: age[at])  # the loop's oldest span becomes a trace's root
        parent[oldest], broken[oldest] = -1, True
    top = links.tops(parent)
    span_ids = [_hex(["job", job, run] if row is None else ["row", row], 16) for job, run, row in keys]
    trace_ids = [_hex(["trace", keys[t][0], keys[t][1], age[t][1]], 32) for t in top.tolist()]
    starts = grouped["start"]
    return {
        "span_id": pl.Series(span_ids, dtype=pl.String),
        "parent_span_id": pl.Series([span_ids[p] if p >= 0 else None for p in parent], dtype=pl.String),
        "trace_id": pl.Series(trace_ids, dtype=pl.String),
        "_trace_start": starts.gather(pl.Series(top, dtype=pl.UInt32)),
        "loop_broken": pl.Series(broken, dtype=pl.Boolean),
    }


def _column(rows: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    """A column of ``rows`` cast to ``dtype``, or NULLs where the frame lacks it."""
    return pl.col(name).cast(dtype) if name in rows.columns else pl.lit(None, dtype=dtype)


def _hex(parts: list[Any], size: int) -> str:
    """``size`` lowercase hex digits of the SHA-256 of ``parts`` as JSON (stable text, never ambiguous)."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:size]
