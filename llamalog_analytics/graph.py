"""Provenance as a graph: log rows, jobs, entities and agents, with typed edges.

Nodes are keyed ``"<kind>:<id>"`` and carry ``kind`` plus the useful columns:

* ``log:<row id>``: one log row (operation, category, status, created_at, ...);
* ``job:<job id>#<n>``: the n-th run of a job id (a job *instance*, see
  :mod:`~llamalog_analytics.links`), with its ``job_id``, ``instance``, the ``first_at`` and
  ``last_at`` of its rows here and their count (``rows``), and how many times the job id ran
  (``runs``); ``job:<job id>`` is a parent whose
  run never logged a row (``dangling``); in the key, ``%`` and ``#`` in a job id are written
  ``%25`` and ``%23``;
* ``album:<uuid>``, ``artist:<uuid>``, ``track:<uuid>``: the catalog entities;
* ``user:<user id>`` and ``system:<triggered_by>``: the agents.

Edges carry ``kind`` (also their key): ``spawned`` (parent run → run), ``logged_by`` (row →
run), ``child_of`` (row without a job id → its parent run), the row's category in lower case
(row → the entity it is about: ``created``, ``enriched``, ...), ``mentions`` (row → another
entity it names) and ``triggered`` (agent → row). Attribute values are text, numbers or
booleans only, so every export format can hold them. Each node's and edge's attributes are a
mapping that reads, changes, copies and pickles like a dict, but is not one
(:class:`ColumnAttributes`, kept in columns its kind of node shares until it is changed), so a
million-row graph holds no million dicts: ``json.dumps(dict(graph.nodes[node]))``.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     album = store.execute("SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL LIMIT 1")[0][0]
    ...     graph = lla.provenance_graph(store, "ALBUM", album)
    >>> graph.nodes[f"album:{album}"]["kind"]
    'album'
"""

from __future__ import annotations

import copy
import gc
from abc import abstractmethod
from collections.abc import ItemsView, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as url_quoted

import numpy as np
import polars as pl

