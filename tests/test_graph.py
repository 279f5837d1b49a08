"""Provenance graphs: nodes, typed edges, job runs, every export format read back, and the drawing."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import re
import warnings
from datetime import timedelta

import networkx as nx
import numpy as np
import polars as pl
import pydot
import pytest
from conftest import browser_page, busiest_album, figure_text, needs_chromium, scenario, screenshot, store_of
from prov.model import ProvDocument

import llamalog_analytics as lla
from llamalog_analytics import charts, style
from llamalog_analytics import graph as graph_module
from llamalog_analytics.errors import ExportError
from llamalog_analytics.graph import prov_document


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
    with pytest.raises(ExportError, match="cannot tell which format to write graph in"):
        lla.write_graph(graph, tmp_path / "g.txt")


def test_prov_identifiers_are_ones_prov_n_can_write(tmp_path):
    """Job, user and trigger ids with spaces, quotes, a backslash, a slash, ``%`` and ``#`` or
    a letter outside ASCII were written into PROV identifiers as they were, which PROV-N cannot
    write (prov warns it will reject them); they are percent-encoded now, the values kept whole
    in the attributes."""
    album = "22222222-2222-4222-8222-222222222222"
    rows = [
        {
            "id": f"00000000-0000-4000-8000-00000000000{n}",
            "entity_type": "ALBUM",
            "entity_id": album,
            "album_id": album,
            "operation": "enrichment:album",
            "category": "ENRICHED",
            "created_at": f"2026-03-01T10:00:0{n}",
            "job_id": f"j {n}",
            "parent_job_id": parent,
            "user_id": user,
            "triggered_by": "cron job/nightly",
        }
        for n, parent, user in ((1, "gone parent/%#1 ü", "bob smith"), (2, 'q"uote\\', "50%"))
    ]
    with store_of(rows, tmp_path) as store:
        graph = lla.provenance_graph(store, "ALBUM", album)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # prov's warning that it will reject a name PROV-N cannot write
        lla.write_graph(graph, tmp_path / "g.prov.json")
        document = ProvDocument.deserialize(tmp_path / "g.prov.json", format="json")
        provn = document.serialize(format="provn")
    names = {str(record.identifier) for record in document.get_records() if record.identifier}
    assert {
        "job:gone%20parent%2F%25%231%20%C3%BC",
        "job:q%22uote%5C",
        "user:bob%20smith",
        "user:50%25",
    } <= names
    assert "system:cron%20job%2Fnightly" in names and 'llamalog:parent_job_id="gone parent/%#1 ü"' in provn


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


def test_graph_job_nodes_are_runs_and_keep_the_job_id(tmp_path):
    case = scenario("reused_after_reset")
    with store_of(case["rows"], tmp_path) as store:
        whole = lla.provenance_graph(store)
        literal = lla.provenance_graph(store, link="job_id")
        one = lla.provenance_graph(store, "TRACK", case["chains"][0]["entity_id"])
    runs = {n: d for n, d in whole.nodes(data=True) if d["kind"] == "job"}
    assert sorted(runs) == ["job:7#1", "job:7#2", "job:collection-add-3", "job:track-3#1"]
    assert (runs["job:7#1"]["first_at"], runs["job:7#2"]["first_at"]) == (
        "2026-01-05T09:00:00.000Z",
        "2026-03-05T09:00:00.000Z",
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
    assert (runs["job:7#2"]["runs"], runs["job:track-3#1"]["runs"], one.nodes["job:7#2"]["runs"]) == (2, 1, 2)


def test_whole_table_graph_holds_every_entity_graph(sample_graphs):
    """Each entity's graph is part of the whole table's: the same nodes with the same
    attributes (a row also carries its place on the chain), and the same edges."""
    _, whole = sample_graphs
    with lla.sample_store() as store:
        entities = store.execute(
            """SELECT kind, entity FROM (
                 SELECT 'ALBUM' AS kind, album_id::VARCHAR AS entity FROM llama_logs
                 UNION SELECT 'ARTIST', artist_id::VARCHAR FROM llama_logs
                 UNION SELECT 'TRACK', track_id::VARCHAR FROM llama_logs)
               WHERE entity IS NOT NULL
               QUALIFY row_number() OVER (PARTITION BY kind ORDER BY md5(entity)) <= 20"""
        )
        parts = [lla.provenance_graph(store, kind, entity) for kind, entity in entities]
    for part in parts:
        for node, data in part.nodes(data=True):
            on_chain = {
                k: v for k, v in data.items() if k not in ("relation", "depth", "chain_root", "root_dangling")
            }
            assert whole.nodes[node] == on_chain
        assert set(part.edges(keys=True)) <= set(whole.edges(keys=True))
    assert {kind for kind, _ in entities} == {"ALBUM", "ARTIST", "TRACK"}


def test_whole_table_graph_is_what_networkx_builds_from_its_nodes_and_edges(sample_graphs, monkeypatch):
    """Built in bulk, the graph is the one networkx's ``add_node`` and ``add_edges_from`` make
    from the same nodes and edges: both directions of each edge share its key dict, and every
    edge has a data dict of its own."""
    _, whole = sample_graphs

    def nodes_one_by_one(groups):
        reference, names = nx.MultiDiGraph(), []
        for group in groups:
            for row in group.iter_rows(named=True):
                names.append(node := row.pop("node"))
                reference.add_node(node, **{k: v for k, v in row.items() if v is not None})
        return reference, np.array(names, dtype=object)

    def edges_one_by_one(graph, edges):
        graph.add_edges_from((source, target, kind, {"kind": kind}) for source, target, kind in edges)

    monkeypatch.setattr(graph_module, "_graph", nodes_one_by_one)
    monkeypatch.setattr(graph_module, "_add_edges", edges_one_by_one)
    with lla.sample_store() as store:
        reference = lla.provenance_graph(store)
    assert nx.utils.graphs_equal(whole, reference)
    assert whole.pred == reference.pred and list(whole) == list(reference)
    assert all(whole._pred[v][u] is whole._succ[u][v] for u, v in whole.edges())
    data = [d for *_, d in whole.edges(keys=True, data=True)]
    assert len({id(d) for d in data}) == len(data) == whole.number_of_edges()


def test_counting_a_whole_table_graphs_edges_makes_no_edge_data():
    """An edge's data is made when first read: counting or listing the edges (networkx's
    ``number_of_edges`` asks every node pair how many keys it has) makes none."""
    with lla.sample_store() as store:
        whole = lla.provenance_graph(store)
    pairs = [keys for targets in whole._succ.values() for keys in targets.values()]
    unread = [keys for keys in pairs if keys._place is not None and keys._held is None]
    assert len(unread) == whole.number_of_edges()  # one edge each, its data not yet read
    kind = unread[0]._place
    assert whole.number_of_edges() == whole.size() == sum(len(keys) for keys in pairs)
    assert list(unread[0]) == [kind] and kind in unread[0] and "other" not in unread[0]
    assert all(keys._held is None for keys in unread)
    assert unread[0][kind] == {"kind": kind}  # read: made now


def test_pickling_a_whole_table_graph_makes_no_edge_data():
    """A pickle holds plain dicts, read back as the graph, without making the edges' data in
    the graph pickled (the pickler keeps what it is given to the end of the dump)."""
    with lla.sample_store() as store:
        whole = lla.provenance_graph(store)
    pairs = [keys for targets in whole._succ.values() for keys in targets.values()]
    read = pickle.loads(pickle.dumps(whole))
    assert all(keys._held is None for keys in pairs if keys._place is not None)
    assert nx.utils.graphs_equal(read, whole)
    assert {type(data) for *_, data in read.edges(keys=True, data=True)} == {dict}
    assert {type(data) for _, data in read.nodes(data=True)} == {dict}
    assert all(read._pred[v][u] is read._succ[u][v] for u, v in read.edges())  # one key dict, as before


def test_a_whole_table_graph_is_handed_to_the_collector_as_long_lived():
    """The graph's objects, made with the cycle collector paused, come out in its oldest
    generation, not as new objects the next collections would scan; objects the process froze
    stay frozen (the collector is left as it was found)."""
    with lla.sample_store() as store:
        gc.collect()  # nothing new before: what the build makes is all that could be young
        graph = lla.provenance_graph(store)
        node = next(iter(graph))
        attributes, keys = graph._node[node], next(iter(graph._succ.values()))
        oldest = {id(o) for o in gc.get_objects(generation=2)}
        assert gc.is_tracked(attributes) and id(attributes) in oldest
        assert all(id(k) in oldest for k in keys.values())
        held = [[]]  # tracked, then frozen: out of every generation the collector scans
        gc.freeze()
        try:
            lla.provenance_graph(store)
            assert gc.isenabled() and id(held) not in {id(o) for o in gc.get_objects()}
        finally:
            gc.unfreeze()


def test_whole_table_graph_attributes_change_like_dicts():
    """Nodes and edges built in bulk share their columns until changed: a change to one node or
    edge is its own, and copies, pickles and networkx's own operations see plain attributes."""
    with lla.sample_store() as store:
        graph = lla.provenance_graph(store)
    first, second = [n for n, kind in graph.nodes(data="kind") if kind == "log"][:2]
    status = graph.nodes[second]["status"]
    graph.nodes[first]["status"], graph.nodes[first]["note"] = "CHANGED", "mine"
    del graph.nodes[first]["kind"]
    assert graph.nodes[first]["status"] == "CHANGED" and "kind" not in graph.nodes[first]
    assert graph.nodes[second]["status"] == status and "note" not in graph.nodes[second]
    assert graph.nodes[second]["kind"] == "log"
    assert {value for _, value in graph.nodes(data="no_such_attribute", default=0)} == {0}
    assert graph.nodes[second].get("status") == status and "no_such_attribute" not in graph.nodes[second]
    logged = [(u, v, k) for u, v, k in graph.edges(keys=True) if k == "logged_by"]
    (u, v, key), (other_u, other_v, _) = logged[:2]
    graph.edges[u, v, key]["weight"] = 2
    assert graph.edges[u, v, key] == {"kind": "logged_by", "weight": 2}
    assert graph.edges[other_u, other_v, key] == {"kind": "logged_by"}
    graph.add_edge(u, v, key="extra", kind="extra")
    assert graph.number_of_edges(u, v) == 2 and graph._succ[u][v] is graph._pred[v][u]
    graph.remove_edge(u, v)  # without a key: the edge added last, as networkx says
    assert list(graph.succ[u][v]) == [key]
    assert graph.nodes[second].popitem() == ("before_parent", False)  # the last column, like a dict
    copies = (copy.copy(graph.nodes[first]), copy.deepcopy(graph.nodes[second]), graph._succ[u][v].copy())
    assert all(type(copied) is dict for copied in copies)
    shallow = copy.copy(graph.nodes[first])
    shallow["leak"] = 1
    assert "leak" not in graph.nodes[first]
    assert json.loads(json.dumps(dict(graph.nodes[first])))["note"] == "mine"
    assert graph.nodes[first] | {"x": 1} == {**graph.nodes[first], "x": 1}
    attributes = graph.nodes[second]
    attributes |= {"merged": True}
    assert graph.nodes[second]["merged"] is True
    assert type(pickle.loads(pickle.dumps(graph.nodes[second]))) is dict
    renamed = nx.relabel_nodes(graph, {first: "renamed"})
    assert renamed.nodes["renamed"]["note"] == "mine" and renamed.number_of_edges() == graph.number_of_edges()
    assert nx.utils.graphs_equal(graph, pickle.loads(pickle.dumps(graph)))
    undirected = graph.to_undirected()
    assert undirected.nodes[first]["note"] == "mine" and undirected.nodes[second]["kind"] == "log"


