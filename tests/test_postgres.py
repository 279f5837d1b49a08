"""Loading from a real PostgreSQL 15 server with the upstream schema."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime, timedelta

import polars as pl
import psycopg
import pytest
from conftest import assert_same_rows, run_cli, run_in_terminal
from pgserver import PASSWORD, copy_rows, create_upstream, record_migrations, when_running
from psycopg.conninfo import conninfo_to_dict

import llamalog_analytics as lla
from llamalog_analytics import schema
from llamalog_analytics._pg_incremental import EARLIER, RESTARTED, REWRITTEN, UNSEEN_UPDATES, UPDATED
from llamalog_analytics._pg_source import snapshot, translated
from llamalog_analytics.errors import ArgumentError, NotLlamaLogError, PostgresError
from llamalog_analytics.postgres import parse_url


@pytest.fixture(scope="module")
def data():
    return lla.synthetic.generate(4_000, seed=5)


@pytest.fixture
def database(pg_server, data, request):
    """A fresh database holding the post-migration table and the migration history."""
    url = pg_server.database(f"t_{request.node.name[:40].lower()}")
    create_upstream(url)
    copy_rows(url, data.llama_logs)
    record_migrations(url, data.prisma_migrations)
    return url


def test_full_load_round_trips_every_type(store, database, data):
    result = store.load_postgres(database, quiet=True)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4_000, 4_000, 0)
    assert result.tables == ("llama_logs",)
    assert result.sources[0].columns_absent == ()
    assert_same_rows(store.table(), data.llama_logs)  # JSON null and SQL NULL kept apart
    migrations = store.frame("SELECT migration_name, started_at FROM _prisma_migrations ORDER BY started_at")
    assert migrations["migration_name"].to_list() == list(schema.MIGRATIONS)
    assert (
        migrations["started_at"].to_list()
        == data.prisma_migrations.sort("started_at")["started_at"].to_list()
    )


def test_an_export_of_the_database_and_the_database_are_the_same_rows(store, database, tmp_path):
    """psql's CSV export writes jsonb as the server does (``{"a": 1}``, spaced); a file's JSON is
    compacted as it loads: the database's rows then match the export's, and none is rejected."""
    export = tmp_path / "llama_logs.csv"
    with (
        psycopg.connect(database) as con,
        con.cursor() as cur,
        open(export, "wb") as out,
        cur.copy("COPY llama_logs TO STDOUT (FORMAT csv, HEADER true)") as copy,
    ):
        for chunk in copy:
            out.write(chunk)
    assert '": ' in export.read_text()  # jsonb's spacing
    store.load_files(export, quiet=True)
    result = store.load_postgres(database, quiet=True)
    assert (result.rows_read, result.rows_loaded, result.rows_inserted, result.rows_rejected) == (
        4_000,
        4_000,
        0,
        0,
    )


def test_pre_migration_database_and_both_tables(store, pg_server, data):
    url = pg_server.database("t_both_eras")
    create_upstream(url, table="enrichment_logs", era=schema.CATEGORY_MIGRATION)
    copy_rows(url, data.enrichment_logs, table="enrichment_logs")
    only_old = store.load_postgres(url, quiet=True)
    assert only_old.tables == ("enrichment_logs",)
    assert only_old.sources[0].columns_absent == ("category", "root_job_id")
    assert "has not been migrated" in " ".join(only_old.sources[0].notes)
    assert_same_rows(
        store.table("enrichment_logs").select(data.enrichment_logs.columns), data.enrichment_logs
    )
    create_upstream(url)
    copy_rows(url, data.llama_logs)
    with lla.LogStore() as fresh:
        both = fresh.load_postgres(url, quiet=True)
        assert both.tables == ("llama_logs", "enrichment_logs")
        assert both.load_id == 1
        assert fresh.tables() == ("enrichment_logs", "llama_logs")


def test_the_old_table_asked_for_after_the_rename_names_the_new_one(store, pg_server, data):
    """The migration renamed enrichment_logs to llama_logs in place: a load asking for the old
    name (a script written before it) is told the table is there under the new one."""
    url = pg_server.database("t_renamed")
    create_upstream(url, table="enrichment_logs", era=schema.CATEGORY_MIGRATION)
    copy_rows(url, data.enrichment_logs.head(20), table="enrichment_logs")
    assert store.load_postgres(url, table="enrichment_logs", quiet=True).rows_loaded == 20
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("ALTER TABLE enrichment_logs RENAME TO llama_logs")
    with pytest.raises(
        PostgresError,
        match=r"no enrichment_logs table in schema 'public' at .*\. Hint: schema 'public' has "
        r"llama_logs \(the migration renamed enrichment_logs to llama_logs\): load it with --as "
        r"llama_logs \(table='llama_logs'\), or without --as for every log table$",
    ):
        store.load_postgres(url, table="enrichment_logs", quiet=True)


def test_prisma_url_schema_and_dropped_parameters(store, pg_server, data):
    base = pg_server.database("t_prisma_url")
    with psycopg.connect(base, autocommit=True) as con:
        con.execute("CREATE SCHEMA catalog")
    create_upstream(base + "?options=-csearch_path%3Dcatalog")
    copy_rows(base + "?options=-csearch_path%3Dcatalog", data.llama_logs.head(50))
    url = base + "?schema=catalog&connection_limit=5&pool_timeout=10&pgbouncer=true&sslmode=disable"
    result = store.load_postgres(url, quiet=True)
    assert result.rows_loaded == 50
    assert "public.llama_logs" not in result.sources[0].source
    note = " ".join(result.sources[0].notes)
    assert "connection_limit, pgbouncer, pool_timeout" in note


def test_sqlalchemy_url_and_engine(store, database, data):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    assert store.load_postgres(engine, quiet=True).rows_loaded == 4_000
    again = store.load_postgres(make_url(database), full=True, quiet=True)
    assert (again.rows_read, again.rows_inserted) == (4_000, 0)
    assert PASSWORD not in again.sources[0].source
    with pytest.raises(
        PostgresError, match=r"cannot read a database from a int\. Hint: pass a postgresql://"
    ):
        store.load_postgres(5432, quiet=True)


def test_unix_socket_url(store, pg_server, data):
    if pg_server.folder is None:
        pytest.skip("an external server has no socket directory here")
    url = pg_server.database("t_socket")
    create_upstream(url)
    copy_rows(url, data.llama_logs.head(20))
    socket_url = f"postgresql://postgres@/t_socket?host={pg_server.folder / 'sockets'}&port={pg_server.port}"
    assert store.load_postgres(socket_url, quiet=True).rows_loaded == 20


def test_select_only_role_and_read_only_session(store, database, pg_server):
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS auditor")
        con.execute("CREATE ROLE auditor LOGIN PASSWORD 'audit-pw'")
        con.execute("GRANT SELECT ON llama_logs, _prisma_migrations TO auditor")
    reader_url = database.replace(f"postgres:{PASSWORD}@", "auditor:audit-pw@")
    result = store.load_postgres(reader_url, quiet=True)
    assert result.rows_loaded == 4_000
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("REVOKE SELECT ON llama_logs FROM auditor")
    refused = r'permission denied.*GRANT SELECT ON "public"\."llama_logs" TO "auditor"'
    with lla.LogStore() as other, pytest.raises(PostgresError, match=refused) as raised:
        other.load_postgres(reader_url, quiet=True)
    assert "Query was" not in str(raised.value)  # our SQL, cut short, helps nobody


def test_another_role_reading_the_same_database_follows_on_from_its_loads(store, database, data):
    """The app's role loads first, then a read-only auditor: one source, so the auditor's load
    takes what changed since, not every row again, with a repaired row replaced, not refused."""
    store.load_postgres(database, quiet=True)
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("CREATE ROLE second_reader LOGIN PASSWORD 'reader-pw'")
        con.execute("GRANT SELECT ON llama_logs, _prisma_migrations TO second_reader")
        con.execute("UPDATE llama_logs SET category = 'CORRECTED' WHERE id = %s", [data.llama_logs["id"][5]])
    auditor = store.load_postgres(
        database.replace(f"postgres:{PASSWORD}@", "second_reader:reader-pw@"), quiet=True
    )
    assert (auditor.rows_rejected, auditor.rows_inserted, auditor.sources[0].rows_changed) == (0, 0, 1)
    assert store.loads()["source"].unique().to_list() == [parse_url(database).source + "#public.llama_logs"]


def test_a_missing_grant_is_named_as_the_statement_that_gives_it(store, pg_server, data):
    """In another schema than public, an unqualified GRANT would give the wrong table: the
    hint names the schema's table and the URL's role, ready to run."""
    base = pg_server.database("t_grants")
    in_catalog = base + "?options=-csearch_path%3Dcatalog"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute("CREATE SCHEMA catalog")
    create_upstream(in_catalog, indexes=False)
    copy_rows(in_catalog, data.llama_logs.head(20))
    with psycopg.connect(base, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS cataloguer")
        con.execute("CREATE ROLE cataloguer LOGIN PASSWORD 'catalogue-pw'")
        con.execute("GRANT USAGE ON SCHEMA catalog TO cataloguer")
    url = base.replace(f"postgres:{PASSWORD}@", "cataloguer:catalogue-pw@") + "?schema=catalog"
    granted = r'Hint: GRANT SELECT ON "catalog"\."llama_logs" TO "cataloguer"$'
    with pytest.raises(PostgresError, match=granted):
        store.load_postgres(url, quiet=True)
    with psycopg.connect(base, autocommit=True) as con:
        con.execute("GRANT SELECT ON catalog.llama_logs TO cataloguer")
    notes = " ".join(store.load_postgres(url, quiet=True).sources[0].notes)
    assert '(GRANT SELECT ON "catalog"."_prisma_migrations" TO "cataloguer" to load it;' in notes


def test_a_role_that_may_read_the_log_table_alone_loads_it(store, database):
    """Neither the migration history nor the statistics views are needed: without them, the
    load says what it left out, and later loads compare ids."""
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS narrow")
        con.execute("CREATE ROLE narrow LOGIN PASSWORD 'narrow-pw'")
        con.execute("GRANT SELECT ON llama_logs TO narrow")
        con.execute("REVOKE SELECT ON pg_catalog.pg_stat_user_tables FROM PUBLIC")
    url = database.replace(f"postgres:{PASSWORD}@", "narrow:narrow-pw@")
    first = store.load_postgres(url, quiet=True)
    assert first.rows_loaded == 4_000 and "_prisma_migrations" not in store.tables()
    assert "_prisma_migrations is not readable by this role" in " ".join(first.sources[0].notes)
    again = store.load_postgres(url, quiet=True)
    assert UNSEEN_UPDATES in " ".join(again.sources[0].notes) and again.rows_inserted == 0


def test_a_table_without_id_operation_or_created_at_is_refused_naming_what_it_lacks(store, database):
    """As a file without them is: its rows could not be told apart or placed in time, and each
    load would add them again."""
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("CREATE SCHEMA v")
        view = 'SELECT id, operation, created_at AS "createdAt" FROM llama_logs'
        con.execute(f"CREATE VIEW v.llama_logs AS {view}")
    with pytest.raises(NotLlamaLogError) as raised:
        store.load_postgres(database + "?schema=v", quiet=True)
    message = str(raised.value)
    assert "v.llama_logs at postgresql://postgres:***@" in message
    assert "missing 1 column: created_at" in message and "perhaps createdAt for created_at?" in message
    assert "Hint: " in message and PASSWORD not in message
    assert store.tables() == ()
    # beside a good table, the way to load that one alone
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("CREATE TABLE v.enrichment_logs AS SELECT * FROM llama_logs LIMIT 3")
    with pytest.raises(NotLlamaLogError, match=r"or load enrichment_logs alone \(--as enrichment_logs;"):
        store.load_postgres(database + "?schema=v", quiet=True)
    assert store.load_postgres(database + "?schema=v", table="enrichment_logs", quiet=True).rows_loaded == 3


def test_columns_the_toolkit_does_not_know_are_named_in_the_load_notes(store, database):
    """A newer app version's column is left out, as a file's is, and the load says which."""
    with psycopg.connect(database, autocommit=True) as con:
        con.execute('ALTER TABLE llama_logs ADD COLUMN trace_id text, ADD COLUMN "traceFlags" integer')
    result = store.load_postgres(database, quiet=True)
    assert result.rows_loaded == 4_000
    assert "ignored 2 unknown columns: trace_id, traceFlags" in result.sources[0].notes


def test_a_view_with_text_ids_and_zoned_times_loads_again_incrementally(store, database, data):
    """A view may give ids as text and times with a time zone, and the session a zone of its
    own: the ids are compared as UUIDs, the window is read in UTC, and nothing seems gone."""
    name = database.rsplit("/", 1)[1]
    view = ", ".join(
        {"id": "id::text AS id", "created_at": "created_at AT TIME ZONE 'UTC' AS created_at"}.get(c, c)
        for c in schema.COLUMN_NAMES
    )
    with psycopg.connect(database, autocommit=True) as con:
        con.execute(f"ALTER DATABASE {name} SET timezone TO 'America/Chicago'")
        con.execute("CREATE SCHEMA v")
        con.execute(f"CREATE VIEW v.llama_logs AS SELECT {view} FROM public.llama_logs")
    store.load_postgres(database + "?schema=v", quiet=True)
    newest = data.llama_logs["created_at"].max()
    later = data.llama_logs.head(3).with_columns(
        pl.Series("id", [str(uuid.uuid4()) for _ in range(3)]),
        pl.lit(newest + timedelta(hours=2)).alias("created_at"),
    )
    copy_rows(database, later)
    again = store.load_postgres(database + "?schema=v", quiet=True)
    assert (again.rows_inserted, again.sources[0].rows_disappeared) == (3, 0)
    assert store.table().height == 4_003


def test_incremental_load_fetches_new_rows_and_reports_deleted_ones(store, database, data):
    first = store.load_postgres(database, quiet=True)
    assert first.rows_inserted == 4_000
    newest = data.llama_logs["created_at"].max()
    fresh = data.llama_logs.head(10).with_columns(
        pl.Series("id", [str(uuid.uuid4()) for _ in range(10)]),
        pl.lit(newest + timedelta(days=1)).alias("created_at"),
    )
    copy_rows(database, fresh)
    gone = data.llama_logs.head(5)["id"].to_list()
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DELETE FROM llama_logs WHERE id = ANY(%s::uuid[])", [gone])
    second = store.load_postgres(database, quiet=True)
    assert second.rows_inserted == 10
    assert second.rows_read < 200  # a delete before the window: ids compared, rows not fetched
    assert "compared by id" in " ".join(second.sources[0].notes)
    assert second.sources[0].rows_disappeared == 5
    assert sorted(store.disappeared()["id"].cast(pl.String).to_list()) == sorted(gone)
    assert store.table().height == 4_010  # evidence is kept, not deleted
    third = store.load_postgres(database, quiet=True)
    assert (third.rows_inserted, third.sources[0].rows_disappeared) == (0, 0)
    assert third.rows_read < 200  # nothing old changed: only the recent window is read
    recent = fresh["id"][0]
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DELETE FROM llama_logs WHERE id = %s", [recent])
    fourth = store.load_postgres(database, quiet=True)  # a deletion inside the fetched window
    assert fourth.sources[0].rows_disappeared == 1
    assert store.disappeared()["load_id"].to_list()[-1] == fourth.load_id
    assert "rows gone from their database since loaded: 6" in str(lla.summarize(store))
    full = store.load_postgres(database, full=True, quiet=True)
    assert (full.rows_read, full.rows_inserted, full.sources[0].rows_disappeared) == (4_004, 0, 0)
    copy_rows(database, data.llama_logs.head(2))  # two old rows restored, as they were
    restored = store.load_postgres(database, quiet=True)
    assert (restored.rows_inserted, restored.sources[0].rows_disappeared) == (0, 0)
    back = store.disappeared().filter(pl.col("restored_load") == restored.load_id)["id"].cast(pl.String)
    assert sorted(back) == sorted(gone[:2]) and store.disappeared().height == 6  # kept, marked back
    said = dict(store.source_changes().select(pl.col("id").cast(pl.String), "change").iter_rows())
    assert said[gone[0]] == f"gone, back in load {restored.load_id}" and said[gone[2]] == "gone"
    assert "rows gone from their database since loaded: 4" in str(lla.summarize(store))
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DELETE FROM llama_logs WHERE id = %s", [gone[0]])
    again = store.load_postgres(database, quiet=True)  # gone a second time: found gone again
    assert again.sources[0].rows_disappeared == 1 and store.disappeared().height == 7


def test_incremental_load_trusts_the_server_counters_only_when_they_add_up(store, database, data):
    def notes(result):
        return " ".join(result.sources[0].notes)

    store.load_postgres(database, quiet=True)
    newest = data.llama_logs["created_at"].max()
    copy_rows(
        database,
        data.llama_logs.head(3).with_columns(
            pl.Series("id", [str(uuid.uuid4()) for _ in range(3)]),
            pl.lit(newest + timedelta(days=1)).alias("created_at"),
        ),
    )
    only_new = store.load_postgres(database, quiet=True)
    assert (only_new.rows_inserted, only_new.rows_read) == (3, 3)  # those after the newest stored row
    assert "row counters show no older row changed" in notes(only_new)

    late = data.llama_logs.head(1).with_columns(  # committed late, half an hour before the newest row
        pl.Series("id", [str(uuid.uuid4())]),
        pl.lit(newest + timedelta(days=1, minutes=-30)).alias("created_at"),
    )
    copy_rows(database, late)
    window = store.load_postgres(database, quiet=True)  # the hour before the newest row is fetched
    assert (window.rows_inserted, window.rows_read) == (1, 4)
    assert "row counters show no older row changed" in notes(window)

    old_dated = data.llama_logs.head(1).with_columns(pl.Series("id", [str(uuid.uuid4())]))
    copy_rows(database, old_dated)  # an insert the window does not hold: the counters disagree
    backfill = store.load_postgres(database, quiet=True)
    assert backfill.rows_inserted == 1 and backfill.rows_read < 200  # fetched by id
    assert "compared by id (1 new to the store)" in notes(backfill)

    with psycopg.connect(database, autocommit=True) as con:
        con.execute("TRUNCATE llama_logs")  # counts no deletes, but gives the table a new file
    emptied = store.load_postgres(database, quiet=True)
    assert (emptied.rows_read, emptied.sources[0].rows_disappeared) == (0, 4_005)


def test_rows_updated_in_the_database_are_found_replaced_and_kept_as_they_were(store, database, data):
    def notes(result):
        return " ".join(result.sources[0].notes)

    store.load_postgres(database, quiet=True)
    old, other = data.llama_logs["id"][5], data.llama_logs["id"][6]  # rows well before the window
    with psycopg.connect(database, autocommit=True) as con:  # a repair, and a deleted user's rows
        con.execute("UPDATE llama_logs SET category = 'CORRECTED' WHERE id = %s", [old])
        con.execute("UPDATE llama_logs SET user_id = NULL, category = 'CORRECTED' WHERE id = %s", [other])
    updated = store.load_postgres(database, quiet=True)
    assert "the server's row counters show rows updated since the last load" in notes(updated)
    assert (updated.rows_inserted, updated.rows_rejected, updated.sources[0].rows_changed) == (0, 0, 2)
    stored = store.table().filter(pl.col("id").is_in([old, other]))
    assert stored["category"].to_list() == ["CORRECTED", "CORRECTED"] and stored.height == 2
    changed = store.changed().sort("id")
    assert sorted(changed["id"].cast(pl.String)) == sorted([old, other])
    columns = dict(zip(changed["id"].cast(pl.String), changed["columns"].to_list(), strict=True))
    assert columns[old] == ["category"]
    was = data.llama_logs.filter(pl.col("id") == other).row(0, named=True)
    assert set(columns[other]) == {"category"} | ({"user_id"} if was["user_id"] else set())
    quiet = store.load_postgres(database, quiet=True)  # nothing since: the counters say so again
    assert "row counters show no older row changed" in notes(quiet) and quiet.rows_read < 200


def test_a_column_dropped_on_the_server_is_not_a_change_to_every_row(store, database, data):
    """A migration that drops a column leaves the rows as they were: a load after it (every row
    compared, or --full) counts as changed only the rows changed otherwise, and the stored rows
    keep the values the column had; the load says so."""
    store.load_postgres(database, quiet=True)
    kept = data.llama_logs.select("id", "reason").sort("id")
    assert kept["reason"].null_count() < kept.height  # values a drop could lose
    edited = data.llama_logs.filter(pl.col("category") != "CORRECTED")["id"][0]
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("ALTER TABLE llama_logs DROP COLUMN reason")
        con.execute("UPDATE llama_logs SET category = 'CORRECTED' WHERE id = %s", [edited])
    compared = store.load_postgres(database, quiet=True)
    assert UPDATED in " ".join(compared.sources[0].notes)
    assert (compared.rows_read, compared.sources[0].rows_changed) == (4_000, 1)
    assert store.changed()["columns"].to_list() == [["category"]]
    full = store.load_postgres(database, full=True, quiet=True)
    assert (full.rows_read, full.rows_inserted, full.sources[0].rows_changed) == (4_000, 0, 0)
    said = "columns absent: reason (rows stored already keep theirs)"
    assert said in full.text() and said in str(lla.summarize(store))
    assert store.table().select("id", "reason").sort("id").equals(kept)


def test_an_update_committed_as_a_load_starts_is_found_by_the_next_load(store, database, data):
    """The server's counters are read before the load's snapshot: an update committed after the
    snapshot was taken, too late for the load to see, is not in the counters it records, so the
    next load finds it (counted, it was never fetched: each load after it trusted the counters)."""
    name = database.rsplit("/", 1)[1]
    store.load_postgres(database, quiet=True)
    edited = data.llama_logs["id"][5]  # well before the window
    writer = psycopg.connect(database)  # holds the table while the load starts: it waits on it
    writer.execute("LOCK TABLE llama_logs IN ACCESS EXCLUSIVE MODE")
    writer.execute("UPDATE llama_logs SET reason = 'committed as the load started' WHERE id = %s", [edited])

    def commit() -> None:  # once the load waits for the table, its snapshot taken: commit, report
        writer.commit()
        writer.close()  # a closing backend publishes its counters at once

    watcher = when_running(database, name, commit, like="%pg_relation_size%")
    try:
        racing = store.load_postgres(database, quiet=True)
    finally:
        watcher.join()
    assert watcher.fired and racing.sources[0].rows_changed == 0  # its snapshot is older
    after = store.load_postgres(database, quiet=True)
    assert after.sources[0].rows_changed == 1
    assert store.table().filter(pl.col("id") == edited)["reason"].item() == "committed as the load started"


def test_a_rewritten_table_is_said_to_be_rewritten_and_a_statistics_reset_a_reset(store, database):
    """VACUUM FULL (or pg_repack) gives the table a new file and keeps its counters; a statistics
    reset zeroes the counters: each is named as what it is, and every row is compared."""
    store.load_postgres(database, quiet=True)
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("VACUUM FULL llama_logs")
    rewritten = store.load_postgres(database, quiet=True)
    assert REWRITTEN in rewritten.sources[0].notes and rewritten.rows_read == 4_000
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("SELECT pg_stat_reset()")
    reset = store.load_postgres(database, quiet=True)
    assert RESTARTED in reset.sources[0].notes and reset.rows_read == 4_000


def test_the_load_history_says_what_each_load_did_to_the_store(tmp_path, database, data):
    """Rows inserted, one updated and some deleted on the server: the next load's line in the
    history counts them (new, changed, unchanged, rejected; gone), in store.loads(), in
    llamalog info fitted to an 80-column terminal and in the summary's notebook view."""
    path = tmp_path / "s.duckdb"
    newest = data.llama_logs["created_at"].max()
    fresh = data.llama_logs.head(7).with_columns(
        pl.Series("id", [str(uuid.uuid4()) for _ in range(7)]),
        pl.lit(newest + timedelta(days=1)).alias("created_at"),
    )
    edited = data.llama_logs.filter(pl.col("category") != "CORRECTED")["id"][0]  # well before the window
    gone = data.llama_logs["id"][20:24].to_list()
    with lla.LogStore(path) as store:
        store.load_postgres(database, quiet=True)
        copy_rows(database, fresh)
        with psycopg.connect(database, autocommit=True) as con:
            con.execute("UPDATE llama_logs SET category = 'CORRECTED' WHERE id = %s", [edited])
            con.execute("DELETE FROM llama_logs WHERE id = ANY(%s::uuid[])", [gone])
        store.load_postgres(database, quiet=True)
        counts = ("rows_read", "rows_inserted", "rows_changed", "rows_rejected", "rows_disappeared")
        assert store.loads().select(counts).rows() == [(4_000, 4_000, 0, 0, 0), (4_003, 7, 1, 0, 4)]
        html = lla.summarize(store)._repr_html_()
    first, second = (
        "4,000 read: 4,000 new, 0 rejected",
        "4,003 read: 7 new, 1 changed, 3,995 unchanged, 0 rejected; 4 gone",
    )
    cells = [cell.replace("&nbsp;", " ") for cell in re.findall(r"<td[^>]*>(.*?)</td>", html)]
    assert cells[-7] == first and cells[-1] == second  # each load's last cell, in the notebook
    info = run_in_terminal("info", "--db", path, columns=80)
    assert f"      {first}\n" in info and f"      {second}\n" in info
    too_wide = [line for line in info.splitlines() if len(line) > 80]
    assert all(" " not in line.strip() for line in too_wide)  # only a source longer than any line


