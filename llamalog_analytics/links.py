"""Job links: which run of a job wrote a row, and which run its ``parent_job_id`` points at.

A ``job_id`` does not name one job forever: BullMQ's numeric ids restart when its Redis is
reset, and custom ids repeat. So links follow **job instances**:

* **Instance.** Rows with the same non-NULL ``job_id``, ordered by (``created_at``, ``id``),
  belong to one instance until the gap between two consecutive rows of that id exceeds the
  reuse gap (24 hours by default); the next row starts a new instance. An instance is the job
  id and its ordinal among that id's instances (1 = oldest), spanning its first to its last
  row's ``created_at``.
* **Parent resolution.** A row with ``parent_job_id = p`` links to the one instance of ``p``
  whose span is nearest to the row's ``created_at`` (0 inside the span; ties go to the earlier
  instance), provided it is at most the reuse gap away. Otherwise (and when no row carries
  ``p``) the run that spawned the row never logged: the parent is **dangling**.
* An instance's own parent is its **first row's** (oldest; NULL if that row has none); walking
  those up gives the **root** of every row. Rows' parent links between instances form a graph,
  and a cycle in it is a **loop** (a cycle of instances); a row is on a loop when its own link
  (its instance → its parent's instance) is.

``link="job_id"`` is the literal reading (every row carrying an id is one job): the same rules
with no reuse gap. This module is the one place that defines these links; chains, graphs,
timelines, ``explain`` and the audit all ask it.

Examples:
    >>> import llamalog_analytics as lla
    >>> from llamalog_analytics import links
    >>> links.Linking.of("instance", "6h")
    Linking(link='instance', reuse_gap=datetime.timedelta(seconds=21600))
    >>> str(links.Linking.of("job_id"))
    'bare job ids'
    >>> with lla.sample_store() as store:
    ...     found = store.frame(f"SELECT * FROM ({links.rows_sql('llama_logs')}) LIMIT 3")
    >>> found.columns
    ['id', 'created_at', 'job_id', 'parent_job_id', 'job_instance', 'parent_instance', 'parent_first_at', \
'dangling']
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from ._sql import literal, quote
from .errors import LinkError

LINKS = ("instance", "job_id")
DEFAULT_REUSE_GAP = timedelta(hours=24)
NO_ROW = "no row carries the id"
NO_RUN_NEAR = "no run of it within reuse_gap"
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_GAP = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)", re.IGNORECASE)


@dataclass(frozen=True)
class Linking:
    """How parent links are followed: by job instance with a reuse gap, or by bare job id.

    Build it with :meth:`of`, which takes what users pass (``link=``, ``reuse_gap=``).
    """

    link: str = "instance"
    reuse_gap: timedelta | None = DEFAULT_REUSE_GAP  # None: bare job ids

    def __post_init__(self) -> None:
        bare = self.link == "job_id"
        if self.link not in LINKS or bare != (self.reuse_gap is None):
            raise LinkError(
                f"Linking({self.link!r}, {self.reuse_gap!r}) is not a way to link. "
                "Hint: build it with Linking.of(link, reuse_gap)"
            )

    @classmethod
    def of(cls, link: str = "instance", reuse_gap: timedelta | str | None = None) -> Linking:
        """Check and normalise ``link`` (``instance`` or ``job_id``) and ``reuse_gap``.

        ``reuse_gap`` is a ``timedelta`` or text such as ``6h``, ``90min``, ``2d`` or ``1h30m``;
        None means the default, 24 hours. It has no effect with ``link="job_id"``.

        Examples:
            >>> Linking.of(reuse_gap="1h30m").reuse_gap
            datetime.timedelta(seconds=5400)
            >>> Linking.of("job-id").reuse_gap is None
            True
        """
        link = link.replace("-", "_").lower()
        if link not in LINKS:
            raise LinkError(f"unknown link {link!r}. Hint: use one of {', '.join(LINKS)}")
        if link == "job_id":
            return cls("job_id", None)
        gap = DEFAULT_REUSE_GAP if reuse_gap is None else _timedelta(reuse_gap)
        if gap <= timedelta(0):
            raise LinkError(f"reuse_gap must be positive, not {reuse_gap!r}. Hint: try 24h or 6h")
        return cls("instance", gap)

    @property
    def gap_us(self) -> int | None:
        """The reuse gap in microseconds (None: no gap, bare job ids)."""
        return None if self.reuse_gap is None else self.reuse_gap // timedelta(microseconds=1)

    def __str__(self) -> str:
        if self.reuse_gap is None:
            return "bare job ids"
        return f"job instances (reuse gap {human_duration(self.reuse_gap)})"


def human_duration(span: timedelta) -> str:
    """A duration in hours, minutes and seconds, leaving out units that are zero.

    Examples:
        >>> human_duration(timedelta(hours=24)), human_duration(timedelta(minutes=90))
        ('24 h', '1 h 30 min')
    """
    seconds = int(span.total_seconds())
    parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "min"), (seconds % 60, "s")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n) or f"{span.total_seconds() * 1000:g} ms"


def _timedelta(value: timedelta | str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    text = str(value).strip()
    parts = _GAP.findall(text)
    if not parts or _GAP.sub("", text).strip():
        raise LinkError(f"reuse_gap={value!r} is not a duration. Hint: write it like 24h, 6h, 90min or 2d")
    return timedelta(seconds=sum(float(n) * _UNITS[unit.lower()] for n, unit in parts))


def rows_sql(
    source: str, linking: Linking | None = None, *, quoted: bool = False, carry: Iterable[str] = ()
) -> str:
    """SQL (DuckDB) giving each row of ``source`` its job instance and its resolved parent.

    Columns: ``id``, ``created_at``, ``job_id``, ``parent_job_id``, ``job_instance`` (the
    ordinal; NULL without a job id), ``parent_instance`` (the ordinal of the instance of
    ``parent_job_id`` the row links to; NULL when none), ``parent_first_at`` (that instance's
    first row time) and ``dangling`` (why a parent resolves to nothing: :data:`NO_ROW` or
    :data:`NO_RUN_NEAR`; NULL otherwise). ``source`` is a table name, or with ``quoted`` any
    relation (a parenthesised query); ``carry`` names more of its columns to pass through.
    """
    linking = linking or Linking()
    relation = source if quoted else quote(source)
    columns = ", ".join(["id", "created_at", "job_id", "parent_job_id", *map(quote, carry)])
    gap = linking.gap_us
    starts = (
        "row_number() OVER by_job = 1"
        if gap is None
        else f"coalesce(epoch_us(created_at) - lag(epoch_us(created_at)) OVER by_job > {int(gap)}, true)"
    )
    near = "true" if gap is None else f"distance <= {int(gap)}"
    return f"""WITH marked AS (
  SELECT {columns}, {starts} AS starts FROM {relation}
  WINDOW by_job AS (PARTITION BY job_id ORDER BY created_at, id)),
