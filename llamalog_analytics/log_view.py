"""Log rows as the application's admin log table shows them, in notebooks and in ``explain``.

:func:`log_table` takes any frame of log rows (a chain, ``store.table()``, a check's ids joined
to the rows) and returns a :class:`LogTable`, which a notebook displays as a "LlamaLog" table:
a category badge (colour and text; CREATED carries the llama), the time in UTC to the
millisecond, the chain relation and depth as indentation, entity, operation, status, job run,
duration and error. Each row opens to its JSON details, pretty-printed. A frame larger than a
page is paged, and the table says which rows it shows and how to see the others.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     rows = store.table()
    >>> table = lla.log_table(rows, page_size=100)
    >>> table.pages > 1, "LlamaLog" in table.to_html()
    (True, True)
    >>> table.page(2).caption()
    'rows 101-200 of 4,000'
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from html import escape
from typing import Any

import polars as pl

from . import schema, style
from ._format import count, duration, moment, shorten
from ._html import WHOLE_ROWS, block
from ._lanes import named_with_run
from .errors import ArgumentError, LlamalogError

PAGE_SIZE = 500  # rows per page; a page of more than WHOLE_ROWS scrolls inside a box of fixed height

# Columns shown in the row itself; every other column goes into the row's JSON details.
_SHOWN = {
    "created_at",
    "category",
    "relation",
    "depth",
    "entity_type",
    "entity_id",
    "operation",
    "status",
    "job_id",
    "job_instance",
    "duration_ms",
    "error_message",
}
_JSON_COLUMNS = ("metadata", "preview_data")
# Two overlapping sheets: the copy button's icon, drawn (a glyph may be missing from the fonts).
_COPY_ICON = (
    '<svg viewBox="0 0 16 16" width="11" height="11" aria-label="copy" fill="none" stroke="currentColor" '
    'stroke-width="1.5"><rect x="5" y="5" width="9" height="9" rx="1.5"/>'
    '<path d="M3 11H2.5A1 1 0 0 1 1.5 10V2.5A1 1 0 0 1 2.5 1.5H10A1 1 0 0 1 11 2.5V3"/></svg>'
)
_RELATION_MARKS = {"ancestor": "↑", "self": "●", "descendant": "↳"}


@dataclass(frozen=True)
class LogTable:
    """One page of log rows, displayed as the admin log table (``_repr_html_``)."""

    rows: pl.DataFrame
    title: str = ""
    number: int = 1  # the page shown, from 1
    page_size: int = PAGE_SIZE
    reused: tuple[str, ...] = ()  # job ids that ran more than once in the table, beyond these rows

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ArgumentError(f"page_size must be at least 1, not {self.page_size}")
        log_rows(self.rows, ("id", "operation"))

    @property
    def pages(self) -> int:
        return max(1, -(-self.rows.height // self.page_size))

    def page(self, number: int) -> LogTable:
        """The same rows, showing page ``number``."""
        if not 1 <= number <= self.pages:
            raise ArgumentError(f"page {number} does not exist. Hint: pages run from 1 to {self.pages}")
        return replace(self, number=number)

    def caption(self) -> str:
        """Which rows this page shows, e.g. ``rows 1-500 of 2,000`` or ``12 rows``."""
        total = self.rows.height
        if self.pages == 1:
            return count(total, "row")
        first = (self.number - 1) * self.page_size + 1
        last = min(total, self.number * self.page_size)
        return f"rows {first:,}-{last:,} of {total:,}"

    def to_html(self) -> str:
        """The table as an HTML fragment (its own styles; no script needed to read it)."""
        start = (self.number - 1) * self.page_size
        shown = self.rows.slice(start, self.page_size)
        columns = shown.columns
        prefix = uuid.uuid4().hex[:12]  # toggles of two tables on one page stay apart
        reran = _reran(self.rows, self.reused)
        body = "".join(
            _row(row, columns, f"{prefix}-{n}", reran) for n, row in enumerate(shown.iter_rows(named=True))
        )
        more = ""
        if self.pages > 1:
            other, which = (
                (self.number + 1, "next") if self.number < self.pages else (self.number - 1, "previous")
            )
            more = (
                f'<span class="pager">page {self.number} of {self.pages}: '
                f"<code>.page({other})</code> shows the {which}</span>"
            )
        box = "llamalog-scroll" if shown.height > WHOLE_ROWS else "llamalog-scroll whole"
        table = (
            f'<div class="{box}"><table><thead><tr><th></th><th>time (UTC)</th><th>category</th>'
            "<th>operation</th><th>entity</th><th>status</th><th>job</th><th>duration</th><th>error</th>"
            f"</tr></thead><tbody>{body}</tbody></table></div>"
        )
        return block("LlamaLog", self.title, self.caption(), body=table, more=more)

    def _repr_html_(self) -> str:
        return self.to_html()


def log_table(
    rows: pl.DataFrame,
    *,
    title: str = "",
    page: int = 1,
    page_size: int = PAGE_SIZE,
    reused: Iterable[str] = (),
) -> LogTable:
    """``rows`` (any frame of log rows) as the admin log table; ``page`` of ``page_size`` rows.
    A job id that ran more than once among the rows, or in the table (``reused``,
    :func:`~llamalog_analytics.chains.reran`), is named with its run (``292 #2``)."""
    return LogTable(log_rows(rows, ("id", "operation")), title, 1, page_size, tuple(reused)).page(page)


def log_rows(rows: object, needed: Sequence[str], error: type[LlamalogError] = ArgumentError) -> pl.DataFrame:
    """``rows`` as a frame of log rows (a lazy frame collected), or ``error`` saying what they
    lack: one of the ``needed`` columns, or being a frame at all.

    Examples:
        >>> log_rows(pl.DataFrame({"a": [1]}), ("id", "operation"))
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: the rows lack id, operation. Hint: pass log rows, \
such as lla.chain(store, 'ALBUM', album_id) or store.table()
    """
    if isinstance(rows, pl.LazyFrame):
        rows = rows.collect()
    if not isinstance(rows, pl.DataFrame):
        raise error(
            f"log rows are a polars DataFrame, not a value of type {type(rows).__name__}. Hint: pass "
            "log rows, such as lla.chain(store, 'ALBUM', album_id) or store.table()"
        )
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise error(
            f"the rows lack {', '.join(missing)}. Hint: pass log rows, such as "
            "lla.chain(store, 'ALBUM', album_id) or store.table()"
        )
    return rows


def category_badge(category: str | None) -> str:
    """A category as a coloured badge with its name (CREATED with the llama drawn beside it)."""
    look = style.category_style(category)
    llama = style.LLAMA_SVG if category == "CREATED" else ""
    return (
        f'<span class="badge category" style="background:{look.colour};border-color:{look.colour}">'
        f"{llama}{escape(category or 'no category')}</span>"
    )


def status_badge(status: str | None) -> str:
    """A log status as an outlined badge, labelled as the admin table labels it."""
    if status is None:
        return ""
    look = style.STATUS_STYLES.get(status, style.Style("#57606a", "", status))
    label = escape(look.label)
    return f'<span class="badge" style="color:{look.colour}" title="{escape(status)}">{label}</span>'


ID_SHOWN = 8  # characters of an id shown in a cell; the tooltip and the copy button have it all


def id_cell(value: object) -> str:
    """An id in monospace that does not wrap: its start shown, the whole id in the tooltip, a copy button."""
    if value is None:
        return ""
    whole = str(value)
    text = escape(whole)
    short = escape(shorten(whole, ID_SHOWN + 1))
    return (
        f'<span class="id" title="{text}">{short}</span>'
        f'<button class="copy" title="copy {text}" data-copy="{text}" '
        'onclick="navigator.clipboard && navigator.clipboard.writeText(this.dataset.copy)">'
        f"{_COPY_ICON}</button>"
    )


def _reran(rows: pl.DataFrame, reused: Iterable[str]) -> set[str]:
    """The job ids of ``rows`` named with their run (``292 #2``), as the timeline names them
    (:func:`~llamalog_analytics._lanes.named_with_run`); an id that ran once stays bare."""
    if "job_instance" not in rows.columns:
        return set()
    named = rows.with_columns(pl.col("job_id").cast(pl.String)).filter(named_with_run(reused))
    return set(named["job_id"].drop_nulls().to_list())


def _row(row: dict[str, Any], columns: list[str], toggle: str, reran: set[str]) -> str:
    relation = row.get("relation")
    depth = abs(row.get("depth") or 0)
    mark = _RELATION_MARKS.get(relation or "", "")
    operation = (
        f'<span style="margin-left:{depth * 1.2:.1f}em" title="{escape(relation or "")}, depth {depth}">'
        f"{mark} {escape(row.get('operation') or '')}</span>"
    )
    kind = row.get("entity_type")
    # a row may name its subject only by its own id column (admin corrections: album_id alone)
    subject = row.get("entity_id") or row.get(schema.TYPED_ID.get(kind or "", ""))
    entity = f"{escape(kind or '')} {id_cell(subject)}"
    job = ""
    if row.get("job_id") is not None:
        job_id = str(row["job_id"])
        run = f" #{row['job_instance']}" if job_id in reran and row.get("job_instance") is not None else ""
        job = f'<span class="id" title="job {escape(job_id)}{run}">{escape(shorten(job_id, 25))}{run}</span>'
    error = row.get("error_message") or row.get("error_code") or ""
    details = {c: _json_value(c, row[c]) for c in columns if c not in _SHOWN}
    pretty = escape(json.dumps(details, indent=2, ensure_ascii=False, default=str))
    return (
        f'<tr><td><input class="toggle" type="checkbox" id="{toggle}">'
        f'<label for="{toggle}" title="show the JSON details">▸</label></td>'
        f'<td class="time">{escape(moment(row.get("created_at")))}</td>'
        f'<td>{category_badge(row.get("category"))}</td><td class="nowrap">{operation}</td>'
        f'<td class="nowrap">{entity}</td>'
        f"<td>{status_badge(row.get('status'))}</td><td>{job}</td>"
        f'<td class="number">{duration(row.get("duration_ms"))}</td>'
        f'<td class="error"><span title="{escape(str(error))}">{escape(str(error))}</span></td></tr>'
        f'<tr class="details"><td></td><td colspan="8"><pre>{pretty}</pre></td></tr>'
    )


def _json_value(column: str, value: Any) -> Any:
    """A JSON column's text parsed (so it prints as JSON, not as a quoted string); others as they are."""
    if column in _JSON_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
