"""Loading files: round trips per format, psql quirks, rejects, idempotence, atomicity."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil

import polars as pl
import pytest
from conftest import FIXTURES, MIGRATIONS, ROOT, assert_same_rows

import llamalog_analytics as lla
from llamalog_analytics import schema
from llamalog_analytics.errors import NotLlamaLogError, SourceError, StoreError
from llamalog_analytics.stage import load_counts

JSON_FORMATS = ("ndjson", "json")


@pytest.mark.parametrize("naming", ["snake", "camel"])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".ndjson", ".json"])
def test_round_trip(store, synth, tmp_path, suffix, naming):
    path = lla.write_logs(synth.llama_logs, tmp_path / f"logs{suffix}", naming=naming)
    result = store.load_files(path, quiet=True)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3_000, 3_000, 0)
    json_format = result.sources[0].format in JSON_FORMATS
    assert_same_rows(store.table(), synth.llama_logs, json_null_is_null=json_format)
    assert result.sources[0].columns_absent == ()


def test_pre_migration_snapshot_records_absent_columns(store, synth, tmp_path):
    path = lla.write_logs(synth.enrichment_logs, tmp_path / "enrichment_logs.csv")
    result = store.load_files(path, "enrichment_logs", quiet=True)
    assert result.sources[0].columns_absent == ("category", "root_job_id")
    loaded = store.table("enrichment_logs")
    assert loaded["category"].null_count() == loaded.height
    assert_same_rows(loaded.select(synth.enrichment_logs.columns), synth.enrichment_logs)
    assert store.loads()["columns_absent"].to_list() == [["category", "root_job_id"]]


def test_psql_csv_quirks(store):
    store.load_files(FIXTURES / "psql_quirks.csv", quiet=True)
    rows = {r["id"][-1]: r for r in store.table().to_dicts()}
    assert rows["1"]["sources"] == ["MUSICBRAINZ", "SPOTIFY"]
    assert rows["1"]["fields_enriched"] == []
    assert rows["1"]["is_root_job"] is True
    assert rows["1"]["reason"] == "two\nlines"
    assert rows["1"]["created_at"].isoformat() == "2026-02-09T12:00:00.123000"
    assert json.loads(rows["1"]["metadata"])["fieldChanges"][0]["before"] is None
    assert rows["2"]["sources"] == ["a b", "c\\d", 'e"f', None, "NULL", ""]
    assert rows["2"]["error_message"] == ""  # "" is empty text, not NULL
    assert rows["2"]["metadata"] == "null"  # JSON null, not SQL NULL
    assert rows["2"]["user_id"] is None
    assert rows["2"]["is_root_job"] is False
    assert rows["3"]["sources"] == ["x,y", "manual"]
    assert rows["3"]["metadata"] is None
    assert rows["3"]["created_at"].isoformat() == "2026-02-09T12:00:00.100000"


def test_json_null_and_sql_null_stay_apart_where_the_format_keeps_them(store, synth, tmp_path):
    frame = synth.llama_logs
    json_nulls = frame.filter(pl.col("metadata") == "null").height
    sql_nulls = frame["metadata"].null_count()
    assert json_nulls and sql_nulls
    for suffix in (".csv", ".parquet"):
        with lla.LogStore() as s:
            s.load_files(lla.write_logs(frame, tmp_path / f"x{suffix}"), quiet=True)
            counts = s.execute(
                "SELECT count(*) FILTER (metadata IS NULL), count(*) FILTER (metadata = 'null') "
                "FROM llama_logs"
            )[0]
            assert counts == (sql_nulls, json_nulls)
    result = store.load_files(lla.write_logs(frame, tmp_path / "x.ndjson", naming="camel"), quiet=True)
    assert store.table()["metadata"].null_count() == sql_nulls + json_nulls
    assert any("distinction" in note for note in result.sources[0].notes)
    # the same rows again from a format that keeps them apart, and back: no difference either way
    again = store.load_files(tmp_path / "x.csv", quiet=True)
    assert (again.rows_inserted, again.rows_rejected) == (0, 0)
    with lla.LogStore() as s:
        s.load_files(tmp_path / "x.csv", quiet=True)
        back = s.load_files(tmp_path / "x.ndjson", quiet=True)
        assert (back.rows_inserted, back.rows_rejected, back.sources[0].rows_changed) == (0, 0, 0)


def test_rejects_are_kept_with_reason_row_and_raw_text(store):
    result = store.load_files(FIXTURES / "rejects.csv", quiet=True)
    assert result.rows_read == 10
    assert result.rows_read == result.rows_loaded + result.rows_rejected
    rejects = store.rejects(result.load_id)
    by_row = {r["row_number"]: r for r in rejects.to_dicts()}
    assert sorted(by_row) == [2, 3, 4, 5, 7, 8, 9]
    assert by_row[2]["column_name"] == "id" and "'not-a-uuid' is not a UUID" in by_row[2]["reason"]
    assert by_row[3]["column_name"] == "created_at" and "'yesterday'" in by_row[3]["reason"]
    assert by_row[4]["column_name"] == "metadata" and "not valid JSON" in by_row[4]["reason"]
    assert by_row[5]["column_name"] is None and by_row[5]["reason"] == (
        "rejects.csv line 6: 26 fields where the header has 28; "
        "the file may be cut short or have a stray delimiter"
    )
    assert by_row[5]["raw"].startswith("0b6c3c1e-8d6a-4f1e-9a53-000000000015")
    assert by_row[7]["column_name"] == "duration_ms"
    assert by_row[8]["column_name"] == "sources"  # the first bad column is named
    assert by_row[9]["reason"] == "operation is empty"
    assert "not-a-uuid" in by_row[2]["raw"]
    lines = (FIXTURES / "rejects.csv").read_text().splitlines()  # quoted as psql quotes: its own lines
    assert {by_row[n]["raw"] for n in (2, 3, 4, 5, 7)} <= set(lines)
    loaded = store.table()
    assert loaded.filter(pl.col("id").str.ends_with("16"))["operation"].item() == "multi\nline:operation"
    # An offset is converted to UTC; a category label the schema does not know loads as-is.
    row20 = loaded.filter(pl.col("id").str.ends_with("20")).row(0, named=True)
    assert row20["created_at"].isoformat() == "2026-02-09T12:00:00"
    assert result.sources[0].unknown_labels == {"category": {"SHINY_NEW": 1}}
    assert str(result).count("SHINY_NEW") == 1
    assert "    1 unknown category label loaded as-is: SHINY_NEW (1 row)\n" in str(result)


def test_row_numbers_stay_exact_in_a_large_parallel_csv(store, synth, tmp_path):
    frame = pl.concat([synth.llama_logs] * 60).with_columns(
        pl.format("{}-{}", pl.int_range(pl.len()), pl.lit("x")).alias("job_id")
    )
    frame = frame.with_columns(
        id=pl.when(pl.int_range(pl.len()) == 170_000)
        .then(pl.lit("broken"))
        .otherwise(pl.col("id").str.slice(0, 24) + pl.int_range(pl.len()).cast(pl.String).str.zfill(12))
    )
    result = store.load_files(lla.write_logs(frame, tmp_path / "big.csv"), quiet=True)
    assert result.rows_rejected == 1
    assert store.rejects()["row_number"].to_list() == [170_001]
    assert store.execute("SELECT count(DISTINCT job_id) FROM llama_logs")[0][0] == 179_999


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_rows_the_parser_cannot_split_name_the_line_the_file_has_them_on(store, synth, tmp_path, suffix):
    """Rows cut short or with a stray delimiter are rejected with the file's name and the line an
    editor shows them on, even after fields that span lines and deep into a parallel scan."""
    frame = pl.concat([synth.llama_logs] * 20).with_columns(
        id=pl.col("id").str.slice(0, 24) + pl.int_range(pl.len()).cast(pl.String).str.zfill(12),
        reason=pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.lit("two\nlines")).otherwise("reason"),
    )
    text = lla.write_logs(frame, tmp_path / "clean.csv").read_text()
    records = list(csv.reader(io.StringIO(text)))
    lines = text.split("\n")
    starts = [0]  # the line each record starts on, 0-based: the header's is 0
    for record in records[:-1]:
        starts.append(starts[-1] + 1 + sum(field.count("\n") for field in record))
    short, long = 1_000, 55_001  # record numbers (1 = the first row)
    assert "\n" not in "".join(records[short]) + "".join(records[long])
    lines[starts[short]] = ",".join(lines[starts[short]].split(",")[:7])
    lines[starts[long]] += ",surplus"
    path = tmp_path / f"ragged{suffix}"
    data = "\n".join(lines).encode()
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    result = store.load_files(path, quiet=True)
    assert (result.rows_read, result.rows_rejected) == (frame.height, 2)
    rejects = store.rejects(result.load_id).sort("row_number")
    assert rejects["row_number"].to_list() == [short, long]
    assert starts[short] > short + 100  # fields spanning lines put the line far from the row
    assert rejects["reason"].to_list() == [
        f"ragged{suffix} line {starts[short] + 1:,}: 7 fields where the header has 28; "
        "the file may be cut short or have a stray delimiter",
        f"ragged{suffix} line {starts[long] + 1:,}: 29 fields where the header has 28; "
        "the file may be cut short or have a stray delimiter",
    ]


def test_migrations_load_into_their_table_with_counts_and_history(store, tmp_path):
    migrations = MIGRATIONS
    migrations.write_csv(tmp_path / "m.csv")
    first = store.load_files(tmp_path / "m.csv", "_prisma_migrations", quiet=True)
    assert str(first).splitlines()[0] == (
        f"load 1 into _prisma_migrations: {migrations.height} read: {migrations.height} new, 0 rejected"
    )
    assert (first.tables, first.rows_read, first.rows_loaded) == (("_prisma_migrations",), 9, 9)
    migrations.head(8).write_parquet(tmp_path / "m.parquet")
    again = store.load_files(tmp_path / "m.parquet", "_prisma_migrations", quiet=True)
    assert (again.load_id, again.rows_read, again.rows_inserted) == (2, 8, 0)
    assert store.execute("SELECT count(*) FROM _prisma_migrations")[0][0] == 8  # replaced whole
    logs = store.load_files(FIXTURES / "psql_quirks.csv", quiet=True)
    assert logs.load_id == 3  # every load has its own number
    history = store.loads()
    assert history["table_name"].to_list() == ["_prisma_migrations", "_prisma_migrations", "llama_logs"]
    assert history["rows_read"].to_list() == [9, 8, 3]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_key_value_folder_above_a_migrations_export_leaves_its_names_as_they_are(store, tmp_path, suffix):
    """An export of _prisma_migrations below a folder named migration_name=... loaded every row
    under that one name, losing the history the audit dates its checks by."""
    path = tmp_path / "migration_name=backup" / f"m{suffix}"
    path.parent.mkdir()
    (MIGRATIONS.write_csv if suffix == ".csv" else MIGRATIONS.write_parquet)(path)
    store.load_files(path, "_prisma_migrations", quiet=True)
    assert sorted(store.frame("SELECT migration_name FROM _prisma_migrations")["migration_name"]) == sorted(
        MIGRATIONS["migration_name"]
    )


def test_a_ragged_migrations_file_is_refused_with_its_line(store, tmp_path):
    migrations = MIGRATIONS
    migrations.write_csv(tmp_path / "m.csv")
    store.load_files(tmp_path / "m.csv", "_prisma_migrations", quiet=True)
    lines = (tmp_path / "m.csv").read_text().splitlines()
    lines[3] += ",stray"
    (tmp_path / "ragged.csv").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    with pytest.raises(SourceError) as failure:
        store.load_files(tmp_path / "ragged.csv", "_prisma_migrations", quiet=True)
    assert str(failure.value).startswith(
        "ragged.csv line 4: 9 fields where the header has 8; the file may be cut short or have a "
        "stray delimiter (and 1 more line); the store is unchanged. Hint: "
    )
    assert store.execute("SELECT count(*) FROM _prisma_migrations")[0][0] == 9
    assert store.loads().height == 1


def test_a_migrations_file_that_does_not_decompress_is_refused_by_name(store, tmp_path):
    store.load_files(FIXTURES / "psql_quirks.csv", quiet=True)
    broken = tmp_path / "m.csv.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not deflate data")
    with pytest.raises(SourceError) as failure:
        store.load_files(broken, "_prisma_migrations", quiet=True)
    assert str(failure.value).startswith(
        f"{broken}: cannot read it as an export of _prisma_migrations (Error -3 while decompressing "
    )
    assert "the store is unchanged. Hint: check the file is complete" in str(failure.value)
    assert store.tables() == ("llama_logs",) and store.loads().height == 1


def test_reloading_inserts_nothing(store, synth, tmp_path):
    path = lla.write_logs(synth.llama_logs, tmp_path / "logs.parquet")
    first = store.load_files(path, quiet=True)
    again = store.load_files(path, quiet=True)
    assert first.rows_inserted == 3_000
    assert (again.rows_read, again.rows_loaded, again.rows_inserted, again.rows_rejected) == (
        3_000,
        3_000,
        0,
        0,
    )
    assert store.table().height == 3_000


def test_conflicting_duplicate_ids_are_rejected_not_dropped(store, synth, tmp_path):
    frame = synth.llama_logs.head(10)
    store.load_files(lla.write_logs(frame, tmp_path / "a.csv"), quiet=True)
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("EDITED"))
        .otherwise(pl.col("operation"))
        .alias("operation")
    )
    result = store.load_files(lla.write_logs(changed, tmp_path / "b.csv"), quiet=True)
    assert (result.rows_loaded, result.rows_inserted, result.rows_rejected) == (9, 0, 1)
    reason = store.rejects(result.load_id)["reason"].item()
    assert "already stored (load 1)" in reason and "operation" in reason
    assert "EDITED" not in store.table()["operation"].to_list()


def test_json_spaced_or_ordered_otherwise_is_the_same_value(store, synth, tmp_path):
    """PostgreSQL's jsonb writes ``{"a": 1, "bb": 2}``: spaced, keys shortest first. The same row
    from an export written otherwise is the same row; an array in another order is not."""
    frame = synth.llama_logs.head(4).with_columns(
        metadata=pl.Series(['{"albumTitle":"A","fieldChanges":[{"field":"x","after":1}],"n":2}'] * 4),
        preview_data=pl.Series(['{"url":"u","tracks":[1,2]}', None, "null", "{}"]),
    )
    store.load_files(lla.write_logs(frame, tmp_path / "compact.csv"), quiet=True)
    as_jsonb = frame.with_columns(
        metadata=pl.lit('{"n": 2, "albumTitle": "A", "fieldChanges": [{"after": 1, "field": "x"}]}'),
        preview_data=pl.Series(['{"url": "u", "tracks": [1, 2]}', None, "null", "{ }"]),
    )
    again = store.load_files(lla.write_logs(as_jsonb, tmp_path / "jsonb.csv"), quiet=True)
    assert (again.rows_loaded, again.rows_inserted, again.rows_rejected) == (4, 0, 0)
    both = lla.LogStore()
    both.load_files([tmp_path / "compact.csv", tmp_path / "jsonb.csv"], quiet=True)
    assert (both.table().height, both.rejects().height) == (4, 0)
    reordered = frame.with_columns(preview_data=pl.lit('{"url":"u","tracks":[2,1]}'))
    other = store.load_files(lla.write_logs(reordered.head(1), tmp_path / "other.csv"), quiet=True)
    assert other.rows_rejected == 1
    assert "different values in preview_data;" in store.rejects(other.load_id)["reason"].item()


def test_a_list_that_became_empty_or_null_is_a_change(store, synth, tmp_path):
    """NULL, [] and [NULL] are three values of a list column, though DuckDB hashes them alike."""
    path = tmp_path / "a.parquet"
    frame = synth.llama_logs.head(3).with_columns(
        fields_enriched=pl.Series([[], None, [None]], dtype=pl.List(pl.String))
    )
    store.load_files(lla.write_logs(frame, path), quiet=True)
    turned = frame.with_columns(fields_enriched=pl.Series([None, [], []], dtype=pl.List(pl.String)))
    result = store.load_files(lla.write_logs(turned, path), quiet=True)
    assert result.sources[0].rows_changed == 3
    assert store.changed()["columns"].to_list() == [["fields_enriched"]] * 3


def test_a_row_its_own_source_now_gives_otherwise_is_replaced_and_kept_as_it_was(store, synth, tmp_path):
    frame = synth.llama_logs.head(10)
    path = tmp_path / "a.csv"
    store.load_files(lla.write_logs(frame, path), quiet=True)
    edited = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("EDITED")).otherwise("operation").alias("operation")
    )
    twin = edited.slice(3, 1)  # a second, equal copy of the changed row in the same file
    result = store.load_files(lla.write_logs(pl.concat([edited, twin]), path), quiet=True)
    counts = (result.rows_read, result.rows_loaded, result.rows_inserted, result.rows_rejected)
    assert counts == (11, 11, 0, 0) and result.sources[0].rows_changed == 1
    assert "1 stored row changed in the source, now stored as it has them: llamalog changes" in str(result)
    assert store.table()["operation"].to_list().count("EDITED") == 1 and store.table().height == 10
    [kept] = store.changed().to_dicts()
    assert (kept["load_id"], kept["source"], kept["columns"], kept["previous_load"]) == (
        result.load_id,
        str(path),
        ["operation"],
        1,
    )
    assert str(kept["id"]) == frame["id"][3]
    assert json.loads(kept["previous"])["operation"] == frame["operation"][3]
    assert "rows changed in their source since loaded: 1 (llamalog changes" in str(lla.summarize(store))
    assert store.loads()["rows_changed"].to_list() == [0, 1]
    other = store.load_files(lla.write_logs(frame, tmp_path / "b.csv"), quiet=True)  # another source
    assert other.rows_rejected == 1
    assert "already stored (load 2)" in store.rejects(other.load_id)["reason"].item()
    # the same values from another source first and the row's own after: changed, whatever the order
    back = lla.write_logs(frame, path)
    both = store.load_files([tmp_path / "b.csv", back], quiet=True)
    assert (both.rows_rejected, sum(s.rows_changed for s in both.sources)) == (0, 1)


def test_a_row_loaded_with_other_files_in_one_call_has_no_own_source(store, synth, tmp_path):
    frame = synth.llama_logs.head(6)
    a, b = (
        lla.write_logs(frame.head(3), tmp_path / "a.csv"),
        lla.write_logs(frame.tail(3), tmp_path / "b.csv"),
    )
    store.load_files([a, b], quiet=True)
    edited = pl.concat([frame.tail(3), frame.head(1).with_columns(pl.lit("EDITED").alias("operation"))])
    result = store.load_files(lla.write_logs(edited, b), quiet=True)  # a.csv's row, now in b.csv
    assert (result.rows_rejected, result.sources[0].rows_changed) == (1, 0)
    assert "EDITED" not in store.table()["operation"].to_list() and store.changed().is_empty()


def test_a_file_is_one_source_however_named_and_another_folders_file_another(
    store, synth, tmp_path, monkeypatch
):
    frame = synth.llama_logs.head(4)
    (tmp_path / "other").mkdir()
    lla.write_logs(frame, tmp_path / "small.csv")
    monkeypatch.chdir(tmp_path)
    first = store.load_files(["small.csv", "./small.csv", str(tmp_path / "small.csv")], quiet=True)
    assert (len(first.sources), first.rows_read) == (1, 4)  # read once
    assert first.sources[0].source == str(tmp_path / "small.csv")
    edited = frame.with_columns(pl.lit("EDITED").alias("operation"))
    lla.write_logs(edited.head(1), tmp_path / "other" / "small.csv")
    monkeypatch.chdir(tmp_path / "other")  # a file of the same name, in another folder
    other = store.load_files("small.csv", quiet=True)
    assert (other.rows_rejected, other.sources[0].rows_changed) == (1, 0)
    assert "EDITED" not in store.table()["operation"].to_list()
    monkeypatch.chdir(tmp_path)
    lla.write_logs(edited.head(1), tmp_path / "small.csv")  # the file first loaded, now changed
    own = store.load_files("./small.csv", quiet=True)
    assert (own.rows_rejected, own.sources[0].rows_changed) == (0, 1)


def test_duplicate_ids_within_one_call(store, synth, tmp_path):
    frame = synth.llama_logs.head(5)
    twin = frame.head(1)
    clash = frame.head(1).with_columns(pl.lit(99, pl.Int32).alias("duration_ms"))
    path = lla.write_logs(pl.concat([frame, twin, clash]), tmp_path / "dups.ndjson")
    result = store.load_files(path, quiet=True)
    assert (result.rows_read, result.rows_loaded, result.rows_inserted, result.rows_rejected) == (7, 6, 5, 1)
    reject = store.rejects().row(0, named=True)
    assert reject["row_number"] == 7
    assert "duration_ms" in reject["reason"] and "row 1 of" in reject["reason"]
    assert (
        "1 row repeats an id this load gives in another row, with the same values in the columns both "
        "have: stored once"
    ) in (result.sources[0].notes)


def test_several_files_and_globs(store, synth, tmp_path):
    frame = synth.llama_logs
    lla.write_logs(frame.head(1_000), tmp_path / "part-1.csv")
    lla.write_logs(frame.slice(1_000, 1_000), tmp_path / "part-2.csv.gz")
    lla.write_logs(frame.tail(1_000), tmp_path / "part-3.parquet")
    result = store.load_files([tmp_path / "part-*.csv*", tmp_path / "part-3.parquet"], quiet=True)
    assert [s.rows_loaded for s in result.sources] == [1_000, 1_000, 1_000]
    assert store.loads().height == 3
    assert_same_rows(store.table(), frame)


def test_a_double_star_glob_reaches_every_depth(store, synth, tmp_path):
    """``**`` matches any depth of folders, none included, as attach and DuckDB read it."""
    frame = synth.llama_logs
    lla.write_logs(frame.head(1_000), tmp_path / "top.parquet")
    (tmp_path / "a" / "b").mkdir(parents=True)
    lla.write_logs(frame.slice(1_000, 1_000), tmp_path / "a" / "middle.parquet")
    lla.write_logs(frame.tail(1_000), tmp_path / "a" / "b" / "deep.parquet")
    result = store.load_files(tmp_path / "**" / "*.parquet", quiet=True)
    assert sorted(s.rows_loaded for s in result.sources) == [1_000, 1_000, 1_000]
    assert_same_rows(
        store.table(), frame.head(1_000).vstack(frame.slice(1_000, 1_000)).vstack(frame.tail(1_000))
    )


def test_a_file_a_glob_reaches_twice_through_a_linked_folder_is_loaded_once(store, synth, tmp_path):
    (tmp_path / "logs").mkdir()
    lla.write_logs(synth.llama_logs.head(100), tmp_path / "logs" / "a.parquet")
    (tmp_path / "logs" / "again").symlink_to(tmp_path / "logs")  # a glob's ** follows it
    result = store.load_files(tmp_path / "logs" / "**" / "*.parquet", quiet=True)
    assert [s.rows_read for s in result.sources] == [100]


def test_failed_load_leaves_the_store_as_it_was(store, synth, tmp_path):
    good = lla.write_logs(synth.llama_logs.head(100), tmp_path / "good.csv")
    store.load_files(good, quiet=True)
    before = (store.table(), store.loads(), store.rejects())
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("name,price\nteapot,12\n")
    more = lla.write_logs(synth.llama_logs.tail(100), tmp_path / "more.csv")
    with pytest.raises(NotLlamaLogError, match=r"stranger.csv.*missing 3 columns: id, operation, created_at"):
        store.load_files([more, stranger], quiet=True)
    for old, new in zip(before, (store.table(), store.loads(), store.rejects()), strict=True):
        assert old.equals(new)


def test_failure_inside_the_commit_rolls_back(store, synth, tmp_path):
    store.execute("CREATE TABLE llama_logs (id UUID, _load_id INTEGER)")  # not the canonical shape
    with pytest.raises(SourceError, match="store is unchanged"):
        store.load_files(lla.write_logs(synth.llama_logs.head(10), tmp_path / "x.csv"), quiet=True)
    assert store.loads().height == 0
    assert store.execute("SELECT count(*) FROM llama_logs")[0][0] == 0


def test_camel_and_snake_headers_for_one_column_are_refused(store, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("id,operation,created_at,createdAt\n")
    with pytest.raises(SourceError, match="'created_at' and 'createdAt' both mean 'created_at'"):
        store.load_files(path, quiet=True)


def test_missing_file_and_unknown_suffix(store, tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        store.load_files(tmp_path / "nope.csv", quiet=True)
    odd = tmp_path / "logs.xlsx"
    odd.write_text("x")
    with pytest.raises(SourceError, match="unknown file type"):
        store.load_files(odd, quiet=True)


def test_json_records_that_are_not_objects_or_not_json(store, tmp_path):
    path = tmp_path / "mixed.ndjson"
    row = {
        "id": "0b6c3c1e-8d6a-4f1e-9a53-000000000001",
        "operation": "x",
        "createdAt": "2026-02-09T12:00:00Z",
    }
    path.write_text(json.dumps(row) + "\n\n[1, 2]\n{broken\n")
    result = store.load_files(path, quiet=True)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 1, 2)
    assert store.rejects()[["row_number", "reason"]].rows() == [
        (3, "not a JSON object"),
        (4, "not valid JSON"),
    ]


def test_json_array_file(store, tmp_path):
    path = tmp_path / "logs.json"
    rows = [
        {
            "id": f"0b6c3c1e-8d6a-4f1e-9a53-00000000000{i}",
            "operation": "x",
            "createdAt": "2026-02-09T12:00:00.5Z",
            "sources": ["SPOTIFY"],
            "metadata": {"k": i},
        }
        for i in range(3)
    ]
    path.write_text(json.dumps([*rows, "not an object"]))
    result = store.load_files(path, quiet=True)
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    assert store.table()["sources"].to_list() == [["SPOTIFY"]] * 3
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(rows)[:-1] + ",")  # cut off after a complete record
    with pytest.raises(SourceError, match="not a valid JSON array"):
        store.load_files(broken, quiet=True)


def test_gzipped_csv_is_read_as_csv(store, tmp_path):
    plain = FIXTURES / "psql_quirks.csv"
    packed = tmp_path / "psql_quirks.csv.gz"
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert store.load_files(packed, quiet=True).rows_loaded == 3


def test_schema_types_in_the_store(store):
    store.load_files(FIXTURES / "psql_quirks.csv", quiet=True)
    types = dict(
        store.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'llama_logs'")
    )
    assert {c.name: types[c.name] for c in schema.COLUMNS} == {c.name: c.type for c in schema.COLUMNS}


def test_bookkeeping_names_are_reserved(store):
    with pytest.raises(StoreError, match="reserved"):
        store.load_files(FIXTURES / "psql_quirks.csv", "_llamalog_loads", quiet=True)


def test_progress_bar_shows_for_long_statements(capsys):
    from llamalog_analytics._progress import track

    with lla.LogStore() as s, track(s.con, "big.csv", delay=0.0):
        s.execute("SELECT count(*) FROM range(300000000)")
    assert "[🦙 LlamaLog] big.csv" in capsys.readouterr().err


def test_table_names_ignore_case(store, synth, tmp_path):
    path = lla.write_logs(synth.llama_logs.head(50), tmp_path / "x.parquet")
    store.load_files(path, quiet=True)
    again = store.load_files(path, "LLAMA_LOGS", quiet=True)
    assert (again.rows_inserted, again.tables) == (0, ("llama_logs",))
    assert store.execute("SELECT count(*), count(DISTINCT id) FROM llama_logs")[0] == (50, 50)
    with pytest.raises(StoreError, match="reserved"):
        store.load_files(path, "_Prisma_Migrations", quiet=True)


def test_repeated_copies_follow_their_first_copy_against_the_store(store, synth, tmp_path):
    row = synth.llama_logs.head(1)
    store.load_files(lla.write_logs(row, tmp_path / "a.csv"), quiet=True)
    edited = row.with_columns(pl.lit("EDITED").alias("operation"))
    result = store.load_files(lla.write_logs(pl.concat([edited, edited]), tmp_path / "b.csv"), quiet=True)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 0, 2)
    assert store.table()["operation"].to_list() == row["operation"].to_list()


def test_arrays_and_whole_numbers_load_alike_from_each_format(synth, tmp_path):
    frame = synth.llama_logs.head(2).select(pl.exclude("sources", "duration_ms"))
    ids = frame["id"].to_list()
    csv = tmp_path / "rows.csv"
    lla.write_logs(frame, csv)
    text = csv.read_text().splitlines()
    header = text[0] + ",sources,duration_ms"
    csv.write_text(
        "\n".join([header, text[1] + ',"{ MUSICBRAINZ , SPOTIFY }",606.0', text[2] + ',"[""DISCOGS""]",7'])
        + "\n"
    )
    ndjson = tmp_path / "rows.ndjson"
    records = frame.to_dicts()
    records[0] |= {"sources": "{ MUSICBRAINZ , SPOTIFY }", "duration_ms": 606.0}
    records[1] |= {"sources": ["DISCOGS"], "duration_ms": 7}
    ndjson.write_text("\n".join(json.dumps(r, default=str) for r in records) + "\n")
    for path in (csv, ndjson):
        with lla.LogStore() as each:
            result = each.load_files(path, quiet=True)
            assert result.rows_rejected == 0, each.rejects()
            loaded = each.table().sort(pl.col("id").cast(pl.String))
            by_id = dict(
                zip(loaded["id"].cast(pl.String), loaded.select("sources", "duration_ms").rows(), strict=True)
            )
            assert by_id == {ids[0]: (["MUSICBRAINZ", "SPOTIFY"], 606), ids[1]: (["DISCOGS"], 7)}, path.name


def test_a_pattern_matching_no_file_and_no_file_at_all_are_said_so(store, tmp_path):
    with pytest.raises(
        SourceError, match=r"nomatch/\*\.csv: the pattern matches no file\. Hint: check the path"
    ):
        store.load_files(str(tmp_path / "nomatch" / "*.csv"))
    with pytest.raises(SourceError, match=r"^no file named, so nothing to load\. Hint: name a file"):
        store.load_files([])
    assert store.loads().is_empty()


def test_a_struct_metadata_column_loads_with_a_note_on_the_keys_it_adds(store, synth, tmp_path):
    frame = synth.llama_logs.head(2).with_columns(
        pl.Series("metadata", [{"albumCreated": True, "reason": None}, {"albumCreated": None, "reason": "x"}])
    )  # a struct: every row has both keys, null where the row had none
    path = tmp_path / "struct.parquet"
    frame.write_parquet(path)
    result = store.load_files(path, quiet=True)
    assert result.rows_loaded == 2
    assert (
        "metadata is a struct in the file, which gives every row every key: a key a row did not have "
        "loads as null"
    ) in result.sources[0].notes
    stored = {json.dumps(json.loads(m), sort_keys=True) for m in store.table()["metadata"]}
    assert stored == {'{"albumCreated": true, "reason": null}', '{"albumCreated": null, "reason": "x"}'}


def test_a_new_table_named_like_a_log_table_is_said_to_be_new(store, synth, tmp_path):
    path = lla.write_logs(synth.llama_logs.head(3), tmp_path / "rows.csv")
    typo = store.load_files(path, "llama_log", quiet=True)
    assert (
        "llama_log is a new table, named like llama_logs, which this load left as it was. "
        "Hint: load into llama_logs with --as llama_logs (table='llama_logs')"
    ) in typo.sources[0].notes
    meant = store.load_files(path, "llama_logs_2026", quiet=True)  # a name of its own
    again = store.load_files(path, "llama_log", quiet=True)  # the table is there now
    assert not any("a new table" in note for r in (meant, again) for note in r.sources[0].notes)


def test_a_file_an_earlier_version_recorded_by_its_relative_path_is_still_its_own_source(
    store, synth, tmp_path, monkeypatch
):
    frame = synth.llama_logs.head(3)
    monkeypatch.chdir(tmp_path)
    lla.write_logs(frame, tmp_path / "x.csv")
    store.load_files("x.csv", quiet=True)
    store.execute("UPDATE _llamalog_loads SET source = './x.csv'")  # as written, as earlier versions kept it
    lla.write_logs(frame.with_columns(pl.lit("edited").alias("reason")), tmp_path / "x.csv")
    again = store.load_files("x.csv", quiet=True)
    assert (again.rows_rejected, again.sources[0].rows_changed) == (0, 3)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("folder", ["status=archived", "entityType=ALBUM"])
def test_a_key_value_folder_above_a_file_leaves_the_column_the_file_holds_as_it_is(
    store, synth, tmp_path, suffix, folder
):
    """A folder named like a hive partition (status=archived) gave every row of a file below it
    that status, in place of the file's own: the file's values load, and the notes say why the
    folder's name was not used."""
    path = tmp_path / folder / "logs" / f"part-0{suffix}"
    path.parent.mkdir(parents=True)
    result = store.load_files(lla.write_logs(synth.llama_logs, path), quiet=True)
    assert_same_rows(store.table(), synth.llama_logs)
    column, value = folder.split("=")
    assert (
        f"the folder {folder} names {column}, a column the file holds: the file's values are loaded, "
        f"not {value!r} (a key=value folder gives only a column the files lack)"
    ) in result.sources[0].notes


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_hive_partition_still_gives_a_column_the_file_lacks(store, synth, tmp_path, suffix):
    """Below status=archived/, a category=ENRICHED/ folder still gives the category the files lack;
    the status stays the file's."""
    enriched = synth.llama_logs.filter(pl.col("category") == "ENRICHED")
    path = tmp_path / "status=archived" / "logs" / "category=ENRICHED" / f"part-0{suffix}"
    path.parent.mkdir(parents=True)
    result = store.load_files(lla.write_logs(enriched.drop("category"), path), quiet=True)
    assert_same_rows(store.table(), enriched)
    assert result.sources[0].columns_absent == ()


