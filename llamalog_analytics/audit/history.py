"""The audit history: every :func:`~llamalog_analytics.audit.verify` on a writable store is
recorded in it, and any two recorded runs can be compared check by check.

A run records when it ran (UTC), the package version, each audited table's row count and last
load, the parameters (tables, migration times, job links, the checks run) and, per check, its
status, count and offending ids. The ids go into ``_llamalog_audit_ids`` in one statement, read
straight from each check's frame; the run, its checks and its ids are one transaction,
so a run is recorded whole or not at all, and a ``verify`` that fails records nothing. Runs
are numbered 1, 2, ... like loads, without gaps.

An in-memory store records too: its history lasts as long as the store (a notebook session).
A store opened with ``read_only=True`` cannot record: the report's summary says so
(``history``), and ``run`` is None.

:func:`audit_history` lists the runs; :func:`compare_audits` tells, per check, which offending
ids are new, which were fixed and which persist between two runs (by default the last two).

Examples:
    >>> import llamalog_analytics as lla
    >>> from llamalog_analytics.audit import audit_history, compare_audits, verify
    >>> with lla.sample_store() as store:
    ...     first = verify(store)
    ...     fixed = first.check("dangling_parents").ids["id"][0]  # a row whose parent is missing
    ...     _ = store.execute(
    ...         "UPDATE llama_logs SET parent_job_id = NULL, category = NULL WHERE id = ?", [fixed]
    ...     )
    ...     second = verify(store)
    ...     runs = audit_history(store)
    ...     changes = compare_audits(store)
    >>> first.summary["history"], second.summary["run"], len(runs)
    ('recorded as run 1', 2, 2)
    >>> changes.checks.filter(check="category_present").row(0)
    ('category_present', 'pass', 'fail', 1, 0, 0)
    >>> changes.new("category_present") == [fixed], changes.fixed("dangling_parents") == [fixed]
    (True, True)
    >>> second.summary["since previous run"]["run"]
    1
"""

from __future__ import annotations

import contextlib
import json
import shlex
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from importlib.metadata import version
from typing import Any

import duckdb
import polars as pl

from .._format import count, first_few, moment, number_ranges
from .._html import block, html_table
from .._sql import AUDIT_CHECKS_TABLE, AUDIT_DDL, AUDIT_IDS_TABLE, AUDITS_TABLE, LOADS_TABLE, literal
from ..errors import ArgumentError, StoreError, StoreLockedError
from ..store import LogStore, require_store, unwritable_folder
from .context import offending_ids
from .result import STATUSES, AuditReport

CHANGES = ("new", "fixed", "persisting")
"""How an offending id of a check differs between two runs: only in the newer, only in the
older, in both."""

READ_ONLY = "not recorded: the store is open read-only"
SHOWN_IDS = 5  # ids per check and change in a comparison's text
IDS_BY_STATUS = {
    "category_backfill": (
        "a failing run lists the rows that differ from the rules as applied, a warning one the rows "
        "the roadmap intended otherwise"
    ),
}
"""Checks whose ids list other rows when they fail than when they warn, each with what they list."""
IDS_LIST = {
    "reused_job_ids": "reused job runs",
    "unknown_origin": "entities of unknown origin",
    "rows_preserved": "missing rows and changed values",
}
"""Checks whose ids list something other than offending rows, each with what they list: a job
run by its first row, an entity by its own id, a snapshot row missing or one changed value of it."""


def ids_title(check: str) -> str:
    """What ``check``'s ids list, as the title of their table says it.

    Examples:
        >>> ids_title("unknown_origin"), ids_title("category_backfill")
        ('entities of unknown origin', 'offending rows')
    """
    return IDS_LIST.get(check, "offending rows")


