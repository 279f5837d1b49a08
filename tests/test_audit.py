"""The migration audit: each check on a dataset with one known defect, the job-link checks' traps."""

from __future__ import annotations

import gc
import itertools
import json
import tempfile
import uuid
from datetime import datetime

import polars as pl
import pytest
from conftest import audit_store, clean_rows, log_row, scenario, store_of, uid, with_changes

import llamalog_analytics as lla
from llamalog_analytics import schema
from llamalog_analytics.audit import (
    DEFAULT_CHECKS,
    LINK_CHECKS,
    STATUSES,
    AuditReport,
    CheckResult,
    KeptFrame,
    duplicate_ids,
    is_root_consistency,
    rows_preserved,
    unknown_origin,
)
from llamalog_analytics.audit.context import check_result
from llamalog_analytics.audit.result import worst
from llamalog_analytics.errors import ArgumentError, StoreError


def counts(report: lla.AuditReport) -> dict[str, tuple[str, int]]:
    return {c.name: (c.status, c.count) for c in report.checks}


def test_a_clean_dataset_passes_every_check(tmp_path):
    with audit_store(tmp_path, clean_rows()) as store:
        report = lla.verify(store)
    assert {name: status for name, (status, _) in counts(report).items()} == dict.fromkeys(
        [c.__name__ for c in DEFAULT_CHECKS], "pass"
    )
    assert report.status == "pass"
    assert report.summary["tables"] == {"llama_logs": 5, "enrichment_logs": 3}


DEFECTS = {
    # name: (after rows, before rows or None, check, status, count, offending row names)
    "lost row": (
        [r for r in clean_rows() if r["id"] != uid("r2")],
        clean_rows()[:3],
        "rows_preserved",
        "fail",
        1,
        ["r2"],
    ),
    "changed JSON value": (
        with_changes(clean_rows(), "r1", metadata={"albumTitle": "B", "fieldChanges": []}),
        None,
        "rows_preserved",
        "fail",
        1,
        ["r1"],
    ),
    "wrong category": (
        with_changes(clean_rows(), "r2", category="ENRICHED"),
        None,
        "category_backfill",
        "fail",
        1,
        ["r2"],
    ),
    "unknown category": (
        with_changes(clean_rows(), "r4", category="ARCHIVED"),
        None,
        "category_present",
        "fail",
        1,
        ["r4"],
    ),
    "wrong root": (
        with_changes(clean_rows(), "r2", root_job_id="999"),
        None,
        "root_job_backfill",
        "fail",
        1,
        ["r2"],
    ),
    "root left NULL": (
        with_changes(clean_rows(), "r3", root_job_id=None),
        None,
        "root_job_backfill",
        "fail",
        1,
        ["r3"],
    ),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_injected_defect_is_found_exactly(defect, tmp_path):
    after, before, check, status, count, names = DEFECTS[defect]
    if defect == "changed JSON value":  # the snapshot holds the value before the change
        before = [r for r in clean_rows() if r["created_at"] < "2026-02-10"]
    with audit_store(tmp_path, after, before) as store:
        report = lla.verify(store)
        result = report.check(check)
        assert (result.status, result.count) == (status, count)
        assert sorted(set(result.ids["id"])) == sorted(uid(n) for n in names)
        assert sorted(set(store.frame(result.sql)["id"])) == sorted(uid(n) for n in names)  # SQL agrees
    others = {n: s for n, (s, _) in counts(report).items() if n != check and s != "pass"}
    also = {"unknown category": {"category_rules": "warn"}, "wrong root": {"root_job_truth": "warn"}}
    assert others == also.get(defect, {})


def test_changes_are_reported_per_column_and_json_compares_by_value(tmp_path):
    after = with_changes(
        clean_rows(),
        "r1",
        operation="enrichment:album ",
        metadata={"fieldChanges": [{"after": "A", "before": None, "field": "title"}], "albumTitle": "A"},
    )  # same value, other key order
    after = with_changes(after, "r2", created_at="2026-01-05T10:00:05.0004")  # within the millisecond
    before = [r for r in clean_rows() if r["created_at"] < "2026-02-10"]
    with audit_store(tmp_path, after, before) as store:
        result = lla.verify(store, checks=[rows_preserved]).check("rows_preserved")
    assert result.ids.select("id", "kind", "column", "before", "after").rows() == [
        (uid("r1"), "changed", "operation", "enrichment:album", "enrichment:album ")
    ]


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        ({"a": True}, {"a": 1}, True),  # a boolean is not a number
        ({"a": False}, {"a": 0}, True),
        ({"a": 1.0}, {"a": 1}, False),  # numbers compare by value
        ({"a": 1e2}, {"a": 100}, False),
        ({"a": None}, {"a": False}, True),
        ({"x": {"b": 1, "a": [1, {"c": True}]}}, {"x": {"a": [1, {"c": True}], "b": 1.0}}, False),
        ({"x": {"a": [1, {"c": True}]}}, {"x": {"a": [{"c": True}, 1]}}, True),  # arrays keep order
        ({"x": {"a": [1, {"c": True}]}}, {"x": {"a": [1, {"c": 1}]}}, True),
        ({"a": "1"}, {"a": 1}, True),
    ],
)
def test_json_values_compare_by_value_and_kind(tmp_path, before, after, changed):
    snapshot = with_changes(clean_rows(), "r1", metadata=before)
    migrated = with_changes(clean_rows(), "r1", metadata=after)
    with audit_store(tmp_path, migrated, snapshot[:3]) as store:
        result = lla.verify(store, checks=[rows_preserved]).check("rows_preserved")
    assert result.count == int(changed)
    assert result.ids["column"].to_list() == (["metadata"] if changed else [])