# --- the drawing (charts.graph_figure) --------------------------------------------------------


@pytest.fixture(scope="module")
def sample_graphs():
    """The sample's biggest album chain as a graph, and the whole sample table as one."""
    with lla.sample_store() as store:
        album = busiest_album(store)
        yield lla.provenance_graph(store, "ALBUM", album), lla.provenance_graph(store)


def node_traces(figure) -> dict[str, object]:
    return {t.name: t for t in figure.data if t.mode == "markers+text"}


def test_graph_drawing_labels_every_node_in_layers(sample_graphs):
    graph, _ = sample_graphs
    figure = charts.graph_figure(graph, title="Provenance graph of an album")
    nodes = node_traces(figure)
    assert {
        "row: CREATED",
        "row: ENRICHED",
        "job run",
        "job run that never logged",
        "album",
        "artist",
        "track",
        "user",
        "system",
    } <= set(nodes)
    assert len({t.marker.symbol for t in nodes.values()}) == len(nodes)  # a symbol per kind
    assert nodes["row: CREATED"].marker.symbol == "star" and style.LLAMA not in figure_text(figure)
    assert sum(len(t.text) for t in nodes.values()) == graph.number_of_nodes()  # every node labelled
    assert "job 247" in nodes["job run"].text and "manual_add" in nodes["system"].text
    reused = [(d["job_id"], d["instance"]) for _, d in graph.nodes(data=True) if d.get("runs", 1) > 1]
    assert reused and {f"job {job} #{run}" for job, run in reused} <= set(
        nodes["job run"].text
    )  # as timelines
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d enrichment:album", text) for text in nodes["row: ENRICHED"].text)
    where = {label: (x, y) for t in nodes.values() for label, x, y in zip(t.hovertext, t.x, t.y, strict=True)}
    at = {node: where[next(label for label in where if label.split("<br>")[0] == node)] for node in graph}
    rows = sorted((d["created_at"], n) for n, d in graph.nodes(data=True) if d["kind"] == "log")
    assert [at[n][1] for _, n in rows] == list(range(len(rows)))  # time runs down, a line per row
    column = {
        kind: {at[n][0] for n, k in graph.nodes(data="kind") if k == kind}
        for kind in ("log", "user", "album")
    }
    assert len(column["log"]) == 1 and max(column["user"]) < min(column["log"]) < min(column["album"])
    first_row: dict[str, float] = {}
    for source, target, kind in graph.edges(keys=True):
        if kind == "spawned":
            assert at[source][0] < at[target][0] and at[source][1] <= at[target][1]  # the tree indents
        if kind in ("logged_by", "child_of"):
            first_row[target] = min(first_row.get(target, at[source][1]), at[source][1])
    assert first_row and all(at[job][1] == y for job, y in first_row.items())  # on the line of its first row
    assert figure.layout.title.text == "Provenance graph of an album"


