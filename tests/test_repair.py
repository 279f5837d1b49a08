"""Repair plans: what they change and why, the dry run, the migration folder, and the migration
applied to a real PostgreSQL 15 (again, and rolled back)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest
from conftest import MIGRATIONS, audit_store, clean_rows, log_row, run_cli, uid, with_changes
from pgserver import create_both_eras, create_upstream, run_sql_file, waits_for

import llamalog_analytics as lla
from llamalog_analytics import schema
from llamalog_analytics.audit import AuditReport
from llamalog_analytics.audit.context import Audit
from llamalog_analytics.audit.roots import replayed_roots_sql
from llamalog_analytics.errors import ArgumentError, ExportError, StoreError
from llamalog_analytics.repairs import REPAIRABLE, validate_repair

# Text from the log itself that a hand-built literal would break: quotes, backslashes, $$, newlines.
AWKWARD = "it's a \\ back'slash $$ dollar-quoted $x$\nnext line \"quoted\""


def original_rows() -> list[dict]:
    """The clean rows, with awkward text in r2's message, JSON and arrays."""
    return with_changes(
        clean_rows(),
        "r2",
        error_message=AWKWARD,
        metadata={"note": AWKWARD, "n": [1, 2.5, None]},
        sources=["MUSICBRAINZ", "a,b", 'q"uote', AWKWARD],
    )


def defective_rows() -> list[dict]:
    """``original_rows`` after the defects the audit finds: r2's category and three of its cells
    changed, r1's root wrong, r3 (the album's CREATED row) deleted."""
    rows = with_changes(
        original_rows(),
        "r2",
        category="ENRICHED",
        error_message="edited later",
        metadata={"note": "edited"},
        sources=["DISCOGS"],
    )
    rows = with_changes(rows, "r1", root_job_id="999")
    return [r for r in rows if r["id"] != uid("r3")]


def snapshot_rows() -> list[dict]:
    return [r for r in original_rows() if r["created_at"] < "2026-02-10T01:48"]


def snapshot_without_root_flags() -> list[dict]:
    """The snapshot as an export without ``is_root_job`` would give it."""
    return [{k: v for k, v in r.items() if k != "is_root_job"} for r in snapshot_rows()]


@pytest.fixture
def defective(tmp_path):
    with audit_store(tmp_path, defective_rows(), snapshot_rows()) as store:
        yield store


def test_a_plan_changes_each_wrong_value_and_says_why(defective):
    report = lla.verify(defective)
    plan = lla.repair(report, restore_missing=True, revert_changes=True)
    assert plan.counts == {"category_backfill": 1, "root_job_backfill": 1, "rows_preserved": 2}
    sets = plan.changes.filter(pl.col("action") == "set").drop("action")
    assert sorted(sets.select("check", "id", "column", "value_now", "value_after").rows()) == sorted(
        [
            ("category_backfill", uid("r2"), "category", "ENRICHED", "CACHED"),
            ("root_job_backfill", uid("r1"), "root_job_id", "999", "100"),
            ("rows_preserved", uid("r2"), "error_message", "edited later", AWKWARD),
            (
                "rows_preserved",
                uid("r2"),
                "metadata",
                '{"note":"edited"}',
                json.dumps({"note": AWKWARD, "n": [1, 2.5, None]}, separators=(",", ":")),
            ),
            (
                "rows_preserved",
                uid("r2"),
                "sources",
                "{DISCOGS}",
                '{MUSICBRAINZ,"a,b","q\\"uote","' + AWKWARD.replace("\\", "\\\\").replace('"', '\\"') + '"}',
            ),
        ]
    )
    why = dict(zip(sets["column"], sets["why"], strict=True))
    assert why["category"] == (
        "the category migration, as applied, labels cache:album-cover-art with status SUCCESS as CACHED"
    )
    assert why["root_job_id"] == "the root-job migration's walk gives root job 100"
    assert why["sources"] == "changed since the snapshot: sources set back to the snapshot's value"
    restored = plan.changes.filter(pl.col("action") == "insert")
    assert set(restored["id"]) == {uid("r3")} and restored.height == len(schema.COLUMNS) - 1
    values = dict(zip(restored["column"], restored["value_after"], strict=True))
    assert (values["category"], values["root_job_id"], values["operation"]) == (
        "CREATED",
        "album-x",
        "album:created",
    )
    assert values["created_at"] == "2026-02-08 11:00:00.000" and values["is_root_job"] == "true"
    assert restored["value_now"].null_count() == restored.height
    # what each check's repair changes, per column, where "2 rows to repair, 30 changes" counted
    # the restored row's 27 columns as changes
    assert plan.notes[:2] + plan.notes[3:] == (
        "category_backfill: 1 row to repair: category ENRICHED → CACHED ×1.",
        "root_job_backfill: 1 row to repair: root_job_id ×1.",
        "rows_preserved: 2 rows to repair: 1 restored whole; error_message ×1, metadata ×1, sources ×1 "
        "set back to the snapshot's values.",
    )
    # the JSON files leave out the keys no row has, so the loads record those columns as absent
    assert plan.notes[2].startswith("rows_preserved: the snapshot has no artist_id, track_id, ")


