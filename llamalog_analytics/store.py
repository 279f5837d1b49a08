"""The store: one DuckDB database holding LlamaLog tables, their load history and rejects."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from . import schema
from ._format import number_ranges
from ._sql import (
    BOOKKEEPING_DDL,
    COUNTERS_TABLE,
    DISAPPEARED_TABLE,
    LOAD_ID_COLUMN,
    LOADS_TABLE,
    REJECTS_TABLE,
    literal,
    quote,
)
from .errors import ArgumentError, StoreError, StoreLockedError, StoreNotFoundError

if TYPE_CHECKING:
    import polars as pl
    from sqlalchemy.engine import URL, Engine

    from .stage import LoadResult


_SCRATCH = itertools.count(1)
_BOOKKEEPING = (LOADS_TABLE, REJECTS_TABLE, DISAPPEARED_TABLE, COUNTERS_TABLE)
DEMO_STORE = "llamalog-demo.duckdb"  # where ``llamalog demo`` puts the sample


class LogStore:
    """A DuckDB database of LlamaLog tables (``llama_logs`` by default, ``enrichment_logs`` for a
    pre-migration snapshot), with a load history and the rows that could not be loaded.

    Args:
        path: a ``.duckdb`` file (created if missing), or None for an in-memory store. A file
            this object created is removed again when its ``with`` block ends in an error
            before anything was stored in it, so a failed first load leaves no empty store.
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

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.LogStore() as store:
        ...     _ = store.load_files("data/sample/llama_logs.parquet", quiet=True)
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
    ) -> None:
        self.path = None if path is None else str(path)
        self.read_only = read_only
        self.tracer = tracer
        self.changes = 0  # statements run here other than SELECTs: cached indexes check it
        self._bookkeeping = False  # inside bookkeeping(): writes touch no log table
        if self.path is None and read_only:
            raise StoreError("an in-memory store cannot be read-only. Hint: pass the store's path")
        if (read_only or not create) and self.path is not None and not Path(self.path).exists():
            raise StoreNotFoundError(str(self.path), stores_beside(str(self.path)))
        self._created = self.path is not None and not Path(self.path).exists()
        try:
            self.con = duckdb.connect(self.path or ":memory:", read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"{self.path}: the store is open in another process (a notebook or another "
                    "llamalog command), and a writer cannot share it. Hint: close it there; "
                    "readers share it, so to read it open it with LogStore(path, read_only=True)"
                ) from exc
            raise StoreError(f"{self.path}: cannot open the store ({exc})") from exc
        self.con.execute("SET TimeZone = 'UTC'")
        if memory_limit is not None:
            try:
                self.con.execute("SET memory_limit = ?", [memory_limit])
            except duckdb.Error as exc:
                self._discard()
                raise StoreError(
                    f"memory_limit={memory_limit!r}: {exc}. Hint: write it like 3GB or 500MB"
                ) from exc
        try:  # progress is polled by _progress.track, never printed by DuckDB itself
            self.con.execute("SET enable_progress_bar_print = false")
            self.con.execute("SET enable_progress_bar = true")
        except duckdb.InvalidInputException:  # Jupyter without ipywidgets: no progress bar
            pass
        if not read_only:
            for ddl in BOOKKEEPING_DDL:
                self.con.execute(ddl)

    def execute(self, sql: str, params: Iterable[object] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement (traced) and return all its result rows."""
        self._trace(sql, params)
        return self.con.execute(sql, list(params) if params is not None else None).fetchall()

    def frame(self, sql: str, params: Iterable[object] | None = None) -> pl.DataFrame:
        """Run a query and return its result as a polars DataFrame."""
        return self.relation(sql, params).pl()

    def relation(self, sql: str, params: Iterable[object] | None = None) -> duckdb.DuckDBPyRelation:
        """Run a query (traced) and return its DuckDB relation, to stream (``to_arrow_reader``),
        convert, or read its columns without fetching every row."""
        self._trace(sql, params)
        return self.con.sql(sql, params=list(params) if params is not None else None)

    @contextmanager
    def registered(self, name: str, data: object) -> Iterator[str]:
        """``data`` (an Arrow table or reader, a polars frame) readable as ``name`` in SQL for
        the ``with`` block; yields ``name``."""
        self.con.register(name, data)
        try:
            yield name
        finally:
            self.con.unregister(name)

    def progress(self, label: str, *, quiet: bool = False) -> contextlib.AbstractContextManager[None]:
        """A progress bar for the statements run inside the ``with`` block (nothing when ``quiet``)."""
        from ._progress import track

        return track(self.con, label, quiet=quiet)

    @contextmanager
    def temporary(self, sql: str, params: Iterable[object] | None = None) -> Iterator[str]:
        """A temporary table of ``sql``'s result, for the ``with`` block; yields its name.

        Scratch space for an analysis that asks several questions of one costly query (also on
        a read-only store). It is dropped afterward and is no change to the store's tables.
        """
        name = f"_llamalog_scratch_{next(_SCRATCH)}"
        create = f"CREATE TEMPORARY TABLE {name} AS {sql}"
        self._trace(create, params, changes=False)
        self.con.execute(create, list(params) if params is not None else None)
        try:
            yield name
        finally:
            self._trace(f"DROP TABLE IF EXISTS {name}", None, changes=False)
            self.con.execute(f"DROP TABLE IF EXISTS {name}")

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
        try:
            for statement in statements:
                self._trace(statement, None, changes=False)
                self.con.execute(statement)
        finally:
            self._trace(f"DETACH DATABASE IF EXISTS {alias}", None, changes=False)
            self.con.execute(f"DETACH DATABASE IF EXISTS {alias}")

    @contextmanager
    def bookkeeping(self) -> Iterator[None]:
        """Statements run inside write only the store's own records (its audit history), never a
        log table, so indexes built on the log tables stay valid."""
        self._bookkeeping = True
        try:
            yield
        finally:
            self._bookkeeping = False

    def _trace(self, sql: str, params: Iterable[object] | None, *, changes: bool = True) -> None:
        if self.tracer is not None:
            self.tracer(sql, params)
        if not changes or self._bookkeeping:
            return
        if any(s.type != duckdb.StatementType.SELECT for s in self.con.extract_statements(sql)):
            self.changes += 1

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

    def table(self, name: str = schema.CURRENT_TABLE) -> pl.DataFrame:
        """A log table's canonical columns, ordered by ``created_at`` then ``id``."""
        self.require(name)
        columns = ", ".join(quote(c) for c in schema.COLUMN_NAMES)
        return self.frame(f"SELECT {columns} FROM {quote(name)} ORDER BY created_at, id")

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
        """Rows that were loaded from a database and later vanished from it."""
        return self.frame("SELECT * FROM _llamalog_disappeared ORDER BY load_id, table_name, id")

    def loads(self) -> pl.DataFrame:
        """The load history: one row per file loaded, oldest first."""
        self._require_bookkeeping()
        return self.frame(f"SELECT * FROM {LOADS_TABLE} ORDER BY load_id, source")

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
        if name not in self.tables():
            have = ", ".join(self.tables()) or "none yet"
            raise StoreError(
                f"no log table {name!r} in the store (tables: {have}). "
                "Hint: load it first, e.g. llamalog load FILE --as " + name
            )

    def close(self) -> None:
        """Close the connection; the store file keeps everything committed."""
        self.con.close()

    def _holds_nothing(self) -> bool:
        """Whether the database has no table but the empty bookkeeping ones."""
        names = [r[0] for r in self.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary")]
        if any(name not in _BOOKKEEPING for name in names):
            return False
        return not any(self.execute(f"SELECT count(*) FROM {quote(name)}")[0][0] for name in names)

    def _discard(self) -> None:
        """Close; and remove the file if this object created it and nothing was stored in it."""
        try:
            empty = self._created and not self.read_only and self._holds_nothing()
        except duckdb.Error:
            empty = False
        self.close()
        if empty and self.path is not None:
            for leftover in (Path(self.path), Path(self.path + ".wal")):
                with contextlib.suppress(OSError):
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
