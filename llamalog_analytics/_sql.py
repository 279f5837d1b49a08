"""Small SQL helpers: identifier quoting, the DDL derived from the schema, scratch connections."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .schema import COLUMNS, Column

if TYPE_CHECKING:
    import duckdb

LOADS_TABLE = "_llamalog_loads"
ATTACHED_FILES_TABLE = "_llamalog_attached_files"
REJECTS_TABLE = "_llamalog_rejects"
DISAPPEARED_TABLE = "_llamalog_disappeared"
STILL_GONE = "restored_load IS NULL"  # a row of the disappeared table its source has not given back
CHANGED_TABLE = "_llamalog_changed"  # stored rows their source changed, as they were before
COUNTERS_TABLE = "_llamalog_source_counters"
MIGRATIONS_TABLE = "_prisma_migrations"
MIGRATION_COLUMNS_NEEDED = ("migration_name", "started_at", "finished_at")  # what dates the migrations
STAGE_TABLE = "_llamalog_stage"  # a load's rows, typed and checked, before they are written
STRUCTURAL_TABLE = "_llamalog_structural"  # a load's lines the CSV parser could not split
LOAD_ID_COLUMN = "_load_id"
AUDITS_TABLE = "_llamalog_audits"  # one row per recorded ``verify`` run (see audit/history.py)
AUDIT_CHECKS_TABLE = "_llamalog_audit_checks"  # each recorded run's checks: status and count
AUDIT_IDS_TABLE = "_llamalog_audit_ids"  # each recorded run's offending ids, per check


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB (or PostgreSQL: the same rule).

    Examples:
        >>> quote('llama_logs'), quote('we"ird')
        ('"llama_logs"', '"we""ird"')
    """
    return '"' + identifier.replace('"', '""') + '"'


LOW_64 = (1 << 64) - 1  # a UUID's low 64 bits


def uuid_half(column: str, half: str) -> str:
    """SQL for one 64-bit half (``high`` or ``low``) of a UUID column, as an unsigned integer.

    Examples:
        >>> uuid_half("id", "low")
        '("id"::UHUGEINT & 18446744073709551615)::UBIGINT'
    """
    shifted = {"high": f"{quote(column)}::UHUGEINT >> 64", "low": f"{quote(column)}::UHUGEINT & {LOW_64}"}
    return f"({shifted[half]})::UBIGINT"


def uuid_halves(column: str, *halves: str) -> str:
    """:func:`uuid_half` of each of ``halves``, named ``_{column}_{half}``: ordering by the two
    (unsigned) orders as the UUIDs do.

    Examples:
        >>> uuid_halves("id", "low")
        '("id"::UHUGEINT & 18446744073709551615)::UBIGINT AS _id_low'
    """
    return ", ".join(f"{uuid_half(column, half)} AS _{column}_{half}" for half in halves)