from . import links, rules, schema
from ._sql import literal, quote
from ._time import created_utc, naive_utc
from .chain_index import ANNOTATIONS
from .chains import chain, runs
from .errors import ArgumentError
from .schema import TYPED_ID
from .store import require_store

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
    require_store(store, "provenance_graph")
    if (entity_type is None) != (entity_id is None):
        raise ArgumentError(
            "provenance_graph needs both entity_type and entity_id, or neither. "
            "Hint: provenance_graph(store, 'ALBUM', album_id), or provenance_graph(store) for the whole table"
        )
    linking = links.Linking.of(link, reuse_gap)
    with store.session():  # one view of the store; the graph is built once it is let go
        migrated = store.applied_migrations().get(schema.CATEGORY_MIGRATION)
        if entity_type is None or entity_id is None:
            store.require(table)
            columns = ", ".join(map(quote, ("id", *ROW_ATTRIBUTES, "entity_id", *TYPED_ID.values())))
            said = (  # only where rules.creation reads it: a whole table's metadata is large
                "CASE WHEN category = 'CREATED' AND entity_type = 'ALBUM' THEN "
                f"json_extract_string(metadata, {literal(rules.ALBUM_CREATED)}) END AS album_created"
            )
            rows = store.frame(f"SELECT {columns}, {said} FROM {quote(table)} ORDER BY created_at, id")
            ran = None
        else:
            rows = chain(store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
            job_ids = rows["job_id"].drop_nulls().unique()
            ran = runs(store, job_ids, table=table, link=link, reuse_gap=reuse_gap)
    held = [links.annotate(rows, linking)]
    del rows  # held alone, so the rows go once the nodes are made of them
    return _graph_owning(held, ran, migrated=migrated)


def graph_of(
    rows: pl.DataFrame, runs: pl.DataFrame | None = None, *, migrated: datetime | None = None
) -> nx.MultiDiGraph:
    """The graph of some log rows (a :func:`chain` result or a whole table).

    Rows without a chain's link annotations are linked among themselves (job instances, the
    default reuse gap). A run node's ``first_at``, ``last_at`` and ``rows``, and how many times
    its job id ran (``runs``), come from ``runs`` (:func:`~llamalog_analytics.chains.runs`:
    every run of the job ids, whole, also its rows off the chain) when given, else from
    ``rows`` (``runs`` then being the highest run of the id among them). A row that records its
    entity's creation (by :func:`~llamalog_analytics.rules.creation`, given when the category
    migration ran, ``migrated``) has the attribute ``creation``.

    Nodes are numbered in whole columns (rows, job runs, entities, agents) and edges join those
    numbers; networkx then takes them in bulk, an edge holding its ends' own name objects and a
    value repeated down a column being one Python object.
    """
    return _graph_owning([rows], runs, migrated=migrated)


def _graph_owning(
    held: list[pl.DataFrame], runs: pl.DataFrame | None = None, *, migrated: datetime | None = None
) -> nx.MultiDiGraph:
    """:func:`graph_of` the frame ``held`` holds, taken out of it: once the nodes are made of its
    columns nothing keeps it, when the caller had it only there (a whole table's rows are a few
    hundred megabytes)."""
    rows = links.annotate(held.pop())
    if "album_created" not in rows.columns:
        said = rules.album_created() if "metadata" in rows.columns else pl.lit(None, pl.String)
        rows = rows.with_columns(said.alias("album_created"))
    rows = rows.with_columns(
        created_utc(rows), pl.when(rules.creation(migrated) == "CREATED").then(True).alias("creation")
    ).with_row_index("at")  # a row's node: its position
    jobs, entities, agents = pl.collect_all(
        [_job_nodes(rows.lazy(), runs), _mentioned(rows.lazy()), _agents(rows.lazy())]
    )
    jobs = jobs.with_row_index("at", offset=rows.height)
    entity_nodes = _numbered(entities.select("kind", "entity"), rows.height + jobs.height)
    agent_nodes = _numbered(agents.select("kind", "name"), rows.height + jobs.height + entity_nodes.height)
    linked = rows.lazy()
    for keys, end in ((["job_id", "job_instance"], "run"), (["parent_job_id", "parent_instance"], "parent")):
        found = jobs.lazy().select("job", "run", pl.col("at").alias(f"{end}_at"))
        linked = linked.join(
            found, left_on=keys, right_on=["job", "run"], how="left", nulls_equal=True, maintain_order="left"
        )
    every_edge = pl.concat(
        [
            linked.select(source="at", target="run_at", kind=pl.lit("logged_by")),
            linked.select(source="parent_at", target="run_at", kind=pl.lit("spawned")),
            linked.filter(pl.col("job_id").is_null()).select(
                source="at", target="parent_at", kind=pl.lit("child_of")
            ),
            entities.lazy()
            .join(entity_nodes.lazy(), on=["kind", "entity"], maintain_order="left")
            .select(source="at", target="at_right", kind="verb"),
            agents.lazy()
            .join(agent_nodes.lazy(), on=["kind", "name"], maintain_order="left")
            .select(source="at_right", target="at", kind=pl.lit("triggered")),
        ]
    )
    edges = every_edge.drop_nulls().unique(maintain_order=True).collect()
    groups = [
        _row_nodes(rows),
        jobs.select("node", "kind", "job_id", "instance", "first_at", "last_at", "rows", "runs", "dangling"),
        entity_nodes.select(
            node=_ENTITY, kind="kind", entity_type=pl.col("kind").str.to_uppercase(), entity_id="entity"
        ),
        agent_nodes.select(node=_AGENT, kind="kind", name="name"),
    ]
    # Only the nodes and edges from here on: the frames they came from go before the graph grows.
    del rows, linked, every_edge, jobs, entities, agents, entity_nodes, agent_nodes
    graph, names = _graph(groups)
    sources, targets = (names[edges[end].to_numpy()] for end in ("source", "target"))
    _add_edges(graph, zip(sources, targets, _interned(edges["kind"], {}), strict=True))
    return graph


_NODE = pl.concat_str(pl.lit("log:"), "id").alias("node")
_ENTITY = pl.concat_str("kind", pl.lit(":"), "entity")
_AGENT = pl.concat_str("kind", pl.lit(":"), "name")
_TIME = "%Y-%m-%dT%H:%M:%S%.3fZ"  # UTC, said so


def _numbered(nodes: pl.DataFrame, offset: int) -> pl.DataFrame:
    """Each distinct row of ``nodes`` once, in order, numbered (``at``) from ``offset``."""
    return nodes.unique(maintain_order=True).with_row_index("at", offset=offset)


def _row_nodes(rows: pl.DataFrame) -> pl.DataFrame:
    """A node per row, with its useful columns and a chain's annotations."""
    columns = (*ROW_ATTRIBUTES, "creation", *(c for c in ANNOTATIONS if c in rows.columns))
    return rows.select(
        _NODE,
        pl.lit("log").alias("kind"),
        *(_ROW_TEXT.get(c, pl.col(c)) for c in columns),
    )


_ROW_TEXT = {
    "sources": pl.col("sources").list.join(","),
    "created_at": pl.col("created_at").dt.to_string(_TIME),
}


def _job_nodes(rows: pl.LazyFrame, runs: pl.DataFrame | None) -> pl.LazyFrame:
    """A node per job run of the rows (its span from ``runs`` when given) and one per parent
    whose run never logged (``dangling``), keyed by ``job`` and ``run`` (null when dangling)."""
    logged = rows.filter(pl.col("job_id").is_not_null())
    if runs is None:
        spans = logged.group_by("job_id", "job_instance").agg(
            first_at=pl.col("created_at").min(), last_at=pl.col("created_at").max(), rows=pl.len()
        )
    else:
        spans = runs.lazy()
    spans = spans.with_columns(runs=pl.col("job_instance").max().over("job_id"))
    if runs is not None:  # only the runs these rows belong to
        spans = spans.join(logged.select("job_id", "job_instance"), on=["job_id", "job_instance"], how="semi")
    logging = spans.select(
        job="job_id",
        run="job_instance",
        node=_job_node("job_id", "job_instance"),
        kind=pl.lit("job"),
        job_id="job_id",
        instance="job_instance",
        first_at=pl.col("first_at").dt.to_string(_TIME),
        last_at=pl.col("last_at").dt.to_string(_TIME),
        rows=pl.col("rows").cast(pl.Int64),
        runs=pl.col("runs").cast(pl.Int64),
        dangling=pl.lit(False),
    ).sort("node")
    unlogged = (
        rows.filter(links.DANGLING_PARENT)
        .select(job="parent_job_id")
        .unique()
        .sort("job")
        .select("job", node=_job_node("job"), kind=pl.lit("job"), job_id="job", dangling=True)
    )
    return pl.concat([logging, unlogged], how="diagonal_relaxed")


# networkx's add_nodes_from and add_edges_from cost a few microseconds a node or edge (a copy of
# each attribute dict, views and checks per edge): minutes at a million rows. The two functions
# below fill networkx's documented data structure (dicts of dicts) directly, with mappings that
# read as the dicts they would make where it holds attributes and keys; tests compare the two.


def _graph(groups: list[pl.DataFrame]) -> tuple[nx.MultiDiGraph, np.ndarray]:
    """A graph of the nodes in ``groups`` (frames: ``node``, then one column per attribute, where
    null is no attribute), as ``add_nodes_from`` would make it, and the nodes' names in order.

    Each node's attributes are a :class:`ColumnAttributes` over its group's columns, not a dict
    of its own: a million row nodes' dicts of a dozen values would hold a gigabyte.
    """
    import networkx as nx

    graph = nx.MultiDiGraph()
    nodes, successors, predecessors = graph._node, graph._succ, graph._pred
    names = np.empty(sum(group.height for group in groups), dtype=object)
    done = 0
    texts: dict[str, str] = {}
    with _collector_paused():
        while groups:
            group = groups.pop(0)  # dropped once in
            height, columns = group.height, {key: _interned(group[key], texts) for key in group.columns[1:]}
            names[done : done + height] = group["node"].to_list()
            del group
            for at, node in enumerate(names[done : done + height]):
                attributes = ColumnAttributes(columns, at)
                if node in nodes:
                    nodes[node].update(attributes)
                else:
                    nodes[node], successors[node], predecessors[node] = attributes, {}, {}
            done += height
    return graph, names


class _DictLike(MutableMapping[Any, Any]):
    """A dict kept compactly until it is changed, for the graph's mappings below: ``_held`` with
    a ``_place`` in it reads as the dict ``_compact()`` gives; the first change makes ``_held``
    a dict of its own (``_place`` None). It copies, pickles and prints as a plain dict."""

    __slots__ = ("_held", "_place")

    def __init__(self, held: Any, place: Any) -> None:
        self._held, self._place = held, place

    @abstractmethod
    def _compact(self) -> dict[Any, Any]:
        """The dict ``_held`` and ``_place`` read as."""

    @abstractmethod
    def _compact_item(self, key: Any) -> Any:
        """``self._compact()[key]``, without making the dict where it can."""

    def _values(self) -> dict[Any, Any]:
        return self._held if self._place is None else self._compact()

    def _own(self) -> dict[Any, Any]:
        if self._place is not None:
            self._held, self._place = self._compact(), None
        return self._held

    def __getitem__(self, key: Any) -> Any:
        return self._held[key] if self._place is None else self._compact_item(key)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())

    def __setitem__(self, key: Any, value: Any) -> None:
        self._own()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._own()[key]

    def popitem(self) -> tuple[Any, Any]:
        """The last item added, removed, as ``dict.popitem`` (networkx's ``remove_edge`` without
        a key relies on it)."""
        return self._own().popitem()

    def items(self) -> ItemsView[Any, Any]:
        return self._values().items()

    def copy(self) -> dict[Any, Any]:
        """A plain dict of the items, as ``dict.copy`` gives (networkx copies graphs with it)."""
        return dict(self._values())

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return copy.deepcopy(self._values(), memo)  # not the columns a group shares

    def __reduce__(self) -> tuple[type, tuple[()], None, None, Iterator[tuple[Any, Any]]]:
        """Pickled as a plain dict (small, and read without this package), its items given one
        by one: a dict made for the pickle would be held by the pickler's memo to the end."""
        return dict, (), None, None, self._pickled_items()

    def _pickled_items(self) -> Iterator[tuple[Any, Any]]:
        return iter(self._values().items())

    def __or__(self, other: Mapping[Any, Any]) -> dict[Any, Any]:
        return {**self._values(), **other}

    def __ror__(self, other: Mapping[Any, Any]) -> dict[Any, Any]:
        return {**other, **self._values()}

    def __ior__(self, other: Mapping[Any, Any]) -> _DictLike:
        self.update(other)
        return self

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._values())

    def __repr__(self) -> str:
        return repr(self._values())


