"""The source side of a PostgreSQL load: the URL as users write it, one read-only connection
through the ADBC driver with bound parameters, and driver errors as one line with a hint."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as quote_url
from urllib.parse import unquote, urlencode, urlsplit

from .errors import PostgresError, SourceError

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL, Engine

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
        raise PostgresError(_explain(str(exc).split("[libpq]", 1)[1], target)) from None


# What a driver error means: words found in its message, and what to tell (``{where}``: the
# database with its password masked; ``{first}``: the message's first line).
_FAILURES = (
    (
        ("password authentication failed", "no password supplied"),
        "authentication failed at {where}. Hint: check the user and password in DATABASE_URL",
    ),
    (("does not exist",), "no such database at {where}. Hint: check the database name in the URL"),
    (
        ("permission denied",),
        "permission denied at {where} ({first}). Hint: GRANT SELECT on the log tables to this role",
    ),
    (
        (
            "terminating connection",
            "server closed the connection",
            "connection to server was lost",
            "ssl syscall",
            "eof detected",
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
    first = " ".join(message.replace("IO: [libpq]", "").split())[:300]
    lowered = message.lower()
    for needles, text in _FAILURES:
        # "does not exist" alone could be a table: it means the database only when it says so
        if any(n in lowered for n in needles) and ("does not exist" not in needles or "database" in lowered):
            return text.format(where=target.display, first=first)
    return f"reading {target.display} failed: {first}"


class Source:
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
def snapshot(target: Connection) -> Iterator[Source]:
    """The source inside one read-only, repeatable-read transaction with timeouts."""
    source = Source(target.conninfo)
    try:
        source.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for name, value in SESSION.items():
            source.rows("SELECT set_config($1, $2, true)", (name, value))  # SET LOCAL, bound
        for name, setting in source.rows(_TIMEOUTS_SET_BEFORE, (_TIMEOUTS,)):  # a DBA's tighter limit stays
            source.rows("SELECT set_config($1, $2, true)", (name, str(int(setting))))
        yield source
    finally:
        source.close()
