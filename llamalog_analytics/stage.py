"""One load, one transaction: stage the rows, check them, resolve repeated ids, write or leave the
store as it was.

:class:`Stage` stages rows in a temporary table (typed, each with the reason it cannot be
loaded, if any), resolves duplicates against the call and the store, then writes the new rows,
the rejects and the load history together (:class:`LoadResult`). Rows read = rows loaded + rows
rejected, for every source.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from . import _readers, schema
from ._convert import checked_rows
from ._duplicates import BLURRED, fill_absent, replace_changed, resolve_duplicates
from ._format import count, first_few, verb
from ._html import block, html_table
from ._sql import (
    ATTACHED,
    DISAPPEARED_TABLE,
    LOAD_ID_COLUMN,
    LOADS_TABLE,
    MIGRATIONS_TABLE,
    REJECTS_TABLE,
    STAGE_TABLE,
    STRUCTURAL_TABLE,
    data_table_ddl,
    quote,
)
from .errors import SourceError, StoreError, interrupted
from .store import NO_ROOM, unwritable_folder

if TYPE_CHECKING:
    from .store import LogStore

_COLS = schema.COLUMNS
# What an interrupted load says (a KeyboardInterrupt's message; the command line prints it)
INTERRUPTED = "the load stopped before it finished; the store is unchanged. Hint: run it again"
# ... and when Ctrl-C came during its COMMIT: the pending signal is raised as the COMMIT returns
INTERRUPTED_AFTER_COMMIT = (
    "the interrupt came as the load finished: load {load_id} is in the store. Hint: llamalog info lists it"
)
_TYPED = ", ".join(f"{quote(c.name)} {c.type}" for c in _COLS)
_NAMES = ", ".join(quote(c.name) for c in _COLS)


@dataclass(frozen=True)
class SourceLoad:
    """What one source contributed to a load (one row of the load history)."""

    source: str
    format: str
    table: str
    rows_read: int
    rows_loaded: int
    rows_inserted: int
    rows_rejected: int
    columns_absent: tuple[str, ...]
    unknown_labels: dict[str, dict[str, int]]
    notes: tuple[str, ...]
    rows_disappeared: int = 0
    rows_changed: int = 0  # stored rows this source now gives with other values: replaced
    rows_filled: int = 0  # stored rows it gives columns their own load lacked: filled in place
    rows_repeated: int = 0  # rows repeating an id another row of this load gives alike: stored once

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class LoadResult:
    """The outcome of one load call (one transaction), per source.

    ``rows_loaded`` counts rows now in the store from these sources: inserted ones, rows
    identical to one already stored (re-loading a file inserts nothing and rejects nothing) and
    stored rows their own source changed (replaced: ``rows_changed`` per source).
    """

    load_id: int
    loaded_at: datetime
    sources: tuple[SourceLoad, ...]

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.table for s in self.sources))

    @property
    def rows_read(self) -> int:
        return self.counts()["rows_read"]

    @property
    def rows_loaded(self) -> int:
        return self.counts()["rows_loaded"]

    @property
    def rows_inserted(self) -> int:
        return self.counts()["rows_inserted"]

    @property
    def rows_rejected(self) -> int:
        return self.counts()["rows_rejected"]

    def counts(self) -> dict[str, int]:
        """Every source's counts added up, as :func:`load_counts` reads them."""
        return {name: sum(getattr(s, name) for s in self.sources) for name in _COUNTED}

    def to_dict(self) -> dict[str, object]:
        return {
            "load_id": self.load_id,
            "tables": list(self.tables),
            "loaded_at": self.loaded_at.isoformat(),
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_inserted": self.rows_inserted,
            "rows_rejected": self.rows_rejected,
            "sources": [s.to_dict() for s in self.sources],
        }

    def __str__(self) -> str:
        return self.text()

    def text(self, *, rejects: str | None = None) -> str:
        """The result as lines of text; ``rejects`` is how to list the rejected rows (by
        default ``store.rejects(load_id)``; the command line names its own command).

        Examples:
            >>> import llamalog_analytics as lla
            >>> with lla.LogStore() as store:
            ...     result = store.load_files("tests/fixtures/rejects.csv", quiet=True)
            >>> print(result.text().splitlines()[0])
            load 1 into llama_logs: 10 read: 3 new, 7 rejected
        """
        head = f"load {self.load_id}"
        if not self.sources:
            return f"{head}: nothing read"
        lines = [f"{head} into {', '.join(self.tables)}: {load_counts(self.counts())}"]
        for s in self.sources:
            lines.append(f"  {s.source} [{s.format}] -> {s.table}: {load_counts(s.to_dict())}")
            lines += [f"    {note}" for note in _notes(s)]
        if self.rows_rejected:
            lines.append(f"  rejected rows and why: {rejects or f'store.rejects({self.load_id})'}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [
            [
                f"<code>{escape(s.source)}</code>",
                escape(s.format),
                f'<span class="id">{escape(s.table)}</span>',
                *(f"{n:,}" for n in (s.rows_read, s.rows_loaded, s.rows_inserted, s.rows_rejected)),
                "<br>".join(escape(note) for note in _notes(s)),
            ]
            for s in self.sources
        ]
        table = html_table(
            ["source", "format", "table", "read", "loaded", "new", "rejected", "notes"],
            rows,
            frozenset(range(3, 7)),
        )
        rejected = (
            f"<p>{count(self.rows_rejected, 'rejected row')} kept aside, with the reason: "
            f"<code>store.rejects({self.load_id})</code></p>"
            if self.rows_rejected
            else ""
        )
        title = f"load {self.load_id} into {', '.join(self.tables) or 'nothing'}"
        return block(title, load_counts(self.counts()), body=table + rejected)


