"""Audit charts: what each figure counts agrees with the store."""

from __future__ import annotations

import pytest

import llamalog_analytics as lla
from llamalog_analytics import charts, schema, style
from llamalog_analytics.errors import ArgumentError


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
    assert names == [label for label in labels if label in names]
    assert figure.data[names.index("FAILED")].marker.color == "#c62828"
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


def test_graph_drawing_colours_categories_and_summarises_big_graphs(sample):
    album = sample.execute(
        "SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    small = charts.graph_figure(lla.provenance_graph(sample, "ALBUM", album))
    rows = {t.name: t for t in small.data if t.name.startswith("row: ")}
    assert "row: CREATED 🦙" in rows and rows["row: CREATED 🦙"].marker.symbol == "star"
    assert "album" in {t.name for t in small.data}
    whole = lla.provenance_graph(sample)
    big = charts.graph_figure(whole)
    assert big.layout.title.text.startswith(f"Provenance graph (summary: {charts.GRAPH_NODES_SHOWN} of ")
    assert [t.name for t in big.data] == ["links", "job"]
    assert len(big.data[1].x) == charts.GRAPH_NODES_SHOWN
