"""Checks on the job links, followed through job runs (:mod:`llamalog_analytics.links`): reused ids,
parents whose run never logged, loops, children logged before their parent run."""

from __future__ import annotations

import polars as pl

from .. import links
from .context import Audit, Check, check_result, counts_by
from .result import CheckResult


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
    by_runs = ids.unique("job_id").pipe(counts_by, "runs")
    return check_result(
        "reused_job_ids", "warn", ids, sql, finding, count=jobs, breakdowns={"job ids by runs": by_runs}
    )


def dangling_parents(audit: Audit) -> CheckResult:
    """Rows whose parent's run never logged a row (a warning: sync batches, lost jobs).

    ``dangling`` says why: no row carries the parent id at all, or no run of it lies within
    the reuse gap of the row (the id was used by other, unrelated runs).
    """
    ids, sql = audit.on_links(links.dangling_sql, "created_at, id")
    by_parent = counts_by(ids, "parent_job_id")
    finding = (
        f"{ids.height:,} rows point at {by_parent.height:,} parent job ids whose run never logged a row "
        f"({audit.linking})."
    )
    breakdowns = {"by reason": counts_by(ids, "dangling"), "by parent job id": by_parent}
    return check_result("dangling_parents", "warn", ids, sql, finding, breakdowns=breakdowns)


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
    return check_result("job_cycles", "fail", ids, sql, finding, breakdowns={"runs by loop": loops})


def child_before_parent(audit: Audit) -> CheckResult:
    """Rows logged before the first row of their parent's run (a warning: v1.4's add-album order)."""
    ids, sql = audit.on_links(links.before_parent_sql, "created_at, id")
    finding = f"{ids.height:,} rows were logged before the first row of their parent's run ({audit.linking})."
    return check_result(
        "child_before_parent",
        "warn",
        ids,
        sql,
        finding,
        breakdowns={"by operation": counts_by(ids, "operation")},
    )


LINK_CHECKS: tuple[Check, ...] = (reused_job_ids, dangling_parents, job_cycles, child_before_parent)
