"""Synthetic ``llama_logs`` data shaped like the real table, for tests, docs and benchmarks.

Rows come in *families*: a root row and the rows its jobs log (album creation with artist and
track children, queue enrichment with flat parents, syncs under dangling batch ids, previews,
corrections, user actions...), spread over 2025-12-25 .. 2026-06-30 and densest while v1.4 was
built (2026-02-06 .. 02-16). Each row has the columns of its time: a column that did not exist
yet holds its default; ``category`` of rows older than the category migration is the applied
backfill and ``root_job_id`` of rows older than the root-job migration the applied recursive
backfill; newer rows follow the application's rules. Times are naive UTC. Everything is
vectorised: Python loops run over family and row *kinds* and backfill steps, never over rows.

Examples:
    >>> data = generate(2_000, seed=3)
    >>> data.llama_logs.height, data.enrichment_logs.width
    (2000, 26)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from . import rules, schema
from .errors import ArgumentError

__all__ = ["REDIS_RESETS", "Synthetic", "generate"]

# Folder names are the developer's local time (UTC-6); each was applied when it was written.
_APPLIED = tuple(datetime.strptime(m[:14], "%Y%m%d%H%M%S") + timedelta(hours=6) for m in schema.MIGRATIONS)
_USER, _REASON, _PREVIEWS, _PARENT, _ISROOT, _CAT, _ROOT, _USER_ACTION = _APPLIED[1:]
_START, _END = _APPLIED[0] + timedelta(minutes=14), datetime(2026, 6, 30)
REDIS_RESETS = (datetime(2026, 1, 19, 4), datetime(2026, 4, 2, 3))  # BullMQ ids restart at 1 (UTC)
# Relative rows per day from each date on: quiet start, v1.4 development burst, steady use.
_DENSITY = ((_START, 1.0), (_PARENT, 8.0), (datetime(2026, 2, 16), 2.0), (_END, 0.0))
_BLOCK = 1 << 20  # rows per chunk of the result


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1)) // timedelta(milliseconds=1)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# fmt: off
# Vocabularies, with the characters that trip up CSV, JSON and Postgres-array round trips.
_ALBUMS = ("OK Computer", "Ágætis byrjun", 'The "Black" Album', "Songs, Vol. 2",
           "{Live} at the BBC", "Demos C:\\Tape\\Side A", "東京の夜", "In Rainbows")
_ARTISTS = ("Radiohead", "Sigur Rós", "Earth, Wind & Fire", 'The "The"', "Björk", "坂本龍一",
            "Motörhead", "Sunn O)))", "John Coltrane")
_TRACKS = ("Intro", "Hyperballad", "Track 1\\2", 'Say "Yes"', "Señorita", "{interlude}",
           "Storm, Part II")
_ERRORS = ("Request failed with status code 503", "MusicBrainz rate limit exceeded, retry in 1s",
           'Album "Ágætis byrjun" not found in MusicBrainz', "Unexpected token } in JSON",
           "ENOENT: no such file or directory, open 'C:\\cache\\covers\\tmp.jpg'",
           "fetch failed\n    at node:internal/deps/undici:13502:13")
_STACKS = tuple(f"Error: {e}\n    at fetchRelease (src/lib/musicbrainz.ts:88:13)\n    at async "
                "processEnrichAlbum (C:\\app\\src\\workers\\enrich.ts:41:5)" for e in _ERRORS[:3])
_ENRICH_REASONS = ("Album has no MusicBrainz ID; searched by title + artist",
                   'Confidence 0.91 ≥ 0.8 – applying "fieldChanges"', "Quality already HIGH",
                   "Last enriched < 7 days ago\n(cooldown)", "Requested by admin {manual}")
_GAME_REASONS = ("Status changed to ELIGIBLE", "Status changed to EXCLUDED",
                 'Too obscure – "deep cut"', "Cover art missing\\broken")
_FIELD_CHANGES = tuple(_dumps(c) for c in (
    [{"field": "releaseDate", "before": None, "after": "1997-05-21"},
     {"field": "genres", "before": "rock", "after": "rock, art rock, alternative"}],
    [{"field": "musicbrainzId", "before": None, "after": "b1392450-e666-4926-a536-22c65f834433"}],
    []))
_PREVIEW_TAILS = ("", ',{"field":"releaseDate","currentValue":null,"newValue":"2019-03-15",'
                  '"source":"MUSICBRAINZ"}', ',{"field":"genres","currentValue":"rock","newValue":'
                  '"rock, art rock","source":"MUSICBRAINZ"}')
_CORRECTIONS_ALBUM = tuple(_dumps(d) for d in (
    {"metadata": [{"field": "title", "before": "Kid A (Remaster)", "after": "Kid A"}],
     "tracks": [], "artists": [], "externalIds": [], "coverArt": None},
    {"metadata": [], "tracks": [{"action": "modified", "trackTitle": 'Say "Yes"', "position": 3,
     "discNumber": 1, "deltas": [{"field": "title", "before": "Say Yes", "after": 'Say "Yes"'}]}],
     "artists": [{"action": "added", "artistName": "Sigur Rós"}], "externalIds": [],
     "coverArt": {"field": "coverArtUrl", "before": None, "after": "https://caa.org/x.jpg"}}))
_CORRECTIONS_ARTIST = (_dumps({"metadata": [{"field": "name", "before": "Bjork",
                                             "after": "Björk"}], "externalIds": []}),)
# fmt: on
_NAMES = {"album": _ALBUMS, "artist": _ARTISTS, "track": _TRACKS}


def _pick(values: tuple[str, ...], index: pl.Expr, *, as_json: bool = False) -> pl.Expr:
    series = pl.Series([_dumps(v) if as_json else v for v in values], dtype=pl.String)
    return pl.lit(series).gather(index % len(series))


def _cat(*parts: pl.Expr | str) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _q(expr: pl.Expr | str) -> pl.Expr:
    """JSON string of text that needs no escaping (ids, urls, digits)."""
    return _cat('"', pl.col(expr) if isinstance(expr, str) else expr, '"')


def _int(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String)


def _hundredths(number: pl.Expr) -> pl.Expr:
    """A two-digit ``number`` / 100, written as ``json.dumps`` writes that float."""
    return _cat("0.", _int(number)).str.strip_suffix("0")


def _flag(cond: pl.Expr) -> pl.Expr:
    return pl.when(cond).then(pl.lit("true")).otherwise(pl.lit("false"))


_K, _STATUS, _RAND, _NO_STRING = pl.col("_k"), pl.col("status"), pl.col("rand"), pl.lit(None, pl.String)
_COVER = _q(_cat("https://coverartarchive.org/release/", pl.col("_mb"), "/front-500"))
_CF_ID = _cat(pl.col("_id").str.slice(0, 8), _RAND)
_DEEZER = pl.col("operation").str.contains("deezer")
# fmt: off
# Metadata key -> its JSON value, from a row's helper columns (see _slot_rows).
_FRAGMENTS: dict[str, pl.Expr] = {
    "albumTitle": pl.col("_at"), "artistName": pl.col("_an"), "trackTitle": pl.col("_tt"),
    "attemptedTitle": pl.col("_tt"), "searchQuery": pl.col("_an"), "discogsTitle": pl.col("_an"),
    "hadMusicBrainzData": _flag(_K % 5 > 0), "fieldChanges": _pick(_FIELD_CHANGES, _K),
    "confidence": _hundredths(_K % 40 + 30), "matchConfidence": _hundredths(_K % 30 + 70),
    "errorStack": _pick(_STACKS, _K, as_json=True), "tracksCreated": _int(_K % 14),
    "fallbackReason": pl.lit('"No tracks from MusicBrainz"'), "spotifyId": _q(_cat("4Zx", _RAND)),
    "similarArtistsSynced": _int(_K % 25), "beforeUrl": _COVER, "sourceUrl": _COVER,
    "afterUrl": _q(_cat("https://imagedelivery.net/llama/", _CF_ID, "/public")),
    "cloudflareImageId": _q(_CF_ID), "existingCloudflareImageId": _q(_CF_ID),
    "cacheLocation": pl.lit('"cloudflare_images"'), "imageFound": _flag(_STATUS == "SUCCESS"),
    "resultsCount": _int(pl.when(_STATUS == "SUCCESS").then(_K % 20 + 1).otherwise(0)),
    "discogsId": _q(_int(_K % 9_000_000)), "imageUrl": _q(_cat("https://i.discogs.com/", _RAND)),
    "albumId": _q("_album"), "basisAlbumId": _q("_album"), "recommendedAlbumId": _q("_mb"),
    "trackNumber": _int(_K % 12 + 1), "attemptedTrackNumber": _int(_K % 12 + 1),
    "discNumber": _int(_K % 7 // 6 + 1), "mbRecordingId": _q("_mb"),
    "existingEntity": pl.lit("true"),
    "syncSource": _q(
        pl.when(_DEEZER).then(pl.lit("deezer_playlists")).otherwise(pl.lit("spotify"))
    ),
    "syncTimestamp": _q(pl.from_epoch("_t", time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")),
    "syncJobId": _q("j_batch"), "batchId": _q(_cat("batch-", _RAND)), "country": pl.lit('"SE"'),
    "query": pl.lit('"tag:new year:2026"'), "deezerAlbumId": _q(_int(_K)),
    "playlistName": _pick(("Nouveautés", 'Fresh Finds, Vol. "2"', "Indie 🔥"), _K, as_json=True),
    "collectionId": _q(_cat("c", _RAND)), "collectionAlbumId": _q(_cat("ca", _RAND)),
    "recommendationId": _q(_cat("r", _RAND)), "albumCreated": _flag(_K % 3 == 0),
    "artistsCreated": _int(_K % 3), "score": _int(_K % 10 + 1),
}
# fmt: on


@dataclass(frozen=True)
class _Kind:
    """How one kind of row is written.

    ``sources``/``fields``: options separated by ``|``, their elements by ``;``. ``meta``: the
    metadata keys, then ``| STATUS: keys`` for statuses that write other keys.
    """

    name: str
    cat: str  # category the application gives a row that did not fail
    outcomes: tuple[tuple[str, int], ...] = (("SUCCESS", 1),)
    sources: str = ""
    fields: str = ""
    codes: str = ""  # error codes of failed rows, space-separated
    trig: str | None = None  # triggered_by; "$" = the family's job source
    meta: str | tuple[str, ...] = ""  # or whole JSON documents
    direct: bool = False  # prisma.create, not the logger: not a root, SQL NULL metadata
    user: bool = False
    reason: tuple[str, ...] = ()
    api: int = 0
    dur: int = 0  # typical duration_ms; 0: never set
    dq: bool = False
    ids: str = "both"  # entity_id and typed id: both | typed | entity | none
    op: str | None = None
    failed_cat: str = "FAILED"


# fmt: off
_ENRICH = (("SUCCESS", 72), ("PARTIAL_SUCCESS", 8), ("NO_DATA_AVAILABLE", 6), ("SKIPPED", 9),
           ("FAILED", 5))
_CACHE = (("SUCCESS", 80), ("SKIPPED", 15), ("FAILED", 5))
_DISCOGS = (("SUCCESS", 80), ("NO_DATA_AVAILABLE", 15), ("FAILED", 5))
_PREVIEW = (("PREVIEW", 88), ("FAILED", 12))
_MB = "MUSICBRAINZ"
_CACHED = "beforeUrl afterUrl cloudflareImageId cacheLocation"
_KINDS = {k.name: k for k in (
    _Kind("enrichment:album", "ENRICHED", _ENRICH, f"{_MB} | {_MB};LASTFM | {_MB};DISCOGS",
          "musicbrainzId;releaseDate;genres | releaseDate;releaseType | genres", "ALBUM_NOT_FOUND",
          "$", "albumTitle artistName hadMusicBrainzData fieldChanges | SKIPPED: albumTitle "
          "artistName confidence | FAILED: albumTitle artistName errorStack",
          reason=_ENRICH_REASONS, api=4, dur=1800, dq=True),
    _Kind("enrichment:artist", "ENRICHED", _ENRICH, f"{_MB} | {_MB};LASTFM",
          "musicbrainzId;countryCode | genres;imageUrl", "ARTIST_NOT_FOUND", "$",
          "artistName hadMusicBrainzData fieldChanges | SKIPPED: artistName confidence"
          " | FAILED: artistName errorStack", reason=_ENRICH_REASONS, api=3, dur=1500, dq=True),
    _Kind("enrichment:track", "ENRICHED", _ENRICH, _MB, "musicbrainzId;isrc | durationMs", "", "$",
          "trackTitle artistName hadMusicBrainzData | FAILED: trackTitle artistName errorStack",
          api=2, dur=900),
    *(_Kind(f"cache:{what}", "ENRICHED", _CACHE, "CLOUDFLARE", "cloudflareImageId",
            "IMAGE_FETCH_FAILED CACHE_ERROR", "system", f"{name} {_CACHED} | SKIPPED: {name} "
            f"existingCloudflareImageId | FAILED: {name} sourceUrl", api=2, dur=900)
      for what, name in (("album-cover-art", "albumTitle"), ("artist-image", "artistName"))),
    _Kind("discogs:search-artist", "ENRICHED", _DISCOGS, "DISCOGS", "discogsId",
          "DISCOGS_API_ERROR",
          "system", "searchQuery resultsCount discogsId discogsTitle matchConfidence"
          " | NO_DATA_AVAILABLE: searchQuery resultsCount | FAILED: searchQuery", api=1, dur=700),
    _Kind("discogs:get-artist", "ENRICHED", _DISCOGS, "DISCOGS", "imageUrl", "DISCOGS_FETCH_ERROR",
          "system", "discogsId imageUrl imageFound | NO_DATA_AVAILABLE: discogsId imageFound"
          " | FAILED: discogsId", api=1, dur=600),
    _Kind("SPOTIFY_TRACK_FALLBACK", "ENRICHED", (("SUCCESS", 65), ("FAILED", 35)), "SPOTIFY",
          "tracks", "", "$", "albumTitle artistName tracksCreated fallbackReason spotifyId",
          api=3, dur=2500),
    _Kind("similar-artists-sync", "ENRICHED", (("SUCCESS", 9), ("FAILED", 1)),
          "LASTFM | LISTENBRAINZ", "similarArtists", "", "$",
          "artistName similarArtistsSynced | FAILED: artistName", api=2, dur=1500),
    _Kind("track:created:enrichment", "CREATED", sources=_MB, fields="title;trackNumber",
          meta="albumId trackNumber discNumber mbRecordingId", dur=30),
    _Kind("track:failed:enrichment", "FAILED", (("FAILED", 1),), _MB, ids="none", dur=30,
          meta="albumId attemptedTitle attemptedTrackNumber"),
    _Kind("track:created:spotify-sync", "CREATED", sources="SPOTIFY", fields="title;spotifyId",
          meta="albumId trackNumber spotifyId", dur=20),
    *(_Kind(f"artist:created{how}", "CREATED", sources=_MB, fields="name;musicbrainzId | name",
            user=not how, dur=25) for how in (":album-child", ":track-child", "")),
    _Kind("album:created", "CREATED", sources=f"{_MB} | USER", fields="title;releaseDate",
          user=True, dur=60),
    _Kind("album:created:spotify-sync", "CREATED", sources="SPOTIFY", fields="title;spotifyId",
          trig="spotify_sync", meta="syncSource syncTimestamp syncJobId query country", dur=80),
    _Kind("album:created:deezer-import", "CREATED", sources="DEEZER", fields="title;deezerId",
          trig="deezer_import", dur=80,
          meta="syncSource syncTimestamp syncJobId batchId playlistName deezerAlbumId"),
    _Kind("album:created:musicbrainz-sync", "CREATED", sources=_MB, fields="title;musicbrainzId",
          dur=70),
    _Kind("artist:linked:album-association", "LINKED", sources="SYSTEM", dur=15,
          meta="albumId existingEntity"),
    _Kind("collection:album-added", "USER_ACTION", sources="USER", user=True, dur=120,
          meta="collectionId collectionAlbumId albumCreated artistsCreated"),
    _Kind("recommendation:created", "USER_ACTION", sources="USER", user=True, dur=150,
          meta="recommendationId basisAlbumId recommendedAlbumId score artistsCreated"),
    *(_Kind(f"game-pool:{a}", "USER_ACTION", sources="ADMIN", direct=True, user=True,
            reason=_GAME_REASONS) for a in ("status-update", "add-to-pool", "import-for-review")),
    *(_Kind(f"preview_{e}", "ENRICHED", _PREVIEW, _MB, trig="admin_preview", meta=meta,
            direct=True, user=True, api=2, dur=2500, op="PREVIEW_ENRICHMENT", failed_cat="ENRICHED")
      for e, meta in (("album", "albumTitle artistName"), ("artist", "artistName"))),
    *(_Kind(f"correction_{e}", "CORRECTED", sources="musicbrainz | discogs", fields=fields,
            trig="admin_ui", meta=docs, direct=True, user=True, api=1, dur=300, ids="typed",
            op="admin_correction")
      for e, fields, docs in (("album", "title;releaseDate | barcode", _CORRECTIONS_ALBUM),
                              ("artist", "name", _CORRECTIONS_ARTIST))),
    _Kind("manual_correction", "CORRECTED", sources="manual", trig="admin_manual_edit",
          fields='title;release date | label, catalogNumber | notes "draft";genres', direct=True,
          user=True, ids="entity"),
    _Kind("MUSICBRAINZ_FETCH", "ENRICHED", (("SUCCESS", 85), ("FAILED", 15)), _MB,
          "musicbrainzId;releaseDate", direct=True, api=1, dur=900),
    _Kind("MANUAL_ADD", "CREATED", sources="USER", fields="title", direct=True, user=True),
    _Kind("MANUAL_CREATE", "CREATED", sources="ADMIN", fields="name", direct=True, user=True),
    _Kind("MANUAL_DATA_QUALITY_UPDATE", "CORRECTED", sources="ADMIN", fields="dataQuality",
          direct=True, user=True, dq=True),
)}
# fmt: on


@dataclass(frozen=True)
class _Slot:
    """One row a family logs: its kind, entity variable, offset in seconds and job variables."""

    kind: str
    ent: str | None  # entity variable: album, artist, artist2, track, ...
    at: float = 0.0
    p: float = 1.0  # share of the family's instances that log this row
    job: str | None = None
    parent: str | None = None
    root: str | None = None  # root id the caller passes to the logger
    extra: str | None = None  # entity variable of a second typed id
    since: datetime | None = None
    status: str | None = None


@dataclass(frozen=True)
class _Family:
    name: str
    share: float  # share of all rows
    window: tuple[datetime, datetime]
    ents: dict[str, str]  # entity variable -> "new" (created by the family) or "old"
    jobs: dict[str, str]  # job variable -> "#" (next BullMQ id), "@mb" or a "{variable}" format
    slots: tuple[_Slot, ...]
    source: str | None = None  # the jobs' source, written to triggered_by by processors


_S = _Slot
# fmt: off
# A queue enrichment family: every job points at the family root (flat parents); creation
# logs point at the job that created them (immediate parent) and pass the root.
_BODY = (
    _S("enrichment:album", "album", 1, 0.06, "ea", "root", status="FAILED"),  # retried later
    _S("enrichment:album", "album", 3, 1, "ea", "root"),
    _S("track:created:enrichment", "track", 3.4, 0.5, "t1", "ea", "root", since=_PARENT),
    _S("track:created:enrichment", "track2", 3.5, 0.3, "t2", "ea", "root", since=_PARENT),
    _S("track:failed:enrichment", "track3", 3.6, 0.04, parent="ea", since=_PARENT),
    _S("artist:created:track-child", "artist2", 3.7, 0.08, None, "ea", "root", since=_PARENT),
    _S("SPOTIFY_TRACK_FALLBACK", "album", 4, 0.05, "sf", "root"),
    _S("cache:album-cover-art", "album", 5, 0.7, "ca", "root"),
    _S("enrichment:artist", "artist", 6, 0.8, "er", "root"),
    _S("discogs:search-artist", "artist", 7, 0.4, "ds", "root"),
    _S("similar-artists-sync", "artist", 8, 0.15, "ss", "er", since=_PARENT),
    _S("discogs:get-artist", "artist", 9, 0.3, "dg", "root"),
    _S("cache:artist-image", "artist", 10, 0.5, "ci", "root"),
    _S("enrichment:track", "track3", 11, 0.2, "et", "root"),
)
_JOBS = {"ea": "#", "ca": "#", "er": "#", "ds": "#", "dg": "#", "ci": "#", "et": "#",
         "ss": "similar-sync-{artist}-{ms}", "sf": "spotify-album-{album}",
         "t1": "track-{track}", "t2": "track-{track2}"}
_OLD = {"album": "old", "artist": "old"}
_QUEUE = _OLD | {"track": "new", "track2": "new", "track3": "old", "artist2": "new"}
_NEW = {"album": "new", "track": "new"}
_SYNC = {"batch": "#", "root": "spotify-sync-album-{ms}-{rand}"}
_BEFORE_RENAME = (_START, _CAT - timedelta(hours=1))
_FAMILIES = (
    _Family("queue", 0.40, (_START, _END), _QUEUE, {"root": "#"} | _JOBS, _BODY, "manual"),
    _Family("collection", 0.12, (_PARENT, _END), _QUEUE,
            {"root": "collection-add-{ms}-{rand}"} | _JOBS,
            (_S("collection:album-added", "album", job="root"), *_BODY), "collection_add"),
    _Family("recommend", 0.06, (_PARENT, _END), _QUEUE,
            {"root": "recommendation-{ms}-{rand}"} | _JOBS,
            (_S("recommendation:created", "album", job="root"), *_BODY), "recommendation_create"),
    _Family("add_album", 0.07, (_PARENT, datetime(2026, 2, 20)),
            _QUEUE | {"album": "new", "artist": "new"},
            {"root": "album-{album}"} | _JOBS,
            # the artist is logged a few ms before its parent album
            (_S("artist:created:album-child", "artist", -0.003, parent="root", root="root"),
             _S("album:created", "album", job="root", extra="artist"), *_BODY), "manual_add"),
    _Family("add_artist", 0.04, (_PARENT, _END), {"artist": "new"},
            {"root": "artist-created-{artist}", "er": "#", "ds": "#", "ci": "#"},
            (_S("artist:created", "artist", job="root"),
             _S("enrichment:artist", "artist", 2, 1, "er", "root"),
             _S("discogs:search-artist", "artist", 4, 0.5, "ds", "root"),
             _S("cache:artist-image", "artist", 6, 0.6, "ci", "root")), "manual_add"),
    _Family("spotify_v14", 0.015, (_PARENT, _ROOT), _NEW, _SYNC,  # children of the sync batch
            (_S("album:created:spotify-sync", "album", job="root", parent="batch"),
             _S("track:created:spotify-sync", "track", 0.2, 0.8, parent="root"))),
    _Family("spotify", 0.04, (_ROOT, _END), _NEW, _SYNC,  # roots whose root id is the batch
            (_S("album:created:spotify-sync", "album", job="root", root="batch"),
             _S("track:created:spotify-sync", "track", 0.2, 0.8, parent="root", root="batch"))),
    _Family("deezer", 0.02, (_ROOT, _END), _NEW,
            {"batch": "#", "root": "deezer-import-album-{ms}-{rand}"},
            (_S("album:created:deezer-import", "album", job="root", root="batch"),)),
    _Family("mb_sync", 0.02, (_PARENT, _END), _NEW, {"mb": "@mb"},
            (_S("album:created:musicbrainz-sync", "album", parent="mb", root="mb"),)),
    _Family("preview", 0.03, (_PREVIEWS, _END), _OLD, {},
            (_S("preview_album", "album", p=0.7), _S("preview_artist", "artist", p=0.3))),
    _Family("correction", 0.01, (_START, _END), _OLD, {},
            (_S("correction_album", "album", p=0.7), _S("correction_artist", "artist", p=0.3))),
    # manual_correction inserts fail after the rename (no category)
    _Family("manual_correction", 0.004, _BEFORE_RENAME, _OLD, {},
            (_S("manual_correction", "album", p=0.6), _S("manual_correction", "artist", p=0.4))),
    _Family("legacy", 0.03, _BEFORE_RENAME, _OLD, {"sf": "spotify-album-{album}"},
            (_S("MUSICBRAINZ_FETCH", "album", p=0.35), _S("MANUAL_ADD", "album", p=0.2),
             _S("MANUAL_CREATE", "artist", p=0.1),
             _S("MANUAL_DATA_QUALITY_UPDATE", "album", p=0.15),
             _S("SPOTIFY_TRACK_FALLBACK", "album", p=0.2, job="sf")), "manual"),
    _Family("game_pool", 0.02, (_PARENT, _END), _OLD, {},
            (_S("game-pool:status-update", "album", p=0.6),
             _S("game-pool:add-to-pool", "album", p=0.3),
             _S("game-pool:import-for-review", "album", p=0.1))),
    _Family("linked", 0.003, (_ROOT, datetime(2026, 2, 15, 18)), _OLD, {"root": "album-{album}"},
            (_S("artist:linked:album-association", "artist", parent="root", root="root",
                extra="album"),)),
)
# Single enrichment root jobs make up the remaining rows.
_FILLER = _Family("single", 0, (_START, _END), _OLD, {"root": "#"},
                  (_S("enrichment:album", "album", job="root"),), "manual")
# fmt: on


@dataclass(frozen=True)
class Synthetic:
    """A synthetic LlamaLog database: the table today, its pre-rename snapshot, its migrations.

    Attributes:
        llama_logs: the table after every migration, columns in ``schema.COLUMNS`` order,
            sorted by ``created_at`` then ``id``.
        enrichment_logs: the rows that existed just before the category migration, with the
            26 ``schema.LEGACY_COLUMNS`` (no ``category``, no ``root_job_id``).
        prisma_migrations: Prisma's ``_prisma_migrations`` rows for ``schema.MIGRATIONS``.
        category_migrated_at: naive UTC apply time of ``schema.CATEGORY_MIGRATION``.
        root_job_migrated_at: naive UTC apply time of ``schema.ROOT_JOB_MIGRATION``.

    Examples:
        >>> data = generate(500, seed=1)
        >>> before = data.llama_logs.filter(pl.col("created_at") < data.category_migrated_at)
        >>> data.enrichment_logs.height == before.height
        True
    """

    llama_logs: pl.DataFrame
    enrichment_logs: pl.DataFrame
    prisma_migrations: pl.DataFrame
    category_migrated_at: datetime
    root_job_migrated_at: datetime


@dataclass(frozen=True)
class _Plan:
    family: _Family
    t: np.ndarray  # start time of each instance (epoch ms), ascending
    picks: tuple[np.ndarray, ...]  # per slot: the instances that log it


def generate(rows: int = 5_000, *, seed: int = 0) -> Synthetic:
    """Generate exactly ``rows`` synthetic ``llama_logs`` rows, its snapshot and migrations.

    The same seed gives the same frames. Below a few hundred rows the table is a random subset
    of one instance per family, so rare shapes may be missing.

    Args:
        rows: number of rows in ``llama_logs`` (at least 1).
        seed: random seed.

    Returns:
        The three frames and the apply times of the category and root-job migrations.

    Examples:
        >>> data = generate(500, seed=1)
        >>> data.llama_logs.shape
        (500, 28)
        >>> data.llama_logs["category"].value_counts(sort=True).item(0, "category")
        'ENRICHED'
    """
    if rows < 1:
        raise ArgumentError(f"rows must be at least 1, got {rows}. Hint: try generate(5_000)")
    rng = np.random.default_rng(seed)
    plans = [_plan(rng, f, max(1, round(rows * f.share / sum(s.p for s in f.slots)))) for f in _FAMILIES]
    planned = sum(len(pick) for plan in plans for pick in plan.picks)
    plans.append(_plan(rng, _FILLER, max(0, rows - planned)))
    logs = _finish(rng, _all_rows(rng, plans, rows), rows)
    legacy = logs.filter(pl.col("created_at") < _CAT).select(c.name for c in schema.LEGACY_COLUMNS)
    return Synthetic(logs, legacy, _migrations(rng), _CAT, _ROOT)


def _plan(rng: np.random.Generator, family: _Family, n: int) -> _Plan:
    knots = np.array([_ms(t) for t, _ in _DENSITY], np.float64)
    cdf = np.concatenate([[0], np.cumsum(np.diff(knots) * [r for _, r in _DENSITY[:-1]])])
    lo, hi = np.interp([_ms(t) for t in family.window], knots, cdf)
    t = np.sort(np.interp(rng.uniform(lo, hi, n), cdf, knots).astype(np.int64))
    picks = []
    for slot in family.slots:
        pick = np.arange(n) if slot.p >= 1 else np.sort(rng.choice(n, round(n * slot.p), replace=False))
        picks.append(pick[t[pick] >= _ms(slot.since)] if slot.since else pick)
    return _Plan(family, t, tuple(picks))


def _base(var: str | None) -> str:
    return (var or "").rstrip("0123456789")


def _all_rows(rng: np.random.Generator, plans: list[_Plan], rows: int) -> list[pl.DataFrame]:
    ents, pools = _entities(rng, plans, rows)
    cuids = _random(rng, 12 + rows // 20_000, 25)
    cuids[:, 0] = ord("c")
    users = _text(cuids)
    frames = []
    for plan, plan_ents, base in zip(plans, ents, _bullmq_bases(plans), strict=True):
        n = len(plan.t)
        numbers = {"t": plan.t, "b": base, "r": rng.random(n), **{f"ix_{v}": i for v, i in plan_ents.items()}}
        family = pl.DataFrame(numbers).with_columns(rand=_text(_random(rng, n, 9)))
        for slot, pick in zip(plan.family.slots, plan.picks, strict=True):
            if len(pick):
                frames.append(_slot_rows(rng, plan.family, slot, family[pick], pools, users))
    return frames


def _entities(rng: np.random.Generator, plans: list[_Plan], rows: int) -> tuple[list[dict], dict]:
    """Pool positions per family entity variable; entities that families create are born in order."""
    found: list[dict[str, np.ndarray]] = [{} for _ in plans]
    pools = {}
    for kind, per in (("album", 30), ("artist", 45), ("track", 15)):
        new = [
            (i, v)
            for i, p in enumerate(plans)
            for v, how in p.family.ents.items()
            if (_base(v), how) == (kind, "new")
        ]
        born_at = np.concatenate([np.empty(0, np.int64)] + [plans[i].t for i, _ in new])
        order = np.argsort(born_at, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        pre = 5 + rows // per  # catalogue that existed before logging started
        births = np.concatenate([np.full(pre, np.iinfo(np.int64).min), born_at[order]])
        ends = np.cumsum([0] + [len(plans[i].t) for i, _ in new])
        for (i, v), a, b in zip(new, ends[:-1], ends[1:], strict=True):
            found[i][v] = pre + rank[a:b]
        for i, p in enumerate(plans):
            for v in (v for v, how in p.family.ents.items() if (_base(v), how) == (kind, "old")):
                born = np.searchsorted(births, p.t, side="right")  # pick among entities born by then
                found[i][v] = (rng.random(len(p.t)) * born).astype(np.int64)
        pools[kind] = _uuids(rng, len(births))
    return found, pools


def _bullmq_bases(plans: list[_Plan]) -> list[np.ndarray]:
    """Per instance the BullMQ id before its first job; numbering restarts at each Redis reset."""
    t = np.concatenate([p.t for p in plans])
    count = np.concatenate([np.full(len(p.t), list(p.family.jobs.values()).count("#")) for p in plans])
    epoch = np.searchsorted([_ms(r) for r in REDIS_RESETS], t, side="right")
    order = np.lexsort((t, epoch))
    before = np.cumsum(count[order]) - count[order]
    base = np.empty_like(t)
    base[order] = before - before[np.searchsorted(epoch[order], epoch[order])]
    return np.split(base, np.cumsum([len(p.t) for p in plans])[:-1])


def _family_ids(family: _Family, pools: dict[str, pl.Series]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Entity ids, then job ids, of a family's instances, from their numbers."""
    ids = [pl.lit(pools[_base(v)]).gather(pl.col(f"ix_{v}")).alias(f"id_{v}") for v in family.ents]
    jobs, bull = [], 0
    for var, fmt in family.jobs.items():
        if fmt == "#":
            bull += 1
            expr = _int(pl.col("b") + bull)
        elif fmt == "@mb":  # MusicBrainz sync parents, never logged: the batch id or a request id
            expr = (
                pl.when(pl.col("r") < 0.6).then(pl.lit("mb-sync-batch")).otherwise(_format("mb_{ms}_{rand}"))
            )
        else:
            expr = _format(fmt)
        jobs.append(expr.alias(f"j_{var}"))
    return [*ids, _int(pl.col("t")).alias("ms")], jobs


