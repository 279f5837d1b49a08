"""Whole-table findings about job links, as SQL: parents whose run never logged, rows logged before
their parent run, reused job ids, loops of runs, and every row's true root.

Each takes ``linked``: the rows as :func:`linked_sql` gives them, inline (self-contained SQL to
show and re-run) or as the table :func:`linked_table` makes of them once (to answer several
questions).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from .._memory import SCAN_MEMORY, give_back_freed_memory
from .._sql import literal, quote, uuid_half, uuid_halves
from ..errors import JobKeyCollisionError, LinkError
from ._core import Linking, resolved, rows_sql
from .roots import loop_numbers


def linked_sql(table: str, linking: Linking | None = None) -> str:
    """:func:`rows_sql` with ``operation`` carried, parenthesised: what the findings below read."""
    return f"({rows_sql(table, linking, carry=['operation'])})"


@contextmanager
def linked_table(store: Any, table: str, linking: Linking | None = None) -> Iterator[str]:
    """A temporary table of :func:`linked_sql`'s rows, for the ``with`` block; yields its name.

    Up to :data:`ARRAYS_UP_TO` rows the links are found over arrays
    (:func:`~llamalog_analytics.links.link_runs`), in less time than the SQL takes (at 10M rows,
    6.3 to 8.2 s against 10.6 s): the table is read once, in batches, for times, ids and job ids,
    each job id hashed twice by DuckDB (the second hash tells apart two ids the first confuses,
    and then the SQL runs instead), and the table is read again, in batches, each row written
    with what was found for it (:func:`_with_links`), which the write checks row by row. A
    larger table is left to the SQL, which DuckDB spills to disk as it needs, with no insertion
    order to keep (DuckDB's advice for work larger than memory).

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store, linked_table(store, "llama_logs") as linked:
        ...     sql = f"SELECT * FROM {linked} EXCEPT ALL SELECT * FROM {linked_sql('llama_logs')}"
        ...     differ = store.frame(sql).height
        >>> differ
        0
    """
    with store.session(), ExitStack() as held:
        # one view of the table, scanned in its order both times (DuckDB's default, made sure of);
        # UUIDs through Arrow as UUIDs, not text
        with store.settings(preserve_insertion_order="true", arrow_lossless_conversion="true"):
            found = _found(store, table, linking)
            rows = None if found is None else _with_links(store, table, found)
            del found
            name = None if rows is None else _written(store, table, rows, held)
        yield name or held.enter_context(store.temporary(linked_sql(table, linking)))


def _written(store: Any, table: str, rows: pa.RecordBatchReader, held: ExitStack) -> str:
    """A temporary table (``held`` drops it) of :func:`_with_links`' ``rows``, each row's id
    checked against the ``_id_low`` its links were found for."""
    misplaced = literal(_MISPLACED.format(table=table))
    with store.registered("_llamalog_linked_rows", rows) as registered:
        return held.enter_context(
            store.temporary(
                f"""SELECT * EXCLUDE (_id_low) REPLACE (dangling::VARCHAR AS dangling) FROM {registered}
WHERE CASE WHEN {uuid_half("id", "low")} = _id_low THEN true ELSE error({misplaced}) END"""
            )
        )


_MISPLACED = "{table}: its rows came in another order than they were read in. Hint: run it again"


def _with_links(store: Any, table: str, found: pl.DataFrame) -> pa.RecordBatchReader:
    """``table``'s columns that :func:`linked_sql` carries, read in batches in the order of a
    scan, each batch beside ``found``'s rows for the same places (and ``_id_low``, to check
    that they are the same rows): a stream for DuckDB to write from, one batch in memory at a
    time besides ``found``.
    """
    links = found.to_arrow()
    rows = store.batches(
        f"SELECT id, created_at, job_id, parent_job_id, operation FROM {quote(table)}", _BATCH_ROWS
    )
    schema = pa.schema([*rows.schema, *links.schema])

    def joined() -> Iterator[pa.RecordBatch]:
        at = 0
        for batch in rows:
            part = links.slice(at, batch.num_rows)
            if part.num_rows < batch.num_rows:  # more rows than were read
                raise LinkError(_MISPLACED.format(table=table))
            at += batch.num_rows
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, *(column.combine_chunks() for column in part.columns)], schema=schema
            )
        if at != links.num_rows:  # fewer rows than were read
            raise LinkError(_MISPLACED.format(table=table))

    return pa.RecordBatchReader.from_batches(schema, joined())


_BATCH_ROWS = 1 << 17


ARRAYS_UP_TO = 30_000_000
"""The most rows :func:`linked_table` links over arrays, which lie outside DuckDB's memory
limit (at 10M rows, finding them took a process from 144 to 2,009 MiB at its peak); past it,
the SQL does the work."""


def _found(store: Any, table: str, linking: Linking | None) -> pl.DataFrame | None:
    """:func:`resolved`'s columns for every row of ``table`` in the order a scan gives them,
    with ``_id_low`` to check that order by; None when the table has more than
    :data:`ARRAYS_UP_TO` rows or two job ids hashed alike."""
    size = store.execute(f"SELECT count(*) FROM {quote(table)}")[0][0]
    if size > ARRAYS_UP_TO:
        return None
    created, high, ids, *hashed = _keys(store, table, size)
    by_age = pl.DataFrame({"at": created, "high": high, "low": ids})
    order = by_age.select(pl.arg_sort_by("at", "high", "low")).to_series().to_numpy()
    del by_age, high
    created = created[order]
    for n in range(len(hashed)):  # oldest first, one column at a time: what is held counts
        hashed[n] = hashed[n][order]
    job, parent, job_check, parent_check = hashed
    del hashed
    try:
        found = resolved(order, job, parent, created, linking, check=(job_check, parent_check))
    except JobKeyCollisionError:
        return None
    finally:
        del order, created, job, parent, job_check, parent_check
        give_back_freed_memory()
    return found.with_columns(pl.Series("_id_low", ids))


def _keys(store: Any, table: str, size: int) -> list[np.ndarray]:
    """``table``'s rows in scan order as arrays: ``created_at`` (microseconds), the id's two
    halves, then the job id and the parent id each hashed by :func:`job_key_sql` (seed 1), and
    both again (seed 2). Read in batches of numbers: no text leaves DuckDB."""
    columns = [np.empty(size, np.int64), np.empty(size, np.uint64), np.empty(size, np.uint64)]
    columns += [np.empty(size, np.int64) for _ in range(4)]
    halves = uuid_halves("id", "high", "low")
    hashed = ", ".join(job_key_sql(c, seed) for seed in (1, 2) for c in ("job_id", "parent_job_id"))
    sql = f"SELECT epoch_us(created_at) AS at, {halves}, {hashed} FROM {quote(table)}"
    filled = 0
    with store.memory_at_most(SCAN_MEMORY):  # linked_table holds the session
        for batch in store.batches(sql, _BATCH_ROWS):
            if filled + batch.num_rows > size:
                raise LinkError(_CHANGED.format(table=table, size=size))
            for column, value in zip(columns, batch.columns, strict=True):
                column[filled : filled + batch.num_rows] = value.to_numpy()
            filled += batch.num_rows
    if filled != size:
        raise LinkError(_CHANGED.format(table=table, size=size))
    return columns


_CHANGED = "{table}: its rows changed while it was read ({size:,} counted first). Hint: run it again"


def job_key_sql(column: str, seed: int) -> str:
    """SQL for a job id column as non-negative 63-bit hashes (-1: NULL), as :func:`link_runs`
    takes them; each ``seed`` (1 or 2) hashes independently (seed 2 hashes the id with a
    character appended).

    Examples:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> keys = con.sql(f"SELECT {job_key_sql('j', 1)} FROM (VALUES ('289'), (NULL), ('289')) AS t(j)")
        >>> a, b, c = (key for (key,) in keys.fetchall())
        >>> a == c >= 0, b
        (True, -1)
    """
    text = quote(column) if seed == 1 else f"{quote(column)} || {literal(chr(31))}"
    return f"CASE WHEN {quote(column)} IS NULL THEN -1 ELSE (hash({text}) >> 1)::BIGINT END"


def dangling_sql(linked: str) -> str:
    """Rows whose parent link resolves to no instance, with the reason (``dangling``)."""
    return f"""SELECT id, created_at, operation, parent_job_id, dangling