def chain_rows(hops: int) -> list[dict]:
    """A chain j0 <- j1 <- ... <- j{hops}, backfilled as the migration did (9 hops resolve)."""
    rows = []
    for k in range(hops + 1):
        root = "j0" if k <= 9 else f"j{k - 9}"
        rows.append(
            log_row(
                f"j{k}",
                f"2026-02-08T10:{k:02d}:00",
                "enrichment:artist",
                "ENRICHED",
                job_id=f"j{k}",
                parent_job_id=f"j{k - 1}" if k else None,
                root_job_id=root,
            )
        )
    return rows


def test_a_12_hop_chain_keeps_the_backfills_root_and_the_truth_check_warns(tmp_path):
    with audit_store(tmp_path, clean_rows() + chain_rows(12)) as store:
        report = lla.verify(store)
        truth = report.check("root_job_truth")
        assert counts(report)["root_job_backfill"] == ("pass", 0)
        assert (truth.status, truth.count) == ("warn", 3)
        assert truth.ids.select("id", "true_root", "ancestors", "cause").rows() == [
            (uid(f"j{k}"), "j0", k, "deeper than the depth limit") for k in (10, 11, 12)
        ]
        assert sorted(store.frame(truth.sql)["id"]) == sorted(truth.ids["id"])


def test_a_dangling_grandparent_gives_the_parent_as_root(tmp_path):
    rows = [
        *clean_rows(),
        log_row(
            "g1",
            "2026-02-08T12:00:00",
            "enrichment:album",
            "ENRICHED",
            job_id="g1",
            parent_job_id="ghost",
            root_job_id="ghost",
        ),
        log_row(
            "g2",
            "2026-02-08T12:01:00",
            "enrichment:artist",
            "ENRICHED",
            job_id="g2",
            parent_job_id="g1",
            root_job_id="g1",
        ),
    ]
    with audit_store(tmp_path, rows) as store:
        report = lla.verify(store)
    assert counts(report)["root_job_backfill"] == ("pass", 0)
    truth = report.check("root_job_truth")
    assert truth.ids.select("id", "root_job_id", "true_root", "cause").rows() == [
        (uid("g2"), "g1", "ghost", "dangling ancestor")
    ]
    dangling = report.check("dangling_parents")
    assert (dangling.status, dangling.ids["id"].to_list()) == ("warn", [uid("g1")])


def test_cycles_duplicate_ids_and_reused_job_ids(tmp_path):
    rows = [
        *clean_rows(),
        log_row("c1", "2026-03-02T10:00:00", "enrichment:album", "ENRICHED", job_id="c1", parent_job_id="c2"),
        log_row("c2", "2026-03-02T10:00:01", "enrichment:album", "ENRICHED", job_id="c2", parent_job_id="c1"),
        log_row("s1", "2026-03-03T10:00:00", "enrichment:album", "ENRICHED", job_id="7", is_root_job=True),
        log_row("s2", "2026-05-03T10:00:00", "enrichment:album", "ENRICHED", job_id="7", is_root_job=True),
        log_row("s3", "2026-05-03T10:00:00", "enrichment:artist", "ENRICHED", job_id="7", is_root_job=True),
    ]
    with audit_store(tmp_path, rows) as store:
        store.execute("INSERT INTO llama_logs SELECT * FROM llama_logs WHERE id = ?", [uid("r5")])
        report = lla.verify(store)
        for name in ("job_cycles", "duplicate_ids", "reused_job_ids"):
            result = report.check(name)
            assert sorted(set(store.frame(result.sql)["id"])) == sorted(set(result.ids["id"])), name
    assert report.check("job_cycles").ids["id"].to_list() == [uid("c1"), uid("c2")]
    assert report.check("job_cycles").status == "fail"
    assert report.check("duplicate_ids").ids.rows() == [(uid("r5"), "llama_logs", 2)]
    reused = report.check("reused_job_ids")
    assert (reused.status, reused.count) == ("warn", 2)  # the two runs of job 7, each by its first row
    assert reused.finding.startswith("2 runs share 1 job ids that ran more than once")
    first = min(uid("s2"), uid("s3"))  # logged at the same instant: the least id comes first
    assert reused.ids.select("id", "job_id", "job_instance", "runs", "rows", "operation").rows() == [
        (uid("s1"), "7", 1, 2, 1, "enrichment:album"),
        (first, "7", 2, 2, 2, "enrichment:album" if first == uid("s2") else "enrichment:artist"),
    ]
    assert report.status == "fail"


SNAPSHOT_CHECKS = ("rows_preserved",)
CATEGORY_TIME_CHECKS = ("category_backfill", "category_rules")
ROOT_TIME_CHECKS = ("root_job_backfill", "root_job_truth")


