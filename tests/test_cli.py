"""The ``llamalog`` command: each command, its output and its exit status."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import subprocess
import sys
import uuid

import polars as pl
import pytest
from conftest import FIXTURES, MIGRATIONS, ROOT, cli_store, run_cli, run_in_terminal, run_process

import llamalog_analytics as lla
from llamalog_analytics.cli import main
from llamalog_analytics.sample import DEMO_ALBUM

ALBUM = DEMO_ALBUM


def test_load_then_info(tmp_path):
    db = tmp_path / "s.duckdb"
    code, out, _ = run_cli("load", FIXTURES / "psql_quirks.csv", "--db", db, "--quiet")
    assert code == 0
    assert "3 read: 3 new, 0 rejected" in out
    code, out, _ = run_cli("info", "--db", db)
    assert code == 0
    assert "llama_logs: 3 rows, created_at 2026-02-09 12:00:00" in out
    assert "psql_quirks.csv [csv]\n      3 read: 3 new, 0 rejected\n" in out


def test_load_exit_status_with_rejects(tmp_path):
    db = tmp_path / "s.duckdb"
    code, out, _ = run_cli("load", FIXTURES / "rejects.csv", "--db", db, "--quiet")
    assert code == 0
    assert "10 read: 3 new, 7 rejected" in out
    assert out.splitlines()[-1] == f"  rejected rows and why: llamalog rejects --load 1 --db {db}"
    code, _, _ = run_cli("load", FIXTURES / "rejects.csv", "--db", db, "--quiet", "--strict")
    assert code == 1


def test_load_errors_exit_2_and_leave_no_trace(tmp_path):
    db = tmp_path / "s.duckdb"
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("name,price\nteapot,12\n")
    code, out, err = run_cli("load", stranger, "--db", db, "--quiet")
    assert code == 2
    assert out == ""
    assert err.startswith("[🦙 LlamaLog] error: ") and "missing 3 columns: id, operation, created_at" in err
    assert len(err.strip().splitlines()) == 1
    assert not db.exists()  # a failed first load leaves no empty store behind
    assert run_cli("load", FIXTURES / "psql_quirks.csv", "--db", db, "--quiet")[0] == 0
    code, _, _ = run_cli("load", stranger, "--db", db, "--quiet")
    assert code == 2
    with lla.LogStore(db, read_only=True) as store:  # a failed later load leaves it as it was
        assert store.tables() == ("llama_logs",)
        assert store.loads().height == 1


def test_load_where_every_row_is_rejected_exits_2_and_keeps_them(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,operation,created_at\nnope,x,2026-01-01\n")
    db = tmp_path / "s.duckdb"
    code, out, err = run_cli("load", path, "--db", db, "--quiet")
    assert code == 2
    assert out.startswith("load 1 into llama_logs: 1 read: 0 new, 1 rejected\n")
    assert err == (
        "[🦙 LlamaLog] error: no row could be loaded (1 row read, 1 rejected and kept aside). "
        f"Hint: see why with llamalog rejects --load 1 --db {db}\n"
    )
    code, out, _ = run_cli("rejects", "--load", "1", "--db", db)
    assert code == 0 and "id: 'nope' is not a UUID" in out


def test_an_empty_source_is_no_source(tmp_path, monkeypatch):
    """llamalog load "$DATABASE_URL" with the variable unset says what to give, not that the
    database options are for files."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, _, err = run_cli("load", "", "--schema", "catalog", "--full", "--db", tmp_path / "s.duckdb")
    assert code == 2 and "give files to load, a postgresql:// URL, or set DATABASE_URL" in err


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
    assert err == (
        f"[🦙 LlamaLog] error: {tmp_path / 'missing.duckdb'}: no such store. Hint: load data into it "
        f"first (llamalog load FILE --db {tmp_path / 'missing.duckdb'}), or try the bundled sample with "
        "llamalog demo\n"
    )


READING = (
    ["info"],
    ["rejects"],
    ["verify"],
    ["chain", "ALBUM", ALBUM],
    ["explain", "ALBUM", ALBUM],
    ["graph", "ALBUM", ALBUM, "--out", "a.graphml"],
    ["timeline", "ALBUM", ALBUM, "--out", "a.html"],
)


