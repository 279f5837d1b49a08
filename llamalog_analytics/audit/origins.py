"""Provenance coverage: every album, artist and track the log names has a known origin.

An entity is a (type, id) a row names: its ``album_id`` (ALBUM), ``artist_id`` (ARTIST),
``track_id`` (TRACK), or its (``entity_type``, ``entity_id``). Its origin is known when a row
with category CREATED is about it: that row's ``entity_type`` is the entity's type, and its
``entity_id`` or its own id column for that type (``album_id`` for an album...) is the id.
The label is taken as stored: a row the category backfill's catch-all labelled CREATED counts,
where :func:`~llamalog_analytics.explain` tells whether it records a creation
(:func:`~llamalog_analytics.rules.creation`). Each entity's era is that of its first row: the
last migration applied before it.
"""

from __future__ import annotations

import polars as pl

from .. import schema
from .._format import count, verb
from .._sql import literal
from .context import Audit, check_result, counts_by, listed, timestamp_sql
from .result import CheckResult

EXPECTS = (
    "Every album, artist and track a row names has a known origin: a CREATED row about it "
    "(a warning: entities created before the log existed, or outside it, have none)."
)
BEFORE_ANY = "before any migration"


def entities_sql(table: str) -> str:
    """DuckDB SQL listing every entity ``table`` names, with ``known`` (a CREATED row is about
    it), its first and last row times and its row count, in no order (callers sort what they
    keep)."""
    typed = " ".join(f"WHEN '{kind}' THEN {column}" for kind, column in schema.TYPED_ID.items())
    typed = f"CASE entity_type {typed} END"
    # each row names an entity once: by its own id column, else by (entity_type, entity_id)
    named = "\n    UNION ALL ".join(
        f"SELECT '{kind}' AS entity_type, {column} AS entity_id, created_at FROM {table} "
        f"WHERE {column} IS NOT NULL"
        for kind, column in schema.TYPED_ID.items()
    )
    return f"""WITH named AS (
    {named}
    UNION ALL SELECT entity_type::VARCHAR, entity_id, created_at FROM {table}
        WHERE entity_type IS NOT NULL AND entity_id IS NOT NULL AND entity_id IS DISTINCT FROM {typed}
), created AS (  -- entity types as text: PostgreSQL, where they are an enum, runs this too
    SELECT entity_type::VARCHAR AS entity_type, entity_id FROM {table}
    WHERE category = 'CREATED' AND entity_id IS NOT NULL
    UNION ALL SELECT entity_type::VARCHAR, {typed} FROM {table}
    WHERE category = 'CREATED' AND {typed} IS NOT NULL AND {typed} IS DISTINCT FROM entity_id
), entities AS (  -- grouped by the UUID, and joined once each: text and joins per row cost more
    SELECT entity_type, entity_id, min(created_at) AS first_at, max(created_at) AS last_at, count(*) AS rows
    FROM named GROUP BY ALL
)
SELECT e.entity_id AS id, e.entity_type, e.first_at, e.last_at, e.rows,
       EXISTS (SELECT 1 FROM created c
               WHERE c.entity_type = e.entity_type AND c.entity_id = e.entity_id) AS known
FROM entities e"""


def unknown_origin(audit: Audit) -> CheckResult:
    """Entities the log names with no CREATED row about them (a warning), by type and by era."""
    sql = entities_sql(audit.table)
    with audit.store.temporary(f"SELECT *, {_era_sql(audit)} AS era FROM ({sql})") as entities:
        ids, shown = audit.listing(
            f"SELECT * EXCLUDE (known) FROM {entities} WHERE NOT known",
            "first_at, id",
            shown=f"SELECT * EXCLUDE (known) FROM ({sql}) WHERE NOT known",
        )
        coverage = audit.frame(
            f"""SELECT era, CASE WHEN known THEN 'known' ELSE 'unknown' END AS origin,
  count(*)::UINTEGER AS entities
FROM {entities} GROUP BY era, known ORDER BY min(min(first_at)) OVER (PARTITION BY era), origin"""
        )
    n = ids.height
    known = int(coverage.filter(pl.col("origin") == "known")["entities"].sum())
    finding = (
        f"{n:,} of the {count(n + known, 'entity', 'entities')} that rows name "
        f"{verb(n, 'has', 'have')} no CREATED row about {verb(n, 'it', 'them')}; "
        f"{known:,} {verb(known, 'has', 'have')} one (a label as stored: explain tells a creation from a "
        "CREATED row the category backfill's catch-all gave)."
    )
    return check_result(
        "unknown_origin",
        EXPECTS,
        "warn",
        ids,
        shown,
        finding,
        count=listed(ids),
        breakdowns={
            "by type": counts_by(ids, "entity_type", counted="entities"),
            "by era of the first row": counts_by(ids, "era", counted="entities"),
            "known and unknown origin by era": coverage,
        },
    )


def _era_sql(audit: Audit) -> str:
    """SQL for an entity's era: the last migration applied at or before its first row."""
    applied = sorted(audit.applied.items(), key=lambda item: (item[1], item[0]))  # ties: by name
    whens = [f"WHEN first_at >= {timestamp_sql(at)} THEN {literal('since ' + name)}" for name, at in applied]
    eras = " ".join(whens[::-1])  # the latest first: the first that holds is the era
    return f"CASE {eras} ELSE {literal(BEFORE_ANY)} END" if eras else literal(BEFORE_ANY)


ORIGIN_CHECKS = (unknown_origin,)
