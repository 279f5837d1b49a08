"""Provenance as a graph: log rows, jobs, entities and agents, with typed edges.

Nodes are keyed ``"<kind>:<id>"`` and carry ``kind`` plus the useful columns:

* ``log:<row id>``: one log row (operation, category, status, created_at, ...);
* ``job:<job id>#<n>``: the n-th run of a job id (a job *instance*, see
  :mod:`~llamalog_analytics.links`), with its ``job_id``, ``instance``, the ``first_at`` and
  ``last_at`` of its rows here and their count (``rows``); ``job:<job id>`` is a parent whose
  run never logged a row (``dangling``);
* ``album:<uuid>``, ``artist:<uuid>``, ``track:<uuid>``: the catalog entities;
* ``user:<user id>`` and ``system:<triggered_by>``: the agents.

Edges carry ``kind`` (also their key): ``spawned`` (parent run → run), ``logged_by`` (row →
run), ``child_of`` (row without a job id → its parent run), the row's category in lower case
(row → the entity it is about: ``created``, ``enriched``, ...), ``mentions`` (row → another
entity it names) and ``triggered`` (agent → row). Attribute values are text, numbers or
booleans only, so every export format can hold them.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     album = store.execute("SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL LIMIT 1")[0][0]
    ...     graph = lla.provenance_graph(store, "ALBUM", album)
    >>> graph.nodes[f"album:{album}"]["kind"]
    'album'
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from . import links, schema
from .chains import ANNOTATIONS, TYPED_ID, chain
from .errors import ExportError

if TYPE_CHECKING:
    import networkx as nx

    from .store import LogStore

ROW_ATTRIBUTES = (
    "operation",
    "category",
    "status",
    "created_at",
    "job_id",
    "parent_job_id",
    "root_job_id",
    "is_root_job",
    "entity_type",
    "triggered_by",
    "user_id",
    "duration_ms",
    "error_code",
    "error_message",
    "sources",
    "reason",
)
AGENTS = (("user", "user_id"), ("system", "triggered_by"))
FORMATS = {".graphml": "graphml", ".json": "node-link", ".dot": "dot", ".gv": "dot"}
EXPORTS = ("graphml", "node-link", "dot", "prov-json")  # what write_graph writes


def provenance_graph(
    store: LogStore,
    entity_type: str | None = None,
    entity_id: str | None = None,
    *,
    table: str = schema.CURRENT_TABLE,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> nx.MultiDiGraph:
    """The whole table as a graph, or one entity's provenance chain (see :func:`chain`, also for
    ``link`` and ``reuse_gap``)."""
    if (entity_type is None) != (entity_id is None):
        raise ValueError("give both entity_type and entity_id, or neither (the whole table)")
    linking = links.Linking.of(link, reuse_gap)
    if entity_type is None or entity_id is None:
        return graph_of(links.annotate(store.table(table), linking))
    rows = chain(store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
    job_ids = rows["job_id"].drop_nulls().unique()
    return graph_of(rows, links.instances_of(store, table, job_ids, linking) if job_ids.len() else None)


def graph_of(rows: pl.DataFrame, runs: pl.DataFrame | None = None) -> nx.MultiDiGraph:
    """The graph of some log rows (a :func:`chain` result or a whole table).

    Rows without a chain's link annotations are linked among themselves (job instances, the
    default reuse gap). A run node's ``first_at``, ``last_at`` and ``rows`` come from ``runs``
    (:func:`~llamalog_analytics.links.instances_of`: the whole run, also its rows off the
    chain) when given, else from ``rows``. Nodes and edges are prepared as whole columns, then
    added to networkx in bulk.
    """
    import networkx as nx

    rows = links.annotate(rows)
    extra = [c for c in ANNOTATIONS if c in rows.columns]
    node = pl.concat_str(pl.lit("log:"), "id").alias("node")
    graph = nx.MultiDiGraph()
    attributes = rows.select(
        node,
        *(pl.col(c).list.join(",") if c == "sources" else c for c in (*ROW_ATTRIBUTES, *extra)),
    ).with_columns(pl.col("created_at").dt.to_string(_TIME))
    graph.add_nodes_from(
        (row.pop("node"), {"kind": "log", **{k: v for k, v in row.items() if v is not None}})
        for row in attributes.iter_rows(named=True)
    )
    job = _job_node("job_id", "job_instance")
    parent = _job_node("parent_job_id", "parent_instance")
    logged = rows.filter(pl.col("job_id").is_not_null())
    if runs is None:
        runs = logged.group_by("job_id", "job_instance").agg(
            first_at=pl.col("created_at").min(), last_at=pl.col("created_at").max(), rows=pl.len()
        )
    runs = runs.join(logged.select("job_id", "job_instance"), on=["job_id", "job_instance"], how="semi")
    nodes = runs.select(
        job.alias("node"),
        "job_id",
        pl.col("job_instance").alias("instance"),
        pl.col("first_at", "last_at").dt.to_string(_TIME),
        pl.col("rows").cast(pl.Int64),
    ).sort("node")
    graph.add_nodes_from(
        (r.pop("node"), {"kind": "job", **r, "dangling": False}) for r in nodes.iter_rows(named=True)
    )
    unlogged = rows.filter(pl.col("parent_job_id").is_not_null() & pl.col("parent_instance").is_null())
    graph.add_nodes_from(
        (f"job:{job_id}", {"kind": "job", "job_id": job_id, "dangling": True})
        for job_id in unlogged["parent_job_id"].unique().sort()
    )
    entities = pl.concat(
        [
            *(
                rows.select(
                    node,
                    pl.lit(kind.lower()).alias("kind"),
                    pl.col(column).alias("entity"),
                    _verb(pl.col("entity_type") == kind),
                )
                for kind, column in TYPED_ID.items()
            ),
            rows.filter(pl.col("entity_type").is_in(list(TYPED_ID))).select(
                node,
                pl.col("entity_type").str.to_lowercase().alias("kind"),
                pl.col("entity_id").alias("entity"),
                _verb(pl.lit(True)),
            ),
        ]
    ).filter(pl.col("entity").is_not_null())
    graph.add_nodes_from(
        (f"{kind}:{entity}", {"kind": kind, "entity_type": kind.upper(), "entity_id": entity})
        for kind, entity in entities.select("kind", "entity").unique().iter_rows()
    )
    agents = pl.concat(
        [
            rows.select(node, pl.lit(kind).alias("kind"), pl.col(column).alias("name"))
            for kind, column in AGENTS
        ]
    ).drop_nulls()
    graph.add_nodes_from(
        (f"{kind}:{name}", {"kind": kind, "name": name})
        for kind, name in agents.select("kind", "name").unique().iter_rows()
    )
    edges = pl.concat(
        [
            rows.select(source=node, target=job, kind=pl.lit("logged_by")),
            rows.select(source=parent, target=job, kind=pl.lit("spawned")),
            rows.filter(pl.col("job_id").is_null()).select(
                source=node, target=parent, kind=pl.lit("child_of")
            ),
            entities.select(source="node", target=pl.concat_str("kind", pl.lit(":"), "entity"), kind="verb"),
            agents.select(
                source=pl.concat_str("kind", pl.lit(":"), "name"), target="node", kind=pl.lit("triggered")
            ),
        ]
    )
    edges = edges.drop_nulls().unique(maintain_order=True)
    graph.add_edges_from((source, target, kind, {"kind": kind}) for source, target, kind in edges.iter_rows())
    return graph


_TIME = "%Y-%m-%dT%H:%M:%S%.3f"


def _job_node(job_id: str, instance: str) -> pl.Expr:
    """The node of a job run (``job:<id>#<n>``), or of a parent whose run never logged (``job:<id>``)."""
    run = pl.concat_str(pl.lit("job:"), job_id, pl.lit("#"), pl.col(instance).cast(pl.String))
    return pl.when(pl.col(instance).is_null()).then(pl.concat_str(pl.lit("job:"), job_id)).otherwise(run)


def _verb(subject: pl.Expr) -> pl.Expr:
    """The edge from a row to an entity: its category (lower case) when the entity is the row's
    subject (its ``entity_type``), else ``mentions`` (an album row that also names its artist)."""
    category = pl.col("category").fill_null("logged").str.to_lowercase()
    return pl.when(subject.fill_null(False)).then(category).otherwise(pl.lit("mentions")).alias("verb")


def write_graph(graph: nx.MultiDiGraph, path: str | Path, format: str | None = None) -> Path:
    """Write ``graph`` as GraphML, node-link JSON, DOT or W3C PROV-JSON.

    ``format`` is ``graphml``, ``node-link``, ``dot`` or ``prov-json``; by default it follows the
    suffix (``.graphml``, ``.json``, ``.dot``/``.gv``; ``.prov.json`` or ``.provjson`` for PROV).
    """
    import networkx as nx

    path = Path(path)
    format = graph_format(path, format)
    if format == "graphml":
        nx.write_graphml(graph, path)
    elif format == "node-link":
        path.write_text(json.dumps(nx.node_link_data(graph, edges="edges"), indent=1))
    elif format == "dot":
        path.write_text(_dot(graph))
    else:
        prov_document(graph).serialize(str(path), format="json", indent=1)
    return path


def graph_format(path: str | Path, format: str | None = None) -> str:
    """The export format: ``format`` if given, else the one the file's suffix names.

    Besides the graph formats, ``otlp`` and ``perfetto`` (``.otlp.json``, ``.perfetto.json``,
    ``.trace.json``) name the chain as traces, written by :func:`~llamalog_analytics.traces.write_trace`.

    Examples:
        >>> graph_format("album.graphml"), graph_format("album.otlp.json"), graph_format("x", "dot")
        ('graphml', 'otlp', 'dot')
    """
    from .traces import FORMATS as TRACE_FORMATS
    from .traces import SUFFIXES as TRACE_SUFFIXES

    name = Path(path).name.lower()
    traced = next((kind for suffix, kind in TRACE_SUFFIXES.items() if name.endswith(suffix)), None)
    found = (
        format
        or traced
        or ("prov-json" if name.endswith((".prov.json", ".provjson")) else FORMATS.get(Path(name).suffix))
    )
    if found not in (*EXPORTS, *TRACE_FORMATS):
        raise ExportError(
            f"{path}: cannot tell the graph format. Hint: use .graphml, .json, .dot, .prov.json, "
            ".otlp.json or .perfetto.json, or format='graphml' | 'node-link' | 'dot' | 'prov-json' "
            "| 'otlp' | 'perfetto'"
        )
    return found


def _dot(graph: nx.MultiDiGraph) -> str:
    """DOT text through pydot, with labels a reader can follow."""
    import pydot

    dot = pydot.Dot(graph_type="digraph", rankdir="BT")
    for node, data in graph.nodes(data=True):
        label = data.get("operation") or node
        if data["kind"] == "log":
            label = f"{data.get('operation')}\\n{data.get('category')} {data.get('created_at', '')}"
        dot.add_node(
            pydot.Node(_dot_id(node), label=_dot_quote(label), shape=_SHAPES.get(data["kind"], "box"))
        )
    for source, target, kind in graph.edges(keys=True):
        dot.add_edge(pydot.Edge(_dot_id(source), _dot_id(target), label=kind))
    return str(dot.to_string())


_SHAPES = {"log": "note", "job": "ellipse", "user": "house", "system": "house"}


def _dot_id(node: str) -> str:
    return '"' + node.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def prov_document(graph: nx.MultiDiGraph) -> Any:
    """The graph in the W3C PROV data model (a ``prov.model.ProvDocument``).

    Log rows are activities; albums, artists and tracks are entities; users and systems are
    agents. CREATED rows generated their entity (``wasGeneratedBy``), other rows used it
    (``used``, with the category as role); a row was informed by the rows of its parent job
    (``wasInformedBy``) and associated with the agents that triggered it (``wasAssociatedWith``).
    Jobs no row was logged by become activities of their own, marked dangling.
    """
    from prov.model import ProvDocument

    document = ProvDocument()
    document.add_namespace("llamalog", "https://llamalog.invalid/ns#")
    for prefix in ("log", "job", "album", "artist", "track", "user", "system"):
        document.add_namespace(prefix, f"https://llamalog.invalid/{prefix}/")
    logged_by: dict[str, list[str]] = {}
    for node, data in graph.nodes(data=True):
        attributes: dict[Any, Any] = {
            f"llamalog:{k}": v for k, v in data.items() if k not in ("kind", "created_at")
        }
        if data["kind"] == "log":
            document.activity(node, startTime=data.get("created_at"), other_attributes=attributes)
        elif data["kind"] == "job" and data.get("dangling"):
            document.activity(node, other_attributes=attributes)
        elif data["kind"] in ("user", "system"):
            document.agent(node, {"prov:type": f"llamalog:{data['kind']}", **attributes})
        elif data["kind"] in ("album", "artist", "track"):
            document.entity(node, {"prov:type": f"llamalog:{data['kind']}", **attributes})
    for source, target, kind in graph.edges(keys=True):
        if kind == "logged_by":
            logged_by.setdefault(target, []).append(source)
    for source, target, kind in graph.edges(keys=True):
        if kind == "created":
            document.wasGeneratedBy(target, source)
        elif kind == "triggered":
            document.wasAssociatedWith(target, source)
        elif kind in ("spawned", "child_of"):
            job = source if kind == "spawned" else target
            parents = logged_by.get(job) or ([job] if graph.nodes[job].get("dangling") else [])
            for child in logged_by.get(target, []) if kind == "spawned" else [source]:
                for parent in parents:
                    document.wasInformedBy(child, parent)
        elif kind != "logged_by":
            document.used(source, target, other_attributes={"prov:role": f"llamalog:{kind}"})
    return document


@dataclass
class Explanation:
    """How an entity got into the table, what happened to it afterward, and what looks wrong."""

    entity_type: str
    entity_id: str
    rows: pl.DataFrame  # the provenance chain
    created: dict[str, Any] | None  # the first CREATED row of the entity itself
    per_month: pl.DataFrame  # the entity's own rows per month and category
    last_failure: dict[str, Any] | None
    corrections: pl.DataFrame
    anomalies: list[str] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        kind = self.entity_type.lower()
        yield f"{self.entity_type} {self.entity_id}"
        own = self.rows.filter(pl.col("relation") == "self")
        if own.is_empty():
            yield "  no log rows name this entity."
            return
        if self.created is None:
            first = own.row(0, named=True)
            yield f"  how it got here: no CREATED row; first seen {_when(first)} ({first['operation']})"
        else:
            c = self.created
            who = f"user {c['user_id']}" if c["user_id"] else c["triggered_by"] or "an unknown trigger"
            yield f"  how it got here: {c['operation']} at {_when(c)} by {who}; root job {c['chain_root']}"
            if c["entry"] != c["operation"]:
                yield f"    entry point: {c['entry']}"
        counts = own.group_by("category").len().sort("category")
        tally = ", ".join(f"{n} {category.lower()}" for category, n in counts.iter_rows())
        yield f"  afterward: {own.height} rows about this {kind} ({tally}), {self.rows.height} in its chain"
        if self.last_failure is not None:
            f = self.last_failure
            yield f"  last failure: {f['operation']} at {_when(f)}: {f['error_message'] or f['error_code']}"
        if not self.corrections.is_empty():
            last = self.corrections.row(-1, named=True)
            yield f"  corrections: {self.corrections.height} (last {_when(last)})"
        yield "  anomalies:" + ("" if self.anomalies else " none")
        for anomaly in self.anomalies:
            yield f"    - {anomaly}"

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        lines = list(self.lines())
        items = "".join(f"<li>{escape(line.strip())}</li>" for line in lines[1:])
        table = self.rows.select(
            "created_at", "relation", "depth", "category", "operation", "status", "job_id", "parent_job_id"
        )._repr_html_()
        return f"<div><strong>{escape(lines[0])}</strong><ul>{items}</ul>{table}</div>"


def _when(row: dict[str, Any]) -> str:
    return str(row["created_at"].isoformat(sep=" ", timespec="milliseconds"))


def explain(
    store: LogStore,
    entity_type: str,
    entity_id: str,
    *,
    table: str = schema.CURRENT_TABLE,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> Explanation:
    """The answer to "how did this entity get here, and what happened to it afterward?".

    ``link`` and ``reuse_gap`` say how parent links are followed (see :func:`chain`); a job id
    on the chain that ran more than once is named, with the run the chain follows.
    """
    linking = links.Linking.of(link, reuse_gap)
    rows = chain(store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
    own = rows.filter(pl.col("relation") == "self")
    kind = entity_type.upper()
    # CREATED rows about this entity; an album's CREATED row that also names its artist does
    # not tell how the artist got here.
    first_created = own.filter((pl.col("category") == "CREATED") & (pl.col("entity_type") == kind)).head(1)
    created = None
    if not first_created.is_empty():
        created = first_created.to_dicts()[0]
        top = rows.filter(pl.col("job_id") == created["chain_root"]).head(1)
        created["entry"] = top["operation"][0] if not top.is_empty() else created["operation"]
    per_month = (
        own.group_by(pl.col("created_at").dt.truncate("1mo").alias("month"), "category")
        .len("rows")
        .sort("month", "category")
    )
    failures = own.filter((pl.col("category") == "FAILED") | (pl.col("status") == "FAILED"))
    job_ids = pl.concat([rows["job_id"], rows["parent_job_id"]]).drop_nulls().unique()
    runs = links.instances_of(store, table, job_ids, linking) if job_ids.len() else None
    return Explanation(
        kind,
        str(entity_id),
        rows,
        created,
        per_month,
        failures.tail(1).to_dicts()[0] if not failures.is_empty() else None,
        own.filter(pl.col("category") == "CORRECTED"),
        _anomalies(rows, own, created, runs),
    )


def _anomalies(
    rows: pl.DataFrame, own: pl.DataFrame, created: dict[str, Any] | None, runs: pl.DataFrame | None
) -> list[str]:
    """What looks wrong on the chain, from its link annotations and the runs of its job ids."""
    found = []
    if not own.is_empty() and created is None:
        found.append("missing CREATED: no row records how this entity was created")
    days: dict[str, list[Any]] = {}
    if runs is not None:
        for job_id, first in runs.sort("job_id", "job_instance").select("job_id", "first_at").iter_rows():
            days.setdefault(job_id, []).append(first)
    for root in rows.filter(pl.col("root_dangling"))["chain_root"].unique().sort().to_list():
        if root in days:
            found.append(
                f"dangling parent: job {root}'s own run never logged a row; the id's runs on "
                f"{_days(days[root])} lie beyond the reuse gap (the chain's top is the bare id)"
            )
        else:
            found.append(f"dangling parent: job {root} has no row (the chain's top is a bare id)")
    looped = rows.filter(pl.col("in_cycle"))
    if not looped.is_empty():
        found.append(
            f"cycle: {looped.height} rows form a parent loop ({', '.join(looped['job_id'].unique().sort())})"
        )
    early = rows.filter(pl.col("before_parent")).height
    if early:
        logged = "1 row was" if early == 1 else f"{early:,} rows were"
        logged += " logged before its" if early == 1 else " logged before their"
        found.append(f"child before parent: {logged} parent run's first row")
    followed = pl.concat(
        [
            rows.select(job=pl.col("job_id"), run=pl.col("job_instance")),
            rows.select(job=pl.col("parent_job_id"), run=pl.col("parent_instance")),
        ]
    ).drop_nulls()
    for job_id, chosen in followed.group_by("job").agg(pl.col("run").unique().sort()).sort("job").iter_rows():
        starts = days.get(job_id, [])
        if len(starts) > 1:
            found.append(
                f"reused job id: job {job_id} ran {len(starts)} times ({_days(starts)}); this chain follows "
                f"the {_days([starts[run - 1] for run in chosen])} run{'s' if len(chosen) > 1 else ''}"
            )
    return found


def _days(moments: list[Any]) -> str:
    """Run start times as dates, with the time of day where two runs share a date (UTC)."""
    dates = [f"{m:%Y-%m-%d}" for m in moments]
    if len(set(dates)) < len(dates):
        dates = [f"{m:%Y-%m-%d %H:%M}" for m in moments]
    return ", ".join(dates)
