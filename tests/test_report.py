"""The audit report: JSON, text and HTML, the CLI's verify command, and the page in headless Chromium."""

from __future__ import annotations

import base64
import csv
import json
import re
from dataclasses import replace
from html import escape as html_escape
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import (
    audit_store,
    browser_page,
    clean_rows,
    needs_chromium,
    non_blank,
    screenshot,
    store_of,
    with_changes,
)

import llamalog_analytics as lla
from llamalog_analytics.cli import main
from llamalog_analytics.stage import load_counts


def test_report_json_html_and_cli(tmp_path):
    rows = with_changes(clean_rows(), "r2", category="ENRICHED", operation="cache:<script>alert(1)</script>")
    db = tmp_path / "store.duckdb"
    with audit_store(tmp_path, rows, path=db) as store:
        report = lla.verify(store)
    document = json.loads(report.to_json())
    assert [c["name"] for c in document["checks"]][:2] == ["rows_preserved", "duplicate_ids"]
    assert set(document["checks"][0]) == {
        "name",
        "status",
        "count",
        "finding",
        "expects",
        "ids",
        "sql",
        "breakdowns",
    }
    assert document["status"] == "fail"
    html = report.to_html(tmp_path / "audit.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "cache:&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)  # nothing fetched: works offline
    repair = re.search(r'<p id="repair">(.*?)</p>', html, re.DOTALL)
    assert (
        repair
        and "category_backfill failed" in repair[1]
        and f"llamalog repair --db {db}</code>" in repair[1]
    )

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
def test_the_report_reads_as_evidence_in_headless_chromium(tmp_path):
    """Who, what and when first; each check's expectation, status and count; offending rows that
    sort, filter and download; nothing wider than the window; the llama drawn, not a glyph."""
    with lla.sample_store() as store:
        report = lla.verify(store)
        path = report.to_html(tmp_path / "audit.html")
        loads_made = store.loads()
    assert path.stat().st_size < 5_000_000  # plotly.js and DataTables travel packed or inlined
    with browser_page(path) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        page.wait_for_selector(".dt-container")
        screenshot(page, "report")
        assert "🦙" not in page.inner_text("body")  # no llama left to a font that may lack it
        heading = page.locator("h1")
        assert heading.inner_text().strip() == "LlamaLog migration audit"
        assert heading.locator("svg[aria-label=llama]").bounding_box()["width"] > 15
        audited = page.locator("#provenance").inner_text()
        assert "llamalog_analytics 0.1.0" in audited and "job instances" in audited
        assert re.search(r"generated at\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})? UTC", audited)
        assert "store\nin memory" in audited
        loads = page.locator("#loads tbody tr")
        assert loads.count() == loads_made.height
        for n, load in enumerate(loads_made.iter_rows(named=True)):
            cells = loads.nth(n).locator("td").all_inner_texts()
            assert cells[3] == load["source"] and cells[-1] == load_counts(load)  # as info tells it
            name = loads.nth(n).locator("td").nth(2).locator("code")  # _prisma_migrations kept whole
            assert name.evaluate("e => e.getClientRects().length") == 1, cells[2]
        summary = page.locator("#summary-table")
        assert summary.bounding_box()["y"] < 2000
        rows = summary.locator("tbody tr")
        assert rows.count() == len(report.checks)
        for n, check in enumerate(report.checks):
            cells = rows.nth(n).locator("td")
            assert cells.nth(0).inner_text() == check.name
            assert cells.nth(1).inner_text() == check.expects
            assert cells.nth(2).inner_text() == check.status.upper()
            assert cells.nth(3).inner_text() == f"{check.count:,}"
        assert page.locator(".plotly .main-svg").count() >= 3
        # Every offending-rows table is a DataTable with copy and CSV buttons.
        offending = [c for c in report.checks if c.ids.height]
        tables = page.locator("section .dt-container")
        assert tables.count() == len(offending) + sum(
            1 for c in report.checks for f in c.breakdowns.values() if f.height
        )
        assert page.locator("section button.buttons-csv").count() == tables.count()
        # No table is wider than its box, to be scrolled sideways: long ids break inside the page.
        hidden = page.evaluate(
            """[...document.querySelectorAll('section .dt-layout-cell')]
              .filter(box => box.scrollWidth > box.clientWidth)
              .map(box => box.closest('section').id)"""
        )
        assert hidden == []
        # Filtering: typing an id into a check's search box leaves that row alone.
        backfill = page.locator("#check-root_job_truth")
        wanted = report.check("root_job_truth").ids["id"][0]
        last_table = backfill.locator(".dt-container").last
        # A short table shows whole, nothing to page or search; a long one pages by ten.
        concentrated = report.check("root_job_truth").breakdowns["where they concentrate"]
        short = backfill.locator(".dt-container").nth(1)
        assert 10 < concentrated.height <= 25 and short.locator("tbody tr").count() == concentrated.height
        assert short.locator("input[type=search]").count() == 0 and short.locator(".dt-paging").count() == 0
        assert last_table.locator(".dt-paging").count() == 1 and last_table.locator("tbody tr").count() == 10
        # and it starts under its buttons, not centred away from them
        left = short.locator("table.dataTable").bounding_box()["x"]
        assert abs(left - short.locator("button.buttons-copy").bounding_box()["x"]) < 5
        last_table.locator("input[type=search]").fill(wanted)
        assert last_table.locator("tbody tr").count() == 1
        assert wanted in last_table.locator("tbody tr").inner_text()
        # Nothing runs off the right edge.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1200
        assert non_blank(page)
    assert errors == []


