"""Where a check's offending rows concentrate: by operation, status, ``triggered_by``, entity
type and week, each value with its share of the offending rows and how over-represented it is
against its share of the whole table.

An offending row is taken as the table holds it; one missing from the table (deleted since the
snapshot) as the snapshot holds it, so the shares are of every offending row. Rows in neither
(a check's ids that are not rows, as entities) are left out, and the finding says of how many
it speaks.

A value's *lift* is its share of the offending rows over its share of the table (1.0: as
common among the offending rows as anywhere; 3.4: three and a half times as common; none for a
value no row of the table has). Values come strongest first: by *excess*, the offending rows
beyond what the value's share of the table would give, so a value that is both common and
over-represented leads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import polars as pl

from .._sql import quote
from .context import Audit, offending_ids
from .result import CheckResult

DIMENSIONS = ("operation", "status", "triggered_by", "entity_type", "week")
BREAKDOWN = "where they concentrate"
COLUMNS = (
    "rows: the offending rows with the value (a check listing job runs, as reused_job_ids does, "
    "counts each run by its first row); share: their part of all the offending rows "
    "(0.5: half); lift: that share over the value's share of the whole table (1.0: as common "
    "as anywhere, 5.0: five times as common; none when no row of the table has it); a week "
    "is named by its Monday (UTC); the strongest first: by the rows beyond what the value's "
    "share of the table would give, so a value both common and over-represented leads."
)
"""What the breakdown's columns say, for a reader of it."""
SHOWN = 5  # values per dimension in the breakdown


def with_concentration(audit: Audit, results: Iterable[CheckResult]) -> tuple[CheckResult, ...]:
    """``results``, each check whose offending rows are rows of the table or the snapshot given
    the breakdown :data:`BREAKDOWN` and a sentence on its strongest value; the others as they were.

    Examples:
        >>> import llamalog_analytics as lla
        >>> deleted = "id = 'f4fee96d-29b5-4c56-bbf2-cd6513ad809d'"  # a row of the week of 2026-02-02
        >>> with lla.sample_store() as store:
        ...     _ = store.execute(f"DELETE FROM llama_logs WHERE {deleted}")
        ...     report = lla.verify(store, checks=[lla.audit.rows_preserved])
        >>> report.check("rows_preserved").finding.split(". ")[-1]
        '100% of them have week 2026-02-02, 14.5x its share of the table.'
    """
    results = tuple(results)
    columns = ", ".join(f"{_value(d)} AS {d}" for d in DIMENSIONS)  # stored values; text once grouped
    with offending_ids(audit.store, results) as offending:
        counted = audit.frame(_offending_sql(audit, offending, columns)).with_columns(map(_text, DIMENSIONS))
    found = counted.filter("found")
    if found.is_empty():
        return results
    whole = audit.frame(f"SELECT {columns}, count(*) AS rows FROM {audit.table} GROUP BY ALL")
    whole = whole.with_columns(map(_text, DIMENSIONS))
    total = whole["rows"].sum()
    shares = {d: whole.group_by(d).agg(table_share=pl.col("rows").sum() / total) for d in DIMENSIONS}
    lost = dict(counted.filter(~pl.col("found")).group_by("check_name").agg(pl.col("rows").sum()).iter_rows())
    return tuple(
        _concentrated(r, found.filter(pl.col("check_name") == r.name), shares, lost.get(r.name, 0))
        for r in results
    )


def _offending_sql(audit: Audit, offending: str, columns: str) -> str:
    """SQL counting each check's offending rows (``offending``: ``check_name``, ``id``) by the
    dimensions (``columns``), as the table holds them, else as the snapshot does; ``found``
    is false for the rows in neither. The snapshot is read only for the ids the table lacks:
    counted first, each such row keeps its id (``lost``) to be looked up, the others none."""
    picked = ", ".join(f"t.{d}" for d in DIMENSIONS)
    joined = f"({offending}) AS o LEFT JOIN (SELECT id, {columns} FROM {audit.table}) AS t ON t.id = o.id"
    if audit.before is None:
        found = "t.id IS NOT NULL AS found"
        return f"SELECT o.check_name, {found}, {picked}, count(*) AS rows FROM {joined} GROUP BY ALL"
    either = ", ".join(f"coalesce(h.{d}, g.{d}) AS {d}" for d in DIMENSIONS)  # one side matches
    return f"""WITH here AS MATERIALIZED (
  SELECT o.check_name, CASE WHEN t.id IS NULL THEN o.id END AS lost, {picked}, count(*) AS rows
  FROM {joined} GROUP BY ALL),
gone AS (
  SELECT id, {columns} FROM {quote(audit.before)} WHERE id IN (SELECT lost FROM here WHERE lost IS NOT NULL))
SELECT h.check_name, h.lost IS NULL OR g.id IS NOT NULL AS found, {either}, sum(h.rows)::BIGINT AS rows
FROM here AS h LEFT JOIN gone AS g ON g.id = h.lost GROUP BY ALL"""


def _value(dimension: str) -> str:
    return "date_trunc('week', created_at)::DATE" if dimension == "week" else dimension


def _text(dimension: str) -> pl.Expr:
    """A dimension's values as the breakdown shows them: text, ``(none)`` for NULL (a week is
    its Monday, ``2026-02-02``)."""
    text = pl.col(dimension).cast(pl.String)
    return text if dimension == "week" else text.fill_null("(none)")


def _concentrated(
    result: CheckResult, found: pl.DataFrame, shares: dict[str, pl.DataFrame], lost: int
) -> CheckResult:
    """``result`` with its breakdown, from its offending rows ``found`` (counted by the
    dimensions), and a sentence on the strongest value; ``lost`` rows were in neither table."""
    if found.is_empty():
        return result
    offending = found["rows"].sum()
    parts = []
    for dimension in DIMENSIONS:
        part = (
            found.group_by(dimension)
            .agg(pl.col("rows").sum())
            .join(shares[dimension], on=dimension, how="left")  # none: no row of the table has it
            .with_columns(share=pl.col("rows") / offending, table_share=pl.col("table_share").fill_null(0))
            .with_columns(
                lift=pl.when(pl.col("table_share") > 0).then(pl.col("share") / pl.col("table_share")),
                excess=pl.col("rows") * (1 - pl.col("table_share") / pl.col("share")),
            )
            .sort("excess", dimension, descending=[True, False])
            .head(SHOWN)
            .select(
                pl.lit(dimension).alias("dimension"),
                pl.col(dimension).alias("value"),
                "rows",
                "share",
                "lift",
                "excess",
            )
        )
        parts.append(part)
    breakdown = (
        pl.concat(parts)
        .sort("excess", descending=True)
        .with_columns(pl.col("share").round(3), pl.col("lift").round(2))
        .drop("excess")
    )
    top = breakdown.row(0, named=True)
    finding, of = result.finding, f"of the {offending:,} found" if lost else "of them"
    if top["lift"] is None or top["lift"] > 1:
        than = (
            "which no row of the table has"
            if top["lift"] is None
            else f"{top['lift']:.1f}x its share of the table"
        )
        finding = (
            f"{finding.rstrip()} {top['share']:.0%} {of} have {top['dimension']} {top['value']}, {than}."
        )
    return replace(result, finding=finding, breakdowns={**result.breakdowns, BREAKDOWN: breakdown})
