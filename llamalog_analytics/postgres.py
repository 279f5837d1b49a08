"""Load the audit table from the application's live PostgreSQL: read-only, consistent, incremental.

Everything one call reads comes from one read-only, repeatable-read transaction, so the tables
agree with each other. Rows stream as Arrow batches (the ADBC PostgreSQL driver reads them with
binary COPY) straight into the store's staging table; nothing is held as Python objects. The
source is never written to: the session is read-only and only ``SELECT`` is issued.

A later load of the same source fetches only rows created since the newest stored one (minus a
safety overlap; repeated rows are recognised by id) and reports rows that have disappeared from
the source since they were loaded: the application deletes history by cascade when an album,
artist or track is deleted, and an auditor must see that.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as quote_url
from urllib.parse import unquote, urlencode, urlsplit

from . import schema as schema_module
from ._readers import Reader
from ._sql import COUNTERS_TABLE, DISAPPEARED_TABLE, LOAD_ID_COLUMN, LOADS_TABLE, MIGRATIONS_TABLE, quote
from .errors import PostgresError, SourceError
from .stage import STAGE, LoadResult, Stage

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL, Engine

    from .store import LogStore

OVERLAP = timedelta(hours=1)
# Database rows have no order worth keeping, and a bounded buffer pool keeps the load's memory
# near the size of the data instead of a multiple of it (DuckDB spills to disk beyond it).
LOAD_SETTINGS = {"preserve_insertion_order": "false", "memory_limit": "1GB"}
# Timeouts so a load never blocks the application's writers; no JIT: compiling the plain scans
# and counts a load runs costs more than it saves.
SESSION = {
    "statement_timeout": "15min",
    "lock_timeout": "5s",
    "idle_in_transaction_session_timeout": "1min",
    "jit": "off",
}

CONNECT_TIMEOUT = "10"  # seconds, unless the URL says otherwise
# libpq's own connection parameters; anything else in a URL (Prisma's) is dropped with a note.
LIBPQ_PARAMETERS = frozenset(
    (  # noqa: SIM905
        "host hostaddr port dbname user password passfile channel_binding connect_timeout "
        "client_encoding options application_name fallback_application_name keepalives "
        "keepalives_idle keepalives_interval keepalives_count tcp_user_timeout replication "
        "gssencmode sslmode requiressl sslcompression sslcert sslkey sslpassword sslcertmode "
        "sslrootcert sslcrl sslcrldir sslsni requirepeer ssl_min_protocol_version "
        "ssl_max_protocol_version krbsrvname gsslib gssdelegation service target_session_attrs "
        "load_balance_hosts"
    ).split()
)


SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


@dataclass(frozen=True)
class Connection:
    """A parsed database URL: what to give libpq, which schema to read, and what was dropped.

    Examples:
        >>> c = parse_url("postgresql://app:pw@db:5432/music?schema=catalog&connection_limit=5&sslmode=require")
        >>> c.schema, c.dropped, c.password
        ('catalog', ('connection_limit',), 'pw')
        >>> c.display
        'postgresql://app:***@db:5432/music?sslmode=require'
        >>> c.conninfo
        'postgresql://app:pw@db:5432/music?connect_timeout=10&sslmode=require'
    """

    conninfo: str
    schema: str
    display: str
    password: str | None
    dropped: tuple[str, ...] = ()


def parse_url(url: str) -> Connection:
    """Parse a ``DATABASE_URL`` as the application's ``.env`` has it (Prisma parameters allowed).

    libpq reads the URL itself (hosts, ports, sockets, percent-encoding), so it connects exactly
    as ``psql URL`` would; only the query string is sorted into libpq's parameters, ``schema``,
    and the rest (dropped with a note).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]  # postgresql+psycopg://, as SQLAlchemy writes it
    if scheme not in ("postgresql", "postgres"):
        shown = f"{parts.scheme}://" if parts.scheme else "the database URL"
        raise PostgresError(
            f"{shown} is not a PostgreSQL URL. Hint: use postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if parts.fragment or ("@" in url.split("://", 1)[-1] and "@" not in parts.netloc):
        raise PostgresError(
            "the database URL has a '#', '/' or '?' in its user or password. Hint: percent-encode "
            "them (# as %23, / as %2F, ? as %3F), as Prisma also requires"
        )
    query = _query(parts.query)
    schema_name = query.pop("schema", "public") or "public"
    kept = {k: v for k, v in query.items() if k in LIBPQ_PARAMETERS}
    dropped = tuple(sorted(k for k in query if k not in LIBPQ_PARAMETERS))
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    secret = unquote(password) if colon else kept.get("password")
    public = {k: ("***" if k in SECRET_PARAMETERS else v) for k, v in kept.items()}

    def build(user_part: str, values: dict[str, str]) -> str:
        query_part = urlencode(values, safe="/*", quote_via=quote_url)
        return f"postgresql://{user_part}{at}{hosts}{parts.path}" + (f"?{query_part}" if values else "")

    display = build(user + (":***" if colon else ""), public)
    connect = {"connect_timeout": CONNECT_TIMEOUT, **kept}  # a server that never answers fails
    return Connection(build(userinfo, connect), schema_name, display, secret, dropped)


def _query(text: str) -> dict[str, str]:
    """A URL's query parameters as libpq reads them: %XX decoded, '+' left alone (not a space)."""
    return {unquote(k): unquote(v) for k, _, v in (item.partition("=") for item in text.split("&") if item)}


def _sqlalchemy_url(url: URL | Engine) -> str:
    """The text of a SQLAlchemy URL or engine's URL, password included, without the driver name."""
    from sqlalchemy.engine import URL, Engine

    if isinstance(url, Engine):
        url = url.url
    if not isinstance(url, URL):
        raise PostgresError(
            f"cannot read a database from a {type(url).__name__}. "
            "Hint: pass a postgresql:// URL, a SQLAlchemy URL or an Engine"
        )
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)