def test_a_check_that_cannot_run_is_skipped_and_says_what_to_load(tmp_path):
    with store_of(clean_rows(), tmp_path) as store:  # no snapshot, no migration history
        report = lla.verify(store)
    skipped = [c for c in report.checks if c.status == "skip"]
    assert skipped and all(c.count == 0 for c in skipped)
    html = report.to_html(tmp_path / "audit.html").read_text(encoding="utf-8")
    assert html.count('class="status skip">SKIP') >= len(skipped)
    assert "Why it did not run" in html


def test_a_check_with_more_rows_than_the_page_shows_links_every_id_as_csv(tmp_path, monkeypatch):
    from llamalog_analytics import report as report_module

    monkeypatch.setattr(report_module, "ROWS_IN_PAGE", 5)
    with lla.sample_store() as store:
        report = lla.verify(store)
    html = report.to_html(tmp_path / "audit.html").read_text(encoding="utf-8")
    big = [c for c in report.checks if c.ids.height > 5]
    links = re.findall(r'<a download="([^"]+)" href="data:text/csv;base64,([^"]+)">', html)
    assert big and len(links) == len(big)
    # Each file is named after its check and what it lists: saving two does not overwrite one with
    # the other, nor the table's own CSV (its shown rows, every column).
    titles = {"reused_job_ids": "reused-job-runs", "unknown_origin": "entities-of-unknown-origin"}
    named = [f"llamalog-audit-{c.name}-{titles.get(c.name, 'offending-rows')}-all-ids.csv" for c in big]
    assert [name for name, _ in links] == named and {"reused_job_ids", "unknown_origin"} <= {
        c.name for c in big
    }
    for check, (_, link) in zip(big, links, strict=True):
        listed = base64.b64decode(link).decode().splitlines()
        assert (
            listed[0] == "id"
            and listed[1:] == check.ids["id"].cast(pl.String).unique(maintain_order=True).to_list()
        )
    # Where the rest are, in the page's terms: the link to every id and the SQL shown below.
    for check, name in zip(big, named, strict=True):
        section = html.split(f'<section id="check-{check.name}">')[1].split("</section>")[0]
        what = {"reused_job_ids": "reused job runs", "unknown_origin": "entities of unknown origin"}
        counted = f"The first 5 of {check.ids.height:,} {what.get(check.name, 'offending rows')} are shown"
        note = section[section.index(counted) :].split("</p>")[0]
        assert name in note and "SQL" in note and "<code>ids</code>" not in note
    # A notebook, which has no link, names the result's frame, or for a breakdown its place.
    monkeypatch.setattr(report_module, "ROWS_IN_NOTEBOOK", 5)
    notebook = lla.report.check_html(big[0])
    listed = lla.audit.history.ids_title(big[0].name)
    assert f"{listed} are shown; the check's <code>ids</code> frame and its SQL have them all" in notebook
    name, frame = next((n, f) for c in big for n, f in c.breakdowns.items() if f.height > 5)
    cut = lla.report.check_html(next(c for c in big if c.breakdowns.get(name) is frame))
    said = (
        f"rows are shown; the check's <code>breakdowns[&quot;{html_escape(name)}&quot;]</code> has them all"
    )
    assert said in cut


