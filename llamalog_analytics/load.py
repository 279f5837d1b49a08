"""Load exported files into a store (see :mod:`~llamalog_analytics.stage` for the transaction).

Everything runs as DuckDB SQL, and one call is one transaction: the whole call is loaded, or
nothing is, and rows read = rows loaded + rows rejected for every file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from . import _readers, schema
from ._convert import from_text
from ._sql import MIGRATIONS_TABLE, literal, quote
from .errors import SourceError
from .stage import LoadResult, Stage

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
        ...     result = store.load_files("data/sample/llama_logs.csv.gz", quiet=True)
        ...     result.rows_read == result.rows_loaded + result.rows_rejected
        True
    """
    files = _readers.expand(paths)
    if table == MIGRATIONS_TABLE:
        return _load_migrations(store, files)
    with Stage(store) as stage:
        for path in files:
            stage.add(table, _readers.reader(store, path), quiet=quiet)
        return stage.commit()


def _load_migrations(store: LogStore, files: list[str]) -> LoadResult:
    """Replace ``_prisma_migrations`` with an export of Prisma's table (any one format)."""
    functions = {"csv": "read_csv", "parquet": "read_parquet", "ndjson": "read_json", "json": "read_json"}
    selects = []
    for path in files:
        source = f"{functions[_readers.detect_format(path)]}({literal(path)})"
        relation = store.relation(f"SELECT * FROM {source}")
        missing = [c for c in ("migration_name", "started_at", "finished_at") if c not in relation.columns]
        if missing:
            raise SourceError(
                f"{path}: not an export of _prisma_migrations, it lacks {', '.join(missing)}. "
                "Hint: export it with psql -c '\\copy _prisma_migrations TO file.csv CSV HEADER'"
            )
        selects.append(
            f"""SELECT {_optional(relation, "id")} AS id, {_optional(relation, "checksum")} AS checksum,
  {_timestamp("finished_at")} AS finished_at, migration_name::VARCHAR AS migration_name,
  {_optional(relation, "logs")} AS logs, {_timestamp("rolled_back_at", relation)} AS rolled_back_at,
  {_timestamp("started_at")} AS started_at,
  {_optional(relation, "applied_steps_count", "INTEGER")} AS applied_steps_count
FROM {source}"""
        )
    union = " UNION ALL ".join(selects) + " ORDER BY started_at, migration_name"
    with Stage(store) as stage:
        return stage.commit(replace_tables={MIGRATIONS_TABLE: store.relation(union).to_arrow_table()})


def _optional(relation: duckdb.DuckDBPyRelation, column: str, type_: str = "VARCHAR") -> str:
    if column not in relation.columns:
        return f"NULL::{type_}"
    return f"TRY_CAST({quote(column)} AS {type_})"


def _timestamp(column: str, relation: duckdb.DuckDBPyRelation | None = None) -> str:
    if relation is not None and column not in relation.columns:
        return "NULL::TIMESTAMP"
    return from_text("TIMESTAMP", f"{quote(column)}::VARCHAR")