def test_without_snapshot_or_migration_times_the_checks_skip_and_say_what_to_load(tmp_path):
    rows = with_changes(clean_rows(), "r1", is_root_job=True)  # every check that runs passes
    with store_of(rows, tmp_path) as store:
        report = lla.verify(store)
        dated = lla.verify(store, migrated_at="2026-02-10T01:48:19")
        both = lla.verify(
            store, migrated_at="2026-02-10T01:48:19", root_job_migrated_at="2026-02-10T16:39:53"
        )
    skipped = {c.name for c in report.checks if c.status == "skip"}
    assert skipped == {*SNAPSHOT_CHECKS, *CATEGORY_TIME_CHECKS, *ROOT_TIME_CHECKS}
    assert {c.status for c in report.checks if c.name not in skipped} == {"pass"}
    for name in skipped:
        result = report.check(name)
        assert (result.count, result.ids.height, result.sql) == (0, 0, ""), name
        assert "Hint:" in result.finding and result.expects, name
    assert "no pre-migration snapshot" in report.check("rows_preserved").finding.lower()
    assert "--before" in report.check("rows_preserved").finding
    assert "enrichment_logs" in report.check("rows_preserved").finding
    for name in CATEGORY_TIME_CHECKS:
        assert "_prisma_migrations" in report.check(name).finding
        assert "--migrated-at" in report.check(name).finding
    for name in ROOT_TIME_CHECKS:
        assert "--root-job-migrated-at" in report.check(name).finding
    # skip is worse than pass, better than warn: the audit's status is skip, not warn
    assert report.status == "skip" and report.summary["status"] == "skip"
    assert report.summary["checks"] == {"pass": 8, "skip": 5, "warn": 0, "fail": 0}
    assert (report.at_least("skip"), report.at_least("warn"), report.at_least("fail")) == (True, False, False)
    text = str(report)
    assert "  checks: 8 pass, 5 skip, 0 warn, 0 fail" in text
    assert [line.split()[1] for line in text.splitlines() if line.startswith("SKIP  ")] == [
        c.name for c in report.checks if c.status == "skip"
    ]
    # an apply time brings the category checks back, then the root-job checks
    assert {c.name for c in dated.checks if c.status == "skip"} == {*SNAPSHOT_CHECKS, *ROOT_TIME_CHECKS}
    assert {c.name for c in both.checks if c.status == "skip"} == set(SNAPSHOT_CHECKS)
    assert counts(both)["category_backfill"] == ("pass", 0)
    assert counts(both)["root_job_backfill"] == ("pass", 0)


def test_a_row_written_between_the_snapshot_and_the_migration_is_judged_by_the_backfill(tmp_path):
    """The migration labelled every row in the table when it ran, also those written after the
    snapshot was taken: r2 (not in the snapshot, older than the migration) is the backfill's."""
    rows = with_changes(clean_rows(), "r2", category="ENRICHED")  # the backfill gives CACHED
    with audit_store(tmp_path, rows, [r for r in rows if r["id"] == uid("r1")]) as store:
        report = lla.verify(store)
    backfill = report.check("category_backfill")
    assert (backfill.status, backfill.count, backfill.ids["id"].to_list()) == ("fail", 1, [uid("r2")])
    assert backfill.finding.startswith("1 of 3 rows that existed at the migration differ")
    assert counts(report)["category_rules"] == ("pass", 0)
    # so did the root-job backfill, after it, when its own time is not known
    rows = with_changes(clean_rows(), "r2", root_job_id="999")  # its walk gives 100
    with audit_store(tmp_path, rows, [r for r in rows if r["id"] == uid("r1")]) as store:
        store.execute(f"DELETE FROM _prisma_migrations WHERE migration_name = '{schema.ROOT_JOB_MIGRATION}'")
        roots = lla.verify(store).check("root_job_backfill")
    assert (roots.status, roots.ids["id"].to_list()) == ("fail", [uid("r2")])


def test_a_snapshot_named_but_absent_is_an_error_left_out_a_skip(tmp_path):
    with audit_store(tmp_path, clean_rows()) as store:
        with pytest.raises(  # a name typed wrong: the table meant, not a table to load
            StoreError,
            match=r"'enrichment_log'.*Hint: name enrichment_logs \(before='enrichment_logs', --before "
            r"enrichment_logs\); the store has enrichment_logs, llama_logs$",
        ):
            lla.verify(store, before="enrichment_log")
        with pytest.raises(
            StoreError, match=r"'llama_log'.*\(after=, --after\).*Hint: name llama_logs \(after='llama_logs'"
        ):
            lla.verify(store, after="llama_log")
        with pytest.raises(
            StoreError, match=r"'snapshot'.*Hint: the store has enrichment_logs, llama_logs; name one of them"
        ):
            lla.verify(store, before="snapshot")
        named = lla.verify(store, before="enrichment_logs", checks=[rows_preserved])
    assert counts(named) == {"rows_preserved": ("pass", 0)}
    with (
        lla.LogStore() as empty,
        pytest.raises(StoreError, match="the store has no log tables: load the migrated table first"),
    ):
        lla.verify(empty)
    with store_of(clean_rows(), tmp_path) as store:
        assert counts(lla.verify(store, checks=[rows_preserved])) == {"rows_preserved": ("skip", 0)}
        with pytest.raises(StoreError, match=r"leave it out to skip the snapshot checks"):
            lla.verify(store, before="enrichment_logs")


def test_statuses_rank_pass_skip_warn_fail_and_nothing_else():
    assert STATUSES == ("pass", "skip", "warn", "fail")
    for better, worse in itertools.pairwise(STATUSES):
        assert worst([worse, better]) == worst([better, worse]) == worse
    with pytest.raises(ArgumentError, match="unknown check status 'error'"):
        worst(["pass", "error"])
    empty = pl.DataFrame({"id": []}, schema={"id": pl.String})
    with pytest.raises(ArgumentError, match="unknown check status"):
        CheckResult("mine", "ok", 0, "fine.", "All is fine.", empty, "")
    for status in ("pass", "skip"):
        with pytest.raises(ArgumentError, match="counts 0 offending rows"):
            CheckResult("mine", status, 3, "3 rows.", "No rows.", empty, "")
    report = AuditReport((CheckResult("mine", "skip", 0, "Could not run.", "No rows.", empty, ""),), {})
    assert report.status == "skip" and report.at_least("skip") and not report.at_least("warn")
    assert str(report).splitlines()[-2].startswith("SKIP  mine")


