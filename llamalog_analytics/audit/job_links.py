"""Checks on the job links, followed through job runs (:mod:`llamalog_analytics.links`): reused ids,
parents whose run never logged, loops, children logged before their parent run."""

from __future__ import annotations

import polars as pl

from .. import links
from .._format import count, verb
from .context import Audit, Check, check_result, counts_by, listed, skipped
from .result import CheckResult


def reused_job_ids(audit: Audit) -> CheckResult:
    """Job ids that ran more than once (a warning: BullMQ ids restart after a Redis reset).

    Several rows per run are normal (one job logs several rows; BullMQ retries keep the id).
    The ids frame lists every instance (run) of the job ids with more than one, each by its
    first row (``id``) with its span and row count, and the count is those runs; the finding
    and the breakdown ``job ids by runs`` also give how many job ids that is. Chains follow the
    run nearest in time, so a reused id does not join unrelated jobs; the backfills joined
    bare ids.
    """
    name = "reused_job_ids"
    expects = (
        "Each job id names one run of a job: no two of its rows lie further apart than the reuse gap "
        "(a warning: BullMQ restarts its ids after a Redis reset)."
    )
    if audit.linking.reuse_gap is None:
        return skipped(name, expects, _BARE_IDS_HAVE_ONE_RUN)
    ids, sql = audit.on_links(links.reused_sql, "job_id, job_instance")
    n = listed(ids)
    first_runs = ids.lazy().filter(pl.col("job_instance") == 1)  # one per job id: its runs are all listed
    by_runs = counts_by(first_runs, "runs", counted="job ids")
    finding = (
        f"{n:,} runs share {by_runs['job ids'].sum():,} job ids that ran more than once "
        f"({audit.linking}); each run is listed by its first row and followed on its own."
    )
    return check_result(
        name,
        expects,
        "warn",
        ids,
        sql,
        finding,
        count=n,
        breakdowns={"job ids by runs": by_runs},
    )


_BARE_IDS_HAVE_ONE_RUN = (
    "With bare job ids (link='job_id', --link job-id) every row of a job id counts as one run, so "
    "reuse is not looked for. Hint: verify with job runs (link='instance', the default) to find the "
    "job ids that ran more than once"
)


def dangling_parents(audit: Audit) -> CheckResult:
    """Rows whose parent's run never logged a row (a warning: sync batches, lost jobs).

    ``dangling`` says why: no row carries the parent id at all, or no run of it lies within
    the reuse gap of the row (the id was used by other, unrelated runs).
    """
    ids, sql = audit.on_links(links.dangling_sql, "created_at, id")
    by_parent = counts_by(ids, "parent_job_id")
    n = listed(ids)
    finding = (
        f"{count(n, 'row')} {verb(n, 'points', 'point')} at {by_parent.height:,} parent job ids "
        "whose run never logged a row "
        f"({audit.linking})."
    )
    breakdowns = {"by reason": counts_by(ids, "dangling"), "by parent job id": by_parent}
    return check_result(
        "dangling_parents",
        "Every parent_job_id points at a run of that job that logged a row of its own, within the "
        "reuse gap of the child (a warning: sync batches never log).",
        "warn",
        ids,
        sql,
        finding,
        count=n,
        breakdowns=breakdowns,
    )


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
    n = listed(ids)
    finding = (
        f"{count(n, 'row')} {verb(n, 'links', 'link')} {loops.height:,} job runs into "
        f"{loops['cycle'].n_unique():,} parent "
        f"loops ({audit.linking})."
    )
    return check_result(
        "job_cycles",
        "No job run is its own ancestor: following parent links from any row ends at a root.",
        "fail",
        ids,
        sql,
        finding,
        count=n,
        breakdowns={"runs by loop": loops},
    )


def child_before_parent(audit: Audit) -> CheckResult:
    """Rows logged before the first row of their parent's run (a warning: v1.4's add-album order)."""
    ids, sql = audit.on_links(links.before_parent_sql, "created_at, id")
    n = listed(ids)
    finding = (
        f"{count(n, 'row')} {verb(n, 'was', 'were')} logged before the first row of their parent's run "
        f"({audit.linking})."
    )
    return check_result(
        "child_before_parent",
        "No row is logged before the first row of its parent's run (a warning: v1.4's add-album flow "
        "wrote children first).",
        "warn",
        ids,
        sql,
        finding,
        count=n,
        breakdowns={"by operation": counts_by(ids, "operation")},
    )


LINK_CHECKS: tuple[Check, ...] = (reused_job_ids, dangling_parents, job_cycles, child_before_parent)
