"""Faults: the source database failing mid-load, a locked store, Ctrl-C, a full disk.

Each leaves the store exactly as it was, says what happened, and the next load succeeds. The
source is only ever read, as its own statement log shows.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

import duckdb
import polars as pl
import psycopg
import pytest
from conftest import run_cli
from pgserver import PgServer, copy_rows, create_upstream, record_migrations, when_running

import llamalog_analytics as lla
from llamalog_analytics import schema
from llamalog_analytics._sql import AUDITS_TABLE
from llamalog_analytics.audit import duplicate_ids, verify
from llamalog_analytics.chain_index import chain_index
from llamalog_analytics.errors import PostgresError, StoreLockedError
from llamalog_analytics.stage import INTERRUPTED

ROWS = 100_000


@pytest.fixture(scope="module")
def data():
    return lla.synthetic.generate(4_000, seed=8)


def many(data: lla.synthetic.Synthetic, copies: int = ROWS // 4_000) -> pl.DataFrame:
    """``copies`` copies of the rows under fresh ids: a table that takes a while to read."""
    return pl.concat(
        data.llama_logs.with_columns(pl.Series("id", [str(uuid.uuid4()) for _ in range(4_000)]))
        for _ in range(copies)
    )


def state(store: lla.LogStore) -> tuple[object, ...]:
    counts = [store.execute(f'SELECT count(*) FROM "{t}"')[0][0] for t in store.tables()]
    return (store.tables(), *counts, store.loads().height, store.rejects().height)


def baseline_store(path, data) -> lla.LogStore:
    store = lla.LogStore(path)
    lla.write_logs(data.llama_logs.head(10), path.parent / "baseline.parquet")
    store.load_files(path.parent / "baseline.parquet", "before_fault", quiet=True)
    return store


# --- the source database ----------------------------------------------------------------------


def test_server_stopped_mid_load_then_back(tmp_path, data):
    server = PgServer.start()
    try:
        url = server.database("t_halt")
        create_upstream(url)
        copy_rows(url, many(data))
        store = baseline_store(tmp_path / "s.duckdb", data)
        before = state(store)
        watcher = when_running(server.url, "t_halt", server.halt)
        with pytest.raises(PostgresError, match=r"closed the connection|cannot reach") as failure:
            store.load_postgres(url, quiet=True)
        watcher.join()
        assert "the store is unchanged" in str(failure.value) or "Hint" in str(failure.value)
        assert state(store) == before
        server.resume()
        assert store.load_postgres(url, quiet=True).rows_loaded == ROWS
        store.close()
    finally:
        server.stop()


def test_statement_timeout_leaves_the_store_unchanged(tmp_path, pg_server, data):
    url = pg_server.database("t_timeout")
    create_upstream(url)
    copy_rows(url, many(data))
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS hurried")
        con.execute("CREATE ROLE hurried LOGIN PASSWORD 'hurried-pw'")
        con.execute("GRANT SELECT ON llama_logs, _prisma_migrations TO hurried")
        con.execute("ALTER ROLE hurried SET statement_timeout = '20ms'")  # the DBA's limit wins
    hurried = re.sub(r"//postgres:[^@]*@", "//hurried:hurried-pw@", url)
    store = baseline_store(tmp_path / "s.duckdb", data)
    before = state(store)
    with pytest.raises(PostgresError, match=r"statement_timeout.*the store is unchanged\. Hint"):
        store.load_postgres(hurried, quiet=True)
    assert state(store) == before
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("ALTER ROLE hurried RESET statement_timeout")
    assert store.load_postgres(hurried, quiet=True).rows_loaded == ROWS
    store.close()


def test_a_server_that_never_answers(tmp_path, data):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the handshake completes; nothing is ever said
    port = silent.getsockname()[1]
    store = baseline_store(tmp_path / "s.duckdb", data)
    before = state(store)
    started = time.monotonic()
    try:
        with pytest.raises(PostgresError, match=r"cannot reach the database.*Hint") as failure:
            store.load_postgres(f"postgresql://u:hidden-pw@127.0.0.1:{port}/db?connect_timeout=1", quiet=True)
    finally:
        silent.close()
    assert time.monotonic() - started < 15
    assert "hidden-pw" not in str(failure.value)
    assert state(store) == before
    store.close()


def test_only_reads_reach_the_source(tmp_path, pg_server, data):
    """Every path that talks to PostgreSQL, as a SELECT-only role, under log_statement=all."""
    url = pg_server.database("t_readonly")
    create_upstream(url)
    create_upstream(url, table="enrichment_logs", era=schema.CATEGORY_MIGRATION, indexes=False)
    copy_rows(url, data.llama_logs)
    copy_rows(url, data.enrichment_logs, table="enrichment_logs")
    record_migrations(url, data.prisma_migrations)
    with psycopg.connect(pg_server.url, autocommit=True) as con:
        con.execute("ALTER SYSTEM SET log_line_prefix = '%m [%p] user=%u '")
        con.execute("SELECT pg_reload_conf()")
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS reader")
        con.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
        con.execute("GRANT SELECT ON llama_logs, enrichment_logs, _prisma_migrations TO reader")
    reader = re.sub(r"//postgres:[^@]*@", "//reader:reader-pw@", url)
    try:
        time.sleep(0.2)  # the reloaded prefix is in effect for new sessions
        with lla.LogStore(tmp_path / "s.duckdb") as store:
            store.load_postgres(reader, quiet=True)  # both tables and the migrations
            copy_rows(url, many(data, 1))
            store.load_postgres(reader, quiet=True)  # incremental
            store.load_postgres(reader, quiet=True, full=True, streams=2)  # two sessions, one snapshot
            store.load_postgres(reader, table="llama_logs", quiet=True)
            store.load_postgres(reader, schema="public", table="enrichment_logs", quiet=True)
    finally:
        with psycopg.connect(pg_server.url, autocommit=True) as con:
            con.execute("ALTER SYSTEM RESET log_line_prefix")
            con.execute("SELECT pg_reload_conf()")
    log = pg_server.log.read_text(errors="replace")  # a statement's further lines start with a tab
    statements = [
        s.strip() for s in re.findall(r"user=reader LOG:  (?:statement|execute [^:]*): (.*(?:\n\t.*)*)", log)
    ]
    assert len(statements) > 20
    reads = re.compile(r"\s*(SELECT|WITH|SET|SHOW|BEGIN|START TRANSACTION|COMMIT|ROLLBACK|COPY \()", re.I)
    writes = [s for s in statements if not reads.match(s)]
    assert writes == []
    assert not any(re.match(r"\s*COPY \(.*\) FROM", s, re.I) for s in statements)


# --- the store --------------------------------------------------------------------------------


def child(code: str, *args: object, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def test_a_store_held_idle_elsewhere_is_free_to_load_chain_and_verify(tmp_path, data):
    """A notebook keeps a LogStore open between calls; the shell beside it loads, chains and
    verifies on the same file meanwhile, and the notebook's chain index sees the new rows."""
    path = tmp_path / "s.duckdb"
    half = data.llama_logs.height // 2
    lla.write_logs(data.llama_logs.head(half), tmp_path / "first.parquet")
    lla.write_logs(data.llama_logs.slice(half), tmp_path / "second.parquet")
    notebook = lla.LogStore(path)
    notebook.load_files(tmp_path / "first.parquet", quiet=True)
    album = notebook.execute(
        "SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    before = lla.chain(notebook, "ALBUM", album).height
    shell = child(
        """
        import sys, llamalog_analytics as lla
        with lla.LogStore(sys.argv[1]) as store:
            print(store.load_files(sys.argv[2], quiet=True).rows_loaded)
            print(lla.chain(store, "ALBUM", sys.argv[3]).height)
            print(lla.verify(store).summary["run"])
        """,
        path,
        tmp_path / "second.parquet",
        album,
    )
    out, err = shell.communicate(timeout=120)
    assert shell.returncode == 0, err
    loaded, chained, run = out.split()
    assert int(loaded) == data.llama_logs.height - half and run == "1"
    # the notebook's own write comes first: the other process's load is noticed all the same
    assert lla.verify(notebook).summary["run"] == 2
    assert lla.chain(notebook, "ALBUM", album).height == int(chained) > before
    assert notebook.table().height == data.llama_logs.height
    notebook.close()


def test_a_notebook_s_chain_index_outlives_an_audit_in_the_shell_but_not_a_row_changed_there(tmp_path, data):
    """A shell's verify records its run in the store file a notebook reads, and a DuckDB client
    writes another table: the notebook's chain index stays, as its table's rows are the same.
    A row that client changes in place is seen at the notebook's next chain."""
    path = tmp_path / "s.duckdb"
    lla.write_logs(data.llama_logs.head(5_000), tmp_path / "logs.parquet")
    notebook = lla.LogStore(path)
    notebook.load_files(tmp_path / "logs.parquet", quiet=True)
    album = notebook.execute(
        "SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    row = lla.chain(notebook, "ALBUM", album).row(0, named=True)
    built = chain_index(notebook)

    def shell(code: str) -> None:
        done = child(code, path)
        _, err = done.communicate(timeout=120)
        assert done.returncode == 0, err

    shell(
        "import sys, llamalog_analytics as lla; print(lla.verify(lla.LogStore(sys.argv[1])).summary['run'])"
    )
    shell("import sys, duckdb; duckdb.connect(sys.argv[1]).execute('CREATE TABLE notes (n INTEGER)').close()")
    assert notebook.has_table("notes") and notebook.execute(f"SELECT count(*) FROM {AUDITS_TABLE}") == [(1,)]
    assert chain_index(notebook) is built
    status = "FAILED" if row["status"] != "FAILED" else "SUCCESS"  # as long as the old one: in place
    shell(
        "import sys, duckdb; duckdb.connect(sys.argv[1]).execute("
        f"\"UPDATE llama_logs SET status = '{status}' WHERE id = '{row['id']}'\").close()"
    )
    assert chain_index(notebook) is not built
    chained = lla.chain(notebook, "ALBUM", album)
    assert chained.filter(pl.col("id") == row["id"])["status"].to_list() == [status]
    notebook.close()


HOLD_FOR_WRITING = """
    import sys, time, llamalog_analytics as lla
    store = lla.LogStore(sys.argv[1])
    with store.session(write=True):
        store.version()  # looks at the file: must not let go of DuckDB's lock on it
        print("writing", flush=True)
        time.sleep(float(sys.argv[2]))
    """


def test_a_writer_waits_for_the_writer_before_it_then_gives_up_clearly(tmp_path, data, capsys):
    path = tmp_path / "s.duckdb"
    baseline_store(path, data).close()
    lla.write_logs(data.llama_logs.slice(10, 10), tmp_path / "more.parquet")
    holder = child(HOLD_FOR_WRITING, path, 60)
    try:
        assert holder.stdout.readline().strip() == "writing"
        started = time.monotonic()
        longer = r"llamalog COMMAND --wait 60, LogStore\(path, wait=60\)"
        # what holds it, to find and wait for: its id and command line
        holding = (
            rf"process {holder.pid} \(python[0-9.]* -c 'import sys, time, llamalog_analytics as lla .*\)"
        )
        with pytest.raises(
            StoreLockedError, match=rf"{holding} is using the store, and still was after 0\.5 s.*{longer}"
        ):
            lla.LogStore(path, wait=0.5).load_files(tmp_path / "more.parquet", "before_fault", quiet=True)
        assert 0.5 <= time.monotonic() - started < 5
        started = time.monotonic()
        code, _, err = run_cli("--wait", "0.5", "info", "--db", path)
        assert code == 2 and "still was after 0.5 s" in err and 0.5 <= time.monotonic() - started < 5
        assert "wait longer: llamalog info --wait 60, LogStore(path, wait=60)" in err  # the command run
        assert f"s.duckdb: process {holder.pid} (python" in err
        code, _, err = run_cli("info", "--db", path, "--wait", "0.5")  # beside --db too
        assert code == 2 and "still was after 0.5 s" in err
        with pytest.raises(StoreLockedError, match=rf"{holding} is writing to the store"):
            lla.LogStore(path, read_only=True, wait=0.5).table("before_fault")
    finally:
        holder.kill()
        holder.communicate()
    with lla.LogStore(path, read_only=True) as here:
        assert here.table("before_fault").height == 10  # nothing half-written

    holder = child(HOLD_FOR_WRITING, path, 2)
    assert holder.stdout.readline().strip() == "writing"
    result = lla.LogStore(path).load_files(tmp_path / "more.parquet", "before_fault", quiet=True)
    holder.communicate()
    assert result.rows_loaded == 10
    # a wait of more than a second is said as it starts, not left to look like a hang
    waiting = capsys.readouterr().err
    assert f"s.duckdb: process {holder.pid} (python" in waiting and "waiting up to 10 s" in waiting


def test_two_loads_at_once_both_complete_or_one_fails_cleanly(tmp_path, data):
    path = tmp_path / "s.duckdb"
    lla.LogStore(path).close()
    files = [lla.write_logs(many(data, 25), tmp_path / f"load{n}.parquet") for n in (1, 2)]
    loads = [
        child(
            """
            import sys, llamalog_analytics as lla
            store = lla.LogStore(sys.argv[1], wait=float(sys.argv[3]))
            print(store.load_files(sys.argv[2], quiet=True).rows_loaded)
            """,
            path,
            file,
            wait,
        )
        for file, wait in zip(files, (60, 0), strict=True)
    ]
    outcomes = [load.communicate(timeout=300) for load in loads]
    with lla.LogStore(path, read_only=True) as store:
        stored = store.table().height
        loads_recorded = store.loads().height
    done = [int(out) for (out, _), load in zip(outcomes, loads, strict=True) if load.returncode == 0]
    failed = [err for (_, err), load in zip(outcomes, loads, strict=True) if load.returncode != 0]
    assert done[0] == 100_000 and stored == sum(done) and loads_recorded == len(done)
    assert all("StoreLockedError" in err and "still was after 0 s" in err for err in failed)


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("big") / "big.csv"
    lla.write_logs(many(data, 100), path)  # 400,000 rows: a load of several seconds
    return path


def test_ctrl_c_during_a_load_keeps_the_store_consistent(tmp_path, data, big_csv):
    path = tmp_path / "s.duckdb"
    baseline_store(path, data).close()
    loading = child(
        """
        import sys, llamalog_analytics as lla
        with lla.LogStore(sys.argv[1]) as store:
            print("loading", flush=True)
            store.load_files(sys.argv[2], quiet=True)
        print("finished", flush=True)
        """,
        path,
        big_csv,
    )
    assert loading.stdout.readline().strip() == "loading"
    time.sleep(1.0)
    loading.send_signal(signal.SIGINT)
    out, err = loading.communicate(timeout=120)
    assert "finished" not in out, "the load ended before the interrupt: make the file bigger"
    assert "KeyboardInterrupt" in err or "INTERRUPT" in err.upper()
    with lla.LogStore(path) as store:
        assert store.tables() == ("before_fault",)
        assert state(store)[1:] == (10, 1, 0)
        small = tmp_path / "small.parquet"
        lla.write_logs(data.llama_logs.head(100), small)
        assert store.load_files(small, quiet=True).rows_loaded == 100


@pytest.fixture(scope="module")
def slow_database(pg_server, data):
    """A database whose log table takes a second or two to load (200,000 rows)."""
    url = pg_server.database("t_interrupted")
    create_upstream(url, indexes=False)
    copy_rows(url, many(data, 50))
    return url


READING_THE_TABLE = 'COPY (SELECT "id", %FROM "public"."llama_logs"%'  # not a small read before it


def interrupted_while_reading(pg_server, loading: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C sent to ``loading`` once it reads the slow table: what it then printed."""
    interrupt = when_running(
        pg_server.url, "t_interrupted", lambda: loading.send_signal(signal.SIGINT), like=READING_THE_TABLE
    )
    out, err = loading.communicate(timeout=120)
    interrupt.join()
    assert interrupt.fired, "the table was not seen being read: the interrupt was never sent"
    return out, err


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "progress-bar"])
def test_ctrl_c_during_a_database_load_says_so_and_keeps_the_store(
    tmp_path, pg_server, data, slow_database, quiet
):
    path = tmp_path / "s.duckdb"
    baseline_store(path, data).close()
    with lla.LogStore(path, read_only=True) as store:
        before = state(store)
    command = [sys.executable, "-m", "llamalog_analytics", "load", slow_database, "--db", path]
    loading = subprocess.Popen(
        [*map(str, command), *(["--quiet"] if quiet else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = interrupted_while_reading(pg_server, loading)
    assert "load 2" not in out, "the load ended before the interrupt: make the table bigger"
    assert loading.returncode == 130, err
    last = err.strip().splitlines()[-1].split("\r")[-1]  # after the progress bar, if any
    assert last.startswith(
        "[🦙 LlamaLog] interrupted: the load stopped before it finished; the store is unchanged"
    )
    assert "Hint: " in last and "Traceback" not in err
    with lla.LogStore(path) as store:
        assert state(store) == before
        assert store.load_postgres(slow_database, quiet=True).rows_loaded == 200_000


def test_interrupting_a_notebook_s_database_load_raises_keyboard_interrupt(pg_server, slow_database):
    """What a notebook sees when its kernel is interrupted: a KeyboardInterrupt saying the
    store is unchanged (not a DuckDB transaction error), and the same store loads next."""
    loading = child(
        """
        import sys, llamalog_analytics as lla
        store = lla.LogStore()
        print("loading", flush=True)
        try:
            store.load_postgres(sys.argv[1], quiet=True)
            print("loaded every row", flush=True)
        except KeyboardInterrupt as interrupt:
            print(f"KeyboardInterrupt: {interrupt}", flush=True)
        print(store.tables(), store.load_postgres(sys.argv[1], quiet=True).rows_loaded, flush=True)
        """,
        slow_database,
    )
    assert loading.stdout.readline().strip() == "loading"
    out, err = interrupted_while_reading(pg_server, loading)
    assert "loaded every row" not in out, "the load ended before the interrupt: make the table bigger"
    said = out.splitlines()
    assert said[:1] == ["KeyboardInterrupt: " + INTERRUPTED], (out, err)
    assert said[1:] == ["() 200000"]


def test_an_interrupt_raised_as_the_load_commits_says_the_load_is_in(tmp_path, data, monkeypatch):
    """Ctrl-C during a load's COMMIT is raised as it returns: the rows are in, and the interrupt
    says so rather than that the store is unchanged."""
    execute = lla.LogStore.execute

    def commit_then_interrupt(store, sql, params=None):
        rows = execute(store, sql, params)
        if sql == "COMMIT":
            raise KeyboardInterrupt  # the SIGINT that came while the COMMIT ran
        return rows

    path = lla.write_logs(data.llama_logs.head(50), tmp_path / "a.csv")
    with lla.LogStore() as store:
        monkeypatch.setattr(lla.LogStore, "execute", commit_then_interrupt)
        with pytest.raises(KeyboardInterrupt, match=r"as the load finished: load 1 is in the store"):
            store.load_files(path, quiet=True)
        monkeypatch.undo()
        assert (store.table().height, store.loads().height) == (50, 1)


def test_a_full_disk_leaves_nothing_half_written(tmp_path, data, big_csv):
    path = tmp_path / "s.duckdb"
    baseline_store(path, data).close()
    size = path.stat().st_size
    limited = child(
        """
        import os, resource, signal, sys
        import llamalog_analytics as lla
        from pathlib import Path
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        limit = int(sys.argv[3])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        with lla.LogStore(sys.argv[1]) as store:
            try:
                store.load_files(sys.argv[2], quiet=True)
                print("loaded")
            except lla.LlamalogError as exc:
                print("load refused:", exc)
        with lla.sample_store() as sample:
            report = lla.verify(sample)
        target = Path(sys.argv[1]).parent / "audit.html"
        resource.setrlimit(resource.RLIMIT_FSIZE, (500_000, 500_000))  # less than the report needs
        try:
            report.to_html(target)
            print("report written")
        except lla.LlamalogError as exc:
            print("report refused:", exc)
        print("left:", sorted(p.name for p in target.parent.glob("*audit*")))
        """,
        path,
        big_csv,
        size + 2_000_000,
    )
    out, err = limited.communicate(timeout=300)
    assert "load refused:" in out and "Hint: free some space" in out, out + err
    assert "report refused: " in out and "audit.html: could not be written (File too large)" in out, out + err
    assert "left: []" in out  # no partial report, no temporary file
    with lla.LogStore(path) as store:
        assert state(store)[1:] == (10, 1, 0)
        assert store.load_files(big_csv, quiet=True).rows_loaded == 400_000


def test_an_audit_out_of_room_names_the_folder_and_records_nothing(tmp_path, data):
    """A listing that does not fit (here a file size limit, as a full disk would) stops the audit
    with the folder it filled and what to do, and the store records no run."""
    path, scratch = tmp_path / "s.duckdb", tmp_path / "scratch"
    scratch.mkdir()
    lla.write_logs(data.llama_logs, tmp_path / "logs.parquet")
    with lla.LogStore(path) as store:
        store.load_files(tmp_path / "logs.parquet", quiet=True)
    limited = child(
        """
        import resource, signal, sys
        import llamalog_analytics as lla
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        with lla.LogStore(sys.argv[1]) as store:
            resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
            try:
                lla.verify(store)
                print("verified")
            except lla.LlamalogError as exc:
                print("verify refused:", exc)
        """,
        path,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    out, err = limited.communicate(timeout=300)
    assert f"verify refused: the audit ran out of room: DuckDB could not write {scratch}/" in out, out + err
    assert f"(File too large); nothing was recorded. Hint: free some space in {scratch} (" in out, out + err
    assert f"the checks' listings go to {scratch} (set TMPDIR to move them)" in out, out + err
    assert list(scratch.iterdir()) == []  # the audit's folder went with it
    with lla.LogStore(path, read_only=True) as store:
        assert AUDITS_TABLE not in {t.lower() for (t,) in store.execute("SHOW TABLES")}


def test_a_store_another_process_made_meanwhile_is_never_removed(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    holders: list[subprocess.Popen[str]] = []
    connect = duckdb.connect

    def made_meanwhile(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        if not holders:  # between seeing no file and opening it, another process makes the store
            holders.append(child(HOLD_FOR_WRITING, path, 60))
            assert holders[0].stdout.readline().strip() == "writing"
        return connect(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", made_meanwhile)
    try:
        with pytest.raises(StoreLockedError, match=r"still was after 0\.5 s"):
            lla.LogStore(path, wait=0.5)
        assert path.exists()  # theirs, kept
    finally:
        for holder in holders:
            holder.kill()
            holder.communicate()


def test_an_interrupt_while_a_stream_is_open_is_the_error_seen(tmp_path, data, monkeypatch):
    from llamalog_analytics import chain_index

    add = chain_index._Keys.add
    batches = []

    def interrupted(self: object, batch: object) -> None:
        batches.append(batch)
        if len(batches) == 2:
            raise KeyboardInterrupt
        add(self, batch)

    monkeypatch.setattr(chain_index, "_BATCH_ROWS", 1000)
    monkeypatch.setattr(chain_index._Keys, "add", interrupted)
    store = lla.LogStore(tmp_path / "s.duckdb")
    store.load_files(lla.write_logs(data.llama_logs.head(5000), tmp_path / "rows.parquet"), quiet=True)
    album = data.llama_logs["album_id"].drop_nulls()[0]
    with pytest.raises(KeyboardInterrupt):
        lla.chain(store, "ALBUM", album)
    monkeypatch.setattr(chain_index._Keys, "add", add)
    assert lla.chain(store, "ALBUM", album).height > 0  # the store still works


def test_a_failed_first_load_keeps_what_another_process_loaded_meanwhile(tmp_path, data, monkeypatch):
    """A load that fails on a store it created removes the file only while nobody else wrote to
    it: a load by another process that ends while the failed one is looking keeps its rows."""
    path = tmp_path / "s.duckdb"
    rows = lla.write_logs(data.llama_logs.head(10), tmp_path / "rows.parquet")
    (tmp_path / "bad.csv").write_text("id,entity_type\nnot-a-uuid,ALBUM\n")
    found_empty = lla.LogStore._holds_nothing

    def loaded_meanwhile(self: lla.LogStore) -> bool:
        empty = found_empty(self)  # the store was empty when looked at; then another load ends
        loading = child(
            "import sys, llamalog_analytics as lla; lla.LogStore(sys.argv[1]).load_files(sys.argv[2])",
            path,
            rows,
        )
        _, err = loading.communicate(timeout=120)
        assert loading.returncode == 0, err
        return empty

    monkeypatch.setattr(lla.LogStore, "_holds_nothing", loaded_meanwhile)
    with pytest.raises(lla.LlamalogError), lla.LogStore(path) as store:
        store.load_files(tmp_path / "bad.csv", quiet=True)
    monkeypatch.undo()
    with lla.LogStore(path, read_only=True) as store:
        assert store.table().height == 10


def test_an_audit_deletes_the_folders_audits_killed_midway_left_behind(tmp_path, monkeypatch):
    """An audit keeps its checks' rows in a temporary folder named for its process; one killed
    before it could delete it leaves it behind, and the next audit deletes it, not the folder of
    a process that still runs."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = child("import os, time; print(os.getpid(), flush=True); time.sleep(60)")
    pid = int(killed.stdout.readline())
    left = tmp_path / f"llamalog-audit-{pid}-x1"
    left.mkdir()
    (left / "0.parquet").write_bytes(b"rows")
    killed.kill()
    killed.communicate(timeout=60)
    running = tmp_path / f"llamalog-audit-{os.getppid()}-x2"  # the process that started the tests
    running.mkdir()
    with lla.sample_store() as store:
        verify(store, checks=[duplicate_ids])
    assert not left.exists() and running.exists()
