"""Parquet files attached as a log table: read in place, checked as a load, never written."""

from __future__ import annotations

import os
import re

import duckdb
import polars as pl
import pytest
from conftest import run_cli

import llamalog_analytics as lla
from llamalog_analytics.errors import AttachedFilesChangedError, NotLlamaLogError, SourceError, StoreError
from llamalog_analytics.stage import load_counts


@pytest.fixture
def partitioned(synth, tmp_path):
    """``synth``'s rows as hive-partitioned Parquet files, one folder per entity type."""
    folder = tmp_path / "logs"
    for (kind,), rows in synth.llama_logs.group_by("entity_type"):
        part = folder / f"entity_type={kind}"
        part.mkdir(parents=True)
        for number, piece in enumerate(rows.iter_slices(400)):
            lla.write_logs(piece.drop("entity_type"), part / f"part-{number}.parquet")
    return folder


@pytest.fixture
def twenty(synth, tmp_path):
    """A folder of one Parquet file: ``synth``'s first 20 rows."""
    folder = tmp_path / "logs"
    folder.mkdir()
    lla.write_logs(synth.llama_logs.head(20), folder / "a.parquet")
    return folder


def test_an_attached_folder_is_the_log_table_as_a_load_would_make_it(synth, partitioned, tmp_path):
    loaded = lla.LogStore()
    loaded.load_files(lla.write_logs(synth.llama_logs, tmp_path / "all.parquet"), quiet=True)
    with lla.LogStore(tmp_path / "s.duckdb") as store:
        result = store.attach(partitioned)
        assert result.rows_loaded == synth.llama_logs.height and store.tables() == ("llama_logs",)
        assert store.loads()["format"].to_list() == ["parquet, attached"]
        assert store.table().equals(loaded.table())
        album = store.execute("SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL LIMIT 1")[0][0]
        assert lla.chain(store, "ALBUM", album).equals(lla.chain(loaded, "ALBUM", album))
        assert lla.verify(store).status == lla.verify(loaded).status
        assert store.path is not None and (tmp_path / "s.duckdb").stat().st_size < 2_000_000