@pytest.mark.parametrize("command", READING, ids=lambda c: c[0])
def test_reading_a_missing_store_creates_nothing_and_names_the_stores_here(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(*command)
    assert (code, out) == (2, "")
    assert err.startswith("[🦙 LlamaLog] error: llamalog.duckdb: no such store. Hint: ")
    assert list(tmp_path.iterdir()) == []
    for name in ("llamalog-demo.duckdb", "old.duckdb"):
        lla.LogStore(name).close()
    code, _, err = run_cli(*command)
    assert code == 2
    run_here = (
        "add --db llamalog-demo.duckdb"
        if len(command) > 1
        else f"llamalog {command[0]} --db llamalog-demo.duckdb"
    )
    assert err == (
        "[🦙 LlamaLog] error: llamalog.duckdb: no such store (this folder has llamalog-demo.duckdb, "
        f"old.duckdb). Hint: use one of those: {run_here}\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llamalog-demo.duckdb", "old.duckdb"]


def test_synth_writes_files_that_load(tmp_path):
    out, before = tmp_path / "logs.parquet", tmp_path / "before.ndjson"
    code, text, _ = run_cli("synth", "--rows", "500", "--seed", "4", "--out", out, "--before", before)
    assert code == 0
    assert f"wrote 500 rows to {out}" in text
    code, text, _ = run_cli("synth", "--rows", "1", "--out", tmp_path / "one.csv")
    assert text == f"[🦙 LlamaLog] wrote 1 row to {tmp_path / 'one.csv'}\n"
    two, sheet = tmp_path / "two.csv", tmp_path / "b.xlsx"
    code, text, err = run_cli("synth", "--rows", "1", "--out", two, "--before", sheet)
    assert (code, text) == (2, "") and "b.xlsx: its name does not say which format to write" in err
    assert "or add --format" not in err and not two.exists()
    code, text, err = run_cli("synth", "--rows", "1", "--out", two, "--before", tmp_path / "." / "two.csv")
    assert (code, text) == (2, "") and f"--out and --before name one file, {two}" in err and not two.exists()
    with lla.LogStore() as store:
        assert store.load_files(out, quiet=True).rows_loaded == 500
        assert store.load_files(before, "enrichment_logs", quiet=True).rows_rejected == 0


def test_demo_on_the_shipped_sample_ends_with_three_commands_that_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("demo", "--quiet")
    assert code == 0
    assert "into llama_logs" in out and "into enrichment_logs" in out
    assert "load 3 into _prisma_migrations: 9 read: 9 new, 0 rejected" in out
    assert "0 rejected" in out
    intro, *commands = out.splitlines()[-4:]
    assert intro.startswith("next, try") and len(commands) == 3
    for command in commands:
        assert (
            command.startswith("  llamalog ") and f"ALBUM {DEMO_ALBUM} --db llamalog-demo.duckdb" in command
        )
        code, text, err = run_cli(*shlex.split(command)[1:])
        assert code == 0 and not err, (command, err)
        shows = {
            "explain": f"ALBUM {DEMO_ALBUM} (Ágætis byrjun)\n  how it got here:",
            "chain": "| self ",
            "timeline": "15 rows: 13 in 13 job runs, 2 without a job id",
        }
        assert shows[command.split()[1]] in text, text
    assert (tmp_path / "llamalog-demo.timeline.html").exists()
    audit_intro, *audit_commands = out.splitlines()[-8:-4]
    assert audit_intro.startswith("audit again later")
    shows = {"verify": "against run 1", "repair": "nothing to repair", "audits": "3 recorded audits"}
    for command in audit_commands:
        code, text, err = run_cli(*shlex.split(command)[1:])
        assert code == 0 and shows[command.split()[1]] in text, (command, text, err)
    code, _, err = run_cli("info")  # the default store is not the demo's: say which to use
    assert code == 2 and "Hint: use that store: llamalog info --db llamalog-demo.duckdb" in err
    code, out, _ = run_cli("demo", "--db", "llamalog-demo.duckdb", "--quiet")
    assert code == 0
    assert "4,000 read: 0 new, 4,000 unchanged" in out and "  llamalog explain ALBUM" in out


def test_the_demo_album_has_a_chain_worth_a_look():
    with lla.sample_store() as store:
        rows = lla.chain(store, "ALBUM", DEMO_ALBUM)
        story = str(lla.explain(store, "ALBUM", DEMO_ALBUM))
    assert {"self", "descendant"} <= set(rows["relation"]) and rows["job_id"].n_unique() > 10
    assert "CREATED" in rows["category"].to_list() and "reused job id" in story


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
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["created_at"]) for r in parsed
    )  # UTC
    code, out, _ = run_cli(
        "chain", "ARTIST", artist, "--db", db, "--format", "csv", "--category", "USER_ACTION"
    )
    found = pl.read_csv(out.encode())
    assert found["operation"].to_list() == ["collection:album-added"]
    flags = found.select("is_root_job", "in_cycle", "before_parent", "root_dangling").row(0)
    assert set(flags) <= {"t", "f"}  # every boolean as psql writes one, annotations too
    code, out, _ = run_cli("chain", "ALBUM", str(uuid.uuid4()), "--db", db, "--format", "csv")
    assert code == 0 and out.startswith("id,entity_type,") and len(out.splitlines()) == 1  # the header
    code, out, _ = run_cli("chain", "ALBUM", str(uuid.uuid4()), "--db", db, "--format", "json")
    assert (code, out) == (0, "[]\n")
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
    page = json.loads(out)  # the logs and where the next page starts, as the resolver gives them
    assert (len(page["logs"]), page["total_count"], page["has_more"], err) == (2, 4, True, "")
    code, out, _ = run_cli(
        "chain", "ALBUM", case["chains"][1]["entity_id"], "--db", db, "--mode", "entity", "--limit", "2",
        "--cursor", page["cursor"], "--format", "json",
    )  # fmt: skip
    assert [len(json.loads(out)["logs"]), json.loads(out)["has_more"]] == [2, False]
    code, out, _ = run_cli(  # --cursor "$LAST_ID" before there is one: the first page
        "chain", "ALBUM", case["chains"][1]["entity_id"], "--db", db, "--mode", "entity", "--limit", "2",
        "--cursor", "", "--format", "json",
    )  # fmt: skip
    assert json.loads(out)["logs"] == page["logs"]
    code, out, err = run_cli("chain", "ALBUM", str(uuid.uuid4()), "--db", db)
    assert code == 0 and "no llama_logs rows for ALBUM" in err
    for malformed in ("not-a-uuid", artist[:8]):  # never an entity: an error, not an empty chain
        code, out, err = run_cli("chain", "ARTIST", malformed, "--db", db)
        assert (code, out) == (2, "") and f"{malformed!r} is not an entity id" in err
    code, out, _ = run_cli("chain", "ARTIST", f" {artist}", "--db", db, "--format", "json")
    assert code == 0 and len(json.loads(out)) == 3  # a pasted space is no part of the id
    code, out, err = run_cli("chain", "ARTIST", artist, "--db", db, "--since", "2030-01-01")
    assert code == 0 and f"none of the 3 rows for ARTIST {artist} match --since\n" in err
    many = case["chains"][1]["entity_id"]
    code, out, err = run_cli(
        "chain", "ALBUM", many, "--db", db, "--mode", "entity", "--cursor", str(uuid.uuid4())
    )
    assert code == 0 and "no rows after --cursor" in err and "total_count 4" in out
    code, _, err = run_cli("chain", "ALBUM", artist, "--db", db, "--category", "NOPE")
    assert code == 2 and "Valid: CREATED" in err
    code, _, err = run_cli("chain", "ALBM", artist, "--db", db)  # said in capitals, as the rows write them
    assert (
        code == 2
        and "'{ALBUM|ARTIST|TRACK}': 'ALBM' is not an entity type: use ALBUM, ARTIST or TRACK" in err
    )
    code, _, err = run_cli("chain", "ALBUM", artist, "--db", db, "--limit", "2")
    assert code == 2 and "--mode entity" in err
    code, out, _ = run_cli("graph", "ARTIST", artist, "--db", db, "--out", tmp_path / "a.graphml")
    assert code == 0 and "wrote" in out and (tmp_path / "a.graphml").exists()
    code, _, err = run_cli("graph", "ARTIST", artist, "--db", db, "--out", tmp_path / "a.txt")
    assert code == 2 and "a.txt: its name does not say which format" in err and ".otlp.json" in err
    assert "add --format" in err
    for name in ("n.graphml", "n.prov.json", "n.otlp.json"):  # an entity no row names: nothing written
        code, _, err = run_cli("graph", "ARTIST", str(uuid.uuid4()), "--db", db, "--out", tmp_path / name)
        assert code == 2 and "no llama_logs rows for ARTIST" in err and not (tmp_path / name).exists()
    code, out, _ = run_cli("explain", "ARTIST", artist, "--db", db)
    assert code == 0 and "missing CREATED" in out


