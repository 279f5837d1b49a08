"""What an audit returns: one :class:`CheckResult` per check, gathered in an :class:`AuditReport`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ArgumentError

STATUSES = ("pass", "warn", "fail")


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` (``pass`` when there are none).

    Examples:
        >>> worst(["pass", "warn", "pass"]), worst([])
        ('warn', 'pass')
    """
    return max(statuses, key=STATUSES.index, default="pass")


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    Attributes:
        name: the check's name.
        status: ``pass``, ``warn`` or ``fail``.
        count: how many offending rows (or job ids, or ids, as ``finding`` says).
        finding: one or two sentences for a person.
        ids: every offending row, ``id`` first, with the columns that explain it.
        sql: DuckDB SQL that lists them again from the store.
        breakdowns: named summary tables (by operation, status, cause...).
    """

    name: str
    status: str
    count: int
    finding: str
    ids: pl.DataFrame
    sql: str
    breakdowns: Mapping[str, pl.DataFrame] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Name, status, count, finding and the offending row ids, ready for JSON."""
        ids = self.ids["id"].unique(maintain_order=True).to_list() if "id" in self.ids.columns else []
        return {
            "name": self.name,
            "status": self.status,
            "count": self.count,
            "finding": self.finding,
            "ids": ids,
        }


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify`: every check, and what was audited.

    ``summary`` holds the tables and their row counts, the eras (migration apply times, UTC)
    and how many checks passed, warned and failed.
    """

    checks: tuple[CheckResult, ...]
    summary: Mapping[str, Any]

    @property
    def status(self) -> str:
        """The worst status of any check."""
        return worst(c.status for c in self.checks)

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        names = ", ".join(c.name for c in self.checks)
        raise ArgumentError(f"no check named {name!r} in this report. Hint: use one of {names}")

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "summary": dict(self.summary)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks) if self.checks else 0
        lines = [f"[🦙 LlamaLog] migration audit: {self.status.upper()}"]
        for key in ("tables", "eras"):
            for name, value in self.summary.get(key, {}).items():
                lines.append(f"  {name}: {value:,}" if isinstance(value, int) else f"  {name}: {value}")
        if "job links" in self.summary:
            lines.append(f"  job links followed: {self.summary['job links']}")
        for c in self.checks:
            lines.append(f"{c.status.upper():4}  {c.name:<{width}}  {c.count:>9,}  {c.finding}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from ..report import report_html

        return report_html(self, standalone=False)

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML file (opens offline); returns the path."""
        from ..export import write_report

        return write_report(self, path)
