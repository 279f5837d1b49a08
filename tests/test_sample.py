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


def test_the_job_run_figures_data_readme_gives():
    """data/README.md's counts of reused and never-logged job ids and of changed chains."""
    from llamalog_analytics import links
    from llamalog_analytics.chains import all_chains

    with lla.sample_store() as store:
        linked = store.frame(f"SELECT * FROM ({links.rows_sql('llama_logs')})")
        chains = {
            (link, gap): all_chains(store, link=link, reuse_gap=gap)
            .group_by("entity_type", "entity_id")
            .agg(pl.col("id").sort())
            for link, gap in (("job_id", None), ("instance", "1h"), ("instance", "24h"))
        }
    runs = linked.group_by("job_id").agg(pl.col("job_instance").max()).filter(pl.col("job_instance") > 1)
    assert (runs.height, runs["job_instance"].sum()) == (641, 1_312)
    dangling = linked.group_by("dangling").agg(rows=pl.len(), ids=pl.col("parent_job_id").n_unique())
    assert sorted(dangling.drop_nulls().rows()) == [(links.NO_ROW, 633, 169), (links.NO_RUN_NEAR, 641, 183)]
    bare, hourly, daily = chains.values()
    assert hourly.sort("entity_id").equals(daily.sort("entity_id"))
    changed = bare.join(daily, on=["entity_type", "entity_id"]).filter(pl.col("id") != pl.col("id_right"))
    assert (changed.height, bare.height) == (761, 1_357)
