"""Time the migration audit against the same checks written as SQL in PostgreSQL 15.

    python bench/verify.py --rows 10000000 --snapshot 5000000

Generates N rows; the snapshot (``enrichment_logs``) is the oldest S rows with the 26
pre-migration columns, so the checks that compare the two tables do S rows' work (rows after
the real migration date then count as category mismatches: more work, not less). Times, on
the same data:

* ``lla.verify(store)`` on a persistent store file, in a child process whose peak memory
  (VmHWM) is reported, and how much of it recording the run took (the first run, then a second
  recording of it, compared with the first);
* the same checks as PostgreSQL SQL (the upstream indexes, ``work_mem = 256MB``, jit off),
  one statement per check, each counted to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import _child
from pgserver import PgServer, create_both_eras

import llamalog_analytics as lla
from llamalog_analytics import rules, schema
from llamalog_analytics._memory import give_back_freed_memory
from llamalog_analytics.audit.origins import entities_sql

CHILD = """
import json, sys, time
import llamalog_analytics as lla
from llamalog_analytics.audit import history
from _child import peak, recording, timed_checks
took = {}
checks = timed_checks(took)
start = time.perf_counter()
with lla.LogStore(sys.argv[1]) as store:
    report = lla.verify(store, checks=checks)
    seconds = time.perf_counter() - start
    history.record(store, report, {})  # again: the cost with a previous run to compare with
rss = peak()
counts = {c.name: c.count for c in report.checks}
print(json.dumps({"seconds": seconds, "rss": rss, "counts": counts, "took": took, "recording": recording}))
"""

_ROOT_AT = "(SELECT min(started_at) FROM _prisma_migrations WHERE migration_name = '{m}')"


def linked(source: str) -> str:
    """CTEs ``numbered`` (each row's job run), ``spans`` (each run) and ``resolved`` (each row's
    parent run, nearest in time, and how far it is) over ``source``: the job-instance links of
    ``llamalog_analytics.links`` in PostgreSQL SQL, with the default 24-hour reuse gap."""
    return f"""marked AS (
  SELECT id, created_at, job_id, parent_job_id, root_job_id, operation,
    coalesce(created_at - lag(created_at) OVER w > {GAP}, true) AS starts
  FROM {source} WINDOW w AS (PARTITION BY job_id ORDER BY created_at, id)),
numbered AS (
  SELECT *, CASE WHEN job_id IS NOT NULL THEN sum(starts::int) OVER (
    PARTITION BY job_id ORDER BY created_at, id ROWS UNBOUNDED PRECEDING) END AS job_instance
  FROM marked),
spans AS (
  SELECT job_id, job_instance, min(created_at) AS first_at, max(created_at) AS last_at FROM numbered
  WHERE job_id IS NOT NULL GROUP BY 1, 2),
nearest AS (
  SELECT DISTINCT ON (n.id) n.*, s.job_instance AS near_instance, s.first_at AS near_first,
    greatest(s.first_at - n.created_at, n.created_at - s.last_at, interval '0') AS distance
  FROM numbered n LEFT JOIN spans s ON s.job_id = n.parent_job_id
  ORDER BY n.id, distance, s.job_instance),