FROM {linked} WHERE dangling IS NOT NULL"""


def before_parent_sql(linked: str) -> str:
    """Rows logged before the first row of the instance their parent resolves to."""
    return f"""SELECT id, operation, job_id, job_instance, parent_job_id, parent_instance,
  created_at, parent_first_at, epoch_ms(parent_first_at) - epoch_ms(created_at) AS ahead_by_ms
FROM {linked} WHERE created_at < parent_first_at"""


def reused_sql(linked: str) -> str:
    """Every instance of the job ids that ran more than once, with its span (``id``: its first row)."""
    return f"""WITH runs AS (  -- the job ids that ran more than once, each with how many times
  SELECT job_id, max(job_instance) AS runs FROM {linked} WHERE job_instance >= 2 GROUP BY job_id),
instances AS (  -- each run's first row: the least (created_at, id), with its operation
  SELECT job_id, job_instance, any_value(runs) AS runs,
    min({{'at': created_at, 'id': id, 'operation': operation}}) AS first_row, max(created_at) AS last_at,
    count(*) AS rows
  FROM {linked} JOIN runs USING (job_id) GROUP BY job_id, job_instance)
SELECT first_row.id AS id, job_id, job_instance, runs, first_row.at AS first_at, last_at, rows,
  first_row.operation AS operation
