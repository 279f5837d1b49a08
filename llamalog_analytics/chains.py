"""Provenance chains: how an entity got into the table, and what happened to it afterward.

A chain starts from an entity's **seed rows**: rows whose typed id column (``album_id``,
``artist_id``, ``track_id``) holds the entity's id, or whose ``entity_type``/``entity_id`` name
it. ``mode="provenance"`` adds every **ancestor** (a row's ``parent_job_id`` → the rows logged
by that job → their parents, to the top) and every **descendant** (rows whose ``parent_job_id``
is the ``job_id`` of a seed or of another descendant). Siblings stay out: an album created by a
500-album sync gets the sync's root row, not the other 499 albums. ``mode="entity"`` is the
application's ``llamaLogChain`` resolver: seed rows only, newest first, paginated.

Chains are answered from a :class:`ChainIndex`, adjacency arrays built once per store table and
reused until the table changes, so one chain costs a few array lookups, not a recursive query.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     album = store.execute("SELECT album_id FROM llama_logs WHERE category = 'CREATED' "
    ...                           "AND album_id IS NOT NULL ORDER BY created_at LIMIT 1")[0][0]
    ...     rows = lla.chain(store, "ALBUM", album)
    ...     rows.columns[-5:], "self" in rows["relation"].to_list()
    (['relation', 'depth', 'chain_root', 'root_dangling', 'in_cycle'], True)
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from . import schema
from ._sql import quote
from .errors import LlamalogError

if TYPE_CHECKING:
    from .store import LogStore

MODES = ("provenance", "entity")
TYPED_ID = {"ALBUM": "album_id", "ARTIST": "artist_id", "TRACK": "track_id"}
ANNOTATIONS = {
    "relation": pl.String,  # self, ancestor or descendant
    "depth": pl.Int32,  # hops from the nearest seed row; negative for ancestors
    "chain_root": pl.String,  # the top job id reached walking up (None when that runs into a loop)
    "root_dangling": pl.Boolean,  # no row was logged by chain_root
    "in_cycle": pl.Boolean,  # the row's parent link is part of a parent loop
}
_LOW64 = (1 << 64) - 1


class ChainError(LlamalogError, ValueError):
    """A chain request names an unknown entity type, category or mode."""


@dataclass(frozen=True)
class ChainPage:
    """One page of ``mode="entity"``, shaped like the resolver's ``LlamaLogChainResponse``."""

    logs: pl.DataFrame
    total_count: int
    cursor: str | None  # id of the page's last row (None for an empty page), to pass for the next
    has_more: bool


