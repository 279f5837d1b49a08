"""Chains as traces: spans per job run, OTLP/JSON read back with opentelemetry-proto, Perfetto JSON."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import store_of
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

import llamalog_analytics as lla
from llamalog_analytics import trace_formats, traces

ALBUM = str(uuid.uuid5(uuid.NAMESPACE_URL, "traces-album"))
T0 = datetime(2026, 3, 1, 12)


def row(name: str, minutes: float, operation: str, category: str, job: str | None, **values: object) -> dict:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"traces-{name}")),
        "entity_type": "ALBUM",
        "entity_id": ALBUM,
        "album_id": ALBUM,
        "operation": operation,
        "status": "FAILED" if category == "FAILED" else "SUCCESS",
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "is_root_job": False,
        "category": category,
        "job_id": job,
    } | values


ROWS = [
    row("root", 0, "album:created", "CREATED", "add-album-1", is_root_job=True),
    row("enrich", 5, "enrichment:album", "ENRICHED", "100", parent_job_id="add-album-1", duration_ms=90_000),
    row("enrich-2", 6, "enrichment:album", "ENRICHED", "100", parent_job_id="add-album-1", duration_ms=1_000),
    row(
        "cover",
        8,
        "cache:album-cover-art",
        "FAILED",
        "101",
        parent_job_id="100",
        error_message="discogs: 429 Too Many Requests",
    ),
    row("discogs", 9, "discogs:get-album", "ENRICHED", "102", parent_job_id="101", duration_ms=500),
    row("fix", 10, "manual_correction", "CORRECTED", None, parent_job_id="100", user_id="u-1"),
    row("orphan", 20, "enrichment:album", "ENRICHED", "200", parent_job_id="sync-gone"),
    row("reused", 3 * 7 * 24 * 60, "enrichment:album", "ENRICHED", "100"),  # the id again, three weeks on
]
ID = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"traces-{name}")) for name in ("root", "fix", "orphan")}
HEX = {32: re.compile(r"[0-9a-f]{32}"), 16: re.compile(r"[0-9a-f]{16}")}


@pytest.fixture
def chain(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    with store_of(ROWS, tmp_path_factory.mktemp("store")) as store:
        return lla.chain(store, "ALBUM", ALBUM)


def sent_spans(document: dict) -> list[dict]:
    return [s for r in document["resourceSpans"] for scope in r["scopeSpans"] for s in scope["spans"]]


def parsed(document: dict) -> TracesData:
    """The OTLP/JSON document as protobuf messages: ids go from hex (OTLP/JSON) to base64 (proto JSON)."""
    document = json.loads(json.dumps(document))
    for span in sent_spans(document):
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in span:
                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return ParseDict(document, TracesData())


def assert_forest(spans: list[dict]) -> None:
    """Unique ids; every parent in the same trace; one root per trace; no walk up comes back."""
    by_id = {(s["traceId"], s["spanId"]): s for s in spans}
    assert len(by_id) == len(spans)
    for span in spans:
        assert HEX[32].fullmatch(span["traceId"]) and HEX[16].fullmatch(span["spanId"]), span
        if span.get("parentSpanId"):
            assert HEX[16].fullmatch(span["parentSpanId"])
            assert (span["traceId"], span["parentSpanId"]) in by_id, span["name"]
    roots = Counter(s["traceId"] for s in spans if not s.get("parentSpanId"))
    assert set(roots) == {s["traceId"] for s in spans} and set(roots.values()) == {1}
    for span in spans:
        seen = set()
        while span.get("parentSpanId"):
            assert span["spanId"] not in seen
            seen.add(span["spanId"])
            span = by_id[(span["traceId"], span["parentSpanId"])]


def attributes(item: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in item["attributes"]}


def nanos(moment: datetime) -> str:
    return str(int(moment.replace(tzinfo=UTC).timestamp() * 1_000_000) * 1000)


def test_spans_follow_runs_rows_and_links(chain: pl.DataFrame) -> None:
    found = traces.spans(chain)
    runs = found.filter(pl.col("job_id").is_not_null())
    assert sorted(runs.select("job_id", "job_instance").rows()) == [
        ("100", 1),
        ("100", 2),
        ("101", 1),
        ("102", 1),
        ("200", 1),
        ("add-album-1", 1),
    ]
    assert found.filter(pl.col("job_id").is_null())["row_id"].to_list() == [ID["fix"]]
    assert found["rows"].sum() == chain.height == sum(found["events"].list.len())
    span_of = {
        (job, run or 0, row): span
        for job, run, row, span in found.select("job_id", "job_instance", "row_id", "span_id").iter_rows()
    }
    parent = dict(zip(found["span_id"], found["parent_span_id"], strict=True))
    assert parent[span_of[("100", 1, None)]] == span_of[("add-album-1", 1, None)]
    assert parent[span_of[("101", 1, None)]] == span_of[("100", 1, None)]
    assert parent[span_of[("102", 1, None)]] == span_of[("101", 1, None)]  # the grandchild
    assert parent[span_of[(None, 0, ID["fix"])]] == span_of[("100", 1, None)]  # a job-less row under a run
    assert parent[span_of[("200", 1, None)]] is None  # its parent never logged
    assert parent[span_of[("100", 2, None)]] is None  # the reused id is a new, unrelated run
    assert span_of[("100", 1, None)] != span_of[("100", 2, None)]
    assert found["trace_id"].n_unique() == 3
    by_job = {(r["job_id"], r["job_instance"]): r for r in found.iter_rows(named=True)}
    assert by_job[("200", 1)]["dangling_parent_job_id"] == "sync-gone"
    assert by_job[("200", 1)]["parent_job_id"] is None
    assert by_job[("101", 1)]["status"] == "error"
    assert by_job[("101", 1)]["status_message"] == "discogs: 429 Too Many Requests"
    assert found.filter(pl.col("status") == "error").height == 1
    assert by_job[("100", 1)]["name"] == "enrichment:album 100"
    assert by_job[("100", 1)]["start"] == T0 + timedelta(minutes=3, seconds=30)  # 5 min less 90 s
    assert by_job[("100", 1)]["end"] == T0 + timedelta(minutes=6)


def test_otlp_parses_as_protobuf_and_is_a_forest(chain: pl.DataFrame) -> None:
    document = trace_formats.otlp(chain)
    data = parsed(document)
    spans = sent_spans(document)
    assert_forest(spans)
    proto = [s for r in data.resource_spans for scope in r.scope_spans for s in scope.spans]
    instances = chain.filter(pl.col("job_id").is_not_null()).select("job_id", "job_instance").n_unique()
    assert len(proto) == instances + chain.filter(pl.col("job_id").is_null()).height == 7
    assert sum(len(s.events) for s in proto) == chain.height
    assert all(len(s.trace_id) == 16 and len(s.span_id) == 8 for s in proto)
    assert {s.kind for s in proto} == {1}
    resource = data.resource_spans[0].resource.attributes[0]
    assert (resource.key, resource.value.string_value) == ("service.name", "llamalog")
    assert data.resource_spans[0].scope_spans[0].scope.name == "llamalog_analytics"
    statuses = Counter(s.status.code for s in proto)
    assert statuses == {1: 6, 2: 1}

    run = next(s for s in spans if attributes(s).get("llamalog.job_id") == "100")
    assert attributes(run)["llamalog.job_instance"] == "1"
    assert run["startTimeUnixNano"] == nanos(T0 + timedelta(minutes=3, seconds=30))
    assert run["endTimeUnixNano"] == nanos(T0 + timedelta(minutes=6))
    assert [e["timeUnixNano"] for e in run["events"]] == [
        nanos(T0 + timedelta(minutes=5)),
        nanos(T0 + timedelta(minutes=6)),
    ]
    event = attributes(run["events"][0])
    assert event["llamalog.operation"] == "enrichment:album"
    assert event["llamalog.category"] == "ENRICHED"
    assert event["llamalog.album_id"] == ALBUM
    assert event["llamalog.duration_ms"] == "90000"
    failed = next(s for s in spans if s["status"]["code"] == 2)
    assert failed["status"]["message"] == "discogs: 429 Too Many Requests"
    assert attributes(failed["events"][0])["llamalog.error_message"] == "discogs: 429 Too Many Requests"
    orphan = next(s for s in spans if attributes(s).get("llamalog.job_id") == "200")
    assert "parentSpanId" not in orphan
    assert attributes(orphan)["llamalog.dangling_parent_job_id"] == "sync-gone"
    assert not any(attributes(s).get("llamalog.job_id") == "sync-gone" for s in spans)  # no span for it
    fix = next(s for s in spans if attributes(s).get("llamalog.row_id") == ID["fix"])
    assert fix["startTimeUnixNano"] == fix["endTimeUnixNano"] == nanos(T0 + timedelta(minutes=10))


def test_ids_are_deterministic(chain: pl.DataFrame, tmp_path: Path) -> None:
    first, again = (
        trace_formats.otlp(chain),
        trace_formats.otlp(chain.sample(fraction=1.0, shuffle=True, seed=3)),
    )
    assert first == again
    with store_of(ROWS, tmp_path) as store:  # a fresh store, the same data
        assert trace_formats.otlp(lla.chain(store, "ALBUM", ALBUM)) == first
        # rows without a chain's annotations are linked among themselves, to the same runs
        whole = trace_formats.otlp(store.table())  # the chain here is the whole table, less its `relation`s

    def shape(document: dict) -> list[tuple]:
        return [
            (s["traceId"], s["spanId"], s.get("parentSpanId"), s["startTimeUnixNano"], s["attributes"])
            for s in sent_spans(document)
        ]

    assert shape(whole) == shape(first)


def test_filtered_out_parents_start_traces(tmp_path: Path) -> None:
    with store_of(ROWS, tmp_path) as store:
        rows = lla.chain(store, "ALBUM", ALBUM, categories=["ENRICHED", "CORRECTED", "FAILED"])
    spans = sent_spans(trace_formats.otlp(rows))
    assert_forest(spans)
    enrich = next(s for s in spans if attributes(s).get("llamalog.job_id") == "100")
    assert "parentSpanId" not in enrich  # its parent's rows were filtered out
    assert attributes(enrich)["llamalog.parent_job_id"] == "add-album-1"
    assert attributes(enrich)["llamalog.parent_instance"] == "1"


def test_loops_are_cut_at_their_oldest_span() -> None:
    rows = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "operation": ["enrichment:album"] * 3,
            "job_id": ["L1", "L2", "L3"],
            "parent_job_id": ["L2", "L1", "L3"],
            "created_at": [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)],
        }
    )
    found = traces.spans(rows)
    assert found.select("job_id", "loop_broken", pl.col("parent_span_id").is_null()).rows() == [
        ("L1", True, True),
        ("L2", False, False),
        ("L3", True, True),  # its own parent
    ]
    assert_forest(sent_spans(trace_formats.otlp(rows)))


def test_perfetto_events(chain: pl.DataFrame) -> None:
    document = json.loads(json.dumps(trace_formats.perfetto(chain)))
    assert document["displayTimeUnit"] == "ms"
    events = document["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    instants = [e for e in events if e["ph"] == "i"]
    meta = Counter(e["name"] for e in events if e["ph"] == "M")
    assert len(complete) == 7 and len(instants) == chain.height
    assert meta["process_name"] == 3 and meta["thread_name"] == 7
    assert all(isinstance(e["ts"], int) and isinstance(e["dur"], int) and e["dur"] >= 0 for e in complete)
    assert all(e["cat"] == "job" for e in complete)
    assert {(e["pid"], e["tid"]) for e in complete} == {(e["pid"], e["tid"]) for e in instants}
    assert len({(e["pid"], e["tid"]) for e in complete}) == 7  # a thread per span
    assert all(
        e["s"] == "t" and {"llamalog.category", "llamalog.operation"} <= set(e["args"]) for e in instants
    )
    names = {e["args"]["name"].lstrip("\u00a0│├└ ") for e in events if e["name"] == "thread_name"}
    assert "enrichment:album 100" in names and "manual_correction" in names  # after the tree's lines
    enrich = next(
        e
        for e in complete
        if e["args"].get("llamalog.job_id") == "100" and e["args"]["llamalog.job_instance"] == 1
    )
    start = int((T0 + timedelta(minutes=3, seconds=30)).replace(tzinfo=UTC).timestamp() * 1_000_000)
    assert (enrich["ts"], enrich["dur"]) == (start, 150_000_000)
    # parents come before their children on the threads of a trace
    tid = {e["args"]["span_id"]: e["tid"] for e in complete}
    assert all(tid[e["args"]["parent_span_id"]] < e["tid"] for e in complete if "parent_span_id" in e["args"])


def test_sample_album_chains_are_forests() -> None:
    with lla.sample_store() as store:
        albums = [
            r[0]
            for r in store.execute(
                "SELECT DISTINCT album_id FROM llama_logs WHERE album_id IS NOT NULL "
                "ORDER BY album_id LIMIT 20"
            )
        ]
        assert len(albums) == 20
        for album in albums:
            rows = lla.chain(store, "ALBUM", album)
            document = trace_formats.otlp(rows)
            spans = sent_spans(document)
            assert_forest(spans)
            proto = [s for r in parsed(document).resource_spans for sc in r.scope_spans for s in sc.spans]
            runs = rows.filter(pl.col("job_id").is_not_null()).select("job_id", "job_instance").n_unique()
            assert len(proto) == runs + rows.filter(pl.col("job_id").is_null()).height
            assert sum(len(s.events) for s in proto) == rows.height
            assert all(
                s.start_time_unix_nano <= e.time_unix_nano <= s.end_time_unix_nano
                for s in proto
                for e in s.events
            )


def test_an_event_says_what_the_timeline_rings() -> None:
    """A row logged before its parent run (or on a loop of runs) carries it as an attribute of
    its event, which trace viewers show; the timeline rings it."""
    with lla.sample_store() as store:
        rows = lla.chain(store, "ALBUM", "017c0ee2-abf0-4622-912f-04f4c1aaeb80")  # one row early
    events = [e for s in sent_spans(trace_formats.otlp(rows)) for e in s["events"]]
    flagged = {
        next(a["value"]["stringValue"] for a in e["attributes"] if a["key"] == "llamalog.row_id")
        for e in events
        if {"key": "llamalog.before_parent", "value": {"boolValue": True}} in e["attributes"]
    }
    assert flagged and flagged == set(rows.filter("before_parent")["id"])
    assert not any(a["key"] == "llamalog.in_cycle" for e in events for a in e["attributes"])  # false: out
    instant = trace_formats.otlp(rows.with_columns(duration_ms=pl.lit(0)))  # a zero is kept, unlike false
    durations = [a for s in sent_spans(instant) for e in s["events"] for a in e["attributes"]]
    assert {"key": "llamalog.duration_ms", "value": {"intValue": "0"}} in durations


def test_runs_take_their_first_rows_parent_and_job_less_rows_are_instants(tmp_path: Path) -> None:
    rows = [
        row("top", 0, "collection:album-added", "USER_ACTION", "c-1"),
        row("below", 1, "enrichment:album", "ENRICHED", "300", parent_job_id="gone-batch"),
        row("deeper", 2, "cache:album-cover-art", "ENRICHED", "301", parent_job_id="300"),
        row("late", 3, "enrichment:album", "ENRICHED", "c-1", parent_job_id="300"),  # not the run's parent
        row("note", 4, "admin_correction", "CORRECTED", None, parent_job_id="301", duration_ms=5_000),
        row("odd", 5, "discogs:get-artist", "FAILED", "302", parent_job_id="301", status="SUCCESS"),
    ]
    with store_of(rows, tmp_path) as store:
        found = traces.spans(lla.chain(store, "ALBUM", ALBUM)).sort("start")
    by_name = {span["name"].split(" ")[0]: span for span in found.iter_rows(named=True)}
    assert by_name["collection:album-added"]["parent_span_id"] is None  # first row has no parent
    note = by_name["admin_correction"]
    assert note["start"] == note["end"] == T0 + timedelta(minutes=4)  # no job id: no duration
    assert by_name["discogs:get-artist"]["status"] == "error"  # FAILED by category alone
    below = found.filter(pl.col("trace_id") == by_name["enrichment:album"]["trace_id"])
    assert below.height == 4 and set(below["dangling_parent_job_id"]) == {"gone-batch"}


def test_perfetto_puts_each_traces_root_span_first(tmp_path: Path) -> None:
    # ui.perfetto.dev takes the thread whose tid is its pid for the process's main thread and lists
    # it first, the others by tid; tids are one numbering across processes there
    rows = [
        row("a", 0, "collection:album-added", "USER_ACTION", "a-1"),
        row("b", 1, "enrichment:album", "ENRICHED", "400", parent_job_id="a-1"),
        row("c", 60, "enrichment:album", "ENRICHED", "500"),
        row("d", 61, "cache:album-cover-art", "ENRICHED", "501", parent_job_id="500"),
        row("e", 62, "discogs:get-album", "ENRICHED", "502", parent_job_id="501"),
    ]
    with store_of(rows, tmp_path) as store:
        events = trace_formats.perfetto(lla.chain(store, "ALBUM", ALBUM))["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len({e["pid"] for e in complete}) == 2
    assert len({e["tid"] for e in complete}) == len(complete)  # no tid in two processes
    main = {e["pid"]: e for e in complete if e["tid"] == e["pid"]}
    assert set(main) == {e["pid"] for e in complete}
    assert all("parent_span_id" not in e["args"] for e in main.values()), main


def test_perfetto_thread_names_draw_the_job_tree(tmp_path: Path) -> None:
    # Perfetto lists a process's threads flat: the names carry the tree, as the timeline's lanes do
    rows = [
        row("c", 0, "enrichment:album", "ENRICHED", "500"),
        row("d", 1, "cache:album-cover-art", "ENRICHED", "501", parent_job_id="500"),
        row("e", 2, "discogs:get-album", "ENRICHED", "502", parent_job_id="501"),
        row("f", 3, "enrichment:artist", "ENRICHED", "503", parent_job_id="500"),
    ]
    with store_of(rows, tmp_path) as store:
        events = trace_formats.perfetto(lla.chain(store, "ALBUM", ALBUM))["traceEvents"]
    names = [e["args"]["name"].replace("\u00a0", " ") for e in events if e["name"] == "thread_name"]
    assert names == [
        "enrichment:album 500",
        "├ cache:album-cover-art 501",
        "│ └ discogs:get-album 502",
        "└ enrichment:artist 503",
    ]