def _psql(url: str, *arguments: str) -> bytes:
    """What ``psql ARGUMENTS`` prints, as a shell redirect would save it."""
    import subprocess

    from pgserver import BIN

    command = [str(BIN / "psql"), "-X", "-d", url, *arguments]
    return subprocess.run(command, capture_output=True, check=True).stdout


@pytest.fixture
def exported_database(pg_server, synth, request):
    """A database holding ``synth``'s rows, and those rows as the store loads them from it."""
    from pgserver import copy_rows, create_upstream

    url = pg_server.database(f"t_{request.node.name[:40].lower()}")
    create_upstream(url, indexes=False)
    copy_rows(url, synth.llama_logs)
    with lla.LogStore() as straight:
        straight.load_postgres(url, quiet=True)
        return url, straight.table()


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("rows.ndjson", "SELECT row_to_json(t) FROM llama_logs t"),
        ("rows.json", "SELECT json_agg(t) FROM llama_logs t"),
    ],
)
def test_json_that_copy_wrote_in_its_text_format_is_refused_not_loaded_with_doubled_backslashes(
    exported_database, tmp_path, name, query
):
    """``COPY (SELECT row_to_json(t) ...) TO STDOUT`` writes COPY's text format, which doubles
    each backslash of the JSON: a quote's escape then breaks the line, and a line break's
    (``\\n``) loads as a backslash and an n. psql's unaligned output is the same JSON as written."""
    url, expected = exported_database
    copied = tmp_path / name
    copied.write_bytes(_psql(url, "-c", f"COPY ({query}) TO STDOUT"))
    refused = (
        rf"^{re.escape(str(copied))}: written by COPY \.\.\. TO STDOUT in its text format, which "
        r"doubles each backslash of the JSON \(line \d+ is JSON only once they are halved\), so rows "
        r"holding a quote, a line break or a backslash would load wrong; the store is unchanged\. "
        r"Hint: export it with psql's "
        rf"unaligned output instead: psql -At -c '{re.escape(query)}' > {re.escape(name)}, "
        "then load that file$"
    )
    with lla.LogStore() as store, pytest.raises(SourceError, match=refused):
        store.load_files(copied, quiet=True)
    unaligned = tmp_path / f"unaligned-{name}"
    unaligned.write_bytes(_psql(url, "-At", "-c", query))
    with lla.LogStore() as store:
        result = store.load_files(unaligned, quiet=True)
        assert (result.rows_loaded, result.rows_rejected) == (3_000, 0)
        assert_same_rows(store.table(), expected, json_null_is_null=True)