class _Csr:
    """Row positions grouped by an integer key: ``rows(k)`` lists the rows with key ``k``."""

    def __init__(self, keys: np.ndarray, size: int) -> None:
        present = keys >= 0
        order = np.argsort(keys, kind="stable")[np.count_nonzero(~present) :]
        self.positions = order.astype(np.int64)
        counts = np.bincount(keys[present], minlength=size)
        self.offsets = np.concatenate(([0], np.cumsum(counts)))

    def rows(self, key: int) -> np.ndarray:
        return self.positions[self.offsets[key] : self.offsets[key + 1]]

    def expand(self, owners: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For many (owner, key) pairs at once: (owner, row) for every row with that key."""
        starts, counts = self.offsets[keys], self.offsets[keys + 1] - self.offsets[keys]
        total = int(counts.sum())
        ends = np.cumsum(counts)
        within = np.arange(total) - np.repeat(ends - counts, counts)
        return np.repeat(owners, counts), self.positions[np.repeat(starts, counts) + within]


class _EntityKeys:
    """Seed rows of one entity type, searchable by the entity's UUID."""

    def __init__(
        self, high: np.ndarray, low: np.ndarray, positions: np.ndarray, by_entity_id: np.ndarray
    ) -> None:
        order = np.lexsort((positions, low, high))
        self.high, self.low, self.positions = high[order], low[order], positions[order]
        self.by_entity_id = by_entity_id[order]  # the pair came from entity_id, not the typed column

    def numbered(self) -> np.ndarray:
        """Each seed pair's entity number (0, 1, ... in UUID order)."""
        new = np.ones(len(self.high), dtype=bool)
        new[1:] = (self.high[1:] != self.high[:-1]) | (self.low[1:] != self.low[:-1])
        return np.cumsum(new) - 1

    def rows(self, entity_id: uuid.UUID) -> np.ndarray:
        high, low = np.uint64(entity_id.int >> 64), np.uint64(entity_id.int & _LOW64)
        start, stop = np.searchsorted(self.high, high, "left"), np.searchsorted(self.high, high, "right")
        found = self.low[start:stop] == low
        return self.positions[start:stop][found]


class ChainIndex:
    """Adjacency arrays over one log table, built once and reused for every chain.

    Rows are held oldest first (``created_at``, then ``id``); positions into that order are what
    the arrays store. Job ids (``job_id`` and ``parent_job_id`` values) are numbered once, so
    walking a chain compares integers.
    """

    def __init__(self, store: LogStore, table: str = schema.CURRENT_TABLE) -> None:
        self.version = store.changes  # rebuilt once the store ran a statement that may write
        columns = ", ".join(quote(c) for c in schema.COLUMN_NAMES)
        keys = ", ".join(
            f"(({c})::UHUGEINT >> 64)::UBIGINT AS _{c}_high, "
            f"(({c})::UHUGEINT & {_LOW64})::UBIGINT AS _{c}_low"
            for c in ("entity_id", *TYPED_ID.values())
        )
        # Read in storage order, batch by batch, and sort here: sorting the wide rows in DuckDB,
        # or converting one whole Arrow result, would hold them two or three times over.
        batches = store.con.sql(f"SELECT {columns}, {keys} FROM {quote(table)}").to_arrow_reader(1 << 20)
        frame = pl.concat([pl.DataFrame(batch) for batch in batches], rechunk=False)
        frame = frame[frame.select(pl.arg_sort_by("created_at", "id")).to_series()]  # one chunk out
        self.rows = frame.select(schema.COLUMN_NAMES)
        self.jobs = pl.concat([frame["job_id"], frame["parent_job_id"]]).drop_nulls().unique().sort()
        self.job = _codes(self.jobs, frame["job_id"])
        self.parent = _codes(self.jobs, frame["parent_job_id"])
        self.by_job = _Csr(self.job, len(self.jobs))
        self.by_parent = _Csr(self.parent, len(self.jobs))
        self.entities = {}
        entity_type = frame["entity_type"].to_numpy()
        for kind, column in TYPED_ID.items():
            parts = [
                (f"_{column}", frame[column].is_not_null().to_numpy()),
                ("_entity_id", (entity_type == kind) & frame["entity_id"].is_not_null().to_numpy()),
            ]
            # fill_null: a UInt64 column with nulls would come out of polars as float64, inexact
            high = np.concatenate([frame[f"{p}_high"].fill_null(0).to_numpy()[mask] for p, mask in parts])
            low = np.concatenate([frame[f"{p}_low"].fill_null(0).to_numpy()[mask] for p, mask in parts])
            positions = np.concatenate([np.flatnonzero(mask) for _, mask in parts])
            by_entity_id = np.repeat([False, True], [int(mask.sum()) for _, mask in parts])
            self.entities[kind] = _EntityKeys(high, low, positions, by_entity_id)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays and the rows (an estimate from buffer sizes)."""
        arrays = [self.job, self.parent, self.by_job.positions, self.by_job.offsets]
        arrays += [self.by_parent.positions, self.by_parent.offsets]
        for keys in self.entities.values():
            arrays += [keys.high, keys.low, keys.positions]
        return (
            sum(a.nbytes for a in arrays) + int(self.rows.estimated_size()) + int(self.jobs.estimated_size())
        )

    def seeds(self, entity_type: str, entity_id: str | uuid.UUID) -> np.ndarray:
        """Positions of the entity's own rows, oldest first (duplicates removed)."""
        try:
            key = entity_id if isinstance(entity_id, uuid.UUID) else uuid.UUID(str(entity_id))
        except ValueError:
            return np.empty(0, dtype=np.int64)
        return np.unique(self.entities[entity_type].rows(key))

    def provenance(self, seeds: np.ndarray) -> dict[int, tuple[str, int]]:
        """Position → (relation, depth) for the seeds, their ancestors and their descendants.

        Descendants are expanded from the seeds only, never from ancestors: that would pull in
        the siblings. Each direction visits a row once, so parent loops and shared job ids end.
        """
        found = {int(p): ("self", 0) for p in seeds}
        for relation, step, links in (("ancestor", -1, self._up), ("descendant", 1, self._down)):
            frontier, depth = [int(p) for p in seeds], 0
            seen = set(frontier)  # each direction walks on through rows the other one labelled
            while frontier:
                depth += step
                reached = []
                for position in frontier:
                    for other in links(position).tolist():
                        if other not in seen:
                            seen.add(other)
                            reached.append(other)
                            found.setdefault(other, (relation, depth))
                frontier = reached
        return found

    def every_chain(self, entity_type: str) -> pl.DataFrame:
        """Every entity's provenance chain of one type: ``entity_id`` and chain row ``id`` pairs.

        The same walk as :meth:`provenance`, for all entities at once: whole arrays of
        (entity, job) pairs move up or down one hop per round until no pair is new.
        """
        keys = self.entities[entity_type]
        entity, seeds = keys.numbered(), keys.positions
        ancestors = self._jobs_closure(entity, self.parent[seeds], self.by_job, self.parent)
        descendants = self._jobs_closure(entity, self.job[seeds], self.by_parent, self.job)
        pairs = [
            (entity, seeds),
            self.by_job.expand(*ancestors),
            self.by_parent.expand(*descendants),
        ]
        size = len(self.rows)
        combined = _distinct(np.concatenate([e * size + p for e, p in pairs]))
        owner, position = np.divmod(combined, size)
        first = np.flatnonzero(np.diff(entity, prepend=-1))  # one seed pair per entity
        typed = self.rows[TYPED_ID[entity_type]].gather(seeds[first])
        named = self.rows["entity_id"].gather(seeds[first])
        names = pl.select(
            pl.when(pl.Series(keys.by_entity_id[first])).then(named).otherwise(typed).alias("entity_id")
        ).to_series()
        return pl.DataFrame(
            {
                "entity_id": names.gather(owner),
                "id": self.rows["id"].gather(position),
            }
        )

    def _jobs_closure(
        self, entity: np.ndarray, start: np.ndarray, rows_by: _Csr, next_code: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every (entity, job) reachable from (entity, start job), one hop at a time."""
        size = len(self.jobs) + 1
        known = _distinct(entity[start >= 0] * size + start[start >= 0])
        frontier = known
        while frontier.size:
            owners, codes = np.divmod(frontier, size)
            owners, rows = rows_by.expand(owners, codes)
            reached = next_code[rows]
            step = _distinct(owners[reached >= 0] * size + reached[reached >= 0])
            frontier = step[~np.isin(step, known, assume_unique=True)]
            known = np.sort(np.concatenate([known, frontier]), kind="stable")  # merges two sorted runs
        return np.divmod(known, size)

    def _up(self, position: int) -> np.ndarray:
        parent = self.parent[position]
        return self.by_job.rows(parent) if parent >= 0 else _NONE

    def _down(self, position: int) -> np.ndarray:
        job = self.job[position]
        return self.by_parent.rows(job) if job >= 0 else _NONE

    def roots(self, positions: Iterable[int]) -> dict[int, tuple[str | None, bool]]:
        """Position → (chain_root, root_dangling): the top job reached walking up from the row.

        Each step up follows the oldest row logged by the parent job; a parent job no row was
        logged by is a dangling root. A walk that runs into a parent loop has no root (None).
        """
        tops: dict[int, tuple[int, bool]] = {}  # job code -> (top job code or -1, dangling)

        def top_of(code: int) -> tuple[int, bool]:
            path: list[int] = []
            while code not in tops:
                if code in path:  # a parent loop: no top
                    tops[code] = (-1, False)
                    break
                path.append(code)
                logged = self.by_job.rows(code)
                parent = int(self.parent[logged[0]]) if len(logged) else -1
                if parent < 0:
                    tops[code] = (code, not len(logged))
                    break
                code = parent
            for job in path:
                tops.setdefault(job, tops[code])
            return tops[code]

        answers: dict[int, tuple[str | None, bool]] = {}
        for position in positions:
            parent, job = int(self.parent[position]), int(self.job[position])
            top, dangling = top_of(parent) if parent >= 0 else (job, False)
            answers[position] = (None if top < 0 else self.jobs[top], dangling)
        return answers

    def in_cycle(self, positions: Sequence[int]) -> list[bool]:
        """For each row, whether its own parent link (job → parent job) lies on a parent loop."""
        links = [(int(self.job[p]), int(self.parent[p])) for p in positions]
        loops = parent_loops((a, b) for a, b in links if a >= 0 and b >= 0)
        loop_of = {job: number for number, jobs in enumerate(loops) for job in jobs}
        return [a in loop_of and loop_of[a] == loop_of.get(b) for a, b in links]

    def frame(self, annotated: dict[int, tuple[str, int]]) -> pl.DataFrame:
        """The chain's rows with their annotations, oldest first."""
        positions = sorted(annotated)
        roots = self.roots(positions)
        values: dict[str, list[Any]] = {
            "relation": [annotated[p][0] for p in positions],
            "depth": [annotated[p][1] for p in positions],
            "chain_root": [roots[p][0] for p in positions],
            "root_dangling": [roots[p][1] for p in positions],
            "in_cycle": self.in_cycle(positions),
        }
        rows = self.rows[pl.Series(positions, dtype=pl.UInt32)]
        return rows.hstack([pl.Series(k, v, dtype=ANNOTATIONS[k]) for k, v in values.items()])


_NONE = np.empty(0, dtype=np.int64)
_INDEXES: weakref.WeakKeyDictionary[LogStore, dict[str, ChainIndex]] = weakref.WeakKeyDictionary()


def chain_index(store: LogStore, table: str = schema.CURRENT_TABLE) -> ChainIndex:
    """The store's :class:`ChainIndex` for ``table``, rebuilt only after the store may have changed.

    Loads and any writing statement run through the store (``execute``/``frame``) count as a
    change; writes made on ``store.con`` directly do not.
    """
    cached = _INDEXES.setdefault(store, {})
    index = cached.get(table)
    if index is None or index.version != store.changes:
        store._require(table)
        index = cached[table] = ChainIndex(store, table)
    return index


def parent_loops(links: Iterable[tuple[Any, Any]]) -> list[set[Any]]:
    """The parent loops among (job, parent job) links: sets of jobs that are their own ancestors.

    Links that cannot be on a loop (out of a job nothing points at, into a job that points
    nowhere) are trimmed first, so networkx only sees what is left, usually nothing.

    Examples:
        >>> links = [("a", "b"), ("b", "a"), ("c", "a"), ("d", "d"), ("e", None)]
        >>> [sorted(jobs) for jobs in parent_loops(links)]
        [['a', 'b'], ['d']]
    """
    edges = {(a, b) for a, b in links if a is not None and b is not None}
    while True:
        jobs, parents = {a for a, _ in edges}, {b for _, b in edges}
        kept = {(a, b) for a, b in edges if a in parents and b in jobs}
        if kept == edges:
            break
        edges = kept
    if not edges:
        return []
    import networkx as nx

    graph = nx.DiGraph(sorted(edges))
    loops = nx.strongly_connected_components(graph)
    return sorted(
        (jobs for jobs in loops if len(jobs) > 1 or any(graph.has_edge(j, j) for j in jobs)), key=sorted
    )


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sorting beats numpy's hash-based unique on large integer arrays)."""
    values = np.sort(values)
    return values[np.diff(values, prepend=values[:1] - 1) != 0] if values.size else values


def _codes(jobs: pl.Series, values: pl.Series) -> np.ndarray:
    """Each value's position in the sorted ``jobs`` (-1 for NULL)."""
    codes = jobs.search_sorted(values.fill_null(""), side="left").to_numpy().astype(np.int64)
    return np.where(values.is_null().to_numpy(), -1, codes)


def chain(
    store: LogStore,
    entity_type: str,
    entity_id: str | uuid.UUID,
    *,
    categories: Sequence[str] | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    mode: str = "provenance",
    table: str = schema.CURRENT_TABLE,
) -> pl.DataFrame:
    """The log rows of one album, artist or track, and the rows that led to them or came of them.

    Args:
        entity_type: ``ALBUM``, ``ARTIST`` or ``TRACK`` (any case).
        entity_id: the entity's UUID.
        categories: keep only rows in these categories (applied after the chain is built).
        since, until: keep only rows created in this inclusive range (UTC; ISO text or datetime).
        mode: ``provenance`` (seeds, ancestors and descendants, oldest first, annotated with
            ``relation``, ``depth``, ``chain_root``, ``root_dangling``, ``in_cycle``) or ``entity``
            (the resolver's flat list: seed rows only, newest first).
        table: the log table to read.

    An unknown entity gives an empty frame.
    """
    entity_type, wanted, since, until = _arguments(entity_type, categories, since, until, mode)
    index = chain_index(store, table)
    seeds = index.seeds(entity_type, entity_id)
    if mode == "entity":
        rows = index.rows[pl.Series(seeds, dtype=pl.UInt32)]
        return _filtered(rows, wanted, since, until).sort(["created_at", "id"], descending=True)
    return _filtered(index.frame(index.provenance(seeds)), wanted, since, until)


def all_chains(store: LogStore, table: str = schema.CURRENT_TABLE) -> pl.DataFrame:
    """Every entity's provenance chain at once: ``entity_type``, ``entity_id``, chain row ``id``.

    The same chains :func:`chain` gives one at a time (seeds, ancestors, descendants), computed
    for every album, artist and track together, e.g. to count or join them in bulk.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     every = all_chains(store)
        ...     album = every.filter(pl.col("entity_type") == "ALBUM")["entity_id"][0]
        ...     one = lla.chain(store, "ALBUM", album)
        >>> sorted(every.filter(pl.col("entity_id") == album)["id"]) == sorted(one["id"])
        True
    """
    index = chain_index(store, table)
    return pl.concat(
        index.every_chain(kind).select(pl.lit(kind).alias("entity_type"), pl.all()) for kind in TYPED_ID
    )


def chain_page(
    store: LogStore,
    entity_type: str,
    entity_id: str | uuid.UUID,
    *,
    categories: Sequence[str] | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    table: str = schema.CURRENT_TABLE,
) -> ChainPage:
    """One page of the resolver's ``llamaLogChain``: the same rows, counts and cursor it returns.

    As the resolver (through Prisma) does: the page starts at the row whose id is ``cursor``
    (looked up in the whole table; an unknown cursor gives an empty page) and skips one row,
    takes ``limit`` rows, and ``total_count`` counts every matching row regardless of the cursor.
    """
    if limit < 1:
        raise ChainError(f"limit must be at least 1, not {limit}")
    rows = chain(
        store,
        entity_type,
        entity_id,
        categories=categories,
        since=since,
        until=until,
        mode="entity",
        table=table,
    )
    total = rows.height
    if cursor is not None:
        at = store.execute(
            f"SELECT created_at, CAST(id AS VARCHAR) FROM {quote(table)} WHERE id = TRY_CAST(? AS UUID)",
            [cursor],
        )
        if not at:
            rows = rows.clear()
        else:
            created, key = at[0]
            rows = rows.filter(
                (pl.col("created_at") < created) | ((pl.col("created_at") == created) & (pl.col("id") <= key))
            ).slice(1)
    page = rows.head(limit)
    return ChainPage(page, total, page["id"][-1] if page.height else None, rows.height > limit)


def _arguments(
    entity_type: str,
    categories: Sequence[str] | None,
    since: datetime | str | None,
    until: datetime | str | None,
    mode: str,
) -> tuple[str, list[str] | None, datetime | None, datetime | None]:
    kind = entity_type.upper()
    if kind not in TYPED_ID:
        raise ChainError(f"unknown entity type {entity_type!r}. Valid: {', '.join(TYPED_ID)}")
    if mode not in MODES:
        raise ChainError(f"unknown mode {mode!r}. Valid: {', '.join(MODES)}")
    wanted = None
    if categories:
        wanted = [c.upper() for c in categories]
        unknown = [c for c, w in zip(categories, wanted, strict=True) if w not in schema.CATEGORIES]
        if unknown:
            raise ChainError(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}. "
                f"Valid: {', '.join(schema.CATEGORIES)}"
            )
    return kind, wanted, _utc(since, "since"), _utc(until, "until")


def _utc(value: datetime | str | None, name: str) -> datetime | None:
    """A naive UTC datetime, as the table's timestamps are."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ChainError(
                f"{name}={value!r} is not a date or time. Hint: use 2026-02-10 or 2026-02-10T16:39:53Z"
            ) from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _filtered(
    rows: pl.DataFrame, categories: list[str] | None, since: datetime | None, until: datetime | None
) -> pl.DataFrame:
    keep = [
        *([pl.col("category").is_in(categories)] if categories is not None else []),
        *([pl.col("created_at") >= since] if since is not None else []),
        *([pl.col("created_at") <= until] if until is not None else []),
    ]
    return rows.filter(keep) if keep else rows
