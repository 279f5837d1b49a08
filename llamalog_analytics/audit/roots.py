"""Checks on the root job: ``root_job_id`` as the backfill's walk set it, the true top of each
job tree, and ``is_root_job`` against ``parent_job_id``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

import polars as pl

from .. import links, schema
from .._format import count, verb
from .._sql import literal, quote
from .context import Audit, Check, check_result, counts_by, listed, skipped, timestamp_sql
from .result import CheckResult

DEPTH_LIMIT = 10  # tuples the root-job backfill's recursive CTE built per row
NO_ROOT_MIGRATION_TIME = (
    "No apply time for the root-job migration, so which rows it backfilled is unknown. Hint: "
    "load _prisma_migrations, or pass root_job_migrated_at (--root-job-migrated-at)"
)
SNAPSHOT_ROWS_ONLY = (
    "the root-job migration's apply time is unknown, so the walk was replayed for the snapshot's "
    "rows, which existed at both migrations (load _prisma_migrations or pass --root-job-migrated-at "
    "for every row it saw)"
)
NO_FLAG_TIME = (
    "the is_root_job migration's apply time is unknown, so rows from before the flag existed "
    "(all false) are included. Hint: load _prisma_migrations"
)


def root_job_backfill(audit: Audit) -> CheckResult:
    """Rows that existed at the root-job migration carry the root its recursive walk gave them.

    The walk, as applied: a row without a parent gets its own job id; a row with one starts
    from its parent id and climbs through every row logged by that job (shared job ids fan
    out) for at most ``DEPTH_LIMIT`` (10) steps; the deepest step's job id wins, and among equally deep ones
    any may have been written. A dangling parent is its own root; a dangling grandparent is
    not reached, so the parent is. The walk follows the job links the migration saw: the
    snapshot's for the rows it holds (:meth:`~.context.Audit.as_migrated`), so a row whose
    parent was changed since is not judged by its new parent; ``ids`` shows the links walked.
    """
    name = "root_job_backfill"
    expects = (
        "Every row that existed at the root-job migration carries the root_job_id the migration's "
        "recursive walk, replayed as applied, gave it."
    )
    shown = replayed_roots_sql(audit)
    if shown is None:
        return skipped(name, expects, NO_ROOT_MIGRATION_TIME)
    differing = """
SELECT id, created_at, job_id, parent_job_id, root_job_id, roots[1] AS expected,
  len(roots) AS candidates