def test_the_view_reads_the_files_attached_until_attached_again(synth, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    half = synth.llama_logs.height // 2
    # the first file's `sources` all NULL: typed Null in Parquet, which must not decide how later files read
    lla.write_logs(synth.llama_logs.head(half).with_columns(sources=None), folder / "a.parquet")
    with lla.LogStore(tmp_path / "s.duckdb") as store:
        store.attach(folder)
        album = store.execute("SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL LIMIT 1")[0][0]
        before = lla.chain(store, "ALBUM", album).height
        later = synth.llama_logs.slice(half)
        lla.write_logs(later, folder / "b.parquet")
        (folder / "c.parquet").write_bytes(b"PAR1 still being written")
        assert store.table().height == half  # files added since are not read, checked or not
        (folder / "c.parquet").unlink()
        store.attach(folder)  # checks and reads every file there now
        assert store.table().height == synth.llama_logs.height
        assert store.execute("SELECT count(sources) FROM llama_logs")[0][0] == later["sources"].count() > 0
        complete = lla.LogStore()
        complete.load_files(folder / "*.parquet", quiet=True)
        assert lla.chain(store, "ALBUM", album).equals(lla.chain(complete, "ALBUM", album))
        assert lla.chain(store, "ALBUM", album).height >= before
        (folder / "b.parquet").rename(tmp_path / "b.parquet")  # a file gone since the attachment
        gone = r"b\.parquet was removed or moved since it was attached as llama_logs.*Hint: attach"
        with pytest.raises(StoreError, match=gone):
            store.table()
    code, out, _ = run_cli("info", "--db", tmp_path / "s.duckdb")  # the rest of the store is shown
    assert code == 0 and "llama_logs; attached, read in place from" in out
    assert "b.parquet was removed or moved since it was attached" in out and "load history" in out
    (tmp_path / "b.parquet").write_bytes(b"PAR1 cut short")  # back, but half-written
    (tmp_path / "b.parquet").rename(folder / "b.parquet")
    with (
        lla.LogStore(tmp_path / "s.duckdb") as store,
        pytest.raises(StoreError, match="b\\.parquet has changed"),
    ):
        store.table()


def test_an_in_memory_store_says_which_attached_file_went(synth, twenty):
    folder = twenty
    with lla.LogStore() as store:
        store.attach(folder)
        (folder / "a.parquet").unlink()
        with pytest.raises(StoreError, match=r"a\.parquet was removed or moved since it was attached"):
            lla.chain(store, "ALBUM", synth.llama_logs["album_id"].drop_nulls()[0])


def test_folders_with_brackets_and_files_that_disagree_on_a_type(synth, tmp_path):
    folder = tmp_path / "logs[1]"
    folder.mkdir()
    lla.write_logs(synth.llama_logs.head(20), folder / "a.parquet")
    (tmp_path / "logs1").mkdir()  # what the name would match as a glob: never read
    lla.write_logs(synth.llama_logs.slice(20, 5), tmp_path / "logs1" / "a.parquet")
    with lla.LogStore() as store:
        assert store.attach(folder).rows_loaded == 20  # '[1]' is part of the name, not a glob
        assert store.load_files(folder / "a.parquet", "copied", quiet=True).rows_loaded == 20
        synth.llama_logs.slice(20, 20).with_columns(sources=pl.lit("{spotify}")).write_parquet(
            folder / "b.parquet"
        )
        with pytest.raises(SourceError, match=r"cannot be read as one table .*Hint: give a column one type"):
            store.attach(folder, "both")
        assert store.tables() == ("copied", "llama_logs")
        (folder / "a.parquet").unlink()
        with pytest.raises(StoreError, match=r"logs\[1\]/a\.parquet was removed"):
            store.table()  # not logs1/a.parquet instead


def test_bad_files_are_refused_by_file_row_and_column_and_the_store_is_unchanged(synth, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    lla.write_logs(synth.llama_logs.head(50), folder / "good.parquet")
    bad = synth.llama_logs.slice(50, 50).with_columns(
        pl.when(pl.int_range(pl.len()) == 6)
        .then(pl.lit("yesterday"))
        .otherwise(pl.col("created_at").cast(pl.String))
        .alias("created_at")
    )
    bad.write_parquet(folder / "bad.parquet")
    with lla.LogStore() as store:
        with pytest.raises(
            SourceError,
            match=r"bad\.parquet: row 7, column created_at: 'yesterday' is not .*1 of the 100 rows.*Hint:",
        ):
            store.attach(folder)
        assert store.tables() == () and store.loads().height == 0
        twice = tmp_path / "twice"
        twice.mkdir()
        for name in ("a", "b"):
            lla.write_logs(synth.llama_logs.head(5), twice / f"{name}.parquet")
        given = r"given more than once \(.*a\.parquet row (\d+) and .*b\.parquet row \1\).*Hint: load"
        with pytest.raises(SourceError, match=given):
            store.attach(twice)
        with pytest.raises(SourceError, match="nowhere: no such file or folder"):
            store.attach(tmp_path / "nowhere")
        (tmp_path / "empty").mkdir()
        with pytest.raises(SourceError, match="no Parquet files there"):
            store.attach(tmp_path / "empty")
        lla.write_logs(synth.llama_logs.head(5), twice / "c.csv")
        lla.write_logs(synth.llama_logs.head(5), twice / "c.pq")  # Parquet by another name
        assert store.attach(twice / "*.pq", "short_suffix").rows_loaded == 5
        with pytest.raises(SourceError, match=r"\*\.csv: only Parquet files can be attached.*llamalog load"):
            store.attach(twice / "*.csv")
        with pytest.raises(SourceError, match=r"c\.csv: only Parquet files can be attached, and it is not"):
            store.attach(twice / "c.csv")
        lla.write_logs(synth.llama_logs.head(5), tmp_path / "empty" / "d.csv")
        left_out = r"no Parquet files there; left out, not Parquet by name: d\.csv"
        with pytest.raises(SourceError, match=left_out):
            store.attach(tmp_path / "empty")
        assert store.tables() == ("short_suffix",)


def test_each_file_is_checked_as_a_load_of_it_would_be(synth, tmp_path):
    """A file without a required column, or naming a column otherwise than the other files, is
    refused by name; a column some files lack is noted; a job's _temporary/ and hidden files are
    not data, and .pq files in a folder are."""
    rows = synth.llama_logs
    folder = tmp_path / "logs"
    (folder / "_temporary" / "0").mkdir(parents=True)
    lla.write_logs(rows.head(10), folder / "a.parquet")
    lla.write_logs(rows.slice(10, 10).drop("preview_data"), folder / "b.pq")
    (folder / "_temporary" / "0" / "part-1.parquet").write_bytes(b"PAR1 being written")
    (folder / ".c.parquet").write_bytes(b"a hidden copy")
    with lla.LogStore() as store:
        result = store.attach(folder)
        assert result.rows_loaded == 20
        assert "preview_data is absent from 1 of the 2 files (NULL in their rows)" in result.sources[0].notes
        rows.slice(20, 10).drop("operation").write_parquet(folder / "c.parquet")
        with pytest.raises(NotLlamaLogError, match=r"c\.parquet.*operation") as failure:
            store.attach(folder)
        assert "nothing was attached" in str(failure.value) and "CSV HEADER" not in str(failure.value)
        assert "move it out of the folder" in str(failure.value)
        camel = {
            name: name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:])
            for name in rows.columns
        }
        rows.slice(20, 10).rename(camel).write_parquet(folder / "c.parquet")
        with pytest.raises(
            SourceError, match=r"c\.parquet: column 'entityType' is 'entity_type' in .*a\.parquet"
        ):
            store.attach(folder)
        assert store.table().height == 20  # the attachment before is kept