numbered AS MATERIALIZED (
  SELECT {columns},
    CASE WHEN job_id IS NOT NULL THEN sum(starts::INTEGER) OVER (
      PARTITION BY job_id ORDER BY created_at, id ROWS UNBOUNDED PRECEDING)::INTEGER END AS job_instance
  FROM marked),
spans AS (
  SELECT job_id, job_instance, min(created_at) AS first_at, max(created_at) AS last_at
  FROM numbered WHERE job_id IS NOT NULL GROUP BY ALL),
near AS (
  SELECT n.*, b.job_instance AS b_instance, b.first_at AS b_first,
    greatest(epoch_us(n.created_at) - epoch_us(b.last_at), 0) AS b_distance,
    a.job_instance AS a_instance, a.first_at AS a_first,
    epoch_us(a.first_at) - epoch_us(n.created_at) AS a_distance
  FROM numbered AS n
  ASOF LEFT JOIN spans AS b ON n.parent_job_id = b.job_id AND n.created_at >= b.first_at
  LEFT JOIN spans AS a ON n.parent_job_id = a.job_id AND a.job_instance = coalesce(b.job_instance, 0) + 1),
nearest AS (
  SELECT *, b_instance IS NOT NULL AND (a_instance IS NULL OR b_distance <= a_distance) AS before,
    CASE WHEN before THEN b_distance ELSE a_distance END AS distance
  FROM near)