def _ids_alike(check: str, low: str, high: str) -> str:
    """SQL: whether ``check``'s ids list the same kind of rows in two runs whose statuses, in
    alphabetical order, are ``low`` and ``high``."""
    names = ", ".join(literal(name) for name in IDS_BY_STATUS)
    return f"NOT ({check} IN ({names}) AND {low} = 'fail' AND {high} = 'warn')"


# Per check of either run (``$1`` older, ``$2`` newer): each offending id and how it changed.
# Only checks that ran in both (present, not ``skip``), listing the same kind of rows, are compared.
_CHANGES = f"""WITH compared AS (
  SELECT check_name FROM {AUDIT_CHECKS_TABLE} WHERE run_id IN ($1, $2) AND status <> 'skip'
  GROUP BY check_name HAVING count(DISTINCT run_id) = 2
    AND {_ids_alike("check_name", "min(status)", "max(status)")}),
older AS (SELECT check_name, id FROM {AUDIT_IDS_TABLE}
  WHERE run_id = $1 AND check_name IN (SELECT check_name FROM compared)),
newer AS (SELECT check_name, id FROM {AUDIT_IDS_TABLE}
  WHERE run_id = $2 AND check_name IN (SELECT check_name FROM compared)),
changes AS (
  SELECT coalesce(n.check_name, o.check_name) AS "check",
    CASE WHEN o.id IS NULL THEN 'new' WHEN n.id IS NULL THEN 'fixed' ELSE 'persisting' END AS change,
    coalesce(n.id, o.id) AS id
  FROM older o FULL JOIN newer n ON n.check_name = o.check_name AND n.id = o.id),
n AS (SELECT * FROM {AUDIT_CHECKS_TABLE} WHERE run_id = $2)"""

_COMPARED_ALIKE = _ids_alike("n.check_name", "least(o.status, n.status)", "greatest(o.status, n.status)")

# Per check of either run: its statuses and the counts of new, fixed and persisting ids (those
# in both, by one inner join; the others by difference, which is cheaper than listing them).
_CHECKS = f"""WITH o AS (SELECT * FROM {AUDIT_CHECKS_TABLE} WHERE run_id = $1),
n AS (SELECT * FROM {AUDIT_CHECKS_TABLE} WHERE run_id = $2),
found AS (SELECT run_id, check_name, count(*) AS ids FROM {AUDIT_IDS_TABLE}
  WHERE run_id IN ($1, $2) GROUP BY ALL),
kept AS (SELECT a.check_name, count(*) AS ids FROM {AUDIT_IDS_TABLE} a JOIN {AUDIT_IDS_TABLE} b
  ON b.check_name = a.check_name AND b.id = a.id WHERE a.run_id = $1 AND b.run_id = $2 GROUP BY ALL),
counted AS (
  SELECT coalesce(n.check_name, o.check_name) AS "check", o.status AS older_status,
    n.status AS newer_status, o.position AS older_position, n.position AS newer_position,
    o.status <> 'skip' AND n.status <> 'skip' AND {_COMPARED_ALIKE} AS compared,
    coalesce((SELECT ids FROM found f WHERE f.run_id = $1 AND f.check_name = o.check_name), 0) AS before,
    coalesce((SELECT ids FROM found f WHERE f.run_id = $2 AND f.check_name = n.check_name), 0) AS after,
    coalesce((SELECT ids FROM kept k WHERE k.check_name = n.check_name), 0) AS persisting
  FROM o FULL JOIN n ON n.check_name = o.check_name)
SELECT "check", older_status, newer_status,
  CASE WHEN compared THEN after - persisting END AS new,
  CASE WHEN compared THEN before - persisting END AS fixed,
  CASE WHEN compared THEN persisting END AS persisting
FROM counted ORDER BY newer_position NULLS LAST, older_position"""

_IDS = f"""{_CHANGES}
SELECT c."check", c.change, c.id FROM changes c JOIN n ON n.check_name = c."check"
ORDER BY n.position, CASE c.change WHEN 'new' THEN 0 WHEN 'fixed' THEN 1 ELSE 2 END, c.id"""

