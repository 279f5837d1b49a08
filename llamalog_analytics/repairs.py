"""From finding to fixing: what the audit found wrong, as a migration the application can deploy.

:func:`repair` turns an :class:`~llamalog_analytics.audit.AuditReport` into a
:class:`RepairPlan`: every change as a row of :attr:`RepairPlan.changes` (check, id, column,
the value now, the value after, why). :meth:`RepairPlan.write` puts it in a Prisma migration
folder, ``<UTC timestamp>_llamalog_repair/`` with ``migration.sql``, ``rollback.sql`` and
``plan.json``, for people to review and deploy (``npx prisma migrate deploy`` or ``psql -f``);
:meth:`RepairPlan.dry_run` applies it to a copy of the store's tables and audits again. The
source database is never written to.

What gets repaired:

* ``category_backfill`` mismatches: ``category`` set to what the migration's rules, as applied,
  give the row;
* ``root_job_backfill`` mismatches: ``root_job_id`` set to what its walk, replayed, gives;
* ``rows_preserved``, only on request, since rows deleted or edited after the snapshot may have
  been deleted or edited on purpose (the application deletes history by cascade):
  ``restore_missing`` inserts the snapshot's missing rows (``category`` by the applied rules,
  ``root_job_id`` by the replayed walk) and ``revert_changes`` sets changed columns back to the
  snapshot's values.

Every value in the plan is text as PostgreSQL writes it (arrays as ``{a,b}``, JSON as JSON,
times to the millisecond); the SQL casts it to the column's type.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     _ = store.execute("UPDATE llama_logs SET category = 'FAILED' WHERE operation = 'album:created'")
    ...     plan = lla.repair(lla.verify(store))
    ...     checked = plan.dry_run()
    >>> plan.counts
    {'category_backfill': 13}
    >>> plan.changes.select("column", "value_now", "value_after", "why").row(0)
    ('category', 'FAILED', 'CREATED', 'the category migration, as applied, labels album:created with status \
SUCCESS as CREATED')
    >>> before, after = checked.before.check("category_backfill"), checked.after.check("category_backfill")
    >>> checked.ok, before.status, after.status, after.finding.startswith("123 of 651 rows")
    (True, 'fail', 'warn', True)
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
from psycopg.adapt import PyFormat, Transformer

from . import rules, schema
from ._format import count, number_ranges, shorten, verb
from ._html import block, html_table
from ._repair_sql import script
from ._sql import ATTACHED, LOADS_TABLE, MIGRATIONS_TABLE, quote
from .audit import AuditReport
from .audit.context import Audit
from .audit.roots import replayed_roots_sql
from .errors import ArgumentError, ExportError, StoreError
from .export import writable_folder

if TYPE_CHECKING:
    from ._dry_run import DryRun

REPAIRABLE = ("category_backfill", "root_job_backfill", "rows_preserved")
"""The checks a repair plan can fix, in the order its statements run."""

RESTORED = "missing since the snapshot: restored as the snapshot has it"
_RESTORED_WHY = {
    "category": "missing since the snapshot: category by the category migration's rules, as applied",
    "root_job_id": "missing since the snapshot: root job by the root-job migration's walk, replayed",
}
_FOLDER = "_llamalog_repair"  # how a plan's folder's name ends, after its UTC timestamp
PLAN_ROWS_SHOWN = 200  # changes a notebook shows of a plan
_ASK_RESTORE = "restore_missing=True (--restore-missing)"  # how to ask, in Python and in the shell
_ASK_REVERT = "revert_changes=True (--revert-changes)"
_ON_PURPOSE = (
    "rows_preserved is repaired only on request: rows deleted or edited since the snapshot may have "
    "been deleted or edited on purpose"
)
ON_REQUEST = (
    f"{_ON_PURPOSE}; leave out --restore-missing or --revert-changes (restore_missing, revert_changes) "
    "to keep them"
)
"""Why the repair of ``rows_preserved`` is asked for, said where a repair is suggested."""

CHANGE_SCHEMA = {
    "action": pl.String,  # "set" a column of a row, or "insert" a restored row (one line per column)
    "check": pl.String,
    "id": pl.String,
    "column": pl.String,
    "value_now": pl.String,
    "value_after": pl.String,
    "why": pl.String,
}


def failed_repairable(report: AuditReport) -> list[str]:
    """The checks of ``report`` that failed and a repair plan fixes (``rows_preserved`` on
    request), in the report's order.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     failed_repairable(lla.verify(store))  # the sample's audit fails no check
        []
    """
    return [c.name for c in report.checks if c.status == "fail" and c.name in REPAIRABLE]


def repair(
    report: AuditReport,
    *,
    restore_missing: bool = False,
    revert_changes: bool = False,
    checks: Sequence[str] | None = None,
) -> RepairPlan:
    """The plan that fixes what ``report`` found, for the checks named (default: every one in
    :data:`REPAIRABLE` that failed; ``rows_preserved`` only with ``restore_missing`` or
    ``revert_changes``).

    The report's store must still be open: restored and reverted values are read from its
    snapshot. A check that passed, was skipped or only warned gets no changes; the plan's
    ``notes`` say so, and say what was left out.

    Raises:
        ArgumentError: a check named is not one a plan can repair, or is not in the report; or
            ``rows_preserved`` named without ``restore_missing`` or ``revert_changes``, or
            those named with checks that leave ``rows_preserved`` out. All but the report's
            part can be asked before the audit, with :func:`validate_repair`.
        StoreError: the report was not made by :func:`verify` on a store still open, or a load
            (by this process or another) that wrote rows came after its audit.
    """
    validate_repair(checks, restore_missing=restore_missing, revert_changes=revert_changes)
    audit = _audit_of(report)
    names = _names(report, checks, restore_missing or revert_changes)
    parts: list[pl.DataFrame] = []
    notes: list[str] = []
    for name in (n for n in REPAIRABLE if n in names):
        result = report.check(name)
        if result.status != "fail":
            why = " (a repair changes what failed; the warning tells what the migration did)"
            notes.append(
                f"{name}: {result.status}, nothing to repair{why if result.status == 'warn' else ''}."
            )
            continue
        if name == "category_backfill":
            changes = _categories(result.ids)
        elif name == "root_job_backfill":
            changes = _roots(result.ids)
        else:
            changes = _rows(audit, result.ids, restore_missing, revert_changes, notes)
        parts.append(changes)
        rows = changes["id"].n_unique()
        notes.append(f"{name}: {count(rows, 'row')} to repair: {_what(changes)}.")
    kept = next((c for c in report.checks if c.name == "rows_preserved"), None)
    if checks is None and "rows_preserved" not in names and kept is not None and kept.status == "fail":
        notes.append(
            f"rows_preserved: fail, {count(kept.count, 'row')} missing or changed since the snapshot, "
            f"left as they are: repaired only on request, with {_ASK_RESTORE} and/or {_ASK_REVERT}."
        )
    changes = pl.concat(parts) if parts else pl.DataFrame(schema=CHANGE_SCHEMA)
    return RepairPlan(changes, tuple(notes), report, audited_rows=_audited_rows(audit))


AUDITED_ROWS = 10
"""Rows at each end of the audited table, by time, whose ids a plan keeps: its SQL changes
nothing on a database that has none of them (another environment it is deployed to)."""


def _audited_rows(audit: Audit) -> tuple[str, ...]:
    """The ids of the :data:`AUDITED_ROWS` oldest and newest rows of the audited table."""
    ends = " UNION ".join(
        f"(SELECT id FROM {audit.table} ORDER BY created_at {way}, id {way} LIMIT {AUDITED_ROWS})"
        for way in ("ASC", "DESC")
    )
    return tuple(r[0] for r in audit.store.execute(f"SELECT id::VARCHAR FROM ({ends}) ORDER BY 1"))


def _audit_of(report: AuditReport) -> Audit:
    if not isinstance(report, AuditReport):
        raise ArgumentError(
            f"repair() takes the report lla.verify(store) returned, not a value of type "
            f"{type(report).__name__}. Hint: report = lla.verify(store), then lla.repair(report)"
        )
    audit = report.audit
    if audit is None:
        raise StoreError(
            "this report knows no store to repair. Hint: pass the report lla.verify(store) returned"
        )
    try:
        audit.store.execute("SELECT 1")
    except duckdb.Error as exc:
        raise StoreError(
            f"the report's store ({audit.store.path or 'in memory'}) is closed: {exc}. Hint: repair "
            "inside the with block that audits, or open the store again and verify"
        ) from exc
    read = {load["load_id"] for load in report.summary.get("provenance", {}).get("loads", [])}
    loads = audit.store.loads() if audit.store.has_table(LOADS_TABLE) else pl.DataFrame()
    # a load of files or a database that found nothing new leaves the audit's rows as they were;
    # not a migration history (replaced whole) nor an attach (its files may be fewer)
    kept = (
        (pl.sum_horizontal("rows_inserted", "rows_changed", "rows_disappeared") == 0)
        & (pl.col("table_name") != MIGRATIONS_TABLE)
        & (pl.col("format") != ATTACHED)
    )
    later = sorted(set(loads.filter(~kept)["load_id"]) - read) if loads.height else []
    if later:  # this process's or another's (a shell beside a notebook): the report tells the rows before
        which = f"load {later[0]}" if len(later) == 1 else f"loads {number_ranges(later)}"
        raise StoreError(
            f"{audit.store.path or 'the store in memory'}: {which} came after this report's audit, "
            "so a repair made from it would miss the rows loaded since and its dry run would blame "
            "the repair for them. Hint: verify again and repair that report: "
            "lla.repair(lla.verify(store)) (llamalog repair does both; llamalog info lists the loads)"
        )
    return audit


def validate_repair(
    checks: Sequence[str] | None = None,
    *,
    restore_missing: bool = False,
    revert_changes: bool = False,
    folder: str | Path | None = None,
    replace: bool = False,
    applied: Collection[str] = (),
) -> None:
    """Raise unless :func:`repair` can be asked so, before the audit it needs: ``checks`` names
    checks of :data:`REPAIRABLE` only, ``rows_preserved`` among them exactly when
    ``restore_missing`` or ``revert_changes`` asks for it; and ``folder``, where
    :meth:`RepairPlan.write` is to write, is one that can be written in and, unless
    ``replace``, holds no repair it wrote that the migrations ``applied`` (the store's
    ``_prisma_migrations``: :meth:`~llamalog_analytics.LogStore.applied_migrations`) leave out.

    Raises:
        ArgumentError: the checks, or the options with them, as :func:`repair` says; or
            ``folder`` holds a repair not deployed yet (:func:`unapplied_repairs`).
        ExportError: ``folder`` cannot be written in (a file, or no permission).

    Examples:
        >>> validate_repair(["category_backfill"])
        >>> validate_repair(["category_present"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        llamalog_analytics.errors.ArgumentError: check 'category_present' cannot be repaired. \
Hint: name one of category_backfill, root_job_backfill, rows_preserved in checks= (--check)...
    """
    if isinstance(checks, str) or (checks is not None and not checks):
        raise ArgumentError(
            f"checks={checks!r}: name the checks to repair as a list, e.g. checks=['category_backfill'], "
            "or leave it out for every one that failed"
        )
    for name in checks or ():
        if name not in REPAIRABLE:
            raise ArgumentError(
                f"check {name!r} cannot be repaired. Hint: name one of {', '.join(REPAIRABLE)} in checks= "
                "(--check), or leave it out for every one that failed"
            )
    rows_requested = restore_missing or revert_changes
    if checks is not None and rows_requested and "rows_preserved" not in checks:
        raise ArgumentError(
            "restore_missing and revert_changes repair rows_preserved, which the checks named leave "
            "out. Hint: name it too (--check rows_preserved), or leave those out"
        )
    if checks is not None and "rows_preserved" in checks and not rows_requested:
        raise ArgumentError(f"{_ON_PURPOSE}. Hint: pass {_ASK_RESTORE} and/or {_ASK_REVERT}")
    if folder is not None:
        writable_folder(folder, "folder=, --out")
        _refuse_unapplied(unapplied_repairs(folder, applied), applied, replace)


def _unwritten(target: Path, exc: OSError) -> ExportError:
    """The error for a repair folder that could not be written (nothing of it was)."""
    return ExportError(
        f"{target}: the repair could not be written ({exc.strerror or exc}); nothing of it was. "
        "Hint: free some space there, or write it into another folder (folder=, --out)"
    )


def unapplied_repairs(folder: str | Path, applied: Collection[str] = ()) -> list[Path]:
    """The repair folders in ``folder`` (``<UTC timestamp>_llamalog_repair/`` with a
    ``plan.json``, as :meth:`RepairPlan.write` writes them) that the migrations ``applied``
    leave out: not deployed yet, as far as the store knows; oldest first. A plan written beside
    one would be deployed with it.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "20260301120000_llamalog_repair").mkdir()
        >>> _ = (folder / "20260301120000_llamalog_repair" / "plan.json").write_text("{}")
        >>> [p.name for p in unapplied_repairs(folder)]
        ['20260301120000_llamalog_repair']
        >>> unapplied_repairs(folder, {"20260301120000_llamalog_repair"}), unapplied_repairs(folder / "none")
        ([], [])
    """
    found = (p.parent for p in Path(folder).glob(f"*{_FOLDER}/plan.json"))
    return sorted(p for p in found if re.fullmatch(rf"\d{{14}}{_FOLDER}", p.name) and p.name not in applied)


def _refuse_unapplied(earlier: list[Path], applied: Collection[str], replace: bool) -> None:
    """Raise unless ``earlier`` (:func:`unapplied_repairs` of the migrations ``applied``) is
    empty, or ``replace`` asks to replace them and ``applied`` can tell they are not deployed;
    the message names them, what the store knows of them, and the way on."""
    if not earlier or (replace and applied):
        return
    n = len(earlier)
    it, its = verb(n, "it", "them"), verb(n, "its", "their")
    named = f"{', '.join(map(str, earlier))} {verb(n, 'holds a repair', 'hold repairs')}"
    if not applied:
        raise ArgumentError(
            f"{named} the store cannot tell deployed or not (it has no _prisma_migrations loaded): if "
            f"not, a new folder beside {it} would be deployed too. Hint: load the database (llamalog "
            f"load) so the store knows what is deployed, then run it again; or move {it} out of the "
            "folder yourself"
        )
    raise ArgumentError(
        f"{named} the store's _prisma_migrations does not list (not deployed yet, or deployed with "
        f"psql, which Prisma does not record): a new folder beside {it} would be deployed too. Hint: "
        f"pass replace=True (--replace) to delete {it} and write the new plan in {its} place; if "
        f"{verb(n, 'it was', 'they were')} deployed with psql, move {it} out of the folder yourself"
    )


def _names(report: AuditReport, checks: Sequence[str] | None, rows_requested: bool) -> set[str]:
    """The checks to repair (:func:`validate_repair` said they can be), each in ``report``."""
    present = {c.name for c in report.checks}
    if checks is None:
        return {n for n in REPAIRABLE if n in present and (n != "rows_preserved" or rows_requested)}
    for name in checks:
        if name not in present:
            raise ArgumentError(
                f"check {name!r} is not in the report. Hint: verify with it, or name one of "
                + ", ".join(n for n in REPAIRABLE if n in present)
            )
    return set(checks)


TRANSITIONS_SAID = 5
"""Changes of category (from → to) a plan's note names at most; plan.changes has every one."""


def _what(changes: pl.DataFrame) -> str:
    """What one check's ``changes`` do, for its note: how many rows are restored, then each
    column set and on how many rows, most first; for ``category``, each change of label.

    Examples:
        >>> changes = pl.DataFrame(
        ...     {
        ...         "action": ["set", "set", "set"],
        ...         "check": "category_backfill",
        ...         "id": ["a", "b", "c"],
        ...         "column": "category",
        ...         "value_now": ["FAILED", "FAILED", "ENRICHED"],
        ...         "value_after": ["CACHED", "CACHED", "CREATED"],
        ...     }
        ... )
        >>> _what(changes)
        'category FAILED → CACHED ×2, ENRICHED → CREATED ×1'
        >>> reverted = changes.with_columns(check=pl.lit("rows_preserved"), column=pl.lit("reason"))
        >>> restored = reverted.with_columns(action=pl.lit("insert"), id=pl.lit("d"))
        >>> _what(pl.concat([restored, reverted]))
        "1 restored whole; reason ×3 set back to the snapshot's values"
    """  # noqa: RUF002 (the notes count with ×, as the audit's findings do)
    sets = changes.filter(pl.col("action") == "set")
    per_column = sets.group_by("column").len().sort(["len", "column"], descending=[True, False])
    columns = [
        f"{column} {_moves(sets) if column == 'category' else f'×{n:,}'}" for column, n in per_column.rows()
    ]
    restored = changes.filter(pl.col("action") == "insert")["id"].n_unique()
    parts = [f"{restored:,} restored whole"] if restored else []
    if columns:
        back = " set back to the snapshot's values" if set(sets["check"]) == {"rows_preserved"} else ""
        parts.append(", ".join(columns) + back)
    return "; ".join(parts)


def _moves(sets: pl.DataFrame) -> str:
    """The changes of category among ``sets``, each with how many rows it is made on, most first."""
    moves = sets.filter(pl.col("column") == "category").group_by("value_now", "value_after").len()
    moves = moves.sort(["len", "value_now", "value_after"], descending=[True, False, False], nulls_last=True)
    said = [
        f"{now or 'NULL'} → {after or 'NULL'} ×{n:,}" for now, after, n in moves.head(TRANSITIONS_SAID).rows()
    ]
    more = f" and {moves.height - TRANSITIONS_SAID} more" if moves.height > TRANSITIONS_SAID else ""
    return ", ".join(said) + more


def _categories(ids: pl.DataFrame) -> pl.DataFrame:
    why = pl.format(
        "the category migration, as applied, labels {} with status {} as {}",
        "operation",
        "status",
        "expected",
    )
    return _sets(ids, "category_backfill", "category", why)


def _roots(ids: pl.DataFrame) -> pl.DataFrame:
    walk = "the root-job migration's walk"
    why = (
        pl.when(pl.col("expected").is_null())
        .then(pl.lit(f"{walk} gives no root: the row has no job and no parent"))
        .when(pl.col("candidates") > 1)
        .then(
            pl.format(
                f"{walk} reaches {{}} equally deep roots; {{}} is the first in order",
                "candidates",
                "expected",
            )
        )
        .otherwise(pl.format(f"{walk} gives root job {{}}", "expected"))
    )
    return _sets(ids, "root_job_backfill", "root_job_id", why)


def _sets(ids: pl.DataFrame, check: str, column: str, why: pl.Expr) -> pl.DataFrame:
    """A backfill check's offending rows as changes: ``column`` from its value to ``expected``."""
    return ids.select(
        action=pl.lit("set"),
        check=pl.lit(check),
        id="id",
        column=pl.lit(column),
        value_now=column,
        value_after="expected",
        why=why,
    )


def _rows(audit: Audit, ids: pl.DataFrame, restore: bool, revert: bool, notes: list[str]) -> pl.DataFrame:
    """``rows_preserved``'s repairs asked for, read from the snapshot; the rest noted as left."""
    missing = ids.filter(pl.col("kind") == "missing")["id"].unique().sort()
    changed = ids.filter(pl.col("kind") == "changed")
    parts = []
    if restore:
        parts.append(_restored(audit, missing, notes))
    elif missing.len():
        missing_rows = count(missing.len(), "missing row")
        notes.append(f"rows_preserved: {missing_rows} not restored: ask with {_ASK_RESTORE}.")
    if revert:
        parts.append(_reverted(audit, changed))
    elif changed.height:
        rows = changed["id"].n_unique()
        notes.append(f"rows_preserved: {count(rows, 'changed row')} not reverted: ask with {_ASK_REVERT}.")
    return pl.concat(parts) if parts else pl.DataFrame(schema=CHANGE_SCHEMA)


def _restored(audit: Audit, missing: pl.Series, notes: list[str]) -> pl.DataFrame:
    """Each missing snapshot row as :func:`restored_rows_sql` gives it, one line per column."""
    if missing.is_empty():
        return pl.DataFrame(schema=CHANGE_SCHEMA)
    absent = _absent_from_snapshot(audit)
    if absent:
        notes.append(
            f"rows_preserved: the snapshot has no {', '.join(absent)}: restored rows get each column's "
            "default (NULL where it has none)."
        )
    with audit.store.registered("llamalog_missing", pl.DataFrame({"id": missing})):
        rows = audit.frame(restored_rows_sql(audit, "SELECT id FROM llamalog_missing"))

    def why(column: str) -> str:
        if column in absent:
            return f"missing since the snapshot, which has no {column}: the column's default"
        return _RESTORED_WHY.get(column, RESTORED)

    lines = [
        pl.DataFrame(
            {
                "action": "insert",
                "check": "rows_preserved",
                "id": rows["id"].cast(pl.String),
                "column": c.name,
                "value_now": None,
                "value_after": [_text(v) for v in rows[c.name]],
                "why": why(c.name),
            },
            schema=CHANGE_SCHEMA,
        )
        for c in schema.COLUMNS[1:]
    ]
    return pl.concat(lines).sort("id", maintain_order=True)


def restored_rows_sql(audit: Audit, ids: str) -> str:
    """DuckDB SQL for the snapshot's rows whose ids the query ``ids`` lists (one text column), as
    a repair restores them: every column in order; ``category`` by the category migration's
    rules, as applied; ``root_job_id`` by the root-job migration's walk; a column the snapshot
    lacks gets its default (NULL where it has none)."""
    assert audit.before is not None  # rows_preserved ran, so there is a snapshot
    absent = set(_absent_from_snapshot(audit))

    def value(column: schema.Column) -> str:
        if column.name == "category":
            return f"{rules.APPLIED_BACKFILL.case()} AS category"
        if column.name == "root_job_id":
            return "r.roots[1] AS root_job_id"
        if column.name in absent:
            return f"CAST({column.default or 'NULL'} AS {column.type}) AS {quote(column.name)}"
        return f"b.{quote(column.name)}"

    return f"""{replayed_roots_sql(audit, ids)}
SELECT {", ".join(value(c) for c in schema.COLUMNS)}
FROM {quote(audit.before)} AS b LEFT JOIN replayed AS r ON r.id = b.id AND NOT r.present
WHERE b.id IN (SELECT id::UUID FROM ({ids})) ORDER BY b.created_at, b.id"""


def _absent_from_snapshot(audit: Audit) -> list[str]:
    """The pre-migration columns some load of the snapshot (or of the table) did not have."""
    common = set(audit.common_columns())
    return [c.name for c in schema.LEGACY_COLUMNS if c.name not in common]


def _reverted(audit: Audit, changed: pl.DataFrame) -> pl.DataFrame:
    """Each changed cell set back to the snapshot's value (read typed from both tables)."""
    assert audit.before is not None  # rows_preserved ran, so there is a snapshot
    parts = []
    for (column,), cells in changed.group_by("column", maintain_order=True):
        name = quote(str(column))
        with audit.store.registered("llamalog_changed", cells.select("id")):
            values = audit.frame(
                f"""SELECT b.id::VARCHAR AS id, a.{name} AS now, b.{name} AS snapshot
FROM {quote(audit.before)} AS b JOIN {audit.table} AS a USING (id)
WHERE b.id IN (SELECT id::UUID FROM llamalog_changed) ORDER BY b.id"""
            )
        parts.append(
            pl.DataFrame(
                {
                    "action": "set",
                    "check": "rows_preserved",
                    "id": values["id"],
                    "column": str(column),
                    "value_now": [_text(v) for v in values["now"]],
                    "value_after": [_text(v) for v in values["snapshot"]],
                    "why": f"changed since the snapshot: {column} set back to the snapshot's value",
                },
                schema=CHANGE_SCHEMA,
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame(schema=CHANGE_SCHEMA)


_ARRAYS = Transformer()


def _text(value: Any) -> str | None:
    """A typed value as PostgreSQL's text for it: arrays as ``{a,"b c"}``, times to the
    millisecond, booleans as ``true``/``false``, JSON and the rest as they print.

    Examples:
        >>> _text(["MUSICBRAINZ", "a,b", None]), _text(datetime(2026, 2, 1, 10, 0, 0, 123456)), _text(True)
        ('{MUSICBRAINZ,"a,b",NULL}', '2026-02-01 10:00:00.123', 'true')
    """
    if value is None:
        return None
    if isinstance(value, pl.Series):
        value = value.to_list()
    if isinstance(value, list):
        return bytes(_ARRAYS.get_dumper(value, PyFormat.TEXT).dump(value) or b"").decode()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, repr=False)
class RepairPlan:
    """What to change to fix what an audit found (see :func:`repair`).

    Attributes:
        changes: one row per change: ``action`` (``set`` a column, or ``insert`` a restored
            row, one line per column), ``check``, ``id``, ``column``, ``value_now`` (None for
            an insert), ``value_after`` (text as PostgreSQL writes it) and ``why``.
        notes: per check, what the plan does or leaves out, and why.
        report: the audit the plan was made from.
        created_at: when the plan was made (naive UTC); it names the migration folder.
        audited_rows: ids of rows the audit saw (:data:`AUDITED_ROWS` at each end of the table
            by time): the SQL changes nothing on a database that has none of them.
    """

    changes: pl.DataFrame
    notes: tuple[str, ...]
    report: AuditReport = field(repr=False, compare=False)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    audited_rows: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        """The table the migration changes: the audited one (``llama_logs``)."""
        assert self.report.audit is not None
        return self.report.audit.after

    @property
    def counts(self) -> dict[str, int]:
        """Rows changed per check, in the order the statements run."""
        per = dict(self.changes.group_by("check").agg(pl.col("id").n_unique()).iter_rows())
        return {name: per[name] for name in REPAIRABLE if name in per}

    @property
    def folder_name(self) -> str:
        """The Prisma migration folder's name: ``YYYYMMDDHHMMSS_llamalog_repair`` (UTC)."""
        return f"{self.created_at:%Y%m%d%H%M%S}{_FOLDER}"

    def __bool__(self) -> bool:
        """Whether there is anything to repair."""
        return not self.changes.is_empty()

    def migration_sql(self) -> str:
        """``migration.sql``: the changes in one transaction, each guarded by the value it
        replaces, ending in a block that raises unless the rows end up as planned.

        Raises:
            ArgumentError: the plan is empty.
        """
        self._require_changes()
        header = self._header("migration")
        return script(self.changes, self.table, header, list(self.audited_rows), rollback=False)

    def rollback_sql(self) -> str:
        """``rollback.sql``: the audit's values back (restored rows deleted), likewise guarded.

        Raises:
            ArgumentError: the plan is empty.
        """
        self._require_changes()
        header = self._header("rollback")
        return script(self.changes, self.table, header, list(self.audited_rows), rollback=True)

    def _require_changes(self) -> None:
        if not self:
            raise ArgumentError("nothing to repair: the plan has no changes. Hint: plan.notes says why")

    def to_dict(self) -> dict[str, Any]:
        """The plan for ``plan.json``: when and from which audit, the counts, the notes and every change."""
        summary = self.report.summary
        return {
            "plan": self.folder_name,
            "created_at": f"{self.created_at:%Y-%m-%d %H:%M:%S} UTC",
            "version": version("llamalog_analytics"),
            "table": self.table,
            "audit": {
                "run": summary.get("run"),
                "status": self.report.status,
                "store": summary.get("provenance", {}).get("store"),
                "generated_at": summary.get("provenance", {}).get("generated_at"),
                "tables": summary.get("tables"),
            },
            "counts": self.counts,
            "notes": list(self.notes),
            "audited_rows": list(self.audited_rows),
            "changes": self.changes.to_dicts(),
        }

    def write(self, folder: str | Path, *, replace: bool = False) -> Path:
        """Write ``<folder>/<UTC timestamp>_llamalog_repair/`` with ``migration.sql``,
        ``rollback.sql`` and ``plan.json``; returns that folder (``folder`` is created if need be).

        A repair written there before and not deployed yet (:func:`unapplied_repairs`: the
        audit's ``_prisma_migrations`` does not list it) would be deployed with this one: it is
        refused, or with ``replace`` deleted once this one is in place. Without a
        ``_prisma_migrations`` the store cannot tell, and such a folder is refused either way.

        Raises:
            ArgumentError: the plan is empty, the migration folder already exists, or ``folder``
                holds a repair not deployed yet and ``replace`` is not asked.
            ExportError: ``folder`` cannot be written in (:func:`validate_repair` asks first), or
                the write failed (a full disk, say); nothing of the repair was written.
        """
        self._require_changes()
        target = writable_folder(folder) / self.folder_name
        applied = self.report.summary.get("migrations", {})
        earlier = unapplied_repairs(folder, applied)
        _refuse_unapplied(earlier, applied, replace)
        if target.exists() and target not in earlier:
            raise ArgumentError(f"{target} already exists. Hint: write into another folder, or remove it")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{self.folder_name}-", dir=target.parent))
        except OSError as exc:
            raise _unwritten(target, exc) from exc
        aside: list[tuple[Path, Path]] = []  # (replaced folder, where it waits until this one is in)
        try:  # the folder appears whole or not at all, the ones it replaces gone only then
            (partial / "migration.sql").write_text(self.migration_sql(), encoding="utf-8")
            (partial / "rollback.sql").write_text(self.rollback_sql(), encoding="utf-8")
            plan = json.dumps(self.to_dict(), indent=1, default=str)
            (partial / "plan.json").write_text(plan, encoding="utf-8")
            partial.chmod(0o755)
            for replaced in earlier:
                aside.append((replaced, partial.with_name(f"{partial.name}-replaced-{replaced.name}")))
                replaced.rename(aside[-1][1])
            partial.rename(target)
        except BaseException as exc:
            for replaced, waiting in reversed(aside):
                waiting.rename(replaced)
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(exc, OSError):
                raise _unwritten(target, exc) from exc
            raise
        for _, waiting in aside:
            shutil.rmtree(waiting, ignore_errors=True)
        return target

    def dry_run(self) -> DryRun:
        """Apply the plan to a copy of the audited tables (a store file in a temporary folder,
        removed afterwards), audit the copy with the same checks and parameters, and return both
        reports. The store itself is not changed; a read-only store will do."""
        from ._dry_run import dry_run

        return dry_run(_audit_of(self.report), self.report, self.changes, self._repaired())

    def _repaired(self) -> tuple[str, ...]:
        """The checks whose every offending row the plan changes."""
        planned = {n: set(self.changes.filter(pl.col("check") == n)["id"]) for n in self.counts}
        return tuple(n for n, ids in planned.items() if set(self.report.check(n).ids["id"]) <= ids)

    def _header(self, which: str) -> str:
        summary = self.report.summary
        store = summary.get("provenance", {}).get("store", "in memory")
        store = "an in-memory store" if store == "in memory" else store
        run = summary.get("run")
        lines = [
            f"llamalog repair {which}: {self.folder_name}",
            f"Written {self.created_at:%Y-%m-%d %H:%M:%S} UTC by llamalog_analytics "
            f"{version('llamalog_analytics')} from the audit"
            + (f" (run {run})" if run else "")
            + f" of {store}, status {self.report.status.upper()}.",
            *self.notes,
            "The planned rows are locked first: the application's writes to them wait until COMMIT.",
            "Each change is guarded by the value it replaces: running this file twice changes nothing",
            "the second time (a NOTICE counts and names the rows already as it leaves them), and a",
            "row changed since the audit is left alone, as a whole (a NOTICE counts and names them).",
            "On a database without any of the rows the audit saw (plan.json's audited_rows: another",
            "environment), it changes nothing (a NOTICE says so).",
            "The last block raises, undoing everything, unless the rows end up as planned.",
        ]
        if which == "rollback":
            lines += [
                "A row that holds a planned value is set back, and a restored row that is still as",
                "restored is deleted, even if they came to be so by other means than migration.sql.",
            ]
        if which == "migration":
            lines.append("rollback.sql beside this file undoes exactly these changes; plan.json lists them.")
            lines += [
                "A row whose planned values name an album, artist, track or user that is gone (a",
                "foreign key would fail) is left alone, as a whole (a NOTICE counts and names them).",
            ]
        return "\n".join(f"-- {' '.join(line.split())}" for line in lines)  # one line each, whatever the text

    def __repr__(self) -> str:
        rows = self.changes["id"].n_unique()
        return f"RepairPlan({self.folder_name}: {count(rows, 'row')}, {count(self.changes.height, 'change')})"

    def __str__(self) -> str:
        heading = f"repair plan {self.folder_name} for" if self else "nothing to repair in"
        lines = [f"[🦙 LlamaLog] {heading} {self.table}"]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        title = f"Repair plan · {count(self.changes['id'].n_unique(), 'row')}"
        notes = "".join(f"<li>{escape(n)}</li>" for n in self.notes)
        if not self:
            return block(title, self.table, body=f"<ul>{notes}</ul><p>Nothing to repair.</p>")
        lines = _one_line_per_restored_row(self.changes)
        rows = [
            [
                escape(line["check"]),
                f'<span class="id" title="{escape(line["id"])}">{escape(shorten(line["id"], 13))}</span>',
                escape(line["column"]),
                _value_html(line["value_now"]),
                _value_html(line["value_after"]),
                escape(line["why"]),
            ]
            for line in lines.head(PLAN_ROWS_SHOWN).iter_rows(named=True)
        ]
        table = html_table(["check", "row", "column", "now", "after", "why"], rows)
        more = (
            f"<p>The first {PLAN_ROWS_SHOWN} of {lines.height:,} lines; plan.changes has every change.</p>"
            if lines.height > PLAN_ROWS_SHOWN
            else ""
        )
        return block(title, self.folder_name, body=f"<ul>{notes}</ul>{table}{more}")


def _one_line_per_restored_row(changes: pl.DataFrame) -> pl.DataFrame:
    """``changes`` for people: a restored row as one line (its operation and time), not one per column."""
    inserts = changes.filter(pl.col("action") == "insert")
    restored = (
        inserts.group_by("id", maintain_order=True)
        .agg(
            pl.col("check").first(),
            pl.col("value_after").filter(pl.col("column") == "operation").first().alias("operation"),
            pl.col("value_after").filter(pl.col("column") == "created_at").first().alias("created_at"),
        )
        .select(
            "check",
            "id",
            column=pl.lit("the whole row"),
            value_now=pl.lit(None, pl.String),
            value_after=pl.format("{} at {}", "operation", pl.col("created_at").str.head(19)),
            why=pl.lit(RESTORED),
        )
    )
    sets = changes.filter(pl.col("action") == "set").drop("action")
    return pl.concat([sets, restored])


def _value_html(value: str | None) -> str:
    """A value in the plan's table: shortened to 40 characters (whole in its tooltip), NULL in grey."""
    if value is None:
        return '<span class="expects">NULL</span>'
    return f'<span class="value" title="{escape(value)}">{escape(shorten(value, 40))}</span>'