FROM replayed
WHERE present AND CASE WHEN len(roots) = 0 THEN root_job_id IS NOT NULL
  ELSE NOT coalesce(list_contains(roots, root_job_id), false) END"""
    with replayed_roots(audit) as replayed:
        ids, sql = audit.listing(replayed + differing, "created_at, id", shown=shown + differing)
    total = audit.store.execute(
        f"SELECT count(*) FROM {audit.table} WHERE {audit.existed_at_root_job_migration()}"
    )[0][0]
    kinds = ids.lazy().with_columns(
        kind=pl.when(pl.col("root_job_id").is_null())
        .then(pl.lit("left NULL"))
        .when(pl.col("expected").is_null())
        .then(pl.lit("set where the walk gives none"))
        .otherwise(pl.lit("another root"))
    )
    n = listed(ids)
    finding = (
        f"{n:,} of {total:,} rows that existed at the root-job migration differ from the "
        "backfill's walk, replayed literally as applied "
        f"(joined on bare job ids, at most {DEPTH_LIMIT} steps) {audit.replayed_on('job links')}"
    )
    if audit.before is not None:
        deleted_rows = _deleted_rows(audit.before, audit.table)
        deleted = audit.store.execute(f"SELECT count(*) FROM {deleted_rows}")[0][0]
        if deleted:
            finding += (
                f"; the walk also follows the {count(deleted, 'snapshot row')} deleted since, taken to "
                "have existed at the migration"
            )
    finding += "." if audit.root_job_migrated_at else f"; {SNAPSHOT_ROWS_ONLY}."
    return check_result(
        name, expects, "fail", ids, sql, finding, count=n, breakdowns={"by kind": counts_by(kinds, "kind")}
    )


def replayed_roots_sql(audit: Audit, rows: str | None = None) -> str | None:
    """``WITH`` clauses ending in ``replayed``: every row the root-job backfill saw, with the
    roots its walk gives it (``roots``: the deepest step's job ids, sorted; the first is the one
    a repair writes) and whether the row is still in the table (``present``); None when which
    rows it saw is unknown. One statement, the walk a recursive CTE: the SQL a check shows;
    :func:`replayed_roots` runs the same walk a step at a time. With ``rows`` (a query of ids,
    one column, as text or UUIDs), the walk starts from those rows' parent ids alone and the
    other rows get no roots: what a repair restoring a few rows needs, walked from a few ids,
    not from every one (12M at 100M rows, more than a recursive CTE holds in 6 GB).

    It saw the table's rows that existed then, with the job links the snapshot holds for them
    (:meth:`~.context.Audit.as_migrated`), and, taken to have existed then too, the
    snapshot's rows deleted since: the snapshot predates the category migration, the root-job
    migration came a day later, and deletions come later still. So a restored row gets the
    root the walk gives it, and restoring rows changes no other row's root. See
    :func:`root_job_backfill` for the walk; it is walked once per parent id, as every row with
    that parent walks the same steps.
    """
    seen = _seen(audit)
    if seen is None:
        return None
    union = "\n  UNION ALL ".join(part for part in seen if part is not None)
    return f"""WITH RECURSIVE old AS (
  {union}),
links AS ({_LINKS.format(old="old")}),
walk(start, parent, root, depth) AS (
  SELECT start, parent, root, 1 FROM ({_starts("old", rows)})
  UNION
  SELECT w.start, l.parent_job_id, l.job_id, w.depth + 1
  FROM walk AS w JOIN links AS l ON l.job_id = w.parent
  WHERE w.depth < {DEPTH_LIMIT}),
