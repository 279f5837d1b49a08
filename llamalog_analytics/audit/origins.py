"""Provenance coverage: every album, artist and track the log names has a known origin.

An entity is a (type, id) a row names: its ``album_id`` (ALBUM), ``artist_id`` (ARTIST),
``track_id`` (TRACK), or its (``entity_type``, ``entity_id``). Its origin is known when a row
with category CREATED is about it: that row's ``entity_type`` is the entity's type, and its
``entity_id`` or its own id column for that type (``album_id`` for an album...) is the id.
Each entity's era is that of its first row: the last migration applied before it.
"""

from __future__ import annotations

import polars as pl

from .. import schema
from .._format import count, verb
from .context import Audit, check_result, counts_by
from .result import CheckResult

EXPECTS = (
    "Every album, artist and track a row names has a known origin: a CREATED row about it "
    "(a warning: entities created before the log existed, or outside it, have none)."
)
BEFORE_ANY = "before any migration"


def entities_sql(table: str) -> str:
    """DuckDB SQL listing every entity ``table`` names, with ``known`` (a CREATED row is about
    it), its first and last row times and its row count."""
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
    UNION ALL SELECT entity_type, entity_id, created_at FROM {table}
        WHERE entity_type IS NOT NULL AND entity_id IS NOT NULL AND entity_id IS DISTINCT FROM {typed}
), created AS (
    SELECT entity_type, entity_id FROM {table} WHERE category = 'CREATED' AND entity_id IS NOT NULL
    UNION SELECT entity_type, {typed} FROM {table} WHERE category = 'CREATED' AND {typed} IS NOT NULL
)
SELECT n.entity_id::VARCHAR AS id, n.entity_type, min(n.created_at) AS first_at,
       max(n.created_at) AS last_at, count(*) AS rows,
       bool_or(c.entity_id IS NOT NULL) AS known
FROM named n LEFT JOIN created c ON c.entity_type = n.entity_type AND c.entity_id = n.entity_id
GROUP BY ALL ORDER BY first_at, id"""


def unknown_origin(audit: Audit) -> CheckResult:
    """Entities the log names with no CREATED row about them (a warning), by type and by era."""
    sql = entities_sql(audit.table)
    entities = _with_era(audit.frame(sql), audit)
    ids = entities.filter(~pl.col("known")).drop("known")
    n = ids.height
    known = entities.height - n
    finding = (
        f"{n:,} of the {count(entities.height, 'entity', 'entities')} rows name "
        f"{verb(n, 'has', 'have')} no CREATED row about {verb(n, 'it', 'them')}; "
        f"{known:,} {verb(known, 'has', 'have')} a known origin."
    )
    coverage = (
        entities.group_by("era", "known")
        .agg(entities=pl.len())
        .with_columns(origin=pl.when(pl.col("known")).then(pl.lit("known")).otherwise(pl.lit("unknown")))
        .join(entities.group_by("era").agg(first=pl.col("first_at").min()), on="era")
        .sort("first", "origin")
        .select("era", "origin", "entities")
    )
    return check_result(
        "unknown_origin",
        EXPECTS,
        "warn",
        ids,
        f"SELECT * EXCLUDE (known) FROM ({sql}) WHERE NOT known ORDER BY first_at, id",
        finding,
        breakdowns={
            "by type": counts_by(ids, "entity_type"),
            "by era of the first row": counts_by(ids, "era"),
            "known and unknown origin by era": coverage,
        },
    )


def _with_era(entities: pl.DataFrame, audit: Audit) -> pl.DataFrame:
    """``entities`` with ``era``: the last migration applied at or before the first row."""
    applied = pl.DataFrame(
        {"applied_at": list(audit.applied.values()), "era": [f"since {name}" for name in audit.applied]},
        schema={"applied_at": pl.Datetime("us"), "era": pl.String},
    ).sort("applied_at")
    return (
        entities.with_columns(pl.col("first_at").cast(pl.Datetime("us")))
        .sort("first_at")
        .join_asof(applied, left_on="first_at", right_on="applied_at", strategy="backward")
        .with_columns(pl.col("era").fill_null(BEFORE_ANY))
        .drop("applied_at")
        .sort("first_at", "id")
    )


ORIGIN_CHECKS = (unknown_origin,)