def test_counters_an_earlier_version_recorded_are_not_trusted_once(store, database):
    store.load_postgres(database, quiet=True)
    store.execute("UPDATE _llamalog_source_counters SET epoch = '2026-12-01 09:00:00+00 127.0.0.1 5432'")
    earlier = store.load_postgres(database, quiet=True)
    assert EARLIER in " ".join(earlier.sources[0].notes) and earlier.rows_read == 4_000
    assert "row counters show no older row changed" in " ".join(
        store.load_postgres(database, quiet=True).sources[0].notes
    )


def test_updates_are_found_across_a_clean_restart_and_after_a_crash(store, database, data, pg_server):
    """A clean restart keeps the server's counters, so an update before it is counted; a crash
    discards them, and the next load fetches and compares every row rather than trust them."""

    if pg_server.folder is None:
        pytest.skip("restarts and crashes only a server the tests started (not LLAMALOG_TEST_PG_URL)")

    def notes(result):
        return " ".join(result.sources[0].notes)

    store.load_postgres(database, quiet=True)
    first, second = data.llama_logs["id"][5], data.llama_logs["id"][6]
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("UPDATE llama_logs SET reason = 'fixed in place' WHERE id = %s", [first])
    pg_server.restart()
    restarted = store.load_postgres(database, quiet=True)
    assert UPDATED in notes(restarted) and restarted.sources[0].rows_changed == 1
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("SET synchronous_commit = on")  # written before the crash (the server's default is off)
        con.execute("UPDATE llama_logs SET reason = 'fixed before a crash' WHERE id = %s", [second])
    pg_server.halt()
    pg_server.resume()
    crashed = store.load_postgres(database, quiet=True)
    assert RESTARTED in notes(crashed) and crashed.sources[0].rows_changed == 1
    assert crashed.rows_read == data.llama_logs.height
    stored = store.table().filter(pl.col("id").is_in([first, second]))
    assert set(stored["reason"]) == {"fixed in place", "fixed before a crash"}
    assert "row counters show no older row changed" in notes(store.load_postgres(database, quiet=True))