SELECT {columns}, job_instance,
  CASE WHEN {near} THEN CASE WHEN before THEN b_instance ELSE a_instance END END AS parent_instance,
  CASE WHEN {near} THEN CASE WHEN before THEN b_first ELSE a_first END END AS parent_first_at,
  CASE WHEN parent_job_id IS NULL THEN NULL
    WHEN b_instance IS NULL AND a_instance IS NULL THEN {literal(NO_ROW)}
    WHEN NOT ({near}) THEN {literal(NO_RUN_NEAR)} END AS dangling
FROM nearest"""


def resolve(rows: pl.DataFrame, linking: Linking | None = None) -> pl.DataFrame:
    """:func:`rows_sql`'s columns for a frame of log rows, in the frame's order.

    Only ``id``, ``created_at``, ``job_id`` and ``parent_job_id`` are read.

    Examples:
        >>> from datetime import datetime
        >>> rows = pl.DataFrame({
        ...     "id": ["a", "b", "c"], "job_id": ["7", "7", None], "parent_job_id": [None, None, "7"],
        ...     "created_at": [datetime(2026, 2, 1), datetime(2026, 4, 1), datetime(2026, 4, 1, 0, 5)]})
        >>> resolve(rows).select("job_instance", "parent_instance").rows()
        [(1, None), (2, None), (None, 2)]
    """
    import duckdb

    narrow = rows.select(
        pl.col("id", "job_id", "parent_job_id").cast(pl.String), "created_at"
    ).with_row_index("_row")
    with duckdb.connect(config={"memory_limit": "3GB", "temp_directory": tempfile.gettempdir()}) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("_rows", narrow.to_arrow())
        sql = rows_sql("_rows", linking, carry=["_row"])
        resolved = con.sql(f"SELECT * EXCLUDE (_row) FROM ({sql}) ORDER BY _row").pl()
    return resolved.with_columns(pl.col("job_instance", "parent_instance").cast(pl.Int32))


def parent_loops(links: Iterable[tuple[Any, Any]]) -> list[set[Any]]:
    """The loops among (child, parent) links: sets of instances (or jobs) that are their own ancestors.

    Links that cannot be on a loop (out of a node nothing points at, into a node that points
    nowhere) are trimmed first, so networkx only sees what is left, usually nothing.

    Examples:
        >>> links = [("a", "b"), ("b", "a"), ("c", "a"), ("d", "d"), ("e", None)]
        >>> [sorted(nodes) for nodes in parent_loops(links)]
        [['a', 'b'], ['d']]
    """
    edges = {(a, b) for a, b in links if a is not None and b is not None}
    while True:
        children, parents = {a for a, _ in edges}, {b for _, b in edges}
        kept = {(a, b) for a, b in edges if a in parents and b in children}
        if kept == edges:
            break
        edges = kept
    if not edges:
        return []
    import networkx as nx

    graph = nx.DiGraph(sorted(edges))
    loops = nx.strongly_connected_components(graph)
    return sorted(
        (nodes for nodes in loops if len(nodes) > 1 or any(graph.has_edge(n, n) for n in nodes)), key=sorted
    )


def loop_numbers(child: np.ndarray, parent: np.ndarray, size: int) -> np.ndarray:
    """For ``size`` numbered nodes and (child, parent) links: each node's loop number, -1 off loops.

    Links are trimmed with whole-array passes before :func:`parent_loops` sees the rest.

    Examples:
        >>> loop_numbers(np.array([0, 1, 2, 3]), np.array([1, 0, 0, 3]), 5).tolist()
        [0, 0, -1, 1, -1]
    """
    keep = (child >= 0) & (parent >= 0)
    child, parent = child[keep], parent[keep]
    while child.size:
        kept = np.isin(child, parent) & np.isin(parent, child)
        if kept.all():
            break
        child, parent = child[kept], parent[kept]
    numbers = np.full(size, -1, dtype=np.int64)
    pairs = set(zip(child.tolist(), parent.tolist(), strict=True))
    for number, nodes in enumerate(parent_loops(pairs)):
        numbers[list(nodes)] = number
    return numbers


def tops(parent: np.ndarray) -> np.ndarray:
    """Each node's top ancestor by pointer jumping over ``parent`` (-1: no parent); -1 on or below a loop.

    Each round doubles how far every node has looked, so a tree of depth d takes log2(d) rounds.

    Examples:
        >>> tops(np.array([-1, 0, 1, 4, 3])).tolist()
        [0, 0, 0, -1, -1]
    """
    nodes = np.arange(len(parent))
    up = np.where(parent >= 0, parent, nodes)
    for _ in range(max(1, int(np.ceil(np.log2(max(len(up), 2)))) + 1)):
        further = up[up]
        if np.array_equal(further, up):
            break
        up = further
    settled = parent[up] < 0  # reached a node without a parent; loops never do
    return np.where(settled, up, -1)


# --- whole-table findings -------------------------------------------------------------------
# Each takes ``linked``: the rows as :func:`linked_sql` gives them, inline (self-contained SQL to
# show and re-run) or as a table a caller made of it once (to answer several questions).


def linked_sql(table: str, linking: Linking | None = None) -> str:
    """:func:`rows_sql` with ``operation`` carried, parenthesised: what the findings below read."""
    return f"({rows_sql(table, linking, carry=['operation'])})"


def dangling_sql(linked: str) -> str:
    """Rows whose parent link resolves to no instance, with the reason (``dangling``)."""
    return f"""SELECT id::VARCHAR AS id, created_at, operation, parent_job_id, dangling