resolved AS (
  SELECT *, CASE WHEN distance <= {GAP} THEN near_instance END AS parent_instance,
    CASE WHEN distance <= {GAP} THEN near_first END AS parent_first_at
  FROM nearest)"""


GAP = "interval '24 hours'"


def postgres_checks(is_root_at: str, root_at: str) -> dict[str, str]:
    """The default checks as PostgreSQL SQL over llama_logs and enrichment_logs; the job-link
    checks follow job runs (:func:`linked`), the backfills bare job ids, as ``lla.verify`` does,
    replayed on the snapshot's operation, status and job links for the rows it holds."""
    common = [c.name for c in schema.LEGACY_COLUMNS if c.name != "id"]

    def side(alias: str) -> str:
        return ", ".join(
            f"date_trunc('milliseconds', {alias}.created_at)" if c == "created_at" else f"{alias}.{c}"
            for c in common
        )

    old = (
        "SELECT id, created_at, job_id, parent_job_id, root_job_id, operation FROM llama_logs "
        f"WHERE created_at < {root_at}"
    )
    then = ", ".join(  # the job links the snapshot holds for a row, else today's
        f"CASE WHEN b.id IS NULL THEN a.{c} ELSE b.{c} END AS {c}" for c in ("job_id", "parent_job_id")
    )
    walked = (  # the rows the root-job backfill saw
        f"SELECT a.id, a.created_at, {then}, a.root_job_id "
        f"FROM llama_logs a LEFT JOIN enrichment_logs b USING (id) WHERE a.created_at < {root_at}"
    )
    labelled = (  # the rows the category backfill labelled, with the snapshot's operation and status
        "(SELECT a.id, a.category, b.operation, b.status "
        "FROM llama_logs a JOIN enrichment_logs b USING (id)) AS m"
    )
    applied = rules.APPLIED_BACKFILL.case()
    entities = entities_sql("llama_logs").replace("GROUP BY ALL", "GROUP BY 1, 2")  # as PostgreSQL writes it
    return {
        "rows_preserved": f"""SELECT b.id FROM enrichment_logs b LEFT JOIN llama_logs a USING (id)
WHERE a.id IS NULL
UNION ALL SELECT b.id FROM enrichment_logs b JOIN llama_logs a USING (id)
WHERE ({side("b")}) IS DISTINCT FROM ({side("a")})""",
        "category_present": "SELECT id FROM llama_logs WHERE category IS NULL",
        "category_backfill": f"""SELECT id FROM {labelled}
WHERE category::text IS DISTINCT FROM ({applied})""",
        "category_backfill_intent": f"""SELECT operation, status, {applied},
  {rules.ROADMAP_INTENT.case()}, count(*)
FROM {labelled} GROUP BY 1, 2, 3, 4""",
        "category_rules": f"""SELECT id FROM llama_logs WHERE id NOT IN (SELECT id FROM enrichment_logs)
AND category::text IS DISTINCT FROM ({rules.APPLICATION.case()})""",
        "root_job_backfill": f"""WITH RECURSIVE old AS ({walked}),
links AS (SELECT DISTINCT job_id, parent_job_id FROM old WHERE job_id IS NOT NULL),
walk(id, parent, root, depth) AS (
  SELECT id, parent_job_id, parent_job_id, 1 FROM old WHERE parent_job_id IS NOT NULL
  UNION SELECT w.id, l.parent_job_id, l.job_id, w.depth + 1 FROM walk w JOIN links l ON l.job_id = w.parent
  WHERE w.depth < 10),
deepest AS (SELECT id, depth, array_agg(DISTINCT root) AS roots FROM walk GROUP BY id, depth),
best AS (SELECT DISTINCT ON (id) id, roots FROM deepest ORDER BY id, depth DESC)
SELECT o.id FROM old o LEFT JOIN best b USING (id)
WHERE CASE WHEN o.parent_job_id IS NOT NULL THEN NOT coalesce(o.root_job_id = ANY (b.roots), false)
  WHEN o.job_id IS NOT NULL THEN o.root_job_id IS DISTINCT FROM o.job_id
  ELSE o.root_job_id IS NOT NULL END""",
        "root_job_truth": f"""WITH RECURSIVE {linked(f"({old}) AS old")},
parents AS (
  SELECT DISTINCT ON (job_id, job_instance) job_id, job_id || '#' || job_instance AS run, parent_job_id,
    parent_instance, parent_job_id || '#' || parent_instance AS parent
  FROM resolved WHERE job_id IS NOT NULL ORDER BY job_id, job_instance, created_at, id),
walk(start, top, hops, path) AS (
  SELECT DISTINCT parent_job_id || '#' || parent_instance, parent_job_id || '#' || parent_instance, 0,
    ARRAY[parent_job_id || '#' || parent_instance]
  FROM resolved WHERE parent_instance IS NOT NULL
  UNION ALL SELECT w.start, p.parent, w.hops + 1, w.path || p.parent
  FROM walk w JOIN parents p ON p.run = w.top
  WHERE p.parent IS NOT NULL AND NOT p.parent = ANY (w.path)),
tops AS (SELECT DISTINCT ON (start) start, top FROM walk ORDER BY start, hops DESC),
truth AS (
  SELECT t.start, CASE WHEN p.parent IS NULL THEN coalesce(p.parent_job_id, p.job_id) END AS root
  FROM tops t JOIN parents p ON p.run = t.top)
SELECT r.id FROM resolved r LEFT JOIN truth t ON t.start = r.parent_job_id || '#' || r.parent_instance
WHERE r.parent_job_id IS NOT NULL
  AND r.root_job_id IS DISTINCT FROM
    CASE WHEN r.parent_instance IS NULL THEN r.parent_job_id ELSE t.root END""",
        "duplicate_ids": """SELECT id FROM llama_logs GROUP BY id HAVING count(*) > 1
UNION ALL SELECT id FROM enrichment_logs GROUP BY id HAVING count(*) > 1""",
        "reused_job_ids": f"""WITH {linked("llama_logs")},
runs AS (
  SELECT DISTINCT ON (job_id, job_instance) id, job_id, job_instance, operation, created_at AS first_at,
    max(created_at) OVER (PARTITION BY job_id, job_instance) AS last_at,
    count(*) OVER (PARTITION BY job_id, job_instance) AS rows,
    max(job_instance) OVER (PARTITION BY job_id) AS runs
  FROM numbered WHERE job_id IS NOT NULL ORDER BY job_id, job_instance, created_at, id)
SELECT id, runs, first_at, last_at, rows, operation FROM runs WHERE runs > 1""",
        "dangling_parents": f"""WITH {linked("llama_logs")}
SELECT id FROM resolved WHERE parent_job_id IS NOT NULL AND parent_instance IS NULL""",
        "job_cycles": f"""WITH RECURSIVE {linked("llama_logs")},
links AS (
  SELECT DISTINCT job_id || '#' || job_instance AS run, parent_job_id || '#' || parent_instance AS parent
  FROM resolved WHERE job_instance IS NOT NULL AND parent_instance IS NOT NULL),
walk(start, first, reached, path) AS (SELECT run, parent, parent, ARRAY[run] FROM links
  UNION ALL SELECT w.start, w.first, l.parent, w.path || w.reached
  FROM walk w JOIN links l ON l.run = w.reached
  WHERE NOT w.reached = ANY (w.path)),
looped AS (SELECT DISTINCT start, first FROM walk WHERE reached = start)
SELECT r.id FROM resolved r JOIN looped l
  ON l.start = r.job_id || '#' || r.job_instance AND l.first = r.parent_job_id || '#' || r.parent_instance""",
        "is_root_consistency": f"""SELECT id FROM llama_logs WHERE (is_root_job AND parent_job_id IS NOT NULL)
OR (NOT is_root_job AND parent_job_id IS NULL AND created_at >= {is_root_at})""",
        "child_before_parent": f"""WITH {linked("llama_logs")}
SELECT id FROM resolved WHERE created_at < parent_first_at""",
        "unknown_origin": f"SELECT id FROM ({entities}) AS entities WHERE NOT known",
    }