def test_a_check_with_no_finding_keeps_its_line_in_a_terminal():
    """A check of one's own may leave its finding empty: its line (status, name, count) shows
    at any terminal width, as it does in a pipe."""
    empty = pl.DataFrame({"id": []}, schema={"id": pl.String})
    report = AuditReport((CheckResult("mine", "pass", 0, "", "No rows.", empty, ""),), {})
    for width in (None, 120, 40):
        assert report.text(width).splitlines()[-2].startswith("PASS  mine"), width


def everything_wrong(tmp_path) -> lla.LogStore:
    """A store where every default check finds something: each kind of defect once."""
    after = with_changes(clean_rows(), "r2", category="ENRICHED")  # category_backfill
    after = with_changes(after, "r4", category="ARCHIVED")  # category_present, category_rules
    after = with_changes(after, "r2", root_job_id="999")  # root_job_backfill, root_job_truth
    after += [
        # a parent loop (job_cycles), its first row logged before its parent run (child_before_parent),
        # and flagged root although it has a parent (is_root_consistency)
        log_row(
            "c1",
            "2026-03-02T10:00:00",
            "enrichment:album",
            "ENRICHED",
            job_id="c1",
            parent_job_id="c2",
            is_root_job=True,
        ),
        log_row("c2", "2026-03-02T10:00:01", "enrichment:album", "ENRICHED", job_id="c2", parent_job_id="c1"),
        # job 7 ran twice, months apart (reused_job_ids)
        log_row("s1", "2026-03-03T10:00:00", "enrichment:album", "ENRICHED", job_id="7", is_root_job=True),
        log_row("s2", "2026-05-03T10:00:00", "enrichment:album", "ENRICHED", job_id="7", is_root_job=True),
        # a parent that never logged (dangling_parents)
        log_row(
            "g1", "2026-03-04T10:00:00", "enrichment:album", "ENRICHED", job_id="g1", parent_job_id="ghost"
        ),
    ]
    before = [r for r in clean_rows() if r["created_at"] < "2026-02-10"]
    before += [log_row("gone", "2026-01-06T10:00:00", "enrichment:album", "ENRICHED", job_id="g0")]
    before = with_changes(before, "r1", operation="enrichment:artist")  # rows_preserved: 1 gone, 1 changed
    store = audit_store(tmp_path, after, before)
    store.execute(
        "INSERT INTO llama_logs SELECT * FROM llama_logs WHERE id = ?", [uid("r5")]
    )  # duplicate_ids
    return store


def assert_counts_agree(report: AuditReport, store: lla.LogStore) -> None:
    """Every check's count is the rows it lists, the number its finding starts with and the
    rows its SQL lists again; a pass or a skip counts and lists none; each says what it expects."""
    assert [c.name for c in report.checks] == [c.__name__ for c in DEFAULT_CHECKS]
    for c in report.checks:
        document = c.to_dict()
        assert c.expects.endswith(".") and ". " not in c.expects and c.expects[0].isupper(), c.name
        if c.status in ("pass", "skip"):
            assert (c.count, c.ids.height, document["ids"]) == (0, 0, []), c.name
        else:
            assert c.count > 0, c.name
            assert c.count == c.ids["id"].n_unique() == len(document["ids"]), c.name
        if c.status != "skip":
            assert c.finding.startswith(f"{c.count:,} "), (c.name, c.finding)
            assert store.frame(c.sql)["id"].n_unique() == c.count, c.name


def test_every_count_is_the_rows_listed_on_the_sample(tmp_path):
    with lla.sample_store() as store:
        report = lla.verify(store)
        assert_counts_agree(report, store)
        backfill = report.check("category_backfill")
        intended = store.frame(backfill.sql)
    assert (backfill.status, backfill.count) == ("warn", 123)  # no mismatch; the roadmap's intent differs
    assert "123 of 651 rows" in backfill.finding
    assert backfill.count == backfill.breakdowns["applied rules vs the roadmap's intent"]["rows"].sum()
    assert (intended["category"] == intended["expected"]).all()  # each carries the applied rules' label
    assert (intended["category"] != intended["intended"]).all()
    assert backfill.breakdowns["mismatches by operation and status"].height == 0
    assert {c.status for c in report.checks} == {"pass", "warn"}


def test_every_count_is_the_rows_listed_when_every_check_finds_something(tmp_path):
    with everything_wrong(tmp_path) as store:
        report = lla.verify(store)
        assert {c.name for c in report.checks if c.status == "pass"} == set()  # the test can fail
        assert_counts_agree(report, store)
    expected = {
        "rows_preserved": ("fail", 2, ["gone", "r1"]),
        "duplicate_ids": ("fail", 1, ["r5"]),
        "category_present": ("fail", 1, ["r4"]),
        "category_backfill": ("fail", 1, ["r2"]),
        "category_rules": ("warn", 1, ["r4"]),
        "root_job_backfill": ("fail", 1, ["r2"]),
        "root_job_truth": ("warn", 1, ["r2"]),
        "is_root_consistency": ("warn", 1, ["c1"]),
        "reused_job_ids": ("warn", 2, ["s1", "s2"]),
        "dangling_parents": ("warn", 1, ["g1"]),
        "job_cycles": ("fail", 2, ["c1", "c2"]),
        "child_before_parent": ("warn", 1, ["c1"]),
        # the albums only the added rows name, with no CREATED row about them
        "unknown_origin": ("warn", 5, ["album-c1", "album-c2", "album-s1", "album-s2", "album-g1"]),
    }
    found = {c.name: (c.status, c.count, sorted(set(c.ids["id"]))) for c in report.checks}
    assert found == {n: (s, k, sorted(uid(i) for i in ids)) for n, (s, k, ids) in expected.items()}
    assert report.check("rows_preserved").finding.startswith("2 of 4 snapshot rows")
    assert report.check("rows_preserved").ids.height == 2  # one missing, one changed in one column
    assert report.check("category_present").finding.startswith(
        "1 row has no category or an unknown label: 0 without a category, 1 with unknown labels (ARCHIVED)"
    )


