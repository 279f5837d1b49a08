"""Time provenance chains against PostgreSQL 15 running the same definition, in one run.

    python bench/chains.py --rows 1000000 10000000

For each size: N generated rows go into a store file and into a throwaway PostgreSQL 15 with
indexes on ``job_id``, ``parent_job_id``, ``album_id``, ``artist_id``, ``track_id`` and
(``entity_type``, ``entity_id``) (``jit = off``; for the one-chain query also hash and merge
joins off, so PostgreSQL keeps the index plan it uses at 1M rows). Then, on the same 100 random
entities:

* one chain, returned with full rows: median of ``lla.chain`` against a recursive CTE
  (fetched by psycopg), after the chain index is built (its build time and memory reported);
* every entity's chain at once: ``all_chains`` against the same recursive CTE over all seeds
  (PostgreSQL only counts the pairs, which favours it);
* at the smallest size, the whole-table graph (seconds and peak memory, in a child process) and
  the median per-entity graph.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgserver import PgServer, copy_rows, create_upstream

import llamalog_analytics as lla
from llamalog_analytics.chains import TYPED_ID, all_chains, chain_index

INDEXES = ("job_id", "parent_job_id", "album_id", "artist_id", "track_id", "entity_type, entity_id")

SEEDS = """seeds AS (
  SELECT id FROM llama_logs WHERE {typed} = %(entity)s::uuid
  UNION SELECT id FROM llama_logs
  WHERE entity_type = %(kind)s::"EnrichmentEntityType" AND entity_id = %(entity)s::uuid)"""
WALK = """up(job) AS (
  SELECT l.parent_job_id FROM llama_logs l JOIN {seeds} s ON s.id = l.id WHERE l.parent_job_id IS NOT NULL
  UNION SELECT l.parent_job_id FROM up JOIN llama_logs l ON l.job_id = up.job
  WHERE l.parent_job_id IS NOT NULL),
down(job) AS (
  SELECT l.job_id FROM llama_logs l JOIN {seeds} s ON s.id = l.id WHERE l.job_id IS NOT NULL
  UNION SELECT l.job_id FROM down JOIN llama_logs l ON l.parent_job_id = down.job WHERE l.job_id IS NOT NULL),
chain AS (
  SELECT id FROM {seeds}
  UNION SELECT l.id FROM llama_logs l JOIN up ON l.job_id = up.job
  UNION SELECT l.id FROM llama_logs l JOIN down ON l.parent_job_id = down.job)"""
ONE_CHAIN = (
    "WITH RECURSIVE "
    + SEEDS
    + ",\n"
    + WALK.format(seeds="seeds")
    # Fetch the rows by key: a join with the chain misjudges its size and scans the table.
    + "\nSELECT * FROM llama_logs WHERE id = ANY(ARRAY(SELECT id FROM chain)) ORDER BY created_at, id"
)
ALL_SEEDS = " UNION ".join(
    [
        *(
            f"SELECT '{kind}' AS kind, {column} AS entity, id FROM llama_logs WHERE {column} IS NOT NULL"
            for kind, column in TYPED_ID.items()
        ),
        "SELECT entity_type::text, entity_id, id FROM llama_logs WHERE entity_id IS NOT NULL",
    ]
)
EVERY_CHAIN = f"""WITH RECURSIVE seeds AS ({ALL_SEEDS}),
up(kind, entity, job) AS (
  SELECT s.kind, s.entity, l.parent_job_id FROM seeds s JOIN llama_logs l ON l.id = s.id
  WHERE l.parent_job_id IS NOT NULL
  UNION SELECT up.kind, up.entity, l.parent_job_id FROM up JOIN llama_logs l ON l.job_id = up.job
  WHERE l.parent_job_id IS NOT NULL),
down(kind, entity, job) AS (
  SELECT s.kind, s.entity, l.job_id FROM seeds s JOIN llama_logs l ON l.id = s.id WHERE l.job_id IS NOT NULL
  UNION SELECT down.kind, down.entity, l.job_id FROM down JOIN llama_logs l ON l.parent_job_id = down.job
  WHERE l.job_id IS NOT NULL)
SELECT count(*) FROM (
  SELECT kind, entity, id FROM seeds
  UNION SELECT up.kind, up.entity, l.id FROM up JOIN llama_logs l ON l.job_id = up.job
  UNION SELECT down.kind, down.entity, l.id FROM down JOIN llama_logs l ON l.parent_job_id = down.job
) AS pairs"""

GRAPH_CHILD = """
import json, sys, time
import llamalog_analytics as lla
with lla.LogStore(sys.argv[1], read_only=True) as store:
    start = time.perf_counter()
    graph = lla.provenance_graph(store)
    seconds = time.perf_counter() - start
rss = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "rss": rss, "nodes": graph.number_of_nodes(),
                  "edges": graph.number_of_edges()}))