def test_a_restored_row_gets_the_default_of_a_column_the_snapshot_lacks(tmp_path):
    before = snapshot_without_root_flags()
    with audit_store(tmp_path, defective_rows(), before) as store:
        plan = lla.repair(lla.verify(store), restore_missing=True, checks=["rows_preserved"])
        checked = plan.dry_run()
    flag = plan.changes.filter(pl.col("column") == "is_root_job").row(0, named=True)
    assert (flag["id"], flag["value_after"]) == (uid("r3"), "false")  # NOT NULL upstream: its default
    assert flag["why"] == "missing since the snapshot, which has no is_root_job: the column's default"
    assert any("the snapshot has no " in n and "is_root_job" in n for n in plan.notes)
    # r3 was a root; without its flag the restored row now disagrees, and the dry run says so
    assert checked.worse == ("is_root_consistency",) and not checked.ok
    assert checked.verdict.endswith("worse: is_root_consistency pass → warn")


def test_rows_preserved_is_repaired_only_on_request(defective):
    report = lla.verify(defective)
    plan = lla.repair(report)
    assert plan.counts == {"category_backfill": 1, "root_job_backfill": 1}
    assert plan.notes[-1] == (
        "rows_preserved: fail, 2 rows missing or changed since the snapshot, left as they are: repaired "
        "only on request, with restore_missing=True (--restore-missing) and/or revert_changes=True "
        "(--revert-changes)."
    )
    only_roots = lla.repair(report, checks=["root_job_backfill"])
    assert only_roots.counts == {"root_job_backfill": 1}
    restore = lla.repair(report, restore_missing=True, checks=["rows_preserved"])
    assert set(restore.changes["action"]) == {"insert"}
    assert "rows_preserved: 1 changed row not reverted: ask with revert_changes=True (--revert-changes)." in (
        restore.notes
    )
    revert = lla.repair(report, revert_changes=True, checks=["rows_preserved"])
    assert (
        "rows_preserved: 1 missing row not restored: ask with restore_missing=True (--restore-missing)."
        in (revert.notes)
    )
    with pytest.raises(ArgumentError, match=r"only on request.*restore_missing=True"):
        lla.repair(report, checks=["rows_preserved"])
    with pytest.raises(ArgumentError, match=r"repair rows_preserved, which the checks named leave out"):
        lla.repair(report, revert_changes=True, checks=["root_job_backfill"])  # it would be ignored
    with pytest.raises(ArgumentError, match=r"'unknown_origin' cannot be repaired. Hint: name one of"):
        lla.repair(report, checks=["unknown_origin"])
    for wrong in ("category_backfill", []):
        with pytest.raises(ArgumentError, match=r"name the checks to repair as a list"):
            lla.repair(report, checks=wrong)
    with pytest.raises(StoreError, match="knows no store"):
        lla.repair(AuditReport((), {}))
    defective.close()
    with pytest.raises(StoreError, match="is closed"):
        lla.repair(report)


def test_the_dry_run_repairs_a_copy_and_leaves_the_store_alone(defective):
    report = lla.verify(defective)
    plan = lla.repair(report, restore_missing=True, revert_changes=True)
    checked = plan.dry_run()
    assert checked.repaired == ("category_backfill", "root_job_backfill", "rows_preserved")
    assert checked.ok and checked.worse == ()
    assert checked.after.status == "pass"  # the copy is the clean dataset again
    assert checked.verdict == (
        "category_backfill fail → pass, root_job_backfill fail → pass, rows_preserved fail → pass; "
        "no other check's status got worse"
    )
    again = lla.verify(defective)
    assert [(c.name, c.status, c.count) for c in again.checks] == [
        (c.name, c.status, c.count) for c in report.checks
    ]
    # asked for half the rows_preserved repair, that check still fails, as it should
    partial = lla.repair(report, restore_missing=True).dry_run()
    assert partial.repaired == ("category_backfill", "root_job_backfill")
    assert partial.after.check("rows_preserved").status == "fail" and partial.ok


def test_a_report_older_than_a_load_another_process_made_is_not_repaired_from(tmp_path):
    """A notebook audits; a shell loads more rows into the store; the report no longer tells
    the store, so a plan made from it (or made before the load) was checked against rows the
    audit never saw: its dry run blamed the repair for the loaded row's warnings."""
    path = tmp_path / "store.duckdb"
    store = audit_store(tmp_path, defective_rows(), snapshot_rows(), path=path)
    report = lla.verify(store)
    plan = lla.repair(report)
    late = log_row("late", "2026-03-01T10:00:00", "album:created", "ENRICHED", job_id="700")
    (tmp_path / "late.json").write_text(json.dumps([late]))
    loading = subprocess.run(
        [sys.executable, "-m", "llamalog_analytics", "load", tmp_path / "late.json", "--db", path, "--quiet"],
        capture_output=True,
        text=True,
    )
    assert loading.returncode == 0, loading.stderr
    stale = r"store\.duckdb: load 4 came after this report's audit.*Hint: verify again"
    with pytest.raises(StoreError, match=stale):
        lla.repair(report)
    with pytest.raises(StoreError, match=stale):
        plan.dry_run()
    assert lla.repair(lla.verify(store)).dry_run().worse == ()