def test_an_id_asked_for_as_another_type_says_the_type_its_rows_name_it_as(tmp_path):
    case, db = cli_store("flat_queue_family", tmp_path)
    artist = case["chains"][0]["entity_id"]  # an artist's id, asked for as an album's
    said = "2 rows name it as ARTIST. Hint: ask for ARTIST instead of ALBUM"
    code, _, err = run_cli("chain", "ALBUM", artist, "--db", db)
    assert code == 0 and f"no llama_logs rows for ALBUM {artist}; {said}\n" in err
    code, out, _ = run_cli("explain", "ALBUM", artist, "--db", db)
    assert code == 0 and f"no log rows name this entity; {said}" in out
    code, _, err = run_cli("timeline", "ALBUM", artist, "--db", db, "--out", tmp_path / "t.html")
    assert code == 2 and f"no llama_logs rows for ALBUM {artist}; {said}" in err
    code, _, err = run_cli("graph", "ALBUM", artist, "--db", db, "--out", tmp_path / "g.dot")
    assert code == 2 and f"ALBUM {artist}, so {tmp_path / 'g.dot'} was not written; {said}" in err
    code, _, err = run_cli("chain", "TRACK", str(uuid.uuid4()), "--db", db)  # named by no row at all
    assert "Hint: check the id, or name another table (--table)" in err