"""


def _seconds(interval: str) -> float:
    """Seconds in a PostgreSQL interval such as ``25min`` or ``90s``."""
    number = float(interval.rstrip("minsh"))
    return number * {"min": 60, "h": 3600}.get(interval.lstrip("0123456789."), 1)


def rss() -> int:
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))


def median_ms(function, entities) -> float:
    function(*entities[0])  # warm
    times = []
    for entity in entities:
        start = time.perf_counter()
        function(*entity)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def measure_ours(store_path: Path, count: int) -> tuple:
    """Our side: the index, one chain and one graph per entity (medians), every chain at once."""
    with lla.LogStore(store_path, read_only=True) as store:
        before = rss()
        start = time.perf_counter()
        index = chain_index(store)
        build = time.perf_counter() - start
        print(
            f"chain index: built in {build:.2f}s; {index.nbytes / 2**20:,.0f} MiB of arrays and rows; "
            f"process grew {(rss() - before) / 2**20:,.0f} MiB"
        )
        seeds = store.execute(
            """SELECT kind, entity FROM (
                  SELECT 'ALBUM' AS kind, album_id AS entity FROM llama_logs WHERE album_id IS NOT NULL
                  UNION SELECT 'ARTIST', artist_id FROM llama_logs WHERE artist_id IS NOT NULL
                  UNION SELECT 'TRACK', track_id FROM llama_logs WHERE track_id IS NOT NULL)
                ORDER BY kind, entity"""
        )
        entities = [(kind, str(entity)) for kind, entity in random.Random(7).sample(seeds, count)]
        ours = median_ms(lambda kind, entity: lla.chain(store, kind, entity), entities)
        sizes = [lla.chain(store, kind, entity).height for kind, entity in entities]
        graph_ms = median_ms(lambda kind, entity: lla.provenance_graph(store, kind, entity), entities)
        start = time.perf_counter()
        pairs = all_chains(store).height
        return ours, sizes, graph_ms, time.perf_counter() - start, pairs, entities


def run(rows: int, server: PgServer, work: Path, count: int, pg_batch_timeout: str) -> None:
    started = time.perf_counter()
    data = lla.synthetic.generate(rows, seed=1).llama_logs
    parquet = work / f"logs-{rows}.parquet"
    data.write_parquet(parquet)
    url = server.database(f"chains_{rows}")
    create_upstream(url, indexes=False)
    copy_rows(url, data)
    del data
    with psycopg.connect(url, autocommit=True) as con:
        for number, columns in enumerate(INDEXES):
            con.execute(f"CREATE INDEX chain_{number} ON llama_logs ({columns})")
        con.execute("VACUUM ANALYZE llama_logs")
    store_path = work / f"store-{rows}.duckdb"
    with lla.LogStore(store_path) as store:
        store.load_files(parquet, quiet=True)
    print(f"\n== {rows:,} rows (prepared in {time.perf_counter() - started:.0f}s)")

    ours, sizes, graph_ms, ours_all, pairs_ours, entities = measure_ours(store_path, count)
    gc.collect()  # the chain index went with its store: PostgreSQL gets the memory back

    with psycopg.connect(url) as con:
        # PostgreSQL's best plan for one chain is index lookups all the way; at 10M rows the
        # planner misjudges the recursive parts and scans the table (seconds per chain).
        con.execute("SET jit = off")
        con.execute("SET enable_hashjoin = off")
        con.execute("SET enable_mergejoin = off")

        def postgres(kind: str, entity: str) -> None:
            con.execute(ONE_CHAIN.format(typed=TYPED_ID[kind]), {"kind": kind, "entity": entity}).fetchall()

        theirs = median_ms(postgres, entities)
        print(
            f"one chain, full rows, median of {count} (median {statistics.median(sizes):.0f} rows, "
            f"max {max(sizes)}): ours {ours:.3f} ms, PostgreSQL {theirs:.3f} ms, "
            f"PostgreSQL / ours = {theirs / ours:.1f}x",
            flush=True,
        )
        con.execute("RESET enable_hashjoin")  # the batch joins everything: hash joins are right
        con.execute("RESET enable_mergejoin")
        con.execute(f"SET statement_timeout = '{pg_batch_timeout}'")
        start = time.perf_counter()
        try:
            (pairs,) = con.execute(EVERY_CHAIN).fetchone()
            theirs_all = time.perf_counter() - start
            print(
                f"every chain at once: ours {ours_all:.2f}s ({pairs_ours:,} pairs), PostgreSQL "
                f"{theirs_all:.2f}s ({pairs:,} pairs), PostgreSQL / ours = {theirs_all / ours_all:.1f}x"
            )
        except psycopg.errors.QueryCanceled:
            con.rollback()
            print(
                f"every chain at once: ours {ours_all:.2f}s ({pairs_ours:,} pairs); PostgreSQL did not "
                f"finish within {pg_batch_timeout}, so PostgreSQL / ours > "
                f"{_seconds(pg_batch_timeout) / ours_all:.0f}x"
            )
    print(f"per-entity graph: median {graph_ms:.1f} ms")
    if rows <= 1_000_000:
        out = subprocess.check_output([sys.executable, "-c", GRAPH_CHILD, str(store_path)])
        graph = json.loads(out)
        print(
            f"whole-table graph: {graph['seconds']:.1f}s, peak memory {graph['rss'] / 2**30:.1f} GiB, "
            f"{graph['nodes']:,} nodes, {graph['edges']:,} edges"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument(
        "--pg-batch-timeout", default="60min", help="statement_timeout for PostgreSQL's batch"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llamalog-chains-"))
    server = PgServer.start()
    try:
        for rows in args.rows:
            run(rows, server, work, args.entities, args.pg_batch_timeout)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