@pytest.mark.parametrize(
    ("make_url", "message"),
    [
        (lambda url, port: url.replace(f":{port}/", ":1/"), "cannot reach the database"),
        (lambda url, port: url.replace(PASSWORD, "wrong-password"), "authentication failed"),
        (lambda url, port: url.rsplit("/", 1)[0] + "/no_such_db", "no such database"),
        (
            lambda url, port: url + "?schema=nowhere",
            "no llama_logs or enrichment_logs table in schema 'nowhere' at postgresql://postgres:***@"
            "127.0.0.1:",
        ),
        (
            lambda url, port: url + "?schema=nowhere",
            "Hint: found in schema 'public': pass ?schema=public in the URL or --schema public",
        ),
        (lambda url, port: url + "?sslmode=bogus", "the database URL has a parameter libpq does not take"),
    ],
    ids=["unreachable", "bad-password", "missing-database", "missing-table", "where-it-is", "bad-parameter"],
)
def test_failures_are_one_line_exit_2_and_leave_the_store_unchanged(
    tmp_path, database, pg_server, make_url, message
):
    port = database.rsplit(":", 1)[1].split("/")[0]
    db = tmp_path / "s.duckdb"
    assert run_cli("load", database, "--db", db, "--quiet")[0] == 0
    code, _, err = run_cli("load", make_url(database, port), "--db", db, "--quiet")
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert PASSWORD not in err and "wrong-password" not in err
    with lla.LogStore(db, read_only=True) as s:
        assert s.loads().height == 1
        assert s.table().height == 4_000


