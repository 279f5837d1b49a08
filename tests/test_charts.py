"""Audit charts: what each figure counts agrees with the store, and what a reader sees in the
browser: legends clear of the toolbar and the axes, whole-number ticks, migration labels that
do not pile up. Screenshots go to ``tests/screenshots/`` (git-ignored)."""

from __future__ import annotations

import re

import pytest
from conftest import browser_page, figure_text, needs_chromium, screenshot

import llamalog_analytics as lla
from llamalog_analytics import _plotly, charts, schema, style
from llamalog_analytics.errors import ArgumentError
from llamalog_analytics.report import report_charts

# Bounding boxes of what plotly drew in one figure's <div>, in page pixels (the toolbar's too:
# plotly keeps it in the page, shown on hover).
BOXES = """([id, selector]) => Array.from(document.getElementById(id).querySelectorAll(selector)).map((e) => {
  const r = e.getBoundingClientRect();
  return {x: r.x, y: r.y, w: r.width, h: r.height, text: e.textContent};
}).filter((b) => b.w > 0 && b.h > 0)"""
COUNT = re.compile(r"^\d{1,3}(,\d{3})*$")  # 0, 25, 1,000: whole numbers, thousands separated


@pytest.fixture(scope="module")
def sample():
    with lla.sample_store() as store:
        yield store


def test_categories_over_time_stacks_every_row(sample):
    figure = charts.categories_over_time(sample, every="month")
    assert figure.layout.barmode == "stack"
    assert sum(sum(t.y) for t in figure.data) == sample.execute("SELECT count(*) FROM llama_logs")[0][0]
    names = [t.name for t in figure.data]
    labels = [style.category_style(c).label for c in schema.CATEGORIES]
    assert names == [label for label in labels if label in names] and "CREATED" in names
    assert figure.data[names.index("FAILED")].marker.color == "#c62828"
    assert style.LLAMA not in figure_text(figure)  # legends need no emoji font
    assert figure.layout.yaxis.tickformat == ",d"
    with pytest.raises(ArgumentError, match="use day, week or month"):
        charts.categories_over_time(sample, every="fortnight")


def test_failure_rate_matches_the_table(sample):
    (bars,) = charts.failure_rate(sample).data
    worst = sample.execute(
        "SELECT operation, count(*) FILTER (status = 'FAILED') / count(*) AS rate FROM llama_logs "
        "GROUP BY ALL ORDER BY rate DESC, count(*) FILTER (status = 'FAILED') DESC, operation LIMIT 1"
    )[0]
    assert (bars.y[0], bars.x[0]) == pytest.approx(worst)
    assert list(bars.x) == sorted(bars.x, reverse=True)


def test_audit_charts_come_from_the_report(sample):
    report = lla.verify(sample)
    counts = charts.category_counts(report.summary["categories"])
    assert [t.name for t in counts.data] == list(report.summary["categories"])
    assert list(counts.data[0].x) == list(schema.CATEGORIES)
    mismatches = charts.backfill_mismatches(report)
    assert mismatches.layout.title.text == "Category backfill mismatches by operation and status"
    assert report.check("category_backfill").status == "warn"  # the rules differ from the intent only
    assert [a.text for a in mismatches.layout.annotations] == [
        "no mismatches: every row carries the category the migration's rules, as applied, gave it"
    ]
    assert (
        mismatches.layout.xaxis.visible is False and mismatches.layout.yaxis.visible is False
    )  # no 0-6 scale
    weeks = charts.rows_per_week(report.summary)  # the audit's migrations, unless told otherwise
    assert len(weeks.layout.shapes) == len(charts.MARKED_MIGRATIONS)
    assert (weeks.data[0].xperiod, weeks.data[0].xperiodalignment) == (7 * 86_400_000, "middle")
    eras = charts.origin_coverage(report).data[0].y  # each era by the day its migration was applied
    applied = report.summary["migrations"]["20260209194819_rename_enrichmentlog_to_llamalog"]
    assert f"{applied[:10]} rename enrichmentlog to llamalog" in eras and applied[:10] != "2026-02-09"