def test_unknown_labels_ignored_columns_and_missing_values_are_noted_as_a_load_notes_them(synth, tmp_path):
    rows = synth.llama_logs
    folder = tmp_path / "logs"
    folder.mkdir()
    lla.write_logs(rows.head(10), folder / "a.parquet")
    odd = rows.slice(10, 10).with_columns(
        pl.col("status").str.to_lowercase(), pl.lit(None, pl.String).alias("category"), colour=pl.lit("red")
    )
    odd.write_parquet(folder / "b.parquet")
    loaded = lla.LogStore().load_files(sorted(folder.iterdir()), quiet=True)
    with lla.LogStore() as store:
        attached = store.attach(folder).sources[0]
    notes = [n for s in loaded.sources for n in s.notes]
    assert attached.unknown_labels == loaded.sources[1].unknown_labels != {}
    for said in ("ignored 1 unknown column: colour", "unknown status label", "10 rows with no category"):
        assert [said in n for n in attached.notes].count(True) == 1 == [said in n for n in notes].count(True)


def test_parquet_files_are_told_by_their_suffix_in_any_case_and_others_are_named(synth, tmp_path):
    """A folder's PART.PARQUET is attached with its .parquet files, and a file there that is not
    Parquet by name is left out with a note naming it; a glob is taken by the files it matches,
    not by how it ends, and is refused naming a file it matches that is not Parquet."""
    rows = synth.llama_logs
    folder = tmp_path / "logs"
    folder.mkdir()
    lla.write_logs(rows.head(10), folder / "part-0.parquet")
    lla.write_logs(rows.slice(10, 10), folder / "PART-1.PARQUET")
    (folder / "notes.txt").write_text("exported 2026-02-10")
    with lla.LogStore() as store:
        result = store.attach(folder)
        assert result.rows_loaded == 20
        assert "left out, not Parquet by name: notes.txt" in result.sources[0].notes
        assert store.attach(folder / "part-*", "globbed").rows_loaded == 10
        with pytest.raises(
            SourceError, match=r"\*: only Parquet files can be attached, and .*notes\.txt is not"
        ):
            store.attach(folder / "*", "every")
        assert store.tables() == ("globbed", "llama_logs")


def test_a_folder_reached_through_a_symbolic_link_is_named_as_left_out(synth, tmp_path):
    """A folder's glob does not enter a folder below it that is a symbolic link: its files are
    not attached, and a note names it, so none goes missing without a word."""
    rows = synth.llama_logs
    folder, elsewhere = tmp_path / "logs", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    lla.write_logs(rows.head(10), folder / "a.parquet")
    lla.write_logs(rows.slice(10, 10), elsewhere / "b.parquet")
    (folder / "y2026").symlink_to(elsewhere, target_is_directory=True)
    with lla.LogStore() as store:
        result = store.attach(folder)
        assert result.rows_loaded == 10
        assert "left out, folders reached through a symbolic link: y2026" in result.sources[0].notes[0]