@dataclass(frozen=True)
class _SourceTable:
    name: str
    columns: dict[str, str]  # canonical column name -> Postgres type
    keyed: bool = False  # id is a unique key and id, operation, created_at are NOT NULL


def load_postgres(
    store: LogStore,
    url: str | URL | Engine | None = None,
    *,
    table: str | None = None,
    schema: str | None = None,
    full: bool = False,
    quiet: bool = False,
) -> LoadResult:
    """Load ``llama_logs`` and/or ``enrichment_logs`` (and ``_prisma_migrations``) from PostgreSQL.

    Args:
        url: the database URL, or a SQLAlchemy ``URL`` or ``Engine`` (as a notebook may already
            hold); defaults to ``DATABASE_URL`` from the environment.
        table: load only this table (default: whichever of the two exists, or both).
        schema: the schema to read (default: the URL's ``?schema=``, else ``public``).
        full: fetch every row, not only rows newer than the store holds.
        quiet: no progress bar.
    """
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        raise PostgresError("no database URL. Hint: pass one, or set DATABASE_URL as the app's .env does")
    target = parse_url(url if isinstance(url, str) else _sqlalchemy_url(url))
    namespace = schema or target.schema
    notes = []
    if target.dropped:
        notes.append(f"ignored URL parameter(s) libpq does not take: {', '.join(target.dropped)}")
    with (
        _translated(target),
        _settings(store, LOAD_SETTINGS),
        _snapshot(target) as db,
        Stage(store) as stage,
    ):
        tables = _find_tables(db, target, namespace, table)
        notes.append(f"found {' and '.join(t.name for t in tables)} in schema {namespace!r}")
        if [t.name for t in tables] == [schema_module.LEGACY_TABLE]:
            notes.append("the database has not been migrated: no llama_logs table yet")
        disappeared: dict[str, list[Any]] = {}
        for found in tables:
            source = f"{target.display}#{namespace}.{found.name}"
            counters = _counters(db, namespace, found)
            plan = _Plan() if full else _plan(db, store, namespace, found, source, counters)
            table_notes = [*notes, plan.note] if plan.note else notes
            if counters is not None:
                store.execute(
                    f"INSERT INTO {COUNTERS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [stage.load_id, found.name, source, *counters],
                )
            stream = _fetch(db, namespace, found, plan, quiet=quiet)
            with _stream_reader(store, source, found, stream, table_notes) as reader:
                stage.add(found.name, reader, quiet=True)
            disappeared[found.name] = _disappeared_ids(store, found, source, plan)
        migrations = _migrations(db, namespace)
        extras = {MIGRATIONS_TABLE: migrations} if migrations is not None else {}
        return stage.commit(replace_tables=extras, disappeared=disappeared)


