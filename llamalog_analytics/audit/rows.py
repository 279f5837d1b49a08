"""Checks on the rows themselves: none lost or changed by the migration, none doubled."""

from __future__ import annotations

import polars as pl

from .. import schema
from .._duplicates import BLURRED
from .._sql import LOADS_TABLE, json_differs, literal, quote
from .context import Audit, Check, check_result, counts_by, listed, skipped
from .result import CheckResult

NO_SNAPSHOT = (
    f"No pre-migration snapshot in the store ({schema.LEGACY_TABLE} is not loaded), so there is "
    f"nothing to compare. Hint: load it (llamalog load FILE --as {schema.LEGACY_TABLE}), or name "
    "the snapshot's table with before= (--before)"
)


def rows_preserved(audit: Audit) -> CheckResult:
    """Every row of the snapshot is still there, every shared column unchanged.

    JSON is compared by value, arrays as ordered lists, timestamps to the millisecond, text
    exactly. Ids repeated on either side are left to ``duplicate_ids`` and not compared. When
    either table holds rows loaded from a JSON export, which cannot tell JSON null from SQL
    NULL, the two compare equal (the finding says so).
    """
    name = "rows_preserved"
    expects = (
        "Every row of the pre-migration snapshot is still in the migrated table, with the same "
        "value in every column both tables have."
    )
    if audit.before is None:
        audited_itself = (
            f"The audited table is the snapshot itself ({schema.LEGACY_TABLE}), so there is nothing to "
            f"compare it with. Hint: audit the migrated table (after={schema.CURRENT_TABLE!r}, --after)"
        )
        return skipped(name, expects, audited_itself if audit.after == schema.LEGACY_TABLE else NO_SNAPSHOT)
    columns = [c for c in audit.common_columns() if c != "id"]
    before, after = quote(audit.before), audit.table
    blurred = _loaded_from_json(audit)

    def value(side: str, column: str) -> str:
        at = f"{side}.{quote(column)}"
        if column == "created_at":
            return f"date_trunc('millisecond', {at})"
        return f"nullif({at}, 'null'::JSON)" if blurred and column in _JSON_COLUMNS else at

    def differs(column: str) -> str:
        b, a = value("b", column), value("a", column)
        return json_differs(b, a) if column in _JSON_COLUMNS else f"{b} IS DISTINCT FROM {a}"

    cells = ", ".join(
        f"CASE WHEN {differs(c)} THEN {{'column': {literal(c)}, 'before': b.{quote(c)}::VARCHAR, "
        f"'after': a.{quote(c)}::VARCHAR}} END"
        for c in columns
    )
    fingerprint = ", ".join(value("t", c) for c in columns)
    odd = f"""b_hash AS (SELECT t.id, hash({fingerprint}) AS h FROM {before} AS t),
a_hash AS (  -- only the rows the snapshot has: hashing the rest is work for nothing
  SELECT t.id, hash({fingerprint}) AS h FROM {after} AS t WHERE t.id IN (SELECT id FROM {before})),
odd AS (
  SELECT b_hash.id, a_hash.id IS NULL AS missing FROM b_hash LEFT JOIN a_hash ON a_hash.id = b_hash.id
  WHERE a_hash.id IS NULL OR b_hash.h <> a_hash.h),
repeated AS (
  SELECT id FROM {before} WHERE id IN (SELECT id FROM odd) GROUP BY id HAVING count(*) > 1
  UNION SELECT id FROM {after} WHERE id IN (SELECT id FROM odd) GROUP BY id HAVING count(*) > 1),
kept AS (SELECT DISTINCT id, missing FROM odd WHERE id NOT IN (SELECT id FROM repeated))"""

    def listed_from(kept: str) -> str:  # the rows missing, and the cells of those that differ
        return f"""{kept},
pairs AS MATERIALIZED (  -- the few rows that differ, each side whole, compared cell by cell below
  SELECT b, a FROM {before} AS b JOIN {after} AS a USING (id)
  WHERE b.id IN (SELECT id FROM kept WHERE NOT missing)),
cells AS (SELECT b.id, unnest(list_filter([{cells}], lambda x: x IS NOT NULL)) AS cell FROM pairs)
SELECT id, 'missing' AS kind, NULL AS "column", NULL AS "before", NULL AS "after"
FROM kept WHERE missing
UNION ALL
SELECT id, 'changed', cell."column", cell."before", cell."after" FROM cells"""

    # The rows that differ are found first, into a table: planned with the whole rows' join in
    # one statement, DuckDB could not know they are few (often none), and under the audit's
    # memory limit at 10M rows the join spilled (13 s, where this takes 3 s).
    with audit.store.temporary(f"WITH {odd} SELECT id, missing FROM kept") as found:
        listing, sql = audit.listing(
            listed_from(f"WITH kept AS (SELECT * FROM {found})"),
            'kind, id, "column"',
            shown=listed_from(f"WITH {odd}"),
        )
    ids = listing.frame()  # as many rows as differences: few where the migration kept the data
    missing = ids.filter(pl.col("kind") == "missing").height
    changed = ids.filter(pl.col("kind") == "changed")["id"].n_unique()
    compared = audit.store.execute(f"SELECT count(*) FROM {before}")[0][0]
    n = listed(ids)
    finding = (
        f"{n:,} of {compared:,} snapshot rows are not in {audit.after} as they were: "
        f"{missing:,} missing, {changed:,} changed"
    )
    if changed:
        finding += " (" + ", ".join(ids.filter(pl.col("kind") == "changed")["column"].unique().sort()) + ")"
    finding += f"; {len(columns) + 1} columns compared"
    finding += f" ({blurred}: JSON null and SQL NULL compare equal)." if blurred else "."
    return check_result(
        name,
        expects,
        "fail",
        listing,
        sql,
        finding,
        count=n,
        breakdowns={"by kind and column": counts_by(ids, "kind", "column")},
    )