def test_a_type_that_loses_values_in_some_files_is_noted_as_a_load_of_them_notes_it(synth, tmp_path):
    """A file whose created_at is a DATE loads its rows at midnight, and a load of it says so:
    attached beside files with full timestamps (read as one table of timestamps), it is noted too."""
    rows = synth.llama_logs
    folder = tmp_path / "logs"
    folder.mkdir()
    lla.write_logs(rows.head(10), folder / "a.parquet")
    rows.slice(10, 10).with_columns(pl.col("created_at").dt.date()).write_parquet(folder / "b.parquet")
    with lla.LogStore() as store:
        notes = store.attach(folder).sources[0].notes
        assert any(
            "created_at is a DATE in the file" in note and "1 of the 2 files" in note and "b.parquet" in note
            for note in notes
        ), notes


def test_an_attached_table_is_read_only_and_does_not_replace_loaded_rows(twenty):
    folder = twenty
    with lla.LogStore() as store:
        store.attach(folder)
        where = re.escape(str(folder.resolve()))
        attached = rf"the in-memory store: 'llama_logs' is attached from Parquet files \({where}\)"
        with pytest.raises(StoreError, match=rf"{attached}.*Hint: put the rows in a Parquet file in {where}"):
            store.load_files(folder / "a.parquet", quiet=True)
        store.attach(folder / "a.parquet", "one_file")  # no folder to add a file to
        with pytest.raises(StoreError, match=r"Hint: attach a folder or glob that holds .*a\.parquet and"):
            store.load_files(folder / "a.parquet", "one_file", quiet=True)
        store.load_files(folder / "a.parquet", "copied", quiet=True)
        with pytest.raises(StoreError, match="holds loaded rows in 'copied'"):
            store.attach(folder, "copied")
        assert store.table("copied").height == store.table().height == 20