def test_offending_rows_wait_on_disk_in_the_order_their_sql_gives_and_go_with_the_report(tmp_path):
    with everything_wrong(tmp_path) as store:
        report = lla.verify(store)
        listed_again = {c.name: store.frame(c.sql) for c in report.checks if c.name != "job_cycles"}
    kept = [c for c in report.checks if c.count]
    assert kept and all(isinstance(c.offending, KeptFrame) for c in kept)
    for c in kept:
        assert c.offending.height == c.ids.height, c.name
        assert c.ids["id"].dtype == pl.String, c.name  # kept as UUIDs, read as text
        if c.name in listed_again:  # sorted once read, as DuckDB's ORDER BY would
            again = listed_again[c.name]
            assert c.ids.select(again.columns).equals(again), c.name
    folder = kept[0].offending.path.parent
    rows = {c.offending.path for c in kept}
    assert {p.parent for p in rows} == {folder}
    assert rows <= set(folder.iterdir())
    del report, kept, c
    gc.collect()
    assert not folder.exists()


def test_a_failing_backfill_counts_its_mismatches_and_names_the_intent_apart(tmp_path):
    fetched = log_row("m1", "2026-01-07T10:00:00", "MUSICBRAINZ_FETCH", "CREATED")  # intent: ENRICHED
    rows = [*clean_rows(), fetched]
    with audit_store(tmp_path, rows) as store:
        warned = lla.verify(store).check("category_backfill")
    with audit_store(tmp_path, with_changes(rows, "r2", category="ENRICHED")) as store:
        failed = lla.verify(store).check("category_backfill")
    assert (warned.status, warned.count, warned.ids["id"].to_list()) == ("warn", 1, [uid("m1")])
    assert warned.ids.select("category", "expected", "intended").row(0) == ("CREATED", "CREATED", "ENRICHED")
    assert (failed.status, failed.count, failed.ids["id"].to_list()) == ("fail", 1, [uid("r2")])
    assert failed.finding.startswith(
        "1 of 4 rows that existed at the migration differ from the rules as applied"
    )
    assert "differ from the roadmap's intent on 1 rows: 1 labelled CREATED where the intent was ENRICHED" in (
        failed.finding
    )
    for result in (warned, failed):
        assert result.breakdowns["applied rules vs the roadmap's intent"]["rows"].to_list() == [1]
    assert failed.breakdowns["mismatches by operation and status"]["rows"].to_list() == [1]


def test_a_row_edited_since_the_snapshot_is_judged_by_the_values_the_migrations_saw(tmp_path):
    before = [r for r in clean_rows() if r["created_at"] < "2026-02-10"]
    after = with_changes(clean_rows(), "r1", operation="MANUAL_ADD")  # ENRICHED: right for enrichment:album
    after = with_changes(after, "r2", parent_job_id="mb-sync-batch")  # root 100: right for parent 100
    with audit_store(tmp_path, after, before) as store:
        report = lla.verify(store)
        assert_counts_agree(report, store)
    assert counts(report)["category_backfill"] == ("pass", 0)
    assert counts(report)["root_job_backfill"] == ("pass", 0)
    assert (
        "on the snapshot's operation and status for the rows it holds"
        in report.check("category_backfill").finding
    )
    assert "on the snapshot's job links for the rows it holds" in report.check("root_job_backfill").finding
    kept = report.check("rows_preserved")  # the edits are reported there, as edits
    assert (kept.status, sorted(kept.ids.select("id", "column").rows())) == (
        "fail",
        sorted([(uid("r1"), "operation"), (uid("r2"), "parent_job_id")]),
    )
    # a category changed with the operation is judged against the operation the migration saw
    relabelled = with_changes(clean_rows(), "r2", operation="enrichment:album", category="ENRICHED")
    with audit_store(tmp_path, relabelled, before) as store:
        backfill = lla.verify(store).check("category_backfill")
    assert backfill.ids.select("id", "operation", "category", "expected").rows() == [
        (uid("r2"), "cache:album-cover-art", "ENRICHED", "CACHED")
    ]
    # without a snapshot the rows' values today are all there is, and the findings say so
    with store_of(after, tmp_path) as store:
        today = lla.verify(
            store, migrated_at="2026-02-10T01:48:19", root_job_migrated_at="2026-02-10T16:39:53"
        )
    assert counts(today)["category_backfill"] == ("fail", 1)
    assert counts(today)["root_job_backfill"] == ("fail", 1)
    assert "on the rows' operation and status today" in today.check("category_backfill").finding
    assert "on the rows' job links today" in today.check("root_job_backfill").finding


