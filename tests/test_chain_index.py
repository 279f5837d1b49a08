"""The chain index's storage: rows mapped from a file beside the store, the same answers from
an in-memory store and a file store, and a write through the store replacing the mapped rows."""

from __future__ import annotations

import json
import threading
import uuid

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from conftest import scenario

import llamalog_analytics as lla
from llamalog_analytics import chain_index as chain_index_module
from llamalog_analytics import links
from llamalog_analytics.chain_index import chain_index
from llamalog_analytics.chains import all_chains, runs
from llamalog_analytics.errors import JobKeyCollisionError, LinkError
from llamalog_analytics.links import _core as links_core
from llamalog_analytics.links import findings


@pytest.fixture(scope="module")
def file_store(synth, tmp_path_factory):
    """:func:`synth`'s rows in a store file (the session's ``synth_store`` holds them in memory)."""
    folder = tmp_path_factory.mktemp("file-store")
    synth.llama_logs.write_parquet(folder / "logs.parquet")
    with lla.LogStore(folder / "store.duckdb") as store:
        store.load_files(folder / "logs.parquet", quiet=True)
        yield store


@pytest.mark.parametrize("link", ["instance", "job_id"])
def test_a_file_store_answers_as_an_in_memory_store_does(synth_store, file_store, link):
    entities = synth_store.execute(
        "SELECT DISTINCT 'ALBUM', album_id FROM llama_logs WHERE album_id IS NOT NULL "
        "UNION ALL SELECT DISTINCT 'TRACK', track_id FROM llama_logs WHERE track_id IS NOT NULL "
        "ORDER BY 1, 2 LIMIT 60"
    )
    for kind, entity in entities:
        in_memory = lla.chain(synth_store, kind, entity, link=link)
        assert in_memory.height > 0
        assert in_memory.equals(lla.chain(file_store, kind, entity, link=link))
        entity_rows = lla.chain(synth_store, kind, entity, mode="entity")
        assert entity_rows.equals(lla.chain(file_store, kind, entity, mode="entity"))
    key = ["entity_type", "entity_id", "id"]
    assert all_chains(synth_store, link=link).sort(key).equals(all_chains(file_store, link=link).sort(key))
    jobs = [
        job for (job,) in synth_store.execute("SELECT DISTINCT job_id FROM llama_logs ORDER BY 1 LIMIT 40")
    ]
    assert runs(synth_store, jobs, link=link).height >= 40
    assert runs(synth_store, jobs, link=link).equals(runs(file_store, jobs, link=link))


def test_the_rows_come_whole_from_the_mapped_file(synth_store, monkeypatch):
    """Every row read back by position, in any order and across the file's parts, is the row
    the store holds."""
    monkeypatch.setattr(chain_index_module, "_BATCH_ROWS", 900)  # keys read in several batches
    monkeypatch.setattr(chain_index_module, "_PART_ROWS", 700)  # the file in several parts
    rows = chain_index_module.ChainIndex(synth_store).rows
    assert len(rows.parts) > 3
    heights = [part.height for part in rows.parts]
    table = synth_store.table()  # oldest first, as positions are
    shuffled = np.random.default_rng(3).permutation(len(rows))
    assert rows.take(shuffled).equals(table[shuffled])
    assert rows.take(np.sort(shuffled[:9])).equals(table[np.sort(shuffled[:9])])
    assert rows.take(shuffled[:0]).equals(table.clear())
    assert rows.take(shuffled[:5], ["id", "sources"]).equals(table[shuffled[:5]].select("id", "sources"))
    by_file = np.argsort(rows.order)[695:706]  # rows that follow each other in the file, across two parts
    for few in (by_file, by_file[::-1], np.concatenate([by_file[:3], shuffled[:2], by_file[5:]])):
        assert rows.take(few).equals(table[few])
    for few in (chain_index_module._SLICED, chain_index_module._SLICED + 1):  # sliced, then gathered
        assert rows.take(shuffled[:few]).equals(table[shuffled[:few]])
        assert rows.take(shuffled[:few], ["id"]).equals(table[shuffled[:few]].select("id"))
    assert [part.height for part in rows.parts] == heights  # rows were stacked onto new frames only


def test_a_load_replaces_the_mapped_rows_of_a_file_store(tmp_path):
    case = scenario("flat_queue_family")
    artist = case["chains"][0]["entity_id"]
    first = tmp_path / "first.json"
    first.write_text(json.dumps(case["rows"][:3]))
    with lla.LogStore(tmp_path / "store.duckdb") as store:
        store.load_files(first, quiet=True)
        before = chain_index(store).rows
        assert set(lla.chain(store, "ARTIST", artist)["id"]) <= {r["id"] for r in case["rows"][:3]}
        rest = tmp_path / "rest.json"
        rest.write_text(json.dumps(case["rows"][3:]))
        store.load_files(rest, quiet=True)
        after = lla.chain(store, "ARTIST", artist)
        assert chain_index(store).rows is not before
        assert after.height == 3
        assert after.select(lla.schema.COLUMN_NAMES).equals(
            store.table().filter(pl.col("id").is_in(after["id"]))
        )
        # the mapped file has no name, so it leaves nothing beside the store
        beside = {p.name for p in tmp_path.iterdir()}
        assert beside <= {"first.json", "rest.json", "store.duckdb", "store.duckdb.wal"}