@contextlib.contextmanager
def _settings(store: LogStore, settings: dict[str, str]) -> Iterator[None]:
    """Apply DuckDB settings for the block, then restore the previous values."""
    before = {name: store.execute("SELECT current_setting(?)", [name])[0][0] for name in settings}
    for name, value in settings.items():
        store.execute(f"SET {name} = ?", [value])
    try:
        yield
    finally:
        for name, value in before.items():
            store.execute(f"SET {name} = ?", [value])


@contextlib.contextmanager
def _translated(target: Connection) -> Iterator[None]:
    """Turn driver errors into one-line :class:`PostgresError` messages without the password."""
    from adbc_driver_manager import Error as DriverError

    try:
        yield
    except DriverError as exc:
        raise PostgresError(_explain(str(exc), target)) from None
    except SourceError as exc:  # the driver failed while DuckDB was reading its stream
        if "[libpq]" not in str(exc):
            raise
        raise PostgresError(_explain(str(exc).split("[libpq]", 1)[1], target)) from None


def _explain(message: str, target: Connection) -> str:
    parts = urlsplit(target.conninfo)
    in_query = [v for k, v in _query(parts.query).items() if k in SECRET_PARAMETERS]
    secrets = {target.password or "", parts.password or "", *in_query} - {""}
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    first = " ".join(message.replace("IO: [libpq]", "").split())[:300]
    lowered = message.lower()
    where = target.display
    rules = (
        (
            ("password authentication failed", "no password supplied"),
            f"authentication failed at {where}. Hint: check the user and password in DATABASE_URL",
        ),
        (
            ("does not exist",) if "database" in lowered else (),
            f"no such database at {where}. Hint: check the database name in the URL",
        ),
        (
            ("permission denied",),
            f"permission denied at {where} ({first}). Hint: GRANT SELECT on the log tables to this role",
        ),
        (
            (
                "terminating connection",
                "server closed the connection",
                "connection to server was lost",
                "ssl syscall",
                "eof detected",
            ),
            f"the server closed the connection during the load ({first}); the store is unchanged. "
            "Hint: retry, and check the server's log",
        ),
        (
            ("statement timeout",),
            f"a read took longer than the statement_timeout at {where} ({first}); the store is "
            "unchanged. Hint: load at a quieter time, or ask for a longer timeout for this role",
        ),
        (
            ("lock timeout",),
            f"the log table is locked by another session (a migration?); the store is unchanged. "
            f"Hint: retry when it is done ({first})",
        ),
        (
            (
                "connection refused",
                "could not translate host name",
                "timeout expired",
                "no route to host",
                "could not connect",
                "failed to connect",
                "network is unreachable",
            ),
            f"cannot reach the database at {where} ({first}). Hint: check host and port, and that the "
            "server runs and accepts connections from here",
        ),
    )
    for needles, text in rules:
        if any(n in lowered for n in needles):
            return text
    return f"reading {where} failed: {first}"