def test_a_load_after_the_audit_that_wrote_nothing_leaves_the_report_repairable(tmp_path):
    """Rows loaded again as stored leave the audit's rows as they were; a migration history
    loaded again (replaced whole, its times perhaps not) does not."""
    store = audit_store(tmp_path, defective_rows(), snapshot_rows())
    report = lla.verify(store)
    stored = lla.write_logs(store.table().head(3), tmp_path / "stored.parquet")
    assert store.load_files(stored, quiet=True).rows_inserted == 0
    assert lla.repair(report).dry_run().worse == ()
    store.load_files(tmp_path / "migrations.csv", "_prisma_migrations", quiet=True)
    with pytest.raises(StoreError, match=r"load 5 came after this report's audit"):
        lla.repair(report)


def test_a_store_opened_read_only_is_repaired_and_dry_run_all_the_same(tmp_path):
    path = tmp_path / "store.duckdb"
    audit_store(tmp_path, defective_rows(), snapshot_rows(), path=path).close()
    with lla.LogStore(path, read_only=True) as store:
        plan = lla.repair(lla.verify(store), restore_missing=True, revert_changes=True)
        checked = plan.dry_run()
        assert store.tables() == ("enrichment_logs", "llama_logs")  # the copy was not left attached
    assert checked.ok and checked.after.status == "pass"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".duckdb") == ["store.duckdb"]


def test_a_row_edited_since_the_snapshot_keeps_the_category_and_root_the_migrations_gave_it(tmp_path):
    after = with_changes(original_rows(), "r1", operation="MANUAL_ADD")  # stored ENRICHED, as migrated
    after = with_changes(after, "r2", parent_job_id="mb-sync-batch")  # stored root 100, as migrated
    with audit_store(tmp_path, after, snapshot_rows()) as store:
        report = lla.verify(store)
        plan = lla.repair(report)
        reverted = lla.repair(report, revert_changes=True)
        checked = reverted.dry_run()
    assert not plan and plan.counts == {}
    assert plan.notes[:2] == (
        "category_backfill: pass, nothing to repair.",
        "root_job_backfill: pass, nothing to repair.",
    )
    assert reverted.counts == {"rows_preserved": 2}  # the edits set back, and nothing else
    assert sorted(reverted.changes.select("id", "column", "value_now", "value_after").rows()) == sorted(
        [
            (uid("r1"), "operation", "MANUAL_ADD", "enrichment:album"),
            (uid("r2"), "parent_job_id", "mb-sync-batch", "100"),
        ]
    )
    assert checked.ok and checked.after.status == "pass"


def test_a_clean_audit_has_nothing_to_repair(tmp_path):
    with audit_store(tmp_path, clean_rows()) as store:
        plan = lla.repair(lla.verify(store), restore_missing=True)
    assert not plan and plan.counts == {}
    assert str(plan).startswith("[🦙 LlamaLog] nothing to repair in llama_logs\n")
    assert plan.folder_name not in str(plan) + plan._repr_html_()  # no folder is written
    for empty in (lambda: plan.write(tmp_path), plan.migration_sql, plan.rollback_sql):
        with pytest.raises(ArgumentError, match="nothing to repair"):
            empty()
    assert list(tmp_path.glob("*_llamalog_repair")) == []


def test_the_plan_is_a_prisma_migration_folder(defective, tmp_path):
    plan = lla.repair(lla.verify(defective), restore_missing=True, revert_changes=True)
    folder = plan.write(tmp_path / "migrations")
    assert folder.name == f"{plan.created_at:%Y%m%d%H%M%S}_llamalog_repair" and len(folder.name) == 30
    assert sorted(p.name for p in folder.iterdir()) == ["migration.sql", "plan.json", "rollback.sql"]
    document = json.loads((folder / "plan.json").read_text())
    assert document["counts"] == plan.counts and document["table"] == "llama_logs"
    assert len(document["changes"]) == plan.changes.height and document["audit"]["run"] == 1
    migration = (folder / "migration.sql").read_text()
    assert migration.startswith("-- llamalog repair migration: " + folder.name)
    assert "BEGIN;" in migration and migration.rstrip().endswith("COMMIT;")
    assert 'ON CONFLICT ("id") DO NOTHING' in migration and "RAISE EXCEPTION" in migration
    assert AWKWARD not in migration  # the awkward text only ever appears quoted
    # text from the store's path stays inside the comments it is written into
    odd = dataclasses.replace(
        plan,
        report=dataclasses.replace(plan.report, summary={"provenance": {"store": "x\nDROP TABLE t; --"}}),
    )
    header = odd.migration_sql().split("\n\n")[0].splitlines()  # the comment, before SET and BEGIN
    assert all(line.startswith("-- ") for line in header) and any("x DROP TABLE t; --" in h for h in header)
    html = plan._repr_html_()
    assert "Repair plan · 3 rows" in html and "root_job_backfill: 1 row to repair" in html