@pytest.mark.parametrize("slice_rows", [97, 1 << 20])
def test_link_runs_is_the_sql_definition(synth_store, monkeypatch, slice_rows):
    """The array form of the job links (the chain index's) and the SQL form (the audit's) agree,
    the parent links searched in one slice or in many."""
    monkeypatch.setattr(links_core, "_SLICE", slice_rows)
    reasons = set()
    for linking in (links.Linking.of("instance", "10s"), links.Linking.of("job_id")):
        in_sql = synth_store.frame(
            f"SELECT id::VARCHAR AS id, job_instance, parent_instance, parent_first_at, dangling "
            f"FROM ({links.rows_sql('llama_logs', linking)}) ORDER BY id"
        )
        in_arrays = links.resolve(synth_store.table(), linking).select(in_sql.columns).sort("id")
        assert in_arrays.equals(in_sql)
        reasons |= set(in_arrays["dangling"].drop_nulls())
    assert reasons == {links.NO_ROW, links.NO_RUN_NEAR}


def test_the_audits_table_of_links_is_the_sql_definition(synth_store, monkeypatch):
    """The audit's table of job links, found over arrays from hashed job ids, holds the rows the
    SQL gives; when two job ids hash alike (forced here), or the table has more rows than
    arrays are used for, the SQL makes it instead."""
    hashed, resolved = findings.job_key_sql, findings.resolved
    collided = []

    def by_length(column, seed):  # the first "hash" confuses ids of one length; the second does not
        return hashed(column, seed) if seed == 2 else f"coalesce(strlen({column}), -1)"

    def watched(*args, **kwargs):
        try:
            return resolved(*args, **kwargs)
        except JobKeyCollisionError:
            collided.append(True)
            raise

    def made(linking: links.Linking) -> pl.DataFrame:
        with links.linked_table(synth_store, "llama_logs", linking) as table:
            return synth_store.frame(f"SELECT * FROM {table} ORDER BY id")

    with monkeypatch.context() as patched:  # a table too large for arrays: the SQL makes it
        patched.setattr(findings, "ARRAYS_UP_TO", synth_store.table().height - 1)
        assert findings._found(synth_store, "llama_logs", None) is None
        assert made(links.Linking()).equals(
            synth_store.frame(f"SELECT * FROM {links.linked_sql('llama_logs')} ORDER BY id")
        )

    for linking in (links.Linking.of("instance", "10s"), links.Linking.of("job_id")):
        in_sql = synth_store.frame(f"SELECT * FROM {links.linked_sql('llama_logs', linking)} ORDER BY id")
        assert made(linking).equals(in_sql)
        with monkeypatch.context() as patched:
            patched.setattr(findings, "job_key_sql", by_length)
            patched.setattr(findings, "resolved", watched)
            assert made(linking).equals(in_sql)
    assert collided == [True, True]  # tried over arrays each time, then linked by the SQL


@pytest.mark.parametrize("misread", ["reversed", "a row short", "a row over", "a batch short"])
def test_the_audits_table_of_links_refuses_rows_out_of_the_order_read(synth_store, monkeypatch, misread):
    """Rows are written beside the links found for them, by position; rows that came in another
    order than they were read in, or links for more or fewer rows, stop the audit with an error
    naming the table, not wrong links."""
    if misread == "reversed":  # the first read (for the links) gives the rows backwards
        read, reads = synth_store.batches, []

        def backwards_first(sql, rows):
            reads.append(sql)
            if len(reads) > 1:
                return read(sql, rows)
            table = read(sql, rows).read_all()
            table = table.take(pa.array(range(table.num_rows - 1, -1, -1)))
            return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(rows))

        monkeypatch.setattr(synth_store, "batches", backwards_first)
    else:
        found = findings._found
        cut = {
            "a row short": lambda f: f.head(-1),
            "a row over": lambda f: pl.concat([f, f.tail(1)]),
            "a batch short": lambda f: f.head(2_000),  # links end where a batch of rows does
        }[misread]
        monkeypatch.setattr(findings, "_found", lambda *args: cut(found(*args)))
    monkeypatch.setattr(findings, "_BATCH_ROWS", 1_000)
    match = "llama_logs: its rows came in another order"
    with pytest.raises(duckdb.Error, match=match), links.linked_table(synth_store, "llama_logs"):
        pass


