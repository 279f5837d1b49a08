"""Entity timelines: lanes in job-tree order, a symbol per category, flags, idle gaps collapsed,
the llama drawn without an emoji font, big chains, HTML, PNG.

The browser tests save what they draw under ``tests/screenshots/`` (git-ignored) and print where.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from datetime import datetime, timedelta

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import (
    browser_page,
    busiest_album,
    figure_text,
    needs_chromium,
    no_emoji_fonts,
    non_blank,
    screenshot,
    store_of,
)

import llamalog_analytics as lla
from llamalog_analytics import links, schema, style, timeline
from llamalog_analytics.cli import main
from llamalog_analytics.errors import ExportError, TimelineError

ALBUM = str(uuid.uuid5(uuid.NAMESPACE_URL, "timeline-album"))
ARTIST = str(uuid.uuid5(uuid.NAMESPACE_URL, "timeline-artist"))
TRACK = str(uuid.uuid5(uuid.NAMESPACE_URL, "timeline-track"))
SPACE = "\u00a0"
LLAMA_RGB = (0xA1, 0x88, 0x7F)  # the llama's fill in style.LLAMA_SVG


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
    row(  # no job id of its own: it sits in the lane of its parent run, album-1
        "artist",
        1,
        "artist:created:album-child",
        "CREATED",
        None,
        parent_job_id="album-1",
        entity_type="ARTIST",
        entity_id=ARTIST,
        artist_id=ARTIST,
        metadata={"artistName": "Radiohead"},
    ),
    row(  # no job id and a parent that never logged: a lane of its entity and operation kind
        "orphan",
        2,
        "track:created:spotify-sync",
        "CREATED",
        None,
        parent_job_id="sync-9",
        entity_type="TRACK",
        entity_id=TRACK,
        track_id=TRACK,
    ),
    row(
        "enrich",
        5,
        "enrichment:album",
        "ENRICHED",
        "100",
        parent_job_id="album-1",
        duration_ms=90_000,
        metadata={"albumTitle": "Kid A", "artistName": "Radiohead"},
    ),
    row("cover", 8, "cache:album-cover-art", "CACHED", "101", parent_job_id="100", duration_ms=1_500),
    row("fail", 9, "discogs:get-album", "FAILED", "102", parent_job_id="101", error_message="<b>429</b>"),
    row("early", 4, "enrichment:track", "ENRICHED", "103", parent_job_id="100"),
    row("loop-a", 20, "enrichment:album", "ENRICHED", "L1", parent_job_id="L2"),
    row("loop-b", 21, "enrichment:album", "ENRICHED", "L2", parent_job_id="L1"),
    row("fix", 30, "manual_correction", "CORRECTED", None, user_id="u-1"),
    row("pool", 40, "game-pool:add-to-pool", "USER_ACTION", None),
    row("pool-again", 41, "game-pool:status-update", "USER_ACTION", None),
]
LANES = [  # as drawn, without the padding that ends them all in one column
    "album-1 · album:created · ALBUM Kid A",
    "└ 100 · enrichment:album · ALBUM Kid A",
    f"{SPACE * 2}├ 103 · enrichment:track · ALBUM Kid A",
    f"{SPACE * 2}└ 101 · cache:album-cover-art · ALBUM Kid A",
    f"{SPACE * 4}└ 102 · discogs:get-album · ALBUM Kid A",
    f"(no job id) · track · TRACK {TRACK[:8]}…",
    "(no job id) · manual_correction · ALBUM Kid A",
    "(no job id) · game-pool · ALBUM Kid A",
    "L1 · enrichment:album · ALBUM Kid A",  # jobs on a parent loop belong to no tree: they come last
    "└ L2 · enrichment:album · ALBUM Kid A",
]


@pytest.fixture(scope="module")
def chain_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    (folder / "rows.json").write_text(json.dumps(ROWS))
    with lla.LogStore(folder / "store.duckdb") as store:
        assert store.load_files(folder / "rows.json", quiet=True).rows_rejected == 0
    with lla.LogStore(folder / "store.duckdb", read_only=True) as store:
        yield store


@pytest.fixture(scope="module")
def sample_album():
    """The sample store and its album with the longest chain."""
    with lla.sample_store() as store:
        yield store, busiest_album(store)


def by_name(figure) -> dict[str, object]:
    return {re.sub(r" \([\d,]+\)$", "", trace.name): trace for trace in figure.data}


def lane_labels(figure) -> list[str]:
    """The lanes' labels, without the padding that ends them all in one column."""
    return [label.rstrip(SPACE) for label in figure.layout.yaxis.ticktext]


def lanes_of(figure, trace) -> list[str]:
    """The lane of each point of ``trace``."""
    return [lane_labels(figure)[round(y)] for y in trace.y if y is not None]


def test_lanes_follow_the_job_tree_and_name_their_entity(chain_store):
    figure = lla.plot_timeline(chain_store, "album", ALBUM)
    assert lane_labels(figure) == LANES
    assert list(figure.layout.yaxis.tickvals) == list(range(len(LANES)))
    assert figure.layout.yaxis.range == (len(LANES) - 0.5, -0.5 - timeline._ABOVE)  # the root on top
    assert figure.layout.xaxis.title.text == "time (UTC)"
    assert figure.layout.title.text == "LlamaLog timeline · ALBUM Kid A"
    subtitle = figure.layout.title.subtitle.text
    assert subtitle.startswith(f"{ALBUM} · 12 rows: 7 in 7 job runs, 5 without a job id")
    created = by_name(figure)["CREATED"]
    assert lanes_of(figure, created) == [LANES[0], LANES[0], LANES[5]]  # the artist row in album-1's lane
    assert "about: ARTIST Radiohead" in created.hovertext[1]
    pool = by_name(figure)["USER_ACTION"]
    assert lanes_of(figure, pool) == [LANES[7], LANES[7]]  # two game-pool operations, one lane


