"""What the generated rows say: dates of the generated history, names, errors, reasons, and the
metadata and preview documents, written as polars expressions over a row's helper columns."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from .. import schema

if TYPE_CHECKING:
    from ._families import Kind

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


def _mbid(uuid: pl.Expr) -> pl.Expr:
    """A stable second UUID for an entity (its MusicBrainz id): its id, last group reversed."""
    return uuid.str.slice(0, 24) + uuid.str.slice(24).str.reverse()


def _metadata(kind: Kind) -> pl.Expr:
    """A row's ``metadata``: one of the kind's documents, or an object of the keys it writes."""
    if kind.documents:
        return _pick(kind.documents, _K)
    expr = _object(kind.meta)
    for status, keys in kind.meta_when.items():
        expr = pl.when(status == _STATUS).then(_object(keys)).otherwise(expr)
    return expr


def _object(keys: tuple[str, ...]) -> pl.Expr:
    if not keys:
        return _NO_STRING
    parts: list[pl.Expr | str] = []
    for i, key in enumerate(keys):
        parts += [("," if i else "{") + _dumps(key) + ":", _FRAGMENTS[key]]
    return _cat(*parts, "}")


def _reason(kind: Kind) -> pl.Expr:
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
