"""Load exported files into a store (see :mod:`~llamalog_analytics.stage` for the transaction).

Everything runs as DuckDB SQL, and one call is one transaction: the whole call is loaded, or
nothing is, and rows read = rows loaded + rows rejected for every file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from . import _readers, schema
from ._convert import from_text
from ._format import count
from ._sql import MIGRATION_COLUMNS_NEEDED, MIGRATIONS_TABLE, quote
from .errors import SourceError
from .stage import LoadResult, SourceLoad, Stage, parser_rejects

if TYPE_CHECKING:
    from .store import LogStore


def load_files(
    store: LogStore,
    paths: str | Path | Iterable[str | Path],
    table: str = schema.CURRENT_TABLE,
    *,
    quiet: bool = False,
) -> LoadResult:
    """Load exported files (CSV, Parquet, NDJSON, JSON arrays; globs allowed) into ``table``.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.LogStore() as store:
        ...     result = store.load_files(lla.sample_path("llama_logs.csv.gz"), quiet=True)
        ...     result.rows_read == result.rows_loaded + result.rows_rejected
        True
    """
    files = _readers.expand(paths)
    if table == MIGRATIONS_TABLE:
        with store.session(write=True):
            return _load_migrations(store, files)
    with Stage(store) as stage:
        for path in files:
            stage.add(table, _readers.reader(store, path), quiet=quiet)
        return stage.commit()


def _load_migrations(store: LogStore, files: list[str]) -> LoadResult:
    """Replace ``_prisma_migrations`` with an export of Prisma's table (any one format).

    The table is replaced whole, so a file is loaded whole or not at all: a line the CSV parser
    cannot split is an error, not a reject, as a history missing a migration would misdate the
    audit's checks.
    """
    selects, read = [], []
    for path in files:
        with _failing_as(path):
            fmt, source = _readers.table_source(store, path)
            relation = store.relation(f"SELECT * FROM {source}")
            rows = store.execute(f"SELECT count(*) FROM {source}")[0][0]
        if fmt == "csv":
            _refuse_unsplit_lines(store, path)
        missing = [c for c in MIGRATION_COLUMNS_NEEDED if c not in relation.columns]
        if missing:
            raise SourceError(
                f"{path}: not an export of _prisma_migrations, it lacks {', '.join(missing)}. "
                "Hint: export it with psql -c '\\copy _prisma_migrations TO file.csv CSV HEADER'"
            )
        read.append((path, fmt, rows, tuple(c for c in _MIGRATION_COLUMNS if c not in relation.columns)))
        selects.append(
            f"""SELECT {_optional(relation, "id")} AS id, {_optional(relation, "checksum")} AS checksum,
  {_timestamp("finished_at")} AS finished_at, migration_name::VARCHAR AS migration_name,
  {_optional(relation, "logs")} AS logs, {_timestamp("rolled_back_at", relation)} AS rolled_back_at,
  {_timestamp("started_at")} AS started_at,
  {_optional(relation, "applied_steps_count", "INTEGER")} AS applied_steps_count,
  {len(read) - 1} AS _file
FROM {source}"""
        )
    union = " UNION ALL ".join(selects) + " ORDER BY started_at, migration_name"
    with _failing_as(", ".join(files)):
        data = store.relation(union).to_arrow_table()
    stored: set[str] = set()
    if store.has_table(MIGRATIONS_TABLE):
        stored = {r[0] for r in store.execute(f"SELECT migration_name FROM {MIGRATIONS_TABLE}")}
    names, numbers = data.column("migration_name").to_pylist(), data.column("_file").to_pylist()
    replaced_from = [
        SourceLoad(
            source=_readers.file_source(path),
            format=fmt,
            table=MIGRATIONS_TABLE,
            rows_read=rows,
            rows_loaded=rows,
            rows_inserted=sum(1 for n, f in zip(names, numbers, strict=True) if f == i and n not in stored),
            rows_rejected=0,
            columns_absent=absent,
            unknown_labels={},
            notes=("replaces the table's previous contents",),
        )
        for i, (path, fmt, rows, absent) in enumerate(read)
    ]
    with Stage(store) as stage:
        return stage.commit(
            replace_tables={MIGRATIONS_TABLE: data.drop(["_file"])}, replaced_from=replaced_from
        )


_MIGRATION_COLUMNS = (
    "id",
    "checksum",
    "finished_at",
    "migration_name",
    "logs",
    "rolled_back_at",
    "started_at",
    "applied_steps_count",
)


def _refuse_unsplit_lines(store: LogStore, path: str) -> None:
    """Raise, naming the first line the CSV parser could not split, if there is one."""
    with parser_rejects(store, path, "csv") as rejects:
        if rejects is None:
            return
        lines, reason = store.execute(f"SELECT count(*), first(reason ORDER BY line) FROM {rejects}")[0]
    more = f" (and {count(lines - 1, 'more line')})" if lines > 1 else ""
    raise SourceError(
        f"{reason}{more}; the store is unchanged. Hint: _prisma_migrations is replaced whole, so export "
        "it again in full: psql -c '\\copy _prisma_migrations TO file.csv CSV HEADER'"
    )


@contextlib.contextmanager
def _failing_as(what: str) -> Iterator[None]:
    try:
        yield
    except _readers.READ_FAILURES as exc:
        raise SourceError(
            f"{what}: cannot read it as an export of _prisma_migrations "
            f"({str(exc).splitlines()[0]}); the store is unchanged. Hint: check the file is complete "
            "and in the format its suffix says"
        ) from exc


def _optional(relation: duckdb.DuckDBPyRelation, column: str, type_: str = "VARCHAR") -> str:
    if column not in relation.columns:
        return f"NULL::{type_}"
    return f"TRY_CAST({quote(column)} AS {type_})"


def _timestamp(column: str, relation: duckdb.DuckDBPyRelation | None = None) -> str:
    if relation is not None and column not in relation.columns:
        return "NULL::TIMESTAMP"
    return from_text("TIMESTAMP", f"{quote(column)}::VARCHAR")
