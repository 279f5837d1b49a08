"""A repair plan's dry run: the plan applied to a copy of the audited tables, audited again.

The copy is a store file in a temporary folder (removed afterwards), made inside DuckDB
(:meth:`LogStore.copy_into`), so no rows pass through Python and memory stays within the copy's
limit. ``category`` and ``root_job_id`` take the plan's values; reverted columns and
restored rows take the snapshot's typed values, which the plan's text was written from.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

import polars as pl

from ._html import block, html_table
from ._sql import LOADS_TABLE, MIGRATIONS_TABLE, quote
from .audit import AuditReport, verify
from .audit.context import Audit
from .audit.result import STATUSES
from .repairs import restored_rows_sql
from .store import LogStore


def dry_run(audit: Audit, report: AuditReport, changes: pl.DataFrame, repaired: tuple[str, ...]) -> DryRun:
    """``changes`` applied to a copy of what ``audit`` audited, audited again as ``report`` was."""
    store = audit.store
    tables = [audit.after, *([audit.before] if audit.before else [])]
    tables += [t for t in (MIGRATIONS_TABLE, LOADS_TABLE) if store.has_table(t)]
    with tempfile.TemporaryDirectory(prefix="llamalog-dry-run-") as folder:
        path = Path(folder) / "copy.duckdb"
        store.copy_into(path, tables)
        with LogStore(path) as copy:
            _apply(copy, audit, changes)
        with LogStore(path, read_only=True) as copy:  # read-only: the copy's audit is not recorded
            after = verify(
                copy,
                before=audit.before,
                after=audit.after,
                checks=audit.checks,
                migrated_at=audit.migrated_at,
                root_job_migrated_at=audit.root_job_migrated_at,
                link=audit.linking.link,
                reuse_gap=audit.linking.reuse_gap,
            )
    return DryRun(report, after, repaired)


@dataclass(frozen=True, repr=False)
class DryRun:
    """A plan applied to a copy of the store's tables and audited again.

    Attributes:
        before: the report the plan was made from.
        after: the audit of the repaired copy (same checks, same parameters).
        repaired: the checks the plan fixes in full (every offending row has a change); each
            should no longer fail.
    """

    before: AuditReport
    after: AuditReport
    repaired: tuple[str, ...]

    @property
    def comparison(self) -> pl.DataFrame:
        """Per check: status and count before and after, and whether the plan targets it."""
        then = {c.name: c for c in self.before.checks}
        return pl.DataFrame(
            [
                {
                    "check": c.name,
                    "status_before": then[c.name].status,
                    "count_before": then[c.name].count,
                    "status_after": c.status,
                    "count_after": c.count,
                    "repaired": c.name in self.repaired,
                }
                for c in self.after.checks
                if c.name in then
            ]
        )

    @property
    def worse(self) -> tuple[str, ...]:
        """Checks whose status is worse after the repair than before."""
        rank = STATUSES.index
        return tuple(
            r["check"]
            for r in self.comparison.iter_rows(named=True)
            if rank(r["status_after"]) > rank(r["status_before"])
        )

    @property
    def ok(self) -> bool:
        """Whether every check the plan repairs no longer fails and no check got worse."""
        after = {c.name: c.status for c in self.after.checks}
        return all(after[n] != "fail" for n in self.repaired) and not self.worse

    @property
    def verdict(self) -> str:
        """One line: each repaired check's status before and after, and any check that got worse.

        Examples:
            >>> from llamalog_analytics.audit import AuditReport, CheckResult
            >>> def report(status):
            ...     ids = pl.DataFrame({"id": ["a"] if status == "fail" else []}, schema={"id": pl.String})
            ...     check = CheckResult("category_backfill", status, ids.height, "", "", ids, "")
            ...     return AuditReport((check,), {})
            >>> DryRun(report("fail"), report("pass"), ("category_backfill",)).verdict
            "category_backfill fail → pass; no other check's status got worse"
        """
        statuses = self.comparison.filter(pl.col("repaired") | pl.col("check").is_in(self.worse))
        moves = {
            r["check"]: f"{r['status_before']} → {r['status_after']}" for r in statuses.iter_rows(named=True)
        }
        repaired = ", ".join(f"{name} {moves[name]}" for name in self.repaired) or "no check repaired in full"
        worse = ", ".join(f"{name} {moves[name]}" for name in self.worse)
        return f"{repaired}; " + (f"worse: {worse}" if worse else "no other check's status got worse")

    def __repr__(self) -> str:
        return f"DryRun({self.verdict})"

    def _repr_html_(self) -> str:
        rows = [
            [
                escape(r["check"]),
                f'<span class="status {r["status_before"]}">{r["status_before"].upper()}</span>',
                f"{r['count_before']:,}",
                f'<span class="status {r["status_after"]}">{r["status_after"].upper()}</span>',
                f"{r['count_after']:,}",
                "repaired" if r["repaired"] else "",
            ]
            for r in self.comparison.iter_rows(named=True)
        ]
        headers = ["check", "before", "rows", "after", "rows", "the plan"]
        return block("Repair dry run", self.verdict, body=html_table(headers, rows, frozenset({2, 4})))


def _apply(copy: LogStore, audit: Audit, changes: pl.DataFrame) -> None:
    """``changes`` applied in DuckDB: planned values for ``category`` and ``root_job_id``, the
    snapshot's typed values for reverted columns, restored rows as :func:`restored_rows_sql`."""
    table = audit.table
    with copy.session(write=True), copy.registered("llamalog_plan", changes):
        for column in changes.filter(pl.col("action") == "set")["column"].unique(maintain_order=True):
            name, planned = quote(column), column in ("category", "root_job_id")
            source = ""
            if not planned:  # a reverted column: rows_preserved ran, so there is a snapshot
                assert audit.before is not None
                source = f" JOIN {quote(audit.before)} AS b ON b.id = r.id::UUID"
            copy.execute(
                f"""UPDATE {table} AS t SET {name} = {"r.value_after" if planned else f"b.{name}"}
FROM llamalog_plan AS r{source}
WHERE r.action = 'set' AND r."column" = ? AND t.id = r.id::UUID""",
                [column],
            )
        if (changes["action"] == "insert").any():
            restored = restored_rows_sql(
                audit, "SELECT DISTINCT id FROM llamalog_plan WHERE action = 'insert'"
            )
            copy.execute(f"INSERT INTO {table} BY NAME SELECT *, 0 AS _load_id FROM ({restored})")
