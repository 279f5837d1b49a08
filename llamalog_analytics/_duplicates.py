"""Repeated ids in a load: equal copies are inserted once, conflicting ones are rejected with the
columns that differ, within the load and against the rows already stored; a stored row that its
own source now gives with other values changed there (state ``changed``: the stage replaces it).
A column a source does not give (a database's dropped column) is no difference: the rows are
compared on the columns it gives, and a stored row it changed keeps its value in the others.
Nor is a column none of the stored row's load's sources gave, while the row holds no value there
(a snapshot's ``category``): a source that gives it fills it in (state ``filled``: the stored
row takes those values in place, and stays its own source's)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from . import schema
from ._readers import absolute_source
from ._sql import (
    CHANGED_TABLE,
    LOAD_ID_COLUMN,
    LOADS_TABLE,
    STAGE_TABLE,
    hash_input,
    json_differs,
    json_text,
    literal,
    quote,
)

if TYPE_CHECKING:
    from .store import LogStore

_COLS = schema.COLUMNS


def resolve_duplicates(
    store: LogStore,
    tables: Iterable[str],
    paths: list[str],
    blurred: list[int],
    absent: Mapping[str, list[int]],
) -> None:
    """Mark repeated ids: equal copies are not inserted twice, conflicting ones are rejected, and
    a stored row that its own source gives with other values is ``changed``: its load read
    that one source (``paths[_file]``, the path as written) for the table, and one copy of the
    id in this load comes from it (the others are equal copies of it, so none is rejected). A
    stored row that differs only where it holds nothing its load gave is ``filled``
    (:func:`fill_absent`).

    JSON null and SQL NULL differ only where both copies came from formats that keep them apart:
    not the sources numbered in ``blurred``, nor rows stored by a load of :data:`BLURRED`
    formats only. ``absent`` maps a column to the sources (by number) that do not give it: their
    rows are not compared on it.
    """
    files = _numbers(blurred)
    repeated = store.execute(  # rarely: marking them takes DuckDB a while to plan
        f"SELECT count(*) > count(DISTINCT (_table, id)) FROM {STAGE_TABLE} WHERE _reason IS NULL"
    )[0][0]
    if repeated:
        _mark_repeats(store, paths, files, absent)
    # Find the stored rows sharing an id (reading ids and times only), then compare each pair by
    # a hash of its row, computed on each side before the join, and whole rows only where the
    # hashes differ: a join of whole rows would hold both tables' rows at once (DuckDB spills them).
    # Those few are set aside whole before their values are compared: JSON's comparison by value
    # runs subqueries, which over the join itself made DuckDB keep every row pair (a reload of
    # 1M rows took 0.7 s longer).
    candidates = (
        f"SELECT id FROM {STAGE_TABLE} WHERE _table = ? AND _reason IS NULL "
        "AND _state IN ('new', 'duplicate')"
    )
    tables = list(tables)
    for table in sorted({t for t in tables if store.has_table(t)}):
        # a column none of the table's sources gives is left out of the hash (else every stored
        # row with a value there would be compared whole); the comparison skips it row by row
        given = {n for n, t in enumerate(tables) if t == table}
        hashed = ", ".join(hash_input(c) for c in _COLS if not given <= set(absent.get(c.name, ())))
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
                "array_to_string(d.conflicts, ', ') || '; the stored row was kept. "
                "Hint: load into another table to compare both versions'",
                f"""WITH pairs AS (
  SELECT s._file, s._row, s.id, t.{LOAD_ID_COLUMN}, s.h = t.h AS same,
    coalesce(li.sources = [list_extract(?, s._file + 1)], false) AS mine
  FROM (SELECT _file, _row, id, hash({hashed}) AS h FROM {STAGE_TABLE}
        WHERE _table = ? AND _reason IS NULL AND _state IN ('new', 'duplicate')) AS s
  JOIN (SELECT id, {LOAD_ID_COLUMN}, hash({hashed}) AS h FROM {quote(table)}
        WHERE created_at BETWEEN ? AND ?) AS t ON s.id = t.id
  {_stored_loads(table)}
), unequal AS MATERIALIZED (  -- the pairs whose hashes differ, each side's row whole
  SELECT s._file, s._row, s, t, {_blurred(files)} AS blurred,
    list_intersect(coalesce(li.absent, []), {_nulls("t")}) AS fillable
  FROM {STAGE_TABLE} AS s JOIN {quote(table)} AS t ON s.id = t.id {_stored_loads(table)}
  WHERE (s._file, s._row) IN (SELECT (_file, _row) FROM pairs WHERE NOT same)
    AND t.id IN (SELECT id FROM pairs WHERE NOT same)
), differing AS (
  SELECT _file, _row, diff, list_filter(diff, lambda c: NOT list_contains(fillable, c)) AS conflicts
  FROM (SELECT *, {_differences("s", "t", "blurred", absent, "s")} AS diff FROM unequal))
