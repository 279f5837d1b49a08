"""explain: how an entity got here, what happened afterward, and the anomalies on its chain."""

from __future__ import annotations

import re

import pytest
from conftest import MIGRATIONS, scenario, store_of

import llamalog_analytics as lla


@pytest.mark.parametrize(
    ("name", "entity", "anomaly"),
    [
        ("sync_batch_dangling_root", 0, "dangling parent: job spotify-sync-batch-9 has no row"),
        ("cycle", 0, "cycle: 2 rows form a parent loop (c1, c2)"),
        ("child_before_parent", 0, "child before parent: 1 row was logged before its parent run's first row"),
        (
            "reused_after_reset",
            0,
            "reused job id: job 7 ran 2 times (2026-01-05, 2026-03-05); this chain follows the 2026-03-05",
        ),
        (
            "reused_parent_never_logged",
            1,
            "dangling parent: job 289's own run never logged a row; the id's one run, on 2026-02-08, lies",
        ),
        ("flat_queue_family", 0, "missing CREATED"),
    ],
)
def test_explain_names_the_anomalies(tmp_path, name, entity, anomaly):
    case = scenario(name)
    query = case["chains"][entity]
    with store_of(case["rows"], tmp_path) as store:
        explanation = lla.explain(store, query["entity_type"], query["entity_id"])
    assert any(a.startswith(anomaly) for a in explanation.anomalies), explanation.anomalies
    assert query["entity_id"] in str(explanation)
    assert "<table" in explanation._repr_html_()


def test_explain_tells_how_it_was_created(tmp_path):
    case = scenario("immediate_parent_creation")
    with store_of(case["rows"], tmp_path) as store:
        explanation = lla.explain(store, "TRACK", case["chains"][0]["entity_id"])
        album = lla.explain(store, "ALBUM", case["rows"][0]["album_id"])
    assert album.created is None  # the track's CREATED row names the album but is not about it
    assert any(a.startswith("missing CREATED") for a in album.anomalies)
    assert explanation.created is not None and explanation.created["operation"] == "track:created:enrichment"
    text = str(explanation)
    assert "how it got here: track:created:enrichment" in text and "root job 200" in text
    assert "entry point: enrichment:album" in text


def test_the_demo_albums_catch_all_created_rows_are_no_creation():
    from llamalog_analytics.sample import DEMO_ALBUM

    with lla.sample_store() as store:
        explanation = lla.explain(store, "ALBUM", DEMO_ALBUM)
    own = explanation.rows.filter(explanation.rows["relation"] == "self")
    # first enriched weeks before a collection add that says it existed; its CREATED rows are a
    # game-pool status update and an add to the pool, which the catch-all labelled
    assert explanation.created is None
    assert (
        "how it got here: no row records its creation; first seen 2026-01-11 19:01:49.128 UTC "
        "(enrichment:album)" in (str(explanation))
    )
    afterward = (
        f"afterward: {own.height - 1} more rows about this album (1 cached, 3 labelled created, 6 enriched)"
    )
    assert afterward in str(explanation)  # the first row seen is how it got here, not afterward
    assert (
        "catch-all CREATED: 2 rows labelled CREATED by the category backfill's catch-all are no creation "
        "(by the application's rules game-pool:status-update is USER_ACTION, game-pool:add-to-pool is "
        "USER_ACTION)"
    ) in explanation.anomalies
    # its rows labelled CREATED are no creation: not a CREATED row missing
    assert (
        "no creation recorded: its 3 rows labelled CREATED record no creation, and no other row records one"
    ) in explanation.anomalies
    assert not any(a.startswith("missing CREATED") for a in explanation.anomalies)
    assert (
        repr(explanation)
        == f"Explanation(ALBUM {DEMO_ALBUM}: 15 chain rows, {len(explanation.anomalies)} anomalies)"
    )
    # its chain's table names a job's run as the timeline does: 204 ran again, in April
    assert ">204 #1<" in explanation._repr_html_() and ">203<" in explanation._repr_html_()


ALBUM = "a1000000-0000-4000-8000-0000000000aa"


