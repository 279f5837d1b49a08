"""Provenance chains: fixtures by job run and by bare id, the resolver's entity mode, the index,
every chain at once, and properties."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from conftest import FIXTURES, ROOT, STORE_KINDS, scenario, store_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llamalog_analytics as lla
from llamalog_analytics import links
from llamalog_analytics.chain_index import ANNOTATIONS, chain_index
from llamalog_analytics.chains import all_chains
from llamalog_analytics.errors import ArgumentError, ChainError

SCENARIOS = sorted((FIXTURES / "chains").glob("*.json"))
ANNOTATED = ["id", *ANNOTATIONS]
LITERAL = ANNOTATED[:6]  # what chains had before job instances: link="job_id" keeps those answers


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_chains(path, kind, tmp_path):
    """Each fixture's chains, by job instance (``expect``) and by bare job id (``expect_job_id``
    where that answer differs: the answer chains gave before job instances), wherever the store
    keeps its log table."""
    case = json.loads(path.read_text())
    with store_of(case["rows"], tmp_path, kind) as store:
        for query in case["chains"]:
            kind, entity_id = query["entity_type"], query["entity_id"]
            rows = lla.chain(store, kind, entity_id)
            assert [list(r) for r in rows.select(ANNOTATED).iter_rows()] == query["expect"], query
            literal = lla.chain(store, kind, entity_id, link="job_id")
            expected = query.get("expect_job_id", [r[: len(LITERAL)] for r in query["expect"]])
            assert [list(r) for r in literal.select(LITERAL).iter_rows()] == expected, query
            entity = lla.chain(store, kind, entity_id, mode="entity")
            seeds = rows.filter(pl.col("relation") == "self").sort("created_at", "id", descending=True)
            assert entity["id"].to_list() == seeds["id"].to_list()


def test_filters_apply_to_the_result_not_the_walk(tmp_path):
    case = scenario("immediate_parent_creation")
    track = case["chains"][0]["entity_id"]
    with store_of(case["rows"], tmp_path) as store:
        created = lla.chain(store, "track", track, categories=["created"])
        assert created["operation"].to_list() == ["track:created:enrichment"]
        assert created["chain_root"].to_list() == ["200"]  # the walk still went up past the filter
        window = lla.chain(store, "TRACK", track, since="2026-02-10T11:00:01Z", until="2026-02-10 11:00:03")
        assert window["created_at"].to_list() == [
            datetime(2026, 2, 10, 11, 0, 1),
            datetime(2026, 2, 10, 11, 0, 3),
        ]
        offset = lla.chain(store, "TRACK", track, until="2026-02-10T12:00:01+01:00")
        assert offset.height == 2  # 11:00:01 UTC, inclusive: the ancestor and the creation
        whole_day = lla.chain(store, "TRACK", track, since="2026-02-10", until="2026-02-10")
        assert whole_day.height == lla.chain(store, "TRACK", track).height > 0  # a date alone: all of it
        assert lla.chain(store, "TRACK", track, until="2026-02-09").is_empty()
        assert lla.chain(store, "TRACK", track, since=date(2026, 2, 10), until=date(2026, 2, 10)).equals(
            whole_day
        )
        assert lla.chain(store, "track", track, categories="created").equals(created)  # one, not letters
        assert lla.chain(store, "ALBUM", str(uuid.uuid4())).is_empty()


def test_bad_requests_name_the_valid_values(store):
    with pytest.raises(ChainError, match=r"unknown category 'made_up'\. Valid: CREATED, ENRICHED"):
        lla.chain(store, "ALBUM", str(uuid.uuid4()), categories=["made_up"])
    with pytest.raises(ChainError, match=r"unknown entity type 'LABEL'\. Valid: ALBUM, ARTIST, TRACK"):
        lla.chain(store, "LABEL", str(uuid.uuid4()))
    with pytest.raises(ChainError, match="since='yesterday' is not a date"):
        lla.chain(store, "ALBUM", str(uuid.uuid4()), since="yesterday")
    for malformed in ("not-a-uuid", "3e8428c2", ""):
        with pytest.raises(ChainError, match=rf"{malformed!r} is not an entity id: ids are UUIDs"):
            lla.chain(store, "ALBUM", malformed)
    album = str(uuid.uuid4())
    with pytest.raises(ArgumentError, match=r"unknown link None\. Hint: use one of instance, job_id"):
        lla.chain(store, "ALBUM", album, link=None)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"reuse_gap=-1 is negative: a duration is positive"):
        lla.chain(store, "ALBUM", album, reuse_gap=-1)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"reuse_gap='6h' has no meaning with link='job_id'"):
        lla.chain(store, "ALBUM", album, link="job_id", reuse_gap="6h")


def resolver_rows(store, album: str, categories: list[str] | None = None) -> list[str]:
    """What llamaLogChain's Prisma query returns, written out in SQL."""
    where = "(album_id = ?::UUID OR (entity_id = ?::UUID AND entity_type = 'ALBUM'))"
    params: list = [album, album]
    if categories:
        where += " AND list_contains(?, category)"
        params.append(categories)
    rows = store.execute(f"SELECT id FROM llama_logs WHERE {where} ORDER BY created_at DESC, id DESC", params)
    return [str(r[0]) for r in rows]