_STATUS_COUNTS = ", ".join(f"count(*) FILTER (c.status = '{s}') AS {s}" for s in STATUSES)
_RUNS = f"""SELECT r.run_id, r.ran_at, r.version, r.status, {_STATUS_COUNTS},
  coalesce(list(c.check_name ORDER BY c.position) FILTER (c.status = 'fail'), []::VARCHAR[]) AS failed_checks,
  r.tables::VARCHAR AS tables,
  r.parameters::VARCHAR AS parameters
FROM {AUDITS_TABLE} r LEFT JOIN {AUDIT_CHECKS_TABLE} c USING (run_id)
GROUP BY ALL ORDER BY r.run_id"""


def _changed_value(then: Any, now: Any) -> str:
    """A parameter's change as a reader takes it in: a list by what it gained and lost.

    Examples:
        >>> _changed_value(["a", "b"], ["b", "c", "d"]), _changed_value("enrichment_logs", None)
        ('2 → 3 (added c, d; left out a)', 'enrichment_logs → None')
    """
    if not (isinstance(then, list) and isinstance(now, list)):
        return f"{then} → {now}"
    added, gone = [x for x in now if x not in then], [x for x in then if x not in now]
    said = []
    if added:
        said.append(f"added {first_few(added, 4)}")
    if gone:
        said.append(f"left out {first_few(gone, 4)}")
    return f"{len(then)} → {len(now)}" + (f" ({'; '.join(said)})" if said else " (another order)")


def not_compared(row: Mapping[str, Any]) -> str | None:
    """Why a row of a comparison's ``checks`` has no counts, in words; None when it has them.

    Examples:
        >>> row = {"check": "rows_preserved", "new": None}
        >>> not_compared(row | {"older_status": None, "newer_status": "pass"})
        'not run then'
        >>> not_compared(row | {"older_status": "warn", "newer_status": "skip"})
        'skipped now'
    """
    if row["new"] is not None:
        return None
    then, now = row["older_status"], row["newer_status"]
    if then is None or now is None:
        return f"not run {'then' if then is None else 'now'}"
    if "skip" in (then, now):
        return f"skipped {'in both' if then == now else 'then' if then == 'skip' else 'now'}"
    return IDS_BY_STATUS[row["check"]]  # failing in one run and warning in the other


def record(
    store: LogStore, report: AuditReport, parameters: Mapping[str, Any], elsewhere: int | None = None
) -> AuditReport:
    """``report`` recorded in ``store`` as its next run (what :func:`verify` does last);
    ``elsewhere``: what other processes had written when the audit read the store (the second
    part of its :meth:`~llamalog_analytics.store.LogStore.version`).

    Returns ``report`` with its summary saying as which run (``run``, ``history``) and, when the
    store has an earlier run, what changed since it (``since previous run``: that run's number,
    time and tables, and per check its status then and the new, fixed and persisting counts).
    On a read-only store, one another process keeps writing to for longer than the store's
    ``wait``, or one another process wrote to since ``elsewhere`` (the run would name loads the
    audit never read), nothing is recorded: ``run`` is None and ``history`` says why.

    Raises:
        StoreError: the store could not be written (nothing was recorded).
    """
    if store.read_only:
        return _with(report, run=None, history=READ_ONLY)
    try:
        with store.bookkeeping():  # one opening of the file for the whole record
            if elsewhere is not None and store.version()[1] != elsewhere:
                return _with(report, run=None, history=f"not recorded: {store.path}: {_WRITTEN_SINCE}")
            run = _write_run(store, report, parameters)
            summary: dict[str, Any] = {"run": run, "history": f"recorded as run {run}"}
            if run > 1:
                before = audit_history(store).run(run - 1)
                summary["since previous run"] = {
                    "run": run - 1,
                    "ran_at": moment(before.ran_at),
                    "tables": before.tables,
                    "checks": store.frame(_CHECKS, [run - 1, run]).to_dicts(),
                }
    except StoreLockedError as exc:  # raised before anything was written
        why = str(exc).split(". Hint:")[0]
        again = "run it again to record it (llamalog verify --wait 60; LogStore(path, wait=60))"
        return _with(report, run=None, history=f"not recorded: {why}. Hint: {again}")
    return _with(report, **summary)


