"""Provenance chains: how an entity got into the table, and what happened to it afterward.

A chain starts from an entity's **seed rows**: rows whose typed id column (``album_id``,
``artist_id``, ``track_id``) holds the entity's id, or whose ``entity_type``/``entity_id`` name
it. ``mode="provenance"`` adds every **ancestor** (a row's parent link → the rows of the job
run it resolves to → their parents, to the top) and every **descendant** (rows whose parent
link resolves to the run of a seed or of another descendant). Links follow job *instances*,
not bare ids (see :mod:`~llamalog_analytics.links`): a BullMQ id reused weeks later by an
unrelated job does not join its rows to the chain; ``link="job_id"`` follows bare ids. Siblings
stay out: an album created by a 500-album sync gets the sync's root row, not the other 499
albums. ``mode="entity"`` is the application's ``llamaLogChain`` resolver: seed rows only,
newest first, paginated.

Chains are answered from a :class:`~llamalog_analytics.chain_index.ChainIndex`, adjacency
arrays built once per store table and reused until the table changes, so one chain costs a few
array lookups, not a recursive query.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     album = store.execute("SELECT album_id FROM llama_logs WHERE category = 'CREATED' "
    ...                           "AND album_id IS NOT NULL ORDER BY created_at LIMIT 1")[0][0]
    ...     rows = lla.chain(store, "ALBUM", album)
    ...     rows.columns[28:], "self" in rows["relation"].to_list()
    (['relation', 'depth', 'chain_root', 'root_dangling', 'in_cycle', 'job_instance', \
'parent_instance', 'before_parent'], True)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from . import links, schema
from ._format import count, verb
from ._sql import quote
from ._time import naive_utc
from .chain_index import chain_index
from .errors import ChainError
from .schema import TYPED_ID
from .store import require_store

if TYPE_CHECKING:
    import numpy as np

    from .store import LogStore

MODES = ("provenance", "entity")


@dataclass(frozen=True)
class ChainPage:
    """One page of ``mode="entity"``, shaped like the resolver's ``LlamaLogChainResponse``."""

    logs: pl.DataFrame
    total_count: int
    cursor: str | None  # id of the page's last row (None for an empty page), to pass for the next
    has_more: bool

    def _repr_html_(self) -> str:
        from .log_view import log_table

        more = f"more after cursor {self.cursor}" if self.has_more else "the last page"
        title = f"a page of {count(self.total_count, 'row')}, {more}"  # the table says its own rows
        return log_table(self.logs, title=title, page_size=max(1, self.logs.height)).to_html()


