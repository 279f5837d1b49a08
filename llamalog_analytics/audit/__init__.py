"""Verify the migration that made ``llama_logs``: rows kept, categories and root jobs backfilled,
job links sound.

:func:`verify` runs a tuple of checks over a store and returns an :class:`AuditReport`. A check
is a plain function ``check(audit: Audit) -> CheckResult``. The checks live by subject, each
module with its tuple: :mod:`.rows` (:data:`ROW_CHECKS`), :mod:`.categories`
(:data:`CATEGORY_CHECKS`), :mod:`.roots` (:data:`ROOT_CHECKS`) and :mod:`.job_links`
(:data:`LINK_CHECKS`); :data:`DEFAULT_CHECKS` runs them all. **Adding a check** is one function
in the module of its subject plus one entry in that module's tuple; ``verify(store,
checks=[...])`` runs any tuple, your own functions included. Every result says in one sentence
what the check expects, names the offending rows (a frame with an ``id`` column; the count is
how many) and carries the DuckDB SQL that lists them again. A check that cannot run (no
snapshot, no migration apply time) is ``skip``, and its finding says what to load or pass.

The rules are replayed exactly as they were applied (see :mod:`llamalog_analytics.rules` and
the root-job walk), so a check fails only where the stored value is not what the migration
would have written; where the migration itself did something surprising, a warn-level check
says so.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     report = lla.verify(store)
    ...     links_only = lla.verify(store, checks=LINK_CHECKS)
    >>> [c.name for c in report.checks][:3]
    ['rows_preserved', 'duplicate_ids', 'category_present']
    >>> backfill = report.check("category_backfill")
    >>> report.status, backfill.status, backfill.count, backfill.ids.height
    ('warn', 'warn', 123, 123)
    >>> report.check("category_present").expects
    'Every row has a category, one of the LlamaLogCategory labels.'
    >>> [c.name for c in links_only.checks]
    ['reused_job_ids', 'dangling_parents', 'job_cycles', 'child_before_parent']
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .. import links, rules, schema
from .._format import moment
from .._sql import LOADS_TABLE, quote
from .._time import naive_utc
from ..errors import ArgumentError, StoreError
from ..store import LogStore, require_store, unwritten_file
from . import history
from .categories import CATEGORY_CHECKS, category_backfill, category_present, category_rules
from .concentration import with_concentration
from .context import Audit, Check, timestamp_sql
from .history import AuditComparison, AuditHistory, AuditRun, audit_history, compare_audits
from .job_links import LINK_CHECKS, child_before_parent, dangling_parents, job_cycles, reused_job_ids
from .origins import ORIGIN_CHECKS, unknown_origin
from .result import STATUSES, AuditReport, CheckResult, KeptFrame, tally, worst
from .roots import ROOT_CHECKS, is_root_consistency, root_job_backfill, root_job_truth
from .rows import ROW_CHECKS, duplicate_ids, rows_preserved

__all__ = [
    "AUDIT_MEMORY",
    "CATEGORY_CHECKS",
    "DEFAULT_CHECKS",
    "LINK_CHECKS",
    "ORIGIN_CHECKS",
    "ROOT_CHECKS",
    "ROW_CHECKS",
    "STATUSES",
    "Audit",
    "AuditComparison",
    "AuditHistory",
    "AuditReport",
    "AuditRun",
    "Check",
    "CheckResult",
    "KeptFrame",
    "audit_history",
    "category_backfill",
    "category_present",
    "category_rules",
    "child_before_parent",
    "compare_audits",
    "dangling_parents",
    "duplicate_ids",
    "is_root_consistency",
    "job_cycles",
    "reused_job_ids",
    "root_job_backfill",
    "root_job_truth",
    "rows_preserved",
    "unknown_origin",
    "verify",
]

AUDIT_MEMORY = "2GB"
"""DuckDB's memory limit while a store file is audited, when the store's own is higher."""

DEFAULT_CHECKS: tuple[Check, ...] = (
    *ROW_CHECKS,
    *CATEGORY_CHECKS,
    *ROOT_CHECKS,
    *LINK_CHECKS,
    *ORIGIN_CHECKS,
)


def verify(
    store: LogStore,
    *,
    before: str | None = None,
    after: str = schema.CURRENT_TABLE,
    checks: Sequence[Check | str] | str | None = None,
    migrated_at: datetime | str | None = None,
    root_job_migrated_at: datetime | str | None = None,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
    memory_limit: str | None = AUDIT_MEMORY,
) -> AuditReport:
    """Run ``checks`` (default :data:`DEFAULT_CHECKS`) on ``after`` against the snapshot ``before``.

    Args:
        store: a store holding ``after`` and, ideally, the snapshot ``before`` and
            ``_prisma_migrations``.
        before: the pre-migration snapshot's table. Left None, ``enrichment_logs`` is used when
            the store has it (and it is not ``after``); without a snapshot ``rows_preserved`` is
            ``skip`` and the category backfill is replayed on rows older than the migration.
            Named, it must be in the store, and not be ``after``.
        after: the migrated table; it must be in the store.
        checks: the checks to run, in order: check functions, or their names (``"rows_preserved"``).
        migrated_at: when the category migration ran (naive UTC); read from
            ``_prisma_migrations`` when loaded.
        root_job_migrated_at: when the root-job migration ran; likewise.
        link, reuse_gap: how the job-link checks follow parent links: ``instance`` (the run of
            a job nearest in time, within ``reuse_gap``, default 24 hours) or ``job_id`` (bare
            ids). The backfill checks replay the migrations as applied, on bare ids, either way.
        memory_limit: DuckDB's memory limit while the checks run on a store file, when the
            store's own is higher (default :data:`AUDIT_MEMORY`): they read the tables through,
            and what DuckDB would cache is memory their findings need. None keeps the store's.

    The run is recorded in the store (:mod:`.history`): when, the version, the tables' row
    counts and last loads, these parameters and every check's status, count and ids; the
    summary's ``run`` is its number and ``since previous run`` compares it with the run before,
    when there is one. An in-memory store records too, for as long as it lives. A store opened
    with ``read_only=True`` cannot record: ``run`` is None and ``history`` says
    ``not recorded: the store is open read-only``; nor can one another process wrote to after
    the audit read it (``history`` says so). A verify that fails records nothing.

    Raises:
        StoreError: ``after``, or a ``before`` named, is not a log table in the store; the
            message lists the tables there are. Or recording the run failed, or the checks ran
            out of room on disk for their listings or DuckDB's spill (the message names the file
            and what is free in its folder); nothing was recorded.
        ArgumentError: ``before`` and ``after`` name one table.
    """
    require_store(store, "verify")
    held = nullcontext() if memory_limit is None else store.memory_at_most(memory_limit)
    with store.session(), held, ExitStack() as scratch:  # one consistent view of the store
        elsewhere = store.version()[1]  # what other processes wrote so far: a write after it was not read
        _require(store, after, "after", "the migrated table")
        if before is not None:
            _require(store, before, "before", "the pre-migration snapshot")
            if before == after:
                raise ArgumentError(
                    f"before={before!r} and after={after!r} name one table: the audit compares the "
                    "pre-migration snapshot with the migrated table. Hint: name the snapshot's table "
                    "as before (--before) and the migrated one as after (--after), or leave before out"
                )
        elif schema.LEGACY_TABLE in store.tables() and after != schema.LEGACY_TABLE:
            before = schema.LEGACY_TABLE
        linking = links.Linking.of(link, reuse_gap)
        applied = store.applied_migrations()
        audit = Audit(
            store,
            after,
            before,
            naive_utc(migrated_at, "migrated_at") or applied.get(schema.CATEGORY_MIGRATION),
            naive_utc(root_job_migrated_at, "root_job_migrated_at") or applied.get(schema.ROOT_JOB_MIGRATION),
            applied,
            linking,
            scratch,
            DEFAULT_CHECKS
            if checks is None
            else tuple(map(_check, [checks] if isinstance(checks, str) else checks)),
        )
        try:
            # listings are on disk already; rows a check made as a frame join them once it is done
            results = tuple(check(audit).kept(audit.kept_folder) for check in audit.checks)
            scratch.close()  # the checks' temporary tables, freed before the work that follows
            results = with_concentration(audit, results)
        except duckdb.Error as exc:
            no_room = _no_room(store, exc, audit.kept_folder.path)
            if no_room is None:
                raise
            raise no_room from exc
        report = AuditReport(results, _summary(audit, results), audit)
    return history.record(store, report, _parameters(audit, results), elsewhere)


def _check(check: Check | str) -> Check:
    """A check given by its function or by its name (one of :data:`DEFAULT_CHECKS`')."""
    if callable(check):
        return check
    named = {c.__name__: c for c in DEFAULT_CHECKS}
    if check not in named:
        raise ArgumentError(
            f"unknown check {check!r}. Hint: name one of {', '.join(named)}, or pass a check function"
        )
    return named[check]


def _no_room(store: LogStore, exc: duckdb.Error, kept: Path) -> StoreError | None:
    """The error to raise when the checks ran out of disk (or of a file size limit) writing
    their work, naming the file, the folder and what is free there; None for any other failure.
    ``kept`` is the audit's folder for its listings, deleted with it: the folder named is the
    one it lies in."""
    unwritten = unwritten_file(str(exc))
    if unwritten is None:
        return None
    file, why = unwritten
    folder = file.parent.parent if file.parent == kept else file.parent
    while not folder.exists():  # DuckDB's spill folder, say, deleted as the failure unwound
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**30
    spill = f"{store.path}.tmp" if store.path else "the working folder's .tmp"
    return StoreError(
        f"the audit ran out of room: DuckDB could not write {file} ({why}); nothing was recorded. "
        f"Hint: free some space in {folder} ({free:.1f} GiB free now) and verify again: the checks' "
        f"listings go to {tempfile.gettempdir()} (set TMPDIR to move them), what DuckDB spills to {spill}"
    )


def _parameters(audit: Audit, results: tuple[CheckResult, ...]) -> dict[str, Any]:
    """What the audit was asked, as its run is recorded (times naive UTC, as text)."""
    return {
        "after": audit.after,
        "before": audit.before,
        "migrated_at": _era(audit.migrated_at),
        "root_job_migrated_at": _era(audit.root_job_migrated_at),
        "job links": str(audit.linking),
        "checks": [r.name for r in results],
    }


def _require(store: LogStore, table: str, argument: str, role: str) -> None:
    """Raise :class:`StoreError` unless ``table`` is a log table in ``store``; the hint lists them."""
    tables = store.tables()
    if table in tables:
        return
    near = difflib.get_close_matches(table, tables, n=1)
    if near:  # a name typed wrong: not a table to load
        raise StoreError(
            f"no table {table!r} in the store to audit as {role} ({argument}=, --{argument}). "
            f"Hint: name {near[0]} ({argument}={near[0]!r}, --{argument} {near[0]}); "
            f"the store has {', '.join(tables)}"
        )
    have = (
        f"the store has {', '.join(tables)}; name one of them, or"
        if tables
        else "the store has no log tables:"
    )
    also = "; or leave it out to skip the snapshot checks" if argument == "before" else ""
    raise StoreError(
        f"no table {table!r} in the store to audit as {role} ({argument}=, --{argument}). "
        f"Hint: {have} load {role} first: llamalog load FILE --as {table}{also}"
    )


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
            f"SELECT count(*) FROM {audit.table} WHERE created_at < {timestamp_sql(audit.migrated_at)}"
        )[0][0]
    store, table = audit.store, audit.table
    categories = {"now": _counts(store.frame(f"SELECT category, count(*) AS rows FROM {table} GROUP BY ALL"))}
    then = audit.category_groups
    if then is not None:
        categories["at the migration, stored"] = _counts(then)
        categories["at the migration, roadmap intent"] = _counts(then, rules.ROADMAP_INTENT.name)
    weeks = store.execute(  # grouped by the date, made text once per week
        f"SELECT week::VARCHAR, rows FROM (SELECT date_trunc('week', created_at)::DATE AS week, "
        f"count(*) AS rows FROM {table} GROUP BY ALL) ORDER BY week"
    )
    return {
        "status": worst(r.status for r in results),
        "tables": tables,
        "eras": eras,
        "checks": tally(r.status for r in results),
        "categories": categories,
        "rows_per_week": dict(weeks),
        "migrations": {name: _era(at) for name, at in audit.applied.items()},
        "job links": str(audit.linking),
        "provenance": _provenance(store),
    }


def _provenance(store: LogStore) -> dict[str, Any]:
    """When the audit ran, on which store, and every load that filled it (sources as recorded,
    passwords masked), for the report to stand as evidence."""
    loads = []
    if store.has_table(LOADS_TABLE):
        columns = ["load_id", "loaded_at", "table_name", "source", "format", "rows_read", "rows_inserted"]
        columns += ["rows_changed", "rows_loaded", "rows_rejected", "rows_disappeared"]
        loads = store.loads().select(*columns).to_dicts()
        for load in loads:
            load["loaded_at"] = moment(load["loaded_at"])
    return {
        "generated_at": moment(datetime.now(UTC).replace(tzinfo=None)),
        "store": str(store.path) if store.path else "in memory",
        "loads": loads,
    }


def _counts(rows: pl.DataFrame, column: str = "category") -> dict[str | None, int]:
    """``rows`` summed per value of ``column``, in label order (None last)."""
    summed = rows.group_by(column).agg(pl.col("rows").sum()).sort(column, nulls_last=True)
    return dict(summed.iter_rows())


def _era(moment: datetime | None) -> str:
    return "unknown" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"