def _rows(*rows: tuple[str, str, str | None, str | None, bool, str, str]) -> list[dict]:
    """Log rows from (number, time, job, parent, about the album, category, operation)."""
    return [
        {
            "id": f"00000000-0000-4000-8000-{number:0>12}",
            "entity_type": "ALBUM" if about else None,
            "entity_id": ALBUM if about else None,
            "album_id": ALBUM if about else None,
            "operation": operation,
            "status": "SUCCESS",
            "category": category,
            "job_id": job,
            "parent_job_id": parent,
            "is_root_job": parent is None,
            "created_at": at,
        }
        for number, at, job, parent, about, category, operation in rows
    ]


def test_the_entry_point_is_the_top_run_the_creation_descends_from(tmp_path):
    rows = _rows(  # job 289 ran twice, ten days apart; the album was created under its second run
        ("1", "2026-03-01 12:00:00", "289", None, False, "ENRICHED", "spotify-preview-run"),
        ("2", "2026-03-01 13:00:00", "P", "289", True, "ENRICHED", "preview"),
        ("3", "2026-03-11 12:00:00", "289", None, False, "CREATED", "collection:album-added"),
        ("4", "2026-03-11 13:00:00", "E", "289", True, "CREATED", "album:created"),
        ("5", "2026-03-13 12:00:00", "E", None, False, "ENRICHED", "later-run-of-E"),
    )
    with store_of(rows, tmp_path) as store:
        explanation = lla.explain(store, "ALBUM", ALBUM)
    assert explanation.created["entry"] == "collection:album-added", str(explanation)
    with store_of(rows[3:], tmp_path) as store:  # 289 never logged near it: the creation is the top
        explanation = lla.explain(store, "ALBUM", ALBUM)
    assert explanation.created["chain_root"] == "289" and explanation.created["entry"] == "album:created"


def test_a_creation_on_a_loop_of_parent_links_says_so(tmp_path):
    rows = _rows(
        ("1", "2026-03-01 12:00:00", "A", "B", True, "CREATED", "album:created"),
        ("2", "2026-03-01 13:00:00", "B", "A", False, "ENRICHED", "enrich"),
    )
    with store_of(rows, tmp_path) as store:
        text = str(lla.explain(store, "ALBUM", ALBUM))
    assert (
        "album:created at 2026-03-01 12:00:00.000 UTC by an unknown trigger; on a loop of parent links"
        in text
    )
    assert "cycle: 2 rows form a parent loop (A, B)" in text and "entry point" not in text


def test_a_row_the_backfills_catch_all_labelled_created_is_no_creation(tmp_path):
    rows = _rows(
        ("1", "2026-01-05 12:00:00", None, None, True, "CREATED", "MANUAL_DATA_QUALITY_UPDATE"),
        ("2", "2026-01-06 12:00:00", "9", None, True, "CREATED", "album:created"),
    )
    MIGRATIONS.write_csv(tmp_path / "migrations.csv")  # the category migration: 2026-02-10
    with store_of(rows, tmp_path) as store:
        unknown = lla.explain(store, "ALBUM", ALBUM)  # when the migration ran is not known yet
        store.load_files(tmp_path / "migrations.csv", "_prisma_migrations", quiet=True)
        explanation = lla.explain(store, "ALBUM", ALBUM)
    assert unknown.created["operation"] == "MANUAL_DATA_QUALITY_UPDATE" and len(unknown.anomalies) == 0
    assert (  # but it is said that it may be the catch-all's label
        "perhaps no creation: labelled CREATED, yet CORRECTED by the application's rules, and without "
        "the category migration's time"
    ) in str(unknown)
    assert "perhaps no creation" not in str(explanation)
    assert explanation.created["operation"] == "album:created"
    assert explanation.anomalies[0] == (
        "catch-all CREATED: 1 row labelled CREATED by the category backfill's catch-all is no creation "
        "(by the application's rules MANUAL_DATA_QUALITY_UPDATE is CORRECTED)"
    )
    with store_of(rows[:1], tmp_path) as store:
        store.load_files(tmp_path / "migrations.csv", "_prisma_migrations", quiet=True)
        only = lla.explain(store, "ALBUM", ALBUM)
    assert only.created is None and "how it got here: no row records its creation" in str(only)
    later = _rows(("1", "2026-03-05 12:00:00", None, None, True, "CREATED", "MANUAL_DATA_QUALITY_UPDATE"))
    with store_of(later, tmp_path) as store:  # the application's own label, after the migration
        store.load_files(tmp_path / "migrations.csv", "_prisma_migrations", quiet=True)
        kept = lla.explain(store, "ALBUM", ALBUM)
    assert kept.created["operation"] == "MANUAL_DATA_QUALITY_UPDATE" and not kept.anomalies
    assert "perhaps no creation" not in str(kept)