def test_a_row_labelled_created_that_records_no_creation_is_drawn_as_the_timeline_draws_it():
    album = "8f6d96c6-c33c-4687-a63b-396b2530e7ce"  # its collection add says it existed already
    with lla.sample_store() as store:
        nodes = node_traces(charts.graph_figure(lla.provenance_graph(store, "ALBUM", album)))
        timeline = {t.name: len(t.x) for t in lla.plot_timeline(store, "ALBUM", album).data if t.name}
    created, none = nodes["row: CREATED"], nodes["row: labelled CREATED, no creation"]
    assert (len(created.x), created.marker.symbol) == (timeline["CREATED"], "star")
    assert (
        (len(none.x), none.marker.symbol)
        == (timeline["labelled CREATED, no creation"], "star-open")
        == (1, "star-open")
    )


def test_an_empty_graph_draws_an_empty_figure():
    """A graph with nothing in it (a filter that kept no rows) draws, with no legend to make room for."""
    figure = charts.graph_figure(nx.MultiDiGraph())
    assert figure.data == () and figure.layout.title.text == "Provenance graph"


def test_big_graphs_are_summarised_by_kind(sample_graphs):
    _, whole = sample_graphs
    assert whole.number_of_nodes() > charts.GRAPH_NODES_SHOWN
    figure = charts.graph_figure(whole)
    assert figure.layout.title.text == "Provenance graph (summary by kind)"
    assert f"{whole.number_of_nodes():,} nodes" in figure.layout.title.subtitle.text
    assert "one node per kind" in figure.layout.title.subtitle.text
    nodes = node_traces(figure)
    counts = {name: int(t.text[0].rsplit(" · ", 1)[1].replace(",", "")) for name, t in nodes.items()}
    assert sum(counts.values()) == whole.number_of_nodes()
    logs = sum(1 for _, kind in whole.nodes(data="kind") if kind == "log")
    assert sum(n for name, n in counts.items() if name.startswith("row: ")) == logs
    assert counts["album"] == sum(1 for _, kind in whole.nodes(data="kind") if kind == "album")
    links = [t for t in figure.data if t.mode == "lines"]
    assert sum(int(t.hovertext.split(" × ")[0].replace(",", "")) for t in links) == whole.number_of_edges()
    assert {t.name for t in links if t.showlegend} >= {"job run → run it spawned", "log row → its job run"}