def test_a_repair_not_deployed_yet_is_refused_or_replaced_never_stacked(defective, tmp_path, monkeypatch):
    """Two repair folders side by side would both be deployed: one the store's
    _prisma_migrations does not list yet is refused, or replaced on request, and only once the
    new one is in place; without a _prisma_migrations the store cannot tell, and refuses."""
    migrations = tmp_path / "migrations"
    plan = lla.repair(lla.verify(defective))
    first = plan.write(migrations)
    later = dataclasses.replace(plan, created_at=plan.created_at + timedelta(seconds=1))
    unlisted = f"{first} holds a repair the store's _prisma_migrations does not list"
    with pytest.raises(
        ArgumentError, match=rf"{unlisted} \(not deployed yet, or deployed with psql.*--replace"
    ):
        later.write(migrations)
    with pytest.raises(ArgumentError, match="the store cannot tell deployed or not"):  # not even to replace
        validate_repair(folder=migrations, replace=True)
    with pytest.raises(ArgumentError, match="does not list"):
        validate_repair(folder=migrations, applied={"20260101000000_init"})
    validate_repair(folder=migrations, applied={"20260101000000_init"}, replace=True)

    def fail_once_aside(path: Path, target: Path) -> None:  # the new folder cannot be put in place
        if Path(target).name == later.folder_name:
            raise OSError("no room")
        return renamed(path, target)

    renamed = Path.rename
    with monkeypatch.context() as patched:
        patched.setattr(Path, "rename", fail_once_aside)
        with pytest.raises(
            ExportError, match=r"the repair could not be written \(no room\); nothing of it was"
        ):
            later.write(migrations, replace=True)
    assert [p.name for p in migrations.iterdir()] == [first.name]  # the one it was to replace, back
    assert later.write(migrations, replace=True).name == later.folder_name
    assert [p.name for p in migrations.iterdir()] == [later.folder_name]  # the new one in its place
    # one the store lists as applied stays: the next plan goes beside it
    summary = plan.report.summary | {"migrations": {later.folder_name: "2026-03-01 12:00:00 UTC"}}
    deployed = dataclasses.replace(plan, report=dataclasses.replace(plan.report, summary=summary))
    validate_repair(folder=migrations, applied=summary["migrations"])
    with pytest.raises(ArgumentError, match="already exists"):  # the same name: never overwritten
        dataclasses.replace(deployed, created_at=later.created_at).write(migrations, replace=True)
    newest = dataclasses.replace(deployed, created_at=later.created_at + timedelta(seconds=1))
    newest.write(migrations)
    assert sorted(p.name for p in migrations.iterdir()) == [later.folder_name, newest.folder_name]


def test_llamalog_repair_run_again_refuses_to_stack_a_second_folder_unless_replacing(tmp_path):
    path = tmp_path / "store.duckdb"
    audit_store(tmp_path, defective_rows(), snapshot_rows(), path=path).close()
    out = tmp_path / "migrations"
    code, _, err = run_cli("repair", "--db", path, "--out", out)
    assert code == 0, err
    (first,) = out.iterdir()
    code, said, err = run_cli("repair", "--db", path, "--out", out)
    assert (code, said) == (2, "") and "--replace" in err
    assert f"{first} holds a repair the store's _prisma_migrations does not list" in err
    with lla.LogStore(path, read_only=True) as store:
        assert len(lla.audit_history(store)) == 1  # refused before the audit
    code, said, err = run_cli("repair", "--db", path, "--out", out, "--replace")
    assert code == 0, err
    (written,) = out.iterdir()
    assert f"wrote {written}/ (migration.sql, rollback.sql, plan.json) in place of {first}/\n" in said


def test_the_root_walk_follows_deleted_snapshot_rows_so_restoring_them_changes_no_other_root(tmp_path):
    top = log_row("p", "2026-01-05T09:00:00", "enrichment:album", "ENRICHED", job_id="300", root_job_id="300")
    middle = log_row(
        "d",
        "2026-01-05T09:00:01",
        "enrichment:album",
        "ENRICHED",
        job_id="200",
        parent_job_id="300",
        root_job_id="300",
    )
    bottom = log_row(
        "c",
        "2026-01-05T09:00:02",
        "cache:album-cover-art",
        "CACHED",
        job_id="201",
        parent_job_id="200",
        root_job_id="300",
    )
    legacy = [
        {k: v for k, v in r.items() if k not in ("category", "root_job_id")} for r in (top, middle, bottom)
    ]
    with audit_store(tmp_path, [top, bottom], legacy) as store:  # d deleted since the snapshot
        report = lla.verify(store)
        plan = lla.repair(report, restore_missing=True)
        checked = plan.dry_run()
    roots = report.check("root_job_backfill")
    assert (roots.status, roots.count) == ("pass", 0)  # c's walk reaches 300 through d
    assert "the walk also follows the 1 snapshot row deleted since" in roots.finding
    assert plan.counts == {"rows_preserved": 1}
    restored = dict(plan.changes.select("column", "value_after").iter_rows())
    assert (restored["root_job_id"], restored["category"]) == ("300", "ENRICHED")
    assert checked.ok and checked.after.check("root_job_backfill").status == "pass"


def test_restored_rows_are_walked_from_their_own_parent_ids_to_the_roots_the_whole_walk_gives():
    """A repair walks from the parent ids of the rows it restores, not from every parent id the
    backfill saw: the same roots for those rows, from a few starts."""
    gone = "SELECT id FROM enrichment_logs WHERE id NOT IN (SELECT id FROM llama_logs)"
    with lla.sample_store() as store:
        store.execute(
            "DELETE FROM llama_logs WHERE id IN (SELECT id FROM enrichment_logs "
            "WHERE parent_job_id IS NOT NULL ORDER BY id LIMIT 40)"
        )
        audit = Audit(store, "llama_logs", "enrichment_logs", None, datetime(2026, 4, 1))

        def roots(walk: str) -> pl.DataFrame:
            return store.frame(f"{walk} SELECT id, roots FROM replayed WHERE NOT present ORDER BY id")

        restricted, every = replayed_roots_sql(audit, gone), replayed_roots_sql(audit)
        walked, whole = roots(restricted), roots(every)
        starts = [store.execute(f"{walk} SELECT count(*) FROM deepest")[0][0] for walk in (restricted, every)]
    assert walked.height == 40 and walked["roots"].list.len().min() > 0
    assert walked.equals(whole)
    assert starts[0] <= 40 < starts[1]  # one deepest step per parent id walked from