@pytest.mark.parametrize("options", [("-A", "-F,"), ()], ids=["unaligned", "aligned"])
def test_psql_table_output_is_refused_as_not_csv_with_the_command_that_writes_csv(
    exported_database, tmp_path, options
):
    """``psql -A -F, -c 'SELECT * ...' > logs.csv`` quotes nothing: a comma in a value shifts
    its row, a line break splits it, NULL and empty text look alike. Its footer, ``(N rows)``,
    says what it is. ``psql --csv`` writes what a load reads."""
    url, expected = exported_database
    table = tmp_path / "logs.csv"
    table.write_bytes(_psql(url, *options, "-c", "SELECT * FROM llama_logs"))
    refused = (
        rf"^{re.escape(str(table))}: psql's table output \(it ends with '\(3000 rows\)'\), not CSV: it "
        r"quotes no value, so a comma or a line break in one shifts or splits its row, and NULL and "
        r"empty text look alike; the store is unchanged\. Hint: export the table as CSV: psql --csv -c "
        r"'SELECT \* FROM llama_logs' > logs\.csv, then load that file$"
    )
    with lla.LogStore() as store, pytest.raises(SourceError, match=refused):
        store.load_files(table, quiet=True)
    table.write_bytes(_psql(url, "--csv", "-c", "SELECT * FROM llama_logs"))
    with lla.LogStore() as store:
        assert store.load_files(table, quiet=True).rows_rejected == 0
        assert_same_rows(store.table(), expected)


