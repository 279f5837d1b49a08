"""Where a check's offending rows concentrate: by operation, status, ``triggered_by``, entity
type and week, each value with its share of the offending rows and how over-represented it is
against its share of the whole table.

A value's *lift* is its share of the offending rows over its share of the table (1.0: as
common among the offending rows as anywhere; 3.4: three and a half times as common). Values
come strongest first: by *excess*, the offending rows beyond what the value's share of the
table would give, so a value that is both common and over-represented leads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import polars as pl

from .context import Audit, offending_ids
from .result import CheckResult

DIMENSIONS = ("operation", "status", "triggered_by", "entity_type", "week")
BREAKDOWN = "where they concentrate"
SHOWN = 5  # values per dimension in the breakdown


def with_concentration(audit: Audit, results: Iterable[CheckResult]) -> tuple[CheckResult, ...]:
    """``results``, each check whose offending rows are rows of the table given the breakdown
    :data:`BREAKDOWN` and a sentence on its strongest value; the others as they were."""
    results = tuple(results)
    columns = ", ".join(f"{_value(d)} AS {d}" for d in DIMENSIONS)  # stored values; text once grouped
    with offending_ids(audit.store, results) as offending:
        found = audit.frame(
            f"""SELECT o.check_name, {columns}, count(*) AS rows
FROM ({offending}) o
JOIN {audit.table} USING (id) GROUP BY ALL"""
        ).with_columns(map(_text, DIMENSIONS))
    if found.is_empty():
        return results
    whole = audit.frame(f"SELECT {columns}, count(*) AS rows FROM {audit.table} GROUP BY ALL")
    whole = whole.with_columns(map(_text, DIMENSIONS))
    total = whole["rows"].sum()
    shares = {d: whole.group_by(d).agg(table_share=pl.col("rows").sum() / total) for d in DIMENSIONS}
    return tuple(_concentrated(r, found.filter(pl.col("check_name") == r.name), shares) for r in results)


def _value(dimension: str) -> str:
    return "date_trunc('week', created_at)::DATE" if dimension == "week" else dimension


def _text(dimension: str) -> pl.Expr:
    """A dimension's values as the breakdown shows them: text, ``(none)`` for NULL (a week is
    its Monday, ``2026-02-02``)."""
    text = pl.col(dimension).cast(pl.String)
    return text if dimension == "week" else text.fill_null("(none)")


def _concentrated(result: CheckResult, found: pl.DataFrame, shares: dict[str, pl.DataFrame]) -> CheckResult:
    if found.is_empty():
        return result
    offending = found["rows"].sum()
    parts = []
    for dimension in DIMENSIONS:
        part = (
            found.group_by(dimension)
            .agg(pl.col("rows").sum())
            .join(shares[dimension], on=dimension)
            .with_columns(share=pl.col("rows") / offending)
            .with_columns(
                lift=pl.col("share") / pl.col("table_share"),
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
    finding = result.finding
    if top["lift"] > 1:
        finding = (
            f"{finding.rstrip()} {top['share']:.0%} of them have {top['dimension']} {top['value']}, "
            f"{top['lift']:.1f}x its share of the table."
        )
    return replace(result, finding=finding, breakdowns={**result.breakdowns, BREAKDOWN: breakdown})
