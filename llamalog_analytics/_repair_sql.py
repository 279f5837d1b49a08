"""A repair plan as PostgreSQL 15: ``migration.sql`` and ``rollback.sql`` for the upstream table.

Both files are UTF-8 and say so first (``SET client_encoding``), so a psql whose locale has
another encoding reads their text as written. They carry the plan's changes as rows of a
temporary table, ``llamalog_repair``, each value a text literal quoted by :mod:`psycopg.sql`
(never by hand); every statement after that reads the table and casts each value to its
column's type (:attr:`Column.postgres`): one guarded ``UPDATE`` per column, one ``INSERT … ON
CONFLICT DO NOTHING`` for restored rows, and a last block that raises an exception, undoing
everything, if a change that applied did not leave the value the plan says.

The application may keep writing meanwhile: the planned rows are locked (``FOR UPDATE``) before
anything is decided about them, so a write to one waits until the file commits, and one that
committed first is seen. A row someone changed since the audit is left alone as a whole, and a
notice counts and names them; so does one for the rows that already were as the file leaves
them (the file was applied before), and one for the rows whose planned values name a row gone
from a table the log table's foreign keys reference (a deleted user or album). On a database
that has none of the rows the audit saw (another environment the migration is deployed to),
nothing is changed, and a notice says why.

Examples:
    >>> print(quoted("it's a \\\\ $$"))
     E'it''s a \\\\ $$'
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import polars as pl
from psycopg import sql

from . import schema

PLAN_TABLE = "llamalog_repair"
LEFT_TABLE = "llamalog_repair_left_alone"  # planned rows a file leaves whole, and why (changed, orphaned)
BATCH = 1_000  # plan rows per INSERT statement
_PLAN_COLUMNS = ("action", "check_name", "id", "column_name", "value_now", "value_after")
_TYPES = {c.name: c.postgres for c in schema.COLUMNS}
_VALUE_COLUMNS = [c.name for c in schema.COLUMNS[1:]]  # a restored row's lines: every column but id
ENCODING = (
    "-- The file is UTF-8: psql reads it so whatever its locale's encoding (as pg_dump's files do).\n"
    "SET client_encoding = 'UTF8';"
)


@lru_cache(maxsize=65_536)
def quoted(value: str | None) -> str:
    """``value`` as a PostgreSQL literal (``NULL`` for None), by psycopg's quoting."""
    return sql.Literal(value).as_string(None)


def identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier, by psycopg's quoting."""
    return sql.Identifier(name).as_string(None)


def script(changes: pl.DataFrame, table: str, header: str, audited_rows: list[str], *, rollback: bool) -> str:
    """The whole file: ``header`` (comment lines), then one transaction that applies ``changes``
    to ``table`` (``rollback=False``) or undoes them (``rollback=True``), on a database that
    has at least one of ``audited_rows`` (ids of rows the audit saw)."""
    target = identifier(table)
    columns = changes.filter(pl.col("action") == "set")["column"].unique(maintain_order=True).to_list()
    parts = [header, ENCODING, "BEGIN;", _plan_table(changes)]
    parts += [_audited_database(target, audited_rows)] if audited_rows else []
    parts += [
        _locked(target),
        _left_alone(target, columns, rollback=rollback),
        _orphaned(target, rollback=rollback),
    ]
    parts += [_already(target, changes, rollback=rollback)]
    if rollback:
        parts += [_restored_deleted(target)] if _has_inserts(changes) else []
        parts += [_set(target, column, undo=True) for column in columns]
    else:
        parts += [_set(target, column, undo=False) for column in columns]
        parts += [_restored_inserted(target)] if _has_inserts(changes) else []
    parts += [_verification(target, changes, rollback=rollback), "COMMIT;", ""]
    return "\n\n".join(parts)


def _has_inserts(changes: pl.DataFrame) -> bool:
    return bool((changes["action"] == "insert").any())


def _plan_table(changes: pl.DataFrame) -> str:
    create = (
        f"CREATE TEMPORARY TABLE {PLAN_TABLE} (\n  action text NOT NULL, check_name text NOT NULL, "
        "id uuid NOT NULL,\n  column_name text NOT NULL, value_now text, value_after text\n) ON COMMIT DROP;"
    )
    return "\n\n".join([create, *_inserts(changes)])