def test_small_counts_tick_whole_numbers_and_migrations_get_a_level_each():
    few = charts.category_counts({"now": {"CREATED": 2, "FAILED": 1}})
    assert (few.layout.yaxis.dtick, few.layout.yaxis.tickformat) == (1, ",d")  # not 0, 0.5, 1, 1.5
    summary = {
        "rows_per_week": {"2026-02-02": 3, "2026-02-09": 7},
        "migrations": {
            "20260206154227_add_parent_job_id": "2026-02-06 21:42:27 UTC",
            "20260209194819_rename_enrichmentlog_to_llamalog": "2026-02-10 01:48:19 UTC",
            "20260210103953_add_root_job_id": "2026-02-10 16:39:53 UTC",
        },
    }
    figure = charts.rows_per_week(summary, marked=tuple(summary["migrations"]))
    labels = figure.layout.annotations
    assert [a.text for a in labels] == [
        "add parent job id · 2026-02-06 21:42",
        "rename enrichmentlog to llamalog · 2026-02-10 01:48",
        "add root job id · 2026-02-10 16:39",
    ]
    assert all(a.textangle is None for a in labels) and len({a.y for a in labels}) == 3  # horizontal, stacked
    assert 7 / figure.layout.yaxis.range[1] < labels[-1].y - 0.05  # the tallest bar stays under them


@needs_chromium
def test_what_the_charts_show_in_a_browser(sample, tmp_path):
    """Every chart of the report and the notebooks, drawn: the legend clear of the toolbar, the
    plot and the axis labels; count ticks read as whole numbers; migration labels apart."""
    report = lla.verify(sample)
    figures = {
        "categories over time": charts.categories_over_time(sample),
        "failure rate": charts.failure_rate(sample),
        "category counts": charts.category_counts(report.summary["categories"]),
        "few rows": charts.category_counts({"now": {"CREATED": 2, "FAILED": 1}}),
    }
    figures |= {
        f"report: {title}": figure for title, figure in report_charts(report)
    }  # as the report shows them
    ids = {title: f"chart-{n}" for n, title in enumerate(figures)}
    page_html = "".join(
        f"<h2>{title}</h2>{_plotly.figure_html(figure, ids[title])}" for title, figure in figures.items()
    )
    path = tmp_path / "charts.html"
    path.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{page_html}'
        f"{_plotly.plotly_script()}</body></html>",
        encoding="utf-8",
    )
    with browser_page(path, width=1000, height=900) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        screenshot(page, "charts")
        legends = 0
        for title, element in ids.items():
            boxes = {
                part: page.evaluate(BOXES, [element, selector])
                for part, selector in {
                    "legend": ".legend .bg",
                    "toolbar": ".modebar",
                    "plot": ".nsewdrag",
                    "axis labels": ".xtick text, .ytick text, .g-xtitle text, .g-ytitle text",
                    "migrations": ".annotation",
                    "bars": ".bars path",
                }.items()
            }
            legends += len(boxes["legend"])
            for legend in boxes["legend"]:
                for other in ("toolbar", "plot", "axis labels"):
                    assert not any(overlap(legend, box) for box in boxes[other]), (title, other)
            labels = boxes["migrations"]
            assert not any(overlap(a, b) for a in labels for b in labels if a is not b), title
            assert all(box["w"] > box["h"] for box in labels), title  # read left to right
            assert not any(overlap(label, bar) for label in labels for bar in boxes["bars"]), title
            horizontal = "failure" in title or "origin" in title  # counts run along x
            counts = page.evaluate(BOXES, [element, ".xtick text" if horizontal else ".ytick text"])
            if "failure" not in title and "backfill" not in title and "differ" not in title:
                assert counts and all(COUNT.match(box["text"]) for box in counts), (title, counts)
        assert legends  # the legend checks above saw legends
        few = [box["text"] for box in page.evaluate(BOXES, [ids["few rows"], ".ytick text"])]
        assert few == ["0", "1", "2"]
        assert (
            len(page.evaluate(BOXES, [ids["report: Rows per week and the migrations (UTC)"], ".annotation"]))
            == 3
        )
    assert errors == []


def overlap(a: dict, b: dict) -> bool:
    """Whether two boxes share more than a pixel."""
    return min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > 1 and (
        min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > 1
    )
