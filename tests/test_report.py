"""The audit report: JSON, text and HTML, the CLI's verify command, and the page in headless Chromium."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from conftest import audit_store, browser_page, clean_rows, needs_chromium, non_blank, with_changes

import llamalog_analytics as lla
from llamalog_analytics.cli import main


def test_report_json_html_and_cli(tmp_path):
    rows = with_changes(clean_rows(), "r2", category="ENRICHED", operation="cache:<script>alert(1)</script>")
    db = tmp_path / "store.duckdb"
    with audit_store(tmp_path, rows, path=db) as store:
        report = lla.verify(store)
    document = json.loads(report.to_json())
    assert [c["name"] for c in document["checks"]][:2] == ["rows_preserved", "duplicate_ids"]
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
