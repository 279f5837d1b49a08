"""The synthetic generator: exact shape, determinism, both backfills, and the shapes it promises."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime, timedelta

import polars as pl
import pytest

from llamalog_analytics import links, schema
from llamalog_analytics.errors import ArgumentError
from llamalog_analytics.synthetic import REDIS_RESETS, Synthetic, generate

UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
DTYPES = {
    "UUID": pl.String,
    "VARCHAR": pl.String,
    "JSON": pl.String,
    "VARCHAR[]": pl.List(pl.String),
    "INTEGER": pl.Int32,
    "BOOLEAN": pl.Boolean,
    "TIMESTAMP": pl.Datetime("us"),
}


@pytest.fixture(scope="module")
def data() -> Synthetic:
    return generate(20_000, seed=7)


@pytest.fixture(scope="module")
def logs(data: Synthetic) -> pl.DataFrame:
    return data.llama_logs


def applied(data: Synthetic, migration: str) -> datetime:
    row = data.prisma_migrations.filter(pl.col("migration_name") == migration)
    return row.item(0, "started_at")


@pytest.mark.parametrize("rows", [1, 37, 2_000, 12_345])
def test_exact_row_count(rows):
    assert generate(rows, seed=3).llama_logs.height == rows


def test_rejects_an_empty_request():
    with pytest.raises(ArgumentError, match="at least 1"):
        generate(0)


def test_columns_and_dtypes_follow_the_schema(data):
    assert data.llama_logs.schema == pl.Schema({c.name: DTYPES[c.type] for c in schema.COLUMNS})
    legacy = {c.name: DTYPES[c.type] for c in schema.LEGACY_COLUMNS}
    assert data.enrichment_logs.schema == pl.Schema(legacy)
    assert len(legacy) == 26


def test_same_seed_same_frames(data):
    again = generate(20_000, seed=7)
    assert again.llama_logs.equals(data.llama_logs)
    assert again.enrichment_logs.equals(data.enrichment_logs)
    assert again.prisma_migrations.equals(data.prisma_migrations)


def test_other_seed_other_frames():
    one, two = generate(300, seed=1).llama_logs, generate(300, seed=2).llama_logs
    assert not one.equals(two)
    assert not set(one["id"]) & set(two["id"])


def test_ids_are_unique_uuids_and_rows_sorted(logs):
    assert logs["id"].n_unique() == logs.height
    for column in ("id", "entity_id", "artist_id", "album_id", "track_id"):
        assert logs[column].drop_nulls().str.contains(UUID).all(), column
    assert logs.equals(logs.sort("created_at", "id"))
    assert (logs["created_at"].dt.microsecond() % 1000 == 0).all()  # millisecond precision
    assert logs["created_at"].min() >= datetime(2025, 12, 24)
    assert logs["created_at"].max() <= datetime(2026, 7, 1)


def test_not_null_columns_and_arrays_are_never_null(logs):
    for column in schema.COLUMNS:
        if not column.nullable:
            assert logs[column.name].null_count() == 0, column.name
    assert logs["sources"].null_count() == logs["fields_enriched"].null_count() == 0
    assert (logs["retry_count"] == 0).all()
    assert logs["api_call_count"].max() <= 4
    assert logs["duration_ms"].is_not_null().mean() > 0.6


def test_enum_columns_hold_known_labels(logs):
    for column in schema.COLUMNS:
        if column.labels:
            assert set(logs[column.name].drop_nulls()) <= set(column.labels), column.name
    assert set(logs["category"]) == set(schema.CATEGORIES)  # every label is used


def test_json_columns_hold_minified_json(logs):
    for column in ("metadata", "preview_data"):
        for text in logs[column].drop_nulls().unique():
            assert json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False) == text


def test_migrations_table(data):
    migrations = data.prisma_migrations
    assert migrations["migration_name"].to_list() == list(schema.MIGRATIONS)
    assert migrations.columns == [
        "id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at",
        "applied_steps_count",
    ]  # fmt: skip
    assert migrations["checksum"].str.contains(r"^[0-9a-f]{64}$").all()
    assert migrations["id"].str.contains(UUID).all()
    assert migrations["applied_steps_count"].dtype == pl.Int32
    assert (migrations["applied_steps_count"] == 1).all()
    assert migrations["logs"].is_null().all() and migrations["rolled_back_at"].is_null().all()
    assert (migrations["finished_at"] > migrations["started_at"]).all()
    assert migrations["started_at"].is_sorted()
    assert data.category_migrated_at == applied(data, schema.CATEGORY_MIGRATION)
    assert data.root_job_migrated_at == applied(data, schema.ROOT_JOB_MIGRATION)
    assert data.category_migrated_at.date() == datetime(2026, 2, 10).date()
    assert timedelta(hours=1) < data.root_job_migrated_at - data.category_migrated_at < timedelta(days=1)


def test_snapshot_is_exactly_the_rows_before_the_category_migration(data):
    before = data.llama_logs.filter(pl.col("created_at") < data.category_migrated_at)
    assert data.enrichment_logs.height == before.height > 1_000
    assert data.enrichment_logs.equals(before.select(data.enrichment_logs.columns))


def test_columns_hold_their_default_before_they_existed(data, logs):
    def before(migration: str) -> pl.DataFrame:
        return logs.filter(pl.col("created_at") < applied(data, migration))

    assert before(schema.MIGRATIONS[1])["user_id"].is_null().all()
    assert before(schema.MIGRATIONS[2])["reason"].is_null().all()
    assert before(schema.MIGRATIONS[3])["preview_data"].is_null().all()
    assert before(schema.MIGRATIONS[4])["parent_job_id"].is_null().all()
    assert not before(schema.MIGRATIONS[5])["is_root_job"].any()
    after = logs.filter(pl.col("created_at") >= applied(data, schema.MIGRATIONS[1]))
    assert after["user_id"].is_not_null().any() and logs["reason"].is_not_null().any()
    assert logs["preview_data"].is_not_null().any()


def backfilled_category(frame: pl.DataFrame) -> pl.Series:
    """The six UPDATE steps of 20260209194819, one after the other, as SQL runs them."""
    op, category = pl.col("operation"), pl.col("category")

    def like(pattern: str) -> pl.Expr:  # LIKE 'prefix%': case-sensitive prefix match
        return op.str.contains("^" + re.escape(pattern.removesuffix("%")))

    enriched = like("enrichment:%") | like("check:%") | like("musicbrainz:%") | like("spotify:%")
    steps = [
        (like("cache:%"), "CACHED"),
        (op == "admin_correction", "CORRECTED"),
        (enriched | like("discogs:%") | (op == "PREVIEW_ENRICHMENT"), "ENRICHED"),
        ((pl.col("status") == "FAILED") & category.is_null(), "FAILED"),
        (category.is_null(), "CREATED"),
    ]
    frame = frame.select("operation", "status", category=pl.lit(None, pl.String))
    for condition, label in steps:
        frame = frame.with_columns(category=pl.when(condition).then(pl.lit(label)).otherwise(category))
    return frame["category"]


def test_categories_before_the_rename_are_the_applied_backfill(data, logs):
    old = logs.filter(pl.col("created_at") < data.category_migrated_at)
    assert old["category"].equals(backfilled_category(old), check_names=False)
    failed = old.filter(pl.col("status") == "FAILED").group_by("category").len()
    assert {"ENRICHED", "CACHED", "FAILED"} <= set(failed["category"])  # FAILED overrides nothing
    legacy = old.filter(pl.col("operation").is_in(["MUSICBRAINZ_FETCH", "MANUAL_ADD", "manual_correction"]))
    assert set(legacy.filter(pl.col("status") != "FAILED")["category"]) == {"CREATED"}
    fallback = old.filter(pl.col("operation") == "SPOTIFY_TRACK_FALLBACK")
    assert set(fallback["status"]) == {"SUCCESS", "FAILED"}
    assert set(old["category"]) == {"ENRICHED", "CREATED", "CORRECTED", "CACHED", "FAILED"}


def test_categories_after_the_rename_follow_the_application(data, logs):
    new = logs.filter(pl.col("created_at") >= data.category_migrated_at)
    processors = new.filter(pl.col("operation").str.contains("^(enrichment|cache|discogs):"))
    assert (processors.filter(pl.col("status") == "FAILED")["category"] == "FAILED").all()
    assert (processors.filter(pl.col("status") != "FAILED")["category"] == "ENRICHED").all()
    assert (new.filter(pl.col("operation") == "PREVIEW_ENRICHMENT")["category"] == "ENRICHED").all()
    assert not new["operation"].is_in(["manual_correction", "MANUAL_ADD", "MUSICBRAINZ_FETCH"]).any()
    linked = logs.filter(pl.col("category") == "LINKED")["created_at"]
    assert linked.min() >= data.root_job_migrated_at and linked.max() < datetime(2026, 2, 16)
    user = logs.filter(pl.col("operation").is_in(["collection:album-added", "recommendation:created"]))
    late = pl.col("created_at") >= applied(data, schema.MIGRATIONS[8])
    assert (user.filter(late)["category"] == "USER_ACTION").all()
    assert (user.filter(~late)["category"] == "CREATED").all()


def walked_roots(rows: list[dict]) -> dict[str, str | None]:
    """root_job_id per row id, as the recursive CTE of 20260210103953 computes it."""
    parents: dict[str, set] = defaultdict(set)
    for row in rows:
        if row["job_id"] is not None:
            parents[row["job_id"]].add(row["parent_job_id"])
    roots = {}
    for row in rows:
        if row["parent_job_id"] is None:
            roots[row["id"]] = row["job_id"]
            continue
        tuples = {(row["parent_job_id"], row["parent_job_id"])}  # (current parent, candidate root)
        for _ in range(2, 11):
            deeper = {(up, cur) for cur, _ in tuples for up in parents.get(cur, ())}
            if not deeper:
                break
            tuples = deeper
        roots[row["id"]] = min(root for _, root in tuples)
    return roots


def test_roots_before_the_root_migration_are_the_applied_backfill(data, logs):
    old = logs.filter(pl.col("created_at") < data.root_job_migrated_at)
    expected = walked_roots(old.select("id", "job_id", "parent_job_id").to_dicts())
    assert dict(zip(old["id"], old["root_job_id"], strict=True)) == expected
    with_parent = old.filter(pl.col("parent_job_id").is_not_null())
    assert with_parent.height > 300
    # A dangling parent is the root; an existing parent whose own parent dangles is the root too
    # (unless that dangling BullMQ id was reused by an older job, which the walk then follows).
    assert (
        with_parent.filter(pl.col("parent_job_id") == "mb-sync-batch")["root_job_id"] == "mb-sync-batch"
    ).all()
    logged = pl.col("parent_job_id").is_in(old["job_id"].drop_nulls().implode())
    similar = with_parent.filter(pl.col("operation") == "similar-artists-sync", logged)
    assert similar.height and (similar["root_job_id"] == similar["parent_job_id"]).mean() > 0.5
    legacy_roots = old.filter(pl.col("root_job_id") == pl.col("job_id"), ~pl.col("is_root_job"))
    assert legacy_roots.height > 100  # roots by the backfill that is_root_job does not know


def test_roots_after_the_root_migration_follow_the_logger(data, logs):
    new = logs.filter(pl.col("created_at") >= data.root_job_migrated_at)
    roots = new.filter(pl.col("is_root_job"))
    assert (roots["parent_job_id"].is_null()).all()
    own = roots.filter(pl.col("root_job_id") == pl.col("job_id"))
    assert own.height > 0.5 * roots.filter(pl.col("job_id").is_not_null()).height
    batch_roots = roots.filter(pl.col("operation") == "album:created:spotify-sync")
    assert batch_roots.height and (batch_roots["root_job_id"] != batch_roots["job_id"]).all()
    children = new.filter(pl.col("parent_job_id").is_not_null())
    processors = children.filter(pl.col("operation").str.contains("^(enrichment|cache|discogs):"))
    assert processors.height and processors["root_job_id"].is_null().all()
    created = children.filter(pl.col("operation") == "track:created:enrichment")
    assert created.height and created["root_job_id"].is_not_null().all()
    direct = new.filter(pl.col("operation").is_in(["PREVIEW_ENRICHMENT", "admin_correction"]))
    assert not direct["is_root_job"].any() and direct["root_job_id"].is_null().all()


def test_metadata_null_is_sql_null_before_the_rename_and_json_null_after(data, logs):
    old = logs.filter(pl.col("created_at") < data.category_migrated_at)
    new = logs.filter(pl.col("created_at") >= data.category_migrated_at)
    assert not (old["metadata"] == "null").any()
    assert old["metadata"].null_count() > 0
    assert (new["metadata"] == "null").sum() > 0
    direct = new.filter(pl.col("operation").str.starts_with("game-pool:"))
    assert direct.height and direct["metadata"].is_null().all()


def test_job_id_shapes(logs):
    jobs = logs["job_id"].drop_nulls()
    for pattern in (r"^\d+$", r"^album-", r"^track-", r"^artist-created-", r"^collection-add-\d+-\w+$",
                    r"^recommendation-\d+-\w+$", r"^similar-sync-", r"^spotify-album-",
                    r"^spotify-sync-album-\d+-\w+$", r"^deezer-import-album-"):  # fmt: skip
        assert jobs.str.contains(pattern).any(), pattern
    parents = logs["parent_job_id"].drop_nulls()
    assert (parents == "mb-sync-batch").any() and parents.str.contains(r"^mb_\d+_\w+$").any()
    never_logged = set(parents) - set(jobs)
    assert any(p.isdigit() for p in never_logged)  # BullMQ jobs that never logged
    assert logs["job_id"].null_count() > 0


def test_duplicate_bullmq_ids_retries_and_reuse_after_a_reset(logs):
    numeric = logs.filter(pl.col("job_id").str.contains(r"^\d+$"))
    per_job = numeric.group_by("job_id").agg(
        pl.len(), pl.col("status"), span=pl.col("created_at").max() - pl.col("created_at").min()
    )
    assert (per_job["len"] > 1).any()
    assert (per_job["span"] > timedelta(weeks=2)).any()  # reused after a queue reset
    retried = per_job.filter(pl.col("span") < timedelta(minutes=1), pl.col("len") > 1)
    assert retried.height and retried["status"].list.contains("FAILED").all()


def test_bullmq_runs_are_seconds_long_and_run_again_only_after_a_redis_reset(logs):
    runs = (
        logs.hstack(links.resolve(logs).select("job_instance"))
        .filter(pl.col("job_id").is_not_null())
        .group_by("job_id", "job_instance")
        .agg(first=pl.col("created_at").min(), last=pl.col("created_at").max(), rows=pl.len())
        .sort("job_id", "job_instance")
    )
    bullmq = runs.filter(pl.col("job_id").str.contains(r"^\d+$"))
    assert (bullmq["last"] - bullmq["first"]).max() < timedelta(seconds=10)  # retries keep the run
    assert bullmq["rows"].max() > 1
    again = bullmq.with_columns(previous=pl.col("last").shift().over("job_id")).drop_nulls("previous")
    assert again.height > 100
    resets = pl.Series(REDIS_RESETS)
    crossed = again.select(
        pl.any_horizontal((pl.col("previous") < at) & (pl.col("first") > at) for at in resets).alias("reset")
    )
    assert crossed["reset"].all()  # a BullMQ id runs again only after its counter restarted


def test_flat_queue_families_and_immediate_creation_parents(logs):
    roots = logs.filter(pl.col("operation") == "collection:album-added").select("job_id")
    family = logs.join(roots, left_on="parent_job_id", right_on="job_id")
    assert {"enrichment:album", "enrichment:artist", "cache:album-cover-art", "discogs:search-artist"} <= set(
        family["operation"]
    )
    tracks = logs.filter(pl.col("operation") == "track:created:enrichment")
    enrich = logs.filter(pl.col("operation") == "enrichment:album").select("job_id", "parent_job_id")
    linked = tracks.join(enrich.unique("job_id"), left_on="parent_job_id", right_on="job_id")
    assert linked.height == tracks.height  # track rows hang off the enrichment job


def test_children_logged_before_their_parent(logs):
    albums = logs.filter(pl.col("operation") == "album:created").select("job_id", album_at="created_at")
    children = logs.filter(pl.col("operation") == "artist:created:album-child")
    pairs = children.join(albums, left_on="parent_job_id", right_on="job_id")
    assert pairs.height and (pairs["created_at"] < pairs["album_at"]).all()
    assert ((pairs["album_at"] - pairs["created_at"]) < timedelta(milliseconds=10)).all()


def test_entity_columns(logs):
    for kind in schema.ENTITY_TYPES:
        typed = logs.filter(pl.col("entity_type") == kind, pl.col("entity_id").is_not_null())
        typed = typed.filter(pl.col(f"{kind.lower()}_id").is_not_null())
        assert typed.height and (typed["entity_id"] == typed[f"{kind.lower()}_id"]).all()
    corrections = logs.filter(pl.col("operation") == "admin_correction")
    assert corrections["entity_id"].is_null().all()
    assert corrections.select(pl.coalesce("album_id", "artist_id").is_not_null().all()).item()
    assert set(corrections["sources"].explode()) <= {"musicbrainz", "discogs"}
    manual = logs.filter(pl.col("operation") == "manual_correction")
    assert manual["entity_id"].is_not_null().all() and manual["album_id"].is_null().all()
    failed_tracks = logs.filter(pl.col("operation") == "track:failed:enrichment")
    assert (failed_tracks["entity_type"] == "TRACK").all()
    no_ids = failed_tracks.select("entity_id", "artist_id", "album_id", "track_id").null_count()
    assert no_ids.row(0) == (failed_tracks.height,) * 4
    two = logs.filter(pl.sum_horizontal(pl.col("artist_id", "album_id", "track_id").is_not_null()) == 2)
    assert two.height > 0


def test_entities_have_a_history(logs):
    per_album = (
        logs.filter(pl.col("album_id").is_not_null())
        .group_by("album_id")
        .agg(pl.len(), pl.col("category").n_unique().alias("categories"))
    )
    assert per_album["len"].max() >= 10
    assert (per_album["categories"] >= 3).any()


def test_text_that_needs_quoting_is_present(logs):
    text = pl.concat([logs[c].drop_nulls() for c in ("reason", "error_message", "metadata")])
    for needle in (",", '"', "\\", "{", "\n", "é"):
        assert text.str.contains(needle, literal=True).any(), repr(needle)
    elements = pl.concat([logs["sources"].explode(), logs["fields_enriched"].explode()]).drop_nulls()
    assert elements.str.contains(" ", literal=True).any() and elements.str.contains(",", literal=True).any()


def test_previews(logs):
    previews = logs.filter(pl.col("operation") == "PREVIEW_ENRICHMENT")
    shown = previews.filter(pl.col("status") == "PREVIEW")["preview_data"]
    assert shown.is_not_null().all()
    document = json.loads(shown[0])
    assert list(document) == ["matchScore", "matchedEntity", "fieldsToUpdate", "rawData"]
    assert {"field", "currentValue", "newValue", "source"} == set(document["fieldsToUpdate"][0])
    failed = previews.filter(pl.col("status") == "FAILED")
    assert failed.height and failed["preview_data"].is_null().all()
    assert failed["reason"].str.starts_with("Preview failed: ").all()