def _inserts(changes: pl.DataFrame) -> Iterator[str]:
    head = f"INSERT INTO {PLAN_TABLE} ({', '.join(_PLAN_COLUMNS)}) VALUES\n"
    rows = changes.select("action", "check", "id", "column", "value_now", "value_after").iter_rows()
    batch: list[str] = []
    for row in rows:
        batch.append("(" + ", ".join(quoted(v) for v in row) + ")")
        if len(batch) == BATCH:
            yield head + ",\n".join(batch) + ";"
            batch = []
    if batch:
        yield head + ",\n".join(batch) + ";"


def _audited_database(target: str, audited_rows: list[str]) -> str:
    """Empty the plan, so that the file changes nothing, on a database that has none of
    ``audited_rows``: not the one audited (a migration folder is deployed to every environment)."""
    ids = ",\n    ".join(f"{quoted(i)}::uuid" for i in audited_rows)
    return f"""DO $llamalog$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM {target} WHERE id IN (
    {ids})) THEN
    DELETE FROM {PLAN_TABLE};
    RAISE NOTICE 'llamalog repair: this table has none of the {len(audited_rows)} rows the audit saw, '
      'so it is not the database audited; nothing was changed';
  END IF;
END
$llamalog$;"""


def _locked(target: str) -> str:
    """Lock the planned rows the table has, in id order, until the transaction ends: the
    application's writes to them wait for it, so the rows the next statements choose to leave
    alone and the rows they change are the same rows in the same state. A write that committed
    first is seen, and its row left alone. A restored row is locked where it is there (rolling
    back, before it is deleted); where it is not, ``ON CONFLICT`` waits for an insert of its id."""
    return f"""DO $llamalog$
BEGIN
  -- Lock the planned rows until COMMIT: the application's writes to them wait for this file.
  PERFORM 1 FROM {target} AS t WHERE t.id IN (SELECT id FROM {PLAN_TABLE}) ORDER BY t.id FOR UPDATE;
END
$llamalog$;"""


def _left_alone(target: str, columns: list[str], *, rollback: bool) -> str:
    """A table of the planned ``set`` rows this file leaves whole: rows no longer there, and rows
    where a planned column holds neither the value this file replaces nor the one it sets
    (someone changed it since the audit). A column that already holds the value this file sets
    does not hold a row back."""
    if not columns:
        return f"CREATE TEMPORARY TABLE {LEFT_TABLE} (id uuid, why text) ON COMMIT DROP;"
    replaced, value = ("r.value_after", "r.value_now") if rollback else ("r.value_now", "r.value_after")
    expected = f"({_holds(replaced, columns)}\n    OR {_holds(value, columns)})"
    return f"""CREATE TEMPORARY TABLE {LEFT_TABLE} ON COMMIT DROP AS
SELECT r.id, 'changed' AS why
FROM {PLAN_TABLE} AS r LEFT JOIN {target} AS t ON t.id = r.id
WHERE r.action = 'set' GROUP BY r.id
HAVING NOT coalesce(bool_and(t.id IS NOT NULL AND {expected}), false);"""


def _orphaned(target: str, *, rollback: bool) -> str:
    """Planned rows that would set a value naming a row no longer in a table the log table's
    foreign keys reference (upstream: an album, artist or track deleted, which deletes its rows,
    or a user, which sets ``user_id`` to NULL): left whole (:data:`LEFT_TABLE`, why
    ``orphaned``), and a notice counts and names them. The foreign keys are read from the
    database, whichever it has, so a row deleted before the file ran fails none of them (one
    deleted while it runs, between this check and the changes, still would)."""
    value = "value_now" if rollback else "value_after"
    scope = " AND r.action = 'set'" if rollback else ""  # rolling back, a restored row is deleted
    orphans = (
        f"INSERT INTO {LEFT_TABLE} SELECT DISTINCT r.id, 'orphaned' FROM {PLAN_TABLE} AS r "
        f"WHERE r.column_name = %L AND r.{value} IS NOT NULL{scope} "
        f"AND NOT EXISTS (SELECT 1 FROM %s AS p WHERE p.%I = r.{value}::%s) "
        f"AND r.id NOT IN (SELECT id FROM {LEFT_TABLE})"
    )
    return f"""DO $llamalog$
DECLARE
  link record;
  rows_orphaned uuid[];
BEGIN
  FOR link IN  -- the table's single-column foreign keys
    SELECT a.attname AS column_name, c.confrelid::regclass AS parent, p.attname AS parent_column,
      format_type(p.atttypid, p.atttypmod) AS parent_type
    FROM pg_constraint AS c
    JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    JOIN pg_attribute AS p ON p.attrelid = c.confrelid AND p.attnum = c.confkey[1]
    WHERE c.conrelid = {quoted(target)}::regclass AND c.contype = 'f' AND cardinality(c.conkey) = 1
  LOOP
    EXECUTE format({quoted(orphans)},
      link.column_name, link.parent, link.parent_column, link.parent_type);
  END LOOP;
  SELECT array_agg(id ORDER BY id) INTO rows_orphaned FROM {LEFT_TABLE} WHERE why = 'orphaned';
  IF rows_orphaned IS NOT NULL THEN
    RAISE NOTICE 'llamalog repair: planned rows naming an album, artist, track or user that is gone '
      '(their foreign key would fail), left alone, each as a whole: % (%)',
      {_named("rows_orphaned")};
  END IF;
END
$llamalog$;"""


