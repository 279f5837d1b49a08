"""The chain index: adjacency arrays over one log table, built once and reused for every chain.

Rows are numbered oldest first (``created_at``, then ``id``); those positions are what the
arrays store. Each row knows the job run (instance, see :mod:`~llamalog_analytics.links`) that
wrote it and the run its parent link resolves to, as integers, so walking a chain compares
integers; every row's annotations (root, loop, logged before its parent run) are computed once,
over whole arrays. Only the arrays live in memory: the full rows go, read a second time while
the arrays are built, into a memory-mapped Arrow file (:class:`MappedRows`), from which a chain's
rows are read by position. :func:`chain_index` keeps one index per store table until the store
changes.
"""

from __future__ import annotations

import copy
import itertools
import mmap
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from . import links, schema
from ._memory import SCAN_MEMORY, give_back_freed_memory
from ._sql import LOW_64, hash_input, quote, uuid_halves
from .errors import StoreError
from .schema import TYPED_ID

if TYPE_CHECKING:
    import pyarrow as pa

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


class _Csr:
    """Row positions grouped by an integer key: ``rows(k)`` lists the rows with key ``k``."""

    def __init__(self, keys: np.ndarray, size: int) -> None:
        present = keys >= 0
        order = np.argsort(keys, kind="stable")[np.count_nonzero(~present) :]
        self.positions = _compact(order)
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
        order = np.argsort(high)  # a UUID's high half all but always tells entities apart ...
        high, low = high[order], low[order]
        if np.any((high[1:] == high[:-1]) & (low[1:] != low[:-1])):  # ... when not, sort both
            again = np.lexsort((low, high))
            order, high, low = order[again], high[again], low[again]
        self.high, self.low, self.positions = high, low, positions[order]
        self.by_entity_id = by_entity_id[order]  # the pair came from entity_id, not the typed column

    def numbered(self) -> np.ndarray:
        """Each seed pair's entity number (0, 1, ... in UUID order)."""
        new = np.ones(len(self.high), dtype=bool)
        new[1:] = (self.high[1:] != self.high[:-1]) | (self.low[1:] != self.low[:-1])
        return np.cumsum(new) - 1

    def rows(self, entity_id: uuid.UUID) -> np.ndarray:
        high, low = np.uint64(entity_id.int >> 64), np.uint64(entity_id.int & LOW_64)
        start, stop = np.searchsorted(self.high, high, "left"), np.searchsorted(self.high, high, "right")
        found = self.low[start:stop] == low
        return self.positions[start:stop][found]