def test_llamalog_attach_says_what_it_attached_or_why_not(synth, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    lla.write_logs(synth.llama_logs.head(30), folder / "a.parquet")
    db = tmp_path / "s.duckdb"
    code, out, err = run_cli("attach", folder, "--db", db)
    assert (code, err) == (0, "") and "[parquet, attached] -> llama_logs: 30 read: 30 new, 0 rejected" in out
    code, out, err = run_cli("info", "--db", db)
    assert code == 0 and "llama_logs: 30 rows, created_at " in out
    assert f"; attached, read in place from {folder.resolve()}\n" in out
    code, out, err = run_cli("attach", tmp_path / "nowhere", "--db", db, "--as", "more")
    assert (code, out) == (2, "") and "nowhere: no such file or folder" in err and "Hint:" in err
    code, out, err = run_cli("chain", "ALBUM", synth.llama_logs["album_id"].drop_nulls()[0], "--db", db)
    assert code == 0, err
    code, _, err = run_cli("attach", folder / "a.parquet", folder / "b.parquet", "--db", db, "--as", "more")
    assert code == 2 and "was given 2 paths" in err and "llamalog attach 'logs/*.parquet'" in err


def test_a_file_rewritten_since_attached_is_refused_until_attached_again(synth, twenty, tmp_path):
    """A rewritten file may hold other types, ids or columns than were checked: what reads the
    table is refused until it is attached again (here, or by another process), the rest of the
    store reads as before, and errors of another kind are not blamed on the file."""
    db = tmp_path / "s.duckdb"
    with lla.LogStore(db) as store:
        store.attach(twenty)
        copied = lla.write_logs(synth.llama_logs.slice(20, 5), tmp_path / "c.parquet")
        store.load_files(copied, "copied", quiet=True)
        with pytest.raises(duckdb.CatalogException):  # raised inside the store's session
            store.execute("SELECT * FROM no_such_table")
        before = store.version()
        rewritten = synth.llama_logs.head(10).with_columns(duration_ms=pl.lit("30x"), id=pl.lit("not-a-uuid"))
        rewritten.write_parquet(twenty / "a.parquet")  # a re-export with other types, still Parquet
        assert store.version() != before  # the chain index is rebuilt
        again = f"llamalog attach {twenty.resolve()} --as llama_logs --db {db.resolve()}"
        with pytest.raises(StoreError, match=rf"a\.parquet has changed since it .*{re.escape(again)}"):
            store.table()
        with pytest.raises(StoreError, match=r"a\.parquet has changed"):
            store.execute("CREATE TABLE kept AS SELECT * FROM llama_logs")  # a write reads it too
        assert store.table("copied").height == 5 and store.loads().height == 2  # the rest reads
        with store.session():
            store.loads()  # a session's first statement need not name the table
            with pytest.raises(StoreError, match=r"a\.parquet has changed"):
                store.execute("SELECT count(*) FROM llama_logs")
        with pytest.raises(SourceError, match="is not a UUID"):
            store.attach(twenty)  # attaching again checks it, and refuses it
        lla.write_logs(synth.llama_logs.head(20), twenty / "a.parquet")
        assert run_cli("attach", twenty, "--db", db)[0] == 0  # attached again by another store
        assert store.table().height == 20
    code, _, err = run_cli("info", "--db", db)
    assert code == 0, err


def test_a_changed_file_refuses_its_own_table_only(synth, tmp_path):
    folders = {name: tmp_path / name for name in ("ta", "tb")}
    for at, folder in enumerate(folders.values()):
        folder.mkdir()
        lla.write_logs(synth.llama_logs.slice(10 * at, 10), folder / "x.parquet")
    seen: list[str] = []
    with lla.LogStore(tmp_path / "s.duckdb", tracer=lambda sql, _: seen.append(sql)) as store:
        for name, folder in folders.items():
            store.attach(folder, name)
        seen.clear()
        lla.write_logs(synth.llama_logs.head(3), folders["ta"] / "x.parquet")
        assert store.table("tb").height == 10  # the other table, and a word in a quoted text
        assert store.execute("SELECT count(*) FROM tb WHERE operation <> 'ta'") == [(10,)]
        with pytest.raises(AttachedFilesChangedError, match=r"ta/x\.parquet has changed .* so ta cannot"):
            store.table("ta")
    assert not any("_llamalog_attached_files" in sql for sql in seen)  # the store's own questions
    with lla.LogStore(tmp_path / "s.duckdb") as store, store.session():  # one session, both tables
        assert store.table("tb").height == 10
        with pytest.raises(AttachedFilesChangedError, match=r"ta/x\.parquet has changed"):
            store.table("ta")
        summary = {t.name: t for t in lla.summarize(store).tables}
    assert summary["tb"].rows == 10 and "ta/x.parquet has changed" in (summary["ta"].unreadable or "")


def test_a_table_attached_by_an_earlier_version_is_still_watched(twenty, tmp_path):
    with lla.LogStore(tmp_path / "s.duckdb") as store:
        store.attach(twenty)
        store.execute("DELETE FROM _llamalog_attached_files")  # an earlier version kept only the glob
        before = store.version()
        os.utime(twenty / "a.parquet", ns=(0, 0))
        assert store.version() != before


def test_attaching_again_counts_as_new_only_the_rows_of_files_not_attached_before(synth, twenty, tmp_path):
    """A month's file added and the folder attached again: its rows are new, the rows of files
    attached before as they were are unchanged, as a load of the same files says; rows of a file
    rewritten since count as new, and a note says why."""
    rows = synth.llama_logs
    lla.write_logs(rows.slice(20, 10), twenty / "b.parquet")
    with lla.LogStore() as store:
        store.attach(twenty / "a.parquet")
        again = store.attach(twenty).sources[0]
        assert (again.rows_read, again.rows_inserted, again.notes) == (30, 10, ())
        loaded = lla.LogStore()
        loaded.load_files(twenty / "a.parquet", quiet=True)
        assert (loaded.load_files(twenty / "*.parquet", quiet=True).rows_inserted) == 10
        said = load_counts(store.loads().row(-1, named=True))
        assert said == "30 read: 10 new, 20 unchanged, 0 rejected"
        lla.write_logs(rows.head(15), twenty / "a.parquet")  # a re-export: other rows, other size
        rewritten = store.attach(twenty).sources[0]
        assert (rewritten.rows_read, rewritten.rows_inserted) == (25, 15)
        assert "1 file attached before was rewritten, removed or left out since" in " ".join(rewritten.notes)


def test_a_missing_log_table_names_the_table_attached_under_another_name(synth, twenty, tmp_path):
    """Attached as archive (as the README does), a chain asked of the default table says to name
    archive, where it said only to load llama_logs."""
    album = synth.llama_logs.head(20)["album_id"].drop_nulls()[0]
    db = tmp_path / "s.duckdb"
    with lla.LogStore(db) as store:
        store.attach(twenty, "archive")
        named = r"\(tables: archive\)\. Hint: name one of them \(table='archive'"
        with pytest.raises(StoreError, match=named):
            lla.chain(store, "ALBUM", album)
        assert lla.chain(store, "ALBUM", album, table="archive").height > 0
    code, _, err = run_cli("explain", "ALBUM", album, "--db", db)
    assert code == 2 and "--table archive" in err


def test_a_key_value_folder_above_the_attached_folder_leaves_the_column_the_files_hold(synth, tmp_path):
    """Files below status=archived/ were read as if every row's status were 'archived'; the
    partitions below the folder attached still give the column the files lack (entity_type)."""
    folder = tmp_path / "status=archived" / "logs"
    for (kind,), rows in synth.llama_logs.group_by("entity_type"):
        (folder / f"entity_type={kind}").mkdir(parents=True)
        lla.write_logs(rows.drop("entity_type"), folder / f"entity_type={kind}" / "part-0.parquet")
    loaded = lla.LogStore()
    loaded.load_files(lla.write_logs(synth.llama_logs, tmp_path / "all.parquet"), quiet=True)
    with lla.LogStore() as store:
        result = store.attach(folder)
        assert store.table().equals(loaded.table())
        assert (
            "the folder status=archived names status, a column the files hold: the files' values are "
            "loaded, not 'archived' (a key=value folder gives only a column the files lack)"
        ) in result.sources[0].notes
        assert not any("entity_type" in note for note in result.sources[0].notes)


def test_a_partition_folder_gives_its_column_to_the_files_that_lack_it(synth, tmp_path):
    """Read as one table, files some of which hold a column a folder names: the folder's value
    went to NULL in the rows of the files without it (the column was the files' own); each file
    now takes it as a load of that file alone does, in a folder whose name has a quote and a
    bracket."""
    folder = tmp_path / "logs [x]'s"
    albums = pl.col("entity_type") == "ALBUM"
    (folder / "entity_type=ALBUM").mkdir(parents=True)
    lla.write_logs(
        synth.llama_logs.filter(albums).drop("entity_type"), folder / "entity_type=ALBUM" / "a.parquet"
    )
    others = synth.llama_logs.filter(~albums)
    lla.write_logs(others.slice(3), folder / "rest.parquet")
    lla.write_logs(others.head(3).drop("entity_type"), folder / "bare.parquet")  # no folder names it
    loaded = lla.LogStore()
    loaded.load_files(list(folder.glob("**/*.parquet")), quiet=True)
    with lla.LogStore() as store:
        result = store.attach(folder)
        assert store.table().sort("id").equals(loaded.table().sort("id"))
        assert store.execute("SELECT count(*) FROM llama_logs WHERE entity_type IS NULL")[0][0] == 3
        assert (
            "the folder entity_type=ALBUM names entity_type, a column 1 of the 3 files hold: their values "
            "are loaded, and the 1 file without it takes the value of its folder"
        ) in result.sources[0].notes
        assert "entity_type is absent from 1 of the 3 files (NULL in their rows)" in result.sources[0].notes


def test_files_added_to_an_attached_folder_are_named_until_attached_again(synth, twenty, tmp_path):
    """The view reads the files attached; one added since is not read, which info now says."""
    db = tmp_path / "s.duckdb"
    with lla.LogStore(db) as store:
        store.attach(twenty)
        lla.write_logs(synth.llama_logs.slice(20, 10), twenty / "b.parquet")
        (twenty / "_SUCCESS").write_text("")  # never attached: not named either
        summary = lla.summarize(store)
        assert summary.tables[0].unread_files == (str(twenty / "b.parquet"),)
        assert (
            "  not read: 1 Parquet file there added since it was attached (b.parquet). Hint: attach "
            f"llama_logs again to read it (store.attach in Python): llamalog attach {twenty} --as llama_logs "
            f"--db {db}"
        ) in str(summary)
        assert "not read: 1 Parquet file" in summary._repr_html_()
        assert store.table().height == 20
    code, out, _ = run_cli("info", "--db", db)
    assert code == 0 and "not read: 1 Parquet file there added since it was attached (b.parquet)" in out
    with lla.LogStore(db) as store:
        store.attach(twenty)
        assert lla.summarize(store).tables[0].unread_files == () and store.table().height == 30
