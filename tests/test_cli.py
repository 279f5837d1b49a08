"""The ``llamalog`` command: each command, its output and its exit status."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import polars as pl
from conftest import FIXTURES, cli_store, run_cli

import llamalog_analytics as lla


def test_load_then_info(tmp_path):
    db = tmp_path / "s.duckdb"
    code, out, _ = run_cli("load", FIXTURES / "psql_quirks.csv", "--db", db, "--quiet")
    assert code == 0
    assert "3 rows read, 3 loaded (3 new), 0 rejected" in out
    code, out, _ = run_cli("info", "--db", db)
    assert code == 0
    assert "llama_logs: 3 rows, created_at 2026-02-09 12:00:00" in out
    assert "psql_quirks.csv [csv]: 3 read, 3 loaded, 0 rejected" in out


def test_load_exit_status_with_rejects(tmp_path):
    db = tmp_path / "s.duckdb"
    code, out, _ = run_cli("load", FIXTURES / "rejects.csv", "--db", db, "--quiet")
    assert code == 0
    assert "7 rejected" in out
    code, _, _ = run_cli("load", FIXTURES / "rejects.csv", "--db", db, "--quiet", "--strict")
    assert code == 1


def test_load_errors_exit_2_and_leave_no_trace(tmp_path):
    db = tmp_path / "s.duckdb"
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("name,price\nteapot,12\n")
    code, out, err = run_cli("load", stranger, "--db", db, "--quiet")
    assert code == 2
    assert out == ""
    assert err.startswith("[🦙 LlamaLog] error: ") and "missing column(s) id, operation, created_at" in err
    assert len(err.strip().splitlines()) == 1
    with lla.LogStore(db, read_only=True) as store:
        assert store.tables() == ()
        assert store.loads().height == 0


def test_load_where_every_row_is_rejected_exits_2(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,operation,created_at\nnope,x,2026-01-01\n")
    code, _, _ = run_cli("load", path, "--db", tmp_path / "s.duckdb", "--quiet")
    assert code == 2


def test_load_into_another_table(tmp_path):
    db = tmp_path / "s.duckdb"
    code, _, _ = run_cli(
        "load", FIXTURES / "psql_quirks.csv", "--db", db, "--as", "enrichment_logs", "--quiet"
    )
    assert code == 0
    with lla.LogStore(db, read_only=True) as store:
        assert store.tables() == ("enrichment_logs",)


def test_info_without_a_store(tmp_path):
    code, _, err = run_cli("info", "--db", tmp_path / "missing.duckdb")
    assert code == 2
    assert "no such store" in err


def test_synth_writes_files_that_load(tmp_path):
    out, before = tmp_path / "logs.parquet", tmp_path / "before.ndjson"
    code, text, _ = run_cli("synth", "--rows", "500", "--seed", "4", "--out", out, "--before", before)
    assert code == 0
    assert f"wrote 500 rows to {out}" in text
    with lla.LogStore() as store:
        assert store.load_files(out, quiet=True).rows_loaded == 500
        assert store.load_files(before, "enrichment_logs", quiet=True).rows_rejected == 0


def test_demo_on_the_shipped_sample(tmp_path):
    db = tmp_path / "demo.duckdb"
    code, out, _ = run_cli("demo", "--db", db, "--quiet")
    assert code == 0
    assert "into llama_logs" in out and "into enrichment_logs" in out
    assert "0 rejected" in out
    code, out, _ = run_cli("demo", "--db", db, "--quiet")
    assert code == 0
    assert "(0 new)" in out


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "llamalog_analytics", "--help"], capture_output=True, text=True, check=True
    )
    assert "load" in result.stdout and "demo" in result.stdout


def test_cli_chain_graph_and_explain(tmp_path):
    case, db = cli_store("flat_queue_family", tmp_path)
    artist = case["chains"][0]["entity_id"]
    code, out, _ = run_cli("chain", "artist", artist, "--db", db)
    assert code == 0 and out.count("collection-add-1") >= 3 and "ancestor" in out
    code, out, _ = run_cli("chain", "ARTIST", artist, "--db", db, "--format", "json")
    parsed = json.loads(out)
    assert [r["relation"] for r in parsed] == ["ancestor", "self", "self"]
    assert {"id", "job_id", "chain_root", "depth"} <= set(parsed[0])
    code, out, _ = run_cli(
        "chain", "ARTIST", artist, "--db", db, "--format", "csv", "--category", "USER_ACTION"
    )
    assert pl.read_csv(out.encode())["operation"].to_list() == ["collection:album-added"]
    code, out, err = run_cli(
        "chain",
        "ALBUM",
        case["chains"][1]["entity_id"],
        "--db",
        db,
        "--mode",
        "entity",
        "--limit",
        "2",
        "--format",
        "json",
    )
    assert len(json.loads(out)) == 2 and "total_count 4, has_more true, next --cursor" in err
    code, out, err = run_cli("chain", "ALBUM", str(uuid.uuid4()), "--db", db)
    assert code == 0 and "no llama_logs rows for ALBUM" in err
    code, _, err = run_cli("chain", "ALBUM", artist, "--db", db, "--category", "NOPE")
    assert code == 2 and "Valid: CREATED" in err
    code, _, err = run_cli("chain", "ALBUM", artist, "--db", db, "--limit", "2")
    assert code == 2 and "--mode entity" in err
    code, out, _ = run_cli("graph", "ARTIST", artist, "--db", db, "--out", tmp_path / "a.graphml")
    assert code == 0 and "wrote" in out and (tmp_path / "a.graphml").exists()
    code, _, err = run_cli("graph", "ARTIST", artist, "--db", db, "--out", tmp_path / "a.txt")
    assert code == 2 and "cannot tell which format to write graph in" in err
    code, out, _ = run_cli("explain", "ARTIST", artist, "--db", db)
    assert code == 0 and "missing CREATED" in out


def test_cli_follows_job_runs_unless_told_otherwise(tmp_path):
    case, db = cli_store("reused_after_reset", tmp_path)
    track = case["chains"][0]["entity_id"]

    def ids(*options: str) -> list[str]:
        code, out, err = run_cli("chain", "TRACK", track, "--db", db, "--format", "json", *options)
        assert code == 0, err
        return [r["id"] for r in json.loads(out)]

    assert ids() == [case["rows"][1]["id"], case["rows"][2]["id"]]  # the March run only
    assert ids("--link", "job-id") == [r["id"] for r in case["rows"]]  # both runs of job 7
    assert ids("--reuse-gap", "90d") == ids("--link", "job-id")  # one run when the gap spans both
    code, _, err = run_cli("chain", "TRACK", track, "--db", db, "--reuse-gap", "soon")
    assert code == 2 and "is not a duration" in err and "Hint:" in err
    code, out, _ = run_cli("explain", "TRACK", track, "--db", db)
    assert code == 0 and "reused job id: job 7 ran 2 times" in out
    code, out, _ = run_cli("explain", "TRACK", track, "--db", db, "--link", "job-id")
    assert code == 0 and "reused job id" not in out
    code, out, _ = run_cli("verify", "--db", db, "--format", "json", "--reuse-gap", "6h")
    assert json.loads(out)["summary"]["job links"] == "job instances (reuse gap 6 h)"
    code, out, err = run_cli("graph", "TRACK", track, "--db", db, "--out", tmp_path / "t.otlp.json")
    assert code == 0 and "as otlp traces" in out, err
    spans = json.loads((tmp_path / "t.otlp.json").read_text())["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert sorted(s["name"] for s in spans) == ["enrichment:album 7", "track:created:enrichment track-3"]
    code, out, _ = run_cli("graph", "TRACK", track, "--db", db, "--out", tmp_path / "t", "--format=perfetto")
    assert code == 0 and "traceEvents" in (tmp_path / "t").read_text()