_COUNTED = (
    *("rows_read", "rows_loaded", "rows_inserted", "rows_rejected", "rows_disappeared"),
    *("rows_changed", "rows_filled", "rows_repeated"),
)
"""A source's counts of rows, which a load adds up (:meth:`LoadResult.counts`)."""

_LOAD_COLUMNS = (
    *("load_id", "table_name", "source", "format", "loaded_at", "rows_read", "rows_loaded", "rows_inserted"),
    *("rows_rejected", "rows_disappeared", "columns_absent", "unknown_labels", "notes", "rows_filled"),
    "rows_repeated",
)
"""The load history's columns, in the order a load writes them."""


def load_counts(load: Mapping[str, Any]) -> str:
    """What one source's load did to the store, in words read at a glance: its rows read, which
    add up to those new, changed (stored rows the source now gave with other values, replaced),
    filled (stored rows given columns their load lacked), repeated (an id another row of the
    load gave alike: stored once), unchanged (stored already) and rejected; then the stored
    rows the source no longer had, gone. Changed, filled, repeated, unchanged and gone are said
    when there are some.
    ``load`` is a row of :meth:`LogStore.loads <llamalog_analytics.store.LogStore.loads>`.

    Examples:
        >>> counts = dict(rows_read=4_999, rows_loaded=4_999, rows_inserted=7, rows_rejected=0)
        >>> load_counts(counts | dict(rows_changed=1, rows_disappeared=4))
        '4,999 read: 7 new, 1 changed, 4,991 unchanged, 0 rejected; 4 gone'
        >>> load_counts(dict(rows_read=10, rows_loaded=3, rows_inserted=3, rows_rejected=7))
        '10 read: 3 new, 7 rejected'
        >>> load_counts(counts | dict(rows_inserted=4_000, rows_repeated=999))
        '4,999 read: 4,000 new, 999 repeated, 0 rejected'
    """
    changed, gone = load.get("rows_changed", 0), load.get("rows_disappeared", 0)
    filled, repeated = load.get("rows_filled", 0), load.get("rows_repeated", 0)
    unchanged = load["rows_loaded"] - load["rows_inserted"] - changed - filled - repeated  # stored already
    said = [f"{load['rows_inserted']:,} new"]
    said += [
        f"{n:,} {what}"
        for n, what in (
            (changed, "changed"),
            (filled, "filled"),
            (repeated, "repeated"),
            (unchanged, "unchanged"),
        )
        if n
    ]
    said.append(f"{load['rows_rejected']:,} rejected")
    return f"{load['rows_read']:,} read: {', '.join(said)}" + (f"; {gone:,} gone" if gone else "")


def absent_note(load: Mapping[str, Any]) -> str:
    """The columns one source's load did not give (``load`` as in :func:`load_counts`, with
    ``columns_absent``): its new rows have none, and the rows it gave that were stored already
    (a database's column dropped since they were loaded) keep theirs, not compared there.

    Examples:
        >>> counts = dict(rows_loaded=4_999, rows_inserted=7, columns_absent=["reason"])
        >>> absent_note(counts)
        'columns absent: reason (rows stored already keep theirs)'
        >>> absent_note(counts | dict(rows_inserted=4_999))
        'columns absent: reason'
    """
    said = f"columns absent: {', '.join(load['columns_absent'])}"
    stored_already = load["rows_loaded"] - load.get("rows_repeated", 0) > load["rows_inserted"]
    return said + (" (rows stored already keep theirs)" if stored_already else "")


