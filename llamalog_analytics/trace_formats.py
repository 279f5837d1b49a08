"""Traces as files read them: OTLP/JSON for Jaeger, Grafana Tempo and OpenTelemetry collectors
(:func:`otlp`), Chrome trace-event JSON for ui.perfetto.dev (:func:`perfetto`). Both are built
from :func:`~llamalog_analytics.traces.spans`; ``lla.write_trace`` writes either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from ._lanes import depth_first, tree_lines
from .traces import EVENT_ATTRIBUTES, SPAN_ATTRIBUTES, spans

SERVICE = "llamalog"
SCOPE = "llamalog_analytics"
_KIND_INTERNAL = 1
_STATUS_OK, _STATUS_ERROR = 1, 2
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def otlp(rows: pl.DataFrame) -> dict[str, Any]:
    """The chain as OTLP/JSON (``TracesData``), as Jaeger, Grafana Tempo and collectors read it.

    One resource (``service.name`` = ``llamalog``) and one scope hold every span of
    :func:`spans`; trace and span ids are lowercase hex, times decimal nanoseconds since the epoch
    (UTC), enums numbers (kind 1 = internal; status 1 = ok, 2 = error). Span attributes are named
    in :data:`SPAN_ATTRIBUTES`, event attributes in :data:`EVENT_ATTRIBUTES`.

    Examples:
        >>> from datetime import datetime
        >>> rows = pl.DataFrame({"id": ["r1"], "operation": ["album:created"], "job_id": ["7"],
        ...     "parent_job_id": [None], "created_at": [datetime(2026, 3, 1)], "duration_ms": [1500]})
        >>> span = otlp(rows)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        >>> span["name"], span["startTimeUnixNano"], span["endTimeUnixNano"], span["status"]
        ('album:created 7', '1772323198500000000', '1772323200000000000', {'code': 1})
        >>> span["attributes"][:2]
        [{'key': 'llamalog.job_id', 'value': {'stringValue': '7'}}, \
{'key': 'llamalog.job_instance', 'value': {'intValue': '1'}}]
    """
    sent = []
    for span in spans(rows).iter_rows(named=True):
        item: dict[str, Any] = {"traceId": span["trace_id"], "spanId": span["span_id"]}
        if span["parent_span_id"] is not None:
            item["parentSpanId"] = span["parent_span_id"]
        status = (
            {"code": _STATUS_ERROR, "message": span["status_message"]}
            if span["status"] == "error"
            else {"code": _STATUS_OK}
        )
        item |= {
            "name": span["name"],
            "kind": _KIND_INTERNAL,
            "startTimeUnixNano": str(_us(span["start"]) * 1000),
            "endTimeUnixNano": str(_us(span["end"]) * 1000),
            "attributes": _key_values(_attributes(span, SPAN_ATTRIBUTES)),
            "events": [
                {
                    "timeUnixNano": str(_us(event["time"]) * 1000),
                    "name": event["name"],
                    "attributes": _key_values(_attributes(event, EVENT_ATTRIBUTES)),
                }
                for event in span["events"]
            ],
            "status": status,
        }
        sent.append(item)
    resource = {"attributes": _key_values({"service.name": SERVICE})}
    return {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": SCOPE}, "spans": sent}]}]
    }


def perfetto(rows: pl.DataFrame) -> dict[str, Any]:
    """The chain as Chrome trace-event JSON, which ui.perfetto.dev (and chrome://tracing) opens.

    Each trace of :func:`spans` is a process (``pid``), each span a thread (``tid``) named after
    it and drawn on the job tree's lines as the timeline's lanes are (``├`` a span with a later
    sibling, ``└`` the last), in tree order (a parent above its children); a span is a complete
    event (``"ph": "X"``, category ``job``) and each row an instant on its span's thread
    (``"ph": "i"``, category: the row's category). ``ts`` and ``dur`` are microseconds since the
    epoch (UTC). Thread ids count on across processes, and a trace's root span has its process's
    id as its thread id: Perfetto takes that thread for the process's main thread and lists it
    first, then the others by id.

    Examples:
        >>> from datetime import datetime
        >>> rows = pl.DataFrame({
        ...     "id": ["r1", "r2"], "operation": ["sync", "album"], "job_id": ["s", "a"],
        ...     "parent_job_id": [None, "s"],
        ...     "created_at": [datetime(2026, 3, 1), datetime(2026, 3, 1, 0, 1)]})
        >>> events = perfetto(rows)["traceEvents"]
        >>> [(e["ph"], e["name"], e["tid"]) for e in events if e["ph"] != "M"]
        [('X', 'sync s', 1), ('i', 'sync', 1), ('X', 'album a', 2), ('i', 'album', 2)]
    """
    found = spans(rows)
    events: list[dict[str, Any]] = []
    by_trace = found.partition_by("trace_id", maintain_order=True, as_dict=False)
    tid = 0
    for position, trace in enumerate(by_trace, 1):
        by_id = {span["span_id"]: span for span in trace.iter_rows(named=True)}  # sorted by start
        order, _ = depth_first((key, span["parent_span_id"]) for key, span in by_id.items())  # root first
        lines = tree_lines(order)
        pid = tid + 1  # the root's thread id: the process's main thread
        root = by_id[order[0][0]]
        events += _metadata("process", pid, 0, f"{root['name']} (trace {root['trace_id'][:8]})", position)
        for key, _ in order:
            tid += 1
            span = by_id[key]
            name = lines[key] + span["name"]
            events += [*_metadata("thread", pid, tid, name, tid), *_perfetto_span(span, pid, tid)]
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def _perfetto_span(span: Mapping[str, Any], pid: int, tid: int) -> list[dict[str, Any]]:
    """One span as a complete event, then its rows as instants on its thread."""
    start = _us(span["start"])
    args = {
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "parent_span_id": span["parent_span_id"],
        "status": span["status"],
        **_attributes(span, SPAN_ATTRIBUTES),
    }
    complete = {
        "name": span["name"],
        "cat": "job",
        "ph": "X",
        "ts": start,
        "dur": _us(span["end"]) - start,
        "pid": pid,
        "tid": tid,
        "args": {k: v for k, v in args.items() if v is not None},
    }
    instants = [
        {
            "name": event["name"],
            "cat": event["category"] or "log",
            "ph": "i",
            "s": "t",
            "ts": _us(event["time"]),
            "pid": pid,
            "tid": tid,
            "args": _attributes(event, EVENT_ATTRIBUTES),
        }
        for event in span["events"]
    ]
    return [complete, *instants]


def _us(moment: datetime) -> int:
    """Microseconds since the epoch of a naive UTC datetime."""
    return (moment - _EPOCH) // _US


def _attributes(values: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """``values`` under their attribute ``keys``, NULL and false left out (a zero kept).

    Examples:
        >>> _attributes({"a": 0, "b": False, "c": None, "d": True}, {k: f"x.{k}" for k in "abcd"})
        {'x.a': 0, 'x.d': True}
    """
    return {
        key: values[name]
        for name, key in keys.items()
        if values[name] is not None and values[name] is not False
    }


def _key_values(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """OTLP/JSON ``KeyValue`` list: text, whole numbers (as decimal text) and booleans."""
    return [{"key": key, "value": _any_value(value)} for key, value in attributes.items()]


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _metadata(kind: str, pid: int, tid: int, name: str, order: int) -> list[dict[str, Any]]:
    """Trace-event metadata naming and ordering a process or thread."""
    return [
        {"name": f"{kind}_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}},
        {"name": f"{kind}_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": {"sort_index": order}},
    ]