FROM {linked} WHERE dangling IS NOT NULL"""


def before_parent_sql(linked: str) -> str:
    """Rows logged before the first row of the instance their parent resolves to."""
    return f"""SELECT id::VARCHAR AS id, operation, job_id, job_instance, parent_job_id, parent_instance,
  created_at, parent_first_at, epoch_ms(parent_first_at) - epoch_ms(created_at) AS ahead_by_ms
FROM {linked} WHERE created_at < parent_first_at"""


def reused_sql(linked: str) -> str:
    """Every instance of the job ids that ran more than once, with its span (``id``: its first row)."""
    return f"""WITH reused AS (SELECT DISTINCT job_id FROM {linked} WHERE job_instance = 2)
SELECT arg_min(id, (created_at, id))::VARCHAR AS id, job_id, job_instance,
  max(job_instance) OVER (PARTITION BY job_id) AS runs, min(created_at) AS first_at,
  max(created_at) AS last_at, count(*) AS rows, list(DISTINCT operation ORDER BY operation) AS operations
FROM {linked} WHERE job_id IN (SELECT job_id FROM reused) GROUP BY job_id, job_instance"""


def loops(store: Any, linked: str) -> pl.DataFrame:
    """Instances on a loop (an instance that is, through its parents, its own ancestor).

    One row per instance, numbered by loop: ``cycle``, ``job_id``, ``job_instance``. Links that
    cannot be on a loop are trimmed in SQL and then with whole-column joins until nothing
    changes; :func:`parent_loops` finds the loops among the few that remain.
    """
    keys = ["job_id", "job_instance"]
    parents = {"job_id": "parent_job_id", "job_instance": "parent_instance"}
    edges = store.frame(
        f"""WITH edges AS (
  SELECT DISTINCT job_id, job_instance, parent_job_id, parent_instance FROM {linked}
  WHERE job_instance IS NOT NULL AND parent_instance IS NOT NULL)
