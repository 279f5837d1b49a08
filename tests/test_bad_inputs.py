"""Every case of the bad-input corpus gives its expected outcome, and nothing is lost."""

from __future__ import annotations

import re

import polars as pl
import pytest
from bad_inputs import CASES, csv, csv_row

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
        assert case.path.read_bytes() == case.content, f"{case.name}: run python tests/bad_inputs.py"


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
