"""The store: one DuckDB database holding LlamaLog tables, their load history and rejects."""

from __future__ import annotations

import contextlib
import glob
import itertools
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from . import _readers, schema
from ._format import number_ranges
from ._sql import (
    ATTACHED,
    ATTACHED_FILES_TABLE,
    BOOKKEEPING_DDL,
    CHANGED_DDL,
    CHANGED_TABLE,
    COUNTERS_TABLE,
    DISAPPEARED_TABLE,
    LOAD_ID_COLUMN,
    LOADS_TABLE,
    MIGRATIONS_TABLE,
    REJECTS_TABLE,
    literal,
    quote,
    scratch_connection,
)
from .errors import (
    ArgumentError,
    AttachedFilesChangedError,
    PostgresError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
)

if TYPE_CHECKING:
    from datetime import datetime

    import polars as pl
    import pyarrow as pa
    from sqlalchemy.engine import URL, Engine

    from .stage import LoadResult


_SCRATCH = itertools.count(1)
_BOOKKEEPING = (
    LOADS_TABLE,
    REJECTS_TABLE,
    DISAPPEARED_TABLE,
    CHANGED_TABLE,
    COUNTERS_TABLE,
    ATTACHED_FILES_TABLE,
)
DEMO_STORE = "llamalog-demo.duckdb"  # where ``llamalog demo`` puts the sample


WAIT_SECONDS = 10.0  # how long a store waits, by default, while another process holds it
SAY_WAITING = 1.0  # after how long a wait for the store is said
# what in SQL text names no table: quoted text and comments
_WORDS_NOT_NAMES = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)