def test_server_terminating_the_backend_during_a_small_read(pg_server):
    """A small read (the snapshot export that more streams share) fails as one PostgresError too."""
    url = pg_server.database("t_terminate_small")
    target = parse_url(url)
    with psycopg.connect(url, autocommit=True) as con:
        running = "COPY%pg_sleep(5)%"  # the driver reads every result as a COPY
        terminate = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 't_terminate_small' "
            f"AND state = 'active' AND query LIKE '{running}' AND pid <> pg_backend_pid()"
        )
        killer = when_running(url, "t_terminate_small", lambda: con.execute(terminate), like=running)
        with (
            pytest.raises(PostgresError, match="closed the connection during the load"),
            translated(target),
            snapshot(target) as db,
        ):
            db.rows("SELECT pg_sleep(5)")
        killer.join()


@pytest.mark.parametrize("streams", [1, 3])
def test_server_terminating_the_backend_mid_load(tmp_path, pg_server, data, streams):
    url = pg_server.database(f"t_terminate_{streams}")
    create_upstream(url)
    copy_rows(
        url,
        pl.concat(
            [
                data.llama_logs.with_columns(pl.Series("id", [str(uuid.uuid4()) for _ in range(4_000)]))
                for _ in range(50)
            ]
        ),
    )
    stop = threading.Event()

    def terminate() -> None:
        with psycopg.connect(url, autocommit=True) as con:
            while not stop.is_set():
                killed = con.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND query ILIKE 'COPY%%' AND pid <> pg_backend_pid() LIMIT 1",
                    [f"t_terminate_{streams}"],
                ).fetchall()
                if killed:
                    return
                time.sleep(0.005)

    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        with lla.LogStore(tmp_path / "s.duckdb") as store:
            with pytest.raises(PostgresError, match="closed the connection"):
                store.load_postgres(url, streams=streams, quiet=True)
            assert store.tables() == ()
            assert store.loads().height == 0
    finally:
        stop.set()
        killer.join()


