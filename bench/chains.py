"""Time provenance chains against PostgreSQL 15 running the same definition, in one run.

    python bench/chains.py --rows 1000000 10000000

For each size: N generated rows go into a store file and into a throwaway PostgreSQL 15 with
indexes on ``job_id``, ``parent_job_id``, ``album_id``, ``artist_id``, ``track_id`` and
(``entity_type``, ``entity_id``) (``jit = off``; for the one-chain query also hash and merge
joins off, so PostgreSQL keeps the index plan it uses at 1M rows). Then, on the same 100 random
entities, for ``link="job_id"`` (bare job ids) and then ``link="instance"`` (job runs, the
default), each in a process of its own (so each peak memory is its own): the index's build time
and memory, one chain returned with full rows (median of ``lla.chain``, and its page faults a
chain, those read from disk apart; then again, with the pages of the mapped rows file the first
pass read already mapped), every entity's chain at
once (``all_chains``) and the median per-entity graph.

PostgreSQL runs the bare-job-id definition as a recursive CTE: one chain (full rows, fetched by
psycopg) and every chain at once (it only counts the pairs, which favours it); the ratios compare
it with ``link="job_id"``, the same definition. Our chains are timed once the chain index is
built, as PostgreSQL's are once its indexes are; the batch ratio is also given with our build
counted. The instance figures are given as ratios to the job-id ones. Memory: how much the
process grew building the index against the index's own arrays (``nbytes``; the rows are mapped
from a file), right after and once polars' allocator has returned what the build freed
(:data:`_child.SETTLE`), each also split into the heap (``RssAnon``) and pages of mapped files
(``RssFile``: the rows file). The child first builds the bundled sample's index, so the
libraries' code a build runs is already loaded, as in any session that asked a chain before,
and does not count as growth. Then its peak once
the index is built and the chains answered, then after every chain at once (whose answer is
itself large). At sizes up to 1M the whole-table graph (seconds
and peak memory, in a child process) follows unless ``--no-graph``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _child
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgserver import PgServer, copy_rows, create_upstream

import llamalog_analytics as lla
from llamalog_analytics.schema import TYPED_ID

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


def _seconds(interval: str) -> float:
    """Seconds in a PostgreSQL interval such as ``25min`` or ``90s``."""
    number = float(interval.rstrip("minsh"))
    return number * {"min": 60, "h": 3600}.get(interval.lstrip("0123456789."), 1)


def median_ms(function, entities) -> float:
    function(*entities[0])  # warm
    times = []
    for entity in entities:
        start = time.perf_counter()
        function(*entity)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _resident(since: dict[str, int] | None = None) -> dict[str, int]:
    """The process's resident memory now: all, the heap and pages of mapped files; with
    ``since``, how much each grew from it."""
    now = {field: _child.memory(field) for field in ("VmRSS", "RssAnon", "RssFile")}
    return now if since is None else {field: now[field] - since[field] for field in now}


def _faults() -> tuple[int, int]:
    """The process's page faults so far: all of them, and those that read from disk."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt, usage.ru_majflt


