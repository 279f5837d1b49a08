"""What a store holds: tables, row counts, categories, date range and load history."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from ._format import count, first_few, moment, printable
from ._html import block, html_table
from ._sql import (
    CHANGED_TABLE,
    LOADS_TABLE,
    MIGRATIONS_TABLE,
    REJECTS_TABLE,
    quote,
)
from .attach import attach_again, attached_from, unread_files
from .errors import AttachedFilesChangedError
from .log_view import category_badge
from .stage import absent_note, load_counts
from .store import LogStore, require_store


@dataclass(frozen=True)
class TableSummary:
    """One log table: its size, time span (UTC) and rows per category."""

    name: str
    rows: int
    first_created_at: datetime | None
    last_created_at: datetime | None
    categories: dict[str, int]
    attached_from: str | None = None  # the folder or glob of an attached table, read in place
    unreadable: str | None = None  # why the table cannot be read now (an attached file changed)
    # the files added to an attached table's folder since, which it does not read until attached again
    unread_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreSummary:
    """The contents of a store, as :func:`summarize` finds them."""

    path: str | None
    tables: tuple[TableSummary, ...]
    loads: tuple[dict[str, Any], ...]
    rejected_rows: int
    disappeared_rows: int
    migrations: tuple[str, ...]
    changed_rows: int = 0
    made_empty: str | None = None  # the store was made, empty, by opening a path with none

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"store: {self.path or 'in memory'}"]
        if not self.tables:
            lines.append(self.made_empty or "no log tables yet. Hint: llamalog load FILE")
        for t in self.tables:
            span = f"{moment(t.first_created_at)} .. {moment(t.last_created_at)} UTC" if t.rows else "empty"
            where = f"; attached, read in place from {t.attached_from}" if t.attached_from else ""
            if t.unreadable:
                lines.append(f"{t.name}{where}: {t.unreadable}")
                continue
            lines.append(f"{t.name}: {count(t.rows, 'row')}, created_at {span}{where}")
            if t.unread_files:
                lines.append(f"  {_unread(t, self.path)}")
            if t.categories:
                shown = {printable(k): v for k, v in t.categories.items()}  # an unknown label is log text
                width = max(map(len, shown))
                lines += [f"  {k:<{width}}  {v:>10,}" for k, v in shown.items()]
        if self.loads:
            loads = len({load["load_id"] for load in self.loads})
            sources = len({load["source"] for load in self.loads})
            lines.append(f"load history ({count(loads, 'load')} of {count(sources, 'source')}):")
            for load in self.loads:
                lines += [
                    f"  #{load['load_id']} {load['loaded_at']:%Y-%m-%d %H:%M} UTC "
                    f"{load['table_name']} <- {load['source']} [{load['format']}]",
                    f"      {load_counts(load)}",
                ]
                if load["columns_absent"]:
                    lines.append(f"      {absent_note(load)}")
        if self.rejected_rows:
            lines.append(
                f"{count(self.rejected_rows, 'rejected row')} kept aside: store.rejects() or llamalog rejects"
            )
        if self.disappeared_rows:
            lines.append(
                f"rows gone from their database since loaded: {self.disappeared_rows:,} "
                "(llamalog changes, store.disappeared())"
            )
        if self.changed_rows:
            lines.append(
                f"rows changed in their source since loaded: {self.changed_rows:,} "
                "(llamalog changes, store.changed())"
            )
        if self.migrations:
            lines.append(f"_prisma_migrations: {len(self.migrations)} applied, last {self.migrations[-1]}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        tables = html_table(
            ["table", "rows", "first created_at (UTC)", "last created_at (UTC)", "categories"],
            [
                [
                    f'<span class="id">{escape(t.name)}</span>'  # a table's name kept whole
                    + (f"<br>attached from <code>{escape(t.attached_from)}</code>" if t.attached_from else "")
                    + (f"<br>{escape(_unread(t, self.path))}" if t.unread_files else ""),
                    "-" if t.unreadable else f"{t.rows:,}",
                    f'<span class="time">{moment(t.first_created_at)}</span>',
                    f'<span class="time">{moment(t.last_created_at)}</span>',
                    escape(t.unreadable)
                    if t.unreadable
                    else " ".join(  # a badge and its count on one line
                        f'<span class="nowrap">{category_badge(name)} {n:,}</span>'
                        for name, n in t.categories.items()
                    ),
                ]
                for t in self.tables
            ],
            frozenset({1}),
        )
        loads = html_table(
            ["load", "when (UTC)", "table", "source", "format", "rows"],
            [
                [
                    f"#{load['load_id']}",
                    f'<span class="time">{moment(load["loaded_at"])}</span>',
                    f'<span class="id">{escape(load["table_name"])}</span>',
                    f"<code>{escape(load['source'])}</code>",
                    escape(load["format"]),
                    re.sub(r"(\d) ", "\\1&nbsp;", escape(load_counts(load))),  # a count by its word
                ]
                for load in self.loads
            ],
        )
        notes = [
            f"{count(self.rejected_rows, 'rejected row')} kept aside: <code>store.rejects()</code>"
            if self.rejected_rows
            else "",
            f"{count(self.disappeared_rows, 'row')} gone from their database since loaded: "
            "<code>store.disappeared()</code>"
            if self.disappeared_rows
            else "",
            f"{count(self.changed_rows, 'row')} changed in their source since loaded: "
            "<code>store.changed()</code>"
            if self.changed_rows
            else "",
            f"<code>_prisma_migrations</code>: {len(self.migrations)} applied, last "
            f"<code>{escape(self.migrations[-1])}</code>"
            if self.migrations
            else "",
        ]
        history = (
            f"<p>Load history</p>{loads}" if self.loads else "<p>No loads yet: store.load_files(...)</p>"
        )
        body = tables + history + "".join(f"<p>{note}</p>" for note in notes if note)
        return block("LlamaLog store", self.path or "in memory", body=body)


def _unread(table: TableSummary, store_path: str | None) -> str:
    """That the attached ``table``'s folder holds files it does not read, naming a few (within
    the folder), and how to read them."""
    source = table.attached_from or ""
    files = [
        os.path.relpath(f, source) if os.path.isdir(source) else Path(f).name for f in table.unread_files
    ]
    return (
        f"not read: {count(len(files), 'Parquet file')} there added since it was attached "
        f"({first_few(files, 3)}). Hint: attach {table.name} again to read "
        f"{'it' if len(files) == 1 else 'them'}{attach_again(source, table.name, store_path)}"
    )


def summarize(store: LogStore) -> StoreSummary:
    """Summarise ``store``.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.LogStore() as store:
        ...     _ = store.load_files(lla.sample_path("llama_logs.parquet"), quiet=True)
        ...     summary = lla.summarize(store)
        >>> summary.tables[0].name, summary.tables[0].rows > 1000
        ('llama_logs', True)
    """
    require_store(store, "summarize")
    with store.session():  # one opening of the file, one consistent view
        tables = []
        for name in store.tables():
            attached = attached_from(store, name)
            try:
                rows, first, last = store.execute(
                    f"SELECT count(*), min(created_at), max(created_at) FROM {quote(name)}"
                )[0]
            except AttachedFilesChangedError as exc:  # said, and the rest shown
                tables.append(TableSummary(name, 0, None, None, {}, attached, str(exc)))
                continue
            categories = dict(
                store.execute(
                    f"""SELECT coalesce(category, '(none)'), count(*) FROM {quote(name)}
                        GROUP BY ALL ORDER BY 2 DESC, 1"""
                )
            )
            if set(categories) == {"(none)"}:
                categories = {}
            unread = tuple(unread_files(store, name)) if attached else ()
            tables.append(TableSummary(name, rows, first, last, categories, attached, unread_files=unread))
        bookkeeping = store.has_table(LOADS_TABLE)
        loads = store.loads().to_dicts() if bookkeeping else []
        rejected = store.execute(f"SELECT count(*) FROM {REJECTS_TABLE}")[0][0] if bookkeeping else 0
        gone = store.disappeared()["restored_load"].null_count() if bookkeeping else 0
        changed = (
            store.execute(f"SELECT count(*) FROM {CHANGED_TABLE}")[0][0]
            if store.has_table(CHANGED_TABLE)
            else 0
        )
        migrations = ()
        if store.has_table(MIGRATIONS_TABLE):
            migrations = tuple(
                r[0]
                for r in store.execute(
                    f"SELECT migration_name FROM {MIGRATIONS_TABLE} WHERE finished_at IS NOT NULL "
                    "ORDER BY started_at, migration_name"
                )
            )
        return StoreSummary(
            store.path, tuple(tables), tuple(loads), rejected, gone, migrations, changed, store.made_empty()
        )