class _Source:
    """Queries on the source database, all inside one read-only, repeatable-read transaction.

    Uses the ADBC driver's own API: its DB-API layer also imports ``pyarrow.dataset`` (and
    pandas, when installed), which takes longer than a small incremental load. Parameters
    (``$1``, ``$2``, ...) are bound, never written into the SQL.
    """

    def __init__(self, conninfo: str) -> None:
        import adbc_driver_manager as adbc
        import adbc_driver_postgresql

        self.database = adbc_driver_postgresql.connect(conninfo)
        self.connection = adbc.AdbcConnection(self.database)
        self.statements: list[Any] = []  # a stream stays readable while its statement lives
        self.connection.set_autocommit(False)

    def stream(self, sql: str, params: tuple[Any, ...] = ()) -> pa.RecordBatchReader:
        import adbc_driver_manager as adbc
        import pyarrow as pa

        statement = adbc.AdbcStatement(self.connection)
        self.statements.append(statement)
        statement.set_sql_query(sql)
        if params:
            names = [f"p{n}" for n in range(1, len(params) + 1)]
            statement.bind(pa.RecordBatch.from_arrays([_parameter(value) for value in params], names=names))
        handle, _ = statement.execute_query()
        return pa.RecordBatchReader.from_stream(handle)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self.stream(sql, params).read_all().to_pylist()]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.rollback()
        for handle in (*reversed(self.statements), self.connection, self.database):
            with contextlib.suppress(Exception):
                handle.close()


def _parameter(value: str | datetime) -> pa.Array:
    """A one-value Arrow array for a text or timestamp parameter, built from its buffers:
    ``pa.array`` would import pandas (when installed) first, which costs more than a small load.

    Examples:
        >>> _parameter("it's").to_pylist(), _parameter(datetime(2026, 2, 10, 16, 39, 53)).to_pylist()
        (["it's"], [datetime.datetime(2026, 2, 10, 16, 39, 53)])
    """
    import pyarrow as pa

    if isinstance(value, datetime):
        micros = (value.replace(tzinfo=None) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
        return pa.Array.from_buffers(pa.timestamp("us"), 1, [None, pa.py_buffer(struct.pack("<q", micros))])
    data = value.encode()
    offsets = pa.py_buffer(struct.pack("<ii", 0, len(data)))
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])


# Timeouts the role, database or server set lower than ours (reset_val: before this transaction).
_TIMEOUTS_SET_BEFORE = """SELECT name, reset_val FROM pg_settings
WHERE CASE WHEN name = ANY($1::text[])  -- only these are numbers: test them first
  THEN reset_val::bigint > 0 AND reset_val::bigint < setting::bigint END"""
_TIMEOUTS = "{" + ",".join(n for n in SESSION if n.endswith("timeout")) + "}"  # a text[] parameter


@contextlib.contextmanager
def _snapshot(target: Connection) -> Iterator[_Source]:
    """The source inside one read-only, repeatable-read transaction with timeouts."""
    source = _Source(target.conninfo)
    try:
        source.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for name, value in SESSION.items():
            source.rows("SELECT set_config($1, $2, true)", (name, value))  # SET LOCAL, bound
        for name, setting in source.rows(_TIMEOUTS_SET_BEFORE, (_TIMEOUTS,)):  # a DBA's tighter limit stays
            source.rows("SELECT set_config($1, $2, true)", (name, str(int(setting))))
        yield source
    finally:
        source.close()


_FIND_TABLES = """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
  a.attnotnull OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
    AND i.indisprimary AND i.indnatts = 1 AND i.indkey[0] = a.attnum) AS required,
  EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
    AND i.indisunique AND i.indnatts = 1 AND i.indkey[0] = a.attnum) AS unique_key
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relname IN ('llama_logs', 'enrichment_logs')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname, a.attnum"""


def _find_tables(db: _Source, target: Connection, namespace: str, only: str | None) -> list[_SourceTable]:
    found: dict[str, dict[str, str]] = {}
    guaranteed: dict[str, set[str]] = {}
    for relname, column, pg_type, required, unique_key in db.rows(_FIND_TABLES, (namespace,)):
        if column in schema_module.COLUMN_NAMES:
            found.setdefault(relname, {})[column] = pg_type
            if required and (unique_key or column != "id"):
                guaranteed.setdefault(relname, set()).add(column)
    if only is not None:
        found = {k: v for k, v in found.items() if k == only}
    if not found:
        wanted = only or "llama_logs or enrichment_logs"
        raise PostgresError(
            f"no {wanted} table in schema {namespace!r} at {target.display}. "
            "Hint: check ?schema= in the URL (Prisma's schema parameter) or --schema"
        )
    return [
        _SourceTable(name, columns, set(schema_module.REQUIRED) <= guaranteed.get(name, set()))
        for name, columns in sorted(found.items(), reverse=True)
    ]