def test_the_same_database_reached_by_another_url_is_the_same_source(store, database, data):
    """SSL or application parameters, a timeout, or the name earlier versions recorded (the URL
    as shown, password masked): one source, so an update made in the database is taken, not
    refused as another source's version."""
    notebook = database + "?sslmode=disable&application_name=notebook"
    store.load_postgres(notebook, quiet=True)
    recorded_before = parse_url(notebook).display + "#public.llama_logs"
    for history in ("_llamalog_loads", "_llamalog_source_counters"):
        store.execute(f"UPDATE {history} SET source = ?", [recorded_before])
    changed = data.llama_logs["id"][5]
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("UPDATE llama_logs SET category = 'CORRECTED' WHERE id = %s", [changed])
    shell = store.load_postgres(database + "?connect_timeout=5", quiet=True)
    assert (shell.rows_rejected, shell.rows_inserted, shell.sources[0].rows_changed) == (0, 0, 1)
    assert UPDATED in " ".join(shell.sources[0].notes)  # the counters were followed on from
    assert store.loads()["source"].unique().to_list() == [parse_url(database).source + "#public.llama_logs"]


def test_database_url_from_the_environment_and_password_masking(tmp_path, database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database + "?schema=public&connection_limit=1")
    db = tmp_path / "s.duckdb"
    code, out, err = run_cli("load", "--db", db)
    assert code == 0
    assert "postgresql://127.0.0.1:" in out  # the database, by host and port
    code, info, _ = run_cli("info", "--db", db)
    for text in (out, err, info):
        assert PASSWORD not in text
    with lla.LogStore(db, read_only=True) as s:
        assert not s.loads()["source"].str.contains(PASSWORD).any()
        assert PASSWORD not in repr(s)
    # a message about the URL says it came from the environment, where the command named none
    monkeypatch.setenv("DATABASE_URL", database.rsplit("/", 1)[0] + "/no_such_database")
    code, _, err = run_cli("load", "--db", db)
    assert code == 2 and "/no_such_database (from DATABASE_URL)" in err and PASSWORD not in err