deepest AS (
  {_DEEPEST}),
{_REPLAYED}"""


@contextmanager
def replayed_roots(audit: Audit) -> Iterator[str]:
    """:func:`replayed_roots_sql`'s rows for the ``with`` block (which rows the backfill saw
    must be known), the walk made a step at a time into temporary tables, each step's
    (``start``, ``parent``, ``root``) distinct, as the recursive CTE's ``UNION`` keeps them.

    A recursive CTE keeps every step it makes in memory, and at 100M rows (12M parent ids,
    40M job links) the walk ran out of a 6 GB memory limit; a step of its own is a join and a
    ``DISTINCT``, which DuckDB spills to disk as it needs. Only the job links are read from the
    snapshot (the walk reads no other column it holds), and the rows the backfill saw are
    written in two statements, the table's then the snapshot's deleted since: in one, the two
    joins that find them held both their tables in memory at once (at 10M rows, out of a 400 MB
    limit that each alone stays within).

    Examples:
        >>> import llamalog_analytics as lla
        >>> from datetime import datetime
        >>> with lla.sample_store() as store:
        ...     audit = Audit(store, "llama_logs", "enrichment_logs", None, datetime(2026, 4, 1))
        ...     with replayed_roots(audit) as replayed:
        ...         stepwise = store.frame(f"{replayed} SELECT id, roots FROM replayed")
        ...     whole = store.frame(f"{replayed_roots_sql(audit)} SELECT id, roots FROM replayed")
        >>> stepwise.sort("id").equals(whole.sort("id")), stepwise.height
        (True, 2262)
    """
    seen = _seen(audit)
    assert seen is not None, "which rows the root-job backfill saw is unknown"
    # the steps are sets: what would keep their rows in order is memory a step may need
    with audit.store.settings(preserve_insertion_order="false"), ExitStack() as held:

        def table(sql: str) -> str:
            return held.enter_context(audit.store.temporary(sql))

        in_table, deleted = seen
        old = table(in_table)
        if deleted is not None:
            audit.store.execute(f"INSERT INTO {old} {deleted}")
        links = table(_LINKS.format(old=old))
        steps = [table(_starts(old))]
        while len(steps) < DEPTH_LIMIT:
            step = table(
                f"SELECT DISTINCT w.start, l.parent_job_id AS parent, l.job_id AS root FROM {steps[-1]} AS w "
                f"JOIN {links} AS l ON l.job_id = w.parent"
            )
            if not audit.store.execute(f"SELECT EXISTS (SELECT 1 FROM {step})")[0][0]:
                break
            steps.append(step)
        walked = "\n  UNION ALL ".join(
            f"SELECT start, root, {depth} AS depth FROM {name}" for depth, name in enumerate(steps, 1)
        )
        deepest = table(f"WITH walk AS (\n  {walked})\n{_DEEPEST}")
        yield f"WITH old AS (SELECT * FROM {old}), deepest AS (SELECT * FROM {deepest}),\n{_REPLAYED}"


def _seen(audit: Audit) -> tuple[str, str | None] | None:
    """The rows the root-job backfill saw (see :func:`replayed_roots_sql`) as two queries: the
    table's, and the snapshot's deleted since (None without a snapshot); None if which rows it
    saw is unknown."""
    existed = audit.existed_at_root_job_migration()
    if existed is None:
        return None
    in_table = (
        "SELECT id, created_at, job_id, parent_job_id, root_job_id, true AS present "
        f"FROM {audit.as_migrated(existed, ('job_id', 'parent_job_id'))}"
    )
    if audit.before is None:
        return in_table, None
    deleted = (
        "SELECT id, created_at, job_id, parent_job_id, NULL, false "
        f"FROM {_deleted_rows(audit.before, audit.table)}"
    )
    return in_table, deleted


_LINKS = "SELECT DISTINCT job_id, parent_job_id FROM {old} WHERE job_id IS NOT NULL"


def _starts(old: str, rows: str | None = None) -> str:
    """The walk's first step: each parent id of the rows in ``old`` (of those ``rows`` lists,
    if given), from itself."""
    only = "" if rows is None else f" AND id IN (SELECT id::UUID FROM ({rows}))"
    return f"""SELECT DISTINCT parent_job_id AS start, parent_job_id AS parent, parent_job_id AS root
    FROM {old} WHERE parent_job_id IS NOT NULL{only}"""


# each parent id's deepest step in the walk and the job ids it reached there
_DEEPEST = """SELECT start, depth, list(DISTINCT root ORDER BY root) AS roots FROM walk GROUP BY start, depth
  QUALIFY depth = max(depth) OVER (PARTITION BY start)"""
_REPLAYED = """replayed AS (
  SELECT o.*, CASE WHEN o.parent_job_id IS NOT NULL THEN d.roots
    WHEN o.job_id IS NOT NULL THEN [o.job_id] ELSE [] END AS roots
  FROM old AS o LEFT JOIN deepest AS d ON d.start = o.parent_job_id)"""


def _deleted_rows(before: str, table: str) -> str:
    """SQL for a ``FROM``: the rows of the snapshot ``before`` whose id ``table`` (quoted) no
    longer has."""
    return f"{quote(before)} AS b WHERE NOT EXISTS (SELECT 1 FROM {table} AS a WHERE a.id = b.id)"


def root_job_truth(audit: Audit) -> CheckResult:
    """Where the stored root of a backfilled row is not the true top of its job tree (a warning).

    The true root comes from an unlimited, loop-safe walk over job instances (see
    :func:`~llamalog_analytics.links.roots_sql`) among the rows that existed at the migration:
    it follows each run's first row's parent, stops at a run with no parent or at a parent
    whose run never logged (the bare id is the root), and has no root on a loop. The cause
    says why the backfill, which joined bare ids, ended elsewhere: no root stored at all (the
    backfill left the row without one), its depth limit, a dangling ancestor above
    the parent, a parent loop, a parent whose own run never logged but whose id other runs
    carried, or a job id shared by rows or runs with other parents.
    """
    name = "root_job_truth"
    expects = (
        "The root_job_id of every row that existed at the root-job migration is the true top of its "
        "tree of job runs (a warning where the backfill's walk stopped elsewhere)."
    )
    existed = audit.existed_at_root_job_migration()
    if existed is None:
        return skipped(name, expects, NO_ROOT_MIGRATION_TIME)
    hops = DEPTH_LIMIT - 1  # the walk resolves roots up to this many hops above the parent
    old = f"(SELECT * FROM {audit.table} WHERE {existed})"
    sql = f"""SELECT id, created_at, job_id, parent_job_id, root_job_id, true_root, ancestors,
  CASE WHEN root_job_id IS NULL THEN 'no root stored'
    WHEN looped THEN 'parent loop' WHEN ancestors > {hops} THEN 'deeper than the depth limit'
    WHEN top_dangling AND ancestors > 1 THEN 'dangling ancestor'
    WHEN dangling = {literal(links.NO_RUN_NEAR)} THEN 'parent run never logged; its id was reused'
    ELSE 'shared or reused job id' END AS cause