_WRITTEN_SINCE = (
    "another process wrote to the store after this audit read it. Hint: run it again to record it, "
    "once the other process is done"
)


def _write_run(store: LogStore, report: AuditReport, parameters: Mapping[str, Any]) -> int:
    """Write ``report`` as the store's next run in one transaction, inside the caller's
    bookkeeping session; return its number.

    Raises:
        StoreError: the store could not be written (nothing was recorded).
    """
    tables = _tables(store, report.summary.get("tables", {}))
    checks = pl.DataFrame(
        {
            "position": range(len(report.checks)),
            "check_name": [c.name for c in report.checks],
            "status": [c.status for c in report.checks],
            "count": [c.count for c in report.checks],
        },
        schema={"position": pl.Int32, "check_name": pl.String, "status": pl.String, "count": pl.Int64},
    )
    try:
        store.execute("BEGIN TRANSACTION")
        for ddl in AUDIT_DDL:
            store.execute(ddl)
        run: int = store.execute(f"SELECT coalesce(max(run_id), 0) + 1 FROM {AUDITS_TABLE}")[0][0]
        store.execute(
            f"INSERT INTO {AUDITS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            [
                run,
                datetime.now(UTC).replace(tzinfo=None),
                version("llamalog_analytics"),
                report.status,
                json.dumps(tables),
                json.dumps(parameters, default=str),
            ],
        )
        with store.registered("_llamalog_audit_checks_new", checks) as new:
            store.execute(
                f"INSERT INTO {AUDIT_CHECKS_TABLE} SELECT ?, position, check_name, status, count FROM {new}",
                [run],
            )
        with offending_ids(store, report.checks) as ids:
            store.execute(f"INSERT INTO {AUDIT_IDS_TABLE} SELECT ?, check_name, id FROM ({ids})", [run])
        store.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(duckdb.Error):
            store.execute("ROLLBACK")
        if isinstance(exc, duckdb.Error):
            first = str(exc).splitlines()[0]
            folder = unwritable_folder(store.path, first)
            if folder is not None:
                raise StoreError(
                    f"{store.path}: recording the audit failed, nothing was recorded: DuckDB writes "
                    f"{store.path}.wal beside the store, and one may not write in {folder}. Hint: audit "
                    "without recording it (--no-record; in a notebook, the store opened read_only=True), "
                    f"or check who may write in it (ls -ld {shlex.quote(str(folder))})"
                ) from exc
            raise StoreError(
                f"{store.path or 'memory'}: recording the audit failed, nothing was recorded: {first}. "
                "Hint: free some space where the store lives and verify again, or open the store "
                "read-only to audit without recording"
            ) from exc
        raise
    return run


def _with(report: AuditReport, **summary: Any) -> AuditReport:
    return replace(report, summary={**report.summary, **summary})


def _tables(store: LogStore, rows: Mapping[str, int]) -> dict[str, dict[str, int | None]]:
    """Each audited table's row count and the last load that wrote to it."""
    last: dict[str, int] = {}
    if store.has_table(LOADS_TABLE):
        last = dict(store.execute(f"SELECT table_name, max(load_id) FROM {LOADS_TABLE} GROUP BY ALL"))
    return {name: {"rows": n, "last_load": last.get(name.lower())} for name, n in rows.items()}


