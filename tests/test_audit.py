"""The migration audit: each check on a dataset with one known defect, the job-link checks' traps."""

from __future__ import annotations

import uuid

import pytest
from conftest import audit_store, clean_rows, log_row, scenario, store_of, uid, with_changes

import llamalog_analytics as lla
from llamalog_analytics.audit import DEFAULT_CHECKS, LINK_CHECKS, is_root_consistency, rows_preserved


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
    assert (reused.status, reused.count) == ("warn", 1)
    assert reused.ids.select("id", "job_id", "job_instance", "runs", "rows").rows() == [
        (uid("s1"), "7", 1, 2, 1),
        (uid("s2"), "7", 2, 2, 1),
    ]
    assert report.status == "fail"


def test_without_snapshot_or_migration_times_the_checks_say_what_is_missing(tmp_path):
    with store_of(clean_rows(), tmp_path) as store:
        report = lla.verify(store)
        assert report.check("rows_preserved").finding.startswith("skipped: no pre-migration snapshot")
        assert "--migrated-at" in report.check("category_backfill").finding
        dated = lla.verify(
            store, migrated_at="2026-02-10T01:48:19", root_job_migrated_at="2026-02-10T16:39:53"
        )
    assert counts(dated)["category_backfill"] == ("pass", 0)
    assert counts(dated)["root_job_backfill"] == ("pass", 0)


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
        literal = lla.verify(store, checks=LINK_CHECKS, link="job_id")  # bare ids: job 7 is not reused
        for result in (*report.checks, *literal.checks):
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
    assert literal.check("reused_job_ids").count == 0
    assert report.check("is_root_consistency").ids.select("id", "kind").rows() == [
        (rows[0]["id"], "root with parent"),
        (rows[-1]["id"], "no parent, not root"),
    ]