class ColumnAttributes(_DictLike):
    """A node's or an edge's attributes, kept as a place (``at``) in columns that its group of
    nodes (or the edges of its kind) share, a null being no attribute, until it is changed.
    It reads and changes like a dict, but is not one: ``json.dumps(dict(attributes))``.

    Examples:
        >>> columns = {"kind": ["log", "log"], "status": ["FAILED", None]}
        >>> first, second = ColumnAttributes(columns, 0), ColumnAttributes(columns, 1)
        >>> dict(first), second == {"kind": "log"}, "status" in second
        ({'kind': 'log', 'status': 'FAILED'}, True, False)
        >>> second["status"] = "SUCCESS"
        >>> second, columns["status"]
        ({'kind': 'log', 'status': 'SUCCESS'}, ['FAILED', None])
    """

    __slots__ = ()  # _held: the shared columns (a dict of lists); _place: the node's row in them

    def _compact(self) -> dict[str, Any]:
        at = self._place
        return {key: values[at] for key, values in self._held.items() if values[at] is not None}

    def _compact_item(self, key: str) -> Any:
        value = self._held[key][self._place]  # no such column: KeyError
        return self._compact()[key] if value is None else value  # a null is no attribute: KeyError

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get``, reading one column (``nodes(data="status")`` asks every node)."""
        if self._place is None:
            return self._held.get(key, default)
        column = self._held.get(key)
        value = None if column is None else column[self._place]
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT  # type: ignore[arg-type]


_ABSENT = object()


class EdgeKeys(_DictLike):
    """The edges from one node to another by key (networkx's key dict), kept, while there is
    one (nearly always), as that edge's kind: its key, and its data ``{"kind": kind}`` (a
    :class:`ColumnAttributes` made when first read).

    Examples:
        >>> keys = EdgeKeys(None, "spawned")
        >>> keys, len(keys)
        ({'spawned': {'kind': 'spawned'}}, 1)
        >>> keys["logged_by"] = {"kind": "logged_by"}
        >>> keys.popitem(), keys
        (('logged_by', {'kind': 'logged_by'}), {'spawned': {'kind': 'spawned'}})
    """

    __slots__ = ()  # _held: the one edge's data (None until read); _place: its kind (networkx never
    # gives a key None)

    def _data(self) -> ColumnAttributes:
        if self._held is None:
            self._held = kind_data(self._place)
        return self._held

    def _compact(self) -> dict[Any, Any]:
        return {self._place: self._data()}

    def _compact_item(self, key: Any) -> Any:
        return self._data() if key == self._place else self._compact()[key]  # another key: KeyError

    # Counting, listing and testing keys leave an edge's data unmade (networkx's size() and
    # number_of_edges() ask every node pair its len()), as does pickling.
    def __len__(self) -> int:
        return len(self._held) if self._place is None else 1

    def __iter__(self) -> Iterator[Any]:
        return iter(self._held) if self._place is None else iter((self._place,))

    def __contains__(self, key: object) -> bool:
        return key in self._held if self._place is None else key == self._place

    def _pickled_items(self) -> Iterator[tuple[Any, Any]]:
        if self._place is None:
            return iter(self._held.items())
        data = kind_data(self._place) if self._held is None else self._held  # pickled, not kept
        return iter(((self._place, data),))

    def __setitem__(self, key: Any, data: Any) -> None:
        if self._place is not None and key == self._place:
            self._held = data
        else:
            self._own()[key] = data


def kind_data(kind: str) -> ColumnAttributes:
    """An edge's data, ``{"kind": kind}``, as a :class:`ColumnAttributes` over columns that
    every edge of the kind shares (a change gives the edge a dict of its own).

    Examples:
        >>> kind_data("spawned")
        {'kind': 'spawned'}
    """
    shared = _KIND_COLUMNS.get(kind)
    if shared is None:
        shared = _KIND_COLUMNS[kind] = {"kind": [kind]}
    return ColumnAttributes(shared, 0)


_KIND_COLUMNS: dict[str, dict[str, list[str]]] = {}


def _add_edges(graph: nx.MultiDiGraph, edges: Iterable[tuple[str, str, str]]) -> None:
    """Add each (source, target, kind) edge between nodes of ``graph``, keyed by its kind with
    the data ``{"kind": kind}``, as ``add_edges_from`` would; a node pair's edges are an
    :class:`EdgeKeys` (one Python object an edge: its data is made when first read)."""
    successors, predecessors = graph._succ, graph._pred
    with _collector_paused():
        for source, target, kind in edges:
            keys = successors[source].get(target)
            if keys is None:
                successors[source][target] = predecessors[target][source] = EdgeKeys(None, kind)
            else:
                keys[kind] = kind_data(kind)


def _interned(values: pl.Series, texts: dict[str, str]) -> list[Any]:
    """``values`` as Python objects, a value repeated down the column one object; text is one
    object wherever ``texts`` (shared by the caller's columns) has met it, so a job id or a
    time is held once for the rows and runs that carry it.

    Examples:
        >>> texts = {}
        >>> a, b, c = _interned(pl.Series(["SUCCESS", None, "SUCCESS"]), texts)
        >>> a is c, b, a is _interned(pl.Series(["SUCCESS"]), texts)[0]
        (True, None, True)
    """
    objects = values.to_list()
    # Only text is shared across columns: as dict keys, 1, 1.0 and True are one value.
    seen = texts if values.dtype == pl.String else {}
    return list(map(seen.setdefault, objects, objects))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector: while millions of dicts are made in bulk it would scan
    the growing graph again and again (the graph holds no cycles for it to find).

    Then what was made is handed to the collector as long-lived (``gc.freeze()`` and
    ``gc.unfreeze()`` put every tracked object in its oldest generation), as it would be once
    it had survived two collections: else the first collection after the pause scans all of it
    as new, and the next scans it again (a million-row graph's objects, seconds each). Not when
    the process froze objects of its own, which unfreezing would release.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _mentioned(rows: pl.LazyFrame) -> pl.LazyFrame:
    """(row number ``at``, entity kind, entity id, verb) for every entity a row names."""
    return pl.concat(
        [
            *(
                rows.select(
                    pl.col("at"),
                    pl.lit(kind.lower()).alias("kind"),
                    pl.col(column).alias("entity"),
                    _verb(pl.col("entity_type") == kind),
                )
                for kind, column in TYPED_ID.items()
            ),
            rows.filter(pl.col("entity_type").is_in(list(TYPED_ID))).select(
                pl.col("at"),
                pl.col("entity_type").str.to_lowercase().alias("kind"),
                pl.col("entity_id").alias("entity"),
                _verb(pl.lit(True)),
            ),
        ]
    ).filter(pl.col("entity").is_not_null())


def _agents(rows: pl.LazyFrame) -> pl.LazyFrame:
    """(row number ``at``, agent kind, name) for the user and the system that triggered each row."""
    return pl.concat(
        [
            rows.select(pl.col("at"), pl.lit(kind).alias("kind"), pl.col(column).alias("name"))
            for kind, column in AGENTS
        ]
    ).drop_nulls()


def _job_node(job_id: str, instance: str | None = None) -> pl.Expr:
    """The node of a job run (``job:<id>#<n>``), or of a parent whose run never logged
    (``job:<id>``; also without ``instance``). In the id, ``%`` and ``#`` are written ``%25``
    and ``%23``, so that no bare id (``A#1``) names a run (``A``'s first).

    Examples:
        >>> frame = pl.DataFrame({"job": ["7", "A#1", "A"], "run": [2, None, 1]})
        >>> frame.select(_job_node("job", "run")).to_series().to_list()
        ['job:7#2', 'job:A%231', 'job:A#1']
    """
    escaped = pl.col(job_id).str.replace_all("%", "%25").str.replace_all("#", "%23")
    bare = pl.concat_str(pl.lit("job:"), escaped)
    if instance is None:
        return bare
    run = pl.concat_str(bare, pl.lit("#"), pl.col(instance).cast(pl.String))
    return pl.when(pl.col(instance).is_null()).then(bare).otherwise(run)


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
        lines = [data.get("operation") or node]
        if data["kind"] == "log":
            lines = [str(data.get("operation")), f"{data.get('category')} {data.get('created_at', '')}"]
        dot.add_node(
            pydot.Node(_dot_string(node), label=_dot_string(*lines), shape=_SHAPES.get(data["kind"], "box"))
        )
    for source, target, kind in graph.edges(keys=True):
        dot.add_edge(pydot.Edge(_dot_string(source), _dot_string(target), label=_dot_string(kind)))
    return str(dot.to_string())


_SHAPES = {"log": "note", "job": "ellipse", "user": "house", "system": "house"}


def _dot_string(*lines: str) -> str:
    """A DOT string of ``lines``: every backslash and quote of theirs escaped, so that log text
    (a user id ending in a backslash would escape the closing quote) stays inside it, and shows
    as it is, not as Graphviz's ``\\N`` or ``\\l``; a line break (``\\n``) between lines.

    Examples:
        >>> print(_dot_string('user:carol\\\\'), _dot_string("ask \\"why\\"", "ENRICHED"))
        "user:carol\\\\" "ask \\"why\\"\\nENRICHED"
    """
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines) + '"'


def _utc(moment: str | None) -> datetime | None:
    """A node's time (``2026-02-07T14:26:41.727Z``; naive: UTC) as an aware UTC datetime."""
    at = naive_utc(moment, "created_at")
    return None if at is None else at.replace(tzinfo=UTC)


def prov_document(graph: nx.MultiDiGraph) -> Any:
    """The graph in the W3C PROV data model (a ``prov.model.ProvDocument``).

    Log rows are activities, from ``created_at`` less ``duration_ms`` to ``created_at`` (UTC; a
    trace spans a job run's rows so, and gives a row without a job id no length); albums,
    artists and tracks are entities; users and systems are agents. An entity's first row that
    records its creation (the node attribute ``creation``) generated it (``wasGeneratedBy``:
    PROV generates an entity once, and not at all when no row records it; any other CREATED row,
    such as one the category backfill's catch-all labelled, used it with the role ``created``);
    other rows used it (``used``, with the category as role); a row was informed by the rows of
    its parent job (``wasInformedBy``) and associated with the agents that triggered it
    (``wasAssociatedWith``). Jobs no row was logged by become activities of their own, marked
    dangling. A node's key is its PROV identifier, percent-encoded where PROV-N could not write
    it (:func:`_prov_name`: a user id with a space, a job id with a quote).
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
            end = _utc(data.get("created_at"))
            start = (
                None if end is None else end - timedelta(milliseconds=max(data.get("duration_ms") or 0, 0))
            )
            document.activity(_prov_name(node), start, end, other_attributes=attributes)
        elif data["kind"] == "job" and data.get("dangling"):
            document.activity(_prov_name(node), other_attributes=attributes)
        elif data["kind"] in ("user", "system"):
            document.agent(_prov_name(node), {"prov:type": f"llamalog:{data['kind']}", **attributes})
        elif data["kind"] in ("album", "artist", "track"):
            document.entity(_prov_name(node), {"prov:type": f"llamalog:{data['kind']}", **attributes})
    for source, target, kind in graph.edges(keys=True):
        if kind == "logged_by":
            logged_by.setdefault(target, []).append(source)
    created = sorted(
        (
            (graph.nodes[source].get("created_at") or "", source, target)
            for source, target, kind in graph.edges(keys=True)
            if kind == "created" and graph.nodes[source].get("creation")
        )
    )
    generated = {target: source for _, source, target in reversed(created)}  # the first row per entity
    for source, target, kind in graph.edges(keys=True):
        if kind == "created" and generated.get(target) == source:
            document.wasGeneratedBy(_prov_name(target), _prov_name(source))
        elif kind == "triggered":
            document.wasAssociatedWith(_prov_name(target), _prov_name(source))
        elif kind in ("spawned", "child_of"):
            job = source if kind == "spawned" else target
            parents = logged_by.get(job) or ([job] if graph.nodes[job].get("dangling") else [])
            for child in logged_by.get(target, []) if kind == "spawned" else [source]:
                for parent in parents:
                    document.wasInformedBy(_prov_name(child), _prov_name(parent))
        elif kind != "logged_by":
            document.used(
                _prov_name(source), _prov_name(target), other_attributes={"prov:role": f"llamalog:{kind}"}
            )
    return document


def _prov_name(node: str) -> str:
    """A node's key as a PROV qualified name: its local part percent-encoded where PROV-N could
    not write it (a space, a quote, a backslash, a letter outside ASCII; a ``%`` too, but in a
    job's key, whose ``%`` and ``#`` are escapes of its own).

    Examples:
        >>> _prov_name("user:bob smith"), _prov_name("job:A%231#2"), _prov_name("system:50%")
        ('user:bob%20smith', 'job:A%231#2', 'system:50%25')
    """
    prefix, _, local = node.partition(":")
    return f"{prefix}:{url_quoted(local, safe='-._~#%' if prefix == 'job' else '-._~')}"