def test_a_filtered_or_paged_chain_names_each_entity_as_its_whole_chain_does(tmp_path):
    """The demo album's artist is named by one row of its chain (cache:artist-image): the chain
    filtered to other rows, or a page of the entity mode, still names it and the album, as the
    whole chain and the timeline do, not by their ids shortened."""
    db = tmp_path / "s.duckdb"
    assert run_cli("load", lla.sample_path("llama_logs.parquet"), "--db", db, "--quiet")[0] == 0
    code, whole, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db)
    assert code == 0 and whole.count("ARTIST John Coltrane") == 3
    code, enriched, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db, "--category", "ENRICHED")
    assert code == 0 and enriched.count("ARTIST John Coltrane") == 2 and "ARTIST 857444f3" not in enriched
    code, page, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db, "--mode", "entity", "--limit", "2")
    assert code == 0 and page.count("ALBUM Ágætis byrjun") == 2


def test_the_chain_table_names_the_run_of_a_job_id_that_ran_more_than_once(tmp_path):
    """Job 204 ran twice in the table (February and April): the table says which run its row is
    of, as the timeline's lane does; job 203 ran once and stays bare. The files keep the ids and
    give the run in job_instance."""
    db = tmp_path / "s.duckdb"
    assert run_cli("load", lla.sample_path("llama_logs.parquet"), "--db", db, "--quiet")[0] == 0
    code, table, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db)
    jobs = [line.split("|")[-3].strip() for line in table.splitlines()[2:]]
    assert code == 0 and "204 #1" in jobs and "203" in jobs and "369 #2" in jobs, table
    for paged in ((), ("--limit", "20")):  # the album's own rows, as its chain names their runs
        code, own, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db, "--mode", "entity", *paged)
        jobs = [line.split("|")[-3].strip() for line in own.splitlines()[2:] if line.startswith("|")]
        assert code == 0 and "204 #1" in jobs and "203" in jobs and "369 #2" in jobs, own
    code, bare, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db, "--link", "job-id")
    assert code == 0 and "204" in [line.split("|")[-3].strip() for line in bare.splitlines()[2:]]
    _, text, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db, "--format", "csv")
    assert "204" in pl.read_csv(text.encode(), infer_schema=False)["job_id"].to_list()


def test_chain_and_explain_fit_the_terminal_and_print_whole_lines_elsewhere(tmp_path):
    db = tmp_path / "s.duckdb"
    assert run_cli("load", ROOT / "data" / "sample" / "llama_logs.csv.gz", "--db", db, "--quiet")[0] == 0
    table = run_in_terminal("chain", "ALBUM", ALBUM, "--db", db, columns=80).splitlines()
    assert max(map(len, table)) <= 80
    assert table[0].split() == ["created_at", "(UTC)", "relation", "category", "operation", "entity"]
    assert table[2].split()[:5] == ["2026-02-07", "08:59:25.576", "self", "CREATED", "collection:album…"]
    assert "descendant  ENRICHED  discogs:get-arti…  ARTIST John C…" in table[6]  # who a row is about stays
    widest = run_in_terminal("chain", "ALBUM", ALBUM, "--db", db, columns=220)
    assert len(widest.splitlines()[0].split()) == 10
    wider = run_in_terminal("chain", "ALBUM", ALBUM, "--db", db, columns=100).splitlines()
    assert wider[0].split()[5] == "entity" and max(map(len, wider)) <= 100
    assert "descendant  ENRICHED  discogs:get-artist      ARTIST John Co…" in wider[6]  # who a row is about
    _, piped, _ = run_cli("chain", "ALBUM", ALBUM, "--db", db)  # not a terminal: every column in full
    assert piped.startswith("| created_at ") and max(map(len, piped.splitlines())) > 150

    story = run_in_terminal("explain", "ALBUM", ALBUM, "--db", db, columns=80)
    _, whole, _ = run_cli("explain", "ALBUM", ALBUM, "--db", db)
    assert max(map(len, story.splitlines())) <= 80 < max(map(len, whole.splitlines()))
    bullet = "\n    - reused job id: job 204 ran 2 times (2026-02-07, 2026-04-10); this chain\n      follows"
    assert bullet in story
    assert re.sub(r"\n {6,}", " ", story) == whole  # continuations hang under their line's text