def test_lane_labels_start_in_one_column_so_the_job_tree_shows(chain_store):
    """Plotly right-aligns tick labels: padded to one width in a monospaced font, they start in
    one column, and a child run's branch sits under its parent's label, on the tree's lines."""
    figure = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    labels = list(figure.layout.yaxis.ticktext)
    assert len({len(label) for label in labels}) == 1  # one width
    assert "monospace" in figure.layout.yaxis.tickfont.family
    (heading,) = [a for a in figure.layout.annotations if a.text.rstrip(SPACE) == timeline.LANES_HEADING]
    assert len(heading.text) == len(labels[0]) and heading.font.family == figure.layout.yaxis.tickfont.family
    assert heading.xanchor == "right" and heading.xshift == -figure.layout.yaxis.ticklabelstandoff
    drawn = lane_labels(figure)
    below_100 = drawn[2:5]  # 103 and 101 are 100's children; 102 is 101's
    assert [label.index("└" if "└" in label else "├") for label in [drawn[1], *below_100]] == [0, 2, 2, 4]
    assert drawn[2].startswith(f"{SPACE * 2}├ 103") and drawn[3].startswith(f"{SPACE * 2}└ 101")
    rows = pl.DataFrame(  # a guide runs down to a later sibling: a │ beside the child of the first
        [
            row("top", 0, "enrichment:album", "ENRICHED", "T"),
            row("first", 1, "enrichment:album", "ENRICHED", "A", parent_job_id="T"),
            row("its-child", 2, "cache:album-cover-art", "CACHED", "A1", parent_job_id="A"),
            row("second", 3, "enrichment:track", "ENRICHED", "B", parent_job_id="T"),
        ]
    ).with_columns(pl.col("created_at").str.to_datetime())
    about = f"ALBUM {ALBUM[:8]}…"
    assert lane_labels(lla.plot_timeline(rows)) == [
        f"T · enrichment:album · {about}",
        f"├ A · enrichment:album · {about}",
        f"│ └ A1 · cache:album-cover-art · {about}",
        f"└ B · enrichment:track · {about}",
    ]


def test_each_category_has_its_own_colour_and_symbol(chain_store):
    traces = by_name(lla.plot_timeline(chain_store, "ALBUM", ALBUM))
    categories = ["CREATED", "ENRICHED", "CACHED", "FAILED", "CORRECTED", "USER_ACTION"]
    assert set(categories) <= set(traces)
    symbols = [traces[c].marker.symbol for c in categories]
    colours = [traces[c].marker.color for c in categories]
    assert len(set(symbols)) == len(set(colours)) == len(categories)
    assert traces["CREATED"].marker.symbol == "star" and traces["CREATED"].text is None
    assert all(t.type == "scatter" for t in traces.values())  # small chains stay SVG


def test_no_emoji_is_drawn_as_text_the_llama_is_a_picture(chain_store):
    figure = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    assert style.LLAMA not in figure_text(figure)
    images = list(figure.layout.images)
    assert [i.name for i in images] == ["llama: title", "llama: legend"] + ["llama: CREATED"] * 3
    svg = base64.b64decode(images[0].source.removeprefix("data:image/svg+xml;base64,")).decode()
    assert 'aria-label="llama"' in svg and 'fill="#a1887f"' in svg
    created = by_name(figure)["CREATED"]
    assert sorted((i.x, i.y + 0.12) for i in images[2:]) == sorted(zip(created.x, created.y, strict=True))
    assert len(lla.plot_timeline(chain_store, "ALBUM", ALBUM, categories=["FAILED"]).layout.images) == 1


def test_anomalies_are_ringed_and_named(chain_store):
    figure = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    traces = by_name(figure)
    assert sorted(lanes_of(figure, traces["⚠ parent's run never logged (dangling)"])) == sorted(
        [LANES[0], LANES[5]]
    )
    assert sorted(lanes_of(figure, traces["⚠ run on a parent loop"])) == [LANES[8], LANES[9]]
    assert sorted(lanes_of(figure, traces["⚠ logged before its parent run"])) == sorted(
        [LANES[2], LANES[8]]  # 103 at 12:04, its parent 100 at 12:05; L1 at 12:20, L2 at 12:21
    )
    rings = [t for t in figure.data if t.legendgroup == "flags"]
    assert len({t.marker.size for t in rings}) == len(rings) == 3  # L2's two rings, one around the other
    subtitle = figure.layout.title.subtitle.text
    assert "12 rows: 7 in 7 job runs, 5 without a job id" in subtitle
    assert "parent's run never logged (dangling): 2" in subtitle and "run on a parent loop: 2" in subtitle
    cards = [card for t in figure.data if t.legendgroup == "category" for card in t.hovertext]
    looped = [card for card in cards if "⚠ run on a parent loop" in card]
    early = [card for card in cards if "⚠ logged before its parent run" in card]
    assert len(looped) == 2 and len(early) == 2  # each ringed row's card says what its ring does


def test_idle_gaps_are_collapsed_and_said_so(chain_store):
    figure = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    # bursts: 12:00-12:02, 12:03:30-12:05 (the 90 s bar), 12:07:58.5-12:09, 12:20-12:21, 12:30,
    # 12:40-12:41; the pauses between them are cut
    assert "5 idle gaps over 1 min collapsed (34 min 29 s in all)" in figure.layout.title.subtitle.text
    bands = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    gaps = [a for a in figure.layout.annotations if a.text.rstrip(SPACE) != timeline.LANES_HEADING]
    assert [a.text for a in gaps] == ["2 min", "3 min", "11 min", "9 min", "10 min"]  # rounded
    assert "idle 2 min 59 s" in gaps[1].hovertext  # 2 min 58.5 s
    assert len(bands) == 5 and all(band.x0 < band.x1 for band in bands)
    cards = by_name(figure)
    times = {
        card.split("<br>")[1]: x
        for name in ("CREATED", "ENRICHED", "CACHED", "FAILED")
        for x, card in zip(cards[name].x, cards[name].hovertext, strict=True)
    }
    assert (
        times["2026-03-01 12:09:00.000 UTC"]
        < bands[2].x0
        < bands[2].x1
        < times["2026-03-01 12:20:00.000 UTC"]
    )
    # one scale inside bursts: an axis unit is a second, and bars keep their length
    assert times["2026-03-01 12:09:00.000 UTC"] - times["2026-03-01 12:08:00.000 UTC"] == pytest.approx(60)
    low, high = figure.layout.xaxis.range
    assert high - low < 15 * 60  # 41 minutes shown in under 15 minutes of axis
    starts = [label for label in figure.layout.xaxis.ticktext if not label.startswith("+")]
    assert starts[0] == "12:00:00<br>1 Mar 2026" and "12:20:00" in starts  # the date when it changes
    whole = lla.plot_timeline(chain_store, "ALBUM", ALBUM, idle_gap=None)
    assert "idle gap" not in whole.layout.title.subtitle.text and not whole.layout.shapes
    coarse = lla.plot_timeline(chain_store, "ALBUM", ALBUM, idle_gap="9min30s")  # text, as reuse_gap
    assert "2 idle gaps over 9 min 30 s collapsed (21 min in all)" in coarse.layout.title.subtitle.text
    with pytest.raises(TimelineError, match="idle_gap='soon' is not a duration"):
        lla.plot_timeline(chain_store, "ALBUM", ALBUM, idle_gap="soon")
    for zero in ("0", "0s", timedelta(0)):
        with pytest.raises(TimelineError, match=r"idle_gap=.* is not positive: every pause would be cut"):
            lla.plot_timeline(chain_store, "ALBUM", ALBUM, idle_gap=zero)