@dataclass(frozen=True)
class _Plan:
    """What an incremental load fetches from one table, and why."""

    since: datetime | None = None  # fetch rows created at or after this; None: every row
    older: tuple[Any, ...] = ()  # ids of older rows the store lacks (old-dated inserts), fetched too
    compared: bool = False  # the older rows' ids were compared (held in SOURCE_IDS)
    note: str | None = None


SOURCE_IDS = "_llamalog_source_ids"
# Stored rows that came from one source table (parameters: source, table name).
_FROM_SOURCE = f"{LOAD_ID_COLUMN} IN (SELECT load_id FROM {LOADS_TABLE} WHERE source = ? AND table_name = ?)"
# Beyond this many older rows new to the store, fetching everything is simpler and no slower.
MAX_OLDER = 100_000


def _plan(
    db: _Source,
    store: LogStore,
    namespace: str,
    found: _SourceTable,
    source: str,
    counters: tuple[int, int, int, str] | None,
) -> _Plan:
    """Where an incremental load starts, and how it learns what changed before that point.

    When the server's counters add up (nothing deleted, only the window's rows inserted), older
    rows cannot have changed. Otherwise the ids of the older rows are read (ids only, from the
    index) and compared with the store's: rows gone from the source are reported, and older rows
    the store lacks are fetched by id.
    """
    since = _resume_point(store, source, found.name)
    if since is None:
        return _Plan()
    window = f"fetched rows created since {since:%Y-%m-%d %H:%M:%S}"
    if _only_new_rows(db, store, namespace, found, source, since, counters):
        return _Plan(since, note=f"{window}; the server's row counters show no older row changed")
    ids = db.stream(
        f"SELECT id FROM {quote(namespace)}.{quote(found.name)} WHERE {_created(found, '<')}", (since,)
    )
    with store.registered("_llamalog_pg_ids", ids):
        store.execute(
            f"CREATE OR REPLACE TEMP TABLE {SOURCE_IDS} AS "
            "SELECT id FROM _llamalog_pg_ids WHERE id IS NOT NULL"
        )
    older = store.execute(
        f"""SELECT id FROM {SOURCE_IDS}
EXCEPT SELECT id FROM {quote(found.name)} WHERE {_FROM_SOURCE}
ORDER BY id LIMIT {MAX_OLDER + 1}""",
        [source, found.name],
    )
    if len(older) > MAX_OLDER:
        store.execute(f"DROP TABLE {SOURCE_IDS}")  # every row is fetched: the ids are not needed
        return _Plan(
            note=f"over {MAX_OLDER:,} older rows are new to the store: every row fetched and compared"
        )
    return _Plan(
        since,
        tuple(r[0] for r in older),
        compared=True,
        note=f"{window}; the older rows were compared by id ({len(older):,} new to the store)",
    )


def _resume_point(store: LogStore, source: str, table: str) -> datetime | None:
    """Where an incremental load starts: the newest row stored from this source, minus the overlap."""
    if not store.has_table(table):
        return None
    newest = store.execute(
        f"SELECT max(created_at) FROM {quote(table)} WHERE {_FROM_SOURCE}",
        [source, table],
    )[0][0]
    return None if newest is None else newest - OVERLAP


def _created(found: _SourceTable, op: str) -> str:
    """``created_at <op> $1``, phrased so the (is_root_job, created_at) index can serve it."""
    # is_root_job is NOT NULL: both values cover every row, and the index finds the range
    # without reading the whole table.
    index = "is_root_job IN (false, true) AND " if "is_root_job" in found.columns else ""
    return f"{index}created_at {op} $1"