def _notes(source: SourceLoad) -> list[str]:
    """What else a person should know about one source's load, one sentence each."""
    notes = []
    if source.rows_disappeared:
        notes.append(
            f"{count(source.rows_disappeared, 'stored row')} no longer in the source: "
            "llamalog changes, store.disappeared()"
        )
    if source.rows_changed:
        notes.append(
            f"{count(source.rows_changed, 'stored row')} changed in the source, now stored as it has "
            "them: llamalog changes, store.changed() keeps them as they were"
        )
    if source.rows_filled:
        notes.append(
            f"{count(source.rows_filled, 'stored row')} given the columns their own load lacked "
            "(each keeps its load and its other values)"
        )
    if source.columns_absent:
        notes.append(absent_note(source.to_dict()))
    columns = schema.LEGACY_COLUMNS if source.table == schema.LEGACY_TABLE else schema.COLUMNS
    required = [c.name for c in columns if not c.nullable and c.name in source.columns_absent]
    if required and source.rows_inserted and not set(source.columns_absent) >= _MIGRATIONS_ADDED:
        notes.append(
            f"{' and '.join(required)} {verb(len(required), 'is', 'are')} NOT NULL upstream, yet its "
            f"{count(source.rows_inserted, 'new row')} {verb(source.rows_inserted, 'has', 'have')} none. "
            "Hint: export every column of the table"
        )
    if source.table == schema.CURRENT_TABLE and set(source.columns_absent) >= _MIGRATIONS_ADDED:
        again = "SOURCE" if source.format == "postgres" else shlex.quote(source.source)
        command = "attach" if source.format == ATTACHED else "load"
        notes.append(
            f"it has none of the columns the migrations added ({', '.join(sorted(_MIGRATIONS_ADDED))}): "
            f"if it is the pre-migration snapshot, {command} it as that. Hint: llamalog {command} {again} "
            f"--as {schema.LEGACY_TABLE} (table={schema.LEGACY_TABLE!r}); the audit compares the two tables"
        )
    return notes + list(source.notes)


_MIGRATIONS_ADDED = set(schema.COLUMN_NAMES) - {c.name for c in schema.LEGACY_COLUMNS}
"""The columns ``llama_logs`` has that the pre-migration ``enrichment_logs`` had not."""


@dataclass(frozen=True)
class RowFindings:
    """What a load says of a source's typed rows, found by SQL aggregates in one pass over them:
    for each labelled column the source gives, the labels the schema does not know with their
    rows; for each column NOT NULL upstream, the rows without it; for each JSON column, the rows
    where it is a string holding a JSON object or array (JSON encoded twice). Build it with
    :meth:`of`; put :attr:`aggregates` (with :attr:`params`) in a ``SELECT`` over the rows and
    read what they give with :meth:`read`."""

    ignored: tuple[str, ...]
    labelled: tuple[schema.Column, ...]
    not_null: tuple[schema.Column, ...]
    json_columns: tuple[schema.Column, ...]

    @classmethod
    def of(cls, rdr: _readers.Reader) -> RowFindings:
        given = [c for c in _COLS if c.name in rdr.inputs]
        return cls(
            tuple(rdr.ignored),
            tuple(sorted((c for c in given if c.labels), key=lambda c: c.name)),
            tuple(c for c in given if not c.nullable and c.name not in schema.REQUIRED),
            tuple(c for c in given if c.type == "JSON"),
        )

    @property
    def aggregates(self) -> list[str]:
        return [
            *(
                f"histogram({quote(c.name)}) FILTER (NOT list_contains(?, {quote(c.name)}))"
                for c in self.labelled
            ),
            *(f"count(*) FILTER ({quote(c.name)} IS NULL)" for c in self.not_null),
            *(
                # a JSON string (read by its first character), then parsed: a FILTER's AND parses every row
                f"count(*) FILTER (CASE WHEN starts_with(ltrim({quote(c.name)}::VARCHAR), '\"') "
                f"THEN json_type(TRY(json({quote(c.name)} ->> '$'))) IN ('OBJECT', 'ARRAY') END)"
                for c in self.json_columns
            ),
        ]

    @property
    def params(self) -> list[object]:
        """The aggregates' parameters: each labelled column's known labels."""
        return [list(c.labels) for c in self.labelled]

    def read(self, values: Sequence[Any]) -> tuple[dict[str, dict[str, int]], list[str]]:
        """The unknown labels (per column, each label's rows, most first) and the notes, from
        the values the aggregates gave, in their order."""
        found = iter(values)
        maps = [next(found) for _ in self.labelled]
        missing = [next(found) for _ in self.not_null]
        texts = [next(found) for _ in self.json_columns]
        unknown = {
            c: dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
            for c, counts in zip(self.labelled, maps, strict=True)
            if counts
        }
        notes = []
        if self.ignored:
            named = ", ".join(
                n if n.strip() else f"{n!r} (a header ending in a comma?)" for n in self.ignored
            )
            notes.append(f"ignored {count(len(self.ignored), 'unknown column')}: {named}")
        for col, label_counts in unknown.items():
            shown = ", ".join(f"{label} ({count(n, 'row')})" for label, n in label_counts.items())
            notes.append(f"{count(len(label_counts), f'unknown {col.name} label')} loaded as-is: {shown}")
            known = {label.casefold(): label for label in col.labels}
            cased = [(label, known[label.casefold()]) for label in label_counts if label.casefold() in known]
            if cased:
                notes[-1] += (
                    f"; {first_few([a for a, _ in cased], 3)} {verb(len(cased), 'is', 'are')} "
                    f"{first_few([b for _, b in cased], 3)} in another case: checks compare labels exactly, "
                    "so export them as the database has them"
                )
        notes += [
            f"{count(n, 'row')} with no {c.name} (NOT NULL upstream)"
            for c, n in zip(self.not_null, missing, strict=True)
            if n
        ]
        notes += [
            f"{count(n, 'row')} with {c.name} a JSON string holding JSON (encoded twice?), loaded as that "
            "string: whatever wrote it encoded it once too often (JSON.stringify before a Json field, or "
            "an export of the column as text)"
            for c, n in zip(self.json_columns, texts, strict=True)
            if n
        ]
        return {c.name: counts for c, counts in unknown.items()}, notes


