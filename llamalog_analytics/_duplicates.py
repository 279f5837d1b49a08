"""Repeated ids in a load: equal copies are inserted once, conflicting ones are rejected with the
columns that differ, within the load and against the rows already stored."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import schema
from ._sql import LOAD_ID_COLUMN, literal, quote

if TYPE_CHECKING:
    from .store import LogStore

STAGE = "_llamalog_stage"  # the stage table a load writes its rows to first
_COLS = schema.COLUMNS


def resolve_duplicates(store: LogStore, tables: Iterable[str], paths: list[str]) -> None:
    """Mark repeated ids: equal copies are not inserted twice, conflicting ones are rejected."""
    store.execute(
        f"""UPDATE {STAGE} AS s
SET _state = CASE WHEN len(d.diff) = 0 THEN 'duplicate' ELSE 'rejected' END,
  _column = CASE WHEN len(d.diff) > 0 THEN 'id' END,
  _raw = CASE WHEN len(d.diff) > 0 THEN {_row_text("s")} END,
  _reason = CASE WHEN len(d.diff) > 0 THEN 'duplicate id with different values in '
    || array_to_string(d.diff, ', ') || '; the first copy (row ' || d.first_row || ' of '
    || d.first_source || ') was kept' END
FROM (
  WITH dup AS (
    SELECT *, row_number() OVER (PARTITION BY _table, id ORDER BY _file, _row) AS k FROM {STAGE}
    WHERE _reason IS NULL AND (_table, id) IN (
      SELECT (_table, id) FROM {STAGE} WHERE _reason IS NULL GROUP BY _table, id HAVING count(*) > 1))
  SELECT later._file, later._row, {_differences("later", "first")} AS diff,
    first._row AS first_row, list_extract(?, first._file + 1) AS first_source
  FROM dup AS later JOIN dup AS first
    ON later._table = first._table AND later.id = first.id AND first.k = 1 AND later.k > 1
) AS d
WHERE s._file = d._file AND s._row = d._row""",
        [paths],
    )
    for table in sorted({t for t in tables if store.has_table(t)}):
        # Find the stored rows sharing an id (reading ids and times only), then compare whole
        # rows within their created_at range: the scan skips the rest of the table.
        candidates = (
            f"SELECT id FROM {STAGE} WHERE _table = ? AND _reason IS NULL AND _state IN ('new', 'duplicate')"
        )
        matched, first, last = store.execute(
            f"SELECT count(*), min(created_at), max(created_at) FROM {quote(table)} "
            f"WHERE id IN ({candidates})",
            [table],
        )[0]
        if not matched:
            continue
        store.execute(
            f"""UPDATE {STAGE} AS s
SET _state = CASE WHEN len(d.diff) = 0 THEN 'present' ELSE 'rejected' END,
  _column = CASE WHEN len(d.diff) > 0 THEN 'id' END,
  _raw = CASE WHEN len(d.diff) > 0 THEN {_row_text("s")} END,
  _reason = CASE WHEN len(d.diff) > 0 THEN 'id already stored (load ' || d.load_id
    || ') with different values in ' || array_to_string(d.diff, ', ')
    || '; the stored row was kept. Hint: load into another table to compare both versions' END
FROM (
  SELECT s._file, s._row, {_differences("s", "t")} AS diff, t.{LOAD_ID_COLUMN} AS load_id
  FROM {STAGE} AS s JOIN {quote(table)} AS t ON s.id = t.id
  WHERE s._table = ? AND s._reason IS NULL AND s._state IN ('new', 'duplicate')
    AND t.created_at BETWEEN ? AND ?
) AS d
WHERE s._file = d._file AND s._row = d._row""",
            [table, first, last],
        )


def _differences(a: str, b: str) -> str:
    """SQL listing the canonical columns where rows ``a`` and ``b`` differ."""
    cases = ", ".join(
        f"CASE WHEN {a}.{quote(c.name)} IS DISTINCT FROM {b}.{quote(c.name)} THEN '{c.name}' END"
        for c in _COLS
    )
    return f"list_filter([{cases}], lambda x: x IS NOT NULL)"


def _row_text(alias: str) -> str:
    """SQL for row ``alias`` as JSON text: the raw form of a row rejected after it was typed."""
    fields = ", ".join(f"{literal(c.name)}: {alias}.{quote(c.name)}" for c in _COLS)
    return f"CAST(to_json({{{fields}}}) AS VARCHAR)"