def _already(target: str, changes: pl.DataFrame, *, rollback: bool) -> str:
    """A notice counting and naming the planned rows already as this file leaves them, before
    it changes anything: every planned column holding the value it sets, a restored row there
    as restored (rolling back: gone). A run of a file applied before (by Prisma, then by hand
    with psql) says so, rather than nothing."""
    columns = changes["column"].unique().sort().to_list()
    if rollback:
        held = (
            "CASE WHEN r.action = 'insert' THEN t.id IS NULL\n"
            f"      ELSE t.id IS NOT NULL AND {_holds('r.value_now', columns)} END"
        )
    else:
        held = f"t.id IS NOT NULL AND {_holds('r.value_after', columns)}"
    return f"""DO $llamalog$
DECLARE
  rows_already uuid[];
BEGIN
  SELECT array_agg(id ORDER BY id) INTO rows_already FROM (
    SELECT r.id FROM {PLAN_TABLE} AS r LEFT JOIN {target} AS t ON t.id = r.id
    GROUP BY r.id HAVING bool_and({held})) AS already;
  IF rows_already IS NOT NULL THEN
    RAISE NOTICE 'llamalog repair: planned rows already as this file leaves them before it ran '
      '(the file was applied before, or they were changed so since the audit): % (%)',
      {_named("rows_already")};
  END IF;
END
$llamalog$;"""


def _typed(value: str, column: str) -> str:
    """The plan's text ``value`` (``r.value_now`` or ``r.value_after``) cast to ``column``'s type."""
    return f"{value}::{_TYPES[column]}"


def _set(target: str, column: str, *, undo: bool) -> str:
    """One column's changes: each row set to its planned value where it still holds the value
    the plan expects to replace (the audit's value; for a rollback, the planned one), unless the
    row is left whole (:func:`_left_alone`)."""
    new, old = ("r.value_now", "r.value_after") if undo else ("r.value_after", "r.value_now")
    name = identifier(column)
    return (
        f"UPDATE {target} AS t SET {name} = {_typed(new, column)}\nFROM {PLAN_TABLE} AS r\n"
        f"WHERE r.action = 'set' AND r.column_name = {quoted(column)} AND t.id = r.id\n"
        f"  AND t.{name} IS NOT DISTINCT FROM {_typed(old, column)}\n"
        f"  AND r.id NOT IN (SELECT id FROM {LEFT_TABLE});"
    )


def _restored_inserted(target: str) -> str:
    """The snapshot rows the plan restores, one per id; an id present again is left alone."""
    values = ["r.id"] + [
        _typed(f"max(r.value_after) FILTER (WHERE r.column_name = {quoted(c)})", c) for c in _VALUE_COLUMNS
    ]
    columns = ", ".join(identifier(c) for c in ["id", *_VALUE_COLUMNS])
    selected = ",\n  ".join(values)
    return (
        f"INSERT INTO {target} ({columns})\nSELECT {selected}\n"
        f"FROM {PLAN_TABLE} AS r WHERE r.action = 'insert' AND r.id NOT IN (SELECT id FROM {LEFT_TABLE})\n"
        "GROUP BY r.id\n"
        'ON CONFLICT ("id") DO NOTHING;'
    )