def test_a_creation_outside_any_job_says_so(tmp_path):
    rows = _rows(("1", "2026-03-01 12:00:00", None, None, True, "CREATED", "MANUAL_ADD"))
    with store_of(rows, tmp_path) as store:
        explanation = lla.explain(store, "ALBUM", ALBUM)
    assert explanation.created["chain_root"] is None
    assert str(explanation).splitlines()[1].endswith("; outside any job"), str(explanation)
    assert str(explanation).splitlines()[2] == "  afterward: 0 more rows about this album, 1 in its chain"


def test_a_label_that_is_no_category_is_counted_apart_from_the_category(tmp_path):
    rows = _rows(
        ("1", "2026-03-01 12:00:00", None, None, True, "CREATED", "MANUAL_ADD"),
        ("2", "2026-03-01 12:05:00", None, None, True, "USER_ACTION", "collection:add"),
        ("3", "2026-03-01 12:06:00", None, None, True, "user_action", "collection:add"),
    )
    with store_of(rows, tmp_path) as store:
        afterward = str(lla.explain(store, "ALBUM", ALBUM)).splitlines()[2]
    assert afterward == (
        "  afterward: 2 more rows about this album "
        "(1 user_action, 1 'user_action' (not a category)), 3 in its chain"
    )


def test_a_created_row_that_says_the_album_existed_is_no_creation(tmp_path):
    rows = _rows(
        ("1", "2026-03-01 12:00:00", None, None, True, "ENRICHED", "enrichment:album"),
        ("2", "2026-03-02 12:00:00", None, None, True, "CREATED", "collection:album-added"),
        ("3", "2026-03-03 12:00:00", None, None, True, "CREATED", "collection:album-added"),
    )
    rows[1]["metadata"] = {"collectionId": "c1", "albumCreated": False, "artistsCreated": 0}
    rows[2]["metadata"] = {"collectionId": "c2", "albumCreated": True, "artistsCreated": 1}
    with store_of(rows, tmp_path) as store:
        explanation = lla.explain(store, "ALBUM", ALBUM)
    assert explanation.created["id"] == rows[2]["id"]  # the one that says it created the album
    assert (
        "no creation: 1 CREATED row says the album existed already (albumCreated false; the first: "
        "collection:album-added at 2026-03-02 12:00:00" in str(explanation)
    )


def test_rows_logged_before_the_creation_are_an_anomaly_not_afterward(tmp_path):
    rows = _rows(
        ("1", "2026-03-01 12:00:00", None, None, True, "ENRICHED", "enrichment:album"),
        ("2", "2026-03-02 12:00:00", None, None, True, "CREATED", "album:created"),
        ("3", "2026-03-03 12:00:00", None, None, True, "ENRICHED", "enrichment:album"),
    )
    with store_of(rows, tmp_path) as store:
        text = str(lla.explain(store, "ALBUM", ALBUM))
    assert "how it got here: album:created at 2026-03-02 12:00:00" in text
    assert "afterward: 1 more row about this album (1 enriched), 3 in its chain" in text
    assert (
        "logged before its creation: 1 row about it came before its CREATED row "
        "(the first: enrichment:album at 2026-03-01 12:00:00.000 UTC)"
    ) in text


def test_a_reused_job_whose_runs_share_a_date_names_the_run_followed_by_its_time(tmp_path):
    rows = _rows(  # with a 6-hour gap, job 289 ran three times on 2026-03-01; the album is under the last
        ("1", "2026-03-01 02:00:00", "289", None, False, "ENRICHED", "enrich"),
        ("2", "2026-03-01 10:00:00", "289", None, False, "ENRICHED", "enrich"),
        ("3", "2026-03-01 18:00:00", "289", None, False, "ENRICHED", "enrich"),
        ("4", "2026-03-01 18:00:01", "E", "289", True, "CREATED", "album:created"),
    )
    with store_of(rows, tmp_path) as store:
        text = str(lla.explain(store, "ALBUM", ALBUM, reuse_gap="6h"))
    assert (
        "reused job id: job 289 ran 3 times (2026-03-01 02:00, 2026-03-01 10:00, 2026-03-01 18:00); "
        "this chain follows the 2026-03-01 18:00 run"
    ) in text, text