@needs_chromium
@pytest.mark.parametrize("width", [1400, 800])
def test_graph_drawings_in_a_browser(sample_graphs, tmp_path, width):
    """Labels and column headings that do not overlap and stay on the page, the legend clear of
    the plot and the toolbar: on a wide page, and in a notebook cell of a 900 px window."""
    graph, whole = sample_graphs
    for name, figure in (
        ("graph-album", charts.graph_figure(graph)),
        ("graph-summary", charts.graph_figure(whole)),
    ):
        path = lla.write_timeline(figure, tmp_path / f"{name}.html")  # any figure, as a page
        with browser_page(path, width=width, height=900) as (page, errors):
            page.wait_for_selector("body[data-figures=drawn]")
            screenshot(page, f"{name}-{width}px")
            boxes = {
                part: page.evaluate(BOXES, selector)
                for part, selector in {
                    "labels": ".scatterlayer .textpoint text",
                    "headings": ".annotation-text",
                    "legend": ".legend .bg",
                    "toolbar": ".modebar",
                    "plot": ".nsewdrag",
                    "page": ".main-svg:first-child",
                }.items()
            }
            labels = boxes["labels"] + boxes["headings"]
            drawn = len(node_traces(figure)) if name == "graph-summary" else graph.number_of_nodes()
            assert len(boxes["labels"]) == drawn
            crowded = [
                (a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1 :] if overlap(a, b)
            ]
            assert crowded == []
            (shown,) = boxes["page"]
            right = shown["x"] + shown["w"]
            assert [b["text"] for b in labels if b["x"] < shown["x"] or b["x"] + b["w"] > right] == []
            (legend,) = boxes["legend"]
            assert not any(overlap(legend, box) for box in boxes["toolbar"] + boxes["plot"])
        assert errors == []