def test_parse_url_keeps_libpq_parameters_and_masks_the_password():
    c = parse_url("postgres://u:p%40ss@h/db?host=/var/run/postgresql&sslmode=require&statement_cache_size=0")
    assert conninfo_to_dict(c.conninfo) == {
        "user": "u",
        "password": "p@ss",
        "dbname": "db",
        "host": "/var/run/postgresql",
        "sslmode": "require",
        "connect_timeout": "10",  # added unless the URL sets one
    }
    assert "connect_timeout" not in c.display
    assert (
        conninfo_to_dict(parse_url("postgresql://h/db?connect_timeout=2").conninfo)["connect_timeout"] == "2"
    )
    assert c.dropped == ("statement_cache_size",)
    assert "p@ss" not in c.display and "p%40ss" not in c.display
    in_query = parse_url("postgresql://u@h/db?password=s3cret&sslpassword=k3y")
    assert "s3cret" not in in_query.display and "k3y" not in in_query.display
    assert in_query.password == "s3cret"
    with pytest.raises(PostgresError, match="not a PostgreSQL URL"):
        parse_url("mysql://u@h/db")
    alchemy = parse_url("postgresql+psycopg://u@h/db?password=a+b")  # as SQLAlchemy writes it
    assert conninfo_to_dict(alchemy.conninfo)["password"] == "a+b"  # libpq keeps '+'
    with pytest.raises(PostgresError, match="percent-encode") as raised:
        parse_url("postgresql://app:p#ss@db/music")
    assert "p#ss" not in str(raised.value)
    with pytest.raises(
        PostgresError, match=r"cannot be read \(Invalid IPv6 URL\)\. Hint: .*\[::1\]:5432"
    ) as raised:
        parse_url("postgresql://u:s3cret@[::1:5432/music")  # was a ValueError's traceback
    assert "s3cret" not in str(raised.value)


