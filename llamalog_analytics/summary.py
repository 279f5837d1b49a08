"""What a store holds: tables, row counts, categories, date range and load history."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from html import escape
from typing import Any

from ._sql import DISAPPEARED_TABLE, LOADS_TABLE, MIGRATIONS_TABLE, REJECTS_TABLE, quote
from .store import LogStore


@dataclass(frozen=True)
class TableSummary:
    """One log table: its size, time span (UTC) and rows per category."""

    name: str
    rows: int
    first_created_at: datetime | None
    last_created_at: datetime | None
    categories: dict[str, int]


@dataclass(frozen=True)
class StoreSummary:
    """The contents of a store, as :func:`summarize` finds them."""

    path: str | None
    tables: tuple[TableSummary, ...]
    loads: tuple[dict[str, Any], ...]
    rejected_rows: int
    disappeared_rows: int
    migrations: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"store: {self.path or 'in memory'}"]
        if not self.tables:
            lines.append("no log tables yet. Hint: llamalog load FILE")
        for t in self.tables:
            span = f"{_ms(t.first_created_at)} .. {_ms(t.last_created_at)} UTC" if t.rows else "empty"
            lines.append(f"{t.name}: {t.rows:,} rows, created_at {span}")
            if t.categories:
                width = max(map(len, t.categories))
                lines += [f"  {k:<{width}}  {v:>10,}" for k, v in t.categories.items()]
        if self.loads:
            lines.append(f"load history ({len(self.loads)} files):")
            for load in self.loads:
                lines.append(
                    f"  #{load['load_id']} {load['loaded_at']:%Y-%m-%d %H:%M} UTC "
                    f"{load['table_name']} <- {load['source']} [{load['format']}]: "
                    f"{load['rows_read']:,} read, {load['rows_loaded']:,} loaded, "
                    f"{load['rows_rejected']:,} rejected"
                )
                if load["columns_absent"]:
                    lines.append(f"      columns absent: {', '.join(load['columns_absent'])}")
        if self.rejected_rows:
            lines.append(f"rejected rows kept aside: {self.rejected_rows:,} (store.rejects())")
        if self.disappeared_rows:
            lines.append(
                f"rows gone from their database since loaded: {self.disappeared_rows:,} (store.disappeared())"
            )
        if self.migrations:
            lines.append(f"_prisma_migrations: {len(self.migrations)} applied, last {self.migrations[-1]}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<pre>{escape(str(self))}</pre>"


def _ms(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="milliseconds")


def summarize(store: LogStore) -> StoreSummary:
    """Summarise ``store``.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.LogStore() as store:
        ...     _ = store.load_files("data/sample/llama_logs.parquet", quiet=True)
        ...     summary = lla.summarize(store)
        >>> summary.tables[0].name, summary.tables[0].rows > 1000
        ('llama_logs', True)
    """
    tables = []
    for name in store.tables():
        rows, first, last = store.execute(
            f"SELECT count(*), min(created_at), max(created_at) FROM {quote(name)}"
        )[0]
        categories = dict(
            store.execute(
                f"""SELECT coalesce(category, '(none)'), count(*) FROM {quote(name)}
                    GROUP BY ALL ORDER BY 2 DESC, 1"""
            )
        )
        if set(categories) == {"(none)"}:
            categories = {}
        tables.append(TableSummary(name, rows, first, last, categories))
    bookkeeping = store.has_table(LOADS_TABLE)
    loads = store.loads().to_dicts() if bookkeeping else []
    rejected = store.execute(f"SELECT count(*) FROM {REJECTS_TABLE}")[0][0] if bookkeeping else 0
    gone = store.execute(f"SELECT count(*) FROM {DISAPPEARED_TABLE}")[0][0] if bookkeeping else 0
    migrations = ()
    if store.has_table(MIGRATIONS_TABLE):
        migrations = tuple(
            r[0]
            for r in store.execute(
                f"SELECT migration_name FROM {MIGRATIONS_TABLE} WHERE finished_at IS NOT NULL "
                "ORDER BY started_at, migration_name"
            )
        )
    return StoreSummary(store.path, tuple(tables), tuple(loads), rejected, gone, migrations)