def chain(
    store: LogStore,
    entity_type: str,
    entity_id: str | uuid.UUID,
    *,
    categories: Sequence[str] | str | None = None,
    since: datetime | str | np.datetime64 | None = None,
    until: datetime | str | np.datetime64 | None = None,
    mode: str = "provenance",
    table: str = schema.CURRENT_TABLE,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> pl.DataFrame:
    """The log rows of one album, artist or track, and the rows that led to them or came of them.

    Args:
        entity_type: ``ALBUM``, ``ARTIST`` or ``TRACK`` (any case).
        entity_id: the entity's UUID (text or ``uuid.UUID``); anything else is a
            :class:`~llamalog_analytics.errors.ChainError`.
        categories: keep only rows in these categories, one or several (applied after the
            chain is built).
        since, until: keep only rows created in this inclusive range (UTC; ISO text or
            datetime; a date alone as ``until`` keeps that whole day).
        mode: ``provenance`` (seeds, ancestors and descendants, oldest first, annotated with
            :data:`ANNOTATIONS`) or ``entity`` (the resolver's flat list: seed rows only, newest
            first).
        table: the log table to read.
        link: ``instance`` (follow the run of a job nearest in time, see
            :mod:`~llamalog_analytics.links`) or ``job_id`` (every row that carries the id).
        reuse_gap: how far apart two rows of one job id may be and still be one run (default
            24 hours; ``6h``, ``90min`` or a ``timedelta``).

    An entity no row names gives an empty frame.
    """
    require_store(store, "chain")
    entity_type, key, wanted, since, until = _arguments(
        entity_type, entity_id, categories, since, until, mode
    )
    index = chain_index(store, table, links.Linking.of(link, reuse_gap))
    seeds = index.seeds(entity_type, key)
    if mode == "entity":
        rows = index.rows.take(seeds)
        return _filtered(rows, wanted, since, until).sort(["created_at", "id"], descending=True)
    return _filtered(index.frame(index.provenance(seeds)), wanted, since, until)


def all_chains(
    store: LogStore,
    table: str = schema.CURRENT_TABLE,
    *,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> pl.DataFrame:
    """Every entity's provenance chain at once: ``entity_type``, ``entity_id``, chain row ``id``.

    The same chains :func:`chain` gives one at a time (seeds, ancestors, descendants), computed
    for every album, artist and track together, e.g. to count or join them in bulk. ``link`` and
    ``reuse_gap`` as for :func:`chain`.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     every = all_chains(store)
        ...     album = every.filter(pl.col("entity_type") == "ALBUM")["entity_id"][0]
        ...     one = lla.chain(store, "ALBUM", album)
        >>> sorted(every.filter(pl.col("entity_id") == album)["id"]) == sorted(one["id"])
        True
    """
    index = chain_index(store, table, links.Linking.of(link, reuse_gap))
    return pl.concat(
        index.every_chain(kind).select(pl.lit(kind).alias("entity_type"), pl.all()) for kind in TYPED_ID
    )


def runs(
    store: LogStore,
    job_ids: Iterable[str],
    *,
    table: str = schema.CURRENT_TABLE,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> pl.DataFrame:
    """Every run of some job ids, whole (see :meth:`~llamalog_analytics.chain_index.ChainIndex.runs`).

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     found = runs(store, ["204", "no-such-job"])
        >>> found.select("job_id", "job_instance", "first_at").rows()
        [('204', 1, datetime.datetime(2026, 2, 7, 8, 59, 30, 723000)), \
('204', 2, datetime.datetime(2026, 4, 10, 5, 42, 59, 124000))]
    """
    return chain_index(store, table, links.Linking.of(link, reuse_gap)).runs(job_ids)


def reran(ran: pl.DataFrame) -> list[str]:
    """The job ids that ran more than once, of :func:`runs`' frame ``ran``: whose rows name them
    with their run.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     sorted(reran(runs(store, ["204", "203"])))
        ['204']
    """
    return ran.filter(pl.col("job_instance") > 1)["job_id"].unique().to_list()


def named_otherwise(
    store: LogStore,
    entity_type: str,
    entity_id: str | uuid.UUID,
    *,
    table: str = schema.CURRENT_TABLE,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> str | None:
    """For an entity no row names: how many rows name its id as another type, with the type to
    ask for (an artist's id asked for as an album's); None when no row names the id at all.

    Examples:
        >>> import llamalog_analytics as lla
        >>> from llamalog_analytics.sample import DEMO_ALBUM
        >>> with lla.sample_store() as store:
        ...     named_otherwise(store, "ARTIST", DEMO_ALBUM)
        '11 rows name it as ALBUM. Hint: ask for ALBUM instead of ARTIST'
    """
    index = chain_index(store, table, links.Linking.of(link, reuse_gap))
    key, asked = uuid.UUID(str(entity_id).strip()), entity_type.upper()
    named = {kind: n for kind in TYPED_ID if kind != asked and (n := index.seeds(kind, key).size)}
    if not named:
        return None
    said = " and ".join(
        f"{count(n, 'row')} {verb(n, 'names', 'name')} it as {kind}" for kind, n in named.items()
    )
    return f"{said}. Hint: ask for {max(named, key=named.__getitem__)} instead of {asked}"


def no_rows(subject: str, table: str, named: str | None = None, unwritten: str | None = None) -> str:
    """That no row of ``table`` names ``subject`` (so the file ``unwritten`` was not written),
    and what to try: the type rows name its id as (``named``, from :func:`named_otherwise`),
    else another id or table.

    Examples:
        >>> no_rows("ALBUM 3e8428c2", "llama_logs")
        'no llama_logs rows for ALBUM 3e8428c2. Hint: check the id, or name another table (table=, --table)'
    """
    written = f", so {unwritten} was not written" if unwritten else ""
    hint = f"; {named}" if named else ". Hint: check the id, or name another table (table=, --table)"
    return f"no {table} rows for {subject}{written}{hint}"


def chain_page(
    store: LogStore,
    entity_type: str,
    entity_id: str | uuid.UUID,
    *,
    categories: Sequence[str] | str | None = None,
    since: datetime | str | np.datetime64 | None = None,
    until: datetime | str | np.datetime64 | None = None,
    limit: int = 20,
    cursor: str | None = None,
    table: str = schema.CURRENT_TABLE,
) -> ChainPage:
    """One page of the resolver's ``llamaLogChain``: the same rows, counts and cursor it returns.

    As the resolver (through Prisma) does: the page starts at the row whose id is ``cursor``
    (looked up in the whole table; an unknown id gives an empty page, text that is no id a
    :class:`ChainError`) and skips one row, takes ``limit`` rows, and ``total_count`` counts
    every matching row regardless of the cursor.
    """
    require_store(store, "chain_page")
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
        try:
            row_id = uuid.UUID(str(cursor).strip())
        except ValueError:
            raise ChainError(
                f"cursor={cursor!r} is not a row id. Hint: pass the cursor a page returned (its last "
                "row's id), or none for the first page"
            ) from None
        at = store.execute(
            f"SELECT created_at, CAST(id AS VARCHAR) FROM {quote(table)} WHERE id = ?::UUID",
            [str(row_id)],
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
    entity_id: str | uuid.UUID,
    categories: Sequence[str] | str | None,
    since: datetime | str | np.datetime64 | None,
    until: datetime | str | np.datetime64 | None,
    mode: str,
) -> tuple[str, uuid.UUID, list[str] | None, datetime | None, datetime | None]:
    """The arguments of :func:`chain` checked: the entity type upper-cased, the id as a UUID, the
    categories upper-cased, and the range in naive UTC (a date alone as ``until`` keeps its whole
    day: the range is inclusive).

    Examples:
        >>> album = " 3e8428c2-2d96-4742-8ce3-9cf025319cd4"  # pasted with a space
        >>> _arguments("album", album, "created", None, "2026-02-07", "entity")
        ('ALBUM', UUID('3e8428c2-2d96-4742-8ce3-9cf025319cd4'), ['CREATED'], None, \
datetime.datetime(2026, 2, 7, 23, 59, 59, 999999))
        >>> _arguments("ALBUM", "3e8428c2", None, None, None, "provenance")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ChainError: '3e8428c2' is not an entity id: ids are UUIDs such as \
3e8428c2-2d96-4742-8ce3-9cf025319cd4. Hint: copy the whole id
    """
    kind = entity_type.upper()
    if kind not in TYPED_ID:
        raise ChainError(f"unknown entity type {entity_type!r}. Valid: {', '.join(TYPED_ID)}")
    if mode not in MODES:
        raise ChainError(f"unknown mode {mode!r}. Valid: {', '.join(MODES)}")
    try:
        key = entity_id if isinstance(entity_id, uuid.UUID) else uuid.UUID(str(entity_id).strip())
    except ValueError:
        raise ChainError(
            f"{entity_id!r} is not an entity id: ids are UUIDs such as "
            "3e8428c2-2d96-4742-8ce3-9cf025319cd4. Hint: copy the whole id"
        ) from None
    wanted = None
    if categories:
        asked = [categories] if isinstance(categories, str) else list(categories)
        wanted = [c.upper() for c in asked]
        unknown = [c for c, w in zip(asked, wanted, strict=True) if w not in schema.CATEGORIES]
        if unknown:
            raise ChainError(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}. "
                f"Valid: {', '.join(schema.CATEGORIES)}"
            )
    start, end = naive_utc(since, "since", ChainError), naive_utc(until, "until", ChainError, day_end=True)
    if start is not None and end is not None and start > end:
        raise ChainError(f"since={since!r} is after until={until!r}: no row lies between. Hint: swap them")
    return kind, key, wanted, start, end


def _filtered(
    rows: pl.DataFrame, categories: list[str] | None, since: datetime | None, until: datetime | None
) -> pl.DataFrame:
    keep = [
        *([pl.col("category").is_in(categories)] if categories is not None else []),
        *([pl.col("created_at") >= since] if since is not None else []),
        *([pl.col("created_at") <= until] if until is not None else []),
    ]
    return rows.filter(keep) if keep else rows
