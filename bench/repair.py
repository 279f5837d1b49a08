"""Time a repair plan at scale: build and write it, dry-run it, apply it in PostgreSQL 15.

    python bench/repair.py --rows 10000000 --snapshot 5000000

Generates N rows; the snapshot (``enrichment_logs``) is the oldest S rows from before the
category migration, with the 26 pre-migration columns. Then 1 % of the rows go wrong: 1 % of the
snapshot's rows get another category, 1 % of the rows older than the root-job migration another
root job, 0.1 % of the snapshot's rows are deleted and 0.1 % have two cells changed. In a child
process (peak memory is VmHWM, reset between steps), on a store file: ``lla.verify`` (and how
much of it recording the run took), ``lla.repair(report, restore_missing=True,
revert_changes=True)`` and ``plan.write``, then ``plan.dry_run()``. Last, the broken tables go
into PostgreSQL 15 with the upstream indexes and ``migration.sql`` runs there through ``psql``;
the table is audited again.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import _child
from pgserver import PgServer, create_both_eras, run_sql_file

import llamalog_analytics as lla
from llamalog_analytics import schema

CHILD = """
import json, sys, time
import llamalog_analytics as lla
from _child import peak, recording, reset_peak

took = {}
with lla.LogStore(sys.argv[1]) as store:
    start = time.perf_counter()
    report = lla.verify(store)
    took["verify"] = time.perf_counter() - start
    took["peak of verify"] = peak()
    took["held before plan"] = reset_peak()
    start = time.perf_counter()
    plan = lla.repair(report, restore_missing=True, revert_changes=True)
    took["repair"] = time.perf_counter() - start
    start = time.perf_counter()
    folder = plan.write(sys.argv[2])
    took["write"] = time.perf_counter() - start
    took["peak of plan"] = peak()
    took["held before dry run"] = reset_peak()
    start = time.perf_counter()
    checked = plan.dry_run()
    took["dry_run"] = time.perf_counter() - start
    took["peak of dry run"] = peak()
print(json.dumps({"took": took, "recording": recording, "counts": plan.counts, "changes": plan.changes.height,
                  "folder": str(folder), "verdict": checked.verdict, "ok": checked.ok}))
"""


def main() -> None:
    args = _child.arguments(__doc__, "skip applying the migration")
    with tempfile.TemporaryDirectory(prefix="llamalog-repairbench-") as work:
        measure(args, Path(work))


def break_rows(store: lla.LogStore) -> None:
    """Make 1 % of the rows wrong, as the module says (chosen by a hash of the id)."""
    share = "hash(id::VARCHAR || {salt}) % 1000 < {per_mille}"
    root_at = store.execute(
        "SELECT min(started_at) FROM _prisma_migrations WHERE migration_name = ?", [schema.ROOT_JOB_MIGRATION]
    )[0][0]
    in_snapshot = "id IN (SELECT id FROM enrichment_logs)"
    store.execute(
        "UPDATE llama_logs SET category = CASE WHEN category = 'FAILED' THEN 'ENRICHED' ELSE 'FAILED' END "
        f"WHERE {in_snapshot} AND {share.format(salt=1, per_mille=10)}"
    )
    store.execute(
        "UPDATE llama_logs SET root_job_id = 'wrong-' || coalesce(root_job_id, 'none') "
        f"WHERE created_at < ? AND {share.format(salt=2, per_mille=10)}",
        [root_at],
    )
    store.execute(f"DELETE FROM llama_logs WHERE {in_snapshot} AND {share.format(salt=3, per_mille=1)}")
    store.execute(
        "UPDATE llama_logs SET error_message = 'edited ' || id, sources = ['EDITED'] "
        f"WHERE {in_snapshot} AND {share.format(salt=4, per_mille=1)}"
    )


def measure(args: argparse.Namespace, work: Path) -> None:
    started = time.perf_counter()
    data = lla.synthetic.generate(args.rows, seed=5)
    migrated = data.prisma_migrations.filter(migration_name=schema.CATEGORY_MIGRATION)["started_at"][0]
    logs = data.llama_logs
    old = logs.filter(logs["created_at"] < migrated.replace(tzinfo=None))
    snapshot = old.head(args.snapshot).select(c.name for c in schema.LEGACY_COLUMNS)
    store_path = _child.write_store(work, logs, snapshot, data.prisma_migrations)
    with lla.LogStore(store_path) as store:
        break_rows(store)
    del data, logs, old
    print(
        f"rows: {args.rows:,}, snapshot {snapshot.height:,} (rows before the category migration, at most "
        f"{args.snapshot:,}); prepared in {time.perf_counter() - started:.0f}s"
    )
    out = _child.run(CHILD, str(store_path), str(work / "plans"))
    ours = json.loads(out)
    took = ours["took"]
    print(f"lla.verify: {took['verify']:.2f}s, peak memory {took['peak of verify'] / 2**30:.2f} GiB")
    first = ours["recording"][0]
    print(f"  recording the run: {first:.2f}s, {first / (took['verify'] - first):.1%} of verify without it")
    print(f"plan: {ours['counts']} rows, {ours['changes']:,} changes")
    built = took["repair"] + took["write"]
    print(
        f"  lla.repair {took['repair']:.2f}s + plan.write {took['write']:.2f}s = {built:.2f}s; "
        f"peak memory {took['peak of plan'] / 2**30:.2f} GiB, "
        f"{(took['peak of plan'] - took['held before plan']) / 2**30:.2f} GiB over what verify left held"
    )
    folder = Path(ours["folder"])
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"  folder {size / 2**20:,.0f} MiB")
    print(
        f"plan.dry_run: {took['dry_run']:.2f}s = {took['dry_run'] / took['verify']:.2f}x verify; "
        f"peak {took['peak of dry run'] / 2**30:.2f} GiB "
        f"({(took['peak of dry run'] - took['held before dry run']) / 2**30:.2f} GiB over what it started "
        f"with); ok={ours['ok']}: {ours['verdict']}"
    )
    if args.no_postgres:
        return

    server = PgServer.start()
    try:
        url = server.database("repair")
        with lla.LogStore(store_path, read_only=True) as store:
            broken = store.table("llama_logs")
            migrations = store.frame("SELECT * FROM _prisma_migrations")
        create_both_eras(url, broken, snapshot, migrations)
        del broken
        start = time.perf_counter()
        applied = run_sql_file(url, folder / "migration.sql")
        took_pg = time.perf_counter() - start
        notices = applied.stderr.strip()
        print(f"migration.sql in PostgreSQL 15: {took_pg:.1f}s, exit {applied.returncode} {notices}")
        with lla.LogStore() as fresh:
            fresh.load_postgres(url, quiet=True)
            again = lla.verify(fresh)
        for name in ("category_backfill", "root_job_backfill", "rows_preserved"):
            print(f"  after it, {name}: {again.check(name).status} ({again.check(name).count:,})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
