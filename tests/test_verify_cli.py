"""``llamalog verify``: its exit codes (0, 1 at --fail-on, 2 when the audit cannot run), its
one-line errors, and the text and JSON it prints."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from conftest import audit_store, clean_rows, run_cli, run_in_terminal, run_process, with_changes

import llamalog_analytics as lla
from llamalog_analytics.audit import DEFAULT_CHECKS, audit_history

CHECK_FIELDS = ["name", "status", "count", "finding", "expects", "ids", "sql", "breakdowns"]


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    """The bundled sample in a store file: both tables and the migration history."""
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    lla.sample_store(path).close()
    return path


def test_the_audit_fits_the_terminal_and_prints_whole_lines_elsewhere(sample_db):
    """In an 80-column terminal each check's finding and what it expects are wrapped under the
    check (they ran past the terminal's edge, where it broke them anywhere); to a pipe or a file
    each stays on one line, for scripts to read."""
    shown = run_in_terminal("verify", "--db", sample_db, "--no-record", columns=80)
    code, whole, _ = run_cli("verify", "--db", sample_db, "--no-record")
    assert code == 0 and max(map(len, shown.splitlines())) <= 80
    assert "\nWARN  category_backfill          123\n      123 of 651 rows" in shown.replace("\r", "")
    assert shown.split() == whole.split()  # the same words in the same order


def test_the_sample_warns_so_it_exits_0_unless_failing_on_warn(sample_db):
    code, out, err = run_cli("verify", "--db", sample_db)
    assert (code, err) == (0, "")
    assert out.startswith("[🦙 LlamaLog] migration audit: WARN")
    assert "  checks: 5 pass, 0 skip, 8 warn, 0 fail" in out
    assert re.search(r"^WARN  category_backfill +123  123 of 651 rows", out, re.MULTILINE)
    expects = [line.strip() for line in out.splitlines() if line.strip().startswith("expects: ")]
    assert len(expects) == len(DEFAULT_CHECKS)
    assert run_cli("verify", "--db", sample_db, "--fail-on", "fail")[0] == 0
    code, out, err = run_cli("verify", "--db", sample_db, "--fail-on", "warn")
    assert (code, err) == (1, "") and out.startswith("[🦙 LlamaLog] migration audit: WARN")
    code, _, err = run_cli("verify", "--db", sample_db, "--fail-on", "skip")
    assert code == 2 and "--fail-on" in err  # a usage error: skip is below warn, never a failure


def test_a_failed_check_exits_1_at_either_level(tmp_path):
    db = tmp_path / "wrong.duckdb"
    audit_store(tmp_path, with_changes(clean_rows(), "r2", category="ENRICHED"), path=db).close()
    for level in ("warn", "fail"):
        code, out, _ = run_cli("verify", "--db", db, "--format", "json", "--fail-on", level)
        assert code == 1 and json.loads(out)["status"] == "fail"


def test_a_failed_check_a_repair_fixes_ends_with_the_command_that_writes_it(sample_db, tmp_path):
    db = tmp_path / "wrong.duckdb"
    audit_store(tmp_path, with_changes(clean_rows(), "r2", category="ENRICHED"), path=db).close()
    code, out, _ = run_cli("verify", "--db", db, "--reuse-gap", "6h")
    said, command = out.splitlines()[-2:]
    assert code == 1 and said == "repair what failed (category_backfill) as a migration:"
    assert command == f"  llamalog repair --db {db} --reuse-gap 6h"
    code, out, err = run_cli(*shlex.split(command)[1:], "--out", tmp_path / "repairs")
    assert code == 0 and "category_backfill: 1 row to repair" in out, err
    assert "repair what failed" not in run_cli("verify", "--db", sample_db)[1]  # warnings: nothing to repair
    deleted = tmp_path / "deleted.duckdb"  # a snapshot row gone: repaired only when asked, so asked
    rows = clean_rows()
    audit_store(
        tmp_path, rows[1:], [r for r in rows if r["created_at"] < "2026-02-10T01:48"], path=deleted
    ).close()
    code, out, _ = run_cli("verify", "--db", deleted)
    command = out.splitlines()[-2]
    assert code == 1 and command == f"  llamalog repair --db {deleted} --restore-missing --revert-changes"
    code, out, err = run_cli(*shlex.split(command)[1:], "--out", tmp_path / "restored")
    assert code == 0 and "rows_preserved: 1 row to repair" in out, err


def test_json_has_the_status_and_every_field_of_every_check(sample_db):
    code, out, _ = run_cli("verify", "--db", sample_db, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert list(document) == ["status", "checks", "summary"]
    assert document["status"] == document["summary"]["status"] == "warn"
    assert document["summary"]["checks"] == {"pass": 5, "skip": 0, "warn": 8, "fail": 0}
    assert [c["name"] for c in document["checks"]] == [c.__name__ for c in DEFAULT_CHECKS]
    for check in document["checks"]:
        assert list(check) == CHECK_FIELDS, check["name"]
        assert check["status"] in ("pass", "warn")
        assert check["count"] == len(check["ids"]) == len(set(check["ids"])), check["name"]
        assert check["finding"].startswith(f"{check['count']:,} "), check["name"]
        assert check["expects"].endswith(".") and check["sql"].lstrip().startswith(("SELECT", "WITH"))
        for name, records in check["breakdowns"].items():
            assert isinstance(records, list) and all(isinstance(r, dict) for r in records), name
    backfill = next(c for c in document["checks"] if c["name"] == "category_backfill")
    assert (backfill["status"], backfill["count"]) == ("warn", 123)
    by_intent = backfill["breakdowns"]["applied rules vs the roadmap's intent"]
    assert sum(r["rows"] for r in by_intent) == 123
    assert set(by_intent[0]) == {"operation", "status", "backfill as applied", "roadmap intent", "rows"}
    with lla.LogStore(sample_db, read_only=True) as store:  # the CLI prints what one call returns
        again = json.loads(lla.verify(store).to_json())
    made = document["summary"]["provenance"]
    assert made["store"] == str(sample_db) and [load["table_name"] for load in made["loads"]]
    for run in (again, document):  # the same but for when each ran
        del run["summary"]["provenance"]["generated_at"]
        for key in ("run", "history", "since previous run"):  # only the CLI's run is recorded
            run["summary"].pop(key, None)
    assert again == document


def test_a_table_named_but_absent_exits_2_with_one_line_naming_the_tables(sample_db):
    for option, table in (("--before", "enrichment_log"), ("--after", "llama_log")):
        code, out, err = run_cli("verify", "--db", sample_db, option, table)
        assert (code, out) == (2, ""), option
        assert (
            err.startswith(f"[🦙 LlamaLog] error: no table '{table}' in the store") and err.count("\n") == 1
        )
        assert f"({option})" in err
        assert f"Hint: name {table}s ({option} {table}s)" in err
    code, _, err = run_cli(
        "verify", "--db", sample_db, "--before", "enrichment_logs", "--after", "llama_logs"
    )
    assert (code, err) == (0, "")
    code, _, err = run_cli("verify", "--db", sample_db.parent / "none.duckdb")
    assert code == 2 and err.count("\n") == 1 and "Hint:" in err


BAD_REPORTS = {
    "audit.pdf": "audit.pdf: its name does not say which format to write. Hint: end it with one of "
    ".html, .htm",
    "-": "--report -: standard output carries the audit (--format text or json), not the HTML report. "
    "Hint: name a file for it, e.g. --report audit.html",
}


@pytest.mark.parametrize(("report", "said"), BAD_REPORTS.items())
def test_a_report_verify_cannot_write_fails_before_the_audit(sample_db, tmp_path, monkeypatch, report, said):
    monkeypatch.chdir(tmp_path)
    with lla.LogStore(sample_db, read_only=True) as store:
        runs = len(audit_history(store))
    code, out, err = run_cli("verify", "--db", sample_db, "--report", report)
    assert (code, out, err) == (2, "", f"[🦙 LlamaLog] error: {said}\n")
    with lla.LogStore(sample_db, read_only=True) as store:
        assert len(audit_history(store)) == runs  # nothing audited, nothing recorded
    assert not list(tmp_path.iterdir())


def test_a_report_in_a_folder_one_may_not_write_in_fails_before_the_audit(sample_db, tmp_path):
    """--report in a read-only folder is refused at once, naming the folder, where the audit ran
    (minutes on a large table), was printed and recorded, and only then the report failed."""
    with lla.LogStore(sample_db, read_only=True) as store:
        runs = len(audit_history(store))
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o555)
    done = run_process("verify", "--db", sample_db, "--report", folder / "audit.html", unprivileged=True)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.decode() == (
        f"[🦙 LlamaLog] error: {folder / 'audit.html'}: no file can be made in {folder} (Permission denied). "
        f"Hint: name a path in a folder you may write in, or check who may write in it (ls -ld {folder})\n"
    )
    with lla.LogStore(sample_db, read_only=True) as store:
        assert len(audit_history(store)) == runs


def test_a_folder_whose_permissions_allow_what_its_file_system_refuses_fails_before_the_audit(sample_db):
    """/proc lets root write by its permission bits, and refuses every new file: a report or a
    repair there was refused only after the audit ran and was recorded (the repair with a
    traceback, exit 1); both are refused first now, as the bits of a folder one may not write
    in are."""
    with lla.LogStore(sample_db, read_only=True) as store:
        runs = len(audit_history(store))
    code, out, err = run_cli("verify", "--db", sample_db, "--report", "/proc/audit.html")
    assert (code, out) == (2, "") and "no file can be made in /proc (No such file or directory)" in err
    code, out, err = run_cli("repair", "--db", sample_db, "--out", "/proc/repairs")
    assert (code, out) == (2, "") and "no file can be made in /proc (No such file or directory)" in err
    with lla.LogStore(sample_db, read_only=True) as store:
        assert len(audit_history(store)) == runs


def test_without_a_snapshot_its_checks_skip_and_the_audit_exits_0(tmp_path):
    db = tmp_path / "no-snapshot.duckdb"
    rows = with_changes(clean_rows(), "r1", is_root_job=True)
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    assert run_cli("load", tmp_path / "rows.json", "--db", db, "--quiet")[0] == 0
    code, out, err = run_cli("verify", "--db", db, "--fail-on", "warn")  # skip is below warn
    assert (code, err) == (0, "")
    assert out.startswith("[🦙 LlamaLog] migration audit: SKIP")
    skipped = [line.split()[1] for line in out.splitlines() if line.startswith("SKIP  ")]
    assert skipped == [
        "rows_preserved",
        "category_backfill",
        "category_rules",
        "root_job_backfill",
        "root_job_truth",
    ]
    code, out, _ = run_cli("verify", "--db", db, "--format", "json")
    document = json.loads(out)
    assert (code, document["status"]) == (0, "skip")
    preserved = document["checks"][0]
    assert (
        preserved["name"],
        preserved["status"],
        preserved["count"],
        preserved["ids"],
        preserved["sql"],
    ) == (
        "rows_preserved",
        "skip",
        0,
        [],
        "",
    )
    assert "Hint:" in preserved["finding"] and "--before" in preserved["finding"]
    code, out, _ = run_cli(
        "verify",
        "--db",
        db,
        "--format",
        "json",
        "--migrated-at",
        "2026-02-10T01:48:19",
        "--root-job-migrated-at",
        "2026-02-10T16:39:53",
    )
    statuses = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
    assert code == 0 and [n for n, s in statuses.items() if s == "skip"] == ["rows_preserved"]


def test_the_audit_list_fits_the_terminal(tmp_path):
    """In an 80-column terminal each audit's failed checks, version and tables go on lines of their
    own under it, where each line ran to 150 characters, past the terminal's edge; to a pipe each
    audit stays one line."""
    db = tmp_path / "sample.duckdb"
    lla.sample_store(db).close()
    assert run_cli("verify", "--db", db)[0] == 0
    shown = run_in_terminal("audits", "--db", db, columns=80).replace("\r", "")
    assert max(map(len, shown.splitlines())) <= 80, shown
    assert "\n     failed checks: none; version " in shown and "enrichment_logs 651 rows (load 2)\n" in shown
    code, whole, _ = run_cli("audits", "--db", db)
    assert code == 0 and len(whole.splitlines()) == 3 and "0.1.0    llama_logs 4,000 rows" in whole