def ours_child(path: str, link: str, entities_json: str) -> dict:
    """(Run in a child process.) The chain index built, medians over the entities, every chain."""
    from llamalog_analytics.chain_index import chain_index
    from llamalog_analytics.chains import all_chains
    from llamalog_analytics.links import Linking

    entities = [tuple(e) for e in json.loads(entities_json)]
    with lla.sample_store() as sample:  # the libraries' code a build runs, loaded before measuring
        chain_index(sample, linking=Linking.of(link))
    time.sleep(_child.SETTLE)  # and what that build freed given back
    with lla.LogStore(path, read_only=True) as store:
        before = _resident()
        start = time.perf_counter()
        index = chain_index(store, linking=Linking.of(link))
        build = time.perf_counter() - start
        grew, nbytes = _resident(since=before), index.nbytes
        time.sleep(_child.SETTLE)
        settled = _resident(since=before)
        del index
        faults = _faults()
        one = median_ms(lambda kind, entity: lla.chain(store, kind, entity, link=link), entities)
        faults = [  # median_ms asks one chain more first, to warm
            (after - before) / (len(entities) + 1) for before, after in zip(faults, _faults(), strict=True)
        ]
        # the same entities again: the mapped file's pages the first pass read are mapped now
        again = median_ms(lambda kind, entity: lla.chain(store, kind, entity, link=link), entities)
        sizes = [lla.chain(store, kind, entity, link=link).height for kind, entity in entities]
        graph_ms = median_ms(
            lambda kind, entity: lla.provenance_graph(store, kind, entity, link=link), entities
        )
        chains_peak = _child.peak()  # the index built and the chains answered
        mapped = _child.memory("RssFile")  # of it, pages of mapped files: the rows file and libraries
        start = time.perf_counter()
        pairs = all_chains(store, link=link).height
        every = time.perf_counter() - start
    return {
        "build": build,
        "grew": grew,
        "settled": settled,
        "nbytes": nbytes,
        "one_ms": one,
        "again_ms": again,
        "faults": faults,
        "sizes": sizes,
        "graph_ms": graph_ms,
        "every": every,
        "pairs": pairs,
        "chains_peak": chains_peak,
        "mapped": mapped,
        "peak": _child.peak(),
    }


def graph_child(path: str) -> dict:
    """(Run in a child process.) The whole-table graph: seconds, peak memory and size."""
    with lla.LogStore(path, read_only=True) as store:
        start = time.perf_counter()
        graph = lla.provenance_graph(store)
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rss": _child.peak(),
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
    }


CHILDREN = {"ours": ours_child, "graph": graph_child}


def in_child(kind: str, *args: str) -> dict:
    """Run ``CHILDREN[kind](*args)`` in a fresh interpreter (so its peak memory is its own)."""
    out = subprocess.check_output([sys.executable, __file__, "--child", kind, *args])
    return json.loads(out)


@dataclass
class Ours:
    """Our side for one way of linking, measured in a process of its own."""

    build: float
    grew: dict[str, int]  # growth of VmRSS, RssAnon (heap) and RssFile (mapped files)
    settled: dict[str, int]
    nbytes: int
    one_ms: float
    again_ms: float
    faults: list[float]  # page faults per chain the first time: all, and those read from disk
    sizes: list[int]
    graph_ms: float
    every: float
    pairs: int
    chains_peak: int
    mapped: int
    peak: int


def measure_ours(store_path: Path, entities: list[tuple[str, str]], link: str) -> Ours:
    """In a child process: the index built, medians over ``entities``, every chain at once."""
    ours = Ours(**in_child("ours", str(store_path), link, json.dumps(entities)))
    print(
        f"  {link}: chain index built in {ours.build:.2f}s; {ours.nbytes / 2**20:,.0f} MiB of arrays; "
        f"process grew {_growth(ours.grew, ours.nbytes)}, "
        f"{_child.SETTLE:.0f}s later {_growth(ours.settled, ours.nbytes)}; peak "
        f"{ours.chains_peak / 2**30:.2f} GiB building it and answering {len(entities)} chains (then "
        f"{ours.mapped / 2**30:.2f} GiB of it pages of mapped files, the rows file and libraries), "
        f"{ours.peak / 2**30:.2f} GiB after every chain at once",
        flush=True,
    )
    return ours


def _growth(grew: dict[str, int], nbytes: int) -> str:
    """How much the process grew, against the index's arrays: all of it, the heap, mapped files."""
    return (
        f"{grew['VmRSS'] / 2**20:,.0f} MiB ({grew['VmRSS'] / nbytes:.2f}x the arrays: heap "
        f"{grew['RssAnon'] / 2**20:,.0f} MiB, {grew['RssAnon'] / nbytes:.2f}x; "
        f"mapped files {grew['RssFile'] / 2**20:,.0f} MiB)"
    )


