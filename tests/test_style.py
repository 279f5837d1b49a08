"""One look per category: every figure the package draws takes its colours and symbols from style."""

from __future__ import annotations

import re

import pytest
from conftest import busiest_album

import llamalog_analytics as lla
from llamalog_analytics import charts, schema, style
from llamalog_analytics.report import report_charts

LABELS = {look.label: category for category, look in style.CATEGORY_STYLES.items()}


def figures(store: lla.LogStore) -> dict[str, object]:
    album = busiest_album(store)
    report = lla.verify(store)
    drawn = {
        "timeline": lla.plot_timeline(store, "ALBUM", album),
        "categories over time": charts.categories_over_time(store),
        "failure rate": charts.failure_rate(store),
        "graph": charts.graph_figure(lla.provenance_graph(store, "ALBUM", album)),
        "category counts": charts.category_counts(report.summary["categories"]),
    }
    drawn |= {f"report: {title}": figure for title, figure in report_charts(report)}
    return drawn


@pytest.fixture(scope="module")
def drawn() -> dict[str, object]:
    with lla.sample_store() as store:
        return figures(store)


def category_of(name: str) -> str | None:
    """The category a trace is drawn for, from its legend name (``row: ENRICHED``, ``CREATED``)."""
    label = re.sub(r" \([\d,]+\)$", "", name or "").removeprefix("row: ")
    return LABELS.get(label) or (label if label in style.CATEGORY_STYLES else None)


def test_every_category_trace_of_every_figure_has_its_style(drawn):
    seen = set()
    for title, figure in drawn.items():
        for trace in figure.data:
            category = category_of(trace.name)
            if category is None:
                continue
            look = style.CATEGORY_STYLES[category]
            assert trace.marker.color == look.colour, (title, trace.name)
            if trace.type in ("scatter", "scattergl"):
                assert trace.marker.symbol == look.symbol, (title, trace.name)
            seen.add((title, category))
    assert {title for title, _ in seen} >= {"timeline", "categories over time", "graph"}
    assert len({category for _, category in seen}) >= 5


def test_failures_are_drawn_in_the_failed_colour_and_flags_in_theirs(drawn):
    assert drawn["failure rate"].data[0].marker.color == style.CATEGORY_STYLES["FAILED"].colour
    flags = {look.label: look for look in style.FLAG_STYLES.values()}
    for trace in drawn["timeline"].data:
        name = re.sub(r" \([\d,]+\)$", "", trace.name)
        if name in flags:
            assert (trace.marker.color, trace.marker.symbol) == (flags[name].colour, flags[name].symbol)


def test_every_styled_status_is_a_status_of_the_schema():
    assert set(style.STATUS_STYLES) <= set(schema.STATUSES)
    assert all(look.label and look.colour.startswith("#") for look in style.STATUS_STYLES.values())