def test_graph_out_dash_writes_standard_output_and_a_format_must_agree_with_the_name(tmp_path, monkeypatch):
    case, db = cli_store("flat_queue_family", tmp_path)
    graph = ("graph", "ARTIST", case["chains"][0]["entity_id"], "--db", db)
    monkeypatch.chdir(tmp_path)
    names = {"graphml": "g.graphml", "node-link": "g.json", "dot": "g.dot", "prov-json": "g.prov.json"}
    names |= {"otlp": "g.otlp.json", "perfetto": "g.perfetto.json"}
    for output, name in names.items():  # every format is text: what the file holds, on standard output
        code, out, err = run_cli(*graph, "--out", "-", "--format", output)
        assert code == 0 and err.startswith("[🦙 LlamaLog] wrote ") and err.endswith(" to standard output\n")
        assert run_cli(*graph, "--out", name)[0] == 0 and out == (tmp_path / name).read_text(), output
    assert not (tmp_path / "-").exists()
    code, out, err = run_cli(*graph, "--out", "-")
    assert (code, out) == (2, "") and "--out - writes to standard output" in err
    assert "Hint: add --format graphml, node-link, dot, prov-json, otlp or perfetto" in err  # which to add
    code, _, err = run_cli(*graph, "--out", "a.otlp.json", "--format", "graphml")
    assert (
        code == 2
        and "a.otlp.json: its name says otlp, --format says graphml. Hint: leave out --format" in err
    )
    code, _, err = run_cli(*graph, "--out", "a.prov.json", "--format", "node-link")
    assert code == 2 and "its name says prov-json, --format says node-link" in err
    assert sorted(p.name for p in tmp_path.glob("a.*")) == []  # refused before anything was written
    code, out, _ = run_cli(
        *graph, "--out", "a.json", "--format", "otlp"
    )  # .json says no JSON format over another
    assert (
        code == 0
        and "as otlp traces to a.json" in out
        and "resourceSpans" in (tmp_path / "a.json").read_text()
    )


def test_timeline_out_dash_writes_the_page_to_standard_output(tmp_path, monkeypatch):
    case, db = cli_store("flat_queue_family", tmp_path)
    timeline = ("timeline", "ARTIST", case["chains"][0]["entity_id"], "--db", db)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(*timeline, "--out", "-")
    # what was written, then what it holds in parentheses, then where: not "... run: 1 to t.html"
    said = r"\[🦙 LlamaLog\] wrote LlamaLog timeline · ARTIST \S+ \(\S+ · \d+ rows [^)]+\) to standard output"
    assert code == 0 and re.fullmatch(said + "\n", err), err
    assert run_cli(*timeline, "--out", "t.html")[0] == 0 and out == (tmp_path / "t.html").read_text()
    assert not (tmp_path / "-").exists()


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
    assert ids("--link", "job_id") == ids("--link", "job-id")  # the Python spelling too
    code, _, err = run_cli("chain", "TRACK", track, "--db", db, "--reuse-gap", "soon")
    assert code == 2 and "error: --reuse-gap 'soon' is not a duration" in err and "Hint:" in err
    code, _, err = run_cli("chain", "TRACK", track, "--db", db, "--reuse-gap", "-1h")
    assert code == 2 and "--reuse-gap '-1h' is negative" in err
    for zero in ("0", "0s"):
        code, _, err = run_cli("chain", "TRACK", track, "--db", db, "--reuse-gap", zero)
        assert code == 2 and f"error: --reuse-gap '{zero}' is not positive. Hint:" in err
    files = {"graph": tmp_path / "t.dot", "timeline": tmp_path / "t.html"}
    both = ("--reuse-gap", "6h", "--link", "job-id")  # a gap bare job ids would ignore: refused
    for command in ("chain", "explain", "graph", "timeline"):
        where = ["--out", files[command]] if command in files else []
        code, _, err = run_cli(command, "TRACK", track, "--db", db, *where, *both)
        assert code == 2 and "--reuse-gap '6h' has no meaning with --link job-id: " in err, (
            command,
            err,
        )
    code, _, err = run_cli("verify", "--db", db, "--link", "job_id", "--reuse-gap", "24h")
    assert code == 2 and "--reuse-gap '24h' has no meaning with --link job-id: " in err
    code, out, _ = run_cli("chain", "--help")
    assert "--link [instance|job-id] " in out and "job_id" not in out  # one spelling shown, both taken
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


