"""The audit history: every verify on a writable store is recorded, runs compare check by check
(new, fixed and persisting ids), read-only stores and failed audits record nothing, and the
CLI (``llamalog audits``, ``llamalog verify --compare-last``) and the report show it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version

import polars as pl
import pytest
from conftest import audit_store, clean_rows, run_cli, uid, with_changes

import llamalog_analytics as lla
from llamalog_analytics.audit import DEFAULT_CHECKS, audit_history, compare_audits, duplicate_ids, verify
from llamalog_analytics.audit.history import READ_ONLY
from llamalog_analytics.errors import ArgumentError
from llamalog_analytics.report import report_html

R1, R2, R5 = uid("r1"), uid("r2"), uid("r5")


def defective_rows() -> list[dict]:
    """Clean rows but r1 and r2, before the migration, with a category the backfill would not
    have written (category_backfill fails on both)."""
    return with_changes(with_changes(clean_rows(), "r1", category="CACHED"), "r2", category="ENRICHED")


def fix_r2_break_r5(store: lla.LogStore) -> None:
    """Fix r2; give r5, after the migration, a category the application would not write."""
    store.execute("UPDATE llama_logs SET category = 'CACHED' WHERE id = ?", [R2])
    store.execute("UPDATE llama_logs SET category = 'ENRICHED' WHERE id = ?", [R5])


@pytest.fixture
def two_runs(tmp_path):
    """A store file audited twice: r2 fixed and r5 broken in between, r1 wrong throughout."""
    db = tmp_path / "two.duckdb"
    with audit_store(tmp_path, defective_rows(), path=db) as store:
        first = verify(store)
        fix_r2_break_r5(store)
        second = verify(store)
    return db, first, second


def test_each_verify_is_a_run_with_its_checks_ids_tables_and_parameters(two_runs):
    db, first, second = two_runs
    assert (first.summary["run"], first.summary["history"]) == (1, "recorded as run 1")
    assert (second.summary["run"], second.summary["history"]) == (2, "recorded as run 2")
    assert "since previous run" not in first.summary
    with lla.LogStore(db, read_only=True) as store:
        history = audit_history(store)
        stored_ids = store.frame("SELECT run_id, check_name, id FROM _llamalog_audit_ids ORDER BY ALL").rows()
    assert history.runs["run_id"].to_list() == [1, 2]
    assert history.runs["status"].to_list() == ["fail", "fail"]
    assert history.runs["fail"].to_list() == [1, 1] and history.runs["warn"].to_list() == [0, 1]
    # the checks count different things (rows, job runs, entities): a run names those that failed
    assert history.runs["failed_checks"].to_list() == [["category_backfill"], ["category_backfill"]]
    run = history.run(2)
    assert run.version == version("llamalog_analytics")
    assert run.checks == {"pass": len(DEFAULT_CHECKS) - 2, "skip": 0, "warn": 1, "fail": 1}
    assert run.tables == {
        "llama_logs": {"rows": 5, "last_load": 1},
        "enrichment_logs": {"rows": 3, "last_load": 2},
    }
    assert run.parameters == {
        "after": "llama_logs",
        "before": "enrichment_logs",
        "migrated_at": "2026-02-10 01:48:19 UTC",
        "root_job_migrated_at": "2026-02-10 16:39:53 UTC",
        "job links": str(lla.links.Linking()),
        "checks": [c.__name__ for c in DEFAULT_CHECKS],
    }
    assert stored_ids == sorted(
        [
            (1, "category_backfill", R1),
            (1, "category_backfill", R2),
            (2, "category_backfill", R1),
            (2, "category_rules", R5),
        ]
    )
    assert json.loads(json.dumps(history.to_dict()))["runs"][1]["run_id"] == 2
    text = str(history)
    assert text.startswith(f"[🦙 LlamaLog] 2 recorded audits of the store {db} (times UTC)")
    assert "llama_logs 5 rows (load 1), enrichment_logs 3 rows (load 2)" in text.splitlines()[-1]
    header, *rows = text.splitlines()[1:]
    assert header.split()[4:10] == ["pass", "skip", "warn", "fail", "failed", "checks"]
    assert all(row.split()[8] == "category_backfill" for row in rows)
    first = history.run(1)
    assert first.failed_checks == ("category_backfill",)
    assert first.to_dict()["failed_checks"] == ["category_backfill"]
    html = history._repr_html_()
    assert "LlamaLog audit history" in html and "<th>failed checks</th>" in html
    assert html.count("<td>category_backfill</td>") == 2


def test_the_last_two_runs_compare_into_new_fixed_and_persisting_ids(two_runs):
    db, _, second = two_runs
    with lla.LogStore(db, read_only=True) as store:
        changes = compare_audits(store)
        explicit = compare_audits(store, older=1, newer=2)
        backwards = compare_audits(store, older=2, newer=1)
    assert (changes.older.run_id, changes.newer.run_id) == (1, 2)
    assert changes.checks.equals(explicit.checks) and changes.ids.equals(explicit.ids)
    assert changes.checks["check"].to_list() == [c.__name__ for c in DEFAULT_CHECKS]
    rows = {r["check"]: r for r in changes.checks.iter_rows(named=True)}
    assert rows["category_backfill"] == {
        "check": "category_backfill",
        "older_status": "fail",
        "newer_status": "fail",
        "new": 0,
        "fixed": 1,
        "persisting": 1,
    }
    assert (rows["category_rules"]["older_status"], rows["category_rules"]["newer_status"]) == (
        "pass",
        "warn",
    )
    assert (rows["category_rules"]["new"], rows["category_rules"]["fixed"]) == (1, 0)
    assert (changes.new("category_backfill"), changes.fixed("category_backfill")) == ([], [R2])
    assert changes.persisting("category_backfill") == [R1]
    assert changes.new("category_rules") == [R5]
    assert changes.ids.rows() == [
        ("category_backfill", "fixed", R2),
        ("category_backfill", "persisting", R1),
        ("category_rules", "new", R5),
    ]
    assert backwards.new("category_backfill") == [R2] and backwards.fixed("category_rules") == [R5]
    # the second report carries the counts, as the comparison has them
    assert second.summary["since previous run"]["run"] == 1
    assert second.summary["since previous run"]["checks"] == changes.checks.to_dicts()
    document = json.loads(changes.to_json())
    backfill = next(c for c in document["checks"] if c["check"] == "category_backfill")
    assert (backfill["new_ids"], backfill["fixed_ids"], backfill["persisting_ids"]) == ([], [R2], [R1])
    text = str(changes)
    assert text.startswith("[🦙 LlamaLog] audit run 2 (") and "FAIL, was FAIL" in text.splitlines()[0]
    assert f"    fixed: {R2}" in text and f"    new: {R5}" in text
    assert "same tables, rows, loads and parameters" in text
    assert "LlamaLog audit comparison" in changes._repr_html_()
    with pytest.raises(ArgumentError, match=r"no check named 'nope'.*Hint: use one of rows_preserved"):
        changes.new("nope")


def test_a_check_skipped_or_absent_in_one_run_has_no_counts(tmp_path):
    with audit_store(tmp_path, defective_rows()) as store:
        verify(store, checks=DEFAULT_CHECKS[:4])
        verify(store, before=None, migrated_at=None, checks=DEFAULT_CHECKS[:3])
        store.execute("DROP TABLE enrichment_logs")
        verify(store, checks=DEFAULT_CHECKS[:3])  # without the snapshot rows_preserved skips
        changes = compare_audits(store, older=1, newer=2)
        skipped = compare_audits(store)
    absent = changes.checks.filter(check="category_backfill").row(0)
    assert absent == ("category_backfill", "fail", None, None, None, None)
    assert changes.checks["check"].to_list()[-1] == "category_backfill"  # the older run's only
    assert skipped.checks.filter(check="rows_preserved").row(0) == (
        "rows_preserved",
        "pass",
        "skip",
        None,
        None,
        None,
    )
    assert "  - not compared, skipped now: rows_preserved" in str(skipped)
    assert "  checks: 4 → 3 (left out category_backfill)" in str(changes)  # not a list's repr
    assert "  before: enrichment_logs → None" in str(skipped)


def test_comparing_needs_two_runs_that_exist(tmp_path):
    with audit_store(tmp_path, clean_rows()) as store:
        with pytest.raises(ArgumentError, match=r"has 0 runs\. Hint: run verify again"):
            compare_audits(store)
        verify(store)
        with pytest.raises(ArgumentError, match=r"has 1 run\. Hint: run verify again"):
            compare_audits(store)
        verify(store)
        with pytest.raises(ArgumentError, match=r"no audit run 7 in the store \(its runs are 1-2\)"):
            compare_audits(store, newer=7)
        with pytest.raises(ArgumentError, match="no audit run before run 1"):
            compare_audits(store, newer=1)
        with pytest.raises(ArgumentError, match="compared with itself"):
            compare_audits(store, older=2, newer=2)
        same = compare_audits(store)
    assert same.ids.is_empty() and set(same.checks["new"]) == {0}


def test_a_read_only_store_audits_without_recording(tmp_path):
    db = tmp_path / "ro.duckdb"
    audit_store(tmp_path, defective_rows(), path=db).close()
    with lla.LogStore(db, read_only=True) as store:
        report = verify(store)
        assert audit_history(store).runs.is_empty()
    assert (report.summary["run"], report.summary["history"]) == (None, READ_ONLY)
    assert report.summary["history"] == "not recorded: the store is open read-only"
    assert report.check("category_backfill").count == 2  # the audit itself is whole
    with lla.LogStore(db) as store:
        verify(store)
    with lla.LogStore(db, read_only=True) as store:
        verify(store)
        assert len(audit_history(store)) == 1


def test_a_failed_verify_records_nothing(tmp_path):
    def broken(audit):
        raise RuntimeError("check failed")

    with audit_store(tmp_path, defective_rows()) as store:
        with pytest.raises(RuntimeError, match="check failed"):
            verify(store, checks=[*DEFAULT_CHECKS[:2], broken])
        with pytest.raises(lla.errors.StoreError):
            verify(store, after="missing")
        assert len(audit_history(store)) == 0
        verify(store)

        def failing_ids(sql, params):  # the ids fail to be written: the run goes with them
            if sql.startswith("INSERT INTO _llamalog_audit_ids"):
                raise OSError("disk full")

        store.tracer = failing_ids
        with pytest.raises(OSError, match="disk full"):
            verify(store)
        store.tracer = None
        assert audit_history(store).runs["run_id"].to_list() == [1]
        assert store.execute("SELECT count(*) FROM _llamalog_audit_checks")[0][0] == len(DEFAULT_CHECKS)
        assert store.execute("SELECT count(*) FROM _llamalog_audit_ids")[0][0] == 2
        assert verify(store).summary["run"] == 2  # numbered without a gap


def test_the_report_shows_the_comparison_with_the_previous_run(two_runs, tmp_path):
    db, first, second = two_runs
    page = second.to_html(tmp_path / "second.html").read_text(encoding="utf-8")
    assert 'id="since-previous-table"' in page and "compared with run 1 (" in page
    row = page[page.index('<code class="id">category_backfill</code>', page.index("since-previous-table")) :]
    numbers = row[: row.index("</tr>")]
    assert '<td class="number">0</td><td class="number">1</td><td class="number">1</td>' in numbers
    page = first.to_html(tmp_path / "first.html").read_text(encoding="utf-8")
    assert (
        "since-previous-table" not in page and "Recorded as run 1: the store's first recorded audit." in page
    )
    with lla.LogStore(db, read_only=True) as store:
        page = verify(store).to_html(tmp_path / "ro.html").read_text(encoding="utf-8")
    assert "Not recorded: the store is open read-only." in page


def test_the_report_says_in_words_why_a_check_is_not_compared(tmp_path):
    """No bare "-" in the comparison: a check one run did not have is "not run" there, and a
    check whose ids cannot be compared says why in place of its counts."""
    rows = with_changes(clean_rows(), "r1", operation="MUSICBRAINZ_FETCH", category="CACHED")
    with audit_store(tmp_path, rows) as store:
        verify(store, checks=DEFAULT_CHECKS[:4])  # category_backfill fails on r1
        store.execute("UPDATE llama_logs SET category = 'CREATED' WHERE id = ?", [R1])  # warns
        store.execute("DROP TABLE enrichment_logs")  # rows_preserved skips
        report = verify(store, checks=DEFAULT_CHECKS[:5])  # category_rules new
    page = report.to_html(tmp_path / "audit.html").read_text(encoding="utf-8")
    table = page[page.index('id="since-previous-table"') :]
    table = table[: table.index("</table>")]
    cells = {
        re.sub(r"<[^>]+>", "", row.split("</td>")[0]): [
            re.sub(r"<[^>]+>", "", cell).strip() for cell in row.split("</td>")[1:-1]
        ]
        for row in table.split("<tr>")[2:]
    }
    assert "-" not in [cell for row in cells.values() for cell in row]
    assert cells["duplicate_ids"] == ["PASS", "PASS", "0", "0", "0"]
    assert cells["rows_preserved"] == ["PASS", "SKIP", "not compared: skipped now"]
    assert cells["category_rules"] == ["not run", "PASS", "not compared: not run then"]
    assert cells["category_backfill"][:2] == ["FAIL", "WARN"]
    assert cells["category_backfill"][2].startswith("not compared: a failing run lists the rows")


def test_a_backfill_failing_then_warning_is_not_compared_by_ids(two_runs):
    """Failing, category_backfill lists the rows that differ from the rules as applied; warning,
    the rows the roadmap intended otherwise: a comparison of the two would call one kind fixed
    and the other new."""
    db, _, _ = two_runs
    with lla.LogStore(db) as store:
        store.execute(
            "UPDATE _llamalog_audit_checks SET status = 'warn' "
            "WHERE run_id = 2 AND check_name = 'category_backfill'"
        )
        changes = compare_audits(store)
    row = changes.checks.filter(pl.col("check") == "category_backfill").row(0, named=True)
    assert (row["older_status"], row["newer_status"], row["new"], row["fixed"]) == (
        "fail",
        "warn",
        None,
        None,
    )
    assert (
        changes.new("category_backfill") == [] and "category_backfill" not in changes.ids["check"].to_list()
    )
    said = str(changes)
    assert "  - not compared, a failing run lists the rows" in said and said.endswith(": category_backfill")
    assert "- not compared, a failing run lists" in changes._repr_html_()


def test_cli_verify_records_and_compares_and_audits_lists(tmp_path):
    db = tmp_path / "cli.duckdb"
    audit_store(tmp_path, defective_rows(), path=db).close()
    code, out, err = run_cli("verify", "--db", db, "--compare-last")
    assert code == 1 and out.startswith("[🦙 LlamaLog] migration audit: FAIL")
    assert err.startswith("[🦙 LlamaLog] nothing to compare with: this is the store's first recorded audit")
    with lla.LogStore(db) as store:
        fix_r2_break_r5(store)
    code, out, err = run_cli("verify", "--db", db, "--compare-last")
    assert (code, err) == (1, "")
    report, comparison = out.split("\n\n[🦙 LlamaLog] audit run 2 (")
    assert report.startswith("[🦙 LlamaLog] migration audit: FAIL")
    assert f"    fixed: {R2}" in comparison and f"    new: {R5}" in comparison
    code, out, err = run_cli("verify", "--db", db, "--compare-last", "--format", "json", "--fail-on", "warn")
    document = json.loads(out)
    assert (code, err) == (1, "") and list(document) == ["status", "checks", "summary", "comparison"]
    assert document["summary"]["run"] == 3 and document["comparison"]["older"]["run_id"] == 2
    assert {c["check"]: c["new"] for c in document["comparison"]["checks"]}["category_rules"] == 0
    code, out, err = run_cli("audits", "--db", db)
    assert (code, err) == (0, "")
    assert out.startswith(f"[🦙 LlamaLog] 3 recorded audits of the store {db}")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["1", "2", "3"]
    code, out, _ = run_cli("audits", "--db", db, "--format", "json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)["runs"]] == [1, 2, 3]


def test_cli_no_record_and_missing_or_empty_stores(tmp_path):
    db = tmp_path / "cli.duckdb"
    audit_store(tmp_path, clean_rows(), path=db).close()
    code, out, err = run_cli("verify", "--db", db, "--no-record")
    assert code == 0 and out.startswith("[🦙 LlamaLog] migration audit: PASS")
    assert err == "[🦙 LlamaLog] not recorded, as --no-record asked\n"
    code, out, err = run_cli("audits", "--db", db)
    assert (code, err) == (0, "") and out.startswith("[🦙 LlamaLog] no recorded audits in the store")
    code, out, err = run_cli("verify", "--db", db, "--no-record", "--compare-last")
    assert (code, out) == (2, "") and "--no-record" in err
    missing = tmp_path / "none.duckdb"
    for command in ("verify", "audits"):
        code, out, err = run_cli(command, "--db", missing)
        assert (code, out) == (2, "") and "no such store" in err and err.count("\n") == 1
    assert not missing.exists()  # verify opens writable but never creates a store


def test_cli_verify_on_a_store_another_process_keeps_open_audits_without_recording(tmp_path):
    """Another process reading the store (DuckDB's shared lock) lets the audit read, not record:
    recording waits for the file as long as asked (10 s unless --wait says), then the audit says
    it was not recorded."""
    db = tmp_path / "held.duckdb"
    audit_store(tmp_path, clean_rows(), path=db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        code, out, err = run_cli("verify", "--db", db, "--wait", "1")
        assert code == 0 and out.startswith("[🦙 LlamaLog] migration audit: PASS")
        assert err.startswith(f"[🦙 LlamaLog] not recorded: {db}: process {holder.pid} (python")
        assert "still was after 1 s. Hint: run it again to record it (llamalog verify --wait 60" in err
        code, out, err = run_cli("verify", "--db", db, "--compare-last", "--wait", "1")
        assert (code, out) == (2, "") and "cannot compare with the last audit" in err and "Hint:" in err
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with lla.LogStore(db, read_only=True) as store:
        assert len(audit_history(store)) == 0


def test_an_audit_another_process_wrote_after_is_not_recorded(tmp_path, monkeypatch):
    """A load by another process that ends after the audit read the store and before its run is
    recorded would have the run name a load it never read: the audit says it was not recorded."""
    from llamalog_analytics.audit import history

    db = tmp_path / "shared.duckdb"
    store = audit_store(tmp_path, clean_rows(), path=db)
    source = store.loads()["source"][0]
    record = history.record

    def loaded_meanwhile(*args, **kwargs):
        loading = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, llamalog_analytics as lla; "
                "lla.LogStore(sys.argv[1]).load_files(sys.argv[2], quiet=True)",
                str(db),
                source,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert loading.returncode == 0, loading.stderr
        return record(*args, **kwargs)

    monkeypatch.setattr(history, "record", loaded_meanwhile)
    report = verify(store)
    assert report.summary["run"] is None, report.summary["history"]
    assert report.summary["history"].startswith(f"not recorded: {db}: another process wrote to the store")
    assert "Hint: run it again to record it" in report.summary["history"]
    assert "Hint: run it again to record it" in report_html(report)  # as written, not lower-cased
    monkeypatch.undo()
    assert len(audit_history(store)) == 0 and verify(store).summary["run"] == 1

    def writes_scratch(audit):  # a check of the caller's own that runs a statement that may write
        audit.store.execute("CREATE OR REPLACE TEMP TABLE scratch AS SELECT 1 AS one")
        return duplicate_ids(audit)

    assert verify(store, checks=[writes_scratch]).summary["run"] == 2  # this process's own statement
    store.close()
