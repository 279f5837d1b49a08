"""Time the whole-table provenance graph, and measure networkx's own floor beside it.

    python bench/graph.py --rows 1000000

Generates N rows into a store file, then in a child process of its own (so its peak memory is
its own) builds ``lla.provenance_graph(store)``: seconds, peak memory (VmHWM), nodes and edges.
Another child builds the floor: an empty ``MultiDiGraph`` given the same node names and edge
keys with no attributes, through networkx's ``add_nodes_from`` and ``add_edges_from``; its
figure is what building the bare graph adds to that process at its peak (the name strings,
read before, are not counted).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _child

import llamalog_analytics as lla

GRAPH = """
import json, sys, time
import polars as pl
import llamalog_analytics as lla
from _child import peak
with lla.LogStore(sys.argv[1], read_only=True) as store:
    start = time.perf_counter()
    graph = lla.provenance_graph(store)
    seconds = time.perf_counter() - start
rss = peak()
pl.DataFrame({"node": list(graph)}).write_parquet(sys.argv[2] + "/nodes.parquet")
pl.DataFrame(list(graph.edges(keys=True)), schema=["source", "target", "key"], orient="row").write_parquet(
    sys.argv[2] + "/edges.parquet"
)
print(json.dumps({"seconds": seconds, "rss": rss, "nodes": graph.number_of_nodes(),
                  "edges": graph.number_of_edges()}))
"""

FLOOR = """
import gc, json, sys
import networkx as nx
import polars as pl
from _child import peak, reset_peak
nodes = pl.read_parquet(sys.argv[1] + "/nodes.parquet")["node"].to_list()
edges = pl.read_parquet(sys.argv[1] + "/edges.parquet")
ends = [edges[c].to_list() for c in ("source", "target", "key")]
del edges
gc.disable()
before = reset_peak()
graph = nx.MultiDiGraph()
graph.add_nodes_from(nodes)
graph.add_edges_from(zip(*ends))
grew = peak() - before
print(json.dumps({"grew": grew, "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llamalog-graph-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        data = lla.synthetic.generate(args.rows, seed=1)
        store = _child.write_store(work, data.llama_logs, data.enrichment_logs, data.prisma_migrations)
        del data
        print(f"== {args.rows:,} rows (prepared in {time.perf_counter() - started:.0f}s)", flush=True)
        ours = json.loads(_child.run(GRAPH, str(store), folder))
        print(
            f"whole-table graph: {ours['seconds']:.1f}s, peak memory {ours['rss'] / 2**30:.2f} GiB, "
            f"{ours['nodes']:,} nodes, {ours['edges']:,} edges",
            flush=True,
        )
        floor = json.loads(_child.run(FLOOR, folder))
        assert (floor["nodes"], floor["edges"]) == (ours["nodes"], ours["edges"])
        print(
            f"networkx floor (the same node names and edge keys, no attributes): "
            f"{floor['grew'] / 2**30:.2f} GiB"
        )


if __name__ == "__main__":
    main()