class LogStore:
    """A DuckDB database of LlamaLog tables (``llama_logs`` by default, ``enrichment_logs`` for a
    pre-migration snapshot), with a load history and the rows that could not be loaded.

    Args:
        path: a ``.duckdb`` file (created if missing), or None (or DuckDB's ``":memory:"``) for
            an in-memory store. A file this object created is removed again when its ``with``
            block ends in an error before anything was stored in it, so a failed first load
            leaves no empty store.
        read_only: open an existing file for reading only; several processes may do so at once.
            A missing file is a :class:`~llamalog_analytics.errors.StoreNotFoundError` naming
            the stores beside it; reading never creates a file.
        create: with False, a missing file is a ``StoreNotFoundError`` as when reading: to
            write into a store only if it is there (``llamalog verify`` records its audit so).
        tracer: called with ``(sql, params)`` before each statement, e.g. ``tracer=print``.
        memory_limit: how much memory DuckDB may use for caching and for query state before it
            spills to a temporary directory (``3GB``, ``500MB``); None leaves DuckDB's default,
            80% of RAM, which keeps more of the store cached but leaves less for the frames
            queries return into this process.
        wait: how many seconds a call waits for the file while another process holds it (a
            read waits for a writer, a write for any other process) before a
            :class:`~llamalog_analytics.errors.StoreLockedError`; the store takes the file only
            while a call works, so a notebook holding a store leaves it free between calls.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.LogStore() as store:
        ...     _ = store.load_files(lla.sample_path("llama_logs.parquet"), quiet=True)
        ...     store.tables(), store.table().height > 1000
        (('llama_logs',), True)
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        read_only: bool = False,
        create: bool = True,
        tracer: Callable[[str, Any], None] | None = None,
        memory_limit: str | None = "3GB",
        wait: float = WAIT_SECONDS,
    ) -> None:
        if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
            raise ArgumentError(f"wait={wait!r}: the seconds to wait for the store. Hint: pass 0 or more")
        self.path = None if path is None or str(path).startswith(":memory:") else str(path)
        self.read_only = read_only
        self.tracer = tracer
        self.memory_limit = memory_limit
        self._memory_now = memory_limit  # the limit the open connection has, as written (None: DuckDB's)
        self.wait = wait
        self.changes = 0  # statements run here other than SELECTs: cached indexes check it
        self._bookkeeping = False  # inside bookkeeping(): writes touch no log table
        self._con: duckdb.DuckDBPyConnection | None = None  # open only inside session()
        self._writing = False  # the open connection holds the write lock
        self._ready = False  # the bookkeeping tables are known to exist
        if self.path is not None and _readers.is_data_file(self.path):
            raise StoreError(
                f"{self.path}: a data file, not a store. Hint: name a store file (llamalog.duckdb) "
                f"and load the file into it: llamalog load {self.path} --db llamalog.duckdb"
            )
        if self.path is None and read_only:
            raise StoreError("an in-memory store cannot be read-only. Hint: pass the store's path")
        if (read_only or not create) and self.path is not None and not Path(self.path).exists():
            raise StoreNotFoundError(str(self.path), stores_beside(str(self.path)))
        self._created = self.path is not None and not Path(self.path).exists()
        self._real_path = "" if self.path is None else os.path.realpath(self.path)  # for _OPEN_HERE
        self._seen = _file_state(self.path)  # the file as this store last knew it
        self._foreign_writes = 0
        # (at foreign writes, each attached table's files as recorded when attached)
        self._attached: tuple[int, list[tuple[str, str, int | None, int | None]]] | None = None
        self._files_seen: tuple[object, ...] = ()  # the attached files as last known
        self._depth = 0  # sessions open, one inside another
        self._opened = False  # this object opened the file at once (so made it, when it was not there)
        self._file_changes = 0  # times the attached files were found changed
        self._files_checked = False  # this outermost session checked every attached table's files
        self._tables_checked: set[str] = set()  # the attached tables it checked
        self._checking_files = False  # the check runs statements of its own
        if self.path is None:  # nothing to share: the connection lives as long as the store
            self._con, self._writing = self._connect(read_only=False), True
            self._prepare()
        elif self._created:
            try:
                with self.session(write=True):
                    pass
            except BaseException:
                if self._opened:  # made here; else another process made it meanwhile: theirs
                    # as it is now: the lock, not the state, keeps a process that opened it since
                    self._remove_files(_file_state(self.path))
                raise

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the store file open for the ``with`` block and yield the connection: read-only,
        so other processes may read it too, or with the write lock when ``write``.

        Every method opens the file for its own call, and nothing holds it between calls, so
        a notebook and a shell can use one store. A block makes several calls one consistent
        view (no other process writes in between) and saves reopening the file for each; a
        block inside another uses the outer one. An in-memory store is always open.

        Raises:
            StoreLockedError: another process held the file (for writing, or for anything when
                ``write``) for longer than ``wait`` seconds, or this process holds it for reading
                in an enclosing block while this one asks to write.
            StoreError: ``write`` on a store opened ``read_only``.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.sample_store() as store, store.session():
            ...     store.execute("SELECT count(*) > 1000 FROM llama_logs")
            [(True,)]
        """
        if write and self.read_only:
            raise StoreError(
                f"{self.path}: the store is open read-only. Hint: open it with LogStore(path) to write"
            )
        if self._con is not None:
            if write and not self._writing:
                raise StoreLockedError(
                    f"{self.path}: cannot write inside a block that holds the store for reading. "
                    "Hint: end the `with store.session()` block first, or open it with write=True"
                )
            with self._outermost():
                yield self._con
            return
        if self.path is None:
            raise StoreError("the in-memory store is closed, its tables gone. Hint: make a new one")
        self._con, self._writing = self._connect(read_only=not write), write
        _OPEN_HERE[self._real_path] = _OPEN_HERE.get(self._real_path, 0) + 1
        try:
            if write:
                self._notice_foreign_writes()  # before this write makes them indistinguishable
                self._prepare()
            with self._outermost():
                yield self._con
        finally:
            con, self._con = self._con, None
            con.close()
            _OPEN_HERE[self._real_path] -= 1
        if write:  # own writes are counted in `changes`: the file as now written is known
            self._seen = _file_state(self.path)

    @contextmanager
    def _outermost(self) -> Iterator[None]:
        """Count the sessions open (the attached files are checked again in each outermost one:
        :meth:`_refuse_changed_files`); an error that leaves it from reading an attached table's
        file removed, moved or changed since it was attached is said as such."""
        self._depth += 1
        if self._depth == 1:
            self._files_checked, self._tables_checked = False, set()
        try:
            yield
        except duckdb.Error as exc:
            if self._depth == 1 and (error := self._changed_attached_file(str(exc))) is not None:
                raise error from exc
            raise
        finally:
            self._depth -= 1

    def _refuse_changed_files(self, sql: str) -> None:
        """Refuse ``sql`` when it names an attached table one of whose files was removed, moved or
        rewritten since it was attached (its size or modification time differ): it would read
        rows that were never checked. A table's files are checked once a session, before its
        first statement naming that table."""
        if self._files_checked or self._checking_files:
            return
        self._checking_files = True  # the check's own statements pass
        try:
            if not self._writing:  # a writer holds the file: nobody else can have written
                self._notice_foreign_writes()  # another process may have attached again
            code = _WORDS_NOT_NAMES.sub(" ", sql)
            attached = {table for table, *_ in self._attached_files()}
            named = {
                table
                for table in attached - self._tables_checked
                if re.search(rf"\b{re.escape(table)}\b", code, re.IGNORECASE)
            }
            if named:
                changed = self._changed_attached_file(tables=named)
                if changed is not None:
                    raise changed
                self._tables_checked |= named
            self._files_checked = self._tables_checked >= attached
        finally:
            self._checking_files = False

    @contextmanager
    def _files_unchecked(self) -> Iterator[None]:
        """For the ``with`` block, statements naming an attached table are not checked (attaching
        again checks every file itself); after it, the attached files are read again."""
        checked, self._files_checked = self._files_checked, True
        try:
            yield
        finally:
            self._files_checked = checked
            self._attached = None

    def _changed_attached_file(
        self, said: str | None = None, tables: set[str] | None = None
    ) -> AttachedFilesChangedError | None:
        """The first attached table's file removed, moved or changed since it was attached, as an
        error that names it and says how to attach again; None when there is none. With
        ``said`` (a DuckDB error's text), only a file it names; with ``tables``, only theirs."""
        from .attach import attach_again, attached_from

        with contextlib.suppress(duckdb.Error):
            for table, file, size, modified in self._attached_files():
                if said is not None and file not in said and _readers.read_name(file) not in said:
                    continue
                if tables is not None and table not in tables:
                    continue
                now = _readers.file_stat(file)
                if now is not None and (size is None or now == (size, modified)):
                    continue
                what = "was removed or moved" if now is None else "has changed"
                reason = f" ({said.splitlines()[0]})" if said else ""
                return AttachedFilesChangedError(
                    f"{file} {what} since it was attached as {table}, so {table} cannot be read{reason}. "
                    "Hint: attach it again, which checks every file"
                    + attach_again(attached_from(self, table) or "FOLDER", table, self.path)
                )
        return None

    def _attached_files(self) -> list[tuple[str, str, int | None, int | None]]:
        """Every attached table's files as recorded when attached: (table, file, size,
        modification time in ns); read again after an attachment here or a write by another
        process (read untraced: they are the store's own questions). A table attached by an
        earlier version, which recorded only its glob, has the files the glob matches now,
        without a size or time."""
        if self._attached is None or self._attached[0] != self._foreign_writes:
            files: list[tuple[str, str, int | None, int | None]] = []
            with self.session() as con:
                tables = {
                    name
                    for (name,) in con.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE table_name IN (?, ?) AND NOT temporary",
                        [ATTACHED_FILES_TABLE, LOADS_TABLE],
                    ).fetchall()
                }
                if ATTACHED_FILES_TABLE in tables:
                    files += con.execute(
                        f"SELECT * FROM {ATTACHED_FILES_TABLE} ORDER BY table_name, file"
                    ).fetchall()
                if LOADS_TABLE in tables:
                    recorded = {table for table, *_ in files}
                    globs = con.execute(
                        f"SELECT DISTINCT table_name, source FROM {LOADS_TABLE} WHERE format = ? "
                        "ORDER BY table_name, source",
                        [ATTACHED],
                    ).fetchall()
                    files += [
                        (table, file, None, None)
                        for table, source in globs
                        if table not in recorded
                        for file in sorted(glob.glob(source, recursive=True))
                    ]
            self._attached = (self._foreign_writes, files)
        return self._attached[1]

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection of the open :meth:`session`.

        Raises:
            StoreError: no session is open (a file store holds no connection between calls).
        """
        if self._con is None:
            raise StoreError(
                f"{self.path}: the store is not open. Hint: use it inside `with store.session():`"
            )
        return self._con

    def version(self) -> tuple[int, int]:
        """A value that changes whenever a log table may have changed: after a statement that may
        write, run through this store, a write to the file by another process, or a change to
        the files of an attached table. Indexes kept over the store's tables compare it to
        rebuild when the tables changed.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.LogStore() as store:
            ...     before = store.version()
            ...     _ = store.execute("CREATE TABLE t (i INTEGER)")
            ...     store.version() != before
            True
        """
        self._notice_foreign_writes()
        files = tuple((file, _readers.file_stat(file)) for _, file, _, _ in self._attached_files())
        if files != self._files_seen:
            self._files_seen = files
            self._file_changes += 1
        return self.changes, self._foreign_writes + self._file_changes

    def _notice_foreign_writes(self) -> None:
        """Count a change to the store file since this store last knew it (another process wrote,
        or removed the file: its bookkeeping tables are looked for again before a write)."""
        state = _file_state(self.path)
        if state != self._seen:
            self._seen = state
            self._foreign_writes += 1
            self._ready = False

    def _connect(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the database, waiting up to ``wait`` seconds while another process holds it as
        this opening may not share it (a read waits for a writer, a write for any other process;
        a wait past :data:`SAY_WAITING` seconds is said on standard error as it goes on)."""
        deadline = time.monotonic() + self.wait
        pause, waited, said = 0.01, False, time.monotonic() + SAY_WAITING
        while True:
            if read_only and self.path is not None and not Path(self.path).exists():  # removed since
                raise StoreNotFoundError(self.path, stores_beside(self.path))
            folder = None if self.path is None else Path(self.path).expanduser().parent  # as DuckDB reads ~
            if folder is not None and not folder.is_dir():
                raise StoreError(
                    f"{self.path}: there is no folder {folder} to keep the store in. "
                    f"Hint: create it (mkdir -p {shlex.quote(str(folder))}), or name a store in a folder "
                    "that exists"
                )
            try:
                con = duckdb.connect(self.path or ":memory:", read_only=read_only)
                self._opened = not waited  # at once: no other process held the file
                break
            except duckdb.ConnectionException as exc:  # this process has it open another way
                raise StoreLockedError(
                    f"{self.path}: this process already has the store open "
                    f"{'for writing' if read_only else 'for reading'} (another LogStore or a "
                    "`with store.session()` block). Hint: use that store, or end its block first"
                ) from exc
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise _unopenable(self.path, exc) from exc
                doing = "is writing to" if read_only else "is using"
                held = f"{self.path}: {_lock_holder(str(exc))} {doing} the store"
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"{held}, and still was after {self.wait:g} s. Hint: wait for it to finish "
                        "and try again, or wait longer: llamalog COMMAND --wait 60, LogStore(path, wait=60)"
                    ) from exc
                if time.monotonic() >= said:  # once: the command is not hanging, it waits
                    print(
                        f"[🦙 LlamaLog] {held}; waiting up to {self.wait:g} s for it",
                        file=sys.stderr,
                        flush=True,
                    )
                    said = math.inf
                time.sleep(pause)
                pause, waited = min(pause * 2, 0.25), True
            except duckdb.Error as exc:
                raise _unopenable(self.path, exc) from exc
        try:
            con.execute("SET TimeZone = 'UTC'")
            self._memory_now = self.memory_limit
            if self.memory_limit is not None:
                try:
                    con.execute("SET memory_limit = ?", [self.memory_limit])
                except duckdb.Error as exc:
                    raise StoreError(
                        f"memory_limit={self.memory_limit!r}: {exc}. Hint: write it like 3GB or 500MB"
                    ) from exc
            try:  # progress is polled by _progress.track, never printed by DuckDB itself
                con.execute("SET enable_progress_bar_print = false")
                con.execute("SET enable_progress_bar = true")
            except duckdb.InvalidInputException:  # Jupyter without ipywidgets: no progress bar
                pass
        except BaseException:
            con.close()
            raise
        return con

    def _prepare(self) -> None:
        """Create the bookkeeping tables (once per store object; they are needed to write)."""
        if not self._ready:
            for ddl in BOOKKEEPING_DDL:
                self.con.execute(ddl)
            self._ready = True

    def execute(self, sql: str, params: Iterable[object] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement (traced) and return all its result rows; outside a :meth:`session`,
        in one of its own, which writes when the statement may."""
        writes = self._writes(sql)
        with self.session(write=self._con is None and not self.read_only and writes) as con:
            self._trace(sql, params, changes=writes)
            return con.execute(sql, list(params) if params is not None else None).fetchall()

    def frame(self, sql: str, params: Iterable[object] | None = None) -> pl.DataFrame:
        """Run a query and return its result as a polars DataFrame."""
        with self.session():
            return self.relation(sql, params).pl()

    def relation(self, sql: str, params: Iterable[object] | None = None) -> duckdb.DuckDBPyRelation:
        """Run a query (traced) and return its DuckDB relation, to stream (``to_arrow_reader``),
        convert, or read its columns without fetching every row; inside a :meth:`session`,
        which the relation needs open while it is read."""
        self._trace(sql, params)
        return self.con.sql(sql, params=list(params) if params is not None else None)

    def batches(self, sql: str, rows: int) -> pa.RecordBatchReader:
        """``sql``'s result as a stream of Arrow record batches of up to ``rows`` rows, read on a
        connection of its own so that the store's can run a statement that consumes the stream;
        inside a :meth:`session`, which the stream needs open while it is read.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.sample_store() as store, store.session():
            ...     sizes = [batch.num_rows for batch in store.batches("SELECT * FROM range(5)", 2)]
            >>> sizes
            [2, 2, 1]
        """
        self._trace(sql, None)
        return self.con.cursor().sql(sql).to_arrow_reader(rows)

    @contextmanager
    def registered(self, name: str, data: object) -> Iterator[str]:
        """``data`` (an Arrow table or reader, a polars frame) readable as ``name`` in SQL for
        the ``with`` block; yields ``name``."""
        with self.session() as con:
            con.register(name, data)
            try:
                yield name
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # the failure may have aborted the transaction
                    con.unregister(name)
                raise
            con.unregister(name)

    @contextmanager
    def settings(self, **values: str) -> Iterator[None]:
        """DuckDB settings (``SET name = value``) for the ``with`` block, held in one session;
        the values before it are restored after it (the memory limit as it was written: DuckDB
        shows it rounded, so blocks one after another do not shrink it).

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.LogStore() as store, store.settings(threads="1"):
            ...     store.execute("SELECT current_setting('threads')")
            [(1,)]
        """
        with self.session():
            before = {
                name: self._memory_now if name == "memory_limit" else self._setting(name) for name in values
            }
            try:
                for name, value in values.items():
                    self._set(name, value)
                yield
            except BaseException:  # the block's own error is the one to see, not a busy connection's
                for name, was in before.items():
                    with contextlib.suppress(duckdb.Error):
                        self._set(name, was)
                raise
            for name, was in before.items():
                self._set(name, was)

    def _setting(self, name: str) -> Any:
        return self.execute("SELECT current_setting(?)", [name])[0][0]

    def _set(self, name: str, value: Any) -> None:
        """``SET name = value``; None resets it to DuckDB's default."""
        if value is None:
            self.execute(f"RESET {name}")
        else:
            self.execute(f"SET {name} = ?", [value])
        if name == "memory_limit":
            self._memory_now = value

    @contextmanager
    def memory_at_most(self, limit: str) -> Iterator[None]:
        """DuckDB's memory limit lowered to ``limit`` for the ``with`` block when it is higher:
        for work that reads a store file's tables through and need not cache them. An in-memory
        store keeps its limit (its tables live in that memory).

        Examples:
            >>> import tempfile, llamalog_analytics as lla
            >>> with tempfile.TemporaryDirectory() as folder, lla.LogStore(f"{folder}/s.duckdb") as store:
            ...     with store.session():
            ...         with store.memory_at_most("500MB"), store.memory_at_most("1GB"):
            ...             during = store.execute("SELECT current_setting('memory_limit')")[0][0]
            ...         after = store.execute("SELECT current_setting('memory_limit')")[0][0]
            >>> during, after
            ('476.8 MiB', '2.7 GiB')
        """
        with self.session():
            now = self._memory_now or self._setting("memory_limit")
            lower = self.path is not None and _bytes(limit) < _bytes(now)
            with self.settings(memory_limit=limit) if lower else contextlib.nullcontext():
                yield

    @contextmanager
    def progress(self, label: str, *, quiet: bool = False) -> Iterator[None]:
        """A progress bar for the statements run inside the ``with`` block (nothing when ``quiet``)."""
        from ._progress import track

        with self.session() as con, track(con, label, quiet=quiet):
            yield

    @contextmanager
    def temporary(self, sql: str, params: Iterable[object] | None = None) -> Iterator[str]:
        """A temporary table of ``sql``'s result, for the ``with`` block; yields its name.

        Scratch space for an analysis that asks several questions of one costly query (also on
        a read-only store). It is dropped afterward and is no change to the store's tables.
        """
        name = f"_llamalog_scratch_{next(_SCRATCH)}"
        create = f"CREATE TEMPORARY TABLE {name} AS {sql}"
        with self.session() as con:
            self._trace(create, params, changes=False)
            con.execute(create, list(params) if params is not None else None)
            try:
                yield name
            finally:
                self._trace(f"DROP TABLE IF EXISTS {name}", None, changes=False)
                con.execute(f"DROP TABLE IF EXISTS {name}")

    def copy_into(self, path: str | Path, tables: Iterable[str]) -> None:
        """Copy ``tables``, types kept, into a new DuckDB file at ``path`` (inside DuckDB, no rows
        through Python); open it with ``LogStore(path)``. Works on a read-only store too, and is
        no change to this store's tables.

        Raises:
            StoreError: ``path`` exists.
        """
        if Path(path).exists():
            raise StoreError(f"{path} exists. Hint: copy into a new file")
        alias = f"_llamalog_copy_{next(_SCRATCH)}"
        statements = [f"ATTACH {literal(str(path))} AS {alias} (READ_WRITE)"]
        statements += [f"CREATE TABLE {alias}.{quote(t)} AS SELECT * FROM {quote(t)}" for t in tables]
        with self.session() as con:
            try:
                for statement in statements:
                    self._trace(statement, None, changes=False)
                    con.execute(statement)
            finally:
                self._trace(f"DETACH DATABASE IF EXISTS {alias}", None, changes=False)
                con.execute(f"DETACH DATABASE IF EXISTS {alias}")

    @contextmanager
    def bookkeeping(self) -> Iterator[None]:
        """Statements run inside (with the write lock) write only the store's own records (its
        audit history), never a log table, so indexes built on the log tables stay valid."""
        with self.session(write=True):
            self._bookkeeping = True
            try:
                yield
            finally:
                self._bookkeeping = False

    def _trace(self, sql: str, params: Iterable[object] | None, *, changes: bool | None = None) -> None:
        """Show ``sql`` to the tracer and count it in ``changes`` when it may write a log table
        (``changes``: whether it may, when the caller knows; None: read from the SQL); refuse it
        when it names an attached table whose files changed (:meth:`_refuse_changed_files`)."""
        self._refuse_changed_files(sql)
        if self.tracer is not None:
            self.tracer(sql, params)
        if not self._bookkeeping and (self._writes(sql) if changes is None else changes):
            self.changes += 1

    def _writes(self, sql: str) -> bool:
        """Whether ``sql`` has a statement that may change the store: anything but SELECT and
        SET. The open connection parses it; outside a session, DuckDB's default one (made on
        first use: a database of its own, which costs as much as opening the store)."""
        parser = self._con if self._con is not None else duckdb
        return any(s.type not in _READING for s in parser.extract_statements(sql))

    def has_table(self, name: str) -> bool:
        """Whether the database has a (non-temporary) table called ``name``."""
        found = self.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = lower(?) AND NOT temporary",
            [name],
        )
        return bool(found[0][0])

    def tables(self) -> tuple[str, ...]:
        """Names of the log tables in the store, sorted."""
        rows = self.execute(
            """SELECT table_name FROM duckdb_columns()
               WHERE column_name = ? AND NOT internal ORDER BY table_name""",
            [LOAD_ID_COLUMN],
        )
        return tuple(r[0] for r in rows)

    def table(
        self, name: str = schema.CURRENT_TABLE, columns: Iterable[str] = schema.COLUMN_NAMES
    ) -> pl.DataFrame:
        """A log table's canonical ``columns`` (all by default), ordered by ``created_at`` then ``id``."""
        self.require(name)
        selected = ", ".join(map(quote, columns))
        return self.frame(f"SELECT {selected} FROM {quote(name)} ORDER BY created_at, id")

    def load_files(
        self,
        paths: str | Path | Iterable[str | Path],
        table: str = schema.CURRENT_TABLE,
        *,
        quiet: bool = False,
    ) -> LoadResult:
        """Load exported files into ``table``; see :func:`llamalog_analytics.load.load_files`."""
        from .load import load_files

        return load_files(self, paths, table, quiet=quiet)

    def attach(self, source: str | Path, table: str = schema.CURRENT_TABLE) -> LoadResult:
        """Make a folder (or glob) of Parquet files the log table ``table``, read in place; see
        :func:`llamalog_analytics.attach.attach`."""
        from .attach import attach

        return attach(self, source, table)

    def load_postgres(
        self,
        url: str | URL | Engine | None = None,
        *,
        table: str | None = None,
        schema: str | None = None,
        full: bool = False,
        streams: int | None = None,
        quiet: bool = False,
    ) -> LoadResult:
        """Load from a live PostgreSQL; see :func:`llamalog_analytics.postgres.load_postgres`."""
        from .postgres import load_postgres

        return load_postgres(self, url, table=table, schema=schema, full=full, streams=streams, quiet=quiet)

    def disappeared(self) -> pl.DataFrame:
        """Rows that were loaded from a database and later vanished from it: the load that found
        one gone, table, source, ``id``, ``created_at``, and ``restored_load``, the load that
        found it back (None while it is gone)."""
        restored = self.execute(  # a store last written by a version that did not mark them: none
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = 'restored_load'",
            [DISAPPEARED_TABLE],
        )[0][0]
        return self.frame(
            f"SELECT load_id, table_name, source, id, created_at, "
            f"{'restored_load' if restored else 'NULL::INTEGER AS restored_load'} "
            f"FROM {DISAPPEARED_TABLE} ORDER BY load_id, table_name, id"
        )

    def source_changes(self) -> pl.DataFrame:
        """The stored rows their source later changed or no longer has, one row each, as
        ``llamalog changes`` lists them: the load that found it, table, source, ``id``,
        ``created_at``, the ``change`` (``changed: COLUMNS``, ``gone``, or ``gone, back in load
        N``) and, for a changed row, its values before (``previous``, JSON); see :meth:`changed`
        and :meth:`disappeared`.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.sample_store() as store:
            ...     store.source_changes().columns
            ['load_id', 'table_name', 'source', 'id', 'created_at', 'change', 'previous']
        """
        import polars as pl

        columns = ["load_id", "table_name", "source", "id", "created_at"]
        with self.session():
            changed, gone = self.changed(), self.disappeared()
        back = pl.lit("gone, back in load ") + pl.col("restored_load").cast(pl.String)
        return pl.concat(
            [
                changed.select(
                    *columns,
                    change=pl.lit("changed: ") + pl.col("columns").list.join(", "),
                    previous="previous",
                ),
                gone.select(*columns, change=back.fill_null("gone"), previous=pl.lit(None, pl.String)),
            ]
        ).sort("load_id", "table_name", "id")

    def changed(self) -> pl.DataFrame:
        """Stored rows that their source later gave with other values (a row updated in the
        database, or in a file loaded again), as they were before: the load that found the
        change, table, source, ``id``, ``created_at``, the ``columns`` that changed, the load
        that had brought the row (``previous_load``) and every value then (``previous``, JSON).
        The table holds the new values."""
        self._require_bookkeeping()
        if not self.has_table(CHANGED_TABLE):  # last written before changed rows were kept
            with scratch_connection() as con:
                con.execute(CHANGED_DDL)
                return con.sql(f"SELECT * FROM {CHANGED_TABLE}").pl()
        return self.frame(f"SELECT * FROM {CHANGED_TABLE} ORDER BY load_id, table_name, id")

    def applied_migrations(self) -> dict[str, datetime]:
        """When each migration in the store's ``_prisma_migrations`` was applied (naive UTC), in
        the order they were applied; empty when that table is not loaded.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.sample_store() as store:
            ...     applied = store.applied_migrations()
            >>> list(applied)[:2]
            ['20251224191546_add_enrichment_log_model', '20251225001025_add_user_id_to_enrichment_log']
            >>> applied["20260209194819_rename_enrichmentlog_to_llamalog"]
            datetime.datetime(2026, 2, 10, 1, 48, 19)
        """
        if not self.has_table(MIGRATIONS_TABLE):
            return {}
        return dict(
            self.execute(
                f"SELECT migration_name, min(started_at) FROM {MIGRATIONS_TABLE} "
                "WHERE rolled_back_at IS NULL AND started_at IS NOT NULL GROUP BY ALL ORDER BY 2, 1"
            )
        )

    def loads(self) -> pl.DataFrame:
        """The load history: one row per source read (a file, or a database table), oldest first.

        Of its ``rows_read``, ``rows_inserted`` were new to the store, ``rows_changed`` replaced
        stored rows the source now gave with other values (kept as they were in :meth:`changed`,
        which they are counted from), ``rows_filled`` gave stored rows columns their load lacked,
        ``rows_repeated`` gave an id another row of the load gave alike, the rest of
        ``rows_loaded`` were stored already, unchanged,
        and ``rows_rejected`` could not be loaded (:meth:`rejects`); ``rows_disappeared`` counts
        the stored rows the source no longer had (:meth:`disappeared`).

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.LogStore() as store:
            ...     _ = store.load_files("tests/fixtures/rejects.csv", quiet=True)
            ...     store.loads()[["rows_read", "rows_inserted", "rows_changed", "rows_rejected"]].rows()
            [(10, 3, 0, 7)]
        """
        import polars as pl

        self._require_bookkeeping()
        changed = (  # a store written before changed rows were kept replaced none
            f"SELECT load_id, table_name, source, count(*) AS rows FROM {CHANGED_TABLE} GROUP BY ALL"
            if self.has_table(CHANGED_TABLE)
            else "SELECT NULL::INTEGER AS load_id, NULL AS table_name, NULL AS source, 0 AS rows"
        )
        loads = self.frame(
            f"""SELECT l.*, coalesce(c.rows, 0)::BIGINT AS rows_changed
FROM {LOADS_TABLE} AS l LEFT JOIN ({changed}) AS c USING (load_id, table_name, source)
ORDER BY l.load_id, l.source"""
        )
        counts = ("rows_changed", "rows_filled", "rows_repeated")  # beside the other row counts
        loads = loads.with_columns(  # none in a load recorded before they were
            pl.col(c).fill_null(0) if c in loads.columns else pl.lit(0, pl.Int64).alias(c) for c in counts[1:]
        )
        columns = [c for c in loads.columns if c not in counts]
        at = columns.index("rows_inserted") + 1
        return loads.select(*columns[:at], *counts, *columns[at:])

    def rejects(self, load_id: int | None = None) -> pl.DataFrame:
        """Rows that could not be loaded: the load, table and source, the row's number in the
        source (1 = its first row after any header), the column at fault (when one is), the
        reason and the row's raw text; of one load, or of every load.

        Raises:
            ArgumentError: ``load_id`` names no load of this store (the message lists them).

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.LogStore() as store:
            ...     result = store.load_files("tests/fixtures/rejects.csv", quiet=True)
            ...     store.rejects(result.load_id)[["row_number", "column_name"]].rows()[:2]
            [(2, 'id'), (3, 'created_at')]
        """
        self._require_bookkeeping()
        if load_id is not None:
            self._require_load(load_id)
        where = "" if load_id is None else "WHERE load_id = ?"
        params = [] if load_id is None else [load_id]
        return self.frame(
            f"SELECT * FROM {REJECTS_TABLE} {where} ORDER BY load_id, source, row_number", params
        )

    def _require_load(self, load_id: int) -> None:
        ids = [r[0] for r in self.execute(f"SELECT DISTINCT load_id FROM {LOADS_TABLE} ORDER BY 1")]
        if load_id in ids:
            return
        if not ids:
            raise ArgumentError(f"no load {load_id}: the store has no loads yet. Hint: llamalog load FILE")
        loads, which = (
            (f"its only load is {ids[0]}", "it")
            if len(ids) == 1
            else (f"its loads are {number_ranges(ids)}", "one of those")
        )
        raise ArgumentError(
            f"no load {load_id} in the store ({loads}). "
            f"Hint: pass {which}; llamalog info lists them with their files"
        )

    def _require_bookkeeping(self) -> None:
        if not self.has_table(LOADS_TABLE) or not self.has_table(REJECTS_TABLE):
            raise StoreError(
                f"{self.path or 'memory'}: not a LlamaLog store (no load history). "
                "Hint: open the .duckdb file llamalog load or llamalog demo wrote"
            )

    def require(self, name: str) -> None:
        """Raise :class:`StoreError`, naming the tables there are, unless ``name`` is a log table here."""
        tables = self.tables()
        if name not in tables:
            if made := self.made_empty():
                raise StoreError(f"no log table {name!r}: {made}")
            load = f"llamalog load FILE --as {name}"
            hint = (
                f"name one of them (table={tables[0]!r}, --table {tables[0]}), or load it: {load}"
                if tables
                else f"load it first, e.g. {load}"
            )
            have = ", ".join(tables) or "none yet"
            raise StoreError(f"no log table {name!r} in the store (tables: {have}). Hint: {hint}")

    def made_empty(self) -> str | None:
        """What to say of a store file this object made, while it holds no log table: a path
        typed wrong makes an empty store (``create=False`` refuses it instead); else None.

        Examples:
            >>> import pathlib, tempfile
            >>> folder = pathlib.Path(tempfile.mkdtemp())
            >>> LogStore(folder / "typo.duckdb").made_empty().split(". Hint:")[0][-52:]
            'typo.duckdb did not exist: opening it made it, empty'
        """
        if self.path is None or not self._created or self.tables():
            return None
        beside = stores_beside(self.path)
        there = f" (its folder has {', '.join(beside)})" if beside else ""
        return (
            f"{self.path} did not exist: opening it made it, empty{there}. Hint: check the path "
            "(LogStore(path, create=False) refuses one with no store), or load data into it"
        )

    def close(self) -> None:
        """Close an in-memory store (its tables go); a file store holds nothing between calls."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def _holds_nothing(self) -> bool:
        """Whether the database has no table but the empty bookkeeping ones."""
        names = [r[0] for r in self.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary")]
        if any(name not in _BOOKKEEPING for name in names):
            return False
        return not any(self.execute(f"SELECT count(*) FROM {quote(name)}")[0][0] for name in names)

    def _discard(self) -> None:
        """Close; and remove the file if this object created it and nothing was stored in it."""
        before = _file_state(self.path)  # what was found empty: another process may write after
        try:
            empty = self._created and not self.read_only and self._holds_nothing()
        except (duckdb.Error, StoreError):  # unreadable (an attached file changed): not empty
            empty = False
        self.close()
        if empty:
            self._remove_files(before)

    def _remove_files(self, seen: tuple[object, ...]) -> None:
        """Remove the store's file and its write-ahead log, unless it was written to since it was
        ``seen`` (its :func:`_file_state` then), or another store of this process or another
        process has it open. Other processes are kept out while it is compared and removed by
        locking it as DuckDB does (:func:`_locked_as_duckdb_locks`); a process that opened the
        file and has not locked it yet could still lock the removed file after, which no lock
        taken here can prevent."""
        if self.path is None or _OPEN_HERE.get(self._real_path):
            return
        with contextlib.suppress(OSError), _locked_as_duckdb_locks(self.path):  # else it stays
            if _file_state(self.path) == seen:
                for leftover in (Path(self.path), Path(self.path + ".wal")):
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._discard()
        else:
            self.close()

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"LogStore({self.path!r}{mode})"


_READING = (duckdb.StatementType.SELECT, duckdb.StatementType.SET)  # a SET changes only the connection


def _unopenable(path: str | None, exc: duckdb.Error) -> StoreError:
    return StoreError(
        f"{path}: cannot open the store ({str(exc).splitlines()[0]}). Hint: check the path, its "
        "permissions and free space, and that it is a DuckDB store file (llamalog.duckdb); files "
        "to read go to `llamalog load FILE --db STORE`"
    )


def unwritable_folder(path: str | None, said: str) -> Path | None:
    """The folder of the store file ``path`` when a write DuckDB refused with ``said`` (its
    error's first line) failed because one may not write in that folder: DuckDB writes its
    write-ahead log, ``PATH.wal``, beside the store, so a store file one may write in a folder one
    may not (a shared one) takes no change. None for any other failure.

    Examples:
        >>> said = 'Cannot open file "/gone/s.duckdb.wal": Permission denied'
        >>> unwritable_folder("/gone/s.duckdb", said)
        PosixPath('/gone')
        >>> print(unwritable_folder("/gone/s.duckdb", "No space left on device"))
        None
    """
    folder = Path(path).parent if path else None
    if folder is None or "permission denied" not in said.lower() or os.access(folder, os.W_OK):
        return None
    return folder


NO_ROOM = re.compile(r"no space left|file too large|disk quota", re.IGNORECASE)
"""What an error says when a write did not fit: the disk or a quota full, or a file size limit."""


def unwritten_file(said: str) -> tuple[Path, str] | None:
    """The file DuckDB could not write for want of room, and why, from its error's text
    ``said`` (where the name may come quoted inside a quoted message); None for any other
    failure, or when the error names no file.

    Examples:
        >>> said = 'IO Error: {"exception_message":"Could not write file \\"/x/9.parquet\\": File too large"}'
        >>> unwritten_file(said)
        (PosixPath('/x/9.parquet'), 'File too large')
        >>> print(unwritten_file('Could not write file "/x/9.parquet": Permission denied'))
        None
    """
    found = re.search(r'Could not write file "([^"]+)": ([^"]+)', said.replace('\\"', '"'))
    if found is None or not NO_ROOM.search(found.group(2)):
        return None
    return Path(found.group(1)), found.group(2)


def _lock_holder(said: str) -> str:
    """The process holding a store file's lock, from DuckDB's error ``said`` when it names one:
    its id and command line (on Linux; elsewhere its program), shortened to a line.

    Examples:
        >>> _lock_holder('Conflicting lock is held in /usr/bin/python3.11 (PID 0). See also ...')
        'process 0 (python3.11)'
        >>> _lock_holder("Could not set lock on file")
        'another process (a notebook or another llamalog command)'
    """
    found = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", said)
    if found is None:
        return "another process (a notebook or another llamalog command)"
    program, pid = found[1], found[2]
    try:  # Linux's record of its command line
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        words = []
    # the program and a script it runs by their names; each argument on one line, a password masked
    words = [
        Path(w).name if at < 2 and w.startswith("/") else _masked(" ".join(w.split()))
        for at, w in enumerate(words)
    ]
    command = shlex.join(words) if words else Path(program).name
    return f"process {pid} ({command if len(command) <= 100 else command[:99] + '…'})"


def _masked(word: str) -> str:
    """A command line's word with a database URL's password masked, as messages show URLs.

    Examples:
        >>> _masked("postgresql://app:s3cret@db/music"), _masked("--db")
        ('postgresql://app:***@db/music', '--db')
    """
    if "://" not in word:
        return word
    from ._pg_source import parse_url

    try:
        return parse_url(word).display
    except PostgresError:  # not a database URL, or not one to show: its scheme alone
        return word.partition("://")[0] + "://…"


@contextmanager
def _locked_as_duckdb_locks(path: str) -> Iterator[None]:
    """Hold the file ``path`` locked as DuckDB locks a database file for the ``with`` block:
    OSError if another process holds it (or it cannot be opened). Only where no store of this
    process has it open: closing the descriptor drops every lock this process holds on the file.
    Without POSIX locks (Windows) nothing is held: a file another process has open cannot be
    removed there anyway, nor one this process has open, so none is opened."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    handle = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(handle)


_OPEN_HERE: dict[str, int] = {}
"""How many sessions of this process's stores have each store file open, by its real path."""


def _file_state(path: str | None) -> tuple[object, ...]:
    """What a write by any process changes in a store file and its write-ahead log: inode, size
    and times, from ``stat`` alone. (Opening the file here would release DuckDB's lock on it:
    POSIX drops a process's locks on a file when any of its descriptors for it closes.)
    """
    if path is None:
        return ()
    state: list[object] = []
    for name in (path, path + ".wal"):
        try:
            info = os.stat(name)
            state += [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
        except FileNotFoundError:
            state.append(None)
    return tuple(state)


def stores_beside(path: str) -> list[str]:
    """Store files (``*.duckdb``) in the folder of ``path``, other than it: the demo's first,
    then by name; each as a path to open from here.

    Examples:
        >>> stores_beside("/nonexistent/folder/llamalog.duckdb")
        []
    """
    folder = Path(path).parent
    try:
        names = sorted(
            (f.name for f in folder.glob("*.duckdb") if f.is_file() and f.name != Path(path).name),
            key=lambda name: (name != DEMO_STORE, name),
        )
    except OSError:
        return []
    return [name if folder == Path() else str(folder / name) for name in names]


_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def _bytes(size: str) -> float:
    """A DuckDB memory size (``400MB``, ``2.7 GiB``) in bytes; anything else (no limit) is infinite.

    Examples:
        >>> _bytes("400MB"), _bytes("190.7 MiB") < _bytes("400MB"), _bytes("unlimited")
        (400000000.0, True, inf)
    """
    found = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", size)
    if found is None or found[2].upper() not in _UNITS:
        return float("inf")
    return float(found[1]) * _UNITS[found[2].upper()]


def require_store(store: object, function: str) -> None:
    """Raise :class:`ArgumentError` unless ``store`` is a :class:`LogStore` (a path to one is the
    usual slip), naming ``function`` as the caller wrote it.

    Examples:
        >>> require_store("llamalog.duckdb", "chain")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: chain() takes a LogStore, not the path \
'llamalog.duckdb'. Hint: open it first: store = lla.LogStore('llamalog.duckdb'), then lla.chain(store, ...)
    """
    if isinstance(store, LogStore):
        return
    if isinstance(store, str | os.PathLike):
        path = str(store)
        raise ArgumentError(
            f"{function}() takes a LogStore, not the path {path!r}. Hint: open it first: "
            f"store = lla.LogStore({path!r}), then lla.{function}(store, ...)"
        )
    raise ArgumentError(
        f"{function}() takes a LogStore, not a value of type {type(store).__name__}. Hint: "
        "lla.LogStore(path), "
        "or lla.sample_store() for the bundled sample"
    )