FROM ({links.roots_sql(old, audit.linking, quoted=True)})
WHERE root_job_id IS DISTINCT FROM true_root"""
    ids, sql = audit.listing(sql, "created_at, id")
    breakdown = counts_by(ids, "cause")
    causes = ", ".join(f"{r['cause']} {r['rows']:,}" for r in breakdown.to_dicts())
    n = listed(ids)
    finding = (
        f"{n:,} backfilled rows have a stored root that is not the true top of their job tree, "
        f"following {audit.linking}"
    )
    finding += f" ({causes})" if causes else ""
    finding += "." if audit.root_job_migrated_at else f"; {SNAPSHOT_ROWS_ONLY}."
    return check_result(name, expects, "warn", ids, sql, finding, count=n, breakdowns={"by cause": breakdown})


def is_root_consistency(audit: Audit) -> CheckResult:
    """Rows whose ``is_root_job`` disagrees with ``parent_job_id`` (a warning).

    Rows older than the ``is_root_job`` migration all got ``false`` and are left out; direct
    writers (previews, corrections, logActivity) never set the flag, so expect some.
    """
    since = audit.applied.get(schema.MIGRATIONS[5])
    ids, sql = audit.listing(_root_flag_sql(audit.after, since), "created_at, id")
    n = listed(ids)
    finding = f"{count(n, 'row')} {verb(n, 'has', 'have')} is_root_job disagreeing with parent_job_id"
    finding += (
        f"; {NO_FLAG_TIME}."
        if since is None
        else f" (rows before {since:%Y-%m-%d %H:%M} UTC left out: the flag did not exist)."
    )
    return check_result(
        "is_root_consistency",
        "A row written since the flag existed has is_root_job true exactly when it has no "
        "parent_job_id (a warning: direct writers never set the flag).",
        "warn",
        ids,
        sql,
        finding,
        count=n,
        breakdowns={"by kind and operation": counts_by(ids, "kind", "operation")},
    )


def _root_flag_sql(table: str, since: datetime | None) -> str:
    """Rows whose ``is_root_job`` disagrees with ``parent_job_id`` (what the admin UI uses); ``kind``
    is ``root with parent`` or ``no parent, not root``. Rows without a parent from before
    ``since`` (when the flag came) are left out."""
    no_parent = "NOT is_root_job AND parent_job_id IS NULL"
    if since is not None:
        no_parent += f" AND created_at >= {timestamp_sql(since)}"
    return f"""SELECT id, operation, created_at, job_id, parent_job_id, is_root_job,
  CASE WHEN is_root_job THEN 'root with parent' ELSE 'no parent, not root' END AS kind
FROM {quote(table)}
WHERE (is_root_job AND parent_job_id IS NOT NULL) OR ({no_parent})"""


ROOT_CHECKS: tuple[Check, ...] = (root_job_backfill, root_job_truth, is_root_consistency)