def log_table_name(table: str) -> str:
    """``table`` as the store names a log table (lower case), or a :class:`StoreError` saying why
    it cannot be one.

    Examples:
        >>> log_table_name("Llama_Logs_2026")
        'llama_logs_2026'
    """
    table = table.lower()  # DuckDB names ignore case; one spelling keeps the history clear
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", table):
        raise StoreError(
            f"{table!r} is not a table name. Hint: use letters, digits and _, e.g. llama_logs_2026"
        )
    if table.startswith("_llamalog") or table == MIGRATIONS_TABLE:
        raise StoreError(f"{table!r} is reserved for the store's bookkeeping. Hint: pick another name")
    return table


class Stage:
    """One load call, one transaction: sources are added one by one, then committed together.

    Rows are staged in a temporary table, typed, each with the reason it cannot be loaded (if
    any); ``commit`` resolves repeated ids and writes the new rows, the rejects and the load
    history. Typed rows with unique ids bound for an empty table skip the stage and go straight
    into it. Leaving the block without committing rolls everything back.
    """

    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.sources: list[tuple[str, _readers.Reader]] = []
        self.direct: set[int] = set()  # sources written straight into their table
        self.misnamed: dict[str, str] = {}  # a new table named like a known one: the note saying so
        self.finished = False  # committed or rolled back
        self.held = contextlib.ExitStack()  # the store's write lock, for the load alone
        self.stopped: KeyboardInterrupt | None = None  # what an interrupt of this load raised

    def __enter__(self) -> Stage:
        self.held.enter_context(self.store.session(write=True))
        self.store.execute("BEGIN TRANSACTION")
        self.store.execute(
            f"CREATE TEMP TABLE {STAGE_TABLE} (_file INTEGER, _table VARCHAR, _row BIGINT, "
            f"{_TYPED}, _column VARCHAR, _reason VARCHAR, _raw VARCHAR, _state VARCHAR)"
        )
        self.store.execute(
            f"CREATE TEMP TABLE {STRUCTURAL_TABLE} "
            "(_file INTEGER, _row BIGINT, _reason VARCHAR, _raw VARCHAR)"
        )
        self.load_id = self.store.execute(f"SELECT coalesce(max(load_id), 0) + 1 FROM {LOADS_TABLE}")[0][0]
        return self

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        with self.held:
            self._roll_back()
            self.store.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
            self.store.execute(f"DROP TABLE IF EXISTS {STRUCTURAL_TABLE}")
            if exc is not None and exc is not self.stopped and interrupted(exc):
                raise self._interrupt() from exc  # in whatever form DuckDB gave it

    def add(self, table: str, rdr: _readers.Reader, *, quiet: bool = False) -> None:
        """Read the rows of one source for ``table``."""
        from .attach import attached_from

        table = log_table_name(table)
        if (folder := attached_from(self.store, table)) is not None:
            add = (
                f"put the rows in a Parquet file in {folder} and attach it again"
                if Path(folder).is_dir()
                else f"attach a folder or glob that holds {folder} and a Parquet file of the rows"
            )
            raise StoreError(
                f"{self.store.path or 'the in-memory store'}: {table!r} is attached from Parquet files "
                f"({folder}), read where they are; nothing can be loaded into it. Hint: {add}, or load "
                "into another table (--as NAME, table=)"
            )
        known = (schema.CURRENT_TABLE, schema.LEGACY_TABLE)
        if table not in known and not self.store.has_table(table):
            for close in difflib.get_close_matches(table, known, n=1, cutoff=0.85):
                self.misnamed[table] = (
                    f"{table} is a new table, named like {close}, which this load left as it was. "
                    f"Hint: load into {close} with --as {close} (table={close!r})"
                )
        number = len(self.sources)
        self.sources.append((table, rdr))
        with self._failing_as(rdr.path):
            if rdr.trusted and self._holds_nothing(table):
                self.direct.add(number)
                self.store.execute(data_table_ddl(table))
                values = ", ".join(
                    rdr.inputs[c.name][0] if c.name in rdr.inputs else f"NULL::{c.type}" for c in _COLS
                )
                self.store.execute(
                    f"INSERT INTO {quote(table)} SELECT {values}, ? FROM ({rdr.select})",
                    [*rdr.params, self.load_id],
                )
            else:
                self._stage_rows(number, table, rdr, quiet=quiet)

    def _holds_nothing(self, table: str) -> bool:
        if any(t == table for t, _ in self.sources[:-1]):
            return False
        return (
            not self.store.has_table(table)
            or not self.store.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quote(table)} LIMIT 1)")[0][0]
        )

    def commit(
        self,
        *,
        replace_tables: Mapping[str, object] | None = None,
        disappeared: Mapping[str, list[Any]] | None = None,
        replaced_from: Sequence[SourceLoad] = (),
    ) -> LoadResult:
        """Write what was read; returns what each source contributed.

        Args:
            replace_tables: tables to replace wholesale in the same transaction, as Arrow data
                (e.g. ``_prisma_migrations`` read from the database).
            disappeared: per log table, ids of stored rows the source no longer has.
            replaced_from: what each file read into ``replace_tables`` held, for the load
                history and the result (a database's tables go without).
        """
        sources = [rdr.source for _, rdr in self.sources]
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        with self._failing_as(
            ", ".join([rdr.path for _, rdr in self.sources] + [s.source for s in replaced_from])
        ):
            resolve_duplicates(
                self.store, (t for t, _ in self.sources), sources, self._blurred(), self._absent()
            )
            results = self._write(
                loaded_at, sources, replace_tables or {}, disappeared or {}, tuple(replaced_from)
            )
        self.finished = True
        return LoadResult(self.load_id, loaded_at, results)

    def _absent(self) -> dict[str, list[int]]:
        """Each column some sources do not give, with those sources (by number)."""
        absent = {
            c.name: [n for n, (_, rdr) in enumerate(self.sources) if c.name not in rdr.inputs] for c in _COLS
        }
        return {name: numbers for name, numbers in absent.items() if numbers}

    def _blurred(self) -> list[int]:
        """The sources (by number) whose format loads JSON null as SQL NULL."""
        return [n for n, (_, rdr) in enumerate(self.sources) if rdr.format in BLURRED]

    @contextlib.contextmanager
    def _failing_as(self, what: str) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            if not (isinstance(exc, duckdb.Error) or interrupted(exc)):
                raise
            self._roll_back()  # now: the way out unregisters a stream, which an aborted transaction refuses
            if interrupted(exc):
                raise self._interrupt() from exc
            first = str(exc).splitlines()[0]
            folder = unwritable_folder(self.store.path, first)
            if folder is not None:
                raise StoreError(
                    f"loading {what} failed, the store is unchanged: DuckDB writes {self.store.path}.wal "
                    f"beside the store, and one may not write in {folder}. Hint: check who may write in it "
                    f"(ls -ld {shlex.quote(str(folder))}), or load into a copy of the store in a folder "
                    "you may write in"
                ) from exc
            hint = (
                f"free some space where the store lives ({self.store.path or 'memory'}), then load again"
                if "could not write" in first.lower() or NO_ROOM.search(first)
                else "check the file is complete and in the format its suffix says, then load it again"
            )
            raise SourceError(
                f"loading {what} failed, the store is unchanged: {first}. Hint: {hint}"
            ) from exc

    def _interrupt(self) -> KeyboardInterrupt:
        """What an interrupt of the load raises, once rolled back: that the store is unchanged,
        unless the load's COMMIT ran before the interrupt was raised (it is then recorded)."""
        recorded = f"SELECT count(*) FROM {LOADS_TABLE} WHERE load_id = ?"
        with contextlib.suppress(duckdb.Error):
            if self.store.execute(recorded, [self.load_id])[0][0]:
                self.stopped = KeyboardInterrupt(INTERRUPTED_AFTER_COMMIT.format(load_id=self.load_id))
                return self.stopped
        self.stopped = KeyboardInterrupt(INTERRUPTED)
        return self.stopped

    def _roll_back(self) -> None:
        if not self.finished:
            self.finished = True
            with contextlib.suppress(duckdb.Error):
                self.store.execute("ROLLBACK")

    def _stage_rows(self, number: int, table: str, rdr: _readers.Reader, *, quiet: bool) -> None:
        """Append source ``number``'s rows, typed and each with its reject reason, to the stage table."""
        sql = f"""INSERT INTO {STAGE_TABLE}
    SELECT ?, ?, _row, {_NAMES}, _column, _reason, CASE WHEN _reason IS NOT NULL THEN {rdr.raw} END, 'new'
    FROM ({checked_rows(rdr)})"""
        with self.store.progress(Path(rdr.path).name, quiet=quiet):
            self.store.execute(sql, [number, table, *rdr.params])
        if not rdr.numbered:  # inserts keep the file's order, so row ids follow it
            self.store.execute(
                f"UPDATE {STAGE_TABLE} SET _row = rowid + 1 "
                f"- (SELECT min(rowid) FROM {STAGE_TABLE} WHERE _file = ?) WHERE _file = ?",
                [number, number],
            )
        if rdr.format in ("csv", "ndjson"):
            self._collect_structural(number, rdr)

    def _collect_structural(self, number: int, rdr: _readers.Reader) -> None:
        """Record the rows the CSV parser could not split, and renumber the rows after them.

        Raises:
            SourceError: a quote opens a field that never closes before the last row (a stray
                quote): the parser takes the rows after it into that field, so they would be lost.
        """
        self._refuse_stray_quote(number, rdr)
        with parser_rejects(self.store, rdr.path, rdr.format) as rejects:
            if rejects is None:
                return
            self.store.execute(
                f"INSERT INTO {STRUCTURAL_TABLE} SELECT ?, line - ?, reason, raw FROM {rejects}",
                [number, int(rdr.format == "csv")],
            )
        self.store.execute(
            f"""UPDATE {STAGE_TABLE} SET _row = _row + (
      SELECT count(*) FROM (
        SELECT _row - row_number() OVER (ORDER BY _row) AS gap FROM {STRUCTURAL_TABLE} WHERE _file = ?)
      WHERE gap < {STAGE_TABLE}._row)
    WHERE _file = ? AND EXISTS (SELECT 1 FROM {STRUCTURAL_TABLE} WHERE _file = ?)""",
            [number, number, number],
        )

    def _refuse_stray_quote(self, number: int, rdr: _readers.Reader) -> None:
        """Raise :class:`SourceError` naming the line of a quote that took the rows after it into
        its field, which the parser reports as a record with a misplaced quote that also has too
        many or too few fields. Not for the file's last row (a file cut short: that row is
        rejected), nor for a quote closed with text after it (``"a"b``: that row alone is)."""
        import numpy as np

        found = self.store.execute(
            f"""SELECT line, min(byte_position) FILTER (error_type = 'UNQUOTED VALUE')
FROM {_readers.CSV_ERRORS} GROUP BY line
HAVING bool_or(error_type = 'UNQUOTED VALUE')
  AND bool_or(error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS'))
ORDER BY line LIMIT 1"""
        )
        if not found:
            return
        line, at = found[0]
        rows = self.store.execute(
            f"""SELECT (SELECT count(*) FROM {STAGE_TABLE} WHERE _file = ?)
  + (SELECT count(DISTINCT line) FROM {_readers.CSV_ERRORS})""",
            [number],
        )[0][0]
        if line - int(rdr.format == "csv") >= rows:  # DuckDB numbers a CSV's header 1
            return
        file_line = int(_readers.line_numbers(rdr.path, np.array([at]))[0])
        raise SourceError(
            f"{rdr.path} line {file_line:,}: a quote opens a field that never closes (a stray quote?), so "
            "the rows after it would be read as part of that field and lost; nothing was loaded and the "
            'store is unchanged. Hint: remove that quote, or double it ("") inside a quoted field, then '
            "load the file again"
        )

    def _summarise(self, number: int, table: str, rdr: _readers.Reader) -> SourceLoad:
        """What source ``number`` contributed."""
        store = self.store
        if number in self.direct:  # written straight into the table: every row accepted and new
            rows, params = f"{quote(table)} WHERE {LOAD_ID_COLUMN} = ?", [self.load_id]
            staged = inserted = store.execute(f"SELECT count(*) FROM {rows}", params)[0][0]
            rejected = structural = changed = filled = repeated = 0
        else:  # its accepted rows are the staged ones without a reason
            rows, params = f"{STAGE_TABLE} WHERE _file = ? AND _reason IS NULL", [number]
            staged, rejected, inserted, changed, filled, repeated = store.execute(
                f"""SELECT count(*), count(*) FILTER (_reason IS NOT NULL),
      count(*) FILTER (_reason IS NULL AND _state = 'new'),
      count(*) FILTER (_reason IS NULL AND _state = 'changed'),
      count(*) FILTER (_reason IS NULL AND _state = 'filled'),
      count(*) FILTER (_reason IS NULL AND _state = 'duplicate')
    FROM {STAGE_TABLE} WHERE _file = ?""",
                [number],
            )[0]
            structural = store.execute(f"SELECT count(*) FROM {STRUCTURAL_TABLE} WHERE _file = ?", [number])[
                0
            ][0]
        findings = RowFindings.of(rdr)
        values = (
            store.execute(
                f"SELECT {', '.join(findings.aggregates)} FROM {rows}", [*findings.params, *params]
            )[0]
            if findings.aggregates
            else ()
        )
        unknown, found = findings.read(values)
        notes = [*rdr.notes, *([self.misnamed[table]] if table in self.misnamed else [])]
        if staged + structural == 0 and rdr.format != "postgres":  # a database's new rows may be none
            notes.append("no rows in it: nothing to load")
        if repeated:  # an export of a table keyed by id gives each id once
            notes.append(
                f"{count(repeated, 'row')} {verb(repeated, 'repeats', 'repeat')} an id this load gives "
                "in another row, with the same values in the columns both have: stored once"
            )
        notes += found
        return SourceLoad(
            source=rdr.source,
            format=rdr.format,
            table=table,
            rows_read=staged + structural,
            rows_loaded=staged - rejected,
            rows_inserted=inserted,
            rows_rejected=rejected + structural,
            columns_absent=tuple(c.name for c in _COLS if c.name not in rdr.inputs),
            unknown_labels=unknown,
            notes=tuple(notes),
            rows_changed=changed,
            rows_filled=filled,
            rows_repeated=repeated,
        )

    def _write(
        self,
        loaded_at: datetime,
        paths: list[str],
        replace_tables: Mapping[str, object],
        disappeared: Mapping[str, list[Any]],
        replaced_from: tuple[SourceLoad, ...],
    ) -> tuple[SourceLoad, ...]:
        """Write the staged rows, rejects and history, then COMMIT the transaction."""
        store, load_id = self.store, self.load_id
        rejects = f"""SELECT _file, _row, _column, _reason, _raw FROM {STAGE_TABLE} WHERE _reason IS NOT NULL
    UNION ALL SELECT _file, _row, NULL, _reason, _raw FROM {STRUCTURAL_TABLE}"""
        sources = tuple(
            replace(self._summarise(number, table, rdr), rows_disappeared=len(disappeared.get(table, ())))
            for number, (table, rdr) in enumerate(self.sources)
        )
        for table in dict.fromkeys(t for t, _ in self.sources):
            store.execute(data_table_ddl(table))
            if any(s.table == table and s.rows_changed for s in sources):
                replace_changed(store, table, load_id, paths, self._blurred(), self._absent())
            if any(s.table == table and s.rows_filled for s in sources):
                fill_absent(store, table)
            store.execute(
                f"""INSERT INTO {quote(table)} SELECT {_NAMES}, ? FROM {STAGE_TABLE}
    WHERE _table = ? AND _reason IS NULL AND _state IN ('new', 'changed')""",
                [load_id, table],
            )
        store.execute(
            f"""INSERT INTO {REJECTS_TABLE}
    SELECT ?, list_extract(?, _file + 1), list_extract(?, _file + 1), _row, _column, _reason, _raw
    FROM ({rejects}) ORDER BY _file, _row""",
            [load_id, [s.table for s in sources], paths],
        )
        sources += replaced_from
        for s in sources:
            store.execute(
                f"INSERT INTO {LOADS_TABLE} ({', '.join(_LOAD_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_LOAD_COLUMNS))})",
                [
                    load_id,
                    s.table,
                    s.source,
                    s.format,
                    loaded_at,
                    s.rows_read,
                    s.rows_loaded,
                    s.rows_inserted,
                    s.rows_rejected,
                    s.rows_disappeared,
                    list(s.columns_absent),
                    json.dumps(s.unknown_labels),
                    list(s.notes),
                    s.rows_filled,
                    s.rows_repeated,
                ],
            )
        for s in sources:
            if disappeared.get(s.table):
                store.execute(
                    f"INSERT INTO {DISAPPEARED_TABLE} (load_id, table_name, source, id, created_at) "
                    f"SELECT ?, ?, ?, id, created_at FROM {quote(s.table)} "
                    "WHERE id IN (SELECT unnest(?::UUID[])) ORDER BY id",
                    [load_id, s.table, s.source, disappeared[s.table]],
                )
        for name, data in replace_tables.items():
            with store.registered("_llamalog_replacement", data) as replacement:
                _replace_table(store, name, replacement)
        store.execute("COMMIT")
        return sources


