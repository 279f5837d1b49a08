"""The ``llamalog`` command: each command, its output and its exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

import llamalog_analytics as lla
from llamalog_analytics.cli import main


@pytest.fixture
def run():
    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_load_then_info(run, tmp_path):
    db = tmp_path / "s.duckdb"
    code, out, _ = run("load", FIXTURES / "psql_quirks.csv", "--db", db, "--quiet")
    assert code == 0
    assert "3 rows read, 3 loaded (3 new), 0 rejected" in out
    code, out, _ = run("info", "--db", db)
    assert code == 0
    assert "llama_logs: 3 rows, created_at 2026-02-09 12:00:00" in out
    assert "psql_quirks.csv [csv]: 3 read, 3 loaded, 0 rejected" in out


def test_load_exit_status_with_rejects(run, tmp_path):
    db = tmp_path / "s.duckdb"
    code, out, _ = run("load", FIXTURES / "rejects.csv", "--db", db, "--quiet")
    assert code == 0
    assert "7 rejected" in out
    code, _, _ = run("load", FIXTURES / "rejects.csv", "--db", db, "--quiet", "--strict")
    assert code == 1


def test_load_errors_exit_2_and_leave_no_trace(run, tmp_path):
    db = tmp_path / "s.duckdb"
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("name,price\nteapot,12\n")
    code, out, err = run("load", stranger, "--db", db, "--quiet")
    assert code == 2
    assert out == ""
    assert err.startswith("[🦙 LlamaLog] error: ") and "missing column(s) id, operation, created_at" in err
    assert len(err.strip().splitlines()) == 1
    with lla.LogStore(db, read_only=True) as store:
        assert store.tables() == ()
        assert store.loads().height == 0


def test_load_where_every_row_is_rejected_exits_2(run, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,operation,created_at\nnope,x,2026-01-01\n")
    code, _, _ = run("load", path, "--db", tmp_path / "s.duckdb", "--quiet")
    assert code == 2


def test_load_into_another_table(run, tmp_path):
    db = tmp_path / "s.duckdb"
    code, _, _ = run("load", FIXTURES / "psql_quirks.csv", "--db", db, "--as", "enrichment_logs", "--quiet")
    assert code == 0
    with lla.LogStore(db, read_only=True) as store:
        assert store.tables() == ("enrichment_logs",)


def test_info_without_a_store(run, tmp_path):
    code, _, err = run("info", "--db", tmp_path / "missing.duckdb")
    assert code == 2
    assert "no such store" in err


def test_synth_writes_files_that_load(run, tmp_path):
    out, before = tmp_path / "logs.parquet", tmp_path / "before.ndjson"
    code, text, _ = run("synth", "--rows", "500", "--seed", "4", "--out", out, "--before", before)
    assert code == 0
    assert f"wrote 500 rows to {out}" in text
    with lla.LogStore() as store:
        assert store.load_files(out, quiet=True).rows_loaded == 500
        assert store.load_files(before, "enrichment_logs", quiet=True).rows_rejected == 0


def test_demo_on_the_shipped_sample(run, tmp_path):
    db = tmp_path / "demo.duckdb"
    code, out, _ = run("demo", "--db", db, "--quiet")
    assert code == 0
    assert "into llama_logs" in out and "into enrichment_logs" in out
    assert "0 rejected" in out
    code, out, _ = run("demo", "--db", db, "--quiet")
    assert code == 0
    assert "(0 new)" in out


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "llamalog_analytics", "--help"], capture_output=True, text=True, check=True
    )
    assert "load" in result.stdout and "demo" in result.stdout
