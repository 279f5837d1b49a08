"""The bad-input corpus: each case a file under ``tests/fixtures/bad/`` and its expected outcome.

Regenerate the files (they are committed; a test checks they match) with::

    python tests/bad_inputs.py

An outcome is either an error (its type and a pattern the message must match: the file, and
what to do) or a load: rows loaded, rows rejected, and a pattern each reject reason matches.
Either way the accounting holds: rows read = loaded + rejected.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

FOLDER = Path(__file__).resolve().parent / "fixtures" / "bad"

HEADER = (
    "id,entity_type,entity_id,artist_id,album_id,track_id,operation,sources,status,fields_enriched,"
    "data_quality_before,data_quality_after,error_message,error_code,retry_count,duration_ms,"
    "api_call_count,metadata,job_id,triggered_by,created_at,user_id,reason,preview_data,"
    "parent_job_id,is_root_job,category,root_job_id"
)
ALBUM = "3e8428c2-2d96-4742-8ce3-9cf025319cd4"


MIGRATIONS = (
    b"id,checksum,finished_at,migration_name,logs,rolled_back_at,started_at,applied_steps_count\n"
    b"m1,c1,2026-02-07 00:23:44.324,20260206182344_add_is_root_job,,,2026-02-07 00:23:44,1\n"
    b"m2,c2,2026-02-10 01:48:20.348,20260209194819_rename_enrichmentlog_to_llamalog,,,2026-02-10 01:48:19,1\n"
    b"m3,c3,2026-02-10 16:39:53.800,20260210165434_add_root_job_id,,,2026-02-10 16:39:53,1\n"
)


def _ragged(name: str, line: int, found: int, header: int = 28) -> str:
    """Why a row of ``found`` fields starting on ``line`` is rejected (a pattern)."""
    return (
        f"^{re.escape(name)} line {line}: {found} fields where the header has {header}; "
        "the file may be cut short or have a stray delimiter"
    )


def csv_row(n: int, **values: str) -> str:
    """One valid psql-CSV row (id ending in ``n``); ``values`` replace fields by column name."""
    fields = dict(
        zip(
            HEADER.split(","),
            [
                f"00000000-0000-4000-8000-{n:012d}",
                "ALBUM",
                ALBUM,
                "",
                ALBUM,
                "",
                "enrichment:album",
                '"{MUSICBRAINZ,DISCOGS}"',
                "SUCCESS",
                '"{title,year}"',
                "LOW",
                "HIGH",
                "",
                "",
                "0",
                "1200",
                "2",
                '"{""albumTitle"": ""OK Computer""}"',
                str(100 + n),
                "scheduler",
                f"2026-03-01 12:{n % 60:02d}:00.123",
                "",
                "",
                "",
                "",
                "t",
                "ENRICHED",
                str(100 + n),
            ],
            strict=True,
        )
    )
    return ",".join({**fields, **values}.values())


def csv(*rows: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows]).encode() + newline.encode()


def good(count: int = 3) -> list[str]:
    return [csv_row(n) for n in range(1, count + 1)]


def records(count: int = 3, *, camel: bool = False) -> list[dict[str, object]]:
    """Valid rows as JSON records, read back from :func:`good` so both formats agree."""
    frame = pl.read_csv(csv(*good(count)), infer_schema=False)
    rows = frame.to_dicts()
    for row in rows:
        row["metadata"] = json.loads(row["metadata"])
        row["sources"] = ["MUSICBRAINZ", "DISCOGS"]
        row["fields_enriched"] = ["title", "year"]
        row["is_root_job"] = True
        for column in ("retry_count", "duration_ms", "api_call_count"):
            row[column] = int(row[column])
    if camel:
        return [{_camel(k): v for k, v in row.items()} for row in rows]
    return rows


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def ndjson(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def parquet(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


@dataclass(frozen=True)
class Case:
    """A file and what loading it must give."""

    name: str
    content: bytes
    why: str
    error: str | None = None  # pattern of the error message (the file's name is always in it)
    loaded: int = 0
    rejected: int = 0
    reason: str = ""  # pattern every reject reason matches
    note: str = ""  # pattern the load history's notes match
    table: str = "llama_logs"

    @property
    def path(self) -> Path:
        return FOLDER / self.name


def _cases() -> list[Case]:
    rows = good()
    huge = "x" * 10_000_000
    parquet_rows = pl.read_csv(csv(*rows), infer_schema=False)
    return [
        # --- CSV shape ------------------------------------------------------------------------
        Case("empty.csv", b"", "an empty file", error="empty"),
        Case(
            "header-only.csv", csv(), "a header and no rows", loaded=0, note="no rows in it: nothing to load"
        ),
        Case(
            "truncated.csv",
            csv(*rows)[:-40],
            "cut mid-row: the last row has too few fields",
            loaded=2,
            rejected=1,
            reason=_ragged("truncated.csv", 4, 21),
        ),
        Case(
            "cut-in-last-field.csv",
            csv(*rows)[:-2],
            "cut inside the last field of the last row: every field is there, so it loads, with a note",
            loaded=3,
            note=r"does not end with a line break \(psql ends every export with one\): its last row",
        ),
        Case(
            "truncated.csv.gz",
            gzip.compress(csv(*rows)[:-40], mtime=0),
            "cut mid-row, compressed: the line is counted in the decompressed text",
            loaded=2,
            rejected=1,
            reason=_ragged("truncated.csv.gz", 4, 21),
        ),
        Case(
            "ragged-after-multiline.csv",
            csv(
                csv_row(1, reason='"two\nlines"'),
                csv_row(2, error_message='"a\nb\nc"'),
                ",".join(rows[2].split(",")[:7]),
            ),
            "7 fields, after quoted fields that span lines: the line is the file's, not the row's number",
            loaded=2,
            rejected=1,
            reason=_ragged("ragged-after-multiline.csv", 7, 7),
        ),
        Case(
            "unterminated-quote.csv",
            csv(*rows[:2], csv_row(3, metadata='"{""a"": 1')),
            "a quoted field never closed",
            loaded=2,
            rejected=1,
            reason=r"^unterminated-quote\.csv line 4: a quoted field never ends .unterminated quote.; "
            "the file may be cut short or have a stray quote$",
        ),
        Case(
            "stray-quote.csv",
            csv(rows[0], csv_row(2, triggered_by='"manual'), rows[2], csv_row(4), csv_row(5)),
            "a stray quote mid-file: the rows after it would be taken into its field",
            error=r"stray-quote\.csv line 3: a quote opens a field that never closes .a stray quote.., "
            r"so the rows after it would be read as part of that field and lost; nothing was loaded and "
            r"the store is unchanged\. Hint: remove that quote",
        ),
        Case(
            "quote-then-text.csv",
            csv(rows[0], csv_row(2, operation='"SPOTIFY"_TRACK_FALLBACK'), rows[2], csv_row(4), csv_row(5)),
            "a quoted value with text after its closing quote: that row alone is rejected",
            loaded=4,
            rejected=1,
            reason="quoted field never ends|unquoted value",
        ),
        Case(
            "semicolons.csv",
            csv(*(r.replace(",", ";") for r in rows), header=HEADER.replace(",", ";")),
            "semicolon-separated",
            error=r"Hint: the header is one column holding ';': export with commas",
        ),
        Case(
            "tabs.tsv.csv",
            csv(*(r.replace(",", "\t") for r in rows), header=HEADER.replace(",", "\t")),
            "tab-separated under a .csv name",
            error="column",
        ),
        Case("bom.csv", b"\xef\xbb\xbf" + csv(*rows), "a UTF-8 byte order mark", loaded=3),
        Case("crlf.csv", csv(*rows, newline="\r\n"), "Windows line ends", loaded=3),
        Case(
            "latin1.csv",
            csv(rows[0], csv_row(2, error_message="Bj\xf6rk").replace("Bj\xf6rk", "Bj?rk"), rows[2]).replace(
                b"Bj?rk", b"Bj\xf6rk"
            ),
            "a Latin-1 byte in a field",
            loaded=2,
            rejected=1,
            reason=r"^latin1\.csv line 3: not UTF-8 encoded",
        ),
        Case(
            "huge-field.csv.gz",
            gzip.compress(csv(csv_row(1, error_message=huge), rows[1]), mtime=0),
            "a 10 MB field",
            loaded=2,
        ),
        Case(
            "extra-field.csv",
            csv(rows[0], rows[1] + ",surplus", rows[2]),
            "a row with one field too many",
            loaded=2,
            rejected=1,
            reason=_ragged("extra-field.csv", 3, 29),
        ),
        Case(
            "nul-byte.csv",
            csv(rows[0], csv_row(2, error_message="a\x00b"), rows[2]),
            "a NUL byte inside a field (kept exactly: nothing is altered)",
            loaded=3,
        ),
        # --- CSV values -----------------------------------------------------------------------
        Case(
            "duplicate-ids-differ.csv",
            csv(*rows, csv_row(1, status="FAILED")),
            "the same id twice with different content",
            loaded=3,
            rejected=1,
            reason="duplicate id.*status",
        ),
        Case(
            "duplicate-ids-equal.csv",
            csv(*rows, rows[0]),
            "the same row twice",
            loaded=4,
        ),
        Case(
            "invalid-uuid.csv",
            csv(rows[0], csv_row(2, album_id="not-a-uuid"), rows[2]),
            "an album_id that is no UUID",
            loaded=2,
            rejected=1,
            reason="album_id",
        ),
        Case(
            "invalid-timestamp.csv",
            csv(rows[0], csv_row(2, created_at="2026-02-30 25:61:00"), rows[2]),
            "a created_at that is no time",
            loaded=2,
            rejected=1,
            reason="created_at",
        ),
        Case(
            "mixed-offsets.csv",
            csv(
                csv_row(1, created_at="2026-03-01 12:00:00"),
                csv_row(2, created_at="2026-03-01 14:00:00+02"),
                csv_row(3, created_at="2026-03-01T07:00:00-05:00"),
            ),
            "timestamps with and without offsets in one file",
            loaded=3,
        ),
        Case(
            "invalid-json.csv",
            csv(rows[0], csv_row(2, metadata='"{""a"": }"'), rows[2]),
            "metadata that is not JSON",
            loaded=2,
            rejected=1,
            reason="metadata",
        ),
        Case(
            "json-not-object.csv",
            csv(rows[0], csv_row(2, metadata='"[1, 2, 3]"'), csv_row(3, metadata='"""text"""')),
            "metadata that is valid JSON but not an object (Prisma's Json allows it)",
            loaded=3,
        ),
        Case(
            "array-literals.csv",
            csv(
                csv_row(1, sources='"{""quoted, comma"",""back\\\\slash"",NULL,""NULL""}"'),
                csv_row(2, sources="{}"),
                csv_row(3, sources='"{""a\\""b""}"'),
            ),
            "array literals with quotes, backslashes, NULL elements and empty arrays",
            loaded=3,
        ),
        Case(
            "bad-array.csv",
            csv(rows[0], csv_row(2, sources="MUSICBRAINZ"), rows[2]),
            "an array column without braces",
            loaded=2,
            rejected=1,
            reason="sources",
        ),
        Case(
            "malformed-arrays.csv",
            csv(
                csv_row(1, sources='"{""MUSICBRAINZ,SPOTIFY}"'),
                csv_row(2, sources='"{,}"'),
                csv_row(3, sources='"{{a,b},{c,d}}"'),
                csv_row(4, sources='"{ MUSICBRAINZ , SPOTIFY }"'),
                csv_row(5, sources='"[""MUSICBRAINZ"",""SPOTIFY""]"'),
                csv_row(6, sources='"[[""MUSICBRAINZ""]]"'),
            ),
            "array literals PostgreSQL refuses (an unclosed quote, an empty element, a nested array, "
            "nested as JSON too); white space around elements, and a JSON array, load",
            loaded=2,
            rejected=4,
            reason="sources",
        ),
        Case(
            "unknown-labels.csv",
            csv(rows[0], csv_row(2, category="REFINED", status="HALF_DONE"), rows[2]),
            "enum labels the schema does not know (kept, and listed in the load history)",
            loaded=3,
            note="REFINED.*HALF_DONE|HALF_DONE.*REFINED",
        ),
        Case(
            "lower-case-labels.csv",
            csv(rows[0], csv_row(2, category="created", status="Success"), rows[2]),
            "enum labels in another case than the database's (kept as they are, and said so)",
            loaded=3,
            note=r"1 unknown category label loaded as-is: created \(1 row\); created is CREATED in another "
            r"case: checks compare labels exactly, so export them as the database has them",
        ),
        Case(
            "missing-id.csv",
            csv(*(r.split(",", 1)[1] for r in rows), header=HEADER.split(",", 1)[1]),
            "no id column",
            error=r"missing 1 column: id .*Hint: export the table with its header, e\.g\. "
            r"\\copy llama_logs TO 'llama_logs\.csv' CSV HEADER$",
        ),
        Case(
            "null-required.csv",
            csv(rows[0], csv_row(2, operation=""), rows[2]),
            "an empty required field (operation)",
            loaded=2,
            rejected=1,
            reason="operation",
        ),
        Case(
            "extra-columns.csv",
            csv(*(r + ",x" for r in rows), header=HEADER + ",favourite_colour"),
            "a column the table does not have (ignored, and said so)",
            loaded=3,
            note="ignored 1 unknown column: favourite_colour",
        ),
        Case(
            "trailing-comma.csv",
            csv(*(r + "," for r in rows), header=HEADER + ","),
            "every line ending in a comma: a column with no name, ignored and said so",
            loaded=3,
            note=r"ignored 1 unknown column: '' \(a header ending in a comma\?\)",
        ),
        Case(
            "mixed-naming.csv",
            csv(*rows, header=HEADER.replace("entity_type", "entityType").replace("job_id,", "jobId,")),
            "camelCase and snake_case names for different columns in one header",
            loaded=3,
        ),
        Case(
            "same-column-twice.csv",
            csv(*(r + ",x" for r in rows), header=HEADER + ",operation"),
            "one column twice",
            error=r"column 'operation' appears twice in the header\. Hint: export the table again",
        ),
        Case(
            "one-column-two-names.csv",
            csv(*(r + ",x" for r in rows), header=HEADER + ",entityType"),
            "one column under two names",
            error=r"columns 'entity_type' and 'entityType' both mean 'entity_type'",
        ),
        Case(
            "renamed-created-at.csv",
            csv(*rows, header=HEADER.replace("created_at", "createdAtUtc")),
            "a required column renamed",
            error=r"missing 1 column: created_at \(found: createdAtUtc, id, .*; perhaps createdAtUtc for "
            r"created_at\?\)",
        ),
        Case(
            "bad-boolean.csv",
            csv(rows[0], csv_row(2, is_root_job="maybe"), rows[2]),
            "a boolean that is neither t nor f",
            loaded=2,
            rejected=1,
            reason="is_root_job",
        ),
        Case(
            "integer-overflow.csv",
            csv(rows[0], csv_row(2, duration_ms="99999999999"), rows[2]),
            "an integer beyond INTEGER",
            loaded=2,
            rejected=1,
            reason="duration_ms",
        ),
        Case(
            "infinite-time.csv",
            csv(rows[0], csv_row(2, created_at="infinity"), rows[2]),
            "a timestamp PostgreSQL allows but no row was logged at",
            loaded=2,
            rejected=1,
            reason="created_at: 'infinity' is not a timestamp",
        ),
        Case(
            "whole-decimals.csv",
            csv(
                rows[0], csv_row(2, duration_ms="1200.0", retry_count="0.00"), csv_row(3, duration_ms="12.5")
            ),
            "whole numbers written as decimals (as pandas writes an integer column with nulls) load; "
            "a fraction does not",
            loaded=2,
            rejected=1,
            reason="duration_ms: '12.5' is not a 32-bit integer",
        ),
        # --- NDJSON and JSON ------------------------------------------------------------------
        Case(
            "empty.ndjson",
            b"",
            "an export of no rows (NDJSON has no header)",
            note="no rows in it: nothing to load",
        ),
        Case(
            "empty.json",
            b"\n",
            "a JSON export cut to nothing (an export of no rows holds [])",
            error="empty",
        ),
        Case(
            "empty-array.json",
            b"[]\n",
            "an export of no rows (as a CSV of its header alone)",
            note="no rows in it: nothing to load",
        ),
        Case("camel.ndjson", ndjson(*records(camel=True)), "Prisma's camelCase keys", loaded=3),
        Case(
            "truncated.ndjson",
            ndjson(*records())[:-30],
            "the last line cut short",
            loaded=2,
            rejected=1,
            reason="JSON",
        ),
        Case(
            "not-json-line.ndjson",
            ndjson(*records()[:2]) + b"this is not json\n",
            "a line that is not JSON",
            loaded=2,
            rejected=1,
            reason="JSON",
        ),
        Case(
            "array-line.ndjson",
            ndjson(*records()[:2], [1, 2, 3]),
            "a line that is JSON but not an object",
            loaded=2,
            rejected=1,
            reason="object",
        ),
        Case(
            "null-id.ndjson",
            ndjson(*records()[:2], {**records()[2], "id": None}),
            "a record whose id is null",
            loaded=2,
            rejected=1,
            reason="id",
        ),
        Case(
            "wrong-type.ndjson",
            ndjson(*records()[:2], {**records()[2], "retry_count": "three"}),
            "a number field holding text",
            loaded=2,
            rejected=1,
            reason="retry_count",
        ),
        Case(
            "json-as-text.ndjson",
            ndjson(*({**r, "metadata": json.dumps(r["metadata"])} for r in records())),
            "metadata as a string holding JSON (encoded twice): loaded as that string, and said so",
            loaded=3,
            note=r"3 rows with metadata a JSON string holding JSON \(encoded twice\?\), loaded as that "
            "string: whatever wrote it encoded it once too often",
        ),
        Case("bom.ndjson", b"\xef\xbb\xbf" + ndjson(*records()), "a byte order mark", loaded=3),
        Case(
            "missing-operation.ndjson",
            ndjson(*({k: v for k, v in r.items() if k != "operation"} for r in records())),
            "no operation key",
            error=r"missing 1 column: operation .*Hint: write the file with every column of llama_logs "
            r"\(operation among them\).* TO 'llama_logs\.ndjson'$",
        ),
        Case(
            "non-objects.json",
            json.dumps([1, "two", None]).encode(),
            "a JSON array of non-objects",
            error="none of its 3 records is a JSON object .found: null, number, string.",
        ),
        Case("object.json", json.dumps(records()[0]).encode(), "one object, not in an array", loaded=1),
        Case("truncated.json", json.dumps(records()).encode()[:-50], "a JSON array cut short", error="JSON"),
        Case(
            "truncated.ndjson.gz",
            gzip.compress(ndjson(*records()), mtime=0)[:-20],
            "the compressed stream cut short",
            error=r"truncated\.ndjson\.gz: cannot be read .*GZIP.*the store is unchanged",
        ),
        Case(
            "truncated.json.gz",
            gzip.compress(json.dumps(records()).encode(), mtime=0)[:-20],
            "a compressed JSON array cut short",
            error=r"truncated\.json\.gz: cannot be read .*ended before.*the store is unchanged",
        ),
        # --- Parquet --------------------------------------------------------------------------
        Case(
            "wrong-types.parquet",
            parquet(parquet_rows.with_columns(pl.lit([1, 2, 3]).alias("created_at"))),
            "created_at stored as numbers",
            loaded=0,
            rejected=3,
            reason="created_at",
        ),
        Case(
            "date-only.parquet",
            parquet(parquet_rows.with_columns(pl.col("created_at").str.slice(0, 10).str.to_date())),
            "created_at as a DATE: midnight, and said so",
            loaded=3,
            note="created_at is a DATE in the file, with no time of day: every row loads at midnight UTC",
        ),
        Case(
            "text-arrays.parquet",
            parquet(parquet_rows),
            "every column as text, arrays as Postgres literals",
            loaded=3,
        ),
        Case(
            "invalid-json.parquet",
            parquet(parquet_rows.with_columns(pl.Series("metadata", ['{"a": 1}', "{oops", "null"]))),
            "metadata that is not JSON, in Parquet",
            loaded=2,
            rejected=1,
            reason="metadata: '{oops' is not valid JSON",
        ),
        Case(
            "missing-columns.parquet",
            parquet(parquet_rows.drop("id")),
            "no id column",
            error=r"missing 1 column: id .*Hint: write the file with every column of llama_logs \(id among "
            r"them\), named in snake_case or camelCase, e\.g\. in DuckDB: COPY \(SELECT \* FROM llama_logs\) "
            r"TO 'llama_logs\.parquet'$",
        ),
        Case("truncated.parquet", parquet(parquet_rows)[:-100], "a Parquet file cut short", error="Parquet"),
        Case("csv-inside.parquet", csv(*rows), "CSV text under a .parquet name", error="Parquet"),
        # --- files ----------------------------------------------------------------------------
        Case(
            "cut-short-migrations.csv",
            MIGRATIONS[:-60],
            "Prisma's migration history cut mid-row: refused whole, as the table is replaced whole",
            error=_ragged("cut-short-migrations.csv", 4, 3, header=8) + "; the store is unchanged",
            table="_prisma_migrations",
        ),
        Case(
            "corrupt.csv.gz", gzip.compress(csv(*rows), mtime=0)[:-20], "gzip cut short", error="GZIP stream"
        ),
        Case("spreadsheet.xlsx", b"PK\x03\x04", "a format the loader does not read", error="xlsx"),
        Case(
            "gzip-without-gz.csv",
            gzip.compress(csv(*rows), mtime=0),
            "a gzipped CSV whose name lacks .gz",
            error=r"gzip-without-gz\.csv: gzip-compressed, though its name does not end in \.gz; the store "
            r"is unchanged\. Hint: rename it gzip-without-gz\.csv\.gz, then load it again$",
        ),
        Case(
            "not-gzip.csv.gz",
            csv(*rows),
            "a plain CSV under a .gz name",
            error=r"not-gzip\.csv\.gz: not gzip-compressed, though its name ends in \.gz; the store is "
            r"unchanged\. Hint: rename it not-gzip\.csv, then load it again$",
        ),
        Case(
            "parquet-inside.json",
            parquet(parquet_rows),
            "a Parquet file under a .json name",
            error=r"parquet-inside\.json: a Parquet file, not JSON as its name says; the store is "
            r"unchanged\. Hint: rename it parquet-inside\.parquet, then load it again$",
        ),
        Case(
            "utf16.csv",
            csv(*rows).decode().encode("utf-16"),
            "UTF-16 text, as Excel's Unicode text and Windows PowerShell write it",
            error=r"utf16\.csv: CSV in UTF-16 .*, not UTF-8; the store is unchanged\. Hint: convert it \(cat "
            r"utf16\.csv \| iconv -f UTF-16 -t UTF-8 > utf16-utf8\.csv\), then load that file$",
        ),
        Case(
            "parquet-inside.csv.gz",
            parquet(parquet_rows),
            "a Parquet file, not gzipped, under a .csv.gz name: said to be Parquet, not to drop the .gz",
            error=r"parquet-inside\.csv\.gz: a Parquet file, not CSV as its name says; the store is "
            r"unchanged\. Hint: rename it parquet-inside\.parquet, then load it again$",
        ),
        Case(
            "utf32.csv.gz",
            gzip.compress(csv(*rows).decode().encode("utf-32"), mtime=0),
            "gzipped UTF-32 text, whose mark begins as UTF-16's does",
            error=r"utf32\.csv\.gz: CSV in UTF-32, not UTF-8; the store is unchanged\. Hint: convert it "
            r"\(gunzip -c utf32\.csv\.gz \| iconv -f UTF-32 -t UTF-8 > utf32-utf8\.csv\), then load "
            r"that file$",
        ),
        Case(
            "zipped.csv",
            b"PK\x03\x04" + csv(*rows),
            "a ZIP archive (or an Excel workbook) under a .csv name",
            error=r"zipped\.csv: a ZIP archive .as an Excel workbook is., not CSV as its name says; .*Hint: "
            r"unzip it, or save the sheet as CSV",
        ),
    ]


CASES = _cases()


def write() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.iterdir():
        old.unlink()
    for case in CASES:
        case.path.write_bytes(case.content)


if __name__ == "__main__":
    write()
    print(f"wrote {len(CASES)} cases to {FOLDER}")