@dataclass(frozen=True)
class AuditRun:
    """One recorded audit.

    Attributes:
        run_id: its number in the store, from 1.
        ran_at: when it was recorded (naive UTC).
        version: the llamalog_analytics version that ran it.
        status: the worst status of its checks.
        checks: how many checks had each status.
        failed_checks: the checks that failed, in the order they ran.
        tables: each audited table's ``rows`` and ``last_load`` (None: not loaded by llamalog).
        parameters: what it was asked: the tables, migration times, job links and checks run.
    """

    run_id: int
    ran_at: datetime
    version: str
    status: str
    checks: Mapping[str, int]
    failed_checks: tuple[str, ...]
    tables: Mapping[str, Mapping[str, int | None]]
    parameters: Mapping[str, Any]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> AuditRun:
        """The run of one row of :attr:`AuditHistory.runs`."""
        return cls(
            row["run_id"],
            row["ran_at"],
            row["version"],
            row["status"],
            {s: row[s] for s in STATUSES},
            tuple(row["failed_checks"]),
            json.loads(row["tables"]),
            json.loads(row["parameters"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field, ready for JSON (``ran_at`` as text, UTC)."""
        return {
            "run_id": self.run_id,
            "ran_at": moment(self.ran_at),
            "version": self.version,
            "status": self.status,
            "checks": dict(self.checks),
            "failed_checks": list(self.failed_checks),
            "tables": {k: dict(v) for k, v in self.tables.items()},
            "parameters": dict(self.parameters),
        }

    def describe_tables(self) -> str:
        """The tables as one line: ``llama_logs 4,000 rows (load 1), ...``."""
        return ", ".join(
            f"{name} {count(t['rows'] or 0, 'row')}" + (f" (load {t['last_load']})" if t["last_load"] else "")
            for name, t in self.tables.items()
        )


def audit_history(store: LogStore) -> AuditHistory:
    """The audits recorded in ``store``, oldest first (none for a store never audited writable).

    Examples:
        >>> import llamalog_analytics as lla
        >>> from llamalog_analytics.audit import verify
        >>> with lla.sample_store() as store:
        ...     empty = audit_history(store)
        ...     _ = verify(store)
        ...     history = audit_history(store)
        >>> len(empty), len(history), history.runs.row(0, named=True)["status"]
        (0, 1, 'warn')
        >>> print(str(history).splitlines()[0])
        [🦙 LlamaLog] 1 recorded audit of the store in memory (times UTC)
    """
    require_store(store, "audit_history")
    where = store.path or "in memory"
    if not store.has_table(AUDITS_TABLE):
        return AuditHistory(where, _no_runs())
    return AuditHistory(where, store.frame(_RUNS))


def _no_runs() -> pl.DataFrame:
    schema: dict[str, Any] = {
        "run_id": pl.Int32,
        "ran_at": pl.Datetime("us"),
        "version": pl.String,
        "status": pl.String,
    }
    schema |= dict.fromkeys(STATUSES, pl.Int64)
    schema |= {"failed_checks": pl.List(pl.String), "tables": pl.String, "parameters": pl.String}
    return pl.DataFrame(schema=schema)


@dataclass(frozen=True)
class AuditHistory:
    """The audits recorded in a store (:func:`audit_history`).

    Attributes:
        store: the store's path, or ``in memory``.
        runs: one row per run, oldest first: ``run_id``, ``ran_at`` (naive UTC), ``version``,
            ``status``, how many checks had each status (``pass``, ``skip``, ``warn``,
            ``fail``), ``failed_checks`` (the names of the checks that failed), and ``tables`` and
            ``parameters`` as JSON text (see :class:`AuditRun`).
    """

    store: str
    runs: pl.DataFrame

    def __len__(self) -> int:
        return self.runs.height

    def run(self, run_id: int) -> AuditRun:
        """The run numbered ``run_id``.

        Raises:
            ArgumentError: the store has no such run (the message says which it has).
        """
        _require_run(run_id, self.runs["run_id"].to_list())
        return AuditRun.of(self.runs.filter(pl.col("run_id") == run_id).row(0, named=True))

    def to_dict(self) -> dict[str, Any]:
        """The store and every run (:meth:`AuditRun.to_dict`), ready for JSON."""
        return {
            "store": self.store,
            "runs": [AuditRun.of(r).to_dict() for r in self.runs.iter_rows(named=True)],
        }

    def __str__(self) -> str:
        return self.text()

    def text(self, width: int | None = None) -> str:
        """The audits as text: a line per audit, its tables last. With ``width`` (a terminal's),
        where that line would be wider, the failed checks, version and tables go on lines of
        their own under the audit, wrapped to it, and so does the heading.

        Examples:
            >>> import llamalog_analytics as lla
            >>> from llamalog_analytics.audit import verify
            >>> with lla.sample_store() as store:
            ...     _ = verify(store)
            ...     history = audit_history(store)
            >>> lines = history.text(width=72).splitlines()
            >>> print(lines[1], lines[3], lines[4], max(map(len, lines)) <= 72, sep="\\n")
            run  ran at                   status  pass  skip  warn  fail
                 failed checks: none; version 0.1.0; llama_logs 4,000 rows (load 1),
                 enrichment_logs 651 rows (load 2)
            True
        """
        where = f"the store {self.store}" if self.store != "in memory" else "the store in memory"
        if not len(self):
            return f"[🦙 LlamaLog] no recorded audits in {where}. Hint: llamalog verify records one"
        header = ["run", "ran at", "status", *STATUSES, "failed checks", "version", "tables"]
        rows = [_run_cells(AuditRun.of(r)) for r in self.runs.iter_rows(named=True)]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        below = width is not None and sum(widths) + 2 * (len(widths) - 1) > width
        shown = len(header) - 3 if below else len(header)  # the last three under the audit
        left = {1, 2, 7, 8, 9}
        lines = textwrap.wrap(
            f"[🦙 LlamaLog] {count(len(self), 'recorded audit')} of {where} (times UTC)",
            width or len(where) + 100,
            subsequent_indent=" " * 4,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for cells in (header, *rows):
            line = "  ".join(
                c.ljust(w) if i in left else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells[:shown], widths[:shown], strict=True))
            )
            lines.append(line.rstrip())
            if width is not None and below and cells is not header:
                failed, version, tables = cells[shown:]
                indent = " " * (widths[0] + 2)  # under the time it ran
                lines += textwrap.wrap(
                    f"failed checks: {failed}; version {version}; {tables}",
                    width,
                    initial_indent=indent,
                    subsequent_indent=indent,
                    break_on_hyphens=False,
                )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        header = ["run", "ran at (UTC)", "status", *STATUSES, "failed checks", "version", "tables"]
        rows = [[escape(c) for c in _run_cells(AuditRun.of(r))] for r in self.runs.iter_rows(named=True)]
        body = html_table(header, rows, numeric=frozenset({0, 3, 4, 5, 6})) if rows else "<p>none yet</p>"
        return block("LlamaLog audit history", self.store, count(len(self), "run"), body=body)


def _run_cells(run: AuditRun) -> list[str]:
    return [
        str(run.run_id),
        moment(run.ran_at),
        run.status.upper(),
        *(f"{run.checks[s]:,}" for s in STATUSES),
        ", ".join(run.failed_checks) or "none",
        run.version,
        run.describe_tables(),
    ]


def _require_run(run_id: int, runs: list[int]) -> None:
    if run_id in runs:
        return
    if not runs:
        raise ArgumentError(
            f"no audit run {run_id}: the store has no recorded audits. "
            "Hint: run verify on the store opened writable (lla.verify(store), llamalog verify)"
        )
    raise ArgumentError(
        f"no audit run {run_id} in the store (its runs are {number_ranges(runs)}). "
        "Hint: llamalog audits lists them"
    )


def compare_audits(store: LogStore, older: int | None = None, newer: int | None = None) -> AuditComparison:
    """What changed between two recorded audits of ``store``, check by check.

    Args:
        store: a store with at least two recorded audits.
        older: the run to compare from; default the run just before ``newer``.
        newer: the run to compare to; default the last run.

    Raises:
        ArgumentError: fewer than two runs recorded, a run the store does not have, no run
            before ``newer``, or ``older`` and ``newer`` the same run.

    Examples:
        >>> import llamalog_analytics as lla
        >>> from llamalog_analytics.audit import verify
        >>> with lla.sample_store() as store:
        ...     _ = verify(store)
        ...     compare_audits(store)
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: comparing audits takes two recorded runs and the \
store has 1 run. Hint: run verify again (lla.verify(store), llamalog verify) to record another
        >>> with lla.sample_store() as store:
        ...     _, _ = verify(store), verify(store)
        ...     same = compare_audits(store)
        >>> same.older.run_id, same.newer.run_id, same.checks["new"].sum(), same.checks["fixed"].sum()
        (1, 2, 0, 0)
    """
    require_store(store, "compare_audits")
    history = audit_history(store)
    runs = history.runs["run_id"].to_list()
    if len(runs) < 2:
        raise ArgumentError(
            f"comparing audits takes two recorded runs and the store has {count(len(runs), 'run')}. "
            "Hint: run verify again (lla.verify(store), llamalog verify) to record another"
        )
    if newer is None:
        newer = runs[-1]
    _require_run(newer, runs)
    if older is None:
        earlier = [r for r in runs if r < newer]
        if not earlier:
            raise ArgumentError(
                f"no audit run before run {newer} to compare it with. "
                f"Hint: pass older= (--older) one of the runs {number_ranges(runs)}"
            )
        older = earlier[-1]
    _require_run(older, runs)
    if older == newer:
        raise ArgumentError(f"run {older} compared with itself. Hint: name two different runs")
    return AuditComparison(
        history.run(older),
        history.run(newer),
        store.frame(_CHECKS, [older, newer]),
        store.frame(_IDS, [older, newer]),
    )


@dataclass(frozen=True)
class AuditComparison:
    """What changed between two recorded audits (:func:`compare_audits`), check by check.

    Attributes:
        older: the run compared from.
        newer: the run compared to.
        checks: one row per check of either run, in the newer run's order: ``check``,
            ``older_status``, ``newer_status`` (null where the run did not have the check),
            and how many offending ids are ``new`` (only in the newer run), ``fixed`` (only in
            the older) and ``persisting`` (in both). The three counts are null for a check that
            did not run in both (absent, or ``skip``), or whose ids list other rows in each
            (:data:`IDS_BY_STATUS`, failing in one and warning in the other): nothing can be
            said of its ids.
        ids: every id counted: ``check``, ``change`` (``new``, ``fixed`` or ``persisting``)
            and ``id``, in the order of ``checks``, then change, then id.
    """

    older: AuditRun
    newer: AuditRun
    checks: pl.DataFrame
    ids: pl.DataFrame

    def new(self, check: str) -> list[str]:
        """The ids ``check`` found in the newer run and not in the older."""
        return self._of(check, "new")

    def fixed(self, check: str) -> list[str]:
        """The ids ``check`` found in the older run and no longer in the newer."""
        return self._of(check, "fixed")

    def persisting(self, check: str) -> list[str]:
        """The ids ``check`` found in both runs."""
        return self._of(check, "persisting")

    def _of(self, check: str, change: str) -> list[str]:
        names = self.checks["check"].to_list()
        if check not in names:
            raise ArgumentError(
                f"no check named {check!r} in either run. Hint: use one of {', '.join(names)}"
            )
        return self.ids.filter((pl.col("check") == check) & (pl.col("change") == change))["id"].to_list()

    def to_dict(self) -> dict[str, Any]:
        """Both runs (:meth:`AuditRun.to_dict`) and per check its statuses, the three counts and
        the ids of each (``new_ids``, ``fixed_ids``, ``persisting_ids``), ready for JSON."""
        listed = {
            (c, change): ids
            for c, change, ids in self.ids.group_by("check", "change", maintain_order=True)
            .agg(pl.col("id"))
            .iter_rows()
        }
        checks = [
            row | {f"{change}_ids": listed.get((row["check"], change), []) for change in CHANGES}
            for row in self.checks.iter_rows(named=True)
        ]
        return {"older": self.older.to_dict(), "newer": self.newer.to_dict(), "checks": checks}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def _changed(self) -> list[str]:
        """Lines on what differs around the checks: the data, the version and the parameters."""
        lines = []
        if self.older.tables != self.newer.tables:
            lines.append(f"  tables then: {self.older.describe_tables()}")
            lines.append(f"  tables now:  {self.newer.describe_tables()}")
        if self.older.version != self.newer.version:
            lines.append(f"  version: {self.older.version} → {self.newer.version}")
        then, now = self.older.parameters, self.newer.parameters
        for key in dict.fromkeys([*then, *now]):
            if then.get(key) != now.get(key):
                lines.append(f"  {key}: {_changed_value(then.get(key), now.get(key))}")
        return lines

    def __str__(self) -> str:
        o, n = self.older, self.newer
        lines = [
            f"[🦙 LlamaLog] audit run {n.run_id} ({moment(n.ran_at)} UTC) against run {o.run_id} "
            f"({moment(o.ran_at)} UTC): {n.status.upper()}, was {o.status.upper()}",
            *(self._changed() or ["  same tables, rows, loads and parameters"]),
        ]
        rows = [
            [
                r["check"],
                (r["older_status"] or "not run").upper(),
                (r["newer_status"] or "not run").upper(),
                *("-" if r[c] is None else f"{r[c]:,}" for c in CHANGES),
            ]
            for r in self.checks.iter_rows(named=True)
        ]
        header = ["check", "then", "now", *CHANGES]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for cells in (header, *rows):
            row = "  ".join(
                c.ljust(w) if i < 3 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            lines.append(row)
            for change in ("new", "fixed") if cells is not header else ():
                ids = self._of(cells[0], change)
                if ids:
                    lines.append(f"    {change}: {first_few(ids, SHOWN_IDS)}")
        lines += [
            f"  - not compared, {why}: {', '.join(checks)}" for why, checks in self._not_compared().items()
        ]
        return "\n".join(lines)

    def _not_compared(self) -> dict[str, list[str]]:
        """Why checks are shown without counts (:func:`not_compared`), each reason once with its
        checks."""
        found: dict[str, list[str]] = {}
        for r in self.checks.iter_rows(named=True):
            if why := not_compared(r):
                found.setdefault(why, []).append(r["check"])
        return found

    def _repr_html_(self) -> str:
        rows = [
            [
                f"<code>{escape(r['check'])}</code>",
                *(
                    f'<span class="status {escape(s)}">{escape(s.upper())}</span>' if s else "not run"
                    for s in (r["older_status"], r["newer_status"])
                ),
                *("-" if r[c] is None else f"{r[c]:,}" for c in CHANGES),
            ]
            for r in self.checks.iter_rows(named=True)
        ]
        body = html_table(["check", "then", "now", *CHANGES], rows, numeric=frozenset({3, 4, 5}))
        body += "".join(  # what each "-" stands for
            f"<p>- not compared, {escape(why)}: {', '.join(f'<code>{escape(c)}</code>' for c in checks)}</p>"
            for why, checks in self._not_compared().items()
        )
        notes = "".join(f"<p>{escape(line.strip())}</p>" for line in self._changed())
        title = f"run {self.newer.run_id} against run {self.older.run_id}"
        return block("LlamaLog audit comparison", title, body=notes + body, kind="llamalog-report")