def test_timestamps_are_utc_whatever_the_server_time_zone(store, database, data):
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("ALTER DATABASE " + database.rsplit("/", 1)[1] + " SET timezone TO 'America/Chicago'")
    store.load_postgres(database, quiet=True)
    assert store.table()["created_at"].min() == data.llama_logs["created_at"].min()
    assert isinstance(
        store.frame("SELECT max(started_at) AS t FROM _prisma_migrations")["t"].item(), datetime
    )


def test_incremental_load_notices_old_rows_swapped(store, database, data):
    store.load_postgres(database, quiet=True)
    oldest = data.llama_logs.sort("created_at").head(1)
    backfilled = oldest.with_columns(pl.Series("id", [str(uuid.uuid4())]))
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DELETE FROM llama_logs WHERE id = %s", [oldest["id"].item()])
    copy_rows(database, backfilled)  # same count before the window, different rows
    result = store.load_postgres(database, quiet=True)
    assert (result.rows_inserted, result.sources[0].rows_disappeared) == (1, 1)


def test_a_row_deleted_and_inserted_again_with_other_values_is_found_changed(store, database, data):
    """A repair done as DELETE and INSERT of the same id: the ids compared alike, and the store
    kept the old values as unchanged; the counters show an insert no new id accounts for, so
    every row is fetched and compared, and the row is replaced and reported."""
    store.load_postgres(database, quiet=True)
    oldest = data.llama_logs.sort("created_at").head(1)
    redone = oldest.with_columns(status=pl.lit("FAILED"), error_message=pl.lit("repaired"))
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DELETE FROM llama_logs WHERE id = %s", [oldest["id"].item()])
    copy_rows(database, redone)
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("SELECT pg_stat_force_next_flush()")  # the counters published now, not in a minute
    result = store.load_postgres(database, quiet=True)
    assert "every row fetched and compared" in " ".join(result.sources[0].notes)
    stored = store.frame("SELECT status, error_message FROM llama_logs WHERE id = ?", [oldest["id"].item()])
    assert stored.rows() == [("FAILED", "repaired")] and result.sources[0].rows_changed == 1