def _restored_deleted(target: str) -> str:
    """Rows the repair restored, deleted again: only those still exactly as restored."""
    return (
        f"DELETE FROM {target} AS t USING (\n  SELECT r.id FROM {PLAN_TABLE} AS r "
        f"JOIN {target} AS t ON t.id = r.id\n  WHERE r.action = 'insert' GROUP BY r.id "
        f"HAVING bool_and({_holds('r.value_after', _VALUE_COLUMNS)})\n) AS restored WHERE t.id = restored.id;"
    )


def _holds(value: str, columns: list[str]) -> str:
    """Whether row ``t`` holds plan row ``r``'s ``value`` in the column ``r`` names."""
    arms = "\n    ".join(
        f"WHEN {quoted(c)} THEN t.{identifier(c)} IS NOT DISTINCT FROM {_typed(value, c)}" for c in columns
    )
    return f"CASE r.column_name\n    {arms}\n  END"


def _verification(target: str, changes: pl.DataFrame, *, rollback: bool) -> str:
    """The last statement: raise, so the transaction undoes everything, if a row changed did not
    end up as planned, a restored row is missing, or (rolling back) one is still there as
    restored; count and name the rows left alone: changed since the audit, or gone.

    Per row: ``holds_after`` (every planned column holds its value after), ``holds_target`` (every
    column holds what this file sets: the value after, or rolling back the value now) and
    ``left_alone`` (:func:`_left_alone`)."""
    columns = changes["column"].unique().sort().to_list()
    after, now = _holds("r.value_after", columns), _holds("r.value_now", columns)
    target_value = now if rollback else after
    inserted_not_applied = "present AND holds_after" if rollback else "NOT present AND NOT orphaned"
    verb = "rolled back" if rollback else "repaired"
    return f"""DO $llamalog$
DECLARE
  rows_not_applied uuid[];
  rows_left_alone uuid[];
  rows_gone uuid[];
BEGIN
  WITH per_row AS (
    SELECT r.id, min(r.action) AS action, bool_or(t.id IS NOT NULL) AS present,
      coalesce(bool_and(t.id IS NOT NULL AND {after}), false) AS holds_after,
      coalesce(bool_and(t.id IS NOT NULL AND {target_value}), false) AS holds_target,
      bool_or(l.id IS NOT NULL) AS left_alone, bool_or(l.why = 'orphaned') AS orphaned
    FROM {PLAN_TABLE} AS r LEFT JOIN {target} AS t ON t.id = r.id
    LEFT JOIN {LEFT_TABLE} AS l ON l.id = r.id GROUP BY r.id),
  judged AS (
    SELECT id, CASE WHEN action = 'insert' THEN {inserted_not_applied}
        ELSE NOT left_alone AND NOT holds_target END AS not_applied,
      CASE WHEN action = 'insert' THEN present AND NOT holds_after
        ELSE left_alone AND NOT orphaned AND present END AS changed,
      action = 'set' AND NOT present AS gone
    FROM per_row)
  SELECT array_agg(id ORDER BY id) FILTER (WHERE not_applied),
    array_agg(id ORDER BY id) FILTER (WHERE changed AND NOT not_applied),
    array_agg(id ORDER BY id) FILTER (WHERE gone)
  INTO rows_not_applied, rows_left_alone, rows_gone FROM judged;
  IF rows_not_applied IS NOT NULL THEN
    RAISE EXCEPTION 'llamalog repair: % planned rows did not take effect (%); nothing was {verb}',
      {_named("rows_not_applied")};
  END IF;
  IF rows_left_alone IS NOT NULL THEN
    RAISE NOTICE 'llamalog repair: rows changed since the audit, left alone, each as a whole: % (%)',
      {_named("rows_left_alone")};
  END IF;
  IF rows_gone IS NOT NULL THEN
    RAISE NOTICE 'llamalog repair: planned rows no longer in the table, nothing to change there: % (%)',
      {_named("rows_gone")};
  END IF;
END
$llamalog$;"""


NAMED = 10
"""Ids a message of the files names at most; plan.json lists every planned row."""


def _named(ids: str) -> str:
    """The two arguments of a message about the rows in the array ``ids``: how many, and the
    first :data:`NAMED` of them (``id, id and 3 more``)."""
    return (
        f"cardinality({ids}), array_to_string({ids}[1:{NAMED}], ', ')\n"
        f"        || CASE WHEN cardinality({ids}) > {NAMED} "
        f"THEN format(' and %s more', cardinality({ids}) - {NAMED}) ELSE '' END"
    )