def test_durations_end_at_their_row_and_zero_durations_stay_visible(chain_store):
    traces = by_name(lla.plot_timeline(chain_store, "ALBUM", ALBUM))
    bars = traces["duration (ends at the row)"]
    starts, ends = list(bars.x[0::3]), list(bars.x[1::3])
    assert len(starts) == 2  # the 90 s enrichment and the 1.5 s cover; zero and unknown have no bar
    assert sorted(round(e - s, 6) for s, e in zip(starts, ends, strict=True)) == [1.5, 90.0]
    enriched = traces["ENRICHED"]
    long = max(range(2), key=lambda n: ends[n] - starts[n])
    assert ends[long] == pytest.approx(enriched.x[list(enriched.y).index(1)])  # the bar ends at its row
    assert all(y % 1 == pytest.approx(0.3) for y in bars.y if y is not None)  # just under the marker
    created = traces["CREATED"]
    assert len(created.x) == 3  # the zero-duration row is still a marker


def test_a_row_that_failed_under_another_category_is_crossed_out(chain_store):
    """An enrichment that failed but is labelled ENRICHED keeps its blue dot, with FAILED's red
    cross over it: without hover, in a PNG, it does not read as a success."""
    failed = pl.col("job_id").is_in(["100", "101"])  # the 90 s enrichment and the cover art
    rows = lla.chain(chain_store, "ALBUM", ALBUM).with_columns(
        status=pl.when(failed).then(pl.lit("FAILED")).otherwise("status")
    )
    figure = lla.plot_timeline(rows)
    traces = by_name(figure)
    cross = traces.get("status FAILED, another category")
    assert cross is not None and cross.name == "status FAILED, another category (2)"
    assert (cross.marker.symbol, cross.marker.color) == ("x-thin", style.CATEGORY_STYLES["FAILED"].colour)
    assert cross.marker.line.color == style.CATEGORY_STYLES["FAILED"].colour and cross.marker.line.width >= 2
    assert cross.marker.size > traces["ENRICHED"].marker.size  # the dot shows inside the cross
    assert cross.legendgroup == "category"
    assert sorted(lanes_of(figure, cross)) == sorted([LANES[1], LANES[3]])
    points = {
        (x, y) for name in ("ENRICHED", "CACHED") for x, y in zip(traces[name].x, traces[name].y, strict=True)
    }
    assert set(zip(cross.x, cross.y, strict=True)) <= points  # over the rows' own markers
    assert all("· FAILED · " in card for card in cross.hovertext)
    assert traces["ENRICHED"].marker.symbol == "circle"  # the category still shows
    # a FAILED row is already a red cross: no second one; nothing failed, no legend entry
    unchanged = by_name(lla.plot_timeline(chain_store, "ALBUM", ALBUM))
    assert "status FAILED, another category" not in unchanged and "FAILED" in unchanged


SAMPLE_ALBUM = "3e8428c2-2d96-4742-8ce3-9cf025319cd4"  # Ágætis byrjun: three CREATED rows record no creation


def test_only_a_row_that_records_a_creation_is_starred(sample_album):
    """As explain and PROV tell it (rules.creation): a collection add whose metadata says the album
    existed, and game-pool rows the category backfill's catch-all labelled CREATED, are no creation."""
    store, _ = sample_album
    figure = lla.plot_timeline(store, "ALBUM", SAMPLE_ALBUM)
    traces = by_name(figure)
    stars, labelled = traces["CREATED"], traces.get("labelled CREATED, no creation")
    assert [card.split("</b>")[0] for card in stars.hovertext] == ["<b>track:created:enrichment"]
    assert labelled is not None and labelled.legendgroup == "category"
    assert sorted(card.split("</b>")[0] for card in labelled.hovertext) == [
        "<b>collection:album-added",
        "<b>game-pool:add-to-pool",
        "<b>game-pool:status-update",
    ]
    assert (labelled.marker.symbol, labelled.marker.color) == (
        "star-open",
        style.CATEGORY_STYLES["CREATED"].colour,
    )
    assert stars.marker.symbol == "star"
    names = [t.name for t in figure.data if t.legendgroup == "category"]
    assert names.index("labelled CREATED, no creation") == names.index("CREATED") + 1  # explained beside it
    cards = {card.split("</b>")[0]: card for card in labelled.hovertext}
    assert (
        "no creation: its metadata says the album existed already (albumCreated false)"
        in (cards["<b>collection:album-added"])
    )
    assert (
        "no creation: the category backfill's catch-all labelled it CREATED; "
        "by the application's rules USER_ACTION" in cards["<b>game-pool:status-update"]
    )
    assert "no creation" not in stars.hovertext[0]
    llamas = [(i.x, round(i.y + 0.12, 6)) for i in figure.layout.images if i.name == "llama: CREATED"]
    assert llamas == [(stars.x[0], stars.y[0])]  # the llama marks the creation alone
    # a frame in hand: the migration's time given, the catch-all's labels are told apart too
    rows = lla.chain(store, "ALBUM", SAMPLE_ALBUM)
    migrated = store.applied_migrations()[schema.CATEGORY_MIGRATION]
    told = by_name(lla.plot_timeline(rows, migrated=migrated))
    assert len(told["CREATED"].x) == 1 and len(told["labelled CREATED, no creation"].x) == 3
    untold = by_name(lla.plot_timeline(rows))  # not given: only the album that existed is told
    assert len(untold["CREATED"].x) == 3 and len(untold["labelled CREATED, no creation"].x) == 1


