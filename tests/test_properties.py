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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    broken=st.sets(st.integers(0, 39), max_size=6),
    same=st.lists(st.integers(0, 39), max_size=5),
    conflicting=st.lists(st.integers(0, 39), max_size=5),
    cut=st.integers(0, 3),
    fmt=st.sampled_from(["csv", "ndjson"]),
)
def test_accounting_with_broken_rows_and_repeated_ids(
    synth, tmp_path_factory, broken, same, conflicting, cut, fmt
):
    """Broken rows, equal copies and conflicting copies of an id, and lines cut short:
    every row read is loaded or rejected, each reject is in the rejects table, and each good row
    is stored once."""
    one_line = ~pl.any_horizontal(pl.col(pl.String).str.contains("\n").fill_null(False))
    rows = synth.llama_logs.filter(one_line).head(40)
    folder = tmp_path_factory.mktemp("prop")
    lines = lla.write_logs(rows, folder / f"clean.{fmt}").read_text().splitlines(keepends=True)
    header, body = (lines[:1], lines[1:]) if fmt == "csv" else ([], lines)
    assert len(body) == 40  # one row per line
    same = [r for r in same if r not in broken]
    conflicting = [r for r in conflicting if r not in broken]
    operations = rows["operation"]
    copies = [body[r] for r in same]
    copies += [body[r].replace(operations[r], operations[r] + "-again", 1) for r in conflicting]
    for r in broken:
        body[r] = body[r].replace(rows["id"][r], "not-a-uuid", 1)
    short = '{"id": "cut short\n' if fmt == "ndjson" else "too,few,fields\n"  # a line cut short
    path = folder / f"mixed.{fmt}"
    path.write_text("".join(header + body + copies + [short] * cut))
    with lla.LogStore() as store:
        result = store.load_files(path, quiet=True)
        rejects = store.rejects()
        stored = store.table()
    assert result.rows_read == 40 + len(same) + len(conflicting) + cut
    assert result.rows_rejected == len(broken) + len(conflicting) + cut
    assert result.rows_read == result.rows_loaded + result.rows_rejected
    assert rejects.height == result.rows_rejected
    assert result.rows_inserted == stored.height == 40 - len(broken)
    assert stored["id"].n_unique() == stored.height
