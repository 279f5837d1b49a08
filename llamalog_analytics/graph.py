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

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from . import links, schema
from .chain_index import ANNOTATIONS
from .chains import chain, runs
from .errors import ArgumentError
from .schema import TYPED_ID

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
        raise ArgumentError(
            "provenance_graph needs both entity_type and entity_id, or neither. "
            "Hint: provenance_graph(store, 'ALBUM', album_id), or provenance_graph(store) for the whole table"
        )
    linking = links.Linking.of(link, reuse_gap)
    if entity_type is None or entity_id is None:
        return graph_of(links.annotate(store.table(table), linking))
    rows = chain(store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
    job_ids = rows["job_id"].drop_nulls().unique()
    return graph_of(rows, runs(store, job_ids, table=table, link=link, reuse_gap=reuse_gap))


def graph_of(rows: pl.DataFrame, runs: pl.DataFrame | None = None) -> nx.MultiDiGraph:
    """The graph of some log rows (a :func:`chain` result or a whole table).

    Rows without a chain's link annotations are linked among themselves (job instances, the
    default reuse gap). A run node's ``first_at``, ``last_at`` and ``rows`` come from ``runs``
    (:func:`~llamalog_analytics.chains.runs`: the whole run, also its rows off the
    chain) when given, else from ``rows``. Nodes and edges are prepared as whole columns, then
    added to networkx in bulk.
    """
    import networkx as nx

    rows = links.annotate(rows)
    graph = nx.MultiDiGraph()
    _add_rows(graph, rows)
    _add_runs(graph, rows, runs)
    entities, agents = _mentioned(rows), _agents(rows)
    graph.add_nodes_from(
        (f"{kind}:{entity}", {"kind": kind, "entity_type": kind.upper(), "entity_id": entity})
        for kind, entity in entities.select("kind", "entity").unique().iter_rows()
    )
    graph.add_nodes_from(
        (f"{kind}:{name}", {"kind": kind, "name": name})
        for kind, name in agents.select("kind", "name").unique().iter_rows()
    )
    job, parent = _job_node("job_id", "job_instance"), _job_node("parent_job_id", "parent_instance")
    edges = pl.concat(
        [
            rows.select(source=_NODE, target=job, kind=pl.lit("logged_by")),
            rows.select(source=parent, target=job, kind=pl.lit("spawned")),
            rows.filter(pl.col("job_id").is_null()).select(
                source=_NODE, target=parent, kind=pl.lit("child_of")
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


_NODE = pl.concat_str(pl.lit("log:"), "id").alias("node")  # a row's node


def _add_rows(graph: nx.MultiDiGraph, rows: pl.DataFrame) -> None:
    """A node per row, with its useful columns and a chain's annotations."""
    extra = [c for c in ANNOTATIONS if c in rows.columns]
    attributes = rows.select(
        _NODE,
        *(pl.col(c).list.join(",") if c == "sources" else c for c in (*ROW_ATTRIBUTES, *extra)),
    ).with_columns(pl.col("created_at").dt.to_string(_TIME))
    graph.add_nodes_from(
        (row.pop("node"), {"kind": "log", **{k: v for k, v in row.items() if v is not None}})
        for row in attributes.iter_rows(named=True)
    )


def _add_runs(graph: nx.MultiDiGraph, rows: pl.DataFrame, runs: pl.DataFrame | None) -> None:
    """A node per job run of the rows (its span from ``runs`` when given), and one per parent
    whose run never logged."""
    logged = rows.filter(pl.col("job_id").is_not_null())
    if runs is None:
        runs = logged.group_by("job_id", "job_instance").agg(
            first_at=pl.col("created_at").min(), last_at=pl.col("created_at").max(), rows=pl.len()
        )
    else:  # only the runs these rows belong to
        runs = runs.join(logged.select("job_id", "job_instance"), on=["job_id", "job_instance"], how="semi")
    nodes = runs.select(
        _job_node("job_id", "job_instance").alias("node"),
        "job_id",
        pl.col("job_instance").alias("instance"),
        pl.col("first_at", "last_at").dt.to_string(_TIME),
        pl.col("rows").cast(pl.Int64),
    ).sort("node")
    graph.add_nodes_from(
        (r.pop("node"), {"kind": "job", **r, "dangling": False}) for r in nodes.iter_rows(named=True)
    )
    unlogged = rows.filter(links.DANGLING_PARENT)
    graph.add_nodes_from(
        (f"job:{job_id}", {"kind": "job", "job_id": job_id, "dangling": True})
        for job_id in unlogged["parent_job_id"].unique().sort()
    )


def _mentioned(rows: pl.DataFrame) -> pl.DataFrame:
    """(row node, entity kind, entity id, verb) for every entity a row names."""
    return pl.concat(
        [
            *(
                rows.select(
                    _NODE,
                    pl.lit(kind.lower()).alias("kind"),
                    pl.col(column).alias("entity"),
                    _verb(pl.col("entity_type") == kind),
                )
                for kind, column in TYPED_ID.items()
            ),
            rows.filter(pl.col("entity_type").is_in(list(TYPED_ID))).select(
                _NODE,
                pl.col("entity_type").str.to_lowercase().alias("kind"),
                pl.col("entity_id").alias("entity"),
                _verb(pl.lit(True)),
            ),
        ]
    ).filter(pl.col("entity").is_not_null())


def _agents(rows: pl.DataFrame) -> pl.DataFrame:
    """(row node, agent kind, name) for the user and the system that triggered each row."""
    return pl.concat(
        [
            rows.select(_NODE, pl.lit(kind).alias("kind"), pl.col(column).alias("name"))
            for kind, column in AGENTS
        ]
    ).drop_nulls()


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


def dot_text(graph: nx.MultiDiGraph) -> str:
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