def test_hover_card_says_what_happened_and_escapes_log_text(chain_store):
    traces = by_name(lla.plot_timeline(chain_store, "ALBUM", ALBUM))
    (card,) = traces["FAILED"].hovertext
    assert "<b>discogs:get-album</b> · FAILED · FAILED" in card
    assert "parent job: 101 · run 1" in card and "job: 102 · run 1" in card and "UTC" in card
    assert f"about: ALBUM Kid A · {ALBUM}" in card
    assert "error: &lt;b>429&lt;/b>" in card
    (fix,) = traces["CORRECTED"].hovertext
    assert "user: u-1" in fix
    rows = lla.chain(chain_store, "ALBUM", ALBUM).with_columns(
        error_message=pl.lit("x" * 150),
        metadata=pl.lit("null"),  # JSON null: no details to show
    )
    cards = [c for t in lla.plot_timeline(rows).data if t.hovertext is not None for c in t.hovertext]
    assert cards and all(f"error: {'x' * 99}…<br>" in c and "details:" not in c for c in cards)


def test_a_frame_in_hand_and_filters(chain_store):
    rows = lla.chain(chain_store, "ALBUM", ALBUM, categories=["ENRICHED"])
    figure = lla.plot_timeline(rows)
    names = {t.name for t in figure.data if t.legendgroup == "category"}
    assert names == {"ENRICHED"}
    assert figure.layout.title.text == "LlamaLog timeline · ALBUM Kid A"  # the entity of its own rows
    anonymous = lla.plot_timeline(rows.drop("relation"))
    assert anonymous.layout.title.text == "LlamaLog timeline · chain"
    filtered = lla.plot_timeline(chain_store, "ALBUM", ALBUM, categories=["FAILED"])
    assert lane_labels(filtered) == ["102 · discogs:get-album · ALBUM Kid A"]  # named as the whole chain
    with pytest.raises(TimelineError, match="no llama_logs rows for ALBUM"):
        lla.plot_timeline(chain_store, "ALBUM", str(uuid.uuid4()))
    with pytest.raises(TimelineError, match="name the entity"):
        lla.plot_timeline(chain_store)
    with pytest.raises(TimelineError, match=r"choose the rows of a store's chain\. Hint: filter the frame"):
        lla.plot_timeline(rows, categories=["FAILED"])  # not drawn as if it were filtered


def test_filters_say_what_they_kept_of_the_whole_chain_and_keep_its_name(chain_store, tmp_path):
    whole = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    assert "12 rows: 7 in 7 job runs, 5 without a job id" in whole.layout.title.subtitle.text
    created = lla.plot_timeline(chain_store, "ALBUM", ALBUM, categories="created")
    assert created.layout.title.text == "LlamaLog timeline · ALBUM Kid A"  # not the bare id
    said = created.layout.title.subtitle.text.replace("<br>", " · ")
    assert f"{ALBUM} · 3 of 12 rows (category CREATED): 1 in 1 job run, 2 without a job id" in said
    timed = lla.plot_timeline(chain_store, "ALBUM", ALBUM, since="2026-03-01T12:05:00Z", until="2026-03-01")
    said = timed.layout.title.subtitle.text.replace("<br>", " · ")
    assert "8 of 12 rows (since 2026-03-01 12:05:00.000 UTC, until 2026-03-01 23:59:59.999 UTC)" in said
    assert timed.layout.title.text == "LlamaLog timeline · ALBUM Kid A"
    both = lla.plot_timeline(
        chain_store, "ALBUM", ALBUM, categories=["ENRICHED", "FAILED"], since="2026-03-01"
    )
    subtitle = both.layout.title.subtitle.text
    assert "(categories ENRICHED, FAILED, since 2026-03-01 00:00:00.000 UTC)" in subtitle
    with pytest.raises(
        TimelineError, match=r"none of the 12 log rows of ALBUM \S+ is kept \(category LINKED\)"
    ):
        lla.plot_timeline(chain_store, "ALBUM", ALBUM, categories=["LINKED"])
    result = CliRunner().invoke(
        main,
        [
            "timeline",
            "ALBUM",
            ALBUM,
            "--db",
            chain_store.path,
            "--out",
            tmp_path / "t.html",
            "--category",
            "CREATED",
        ],
    )
    assert result.exit_code == 0 and "3 of 12 rows (category CREATED)" in result.output, result.output


def test_a_job_id_that_ran_again_elsewhere_in_the_table_names_its_run(tmp_path):
    """A chain holding one run of a job id that ran twice in the table names the run on its lane
    (``292 #1``), as explain says the id ran twice; a frame in hand knows only its own runs."""
    other = str(uuid.uuid5(uuid.NAMESPACE_URL, "another-album"))
    later = {"entity_id": other, "album_id": other}
    rows = [
        row("feb", 0, "enrichment:album", "ENRICHED", "292"),
        row("feb-child", 1, "cache:album-cover-art", "CACHED", "300", parent_job_id="292"),
        row("apr", 60 * 24 * 40, "enrichment:album", "ENRICHED", "292", **later),
    ]
    with store_of(rows, tmp_path) as store:
        figure = lla.plot_timeline(store, "ALBUM", ALBUM)
        alone = lla.plot_timeline(lla.chain(store, "ALBUM", ALBUM))
    about = f"ALBUM {ALBUM[:8]}…"
    assert lane_labels(figure) == [
        f"292 #1 · enrichment:album · {about}",
        f"└ 300 · cache:album-cover-art · {about}",
    ]
    assert lane_labels(alone)[0] == f"292 · enrichment:album · {about}"