def _select(namespace: str, found: _SourceTable, plan: _Plan, columns: str) -> tuple[str, tuple]:
    relation = f"{quote(namespace)}.{quote(found.name)}"
    if plan.since is None:
        return f"SELECT {columns} FROM {relation}", ()
    window = f"SELECT {columns} FROM {relation} WHERE {_created(found, '>=')}"
    if not plan.older:
        return window, (plan.since,)
    ids = "{" + ",".join(str(i) for i in plan.older) + "}"  # one array parameter, however many ids
    return (
        f"{window} UNION ALL SELECT {columns} FROM {relation} WHERE id = ANY($2::{found.columns['id']}[])",
        (plan.since, ids),
    )


def _fetch(
    db: _Source, namespace: str, found: _SourceTable, plan: _Plan, *, quiet: bool
) -> pa.RecordBatchReader:
    import pyarrow as pa

    estimate = None if quiet or plan.since is not None else _estimate_rows(db, namespace, found.name)
    columns = ", ".join(quote(c) for c in found.columns)
    sql, params = _select(namespace, found, plan, columns)
    batches = db.stream(sql, params)
    if quiet:
        return batches

    def counted() -> Iterator[pa.RecordBatch]:
        from tqdm.auto import tqdm

        with tqdm(
            total=estimate,
            desc=f"[🦙 LlamaLog] {found.name}",
            unit=" rows",
            unit_scale=True,
            delay=1.0,
            leave=False,
        ) as bar:
            for batch in batches:
                bar.update(batch.num_rows)
                yield batch

    return pa.RecordBatchReader.from_batches(batches.schema, counted())


def _estimate_rows(db: _Source, namespace: str, table: str) -> int | None:
    rows = db.rows(
        "SELECT reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2",
        (namespace, table),
    )
    return rows[0][0] if rows and rows[0][0] > 0 else None


@contextlib.contextmanager
def _stream_reader(
    store: LogStore, source: str, found: _SourceTable, stream: pa.RecordBatchReader, notes: list[str]
) -> Iterator[Reader]:
    """A :class:`Reader` over the driver's stream, registered in DuckDB for the block."""
    name = f"_llamalog_pg_{found.name}"
    kinds = {field.name: _duckdb_kind(field.type) for field in stream.schema}
    fields = ", ".join(f"'{c}': {quote(c)}" for c in found.columns)
    reader = Reader(
        path=source,
        format="postgres",
        select=f"SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS _pre_reason, * FROM {name}",
        params=[],
        inputs={c: (quote(c), kinds[c]) for c in found.columns},
        raw=f"CAST(to_json({{{fields}}}) AS VARCHAR)",
        notes=tuple(notes),
        numbered=False,
        trusted=found.keyed and all(kinds[c] == schema_module.column(c).type for c in found.columns),
    )
    with store.registered(name, stream):
        yield reader


def _duckdb_kind(arrow_type: pa.DataType) -> str:
    """The DuckDB type DuckDB gives an Arrow column from the driver."""
    import pyarrow as pa

    name = getattr(arrow_type, "extension_name", "")
    if name == "arrow.uuid":
        return "UUID"
    if name == "arrow.json":
        return "JSON"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "VARCHAR[]"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP WITH TIME ZONE" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_int32(arrow_type):
        return "INTEGER"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    return "VARCHAR"


def _counters(db: _Source, namespace: str, found: _SourceTable) -> tuple[int, int, int, str] | None:
    """The server's cumulative inserted and deleted row counts for the table, its file node, and
    the counters' epoch (which server, since when: a restart, a reset or another host starts anew).

    None when the counters cannot be trusted here: ``track_counts`` off, a standby (its counters
    do not see the primary's writes), or a relation without counters of its own (a view, or a
    partitioned table whose counts live in its partitions).
    """
    rows = db.rows(
        """SELECT t.n_tup_ins, t.n_tup_del, pg_relation_filenode(t.relid),
  concat_ws(' ', pg_postmaster_start_time(), d.stats_reset, inet_server_addr(), inet_server_port())
FROM pg_catalog.pg_stat_user_tables AS t, pg_catalog.pg_stat_database AS d
WHERE t.schemaname = $1 AND t.relname = $2 AND d.datname = current_database()
  AND current_setting('track_counts')::boolean AND NOT pg_is_in_recovery()""",
        (namespace, found.name),
    )
    if not rows or None in rows[0]:
        return None
    inserted, deleted, filenode, epoch = rows[0]
    return int(inserted), int(deleted), int(filenode), str(epoch)


