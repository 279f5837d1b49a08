"""Every case of the bad-input corpus gives its expected outcome, and nothing is lost."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from bad_inputs import CASES, FOLDER, csv, csv_row
from conftest import run_cli

import llamalog_analytics as lla
from llamalog_analytics.errors import LlamalogError


def snapshot(store: lla.LogStore) -> tuple[object, ...]:
    """Every stored row, and how many loads and rejects the store records."""
    tables = [
        store.frame(f"SELECT * EXCLUDE (_load_id) FROM {t} ORDER BY ALL").rows() for t in store.tables()
    ]
    return (*tables, store.loads().height, store.rejects().height)


def test_the_corpus_is_large_and_committed_as_generated():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    for case in CASES:
        committed = case.path.read_bytes()
        assert committed == case.content or same_parquet(committed, case.content), (
            f"{case.name}: run python tests/bad_inputs.py"
        )


def same_parquet(a: bytes, b: bytes) -> bool:
    """Two Parquet files that hold the same table, or two both cut short: a Parquet writer's
    bytes change from one version of it to the next, and what a case tests does not."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    if not a.startswith(b"PAR1") or not b.startswith(b"PAR1"):
        return False
    cut = [not x.endswith(b"PAR1") for x in (a, b)]  # no footer: a file cut short
    if any(cut):
        return all(cut)
    try:
        return pq.read_table(io.BytesIO(a)).equals(pq.read_table(io.BytesIO(b)))
    except pa.ArrowInvalid:
        return False


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input(case, tmp_path):
    store = lla.LogStore(tmp_path / "store.duckdb")
    baseline = tmp_path / "baseline.csv"
    baseline.write_bytes(csv(csv_row(50)))  # an earlier load that must survive whatever follows
    store.load_files(baseline, quiet=True)
    before = snapshot(store)
    if case.error is not None:
        with pytest.raises(LlamalogError) as failure:
            store.load_files(case.path, case.table, quiet=True)
        message = str(failure.value)
        assert case.path.name in message and "Hint:" in message, message
        assert re.search(case.error, message), message
        assert snapshot(store) == before  # a failed load leaves the store as it was
        return
    result = store.load_files(case.path, case.table, quiet=True)
    assert result.rows_read == result.rows_loaded + result.rows_rejected
    assert (result.rows_loaded, result.rows_rejected) == (case.loaded, case.rejected)
    stored = store.execute("SELECT count(*) FROM llama_logs")[0][0]
    assert stored == 1 + result.rows_inserted
    rejects = store.rejects(result.load_id)
    assert rejects.height == case.rejected
    for reject in rejects.iter_rows(named=True):
        assert reject["source"] == str(case.path) and reject["row_number"] >= 1
        assert re.search(case.reason, reject["reason"]), reject["reason"]
        assert reject["raw"], "the raw text of a rejected row is kept"
    notes = store.loads().filter(pl.col("load_id") == result.load_id)["notes"].explode().drop_nulls()
    assert re.search(case.note, " ".join(notes)), notes


def test_a_cut_short_csv_from_the_command_line(tmp_path):
    """The user's view: the good rows load, the cut row is counted and kept aside, and
    ``llamalog rejects`` names the file, the line and the likely cause."""
    db, truncated = tmp_path / "s.duckdb", FOLDER / "truncated.csv"
    code, out, err = run_cli("load", truncated, "--db", db, "--quiet")
    assert (code, err) == (0, "")
    assert out.startswith("load 1 into llama_logs: 3 read: 2 new, 1 rejected\n")
    assert out.endswith(f"  rejected rows and why: llamalog rejects --load 1 --db {db}\n")
    code, out, _ = run_cli("rejects", "--load", "1", "--db", db, "--format", "json")
    [reject] = json.loads(out)
    assert reject["reason"] == (
        "truncated.csv line 4: 21 fields where the header has 28; "
        "the file may be cut short or have a stray delimiter"
    )
    assert (reject["source"], reject["row_number"]) == (str(truncated), 3)
    assert reject["raw"] == truncated.read_text().splitlines()[-1]  # the line as the file has it
    code, out, _ = run_cli("rejects", "--db", db)
    assert code == 0 and "truncated.csv line 4: 21 fields" in out and "cut short" in out


def test_a_cut_short_migration_history_from_the_command_line(tmp_path):
    db = tmp_path / "s.duckdb"
    assert run_cli("load", FOLDER / "truncated.csv", "--db", db, "--quiet")[0] == 0
    with lla.LogStore(db, read_only=True) as store:
        before = snapshot(store)
    path = FOLDER / "cut-short-migrations.csv"
    code, out, err = run_cli("load", path, "--as", "_prisma_migrations", "--db", db, "--quiet")
    assert (code, out) == (2, "")
    assert err == (
        "[🦙 LlamaLog] error: cut-short-migrations.csv line 4: 3 fields where the header has 8; the file "
        "may be cut short or have a stray delimiter; the store is unchanged. Hint: _prisma_migrations is "
        "replaced whole, so export it again in full: "
        "psql -c '\\copy _prisma_migrations TO file.csv CSV HEADER'\n"
    )
    with lla.LogStore(db, read_only=True) as store:
        assert snapshot(store) == before and not store.has_table("_prisma_migrations")


@pytest.mark.parametrize("case", [c for c in CASES if c.rejected], ids=lambda c: c.name)
def test_rejects_lists_every_kept_row_in_full(case, tmp_path):
    db = tmp_path / "s.duckdb"
    run_cli("load", case.path, "--db", db, "--as", case.table, "--quiet")
    with lla.LogStore(db, read_only=True) as store:
        kept = store.rejects().to_dicts()
    code, out, _ = run_cli("rejects", "--db", db, "--format", "json")
    assert code == 0 and json.loads(out) == kept and len(kept) == case.rejected
    code, out, _ = run_cli("rejects", "--db", db)
    assert code == 0 and len(out.splitlines()) >= 2 + case.rejected


def test_a_folder_is_named_as_one_with_the_ways_to_read_it(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_bytes(csv(csv_row(1)))
    code, out, err = run_cli("load", f"{folder}/", "--db", tmp_path / "s.duckdb")
    assert (code, out) == (2, "")
    assert f"{folder}/: a folder, not a file. Hint: name its files with a glob ('{folder}/*.csv')" in err
    assert "llamalog attach" in err and not (tmp_path / "s.duckdb").exists()
