"""Time the migration audit against the same checks written as SQL in PostgreSQL 15.

    python bench/verify.py --rows 10000000 --snapshot 5000000

Generates N rows; the snapshot (``enrichment_logs``) is the oldest S rows with the 26
pre-migration columns, so the checks that compare the two tables do S rows' work (rows after
the real migration date then count as category mismatches: more work, not less). Times, on
the same data:

* ``lla.verify(store)`` on a persistent store file, in a child process whose peak memory
  (VmHWM) is reported;
* the twelve checks as PostgreSQL SQL (the upstream indexes, ``work_mem = 256MB``, jit off),
  one statement per check, each counted to the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgserver import PgServer, copy_rows, create_indexes, create_upstream, record_migrations

import llamalog_analytics as lla
from llamalog_analytics import rules, schema

CHILD = """
import json, sys, time
import llamalog_analytics as lla
from llamalog_analytics import audit
took = {}

def timed(check):
    def run(a):
        start = time.perf_counter()
        try:
            return check(a)
        finally:
            took[check.__name__] = time.perf_counter() - start
    return run

start = time.perf_counter()
with lla.LogStore(sys.argv[1], read_only=True) as store:
    report = lla.verify(store, checks=[timed(c) for c in audit.DEFAULT_CHECKS])
seconds = time.perf_counter() - start
rss = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
counts = {c.name: c.count for c in report.checks}
print(json.dumps({"seconds": seconds, "rss": rss, "counts": counts, "took": took}))
"""

_ROOT_AT = "(SELECT min(started_at) FROM _prisma_migrations WHERE migration_name = '{m}')"


def postgres_checks(is_root_at: str, root_at: str) -> dict[str, str]:
    """The default checks as PostgreSQL SQL over llama_logs and enrichment_logs."""
    common = [c.name for c in schema.LEGACY_COLUMNS if c.name != "id"]

    def side(alias: str) -> str:
        return ", ".join(
            f"date_trunc('milliseconds', {alias}.created_at)" if c == "created_at" else f"{alias}.{c}"
            for c in common
        )

    old = (
        "SELECT id, created_at, job_id, parent_job_id, root_job_id FROM llama_logs "
        f"WHERE created_at < {root_at}"
    )
    applied = rules.APPLIED_BACKFILL.case()
    return {
        "rows_preserved": f"""SELECT b.id FROM enrichment_logs b LEFT JOIN llama_logs a USING (id)
WHERE a.id IS NULL
UNION ALL SELECT b.id FROM enrichment_logs b JOIN llama_logs a USING (id)
WHERE ({side("b")}) IS DISTINCT FROM ({side("a")})""",
        "category_present": "SELECT id FROM llama_logs WHERE category IS NULL",
        "category_backfill": f"""SELECT id FROM llama_logs WHERE id IN (SELECT id FROM enrichment_logs)
AND category::text IS DISTINCT FROM ({applied})""",
        "category_backfill_intent": f"""SELECT operation, status, {applied},
  {rules.ROADMAP_INTENT.case()}, count(*)
FROM llama_logs WHERE id IN (SELECT id FROM enrichment_logs) GROUP BY 1, 2, 3, 4""",
        "category_rules": f"""SELECT id FROM llama_logs WHERE id NOT IN (SELECT id FROM enrichment_logs)