def test_rejects_lists_the_rows_that_could_not_be_loaded(tmp_path, monkeypatch):
    from bad_inputs import csv, csv_row

    monkeypatch.setenv("COLUMNS", "120")
    db = tmp_path / "s.duckdb"
    long = tmp_path / "long.csv"
    long.write_bytes(csv(csv_row(1, created_at="never", error_message='"' + "x" * 5_000 + '\nmore"')))
    for path in (FIXTURES / "rejects.csv", FIXTURES / "psql_quirks.csv", long):
        assert run_cli("load", path, "--db", db, "--quiet")[0] in (0, 2)
    with lla.LogStore(db, read_only=True) as store:
        stored = store.rejects()
    assert stored["load_id"].to_list() == [1] * 7 + [3]

    code, out, err = run_cli("rejects", "--db", db)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["load", "source", "row", "column", "reason", "raw"]
    assert max(map(len, lines)) <= 120  # fits the terminal: reasons wrap, raw text is cut
    monkeypatch.setenv("COLUMNS", "90")  # the width asked for, also to a pipe
    assert max(map(len, run_cli("rejects", "--db", db)[1].splitlines())) <= 90
    monkeypatch.setenv("COLUMNS", "120")
    assert lines[1].split()[:6] == ["1", "rejects.csv", "2", "id", "id:", "'not-a-uuid'"]
    assert "rejects.csv line 6: 26 fields where the header has 28;" in out
    assert lines[-1] == "8 rejected rows; every column in full: --format csv or --format json"

    code, out, _ = run_cli("rejects", "--db", db, "--load", "3")
    assert code == 0
    header, first, *wrapped, footer = out.splitlines()
    assert first.split()[:4] == ["3", "long.csv", "1", "created_at"] and first.endswith("…")
    assert "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" not in out
    assert wrapped and all(not line[: header.index("reason")].strip() for line in wrapped)  # the reason wraps
    assert "UTC unless an offset is given)" in wrapped[-1] and footer.startswith("1 rejected row in load 3;")

    code, out, _ = run_cli("rejects", "--db", db, "--format", "json")
    assert code == 0 and json.loads(out) == stored.to_dicts()  # every column, values in full
    assert len(json.loads(out)[-1]["raw"]) > 5_000
    code, out, _ = run_cli("rejects", "--db", db, "--format", "csv", "--load", "1")
    from polars.testing import assert_frame_equal

    assert_frame_equal(pl.read_csv(out.encode(), schema=stored.schema), stored.filter(pl.col("load_id") == 1))


def test_rejects_when_there_are_none_or_no_such_load(tmp_path):
    db = tmp_path / "s.duckdb"
    run_cli("load", FIXTURES / "psql_quirks.csv", "--db", db, "--quiet")
    run_cli("load", FIXTURES / "psql_quirks.csv", "--db", db, "--quiet")
    assert run_cli("rejects", "--db", db) == (0, "[🦙 LlamaLog] no rejected rows\n", "")
    assert run_cli("rejects", "--db", db, "--load", "2") == (
        0,
        "[🦙 LlamaLog] no rejected rows in load 2\n",
        "",
    )
    code, out, err = run_cli("rejects", "--db", db, "--format", "csv")
    assert (code, out.splitlines()[0], err) == (
        0,
        "load_id,table_name,source,row_number,column_name,reason,raw",
        "[🦙 LlamaLog] no rejected rows\n",
    )
    assert run_cli("rejects", "--db", db, "--format", "json")[:2] == (0, "[]\n")
    code, out, err = run_cli("rejects", "--db", db, "--load", "9")
    assert (code, out) == (2, "")
    assert err == (
        "[🦙 LlamaLog] error: no load 9 in the store (its loads are 1-2). "
        "Hint: pass one of those; llamalog info lists them with their files\n"
    )


def test_changes_lists_the_rows_their_source_changed(tmp_path):
    db, path = tmp_path / "s.duckdb", tmp_path / "a.csv"
    frame = lla.synthetic.generate(20, seed=2).llama_logs.head(10)
    lla.write_logs(frame, path)
    run_cli("load", path, "--db", db, "--quiet")
    files_note = "A row a file no longer has is not counted gone: a file may hold part of a table.\n"
    assert run_cli("changes", "--db", db)[:2] == (
        0,
        "[🦙 LlamaLog] no stored row was changed or removed in its source since loaded\n" + files_note,
    )
    lla.write_logs(frame.with_columns(reason=pl.lit("edited")).head(9), path)  # the last row left out
    code, out, _ = run_cli("load", path, "--db", db, "--quiet")
    assert code == 0 and "llamalog changes" in out
    code, out, _ = run_cli("changes", "--db", db)
    assert code == 0 and "changed: reason" in out and frame["id"][0] in out
    assert out.splitlines()[-2].startswith("9 rows changed, 0 gone; sources and the values before")
    assert out.endswith(files_note)  # why the row left out is not gone
    code, out, err = run_cli("changes", "--db", db, "--format", "json")
    changed = json.loads(out)
    assert err == files_note
    assert len(changed) == 9 and {c["change"] for c in changed} == {"changed: reason"}
    assert {json.loads(c["previous"])["reason"] for c in changed} == set(frame["reason"].to_list())
    times = {c["created_at"] for c in changed}  # ISO 8601 UTC, as the exports write times
    assert times == {f"{t.isoformat(timespec='milliseconds')}Z" for t in frame["created_at"].head(9)}