def _only_new_rows(
    db: _Source,
    store: LogStore,
    namespace: str,
    found: _SourceTable,
    source: str,
    since: datetime,
    counters: tuple[int, int, int, str] | None,
) -> bool:
    """Whether, by the server's counters, the table only gained the rows at or after ``since``.

    True when, on the same server and counters, nothing was deleted and the table was not
    rewritten (``TRUNCATE``, ``VACUUM FULL``) since the last load, and the rows inserted since
    then are exactly the window's rows the store lacks: then no older row can have changed, and
    reading the older rows' ids is skipped. The counters are cumulative and miss no insert or
    delete, but the server publishes them up to about a minute late: a delete made in that last
    minute is then reported by the next load.
    """
    previous = store.execute(
        f"""SELECT inserted, deleted, filenode, epoch FROM {COUNTERS_TABLE}
WHERE source = ? AND table_name = ? ORDER BY load_id DESC LIMIT 1""",
        [source, found.name],
    )
    if counters is None or not previous or previous[0][1:] != counters[1:]:
        return False
    in_window = db.rows(
        f"SELECT count(*) FROM {quote(namespace)}.{quote(found.name)} WHERE {_created(found, '>=')}", (since,)
    )[0][0]
    stored = store.execute(
        f"""SELECT (SELECT count(*) FROM {quote(found.name)} WHERE created_at >= ? AND {_FROM_SOURCE})
                 - (SELECT count(*) FROM {DISAPPEARED_TABLE}
                    WHERE created_at >= ? AND source = ? AND table_name = ?)""",
        [since, source, found.name, since, source, found.name],
    )[0][0]
    return counters[0] - previous[0][0] == in_window - stored


def _disappeared_ids(store: LogStore, found: _SourceTable, source: str, plan: _Plan) -> list[Any]:
    """Ids loaded earlier from this source that it no longer has, among the rows it was asked for."""
    if not store.has_table(found.name):
        return []
    if plan.since is None:
        scope, params = "", []
    elif plan.compared:
        scope, params = f"AND (t.created_at >= ? OR t.id NOT IN (SELECT id FROM {SOURCE_IDS}))", [plan.since]
    else:
        scope, params = "AND t.created_at >= ?", [plan.since]
    gone = store.execute(
        f"""SELECT t.id FROM {quote(found.name)} AS t
WHERE t.{_FROM_SOURCE}
  {scope}
  AND t.id NOT IN (SELECT id FROM {DISAPPEARED_TABLE} WHERE source = ? AND table_name = ?)
  AND t.id NOT IN (SELECT id FROM {STAGE} WHERE _table = ? AND id IS NOT NULL)
ORDER BY t.id""",
        [source, found.name, *params, source, found.name, found.name],
    )
    if plan.compared:
        store.execute(f"DROP TABLE {SOURCE_IDS}")
    return [r[0] for r in gone]


def _migrations(db: _Source, namespace: str) -> pa.Table | None:
    if not db.rows(
        "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = $2",
        (namespace, MIGRATIONS_TABLE),
    ):
        return None
    return db.stream(
        f"""SELECT id, checksum, finished_at AT TIME ZONE 'UTC' AS finished_at, migration_name, logs,
  rolled_back_at AT TIME ZONE 'UTC' AS rolled_back_at, started_at AT TIME ZONE 'UTC' AS started_at,
  applied_steps_count FROM {quote(namespace)}.{MIGRATIONS_TABLE} ORDER BY started_at, migration_name"""
    ).read_all()