@needs_chromium
def test_each_tables_csv_button_saves_a_file_named_after_its_check_and_table(tmp_path):
    """DataTables names every CSV after the page's title; two tables' files would overwrite
    each other in a downloads folder."""
    with lla.sample_store() as store:
        report = lla.verify(store)
    path = report.to_html(tmp_path / "audit.html")
    with browser_page(path) as (page, errors):
        page.wait_for_selector(".dt-container")
        names = []
        for section in ("check-root_job_truth", "check-unknown_origin"):
            buttons = page.locator(f"#{section} button.buttons-csv")
            for n in range(buttons.count()):
                with page.expect_download() as download:
                    buttons.nth(n).click()
                names.append(download.value.suggested_filename)
    assert names == [
        "llamalog-audit-root_job_truth-by-cause.csv",
        "llamalog-audit-root_job_truth-where-they-concentrate.csv",
        "llamalog-audit-root_job_truth-offending-rows.csv",
        "llamalog-audit-unknown_origin-by-type.csv",
        "llamalog-audit-unknown_origin-by-era-of-the-first-row.csv",
        "llamalog-audit-unknown_origin-known-and-unknown-origin-by-era.csv",
        "llamalog-audit-unknown_origin-entities-of-unknown-origin.csv",
    ]
    assert errors == []


def test_the_where_they_concentrate_tables_say_what_share_and_lift_are(tmp_path):
    with lla.sample_store() as store:
        report = lla.verify(store)
    html = report.to_html(tmp_path / "audit.html").read_text(encoding="utf-8")
    concentrated = [c for c in report.checks if "where they concentrate" in c.breakdowns]
    parts = html.split("<h3>where they concentrate</h3>")[1:]
    assert concentrated and len(parts) == len(concentrated)
    for part in parts:
        note = part[: part.index("</p>")]
        assert "share:" in note and "lift:" in note and "Monday" in note
    notebook = lla.report.check_html(concentrated[0])
    assert "lift:" in notebook.split("<h3>where they concentrate</h3>")[1].split("</p>")[0]


# JavaScript listing the text of the CELLS (a selector) that wrap other than after a space or a
# separator (: _ / -), found by where each character is drawn.
BROKEN_INSIDE_A_WORD = """[...document.querySelectorAll('CELLS')].filter(cell => {
  const chars = [], walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node; (node = walk.nextNode()); )
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getClientRects()[0];
      if (box) chars.push([node.data[i], box.top]);
    }
  const wrapped = (i) => i && chars[i][1] > chars[i - 1][1] + 2;
  return chars.some((_, i) => wrapped(i) && !/[\\s_:\\/-]/.test(chars[i - 1][0]));
}).map(cell => cell.textContent)"""


@needs_chromium
@pytest.mark.parametrize("width", [900, 1400])
def test_every_table_fits_its_box_and_wraps_between_words(tmp_path, width):
    """A window 900 px wide: a table of many columns (child_before_parent's nine) fits, its long
    headers breaking between the words of their names (``parent_first_at`` after ``parent_``),
    rather than running past the right edge, cut off, or breaking inside a word; its cells wrap
    after a separator (an operation as ``artist:created:|album-child``, a UUID at a hyphen, a
    time at its space), at 900 px and in a page's 1,150 px alike."""
    with lla.sample_store() as store:
        path = lla.verify(store).to_html(tmp_path / "audit.html")
    with browser_page(path, width=width) as (page, errors):
        page.wait_for_selector(".dt-container")
        screenshot(page, f"report-{width}")
        hidden = page.evaluate(
            """[...document.querySelectorAll('section .dt-layout-cell')]
              .filter(box => box.scrollWidth > box.clientWidth)
              .map(box => box.closest('section').id)"""
        )
        assert hidden == []
        rightmost = (
            "Math.max(...[...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right))"
        )
        assert page.evaluate(rightmost) <= width
        # A header or cell wraps only between words: after a space or a separator, never inside a word.
        broken = page.evaluate(BROKEN_INSIDE_A_WORD.replace("CELLS", "th, table.dataTable td"))
        assert broken == []
    assert errors == []