BOXES = """(selector) => Array.from(document.querySelectorAll(selector)).map((e) => {
  const r = e.getBoundingClientRect();
  return {x: r.x, y: r.y, w: r.width, h: r.height, text: e.textContent};
}).filter((b) => b.w > 0 && b.h > 0)"""


def overlap(a: dict, b: dict) -> bool:
    """Whether two boxes share more than a pixel."""
    return min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > 1 and (
        min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > 1
    )


def test_a_bare_id_that_looks_like_a_run_is_a_node_of_its_own(tmp_path):
    case = scenario("immediate_parent_creation")
    first = case["rows"][0]
    rows = [  # job A logs one run; another row's parent is the id "A#1", which never logs
        {**first, "id": "00000000-0000-4000-8000-0000000000a1", "job_id": "A", "parent_job_id": None},
        {**first, "id": "00000000-0000-4000-8000-0000000000b1", "job_id": "B", "parent_job_id": "A#1"},
    ]
    with store_of(rows, tmp_path) as store:
        whole = lla.provenance_graph(store)
    assert whole.nodes["job:A#1"]["job_id"] == "A" and not whole.nodes["job:A#1"]["dangling"]
    assert whole.nodes["job:A%231"]["job_id"] == "A#1" and whole.nodes["job:A%231"]["dangling"]
    assert not whole.has_edge("job:A#1", "job:B#1") and whole.has_edge("job:A%231", "job:B#1")