SELECT e.* FROM edges AS e
SEMI JOIN edges AS c ON c.parent_job_id = e.job_id AND c.parent_instance = e.job_instance
SEMI JOIN edges AS p ON p.job_id = e.parent_job_id AND p.job_instance = e.parent_instance"""
    )
    while True:  # drop links out of instances nothing points at, and into ones that point nowhere
        pointed_at = edges.select(pl.col(v).alias(k) for k, v in parents.items()).unique()
        pointing = edges.select(pl.col(k).alias(v) for k, v in parents.items()).unique()
        kept = edges.join(pointed_at, on=keys, how="semi")
        kept = kept.join(pointing, on=list(parents.values()), how="semi")
        if kept.height == edges.height:
            break
        edges = kept
    pairs = ((tuple(r[:2]), tuple(r[2:])) for r in edges.select(*keys, *parents.values()).iter_rows())
    found = [sorted(nodes) for nodes in parent_loops(pairs)]
    return pl.DataFrame(
        [(number, job, run) for number, nodes in enumerate(found, 1) for job, run in nodes],
        schema={"cycle": pl.Int64, "job_id": pl.String, "job_instance": pl.Int32},
        orient="row",
    )


def loops_sql(linked: str) -> str:
    """SQL listing the rows whose parent link lies on a loop of instances, by a recursive walk.

    The readable, self-contained statement of what :func:`loops` finds faster.
    """
    node, parent = "job_id || '#' || job_instance", "parent_job_id || '#' || parent_instance"
    return f"""WITH RECURSIVE linked AS MATERIALIZED (SELECT * FROM {linked}),
edges AS (
  SELECT DISTINCT {node} AS node, {parent} AS parent FROM linked
  WHERE job_instance IS NOT NULL AND parent_instance IS NOT NULL),
walk(start, first, reached, path) AS (
  SELECT node, parent, parent, [node] FROM edges
  UNION ALL
  SELECT w.start, w.first, e.parent, list_append(w.path, w.reached) FROM walk AS w
  JOIN edges AS e ON e.node = w.reached WHERE NOT list_contains(w.path, w.reached)),
looped AS (SELECT DISTINCT start, first FROM walk WHERE reached = start)
SELECT id::VARCHAR AS id, created_at, job_id, job_instance, parent_job_id, parent_instance FROM linked
WHERE ({node}, {parent}) IN (SELECT (start, first) FROM looped)"""


def roots_sql(source: str, linking: Linking | None = None, *, quoted: bool = False) -> str:
    """The true root of every row with a parent link: an unlimited, loop-safe walk over instances.

    Columns: the row's ``id``, ``created_at``, ``job_id``, ``parent_job_id``, ``dangling``, then
    ``true_root`` (the top instance's job id, or the bare id of a parent whose run never
    logged; NULL on a loop), ``ancestors`` (runs above the row, the parent's and a bare top
    id included),
    ``looped`` and ``top_dangling`` (the walk ended at a parent that never logged).
    """
    rows = rows_sql(source, linking, quoted=quoted, carry=["root_job_id"])
    key = "p.parent_job_id || '#' || p.parent_instance"
    return f"""WITH RECURSIVE linked AS MATERIALIZED ({rows}),
first_links AS (
  SELECT job_id, job_instance,
    arg_min_null({{'job': parent_job_id, 'run': parent_instance}}, (created_at, id)) AS up
  FROM linked WHERE job_id IS NOT NULL GROUP BY job_id, job_instance),
parents AS (
  SELECT job_id, job_instance, up.job AS parent_job_id, up.run AS parent_instance FROM first_links),