SELECT p._file, p._row, coalesce(x.diff, []) AS diff, coalesce(x.conflicts, []) AS conflicts,
  p.{LOAD_ID_COLUMN} AS load_id, bool_or(p.mine) OVER (PARTITION BY p.id) AS own_source
FROM pairs AS p LEFT JOIN differing AS x ON x._file = p._file AND x._row = p._row""",
                changed="d.own_source",
                filled="len(d.conflicts) = 0",
            ),
            [paths, table, first, last],
        )


def _mark_repeats(store: LogStore, paths: list[str], files: str, absent: Mapping[str, list[int]]) -> None:
    """Mark the later copies of an id repeated within the load: ``duplicate`` when equal to the
    first, else rejected with the columns that differ (JSON null and SQL NULL apart unless one
    copy's source is among ``files``; a column either copy's source does not give not at all).
    The first copy is one from a source that gives the most columns (then the first source, the
    first row): a snapshot without the migration's columns loaded with the table that has them
    keeps the table's values, whichever file comes first."""
    either_blurred = f"list_contains({files}, later._file) OR list_contains({files}, first._file)"
    lacking = _numbers([sum(n in sources for sources in absent.values()) for n in range(len(paths))])
    store.execute(
        _mark(
            "duplicate",
            "'duplicate id with different values in ' || array_to_string(d.diff, ', ') || "
            "'; the copy in row ' || d.first_row || ' of ' || d.first_source || ' was kept'",
            f"""WITH dup AS (
    SELECT *, row_number() OVER (
      PARTITION BY _table, id ORDER BY list_extract({lacking}, _file + 1), _file, _row) AS k
    FROM {STAGE_TABLE}
    WHERE _reason IS NULL AND (_table, id) IN (
      SELECT (_table, id) FROM {STAGE_TABLE} WHERE _reason IS NULL GROUP BY _table, id HAVING count(*) > 1))
  SELECT later._file, later._row,
    {_differences("later", "first", either_blurred, absent, "later", "first")} AS diff,
    first._row AS first_row, list_extract(?, first._file + 1) AS first_source
  FROM dup AS later JOIN dup AS first
    ON later._table = first._table AND later.id = first.id AND first.k = 1 AND later.k > 1""",
        ),
        [paths],
    )


def replace_changed(
    store: LogStore,
    table: str,
    load_id: int,
    paths: list[str],
    blurred: list[int],
    absent: Mapping[str, list[int]],
) -> None:
    """Keep the stored rows of ``table`` that the stage marked ``changed`` in the changed table
    (the columns that differ, read as :func:`resolve_duplicates` does, the load that brought
    them, every value as JSON), then delete them: the stage's versions take their place, with
    the stored values of the columns their source does not give (``absent``)."""
    chosen = "s._table = ? AND s._reason IS NULL AND s._state = 'changed'"
    store.execute(
        f"""INSERT INTO {CHANGED_TABLE}
WITH changed AS MATERIALIZED (  -- each side's row whole, compared below (see resolve_duplicates)
  SELECT s, t, {_blurred(_numbers(blurred))} AS blurred
  FROM {STAGE_TABLE} AS s JOIN {quote(table)} AS t ON t.id = s.id {_stored_loads(table)}
  WHERE {chosen})
SELECT ?, ?, list_extract(?, s._file + 1), t.id, t.created_at,
  {_differences("s", "t", "blurred", absent, "s")},
  t.{LOAD_ID_COLUMN}, {_row_text("t")}
FROM changed ORDER BY t.id""",
        [table, load_id, table, paths],
    )
    if kept := [(c, files) for c, files in absent.items() if files]:
        values = ", ".join(
            f"{quote(c)} = CASE WHEN list_contains({_numbers(files)}, s._file) THEN t.{quote(c)} "
            f"ELSE s.{quote(c)} END"
            for c, files in kept
        )
        store.execute(
            f"UPDATE {STAGE_TABLE} AS s SET {values} FROM {quote(table)} AS t WHERE t.id = s.id AND {chosen}",
            [table],
        )
    store.execute(
        f"DELETE FROM {quote(table)} WHERE id IN (SELECT s.id FROM {STAGE_TABLE} AS s WHERE {chosen})",
        [table],
    )


