"""Checks on ``category``: present, backfilled as the migration's rules applied, then the app's rules."""

from __future__ import annotations

import polars as pl

from .. import rules, schema
from .._sql import literal
from .context import Audit, Check, check_result, counts_by, skipped, timestamp_sql
from .result import CheckResult

NO_MIGRATION_TIME = (
    "no pre-migration snapshot and no apply time for the category migration. Hint: load "
    "_prisma_migrations or the enrichment_logs snapshot, or pass migrated_at (--migrated-at)"
)


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
    return check_result(
        "category_present", "fail", ids, sql, finding, breakdowns={"by category": counts_by(ids, "category")}
    )


def category_backfill(audit: Audit) -> CheckResult:
    """Rows that existed at the migration carry the category its rules, as applied, gave them.

    Also lists where the applied rules differ from the roadmap's intent (a warning: that is what
    the migration did, not a fault of the data).
    """
    name = "category_backfill"
    groups = audit.category_groups
    if groups is None:
        return skipped(name, NO_MIGRATION_TIME)
    applied, intent = rules.APPLIED_BACKFILL, rules.ROADMAP_INTENT
    sql = f"""SELECT id::VARCHAR AS id, created_at, operation, status, category, expected
FROM (SELECT *, {applied.case()} AS expected FROM {audit.table} WHERE {audit.existed_at_migration()})
WHERE category IS DISTINCT FROM expected ORDER BY created_at, id"""
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
        "mismatches by operation and status": counts_by(ids, "operation", "status", "category", "expected"),
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
        return skipped(name, NO_MIGRATION_TIME)
    since = f"created_at >= {timestamp_sql(audit.migrated_at)} AND " if audit.migrated_at else ""
    sql = f"""SELECT id::VARCHAR AS id, created_at, operation, status, category, expected
FROM (SELECT *, {rules.APPLICATION.case()} AS expected FROM {audit.table} WHERE {since}NOT ({existed}))
WHERE category IS DISTINCT FROM expected ORDER BY created_at, id"""
    ids = audit.frame(sql)
    breakdown = counts_by(ids, "operation", "category", "expected")
    examples = "; ".join(
        f"{r['operation']} {r['category']} (rules: {r['expected']}) ×{r['rows']:,}"
        for r in breakdown.head(3).to_dicts()
    )
    finding = f"{ids.height:,} rows written after the migration differ from the application's rules"
    finding += f": {examples}." if examples else "."
    return check_result(name, "warn", ids, sql, finding, breakdowns={"by operation": breakdown})


CATEGORY_CHECKS: tuple[Check, ...] = (category_present, category_backfill, category_rules)