def test_the_json_form_of_a_report_is_json_and_complete(tmp_path):
    with everything_wrong(tmp_path) as store:
        report = lla.verify(store, checks=[rows_preserved, duplicate_ids])
    document = json.loads(json.dumps(report.to_dict()))  # JSON-safe without help
    assert list(document) == ["status", "checks", "summary"]
    assert document["status"] == report.status == "fail"
    check = document["checks"][0]
    assert list(check) == ["name", "status", "count", "finding", "expects", "ids", "sql", "breakdowns"]
    assert check["ids"] == [uid("r1"), uid("gone")] and check["count"] == 2  # changed, then missing
    assert check["breakdowns"]["by kind and column"] == [
        {"kind": "changed", "column": "operation", "rows": 1},
        {"kind": "missing", "column": None, "rows": 1},
    ]
    assert document["summary"]["checks"] == {"pass": 0, "skip": 0, "warn": 0, "fail": 2}
    assert json.loads(report.to_json()) == document


def test_the_synthetic_tables_match_their_own_backfills(synth, tmp_path):
    data = synth
    with lla.LogStore() as store:
        for table, frame in (("llama_logs", data.llama_logs), ("enrichment_logs", data.enrichment_logs)):
            lla.write_logs(frame, tmp_path / f"{table}.parquet")
            store.load_files(tmp_path / f"{table}.parquet", table, quiet=True)
        data.prisma_migrations.write_csv(tmp_path / "m.csv")
        store.load_files(tmp_path / "m.csv", "_prisma_migrations", quiet=True)
        report = lla.verify(store)
    assert {c.name: c.status for c in report.checks if c.status == "fail"} == {}
    assert report.check("category_backfill").status == "warn"  # FAILED rows labelled ENRICHED, etc.


def test_the_link_checks_find_each_trap(tmp_path):
    rows = [
        r
        for name in ("sync_batch_dangling_root", "cycle", "reused_after_reset", "child_before_parent")
        for r in scenario(name)["rows"]
    ]
    for n, one in enumerate(rows):
        one["id"] = str(uuid.UUID(int=n + 1))
    rows[0]["is_root_job"] = True  # a sync album row flagged root although it has a parent
    rows[-1]["is_root_job"] = False  # a v1.4 root row, before the flag existed
    with store_of(rows, tmp_path) as store:
        report = lla.verify(store, checks=[*LINK_CHECKS, is_root_consistency])
        literal = lla.verify(store, checks=LINK_CHECKS, link="job_id")  # bare ids: one run each
        for result in (*report.checks, *literal.checks):
            if result.status == "skip":
                continue
            assert sorted(set(store.frame(result.sql)["id"])) == sorted(set(result.ids["id"])), result.name
    dangling = report.check("dangling_parents")
    assert dangling.breakdowns["by parent job id"].rows() == [
        ("spotify-sync-batch-9", 2),
        ("collection-add-3", 1),
    ]
    assert dangling.breakdowns["by reason"].rows() == [("no row carries the id", 3)]
    assert report.check("job_cycles").breakdowns["runs by loop"].rows() == [(1, "c1", 1), (1, "c2", 1)]
    reused = report.check("reused_job_ids")
    assert reused.ids.select("job_id", "job_instance", "runs", "rows").rows() == [
        ("7", 1, 2, 1),
        ("7", 2, 2, 1),
    ]
    early = report.check("child_before_parent").ids
    assert early["parent_job_id"].to_list() == ["c2", "add-album-1"]  # the loop, and v1.4's order
    assert early["ahead_by_ms"].to_list() == [1000, 400]
    assert literal.check("dangling_parents").breakdowns["by parent job id"]["parent_job_id"].to_list() == [
        "spotify-sync-batch-9",
        "collection-add-3",
    ]
    unasked = literal.check("reused_job_ids")  # bare ids cannot tell job 7's two runs apart
    assert (unasked.status, unasked.count) == ("skip", 0)
    assert (
        "every row of a job id counts as one run" in unasked.finding and "link='instance'" in unasked.finding
    )
    assert report.check("is_root_consistency").ids.select("id", "kind").rows() == [
        (rows[0]["id"], "root with parent"),
        (rows[-1]["id"], "no parent, not root"),
    ]


def test_an_entity_has_a_known_origin_only_through_a_created_row_about_it(tmp_path):
    """Created by (entity_type, entity_id) or by its own id column in a CREATED row of its type;
    a CREATED album row that names an artist does not tell how the artist got here."""
    album, artist, track, lone = (uid(f"origin-{k}") for k in ("album", "artist", "track", "lone"))
    rows = [
        log_row(
            "o1",
            "2026-01-05T10:00:00",
            "album:created",
            "CREATED",
            entity_id=album,
            album_id=album,
            artist_id=artist,
        ),
        # the track is created with its id in track_id only (entity_id left empty)
        log_row(
            "o2",
            "2026-01-05T10:00:01",
            "track:created:enrichment",
            "CREATED",
            entity_type="TRACK",
            entity_id=None,
            album_id=album,
            track_id=track,
        ),
        log_row(
            "o3",
            "2026-02-12T10:00:00",
            "enrichment:artist",
            "ENRICHED",
            entity_type="ARTIST",
            entity_id=artist,
            album_id=None,
            artist_id=artist,
        ),
        log_row("o4", "2026-03-01T10:00:00", "enrichment:album", "ENRICHED", entity_id=lone, album_id=lone),
        log_row("o5", "2026-03-02T10:00:00", "enrichment:album", "ENRICHED", entity_id=lone, album_id=lone),
    ]
    with audit_store(tmp_path, rows) as store:
        result = lla.verify(store, checks=[unknown_origin]).check("unknown_origin")
        again = store.frame(result.sql)
    assert (result.status, result.count) == ("warn", 2)
    assert result.finding.startswith(
        "2 of the 4 entities that rows name have no CREATED row about them; 2 have"
    )
    unknown = result.ids.select("id", "entity_type", "rows", "era").rows()
    assert unknown == [
        (artist, "ARTIST", 2, "since 20260104012627_add_preview_enrichment_status_and_data"),  # o1, Jan 5
        (lone, "ALBUM", 2, "since 20260210165434_add"),
    ]
    assert sorted(again["id"]) == sorted(result.ids["id"])
    assert result.breakdowns["by type"].rows() == [("ALBUM", 1), ("ARTIST", 1)]
    # The breakdowns count entities, and say so (not "rows", which the table's rows are).
    assert [result.breakdowns[b].columns for b in ("by type", "by era of the first row")] == [
        ["entity_type", "entities"],
        ["era", "entities"],
    ]
    coverage = result.breakdowns["known and unknown origin by era"]
    assert coverage.rows() == [
        ("since 20260104012627_add_preview_enrichment_status_and_data", "known", 2),
        ("since 20260104012627_add_preview_enrichment_status_and_data", "unknown", 1),
        ("since 20260210165434_add", "unknown", 1),
    ]


