"""What a check works on (:class:`Audit`) and the helpers every check reports with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import polars as pl

from .. import links, rules, schema
from .._readers import read_name
from .._sql import LOADS_TABLE, literal, quote
from ..store import LogStore
from .result import CheckResult, KeptFolder, KeptFrame

Check = Callable[["Audit"], CheckResult]

BACKFILL_INPUTS = ("operation", "status", "job_id", "parent_job_id")
"""The columns the two backfills read: the category rules' and the root-job walk's."""


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
        checks: the checks asked for, in order (a repair's dry run runs them again).
        kept_folder: the folder the checks' offending rows are written to (see :meth:`listing`).
    """

    store: LogStore
    after: str
    before: str | None
    migrated_at: datetime | None
    root_job_migrated_at: datetime | None
    applied: Mapping[str, datetime] = field(default_factory=dict)
    linking: links.Linking = field(default_factory=links.Linking)
    scratch: ExitStack = field(default_factory=ExitStack, repr=False, compare=False)
    checks: tuple[Check, ...] = ()
    kept_folder: KeptFolder = field(default_factory=KeptFolder, repr=False, compare=False)

    @cached_property
    def linked(self) -> str:
        """A temporary table of every row's job links (:func:`links.linked_sql`'s rows, found
        by :func:`links.linked_table`), made once for the job-link checks to share."""
        return self.scratch.enter_context(links.linked_table(self.store, self.after, self.linking))

    def on_links(self, build: Callable[[str], str], order: str) -> tuple[KeptFrame, str]:
        """A job-link check's rows, read from :attr:`linked`, and its self-contained SQL."""
        whole = build(links.linked_sql(self.after, self.linking))
        return self.listing(build(self.linked), order, shown=whole)

    def listing(
        self, sql: str, order: str, *, empty: bool = False, shown: str | None = None
    ) -> tuple[KeptFrame, str]:
        """A check's offending rows, ``sql``'s result sorted by ``order`` (column names of the
        result, comma-separated, nulls last), and the SQL that lists them again: ``sql`` (or
        ``shown``, the same rows read without the audit's temporary tables) with that ``ORDER
        BY``. DuckDB sorts the rows and writes them to a file in :attr:`kept_folder`, spilling
        to disk as it needs, so however many there are, none is held in memory. With ``empty``
        (the caller knows there are none), only the columns are written.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.sample_store() as store:
            ...     audit = Audit(store, "llama_logs", None, None, None)
            ...     ids, sql = audit.listing("SELECT 2 AS n UNION ALL SELECT NULL UNION ALL SELECT 1", "n")
            >>> ids.frame()["n"].to_list(), sql.splitlines()[-1]
            ([1, 2, None], 'ORDER BY n')
        """
        path = self.kept_folder.new_path()
        rows = f"SELECT * FROM ({sql}) LIMIT 0" if empty else f"SELECT * FROM ({sql}) ORDER BY {order}"
        with self.store.session():
            self.store.relation(rows).to_parquet(str(path), compression="uncompressed")
        return KeptFrame(path, self.kept_folder), f"{shown or sql}\nORDER BY {order}"

    def frame(self, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
        return self.store.frame(sql, params)

    @property
    def table(self) -> str:
        """The migrated table, quoted for SQL."""
        return quote(self.after)

    def existed_at_migration(self) -> str | None:
        """SQL condition for the rows the category backfill labelled, or None if unknown: those
        older than its apply time, and the snapshot's (taken before it); a row written between
        the snapshot and the migration was in the table the migration updated."""
        older = None if self.migrated_at is None else f"created_at < {timestamp_sql(self.migrated_at)}"
        snapshot = self._in_snapshot()
        if older and snapshot:
            return f"({snapshot} OR {older})"
        return older or snapshot

    @cached_property
    def category_groups(self) -> pl.DataFrame | None:
        """The rows the category backfill labelled, counted by ``operation`` and ``status`` as
        it saw them (:meth:`as_migrated`), ``category`` (stored), the applied rules' category and
        the roadmap's intent (columns named after those rule sets); None when those rows are
        unknown."""
        existed = self.existed_at_migration()
        if existed is None:
            return None
        applied, intent = rules.APPLIED_BACKFILL, rules.ROADMAP_INTENT
        # the rules read operation and status alone: each group is labelled once, not each row
        return self.frame(
            f"""SELECT operation, status, category, {applied.case()} AS {quote(applied.name)},
  {intent.case()} AS {quote(intent.name)}, rows
FROM (SELECT operation, status, category, count(*) AS rows FROM {self.as_migrated(existed)} GROUP BY ALL)"""
        )

    def as_migrated(self, existed: str, inputs: Sequence[str] = BACKFILL_INPUTS) -> str:
        """SQL for a ``FROM``: the table's rows that meet the condition ``existed``, with the
        columns a backfill read (``inputs``, of :data:`BACKFILL_INPUTS`) as the migrations' SQL
        saw them.

        For a row the snapshot holds, that is the snapshot's value (a later edit is
        ``rows_preserved``'s to report, not a backfill's fault); for a row it lacks, or a
        column it was loaded without, the value today. Without a snapshot, every value is
        today's (:meth:`replayed_on` says which, for a finding).

        Examples:
            >>> import llamalog_analytics as lla
            >>> edited = "id = '173b88cb-a49b-4ab4-b341-54a6243358f9'"
            >>> with lla.sample_store() as store:
            ...     _ = store.execute(f"UPDATE llama_logs SET operation = 'MANUAL_ADD' WHERE {edited}")
            ...     audit = Audit(store, "llama_logs", "enrichment_logs", None, None)
            ...     now = store.execute(f"SELECT operation FROM llama_logs WHERE {edited}")
            ...     seen = store.execute(f"SELECT operation FROM {audit.as_migrated(edited)}")
            >>> now, seen
            ([('MANUAL_ADD',)], [('enrichment:album',)])
        """
        rows, join, kept = f"(SELECT * FROM {self.table} WHERE {existed})", "LEFT JOIN", ""
        common = self.common_columns()  # none without a snapshot
        seen = [c for c in inputs if c in common]
        if self.before is None or not seen:
            return f"{rows} AS a"
        in_snapshot = self._in_snapshot()
        if existed == in_snapshot:  # the snapshot's rows: the join alone keeps them, at half the cost
            rows, join = self.table, "JOIN"
        elif in_snapshot and in_snapshot in existed:  # the join tells the snapshot's rows: one join of it
            rows, kept = self.table, f" WHERE {existed.replace(in_snapshot, 'b.id IS NOT NULL')}"
        snapshot = f"(SELECT id, {', '.join(quote(c) for c in seen)} FROM {quote(self.before)})"
        then = ", ".join(f"CASE WHEN b.id IS NULL THEN a.{c} ELSE b.{c} END AS {c}" for c in map(quote, seen))
        joined = f"{rows} AS a {join} {snapshot} AS b ON b.id = a.id{kept}"
        return f"(SELECT a.* REPLACE ({then}) FROM {joined}) AS a"

    def replayed_on(self, columns: str) -> str:
        """Which values of ``columns`` (said in words) the backfill checks replay the
        migrations on (:meth:`as_migrated`), for their findings.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.sample_store() as store:
            ...     Audit(store, "llama_logs", "enrichment_logs", None, None).replayed_on("job links")
            "on the snapshot's job links for the rows it holds, as the migration saw them"
        """
        if self.before is None:
            return (
                f"on the rows' {columns} today, for want of a snapshot: a row edited since the migration "
                "is judged by its new values"
            )
        return f"on the snapshot's {columns} for the rows it holds, as the migration saw them"

    def _in_snapshot(self) -> str | None:
        """SQL condition for the rows the snapshot holds, or None without one."""
        return None if self.before is None else f"id IN (SELECT id FROM {quote(self.before)})"

    def existed_at_root_job_migration(self) -> str | None:
        """SQL condition for the rows the root-job backfill saw: those older than its apply time;
        without one but with a snapshot, the rows that existed at the category migration before
        it (:meth:`existed_at_migration`); else None."""
        if self.root_job_migrated_at is not None:
            return f"created_at < {timestamp_sql(self.root_job_migrated_at)}"
        return None if self.before is None else self.existed_at_migration()

    def common_columns(self) -> tuple[str, ...]:
        """The snapshot's columns (the pre-migration table's) that both tables had in every load:
        an absent column is NULL, not data, and a column the migrations added is not the
        snapshot's, even when a file of it carries one (empty, as an export of a store's
        ``enrichment_logs`` does)."""
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
        return tuple(c.name for c in schema.LEGACY_COLUMNS if c.name not in absent)


def check_result(
    name: str,
    expects: str,
    severity: str,
    ids: pl.DataFrame | KeptFrame,
    sql: str,
    finding: str,
    *,
    count: int,
    breakdowns: Mapping[str, pl.DataFrame] | None = None,
) -> CheckResult:
    """A check's result: ``severity`` (``warn`` or ``fail``) when ``ids`` lists any row, else
    ``pass``; ``count`` is the rows ``ids`` lists (:func:`listed`, counted once by the check),
    the number ``finding`` starts with."""
    return CheckResult(
        name, severity if count else "pass", count, finding, expects, ids, sql, breakdowns or {}
    )


def listed(ids: pl.DataFrame | KeptFrame) -> int:
    """How many offending rows a check's ``ids`` lists: its distinct ``id`` values (a row
    listed once per changed column, or an id present twice in the table, counts once).

    Read a column at a time (a kept UUID as its 16 bytes) and counted by a 64-bit hash of
    each id, which is exact when the hashes are all distinct (the common case, in a fraction
    of the memory of the ids); otherwise counted by the ids themselves.

    Examples:
        >>> listed(pl.DataFrame({"id": ["a", "b"]})), listed(pl.DataFrame({"id": ["a", "b", "a"]}))
        (2, 2)
    """
    column = (ids.stored() if isinstance(ids, KeptFrame) else ids.lazy()).select("id")
    hashed = column.select(n=pl.col("id").hash().n_unique(), rows=pl.len()).collect(engine="streaming")
    if hashed["n"].item() == hashed["rows"].item():
        return hashed["rows"].item()
    return column.select(pl.col("id").n_unique()).collect(engine="streaming").item()


@contextmanager
def offending_ids(store: LogStore, results: Iterable[CheckResult]) -> Iterator[str]:
    """SQL listing every check's offending ids, each once per check (``check_name``, ``id`` as a
    UUID), for the ``with`` block. Each check's frame is read where it lies: a union of them,
    not a copy of them all in one frame.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     report = lla.verify(store)
        ...     with offending_ids(store, report.checks) as ids:
        ...         counted = dict(store.execute(f"SELECT check_name, count(*) FROM ({ids}) GROUP BY ALL"))
        >>> counted["category_backfill"] == report.check("category_backfill").count
        True
    """
    with ExitStack() as frames:
        parts = []
        for n, result in enumerate(results):
            rows = result.offending
            if not (rows.height and "id" in rows.columns):
                continue
            distinct = "DISTINCT " if rows.height > result.count else ""  # listed more than once
            if isinstance(rows, KeptFrame):
                # UUIDs as UUIDs; the folder's name (id=1?) is no partition of them
                source = f"read_parquet({literal(read_name(str(rows.path)))}, hive_partitioning = false)"
            else:
                source = frames.enter_context(
                    store.registered(f"_llamalog_offending_{n}", rows.select(pl.col("id").cast(pl.String)))
                )
            ids = f"(SELECT {distinct}id::UUID AS id FROM {source} WHERE id IS NOT NULL)"
            parts.append(f"SELECT {literal(result.name)} AS check_name, id FROM {ids}")
        yield "\nUNION ALL ".join(parts) or "SELECT NULL::VARCHAR AS check_name, NULL::UUID AS id LIMIT 0"


def skipped(name: str, expects: str, why: str) -> CheckResult:
    """The result of a check that could not run: ``why`` says what is missing and ends with a
    hint of what to load or pass."""
    return CheckResult(name, "skip", 0, why, expects, pl.DataFrame({"id": []}, schema={"id": pl.String}), "")


def counts_by(
    ids: pl.DataFrame | pl.LazyFrame | KeptFrame, *columns: str, counted: str = "rows"
) -> pl.DataFrame:
    """``ids``' rows counted by ``columns``, the most common first (read a column at a time
    from a kept frame), in a column named for what a row of ``ids`` is (``counted``)."""
    return (
        ids.lazy()
        .group_by(columns)
        .agg(pl.len().alias(counted))
        .sort([counted, *columns], descending=[True] + [False] * len(columns))
        .collect(engine="streaming")
    )


def timestamp_sql(moment: datetime) -> str:
    """A timestamp as a SQL literal, for the SQL a check shows (it runs on its own)."""
    return f"TIMESTAMP {literal(moment.isoformat(sep=' '))}"