def test_a_dump_a_copy_text_file_and_a_zstd_file_are_refused_with_what_they_are_and_what_to_do(
    exported_database, tmp_path
):
    """Each is a way people export the table that the loader does not read; its refusal names
    the kind of file and how to make one it reads."""
    import subprocess

    from pgserver import BIN

    url, _ = exported_database
    dump = tmp_path / "llama_logs.sql"
    subprocess.run([str(BIN / "pg_dump"), "--data-only", "-t", "llama_logs", "-f", dump, url], check=True)
    text = tmp_path / "llama_logs.tsv"
    text.write_bytes(_psql(url, "-c", "COPY llama_logs TO STDOUT (FORMAT text)"))
    packed = tmp_path / "llama_logs.csv.zst"
    packed.write_bytes(b"\x28\xb5\x2f\xfd")
    copy_csv = "psql -c \"\\\\copy llama_logs TO 'llama_logs.csv' CSV HEADER\", then load that file$"
    for path, expected in (
        (
            dump,
            r"a SQL script \(as pg_dump writes\), not rows\. Hint: load the database it came from "
            r"\(llamalog load postgresql://\.\.\.\), or export the table as CSV: " + copy_csv,
        ),
        (
            text,
            r"tab-separated text \(as COPY's text format writes, with \\N for NULL\)\. Hint: "
            r"export the table as CSV: " + copy_csv,
        ),
        (
            packed,
            r"compressed with zstd, which is not read\. Hint: decompress it \(zstd -dk "
            r"llama_logs\.csv\.zst\) or compress it with gzip instead, then load that file$",
        ),
    ):
        with (
            lla.LogStore() as store,
            pytest.raises(SourceError, match=rf"^{re.escape(str(path))}: {expected}"),
        ):
            store.load_files(path, quiet=True)