AND category::text IS DISTINCT FROM ({rules.APPLICATION.case()})""",
        "root_job_backfill": f"""WITH RECURSIVE old AS ({old}),
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
        "root_job_truth": f"""WITH RECURSIVE old AS ({old}),
parents AS (SELECT DISTINCT ON (job_id) job_id AS job, parent_job_id AS parent FROM old
  WHERE job_id IS NOT NULL ORDER BY job_id, created_at, id),
walk(start, top, hops, path) AS (
  SELECT DISTINCT parent_job_id, parent_job_id, 0, ARRAY[parent_job_id::text] FROM old
  WHERE parent_job_id IS NOT NULL
  UNION ALL SELECT w.start, p.parent, w.hops + 1, w.path || p.parent::text
  FROM walk w JOIN parents p ON p.job = w.top
  WHERE p.parent IS NOT NULL AND NOT p.parent = ANY (w.path)),
tops AS (SELECT DISTINCT ON (start) start, top FROM walk ORDER BY start, hops DESC),
truth AS (SELECT t.start, CASE WHEN p.parent IS NULL THEN t.top END AS root
  FROM tops t LEFT JOIN parents p ON p.job = t.top)
SELECT o.id FROM old o JOIN truth t ON t.start = o.parent_job_id
WHERE o.root_job_id IS DISTINCT FROM t.root""",
        "duplicate_ids": """SELECT id FROM llama_logs GROUP BY id HAVING count(*) > 1
UNION ALL SELECT id FROM enrichment_logs GROUP BY id HAVING count(*) > 1""",
        "shared_job_ids": """WITH jobs AS (
  SELECT job_id FROM llama_logs WHERE job_id IS NOT NULL GROUP BY job_id
  HAVING count(*) > 1 AND (count(DISTINCT coalesce(entity_id, album_id, track_id, artist_id)) > 1
  OR count(DISTINCT coalesce(parent_job_id, '')) > 1 OR max(created_at) - min(created_at) > INTERVAL '1 day'))
SELECT t.id FROM llama_logs t JOIN jobs USING (job_id)""",
        "dangling_parents": """SELECT c.id FROM llama_logs c WHERE c.parent_job_id IS NOT NULL
AND NOT EXISTS (SELECT 1 FROM llama_logs p WHERE p.job_id = c.parent_job_id)""",
        "job_cycles": """WITH RECURSIVE links AS (
  SELECT DISTINCT job_id AS job, parent_job_id AS parent FROM llama_logs
  WHERE job_id IS NOT NULL AND parent_job_id IS NOT NULL),
walk(start, reached, path) AS (SELECT job, parent, ARRAY[job::text] FROM links
  UNION ALL SELECT w.start, l.parent, w.path || w.reached::text FROM walk w JOIN links l ON l.job = w.reached
  WHERE NOT w.reached = ANY (w.path))
SELECT id FROM llama_logs WHERE job_id IN (SELECT start FROM walk WHERE reached = start)""",
        "is_root_consistency": f"""SELECT id FROM llama_logs WHERE (is_root_job AND parent_job_id IS NOT NULL)
OR (NOT is_root_job AND parent_job_id IS NULL AND created_at >= {is_root_at})""",
        "child_before_parent": """WITH parents AS (SELECT job_id, min(created_at) AS first FROM llama_logs
  WHERE job_id IS NOT NULL GROUP BY job_id)
SELECT c.id FROM llama_logs c JOIN parents p ON p.job_id = c.parent_job_id WHERE c.created_at < p.first""",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--snapshot", type=int, default=5_000_000)
    parser.add_argument("--no-postgres", action="store_true", help="time lla.verify only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llamalog-verifybench-"))
    started = time.perf_counter()
    data = lla.synthetic.generate(args.rows, seed=5)
    logs = data.llama_logs
    snapshot = logs.head(args.snapshot).select(c.name for c in schema.LEGACY_COLUMNS)
    store_path = work / "store.duckdb"
    with lla.LogStore(store_path) as store:
        for table, frame in (("llama_logs", logs), ("enrichment_logs", snapshot)):
            lla.write_logs(frame, work / f"{table}.parquet")
            store.load_files(work / f"{table}.parquet", table, quiet=True)
        data.prisma_migrations.write_csv(work / "m.csv")
        store.load_files(work / "m.csv", "_prisma_migrations", quiet=True)
    print(
        f"rows: {args.rows:,}, snapshot {args.snapshot:,}; prepared in {time.perf_counter() - started:.0f}s"
    )

    out = subprocess.check_output([sys.executable, "-c", CHILD, str(store_path)])
    ours = json.loads(out)
    print(f"lla.verify: {ours['seconds']:.2f}s, peak memory (VmHWM) {ours['rss'] / 2**20:,.0f} MiB")
    for name, took in ours["took"].items():
        print(f"  ours {name:<26} {took:8.2f}s  {ours['counts'][name]:>10,} found")
    if args.no_postgres:
        return

    server = PgServer.start()
    try:
        url = server.database("verify")
        create_upstream(url, indexes=False)
        create_upstream(url, table="enrichment_logs", era=schema.CATEGORY_MIGRATION, indexes=False)
        copy_rows(url, logs)
        copy_rows(url, snapshot, table="enrichment_logs")
        create_indexes(url)
        record_migrations(url, data.prisma_migrations)
        del data, logs, snapshot
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE INDEX ON enrichment_logs (id)")
            con.execute("CREATE INDEX ON llama_logs (job_id)")
            con.execute("VACUUM ANALYZE")
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
    finally:
        server.stop()


if __name__ == "__main__":
    main()
