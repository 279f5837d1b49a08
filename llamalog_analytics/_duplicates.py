"""Repeated ids in a load: equal copies are inserted once, conflicting ones are rejected with the
columns that differ, within the load and against the rows already stored; a stored row that its
own source now gives with other values changed there (state ``changed``: the stage replaces it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import schema
from ._sql import CHANGED_TABLE, LOAD_ID_COLUMN, LOADS_TABLE, STAGE_TABLE, json_text, literal, quote

if TYPE_CHECKING:
    from .store import LogStore

_COLS = schema.COLUMNS


def resolve_duplicates(store: LogStore, tables: Iterable[str], paths: list[str], blurred: list[int]) -> None:
    """Mark repeated ids: equal copies are not inserted twice, conflicting ones are rejected, and
    a stored row that its own source gives with other values is ``changed``: its load read
    that one source (``paths[_file]``, the path as written) for the table, and one copy of the
    id in this load comes from it (the others are equal copies of it, so none is rejected).

    JSON null and SQL NULL differ only where both copies came from formats that keep them apart:
    not the sources numbered in ``blurred``, nor rows stored by a load of :data:`BLURRED`
    formats only.
    """
    files = _numbers(blurred)
    either_blurred = f"list_contains({files}, later._file) OR list_contains({files}, first._file)"
    store.execute(
        _mark(
            "duplicate",
            "'duplicate id with different values in ' || array_to_string(d.diff, ', ') || "
            "'; the first copy (row ' || d.first_row || ' of ' || d.first_source || ') was kept'",
            f"""WITH dup AS (
    SELECT *, row_number() OVER (PARTITION BY _table, id ORDER BY _file, _row) AS k FROM {STAGE_TABLE}
    WHERE _reason IS NULL AND (_table, id) IN (
      SELECT (_table, id) FROM {STAGE_TABLE} WHERE _reason IS NULL GROUP BY _table, id HAVING count(*) > 1))
  SELECT later._file, later._row, {_differences("later", "first", either_blurred)} AS diff,
    first._row AS first_row, list_extract(?, first._file + 1) AS first_source
  FROM dup AS later JOIN dup AS first
    ON later._table = first._table AND later.id = first.id AND first.k = 1 AND later.k > 1""",
        ),
        [paths],
    )
    # Find the stored rows sharing an id (reading ids and times only), then compare whole rows
    # within their created_at range: the scan skips the rest of the table.
    candidates = (
        f"SELECT id FROM {STAGE_TABLE} WHERE _table = ? AND _reason IS NULL "
        "AND _state IN ('new', 'duplicate')"
    )
    for table in sorted({t for t in tables if store.has_table(t)}):
        matched, first, last = store.execute(
            f"SELECT count(*), min(created_at), max(created_at) FROM {quote(table)} "
            f"WHERE id IN ({candidates})",
            [table],
        )[0]
        if not matched:
            continue
        store.execute(
            _mark(
                "present",
                "'id already stored (load ' || d.load_id || ') with different values in ' || "
                "array_to_string(d.diff, ', ') || '; the stored row was kept. "
                "Hint: load into another table to compare both versions'",
                f"""SELECT s._file, s._row, {_differences("s", "t", _blurred(files, table))} AS diff,
    t.{LOAD_ID_COLUMN} AS load_id,
    bool_or(coalesce((SELECT list(l.source) FROM {LOADS_TABLE} AS l
        WHERE l.load_id = t.{LOAD_ID_COLUMN} AND l.table_name = ?) = [list_extract(?, s._file + 1)], false))
      OVER (PARTITION BY s.id) AS own_source
  FROM {STAGE_TABLE} AS s JOIN {quote(table)} AS t ON s.id = t.id
  WHERE s._table = ? AND s._reason IS NULL AND s._state IN ('new', 'duplicate')
    AND t.created_at BETWEEN ? AND ?""",
                changed="d.own_source",
            ),
            [table, paths, table, first, last],
        )


def replace_changed(store: LogStore, table: str, load_id: int, paths: list[str], blurred: list[int]) -> None:
    """Keep the stored rows of ``table`` that the stage marked ``changed`` in the changed table
    (the columns that differ, read as :func:`resolve_duplicates` does, the load that brought
    them, every value as JSON), then delete them: the stage's versions take their place."""
    chosen = "s._table = ? AND s._reason IS NULL AND s._state = 'changed'"
    differ = _differences("s", "t", _blurred(_numbers(blurred), table))
    store.execute(
        f"""INSERT INTO {CHANGED_TABLE}
SELECT ?, ?, list_extract(?, s._file + 1), t.id, t.created_at, {differ},
  t.{LOAD_ID_COLUMN}, {_row_text("t")}
FROM {STAGE_TABLE} AS s JOIN {quote(table)} AS t ON t.id = s.id WHERE {chosen} ORDER BY t.id""",
        [load_id, table, paths, table],
    )
    store.execute(
        f"DELETE FROM {quote(table)} WHERE id IN (SELECT s.id FROM {STAGE_TABLE} AS s WHERE {chosen})",
        [table],
    )