def test_the_snapshot_loaded_as_llama_logs_is_said_to_look_like_it(store):
    snapshot = ROOT / "data" / "sample" / "enrichment_logs.csv.gz"
    said = str(store.load_files(snapshot, quiet=True))
    assert (
        "it has none of the columns the migrations added (category, root_job_id): if it is the "
        f"pre-migration snapshot, load it as that. Hint: llamalog load {snapshot} --as enrichment_logs "
        "(table='enrichment_logs')"
    ) in said
    assert "migrations added" not in str(store.load_files(snapshot, "enrichment_logs", quiet=True))


def test_prismas_migrations_loaded_as_logs_is_said_to_be_that_table(store):
    migrations = ROOT / "data" / "sample" / "_prisma_migrations.csv"
    with pytest.raises(NotLlamaLogError) as failure:
        store.load_files(migrations)
    assert str(failure.value).endswith(
        f"Hint: it is an export of Prisma's _prisma_migrations: load it as that, llamalog load "
        f"{migrations} --as _prisma_migrations (table='_prisma_migrations')"
    )
    assert store.tables() == ()


@pytest.mark.parametrize("snapshot_first", [True, False])
def test_the_snapshot_loaded_with_the_table_keeps_the_tables_columns_whichever_comes_first(snapshot_first):
    """The snapshot's rows are the table's older rows without the migrations' columns: equal in
    the columns both give, so stored once, and as the table gives them."""
    files = [ROOT / "data" / "sample" / name for name in ("enrichment_logs.parquet", "llama_logs.parquet")]
    with lla.LogStore() as store:
        result = store.load_files(files if snapshot_first else files[::-1], quiet=True)
        assert (result.rows_read, result.rows_inserted, result.rows_rejected) == (4_651, 4_000, 0)
        if snapshot_first:  # its rows are the table's, given again in this load: not stored before it
            said = str(result)
            assert "651 read: 0 new, 651 repeated, 0 rejected" in said and "unchanged" not in said
            assert store.loads()["rows_repeated"].to_list() == [651, 0]
            assert "columns absent: category, root_job_id\n" in said  # no stored rows to keep theirs
        counted = store.execute("SELECT count(*), count(category) FROM llama_logs")[0]
        by_table = store.execute("SELECT count(root_job_id) FROM llama_logs")[0][0]
    assert counted == (4_000, 4_000)
    with lla.sample_store() as sample:
        assert by_table == sample.execute("SELECT count(root_job_id) FROM llama_logs")[0][0]


