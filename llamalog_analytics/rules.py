"""Category rules as data: ordered conditions → category, replayable on any log table.

A :class:`RuleSet` is the list of steps one labelling used. Each step is a SQL condition on
one row (``operation``, ``status``, ...) and the category it gives. A step either labels only
rows no earlier step labelled (an ``if … elif`` chain, or an ``UPDATE … WHERE category IS
NULL``) or ``overwrite``s whatever an earlier step gave (an ``UPDATE`` without that guard).
:meth:`RuleSet.case` turns the steps into one SQL ``CASE`` that DuckDB and polars both run.

Named rule sets:

* :data:`APPLIED_BACKFILL`: migration ``20260209194819`` exactly as applied;
* :data:`ROADMAP_INTENT`: what the roadmap asked of that backfill;
* :data:`INFER_CATEGORY` and :data:`DERIVE_CATEGORY`: the application's two fallbacks;
* :data:`APPLICATION`: what the application writes for new rows since categories became
  explicit (Phase 30).

:func:`creation` tells which rows labelled CREATED record their entity's creation (what
``explain`` calls how it got here, and PROV's generation).

Examples:
    >>> import polars as pl
    >>> from llamalog_analytics import rules
    >>> rows = pl.DataFrame({"operation": ["enrichment:album", "manual_correction"],
    ...                      "status": ["FAILED", "SUCCESS"]})
    >>> rules.APPLIED_BACKFILL.categorize(rows).to_list()
    ['ENRICHED', 'CREATED']
    >>> rules.ROADMAP_INTENT.categorize(rows).to_list()
    ['FAILED', 'CORRECTED']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from . import schema
from ._sql import literal, quote
from .errors import ArgumentError

if TYPE_CHECKING:
    from .store import LogStore


@dataclass(frozen=True)
class Rule:
    """One step: rows matching ``when`` (a SQL condition) get ``category``.

    ``overwrite``: the step relabels rows an earlier step already labelled.
    """

    category: str
    when: str
    overwrite: bool = False


@dataclass(frozen=True)
class RuleSet:
    """A named, ordered list of :class:`Rule` steps."""

    name: str
    description: str
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        unknown = sorted({r.category for r in self.rules} - set(schema.CATEGORIES))
        if unknown:
            raise ArgumentError(
                f"rule set {self.name!r}: unknown categories {unknown}. "
                f"Hint: use one of {', '.join(schema.CATEGORIES)}"
            )

    def case(self) -> str:
        """The steps as one first-match SQL ``CASE`` (NULL when no step matches).

        A guarded step fires only when no earlier step did, so it goes after them; a step that
        overwrites wins over every earlier one, so it goes before them.

        Examples:
            >>> RuleSet("r", "", (Rule("FAILED", "status = 'FAILED'"),
            ...                   Rule("CACHED", "operation LIKE 'cache:%'", overwrite=True))).case()
            "CASE WHEN operation LIKE 'cache:%' THEN 'CACHED' WHEN status = 'FAILED' THEN 'FAILED' END"
        """
        ordered: list[Rule] = []
        for rule in self.rules:
            if rule.overwrite:
                ordered.insert(0, rule)
            else:
                ordered.append(rule)
        arms = " ".join(f"WHEN {r.when} THEN {literal(r.category)}" for r in ordered)
        return f"CASE {arms} END"

    def categorize(self, rows: pl.DataFrame) -> pl.Series:
        """The category these rules give each row of a polars frame (``operation``, ``status``...)."""
        return rows.select(pl.sql_expr(self.case()).alias(self.name)).to_series()


def replay(
    store: LogStore, rule_set: RuleSet, *, table: str = schema.CURRENT_TABLE, where: str = "TRUE"
) -> pl.DataFrame:
    """Each row's stored category next to the one ``rule_set`` gives it (``replayed``).

    ``where``: a SQL condition choosing the rows, e.g. ``"created_at < '2026-02-09'"``.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     again = replay(store, APPLICATION, where="created_at >= '2026-03-01'")
        >>> again.filter(pl.col("category") != pl.col("replayed")).height
        0
    """
    store.require(table)
    return store.frame(
        f"""SELECT id, created_at, operation, status, category, {rule_set.case()} AS replayed