def test_runs_that_share_a_minute_are_told_apart_by_their_seconds(tmp_path):
    rows = _rows(  # with a 30-second gap, job 5 ran twice within one minute
        ("1", "2026-03-01 02:00:05", "5", None, False, "ENRICHED", "enrich"),
        ("2", "2026-03-01 02:00:50", "5", None, False, "ENRICHED", "enrich"),
        ("3", "2026-03-01 02:00:51", "E", "5", True, "CREATED", "album:created"),
    )
    with store_of(rows, tmp_path) as store:
        text = str(lla.explain(store, "ALBUM", ALBUM, reuse_gap="30s"))
    assert (
        "reused job id: job 5 ran 2 times (2026-03-01 02:00:05, 2026-03-01 02:00:50); "
        "this chain follows the 2026-03-01 02:00:50 run"
    ) in text, text


def test_a_failure_logged_without_a_message_says_so(tmp_path):
    rows = _rows(
        ("1", "2026-03-01 12:00:00", None, None, True, "CREATED", "album:created"),
        ("2", "2026-03-03 12:00:00", None, None, True, "FAILED", "enrichment:album"),
    )
    with store_of(rows, tmp_path) as store:
        failure = str(lla.explain(store, "ALBUM", ALBUM)).splitlines()[3]
    assert (
        failure
        == "  last failure: enrichment:album at 2026-03-03 12:00:00.000 UTC: no error message or code logged"
    )


def test_a_track_names_its_album_with_the_title_its_chain_gives(tmp_path):
    with lla.sample_store() as store:  # created under its album's enrichment: the album id is in the metadata
        text = str(lla.explain(store, "TRACK", "7e062b41-6e26-407d-914b-4dc364e8b97b"))
    assert "\n  album: Ágætis byrjun (9c594618-3e48-409a-84b8-0edb0ebc4bb6)\n  afterward: " in text, text
    case = scenario("immediate_parent_creation")  # the album's id in the row's album_id, no title
    with store_of(case["rows"], tmp_path) as store:
        track = str(lla.explain(store, "TRACK", case["chains"][0]["entity_id"]))
        artist = str(lla.explain(store, "ARTIST", case["chains"][1]["entity_id"]))
    assert "\n  album: a1000000-0000-4000-8000-000000000001\n" in track
    assert "\n  album: " not in artist
    rows = _rows(("1", "2026-03-01 12:00:00", "7", None, False, "ENRICHED", "enrichment:track"))
    rows[0] |= {"entity_type": "TRACK", "entity_id": ALBUM, "track_id": ALBUM}
    with store_of(rows, tmp_path) as store:
        assert "\n  album: no row names it\n" in str(lla.explain(store, "TRACK", ALBUM))


def test_a_creation_that_names_no_one_says_who_started_its_job_tree(tmp_path):
    rows = _rows(  # an album added to a collection by a user, created by the job that add started
        (
            "1",
            "2026-03-01 12:00:00",
            "collection-add-1",
            None,
            False,
            "USER_ACTION",
            "collection:album-added",
        ),
        ("2", "2026-03-01 12:00:01", "7", "collection-add-1", True, "CREATED", "album:created"),
    )
    rows[0]["user_id"] = "cuser1"
    with store_of(rows, tmp_path) as store:
        text = str(lla.explain(store, "ALBUM", ALBUM))
    assert (
        "how it got here: album:created at 2026-03-01 12:00:01.000 UTC, started by user cuser1; root job "
        "collection-add-1\n    entry point: collection:album-added\n"
    ) in text, text
    rows[1]["triggered_by"] = "collection_add"  # its own trigger comes first
    with store_of(rows, tmp_path) as store:
        assert "12:00:01.000 UTC by collection_add; root job" in str(lla.explain(store, "ALBUM", ALBUM))


def test_rows_about_another_entity_that_name_this_one_are_counted_apart(tmp_path):
    with lla.sample_store() as store:  # the album created with the artist names it in its CREATED row
        artist = str(lla.explain(store, "ARTIST", "9898b85a-0907-4bf3-bbcb-09848ba3e837"))
    assert (
        "afterward: 13 more rows about this artist (12 enriched, 1 failed) and 1 ALBUM row naming it "
        "(1 labelled created), 22 in its chain"
    ) in artist, artist
    case = scenario("immediate_parent_creation")  # the track's CREATED row carries the album's id
    with store_of(case["rows"], tmp_path) as store:
        album = str(lla.explain(store, "ALBUM", case["rows"][0]["album_id"]))
    assert (
        "afterward: 0 more rows about this album and 1 TRACK row naming it (1 labelled created), "
        "4 in its chain"
    ) in album, album