def _replace_table(store: LogStore, name: str, replacement: str) -> None:
    """Make table ``name`` hold exactly ``replacement``'s rows: in place when its columns are the
    same, since a commit that drops a table makes DuckDB checkpoint the whole store file (a
    quarter of a second at a million rows, on every incremental load)."""
    same_columns = (
        store.has_table(name)
        and store.execute(
            f"SELECT (SELECT {_COLUMNS_BY_NAME} FROM (DESCRIBE {quote(name)})) "
            f"= (SELECT {_COLUMNS_BY_NAME} FROM (DESCRIBE {replacement}))"
        )[0][0]
    )
    if same_columns:
        store.execute(f"DELETE FROM {quote(name)}")
        store.execute(f"INSERT INTO {quote(name)} BY NAME SELECT * FROM {replacement}")
    else:
        store.execute(f"CREATE OR REPLACE TABLE {quote(name)} AS SELECT * FROM {replacement}")


_COLUMNS_BY_NAME = "list((column_name, column_type) ORDER BY column_name)"  # of a DESCRIBE


@contextlib.contextmanager
def parser_rejects(store: LogStore, path: str, fmt: str) -> Iterator[str | None]:
    """The lines the CSV parser could not split in its last scan (of ``path``, in format ``fmt``),
    as a temporary table for the ``with`` block: ``line`` (DuckDB's record number, the header's
    being 1), ``reason`` (the file's name, the line of the file the record starts on, as an
    editor numbers them, and what is wrong) and ``raw``; None when every line was split.
    """
    import pyarrow as pa

    with store.temporary(_PARSER_ERRORS) as errors:
        if not store.execute(f"SELECT count(*) FROM {errors}")[0][0]:
            yield None
            return
        offsets = store.relation(
            f"SELECT start_byte FROM {errors} WHERE start_byte IS NOT NULL ORDER BY start_byte"
        ).fetchnumpy()["start_byte"]
        lines = pa.table({"start_byte": offsets, "file_line": _readers.line_numbers(path, offsets)})
        with (
            store.registered("_llamalog_lines", lines) as numbered,
            store.temporary(
                f"""SELECT e.line, {_STRUCTURAL_REASON} AS reason, e.raw
    FROM (SELECT *, CASE kind WHEN 'MISSING COLUMNS' THEN fewest ELSE most END AS found FROM {errors}) AS e
    LEFT JOIN {numbered} AS n USING (start_byte) ORDER BY e.line""",
                [Path(path).name, fmt],
            ) as rejects,
        ):
            yield rejects