def fill_absent(store: LogStore, table: str) -> None:
    """Give the stored rows of ``table`` that the stage marked ``filled`` the stage's values
    where they hold nothing their load gave (its sources all lacked the column); every other
    column, and the load the row belongs to, stay as stored."""
    values = ", ".join(
        f"{quote(c.name)} = CASE WHEN t.{quote(c.name)} IS NULL AND list_contains(a.absent, "
        f"{literal(c.name)}) THEN s.{quote(c.name)} ELSE t.{quote(c.name)} END"
        for c in _COLS[1:]
    )
    filled = f"SELECT * FROM {STAGE_TABLE} WHERE _table = ? AND _reason IS NULL AND _state = 'filled'"
    store.execute(
        f"""UPDATE {quote(table)} AS t SET {values}
FROM ({filled}) AS s, (
  SELECT t.id, li.absent FROM {quote(table)} AS t {_stored_loads(table)}
  WHERE t.id IN (SELECT id FROM ({filled}))) AS a
WHERE s.id = t.id AND a.id = t.id""",
        [table, table],
    )


def _nulls(alias: str) -> str:
    """SQL listing the columns where row ``alias`` holds SQL NULL."""
    cases = ", ".join(f"CASE WHEN {alias}.{quote(c.name)} IS NULL THEN '{c.name}' END" for c in _COLS)
    return f"list_filter([{cases}], lambda x: x IS NOT NULL)"


def _mark(kept: str, reason: str, differences: str, changed: str = "false", filled: str = "false") -> str:
    """An ``UPDATE`` of the stage rows that ``differences`` lists (``_file``, ``_row``, ``diff``):
    state ``kept`` when no column differs; else, where the SQL condition ``changed`` holds,
    ``changed`` for an id's first copy (its later, equal copies stay ``duplicate``), where
    ``filled`` holds, ``filled`` likewise; else rejected for the SQL text ``reason``."""
    rejected = f"len(d.diff) > 0 AND NOT ({changed}) AND NOT ({filled})"
    return f"""UPDATE {STAGE_TABLE} AS s
SET _state = CASE WHEN len(d.diff) = 0 THEN '{kept}'
    WHEN {changed} THEN CASE WHEN s._state = 'new' THEN 'changed' ELSE s._state END
    WHEN {filled} THEN CASE WHEN s._state = 'new' THEN 'filled' ELSE s._state END ELSE 'rejected' END,
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


def _stored_loads(table: str) -> str:
    """SQL joining ``li`` to stored rows ``t`` of ``table``: the sources their load read for the
    table (``sources``), whether they all were :data:`BLURRED` formats (``blurred``) and the
    columns none of them gave (``absent``); one join on a few load rows, where a subquery per
    row would make DuckDB keep every row pair."""
    formats = ", ".join(literal(f) for f in BLURRED)
    return f"""LEFT JOIN (
    SELECT load_id, list({absolute_source("source", "format")}) AS sources,
      bool_and(format IN ({formats})) AS blurred,
      list_reduce(list(columns_absent), lambda a, b: list_intersect(a, b)) AS absent
    FROM {LOADS_TABLE} WHERE table_name = {literal(table)} GROUP BY load_id
  ) AS li ON li.load_id = t.{LOAD_ID_COLUMN}"""


def _blurred(files: str) -> str:
    """SQL: whether stage row ``s`` (its source among ``files``) or stored row ``t`` came from a
    :data:`BLURRED` format (``li``, :func:`_stored_loads`, says so for ``t``)."""
    return f"list_contains({files}, s._file) OR coalesce(li.blurred, false)"


def _differences(
    a: str,
    b: str,
    blurred: str = "false",
    absent: Mapping[str, list[int]] | None = None,
    *staged: str,
) -> str:
    """SQL listing the canonical columns where rows ``a`` and ``b`` differ, JSON by value (an
    export of the database holds it as the database does, but spaced or ordered otherwise);
    where the SQL condition ``blurred`` holds, JSON null and SQL NULL do not differ. ``absent``
    maps a column to the sources (by number) that do not give it: a staged row among ``staged``
    (aliases) from one of them does not differ there."""

    def differ(c: schema.Column) -> str:
        x, y = f"{a}.{quote(c.name)}", f"{b}.{quote(c.name)}"
        if c.type != "JSON":
            found = f"{x} IS DISTINCT FROM {y}"
        else:
            same_null = f"coalesce({x}, 'null') = coalesce({y}, 'null')"
            found = f"{json_differs(x, y)} AND NOT (({blurred}) AND {same_null})"
        if files := (absent or {}).get(c.name):
            lacking = " OR ".join(f"list_contains({_numbers(files)}, {alias}._file)" for alias in staged)
            found = f"({found}) AND NOT ({lacking})"
        return found

    cases = ", ".join(f"CASE WHEN {differ(c)} THEN '{c.name}' END" for c in _COLS)
    return f"list_filter([{cases}], lambda x: x IS NOT NULL)"


def _row_text(alias: str) -> str:
    """SQL for row ``alias`` as JSON text: the raw form of a row rejected after it was typed."""
    return json_text((c.name, f"{alias}.{quote(c.name)}") for c in _COLS)
