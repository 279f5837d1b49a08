"""Verify the migration that made ``llama_logs``: rows kept, categories and root jobs backfilled.

:func:`verify` runs a tuple of checks over a store and returns an :class:`AuditReport`. A check
is a plain function ``check(audit: Audit) -> CheckResult``; pass your own next to
:data:`DEFAULT_CHECKS`. Every result names the offending rows (a frame with an ``id`` column)
and carries the DuckDB SQL that lists them again.

The rules are replayed exactly as they were applied (see :mod:`llamalog_analytics.rules` and
the root-job walk below), so a check fails only where the stored value is not what the
migration would have written; where the migration itself did something surprising, a
warn-level check says so.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     report = lla.verify(store)
    >>> [c.name for c in report.checks][:3]
    ['rows_preserved', 'category_present', 'category_backfill']
    >>> report.status
    'warn'
    >>> report.check("category_backfill").count
    0
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from . import integrity, links, rules, schema
from ._sql import LOADS_TABLE, MIGRATIONS_TABLE, literal, quote
from .store import LogStore

STATUSES = ("pass", "warn", "fail")
DEPTH_LIMIT = 10  # tuples the root-job backfill's recursive CTE built per row


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    Attributes:
        name: the check's name.
        status: ``pass``, ``warn`` or ``fail``.
        count: how many offending rows (or job ids, or ids, as ``finding`` says).
        finding: one or two sentences for a person.
        ids: every offending row, ``id`` first, with the columns that explain it.
        sql: DuckDB SQL that lists them again from the store.
        breakdowns: named summary tables (by operation, status, cause...).
    """

    name: str
    status: str
    count: int
    finding: str
    ids: pl.DataFrame
    sql: str
    breakdowns: Mapping[str, pl.DataFrame] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Name, status, count, finding and the offending row ids, ready for JSON."""
        ids = self.ids["id"].unique(maintain_order=True).to_list() if "id" in self.ids.columns else []
        return {
            "name": self.name,
            "status": self.status,
            "count": self.count,
            "finding": self.finding,
            "ids": ids,
        }


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify`: every check, and what was audited.

    ``summary`` holds the tables and their row counts, the eras (migration apply times, UTC)
    and how many checks passed, warned and failed.
    """

    checks: tuple[CheckResult, ...]
    summary: Mapping[str, Any]

    @property
    def status(self) -> str:
        """The worst status of any check."""
        return max((c.status for c in self.checks), key=STATUSES.index, default="pass")

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(f"no check named {name!r}; this report has {', '.join(c.name for c in self.checks)}")

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "summary": dict(self.summary)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks) if self.checks else 0
        lines = [f"[🦙 LlamaLog] migration audit: {self.status.upper()}"]
        for key in ("tables", "eras"):
            for name, value in self.summary.get(key, {}).items():
                lines.append(f"  {name}: {value:,}" if isinstance(value, int) else f"  {name}: {value}")
        if "job links" in self.summary:
            lines.append(f"  job links followed: {self.summary['job links']}")
        for c in self.checks:
            lines.append(f"{c.status.upper():4}  {c.name:<{width}}  {c.count:>9,}  {c.finding}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .report import report_html

        return report_html(self, standalone=False)

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML file (opens offline); returns the path."""
        from .report import write_report

        return write_report(self, path)


@dataclass(frozen=True)
class Audit:
    """What a check works on: the store, the two tables and when the two backfills ran.

    Attributes:
        store: the store.
        after: the migrated table (``llama_logs``).
        before: the pre-migration snapshot (``enrichment_logs``), or None without one.
        migrated_at: when the category migration was applied (naive UTC), if known.
        root_job_migrated_at: when the root-job migration was applied (naive UTC), if known.
        applied: every migration's apply time from ``_prisma_migrations`` (empty without it).
        linking: how the job-link checks follow parent links (job instances by default).
        scratch: holds the temporary tables the audit makes (closed by :func:`verify`).
    """

    store: LogStore
    after: str
    before: str | None
    migrated_at: datetime | None
    root_job_migrated_at: datetime | None
    applied: Mapping[str, datetime] = field(default_factory=dict)
    linking: links.Linking = field(default_factory=links.Linking)
    scratch: ExitStack = field(default_factory=ExitStack, repr=False, compare=False)

    @cached_property
    def linked(self) -> str:
        """A temporary table of every row's job links (:func:`links.linked_sql`), made once for
        the job-link checks to share."""
        return self.scratch.enter_context(
            self.store.temporary(links.rows_sql(self.after, self.linking, carry=["operation"]))
        )

    def on_links(self, build: Callable[[str], str], order: str) -> tuple[pl.DataFrame, str]:
        """A job-link check's rows, read from :attr:`linked`, and its self-contained SQL."""
        ids = self.frame(f"{build(self.linked)}\nORDER BY {order}")
        return ids, f"{build(links.linked_sql(self.after, self.linking))}\nORDER BY {order}"

    def frame(self, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
        return self.store.frame(sql, params)

    @property
    def table(self) -> str:
        """The migrated table, quoted for SQL."""
        return quote(self.after)

    def existed_at_migration(self) -> str | None:
        """SQL condition for the rows the category backfill labelled, or None if unknown."""
        if self.before is not None:
            return f"id IN (SELECT id FROM {quote(self.before)})"
        if self.migrated_at is not None:
            return f"created_at < {_timestamp(self.migrated_at)}"
        return None

    def existed_at_root_job_migration(self) -> str | None:
        """SQL condition for the rows the root-job backfill saw, or None if unknown."""
        if self.root_job_migrated_at is None:
            return None
        return f"created_at < {_timestamp(self.root_job_migrated_at)}"

    def common_columns(self) -> tuple[str, ...]:
        """Columns that both tables had in every load (absent columns are NULL, not data)."""
        if self.before is None:
            return ()
        absent = {
            c
            for (columns,) in self.store.execute(
                f"SELECT columns_absent FROM {LOADS_TABLE} WHERE table_name IN (?, ?)",
                [self.before, self.after],
            )
            for c in columns
        }
        return tuple(c for c in schema.COLUMN_NAMES if c not in absent)


Check = Callable[[Audit], CheckResult]


def verify(
    store: LogStore,
    *,
    before: str = schema.LEGACY_TABLE,
    after: str = schema.CURRENT_TABLE,
    checks: Sequence[Check] | None = None,
    migrated_at: datetime | str | None = None,
    root_job_migrated_at: datetime | str | None = None,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> AuditReport:
    """Run ``checks`` (default :data:`DEFAULT_CHECKS`) on ``after`` against the snapshot ``before``.

    Args:
        store: a store holding ``after`` and, ideally, the snapshot ``before`` and
            ``_prisma_migrations``.
        before: the pre-migration snapshot's table; without it the rows-preserved check is
            skipped and the category backfill is replayed on rows older than the migration.
        after: the migrated table.
        checks: the checks to run, in order.
        migrated_at: when the category migration ran (naive UTC); read from
            ``_prisma_migrations`` when loaded.
        root_job_migrated_at: when the root-job migration ran; likewise.
        link, reuse_gap: how the job-link checks follow parent links: ``instance`` (the run of
            a job nearest in time, within ``reuse_gap``, default 24 hours) or ``job_id`` (bare
            ids). The backfill checks replay the migrations as applied, on bare ids, either way.

    Raises:
        StoreError: ``after`` is not in the store.
    """
    store._require(after)
    linking = links.Linking.of(link, reuse_gap)
    applied = _applied_times(store)
    with ExitStack() as scratch:
        audit = Audit(
            store,
            after,
            before if store.has_table(before) else None,
            _naive(migrated_at) or applied.get(schema.CATEGORY_MIGRATION),
            _naive(root_job_migrated_at) or applied.get(schema.ROOT_JOB_MIGRATION),
            applied,
            linking,
            scratch,
        )
        results = tuple(check(audit) for check in (DEFAULT_CHECKS if checks is None else checks))
        return AuditReport(results, _summary(audit, results))


def _applied_times(store: LogStore) -> dict[str, datetime]:
    if not store.has_table(MIGRATIONS_TABLE):
        return {}
    rows = store.execute(
        f"SELECT migration_name, min(started_at) FROM {MIGRATIONS_TABLE} "
        "WHERE rolled_back_at IS NULL AND started_at IS NOT NULL GROUP BY ALL"
    )
    return dict(rows)


def _naive(moment: datetime | str | None) -> datetime | None:
    if moment is None:
        return None
    from .chains import _utc

    return _utc(moment, "migrated_at")


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP {literal(moment.isoformat(sep=' '))}"


def _summary(audit: Audit, results: tuple[CheckResult, ...]) -> dict[str, Any]:
    tables = {audit.after: audit.store.execute(f"SELECT count(*) FROM {audit.table}")[0][0]}
    if audit.before is not None:
        tables[audit.before] = audit.store.execute(f"SELECT count(*) FROM {quote(audit.before)}")[0][0]
    eras = {
        "category migration": _era(audit.migrated_at),
        "root-job migration": _era(audit.root_job_migrated_at),
    }
    if audit.migrated_at is not None:
        eras["rows before the category migration"] = audit.store.execute(
            f"SELECT count(*) FROM {audit.table} WHERE created_at < {_timestamp(audit.migrated_at)}"
        )[0][0]
    store, table = audit.store, audit.table
    categories = {"now": _counts(store.frame(f"SELECT category, count(*) AS rows FROM {table} GROUP BY ALL"))}
    existed = audit.existed_at_migration()
    if existed is not None:
        then = store.frame(
            f"SELECT category, {rules.ROADMAP_INTENT.case()} AS intent, count(*) AS rows FROM {table} "
            f"WHERE {existed} GROUP BY ALL"
        )
        categories["at the migration, stored"] = _counts(then)
        categories["at the migration, roadmap intent"] = _counts(then, "intent")
    weeks = store.execute(
        f"SELECT date_trunc('week', created_at)::DATE::VARCHAR, count(*) FROM {table} "
        "GROUP BY ALL ORDER BY ALL"
    )
    return {
        "status": max((r.status for r in results), key=STATUSES.index, default="pass"),
        "tables": tables,
        "eras": eras,
        "checks": {s: sum(r.status == s for r in results) for s in STATUSES},
        "categories": categories,
        "rows_per_week": dict(weeks),
        "migrations": {name: _era(at) for name, at in audit.applied.items()},
        "job links": str(audit.linking),
    }


def _counts(rows: pl.DataFrame, column: str = "category") -> dict[str | None, int]:
    """``rows`` summed per value of ``column``, in label order (None last)."""
    summed = rows.group_by(column).agg(pl.col("rows").sum()).sort(column, nulls_last=True)
    return dict(summed.iter_rows())


def _era(moment: datetime | None) -> str:
    return "unknown" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _result(
    name: str,
    severity: str,
    ids: pl.DataFrame,
    sql: str,
    finding: str,
    *,
    count: int | None = None,
    breakdowns: Mapping[str, pl.DataFrame] | None = None,
) -> CheckResult:
    count = ids.height if count is None else count
    return CheckResult(name, severity if count else "pass", count, finding, ids, sql, breakdowns or {})


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(
        name, "warn", 0, f"skipped: {why}", pl.DataFrame({"id": []}, schema={"id": pl.String}), ""
    )


def _by(ids: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return (
        ids.group_by(columns)
        .agg(rows=pl.len())
        .sort(["rows", *columns], descending=[True] + [False] * len(columns))
    )


_NO_MIGRATION_TIME = (
    "no pre-migration snapshot and no apply time for the category migration. Hint: load "
    "_prisma_migrations or the enrichment_logs snapshot, or pass migrated_at (--migrated-at)"
)


# --- rows -----------------------------------------------------------------------------------


def rows_preserved(audit: Audit) -> CheckResult:
    """Every row of the snapshot is still there, every shared column unchanged.

    JSON is compared by value, arrays as ordered lists, timestamps to the millisecond, text
    exactly. Ids repeated on either side are left to ``duplicate_ids`` and not compared.
    """
    name = "rows_preserved"
    if audit.before is None:
        return _skipped(name, "no pre-migration snapshot in the store. Hint: load enrichment_logs")
    columns = [c for c in audit.common_columns() if c != "id"]
    before, after = quote(audit.before), audit.table

    def value(side: str, column: str) -> str:
        at = f"{side}.{quote(column)}"
        return f"date_trunc('millisecond', {at})" if column == "created_at" else at

    differs = {c: f"{value('b', c)} IS DISTINCT FROM {value('a', c)}" for c in columns}
    cells = ", ".join(
        f"CASE WHEN {test} THEN {{'column': {literal(c)}, 'before': b.{quote(c)}::VARCHAR, "
        f"'after': a.{quote(c)}::VARCHAR}} END"
        for c, test in differs.items()
    )
    fingerprint = ", ".join(value("t", c) for c in columns)
    sql = f"""WITH b_hash AS (SELECT t.id, hash({fingerprint}) AS h FROM {before} AS t),
a_hash AS (SELECT t.id, hash({fingerprint}) AS h FROM {after} AS t),
odd AS (
  SELECT b_hash.id, a_hash.id IS NULL AS missing FROM b_hash LEFT JOIN a_hash ON a_hash.id = b_hash.id
  WHERE a_hash.id IS NULL OR b_hash.h <> a_hash.h),
repeated AS (
  SELECT id FROM {before} WHERE id IN (SELECT id FROM odd) GROUP BY id HAVING count(*) > 1
  UNION SELECT id FROM {after} WHERE id IN (SELECT id FROM odd) GROUP BY id HAVING count(*) > 1),
kept AS (SELECT DISTINCT id, missing FROM odd WHERE id NOT IN (SELECT id FROM repeated)),
cells AS (
  SELECT b.id, unnest(list_filter([{cells}], lambda x: x IS NOT NULL)) AS cell
  FROM {before} AS b JOIN {after} AS a USING (id) WHERE b.id IN (SELECT id FROM kept WHERE NOT missing))
SELECT id::VARCHAR AS id, 'missing' AS kind, NULL AS "column", NULL AS "before", NULL AS "after"
FROM kept WHERE missing
UNION ALL
SELECT id::VARCHAR, 'changed', cell."column", cell."before", cell."after" FROM cells
ORDER BY kind, id, "column\""""
    ids = audit.frame(sql)
    ids = ids.filter(~pl.struct(ids.columns).map_elements(_same_json, return_dtype=pl.Boolean))
    missing = ids.filter(pl.col("kind") == "missing").height
    changed = ids.filter(pl.col("kind") == "changed")["id"].n_unique()
    compared = audit.store.execute(f"SELECT count(*) FROM {before}")[0][0]
    finding = (
        f"{compared:,} snapshot rows compared on {len(columns) + 1} columns: "
        f"{missing:,} missing from {audit.after}, {changed:,} changed"
    )
    if changed:
        finding += " (" + ", ".join(ids.filter(pl.col("kind") == "changed")["column"].unique().sort()) + ")"
    return _result(
        name,
        "fail",
        ids,
        sql,
        finding + ".",
        count=missing + changed,
        breakdowns={"by kind and column": _by(ids, "kind", "column")},
    )


_JSON_COLUMNS = {c.name for c in schema.COLUMNS if c.type == "JSON"}


def _same_json(row: dict[str, Any]) -> bool:
    """Whether a changed JSON cell holds the same value on both sides (key order, spacing)."""
    if row["column"] not in _JSON_COLUMNS or row["before"] is None or row["after"] is None:
        return False
    return _json_value(json.loads(row["before"])) == _json_value(json.loads(row["after"]))


def _json_value(value: Any) -> Any:
    """A comparable form of a JSON value: objects unordered, numbers exact, booleans not numbers."""
    if isinstance(value, dict):
        return ("object", frozenset((k, _json_value(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_json_value(v) for v in value))
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, (int, float)):
        return ("number", Decimal(repr(value)).normalize())
    return ("string", value)


def duplicate_ids(audit: Audit) -> CheckResult:
    """Row ids present more than once in either table (the primary key forbids it)."""
    parts = [(audit.after, audit.table)] + ([(audit.before, quote(audit.before))] if audit.before else [])
    sql = "\nUNION ALL\n".join(
        f"SELECT id::VARCHAR AS id, {literal(name)} AS table_name, count(*) AS copies FROM {table} "
        "GROUP BY id HAVING count(*) > 1"
        for name, table in parts
    )
    ids = audit.frame(sql + "\nORDER BY table_name, id")
    return _result(
        "duplicate_ids",
        "fail",
        ids,
        sql,
        f"{ids.height:,} row ids appear more than once ({', '.join(n for n, _ in parts)} checked).",
    )


# --- categories -----------------------------------------------------------------------------


def category_present(audit: Audit) -> CheckResult:
    """Every row has a category, and a label the enum knows."""
    labels = ", ".join(literal(c) for c in schema.CATEGORIES)
    sql = f"""SELECT id::VARCHAR AS id, created_at, operation, category FROM {audit.table}
WHERE category IS NULL OR category NOT IN ({labels}) ORDER BY created_at, id"""
    ids = audit.frame(sql)
    unknown = sorted(ids["category"].drop_nulls().unique())
    finding = f"{ids['category'].null_count():,} rows without a category"
    finding += (
        f", {ids.height - ids['category'].null_count():,} with unknown labels {unknown}." if unknown else "."
    )
    return _result(
        "category_present", "fail", ids, sql, finding, breakdowns={"by category": _by(ids, "category")}
    )


def category_backfill(audit: Audit) -> CheckResult:
    """Rows that existed at the migration carry the category its rules, as applied, gave them.

    Also lists where the applied rules differ from the roadmap's intent (a warning: that is what
    the migration did, not a fault of the data).
    """
    name = "category_backfill"
    existed = audit.existed_at_migration()
    if existed is None:
        return _skipped(name, _NO_MIGRATION_TIME)
    applied, intent = rules.APPLIED_BACKFILL, rules.ROADMAP_INTENT
    sql = f"""SELECT id::VARCHAR AS id, created_at, operation, status, category, expected
FROM (SELECT *, {applied.case()} AS expected FROM {audit.table} WHERE {existed})
WHERE category IS DISTINCT FROM expected ORDER BY created_at, id"""
    groups = audit.frame(
        f"""SELECT operation, status, category, {applied.case()} AS {quote(applied.name)},
  {intent.case()} AS {quote(intent.name)}, count(*) AS rows
FROM {audit.table} WHERE {existed} GROUP BY ALL"""
    )
    total = int(groups["rows"].sum())
    mismatches = groups.filter(pl.col("category").ne_missing(pl.col(applied.name)))["rows"].sum()
    ids = audit.frame(sql if mismatches else f"SELECT * FROM ({sql}) LIMIT 0")  # no second scan
    differs = groups.filter(pl.col(applied.name).ne_missing(pl.col(intent.name)))
    by_intent = (
        differs.group_by("operation", "status", applied.name, intent.name)
        .agg(pl.col("rows").sum())
        .sort(["rows", "operation", "status"], descending=[True, False, False])
    )
    differing = int(by_intent["rows"].sum())
    finding = (
        f"{ids.height:,} of {total:,} rows that existed at the migration differ from the rules as applied "
        "(the migration's UPDATEs replayed literally, in their order). "
        f"The applied rules differ from the roadmap's intent on {differing:,} rows"
    )
    finding += ": " + "; ".join(_intent_examples(by_intent)) + "." if differing else "."
    status = "fail" if ids.height else "warn" if differing else "pass"
    breakdowns = {
        "mismatches by operation and status": _by(ids, "operation", "status", "category", "expected"),
        "applied rules vs the roadmap's intent": by_intent,
    }
    return CheckResult(name, status, ids.height, finding, ids, sql, breakdowns)


def _intent_examples(intent: pl.DataFrame) -> list[str]:
    grouped = intent.group_by(intent.columns[2], intent.columns[3]).agg(
        pl.col("rows").sum(), pl.col("operation").unique().sort().head(3)
    )
    return [
        f"{r['rows']:,} labelled {r[intent.columns[2]]} where the intent was {r[intent.columns[3]]} "
        f"({', '.join(r['operation'])})"
        for r in grouped.sort("rows", descending=True).head(4).to_dicts()
    ]


def category_rules(audit: Audit) -> CheckResult:
    """Rows written after the migration against the application's rules (a warning)."""
    name = "category_rules"
    existed = audit.existed_at_migration()
    if existed is None:
        return _skipped(name, _NO_MIGRATION_TIME)
    since = f"created_at >= {_timestamp(audit.migrated_at)} AND " if audit.migrated_at else ""
    sql = f"""SELECT id::VARCHAR AS id, created_at, operation, status, category, expected
FROM (SELECT *, {rules.APPLICATION.case()} AS expected FROM {audit.table} WHERE {since}NOT ({existed}))
WHERE category IS DISTINCT FROM expected ORDER BY created_at, id"""
    ids = audit.frame(sql)
    breakdown = _by(ids, "operation", "category", "expected")
    examples = "; ".join(
        f"{r['operation']} {r['category']} (rules: {r['expected']}) ×{r['rows']:,}"
        for r in breakdown.head(3).to_dicts()
    )
    finding = f"{ids.height:,} rows written after the migration differ from the application's rules"
    finding += f": {examples}." if examples else "."
    return _result(name, "warn", ids, sql, finding, breakdowns={"by operation": breakdown})


# --- root jobs ------------------------------------------------------------------------------


def root_job_backfill(audit: Audit) -> CheckResult:
    """Rows that existed at the root-job migration carry the root its recursive walk gave them.

    The walk, as applied: a row without a parent gets its own job id; a row with one starts
    from its parent id and climbs through every row logged by that job (shared job ids fan
    out) for at most 10 steps; the deepest step's job id wins, and among equally deep ones
    any may have been written. A dangling parent is its own root; a dangling grandparent is
    not reached, so the parent is.
    """
    name = "root_job_backfill"
    existed = audit.existed_at_root_job_migration()
    if existed is None:
        return _skipped(name, _no_root_time())
    sql = f"""WITH RECURSIVE old AS (
  SELECT id, created_at, job_id, parent_job_id, root_job_id FROM {audit.table} WHERE {existed}),
links AS (SELECT DISTINCT job_id, parent_job_id FROM old WHERE job_id IS NOT NULL),
walk(id, parent, root, depth) AS (
  SELECT id, parent_job_id, parent_job_id, 1 FROM old WHERE parent_job_id IS NOT NULL
  UNION
  SELECT w.id, l.parent_job_id, l.job_id, w.depth + 1 FROM walk AS w JOIN links AS l ON l.job_id = w.parent
  WHERE w.depth < {DEPTH_LIMIT}),
deepest AS (
  SELECT id, depth, list(DISTINCT root ORDER BY root) AS roots FROM walk GROUP BY id, depth
  QUALIFY depth = max(depth) OVER (PARTITION BY id)),
expected AS (
  SELECT o.*, CASE WHEN o.parent_job_id IS NOT NULL THEN d.roots
    WHEN o.job_id IS NOT NULL THEN [o.job_id] ELSE [] END AS roots
  FROM old AS o LEFT JOIN deepest AS d USING (id))
SELECT id::VARCHAR AS id, created_at, job_id, parent_job_id, root_job_id, roots[1] AS expected,
  len(roots) AS candidates
FROM expected
WHERE CASE WHEN len(roots) = 0 THEN root_job_id IS NOT NULL
  ELSE NOT coalesce(list_contains(roots, root_job_id), false) END
ORDER BY created_at, id"""
    ids = audit.frame(sql)
    total = audit.store.execute(f"SELECT count(*) FROM {audit.table} WHERE {existed}")[0][0]
    kinds = ids.with_columns(
        kind=pl.when(pl.col("root_job_id").is_null())
        .then(pl.lit("left NULL"))
        .when(pl.col("expected").is_null())
        .then(pl.lit("set where the walk gives none"))
        .otherwise(pl.lit("another root"))
    )
    finding = (
        f"{ids.height:,} of {total:,} rows that existed at the root-job migration differ from the "
        "backfill's walk, replayed literally as applied (joined on bare job ids, at most 10 steps)."
    )
    return _result(name, "fail", ids, sql, finding, breakdowns={"by kind": _by(kinds, "kind")})


def root_job_truth(audit: Audit) -> CheckResult:
    """Where the stored root of a backfilled row is not the true top of its job tree (a warning).

    The true root comes from an unlimited, loop-safe walk over job instances (see
    :func:`~llamalog_analytics.links.roots_sql`) among the rows that existed at the migration:
    it follows each run's first row's parent, stops at a run with no parent or at a parent
    whose run never logged (the bare id is the root), and has no root on a loop. The cause
    says why the backfill, which joined bare ids, ended elsewhere: its depth limit, a
    dangling ancestor above the parent, a parent loop, a parent whose own run never logged
    but whose id other runs carried, or a job id shared by rows or runs with other parents.
    """
    name = "root_job_truth"
    existed = audit.existed_at_root_job_migration()
    if existed is None:
        return _skipped(name, _no_root_time())
    hops = DEPTH_LIMIT - 1  # the walk resolves roots up to this many hops above the parent
    old = f"(SELECT * FROM {audit.table} WHERE {existed})"
    sql = f"""SELECT id::VARCHAR AS id, created_at, job_id, parent_job_id, root_job_id, true_root, ancestors,
  CASE WHEN looped THEN 'parent loop' WHEN ancestors > {hops} THEN 'deeper than the depth limit'
    WHEN top_dangling AND ancestors > 1 THEN 'dangling ancestor'
    WHEN dangling = {literal(links.NO_RUN_NEAR)} THEN 'parent run never logged; its id was reused'
    ELSE 'shared or reused job id' END AS cause
FROM ({links.roots_sql(old, audit.linking, quoted=True)})
WHERE root_job_id IS DISTINCT FROM true_root
ORDER BY created_at, id"""
    ids = audit.frame(sql)
    breakdown = _by(ids, "cause")
    causes = ", ".join(f"{r['cause']} {r['rows']:,}" for r in breakdown.to_dicts())
    finding = (
        f"{ids.height:,} backfilled rows have a stored root that is not the true top of their job tree, "
        f"following {audit.linking}"
    )
    finding += f" ({causes})." if causes else "."
    return _result(name, "warn", ids, sql, finding, breakdowns={"by cause": breakdown})


def _no_root_time() -> str:
    return (
        "no apply time for the root-job migration. Hint: load _prisma_migrations, or pass "
        "root_job_migrated_at (--root-job-migrated-at)"
    )


# --- job links ------------------------------------------------------------------------------


def reused_job_ids(audit: Audit) -> CheckResult:
    """Job ids that ran more than once (a warning: BullMQ ids restart after a Redis reset).

    Several rows per run are normal (one job logs several rows; BullMQ retries keep the id).
    Counted are job ids with more than one instance; the ids frame lists every instance of
    them (``id`` is its first row) with its span and row count. Chains follow the run nearest
    in time, so a reused id does not join unrelated jobs; the backfills joined bare ids.
    """
    ids, sql = audit.on_links(links.reused_sql, "job_id, job_instance")
    jobs = ids["job_id"].n_unique()
    finding = (
        f"{jobs:,} job ids ran more than once ({ids.height:,} runs, {audit.linking}); each run is "
        "followed on its own."
    )
    by_runs = ids.unique("job_id").pipe(_by, "runs")
    return _result(
        "reused_job_ids", "warn", ids, sql, finding, count=jobs, breakdowns={"job ids by runs": by_runs}
    )


def dangling_parents(audit: Audit) -> CheckResult:
    """Rows whose parent's run never logged a row (a warning: sync batches, lost jobs).

    ``dangling`` says why: no row carries the parent id at all, or no run of it lies within
    the reuse gap of the row (the id was used by other, unrelated runs).
    """
    ids, sql = audit.on_links(links.dangling_sql, "created_at, id")
    by_parent = _by(ids, "parent_job_id")
    finding = (
        f"{ids.height:,} rows point at {by_parent.height:,} parent job ids whose run never logged a row "
        f"({audit.linking})."
    )
    breakdowns = {"by reason": _by(ids, "dangling"), "by parent job id": by_parent}
    return _result("dangling_parents", "warn", ids, sql, finding, breakdowns=breakdowns)


def job_cycles(audit: Audit) -> CheckResult:
    """Rows whose parent link lies on a loop of job instances (a run that is its own ancestor)."""
    loops = links.loops(audit.store, audit.linked)
    sql = links.loops_sql(links.linked_sql(audit.after, audit.linking)) + "\nORDER BY created_at, id"
    on_loops = loops.select("cycle", "job_id", "job_instance")
    ids = audit.frame(
        f"""SELECT id::VARCHAR AS id, created_at, job_id, job_instance, parent_job_id, parent_instance
FROM {audit.linked} WHERE job_id IN (SELECT unnest(?::VARCHAR[])) AND parent_instance IS NOT NULL""",
        [loops["job_id"].unique().to_list()],
    )
    ids = (
        ids.join(on_loops, on=["job_id", "job_instance"])
        .join(
            on_loops.rename({"job_id": "parent_job_id", "job_instance": "parent_instance", "cycle": "of"}),
            on=["parent_job_id", "parent_instance"],
        )
        .filter(pl.col("cycle") == pl.col("of"))
        .drop("cycle", "of")
        .sort("created_at", "id")
    )
    finding = (
        f"{ids.height:,} rows link {loops.height:,} job runs into {loops['cycle'].n_unique():,} parent "
        f"loops ({audit.linking})."
    )
    return _result("job_cycles", "fail", ids, sql, finding, breakdowns={"runs by loop": loops})


def is_root_consistency(audit: Audit) -> CheckResult:
    """Rows whose ``is_root_job`` disagrees with ``parent_job_id`` (a warning).

    Rows older than the ``is_root_job`` migration all got ``false`` and are left out; direct
    writers (previews, corrections, logActivity) never set the flag, so expect some.
    """
    since = audit.applied.get(schema.MIGRATIONS[5])
    sql = integrity.root_flag_sql(audit.after)
    if since is not None:
        sql = f"SELECT * FROM ({sql}) WHERE kind = 'root with parent' OR created_at >= {_timestamp(since)}"
    ids = audit.frame(sql)
    finding = f"{ids.height:,} rows have is_root_job disagreeing with parent_job_id"
    finding += (
        "."
        if since is None
        else f" (rows before {since:%Y-%m-%d %H:%M} UTC left out: the flag did not exist)."
    )
    return _result(
        "is_root_consistency",
        "warn",
        ids,
        sql,
        finding,
        breakdowns={"by kind and operation": _by(ids, "kind", "operation")},
    )


def child_before_parent(audit: Audit) -> CheckResult:
    """Rows logged before the first row of their parent's run (a warning: v1.4's add-album order)."""
    ids, sql = audit.on_links(links.before_parent_sql, "created_at, id")
    finding = f"{ids.height:,} rows were logged before the first row of their parent's run ({audit.linking})."
    return _result(
        "child_before_parent", "warn", ids, sql, finding, breakdowns={"by operation": _by(ids, "operation")}
    )


DEFAULT_CHECKS: tuple[Check, ...] = (
    rows_preserved,
    category_present,
    category_backfill,
    category_rules,
    root_job_backfill,
    root_job_truth,
    duplicate_ids,
    reused_job_ids,
    dangling_parents,
    job_cycles,
    is_root_consistency,
    child_before_parent,
)