def test_a_reused_job_id_gets_one_lane_per_run_and_links_to_the_nearest():
    rows = pl.DataFrame(
        [
            row("feb", 0, "enrichment:album", "ENRICHED", "292"),
            row("feb-child", 1, "cache:album-cover-art", "CACHED", "300", parent_job_id="292"),
            row("apr", 60 * 24 * 40, "enrichment:album", "ENRICHED", "292"),
            row("apr-child", 60 * 24 * 40 + 2, "cache:album-cover-art", "CACHED", "301", parent_job_id="292"),
        ]
    ).with_columns(pl.col("created_at").str.to_datetime())
    figure = lla.plot_timeline(rows)  # a bare frame: columns it lacks read as NULL
    about = f"ALBUM {ALBUM[:8]}…"
    assert lane_labels(figure) == [
        f"292 #1 · enrichment:album · {about}",
        f"└ 300 · cache:album-cover-art · {about}",
        f"292 #2 · enrichment:album · {about}",
        f"└ 301 · cache:album-cover-art · {about}",
    ]
    assert "⚠ logged before its parent run" not in by_name(figure)
    assert "2 idle gaps over 1 min collapsed (40 d in all)" in figure.layout.title.subtitle.text
    april = lla.plot_timeline(links.annotate(rows).slice(2))  # linked over all four rows, shown: April's
    assert lane_labels(april)[0] == f"292 #2 · enrichment:album · {about}"  # not its first run
    literal = lla.plot_timeline(rows, link="job_id")  # bare ids: both children hang off one job 292
    assert lane_labels(literal) == [
        f"292 · enrichment:album · {about}",
        f"├ 300 · cache:album-cover-art · {about}",
        f"└ 301 · cache:album-cover-art · {about}",
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
    assert lane_labels(figure) == ["root · enrichment:album", "└ … 499 jobs below root"]
    assert "499 deeper jobs folded into 1 summary lanes" in figure.layout.title.subtitle.text
    markers = [t for t in figure.data if t.legendgroup == "category"]
    assert sum(len(t.x) for t in markers) == 5_000
    assert len(figure.layout.images) == 2 + 2  # title, legend, and a llama per lane: not one per CREATED row
    # WebGL cannot draw plotly's rangebreaks; the collapsed axis is plain numbers, so it still works
    spread = big_chain(jobs=120).with_columns(
        pl.col("created_at") + pl.duration(days=pl.col("id").str.slice(-3).str.to_integer(base=16) // 16)
    )
    collapsed = lla.plot_timeline(spread)
    assert collapsed.data[0].type == "scattergl" and "idle gaps over 1 min collapsed" in (
        collapsed.layout.title.subtitle.text
    )


def test_folding_keeps_as_many_levels_as_fit():
    rows = big_chain(jobs=50)  # root, 25 children, 24 grandchildren: all 50 lanes fit
    assert len(lla.plot_timeline(rows).layout.yaxis.ticktext) == 50
    rows = big_chain(jobs=80)  # 40 children with a grandchild each need 80 lanes: fold below the root
    assert lane_labels(lla.plot_timeline(rows)) == ["root · enrichment:album", "└ … 79 jobs below root"]


# --- what a person sees ---------------------------------------------------------------------

# Bounding boxes of what plotly drew, in page pixels.
BOXES = """(selector) => Array.from(document.querySelectorAll(selector)).map((e) => {
  const r = e.getBoundingClientRect();
  return {x: r.x, y: r.y, w: r.width, h: r.height, text: e.textContent};
})"""
# Where each llama is drawn, in page pixels: placed in its layout image's box as the SVG's
# preserveAspectRatio says (xMin/xMid/xMax, YMin/YMid/YMax) and its SVG's viewBox (the llama fills
# a 24-unit square at its left; room after it, when the box is wider, is empty).
PICTURES = """() => Array.from(document.querySelectorAll("#timeline image")).map((e) => {
  const href = e.getAttribute("href"), svg = atob(href.split(",")[1]);
  const [, , vw, vh] = svg.match(/viewBox="([^"]*)"/)[1].split(" ").map(Number);
  const align = svg.match(/preserveAspectRatio="(\\w+)/)[1];
  const r = e.getBoundingClientRect(), scale = Math.min(r.width / vw, r.height / vh);
  const at = (name, free) => ({Min: 0, Mid: free / 2, Max: free})[name];
  return {x: r.x + at(align.slice(1, 4), r.width - vw * scale),
          y: r.y + at(align.slice(5, 8), r.height - vh * scale), w: 24 * scale, h: 24 * scale, href};
})"""
# Counts the pixels of an RGB colour (give or take 12 per channel) in boxes of a PNG.
COUNT_COLOUR = """async ([png, boxes, rgb]) => {
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width; canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  return boxes.map(([x, y, w, h]) => {
    const data = context.getImageData(Math.round(x), Math.round(y), Math.round(w), Math.round(h)).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - rgb[0]) <= 12 && Math.abs(data[i + 1] - rgb[1]) <= 12
          && Math.abs(data[i + 2] - rgb[2]) <= 12) n++;
    }
    return n;
  });
}"""


def without_emoji_fonts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Browsers started from now on (kaleido's too) know no emoji font."""
    monkeypatch.setenv("FONTCONFIG_FILE", no_emoji_fonts())


def near(a: dict, b: dict, pixels: float) -> bool:
    """Whether boxes ``a`` and ``b`` are at most ``pixels`` apart."""
    dx = max(b["x"] - (a["x"] + a["w"]), a["x"] - (b["x"] + b["w"]), 0)
    dy = max(b["y"] - (a["y"] + a["h"]), a["y"] - (b["y"] + b["h"]), 0)
    return max(dx, dy) <= pixels


@needs_chromium
def test_the_llama_is_drawn_without_an_emoji_font(chain_store, tmp_path):
    figure = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    path = lla.write_timeline(figure, tmp_path / "t.html")
    with browser_page(path, width=1400, height=900, emoji_font=False) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        text = (
            page.locator("#timeline .main-svg").first.text_content()
            + page.locator("#timeline .main-svg").last.text_content()
        )
        assert not re.search("[\U0001f300-\U0001faff]", text)  # nothing that needs an emoji font
        llamas = page.evaluate(PICTURES)
        assert len(llamas) == 5  # title, legend, three CREATED rows
        assert all(box["href"].startswith("data:image/svg+xml;base64,") for box in llamas)
        assert all(14 <= box["w"] <= 26 for box in llamas), llamas
        (title,) = page.evaluate(BOXES, "#timeline .gtitle")
        created = next(b for b in page.evaluate(BOXES, "#timeline .legendtext") if b["text"] == "CREATED")
        index = next(n for n, t in enumerate(figure.data) if t.name == "CREATED")
        stars = page.evaluate(BOXES, f"#timeline .scatterlayer .trace:nth-child({index + 1}) .point")
        assert title["text"].startswith("LlamaLog timeline") and len(stars) == 3
        # each llama is next to what it marks: the title, the legend's CREATED entry, a star
        beside = [
            [near(llama, title, 12), near(llama, created, 45), sum(near(llama, star, 3) for star in stars)]
            for llama in llamas
        ]
        assert sorted(beside) == [[False, False, 1]] * 3 + [[False, True, 0], [True, False, 0]], beside
        shot = screenshot(page, "timeline-no-emoji-font").read_bytes()
        drawn = page.evaluate(
            COUNT_COLOUR,
            [base64.b64encode(shot).decode(), [[b["x"], b["y"], b["w"], b["h"]] for b in llamas], LLAMA_RGB],
        )
        assert all(n >= 40 for n in drawn), drawn  # each picture is drawn in the llama's colour
    assert errors == []


def overlap(a: dict, b: dict) -> bool:
    """Whether boxes ``a`` and ``b`` share more than a pixel each way."""
    return min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > 1 and (
        min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > 1
    )


@needs_chromium
@pytest.mark.parametrize("width", [1280, 1000, 800])
@pytest.mark.parametrize("chain", ["hand-written", "sample"])
def test_a_narrow_page_clips_and_overlaps_nothing(chain_store, sample_album, tmp_path, width, chain):
    """In a narrow window or a notebook cell the title, subtitle and every legend group stay on
    the page, clear of the toolbar, the time axis and each other, each llama beside what it marks
    (the sample's longest chain has long lane labels, a narrow plot and its time labels turned)."""
    store, album = (chain_store, ALBUM) if chain == "hand-written" else sample_album
    figure = lla.plot_timeline(store, "ALBUM", album)
    path = lla.write_timeline(figure, tmp_path / "t.html")
    with browser_page(path, width=width, height=900) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        (shown,) = page.evaluate(BOXES, "#timeline .main-svg:first-child")
        texts = {
            name: page.evaluate(BOXES, f"#timeline {selector}")
            for name, selector in {
                "title": ".gtitle",
                "subtitle": ".gtitle-subtitle",
                "legend": ".legend .legendtext, .legend .legendgrouptitle text",
                "axis": ".xtick text, .xtitle",
                "lanes": ".ytick text",
            }.items()
        }
        groups = [box["text"] for box in texts["legend"]]
        assert {"category", "bars and lines", "rings: take a second look"} <= set(groups)
        assert any(text.startswith("⚠ logged before its parent run (") for text in groups)
        for name, boxes in texts.items():
            for box in boxes:
                inside = box["x"] >= shown["x"] and box["x"] + box["w"] <= shown["x"] + shown["w"] + 1
                assert inside and box["y"] + box["h"] <= shown["y"] + shown["h"] + 1, (name, box, shown)
        (toolbar,) = page.evaluate(BOXES, "#timeline .modebar")
        assert not any(overlap(toolbar, box) for box in texts["title"] + texts["subtitle"])
        placed = [box for name in ("title", "subtitle", "legend", "axis", "lanes") for box in texts[name]]
        others = [box for name in ("title", "subtitle", "legend") for box in texts[name]]
        clashes = [(a["text"], b["text"]) for a in others for b in placed if a != b and overlap(a, b)]
        assert clashes == []
        llamas = page.evaluate(PICTURES)
        created = next(box for box in texts["legend"] if box["text"] == "CREATED")
        assert any(near(llama, texts["title"][0], 12) for llama in llamas), llamas
        assert any(near(llama, created, 45) for llama in llamas), llamas
        assert not any(overlap(llama, box) for llama in llamas for box in placed)
        screenshot(page, f"timeline-{chain}-{width}px")
    assert errors == []


@needs_chromium
def test_the_png_draws_the_llama_without_an_emoji_font(chain_store, tmp_path, monkeypatch):
    without_emoji_fonts(monkeypatch)
    png = lla.write_timeline(lla.plot_timeline(chain_store, "ALBUM", ALBUM), tmp_path / "t.png").read_bytes()
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><body data-figures=drawn></body>")
    with browser_page(blank) as (page, _):
        width, height = page.evaluate(
            "async (png) => { const i = new Image(); i.src = 'data:image/png;base64,' + png; "
            "await i.decode(); return [i.width, i.height]; }",
            base64.b64encode(png).decode(),
        )
        page.set_content(f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        screenshot(page, "timeline-png-no-emoji-font")
        (llama,) = page.evaluate(
            COUNT_COLOUR, [base64.b64encode(png).decode(), [[0, 0, width, height]], LLAMA_RGB]
        )
    assert llama >= 5 * 40  # five llamas' worth of the llama's colour


@needs_chromium
def test_every_job_and_duration_shows_at_the_default_size(sample_album, tmp_path):
    """On the sample's longest album chain (six months), rows of a lane seconds apart are apart on
    screen and the bars of a second or more are long enough to see; on one unbroken axis they
    are not."""
    store, album = sample_album
    seen = {}
    for name, gap in (("collapsed", lla.timeline.IDLE_GAP), ("unbroken", None)):
        figure = lla.plot_timeline(store, "ALBUM", album, idle_gap=gap)
        path = lla.write_timeline(figure, tmp_path / f"{name}.html")
        with browser_page(path, width=1400, height=1000) as (page, errors):
            page.wait_for_selector("body[data-figures=drawn]")
            per_unit = page.evaluate("document.getElementById('timeline')._fullLayout.xaxis._m")
            screenshot(page, f"timeline-sample-{name}")
            assert errors == []
        bars = by_name(figure)["duration (ends at the row)"]
        lengths = [(e - s) * per_unit for s, e in zip(bars.x[0::3], bars.x[1::3], strict=True)]
        seconds = [(e - s) for s, e in zip(bars.x[0::3], bars.x[1::3], strict=True)]
        points = [
            (y, x) for t in figure.data if t.legendgroup == "category" for x, y in zip(t.x, t.y, strict=True)
        ]
        gaps = [
            (b[1] - a[1]) * per_unit
            for a, b in zip(sorted(points), sorted(points)[1:], strict=False)
            if a[0] == b[0] and b[1] - a[1] >= 1  # same lane, a second or more apart
        ]
        seen[name] = (lengths, seconds, gaps)
    lengths, seconds, gaps = seen["collapsed"]
    assert gaps and any(s >= 1 for s in seconds)  # the checks below have something to check
    assert all(px >= 10 for px, s in zip(lengths, seconds, strict=True) if s >= 1), lengths
    assert all(px >= 6 for px in gaps), gaps
    lengths, seconds, gaps = seen["unbroken"]
    assert max(lengths) < 1 and min(gaps) < 1  # six months across: every job is a dot


@needs_chromium
def test_timeline_html_opens_offline_in_headless_chromium(chain_store, tmp_path):
    path = lla.write_timeline(lla.plot_timeline(chain_store, "ALBUM", ALBUM), tmp_path / "t.html")
    assert path.stat().st_size < 5_000_000
    with browser_page(path, width=1300, height=800) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        assert page.locator("#timeline .main-svg").first.is_visible()
        assert "LlamaLog timeline" in page.locator("#timeline .gtitle").text_content()
        assert page.locator("#timeline .point").count() >= len(ROWS)
        boxes = page.evaluate(BOXES, "#timeline .ytick text")
        ticks = [box["text"].rstrip(f" {SPACE}") for box in boxes]
        assert ticks == [lane.replace(SPACE, " ") for lane in LANES] or ticks == LANES
        (heading,) = [b for b in page.evaluate(BOXES, "#timeline .annotation-text") if "job run" in b["text"]]
        starts = [box["x"] for box in [*boxes, heading]]
        assert max(starts) - min(starts) < 2 and min(starts) >= 0, starts  # one column, none cut off
        screenshot(page, "timeline-lanes")
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
        assert "12 rows: 7 in 7 job runs, 5 without a job id" in result.output
        assert "5 idle gaps over 1 min collapsed" in result.output
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    unbroken = runner.invoke(
        main, ["timeline", "ALBUM", ALBUM, "--db", db, "--out", str(out), "--idle-gap", "off"]
    )
    assert unbroken.exit_code == 0 and "idle gap" not in unbroken.output
    wrong = runner.invoke(
        main, ["timeline", "ALBUM", ALBUM, "--db", db, "--out", str(out), "--idle-gap", "soon"]
    )
    assert wrong.exit_code == 2 and "--idle-gap 'soon' is not a duration" in wrong.output
    bad = runner.invoke(main, ["timeline", "ALBUM", ALBUM, "--db", db, "--out", str(tmp_path / "t.svg")])
    assert bad.exit_code == 2 and "t.svg: its name does not say which format to write" in bad.output
    assert "Hint: end it with one of .html, .htm, .png\n" in bad.output  # no --format to add


def test_a_png_that_cannot_be_written_there_says_so_not_that_the_renderer_is_missing(chain_store, tmp_path):
    """A PNG named in a folder that does not exist (or one may not write in) gets the writer's
    own message, where it was wrapped in 'cannot render a PNG here ... Hint: pip install
    kaleido, and install Chrome', sending the user to install what was there."""
    figure = lla.plot_timeline(chain_store, "ALBUM", ALBUM)
    with pytest.raises(ExportError) as raised:
        lla.write_timeline(figure, tmp_path / "nowhere" / "t.png")
    assert str(raised.value).startswith(f"{tmp_path / 'nowhere' / 't.png'}: there is no folder ")
    assert "kaleido" not in str(raised.value)


def test_a_frame_in_hand_needs_only_the_link_columns_and_says_what_it_lacks(chain_store):
    rows = lla.chain(chain_store, "ALBUM", ALBUM)
    bare = lla.plot_timeline(rows.select("id", "created_at", "operation", "job_id", "parent_job_id"))
    assert "12 rows: 7 in 7 job runs, 5 without a job id" in bare.layout.title.subtitle.text
    no_status = lla.plot_timeline(rows.with_columns(status=pl.lit(None, pl.String)))
    cards = [card for trace in no_status.data if trace.hovertext is not None for card in trace.hovertext]
    rows_cards = [card for card in cards if card and card.startswith("<b>")]
    assert rows_cards and all("· no status ·" in card for card in rows_cards)
    with pytest.raises(TimelineError, match=r"the rows lack id, job_id\. Hint: pass log rows"):
        lla.plot_timeline(rows.drop("id", "job_id"))


def test_runs_whose_labels_read_the_same_keep_lanes_of_their_own():
    rows = pl.DataFrame(
        {
            "id": [str(uuid.uuid5(uuid.NAMESPACE_URL, f"same-label-{n}")) for n in (1, 2)],
            "created_at": [datetime(2026, 3, 1, 12), datetime(2026, 3, 1, 12, 0, 5)],
            "operation": ["enrichment:album"] * 2,
            "job_id": ["spotify-sync-album-batch-0001", "spotify-sync-album-batch-0002"],  # alike for 24
            "parent_job_id": [None, None],
            "entity_type": ["ALBUM"] * 2,
            "entity_id": [ALBUM] * 2,
        },
        schema_overrides={"parent_job_id": pl.String},
    )
    figure = lla.plot_timeline(rows)
    labels = lane_labels(figure)
    assert len(labels) == 2 and labels[0] == labels[1]  # read the same, drawn apart
    ys = sorted({y for trace in figure.data if trace.y is not None for y in trace.y if y is not None})
    assert ys == [0, 1]


def test_rows_logged_in_one_millisecond_of_a_lane_are_drawn_apart():
    """Three rows of one run logged in the same millisecond are three markers a reader can tell
    apart, in their lane, at their time; each hover card says how many share the moment."""
    at = "2026-03-01T12:00:00.250000"
    rows = pl.DataFrame(
        [
            row("burst-1", 0, "enrichment:album", "ENRICHED", "B", created_at=at, parent_job_id=None),
            row("burst-2", 0, "enrichment:album", "ENRICHED", "B", created_at=at),
            row("burst-3", 0, "cache:album-cover-art", "CACHED", "B", created_at=at, status="FAILED"),
            row("later", 1, "enrichment:album", "ENRICHED", "B"),
        ]
    ).with_columns(pl.col("created_at").str.to_datetime())
    figure = lla.plot_timeline(rows)
    markers = [t for t in figure.data if t.legendgroup == "category" and "status FAILED" not in t.name]
    points = [(x, y, card) for t in markers for x, y, card in zip(t.x, t.y, t.hovertext, strict=True)]
    together = [point for point in points if "12:00:00.250 UTC" in point[2]]
    assert len(together) == 3 and len({x for x, _, _ in together}) == 1  # one time
    ys = sorted(y for _, y, _ in together)
    assert all(b - a >= 0.15 for a, b in itertools.pairwise(ys)), ys  # 4.5 px apart or more
    assert {round(y) for y in ys} == {0} and max(ys) - min(ys) <= 0.6  # in their lane
    assert all("3 rows logged in this millisecond in this lane" in card for _, _, card in together)
    (alone,) = [card for _, _, card in points if "12:01:00.000 UTC" in card]
    assert "millisecond" not in alone
    (cross,) = by_name(figure)["status FAILED, another category"].y  # over its own marker
    assert cross in ys


def test_a_category_label_the_schema_does_not_know_is_drawn_as_its_own(chain_store):
    rows = lla.chain(chain_store, "ALBUM", ALBUM)
    relabelled = rows.with_columns(
        pl.when(pl.col("category") == "USER_ACTION")
        .then(pl.lit("user_action"))
        .otherwise("category")
        .alias("category")
    )
    figure = lla.plot_timeline(relabelled)
    markers = [t for t in figure.data if t.legendgroup == "category"]
    assert sum(len(t.x) for t in markers) == rows.height  # every row drawn
    assert by_name(figure)["user_action"].marker.symbol == style.OTHER.symbol


@needs_chromium
@pytest.mark.parametrize(
    "album",
    [
        SAMPLE_ALBUM,  # the README's
        None,  # the longest chain: long lane labels, a narrow plot, nine breaks
        "8adca253-f7e5-4452-b32c-662783628d27",  # the slowest two, notebook 03's
        "3cee61ae-3362-48c3-b354-365cefc3c540",
    ],
)
def test_the_time_ticks_and_break_labels_stand_clear_on_a_900_px_page(sample_album, tmp_path, album):
    """An album's timeline in a window 900 px wide: its time ticks do not overlap (upright where
    they would), nor do the labels of its breaks (a line higher where they would)."""
    store, busiest = sample_album
    path = lla.write_timeline(lla.plot_timeline(store, "ALBUM", album or busiest), tmp_path / "t.html")
    with browser_page(path, width=900, height=900) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        ticks = page.evaluate(BOXES, "#timeline .xtick text")
        labels = page.evaluate(BOXES, "#timeline .annotation-text-g text")
        screenshot(page, f"timeline-{(album or busiest)[:8]}-900px")
    for boxes in (ticks, labels):
        crowded = [(a["text"], b["text"]) for a in boxes for b in boxes if a != b and overlap(a, b)]
        assert len(boxes) >= 4 and crowded == [], crowded
    assert errors == []


# Each element of a selector that plotly clips (it or a group around it has a clip-path: the
# plot's area) with its box, in page pixels, and whether it is clipped.
CLIPPED = """(selector) => Array.from(document.querySelectorAll(selector)).map((e) => {
  let clipped = false;
  for (let n = e; n && n.getAttribute; n = n.parentNode) clipped ||= !!n.getAttribute("clip-path");
  const r = e.getBoundingClientRect();
  return {x: r.x, y: r.y, w: r.width, h: r.height, clipped};
})"""


@needs_chromium
def test_markers_rings_and_llamas_at_the_plot_edges_are_drawn_whole(sample_album, tmp_path):
    """The README's quickstart album starts with a creation ringed as logged before its parent
    run, in the top lane at the axis's left end: its ring, star and llama show whole, none cut
    by the plot's edge, and so does every other row's."""
    store, album = sample_album
    path = lla.write_timeline(lla.plot_timeline(store, "ALBUM", album), tmp_path / "t.html")
    with browser_page(path, width=1280, height=900) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        screenshot(page, "timeline-edges")
        (plot,) = page.evaluate(BOXES, "#timeline .nsewdrag")
        points = page.evaluate(CLIPPED, "#timeline .scatterlayer .point")
        clipped = [c["clipped"] for c in page.evaluate(CLIPPED, "#timeline image")]
        llamas = [box for box, cut in zip(page.evaluate(PICTURES), clipped, strict=True) if cut]

    def inside(box: dict) -> bool:
        return (
            box["x"] >= plot["x"] - 0.5
            and box["y"] >= plot["y"] - 0.5
            and box["x"] + box["w"] <= plot["x"] + plot["w"] + 0.5
            and box["y"] + box["h"] <= plot["y"] + plot["h"] + 0.5
        )

    assert points and not all(inside(p) for p in points)  # some reach past the plot's edge...
    assert [p for p in points if p["clipped"] and not inside(p)] == []  # ...and are not cut there
    assert [box for box in llamas if not inside(box)] == []
    assert errors == []


def test_a_frame_of_another_zones_times_is_drawn_in_utc_and_an_empty_one_is_refused():
    with lla.sample_store() as store:
        rows = lla.chain(store, "ALBUM", "8f6d96c6-c33c-4687-a63b-396b2530e7ce")
    berlin = rows.with_columns(
        pl.col("created_at").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Berlin")
    )
    assert lla.plot_timeline(berlin).to_json() == lla.plot_timeline(rows).to_json()
    with pytest.raises(TimelineError, match=r"the frame has no rows\. Hint: pass log rows"):
        lla.plot_timeline(rows.head(0))


def test_bursts_too_close_for_their_starts_side_by_side_keep_them_for_upright_labels():
    """Ten one-second bursts days apart on a plot 660 px wide: too close for their starts side
    by side, far enough apart for them upright, as the figure turns them: each keeps its start."""
    from llamalog_analytics._clock import TICK_PIXELS, UPRIGHT_PIXELS, Clock

    at = pl.Series([datetime(2026, 2, day, 12) for day in range(1, 11)])
    clock = Clock.of(at, pl.Series([1_000] * 10), idle=timedelta(minutes=1))
    low, high = clock.range
    apart = (clock.bursts[1].x - clock.bursts[0].x) * 660 / (high - low)
    assert UPRIGHT_PIXELS <= apart < TICK_PIXELS
    values, labels = clock.ticks(660)
    starts = dict(zip(values, labels, strict=True))
    assert [starts.get(b.x) for b in clock.bursts] == [f"11:59:59<br>{d} Feb 2026" for d in range(1, 11)]


def test_of_two_bursts_too_close_for_both_starts_the_wider_keeps_its_own():
    """A one-second burst and, two idle minutes later, a ten-minute one, on a plot 300 px wide:
    their starts crowd each other, and the ten minutes took none (the first start was kept), so
    most of the axis had no time; the wide burst keeps its start now, the brief one goes without."""
    from llamalog_analytics._clock import Clock

    at = pl.Series([datetime(2026, 2, 1, 12), *(datetime(2026, 2, 1, 12, 2 + m) for m in range(11))])
    clock = Clock.of(at, pl.Series([1_000] * 12), idle=timedelta(minutes=1))
    brief, wide = clock.bursts
    values, labels = clock.ticks(300)
    starts = dict(zip(values, labels, strict=True))
    assert brief.x not in starts and starts[wide.x] == "12:01:59<br>1 Feb 2026"
