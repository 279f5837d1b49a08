"""The source side of a PostgreSQL load: the URL as users write it, read-only connections through
the ADBC driver with bound parameters that all read one snapshot, and driver errors as one line
with a hint."""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as quote_url
from urllib.parse import unquote, urlencode, urlsplit

from ._sql import literal, quote
from .errors import PostgresError, SourceError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from sqlalchemy.engine import URL, Engine

# Timeouts so a load never blocks the application's writers; no JIT: compiling the plain scans
# and counts a load runs costs more than it saves; times in UTC, as the store keeps them (a
# timestamptz column compared with a time the load binds is then read as UTC too).
SESSION = {
    "TimeZone": "UTC",
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
# The parameters that say which database a URL reaches (the rest say how: SSL, timeouts, names,
# and the role: the app's and a read-only auditor's loads are of the same table).
WHICH_DATABASE = ("host", "hostaddr", "port", "dbname", "service", "options")


@dataclass(frozen=True)
class Connection:
    """A parsed database URL: what to give libpq, which schema to read, and what was dropped.

    ``display`` is the URL as messages show it (password masked); ``source`` names the database
    in the store's load history: the URL without what does not change which database it reaches
    (the role and its password, SSL, timeouts), so the same database reached another way, or
    read by another role (the app's, a read-only auditor's), is the same source.

    Examples:
        >>> c = parse_url("postgresql://app:pw@db:5432/music?schema=catalog&connection_limit=5&sslmode=require")
        >>> c.schema, c.dropped, c.password
        ('catalog', ('connection_limit',), 'pw')
        >>> c.display
        'postgresql://app:***@db:5432/music?sslmode=require'
        >>> c.conninfo
        'postgresql://app:pw@db:5432/music?connect_timeout=10&sslmode=require'
        >>> c.source
        'postgresql://db:5432/music'
        >>> c.source == parse_url("postgres://auditor@DB/music?connect_timeout=3").source
        True
    """

    conninfo: str
    schema: str
    display: str
    source: str
    password: str | None
    dropped: tuple[str, ...] = ()

    def grant(self, privilege: str, name: str, kind: str = "") -> str:
        """The statement that gives the URL's role ``privilege`` on ``name`` (a table, view or
        ``kind``: ``SCHEMA``, ``DATABASE``), a table named in the schema read.

        Examples:
            >>> c = parse_url("postgresql://Auditor:pw@db/music?schema=catalog")
            >>> c.grant("SELECT", "_prisma_migrations")
            'GRANT SELECT ON "catalog"."_prisma_migrations" TO "Auditor"'
            >>> c.grant("CONNECT", '"music"', "DATABASE")
            'GRANT CONNECT ON DATABASE "music" TO "Auditor"'
        """
        parts = urlsplit(self.conninfo)
        user = _query(parts.query).get("user") or (unquote(parts.username) if parts.username else None)
        name = quote(name.strip('"'))  # as the server's message has it, quoted or not
        on = f"{kind} {name}" if kind else f"{quote(self.schema)}.{name}"
        return f"GRANT {privilege} ON {on} TO {quote(user) if user else 'the role the URL names'}"


def parse_url(url: str) -> Connection:
    """Parse a ``DATABASE_URL`` as the application's ``.env`` has it (Prisma parameters allowed).

    libpq reads the URL itself (hosts, ports, sockets, percent-encoding), so it connects exactly
    as ``psql URL`` would; only the query string is sorted into libpq's parameters, ``schema``,
    and the rest (dropped with a note).
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [ of an IPv6 host, say: the URL not shown, for its password
        raise PostgresError(
            f"the database URL cannot be read ({exc}). Hint: write it as postgresql://USER:PASSWORD@HOST:PORT/"
            "DATABASE, an IPv6 host in brackets ([::1]:5432)"
        ) from None
    scheme = parts.scheme.split("+", 1)[0]  # postgresql+psycopg://, as SQLAlchemy writes it
    if scheme not in ("postgresql", "postgres"):
        before, found, _ = url.partition("://")
        shown = f"{before}://" if found and "@" not in before else "the database URL"
        hint = "drop the jdbc: in front:" if before.startswith("jdbc:") else "use"
        raise PostgresError(
            f"{shown} is not a PostgreSQL URL. Hint: {hint} postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if parts.fragment or "@" in parts.path or ("@" in url.split("://", 1)[-1] and "@" not in parts.netloc):
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

    def build(user_part: str | None, values: dict[str, str], where: str = hosts) -> str:
        query_part = urlencode(values, safe="/*", quote_via=quote_url)
        named = "" if user_part is None else f"{user_part}{at}"
        return f"postgresql://{named}{where}{parts.path}" + (f"?{query_part}" if values else "")

    display = build(user + (":***" if colon else ""), public)
    named = hosts.lower() if "port" in kept else ",".join(_host_and_port(host) for host in hosts.split(","))
    source = build(None, {k: kept[k] for k in sorted(kept) if k in WHICH_DATABASE}, named)
    connect = {"connect_timeout": CONNECT_TIMEOUT, **kept}  # a server that never answers fails
    return Connection(build(userinfo, connect), schema_name, display, source, secret, dropped)


def _host_and_port(host: str) -> str:
    """A URL's host as a source is named by: lower case, with PostgreSQL's port when none is given.

    Examples:
        >>> _host_and_port("DB"), _host_and_port("db:6432"), _host_and_port("[::1]"), _host_and_port("")
        ('db:5432', 'db:6432', '[::1]:5432', '')
    """
    host = host.lower()
    return host if not host or re.search(r":\d+$", host) else f"{host}:5432"


def _query(text: str) -> dict[str, str]:
    """A URL's query parameters as libpq reads them: %XX decoded, '+' left alone (not a space)."""
    return {unquote(k): unquote(v) for k, _, v in (item.partition("=") for item in text.split("&") if item)}


def sqlalchemy_url(url: URL | Engine) -> str:
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


@contextlib.contextmanager
def translated(target: Connection) -> Iterator[None]:
    """Turn driver errors into one-line :class:`PostgresError` messages without the password."""
    from adbc_driver_manager import Error as DriverError

    try:
        yield
    except DriverError as exc:
        raise PostgresError(_explain(str(exc), target)) from None
    except SourceError as exc:  # the driver failed while DuckDB was reading its stream
        if "[libpq]" not in str(exc):
            raise
        driver_message = str(exc).split("[libpq]", 1)[1].split(". Hint:", 1)[0]  # not the stage's hint
        raise PostgresError(_explain(driver_message, target)) from None


# What a driver error means: words found in its message, and what to tell (``{where}``: the
# database with its password masked; ``{first}``: the message's first line).
_FAILURES = (
    (
        ("password authentication failed", "no password supplied"),
        "authentication failed at {where}. Hint: check the user and password in the database URL",
    ),
    (("does not exist",), "no such database at {where}. Hint: check the database name in the URL"),
    (("permission denied",), "permission denied at {where} ({first}). Hint: {grant}"),
    (
        ('value: "', "for connection option", "invalid connection option"),
        "the database URL has a parameter libpq does not take ({first}). Hint: check the URL's parameters",
    ),
    (
        (
            "terminating connection",
            "server closed the connection",
            "connection to server was lost",
            "ssl syscall",
            "eof detected",
            "invalid snapshot identifier",  # the connection whose snapshot the others read closed
        ),
        "the server closed the connection during the load ({first}); the store is unchanged. "
        "Hint: retry, and check the server's log",
    ),
    (
        ("statement timeout",),
        "a read took longer than the statement_timeout at {where} ({first}); the store is "
        "unchanged. Hint: load at a quieter time, or ask for a longer timeout for this role",
    ),
    (
        ("lock timeout",),
        "the log table is locked by another session (a migration?); the store is unchanged. "
        "Hint: retry when it is done ({first})",
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
        "cannot reach the database at {where} ({first}). Hint: check host and port, and that the "
        "server runs and accepts connections from here",
    ),
)


def _explain(message: str, target: Connection) -> str:
    """A driver's error as one line that names the database (password masked) and ends with a hint."""
    parts = urlsplit(target.conninfo)
    in_query = [v for k, v in _query(parts.query).items() if k in SECRET_PARAMETERS]
    secrets = {target.password or "", parts.password or "", *in_query} - {""}
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    said = re.split(r"\s+Query was:", message.replace("IO: [libpq]", ""), maxsplit=1)[0]  # not our SQL
    first = " ".join(said.split())[:300]
    lowered = message.lower()
    denied = re.search(r"permission denied for (schema|database|table|view|relation) (\S+)", message)
    grant = target.grant("SELECT", "llama_logs")
    if denied:
        kind, name = denied[1], denied[2]
        privilege, on = {"schema": ("USAGE", "SCHEMA"), "database": ("CONNECT", "DATABASE")}.get(
            kind, ("SELECT", "")
        )
        grant = target.grant(privilege, name, on)
    for needles, text in _FAILURES:
        # "does not exist" alone could be a table: it means the database only when it says so
        if any(n in lowered for n in needles) and ("does not exist" not in needles or "database" in lowered):
            return text.format(where=target.display, first=first, grant=grant)
    return f"reading {target.display} failed: {first}"


class Source:
    """Queries on the source database, all inside one read-only, repeatable-read transaction.

    Uses the ADBC driver's own API and hands its Arrow streams to DuckDB as they are: its DB-API
    layer and pyarrow import more (numpy, ``pyarrow.dataset``, pandas when installed) than a
    small incremental load takes. Parameters (``$1``, ``$2``, ...) are bound, never written into
    the SQL. :meth:`share` opens more connections reading the same snapshot, and
    :meth:`interleaved` reads their streams at once. ``local`` is a DuckDB connection (the
    store's) that turns parameters into Arrow and small results into rows; without one, the
    source opens an in-memory database of its own, which took 14-28 ms here.
    """

    def __init__(self, conninfo: str, local: duckdb.DuckDBPyConnection | None = None) -> None:
        import adbc_driver_manager as adbc
        import adbc_driver_postgresql
        import duckdb

        self.conninfo = conninfo
        self.statements: list[Any] = []  # a stream stays readable while its statement lives
        self.others: list[Source] = []  # connections reading this one's snapshot (see share)
        self.pumps: list[threading.Thread] = []  # threads reading streams (see interleaved)
        self.stopping = threading.Event()
        self.local = (local or duckdb.connect()).cursor()
        self.database = adbc_driver_postgresql.connect(conninfo)
        try:
            self.connection = adbc.AdbcConnection(self.database)
        except BaseException:
            self.database.close()
            raise
        self.connection.set_autocommit(False)

    def stream(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The rows of ``sql`` as an Arrow stream (``__arrow_c_stream__``), to read once, e.g.
        by DuckDB."""
        import adbc_driver_manager as adbc

        statement = adbc.AdbcStatement(self.connection)
        self.statements.append(statement)
        statement.set_sql_query(sql)
        if not params:
            return statement.execute_query()[0]
        names = ", ".join(f"${n} AS p{n}" for n in range(1, len(params) + 1))
        with self.local.cursor() as cursor:  # read by the driver when the statement runs
            statement.bind_stream(cursor.sql(f"SELECT {names}", params=list(params)).__arrow_c_stream__())
            return statement.execute_query()[0]

    def run(self, sql: str) -> None:
        """Run a statement that returns nothing (``SET TRANSACTION``)."""
        import adbc_driver_manager as adbc

        statement = adbc.AdbcStatement(self.connection)
        self.statements.append(statement)
        statement.set_sql_query(sql)
        statement.execute_update()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``sql``, a small result; a failure reading them is a :class:`SourceError`."""
        import duckdb

        with self.local.cursor() as cursor:
            cursor.register("source_rows", self.stream(sql, params))
            try:
                return cursor.execute("SELECT * FROM source_rows").fetchall()
            except duckdb.Error as exc:  # the driver's error, as DuckDB met it reading the stream
                raise SourceError(str(exc)) from None

    def share(self, count: int) -> list[Source]:
        """Up to ``count`` more connections, each in a read-only transaction that reads this
        one's snapshot (exported once), so all they read agrees with what this one reads. Fewer
        when the server refuses more connections; they close with this source."""
        from adbc_driver_manager import Error as DriverError

        if len(self.others) < count:
            exported = self.rows("SELECT pg_export_snapshot()")[0][0]
            while len(self.others) < count:
                try:
                    other = Source(self.conninfo, self.local)
                except DriverError:  # too many connections for the role or the server
                    break
                self.others.append(other)
                begin(other, exported)
        return self.others[:count]

    def interleaved(self, streams: list[Any]) -> pa.RecordBatchReader:
        """One stream of the batches of ``streams`` (same schema) in the order they arrive,
        each read by its own thread (the driver decodes without holding the GIL). At most one
        batch per stream waits to be taken; :meth:`close` stops the threads."""
        import pyarrow as pa

        readers = [pa.RecordBatchReader.from_stream(stream) for stream in streams]
        arrived: queue.Queue[Any] = queue.Queue(maxsize=len(readers))
        finished = object()

        def offer(item: object) -> bool:
            while not self.stopping.is_set():
                with contextlib.suppress(queue.Full):
                    arrived.put(item, timeout=0.1)
                    return True
            return False

        def pump(reader: pa.RecordBatchReader) -> None:
            try:
                for batch in reader:
                    if not offer(batch):
                        return
                offer(finished)
            except Exception as exc:  # the driver's error, raised where the stream is read
                offer(exc)

        def batches() -> Iterator[pa.RecordBatch]:
            pumps = [threading.Thread(target=pump, args=(reader,), daemon=True) for reader in readers]
            self.pumps += pumps
            for thread in pumps:
                thread.start()
            running = len(pumps)
            while running:
                item = arrived.get()
                if item is finished:
                    running -= 1
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield item

        return pa.RecordBatchReader.from_batches(readers[0].schema, batches())

    def close(self) -> None:
        self.stopping.set()
        for thread in self.pumps:
            thread.join()
        for other in self.others:
            other.close()
        with contextlib.suppress(Exception):
            self.connection.rollback()
        for handle in (*reversed(self.statements), self.connection, self.database, self.local):
            with contextlib.suppress(Exception):
                handle.close()


# Timeouts the role, database or server set lower than ours (reset_val: before this transaction).
_TIMEOUTS_SET_BEFORE = """SELECT name, reset_val FROM pg_settings
WHERE CASE WHEN name = ANY($1::text[])  -- only these are numbers: test them first
  THEN reset_val::bigint > 0 AND reset_val::bigint < setting::bigint END"""
# text[] parameters (no name or value holds a comma, quote or brace)
_TIMEOUTS = "{" + ",".join(n for n in SESSION if n.endswith("timeout")) + "}"
_SESSION_NAMES = "{" + ",".join(SESSION) + "}"
_SESSION_VALUES = "{" + ",".join(SESSION.values()) + "}"


def begin(source: Source, exported: str | None = None) -> None:
    """Start the source's read-only, repeatable-read transaction, reading the snapshot another
    transaction ``exported`` when given, with the session's timeouts."""
    source.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    if exported is not None:  # before any query; the statement takes no parameter
        source.run(f"SET TRANSACTION SNAPSHOT {literal(exported)}")
    source.rows(  # SET LOCAL each, in one round trip, bound
        "SELECT set_config(name, value, true) FROM unnest($1::text[], $2::text[]) AS s(name, value)",
        (_SESSION_NAMES, _SESSION_VALUES),
    )
    for name, setting in source.rows(_TIMEOUTS_SET_BEFORE, (_TIMEOUTS,)):  # a DBA's tighter limit stays
        source.rows("SELECT set_config($1, $2, true)", (name, str(int(setting))))


@contextlib.contextmanager
def snapshot(
    target: Connection,
    local: duckdb.DuckDBPyConnection | None = None,
    before: Callable[[Source], object] | None = None,
) -> Iterator[Source]:
    """The source inside one read-only, repeatable-read transaction with timeouts (``local``:
    see :class:`Source`). ``before`` is called with the source first, in a transaction of its
    own: what it reads was committed before the snapshot was taken."""
    source = Source(target.conninfo, local)
    try:
        if before is not None:
            before(source)
            source.connection.commit()  # and a new transaction begins, for the snapshot
        begin(source)
        yield source
    finally:
        source.close()