FROM instances"""


def loops(store: Any, linked: str) -> pl.DataFrame:
    """Instances on a loop (an instance that is, through its parents, its own ancestor).

    One row per instance, numbered by loop: ``cycle``, ``job_id``, ``job_instance``. Links that
    cannot be on a loop are trimmed in SQL first; :func:`loop_numbers` finds the loops among
    the few that remain.
    """
    keys = ["job_id", "job_instance"]
    edges = store.frame(
        f"""WITH edges AS (
  SELECT DISTINCT job_id, job_instance, parent_job_id, parent_instance FROM {linked}
  WHERE job_instance IS NOT NULL AND parent_instance IS NOT NULL)
SELECT e.* FROM edges AS e
SEMI JOIN edges AS c ON c.parent_job_id = e.job_id AND c.parent_instance = e.job_instance
SEMI JOIN edges AS p ON p.job_id = e.parent_job_id AND p.job_instance = e.parent_instance"""
    )
    parents = edges.select(job_id="parent_job_id", job_instance="parent_instance")
    nodes = pl.concat([edges.select(keys), parents]).unique().sort(keys).with_row_index("node")

    def numbered(ends: pl.DataFrame) -> np.ndarray:
        return ends.join(nodes, on=keys, how="left", maintain_order="left")["node"].to_numpy()

    cycle = loop_numbers(numbered(edges.select(keys)), numbered(parents), nodes.height) + 1
    return (
        nodes.with_columns(cycle=pl.Series(cycle, dtype=pl.Int64))
        .filter(pl.col("cycle") > 0)
        .select("cycle", "job_id", pl.col("job_instance").cast(pl.Int32))
        .sort("cycle", *keys)
    )


def loops_sql(linked: str) -> str:
    """SQL listing the rows whose parent link lies on a loop of instances, by a recursive walk.

    The readable, self-contained statement of what :func:`loops` finds faster.
    """
    node, parent = "job_id || '#' || job_instance", "parent_job_id || '#' || parent_instance"
    return f"""WITH RECURSIVE linked AS MATERIALIZED (SELECT * FROM {linked}),
