"""Provenance chains, the resolver's entity mode, integrity checks, graphs and their exports."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import networkx as nx
import polars as pl
import pydot
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prov.model import ProvDocument

import llamalog_analytics as lla
from llamalog_analytics import integrity, links
from llamalog_analytics.chains import ANNOTATIONS, ChainError, all_chains, chain_index
from llamalog_analytics.cli import main
from llamalog_analytics.graph import prov_document

SCENARIOS = sorted((FIXTURES / "chains").glob("*.json"))
ANNOTATED = ["id", *ANNOTATIONS]
LITERAL = ANNOTATED[:6]  # what chains had before job instances: link="job_id" keeps those answers


def scenario(name: str) -> dict:
    return json.loads((FIXTURES / "chains" / f"{name}.json").read_text())


def store_of(rows: list[dict], folder: Path) -> lla.LogStore:
    path = folder / f"rows-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(rows))
    store = lla.LogStore()
    result = store.load_files(path, quiet=True)
    assert result.rows_rejected == 0, store.rejects()
    return store


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_chains(path, tmp_path):
    """Each fixture's chains, by job instance (``expect``) and by bare job id (``expect_job_id``
    where that answer differs: the answer chains gave before job instances)."""
    case = json.loads(path.read_text())
    with store_of(case["rows"], tmp_path) as store:
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
        assert lla.chain(store, "ALBUM", str(uuid.uuid4())).is_empty()
        assert lla.chain(store, "ALBUM", "not-a-uuid").is_empty()


def test_bad_requests_name_the_valid_values(store):
    with pytest.raises(ChainError, match=r"unknown category 'made_up'\. Valid: CREATED, ENRICHED"):
        lla.chain(store, "ALBUM", str(uuid.uuid4()), categories=["made_up"])
    with pytest.raises(ChainError, match=r"unknown entity type 'LABEL'\. Valid: ALBUM, ARTIST, TRACK"):
        lla.chain(store, "LABEL", str(uuid.uuid4()))
    with pytest.raises(ChainError, match="since='yesterday' is not a date"):
        lla.chain(store, "ALBUM", str(uuid.uuid4()), since="yesterday")


@pytest.fixture(scope="module")
def synth_store(synth, tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "logs.parquet"
    synth.llama_logs.write_parquet(path)
    with lla.LogStore() as s:
        s.load_files(path, quiet=True)
        yield s


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
    assert lla.chain_page(synth_store, "ALBUM", album, limit=3, cursor=str(uuid.uuid4())).logs.is_empty()
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


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=log_rows())
def test_chain_properties(rows, tmp_path):
    with store_of(rows, tmp_path) as store:
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


def test_integrity_checks_find_each_trap(tmp_path):
    rows = [
        r
        for name in ("sync_batch_dangling_root", "cycle", "reused_after_reset", "child_before_parent")
        for r in scenario(name)["rows"]
    ]
    for n, row in enumerate(rows):
        row["id"] = str(uuid.UUID(int=n + 1))
    rows[0]["is_root_job"] = True  # a sync album row flagged root although it has a parent
    rows[-1]["is_root_job"] = False  # a v1.4 root row, before the flag existed
    with store_of(rows, tmp_path) as store:
        dangling = integrity.dangling_parents(store)
        assert dangling.select("parent_job_id", "dangling", "rows").rows() == [
            ("spotify-sync-batch-9", "no row carries the id", 2),
            ("collection-add-3", "no row carries the id", 1),
        ]
        assert integrity.parent_cycles(store).rows() == [(1, "c1", 1), (1, "c2", 1)]
        reused = integrity.reused_job_ids(store)
        assert reused.select("job_id", "job_instance", "runs", "rows").rows() == [
            ("7", 1, 2, 1),
            ("7", 2, 2, 1),
        ]
        early = integrity.children_before_parents(store)
        assert early["parent_job_id"].to_list() == ["c2", "add-album-1"]  # the loop, and v1.4's order
        assert early["ahead_by_ms"].to_list() == [1000, 400]
        literal = integrity.dangling_parents(store, link="job_id")  # bare ids: job 7 is not reused
        assert literal["parent_job_id"].to_list() == ["spotify-sync-batch-9", "collection-add-3"]
        assert integrity.reused_job_ids(store, link="job_id").is_empty()
        mismatched = integrity.root_flag_mismatches(store)
        assert mismatched.select("id", "kind").rows() == [
            (rows[0]["id"], "root with parent"),
            (rows[-1]["id"], "no parent, not root"),
        ]
        report = integrity.check(store)
        assert dict(report.select("check", "findings").iter_rows())["parent cycles"] == 2


def test_graph_nodes_edges_and_exports_round_trip(tmp_path):
    case = scenario("immediate_parent_creation")
    track = case["chains"][0]["entity_id"]
    with store_of(case["rows"], tmp_path) as store:
        graph = lla.provenance_graph(store, "TRACK", track)
        whole = lla.provenance_graph(store)
    kinds = {n: d["kind"] for n, d in graph.nodes(data=True)}
    assert kinds[f"track:{track}"] == "track" and kinds["job:200#1"] == "job"
    assert graph.nodes["job:200#1"].items() >= {"job_id": "200", "instance": 1, "dangling": False}.items()
    assert graph.has_edge("job:200#1", "job:track-1#1", key="spawned")
    assert graph.has_edge(f"log:{case['rows'][1]['id']}", f"track:{track}", key="created")
    assert graph.nodes[f"log:{case['rows'][1]['id']}"]["relation"] == "self"
    assert whole.number_of_nodes() > graph.number_of_nodes()
    for name in ("g.graphml", "g.json", "g.dot", "g.prov.json"):
        lla.write_graph(graph, tmp_path / name)
    graphml = nx.read_graphml(tmp_path / "g.graphml", force_multigraph=True)
    assert (graphml.number_of_nodes(), graphml.number_of_edges()) == (
        graph.number_of_nodes(),
        graph.number_of_edges(),
    )
    linked = nx.node_link_graph(json.loads((tmp_path / "g.json").read_text()), edges="edges")
    assert nx.utils.graphs_equal(linked, graph)
    (dot,) = pydot.graph_from_dot_file(tmp_path / "g.dot")
    assert len(dot.get_edges()) == graph.number_of_edges()
    prov = ProvDocument.deserialize(tmp_path / "g.prov.json", format="json")
    assert prov == prov_document(graph)
    sections = set(json.loads((tmp_path / "g.prov.json").read_text()))
    assert sections >= {"entity", "activity", "wasGeneratedBy", "used", "wasInformedBy"}
    with pytest.raises(ValueError, match="cannot tell the graph format"):
        lla.write_graph(graph, tmp_path / "g.txt")


def test_graph_links_rows_without_job_ids_and_tells_subjects_from_mentions(tmp_path):
    case = scenario("sync_batch_dangling_root")
    album, track_row = case["chains"][0]["entity_id"], case["rows"][2]
    with store_of(case["rows"], tmp_path) as store:
        graph = lla.provenance_graph(store, "ALBUM", album)
    row = f"log:{track_row['id']}"
    assert graph.has_edge(row, "job:spotify-sync-album-1#1", key="child_of")  # no job id of its own
    assert graph.has_edge(row, f"track:{track_row['track_id']}", key="created")
    assert graph.has_edge(row, f"album:{album}", key="mentions")  # a track row naming its album
    assert graph.nodes["job:spotify-sync-batch-9"]["dangling"]
    informed = {
        (r.args[0].localpart, r.args[1].localpart)
        for r in prov_document(graph).get_records()
        if r.get_type().localpart == "Communication"
    }
    assert (track_row["id"], case["rows"][0]["id"]) in informed


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
            "dangling parent: job 289's own run never logged a row; the id's runs on 2026-02-08 lie beyond",
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


def test_graph_job_nodes_are_runs_and_keep_the_job_id(tmp_path):
    case = scenario("reused_after_reset")
    with store_of(case["rows"], tmp_path) as store:
        whole = lla.provenance_graph(store)
        literal = lla.provenance_graph(store, link="job_id")
        one = lla.provenance_graph(store, "TRACK", case["chains"][0]["entity_id"])
    runs = {n: d for n, d in whole.nodes(data=True) if d["kind"] == "job"}
    assert sorted(runs) == ["job:7#1", "job:7#2", "job:collection-add-3", "job:track-3#1"]
    assert (runs["job:7#1"]["first_at"], runs["job:7#2"]["first_at"]) == (
        "2026-01-05T09:00:00.000",
        "2026-03-05T09:00:00.000",
    )
    assert runs["job:collection-add-3"]["dangling"] and whole.has_edge(
        "job:7#2", "job:track-3#1", key="spawned"
    )
    assert not whole.has_edge("job:7#1", "job:track-3#1")
    assert literal.has_edge("job:7#1", "job:track-3#1", key="spawned")  # bare ids: one job 7
    assert "job:7#1" not in one  # the January run is not on the track's chain
    for name in ("g.graphml", "g.dot", "g.prov.json"):
        lla.write_graph(whole, tmp_path / name)
    graphml = nx.read_graphml(tmp_path / "g.graphml", force_multigraph=True)
    assert graphml.nodes["job:7#2"]["job_id"] == "7" and graphml.nodes["job:7#2"]["instance"] == 2


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


def run_cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_chain_graph_and_explain(tmp_path):
    case = scenario("flat_queue_family")
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(case["rows"]))
    db = tmp_path / "s.duckdb"
    assert run_cli("load", rows, "--db", db, "--quiet")[0] == 0
    artist = case["chains"][0]["entity_id"]
    code, out, _ = run_cli("chain", "artist", artist, "--db", db)
    assert code == 0 and out.count("collection-add-1") >= 3 and "ancestor" in out
    code, out, _ = run_cli("chain", "ARTIST", artist, "--db", db, "--format", "json")
    parsed = json.loads(out)
    assert [r["relation"] for r in parsed] == ["ancestor", "self", "self"]
    assert {"id", "job_id", "chain_root", "depth"} <= set(parsed[0])
    code, out, _ = run_cli(
        "chain", "ARTIST", artist, "--db", db, "--format", "csv", "--category", "USER_ACTION"
    )
    assert pl.read_csv(out.encode())["operation"].to_list() == ["collection:album-added"]
    code, out, err = run_cli(
        "chain",
        "ALBUM",
        case["chains"][1]["entity_id"],
        "--db",
        db,
        "--mode",
        "entity",
        "--limit",
        "2",
        "--format",
        "json",
    )
    assert len(json.loads(out)) == 2 and "total_count 4, has_more true, next --cursor" in err
    code, out, err = run_cli("chain", "ALBUM", str(uuid.uuid4()), "--db", db)
    assert code == 0 and "no llama_logs rows for ALBUM" in err
    code, _, err = run_cli("chain", "ALBUM", artist, "--db", db, "--category", "NOPE")
    assert code == 2 and "Valid: CREATED" in err
    code, _, err = run_cli("chain", "ALBUM", artist, "--db", db, "--limit", "2")
    assert code == 2 and "--mode entity" in err
    code, out, _ = run_cli("graph", "ARTIST", artist, "--db", db, "--out", tmp_path / "a.graphml")
    assert code == 0 and "wrote" in out and (tmp_path / "a.graphml").exists()
    code, _, err = run_cli("graph", "ARTIST", artist, "--db", db, "--out", tmp_path / "a.txt")
    assert code == 2 and "cannot tell the graph format" in err
    code, out, _ = run_cli("explain", "ARTIST", artist, "--db", db)
    assert code == 0 and "anomalies" in out


def test_cli_follows_job_runs_unless_told_otherwise(tmp_path):
    case = scenario("reused_after_reset")
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(case["rows"]))
    db = tmp_path / "s.duckdb"
    assert run_cli("load", rows, "--db", db, "--quiet")[0] == 0
    track = case["chains"][0]["entity_id"]

    def ids(*options: str) -> list[str]:
        code, out, err = run_cli("chain", "TRACK", track, "--db", db, "--format", "json", *options)
        assert code == 0, err
        return [r["id"] for r in json.loads(out)]

    assert ids() == [case["rows"][1]["id"], case["rows"][2]["id"]]  # the March run only
    assert ids("--link", "job-id") == [r["id"] for r in case["rows"]]  # both runs of job 7
    assert ids("--reuse-gap", "90d") == ids("--link", "job-id")  # one run when the gap spans both
    code, _, err = run_cli("chain", "TRACK", track, "--db", db, "--reuse-gap", "soon")
    assert code == 2 and "is not a duration" in err and "Hint:" in err
    code, out, _ = run_cli("explain", "TRACK", track, "--db", db)
    assert code == 0 and "reused job id: job 7 ran 2 times" in out
    code, out, _ = run_cli("explain", "TRACK", track, "--db", db, "--link", "job-id")
    assert code == 0 and "reused job id" not in out
    code, out, _ = run_cli("verify", "--db", db, "--format", "json", "--reuse-gap", "6h")
    assert json.loads(out)["summary"]["job links"] == "job instances (reuse gap 6 h)"
    code, out, err = run_cli("graph", "TRACK", track, "--db", db, "--out", tmp_path / "t.otlp.json")
    assert code == 0 and "as otlp traces" in out, err
    spans = json.loads((tmp_path / "t.otlp.json").read_text())["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert sorted(s["name"] for s in spans) == ["enrichment:album 7", "track:created:enrichment track-3"]
    code, out, _ = run_cli("graph", "TRACK", track, "--db", db, "--out", tmp_path / "t", "--format=perfetto")
    assert code == 0 and "traceEvents" in (tmp_path / "t").read_text()