@pytest.mark.parametrize("change", [-1, 1], ids=["a batch fewer", "a batch more"])
def test_the_audits_links_refuse_a_table_that_changed_while_it_was_read(synth_store, monkeypatch, change):
    """The table is counted, then read in batches into arrays of that size: rows that come in
    more or fewer (it changed in between) stop the audit with an error naming the table."""
    monkeypatch.setattr(findings, "_BATCH_ROWS", 1_000)
    read = synth_store.batches

    def changed(sql, rows):
        batches = list(read(sql, rows))
        batches = batches[:-1] if change < 0 else [*batches, batches[-1]]
        return pa.RecordBatchReader.from_batches(batches[0].schema, batches)

    monkeypatch.setattr(synth_store, "batches", changed)
    changed_while_read = r"llama_logs: its rows changed while it was read \([\d,]+ counted first\)"
    with pytest.raises(LinkError, match=changed_while_read):
        findings._found(synth_store, "llama_logs", None)


def test_link_runs_takes_job_ids_numbered_in_32_bits():
    """Many job ids and many distinct times: the (job, time) search keys outgrow 32 bits."""
    count = 50_000
    job = np.arange(count, dtype=np.int32)
    parent = job - 1  # each row's parent is the row before it, a second earlier
    ordinal, parent_ordinal, _, dangling = links.link_runs(job, parent, np.arange(count) * 1_000_000)
    assert (ordinal == 1).all()
    assert (parent_ordinal[1:] == 1).all() and (dangling[1:] == 0).all()


def test_link_runs_tells_apart_job_ids_whose_keys_collide():
    """Job ids given as hashes: where the second hash (``check``) tells apart two ids the first
    confuses, link_runs refuses rather than merging them, among the rows' own ids and between a
    parent id that never logged and a job that did; keys that do not collide link as usual."""
    created = np.array([0, 1_000_000])
    job, parent = np.array([7, -1]), np.array([-1, 7])
    same = links.link_runs(job, parent, created, check=(np.array([1, 0]), np.array([0, 1])))
    assert same[1].tolist() == [0, 1]  # the child links to job 7's run
    with pytest.raises(JobKeyCollisionError, match="parent id was given another job id's number"):
        links.link_runs(job, parent, created, check=(np.array([1, 0]), np.array([0, 2])))
    with pytest.raises(JobKeyCollisionError, match="two job ids were given one number"):
        links.link_runs(
            np.array([7, 7]), np.array([-1, -1]), created, check=(np.array([1, 2]), np.array([0, 0]))
        )


@pytest.mark.parametrize("lows", [[2, 1, 2], [1, 1, 1]], ids=["high-halves-shared", "one-entity"])
def test_entity_keys_group_uuids_whose_high_halves_match(lows):
    high = np.array([5, 5, 5, 3], dtype=np.uint64)
    low = np.array([*lows, 9], dtype=np.uint64)
    keys = chain_index_module._EntityKeys(high, low, np.arange(4), np.zeros(4, bool))
    for value in set(lows):
        wanted = [p for p, other in enumerate(lows) if other == value]
        assert sorted(keys.rows(uuid.UUID(int=5 << 64 | value)).tolist()) == wanted
    assert keys.numbered().tolist() == [0, *sorted(np.unique(lows, return_inverse=True)[1] + 1)]


def test_rows_read_in_another_order_than_the_keys_stop_the_build(synth_store, monkeypatch):
    read_rows = chain_index_module._rows_sql
    monkeypatch.setattr(chain_index_module, "_rows_sql", lambda table: f"{read_rows(table)} ORDER BY id DESC")
    with pytest.raises(lla.errors.StoreError, match="came in another order"):
        chain_index_module.ChainIndex(synth_store)
    assert synth_store.execute("SELECT count(*) > 0 FROM llama_logs") == [(True,)]  # the connection is free


def test_a_build_that_fails_stops_writing_its_rows(synth_store, monkeypatch):
    def fail(index):
        raise MemoryError("no room to link")

    monkeypatch.setattr(chain_index_module.ChainIndex, "_link", fail)
    with pytest.raises(MemoryError):
        chain_index_module.ChainIndex(synth_store)
    assert not [t for t in threading.enumerate() if t.name.startswith("llamalog-")]
    assert synth_store.execute("SELECT count(*) > 0 FROM llama_logs") == [(True,)]


@pytest.mark.parametrize(("limit", "lowered"), [("3GB", True), ("200MB", False)])
def test_reading_a_store_file_for_an_index_keeps_duckdb_small_not_smaller(file_store, limit, lowered):
    statements = []
    with (
        lla.LogStore(
            file_store.path, read_only=True, memory_limit=limit, tracer=lambda sql, _: statements.append(sql)
        ) as store,
        store.session(),
    ):  # one connection: only the index's reads could change its limit
        chain_index(store)
        after = store.execute("SELECT current_setting('memory_limit')")[0][0]
    assert any(sql.startswith("SET memory_limit") for sql in statements) == lowered
    assert after == ("2.7 GiB" if limit == "3GB" else "190.7 MiB")  # as the store had it