def test_without_the_root_job_apply_time_the_walk_is_replayed_for_the_snapshots_rows(tmp_path):
    rows = with_changes(clean_rows(), "r2", root_job_id="999")
    with audit_store(tmp_path, rows) as store:
        store.execute("DELETE FROM _prisma_migrations WHERE migration_name = ?", [schema.ROOT_JOB_MIGRATION])
        report = lla.verify(store)
    result = report.check("root_job_backfill")
    assert (result.status, result.count, list(result.ids["id"])) == ("fail", 1, [uid("r2")])
    assert "replayed for the snapshot's rows" in result.finding
    assert "of 3 rows" in result.finding  # r1, r2, r3: the snapshot's rows


def test_llamalog_repair_writes_the_folder_or_says_there_is_nothing(tmp_path):
    path = tmp_path / "store.duckdb"
    audit_store(tmp_path, defective_rows(), snapshot_rows(), path=path).close()
    code, out, err = run_cli("repair", "--db", path, "--out", tmp_path / "out", "--restore-missing")
    assert code == 0, err
    assert "category_backfill: 1 row to repair" in out and "rows_preserved: 1 row to repair" in out
    # the notes name the option to pass, as the command takes it
    assert (
        "rows_preserved: 1 changed row not reverted: ask with revert_changes=True (--revert-changes)." in out
    )
    assert (
        "dry run on a copy of the tables: category_backfill fail → pass, root_job_backfill fail → pass" in out
    )
    written = list((tmp_path / "out").iterdir())
    assert len(written) == 1 and f"wrote {written[0]}/" in out
    code, tried, err = run_cli(
        "repair", "--db", path, "--out", tmp_path / "tried", "--restore-missing", "--dry-run"
    )
    assert code == 0 and "dry run on a copy of the tables: category_backfill fail → pass" in tried, err
    assert (
        "--dry-run: nothing written; without it, the plan goes to" in tried
        and not (tmp_path / "tried").exists()
    )
    assert 'psql "${DATABASE_URL%%\\?*}" -v ON_ERROR_STOP=1' in out  # Prisma's ?schema= cut off for psql
    assert "prisma migrate deploy (the folder goes in prisma/migrations), or psql" in out
    migrations = tmp_path / "app" / "prisma" / "migrations"
    migrations.mkdir(parents=True)
    code, out, err = run_cli("repair", "--db", path, "--out", migrations, "--restore-missing")
    assert code == 0 and "deploy it with prisma migrate deploy, or psql" in out, err  # already there
    short = tmp_path / "short.duckdb"  # the snapshot lacks is_root_job: the restored root loses its flag
    before = snapshot_without_root_flags()
    audit_store(tmp_path, defective_rows(), before, path=short).close()
    code, out, err = run_cli("repair", "--db", short, "--out", tmp_path / "short", "--restore-missing")
    assert code == 1 and "worse: is_root_consistency pass → warn" in out
    assert "nothing was written" in err and not (tmp_path / "short").exists()
    # the hint's call makes the same plan, so its dry run says the same
    call = "lla.repair(lla.verify(store), restore_missing=True).dry_run()"
    assert f"Hint: look at {call} in a notebook" in err
    with lla.LogStore(short) as store:
        assert eval(call, {"lla": lla, "store": store}).verdict in out
    code, out, err = run_cli("repair", "--db", path, "--check", "unknown_origin")
    assert code == 2 and "'unknown_origin' cannot be repaired" in err
    clean = tmp_path / "clean.duckdb"
    audit_store(tmp_path, clean_rows(), path=clean).close()
    code, out, _ = run_cli("repair", "--db", clean, "--out", tmp_path / "none")
    assert code == 0 and "nothing to repair" in out and not (tmp_path / "none").exists()
    assert "_llamalog_repair" not in out  # names no folder it does not write
    code, _, err = run_cli("repair", "--db", tmp_path / "absent.duckdb")
    assert code == 2 and "absent.duckdb" in err


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (
            ["--check", "category_present"],
            "check 'category_present' cannot be repaired. Hint: name one of "
            "category_backfill, root_job_backfill, rows_preserved in --check",
        ),
        (["--check", "no_such_check"], "check 'no_such_check' cannot be repaired"),
        (["--check", "rows_preserved"], "pass --restore-missing and/or --revert-changes"),
        (["--revert-changes", "--check", "category_backfill"], "name it too (--check rows_preserved)"),
        (["--out", "a-file/repairs"], "a-file/repairs (--out): "),
    ],
)
def test_llamalog_repair_refuses_options_it_cannot_follow_before_auditing(tmp_path, options, said):
    """A call that cannot repair exits 2 before the audit, so it records no run for
    verify --compare-last to compare with."""
    path = tmp_path / "store.duckdb"
    audit_store(tmp_path, defective_rows(), snapshot_rows(), path=path).close()
    (tmp_path / "a-file").write_text("")
    options = [str(tmp_path / o) if o.startswith("a-file") else o for o in options]
    code, out, err = run_cli("repair", "--db", path, *options)
    assert (code, out) == (2, "") and said in err
    with lla.LogStore(path, read_only=True) as store:
        assert len(lla.audit_history(store)) == 0