def test_a_frame_with_zone_aware_times_draws_the_same_utc_times(tmp_path):
    case = scenario("immediate_parent_creation")
    track = case["chains"][0]["entity_id"]
    with store_of(case["rows"], tmp_path) as store:
        rows = lla.chain(store, "TRACK", track)
    chicago = pl.col("created_at").dt.replace_time_zone("UTC").dt.convert_time_zone("America/Chicago")
    local = rows.with_columns(chicago)

    def times(graph: nx.MultiDiGraph) -> list[tuple[str, str]]:
        return sorted((n, d.get("created_at") or d.get("first_at")) for n, d in graph.nodes(data=True))

    assert times(graph_module.graph_of(local)) == times(graph_module.graph_of(rows))


def test_prov_generates_an_entity_once_and_times_each_row_as_the_traces_do(tmp_path):
    case = scenario("flat_queue_family")
    rows = [{**row, "category": "CREATED"} for row in case["rows"]]  # every row a creation, as a catch-all
    album = case["chains"][1]["entity_id"]
    with store_of(rows, tmp_path) as store:
        graph = lla.provenance_graph(store, "ALBUM", album)
    document = prov_document(graph)
    records = document.get_records()
    generated = [r.args[0].localpart for r in records if r.get_type().localpart == "Generation"]
    assert len(generated) == len(set(generated))  # each entity generated once, by its first CREATED row
    created = [(s, t) for s, t, kind in graph.edges(keys=True) if kind == "created"]
    assert len(created) > len(generated)  # the later CREATED rows used the entity instead
    timed = [r for r in records if r.get_type().localpart == "Activity" and r.get_endTime() is not None]
    assert len(timed) == sum(kind == "log" for _, kind in graph.nodes(data="kind"))  # every row timed
    for record in timed:
        start, end = record.get_startTime(), record.get_endTime()
        data = graph.nodes[f"log:{record.identifier.localpart}"]
        assert end.utcoffset() == timedelta(0)
        assert f"{end:%Y-%m-%dT%H:%M:%S.%f}"[:23] + "Z" == data["created_at"]
        assert end - start == timedelta(milliseconds=max(data.get("duration_ms") or 0, 0))


def test_prov_is_generated_by_the_row_explain_calls_the_creation_and_by_none_without_one():
    from llamalog_analytics.sample import DEMO_ALBUM

    def generated(graph: nx.MultiDiGraph) -> dict[str, str]:
        """Each generated entity's id and the log row that generated it."""
        records = prov_document(graph).get_records()
        return {
            r.args[0].localpart: r.args[1].localpart
            for r in records
            if r.get_type().localpart == "Generation"
        }

    with lla.sample_store() as store:
        (created_album,) = store.execute(
            "SELECT album_id FROM llama_logs WHERE operation = 'album:created:spotify-sync' "
            "ORDER BY created_at LIMIT 1"
        )[0]
        found = {}
        for album in (DEMO_ALBUM, str(created_album)):
            created = lla.explain(store, "ALBUM", album).created
            found[album] = (generated(lla.provenance_graph(store, "ALBUM", album)).get(album), created)
    # the demo album's CREATED rows: a game-pool update and an add to the pool the catch-all labelled
    assert found[DEMO_ALBUM] == (None, None)
    row, created = found[str(created_album)]
    assert row == str(created["id"]) and created["operation"] == "album:created:spotify-sync"
