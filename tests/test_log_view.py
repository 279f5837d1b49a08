"""``lla.log_table``: log rows as the admin log table shows them, read in headless Chromium."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from conftest import browser_page, needs_chromium, screenshot

import llamalog_analytics as lla
from llamalog_analytics._html import WHOLE_ROWS
from llamalog_analytics.errors import ArgumentError
from llamalog_analytics.sample import DEMO_ALBUM

ALBUM = DEMO_ALBUM  # its chain has ancestors, descendants and reused job ids


@pytest.fixture(scope="module")
def chain_rows():
    with lla.sample_store() as store:
        return lla.chain(store, "ALBUM", ALBUM)


def page_of(html: str, folder) -> object:
    path = folder / "table.html"
    path.write_text(f"<!DOCTYPE html><html><body>{html}</body></html>", encoding="utf-8")
    return path


def test_pages_say_which_rows_they_show_and_drop_none():
    rows = pl.DataFrame({"id": [str(n) for n in range(1_200)], "operation": ["op"] * 1_200})
    table = lla.log_table(rows)
    assert (table.pages, table.caption()) == (3, "rows 1-500 of 1,200")
    shown = [re.findall(r"&quot;id&quot;: &quot;(\d+)&quot;", table.page(n).to_html()) for n in (1, 2, 3)]
    assert [len(s) for s in shown] == [500, 500, 200]
    assert sorted(int(i) for s in shown for i in s) == list(range(1_200))
    assert ".page(2)" in table.to_html()
    with pytest.raises(ArgumentError, match="pages run from 1 to 3"):
        table.page(4)
    assert lla.log_table(rows.head(1)).caption() == "1 row"
    with pytest.raises(ArgumentError, match=r"the rows lack id, operation\. Hint: pass log rows"):
        lla.log_table(pl.DataFrame({"a": [1, 2]}))
    with pytest.raises(ArgumentError, match=r"log rows are a polars DataFrame, not a value of type str"):
        lla.log_table("llama_logs")  # type: ignore[arg-type]
    assert lla.log_table(rows.lazy()).caption() == "rows 1-500 of 1,200"  # type: ignore[arg-type]


def test_log_text_is_escaped_and_odd_values_still_show(chain_rows):
    hostile = chain_rows.head(1).with_columns(
        operation=pl.lit("<script>alert(1)</script>"),
        error_message=pl.lit("<img src=x onerror=alert(2)>"),
        entity_id=pl.lit('"><b>id</b>'),
        job_id=pl.lit("<i>job</i>&amp;" * 4),
        metadata=pl.lit('{"title": "</pre><script>alert(3)</script>"}'),
    )
    html = lla.log_table(hostile, title="<u>title</u>").to_html()
    for raw in ("<script>alert", "<img src=x", "<b>id</b>", "<i>job</i>", "</pre><script>", "<u>title"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"&[a-z#0-9]*…", html)  # text is cut before it is escaped, not in an entity
    # A frame as a person may hold it: times as text, numeric job ids.
    odd = chain_rows.head(2).with_columns(created_at=pl.lit("yesterday <noon>"), job_id=pl.lit(7))
    html = lla.log_table(odd).to_html()
    assert "yesterday &lt;noon&gt;" in html and ">7<" in html  # one run of 7: no run said
    assert ">7 #1<" in lla.log_table(odd, reused=["7"]).to_html()  # 7 ran again beyond these rows
    # an id with a later run among the rows is named with each row's run, as the timeline does
    html = lla.log_table(odd.with_columns(job_instance=pl.Series([1, 2], dtype=pl.Int32))).to_html()
    assert ">7 #1<" in html and ">7 #2<" in html


@needs_chromium
def test_a_chain_reads_like_the_admin_log_table(chain_rows, tmp_path):
    path = page_of(lla.log_table(chain_rows, title="its provenance chain").to_html(), tmp_path)
    with browser_page(path, width=1400) as (page, errors):
        head = page.locator(".llamalog-head")
        assert head.inner_text().split()[:3] == ["LlamaLog", "its", "provenance"]
        rows = page.locator("tbody > tr:not(.details)")
        assert rows.count() == chain_rows.height
        first = rows.nth(0).locator("td")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", first.nth(1).inner_text())
        # Category badges carry their name (never colour alone); CREATED carries the llama drawing.
        badges = page.locator("span.badge.category")
        assert {b.inner_text().strip() for b in badges.all()} == set(chain_rows["category"].unique())
        created = page.locator("span.badge.category", has_text="CREATED").first
        assert created.locator("svg[aria-label=llama]").bounding_box()["width"] >= 10

        # Relation and depth show as indentation: a descendant starts right of its entity's own rows.
        def indent(relation: str) -> float:
            n = chain_rows["relation"].to_list().index(relation)
            return rows.nth(n).locator("td").nth(3).locator("span").first.bounding_box()["x"]

        assert indent("descendant") > indent("self")
        # Details are hidden until the row is opened, then show its JSON, pretty-printed.
        details = page.locator("tr.details").nth(2)
        assert not details.is_visible()
        rows.nth(2).locator("label").click()
        assert details.is_visible()
        document = json.loads(details.inner_text())
        assert isinstance(document["metadata"], dict)  # the JSON column as JSON, not a quoted string
        assert document["id"] == chain_rows["id"][2]
        screenshot(page, "log-table")
    assert errors == []


@needs_chromium
def test_a_short_table_shows_every_row_and_a_longer_one_scrolls_in_its_box(tmp_path):
    """Up to WHOLE_ROWS rows the table shows whole (no row cut off by its box); past them it
    scrolls inside a box of fixed height."""
    with lla.sample_store() as store:
        rows = store.frame(f"SELECT * FROM llama_logs ORDER BY created_at, id LIMIT {WHOLE_ROWS + 1}")
    tables = [lla.log_table(rows.head(n)).to_html() for n in (WHOLE_ROWS, WHOLE_ROWS + 1)]
    with browser_page(page_of("".join(tables), tmp_path)) as (page, errors):
        boxes = page.locator(".llamalog-scroll")
        short, longer = (boxes.nth(n).evaluate("box => box.scrollHeight - box.clientHeight") for n in (0, 1))
    assert short == 0 and longer > 0
    assert errors == []


@needs_chromium
def test_the_llama_is_drawn_without_an_emoji_font(chain_rows, tmp_path):
    """On a machine with no emoji font, every llama in the table is a drawing beside its text, and
    no llama is left as a character to turn into an empty box."""
    path = page_of(lla.log_table(chain_rows).to_html(), tmp_path)
    with browser_page(path, emoji_font=False) as (page, errors):
        assert "🦙" not in page.inner_text("body")
        llamas = page.locator("svg[aria-label=llama]")
        created = (chain_rows["category"] == "CREATED").sum()
        assert llamas.count() == 1 + created  # the header's and one per CREATED badge
        for n in range(llamas.count()):
            box = llamas.nth(n).bounding_box()
            assert box["width"] >= 10 and box["height"] >= 10
            assert llamas.nth(n).locator("xpath=..").inner_text().split()[0] in ("LlamaLog", "CREATED")
        screenshot(page, "log-table-no-emoji-font")
    assert errors == []


def test_a_row_naming_its_subject_by_its_own_id_column_alone_shows_that_id():
    album = "a1000000-0000-4000-8000-0000000000aa"  # an admin correction: album_id set, entity_id NULL
    rows = pl.DataFrame(
        {
            "id": ["r1"],
            "entity_type": ["ALBUM"],
            "entity_id": [None],
            "album_id": [album],
            "operation": ["x"],
        },
        schema_overrides={"entity_id": pl.String},
    )
    assert f'data-copy="{album}"' in lla.log_table(rows).to_html()


@needs_chromium
def test_a_long_error_takes_two_lines_of_its_row_and_keeps_the_whole_in_its_title(chain_rows, tmp_path):
    """A failed row's error shows its first two lines (a stack of text made the row many lines
    tall, mostly blank); the whole message is in the cell's title and the row's details."""
    message = "Unexpected token } in JSON at position 4096: " + "while reading the cover art response " * 12
    rows = chain_rows.head(3).with_columns(
        status=pl.Series(["SUCCESS", "FAILED", "SUCCESS"]), error_message=pl.Series([None, message, None])
    )
    path = page_of(lla.log_table(rows).to_html(), tmp_path)
    with browser_page(path, width=1000) as (page, errors):
        rows = page.locator("tbody > tr:not(.details)")
        plain, failed = (rows.nth(n).bounding_box()["height"] for n in (0, 1))
        line, title = page.evaluate(
            """() => { const cell = document.querySelectorAll("tbody td.error")[1];
                       const titled = cell.querySelector("[title]");
                       return [parseFloat(getComputedStyle(cell).lineHeight), titled && titled.title]; }"""
        )
        assert failed < plain + 1.5 * line  # one more line than a row of one line, no more
        assert title == message
        screenshot(page, "log-table-long-error")
    assert errors == []


@needs_chromium
def test_the_store_summary_keeps_table_names_and_category_counts_whole(tmp_path):
    """In a notebook cell of a 900 px window a table's name reads whole (it broke as
    ``enrich|ment_l|ogs``) and each category's count stays beside its badge."""
    with lla.sample_store() as store:
        html = lla.summarize(store)._repr_html_()
    path = page_of(f'<div style="width: 780px">{html}</div>', tmp_path)
    with browser_page(path, width=900) as (page, errors):
        names, counts = page.evaluate(
            """() => {
              const lines = (r, e) => Math.round(r.height / parseFloat(getComputedStyle(e).lineHeight));
              const names = Array.from(document.querySelectorAll("table:first-of-type tbody td:first-child"),
                (td) => [td.textContent.trim(), lines(td.firstElementChild.getBoundingClientRect(), td)]);
              const counts = Array.from(document.querySelectorAll("td .badge.category"), (badge) => {
                const range = document.createRange();
                range.selectNodeContents(badge.nextSibling);
                const r = range.getBoundingClientRect(), b = badge.getBoundingClientRect();
                const beside = r.height < 1.5 * b.height && Math.abs(r.top - b.top) < b.height;
                return [badge.textContent.trim(), beside];
              });
              return [names, counts];
            }"""
        )
        screenshot(page, "store-summary-900")
    assert names == [["enrichment_logs", 1], ["llama_logs", 1]]
    assert len(counts) == 7 and all(beside for _, beside in counts), counts
    assert errors == []
