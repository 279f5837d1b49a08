"""What an audit returns: one :class:`CheckResult` per check, gathered in an :class:`AuditReport`.

A check's status is one of :data:`STATUSES`, from best to worst: ``pass`` (nothing found),
``skip`` (the check could not run; its finding says what to load or pass), ``warn`` (something
an auditor should know) and ``fail`` (the data is not what the migration would have written).
:func:`worst` is the one place that ranks them.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import textwrap
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow.parquet as pq

from .._format import printable
from ..errors import ArgumentError

if TYPE_CHECKING:
    from .context import Audit

STATUSES = ("pass", "skip", "warn", "fail")
"""Every status a check can have, from best to worst."""


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` in the order pass < skip < warn < fail (``pass`` when there are none).

    Examples:
        >>> worst(["pass", "warn", "pass"]), worst(["skip", "pass"]), worst(["skip", "warn"]), worst([])
        ('warn', 'skip', 'warn', 'pass')
        >>> worst(["pass", "error"])
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: unknown check status 'error'. Hint: use one of pass, skip, \
warn, fail
    """
    ranked = list(statuses)
    for status in ranked:
        _known(status)
    return max(ranked, key=STATUSES.index, default="pass")


def tally(statuses: Iterable[str]) -> dict[str, int]:
    """How many of ``statuses`` are each status, in :data:`STATUSES` order.

    Examples:
        >>> tally(["pass", "skip", "pass"])
        {'pass': 2, 'skip': 1, 'warn': 0, 'fail': 0}
    """
    ranked = list(statuses)
    return {s: ranked.count(s) for s in STATUSES}


def _known(status: str) -> None:
    if status not in STATUSES:
        raise ArgumentError(f"unknown check status {status!r}. Hint: use one of {', '.join(STATUSES)}")


class KeptFrame:
    """A check's offending rows kept in a Parquet file, not in memory, and read back on demand.

    :meth:`Audit.listing <llamalog_analytics.audit.Audit.listing>` has DuckDB write each
    listing to a file, sorted, and :func:`~llamalog_analytics.verify` keeps the rest the same
    way as soon as their check is done, so an audit of many millions of offending rows never
    holds them in memory. The files lie in a temporary folder (:class:`KeptFolder`) that is
    deleted once no result refers to it.

    Examples:
        >>> kept = KeptFrame.of(pl.DataFrame({"id": ["a", "b", "a"]}), KeptFolder())
        >>> kept.height, kept.columns, kept.frame()["id"].to_list()
        (3, ['id'], ['a', 'b', 'a'])
    """

    def __init__(self, path: Path, folder: KeptFolder) -> None:
        self.path = path
        self._folder = folder  # the folder lives as long as a frame kept in it
        footer = pq.read_metadata(path)
        self.columns = footer.schema.to_arrow_schema().names
        self.height = footer.num_rows
        # DuckDB writes a UUID as its 16 bytes, a third of its text, which is made only when read
        self._uuids = [c.name for c in footer.schema if c.logical_type.type == "UUID" and c.path == c.name]

    @classmethod
    def of(cls, frame: pl.DataFrame, folder: KeptFolder) -> KeptFrame:
        """``frame`` written to a new file in ``folder``."""
        path = folder.new_path()
        # fastest to write, and read soon, whole: nothing to compress, no statistics to skip by
        frame.write_parquet(path, compression="uncompressed", statistics=False)
        return cls(path, folder)

    def frame(self) -> pl.DataFrame:
        """The rows, read from the file (UUIDs as text, as :meth:`lazy` gives them)."""
        return self.lazy().collect()

    def lazy(self) -> pl.LazyFrame:
        """The rows as a lazy scan of the file, to aggregate without reading them all at once.

        UUID columns come as text, as in :meth:`frame`: ``8-4-4-4-12`` lowercase hex digits.
        """
        return self.stored().with_columns(_uuid_text(pl.col(c)) for c in self._uuids)

    def stored(self) -> pl.LazyFrame:
        """The rows as the file holds them: UUID columns as their 16 bytes (to count or compare
        ids without making their text)."""
        return pl.scan_parquet(self.path)

    def __repr__(self) -> str:
        return f"KeptFrame({str(self.path)!r}, {self.height:,} rows)"