def test_each_check_says_where_its_offending_rows_concentrate():
    with lla.sample_store() as store:
        report = lla.verify(store)
        table = store.frame("SELECT id::VARCHAR AS id, operation FROM llama_logs")
    backfill = report.check("category_backfill")
    where = backfill.breakdowns["where they concentrate"]
    assert set(where["dimension"]) == {"operation", "status", "triggered_by", "entity_type", "week"}
    # the strongest value, computed again by hand: its share of the offending rows, and that
    # share over its share of the table
    top = where.row(0, named=True)
    assert (top["dimension"], top["value"]) == ("operation", "MUSICBRAINZ_FETCH")
    offending = table.join(backfill.ids.select("id").unique(), on="id")
    share = (offending["operation"] == "MUSICBRAINZ_FETCH").mean()
    lift = share / (table["operation"] == "MUSICBRAINZ_FETCH").mean()
    assert (top["share"], top["lift"]) == (round(share, 3), round(lift, 2))
    assert backfill.finding.endswith(
        f"{share:.0%} of them have operation MUSICBRAINZ_FETCH, {lift:.1f}x its share of the table."
    )
    # rows that are not the table's (entities, rows gone from it) get no such breakdown
    assert "where they concentrate" not in report.check("unknown_origin").breakdowns
    assert all("where they concentrate" not in c.breakdowns for c in report.checks if c.status == "pass")


def test_rows_gone_from_the_table_concentrate_as_the_snapshot_holds_them():
    """A row deleted since the snapshot counts in the breakdown with its snapshot values, so
    the shares are of every offending row, not of those still in the table."""
    deleted = "f4fee96d-29b5-4c56-bbf2-cd6513ad809d"  # week 2026-02-02
    edited = "4a660853-ef4c-400e-a6d7-aa59d09d065c"  # week 2025-12-22
    with lla.sample_store() as store:
        store.execute(f"DELETE FROM llama_logs WHERE id = '{deleted}'")
        store.execute(f"UPDATE llama_logs SET reason = 'edited' WHERE id = '{edited}'")
        result = lla.verify(store, checks=[rows_preserved]).check("rows_preserved")
    where = result.breakdowns["where they concentrate"]
    weeks = where.filter(pl.col("dimension") == "week").select("value", "rows", "share").rows()
    assert sorted(weeks) == [("2025-12-22", 1, 0.5), ("2026-02-02", 1, 0.5)]
    assert where.filter(pl.col("dimension") == "entity_type").select("value", "rows").rows() == [("ALBUM", 2)]
    assert result.finding.endswith(" 50% of them have week 2025-12-22, 80.0x its share of the table.")


def test_a_breakdown_of_rows_found_in_neither_table_says_of_how_many_it_speaks(tmp_path):
    """Of three listed ids, one is in the table, one only in the snapshot (its operation in no
    row of the table), one in neither: the shares are of the two found, and the finding says so."""
    gone = log_row("gone", "2026-02-08T12:00:00", "spotify:legacy-sync", "ENRICHED")
    after = clean_rows()
    before = [r for r in after if r["created_at"] < "2026-02-10T01:48"] + [gone]

    def listing(audit):
        ids = pl.DataFrame({"id": [uid("r2"), uid("gone"), uid("nowhere")]})
        return check_result("listing", "Nothing listed.", "warn", ids, "", "3 rows listed.", count=3)

    with audit_store(tmp_path, after, before) as store:
        result = lla.verify(store, checks=[listing]).check("listing")
    where = result.breakdowns["where they concentrate"]
    operations = where.filter(pl.col("dimension") == "operation").select("value", "rows", "share", "lift")
    assert operations.rows() == [
        ("spotify:legacy-sync", 1, 0.5, None),
        ("cache:album-cover-art", 1, 0.5, 2.5),
    ]
    assert result.finding == (
        "3 rows listed. 50% of the 2 found have operation spotify:legacy-sync, which no row of the table has."
    )