def sample_entities(store_path: Path, count: int) -> list[tuple[str, str]]:
    """``count`` random entities (the same ones every run)."""
    with lla.LogStore(store_path, read_only=True) as store:
        seeds = store.execute(
            """SELECT kind, entity FROM (
                  SELECT 'ALBUM' AS kind, album_id AS entity FROM llama_logs WHERE album_id IS NOT NULL
                  UNION SELECT 'ARTIST', artist_id FROM llama_logs WHERE artist_id IS NOT NULL
                  UNION SELECT 'TRACK', track_id FROM llama_logs WHERE track_id IS NOT NULL)
                ORDER BY kind, entity"""
        )
    return [(kind, str(entity)) for kind, entity in random.Random(7).sample(seeds, count)]


def run(
    rows: int, server: PgServer, work: Path, count: int, pg_batch_timeout: str, whole_graph: bool
) -> None:
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
        con.execute("CHECKPOINT")  # its writes done before anything is timed (see _child.warm)
    store_path = work / f"store-{rows}.duckdb"
    with lla.LogStore(store_path) as store:
        store.load_files(parquet, quiet=True)
    print(f"\n== {rows:,} rows (prepared in {time.perf_counter() - started:.0f}s)")

    entities = sample_entities(store_path, count)
    _child.warm(store_path)
    literal = measure_ours(store_path, entities, "job_id")
    runs = measure_ours(store_path, entities, "instance")
    print(
        f"instance / job_id: index build {runs.build / literal.build:.2f}x "
        f"({runs.build:.2f}s / {literal.build:.2f}s); one chain {runs.one_ms / literal.one_ms:.2f}x "
        f"({runs.one_ms:.3f} / {literal.one_ms:.3f} ms; median {statistics.median(runs.sizes):.0f} / "
        f"{statistics.median(literal.sizes):.0f} rows); every chain {runs.every / literal.every:.2f}x "
        f"({runs.every:.2f}s / {literal.every:.2f}s; {runs.pairs:,} / {literal.pairs:,} pairs); "
        f"per-entity graph {runs.graph_ms:.1f} / {literal.graph_ms:.1f} ms",
        flush=True,
    )
    ours, sizes, ours_all, pairs_ours = literal.one_ms, literal.sizes, literal.every, literal.pairs

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
            f"one chain (job_id), full rows, median of {count} (median {statistics.median(sizes):.0f} "
            f"rows, max {max(sizes)}): ours {ours:.3f} ms, PostgreSQL {theirs:.3f} ms, "
            f"PostgreSQL / ours = {theirs / ours:.1f}x; the same chains again: ours "
            f"{literal.again_ms:.3f} ms (page faults a chain the first time: {literal.faults[0]:.1f}, "
            f"{literal.faults[1]:.2f} of them read from disk)",
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
                f"every chain at once (job_id): ours {ours_all:.2f}s ({pairs_ours:,} pairs), PostgreSQL "
                f"{theirs_all:.2f}s ({pairs:,} pairs), PostgreSQL / ours = {theirs_all / ours_all:.1f}x; "
                f"with our index build counted ({literal.build:.2f}s; PostgreSQL's index builds are not): "
                f"{theirs_all / (ours_all + literal.build):.1f}x"
            )
        except psycopg.errors.QueryCanceled:
            con.rollback()
            print(
                f"every chain at once: ours {ours_all:.2f}s ({pairs_ours:,} pairs); PostgreSQL did not "
                f"finish within {pg_batch_timeout}, so PostgreSQL / ours > "
                f"{_seconds(pg_batch_timeout) / ours_all:.0f}x"
            )
    if rows <= 1_000_000 and whole_graph:
        graph = in_child("graph", str(store_path))
        print(
            f"whole-table graph: {graph['seconds']:.1f}s, peak memory {graph['rss'] / 2**30:.1f} GiB, "
            f"{graph['nodes']:,} nodes, {graph['edges']:,} edges"
        )


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(CHILDREN[sys.argv[2]](*sys.argv[3:])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument(
        "--pg-batch-timeout", default="60min", help="statement_timeout for PostgreSQL's batch"
    )
    parser.add_argument("--no-graph", action="store_true", help="leave out the whole-table graph")
    args = parser.parse_args()
    server = PgServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="llamalog-chains-") as work:
            for rows in args.rows:
                run(rows, server, Path(work), args.entities, args.pg_batch_timeout, not args.no_graph)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
