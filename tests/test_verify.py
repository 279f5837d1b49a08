"""The migration audit: each check on a dataset with one known defect, the report, the CLI."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import browser_page, needs_chromium, non_blank

import llamalog_analytics as lla
from llamalog_analytics import rules, schema
from llamalog_analytics.audit import DEFAULT_CHECKS, rows_preserved
from llamalog_analytics.cli import main

MIGRATIONS = lla.synthetic.generate(10, seed=1).prisma_migrations  # the real apply times


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def row(name: str, at: str, operation: str, category: str, **values) -> dict:
    """One log row; before the category migration (2026-02-10 01:48) unless ``at`` says later."""
    base = {
        "id": uid(name),
        "entity_type": "ALBUM",
        "entity_id": uid(f"album-{name}"),
        "album_id": uid(f"album-{name}"),
        "operation": operation,
        "sources": ["MUSICBRAINZ"],
        "status": "SUCCESS",
        "fields_enriched": [],
        "retry_count": 0,
        "api_call_count": 0,
        "created_at": at,
        "is_root_job": False,
        "category": category,
    }
    return base | values


def clean_rows() -> list[dict]:
    """Rows every check passes: a root and its child, a creation root, and after the migrations
    a user action with its queue child."""
    return [
        row(
            "r1",
            "2026-01-05T10:00:00",
            "enrichment:album",
            "ENRICHED",
            job_id="100",
            root_job_id="100",
            metadata={"albumTitle": "A", "fieldChanges": [{"field": "title", "before": None, "after": "A"}]},
        ),
        row(
            "r2",
            "2026-01-05T10:00:05",
            "cache:album-cover-art",
            "CACHED",
            job_id="101",
            parent_job_id="100",
            root_job_id="100",
            metadata={"a": 1, "b": [1, 2]},
        ),
        row(
            "r3",
            "2026-02-08T11:00:00",
            "album:created",
            "CREATED",
            job_id="album-x",
            is_root_job=True,
            root_job_id="album-x",
        ),
        row(
            "r4",
            "2026-03-01T10:00:05",
            "enrichment:album",
            "ENRICHED",
            job_id="102",
            parent_job_id="collection-add-1",
        ),
        row(
            "r5",
            "2026-03-01T10:00:00",
            "collection:album-added",
            "USER_ACTION",
            job_id="collection-add-1",
            is_root_job=True,
            root_job_id="collection-add-1",
        ),
    ]


def audit_store(
    folder: Path, after: list[dict], before: list[dict] | None = None, path: Path | None = None
) -> lla.LogStore:
    """A store with ``after`` as llama_logs, the snapshot (rows before the migration) and the
    migration history."""
    if before is None:
        before = [r for r in after if r["created_at"] < "2026-02-10T01:48"]
    store = lla.LogStore(path)
    for table, rows, columns in (
        ("llama_logs", after, schema.COLUMN_NAMES),
        ("enrichment_logs", before, [c.name for c in schema.LEGACY_COLUMNS]),
    ):
        path = folder / f"{table}-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps([{k: v for k, v in r.items() if k in columns} for r in rows]))
        result = store.load_files(path, table, quiet=True)
        assert result.rows_rejected == 0, store.rejects()
    MIGRATIONS.write_csv(folder / "migrations.csv")
    store.load_files(folder / "migrations.csv", "_prisma_migrations", quiet=True)
    return store


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


def with_changes(rows: list[dict], name: str, **values) -> list[dict]:
    return [r | values if r["id"] == uid(name) else r for r in rows]


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


def chain_rows(hops: int) -> list[dict]:
    """A chain j0 <- j1 <- ... <- j{hops}, backfilled as the migration did (9 hops resolve)."""
    rows = []
    for k in range(hops + 1):
        root = "j0" if k <= 9 else f"j{k - 9}"
        rows.append(
            row(
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
        row(
            "g1",
            "2026-02-08T12:00:00",
            "enrichment:album",
            "ENRICHED",
            job_id="g1",
            parent_job_id="ghost",
            root_job_id="ghost",
        ),
        row(
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
        row("c1", "2026-03-02T10:00:00", "enrichment:album", "ENRICHED", job_id="c1", parent_job_id="c2"),
        row("c2", "2026-03-02T10:00:01", "enrichment:album", "ENRICHED", job_id="c2", parent_job_id="c1"),
        row("s1", "2026-03-03T10:00:00", "enrichment:album", "ENRICHED", job_id="7", is_root_job=True),
        row("s2", "2026-05-03T10:00:00", "enrichment:album", "ENRICHED", job_id="7", is_root_job=True),
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
    with lla.LogStore() as store:
        path = tmp_path / "rows.json"
        path.write_text(json.dumps(clean_rows()))
        store.load_files(path, quiet=True)
        report = lla.verify(store)
        assert report.check("rows_preserved").finding.startswith("skipped: no pre-migration snapshot")
        assert "--migrated-at" in report.check("category_backfill").finding
        dated = lla.verify(
            store, migrated_at="2026-02-10T01:48:19", root_job_migrated_at="2026-02-10T16:39:53"
        )
    assert counts(dated)["category_backfill"] == ("pass", 0)
    assert counts(dated)["root_job_backfill"] == ("pass", 0)


def test_rule_sets_are_data_and_diff_names_the_differences():
    frame = pl.DataFrame(
        {
            "operation": [
                "cache:artist-image",
                "MANUAL_DATA_QUALITY_UPDATE",
                "SPOTIFY_TRACK_FALLBACK",
                "PREVIEW_ENRICHMENT",
            ],
            "status": ["FAILED", "SUCCESS", "FAILED", "FAILED"],
        }
    )
    assert rules.APPLIED_BACKFILL.categorize(frame).to_list() == ["CACHED", "CREATED", "FAILED", "ENRICHED"]
    assert rules.ROADMAP_INTENT.categorize(frame).to_list() == ["FAILED", "CORRECTED", "FAILED", "FAILED"]
    assert rules.APPLICATION.categorize(frame).to_list() == ["FAILED", "CORRECTED", "FAILED", "ENRICHED"]
    assert rules.DERIVE_CATEGORY.categorize(frame.with_columns(status=pl.lit("SUCCESS"))).to_list() == [
        "ENRICHED",
        "CORRECTED",
        "ENRICHED",
        "ENRICHED",
    ]
    with pytest.raises(ValueError, match="unknown categories"):
        rules.RuleSet("typo", "", (rules.Rule("CREATE", "TRUE"),))


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


def test_report_json_html_and_cli(tmp_path):
    rows = with_changes(clean_rows(), "r2", category="ENRICHED", operation="cache:<script>alert(1)</script>")
    db = tmp_path / "store.duckdb"
    with audit_store(tmp_path, rows, path=db) as store:
        report = lla.verify(store)
    document = json.loads(report.to_json())
    assert [c["name"] for c in document["checks"]][:2] == ["rows_preserved", "category_present"]
    assert set(document["checks"][0]) == {"name", "status", "count", "finding", "ids"}
    assert document["summary"]["status"] == "fail"
    html = report.to_html(tmp_path / "audit.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "cache:&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)  # nothing fetched: works offline

    runner = CliRunner()
    failed = runner.invoke(
        main, ["verify", "--db", str(db), "--format", "json", "--report", str(tmp_path / "r.html")]
    )
    assert failed.exit_code == 1, failed.output
    assert json.loads(failed.stdout)["summary"]["checks"]["fail"] >= 1
    assert (tmp_path / "r.html").exists()
    missing = runner.invoke(main, ["verify", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2
    assert "no such store" in missing.output
    clean = tmp_path / "clean.duckdb"
    audit_store(tmp_path, clean_rows(), path=clean).close()
    passed = runner.invoke(main, ["verify", "--db", str(clean)])
    assert passed.exit_code == 0, passed.output
    assert passed.output.startswith("[🦙 LlamaLog] migration audit: PASS")


@needs_chromium
def test_report_opens_in_headless_chromium(tmp_path):
    with lla.sample_store() as store:
        path = lla.verify(store).to_html(tmp_path / "audit.html")
    assert path.stat().st_size < 5_000_000  # plotly.js travels packed
    with browser_page(path) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        assert page.locator(".plotly .main-svg").count() >= 4
        summary = page.locator("#summary-table")
        assert summary.is_visible()
        assert summary.locator("tbody tr").count() == 12
        box = summary.bounding_box()
        assert box is not None and box["y"] < 900  # in the first screenful
        assert non_blank(page)
    assert errors == []