walk(start_job, start_run, job, run, hops, path) AS (
  SELECT DISTINCT parent_job_id, parent_instance, parent_job_id, parent_instance, 0,
    [parent_job_id || '#' || parent_instance]
  FROM linked WHERE parent_instance IS NOT NULL
  UNION ALL
  SELECT w.start_job, w.start_run, p.parent_job_id, p.parent_instance, w.hops + 1,
    list_append(w.path, {key})
  FROM walk AS w JOIN parents AS p ON p.job_id = w.job AND p.job_instance = w.run
  WHERE p.parent_instance IS NOT NULL AND NOT list_contains(w.path, {key})),
tops AS (
  SELECT start_job, start_run, arg_max(job, hops) AS job, arg_max(run, hops) AS run, max(hops) AS hops
  FROM walk GROUP BY start_job, start_run),
truth AS (
  SELECT t.start_job, t.start_run, t.hops, p.parent_instance IS NOT NULL AS looped,
    p.parent_job_id IS NOT NULL AND p.parent_instance IS NULL AS top_dangling,
    CASE WHEN p.parent_instance IS NOT NULL THEN NULL ELSE coalesce(p.parent_job_id, t.job) END AS true_root
  FROM tops AS t JOIN parents AS p ON p.job_id = t.job AND p.job_instance = t.run)
SELECT l.id, l.created_at, l.job_id, l.parent_job_id, l.root_job_id, l.dangling,
  CASE WHEN l.parent_instance IS NULL THEN l.parent_job_id ELSE t.true_root END AS true_root,
  CASE WHEN l.parent_instance IS NULL THEN 1 ELSE t.hops + 1 + t.top_dangling::INTEGER END AS ancestors,
  coalesce(t.looped, false) AS looped,
  coalesce(t.top_dangling, false) AS top_dangling
FROM linked AS l LEFT JOIN truth AS t ON t.start_job = l.parent_job_id AND t.start_run = l.parent_instance
WHERE l.parent_job_id IS NOT NULL"""


def annotate(rows: pl.DataFrame, linking: Linking | None = None) -> pl.DataFrame:
    """``rows`` with the link annotations chains carry, computed among these rows alone.

    Adds ``job_instance``, ``parent_instance``, ``before_parent`` and ``in_cycle`` where they
    are missing (a chain from :func:`~llamalog_analytics.chain` has them, resolved over the
    whole table, and keeps its own).

    Examples:
        >>> from datetime import datetime
        >>> rows = pl.DataFrame({
        ...     "id": ["a", "b"], "job_id": ["x", "y"], "parent_job_id": ["y", "x"],
        ...     "created_at": [datetime(2026, 2, 1), datetime(2026, 2, 1, 0, 1)]})
        >>> annotate(rows).select("in_cycle", "before_parent").rows()
        [(True, True), (True, False)]
    """
    wanted = ("job_instance", "parent_instance", "before_parent", "in_cycle")
    if all(c in rows.columns for c in wanted):
        return rows
    resolved = resolve(rows, linking)
    keys = (
        pl.concat(
            [
                resolved.select(job=pl.col("job_id"), run=pl.col("job_instance")),
                resolved.select(job=pl.col("parent_job_id"), run=pl.col("parent_instance")),
            ]
        )
        .drop_nulls()
        .unique()
        .sort("job", "run")
        .with_row_index("node")
    )

    def node(job: str, run: str) -> np.ndarray:
        found = resolved.select(job=pl.col(job), run=pl.col(run)).join(
            keys, on=["job", "run"], how="left", maintain_order="left"
        )
        return found["node"].fill_null(-1).cast(pl.Int64).to_numpy()

    own, parent = node("job_id", "job_instance"), node("parent_job_id", "parent_instance")
    loop = loop_numbers(own, parent, keys.height)
    own_loop = np.append(loop, -1)[own]
    values = {
        "job_instance": resolved["job_instance"],
        "parent_instance": resolved["parent_instance"],
        "before_parent": (resolved["created_at"] < resolved["parent_first_at"]).fill_null(False),
        "in_cycle": pl.Series((own_loop >= 0) & (own_loop == np.append(loop, -1)[parent])),
    }
    return rows.with_columns(pl.Series(name, values[name]) for name in wanted if name not in rows.columns)