def test_load_into_prisma_migrations_says_what_it_loaded(tmp_path):
    from bad_inputs import csv, csv_row

    db, path = tmp_path / "s.duckdb", tmp_path / "migrations.csv"
    MIGRATIONS.write_csv(path)
    code, out, _ = run_cli("load", path, "--as", "_prisma_migrations", "--db", db, "--quiet")
    assert code == 0
    assert out.splitlines()[:2] == [
        "load 1 into _prisma_migrations: 9 read: 9 new, 0 rejected",
        f"  {path} [csv] -> _prisma_migrations: 9 read: 9 new, 0 rejected",
    ]
    code, out, _ = run_cli("load", path, "--as", "_prisma_migrations", "--db", db, "--quiet")
    assert out.startswith("load 2 into _prisma_migrations: 9 read: 0 new, 9 unchanged, 0 rejected\n")
    one = tmp_path / "one.csv"
    one.write_bytes(csv(csv_row(1)))
    code, out, _ = run_cli("load", one, "--as", "enrichment_logs", "--db", db, "--quiet")
    assert out.startswith("load 3 into enrichment_logs: 1 read: 1 new, 0 rejected\n")
    code, out, _ = run_cli("info", "--db", db)
    again = f"_prisma_migrations <- {path} [csv]\n      9 read: 0 new, 9 unchanged, 0 rejected"
    assert code == 0 and again in out


def test_a_png_this_machine_cannot_render_is_a_one_line_error(tmp_path, monkeypatch):
    import plotly.graph_objects as go

    case, db = cli_store("flat_queue_family", tmp_path)
    artist = case["chains"][0]["entity_id"]

    def without_chrome(*args: object, **kwargs: object) -> None:
        raise RuntimeError(
            "\n\nKaleido requires Google Chrome to be installed.\n\nEither download and install Chrome "
            "yourself,\nor install it from your terminal by running:\n\n    $ plotly_get_chrome\n\n"
        )

    monkeypatch.setattr(go.Figure, "write_image", without_chrome)
    code, out, err = run_cli("timeline", "ARTIST", artist, "--db", db, "--out", tmp_path / "a.png")
    assert (code, out) == (2, "")
    assert err == (
        f"[🦙 LlamaLog] error: {tmp_path / 'a.png'}: cannot render a PNG here (Kaleido requires Google "
        "Chrome to be installed). Hint: pip install 'llamalog_analytics[png]' (kaleido), and install "
        "Chrome or Chromium (apt-get install chromium, or run plotly_get_chrome); or write .html instead\n"
    )
    assert not (tmp_path / "a.png").exists()


def test_counts_read_right_for_one(tmp_path):
    from conftest import log_row

    rows = tmp_path / "one.json"
    rows.write_text(
        json.dumps([log_row("solo", "2026-03-01T10:00:00", "enrichment:album", "ENRICHED", job_id="9")])
    )
    db = tmp_path / "s.duckdb"
    code, out, _ = run_cli("load", rows, "--db", db, "--quiet")
    assert out.startswith("load 1 into llama_logs: 1 read: 1 new, 0 rejected\n")
    album = json.loads(rows.read_text())[0]["album_id"]
    code, out, _ = run_cli("graph", "ALBUM", album, "--db", db, "--out", tmp_path / "a.otlp.json")
    assert code == 0 and "wrote the chain's 1 row as otlp traces" in out


def test_usage_errors_are_one_line_too(tmp_path):
    for args, message in (
        (["rejects", "--load", "x"], "Invalid value for '--load': 'x' is not a valid integer range. "),
        (["nope"], "No such command 'nope'. Hint: llamalog --help"),
        (["report"], "No such command 'report': the audit writes its HTML report, llamalog verify --report"),
        (["chian"], "(Did you mean one of: 'chain', 'changes'?) Hint: llamalog --help"),
        (["chain", "ALBUM"], "Missing argument 'ENTITY_ID'. Hint: llamalog chain --help"),
        (["chain", "ALBUM", ALBUM, "--limit", "2"], "add --mode entity. Hint: llamalog chain --help"),
        (
            ["chain", "ALBUM", ALBUM, "--categry", "X"],
            "Did you mean '--category'? Hint: llamalog chain --help",
        ),
    ):
        code, out, err = run_cli(*args, "--db", tmp_path / "s.duckdb")
        assert (code, out) == (2, "")
        assert err.startswith("[🦙 LlamaLog] error: ") and message in err and err.count("\n") == 1, err
    assert run_cli("--version")[0] == 0 and run_cli("rejects", "--help")[0] == 0


def test_the_command_list_gives_each_command_whole_in_80_columns():
    listed = run_in_terminal("--help", columns=80).split("Commands:")[1].splitlines()[1:]
    assert len(listed) == len(main.commands) and all(len(line) <= 80 for line in listed)
    assert not any(line.endswith("...") for line in listed), listed