FROM {quote(table)} WHERE {where} ORDER BY created_at, id"""
    )


def diff(
    store: LogStore, a: RuleSet, b: RuleSet, *, table: str = schema.CURRENT_TABLE, where: str = "TRUE"
) -> pl.DataFrame:
    """Where two rule sets label rows differently: rows per operation, status and both categories.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     d = diff(store, APPLIED_BACKFILL, ROADMAP_INTENT, where="operation = 'manual_correction'")
        >>> d.select("operation", "backfill as applied", "roadmap intent").row(0)
        ('manual_correction', 'CREATED', 'CORRECTED')
    """
    store.require(table)
    first, second = quote(a.name), quote(b.name)
    return store.frame(
        f"""SELECT operation, status, {a.case()} AS {first}, {b.case()} AS {second}, count(*) AS rows
FROM {quote(table)} WHERE {where}
GROUP BY ALL HAVING {first} IS DISTINCT FROM {second} ORDER BY rows DESC, operation, status"""
    )


def _any(*conditions: str) -> str:
    return " OR ".join(conditions)


def _like(column: str, *patterns: str) -> str:
    return _any(*(f"{column} LIKE {literal(p)}" for p in patterns))


def _among(*operations: str) -> str:
    return f"operation IN ({', '.join(literal(o) for o in operations)})"


_FAILED = "status = 'FAILED'"
_LOWER = "lower(operation)"

APPLIED_BACKFILL = RuleSet(
    "backfill as applied",
    "Migration 20260209194819 as it ran: three UPDATEs without a guard, then FAILED and the "
    "CREATED catch-all only for rows still unlabelled. LIKE is case-sensitive, so FAILED never "
    "overrides ENRICHED or CACHED and upper-case operations fall through to CREATED.",
    (
        Rule("CACHED", _like("operation", "cache:%"), overwrite=True),
        Rule("CORRECTED", "operation = 'admin_correction'", overwrite=True),
        Rule(
            "ENRICHED",
            _any(
                _like("operation", "enrichment:%", "check:%", "musicbrainz:%", "spotify:%", "discogs:%"),
                "operation = 'PREVIEW_ENRICHMENT'",
            ),
            overwrite=True,
        ),
        Rule("FAILED", _FAILED),
        Rule("CREATED", "TRUE"),
    ),
)

ROADMAP_INTENT = RuleSet(
    "roadmap intent",
    "What the roadmap asked of the backfill, read as its stated principle 'category reflects "
    "outcome': a failure is FAILED whatever the operation, every correction (admin, manual, "
    "data-quality edit) is CORRECTED, and operation names match whatever their case.",
    (
        Rule("FAILED", _FAILED),
        Rule("CACHED", _like(_LOWER, "cache%")),
        Rule(
            "CORRECTED",
            _any(
                f"strpos({_LOWER}, 'correction') > 0",
                _among("MANUAL_UPDATE", "MANUAL_DATA_QUALITY_UPDATE", "AUTO_MERGE", "AUTO_DEDUPE"),
            ),
        ),
        Rule(
            "ENRICHED",
            _any(
                _like(_LOWER, "enrichment:%", "check:%", "musicbrainz%", "spotify%", "discogs:%", "lastfm%"),
                _among("PREVIEW_ENRICHMENT", "SCHEDULED_REFRESH", "similar-artists-sync"),
            ),
        ),
        Rule("CREATED", "TRUE"),
    ),
)

INFER_CATEGORY = RuleSet(
    "inferCategory",
    "llama-logger.ts, used when a caller passes no category: FAILED status first, then "
    "lower-cased operation names; the default is CREATED.",
    (
        Rule("FAILED", _FAILED),
        Rule("CACHED", f"starts_with({_LOWER}, 'cache:') OR strpos({_LOWER}, 'cache') > 0"),
        Rule("CORRECTED", f"strpos({_LOWER}, 'admin_correction') > 0 OR strpos({_LOWER}, 'correction') > 0"),
        Rule("ENRICHED", f"starts_with({_LOWER}, 'enrichment:') OR strpos({_LOWER}, 'enrich') > 0"),
        Rule("CREATED", "TRUE"),
    ),
)

_ACTIVITY = (
    Rule("CREATED", _among("MANUAL_CREATE", "MANUAL_ADD", "BULK_IMPORT")),
    Rule("ENRICHED", _among("MUSICBRAINZ_FETCH", "SPOTIFY_SYNC", "LASTFM_FETCH", "SCHEDULED_REFRESH")),
    Rule("CORRECTED", _among("MANUAL_UPDATE", "MANUAL_DATA_QUALITY_UPDATE", "AUTO_MERGE", "AUTO_DEDUPE")),
    Rule("CACHED", "operation = 'CACHE_COVER_ART'"),
)

DERIVE_CATEGORY = RuleSet(
    "deriveCategory",
    "activity-logger.ts (logActivity): FAILED status first, then fixed operation lists; the "
    "default is ENRICHED, unlike inferCategory's CREATED.",
    (Rule("FAILED", _FAILED), *_ACTIVITY, Rule("ENRICHED", "TRUE")),
)

APPLICATION = RuleSet(
    "application",
    "What the application writes for new rows since Phase 30: processors pass an explicit "
    "category (previews ENRICHED even when they fail, any other failure FAILED, image caching "
    "ENRICHED), creations CREATED, user and game-pool actions USER_ACTION; logActivity rows "
    "follow deriveCategory's lists and anything else inferCategory's CREATED default.",
    (
        Rule("ENRICHED", "operation = 'PREVIEW_ENRICHMENT'"),
        Rule("FAILED", _FAILED),
        Rule(
            "USER_ACTION",
            _like("operation", "collection:%", "recommendation:%", "game-pool:%", "listen-later:%"),
        ),
        Rule("CREATED", _like("operation", "%:created%")),
        Rule("LINKED", _like("operation", "%:linked:%")),
        Rule("CORRECTED", _among("admin_correction", "manual_correction")),
        Rule(
            "ENRICHED",
            _any(
                _like("operation", "enrichment:%", "cache:%", "discogs:%"),
                _among("SPOTIFY_TRACK_FALLBACK", "similar-artists-sync"),
            ),
        ),
        *_ACTIVITY,
        Rule("CREATED", "TRUE"),
    ),
)

RULE_SETS = {
    r.name: r for r in (APPLIED_BACKFILL, ROADMAP_INTENT, INFER_CATEGORY, DERIVE_CATEGORY, APPLICATION)
}


ALBUM_CREATED = "$.albumCreated"
"""Where a collection add's ``metadata`` says whether it created the album (``true``/``false``)."""
EXISTED = "an album that existed"
"""What :func:`creation` calls a CREATED row whose album existed already (albumCreated false)."""


