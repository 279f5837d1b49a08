"""The chain index: adjacency arrays over one log table, built once and reused for every chain.

Rows are held oldest first (``created_at``, then ``id``); positions into that order are what the
arrays store. Each row knows the job run (instance, see :mod:`~llamalog_analytics.links`) that
wrote it and the run its parent link resolves to, as integers, so walking a chain compares
integers; every row's annotations (root, loop, logged before its parent run) are computed once,
over whole arrays. :func:`chain_index` keeps one index per store table until the store changes.
"""

from __future__ import annotations

import copy
import uuid
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from . import links, schema
from ._sql import quote
from .schema import TYPED_ID

if TYPE_CHECKING:
    from .store import LogStore

ANNOTATIONS = {
    "relation": pl.String,  # self, ancestor or descendant
    "depth": pl.Int32,  # hops from the nearest seed row; negative for ancestors
    "chain_root": pl.String,  # the top job id reached walking up (None when that runs into a loop)
    "root_dangling": pl.Boolean,  # chain_root is a parent whose run never logged a row
    "in_cycle": pl.Boolean,  # the row's parent link is part of a loop of job instances
    "job_instance": pl.Int32,  # the run of job_id that wrote the row (1 = oldest); None without one
    "parent_instance": pl.Int32,  # the run of parent_job_id the row links to; None when dangling
    "before_parent": pl.Boolean,  # logged before the first row of that parent run
}
_LOW64 = (1 << 64) - 1


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
        counts = self.offsets[keys + 1] - self.offsets[keys]
        return np.repeat(owners, counts), self.positions[_ranges(self.offsets[keys], counts)]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``starts[i], starts[i] + 1, ...`` (``counts[i]`` numbers) for every i, concatenated.

    Examples:
        >>> _ranges(np.array([5, 0]), np.array([2, 3])).tolist()
        [5, 6, 0, 1, 2]
    """
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + within


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
    the arrays store. Rows are linked through job instances (see :mod:`~llamalog_analytics.links`):
    each row knows the instance that wrote it and the instance its parent link resolves to, both
    as integers, so walking a chain compares integers. Every row's annotations (root, loop,
    logged before its parent) are computed once, over whole arrays.
    """

    def __init__(
        self, store: LogStore, table: str = schema.CURRENT_TABLE, linking: links.Linking | None = None
    ) -> None:
        self.version = store.version()  # rebuilt once the store ran a statement that may write
        self.linking = linking or links.Linking()
        columns = ", ".join(quote(c) for c in schema.COLUMN_NAMES)
        keys = ", ".join(
            f"(({c})::UHUGEINT >> 64)::UBIGINT AS _{c}_high, "
            f"(({c})::UHUGEINT & {_LOW64})::UBIGINT AS _{c}_low"
            for c in ("entity_id", *TYPED_ID.values())
        )
        # Read in storage order, batch by batch, and sort here: sorting the wide rows in DuckDB,
        # or converting one whole Arrow result, would hold them two or three times over.
        batches = store.relation(f"SELECT {columns}, {keys} FROM {quote(table)}").to_arrow_reader(1 << 20)
        frame = pl.concat([pl.DataFrame(batch) for batch in batches], rechunk=False)
        frame = frame[frame.select(pl.arg_sort_by("created_at", "id")).to_series()]  # one chunk out
        self.rows = frame.select(schema.COLUMN_NAMES)
        self._link(frame)
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

    def _link(self, frame: pl.DataFrame) -> None:
        """Number the job instances, resolve every parent link, and annotate every row."""
        resolved = links.resolve(frame, self.linking)
        self.jobs = pl.concat([frame["job_id"], frame["parent_job_id"]]).drop_nulls().unique().sort()
        job, parent = _codes(self.jobs, frame["job_id"]), _codes(self.jobs, frame["parent_job_id"])
        self.ordinal = resolved["job_instance"].fill_null(0).to_numpy()
        self.parent_ordinal = resolved["parent_instance"].fill_null(0).to_numpy()
        runs = np.zeros(len(self.jobs), dtype=np.int64)  # instances per job id
        np.maximum.at(runs, job[job >= 0], self.ordinal[job >= 0])
        self.first_instance = first_instance = np.concatenate(([0], np.cumsum(runs)))
        count = int(first_instance[-1])
        self.instance = np.where(job >= 0, first_instance[np.maximum(job, 0)] + self.ordinal - 1, -1)
        self.parent_instance = np.where(
            self.parent_ordinal > 0, first_instance[np.maximum(parent, 0)] + self.parent_ordinal - 1, -1
        )
        self.by_instance = _Csr(self.instance, count)
        self.by_parent = _Csr(self.parent_instance, count)
        instance_job = np.repeat(np.arange(len(self.jobs)), runs)
        first_row = self.by_instance.positions[self.by_instance.offsets[:-1]]  # oldest row of each
        # An instance's parent is its first row's; every instance's top comes by pointer jumping.
        up, up_code = self.parent_instance[first_row], parent[first_row]
        bare = np.where((up < 0) & (up_code >= 0), up_code, -1)  # a dangling parent: the bare id
        reached = _at(links.tops(up), self.parent_instance, -1)  # -1: no parent, or a loop
        top_bare = _at(bare, reached, -1)
        top_root = np.where(top_bare >= 0, top_bare, _at(instance_job, reached, -1))
        resolved_parent = self.parent_instance >= 0
        self.root = np.where(resolved_parent, top_root, np.where(parent >= 0, parent, job))
        self.root_dangling = np.where(resolved_parent, top_bare >= 0, parent >= 0)
        self.in_cycle = links.on_loop(self.instance, self.parent_instance, count)
        self.before_parent = (frame["created_at"] < resolved["parent_first_at"]).fill_null(False).to_numpy()

    def relinked(self, linking: links.Linking) -> ChainIndex:
        """This index with its job links made another way; the rows and entity keys are shared."""
        index = copy.copy(self)
        index.linking = linking
        index._link(self.rows)
        return index

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays and the rows (an estimate from buffer sizes)."""
        arrays = [self.instance, self.parent_instance, self.ordinal, self.parent_ordinal, self.root]
        arrays += [self.root_dangling, self.in_cycle, self.before_parent]
        arrays += [self.by_instance.positions, self.by_instance.offsets]
        arrays += [self.by_parent.positions, self.by_parent.offsets]
        for keys in self.entities.values():
            arrays += [keys.high, keys.low, keys.positions]
        return (
            sum(a.nbytes for a in arrays) + int(self.rows.estimated_size()) + int(self.jobs.estimated_size())
        )

    def runs(self, job_ids: Iterable[str]) -> pl.DataFrame:
        """Every run of these job ids, whole: ``job_id``, ``job_instance``, ``first_at``,
        ``last_at``, ``rows``, oldest run first per id (ids no row carries have none)."""
        wanted = pl.Series(sorted(set(job_ids)), dtype=pl.String)
        codes = self.jobs.search_sorted(wanted).to_numpy() if len(self.jobs) else np.empty(0, np.int64)
        found = codes < len(self.jobs)
        codes = codes[found][self.jobs.gather(codes[found]).to_numpy() == wanted.to_numpy()[found]]
        starts, stops = self.first_instance[codes], self.first_instance[codes + 1]
        counts = stops - starts
        instances = _ranges(starts, counts)
        offsets = self.by_instance.offsets
        times = self.rows["created_at"]
        first = self.by_instance.positions[offsets[instances]]
        last = self.by_instance.positions[offsets[instances + 1] - 1]
        return pl.DataFrame(
            {
                "job_id": self.jobs.gather(np.repeat(codes, counts)),
                "job_instance": pl.Series(instances - np.repeat(starts, counts) + 1, dtype=pl.Int32),
                "first_at": times.gather(first),
                "last_at": times.gather(last),
                "rows": pl.Series(offsets[instances + 1] - offsets[instances], dtype=pl.Int64),
            }
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

        Ancestors: every row of the instance a seed's (or an ancestor's) parent resolves to.
        Descendants: rows whose parent resolves to the instance of a seed or a descendant; they
        are expanded from the seeds only, never from ancestors, which would pull in the
        siblings. Each direction visits a row once, so parent loops end.
        """
        found = {int(p): ("self", 0) for p in seeds}
        for relation, step, neighbours in (("ancestor", -1, self._up), ("descendant", 1, self._down)):
            frontier, depth = [int(p) for p in seeds], 0
            seen = set(frontier)  # each direction walks on through rows the other one labelled
            while frontier:
                depth += step
                reached = []
                for position in frontier:
                    for other in neighbours(position).tolist():
                        if other not in seen:
                            seen.add(other)
                            reached.append(other)
                            found.setdefault(other, (relation, depth))
                frontier = reached
        return found

    def every_chain(self, entity_type: str) -> pl.DataFrame:
        """Every entity's provenance chain of one type: ``entity_id`` and chain row ``id`` pairs.

        The same walk as :meth:`provenance`, for all entities at once: whole arrays of
        (entity, instance) pairs move up or down one hop per round until no pair is new.
        """
        keys = self.entities[entity_type]
        entity, seeds = keys.numbered(), keys.positions
        parents, instances = self.parent_instance, self.instance
        ancestors = self._closure(entity, parents[seeds], self.by_instance, parents)
        descendants = self._closure(entity, instances[seeds], self.by_parent, instances)
        pairs = [
            (entity, seeds),
            self.by_instance.expand(*ancestors),
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

    def _closure(
        self, entity: np.ndarray, start: np.ndarray, rows_by: _Csr, next_instance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every (entity, instance) reachable from (entity, start instance), one hop at a time."""
        size = len(self.by_instance.offsets)
        known = _distinct(entity[start >= 0] * size + start[start >= 0])
        frontier = known
        while frontier.size:
            owners, instances = np.divmod(frontier, size)
            owners, rows = rows_by.expand(owners, instances)
            reached = next_instance[rows]
            step = _distinct(owners[reached >= 0] * size + reached[reached >= 0])
            frontier = step[~np.isin(step, known, assume_unique=True)]
            known = np.sort(np.concatenate([known, frontier]), kind="stable")  # merges two sorted runs
        return np.divmod(known, size)

    def _up(self, position: int) -> np.ndarray:
        parent = self.parent_instance[position]
        return self.by_instance.rows(parent) if parent >= 0 else _NONE

    def _down(self, position: int) -> np.ndarray:
        instance = self.instance[position]
        return self.by_parent.rows(instance) if instance >= 0 else _NONE

    def frame(self, annotated: dict[int, tuple[str, int]]) -> pl.DataFrame:
        """The chain's rows with their annotations, oldest first.

        A chain is small: its annotations are gathered into Python lists, which is faster here
        than whole-column polars expressions.
        """
        positions = sorted(annotated)
        at = np.array(positions, dtype=np.int64)
        root = self.root[at]
        names = iter(self.jobs.gather(root[root >= 0]).to_list())
        values: dict[str, Any] = {
            "relation": [annotated[p][0] for p in positions],
            "depth": [annotated[p][1] for p in positions],
            "chain_root": [next(names) if code >= 0 else None for code in root.tolist()],
            "root_dangling": self.root_dangling[at],
            "in_cycle": self.in_cycle[at],
            "job_instance": [n or None for n in self.ordinal[at].tolist()],
            "parent_instance": [n or None for n in self.parent_ordinal[at].tolist()],
            "before_parent": self.before_parent[at],
        }
        rows = self.rows[pl.Series(positions, dtype=pl.UInt32)]
        return rows.hstack([pl.Series(k, v, dtype=ANNOTATIONS[k]) for k, v in values.items()])


def _at(values: np.ndarray, index: np.ndarray, missing: Any) -> np.ndarray:
    """``values[index]``, with ``missing`` where ``index`` is -1 (``values`` may be empty)."""
    return np.append(values, missing)[index]


_NONE = np.empty(0, dtype=np.int64)
_INDEXES: weakref.WeakKeyDictionary[LogStore, dict[str, ChainIndex]] = weakref.WeakKeyDictionary()


def chain_index(
    store: LogStore, table: str = schema.CURRENT_TABLE, linking: links.Linking | None = None
) -> ChainIndex:
    """The store's :class:`ChainIndex` for ``table`` and ``linking``, rebuilt only after the store
    may have changed, and relinked when asked for another linking (one index per table is kept).

    Loads and any writing statement run through the store count as a change.
    """
    linking = linking or links.Linking()
    cached = _INDEXES.setdefault(store, {})
    index = cached.get(table)
    if index is None or index.version != store.version():
        store.require(table)
        cached.pop(table, None)  # the old index goes before the new one is built
        del index
        with store.session():
            index = cached[table] = ChainIndex(store, table, linking)
    elif index.linking != linking:
        index = cached[table] = index.relinked(linking)
    return index


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sorting beats numpy's hash-based unique on large integer arrays)."""
    values = np.sort(values)
    return values[np.diff(values, prepend=values[:1] - 1) != 0] if values.size else values


def _codes(jobs: pl.Series, values: pl.Series) -> np.ndarray:
    """Each value's position in the sorted ``jobs`` (-1 for NULL)."""
    codes = jobs.search_sorted(values.fill_null(""), side="left").to_numpy().astype(np.int64)
    return np.where(values.is_null().to_numpy(), -1, codes)