@needs_chromium
def test_the_notebook_view_wraps_its_cells_between_words(tmp_path):
    """In a notebook cell 900 px wide the offending rows' table wraps an operation after a
    separator, never a status (SUCCES|S) or a name (MANUAL_DATA_QUALITY_UP|DATE) inside a word."""
    with lla.sample_store() as store:
        fragment = lla.verify(store)._repr_html_()
    path = tmp_path / "cell.html"
    path.write_text(f'<!doctype html><meta charset="utf-8"><body style="width:760px">{fragment}</body>')
    with browser_page(path, width=900) as (page, errors):
        screenshot(page, "report-notebook-900")
        assert page.locator("td .id").count() > 100
        assert page.evaluate(BROKEN_INSIDE_A_WORD.replace("CELLS", "td")) == []
    assert errors == []


@needs_chromium
def test_numbers_read_with_thousands_separators_yet_sort_and_save_as_numbers(tmp_path):
    """A count of 12345 reads "12,345" in a table; the column still sorts by value (900 before
    1,000) and its CSV holds the number itself, under the column's name as it is."""
    sizes = pl.DataFrame(
        {"value": ["a", "b", "c"], "offending_rows": [12345, 900, 1000], "lift": [1234.5, 0.25, 3.0]}
    )
    with lla.sample_store() as store:
        report = lla.verify(store)
    checks = tuple(
        replace(c, breakdowns={**c.breakdowns, "by size": sizes}) if c.name == "reused_job_ids" else c
        for c in report.checks
    )
    path = replace(report, checks=checks).to_html(tmp_path / "audit.html")
    with browser_page(path) as (page, errors):
        table = page.locator("h3:text-is('by size') + div .dt-container")
        table.wait_for()

        def column(n):
            return [cell.inner_text() for cell in table.locator(f"tbody td:nth-child({n})").all()]

        assert column(2) == ["12,345", "900", "1,000"] and column(3) == ["1,234.5", "0.25", "3"]
        table.get_by_role("button", name="offending_rows: Activate to sort").click()
        assert column(2) == ["900", "1,000", "12,345"]
        with page.expect_download() as download:
            table.locator("button.buttons-csv").click()
        saved = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert list(csv.reader(saved.strip().splitlines())) == [
        ["value", "offending_rows", "lift"],
        ["b", "900", "0.25"],
        ["c", "1000", "3"],
        ["a", "12345", "1234.5"],
    ]
    assert errors == []


def test_the_heading_of_a_checks_list_names_what_it_holds(tmp_path):
    """Offending rows, except where a check lists job runs or entities."""
    with lla.sample_store() as store:
        report = lla.verify(store)
    html = report.to_html(tmp_path / "audit.html").read_text(encoding="utf-8")
    headings = {
        part.split('"')[0]: re.findall(r"<h3>([^<]+ \([\d,]+\))</h3>", part)
        for part in html.split('<section id="check-')[1:]
    }
    named = {"reused_job_ids": "Reused job runs", "unknown_origin": "Entities of unknown origin"}
    assert headings == {
        c.name: [f"{named.get(c.name, 'Offending rows')} ({c.ids.height:,})"] if c.ids.height else []
        for c in report.checks
    }
    entities = report.check("unknown_origin")
    assert f"<h3>Entities of unknown origin ({entities.ids.height:,})</h3>" in lla.report.check_html(entities)


def test_a_notebooks_tables_read_numbers_as_the_page_does():
    """In a notebook's view of a check, as in the page's tables, numbers stand right-aligned with
    thousands separators (``12,345``), and a whole float reads as the whole number it is."""
    from llamalog_analytics.report import _plain_table

    frame = pl.DataFrame({"value": ["MUSICBRAINZ_FETCH"], "rows": [12_345], "share": [0.317], "lift": [4.0]})
    table = _plain_table(frame, "category_backfill", "where they concentrate")
    cells = re.findall(r"<td( class=\"number\")?>(.*?)</td>", table)
    assert [(bool(number), re.sub("<[^>]+>", "", text)) for number, text in cells] == [
        (False, "MUSICBRAINZ_FETCH"),
        (True, "12,345"),
        (True, "0.317"),
        (True, "4"),
    ]
