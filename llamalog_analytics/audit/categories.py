"""Checks on ``category``: present, backfilled as the migration's rules applied, then the app's rules."""

from __future__ import annotations

import polars as pl

from .. import rules, schema
from .._format import count, first_few, verb
from .._sql import literal
from .context import Audit, Check, check_result, counts_by, listed, skipped, timestamp_sql
from .result import CheckResult

NO_MIGRATION_TIME = (
    "No pre-migration snapshot and no apply time for the category migration, so which rows it "
    "labelled is unknown. Hint: load _prisma_migrations or the enrichment_logs snapshot, or pass "
    "migrated_at (--migrated-at)"
)


def category_present(audit: Audit) -> CheckResult:
    """Every row has a category, and a label the enum knows."""
    labels = ", ".join(literal(c) for c in schema.CATEGORIES)
    sql = f"""SELECT id, created_at, operation, category FROM {audit.table}
WHERE category IS NULL OR category NOT IN ({labels})"""
    ids, sql = audit.listing(sql, "created_at, id")
    rows = ids.stored().unique("id", keep="first").select("category").collect()
    unlabelled = rows["category"].null_count()
    unknown = sorted(rows["category"].drop_nulls().unique())
    n = listed(ids)
    finding = f"{count(n, 'row')} {verb(n, 'has', 'have')} no category or an unknown label"
    if rows.height:
        finding += f": {unlabelled:,} without a category"
        finding += (
            f", {rows.height - unlabelled:,} with unknown labels ({', '.join(unknown)})" if unknown else ""
        )
    finding += "."
    return check_result(
        "category_present",
        "Every row has a category, one of the LlamaLogCategory labels.",
        "fail",
        ids,
        sql,
        finding,
        count=n,
        breakdowns={"by category": counts_by(ids, "category")},
    )


def category_backfill(audit: Audit) -> CheckResult:
    """Rows that existed at the migration carry the category its rules, as applied, gave them.

    The rules are replayed on the ``operation`` and ``status`` the migration saw: the
    snapshot's (:meth:`~.context.Audit.as_migrated`), so a row edited since is not judged by
    its new values; ``ids`` shows the values replayed on. A row that does not carry what they
    give fails the check, and ``ids`` lists those rows. Where every row does, the check warns
    if the applied rules differ from the roadmap's intent (that is what the migration did, not
    a fault of the data) and ``ids`` lists the rows the intent would have labelled otherwise;
    ``expected`` is the applied rules' category, ``intended`` the roadmap's. Either way the
    breakdown ``applied rules vs the roadmap's intent`` counts them.
    """
    name = "category_backfill"
    expects = (
        "Every row that existed at the category migration carries the category the migration's "
        "UPDATEs, replayed in their order, give it, and those rules give what the roadmap intended "
        "(a warning where they do not)."
    )
    existed, groups = audit.existed_at_migration(), audit.category_groups
    if existed is None or groups is None:
        return skipped(name, expects, NO_MIGRATION_TIME)
    applied, intent = rules.APPLIED_BACKFILL, rules.ROADMAP_INTENT
    rows = f"""SELECT id, created_at, operation, status, category, expected, intended
FROM (SELECT *, {applied.case()} AS expected, {intent.case()} AS intended
  FROM {audit.as_migrated(existed)})"""
    total = int(groups["rows"].sum())
    mismatches = int(groups.filter(pl.col("category").ne_missing(pl.col(applied.name)))["rows"].sum())
    differs = groups.filter(pl.col(applied.name).ne_missing(pl.col(intent.name)))
    by_intent = (
        differs.group_by("operation", "status", applied.name, intent.name)
        .agg(pl.col("rows").sum())
        .sort(["rows", "operation", "status"], descending=[True, False, False])
    )
    differing = int(by_intent["rows"].sum())
    intent_examples = ": " + "; ".join(_intent_examples(by_intent)) + "." if differing else "."
    replayed = (
        "(the migration's UPDATEs replayed literally, in their order, "
        f"{audit.replayed_on('operation and status')})"
    )
    # The rows behind the status: mismatches fail; without any, rows the intent would label
    # otherwise warn. Each is read only when there are some (the groups counted them).
    if mismatches:
        status, where = "fail", "category IS DISTINCT FROM expected"
    else:
        status, where = ("warn" if differing else "pass"), "expected IS DISTINCT FROM intended"
    ids, sql = audit.listing(f"{rows}\nWHERE {where}", "created_at, id", empty=not (mismatches or differing))
    offending = listed(ids)
    if status == "fail":
        finding = (
            f"{offending:,} of {total:,} rows that existed at the migration differ from the rules as applied "
            f"{replayed}. Besides, the applied rules differ from the roadmap's intent on {differing:,} rows"
        )
    elif status == "warn":
        finding = (
            f"{offending:,} of {total:,} rows that existed at the migration carry a category the roadmap did "
            f"not intend; every row carries what the rules as applied give {replayed}, and those rules "
            "differ from the intent"
        )
    else:
        finding = (
            f"0 of {total:,} rows that existed at the migration differ from the rules as applied "
            f"{replayed}, and those rules agree with the roadmap's intent on every row"
        )
    mismatched = ids.lazy() if status == "fail" else ids.lazy().clear()
    breakdowns = {
        "mismatches by operation and status": counts_by(
            mismatched, "operation", "status", "category", "expected"
        ),
        "applied rules vs the roadmap's intent": by_intent,
    }
    return CheckResult(name, status, offending, finding + intent_examples, expects, ids, sql, breakdowns)


def _intent_examples(intent: pl.DataFrame) -> list[str]:
    grouped = intent.group_by(intent.columns[2], intent.columns[3]).agg(
        pl.col("rows").sum(), pl.col("operation").unique().sort()
    )
    return [
        f"{r['rows']:,} labelled {r[intent.columns[2]]} where the intent was {r[intent.columns[3]]} "
        f"({first_few(r['operation'], 3)})"
        for r in grouped.sort("rows", descending=True).head(4).to_dicts()
    ]


def category_rules(audit: Audit) -> CheckResult:
    """Rows written after the migration against the application's rules (a warning)."""
    name = "category_rules"
    expects = (
        "Every row written after the category migration carries the category the application's "
        "rules give it (a warning: callers may pass their own)."
    )
    existed = audit.existed_at_migration()
    if existed is None:
        return skipped(name, expects, NO_MIGRATION_TIME)
    since = f"created_at >= {timestamp_sql(audit.migrated_at)} AND " if audit.migrated_at else ""
    sql = f"""SELECT id, created_at, operation, status, category, expected
FROM (SELECT *, {rules.APPLICATION.case()} AS expected FROM {audit.table} WHERE {since}NOT ({existed}))
WHERE category IS DISTINCT FROM expected"""
    ids, sql = audit.listing(sql, "created_at, id")
    breakdown = counts_by(ids, "operation", "category", "expected")
    examples = "; ".join(
        f"{r['operation']} {r['category'] or 'without a category'} (rules: {r['expected']}) ×{r['rows']:,}"
        for r in breakdown.head(3).to_dicts()
    )
    n = listed(ids)
    finding = (
        f"{count(n, 'row')} written after the migration {verb(n, 'differs', 'differ')} "
        "from the application's rules"
    )
    finding += f": {examples}." if examples else "."
    return check_result(
        name, expects, "warn", ids, sql, finding, count=n, breakdowns={"by operation": breakdown}
    )


CATEGORY_CHECKS: tuple[Check, ...] = (category_present, category_backfill, category_rules)