_JSON_COLUMNS = {c.name for c in schema.COLUMNS if c.type == "JSON"}


def _loaded_from_json(audit: Audit) -> str | None:
    """Which of the audited tables holds rows loaded from a JSON export, said as a reason (or
    None): such a load cannot tell JSON null from SQL NULL."""
    formats = ", ".join(literal(f) for f in BLURRED)
    tables = [t for t in (audit.before, audit.after) if t]
    found = (
        audit.store.execute(
            f"SELECT DISTINCT table_name FROM {LOADS_TABLE} WHERE format IN ({formats}) "
            "AND list_contains(?, table_name) ORDER BY 1",
            [tables],
        )
        if audit.store.has_table(LOADS_TABLE)
        else []
    )
    if not found:
        return None
    return f"{' and '.join(r[0] for r in found)} loaded from a JSON export"


def duplicate_ids(audit: Audit) -> CheckResult:
    """Row ids present more than once in either table (the primary key forbids it)."""
    parts = [(audit.after, audit.table)] + ([(audit.before, quote(audit.before))] if audit.before else [])
    sql = "\nUNION ALL\n".join(
        f"SELECT id, {literal(name)} AS table_name, count(*) AS copies FROM {table} "
        "GROUP BY id HAVING count(*) > 1"
        for name, table in parts
    )
    ids, sql = audit.listing(sql, "table_name, id")
    copies = dict(counts_by(ids, "table_name").iter_rows())
    per_table = ", ".join(f"{copies.get(n, 0):,} in {n}" for n, _ in parts)
    n = listed(ids)
    finding = f"{n:,} row ids appear more than once ({per_table})"
    finding += (
        "." if audit.before else "; the snapshot is not loaded, so only the migrated table was checked."
    )
    return check_result(
        "duplicate_ids",
        "No row id appears more than once in the migrated table or in the snapshot (the primary key "
        "forbids it).",
        "fail",
        ids,
        sql,
        finding,
        count=n,
    )


ROW_CHECKS: tuple[Check, ...] = (rows_preserved, duplicate_ids)