class _Keys:
    """What an index keeps of the rows as it reads them, batch by batch: sort keys, job ids as
    numbers into each batch's own dictionary, entity seed pairs. All are copied out of the batch:
    anything pointing into it would keep all of it in memory."""

    def __init__(self) -> None:
        self.read = 0
        self.columns: dict[str, list[np.ndarray]] = {c: [] for c in ("created_at", "_id_high", "_id_low")}
        self.jobs: dict[str, list[tuple[np.ndarray, pa.Array]]] = {"job_id": [], "parent_job_id": []}
        self.seeds: dict[str, list[tuple[np.ndarray, ...]]] = {kind: [] for kind in TYPED_ID}

    def add(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        for name, parts in self.columns.items():
            parts.append(np.array(batch.column(name).to_numpy()))
        for name, coded in self.jobs.items():
            encoded = pc.dictionary_encode(batch.column(name))  # its dictionary is new, the codes too
            coded.append((encoded.indices.fill_null(-1).to_numpy(), encoded.dictionary))
        named = batch.column("_entity_id_high").is_valid().to_numpy(zero_copy_only=False)
        for kind, column in TYPED_ID.items():
            typed = batch.column(f"_{column}_high").is_valid().to_numpy(zero_copy_only=False)
            this = named & pc.equal(batch.column("entity_type"), kind).fill_null(False).to_numpy(False)
            high, low = (
                np.concatenate(
                    [_filled(batch, f"_{column}_{half}")[typed], _filled(batch, f"_entity_id_{half}")[this]]
                )
                for half in ("high", "low")
            )
            rows = np.concatenate([np.flatnonzero(typed), np.flatnonzero(this)]) + self.read
            by_entity_id = np.repeat([False, True], [np.count_nonzero(typed), np.count_nonzero(this)])
            self.seeds[kind].append((high, low, rows, by_entity_id))
        self.read += batch.num_rows


def _filled(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """A column of UUID halves as numpy integers, 0 where NULL (masked out by the caller)."""
    return batch.column(name).fill_null(0).to_numpy()


class MappedRows:
    """A table's full rows, read by position from a memory-mapped Arrow file, not the heap.

    Written once, by a thread of its own that reads the table while the index works on its
    keys (writing the file is what a build would otherwise wait for most), then mapped
    (:meth:`open`); ``order[p]`` is the file row of position ``p``. The file has no name (it is
    freed with the last part that maps it, so no stale copy outlives its index) and lies in the
    store's folder, or in the temporary directory for an in-memory store or a folder this
    process may not write to. Each part is a polars frame over the mapped bytes (strings as
    views, so only the null bitmaps are copied: :meth:`_part`), and :meth:`take` gathers from
    the parts the rows fall in.
    """

    def __init__(self, store_path: str | None, reader: pa.RecordBatchReader, ids: np.ndarray) -> None:
        """Start writing the rows ``reader`` gives (:func:`_rows_sql`'s): they must come in the
        order the keys were read in, which ``ids`` (each row's ``_id_low``) checks."""
        import pyarrow as pa

        folder = None if store_path is None else str(Path(store_path).resolve().parent)
        try:  # open until mapped (see open)
            self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115
        except OSError:  # a folder this process may not write to
            self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._schema = _viewed(pa.schema([reader.schema.field(c) for c in schema.COLUMN_NAMES]))
        self.empty: pl.DataFrame = pl.from_arrow(self._schema.empty_table())  # type: ignore[assignment]
        self.parts: list[pl.DataFrame] = []
        self.starts = np.zeros(1, dtype=np.int64)  # each part's first file row, then the row count
        self.order = np.empty(0, dtype=np.int64)
        self._stop = threading.Event()
        self._failed: list[BaseException] = []  # what stopped the writing, raised by open
        self.hashed = 0  # the rows' hashes summed (modulo 2**64): see _content_sql
        self._writing = threading.Thread(
            target=self._write, args=(reader, ids), name="llamalog-rows", daemon=True
        )
        self._writing.start()

    def _write(self, reader: pa.RecordBatchReader, ids: np.ndarray) -> None:
        import pyarrow as pa

        try:
            with pa.ipc.new_file(self._file, self._schema) as writer:
                written = 0
                for batch in reader:
                    if self._stop.is_set():
                        return
                    same = batch.column("_id_low").to_numpy()
                    if not np.array_equal(same, ids[written : written + len(same)]):
                        raise StoreError(
                            "the table's rows came in another order when read again for the chain "
                            "index. Hint: ask again; if it persists, report it with the store's DuckDB "
                            "version"
                        )
                    writer.write_batch(batch.select(schema.COLUMN_NAMES).cast(self._schema))
                    written += len(same)
                    hashes = batch.column("_row_hash").to_numpy()
                    self.hashed = (self.hashed + int(hashes.sum(dtype=np.uint64))) % 2**64
            self._file.flush()
        except BaseException as error:  # raised in the building thread by open
            self._failed.append(error)
        finally:
            reader.close()  # read to the end or not, the store's connection is free again

    def open(self, order: np.ndarray) -> None:
        """Wait for the file to be written, then map it; ``order[p]`` is the file row of position ``p``."""
        import pyarrow as pa

        self._writing.join()
        if self._failed:
            raise self._failed[0]
        mapped = pa.py_buffer(mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ))
        file = pa.ipc.open_file(mapped)
        self.parts = [self._part(file.get_batch(i), mapped.address) for i in range(file.num_record_batches)]
        self._file.close()  # the mapping keeps the file until the last part is dropped
        self.starts = np.cumsum([0, *(len(part) for part in self.parts)])
        self.order = order

    def _part(self, batch: pa.RecordBatch, mapped_at: int) -> pl.DataFrame:
        """``batch`` (mapped from the file at address ``mapped_at``) as a polars frame, with the
        validity bitmaps of its flat columns read from the file into memory.

        Polars reads a column's bitmap to slice a row out of it, and the bitmap lies in other
        pages of the file than the row's values: with the bitmaps mapped, a chain's rows at 10M
        took about 102 page faults, against about 73 now. They take a bit per row and column.
        List columns stay as mapped, taken as one batch: made column by column, polars would read
        more of their offsets.
        """
        import pyarrow as pa

        def bitmap_read(column: pa.Array) -> pa.Array:
            validity, *rest = column.buffers()
            if validity is None:
                return column
            self._file.seek(validity.address - mapped_at)
            bits = pa.py_buffer(self._file.read(validity.size))
            if bits.size != validity.size:  # a short read (never expected): keep it mapped
                return column
            return pa.Array.from_buffers(column.type, len(column), [bits, *rest], -1, column.offset)

        lists = [field.name for field in batch.schema if field.type.num_fields]
        as_mapped = pl.from_arrow(batch.select(lists))
        return pl.DataFrame(
            [
                as_mapped[name] if name in lists else pl.Series(name, bitmap_read(batch[name]))
                for name in batch.schema.names
            ]
        )

    def close(self) -> None:
        """Stop writing and drop the file (the index could not be built)."""
        self._stop.set()
        self._writing.join()
        self._file.close()

    def __len__(self) -> int:
        return len(self.order)

    def take(self, positions: np.ndarray, columns: list[str] | None = None) -> pl.DataFrame:
        """The rows at ``positions`` (``columns`` of them, or all), in that order.

        A few rows (a chain's, mostly) are sliced out in order, each run of rows that follow
        each other in the file at once (fewer calls, and fewer pages read); more are gathered
        part by part, one chunk each (polars gathers across chunks far more slowly), then put
        in order. The pieces are stacked in place with ``vstack``: ``pl.concat`` costs several
        times as much, and stacking into a new frame each time costs more with every piece.
        """
        rows = self.order[positions]

        def part(n: int) -> pl.DataFrame:
            return self.parts[n] if columns is None else self.parts[n][columns]

        if len(rows) <= _SLICED:
            parts = np.searchsorted(self.starts, rows, side="right") - 1
            starts_run = np.ones(len(rows), dtype=bool)
            starts_run[1:] = (np.diff(rows) != 1) | (np.diff(parts) != 0)
            firsts = np.flatnonzero(starts_run)
            lengths = np.diff(np.append(firsts, len(rows))).tolist()
            run_parts = parts[firsts]
            within = (rows[firsts] - self.starts[run_parts]).tolist()
            return self._stacked(
                (
                    part(n).slice(row, length)
                    for n, row, length in zip(run_parts.tolist(), within, lengths, strict=True)
                ),
                columns,
            )
        by_file = np.argsort(rows, kind="stable")
        rows = rows[by_file]
        bounds = np.searchsorted(rows, self.starts)
        found = self._stacked(
            (
                part(n)[pl.Series((rows[bounds[n] : bounds[n + 1]] - self.starts[n]).astype(np.uint32))]
                for n in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist()  # the parts the rows lie in
            ),
            columns,
        )
        if np.all(by_file[1:] > by_file[:-1]):
            return found
        return found.rechunk()[np.argsort(by_file)]

    def _stacked(self, pieces: Iterable[pl.DataFrame], columns: list[str] | None) -> pl.DataFrame:
        """``pieces`` (new frames of ``columns``, or all, each sliced or gathered from a part)
        stacked in place onto the first; with none, no rows."""
        found = None
        for piece in pieces:
            if found is None:
                found = piece
            else:
                found.vstack(piece, in_place=True)
        if found is None:
            return (self.empty if columns is None else self.empty[columns]).clone()
        return found


_BATCH_ROWS = 1 << 17  # rows read from the store at a time for the keys
_PART_ROWS = 1 << 14  # rows in a part of the mapped file: polars maps the whole text of a part's
# column the first time it takes a row from it, so small parts keep a chain's pages few
_SLICED = 16  # up to this many rows, MappedRows.take slices them out, run by run
_HALVES = ("id", "entity_id", *TYPED_ID.values())  # UUID columns also read as two 64-bit integers


def _viewed(columns: pa.Schema) -> pa.Schema:
    """``columns`` with text as string views, which polars maps from the file without copying."""
    import pyarrow as pa

    def viewed(kind: pa.DataType) -> pa.DataType:
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return pa.string_view()
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return pa.large_list(viewed(kind.value_type))
        return kind

    return pa.schema([field.with_type(viewed(field.type)) for field in columns])


def _keys_sql(table: str) -> str:
    """The read of ``table`` an index keeps as arrays: sort keys, job ids, entity UUIDs as halves."""
    halves = ", ".join(uuid_halves(c, "high", "low") for c in _HALVES)
    return f"SELECT created_at, entity_type, job_id, parent_job_id, {halves} FROM {quote(table)}"


def _rows_sql(table: str) -> str:
    """The read of ``table`` for :class:`MappedRows`: every column, ``_id_low`` to check the
    rows come in the order :func:`_keys_sql` read them in, and ``_row_hash`` (as
    :func:`_content_sql` sums it)."""
    columns = ", ".join(quote(c) for c in schema.COLUMN_NAMES)
    return f"SELECT {columns}, {uuid_halves('id', 'low')}, {_ROW_HASH} AS _row_hash FROM {quote(table)}"


# Of the row's columns, those a chain shows: not the load that wrote it, so the same files
# attached again (a new load) are the same rows.
_ROW_HASH = f"hash({', '.join(hash_input(c) for c in schema.COLUMNS)})"


def _content_sql(table: str) -> str:
    """What a change to ``table``'s rows changes: their count and the sum of their hashes (modulo
    2**64, as :class:`MappedRows` adds them up). A row added, removed or changed anywhere, by any
    process, changes it; a write elsewhere in the store does not."""
    return f"SELECT count(*), coalesce(sum({_ROW_HASH}) % {2**64}, 0)::UBIGINT FROM {quote(table)}"


class ChainIndex:
    """Adjacency arrays over one log table, built once and reused for every chain.

    Rows are numbered oldest first (``created_at``, then ``id``); those positions are what the
    arrays store. Rows are linked through job instances (see :mod:`~llamalog_analytics.links`):
    each row knows the instance that wrote it and the instance its parent link resolves to, both
    as integers, so walking a chain compares integers. Every row's annotations (root, loop,
    logged before its parent) are computed once, over whole arrays. The table is read twice,
    batch by batch: once for what linking and seeding need, kept as arrays (``created_at``, job
    ids as numbers into ``jobs``, entity UUIDs as integer halves), then for the full rows, which
    a thread writes to :attr:`rows` (a :class:`MappedRows`) while the arrays are worked on.
    """

    def __init__(
        self, store: LogStore, table: str = schema.CURRENT_TABLE, linking: links.Linking | None = None
    ) -> None:
        import pyarrow as pa

        self.version = store.version()  # rebuilt once a log table may have changed
        self.linking = linking or links.Linking()
        with store.memory_at_most(SCAN_MEMORY):
            keys = _Keys()
            reader = store.relation(_keys_sql(table)).to_arrow_reader(_BATCH_ROWS)
            for batch in itertools.chain([pa.RecordBatch.from_pylist([], schema=reader.schema)], reader):
                keys.add(batch)
            del batch, reader
            # Each batch's sort keys put together once: the peak is what is held at once.
            sort_keys = pl.DataFrame({name: np.concatenate(parts) for name, parts in keys.columns.items()})
            keys.columns.clear()
            rows = store.relation(_rows_sql(table)).to_arrow_reader(_PART_ROWS)
            self.rows = MappedRows(store.path, rows, sort_keys["_id_low"].to_numpy())
            try:  # while the rows are written (the connection is theirs until open)
                order = self._arrange(keys, sort_keys)
                del keys, sort_keys
                self._link()
                self.rows.open(order)
            except BaseException:
                self.rows.close()
                raise

    def _arrange(self, keys: _Keys, sort_keys: pl.DataFrame) -> np.ndarray:
        """The keys as the index's arrays, by position (``created_at``, ``job``, ``parent_job``,
        ``entities``); returns each position's row in the order read (``order``)."""
        import pyarrow as pa

        give_back_freed_memory()
        order = sort_keys.select(pl.arg_sort_by(sort_keys.columns)).to_series().to_numpy()
        self.created_at = sort_keys["created_at"].to_numpy()[order]
        # Every batch's dictionary of job ids, numbered at once: its place among the distinct ids,
        # found by sorting them all once.
        named = [names for coded in keys.jobs.values() for _, names in coded]
        every_name = pl.Series(pa.concat_arrays(named))
        by_name = every_name.arg_sort()
        ordered = every_name.gather(by_name)
        new = ordered.ne(ordered.shift(1)).fill_null(True)  # the first of each distinct id
        # The distinct ids copied out: a slice of every_name would keep all the names read alive.
        self.jobs = pl.Series(ordered.filter(new).to_arrow().cast(pa.large_string()))
        numbered = np.empty(len(every_name), dtype=np.int64)
        numbered[by_name.to_numpy()] = np.cumsum(new.to_numpy()) - 1
        numbers = iter(np.split(numbered, np.cumsum([len(n) for n in named])[:-1]))
        del named, every_name, by_name, ordered, new, numbered
        self.job, self.parent_job = (
            _compact(np.concatenate([_at(next(numbers), codes, -1) for codes, _ in coded]))[order]
            for coded in keys.jobs.values()
        )
        keys.jobs.clear()
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        self.entities = {}
        for kind in TYPED_ID:
            pairs = keys.seeds.pop(kind)
            high, low, rows, by_entity_id = (np.concatenate(column) for column in zip(*pairs, strict=True))
            del pairs
            self.entities[kind] = _EntityKeys(high, low, position[rows], by_entity_id)
        del position, high, low, rows, by_entity_id
        give_back_freed_memory()
        return order

    def _link(self) -> None:
        """Number the job instances, resolve every parent link, and annotate every row."""
        job, parent = self.job, self.parent_job
        created = self.created_at.view(np.int64)  # microseconds
        self.ordinal, self.parent_ordinal, first_at, _ = links.link_runs(job, parent, created, self.linking)
        self.before_parent = (self.parent_ordinal > 0) & (created < first_at)
        runs = np.zeros(len(self.jobs), dtype=np.int64)  # instances per job id: its last ordinal
        last = pl.DataFrame({"job": job, "ordinal": self.ordinal}).filter(pl.col("job") >= 0)
        last = last.group_by("job").agg(pl.col("ordinal").max())
        runs[last["job"].to_numpy()] = last["ordinal"].to_numpy()
        self.first_instance = first_instance = np.concatenate(([0], np.cumsum(runs)))
        count = int(first_instance[-1])
        self.instance = _compact(
            np.where(job >= 0, first_instance[np.maximum(job, 0)] + self.ordinal - 1, -1)
        )
        self.parent_instance = _compact(
            np.where(
                self.parent_ordinal > 0, first_instance[np.maximum(parent, 0)] + self.parent_ordinal - 1, -1
            )
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
        self.root = _compact(np.where(resolved_parent, top_root, np.where(parent >= 0, parent, job)))
        self.root_dangling = np.where(resolved_parent, top_bare >= 0, parent >= 0)
        self.in_cycle = links.on_loop(self.instance, self.parent_instance, count)

    def relinked(self, linking: links.Linking) -> ChainIndex:
        """This index with its job links made another way; the rows and entity keys are shared."""
        index = copy.copy(self)
        index.linking = linking
        index._link()
        return index

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (the rows are mapped from a file, not held)."""
        arrays = [self.created_at, self.job, self.parent_job, self.rows.order]
        arrays += [self.instance, self.parent_instance, self.ordinal, self.parent_ordinal, self.root]
        arrays += [self.root_dangling, self.in_cycle, self.before_parent, self.first_instance]
        arrays += [self.by_instance.positions, self.by_instance.offsets]
        arrays += [self.by_parent.positions, self.by_parent.offsets]
        for keys in self.entities.values():
            arrays += [keys.high, keys.low, keys.positions, keys.by_entity_id]
        return sum(a.nbytes for a in arrays) + int(self.jobs.estimated_size())

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
        times = pl.Series(self.created_at)
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
        """Positions of the entity's own rows, oldest first (duplicates removed); ``entity_id``
        is a UUID or its text (other text raises ``ValueError``)."""
        key = entity_id if isinstance(entity_id, uuid.UUID) else uuid.UUID(str(entity_id))
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
        seed_rows = self.rows.take(seeds[first], [TYPED_ID[entity_type], "entity_id"])
        names = seed_rows.select(
            pl.when(pl.Series(keys.by_entity_id[first]))
            .then("entity_id")
            .otherwise(TYPED_ID[entity_type])
            .alias("entity_id")
        ).to_series()
        return pl.DataFrame(
            {
                "entity_id": names.gather(owner),
                "id": self.rows.take(position, ["id"]).to_series(),
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

        A chain is small: its annotations are put together row by row, which is faster here
        than whole-column polars expressions.
        """
        positions = sorted(annotated)
        at = np.array(positions, dtype=np.int64)
        root = self.root[at]
        values = zip(
            root.tolist(),
            self.root_dangling[at].tolist(),
            self.in_cycle[at].tolist(),
            self.ordinal[at].tolist(),
            self.parent_ordinal[at].tolist(),
            self.before_parent[at].tolist(),
            strict=True,
        )
        annotations = pl.DataFrame(
            [
                (
                    *annotated[p],
                    self.jobs[code] if code >= 0 else None,
                    dangling,
                    loop,
                    run or None,
                    parent or None,
                    before,
                )
                for p, (code, dangling, loop, run, parent, before) in zip(positions, values, strict=True)
            ],
            schema=ANNOTATIONS,
            orient="row",
        )
        return self.rows.take(at).hstack(annotations.get_columns())


def _compact(values: np.ndarray) -> np.ndarray:
    """Row positions or job and run numbers (-1: none) as 32-bit integers where they fit: the
    index holds several per row.

    Examples:
        >>> _compact(np.array([-1, 5])).dtype, _compact(np.array([2**31])).dtype
        (dtype('int32'), dtype('int64'))
    """
    return values.astype(np.int32) if values.size == 0 or values.max() < 2**31 else values


def _at(values: np.ndarray, index: np.ndarray, missing: Any) -> np.ndarray:
    """``values[index]``, with ``missing`` where ``index`` is -1 (``values`` may be empty)."""
    return np.append(values, missing)[index]


_NONE = np.empty(0, dtype=np.int64)
_INDEXES: weakref.WeakKeyDictionary[LogStore, dict[str, ChainIndex]] = weakref.WeakKeyDictionary()


def chain_index(
    store: LogStore, table: str = schema.CURRENT_TABLE, linking: links.Linking | None = None
) -> ChainIndex:
    """The store's :class:`ChainIndex` for ``table`` and ``linking``, rebuilt only after the
    table's rows changed, and relinked when asked for another linking (one index per table is
    kept).

    Once the store may have changed (a load or any writing statement run through it, or a write
    to its file by another process), the table's rows are counted and hashed: the same rows keep
    the index (an audit recorded in a shell beside a notebook, another table written), others
    rebuild it.
    """
    linking = linking or links.Linking()
    cached = _INDEXES.setdefault(store, {})
    index = cached.get(table)
    version = store.version()
    if index is not None and index.version != version and _holds_its_rows(store, table, index):
        index.version = version
    if index is None or index.version != version:
        store.require(table)
        cached.pop(table, None)  # the old index goes before the new one is built
        del index
        with store.session():
            index = cached[table] = ChainIndex(store, table, linking)
    elif index.linking != linking:
        index = cached[table] = index.relinked(linking)
    else:
        return index
    give_back_freed_memory()
    return index


def _holds_its_rows(store: LogStore, table: str, index: ChainIndex) -> bool:
    """Whether ``table`` has the very rows ``index`` was built from (by :func:`_content_sql`);
    the table may be a view (an attached one)."""
    with store.session():
        return table in store.tables() and store.execute(_content_sql(table))[0] == (
            len(index.rows),
            index.rows.hashed,
        )


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sorting beats numpy's hash-based unique on large integer arrays)."""
    values = np.sort(values)
    return values[np.diff(values, prepend=values[:1] - 1) != 0] if values.size else values