def test_repair_options_are_checked_without_an_audit(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ArgumentError, match=r"'category_present' cannot be repaired"):
        validate_repair(["category_backfill", "category_present"])
    with pytest.raises(ArgumentError, match=r"only on request"):
        validate_repair(["rows_preserved"])
    with pytest.raises(ExportError, match=r"a-file is a file, not a folder"):
        validate_repair(folder=tmp_path / "a-file" / "repairs")
    validate_repair(["rows_preserved"], restore_missing=True, folder=tmp_path / "new" / "repairs")
    assert not (tmp_path / "new").exists()  # checked, not made
    help_text = run_cli("repair", "--help")[1]
    assert all(name in help_text for name in REPAIRABLE)  # --check's help names every one


# --- the migration in PostgreSQL 15 -------------------------------------------------------------


def table_rows(url: str) -> list[tuple]:
    columns = ", ".join(f'"{c}"' for c in schema.COLUMN_NAMES)
    with psycopg.connect(url) as con:
        return con.execute(f"SELECT {columns} FROM llama_logs ORDER BY id").fetchall()


def upstream_database(url: str, store: lla.LogStore) -> None:
    """``url`` with the upstream tables holding what ``store`` holds."""
    create_both_eras(url, store.table("llama_logs"), store.table("enrichment_logs"), MIGRATIONS)


def test_the_migration_repairs_postgres_once_and_the_rollback_restores_it(pg_server, tmp_path):
    with audit_store(tmp_path, original_rows(), snapshot_rows()) as store:
        clean = pg_server.database("t_repair_clean")
        upstream_database(clean, store)
    with audit_store(tmp_path, defective_rows(), snapshot_rows()) as store:
        url = pg_server.database("t_repair")
        upstream_database(url, store)
    broken = table_rows(url)
    with lla.LogStore() as store:
        store.load_postgres(url, quiet=True)
        plan = lla.repair(lla.verify(store), restore_missing=True, revert_changes=True)
        folder = plan.write(tmp_path)

        applied = run_sql_file(url, folder / "migration.sql")
        assert applied.returncode == 0, applied.stderr
        repaired = table_rows(url)
        assert repaired == table_rows(clean)  # row for row, column for column: the awkward text too
        reloaded = store.load_postgres(url, quiet=True)  # the audited store sees the repair
        assert (reloaded.rows_inserted, reloaded.sources[0].rows_changed) == (1, 2)
        statuses = {c.name: c.status for c in lla.verify(store).checks}
    assert [statuses[n] for n in ("category_backfill", "root_job_backfill", "rows_preserved")] == ["pass"] * 3

    assert "already as this file leaves them" not in applied.stderr
    again = run_sql_file(url, folder / "migration.sql")
    assert again.returncode == 0 and "left alone" not in again.stderr, again.stderr
    assert table_rows(url) == repaired  # the second run changes nothing, and says why
    rows = ", ".join(sorted(uid(r) for r in ("r1", "r2", "r3")))
    already = "planned rows already as this file leaves them before it ran"
    said = f"{already} (the file was applied before, or they were changed so since the audit): 3 ({rows})"
    assert said in again.stderr

    rolled_back = run_sql_file(url, folder / "rollback.sql")
    assert rolled_back.returncode == 0 and already not in rolled_back.stderr, rolled_back.stderr
    assert table_rows(url) == broken
    again = run_sql_file(url, folder / "rollback.sql")
    assert again.returncode == 0 and table_rows(url) == broken
    assert said in again.stderr  # r3 is gone already, and the others hold the audit's values

    # a row someone changed since the audit is left alone, and the notice says so
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("UPDATE llama_logs SET category = 'FAILED' WHERE id = %s", [uid("r2")])
    partly = run_sql_file(url, folder / "migration.sql")
    assert partly.returncode == 0, partly.stderr
    # the notice names the row, so it can be looked at
    assert f"rows changed since the audit, left alone, each as a whole: 1 ({uid('r2')})" in partly.stderr
    after = {str(row[0]): row for row in table_rows(url)}
    r2 = dict(zip(schema.COLUMN_NAMES, after[uid("r2")], strict=True))
    assert (r2["category"], r2["error_message"], r2["sources"]) == ("FAILED", "edited later", ["DISCOGS"])
    assert after[uid("r1")][schema.COLUMN_NAMES.index("root_job_id")] == "100"