def _format(fmt: str) -> pl.Expr:
    parts = re.split(r"\{(\w+)\}", fmt)
    return _cat(
        *(p if i % 2 == 0 else pl.col(p if p in ("ms", "rand") else f"id_{p}") for i, p in enumerate(parts))
    )


def _options(text: str) -> pl.Series:
    """``"a;b | c"`` as a list series ``[[], ["a", "b"], ["c"]]`` (index 0: the empty list)."""
    options = [o.strip().split(";") for o in text.split("|")] if text else []
    return pl.Series([[], *options], dtype=pl.List(pl.String))


def _slot_rows(
    rng: np.random.Generator, family: _Family, slot: _Slot, f: pl.DataFrame, pools: dict, users: pl.Series
) -> pl.DataFrame:
    """The rows one slot logs for the family instances in ``f``, with the columns of their time."""
    kind, n, ent = _KINDS[slot.kind], f.height, slot.ent or ""
    names, weights = zip(*kind.outcomes, strict=True)
    drawn = np.searchsorted(np.cumsum(weights), rng.random(n) * sum(weights), side="right")
    outcome = np.full(n, names.index(slot.status)) if slot.status else drawn
    sources, fields = _options(kind.sources), _options(kind.fields)
    no_source = (np.array(names) == "SKIPPED")[outcome] | (len(sources) == 1)
    source = np.where(no_source, 0, rng.integers(1, max(2, len(sources)), n))
    written = np.isin(names, ["SUCCESS", "PARTIAL_SUCCESS"])[outcome] & (len(fields) > 1)
    field = np.where(written, rng.integers(1, max(2, len(fields)), n), 0)
    duration = np.exp(rng.normal(np.log(max(kind.dur, 1)), 0.8, n)).astype(np.int32) + 1
    at = int(slot.at * 1000)

    def entity(var: str | None) -> pl.Expr:
        return pl.col(f"id_{var}") if var in family.ents else _NO_STRING

    def name(kind: str, var: str) -> pl.Expr:
        return _pick(_NAMES[kind], pl.col(f"ix_{var}"), as_json=True) if var in family.ents else _NO_STRING

    own = {b: ent if _base(ent) == b else b for b in _NAMES}  # the slot's entity, else the family's
    etype = _base(ent).upper() or None
    typed = {f"{b}_id": _NO_STRING for b in ("artist", "album", "track")}
    if slot.extra:
        typed[f"{_base(slot.extra)}_id"] = entity(slot.extra)
    if etype and kind.ids in ("both", "typed"):
        typed[f"{_base(ent)}_id"] = entity(ent)
    ids, jobs = _family_ids(family, pools)
    failed, codes = _STATUS == "FAILED", tuple(kind.codes.split())
    quality = _pick(("LOW", "LOW", "MEDIUM", "HIGH"), _K)
    better = pl.when(_STATUS.is_in(["SUCCESS", "PARTIAL_SUCCESS"])).then(_pick(("MEDIUM", "HIGH"), _K // 7))
    logs = (
        f.lazy()
        .with_columns(ids)
        .with_columns(jobs)
        .with_columns(
            pl.Series("status", names, dtype=pl.String).gather(outcome),
            _t=pl.Series(f["t"].to_numpy() + at + rng.integers(0, abs(at) // 2 + 1, n)),
            _k=pl.Series(rng.integers(0, 1 << 30, n)),
            operation=pl.lit(kind.op or kind.name),
            triggered_by=pl.lit(family.source if kind.trig == "$" else kind.trig, pl.String),
            _album=entity(own["album"]),
            _at=name("album", own["album"]),
            _an=name("artist", own["artist"]),
            _tt=name("track", own["track"]),
            _id=entity(ent),
            _mb=_mbid(entity(ent)),
            _name=name(_base(ent), ent) if ent else _NO_STRING,
        )
        .select(
            entity_type=pl.lit(etype, pl.String),
            entity_id=entity(ent) if kind.ids in ("both", "entity") else _NO_STRING,
            **typed,
            operation="operation",
            sources=pl.lit(sources).gather(pl.Series(source)),
            status=_STATUS,
            fields_enriched=pl.lit(fields).gather(pl.Series(field)),
            data_quality_before=quality if kind.dq else _NO_STRING,
            data_quality_after=better.otherwise(quality) if kind.dq else _NO_STRING,
            error_message=pl.when(failed).then(_pick(_ERRORS, _K // 3)),
            error_code=pl.when(failed).then(_pick(codes, _K // 5)) if codes else _NO_STRING,
            retry_count=pl.lit(0, pl.Int32),
            duration_ms=pl.Series(np.where(rng.random(n) < 0.04, 0, duration) * bool(kind.dur)),
            api_call_count=pl.Series(rng.integers(0, kind.api + 1, n, dtype=np.int32)),
            metadata=_metadata(kind.meta),
            job_id=pl.col(f"j_{slot.job}") if slot.job else _NO_STRING,
            triggered_by="triggered_by",
            created_at=pl.from_epoch("_t", time_unit="ms").cast(pl.Datetime("us")),
            user_id=users.gather(rng.integers(0, len(users), n)) if kind.user else _NO_STRING,
            reason=_reason(kind),
            preview_data=_preview() if kind.op == "PREVIEW_ENRICHMENT" else _NO_STRING,
            parent_job_id=pl.col(f"j_{slot.parent}") if slot.parent else _NO_STRING,
            _root=pl.col(f"j_{slot.root}") if slot.root else _NO_STRING,
            _cat=pl.when(failed).then(pl.lit(kind.failed_cat)).otherwise(pl.lit(kind.cat)),
        )
    )
    return _as_of_creation(logs, logger=not kind.direct).collect()


def _as_of_creation(logs: pl.LazyFrame, *, logger: bool) -> pl.LazyFrame:
    """Columns as the row was written: defaults before a column existed, backfills, logger rules."""
    at, parent = pl.col("created_at"), pl.col("parent_job_id")
    # Before the rename the logger wrote SQL NULL for no metadata; LlamaLogger writes JSON null.
    json_null = pl.when(at >= _CAT).then(pl.col("metadata").fill_null("null")).otherwise("metadata")
    logs = logs.with_columns(
        duration_ms=pl.when(pl.col("duration_ms") > 0).then("duration_ms"),
        user_id=pl.when(at >= _USER).then("user_id"),
        reason=pl.when(at >= _REASON).then("reason"),
        preview_data=pl.when(at >= _PREVIEWS).then("preview_data"),
        parent_job_id=pl.when(at >= _PARENT).then(parent),
        metadata=json_null if logger else pl.col("metadata"),
        category=pl.when(at < _CAT)
        .then(pl.sql_expr(rules.APPLIED_BACKFILL.case()))
        .when((pl.col("_cat") == "USER_ACTION") & (at < _USER_ACTION))
        .then(pl.lit("CREATED"))
        .otherwise("_cat"),
    ).with_columns(is_root_job=(at >= _ISROOT) & parent.is_null() & logger)
    own_root = pl.when(parent.is_null()).then("job_id")  # backfill step 1; the walk comes later
    logged_root = pl.coalesce("_root", pl.when("is_root_job").then("job_id")) if logger else _NO_STRING
    logs = logs.with_columns(root_job_id=pl.when(at < _ROOT).then(own_root).otherwise(logged_root))
    return logs.select(schema.COLUMN_NAMES[1:])  # all but id


def _mbid(uuid: pl.Expr) -> pl.Expr:
    """A stable second UUID for an entity (its MusicBrainz id): its id, last group reversed."""
    return uuid.str.slice(0, 24) + uuid.str.slice(24).str.reverse()


def _metadata(meta: str | tuple[str, ...]) -> pl.Expr:
    if isinstance(meta, tuple):
        return _pick(meta, _K)
    ok, *others = meta.split("|")
    expr = _object(ok.split())
    for other in others:
        status, keys = other.split(":")
        expr = pl.when(status.strip() == _STATUS).then(_object(keys.split())).otherwise(expr)
    return expr


def _object(keys: list[str]) -> pl.Expr:
    if not keys:
        return _NO_STRING
    parts: list[pl.Expr | str] = []
    for i, key in enumerate(keys):
        parts += [("," if i else "{") + _dumps(key) + ":", _FRAGMENTS[key]]
    return _cat(*parts, "}")


def _reason(kind: _Kind) -> pl.Expr:
    if kind.op == "PREVIEW_ENRICHMENT":
        found = _cat("Found match with ", _int(_K % 45 + 55), "% confidence…")
        return (
            pl.when(_STATUS == "FAILED")
            .then(_cat("Preview failed: ", _pick(_ERRORS, _K // 3)))
            .otherwise(found)
        )
    return _pick(kind.reason, _K // 11) if kind.reason else _NO_STRING


def _preview() -> pl.Expr:
    """``preview_data`` of a successful preview: match score, matched entity, fields, raw data."""
    score = _K % 45 + 55
    raw = _cat('{"id":', _q("_mb"), ',"title":', pl.col("_name"), ',"score":', _int(score), "}")
    fields = _cat(
        '[{"field":"musicbrainzId","currentValue":null,"newValue":', _q("_mb"), ',"source":"MUSICBRAINZ"}'
    )
    return pl.when(_STATUS == "PREVIEW").then(
        _cat('{"matchScore":', _hundredths(score), ',"matchedEntity":', pl.col("_name").str.strip_suffix('"'))
        + _cat(' (MusicBrainz ID match)","fieldsToUpdate":', fields, _pick(_PREVIEW_TAILS, _K // 13), "]")
        + _cat(',"rawData":', pl.when(_K % 4 == 0).then(pl.lit("null")).otherwise(raw), "}")
    )


def _root_backfill(old: pl.DataFrame) -> pl.DataFrame:
    """``root_job_id`` of rows with a parent as migration 20260210103953's recursive CTE set it.

    Each step joins the current parent id to every row with that ``job_id`` (duplicates fan out)
    and makes that row's ``job_id`` the candidate root, up to 10 tuples per row. The deepest tuple
    wins; among equally deep ones (arbitrary in Postgres) the smallest root.
    """
    links = old.filter(pl.col("job_id").is_not_null()).select("job_id", "parent_job_id").unique()
    start = old.filter(pl.col("parent_job_id").is_not_null())
    front = start.select("_row", cur="parent_job_id", root="parent_job_id", depth=pl.lit(1))
    found = [front]
    for depth in range(2, 11):
        front = front.join(links, left_on="cur", right_on="job_id").select(
            "_row", cur="parent_job_id", root="cur", depth=pl.lit(depth)
        )
        found.append(front.unique())
    tuples = pl.concat(found)
    deepest = tuples.filter(pl.col("depth") == pl.col("depth").max().over("_row"))
    return deepest.group_by("_row").agg(pl.col("root").min())


def _finish(rng: np.random.Generator, frames: list[pl.DataFrame], rows: int) -> pl.DataFrame:
    """One frame of ``rows`` rows sorted by created_at and id, with ids and backfilled roots."""
    logs = pl.concat(frames)
    frames.clear()
    if logs.height > rows:
        logs = logs.sample(rows, seed=int(rng.integers(1 << 31)))
    old = logs.select("created_at", "job_id", "parent_job_id", _row=pl.int_range(pl.len(), dtype=pl.UInt32))
    walked = _root_backfill(old.filter(pl.col("created_at") < _ROOT))
    order = logs.select(pl.arg_sort_by("created_at")).to_series()
    source = dict(zip(logs.columns, logs.get_columns(), strict=True))
    source["root_job_id"] = source["root_job_id"].rechunk().scatter(walked["_row"], walked["root"])
    del logs, old
    # Gather block by block (polars writes Parquet far faster from chunks that own their
    # buffers), one column at a time so that one copy of the table is alive.
    blocks = [order.slice(i, _BLOCK) for i in range(0, len(order), _BLOCK)]
    columns = {}
    for name in schema.COLUMN_NAMES[1:]:
        column = source.pop(name).rechunk()
        columns[name] = pl.concat([column.gather(block) for block in blocks], rechunk=False)
    # Random ids in row order, except that rows tied on created_at get theirs in sorted order.
    at = columns["created_at"].to_physical().to_numpy()
    same = at[1:] == at[:-1]
    tied = np.flatnonzero(np.concatenate([[False], same]) | np.concatenate([same, [False]]))
    ids = _uuids(rng, len(order))
    ids = ids.scatter(tied, pl.DataFrame({"at": at[tied], "id": ids.gather(tied)}).sort("at", "id")["id"])
    return pl.DataFrame(
        {"id": pl.concat([ids.slice(i, _BLOCK) for i in range(0, len(ids), _BLOCK)]), **columns}
    )


def _migrations(rng: np.random.Generator) -> pl.DataFrame:
    """Prisma's ``_prisma_migrations`` rows; the category migration's backfill takes a second."""
    started = np.array([_ms(t) for t in _APPLIED])
    took = rng.integers(15, 400, len(started))
    took[schema.MIGRATIONS.index(schema.CATEGORY_MIGRATION)] += 1200
    stamp, nothing = pl.Datetime("us"), [None] * len(started)
    return pl.DataFrame(
        {
            "id": _uuids(rng, len(started)),
            "checksum": [hashlib.sha256(f"-- {m}\n".encode()).hexdigest() for m in schema.MIGRATIONS],
            "finished_at": pl.Series(started + took).cast(pl.Datetime("ms")).cast(stamp),
            "migration_name": list(schema.MIGRATIONS),
            "logs": pl.Series(nothing, dtype=pl.String),
            "rolled_back_at": pl.Series(nothing, dtype=stamp),
            "started_at": pl.Series(started).cast(pl.Datetime("ms")).cast(stamp),
            "applied_steps_count": pl.Series([1] * len(started), dtype=pl.Int32),
        }
    )


_HEX = b"0123456789abcdef"
_HEX_PAIRS = np.array([_HEX[i >> 4] | _HEX[i & 15] << 8 for i in range(256)], np.uint16)


def _text(chars: np.ndarray) -> pl.Series:
    """The rows of an (n, width) uint8 character matrix as a String series."""
    n, width = chars.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int64)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars))]
    return pl.Series(pa.Array.from_buffers(pa.large_string(), n, buffers))


def _random(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", np.uint8)[rng.integers(0, 36, (n, width))]


def _uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` random version-4 UUIDs as lowercase hyphenated text."""
    raw = np.frombuffer(rng.bytes(16 * n), np.uint8).reshape(n, 16)
    hexed = _HEX_PAIRS[raw].view(np.uint8)
    out = np.full((n, 36), ord("-"), np.uint8)
    for dst, src, end in ((0, 0, 8), (9, 8, 12), (14, 12, 16), (19, 16, 20), (24, 20, 32)):
        out[:, dst : dst + end - src] = hexed[:, src:end]
    out[:, 14] = ord("4")
    out[:, 19] = np.frombuffer(b"89ab", np.uint8)[raw[:, 8] & 3]
    return _text(out)