def test_a_load_from_postgres_that_brings_rows_rebuilds_the_chain_index(store, database, data):
    from llamalog_analytics.chain_index import chain_index

    store.load_postgres(database, quiet=True)
    before = chain_index(store)
    store.load_postgres(database, quiet=True)  # nothing new: a write through the store, the same rows
    assert chain_index(store) is before
    later = data.llama_logs.head(1).with_columns(
        pl.Series("id", [str(uuid.uuid4())]),
        pl.lit(data.llama_logs["created_at"].max() + timedelta(hours=1)).alias("created_at"),
    )
    copy_rows(database, later)
    assert store.load_postgres(database, quiet=True).rows_inserted == 1
    assert chain_index(store) is not before


def test_connections_sharing_a_snapshot_read_one_moment(database, data):
    with snapshot(parse_url(database)) as db:
        before = sorted(r[0] for r in db.rows("SELECT id::text FROM llama_logs"))
        with psycopg.connect(database, autocommit=True) as con:
            con.execute("DELETE FROM llama_logs WHERE id = ANY(%s::uuid[])", [before[:100]])
        copy_rows(
            database,
            data.llama_logs.head(7).with_columns(pl.Series("id", [str(uuid.uuid4()) for _ in range(7)])),
        )
        others = db.share(2)
        assert len(others) == 2
        for other in others:
            assert sorted(r[0] for r in other.rows("SELECT id::text FROM llama_logs")) == before
    with psycopg.connect(database) as con:  # the changes were committed
        assert con.execute("SELECT count(*) FROM llama_logs").fetchone() == (4_000 - 100 + 7,)


def test_a_load_in_several_streams_reads_one_snapshot_while_the_table_changes(tmp_path, pg_server, data):
    url = pg_server.database("t_streams")
    create_upstream(url)
    rows = pl.concat(
        data.llama_logs.with_columns(pl.Series("id", [str(uuid.uuid4()) for _ in range(4_000)]))
        for _ in range(25)
    )
    copy_rows(url, rows)
    with lla.LogStore() as single:
        assert single.load_postgres(url, streams=1, quiet=True).rows_loaded == 100_000
        with pytest.raises(ArgumentError, match="at least one stream"):
            single.load_postgres(url, streams=0, quiet=True)
        expected = single.table()
    changed = threading.Event()

    def change() -> None:  # once the load's COPY runs: delete rows all over the table, insert some
        with psycopg.connect(url, autocommit=True) as con:
            sample = "SELECT id FROM llama_logs TABLESAMPLE SYSTEM (5)"
            con.execute(f"DELETE FROM llama_logs WHERE id IN ({sample})")
            con.execute(
                "INSERT INTO llama_logs SELECT (jsonb_populate_record(NULL::llama_logs, "
                "to_jsonb(l) || jsonb_build_object('id', gen_random_uuid()))).* FROM llama_logs AS l "
                "LIMIT 500"
            )
        changed.set()

    changer = when_running(url, "t_streams", change)
    try:
        with lla.LogStore(tmp_path / "s.duckdb") as store:
            result = store.load_postgres(url, streams=3, quiet=True)
            assert (result.rows_read, result.rows_inserted) == (100_000, 100_000)
            assert_same_rows(store.table(), expected)
    finally:
        changer.join()
    assert changed.is_set()
    with psycopg.connect(url) as con:
        assert con.execute("SELECT count(*) FROM llama_logs").fetchone()[0] != 100_000


def test_cli_load_in_several_streams_says_so(tmp_path, database, data):
    db = tmp_path / "s.duckdb"
    code, out, err = run_cli("load", database, "--db", db, "--streams", 2, "--quiet")
    assert code == 0, err
    assert "llama_logs read in 2 streams over one snapshot" in out
    with lla.LogStore(db, read_only=True) as s:
        assert_same_rows(s.table(), data.llama_logs)
    code, out, err = run_cli("load", database, "--db", db, "--streams", 2, "--quiet")
    assert code == 0 and "an incremental read is not split (--streams is for --full)" in out
    code, _, err = run_cli("load", database, "--db", db, "--as", "_prisma_migrations")
    assert code == 2 and "a database load reads llama_logs or enrichment_logs" in err
    code, _, err = run_cli("load", tmp_path / "x.csv", "--db", db, "--streams", 2)
    assert code == 2 and "--streams and --schema are for database loads" in err
    code, _, err = run_cli("load", database, "--db", db, "--streams", 0)
    assert code == 2 and "0 is not in the range x>=1" in err


def test_a_second_load_replaces_the_migration_history_with_the_database_s(store, database):
    store.load_postgres(database, quiet=True)
    last = list(schema.MIGRATIONS)[-1]
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("DELETE FROM _prisma_migrations WHERE migration_name = %s", [last])
    store.load_postgres(database, quiet=True)
    names = store.frame("SELECT migration_name FROM _prisma_migrations ORDER BY started_at")["migration_name"]
    assert names.to_list() == list(schema.MIGRATIONS)[:-1]