def album_created() -> pl.Expr:
    """The rows' ``metadata`` at :data:`ALBUM_CREATED` as text (``album_created``), as
    :func:`creation` reads it."""
    return pl.col("metadata").str.json_path_match(ALBUM_CREATED).alias("album_created")


def creation(migrated: datetime | None) -> pl.Expr:
    """What a row labelled CREATED was about its subject (``entity_type``): ``CREATED`` when it
    records the creation; :data:`EXISTED` when an album's row says the album existed already;
    for a row older than the category migration (``migrated``; None: not known), whose
    catch-all labelled it, the category :data:`APPLICATION` gives its operation (a game-pool
    status update is USER_ACTION, a data-quality edit CORRECTED). Null for other rows.

    Reads ``category``, ``entity_type``, ``operation``, ``status``, ``created_at`` and
    ``album_created`` (the metadata's :data:`ALBUM_CREATED` as text).

    Examples:
        >>> rows = pl.DataFrame({
        ...     "category": ["CREATED", "CREATED", "CREATED", "ENRICHED"],
        ...     "entity_type": ["ALBUM"] * 4,
        ...     "operation": ["game-pool:status-update", "collection:album-added", "album:created", "x"],
        ...     "status": ["SUCCESS"] * 4,
        ...     "created_at": [datetime(2026, 1, 5)] * 4,
        ...     "album_created": [None, "false", None, None]})
        >>> rows.select(creation(datetime(2026, 2, 10))).to_series().to_list()
        ['USER_ACTION', 'an album that existed', 'CREATED', None]
    """
    album = pl.col("entity_type") == "ALBUM"
    said = pl.col("album_created")
    caught = pl.lit(False) if migrated is None else pl.col("created_at") < migrated
    return (
        pl.when(pl.col("category").ne_missing("CREATED"))
        .then(pl.lit(None, pl.String))
        .when(album & (said == "false"))
        .then(pl.lit(EXISTED))
        .when(album & (said == "true"))
        .then(pl.lit("CREATED"))
        .when(caught)
        .then(pl.sql_expr(APPLICATION.case()))
        .otherwise(pl.lit("CREATED"))
        .alias("creation")
    )