def _mark(kept: str, reason: str, differences: str, changed: str = "false") -> str:
    """An ``UPDATE`` of the stage rows that ``differences`` lists (``_file``, ``_row``, ``diff``):
    state ``kept`` when no column differs; else, where the SQL condition ``changed`` holds,
    ``changed`` for an id's first copy (its later, equal copies stay ``duplicate``); else
    rejected for the SQL text ``reason``."""
    rejected = f"len(d.diff) > 0 AND NOT ({changed})"
    return f"""UPDATE {STAGE_TABLE} AS s
SET _state = CASE WHEN len(d.diff) = 0 THEN '{kept}'
    WHEN {changed} THEN CASE WHEN s._state = 'new' THEN 'changed' ELSE s._state END ELSE 'rejected' END,
  _column = CASE WHEN {rejected} THEN 'id' END,
  _raw = CASE WHEN {rejected} THEN {_row_text("s")} END,
  _reason = CASE WHEN {rejected} THEN {reason} END
FROM ({differences}) AS d
WHERE s._file = d._file AND s._row = d._row"""


def _numbers(numbers: list[int]) -> str:
    """``numbers`` as a SQL list literal."""
    return f"[{', '.join(map(str, numbers))}]::INTEGER[]"


BLURRED = ("json", "ndjson")
"""Formats whose JSON null loads as SQL NULL (a JSON export writes both as ``null``)."""


def _blurred(files: str, table: str) -> str:
    """SQL: whether stage row ``s`` (its source among ``files``) or stored row ``t`` of ``table``
    came from a :data:`BLURRED` format (every source of ``t``'s load for the table was one)."""
    formats = ", ".join(literal(f) for f in BLURRED)
    return (
        f"list_contains({files}, s._file) OR coalesce((SELECT bool_and(l.format IN ({formats})) "
        f"FROM {LOADS_TABLE} AS l WHERE l.load_id = t.{LOAD_ID_COLUMN} "
        f"AND l.table_name = {literal(table)}), false)"
    )


def _differences(a: str, b: str, blurred: str = "false") -> str:
    """SQL listing the canonical columns where rows ``a`` and ``b`` differ; where the SQL
    condition ``blurred`` holds, JSON null and SQL NULL do not."""

    def differ(c: schema.Column) -> str:
        x, y = f"{a}.{quote(c.name)}", f"{b}.{quote(c.name)}"
        if c.type != "JSON":
            return f"{x} IS DISTINCT FROM {y}"
        same_null = f"coalesce({x}, 'null') = coalesce({y}, 'null')"
        return f"{x} IS DISTINCT FROM {y} AND NOT (({blurred}) AND {same_null})"

    cases = ", ".join(f"CASE WHEN {differ(c)} THEN '{c.name}' END" for c in _COLS)
    return f"list_filter([{cases}], lambda x: x IS NOT NULL)"


def _row_text(alias: str) -> str:
    """SQL for row ``alias`` as JSON text: the raw form of a row rejected after it was typed."""
    return json_text((c.name, f"{alias}.{quote(c.name)}") for c in _COLS)