def _uuid_text(uuids: pl.Expr) -> pl.Expr:
    """UUIDs held as 16 bytes, as text.

    Examples:
        >>> import uuid
        >>> one = uuid.UUID("12f549b1-13a4-4070-bb5e-c5b1992c30aa")
        >>> pl.select(_uuid_text(pl.lit(one.bytes))).item()
        '12f549b1-13a4-4070-bb5e-c5b1992c30aa'
    """
    digits = uuids.bin.encode("hex")
    groups = ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))
    parts = [digits.str.slice(start, length) for start, length in groups]
    return pl.concat_str(parts, separator="-")


class KeptFolder:
    """A temporary folder for :class:`KeptFrame` files, deleted with this object.

    Its name says the process it is for (``llamalog-audit-<pid>-…``); a process killed before
    it could delete its folder leaves it behind, so making one deletes those of processes that
    no longer run (where there are POSIX process ids to ask).
    """

    def __init__(self) -> None:
        _remove_left_behind()
        self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self.numbers = itertools.count()
        weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def new_path(self) -> Path:
        """A file name in the folder not given before."""
        return self.path / f"{next(self.numbers)}.parquet"


_PREFIX = "llamalog-audit-"


def _remove_left_behind() -> None:
    """Delete the kept folders of processes that no longer run (killed before they could)."""
    if os.name != "posix":  # os.kill(pid, 0) asks only there; elsewhere it would stop the process
        return
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = folder.name.removeprefix(_PREFIX).split("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # no such process: its folder is left behind
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # it runs, as another user
            continue


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    Attributes:
        name: the check's name.
        status: ``pass``, ``skip``, ``warn`` or ``fail`` (see :data:`STATUSES`).
        count: how many offending rows ``ids`` lists (distinct ``id`` values), the number the
            finding starts with; 0 for ``pass`` and ``skip``.
        finding: one or two sentences for a person; for ``skip``, why the check could not run
            and what to load or pass to make it run.
        expects: one sentence saying what the check expects of the data.
        offending: every offending row, ``id`` first, with the columns that explain it: a
            frame, or where :func:`~llamalog_analytics.verify` kept it on disk (read it as
            :attr:`ids`).
        sql: DuckDB SQL that lists them again from the store (empty for ``skip``).
        breakdowns: named summary tables (by operation, status, cause...).

    Raises:
        ArgumentError: an unknown status, a negative count, or a count on a pass or a skip.
    """

    name: str
    status: str
    count: int
    finding: str
    expects: str
    offending: pl.DataFrame | KeptFrame
    sql: str
    breakdowns: Mapping[str, pl.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _known(self.status)
        if self.count < 0 or (self.count and self.status in ("pass", "skip")):
            raise ArgumentError(
                f"check {self.name!r}: count {self.count} with status {self.status!r}. "
                "Hint: a pass or a skip counts 0 offending rows; any other count is 0 or more"
            )

    @property
    def ids(self) -> pl.DataFrame:
        """Every offending row, ``id`` first, with the columns that explain it (read from disk
        each time when the audit kept the rows there)."""
        return self.offending if isinstance(self.offending, pl.DataFrame) else self.offending.frame()

    def kept(self, folder: KeptFolder) -> CheckResult:
        """This result with its offending rows kept in ``folder`` rather than in memory (unless
        there are none, or a column holds Python objects, which a file cannot)."""
        rows = self.offending
        if isinstance(rows, KeptFrame) or not rows.height or pl.Object in rows.dtypes:
            return self
        return replace(self, offending=KeptFrame.of(rows, folder))

    def to_dict(self) -> dict[str, Any]:
        """Everything but the frames' extra columns, ready for JSON: ``name``, ``status``,
        ``count``, ``finding``, ``expects``, ``ids`` (the offending row ids, each once),
        ``sql`` and ``breakdowns`` (each a list of records; times as text, UTC)."""
        rows = self.ids
        ids = rows["id"].unique(maintain_order=True).to_list() if "id" in rows.columns else []
        return {
            "name": self.name,
            "status": self.status,
            "count": self.count,
            "finding": self.finding,
            "expects": self.expects,
            "ids": ids,
            "sql": self.sql,
            "breakdowns": {name: _records(frame) for name, frame in self.breakdowns.items()},
        }

    def _repr_html_(self) -> str:
        from ..report import check_html

        return check_html(self)


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as JSON-safe records: times as text (naive UTC), other values as they are."""
    temporal = [name for name, dtype in frame.schema.items() if dtype.is_temporal()]
    return frame.with_columns(pl.col(temporal).cast(pl.String)).to_dicts()


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify`: every check, and what was audited.

    ``summary`` holds the overall status, the tables and their row counts, the eras (migration
    apply times, UTC) and how many checks have each status. ``audit`` is what was audited (the
    store, its tables, the apply times, how job links were followed), for a repair
    (:func:`~llamalog_analytics.repair`) to work from; None for a report built by hand.
    """

    checks: tuple[CheckResult, ...]
    summary: Mapping[str, Any]
    audit: Audit | None = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> str:
        """The worst status of any check."""
        return worst(c.status for c in self.checks)

    def at_least(self, level: str) -> bool:
        """Whether any check's status is ``level`` or worse (what ``llamalog verify --fail-on`` asks).

        Examples:
            >>> report = AuditReport((), {})
            >>> report.at_least("warn"), report.at_least("pass")
            (False, True)
        """
        return worst([self.status, level]) == self.status

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        names = ", ".join(c.name for c in self.checks)
        raise ArgumentError(f"no check named {name!r} in this report. Hint: use one of {names}")

    def to_dict(self) -> dict[str, Any]:
        """The overall ``status``, every check (:meth:`CheckResult.to_dict`) and the ``summary``."""
        return {
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "summary": dict(self.summary),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def __str__(self) -> str:
        return self.text()

    def text(self, width: int | None = None) -> str:
        """The report as text: the tables and eras audited, then a line per check with its
        count, its finding and what it expects beside it. With ``width`` (a terminal's), the
        finding and what it expects are wrapped to it, under where they start, or on lines of
        their own under the check when there is too little room beside it.

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.sample_store() as store:
            ...     report = lla.verify(store, checks=[lla.audit.duplicate_ids])
            >>> for line in report.text(width=72).splitlines()[-5:]:
            ...     print(line)
            PASS  duplicate_ids          0
                  0 row ids appear more than once (0 in llama_logs, 0 in
                  enrichment_logs).
                  expects: No row id appears more than once in the migrated table or
                  in the snapshot (the primary key forbids it).
        """
        names = max(len(c.name) for c in self.checks) if self.checks else 0
        lines = [f"[🦙 LlamaLog] migration audit: {self.status.upper()}"]
        for key in ("tables", "eras"):
            for name, value in self.summary.get(key, {}).items():
                lines.append(f"  {name}: {value:,}" if isinstance(value, int) else f"  {name}: {value}")
        if "job links" in self.summary:
            lines.append(f"  job links followed: {self.summary['job links']}")
        counted = tally(c.status for c in self.checks)
        lines.append("  checks: " + ", ".join(f"{n} {s}" for s, n in counted.items()))
        for c in self.checks:
            head = f"{c.status.upper():4}  {c.name:<{names}}  {c.count:>9,}  "
            lines += _beside(head, printable(c.finding), width)  # it quotes log text
            lines += _beside(" " * len(head), f"expects: {c.expects}", width)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from ..report import report_html

        return report_html(self, standalone=False)

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML file (opens offline); returns the path."""
        from ..export import write_report

        return write_report(self, path)


_ROOM = 50  # the fewest characters a line beside a check's name may hold; with less, lines of their own


def _beside(head: str, text: str, width: int | None) -> list[str]:
    """``text`` after ``head`` on one line, or with ``width`` wrapped to it under where it
    starts; when that leaves it fewer than :data:`_ROOM` characters a line, on lines of its own
    indented under ``head``'s first word."""
    if width is None:
        return [head + text]
    alone = width - len(head) < _ROOM  # the head on a line of its own, the text under it
    start = " " * 6 if alone else head
    wrapped = textwrap.wrap(
        text,
        width,
        initial_indent=start,
        subsequent_indent=" " * len(start),
        break_long_words=False,
        break_on_hyphens=False,
    )
    shown = [head.rstrip()] if head.strip() else []
    return (shown if alone else []) + (wrapped or ([] if alone else shown))
