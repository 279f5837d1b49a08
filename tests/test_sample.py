"""The bundled sample matches the generator, loads cleanly, and the demo runs on it."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

import llamalog_analytics as lla
from llamalog_analytics.sample import write_sample


def test_shipped_sample_matches_the_generator(tmp_path):
    fresh = write_sample(tmp_path)
    for path in fresh:
        shipped = lla.sample_path(path.name)
        assert shipped.exists(), f"{shipped} is missing: python -m llamalog_analytics.sample data/sample"
        if path.suffix == ".parquet":
            assert_frame_equal(pl.read_parquet(shipped), pl.read_parquet(path))
        else:
            assert_frame_equal(
                pl.read_csv(shipped, infer_schema=False), pl.read_csv(path, infer_schema=False)
            )


def test_sample_loads_without_rejects_in_both_formats():
    with lla.LogStore() as store:
        for table in ("llama_logs", "enrichment_logs"):
            csv = store.load_files(lla.sample_path(f"{table}.csv.gz"), table, quiet=True)
            parquet = store.load_files(lla.sample_path(f"{table}.parquet"), table, quiet=True)
            assert csv.rows_rejected == parquet.rows_rejected == 0
            assert parquet.rows_inserted == 0  # the same rows in both formats
        assert store.execute("SELECT count(*) FROM llama_logs")[0][0] == 4_000