def test_rows_whose_planned_values_name_a_deleted_user_or_artist_are_left_alone(pg_server, tmp_path):
    """Deleting a user sets its rows' user_id to NULL, and deleting an artist deletes its rows
    (the upstream foreign keys): setting the user back, or restoring the row, would fail a key
    and undo the whole file. Those rows are left alone, and said; the rest of the repair applies."""
    original = with_changes(original_rows(), "r2", user_id="user-gone")
    original = with_changes(original, "r3", artist_id=uid("artist-gone"))
    original = with_changes(original, "r4", artist_id=uid("artist-here"))  # the table has the column
    before = [r for r in original if r["created_at"] < "2026-02-10T01:48"]
    defective = [r for r in with_changes(original, "r2", user_id=None) if r["id"] != uid("r3")]
    defective = with_changes(with_changes(defective, "r1", root_job_id="999"), "r2", category="ENRICHED")
    with audit_store(tmp_path, defective, before) as store:
        url = pg_server.database("t_repair_orphaned")
        create_both_eras(url, store.table("llama_logs"), store.table("enrichment_logs"), MIGRATIONS)
        plan = lla.repair(lla.verify(store), restore_missing=True, revert_changes=True)
        folder = plan.write(tmp_path)
    assert ("rows_preserved", uid("r2"), "user_id", None, "user-gone") in plan.changes.select(
        "check", "id", "column", "value_now", "value_after"
    ).rows()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute('CREATE TABLE "User" (id text PRIMARY KEY)')
        con.execute('INSERT INTO "User" SELECT DISTINCT user_id FROM llama_logs WHERE user_id IS NOT NULL')
        con.execute(
            "ALTER TABLE llama_logs ADD CONSTRAINT llama_logs_user_id_fkey FOREIGN KEY (user_id) "
            'REFERENCES "User"(id) ON DELETE SET NULL ON UPDATE CASCADE'
        )
        con.execute("CREATE TABLE artists (id uuid PRIMARY KEY)")
        con.execute(
            "INSERT INTO artists SELECT DISTINCT artist_id FROM llama_logs WHERE artist_id IS NOT NULL"
        )
        con.execute(
            "ALTER TABLE llama_logs ADD FOREIGN KEY (artist_id) REFERENCES artists(id) ON DELETE CASCADE"
        )
    broken = table_rows(url)
    applied = run_sql_file(url, folder / "migration.sql")
    assert applied.returncode == 0, applied.stderr
    gone = "planned rows naming an album, artist, track or user that is gone (their foreign key would fail)"
    left = ", ".join(sorted([uid("r2"), uid("r3")]))
    assert f"{gone}, left alone, each as a whole: 2 ({left})" in applied.stderr
    assert "rows changed since the audit" not in applied.stderr
    after = {str(row[0]): dict(zip(schema.COLUMN_NAMES, row, strict=True)) for row in table_rows(url)}
    assert (after[uid("r2")]["user_id"], after[uid("r2")]["category"]) == (None, "ENRICHED")  # as it was
    assert after[uid("r1")]["root_job_id"] == "100" and uid("r3") not in after  # the rest applied
    rolled_back = run_sql_file(url, folder / "rollback.sql")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert table_rows(url) == broken


