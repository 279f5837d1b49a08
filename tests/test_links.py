"""Job links: runs split by the reuse gap, parents resolved to the nearest run, roots and loops."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llamalog_analytics as lla
from llamalog_analytics import links
from llamalog_analytics.chain_index import chain_index
from llamalog_analytics.errors import LinkError
from llamalog_analytics.links import _core as links_core

T0 = datetime(2026, 3, 1)
DAY = timedelta(hours=24)


def frame(*rows: tuple[str | None, str | None, timedelta]) -> pl.DataFrame:
    """Rows of (job_id, parent_job_id, time after T0), ids in row order."""
    return pl.DataFrame(
        {
            "id": [str(uuid.UUID(int=n + 1)) for n in range(len(rows))],
            "job_id": [r[0] for r in rows],
            "parent_job_id": [r[1] for r in rows],
            "created_at": [T0 + r[2] for r in rows],
        },
        schema={"id": pl.String, "job_id": pl.String, "parent_job_id": pl.String, "created_at": pl.Datetime},
    )


def resolved(*rows: tuple[str | None, str | None, timedelta], **linking: object) -> list[tuple]:
    found = links.resolve(frame(*rows), links.Linking.of(**linking))  # type: ignore[arg-type]
    return found.select("job_instance", "parent_instance", "dangling").rows()


def test_a_gap_of_exactly_the_reuse_gap_stays_one_run():
    assert resolved(("7", None, timedelta(0)), ("7", None, DAY)) == [(1, None, None), (1, None, None)]
    later = DAY + timedelta(milliseconds=1)
    assert resolved(("7", None, timedelta(0)), ("7", None, later)) == [(1, None, None), (2, None, None)]


def test_a_parent_exactly_the_reuse_gap_away_resolves_and_one_millisecond_more_does_not():
    assert resolved(("7", None, timedelta(0)), ("8", "7", DAY))[1] == (1, 1, None)
    late = resolved(("7", None, timedelta(0)), ("8", "7", DAY + timedelta(milliseconds=1)))
    assert late[1] == (1, None, links.NO_RUN_NEAR)
    assert resolved(("8", "ghost", timedelta(0)))[0] == (1, None, links.NO_ROW)


def test_a_child_just_before_a_run_links_to_it_and_ties_go_to_the_earlier_run():
    rows = (("7", None, timedelta(0)), ("7", None, 2 * DAY), ("9", "7", timedelta(hours=47)))
    assert resolved(*rows)[2] == (1, 2, None)  # one hour before run 2, 47 hours after run 1
    rows = (("7", None, timedelta(0)), ("7", None, timedelta(hours=40)), ("9", "7", timedelta(hours=20)))
    assert resolved(*rows)[2] == (1, 1, None)
    assert resolved(*rows, link="job_id") == [(1, None, None), (1, None, None), (1, 1, None)]


def test_linking_is_checked():
    assert links.Linking.of("job-id") == links.Linking("job_id", None)
    with pytest.raises(LinkError, match="unknown link 'bare'"):
        links.Linking.of("bare")
    with pytest.raises(LinkError, match=r"is not a duration\. Hint"):
        links.Linking.of(reuse_gap="a while")
    with pytest.raises(LinkError, match=r"is not a duration\. Hint"):
        links.Linking.of("job_id", reuse_gap="a while")  # unused with bare ids, still a mistake
    with pytest.raises(LinkError, match=r"'-6h' is negative"):
        links.Linking.of(reuse_gap="-6h")
    with pytest.raises(LinkError, match=r"'-soon' is not a duration"):
        links.Linking.of(reuse_gap="-soon")
    with pytest.raises(LinkError, match=r"reuse_gap=datetime\.timedelta\(0\) is not positive"):
        links.Linking.of(reuse_gap=timedelta(0))
    for zero in ("0", "0s", "0.0", 0):  # zero in any unit or none: the same, true thing
        with pytest.raises(LinkError, match=rf"reuse_gap={zero!r} is not positive\. Hint"):
            links.Linking.of(reuse_gap=zero)  # type: ignore[arg-type]
    with pytest.raises(LinkError, match=r"reuse_gap='6' is a number without a unit\. Hint"):
        links.Linking.of(reuse_gap="6")
    with pytest.raises(LinkError, match=r"reuse_gap='1000000000d' is longer than 999,999,999 days, .*Hint"):
        links.Linking.of(reuse_gap="1000000000d")  # more than a timedelta holds
    assert links.Linking.of(reuse_gap="999999999d").reuse_gap == timedelta(days=999_999_999)
    with pytest.raises(LinkError, match=r"reuse_gap=-1 is negative: a duration is positive"):
        links.Linking.of(reuse_gap=-1)  # type: ignore[arg-type]
    with pytest.raises(
        LinkError, match=r"reuse_gap='6h' has no meaning with link='job-id' .--link job-id.: bare job ids"
    ):
        links.Linking.of("job-id", "6h")  # bare ids have no runs for a gap to tell apart
    with pytest.raises(LinkError, match=r"unknown link None\. Hint: use one of instance, job_id"):
        links.Linking.of(None)  # type: ignore[arg-type]
    with pytest.raises(LinkError, match=r"Hint: build it with Linking\.of"):
        links.Linking("job_id")  # bare ids take no reuse gap


def oracle(rows: pl.DataFrame, gap: timedelta) -> list[tuple]:
    """The definition, written out plainly: runs by gap, then the nearest run within the gap."""
    ordered = sorted(range(rows.height), key=lambda i: (rows["created_at"][i], rows["id"][i]))
    runs: dict[str, list[list[datetime]]] = {}  # job id -> runs -> their times
    run_of: dict[int, int] = {}
    for i in ordered:
        job, at = rows["job_id"][i], rows["created_at"][i]
        if job is None:
            continue
        spans = runs.setdefault(job, [])
        if not spans or at - spans[-1][-1] > gap:
            spans.append([])
        spans[-1].append(at)
        run_of[i] = len(spans)
    answer = []
    for i in range(rows.height):
        parent, at = rows["parent_job_id"][i], rows["created_at"][i]
        resolved_run, why = None, None
        if parent is not None:
            spans = runs.get(parent, [])
            distances = [(max(s[0] - at, at - s[-1], timedelta(0)), n) for n, s in enumerate(spans, 1)]
            if not distances:
                why = links.NO_ROW
            elif min(distances)[0] > gap:
                why = links.NO_RUN_NEAR
            else:
                resolved_run = min(distances)[1]
        answer.append((run_of.get(i), resolved_run, why))
    return answer


HOURS = st.sampled_from([0, 0, 1, 12, 20, 24, 25, 30, 48, 24 * 9])


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", None]),
            st.sampled_from(["a", "b", "c", "x", None]),
            HOURS,
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=40,
    ),
    gap=st.sampled_from(["1h", "24h", "36h"]),
    slice_rows=st.sampled_from([1, 2, 3, 1 << 20]),
)
def test_resolve_follows_the_definition(rows, gap, slice_rows):
    """Parent links are searched a slice of rows at a time: slices of a row or a few put the
    ends of slices inside stretches of rows that want one parent."""
    data = frame(*((job, parent, timedelta(hours=h, seconds=s)) for job, parent, h, s in rows))
    linking = links.Linking.of(reuse_gap=gap)
    expected = oracle(data, linking.reuse_gap)
    with mock.patch.object(links_core, "_SLICE", slice_rows):
        found = links.resolve(data, linking).select("job_instance", "parent_instance", "dangling")
    assert found.rows() == expected


@pytest.mark.parametrize("link", ["instance", "job_id"])
def test_the_audits_roots_are_the_chains_roots(synth_store, link):
    """Two ways to the top of a job tree (SQL recursion for the audit, pointer jumping for chains)
    give the same root for every row with a parent."""
    linking = links.Linking.of(link)
    roots = links.roots_sql("llama_logs", linking)
    truth = synth_store.frame(f"SELECT id::VARCHAR AS id, true_root FROM ({roots})")
    index = chain_index(synth_store, linking=linking)
    rows = index.frame(dict.fromkeys(range(len(index.rows)), ("self", 0)))
    chained = rows.filter(pl.col("parent_job_id").is_not_null()).select("id", true_root="chain_root")
    assert truth.height == chained.height > 100
    assert truth.sort("id").equals(chained.sort("id"))


def test_a_runs_parent_is_its_first_rows_even_when_that_row_has_none(tmp_path):
    rows = frame(
        ("a", None, timedelta(0)),
        ("a", "b", timedelta(minutes=1)),
        ("b", None, timedelta(0)),
        ("c", "a", timedelta(minutes=2)),
    )
    rows = rows.with_columns(pl.lit("op").alias("operation"), pl.lit(None, pl.String).alias("root_job_id"))
    with lla.LogStore() as store:
        path = tmp_path / "rows.parquet"
        rows.write_parquet(path)
        store.load_files(path, quiet=True)
        truth = store.frame(
            f"SELECT id::VARCHAR AS id, true_root FROM ({links.roots_sql('llama_logs')}) ORDER BY id"
        )
    assert truth.rows() == [(str(uuid.UUID(int=2)), "b"), (str(uuid.UUID(int=4)), "a")]  # run a is a root
