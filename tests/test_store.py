"""The store: read-only sharing, its memory limit, the tracer, scratch tables, that every public
way to write tells the chain index to rebuild, missing stores, failed first loads and rejects."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import busiest_album, scenario, store_of

import llamalog_analytics as lla
from llamalog_analytics.chain_index import chain_index
from llamalog_analytics.errors import (
    ArgumentError,
    NotLlamaLogError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
)
from llamalog_analytics.store import _lock_holder, stores_beside


@pytest.fixture
def ten_rows(synth, tmp_path) -> Path:
    """A store file holding 10 rows."""
    path = tmp_path / "store.duckdb"
    with lla.LogStore(path) as s:
        s.load_files(lla.write_logs(synth.llama_logs.head(10), tmp_path / "x.csv"), quiet=True)
    return path


def test_read_only_store_refuses_loads_and_allows_concurrent_readers(ten_rows):
    with lla.LogStore(ten_rows, read_only=True) as a, lla.LogStore(ten_rows, read_only=True) as b:
        assert a.table().height == b.table().height == 10
        with pytest.raises(StoreError, match="read-only"):
            a.load_files(ten_rows.parent / "x.csv", quiet=True)


def test_duckdbs_memory_name_is_an_in_memory_store_that_keeps_its_tables(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with lla.LogStore(":memory:") as store:
        store.load_files(lla.sample_path("llama_logs.parquet"), quiet=True)
        assert store.path is None and store.tables() == ("llama_logs",)
    assert not any(tmp_path.iterdir())  # no file named like it


def test_arguments_of_the_wrong_kind_are_refused_with_a_hint(tmp_path):
    for wait in (None, "5", -1):
        with pytest.raises(ArgumentError, match=rf"wait={wait!r}: the seconds to wait.*Hint: pass 0 or more"):
            lla.LogStore(tmp_path / "s.duckdb", wait=wait)
    with (
        lla.LogStore() as store,
        pytest.raises(ArgumentError, match="attach takes one folder or glob, not a list"),
    ):
        store.attach([tmp_path / "a.parquet", tmp_path / "b.parquet"])


def test_a_store_an_earlier_version_wrote_reads_without_its_newer_columns(tmp_path):
    path = tmp_path / "s.duckdb"
    with lla.LogStore(path) as store:
        store.load_files(lla.sample_path("llama_logs.parquet"), quiet=True)
        store.execute("ALTER TABLE _llamalog_disappeared DROP COLUMN restored_load")  # as it was made then
        store.execute("DROP TABLE _llamalog_changed")  # made before changed rows were kept (and replaced)
    with lla.LogStore(path, read_only=True) as store:
        assert "restored_load" in store.disappeared().columns and store.source_changes().is_empty()
        assert store.loads()["rows_changed"].to_list() == [0]
        assert "llama_logs" in str(lla.summarize(store))
        assert "\n      4,000 read: 4,000 new, 0 rejected" in str(lla.summarize(store))


def test_memory_limit_is_set_or_refused_with_a_hint():
    def limit(store):
        return store.execute("SELECT current_setting('memory_limit')")[0][0]

    with lla.LogStore() as capped, lla.LogStore(memory_limit="500MB") as small:
        assert limit(capped) == "2.7 GiB"  # the 3GB default
        assert limit(small) == "476.8 MiB"
    with pytest.raises(StoreError, match=r"memory_limit='lots'.*Hint: write it like 3GB"):
        lla.LogStore(memory_limit="lots")


def test_the_tracer_sees_every_statement_with_its_parameters(synth, tmp_path):
    path = lla.write_logs(synth.llama_logs.head(50), tmp_path / "rows.parquet")
    seen: list[tuple[str, object]] = []
    with lla.LogStore(tracer=lambda sql, params: seen.append((sql, params))) as store:
        store.load_files(path, quiet=True)
        album = store.execute("SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL LIMIT 1")[0][0]
        lla.chain(store, "ALBUM", album)
        lla.verify(store)
    statements = [sql for sql, _ in seen]
    assert any(s.startswith('INSERT INTO "llama_logs"') for s in statements)  # the load
    assert any("_entity_id_high" in s for s in statements)  # the chain index's read
    assert any(s.startswith("CREATE TEMPORARY TABLE _llamalog_scratch_") for s in statements)  # verify
    assert ("SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL LIMIT 1", None) in seen
    assert any(str(path) in params for _, params in seen if params)  # parameters reach it too


def test_every_public_write_rebuilds_the_chain_index_and_reads_do_not(tmp_path):
    case = scenario("flat_queue_family")
    artist = case["chains"][0]["entity_id"]
    more = tmp_path / "more.json"
    more.write_text(
        '[{"id": "00000000-0000-4000-8000-0000000000aa", "operation": "x", "status": "SUCCESS", '
        '"created_at": "2026-03-01 00:00:00", "category": "ENRICHED", "job_id": "j"}]'
    )
    with store_of(case["rows"], tmp_path) as store:

        def rebuilt_after(action) -> bool:
            before = chain_index(store)
            action()
            return chain_index(store) is not before

        assert rebuilt_after(lambda: store.load_files(more, quiet=True))
        assert rebuilt_after(lambda: store.execute("DELETE FROM llama_logs WHERE operation = 'x'"))
        assert rebuilt_after(lambda: store.frame("UPDATE llama_logs SET reason = 'r' RETURNING id"))
        assert rebuilt_after(lambda: store.relation("UPDATE llama_logs SET reason = NULL RETURNING id").pl())
        assert not rebuilt_after(lambda: store.frame("SELECT count(*) FROM llama_logs"))
        assert not rebuilt_after(lambda: store.execute("CREATE TABLE notes (n INTEGER)"))  # another table
        assert rebuilt_after(lambda: store.execute("UPDATE llama_logs SET operation = upper(operation)"))
        assert not rebuilt_after(lambda: lla.verify(store))  # its scratch tables change no log table
        assert not rebuilt_after(lambda: lla.chain(store, "ARTIST", artist))


@pytest.mark.parametrize("column", ["sources", "fields_enriched"])
def test_a_list_emptied_or_nulled_in_place_rebuilds_the_chain_index(column):
    """An empty list, a NULL and a list of one NULL are different values (the app writes empty
    arrays; a NULL one is a quirk of the table's), though DuckDB hashes a row holding any of them
    alike: a row whose list went from one to another is a changed row, and the next chain shows it
    as the table has it."""
    with lla.sample_store() as store:
        row, album = store.execute(
            f"SELECT id::VARCHAR, album_id FROM llama_logs WHERE len({column}) = 0 AND album_id IS NOT NULL "
            "ORDER BY id LIMIT 1"
        )[0]
        for now, shown in (("NULL", None), ("[]", []), ("[NULL]", [None]), ("[]", [])):
            built = chain_index(store)
            store.execute(f"UPDATE llama_logs SET {column} = {now} WHERE id = '{row}'")
            assert chain_index(store) is not built
            chained = lla.chain(store, "ALBUM", album).filter(pl.col("id") == row)
            assert chained[column].to_list() == [shown]


def test_an_attached_tables_chain_index_outlives_writes_elsewhere_but_not_new_files(tmp_path):
    """An attached table is a view over its files: an audit recorded, another table written or
    the same files attached again (a new load) leave its rows, and so its chain index, as they
    were; attached again over other rows, it is rebuilt."""
    case = scenario("flat_queue_family")
    with store_of(case["rows"], tmp_path, "attached") as store:
        built = chain_index(store)
        store.execute("CREATE TABLE notes (n INTEGER)")
        lla.verify(store)
        assert chain_index(store) is built
        (files,) = tmp_path.glob("*.parquet")
        store.attach(files)
        assert chain_index(store) is built
        lla.write_logs(store.table().head(-1), files)
        store.attach(files)
        assert len(chain_index(store).rows) == len(built.rows) - 1


def test_temporary_tables_are_dropped_and_work_on_a_read_only_store(ten_rows):
    with lla.LogStore(ten_rows, read_only=True) as store:
        with store.temporary("SELECT id FROM llama_logs WHERE job_id IS NOT NULL") as name:
            assert store.execute(f"SELECT count(*) FROM {name}")[0][0] > 0
        assert not store.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name])[0][0]


def test_reading_a_missing_store_names_the_stores_beside_it_and_creates_nothing(ten_rows, tmp_path):
    folder = ten_rows.parent
    with pytest.raises(StoreNotFoundError) as failure:
        lla.LogStore(folder / "typo.duckdb", read_only=True)
    assert isinstance(failure.value, FileNotFoundError)
    assert failure.value.found == [str(ten_rows)]
    assert str(failure.value) == (
        f"{folder / 'typo.duckdb'}: no such store ({folder} has {ten_rows}). "
        f"Hint: use that store: LogStore({str(ten_rows)!r}, read_only=True)"
    )
    assert not (folder / "typo.duckdb").exists()
    (tmp_path / "llamalog-demo.duckdb").write_bytes(ten_rows.read_bytes())
    assert stores_beside(str(folder / "typo.duckdb"))[0] == str(folder / "llamalog-demo.duckdb")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreNotFoundError, match=r"no such store\. Hint: load data into it first"):
        lla.LogStore(empty / "x.duckdb", read_only=True)
    assert list(empty.iterdir()) == []


def test_a_path_typed_wrong_makes_an_empty_store_that_says_so_when_read(ten_rows):
    """Opening a path with no store makes one (to load into): read while empty, it says it was
    made just now and names the stores beside it, not "load a file"."""
    typo = ten_rows.parent / "typo.duckdb"
    store = lla.LogStore(typo)
    made = (
        f"{typo} did not exist: opening it made it, empty (its folder has {ten_rows}). Hint: check the path"
    )
    with pytest.raises(StoreError, match=re.escape(f"no log table 'llama_logs': {made}")):
        lla.chain(store, "ALBUM", "3e8428c2-2d96-4742-8ce3-9cf025319cd4")
    assert made in str(lla.summarize(store))
    store.load_files(ten_rows.parent / "x.csv", quiet=True)
    assert store.made_empty() is None and lla.LogStore(ten_rows).made_empty() is None


def test_a_store_in_a_folder_that_does_not_exist_says_to_create_the_folder(tmp_path, monkeypatch):
    missing = tmp_path / "new folder"
    with pytest.raises(StoreError) as failure:
        lla.LogStore(missing / "s.duckdb")
    assert str(failure.value) == (
        f"{missing / 's.duckdb'}: there is no folder {missing} to keep the store in. "
        f"Hint: create it (mkdir -p '{missing}'), or name a store in a folder that exists"
    )
    assert not missing.exists()
    monkeypatch.setenv("HOME", str(tmp_path))  # ~ is the home folder, as DuckDB reads it
    with lla.LogStore("~/home.duckdb") as store:
        store.execute("CREATE TABLE t AS SELECT 1")
    assert (tmp_path / "home.duckdb").exists()


def test_a_failed_first_load_leaves_no_store_file_and_a_failed_later_load_keeps_the_store(ten_rows, tmp_path):
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("name,price\nteapot,12\n")
    new = tmp_path / "new.duckdb"
    with pytest.raises(NotLlamaLogError), lla.LogStore(new) as store:
        store.load_files(stranger, quiet=True)
    assert not new.exists() and not Path(f"{new}.wal").exists()
    with pytest.raises(NotLlamaLogError), lla.LogStore(ten_rows) as store:
        store.load_files(stranger, quiet=True)
    with lla.LogStore(ten_rows, read_only=True) as store:
        assert store.table().height == 10
    with lla.LogStore(new) as store:  # opened and closed without an error: kept, empty
        pass
    assert new.exists()


def test_a_failed_first_load_keeps_a_store_file_another_store_of_the_process_holds(tmp_path):
    """The store a first load that failed made stays while another store of this process reads
    it (a notebook's second handle on it), and that store's hold on it stays too: another
    process still cannot write to it."""
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("name,price\nteapot,12\n")
    new = tmp_path / "new.duckdb"
    made = lla.LogStore(new)
    other = lla.LogStore(new)
    with other.session():
        with pytest.raises(StoreLockedError, match="already has the store open for reading"), made:
            made.load_files(stranger, quiet=True)
        assert new.exists()
        writing = subprocess.run(
            [sys.executable, "-c", "import sys, duckdb; duckdb.connect(sys.argv[1]).close()", str(new)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert writing.returncode != 0 and "lock" in writing.stderr.lower(), writing.stderr


def test_reading_a_store_whose_file_was_removed_says_there_is_no_such_store(ten_rows):
    """A store opened to read, whose file the shell removed since, says there is no store there
    and names the stores beside it, as opening it then would have."""
    store = lla.LogStore(ten_rows, read_only=True)
    assert store.table().height == 10
    ten_rows.unlink()
    with pytest.raises(StoreNotFoundError, match=r"no such store"):
        store.table()


def test_a_store_whose_file_another_process_removed_loads_into_a_new_one(ten_rows, tmp_path):
    """A notebook's store whose file the shell removed (rm store.duckdb) makes it again on its
    next load, bookkeeping included, as a new store's first load does."""
    store = lla.LogStore(ten_rows)
    store.load_files(ten_rows.parent / "x.csv", quiet=True)  # loaded again: no new rows
    ten_rows.unlink()
    result = store.load_files(ten_rows.parent / "x.csv", quiet=True)
    assert result.rows_loaded == 10 and store.loads()["load_id"].to_list() == [1]
    store.close()


def test_a_summary_and_an_explanation_each_open_the_store_file_once(synth, tmp_path, monkeypatch):
    path = tmp_path / "store.duckdb"
    with lla.LogStore(path) as store:
        store.load_files(lla.write_logs(synth.llama_logs.head(2000), tmp_path / "x.csv"), quiet=True)
    album = busiest_album(lla.LogStore(path, read_only=True))
    opened = []
    connect = lla.LogStore._connect
    monkeypatch.setattr(lla.LogStore, "_connect", lambda self, **kw: opened.append(kw) or connect(self, **kw))
    store = lla.LogStore(path, read_only=True)  # as the CLI opens it: nothing held between calls
    lla.summarize(store)
    assert len(opened) == 1
    lla.explain(store, "ALBUM", album)
    assert len(opened) == 2


def test_rejects_of_a_load_that_is_not_there_names_those_that_are(ten_rows, tmp_path):
    with lla.LogStore(ten_rows) as store:
        store.load_files(ten_rows.parent / "x.csv", quiet=True)
        store.load_files(ten_rows.parent / "x.csv", quiet=True)
        assert store.rejects(3).height == 0
        with pytest.raises(ArgumentError, match=r"^no load 7 in the store \(its loads are 1-3\)\. Hint: "):
            store.rejects(7)
    with lla.LogStore() as empty, pytest.raises(ArgumentError, match="the store has no loads yet"):
        empty.rejects(1)
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    store = lla.LogStore(foreign, read_only=True)  # opening it is fine; reading its rejects is not
    with store, pytest.raises(StoreError, match="not a LlamaLog store"):
        store.rejects()


def test_a_data_file_or_a_stranger_is_not_opened_as_a_store(tmp_path):
    export = tmp_path / "llama_logs.parquet"
    export.write_bytes(b"PAR1")
    with pytest.raises(StoreError, match=r"llama_logs\.parquet: a data file, not a store\. Hint: .*load"):
        lla.LogStore(export, read_only=True)
    stranger = tmp_path / "notes.txt"
    stranger.write_text("not a database\n")
    with pytest.raises(StoreError, match=r"notes\.txt: cannot open the store \(.*\)\. Hint: check the path"):
        lla.LogStore(stranger, read_only=True).tables()
    assert export.read_bytes() == b"PAR1" and stranger.read_text() == "not a database\n"


def test_the_process_holding_a_store_is_named_without_its_database_password():
    """A store held by `llamalog load postgresql://...` names that command, its password masked."""
    url = "postgresql://app:s3cret@db.example/music"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", url, "--db", "s.duckdb"])
    cmdline = Path(f"/proc/{holder.pid}/cmdline")
    deadline = time.monotonic() + 30
    while url.encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # until the child runs its command: before, /proc shows this process's
    try:
        named = _lock_holder(f"Conflicting lock is held in {sys.executable} (PID {holder.pid}). See also")
    finally:
        holder.kill()
        holder.wait()
    assert named.startswith(f"process {holder.pid} (python") and "s3cret" not in named
    assert named.endswith("'postgresql://app:***@db.example/music' --db s.duckdb)")


@pytest.mark.parametrize(
    ("name", "rest"),
    [
        ("chain", ("ALBUM", "8f6d96c6-c33c-4687-a63b-396b2530e7ce")),
        ("chain_page", ("ALBUM", "8f6d96c6-c33c-4687-a63b-396b2530e7ce")),
        ("explain", ("ALBUM", "8f6d96c6-c33c-4687-a63b-396b2530e7ce")),
        ("provenance_graph", ()),
        ("plot_timeline", ("ALBUM", "8f6d96c6-c33c-4687-a63b-396b2530e7ce")),
        ("summarize", ()),
        ("verify", ()),
        ("audit_history", ()),
        ("compare_audits", ()),
    ],
)
def test_a_path_where_a_store_goes_says_to_open_it(name, rest, tmp_path):
    path = str(tmp_path / "s.duckdb")
    with pytest.raises(ArgumentError) as failure:
        getattr(lla, name)(path, *rest)
    assert str(failure.value) == (
        f"{name}() takes a LogStore, not the path {path!r}. Hint: open it first: "
        f"store = lla.LogStore({path!r}), then lla.{name}(store, ...)"
    )
    with pytest.raises(ArgumentError, match=r"repair\(\) takes the report lla.verify\(store\) returned"):
        lla.repair(path)  # type: ignore[arg-type]