def main() -> None:
    args = _child.arguments(__doc__, "time lla.verify only")
    with tempfile.TemporaryDirectory(prefix="llamalog-verifybench-") as work:
        server = None if args.no_postgres else PgServer.start()
        try:
            measure(args, Path(work), server)
        finally:
            if server is not None:
                server.stop()


def measure(args: argparse.Namespace, work: Path, server: PgServer | None) -> None:
    """Prepare the data in ``work`` (and in ``server``), then time ours in a child process and
    PostgreSQL's SQL. The generated frames are let go of before either side is timed: holding
    them (7.2 GiB at 10M rows) made ours 7 % and 19 % slower in two tries of two runs each way.
    The store file is then read through once, as ``VACUUM ANALYZE`` reads PostgreSQL's tables."""
    started = time.perf_counter()
    data = lla.synthetic.generate(args.rows, seed=5)
    logs = data.llama_logs
    snapshot = logs.head(args.snapshot).select(c.name for c in schema.LEGACY_COLUMNS)
    store_path = _child.write_store(work, logs, snapshot, data.prisma_migrations)
    prepared = f"prepared in {time.perf_counter() - started:.0f}s"
    url = None if server is None else server.database("verify")
    if url is not None:
        started = time.perf_counter()
        create_both_eras(url, logs, snapshot, data.prisma_migrations)
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE INDEX ON enrichment_logs (id)")
            con.execute("CREATE INDEX ON llama_logs (job_id)")
            con.execute("VACUUM ANALYZE")
            con.execute("CHECKPOINT")
        prepared += f", PostgreSQL's in {time.perf_counter() - started:.0f}s"
    del data, logs, snapshot
    give_back_freed_memory()
    os.sync()  # what either side wrote is on disk before the other is timed
    time.sleep(_child.SETTLE)  # and what the frames held given back
    _child.warm(store_path)
    print(
        f"rows: {args.rows:,}, snapshot {args.snapshot:,}; {prepared}; "
        f"this process holds {_child.memory('VmRSS') / 2**20:,.0f} MiB while ours runs"
    )

    out = _child.run(CHILD, str(store_path))
    ours = json.loads(out)
    print(f"lla.verify: {ours['seconds']:.2f}s, peak memory (VmHWM) {ours['rss'] / 2**20:,.0f} MiB")
    checks = ours["seconds"] - ours["recording"][0]
    for what, took in zip(("first run", "next run, compared with it"), ours["recording"], strict=True):
        print(f"  recording the {what}: {took:.2f}s, {took / checks:.1%} of verify without it")
    for name, took in ours["took"].items():
        print(f"  ours {name:<26} {took:8.2f}s  {ours['counts'][name]:>10,} found")
    if url is None:
        return

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("SET work_mem = '256MB'")
        con.execute("SET jit = off")
        is_root_at = _ROOT_AT.format(m=schema.MIGRATIONS[5])
        root_at = _ROOT_AT.format(m=schema.ROOT_JOB_MIGRATION)
        total = 0.0
        for name, sql in postgres_checks(is_root_at, root_at).items():
            start = time.perf_counter()
            found = con.execute(f"SELECT count(*) FROM ({sql}) AS found").fetchone()[0]
            took = time.perf_counter() - start
            total += took
            theirs = ours["counts"].get(name, "-")
            print(f"  postgres {name:<26} {took:8.2f}s  {found:>10,} rows  (ours {theirs})")
    print(f"postgres, all checks: {total:.2f}s; ratio postgres / ours = {total / ours['seconds']:.1f}x")


if __name__ == "__main__":
    main()