def until(condition: Callable[[], bool], within: float = 60) -> None:
    """Return once ``condition()`` holds, asked every 10 ms; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"waited {within} s in vain"
        time.sleep(0.01)


def concurrent_database(pg_server, tmp_path: Path, name: str) -> tuple[str, Path]:
    """A database with the defective rows, and the folder of the plan that repairs them all."""
    with audit_store(tmp_path, defective_rows(), snapshot_rows()) as store:
        url = pg_server.database(name)
        upstream_database(url, store)
        plan = lla.repair(lla.verify(store), restore_missing=True, revert_changes=True)
        return url, plan.write(tmp_path)


def test_an_application_write_to_a_planned_row_during_the_migration_waits_for_its_commit(pg_server, tmp_path):
    """The application updates a planned row after the migration chose the rows it leaves alone
    and before its UPDATEs: the UPDATE's guard skipped that row and the last block raised,
    undoing the whole repair. The planned rows are locked first, so the write waits until the
    migration commits, and then applies to the repaired row."""
    url, folder = concurrent_database(pg_server, tmp_path, "t_repair_write_during")
    text = (folder / "migration.sql").read_text()
    cut = text.index("\n\nUPDATE ")  # the rows left alone are chosen; nothing is changed yet
    notices: list[str] = []
    retried = "UPDATE llama_logs SET error_message = 'retried' WHERE id = %s"
    with (  # closed in reverse: the migration's lock is let go before the writer's thread is joined
        ThreadPoolExecutor(1) as pool,
        psycopg.connect(url, autocommit=True) as application,
        psycopg.connect(url, autocommit=True) as migrating,
    ):
        migrating.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
        migrating.execute(text[:cut])
        writing = pool.submit(application.execute, retried, [uid("r2")])
        blocked = waits_for(url, migrating.info.backend_pid)
        until(lambda: writing.done() or blocked())
        migrating.execute(text[cut:])
        writing.result(timeout=60)
    after = {str(row[0]): dict(zip(schema.COLUMN_NAMES, row, strict=True)) for row in table_rows(url)}
    r2 = after[uid("r2")]
    assert (r2["category"], r2["error_message"], r2["sources"][-1]) == ("CACHED", "retried", AWKWARD)
    assert after[uid("r1")]["root_job_id"] == "100" and uid("r3") in after
    assert not any("left alone" in n for n in notices), notices


def test_a_planned_row_written_as_the_migration_starts_is_waited_for_and_left_alone(pg_server, tmp_path):
    """The application's transaction holds a planned row, changed, as psql starts the migration:
    the migration waited at its UPDATE, found the row changed after it had chosen the rows to
    leave alone, and raised. It now waits before choosing, and leaves the row alone, saying so."""
    url, folder = concurrent_database(pg_server, tmp_path, "t_repair_write_before")
    with ThreadPoolExecutor(1) as pool, psycopg.connect(url) as application:
        application.execute("UPDATE llama_logs SET error_message = 'retried' WHERE id = %s", [uid("r2")])
        deploying = pool.submit(run_sql_file, url, folder / "migration.sql")
        until(waits_for(url, application.info.backend_pid))
        application.commit()
        result = deploying.result(timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"rows changed since the audit, left alone, each as a whole: 1 ({uid('r2')})" in result.stderr
    after = {str(row[0]): dict(zip(schema.COLUMN_NAMES, row, strict=True)) for row in table_rows(url)}
    r2 = after[uid("r2")]
    assert (r2["category"], r2["error_message"], r2["sources"]) == ("ENRICHED", "retried", ["DISCOGS"])
    assert after[uid("r1")]["root_job_id"] == "100" and uid("r3") in after


def test_the_migration_writes_the_same_text_whatever_psqls_client_encoding(pg_server, tmp_path):
    """migration.sql is UTF-8: a psql whose locale gives it another client encoding (LATIN1 on
    an older server's shell, WIN1252 on Windows) read its bytes as that encoding and wrote
    ünï as Ã¼nÃ¯, and the file's own last check, reading the same misread text, passed."""
    original = with_changes(original_rows(), "r2", error_message="Motörhead 🦙", metadata={"note": "Ágætis"})
    defective = with_changes(original, "r2", category="ENRICHED", error_message="edited", metadata={})
    snapshot = [r for r in original if r["created_at"] < "2026-02-10T01:48"]
    with audit_store(tmp_path, original, snapshot) as store:
        clean = pg_server.database("t_repair_encoding_clean")
        upstream_database(clean, store)
    with audit_store(tmp_path, defective, snapshot) as store:
        url = pg_server.database("t_repair_encoding")
        upstream_database(url, store)
        folder = lla.repair(lla.verify(store), revert_changes=True).write(tmp_path)
    applied = run_sql_file(url, folder / "migration.sql", client_encoding="LATIN1")
    assert applied.returncode == 0, applied.stderr
    assert table_rows(url) == table_rows(clean)


def test_a_migration_deployed_elsewhere_changes_nothing_and_says_why(pg_server, tmp_path):
    with audit_store(tmp_path, defective_rows(), snapshot_rows()) as store:
        plan = lla.repair(lla.verify(store), restore_missing=True, revert_changes=True)
        folder = plan.write(tmp_path)
        audited = pg_server.database("t_repair_audited")
        upstream_database(audited, store)
        assert json.loads((folder / "plan.json").read_text())["audited_rows"] == list(plan.audited_rows)
        assert set(plan.audited_rows) <= set(store.table()["id"]) and len(plan.audited_rows) == 4
    other = pg_server.database("t_repair_elsewhere")  # another environment: its own rows
    create_upstream(other)
    with psycopg.connect(other, autocommit=True) as con:
        con.execute(
            "INSERT INTO llama_logs (id, operation, status, category, created_at, is_root_job) "
            "VALUES (%s, 'album:created', 'SUCCESS', 'CREATED', '2026-03-01', true)",
            [uid("elsewhere")],
        )
    before = table_rows(other)
    for name in ("migration.sql", "rollback.sql"):
        result = run_sql_file(other, folder / name)
        assert result.returncode == 0, result.stderr
        assert (
            "this table has none of the 4 rows the audit saw, so it is not the database audited; "
            "nothing was changed" in result.stderr
        )
        assert table_rows(other) == before
    # the audited database, a planned row deleted since the audit: the rest is repaired
    with psycopg.connect(audited, autocommit=True) as con:
        con.execute("DELETE FROM llama_logs WHERE id = %s", [uid("r1")])
    result = run_sql_file(audited, folder / "migration.sql")
    assert result.returncode == 0, result.stderr
    assert f"planned rows no longer in the table, nothing to change there: 1 ({uid('r1')})" in result.stderr
    assert "not the database audited" not in result.stderr and "left alone" not in result.stderr
    repaired = {str(row[0]): dict(zip(schema.COLUMN_NAMES, row, strict=True)) for row in table_rows(audited)}
    assert repaired[uid("r2")]["error_message"] == AWKWARD and uid("r3") in repaired


def test_a_migration_whose_changes_do_not_hold_raises_and_changes_nothing(pg_server, tmp_path):
    with audit_store(tmp_path, defective_rows(), snapshot_rows()) as store:
        url = pg_server.database("t_repair_stuck")
        upstream_database(url, store)
        plan = lla.repair(lla.verify(store))
        folder = plan.write(tmp_path)
    broken = table_rows(url)
    with psycopg.connect(url, autocommit=True) as con:  # a trigger that quietly undoes category updates
        con.execute(
            "CREATE FUNCTION keep_category() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.category := OLD.category; RETURN NEW; END $$"
        )
        con.execute(
            "CREATE TRIGGER keep BEFORE UPDATE ON llama_logs FOR EACH ROW EXECUTE FUNCTION keep_category()"
        )
    result = run_sql_file(url, folder / "migration.sql")
    assert result.returncode != 0
    assert f"1 planned rows did not take effect ({uid('r2')}); nothing was repaired" in result.stderr
    assert table_rows(url) == broken  # the root repair was undone with it


def test_a_warning_is_left_as_it_is_and_the_notes_say_why():
    with lla.sample_store() as store:
        plan = lla.repair(lla.verify(store))
    assert not plan and (
        "category_backfill: warn, nothing to repair (a repair changes what failed; the warning tells "
        "what the migration did)." in plan.notes
    )