def test_a_file_without_a_column_not_null_upstream_says_its_rows_have_none(tmp_path):
    """An export that left out status loads (absent is no value), and the load says that the
    rows lack a value the database always has."""
    rows = pl.read_parquet(ROOT / "data" / "sample" / "llama_logs.parquet").head(50)
    rows.drop("status", "api_call_count").write_parquet(tmp_path / "cut.parquet")
    with lla.LogStore() as store:
        said = str(store.load_files(tmp_path / "cut.parquet", quiet=True))
    assert "status and api_call_count are NOT NULL upstream, yet its 50 new rows have none." in said


def test_a_table_loaded_after_the_snapshot_into_it_fills_the_columns_the_snapshot_lacked(tmp_path):
    """Absent is not a value: the snapshot loaded as llama_logs leaves category and root_job_id
    absent, and the table loaded next gives them, where they were rejected as conflicts. The
    rows stay the snapshot load's, and that source loaded again still knows them as its own."""
    shipped, table = (
        ROOT / "data" / "sample" / name for name in ("enrichment_logs.parquet", "llama_logs.parquet")
    )
    snapshot = tmp_path / "snapshot.parquet"
    snapshot.write_bytes(shipped.read_bytes())
    counted = "SELECT count(*), count(category), count(root_job_id) FROM llama_logs"
    with lla.LogStore() as store:
        first = store.load_files(snapshot, quiet=True)
        result = store.load_files(table, quiet=True)
        with lla.sample_store() as sample:
            assert store.execute(counted)[0] == sample.execute(counted)[0]
        loads = dict(store.execute("SELECT _load_id, count(*) FROM llama_logs GROUP BY ALL"))
        assert loads == {first.load_id: 651, result.load_id: 3_349} and store.changed().is_empty()
        history = store.loads()  # the load history says it as the load did
        assert history["rows_filled"].to_list() == [0, 651]
        assert load_counts(history.row(1, named=True)) == "4,000 read: 3,349 new, 651 filled, 0 rejected"
        # the snapshot's source, loaded again with a row changed there, changes its own row
        edited = pl.read_parquet(snapshot).with_columns(
            status=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("FAILED")).otherwise("status")
        )
        edited.write_parquet(snapshot)
        again = store.load_files(snapshot, quiet=True)
    source = result.sources[0]
    assert (source.rows_inserted, source.rows_changed, source.rows_filled, source.rows_rejected) == (
        3_349,
        0,
        651,
        0,
    )
    assert "4,000 read: 3,349 new, 651 filled, 0 rejected" in str(result)
    assert "651 stored rows given the columns their own load lacked" in str(result)
    assert (again.rows_rejected, again.sources[0].rows_changed) == (0, 1)


