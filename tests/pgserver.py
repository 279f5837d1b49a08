"""A throwaway PostgreSQL 15 server with the upstream schema, for tests and benchmarks.

``PgServer.start()`` runs ``initdb`` and ``pg_ctl`` from the installed PostgreSQL 15 (as
the ``postgres`` user when running as root: the server refuses root) on a free port, with
password authentication over TCP. ``LLAMALOG_TEST_PG_URL`` names an existing server instead.
``create_upstream(url, era=...)`` builds the application's enum types, log table, indexes and
``_prisma_migrations`` as the reference page describes them; ``copy_rows`` fills the table from a
frame through psql-style CSV, the way an export would come back in.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psycopg

import llamalog_analytics as lla
from llamalog_analytics import schema

BIN = Path(os.environ.get("LLAMALOG_PG_BIN", "/usr/lib/postgresql/15/bin"))
PASSWORD = "s3cret-Pa55"

ENUMS = {
    "EnrichmentEntityType": schema.ENTITY_TYPES,
    "EnrichmentStatus": tuple(s for s in schema.STATUSES if s != "PENDING"),
    "DataQuality": schema.DATA_QUALITIES,
    "LlamaLogCategory": schema.CATEGORIES,
}
PG_TYPES = {
    c.name: c.postgres + ("" if c.nullable else " NOT NULL") + (f" DEFAULT {c.default}" if c.default else "")
    for c in schema.COLUMNS
}
INDEXES = (
    ("entity_type_entity_id", "entity_type, entity_id"),
    ("artist_id_created_at", "artist_id, created_at"),
    ("album_id_created_at", "album_id, created_at"),
    ("track_id_created_at", "track_id, created_at"),
    ("status_created_at", "status, created_at"),
    ("operation", "operation"),
    ("sources", "sources"),
    ("user_id", "user_id"),
    ("parent_job_id", "parent_job_id"),
    ("is_root_job_created_at", "is_root_job, created_at"),
    ("category_created_at", "category, created_at"),
    ("root_job_id", "root_job_id"),
)
MIGRATIONS_DDL = """CREATE TABLE IF NOT EXISTS _prisma_migrations (
  id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
  migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
  started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PgServer:
    """A running server; ``url`` connects as the superuser ``postgres`` over TCP with a password."""

    url: str
    folder: Path | None = None
    port: int | None = None

    @classmethod
    def start(cls) -> PgServer:
        if os.environ.get("LLAMALOG_TEST_PG_URL"):
            return cls(os.environ["LLAMALOG_TEST_PG_URL"])
        # A fresh folder directly under the temp dir, so the postgres user can reach it.
        folder = Path(tempfile.mkdtemp(prefix="llamalog-pg-"))
        data, sockets = folder / "data", folder / "sockets"
        sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (folder, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        password_file = folder / "password"
        password_file.write_text(PASSWORD + "\n")
        os.chmod(password_file, 0o644)
        subprocess.run(
            _as_postgres(
                [
                    str(BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={password_file}",
                ]
            ),
            check=True,
            capture_output=True,
        )
        port = _free_port()
        _pg_ctl_start(folder, port)
        return cls(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres", folder, port)

    @property
    def log(self) -> Path | None:
        return None if self.folder is None else self.folder / "server.log"

    def database(self, name: str) -> str:
        """Create a fresh database and return its URL."""
        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def halt(self) -> None:
        """Stop the server at once, as a crash would (data kept): see :meth:`resume`."""
        assert self.folder is not None, "only a server this class started can be halted"
        _pg_ctl(self.folder, "-m", "immediate", "stop")

    def restart(self) -> None:
        """Stop the server cleanly (it keeps its statistics) and start it again, on the same port."""
        assert self.folder is not None, "only a server this class started can be restarted"
        _pg_ctl(self.folder, "-m", "fast", "-w", "stop", check=True)
        self.resume()

    def resume(self) -> None:
        """Start a halted server again, on the same port."""
        assert self.folder is not None and self.port is not None
        _pg_ctl_start(self.folder, self.port)

    def stop(self) -> None:
        if self.folder is None:
            return
        self.halt()
        shutil.rmtree(self.folder, ignore_errors=True)


def _pg_ctl(folder: Path, *arguments: str, check: bool = False) -> None:
    subprocess.run(
        _as_postgres([str(BIN / "pg_ctl"), "-D", str(folder / "data"), *arguments]),
        check=check,
        capture_output=True,
    )


def _pg_ctl_start(folder: Path, port: int) -> None:
    options = (
        f"-p {port} -k {folder / 'sockets'} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c log_statement=all"
    )
    _pg_ctl(folder, "-o", options, "-l", str(folder / "server.log"), "-w", "start", check=True)


def create_upstream(
    url: str, *, table: str = "llama_logs", era: str | None = None, indexes: bool = True
) -> None:
    """Create the upstream enums and log table as they were just before migration ``era``
    (default: after every migration), with its indexes and ``_prisma_migrations``."""
    columns = schema.columns_before(era) if era else schema.COLUMNS
    with psycopg.connect(url, autocommit=True) as con:
        for name, labels in ENUMS.items():
            values = ", ".join(f"'{label}'" for label in labels)
            con.execute(
                f'DO $$ BEGIN CREATE TYPE "{name}" AS ENUM ({values}); '
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        body = ",\n  ".join(f'"{c.name}" {PG_TYPES[c.name]}' for c in columns)
        con.execute(f'CREATE TABLE "{table}" (\n  {body},\n  CONSTRAINT "{table}_pkey" PRIMARY KEY (id))')
        con.execute(MIGRATIONS_DDL)
    if indexes:
        create_indexes(url, table=table)


def create_indexes(url: str, *, table: str = "llama_logs") -> None:
    """The upstream table's secondary indexes, for the columns the table has."""
    with psycopg.connect(url, autocommit=True) as con:
        present = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table]
            )
        }
        for name, cols in INDEXES:
            if set(cols.replace(" ", "").split(",")) <= present:
                con.execute(f'CREATE INDEX IF NOT EXISTS "{table}_{name}_idx" ON "{table}" ({cols})')


def copy_rows(url: str, frame: pl.DataFrame, *, table: str = "llama_logs") -> None:
    """Insert ``frame`` into ``table`` through psql-style CSV (``COPY ... FROM STDIN``)."""
    with tempfile.TemporaryDirectory() as folder:
        path = lla.write_logs(frame, Path(folder) / "rows.csv")
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        copy_sql = f'COPY "{table}" ({columns}) FROM STDIN (FORMAT csv, HEADER true)'
        with psycopg.connect(url, autocommit=True) as con, con.cursor() as cur:
            with cur.copy(copy_sql) as copy, open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            cur.execute(f'ANALYZE "{table}"')


def create_both_eras(url: str, logs: pl.DataFrame, snapshot: pl.DataFrame, migrations: pl.DataFrame) -> None:
    """``llama_logs`` holding ``logs`` (with the upstream indexes, made after the rows),
    ``enrichment_logs`` as it was before the category migration holding ``snapshot`` (its 26
    columns are taken from it), and ``_prisma_migrations`` holding ``migrations``."""
    create_upstream(url, indexes=False)
    create_upstream(url, table="enrichment_logs", era=schema.CATEGORY_MIGRATION, indexes=False)
    copy_rows(url, logs)
    copy_rows(url, snapshot.select(c.name for c in schema.LEGACY_COLUMNS), table="enrichment_logs")
    create_indexes(url)
    record_migrations(url, migrations)


def run_sql_file(
    url: str, path: str | Path, *, client_encoding: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``psql -f path`` as a deploy would run it: stop at the first error; notices on stderr.
    ``client_encoding`` is psql's (``PGCLIENTENCODING``), as a terminal's locale would set it."""
    encoding = {"PGCLIENTENCODING": client_encoding} if client_encoding else {}
    return subprocess.run(
        [str(BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(path)],
        capture_output=True,
        text=True,
        env=os.environ | encoding,
    )


def record_migrations(url: str, frame: pl.DataFrame) -> None:
    """Fill ``_prisma_migrations`` from a frame shaped like ``Synthetic.prisma_migrations``."""
    with psycopg.connect(url, autocommit=True) as con, con.cursor() as cur:
        cur.executemany(
            "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, "
            "rolled_back_at, started_at, applied_steps_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [tuple(row.values()) for row in frame.to_dicts()],
        )


class Watcher(threading.Thread):
    """:func:`when_running`'s thread; ``fired`` says whether it saw the query and acted."""

    fired = False


def when_running(url: str, database: str, act, like: str = "COPY%", within: float = 60) -> Watcher:
    """Call ``act`` once a query matching ``like`` (the load's COPY by default) runs on ``database``,
    watching for ``within`` seconds at most (a loaded machine starts the load late)."""

    def watch() -> None:
        deadline = time.monotonic() + within
        with psycopg.connect(url, autocommit=True) as con:
            while time.monotonic() < deadline:
                running = con.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                    "AND query ILIKE %s AND pid <> pg_backend_pid()",
                    [database, like],
                ).fetchone()
                if running and running[0]:
                    act()
                    thread.fired = True
                    return
                time.sleep(0.005)

    thread = Watcher(target=watch)
    thread.start()
    return thread


def waits_for(url: str, pid: int) -> Callable[[], bool]:
    """Whether a session of ``url``'s server waits for a lock the session ``pid`` holds."""

    def waiting() -> bool:
        with psycopg.connect(url) as con:
            found = con.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid)))", [pid]
            ).fetchone()
        return bool(found and found[0])

    return waiting
