"""What an incremental load from PostgreSQL fetches, and how it learns what changed before.

A later load of a source fetches the rows created since the newest stored one (minus
:data:`OVERLAP`). Older rows are checked too: when the server's row counters show nothing was
deleted or updated and only the window's rows were inserted, nothing older changed (and the
window's rows the store holds are not fetched again when the server has no others up to the
newest stored one); when they show rows updated, or started counting again, every row is
fetched and compared (the stage replaces a row its source changed and keeps the version
before); otherwise the older rows' ids are compared with the store's, older rows the store
lacks are fetched by id, and rows gone from the source are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from ._pg_source import parse_url
from ._sql import (
    CHANGED_TABLE,
    COUNTERS_TABLE,
    DISAPPEARED_TABLE,
    LOAD_ID_COLUMN,
    LOADS_TABLE,
    REJECTS_TABLE,
    STAGE_TABLE,
    STILL_GONE,
    quote,
)
from .errors import PostgresError

if TYPE_CHECKING:
    from ._pg_source import Source
    from .store import LogStore

OVERLAP = timedelta(hours=1)

SOURCE_IDS = "_llamalog_source_ids"
# Stored rows that came from one source table (parameters: source, table name).
FROM_SOURCE = f"{LOAD_ID_COLUMN} IN (SELECT load_id FROM {LOADS_TABLE} WHERE source = ? AND table_name = ?)"
# Beyond this many older rows new to the store, fetching everything is simpler and no slower.
MAX_OLDER = 100_000
UPDATED = "the server's row counters show rows updated since the last load: every row fetched and compared"
EARLIER = (
    "the last load recorded the server's row counters as an earlier version did: every row fetched "
    "and compared (once)"
)
EPOCH_PREFIX = "reset"  # how an epoch recorded by this version begins (an earlier one's began otherwise)
RESTARTED = (
    "the server's row counters started again since the last load (a crash or a statistics reset): "
    "every row fetched and compared"
)
REWRITTEN = (
    "the table was rewritten since the last load (VACUUM FULL, CLUSTER, TRUNCATE or pg_repack): "
    "every row fetched and compared"
)
UNSEEN_UPDATES = (
    "a row updated in place, or deleted and inserted again, is found only by a full load (the "
    "server's counters cannot tell)"
)
REINSERTED = (
    "the server's row counters show more rows inserted since the last load than are new (a row "
    "deleted and inserted again keeps its id): every row fetched and compared"
)


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: dict[str, str]  # canonical column name -> Postgres type
    keyed: bool = False  # id is a unique key and id, operation, created_at are NOT NULL
    blocks: int = 0  # pages of a plain table, which ranges of row positions (ctid) can split; else 0
    ignored: tuple[str, ...] = ()  # columns the schema does not know, left out


class Counters(NamedTuple):
    """PostgreSQL's cumulative activity counters for a table, as a load saw them (one row of the
    store's counters table): rows inserted, deleted and updated, the table's file node and the
    counters' epoch (since when the server counts). ``updated`` is None in a row recorded before
    the store counted updates."""

    inserted: int
    deleted: int
    filenode: int
    epoch: str
    updated: int | None

    def comparable_with(self, earlier: Counters) -> bool:
        """Whether ``earlier`` counted the same table file on the same counters (no ``TRUNCATE``
        or ``VACUUM FULL`` since, no crash or statistics reset): differences are changes."""
        return (self.filenode, self.epoch) == (earlier.filenode, earlier.epoch)


@dataclass(frozen=True)
class Plan:
    """What an incremental load fetches from one table, and why."""

    since: datetime | None = None  # fetch rows created at or after this; None: every row
    older: tuple[Any, ...] = ()  # ids of older rows the store lacks (old-dated inserts), fetched too
    compared: bool = False  # the older rows' ids were compared (held in SOURCE_IDS)
    note: str | None = None


def plan_fetch(
    db: Source,
    store: LogStore,
    namespace: str,
    found: SourceTable,
    source: str,
    counters: Counters | None,
) -> Plan:
    """Where an incremental load starts, and how it learns what changed before that point.

    When the server's counters show rows updated since the last load, or started counting
    again (a crash, a statistics reset, a new table file), every row is fetched, to be compared:
    what changed meanwhile cannot be told otherwise. When they add up (nothing deleted or
    updated, only the window's rows inserted), older rows cannot have changed, and the fetch
    starts after the newest stored row when the store holds the window's rows (:func:`fetch_start`).
    Otherwise the ids of the older rows are read (ids only, from the index) and compared with
    the store's: rows gone from the source are reported, and older rows the store lacks are
    fetched by id. When the counters show more older rows inserted than the store lacks, an id
    was deleted and inserted again (its row perhaps other than before), and every row is
    fetched and compared. Without counters (a view, a standby, statistics this role may not
    read), a row updated in place, or deleted and inserted again, is found only by a full load.
    """
    newest = newest_stored(store, source, found.name)
    if newest is None:
        return Plan()
    since = newest - OVERLAP
    window = f"fetched rows created since {since:%Y-%m-%d %H:%M:%S}"
    previous = previous_counters(store, source, found.name)
    older_inserted = None  # rows inserted since the last load, by the server's counters, but the window's
    if counters is not None and previous is not None:
        if previous.updated is None or not previous.epoch.startswith(EPOCH_PREFIX):
            return Plan(note=EARLIER)  # counted otherwise: no difference can be trusted
        if not counters.comparable_with(previous):
            return Plan(note=REWRITTEN if counters.filenode != previous.filenode else RESTARTED)
        if previous.updated != counters.updated:
            return Plan(note=UPDATED)
        window_rows = in_window(db, store, namespace, found, source, newest)
        start = fetch_start(newest, counters, previous, window_rows)
        if start is not None:
            fetched = window if start == since else "fetched the rows created after the newest stored one"
            return Plan(start, note=f"{fetched}; the server's row counters show no older row changed")
        older_inserted = counters.inserted - previous.inserted - (window_rows.rows - window_rows.kept)
    relation = f"{quote(namespace)}.{quote(found.name)}"
    ids = db.stream(
        f"SELECT id FROM {relation} WHERE {created_condition(found, '<')}",
        (since,),
    )
    with store.registered("_llamalog_pg_ids", ids):
        store.execute(
            f"CREATE OR REPLACE TEMP TABLE {SOURCE_IDS} AS "  # ids a view gives as text, as stored
            "SELECT * FROM (SELECT TRY_CAST(id AS UUID) AS id FROM _llamalog_pg_ids) WHERE id IS NOT NULL"
        )
    older = store.execute(
        f"""SELECT id FROM {SOURCE_IDS}
EXCEPT SELECT id FROM {quote(found.name)} WHERE {FROM_SOURCE}
ORDER BY id LIMIT ?""",
        [source, found.name, MAX_OLDER + 1],
    )
    if len(older) > MAX_OLDER:
        store.execute(f"DROP TABLE {SOURCE_IDS}")  # every row is fetched: the ids are not needed
        return Plan(
            note=f"over {MAX_OLDER:,} older rows are new to the store: every row fetched and compared"
        )
    if older_inserted is not None and older_inserted > len(older):  # an id deleted and inserted again
        store.execute(f"DROP TABLE {SOURCE_IDS}")
        return Plan(note=REINSERTED)
    unseen = "" if older_inserted is not None else f"; {UNSEEN_UPDATES}"
    return Plan(
        since,
        tuple(r[0] for r in older),
        compared=True,
        note=f"{window}; the older rows were compared by id ({len(older):,} new to the store){unseen}",
    )


def adopt_sources(store: LogStore, source: str, table: str) -> None:
    """Record under ``source`` (``URL#schema.table``, the URL as :class:`Connection.source
    <llamalog_analytics._pg_source.Connection>` names it) the history of the same database
    table that earlier loads recorded under another URL for it (with a masked password, SSL or
    timeout parameters), so an incremental load follows on from them."""
    url, _, where = source.rpartition("#")
    others = store.execute(
        f"SELECT DISTINCT source FROM {LOADS_TABLE} "
        "WHERE table_name = ? AND format = 'postgres' AND source <> ?",
        [table, source],
    )

    def names_it(recorded: str) -> bool:
        other_url, _, other_where = recorded.rpartition("#")
        try:
            return other_where == where and parse_url(other_url).source == url
        except PostgresError:
            return False

    same = [recorded for (recorded,) in others if names_it(recorded)]
    if same:
        for history in (LOADS_TABLE, REJECTS_TABLE, DISAPPEARED_TABLE, CHANGED_TABLE, COUNTERS_TABLE):
            store.execute(
                f"UPDATE {history} SET source = ? WHERE table_name = ? AND source IN (SELECT unnest(?))",
                [source, table, same],
            )


def newest_stored(store: LogStore, source: str, table: str) -> datetime | None:
    """When the newest row stored from this source was created (an incremental load starts
    :data:`OVERLAP` before it); None when the store has none."""
    if not store.has_table(table):
        return None
    newest: datetime | None = store.execute(
        f"SELECT max(created_at) FROM {quote(table)} WHERE {FROM_SOURCE}",
        [source, table],
    )[0][0]
    return newest


def created_condition(found: SourceTable, op: str) -> str:
    """``created_at <op> $1``, phrased so the (is_root_job, created_at) index can serve it."""
    # is_root_job is NOT NULL: both values cover every row, and the index finds the range
    # without reading the whole table.
    index = "is_root_job IN (false, true) AND " if "is_root_job" in found.columns else ""
    return f"{index}created_at {op} $1"


def server_counters(db: Source, namespace: str) -> dict[str, Counters]:
    """The server's :class:`Counters` now for the log tables of ``namespace``, by table name.

    Read before the load's snapshot is taken (:func:`snapshot
    <llamalog_analytics._pg_source.snapshot>`'s ``before``): every change they count is one the
    load sees, and a change committed later is counted by the next load's. Read after it, they
    could count a change the load does not see, and each load after would take it as seen.

    A table has none when its counters cannot be trusted or read here: ``track_counts`` off, a
    standby (its counters do not see the primary's writes), a relation without counters of its
    own (a view, or a partitioned table whose counts live in its partitions), or statistics
    views this role may not read.

    The epoch is when the server's statistics were last reset, all of them (``pg_stat_bgwriter``'s
    ``stats_reset``: a crash discards every counter and sets it; a clean restart keeps both) or
    the database's (``pg_stat_reset()``, or one table's counters reset).
    """
    readable = db.rows(
        "SELECT bool_and(has_table_privilege(v, 'SELECT')) FROM unnest($1::text[]) AS v", (_STATISTICS,)
    )
    if not readable[0][0]:  # a hardened server: the views are not public
        return {}
    rows = db.rows(
        f"""SELECT t.relname, t.n_tup_ins, t.n_tup_del, pg_relation_filenode(t.relid),
  concat_ws(' ', '{EPOCH_PREFIX}', {_utc("b.stats_reset")}, {_utc("d.stats_reset")}),
  t.n_tup_upd
FROM pg_catalog.pg_stat_user_tables AS t, pg_catalog.pg_stat_database AS d, pg_catalog.pg_stat_bgwriter AS b
WHERE t.schemaname = $1 AND t.relname IN ('llama_logs', 'enrichment_logs') AND d.datname = current_database()
  AND current_setting('track_counts')::boolean AND NOT pg_is_in_recovery()""",
        (namespace,),
    )
    return {
        name: Counters(int(inserted), int(deleted), int(filenode), str(epoch), int(updated))
        for name, inserted, deleted, filenode, epoch, updated in rows
        if None not in (inserted, deleted, filenode, updated)
    }


_STATISTICS = "{pg_catalog.pg_stat_user_tables,pg_catalog.pg_stat_database,pg_catalog.pg_stat_bgwriter}"


def _utc(moment: str) -> str:
    """SQL writing ``timestamptz`` ``moment`` as text the way a session in UTC does (read
    before the load's session settings, whatever the server's time zone)."""
    return f"({moment} AT TIME ZONE 'UTC')::text || '+00'"


def previous_counters(store: LogStore, source: str, table: str) -> Counters | None:
    """The :class:`Counters` the last load of this source table recorded, if any."""
    rows = store.execute(
        f"""SELECT inserted, deleted, filenode, epoch, updated FROM {COUNTERS_TABLE}
WHERE source = ? AND table_name = ? ORDER BY load_id DESC LIMIT 1""",
        [source, table],
    )
    return Counters(*rows[0]) if rows else None


class WindowRows(NamedTuple):
    """The rows created since :data:`OVERLAP` before the newest stored one: how many the server
    has (``rows``), how many of them up to that newest one (``through_newest``), and how many
    of the source's the store holds there (``kept``)."""

    rows: int
    through_newest: int
    kept: int


def in_window(
    db: Source, store: LogStore, namespace: str, found: SourceTable, source: str, newest: datetime
) -> WindowRows:
    """Count the window's rows on the server and in the store (:class:`WindowRows`)."""
    since = newest - OVERLAP
    relation = f"{quote(namespace)}.{quote(found.name)}"
    rows, through_newest = db.rows(
        f"SELECT count(*), count(*) FILTER (WHERE created_at <= $2) FROM {relation} "
        f"WHERE {created_condition(found, '>=')}",
        (since, newest),
    )[0]
    kept = store.execute(
        f"""SELECT (SELECT count(*) FROM {quote(found.name)} WHERE created_at >= ? AND {FROM_SOURCE})
                 - (SELECT count(*) FROM {DISAPPEARED_TABLE}
                    WHERE created_at >= ? AND source = ? AND table_name = ? AND {STILL_GONE})""",
        [since, source, found.name, since, source, found.name],
    )[0][0]
    return WindowRows(rows, through_newest, kept)


def fetch_start(
    newest: datetime, counters: Counters, previous: Counters, window: WindowRows
) -> datetime | None:
    """Where the fetch can start when, by the server's counters, the table only gained rows
    created at or after ``since`` (:data:`OVERLAP` before ``newest``, the newest stored row's
    time); None when older rows may have changed.

    The counters show that when, since the last load (``previous``, on the same server, counters
    and table file: no ``TRUNCATE`` or ``VACUUM FULL``, and no update: :func:`plan_fetch` asks
    first), nothing was deleted and the rows inserted are exactly the ``window``'s rows the
    store lacks: then no older row can have changed, and reading the older rows' ids is skipped.
    The fetch then starts just after the newest stored row when the server has as many rows as
    the store up to it in the window (none inserted late there: the store holds them all as they
    are), else at ``since``. The counters are cumulative and miss no insert, update or delete,
    but the server publishes them up to about a minute late: a change made in that last minute
    is then reported by the next load.
    """
    if previous.deleted != counters.deleted:
        return None
    if counters.inserted - previous.inserted != window.rows - window.kept:
        return None
    return newest + _JUST_AFTER if window.through_newest == window.kept else newest - OVERLAP


_JUST_AFTER = timedelta(microseconds=1)  # PostgreSQL keeps times to the microsecond


def mark_restored(store: LogStore, found: SourceTable, source: str, plan: Plan, load_id: int) -> None:
    """Rows an earlier load found gone from this source that it has again (restored, among the
    rows it was asked for) are marked back in load ``load_id`` (their ``restored_load``)."""
    back = f"SELECT id FROM {STAGE_TABLE} WHERE _table = ? AND id IS NOT NULL"
    store.execute(
        f"""UPDATE {DISAPPEARED_TABLE} SET restored_load = ?
WHERE source = ? AND table_name = ? AND {STILL_GONE}
  AND (id IN ({back}){f" OR id IN (SELECT id FROM {SOURCE_IDS})" if plan.compared else ""})""",
        [load_id, source, found.name, found.name],
    )


def disappeared_ids(store: LogStore, found: SourceTable, source: str, plan: Plan) -> list[Any]:
    """Ids loaded earlier from this source that it no longer has, among the rows it was asked
    for, and not found gone before (unless since restored)."""
    if not store.has_table(found.name):
        return []
    if plan.since is None:
        scope, params = "", []
    elif plan.compared:
        scope, params = f"AND (t.created_at >= ? OR t.id NOT IN (SELECT id FROM {SOURCE_IDS}))", [plan.since]
    else:
        scope, params = "AND t.created_at >= ?", [plan.since]
    gone = store.execute(
        f"""SELECT t.id FROM {quote(found.name)} AS t
WHERE t.{FROM_SOURCE}
  {scope}
  AND t.id NOT IN (SELECT id FROM {DISAPPEARED_TABLE} WHERE source = ? AND table_name = ? AND {STILL_GONE})
  AND t.id NOT IN (SELECT id FROM {STAGE_TABLE} WHERE _table = ? AND id IS NOT NULL)
ORDER BY t.id""",
        [source, found.name, *params, source, found.name, found.name],
    )
    if plan.compared:
        store.execute(f"DROP TABLE {SOURCE_IDS}")
    return [r[0] for r in gone]