def test_a_value_a_stored_row_holds_is_not_filled_over(tmp_path):
    """A column its load lacked, where the row kept its value (a database's dropped column,
    reloaded), holds a value: another source giving another one is a conflict, not a fill. And
    a fill changes nothing but the absent columns: a JSON null stays a JSON null."""
    rows = pl.read_parquet(ROOT / "data" / "sample" / "llama_logs.parquet").head(5)
    rows = rows.with_columns(reason=pl.lit("kept"), metadata=pl.lit("null"))
    rows.write_parquet(tmp_path / "x.parquet")
    edited = rows.with_columns(category=pl.lit("FAILED"))
    edited.drop("reason").write_parquet(tmp_path / "x2.parquet")
    edited.with_columns(reason=pl.lit("EDITED"), metadata=None).write_ndjson(tmp_path / "y.ndjson")
    with lla.LogStore() as store:
        store.load_files(tmp_path / "x.parquet", quiet=True)
        (tmp_path / "x2.parquet").replace(tmp_path / "x.parquet")  # its source, without reason now
        changed = store.load_files(tmp_path / "x.parquet", quiet=True)
        conflict = store.load_files(tmp_path / "y.ndjson", quiet=True)
        kept = store.execute("SELECT DISTINCT reason, category FROM llama_logs")
    assert changed.sources[0].rows_changed == 5 and changed.sources[0].columns_absent == ("reason",)
    assert conflict.rows_rejected == 5 and kept == [("kept", "FAILED")]
    rows.drop("reason").write_parquet(tmp_path / "z.parquet")  # and a fill, from a JSON export:
    rows.with_columns(reason=pl.lit("given"), metadata=None).write_ndjson(tmp_path / "w.ndjson")  # null
    with lla.LogStore() as store:
        store.load_files(tmp_path / "z.parquet", quiet=True)
        filled = store.load_files(tmp_path / "w.ndjson", quiet=True)  # a JSON export: its nulls blurred
        held = store.execute("SELECT DISTINCT reason, metadata::VARCHAR FROM llama_logs")
    assert filled.sources[0].rows_filled == 5 and held == [("given", "null")]  # JSON null, not NULL