def literal(text: str) -> str:
    """Quote a string literal, for the few places DuckDB takes no parameter.

    Examples:
        >>> literal("it's")
        "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def json_text(fields: Iterable[tuple[str, str]]) -> str:
    """SQL for a JSON object as text from (key, SQL expression) pairs: how a row is kept raw.

    Examples:
        >>> json_text([("id", "p0"), ("it's", "p1")])
        "CAST(to_json({'id': p0, 'it''s': p1}) AS VARCHAR)"
    """
    body = ", ".join(f"{literal(key)}: {value}" for key, value in fields)
    return f"CAST(to_json({{{body}}}) AS VARCHAR)"


def json_differs(x: str, y: str) -> str:
    """SQL: whether the JSON expressions ``x`` and ``y`` hold different values. Neither spacing
    nor the order of an object's keys counts (PostgreSQL's ``jsonb`` writes ``{"a": 1}`` with a
    space, and its keys shortest first; a file may have neither), numbers compare by value
    (``1.0``, ``1e0`` and ``1`` alike), an array's order counts, a boolean is not a number and
    SQL NULL differs from JSON null. Each value's nodes are listed only where the compacted
    texts differ: DuckDB runs a correlated subquery for every row, needed or not, and listing
    a value's nodes costs 10 µs or so.

    Examples:
        >>> import duckdb
        >>> def differ(x, y):
        ...     sql = "SELECT " + json_differs("$1::JSON", "$2::JSON")
        ...     return duckdb.sql(sql, params=[x, y]).fetchall()[0][0]
        >>> differ('{"b": [1, {"d": null, "c": "x"}], "a": 2}', '{"a":2,"b":[1,{"c":"x","d":1e-0}]}')
        True
        >>> differ('{"b": [1, {"d": null, "c": 1.0}], "a": 2}', '{"a":2,"b":[1,{"c":1e0,"d":null}]}')
        False
        >>> differ('{"b": [1, 2]}', '{"b": [2, 1]}'), differ('[true]', '[1]'), differ("null", None)
        (True, True, True)
    """

    texts_differ = f"json({x}) IS DISTINCT FROM json({y})"

    def nodes(value: str) -> str:  # every node by its path, kind and value, sorted
        tree = f"json_tree(CASE WHEN {texts_differ} THEN {value} END)"
        return f"(SELECT list_sort(list(fullkey || ' ' || {_JSON_NODE})) FROM {tree})"

    return f"({texts_differ} AND {nodes(x)} IS DISTINCT FROM {nodes(y)})"


# A json_tree node's kind and value: a number as ``number`` and its value (a whole one as an
# integer; integers past 64 bits are read as doubles, so compare as doubles), anything else as its
# type and text.
_JSON_NODE = """CASE
  WHEN type IN ('BIGINT', 'UBIGINT') THEN 'number ' || atom::VARCHAR
  WHEN type <> 'DOUBLE' THEN type || ' ' || coalesce(atom::VARCHAR, '')
  WHEN atom::DOUBLE = trunc(atom::DOUBLE) AND abs(atom::DOUBLE) < 9007199254740992
    THEN 'number ' || atom::DOUBLE::BIGINT::VARCHAR
  ELSE 'number ' || atom::DOUBLE::VARCHAR END"""


def data_table_ddl(table: str) -> str:
    """``CREATE TABLE`` for a log table: the 28 canonical columns plus the load that brought each row."""
    columns = ",\n  ".join(f"{quote(c.name)} {c.type}" for c in COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {quote(table)} (\n  {columns},\n  {LOAD_ID_COLUMN} INTEGER NOT NULL\n)"
    )


ATTACHED = "parquet, attached"  # the load format recorded for a table attached from Parquet files

# Stored rows their source later gave with other values, as they were (see _duplicates.py).
CHANGED_DDL = f"""CREATE TABLE IF NOT EXISTS {CHANGED_TABLE} (
  load_id INTEGER NOT NULL,
  table_name VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  id UUID NOT NULL,
  created_at TIMESTAMP NOT NULL,
  columns VARCHAR[] NOT NULL,
  previous_load INTEGER NOT NULL,
  previous JSON NOT NULL
)"""

BOOKKEEPING_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {LOADS_TABLE} (
  load_id INTEGER NOT NULL,
  table_name VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  format VARCHAR NOT NULL,
  loaded_at TIMESTAMP NOT NULL,
  rows_read BIGINT NOT NULL,
  rows_loaded BIGINT NOT NULL,
  rows_inserted BIGINT NOT NULL,
  rows_rejected BIGINT NOT NULL,
  rows_disappeared BIGINT NOT NULL,
  columns_absent VARCHAR[] NOT NULL,
  unknown_labels JSON,
  notes VARCHAR[] NOT NULL
)""",
    f"""CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (
  load_id INTEGER NOT NULL,
  table_name VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  row_number BIGINT,
  column_name VARCHAR,
  reason VARCHAR NOT NULL,
  raw VARCHAR
)""",
    f"""CREATE TABLE IF NOT EXISTS {DISAPPEARED_TABLE} (
  load_id INTEGER NOT NULL,
  table_name VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  id UUID NOT NULL,
  created_at TIMESTAMP NOT NULL
)""",
    # the load that found the row back in its source; NULL while it is gone
    f"ALTER TABLE {DISAPPEARED_TABLE} ADD COLUMN IF NOT EXISTS restored_load INTEGER",
    # rows given columns their load lacked, and ids given twice by one load (NULL: recorded before)
    f"ALTER TABLE {LOADS_TABLE} ADD COLUMN IF NOT EXISTS rows_filled BIGINT",
    f"ALTER TABLE {LOADS_TABLE} ADD COLUMN IF NOT EXISTS rows_repeated BIGINT",
    CHANGED_DDL,
    # The files each attached table reads, as they were when attached (see attach.py).
    f"""CREATE TABLE IF NOT EXISTS {ATTACHED_FILES_TABLE} (
  table_name VARCHAR NOT NULL,
  file VARCHAR NOT NULL,
  size BIGINT NOT NULL,
  modified_ns BIGINT NOT NULL
)""",
    # PostgreSQL's activity counters for a source table as each load saw them (see postgres.py).
    f"""CREATE TABLE IF NOT EXISTS {COUNTERS_TABLE} (
  load_id INTEGER NOT NULL,
  table_name VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  inserted BIGINT NOT NULL,
  deleted BIGINT NOT NULL,
  filenode BIGINT NOT NULL,
  epoch VARCHAR NOT NULL
)""",
    f"ALTER TABLE {COUNTERS_TABLE} ADD COLUMN IF NOT EXISTS updated BIGINT",  # NULL: recorded before it
)


# The audit history, made by the first recorded ``verify`` (a store that was never audited has none).
AUDIT_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {AUDITS_TABLE} (
  run_id INTEGER NOT NULL,
  ran_at TIMESTAMP NOT NULL,
  version VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  tables JSON NOT NULL,
  parameters JSON NOT NULL
)""",
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_CHECKS_TABLE} (
  run_id INTEGER NOT NULL,
  position INTEGER NOT NULL,
  check_name VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  count BIGINT NOT NULL
)""",
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_IDS_TABLE} (
  run_id INTEGER NOT NULL,
  check_name VARCHAR NOT NULL,
  id UUID NOT NULL
)""",
)


def scratch_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for work on frames outside a store: UTC, at most 3 GB
    before spilling to the temp directory, and silent (DuckDB's own progress bar would print
    into the caller's output).

    Examples:
        >>> settings = "current_setting('TimeZone'), current_setting('enable_progress_bar')"
        >>> with scratch_connection() as con:
        ...     con.execute(f"SELECT {settings}").fetchone()
        ('UTC', False)
    """
    import duckdb

    con = duckdb.connect(config={"memory_limit": "3GB", "temp_directory": tempfile.gettempdir()})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def hash_input(c: Column) -> str:
    """SQL for column ``c`` as a row's hash takes it: a list with its length (DuckDB hashes NULL,
    [] and [NULL] alike). JSON is hashed as stored: the same value spaced or ordered otherwise
    (a file's compacted, PostgreSQL's as ``jsonb`` writes it) hashes apart, and a load then
    compares those rows value by value; compacting every value here would cost every load that
    compares rows (``json()``: 0.1 s per million values) for that rare case.

    Examples:
        >>> from llamalog_analytics import schema
        >>> hash_input(schema.column("sources")), hash_input(schema.column("status"))
        ('"sources", len("sources")', '"status"')
    """
    return f"{quote(c.name)}, len({quote(c.name)})" if c.type.endswith("[]") else quote(c.name)