# The CSV parser's rejects, one row per line it could not split (DuckDB numbers the header 1 and
# may report one error per missing column: the fewest fields found is the row's).
_PARSER_ERRORS = f"""SELECT line, min(line_byte_position) AS start_byte,
  first(error_type ORDER BY column_idx, error_type) AS kind,
  first(error_message ORDER BY column_idx, error_type) AS message,
  min(TRY_CAST(regexp_extract(error_message, 'Found: (\\d+)', 1) AS BIGINT)) AS fewest,
  max(TRY_CAST(regexp_extract(error_message, 'Found: (\\d+)', 1) AS BIGINT)) AS most,
  max(TRY_CAST(regexp_extract(error_message, 'Columns: (\\d+)', 1) AS BIGINT)) AS expected,
  ltrim(first(csv_line ORDER BY column_idx), chr(13) || chr(10)) AS raw  -- not the line break before
FROM {_readers.CSV_ERRORS} GROUP BY line"""
# Why a line was rejected, with the file's name (parameter 1) and the line it starts on, as an
# editor numbers them; parameter 2 is the format.
_STRUCTURAL_REASON = f"""$1 || format(' line {{:,}}: ', coalesce(n.file_line, e.line)) || CASE
  WHEN $2 = 'csv' AND e.kind IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') AND e.expected IS NOT NULL THEN
    format('{{:,}} field{{}} where the header has {{:,}}',
      e.found, CASE WHEN e.found = 1 THEN '' ELSE 's' END, e.expected)
    || '; the file may be cut short or have a stray delimiter'
  WHEN e.kind = 'UNQUOTED VALUE' THEN
    'a quoted field never ends (unterminated quote); the file may be cut short or have a stray quote'
  WHEN e.kind = 'INVALID ENCODING' THEN
    'not UTF-8 encoded (an invalid byte sequence); export the file as UTF-8'
  WHEN e.kind = 'LINE SIZE OVER MAXIMUM' THEN
    'a line longer than {_readers.MAX_LINE_BYTES // 2**20} MiB; the file may lack line ends'
  ELSE lower(e.kind) || ': ' || e.message END"""
