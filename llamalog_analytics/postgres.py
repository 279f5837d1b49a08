"""Load the audit table from the application's live PostgreSQL: read-only, consistent, incremental.

Everything one call reads comes from one read-only, repeatable-read snapshot, so the tables
agree with each other. Rows stream as Arrow batches (the ADBC PostgreSQL driver reads them with
binary COPY) straight into the store's staging table; nothing is held as Python objects. A full
read of a large table is split by ranges of row positions (``ctid``) over several connections
whose transactions import the first one's snapshot, so the server and the driver work in
parallel and still read the rows of one moment. The source is never written to: every session
is read-only and only ``SELECT`` is issued.

A later load of the same source fetches only rows created since the newest stored one (minus a
safety overlap; repeated rows are recognised by id) and reports rows that have disappeared from
the source since they were loaded: the application deletes history by cascade when an album,
artist or track is deleted, and an auditor must see that.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as quote_url

from . import schema as schema_module
from ._pg_incremental import (
    Counters,
    Plan,
    SourceTable,
    adopt_sources,
    created_condition,
    disappeared_ids,
    mark_restored,
    plan_fetch,
    server_counters,
)
from ._pg_source import Connection, Source, parse_url, snapshot, sqlalchemy_url, translated
from ._readers import Reader
from ._sql import COUNTERS_TABLE, MIGRATIONS_TABLE, json_text, quote
from .errors import ArgumentError, NotLlamaLogError, PostgresError
from .stage import LoadResult, Stage

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL, Engine

    from .store import LogStore

# Database rows have no order worth keeping, and a bounded buffer pool keeps the load's memory
# near the size of the data instead of a multiple of it (DuckDB spills to disk beyond it).
LOAD_SETTINGS = {"preserve_insertion_order": "false", "memory_limit": "512MB"}
# A full read is split into streams only when each gets at least this many pages (64 MiB of
# 8 kB pages): a smaller table costs more to split (connections, threads) than it saves.
BLOCKS_PER_STREAM = 8192
MAX_STREAMS = 8
# Each stream keeps about two CPUs busy on this side: the driver decoding its rows, and DuckDB
# converting and compressing them (per million rows about 3 CPU-seconds each, as much as the
# server spends sending them).
CPUS_PER_STREAM = 2


def load_postgres(
    store: LogStore,
    url: str | URL | Engine | None = None,
    *,
    table: str | None = None,
    schema: str | None = None,
    full: bool = False,
    streams: int | None = None,
    quiet: bool = False,
) -> LoadResult:
    """Load ``llama_logs`` and/or ``enrichment_logs`` (and ``_prisma_migrations``) from PostgreSQL.

    Args:
        url: the database URL, or a SQLAlchemy ``URL`` or ``Engine`` (as a notebook may already
            hold); defaults to ``DATABASE_URL`` from the environment.
        table: load only this table (default: whichever of the two exists, or both).
        schema: the schema to read (default: the URL's ``?schema=``, else ``public``).
        full: fetch every row, not only rows newer than the store holds.
        streams: connections reading a table's rows at once when every row is fetched (default:
            one per two CPUs, up to 8, and one per 64 MiB of table); incremental reads use one.
        quiet: no progress bar.
    """
    if table is not None and table not in (schema_module.CURRENT_TABLE, schema_module.LEGACY_TABLE):
        raise ArgumentError(
            f"table={table!r}: a database load reads {schema_module.CURRENT_TABLE} or "
            f"{schema_module.LEGACY_TABLE} (the migration history comes with them). Hint: name one of "
            "them, or none for both"
        )
    if streams is not None and streams < 1:
        raise ArgumentError(f"streams={streams}: a load reads with at least one stream. Hint: pass 1 or more")
    from_environment = not url
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        raise PostgresError("no database URL. Hint: pass one, or set DATABASE_URL as the app's .env does")
    target = parse_url(url if isinstance(url, str) else sqlalchemy_url(url))
    if from_environment:  # a message about it says where the URL came from
        target = replace(target, display=f"{target.display} (from DATABASE_URL)")
    namespace = schema or target.schema
    target = replace(target, schema=namespace)
    notes = []
    counted: dict[str, Counters] = {}  # the server's counters, read before the snapshot
    if target.dropped:
        notes.append(f"ignored URL parameter(s) libpq does not take: {', '.join(target.dropped)}")
    with (
        translated(target),
        store.session(write=True) as con,  # the settings hold for this connection only
        store.settings(**LOAD_SETTINGS),
        snapshot(target, con, before=lambda db: counted.update(server_counters(db, namespace))) as db,
        Stage(store) as stage,
    ):
        tables = _find_tables(db, target, namespace, table)
        notes.append(f"found {' and '.join(t.name for t in tables)} in schema {namespace!r}")
        if [t.name for t in tables] == [schema_module.LEGACY_TABLE]:
            notes.append("the database has not been migrated: no llama_logs table yet")
        migrations_readable = _migrations_readable(db, namespace)
        if migrations_readable:
            notes.append(
                f"{MIGRATIONS_TABLE} replaced by the database's (the migration history the audit reads)"
            )
        elif migrations_readable is False:
            notes.append(
                f"{MIGRATIONS_TABLE} is not readable by this role: not loaded ("
                f"{target.grant('SELECT', MIGRATIONS_TABLE)} to load it; else give verify the migrations' "
                "dates: --migrated-at, --root-job-migrated-at)"
            )
        disappeared: dict[str, list[Any]] = {}
        for found in tables:
            source = f"{target.source}#{namespace}.{found.name}"
            adopt_sources(store, source, found.name)
            counters = counted.get(found.name)
            plan = Plan() if full else plan_fetch(db, store, namespace, found, source, counters)
            if counters is not None:
                columns = ", ".join(["load_id", "table_name", "source", *Counters._fields])
                store.execute(
                    f"INSERT INTO {COUNTERS_TABLE} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [stage.load_id, found.name, source, *counters],
                )
            stream, read_by = _fetch(db, namespace, found, plan, streams=streams, quiet=quiet)
            table_notes = [*notes, *([plan.note] if plan.note else []), *read_by]
            with _stream_reader(store, source, found, stream, table_notes) as reader:
                stage.add(found.name, reader, quiet=True)
            mark_restored(store, found, source, plan, stage.load_id)
            disappeared[found.name] = disappeared_ids(store, found, source, plan)
        extras = {MIGRATIONS_TABLE: _migrations(db, namespace)} if migrations_readable else {}
        return stage.commit(replace_tables=extras, disappeared=disappeared)


_FIND_TABLES = """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
  a.attnotnull OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
    AND i.indisprimary AND i.indnatts = 1 AND i.indkey[0] = a.attnum) AS required,
  EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
    AND i.indisunique AND i.indnatts = 1 AND i.indkey[0] = a.attnum) AS unique_key,
  CASE WHEN c.relkind = 'r'
    THEN pg_relation_size(c.oid) / current_setting('block_size')::bigint ELSE 0 END AS blocks
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relname IN ('llama_logs', 'enrichment_logs')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname, a.attnum"""


def _find_tables(db: Source, target: Connection, namespace: str, only: str | None) -> list[SourceTable]:
    found: dict[str, dict[str, str]] = {}
    unknown: dict[str, list[str]] = {}
    guaranteed: dict[str, set[str]] = {}
    blocks: dict[str, int] = {}
    for relname, column, pg_type, required, unique_key, pages in db.rows(_FIND_TABLES, (namespace,)):
        blocks[relname] = pages
        found.setdefault(relname, {})
        if column not in schema_module.COLUMN_NAMES:
            unknown.setdefault(relname, []).append(column)
            continue
        found[relname][column] = pg_type
        if required and (unique_key or column != "id"):
            guaranteed.setdefault(relname, set()).add(column)
    present = set(found)
    if only is not None:
        found = {k: v for k, v in found.items() if k == only}
    if not found:
        wanted = only or "llama_logs or enrichment_logs"
        elsewhere = [
            name
            for (name,) in db.rows(
                "SELECT DISTINCT n.nspname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "AND n.nspname <> $2 ORDER BY 1",
                (
                    "{" + (only or f"{schema_module.CURRENT_TABLE},{schema_module.LEGACY_TABLE}") + "}",
                    namespace,
                ),
            )
        ]
        hint = "check ?schema= in the URL (Prisma's schema parameter) or --schema"
        if other := next(iter(present - {only}), None):  # the table under its other era's name
            why = (
                f"the migration renamed {only} to {other}"
                if other == schema_module.CURRENT_TABLE
                else f"the database has not been migrated: no {only} table yet"
            )
            hint = (
                f"schema {namespace!r} has {other} ({why}): load it with --as {other} "
                f"(table={other!r}), or without --as for every log table"
            )
        elif elsewhere:
            shown = ", ".join(repr(name) for name in elsewhere)
            hint = (
                f"found in schema {shown}: pass ?schema={quote_url(elsewhere[0])} in the URL or "
                f"--schema {shlex.quote(elsewhere[0])}"
            )
        raise PostgresError(f"no {wanted} table in schema {namespace!r} at {target.display}. Hint: {hint}")
    for name, columns in found.items():
        if missing := [c for c in schema_module.REQUIRED if c not in columns]:
            alone = "".join(
                f", or load {o} alone (--as {o}; table='{o}' in Python)" for o in found if o != name
            )
            raise NotLlamaLogError(
                f"{namespace}.{name} at {target.display}",
                missing,
                [*unknown.get(name, ()), *columns],
                "load a table or view that has them under these names (a view can rename a column: "
                f'"createdAt" AS created_at), or name another schema with --schema or ?schema={alone}',
            )
    return [
        SourceTable(
            name,
            columns,
            set(schema_module.REQUIRED) <= guaranteed.get(name, set()),
            blocks[name],
            tuple(unknown.get(name, ())),
        )
        for name, columns in sorted(found.items(), reverse=True)
    ]


def _select(namespace: str, found: SourceTable, plan: Plan, columns: str) -> tuple[str, tuple]:
    relation = f"{quote(namespace)}.{quote(found.name)}"
    if plan.since is None:
        return f"SELECT {columns} FROM {relation}", ()
    window = f"SELECT {columns} FROM {relation} WHERE {created_condition(found, '>=')}"
    if not plan.older:
        return window, (plan.since,)
    ids = "{" + ",".join(str(i) for i in plan.older) + "}"  # one array parameter, however many ids
    return (
        f"{window} UNION ALL SELECT {columns} FROM {relation} WHERE id = ANY($2::{found.columns['id']}[])",
        (plan.since, ids),
    )


def _stream_count(found: SourceTable, plan: Plan, streams: int | None) -> int:
    """How many connections read ``found`` at once: one for an incremental read or a table
    that is not a plain one (a view, a partitioned table), else ``streams``, by default one per
    :data:`CPUS_PER_STREAM` CPUs (up to :data:`MAX_STREAMS`) and per :data:`BLOCKS_PER_STREAM`
    pages; never more than the table's pages.

    Examples:
        >>> big, small = SourceTable("big", {}, blocks=57_000), SourceTable("small", {}, blocks=900)
        >>> _stream_count(big, Plan(), 3), _stream_count(small, Plan(), None)
        (3, 1)
    """
    if plan.since is not None or found.blocks == 0:
        return 1
    if streams is None:
        cpus = os.cpu_count() or 1
        streams = min(cpus // CPUS_PER_STREAM, MAX_STREAMS, found.blocks // BLOCKS_PER_STREAM)
    return max(1, min(streams, found.blocks))


def _ctid_ranges(blocks: int, count: int) -> list[str]:
    """Conditions splitting a table of ``blocks`` pages into ``count`` ranges of row positions
    that PostgreSQL reads with a TID range scan. Every row version is in exactly one range; the
    last has no end, so rows on pages added since the table was measured are read too.

    Examples:
        >>> _ctid_ranges(10, 3)
        ["ctid < '(3,0)'::tid", "ctid >= '(3,0)'::tid AND ctid < '(6,0)'::tid", "ctid >= '(6,0)'::tid"]
    """
    # Page numbers are written into the SQL (integers): the driver streams a query with COPY
    # only when it has no bound parameter.
    edges = [None, *(f"'({blocks * n // count},0)'::tid" for n in range(1, count)), None]
    conditions = []
    for low, high in itertools.pairwise(edges):
        bounds = ([f"ctid >= {low}"] if low else []) + ([f"ctid < {high}"] if high else [])
        conditions.append(" AND ".join(bounds))
    return conditions


def _fetch(
    db: Source, namespace: str, found: SourceTable, plan: Plan, *, streams: int | None, quiet: bool
) -> tuple[Any, list[str]]:
    """The table's rows as an Arrow stream (``__arrow_c_stream__``), and a note saying how many
    connections read them when there were several."""
    estimate = None if quiet or plan.since is not None else _estimate_rows(db, namespace, found.name)
    columns = ", ".join(quote(c) for c in found.columns)
    sql, params = _select(namespace, found, plan, columns)
    count = _stream_count(found, plan, streams)
    sources = [db, *db.share(count - 1)]  # fewer when the server refuses more connections
    if len(sources) == 1:
        batches, read_by = db.stream(sql, params), []
        if streams is not None and streams > 1 and plan.since is not None:
            read_by = [
                f"{found.name} read in one stream: an incremental read is not split (--streams is for --full)"
            ]
    else:
        ranges = _ctid_ranges(found.blocks, len(sources))
        batches = db.interleaved(
            [source.stream(f"{sql} WHERE {where}") for source, where in zip(sources, ranges, strict=True)]
        )
        read_by = [f"{found.name} read in {len(sources)} streams over one snapshot"]
    return (batches if quiet else _counted(batches, found.name, estimate)), read_by


def _counted(stream: Any, table: str, estimate: int | None) -> pa.RecordBatchReader:
    """``stream`` with a progress bar of the rows read."""
    import pyarrow as pa
    from tqdm.auto import tqdm

    reader = pa.RecordBatchReader.from_stream(stream)

    def counted() -> Iterator[pa.RecordBatch]:
        with tqdm(
            total=estimate,
            desc=f"[🦙 LlamaLog] {table}",
            unit=" rows",
            unit_scale=True,
            delay=1.0,
            leave=False,
        ) as bar:
            for batch in reader:
                bar.update(batch.num_rows)
                yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, counted())


def _estimate_rows(db: Source, namespace: str, table: str) -> int | None:
    rows = db.rows(
        "SELECT reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2",
        (namespace, table),
    )
    return rows[0][0] if rows and rows[0][0] > 0 else None


@contextlib.contextmanager
def _stream_reader(
    store: LogStore, source: str, found: SourceTable, stream: Any, notes: list[str]
) -> Iterator[Reader]:
    """A :class:`Reader` over the driver's stream, registered in DuckDB for the block."""
    name = f"_llamalog_pg_{found.name}"
    with store.registered(name, stream):
        # the types DuckDB gives the driver's Arrow columns (read from the stream's schema alone)
        kinds = dict(store.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {name})"))
        yield Reader(
            path=source,
            format="postgres",
            select=f"SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS _pre_reason, * FROM {name}",
            params=[],
            inputs={c: (quote(c), kinds[c]) for c in found.columns},
            raw=json_text((c, quote(c)) for c in found.columns),
            ignored=found.ignored,
            notes=tuple(notes),
            numbered=False,
            trusted=found.keyed and all(kinds[c] == schema_module.column(c).type for c in found.columns),
        )


def _migrations_readable(db: Source, namespace: str) -> bool | None:
    """Whether this role may read the schema's migration history; None when it has none."""
    rows = db.rows(
        "SELECT has_table_privilege(format('%I.%I', schemaname, tablename), 'SELECT') "
        "FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = $2",
        (namespace, MIGRATIONS_TABLE),
    )
    return bool(rows[0][0]) if rows else None


def _migrations(db: Source, namespace: str) -> Any:
    """The migration history as an Arrow stream."""
    return db.stream(
        f"""SELECT id, checksum, finished_at AT TIME ZONE 'UTC' AS finished_at, migration_name, logs,
  rolled_back_at AT TIME ZONE 'UTC' AS rolled_back_at, started_at AT TIME ZONE 'UTC' AS started_at,
  applied_steps_count FROM {quote(namespace)}.{MIGRATIONS_TABLE} ORDER BY started_at, migration_name"""
    )
