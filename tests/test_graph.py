"""Provenance graphs: nodes, typed edges, job runs, and every export format read back."""

from __future__ import annotations

import json

import networkx as nx
import pydot
import pytest
from conftest import scenario, store_of
from prov.model import ProvDocument

import llamalog_analytics as lla
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
