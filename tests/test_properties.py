"""Property tests: whatever gets corrupted, rows read = loaded + rejected, and good rows load intact."""

from __future__ import annotations

import gzip

import polars as pl
from conftest import assert_same_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llamalog_analytics as lla

CORRUPTIONS = {
    "id": "not-a-uuid",
    "created_at": "31/02/2026 25:00",
    "metadata": '{"albumTitle": ',
    "sources": "MUSICBRAINZ,SPOTIFY",
    "duration_ms": "12.5",
    "is_root_job": "perhaps",
    "retry_count": "zero",
    "operation": None,
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 59), st.sampled_from(sorted(CORRUPTIONS))), min_size=0, max_size=12
    ),
    fmt=st.sampled_from([".csv", ".csv.gz"]),
)
def test_accounting_and_round_trip_under_corruption(synth, tmp_path_factory, cells, fmt):
    rows = synth.llama_logs.head(60)
    folder = tmp_path_factory.mktemp("prop")
    as_text = pl.read_csv(lla.write_logs(rows, folder / "clean.csv"), infer_schema=False)
    for row, column in cells:
        as_text = as_text.with_columns(
            pl.when(pl.int_range(pl.len()) == row)
            .then(pl.lit(CORRUPTIONS[column]))
            .otherwise(pl.col(column))
            .alias(column)
        )
    path = folder / f"corrupt{fmt}"
    text = as_text.write_csv(null_value="", quote_style="non_numeric").encode()
    path.write_bytes(gzip.compress(text) if fmt.endswith(".gz") else text)
    bad_rows = sorted({row for row, _ in cells})
    with lla.LogStore() as store:
        result = store.load_files(path, quiet=True)
        assert result.rows_read == 60
        assert result.rows_read == result.rows_loaded + result.rows_rejected
        assert store.rejects()["row_number"].to_list() == [r + 1 for r in bad_rows]
        good = rows.filter(~pl.int_range(pl.len()).is_in(bad_rows))
        if good.height:
            assert_same_rows(store.table(), good)