def test_an_entity_in_the_snapshot_has_no_categories_rather_than_a_missing_creation():
    from llamalog_analytics.sample import DEMO_ALBUM

    with lla.sample_store() as store:
        text = str(lla.explain(store, "ALBUM", DEMO_ALBUM, table="enrichment_logs"))
    assert "no categories: none of its rows has one, so none can say how it was created (a table" in text
    assert "missing CREATED" not in text


def test_an_albums_dangling_parents_come_in_number_order_under_its_title():
    with lla.sample_store() as store:  # OK Computer: four parent runs that never logged
        text = str(lla.explain(store, "ALBUM", "deba6714-39f8-43b4-aa14-e6cd5f3b1329"))
        pasted = str(lla.explain(store, "ALBUM", " DEBA6714-39F8-43B4-AA14-E6CD5F3B1329"))
    assert text.startswith("ALBUM deba6714-39f8-43b4-aa14-e6cd5f3b1329 (OK Computer)\n") and pasted == text
    jobs = re.findall(r"dangling parent: job (\d+)", text)
    assert jobs == ["213", "1293", "1687", "1818"]  # 213 before 1293, as numbers


def test_a_child_before_its_parent_is_named_with_its_parent_runs_start(tmp_path):
    # the chain's table shows no before_parent column: the anomaly says which row it is
    case = scenario("child_before_parent")
    with store_of(case["rows"], tmp_path) as store:
        explanation = lla.explain(store, "ARTIST", case["chains"][0]["entity_id"])
    assert (
        "child before parent: 1 row was logged before its parent run's first row (the first: "
        "artist:created at 2026-02-10 14:00:00.100 UTC; job add-album-1's run starts at "
        "2026-02-10 14:00:00.500 UTC)"
    ) in explanation.anomalies, explanation.anomalies


def test_a_dangling_parent_whose_id_ran_once_says_so_in_the_singular(tmp_path):
    case = scenario("reused_parent_never_logged")
    with store_of(case["rows"], tmp_path) as store:
        explanation = lla.explain(store, "ALBUM", case["chains"][1]["entity_id"])
    assert (
        "dangling parent: job 289's own run never logged a row; the id's one run, on 2026-02-08, lies "
        "beyond the reuse gap (the chain's top is the bare id)"
    ) in explanation.anomalies, explanation.anomalies


def test_explain_says_its_times_are_utc(tmp_path):
    rows = _rows(
        ("1", "2026-03-01 12:00:00", None, None, True, "CREATED", "album:created"),
        ("2", "2026-03-03 12:00:00", None, None, True, "FAILED", "enrichment:album"),
        ("3", "2026-03-04 12:00:00", None, None, True, "CORRECTED", "manual_correction"),
    )
    with store_of(rows, tmp_path) as store:
        lines = str(lla.explain(store, "ALBUM", ALBUM)).splitlines()
    assert (
        lines[1] == "  how it got here: album:created at 2026-03-01 12:00:00.000 UTC by an unknown trigger; "
        "outside any job"
    )
    assert lines[3].startswith("  last failure: enrichment:album at 2026-03-03 12:00:00.000 UTC: ")
    assert lines[4] == "  corrections: 1 (last 2026-03-04 12:00:00.000 UTC)"


def test_a_failure_logged_with_a_long_message_is_told_in_a_line(tmp_path):
    """A failure whose error_message is a whole response body (a megabyte on one line) is told
    by its start, marked as cut; the row keeps it whole."""
    rows = _rows(
        ("1", "2026-03-01 12:00:00", None, None, True, "CREATED", "album:created"),
        ("2", "2026-03-03 12:00:00", None, None, True, "FAILED", "enrichment:album"),
    )
    rows[1]["error_message"] = "upstream said: " + "x" * 1_000_000
    with store_of(rows, tmp_path) as store:
        failure = str(lla.explain(store, "ALBUM", ALBUM)).splitlines()[3]
    assert failure.startswith("  last failure: enrichment:album at 2026-03-03 12:00:00.000 UTC: upstream")
    assert failure.endswith("xx …") and len(failure) < 300