edges AS (
  SELECT DISTINCT {node} AS node, {parent} AS parent FROM linked
  WHERE job_instance IS NOT NULL AND parent_instance IS NOT NULL),
walk(start, first, reached, path) AS (
  SELECT node, parent, parent, [node] FROM edges
  UNION ALL
  SELECT w.start, w.first, e.parent, list_append(w.path, w.reached) FROM walk AS w
  JOIN edges AS e ON e.node = w.reached WHERE NOT list_contains(w.path, w.reached)),
looped AS (SELECT DISTINCT start, first FROM walk WHERE reached = start)
SELECT id, created_at, job_id, job_instance, parent_job_id, parent_instance FROM linked
WHERE ({node}, {parent}) IN (SELECT (start, first) FROM looped)"""


def roots_sql(source: str, linking: Linking | None = None, *, quoted: bool = False) -> str:
    """The true root of every row with a parent link: an unlimited, loop-safe walk over instances.

    Columns: the row's ``id``, ``created_at``, ``job_id``, ``parent_job_id``, ``dangling``, then
    ``true_root`` (the top instance's job id, or the bare id of a parent whose run never
    logged; NULL on a loop), ``ancestors`` (runs above the row, the parent's and a bare top
    id included),
    ``looped`` and ``top_dangling`` (the walk ended at a parent that never logged).
    """
    rows = rows_sql(source, linking, quoted=quoted, carry=["root_job_id"], run_start=True)
    key = "p.parent_job_id || '#' || p.parent_instance"
    return f"""WITH RECURSIVE linked AS MATERIALIZED ({rows}),
parents AS (  -- each run's parent: its first row's
  SELECT job_id, job_instance, parent_job_id, parent_instance FROM linked WHERE run_start),
walk(start_job, start_run, job, run, hops, path) AS (
  SELECT DISTINCT parent_job_id, parent_instance, parent_job_id, parent_instance, 0,
    [parent_job_id || '#' || parent_instance]
  FROM linked WHERE parent_instance IS NOT NULL
  UNION ALL
  SELECT w.start_job, w.start_run, p.parent_job_id, p.parent_instance, w.hops + 1,
    list_append(w.path, {key})
  FROM walk AS w JOIN parents AS p ON p.job_id = w.job AND p.job_instance = w.run
  WHERE p.parent_instance IS NOT NULL AND NOT list_contains(w.path, {key})),
tops AS (
  SELECT start_job, start_run, arg_max(job, hops) AS job, arg_max(run, hops) AS run, max(hops) AS hops
  FROM walk GROUP BY start_job, start_run),
truth AS (
  SELECT t.start_job, t.start_run, t.hops, p.parent_instance IS NOT NULL AS looped,
    p.parent_job_id IS NOT NULL AND p.parent_instance IS NULL AS top_dangling,
    CASE WHEN p.parent_instance IS NOT NULL THEN NULL ELSE coalesce(p.parent_job_id, t.job) END AS true_root
  FROM tops AS t JOIN parents AS p ON p.job_id = t.job AND p.job_instance = t.run)
SELECT l.id, l.created_at, l.job_id, l.parent_job_id, l.root_job_id, l.dangling,
  CASE WHEN l.parent_instance IS NULL THEN l.parent_job_id ELSE t.true_root END AS true_root,
  CASE WHEN l.parent_instance IS NULL THEN 1 ELSE t.hops + 1 + t.top_dangling::INTEGER END AS ancestors,
  coalesce(t.looped, false) AS looped,
  coalesce(t.top_dangling, false) AS top_dangling
FROM linked AS l LEFT JOIN truth AS t ON t.start_job = l.parent_job_id AND t.start_run = l.parent_instance
WHERE l.parent_job_id IS NOT NULL"""