@pytest.mark.parametrize(
    ("in_file", "memory_limit", "during"),
    [(True, "2GB", "1.8 GiB"), (True, None, "2.7 GiB"), (False, "2GB", "2.7 GiB")],
)
def test_a_store_file_is_audited_with_duckdb_held_to_less_memory(tmp_path, in_file, memory_limit, during):
    """DuckDB caches less of a store file while the checks read it through, and gets its limit
    back after, exactly (also when a check fails, and audit after audit); an in-memory store's
    tables live in that memory, so it keeps its limit, as does ``memory_limit=None``."""
    seen = []

    def memory(audit):
        seen.append(audit.store.execute("SELECT current_setting('memory_limit')")[0][0])
        return lla.audit.category_present(audit)

    def failing(audit):
        raise RuntimeError("a check that fails")

    rows = [log_row("m1", "2026-01-20T10:00:00", "enrichment:album", "ENRICHED")]
    with audit_store(tmp_path, rows, path=tmp_path / "store.duckdb" if in_file else None) as store:
        assert (store.memory_limit, lla.audit.AUDIT_MEMORY) == ("3GB", "2GB")  # the defaults
        with store.session():  # one connection throughout: nothing resets the limit but verify
            for _ in range(3):
                lla.verify(store, checks=[memory], memory_limit=memory_limit)
            with pytest.raises(RuntimeError, match="a check that fails"):
                lla.verify(store, checks=[failing], memory_limit=memory_limit)
            after = store.execute("SELECT current_setting('memory_limit')")[0][0]
    assert (seen, after) == ([during] * 3, "2.7 GiB")


def test_a_row_with_no_stored_root_is_said_to_have_none(tmp_path):
    rows = [*clean_rows(), *chain_rows(2)]
    rows[-1] = {**rows[-1], "root_job_id": None}  # j2: parent j1, no root stored
    with audit_store(tmp_path, rows) as store:
        truth = lla.verify(store).check("root_job_truth")
    assert truth.ids.select("id", "true_root", "cause").rows() == [(uid("j2"), "j0", "no root stored")]


def test_a_snapshot_from_a_json_export_does_not_count_json_null_as_a_change(tmp_path):
    def as_text(value: object) -> str | None:  # JSON columns as their text
        return None if value is None else json.dumps(value)

    rows = [
        r | {c: as_text(r.get(c)) for c in ("metadata", "preview_data")}
        for r in with_changes(clean_rows(), "r1", metadata=None)
    ]
    rows = with_changes(rows, "r1", metadata="null")  # the JSON literal null, which CSV keeps
    with lla.LogStore() as store:
        frame = pl.DataFrame(rows).with_columns(pl.col("created_at").str.to_datetime())
        store.load_files(lla.write_logs(frame, tmp_path / "llama_logs.csv"), quiet=True)
        assert store.execute("SELECT count(*) FROM llama_logs WHERE metadata = 'null'")[0][0] == 1
        legacy = [c.name for c in schema.LEGACY_COLUMNS if c.name in frame.columns]
        snapshot = frame.filter(pl.col("created_at") < datetime(2026, 2, 10)).select(legacy)
        store.load_files(lla.write_logs(snapshot, tmp_path / "before.ndjson"), "enrichment_logs", quiet=True)
        result = lla.verify(store, checks=[rows_preserved]).check("rows_preserved")
    assert (result.status, result.count) == ("pass", 0)
    said = "(enrichment_logs loaded from a JSON export: JSON null and SQL NULL compare equal)"
    assert said in result.finding


def test_an_audit_whose_temporary_folder_is_named_key_value_reads_its_own_ids(tmp_path, monkeypatch):
    """The offending ids kept aside in Parquet are read as written, whatever the folder's name:
    an ``id=1`` folder in the temporary path is not a hive partition of them."""
    folder = tmp_path / "id=1"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    with lla.sample_store() as store:
        report = lla.verify(store)
    assert report.check("category_backfill").count == 123 and report.check("unknown_origin").count == 367


def test_a_snapshot_exported_from_a_store_leaves_the_columns_the_migrations_added_uncompared(tmp_path):
    """``store.table("enrichment_logs")`` carries every column, those the migrations added empty;
    written out and loaded into another store as its snapshot, the rows are still as they were:
    those columns are not the snapshot's, so nothing compares their NULLs with the values today."""
    with lla.sample_store() as sample:
        for table in ("llama_logs", "enrichment_logs"):
            lla.write_logs(sample.table(table), tmp_path / f"{table}.parquet")
    with lla.LogStore() as store:
        for table in ("llama_logs", "enrichment_logs"):
            store.load_files(tmp_path / f"{table}.parquet", table, quiet=True)
        assert store.execute("SELECT count(category) FROM enrichment_logs") == [(0,)]  # loaded, empty
        result = lla.verify(store, checks=[rows_preserved]).check("rows_preserved")
    assert (result.status, result.count) == ("pass", 0)
    assert f"{len(schema.LEGACY_COLUMNS)} columns compared" in result.finding


def test_the_snapshot_audited_is_not_compared_with_itself():
    with lla.sample_store() as store:
        report = lla.verify(store, after="enrichment_logs", checks=[rows_preserved])
        with pytest.raises(ArgumentError, match=r"before='llama_logs' and after='llama_logs' name one table"):
            lla.verify(store, before="llama_logs")
    preserved = report.check("rows_preserved")
    assert preserved.status == "skip"
    assert preserved.finding.startswith("The audited table is the snapshot itself (enrichment_logs)")


def test_checks_may_be_named():
    with lla.sample_store() as store:
        named = lla.verify(store, checks=["dangling_parents", "rows_preserved"])
        with pytest.raises(ArgumentError, match=r"unknown check 'rows_presrved'\. Hint: name one of rows_"):
            lla.verify(store, checks=["rows_presrved"])
        alone = lla.verify(store, checks="dangling_parents")  # one name, not its letters
    assert [c.name for c in alone.checks] == ["dangling_parents"]
    assert [c.name for c in named.checks] == ["dangling_parents", "rows_preserved"]
    assert named.check("dangling_parents").count == 1_274
