"""The data the generator follows: every kind of row, and the families of rows that happen
together (a queue enrichment, an album added by hand, a sync...), with their shares and times."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ._vocabulary import (
    _CAT,
    _CORRECTIONS_ALBUM,
    _CORRECTIONS_ARTIST,
    _END,
    _ENRICH_REASONS,
    _GAME_REASONS,
    _PARENT,
    _PREVIEWS,
    _ROOT,
    _START,
)


@dataclass(frozen=True)
class Kind:
    """How one kind of row is written.

    ``sources`` and ``fields`` are the options a row picks one of (a tuple of values each; a
    skipped row writes none). ``meta`` names the metadata keys a row writes, ``meta_when`` other
    keys for the statuses that write others; ``documents`` are whole metadata documents, one
    picked per row. ``trig`` is ``triggered_by``; :data:`FAMILY_SOURCE` takes the family's.
    """

    name: str
    cat: str  # category the application gives a row that did not fail
    outcomes: tuple[tuple[str, int], ...] = (("SUCCESS", 1),)  # statuses and their weights
    sources: tuple[tuple[str, ...], ...] = ()
    fields: tuple[tuple[str, ...], ...] = ()
    codes: tuple[str, ...] = ()  # error codes of failed rows
    trig: str | None = None
    meta: tuple[str, ...] = ()
    meta_when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    documents: tuple[str, ...] = ()
    direct: bool = False  # prisma.create, not the logger: not a root, SQL NULL metadata
    user: bool = False
    reason: tuple[str, ...] = ()
    api: int = 0
    dur: int = 0  # typical duration_ms; 0: never set
    dq: bool = False
    ids: str = "both"  # entity_id and typed id: both | typed | entity | none
    op: str | None = None
    failed_cat: str = "FAILED"


FAMILY_SOURCE = "<the family's job source>"  # a kind's triggered_by: the family's ``source``
BULLMQ_ID = "<the next BullMQ id>"  # a family's job id: numbered per Redis epoch
MB_SYNC_PARENT = "<mb-sync-batch or a MusicBrainz request id>"  # never logged


# fmt: off
ENRICH = (("SUCCESS", 72), ("PARTIAL_SUCCESS", 8), ("NO_DATA_AVAILABLE", 6), ("SKIPPED", 9),
           ("FAILED", 5))
CACHE = (("SUCCESS", 80), ("SKIPPED", 15), ("FAILED", 5))
DISCOGS = (("SUCCESS", 80), ("NO_DATA_AVAILABLE", 15), ("FAILED", 5))
PREVIEW = (("PREVIEW", 88), ("FAILED", 12))
# fmt: on
KINDS = {
    k.name: k
    for k in (
        Kind(
            "enrichment:album",
            "ENRICHED",
            outcomes=ENRICH,
            sources=(("MUSICBRAINZ",), ("MUSICBRAINZ", "LASTFM"), ("MUSICBRAINZ", "DISCOGS")),
            fields=(("musicbrainzId", "releaseDate", "genres"), ("releaseDate", "releaseType"), ("genres",)),
            codes=("ALBUM_NOT_FOUND",),
            trig=FAMILY_SOURCE,
            meta=("albumTitle", "artistName", "hadMusicBrainzData", "fieldChanges"),
            meta_when={
                "SKIPPED": ("albumTitle", "artistName", "confidence"),
                "FAILED": ("albumTitle", "artistName", "errorStack"),
            },
            reason=_ENRICH_REASONS,
            api=4,
            dur=1800,
            dq=True,
        ),
        Kind(
            "enrichment:artist",
            "ENRICHED",
            outcomes=ENRICH,
            sources=(("MUSICBRAINZ",), ("MUSICBRAINZ", "LASTFM")),
            fields=(("musicbrainzId", "countryCode"), ("genres", "imageUrl")),
            codes=("ARTIST_NOT_FOUND",),
            trig=FAMILY_SOURCE,
            meta=("artistName", "hadMusicBrainzData", "fieldChanges"),
            meta_when={"SKIPPED": ("artistName", "confidence"), "FAILED": ("artistName", "errorStack")},
            reason=_ENRICH_REASONS,
            api=3,
            dur=1500,
            dq=True,
        ),
        Kind(
            "enrichment:track",
            "ENRICHED",
            outcomes=ENRICH,
            sources=(("MUSICBRAINZ",),),
            fields=(("musicbrainzId", "isrc"), ("durationMs",)),
            trig=FAMILY_SOURCE,
            meta=("trackTitle", "artistName", "hadMusicBrainzData"),
            meta_when={"FAILED": ("trackTitle", "artistName", "errorStack")},
            api=2,
            dur=900,
        ),
        Kind(
            "cache:album-cover-art",
            "ENRICHED",
            outcomes=CACHE,
            sources=(("CLOUDFLARE",),),
            fields=(("cloudflareImageId",),),
            codes=("IMAGE_FETCH_FAILED", "CACHE_ERROR"),
            trig="system",
            meta=("albumTitle", "beforeUrl", "afterUrl", "cloudflareImageId", "cacheLocation"),
            meta_when={
                "SKIPPED": ("albumTitle", "existingCloudflareImageId"),
                "FAILED": ("albumTitle", "sourceUrl"),
            },
            api=2,
            dur=900,
        ),
        Kind(
            "cache:artist-image",
            "ENRICHED",
            outcomes=CACHE,
            sources=(("CLOUDFLARE",),),
            fields=(("cloudflareImageId",),),
            codes=("IMAGE_FETCH_FAILED", "CACHE_ERROR"),
            trig="system",
            meta=("artistName", "beforeUrl", "afterUrl", "cloudflareImageId", "cacheLocation"),
            meta_when={
                "SKIPPED": ("artistName", "existingCloudflareImageId"),
                "FAILED": ("artistName", "sourceUrl"),
            },
            api=2,
            dur=900,
        ),
        Kind(
            "discogs:search-artist",
            "ENRICHED",
            outcomes=DISCOGS,
            sources=(("DISCOGS",),),
            fields=(("discogsId",),),
            codes=("DISCOGS_API_ERROR",),
            trig="system",
            meta=("searchQuery", "resultsCount", "discogsId", "discogsTitle", "matchConfidence"),
            meta_when={"NO_DATA_AVAILABLE": ("searchQuery", "resultsCount"), "FAILED": ("searchQuery",)},
            api=1,
            dur=700,
        ),
        Kind(
            "discogs:get-artist",
            "ENRICHED",
            outcomes=DISCOGS,
            sources=(("DISCOGS",),),
            fields=(("imageUrl",),),
            codes=("DISCOGS_FETCH_ERROR",),
            trig="system",
            meta=("discogsId", "imageUrl", "imageFound"),
            meta_when={"NO_DATA_AVAILABLE": ("discogsId", "imageFound"), "FAILED": ("discogsId",)},
            api=1,
            dur=600,
        ),
        Kind(
            "SPOTIFY_TRACK_FALLBACK",
            "ENRICHED",
            outcomes=(("SUCCESS", 65), ("FAILED", 35)),
            sources=(("SPOTIFY",),),
            fields=(("tracks",),),
            trig=FAMILY_SOURCE,
            meta=("albumTitle", "artistName", "tracksCreated", "fallbackReason", "spotifyId"),
            api=3,
            dur=2500,
        ),
        Kind(
            "similar-artists-sync",
            "ENRICHED",
            outcomes=(("SUCCESS", 9), ("FAILED", 1)),
            sources=(("LASTFM",), ("LISTENBRAINZ",)),
            fields=(("similarArtists",),),
            trig=FAMILY_SOURCE,
            meta=("artistName", "similarArtistsSynced"),
            meta_when={"FAILED": ("artistName",)},
            api=2,
            dur=1500,
        ),
        Kind(
            "track:created:enrichment",
            "CREATED",
            sources=(("MUSICBRAINZ",),),
            fields=(("title", "trackNumber"),),
            meta=("albumId", "trackNumber", "discNumber", "mbRecordingId"),
            dur=30,
        ),
        Kind(
            "track:failed:enrichment",
            "FAILED",
            outcomes=(("FAILED", 1),),
            sources=(("MUSICBRAINZ",),),
            meta=("albumId", "attemptedTitle", "attemptedTrackNumber"),
            dur=30,
            ids="none",
        ),
        Kind(
            "track:created:spotify-sync",
            "CREATED",
            sources=(("SPOTIFY",),),
            fields=(("title", "spotifyId"),),
            meta=("albumId", "trackNumber", "spotifyId"),
            dur=20,
        ),
        Kind(
            "artist:created:album-child",
            "CREATED",
            sources=(("MUSICBRAINZ",),),
            fields=(("name", "musicbrainzId"), ("name",)),
            dur=25,
        ),
        Kind(
            "artist:created:track-child",
            "CREATED",
            sources=(("MUSICBRAINZ",),),
            fields=(("name", "musicbrainzId"), ("name",)),
            dur=25,
        ),
        Kind(
            "artist:created",
            "CREATED",
            sources=(("MUSICBRAINZ",),),
            fields=(("name", "musicbrainzId"), ("name",)),
            user=True,
            dur=25,
        ),
        Kind(
            "album:created",
            "CREATED",
            sources=(("MUSICBRAINZ",), ("USER",)),
            fields=(("title", "releaseDate"),),
            user=True,
            dur=60,
        ),
        Kind(
            "album:created:spotify-sync",
            "CREATED",
            sources=(("SPOTIFY",),),
            fields=(("title", "spotifyId"),),
            trig="spotify_sync",
            meta=("syncSource", "syncTimestamp", "syncJobId", "query", "country"),
            dur=80,
        ),
        Kind(
            "album:created:deezer-import",
            "CREATED",
            sources=(("DEEZER",),),
            fields=(("title", "deezerId"),),
            trig="deezer_import",
            meta=("syncSource", "syncTimestamp", "syncJobId", "batchId", "playlistName", "deezerAlbumId"),
            dur=80,
        ),
        Kind(
            "album:created:musicbrainz-sync",
            "CREATED",
            sources=(("MUSICBRAINZ",),),
            fields=(("title", "musicbrainzId"),),
            dur=70,
        ),
        Kind(
            "artist:linked:album-association",
            "LINKED",
            sources=(("SYSTEM",),),
            meta=("albumId", "existingEntity"),
            dur=15,
        ),
        Kind(
            "collection:album-added",
            "USER_ACTION",
            sources=(("USER",),),
            meta=("collectionId", "collectionAlbumId", "albumCreated", "artistsCreated"),
            user=True,
            dur=120,
        ),
        Kind(
            "recommendation:created",
            "USER_ACTION",
            sources=(("USER",),),
            meta=("recommendationId", "basisAlbumId", "recommendedAlbumId", "score", "artistsCreated"),
            user=True,
            dur=150,
        ),
        Kind(
            "game-pool:status-update",
            "USER_ACTION",
            sources=(("ADMIN",),),
            direct=True,
            user=True,
            reason=_GAME_REASONS,
        ),
        Kind(
            "game-pool:add-to-pool",
            "USER_ACTION",
            sources=(("ADMIN",),),
            direct=True,
            user=True,
            reason=_GAME_REASONS,
        ),
        Kind(
            "game-pool:import-for-review",
            "USER_ACTION",
            sources=(("ADMIN",),),
            direct=True,
            user=True,
            reason=_GAME_REASONS,
        ),
        Kind(
            "preview_album",
            "ENRICHED",
            outcomes=PREVIEW,
            sources=(("MUSICBRAINZ",),),
            trig="admin_preview",
            meta=("albumTitle", "artistName"),
            direct=True,
            user=True,
            api=2,
            dur=2500,
            op="PREVIEW_ENRICHMENT",
            failed_cat="ENRICHED",
        ),
        Kind(
            "preview_artist",
            "ENRICHED",
            outcomes=PREVIEW,
            sources=(("MUSICBRAINZ",),),
            trig="admin_preview",
            meta=("artistName",),
            direct=True,
            user=True,
            api=2,
            dur=2500,
            op="PREVIEW_ENRICHMENT",
            failed_cat="ENRICHED",
        ),
        Kind(
            "correction_album",
            "CORRECTED",
            sources=(("musicbrainz",), ("discogs",)),
            fields=(("title", "releaseDate"), ("barcode",)),
            trig="admin_ui",
            documents=_CORRECTIONS_ALBUM,
            direct=True,
            user=True,
            api=1,
            dur=300,
            ids="typed",
            op="admin_correction",
        ),
        Kind(
            "correction_artist",
            "CORRECTED",
            sources=(("musicbrainz",), ("discogs",)),
            fields=(("name",),),
            trig="admin_ui",
            documents=_CORRECTIONS_ARTIST,
            direct=True,
            user=True,
            api=1,
            dur=300,
            ids="typed",
            op="admin_correction",
        ),
        Kind(
            "manual_correction",
            "CORRECTED",
            sources=(("manual",),),
            fields=(("title", "release date"), ("label, catalogNumber",), ('notes "draft"', "genres")),
            trig="admin_manual_edit",
            direct=True,
            user=True,
            ids="entity",
        ),
        Kind(
            "MUSICBRAINZ_FETCH",
            "ENRICHED",
            outcomes=(("SUCCESS", 85), ("FAILED", 15)),
            sources=(("MUSICBRAINZ",),),
            fields=(("musicbrainzId", "releaseDate"),),
            direct=True,
            api=1,
            dur=900,
        ),
        Kind("MANUAL_ADD", "CREATED", sources=(("USER",),), fields=(("title",),), direct=True, user=True),
        Kind("MANUAL_CREATE", "CREATED", sources=(("ADMIN",),), fields=(("name",),), direct=True, user=True),
        Kind(
            "MANUAL_DATA_QUALITY_UPDATE",
            "CORRECTED",
            sources=(("ADMIN",),),
            fields=(("dataQuality",),),
            direct=True,
            user=True,
            dq=True,
        ),
    )
}


@dataclass(frozen=True)
class Slot:
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
class Family:
    name: str
    share: float  # share of all rows
    window: tuple[datetime, datetime]
    ents: dict[str, str]  # entity variable -> "new" (created by the family) or "old"
    jobs: dict[str, str]  # job variable -> BULLMQ_ID, MB_SYNC_PARENT or a "{variable}" format
    slots: tuple[Slot, ...]
    source: str | None = None  # the jobs' source, written to triggered_by by processors


_S = Slot
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
_JOBS = {**dict.fromkeys(("ea", "ca", "er", "ds", "dg", "ci", "et"), BULLMQ_ID),
         "ss": "similar-sync-{artist}-{ms}", "sf": "spotify-album-{album}",
         "t1": "track-{track}", "t2": "track-{track2}"}
_OLD = {"album": "old", "artist": "old"}
_QUEUE = _OLD | {"track": "new", "track2": "new", "track3": "old", "artist2": "new"}
_NEW = {"album": "new", "track": "new"}
_SYNC = {"batch": BULLMQ_ID, "root": "spotify-sync-album-{ms}-{rand}"}
_BEFORE_RENAME = (_START, _CAT - timedelta(hours=1))
FAMILIES = (
    Family("queue", 0.40, (_START, _END), _QUEUE, {"root": BULLMQ_ID} | _JOBS, _BODY, "manual"),
    Family("collection", 0.12, (_PARENT, _END), _QUEUE,
            {"root": "collection-add-{ms}-{rand}"} | _JOBS,
            (_S("collection:album-added", "album", job="root"), *_BODY), "collection_add"),
    Family("recommend", 0.06, (_PARENT, _END), _QUEUE,
            {"root": "recommendation-{ms}-{rand}"} | _JOBS,
            (_S("recommendation:created", "album", job="root"), *_BODY), "recommendation_create"),
    Family("add_album", 0.07, (_PARENT, datetime(2026, 2, 20)),
            _QUEUE | {"album": "new", "artist": "new"},
            {"root": "album-{album}"} | _JOBS,
            # the artist is logged a few ms before its parent album
            (_S("artist:created:album-child", "artist", -0.003, parent="root", root="root"),
             _S("album:created", "album", job="root", extra="artist"), *_BODY), "manual_add"),
    Family("add_artist", 0.04, (_PARENT, _END), {"artist": "new"},
            {"root": "artist-created-{artist}", "er": BULLMQ_ID, "ds": BULLMQ_ID, "ci": BULLMQ_ID},
            (_S("artist:created", "artist", job="root"),
             _S("enrichment:artist", "artist", 2, 1, "er", "root"),
             _S("discogs:search-artist", "artist", 4, 0.5, "ds", "root"),
             _S("cache:artist-image", "artist", 6, 0.6, "ci", "root")), "manual_add"),
    Family("spotify_v14", 0.015, (_PARENT, _ROOT), _NEW, _SYNC,  # children of the sync batch
            (_S("album:created:spotify-sync", "album", job="root", parent="batch"),
             _S("track:created:spotify-sync", "track", 0.2, 0.8, parent="root"))),
    Family("spotify", 0.04, (_ROOT, _END), _NEW, _SYNC,  # roots whose root id is the batch
            (_S("album:created:spotify-sync", "album", job="root", root="batch"),
             _S("track:created:spotify-sync", "track", 0.2, 0.8, parent="root", root="batch"))),
    Family("deezer", 0.02, (_ROOT, _END), _NEW,
            {"batch": BULLMQ_ID, "root": "deezer-import-album-{ms}-{rand}"},
            (_S("album:created:deezer-import", "album", job="root", root="batch"),)),
    Family("mb_sync", 0.02, (_PARENT, _END), _NEW, {"mb": MB_SYNC_PARENT},
            (_S("album:created:musicbrainz-sync", "album", parent="mb", root="mb"),)),
    Family("preview", 0.03, (_PREVIEWS, _END), _OLD, {},
            (_S("preview_album", "album", p=0.7), _S("preview_artist", "artist", p=0.3))),
    Family("correction", 0.01, (_START, _END), _OLD, {},
            (_S("correction_album", "album", p=0.7), _S("correction_artist", "artist", p=0.3))),
    # manual_correction inserts fail after the rename (no category)
    Family("manual_correction", 0.004, _BEFORE_RENAME, _OLD, {},
            (_S("manual_correction", "album", p=0.6), _S("manual_correction", "artist", p=0.4))),
    Family("legacy", 0.03, _BEFORE_RENAME, _OLD, {"sf": "spotify-album-{album}"},
            (_S("MUSICBRAINZ_FETCH", "album", p=0.35), _S("MANUAL_ADD", "album", p=0.2),
             _S("MANUAL_CREATE", "artist", p=0.1),
             _S("MANUAL_DATA_QUALITY_UPDATE", "album", p=0.15),
             _S("SPOTIFY_TRACK_FALLBACK", "album", p=0.2, job="sf")), "manual"),
    Family("game_pool", 0.02, (_PARENT, _END), _OLD, {},
            (_S("game-pool:status-update", "album", p=0.6),
             _S("game-pool:add-to-pool", "album", p=0.3),
             _S("game-pool:import-for-review", "album", p=0.1))),
    Family("linked", 0.003, (_ROOT, datetime(2026, 2, 15, 18)), _OLD, {"root": "album-{album}"},
            (_S("artist:linked:album-association", "artist", parent="root", root="root",
                extra="album"),)),
)
# Single enrichment root jobs make up the remaining rows.
FILLER = Family("single", 0, (_START, _END), _OLD, {"root": BULLMQ_ID},
                  (_S("enrichment:album", "album", job="root"),), "manual")
# fmt: on
