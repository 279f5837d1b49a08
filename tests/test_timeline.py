"""Entity timelines: lanes in job-tree order, a symbol per category, flags, big chains, HTML, PNG."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import browser_page, needs_chromium, non_blank

import llamalog_analytics as lla
from llamalog_analytics import schema
from llamalog_analytics.cli import main
from llamalog_analytics.errors import TimelineError

ALBUM = str(uuid.uuid5(uuid.NAMESPACE_URL, "timeline-album"))
SPACE = "\u00a0"


def row(name: str, minute: int, operation: str, category: str, job: str | None, **values) -> dict:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "entity_type": "ALBUM",
        "entity_id": ALBUM,
        "album_id": ALBUM,
        "operation": operation,
        "status": "FAILED" if category == "FAILED" else "SUCCESS",
        "retry_count": 0,
        "api_call_count": 0,
        "created_at": (datetime(2026, 3, 1, 12) + timedelta(minutes=minute)).isoformat(),
        "is_root_job": False,
        "category": category,
        "job_id": job,
    } | values


ROWS = [
    row("sync", 0, "album:created", "CREATED", "album-1", parent_job_id="sync-9", duration_ms=0),
    row("enrich", 5, "enrichment:album", "ENRICHED", "100", parent_job_id="album-1", duration_ms=90_000),
    row("cover", 8, "cache:album-cover-art", "CACHED", "101", parent_job_id="100", duration_ms=1_500),
    row("fail", 9, "discogs:get-album", "FAILED", "102", parent_job_id="101", error_message="<b>429</b>"),
    row("early", 4, "enrichment:track", "ENRICHED", "103", parent_job_id="100"),
    row("loop-a", 20, "enrichment:album", "ENRICHED", "L1", parent_job_id="L2"),
    row("loop-b", 21, "enrichment:album", "ENRICHED", "L2", parent_job_id="L1"),
    row("fix", 30, "manual_correction", "CORRECTED", None, user_id="u-1"),
]


@pytest.fixture(scope="module")
def chain_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    (folder / "rows.json").write_text(json.dumps(ROWS))
    with lla.LogStore(folder / "store.duckdb") as store:
        assert store.load_files(folder / "rows.json", quiet=True).rows_rejected == 0
    with lla.LogStore(folder / "store.duckdb", read_only=True) as store:
        yield store


def by_name(figure) -> dict[str, object]:
    return {re.sub(r" \([\d,]+\)$", "", trace.name): trace for trace in figure.data}


def test_lanes_follow_the_job_tree_indented(chain_store):
    figure = lla.plot_timeline(chain_store, "album", ALBUM)
    assert list(figure.layout.yaxis.categoryarray) == [
        "album-1 · album:created",
        f"{SPACE * 2}└ 100 · enrichment:album",
        f"{SPACE * 4}└ 103 · enrichment:track",
        f"{SPACE * 4}└ 101 · cache:album-cover-art",
        f"{SPACE * 6}└ 102 · discogs:get-album",
        "(no job id) · manual_correction",
        "L1 · enrichment:album",  # jobs on a parent loop belong to no tree: they come last
        f"{SPACE * 2}└ L2 · enrichment:album",
    ]
    assert figure.layout.yaxis.autorange == "reversed"
    assert figure.layout.xaxis.title.text == "time (UTC)"
    assert figure.layout.title.text == f"🦙 LlamaLog timeline · ALBUM {ALBUM}"


def test_each_category_has_its_own_colour_and_symbol(chain_store):
    traces = by_name(lla.plot_timeline(chain_store, "ALBUM", ALBUM))
    categories = ["CREATED 🦙", "ENRICHED", "CACHED", "FAILED", "CORRECTED"]
    assert set(categories) <= set(traces)
    symbols = [traces[c].marker.symbol for c in categories]
    colours = [traces[c].marker.color for c in categories]
    assert len(set(symbols)) == len(set(colours)) == len(categories)
    created = traces["CREATED 🦙"]
    assert created.marker.symbol == "star" and list(created.text) == ["🦙"]
    assert all(t.type == "scatter" for t in traces.values())  # small chains stay SVG


def test_anomalies_are_ringed_and_named(chain_store):
    figure = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    traces = by_name(figure)
    lanes = lambda name: sorted(traces[name].y)  # noqa: E731
    assert lanes("⚠ parent's run never logged (dangling)") == ["album-1 · album:created"]
    assert lanes("⚠ run on a parent loop") == ["L1 · enrichment:album", f"{SPACE * 2}└ L2 · enrichment:album"]
    assert lanes("⚠ logged before its parent run") == [  # L1 at 12:20, its parent L2's first row at 12:21
        "L1 · enrichment:album",
        f"{SPACE * 4}└ 103 · enrichment:track",
    ]
    subtitle = figure.layout.title.subtitle.text
    assert "8 rows in 8 job runs" in subtitle
    assert "parent's run never logged (dangling): 1" in subtitle and "run on a parent loop: 2" in subtitle


def test_durations_end_at_their_row_and_zero_durations_stay_visible(chain_store):
    traces = by_name(lla.plot_timeline(chain_store, "ALBUM", ALBUM))
    bars = traces["duration (ends at the row)"]
    starts = list(bars.x[0::3])
    ends = list(bars.x[1::3])
    assert len(starts) == 2  # the 90 s enrichment and the 1.5 s cover; zero and unknown have no bar
    assert {(e - s).total_seconds() for s, e in zip(starts, ends, strict=True)} == {90.0, 1.5}
    created = traces["CREATED 🦙"]
    assert len(created.x) == 1  # the zero-duration row is still a marker


def test_hover_card_says_what_happened_and_escapes_log_text(chain_store):
    traces = by_name(lla.plot_timeline(chain_store, "ALBUM", ALBUM))
    (card,) = traces["FAILED"].hovertext
    assert "<b>discogs:get-album</b> · FAILED · FAILED" in card
    assert "parent job: 101 · run 1" in card and "job: 102 · run 1" in card and "UTC" in card
    assert "error: &lt;b>429&lt;/b>" in card
    (fix,) = traces["CORRECTED"].hovertext
    assert "user: u-1" in fix


def test_a_frame_in_hand_and_filters(chain_store):
    rows = lla.chain(chain_store, "ALBUM", ALBUM, categories=["ENRICHED"])
    figure = lla.plot_timeline(rows)
    assert {t.name for t in figure.data if not t.name.startswith(("⚠", "duration", "parent"))} == {"ENRICHED"}
    filtered = lla.plot_timeline(chain_store, "ALBUM", ALBUM, categories=["FAILED"])
    assert list(filtered.layout.yaxis.categoryarray) == ["102 · discogs:get-album"]
    with pytest.raises(TimelineError, match="no log rows for ALBUM"):
        lla.plot_timeline(chain_store, "ALBUM", str(uuid.uuid4()))
    with pytest.raises(TimelineError, match="name the entity"):
        lla.plot_timeline(chain_store)


def test_a_reused_job_id_gets_one_lane_per_run_and_links_to_the_nearest():
    rows = pl.DataFrame(
        [
            row("feb", 0, "enrichment:album", "ENRICHED", "292"),
            row("feb-child", 1, "cache:album-cover-art", "CACHED", "300", parent_job_id="292"),
            row("apr", 60 * 24 * 40, "enrichment:album", "ENRICHED", "292"),
            row("apr-child", 60 * 24 * 40 + 2, "cache:album-cover-art", "CACHED", "301", parent_job_id="292"),
        ]
    ).with_columns(pl.col("created_at").str.to_datetime())
    nulls = ("root_job_id", "user_id", "triggered_by", "error_message", "metadata")
    rows = rows.with_columns(*(pl.lit(None, pl.String).alias(c) for c in nulls), duration_ms=pl.lit(None))
    figure = lla.plot_timeline(rows)
    assert list(figure.layout.yaxis.categoryarray) == [
        "292 · run 1 · enrichment:album",
        f"{SPACE * 2}└ 300 · cache:album-cover-art",
        "292 · run 2 · enrichment:album",
        f"{SPACE * 2}└ 301 · cache:album-cover-art",
    ]
    assert "⚠ logged before its parent run" not in by_name(figure)
    literal = lla.plot_timeline(rows, link="job_id")  # bare ids: both children hang off one job 292
    assert list(literal.layout.yaxis.categoryarray) == [
        "292 · enrichment:album",
        f"{SPACE * 2}└ 300 · cache:album-cover-art",
        f"{SPACE * 2}└ 301 · cache:album-cover-art",
    ]


def big_chain(jobs: int = 500, rows_per_job: int = 10) -> pl.DataFrame:
    """A root job, child jobs under it and a grandchild under each: ``jobs * rows_per_job`` rows."""
    start = datetime(2026, 3, 1)
    records = []
    for j in range(jobs):
        job, parent = ("root", None) if j == 0 else (f"c{j}", "root") if j % 2 else (f"g{j}", f"c{j - 1}")
        for r in range(rows_per_job):
            records.append(
                {
                    "id": str(uuid.UUID(int=j * rows_per_job + r)),
                    "job_id": job,
                    "parent_job_id": parent,
                    "created_at": start + timedelta(seconds=j * rows_per_job + r),
                    "operation": "enrichment:album",
                    "status": "SUCCESS",
                    "category": schema.CATEGORIES[r % len(schema.CATEGORIES)],
                    "duration_ms": r * 100,
                }
            )
    nulls = [
        pl.lit(None, pl.String).alias(c) for c in ("root_job_id", "user_id", "triggered_by", "error_message")
    ]
    return pl.DataFrame(records).with_columns(*nulls, metadata=pl.lit('{"a": 1}'))


def test_big_chains_switch_to_webgl_and_fold_deep_lanes():
    figure = lla.plot_timeline(big_chain())
    assert {t.type for t in figure.data} == {"scattergl"}
    assert list(figure.layout.yaxis.categoryarray) == [
        "root · enrichment:album",
        f"{SPACE * 2}… 499 jobs below root",
    ]
    assert "499 deeper jobs folded into 1 summary lanes" in figure.layout.title.subtitle.text
    markers = [t for t in figure.data if t.name.split(" ")[0] in schema.CATEGORIES]
    assert sum(len(t.x) for t in markers) == 5_000


def test_folding_keeps_as_many_levels_as_fit():
    rows = big_chain(jobs=50)  # root, 25 children, 24 grandchildren: all 50 lanes fit
    assert len(lla.plot_timeline(rows).layout.yaxis.categoryarray) == 50
    rows = big_chain(jobs=80)  # 40 children with a grandchild each need 80 lanes: fold below the root
    lanes = list(lla.plot_timeline(rows).layout.yaxis.categoryarray)
    assert lanes == ["root · enrichment:album", f"{SPACE * 2}… 79 jobs below root"]


@needs_chromium
def test_timeline_html_opens_offline_in_headless_chromium(chain_store, tmp_path):
    path = lla.write_timeline(lla.plot_timeline(chain_store, "ALBUM", ALBUM), tmp_path / "t.html")
    assert path.stat().st_size < 5_000_000
    with browser_page(path, width=1300, height=800) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        assert page.locator("#timeline .main-svg").first.is_visible()
        assert "🦙 LlamaLog timeline" in page.locator("#timeline .gtitle").text_content()
        assert page.locator("#timeline .point").count() >= len(ROWS)
        assert non_blank(page)
    assert errors == []


@needs_chromium
def test_cli_writes_html_and_png(chain_store, tmp_path):
    runner = CliRunner()
    db = chain_store.path
    for suffix in ("html", "png"):
        out = tmp_path / f"t.{suffix}"
        result = runner.invoke(main, ["timeline", "ALBUM", ALBUM, "--db", db, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "8 rows in 8 job runs" in result.output
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    bad = runner.invoke(main, ["timeline", "ALBUM", ALBUM, "--db", db, "--out", str(tmp_path / "t.svg")])
    assert bad.exit_code == 2 and "cannot tell which format to write timeline in" in bad.output