def test_entity_mode_pages_like_the_resolver(synth_store):
    album, count = synth_store.execute(
        "SELECT album_id, count(*) FROM llama_logs WHERE album_id IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    )[0]
    expected = resolver_rows(synth_store, str(album))
    pages, cursor = [], None
    while True:
        page = lla.chain_page(synth_store, "ALBUM", album, limit=3, cursor=cursor)
        assert page.total_count == len(expected) == count
        pages.append(page.logs["id"].to_list())
        assert page.cursor == page.logs["id"][-1]  # the resolver gives it on the last page too
        if not page.has_more:
            break
        cursor = page.cursor
    assert [i for p in pages for i in p] == expected
    assert all(len(p) == 3 for p in pages[:-1])
    shown = lla.chain_page(synth_store, "ALBUM", album, limit=3)._repr_html_()  # its rows said once
    assert f"a page of {count:,} rows, more after cursor" in shown and shown.count("3 rows") == 1
    assert lla.chain_page(synth_store, "ALBUM", album, limit=3, cursor=str(uuid.uuid4())).logs.is_empty()
    with pytest.raises(ChainError, match=r"cursor='xyz' is not a row id\. Hint: pass the cursor a page"):
        lla.chain_page(synth_store, "ALBUM", album, limit=3, cursor="xyz")
    pasted = lla.chain_page(synth_store, "ALBUM", album, limit=3, cursor=f" {pages[0][-1].upper()} ")
    assert pasted.logs["id"].to_list() == pages[1]
    enriched = lla.chain_page(synth_store, "ALBUM", album, categories=["ENRICHED"], limit=100)
    assert enriched.logs["id"].to_list() == resolver_rows(synth_store, str(album), ["ENRICHED"])


def test_every_chain_at_once_matches_one_at_a_time(synth_store):
    every = all_chains(synth_store)
    for (kind, entity), group in every.group_by("entity_type", "entity_id"):
        assert sorted(group["id"]) == sorted(lla.chain(synth_store, kind, entity)["id"])
    seeded = synth_store.execute("SELECT count(DISTINCT album_id) FROM llama_logs")[0][0]
    assert every.filter(pl.col("entity_type") == "ALBUM")["entity_id"].n_unique() >= seeded


def test_index_is_built_once_and_rebuilt_after_a_load(tmp_path):
    case = scenario("flat_queue_family")
    with store_of(case["rows"][:3], tmp_path) as store:
        first = chain_index(store)
        assert chain_index(store) is first
        extra = tmp_path / "more.json"
        extra.write_text(json.dumps(case["rows"][3:]))
        store.load_files(extra, quiet=True)
        second = chain_index(store)
        assert second is not first
        assert lla.chain(store, "ARTIST", case["chains"][0]["entity_id"]).height == 3
        store.execute("DELETE FROM llama_logs WHERE operation = 'enrichment:artist'")
        assert chain_index(store) is not second
        assert lla.chain(store, "ARTIST", case["chains"][0]["entity_id"]).height == 2


JOBS = st.sampled_from(["j0", "j1", "j2", "j3", "j4", None])
# Two ids that differ only in their last bits (their low 64 bits exceed float64's precision).
ALBUMS = ["a1000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000002", None]


@st.composite
def log_rows(draw: st.DrawFn) -> list[dict]:
    """Up to 18 rows over five job ids, seconds apart or in runs hours to days apart."""
    start = datetime(2026, 2, 10)
    rows = []
    for n in range(draw(st.integers(1, 18))):
        album = draw(st.sampled_from(ALBUMS))
        at = start + timedelta(hours=draw(RUN_STARTS), seconds=draw(st.integers(0, 5)))
        rows.append(
            {
                "id": str(uuid.UUID(int=n + 1)),
                "operation": "enrichment:album",
                "status": "SUCCESS",
                "category": draw(st.sampled_from(["CREATED", "ENRICHED"])),
                "album_id": album,
                "entity_type": "ALBUM" if album else None,
                "entity_id": album,
                "job_id": draw(JOBS),
                "parent_job_id": draw(JOBS),
                "created_at": at.isoformat(sep=" "),
            }
        )
    return rows


RUN_STARTS = st.sampled_from([0, 0, 0, 20, 30, 60, 24 * 9])  # hours; runs apart by more than a day


def runs_of(frame: pl.DataFrame, job: str, run: str) -> pl.DataFrame:
    return frame.select(job_id=pl.col(job), run=pl.col(run)).drop_nulls().unique()


@pytest.mark.parametrize("kind", STORE_KINDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=log_rows())
def test_chain_properties(rows, kind, tmp_path):
    with store_of(rows, tmp_path, kind) as store:
        everything = store.table()
        linked = everything.hstack(links.resolve(everything).select("job_instance", "parent_instance"))
        every = all_chains(store)
        for album in ALBUMS[:2]:
            chain = lla.chain(store, "ALBUM", album)
            ids = set(chain["id"])
            seeds = everything.filter(pl.col("album_id") == album)
            assert set(seeds["id"]) <= ids  # contains its seed rows
            assert set(chain.filter(pl.col("relation") == "self")["id"]) == set(seeds["id"])
            assert chain.select("created_at", "id").equals(
                chain.select("created_at", "id").sort("created_at", "id")
            )
            below = runs_of(chain.filter(pl.col("relation") != "ancestor"), "job_id", "job_instance")
            children = linked.join(
                below, left_on=["parent_job_id", "parent_instance"], right_on=["job_id", "run"]
            )
            assert set(children["id"]) <= ids  # closed under instance descendants
            above = runs_of(
                chain.filter(pl.col("relation") != "descendant"), "parent_job_id", "parent_instance"
            )
            parents = linked.join(above, left_on=["job_id", "job_instance"], right_on=["job_id", "run"])
            assert set(parents["id"]) <= ids  # closed under instance ancestors
            entity = lla.chain(store, "ALBUM", album, mode="entity")
            assert set(entity["id"]) <= ids  # entity mode is a subset of provenance mode
            in_batch = every.filter((pl.col("entity_type") == "ALBUM") & (pl.col("entity_id") == album))
            assert set(in_batch["id"]) == ids
            # A reuse gap longer than the data's span makes every id one run: bare job ids.
            wide = lla.chain(store, "ALBUM", album, reuse_gap="30d").select(LITERAL)
            assert wide.equals(lla.chain(store, "ALBUM", album, link="job_id").select(LITERAL))


def test_the_readme_album_chain_holds_only_its_own_jobs():
    """The README's example: with bare job ids its chain took in rows of unrelated jobs weeks
    later that reused the same BullMQ ids; by job instance every other row is its own jobs'."""
    album = "3e8428c2-2d96-4742-8ce3-9cf025319cd4"
    assert album in (ROOT / "README.md").read_text()
    with lla.sample_store() as store:
        rows = lla.chain(store, "ALBUM", album)
        literal = lla.chain(store, "ALBUM", album, link="job_id")

    def strangers(chain: pl.DataFrame) -> pl.DataFrame:
        """Rows not about the album and more than a day away from every row that is."""
        own = chain.filter(pl.col("relation") == "self")["created_at"]
        near = pl.any_horizontal((pl.col("created_at") - at).abs() <= timedelta(days=1) for at in own)
        return chain.filter((pl.col("relation") != "self") & ~near)

    assert strangers(rows).is_empty() and rows.filter(pl.col("relation") == "descendant").height == 4
    assert strangers(literal).height >= 10  # February and April rows of other albums, artists, tracks


def test_times_may_be_numpy_dates_and_a_reversed_range_or_a_number_is_refused():
    import numpy as np

    album = "8f6d96c6-c33c-4687-a63b-396b2530e7ce"
    with lla.sample_store() as store:

        def rows(**window: object) -> int:
            return lla.chain(store, "ALBUM", album, **window).height

        assert rows(until=np.datetime64("2026-02-10")) == rows(until="2026-02-10") < rows()
        assert rows(until=np.datetime64("2026-02")) == rows(until="2026-02-28") > rows(until="2026-02-01")
        assert rows(since=np.datetime64("2026-02-10T12:00:00.123")) == rows(since="2026-02-10T12:00:00.123")
        with pytest.raises(ChainError, match=r"since=20260210 is not a date or time\. Hint: pass a datetime"):
            rows(since=20260210)
        with pytest.raises(ChainError, match=r"since='2026-06-01' is after until='2026-01-01'.*Hint: swap"):
            rows(since="2026-06-01", until="2026-01-01")
