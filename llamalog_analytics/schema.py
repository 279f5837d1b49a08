"""The canonical ``llama_logs`` row: one definition for loading, storing and checking.

Every column of the upstream table, in physical order, with its Prisma (camelCase) name,
its DuckDB type, whether Postgres allows NULL, the enum labels it may hold and the
migration that added it. Stored tables always carry all 28 columns; a column a source
lacks is NULL in the store and recorded as absent in the load history.

Examples:
    >>> from llamalog_analytics import schema
    >>> len(schema.COLUMNS)
    28
    >>> schema.column("createdAt").name
    'created_at'
    >>> schema.column("category").labels[:3]
    ('CREATED', 'ENRICHED', 'CORRECTED')
    >>> [c.name for c in schema.columns_before("20251225001025_add_user_id_to_enrichment_log")][-1]
    'created_at'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ArgumentError, UnknownColumnError

CATEGORIES = ("CREATED", "ENRICHED", "CORRECTED", "CACHED", "FAILED", "LINKED", "USER_ACTION")
ENTITY_TYPES = ("ARTIST", "ALBUM", "TRACK")
TYPED_ID = {"ALBUM": "album_id", "ARTIST": "artist_id", "TRACK": "track_id"}  # an entity's own column
# Postgres enum order; PENDING is the label UNENRICHED had until 2026-04-11.
STATUSES = (
    "UNENRICHED",
    "IN_PROGRESS",
    "COMPLETED",
    "FAILED",
    "SUCCESS",
    "PARTIAL_SUCCESS",
    "NO_DATA_AVAILABLE",
    "SKIPPED",
    "PREVIEW",
    "QUEUED",
    "BASIC",
    "PENDING",
)
DATA_QUALITIES = ("LOW", "MEDIUM", "HIGH")

# Migrations that shaped the table, in the order they were applied.
MIGRATIONS = (
    "20251224191546_add_enrichment_log_model",
    "20251225001025_add_user_id_to_enrichment_log",
    "20251226173554_add_enrichment_reason",
    "20260104012627_add_preview_enrichment_status_and_data",
    "20260206154227_add_parent_job_id",
    "20260206182344_add_is_root_job",
    "20260209194819_rename_enrichmentlog_to_llamalog",
    "20260210103953_add_root_job_id_and_linked_category",
    "20260210165434_add",
)
CATEGORY_MIGRATION = MIGRATIONS[6]
ROOT_JOB_MIGRATION = MIGRATIONS[7]

CURRENT_TABLE = "llama_logs"
LEGACY_TABLE = "enrichment_logs"


@dataclass(frozen=True)
class Column:
    """One column of the upstream table.

    Attributes:
        name: database (snake_case) name, also the name in the store.
        prisma: Prisma/GraphQL (camelCase) field name.
        type: DuckDB type in the store.
        postgres: PostgreSQL type upstream (enum types quoted, as SQL writes them).
        default: its DEFAULT upstream (SQL), if any.
        nullable: whether Postgres allows NULL.
        labels: known enum labels (empty for non-enum columns).
        since: migration folder that added the column.
    """

    name: str
    prisma: str
    type: str
    postgres: str
    nullable: bool = True
    default: str | None = None
    labels: tuple[str, ...] = ()
    since: str = MIGRATIONS[0]


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", "UUID", "uuid", nullable=False, default="gen_random_uuid()"),
    Column("entity_type", "entityType", "VARCHAR", '"EnrichmentEntityType"', labels=ENTITY_TYPES),
    Column("entity_id", "entityId", "UUID", "uuid"),
    Column("artist_id", "artistId", "UUID", "uuid"),
    Column("album_id", "albumId", "UUID", "uuid"),
    Column("track_id", "trackId", "UUID", "uuid"),
    Column("operation", "operation", "VARCHAR", "varchar(100)", nullable=False),
    Column("sources", "sources", "VARCHAR[]", "text[]"),
    Column("status", "status", "VARCHAR", '"EnrichmentStatus"', nullable=False, labels=STATUSES),
    Column("fields_enriched", "fieldsEnriched", "VARCHAR[]", "text[]"),
    Column("data_quality_before", "dataQualityBefore", "VARCHAR", '"DataQuality"', labels=DATA_QUALITIES),
    Column("data_quality_after", "dataQualityAfter", "VARCHAR", '"DataQuality"', labels=DATA_QUALITIES),
    Column("error_message", "errorMessage", "VARCHAR", "text"),
    Column("error_code", "errorCode", "VARCHAR", "varchar(50)"),
    Column("retry_count", "retryCount", "INTEGER", "integer", nullable=False, default="0"),
    Column("duration_ms", "durationMs", "INTEGER", "integer"),
    Column("api_call_count", "apiCallCount", "INTEGER", "integer", nullable=False, default="0"),
    Column("metadata", "metadata", "JSON", "jsonb"),
    Column("job_id", "jobId", "VARCHAR", "varchar(100)"),
    Column("triggered_by", "triggeredBy", "VARCHAR", "varchar(50)"),
    Column(
        "created_at", "createdAt", "TIMESTAMP", "timestamp(3)", nullable=False, default="CURRENT_TIMESTAMP"
    ),
    Column("user_id", "userId", "VARCHAR", "text", since=MIGRATIONS[1]),
    Column("reason", "reason", "VARCHAR", "text", since=MIGRATIONS[2]),
    Column("preview_data", "previewData", "JSON", "jsonb", since=MIGRATIONS[3]),
    Column("parent_job_id", "parentJobId", "VARCHAR", "varchar(100)", since=MIGRATIONS[4]),
    Column(
        "is_root_job", "isRootJob", "BOOLEAN", "boolean", nullable=False, default="false", since=MIGRATIONS[5]
    ),
    Column(
        "category",
        "category",
        "VARCHAR",
        '"LlamaLogCategory"',
        nullable=False,
        labels=CATEGORIES,
        since=MIGRATIONS[6],
    ),
    Column("root_job_id", "rootJobId", "VARCHAR", "varchar(100)", since=MIGRATIONS[7]),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
# Without these a file is not LlamaLog data at all.
REQUIRED = ("id", "operation", "created_at")

_BY_KEY = {key: c for c in COLUMNS for key in (c.name, c.prisma.lower())}


def snake_case(name: str) -> str:
    """Return ``name`` in snake_case.

    Examples:
        >>> snake_case("dataQualityBefore"), snake_case("created_at"), snake_case("ID")
        ('data_quality_before', 'created_at', 'id')
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip()).lower()


def column(key: str) -> Column:
    """Look a column up by its database or Prisma name (case-insensitive).

    Raises:
        UnknownColumnError: (a ``KeyError``) when no column has that name.
    """
    found = _BY_KEY.get(snake_case(key)) or _BY_KEY.get(key.strip().lower())
    if found is None:
        raise UnknownColumnError(key, COLUMN_NAMES)
    return found


def columns_before(migration: str) -> tuple[Column, ...]:
    """The columns the table had just before ``migration`` was applied.

    ``columns_before(CATEGORY_MIGRATION)`` is the last pre-migration ``enrichment_logs``
    shape (26 columns: no ``category``, no ``root_job_id``).
    """
    if migration not in MIGRATIONS:
        raise ArgumentError(f"unknown migration {migration!r}. Hint: use one of {', '.join(MIGRATIONS)}")
    cutoff = MIGRATIONS.index(migration)
    return tuple(c for c in COLUMNS if MIGRATIONS.index(c.since) < cutoff)


LEGACY_COLUMNS = columns_before(CATEGORY_MIGRATION)