@pytest.mark.parametrize("name", ["rows.csv", "rows.csv.gz", "rows.json", "rows.parquet"])
def test_a_file_one_may_not_read_is_named_with_a_hint(synth, tmp_path, name):
    path = lla.write_logs(synth.llama_logs.head(3), tmp_path / name)
    path.chmod(0)
    done = run_process("load", path, "--db", tmp_path / "s.duckdb", unprivileged=True)
    said = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in said, said
    assert f"{path}: cannot be read (" in said
    assert (
        f"the store is unchanged. Hint: check that you may read it (ls -l {path}), then load it again" in said
    )
    assert not (tmp_path / "s.duckdb").exists()


def test_every_option_of_every_command_says_what_it_does():
    """``--help`` explains each option (``synth --rows`` and ``--seed`` said nothing)."""
    import click

    from llamalog_analytics.cli import main

    silent = [
        f"{name} {option.opts[0]}"
        for name, command in main.commands.items()
        for option in command.params
        if isinstance(option, click.Option) and not option.help and option.opts[0] != "--help"
    ]
    assert silent == []


def test_the_demo_fits_its_audit_to_the_terminal(tmp_path):
    """In an 80-column terminal the demo's audit is wrapped as ``llamalog verify``'s is (its
    findings ran past the edge); the commands it ends with stay whole, to copy."""
    shown = run_in_terminal("demo", "--db", tmp_path / "demo.duckdb", columns=80).replace("\r", "")
    audit = shown[shown.index("[🦙 LlamaLog] migration audit") : shown.index("audit report:")]
    assert max(map(len, audit.splitlines())) <= 80
    assert "\n  llamalog timeline ALBUM 3e8428c2-2d96-4742-8ce3-9cf025319cd4 --db " in shown


def test_a_terminal_in_a_latin1_locale_gets_plain_text_not_a_traceback(tmp_path):
    """Where standard output and error are Latin-1 (a terminal in such a locale), the llama is left
    out of ``[🦙 LlamaLog]`` and the symbols print as ASCII, where printing the llama crashed the
    command with a UnicodeEncodeError after its work was done, and stderr showed \\U0001f999."""
    out = tmp_path / "x.csv"
    wrote = run_process("synth", "--rows", "5", "--out", out, PYTHONIOENCODING="latin-1")
    assert (wrote.returncode, wrote.stdout.decode("latin-1")) == (0, f"[LlamaLog] wrote 5 rows to {out}\n")
    missing = run_process("info", "--db", tmp_path / "none.duckdb", PYTHONIOENCODING="latin-1")
    said = missing.stderr.decode("latin-1")
    assert missing.returncode == 2 and said.startswith("[LlamaLog] error: ") and said.count("\n") == 1, said


def test_a_load_whose_stderr_is_a_file_writes_no_progress_bar(tmp_path, monkeypatch):
    """Standard error not a terminal (``2> load.log``, a CI job's log): no progress bar, whose
    redraws filled the log with carriage returns and block characters; --quiet is for a terminal."""
    from llamalog_analytics import _progress

    monkeypatch.setitem(
        _progress.track.__wrapped__.__kwdefaults__, "delay", 0.0
    )  # the bar at once, as on a long load
    code, out, err = run_cli("load", FIXTURES / "psql_quirks.csv", "--db", tmp_path / "s.duckdb")
    assert (code, err) == (0, "") and "3 read: 3 new" in out


def test_standard_output_is_written_from_a_folder_one_may_not_write_in(tmp_path):
    """--out - (standard output) needs no folder to write in: from a read-only working folder the
    graph is printed, as the check that a file's folder is writable must not ask of it."""
    case, db = cli_store("flat_queue_family", tmp_path)
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o555)
    artist = case["chains"][0]["entity_id"]
    with contextlib.chdir(folder):
        done = run_process(
            "graph", "ARTIST", artist, "--db", db, "--out", "-", "--format", "dot", unprivileged=True
        )
    assert done.returncode == 0 and done.stdout.startswith(b"digraph"), done.stderr


def test_a_store_in_a_folder_one_may_not_write_in_says_so_when_written(tmp_path):
    """A store file one may write, in a folder one may not (DuckDB writes its .wal beside it): a
    load and a recorded audit name the folder and what to do, where the load's hint said to check
    that the file loaded was complete and the audit's to free some space."""
    _, db = cli_store("flat_queue_family", tmp_path)
    folder = tmp_path / "shared"
    folder.mkdir()
    store = db.rename(folder / "s.duckdb")
    folder.chmod(0o555)
    wanted = f"DuckDB writes {store}.wal beside the store, and one may not write in {folder}. Hint: "
    loaded = run_process("load", tmp_path / "rows.json", "--db", store, unprivileged=True).stderr.decode()
    assert wanted in loaded and loaded.count("\n") == 1 and "file is complete" not in loaded, loaded
    audited = run_process("verify", "--db", store, unprivileged=True).stderr.decode()
    assert wanted in audited and "--no-record" in audited and "free some space" not in audited, audited
