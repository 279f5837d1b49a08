"""The answer in words: how an album, artist or track got into the table, what happened to it
afterward, and what looks wrong on its provenance chain.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     album = store.execute("SELECT album_id FROM llama_logs WHERE category = 'CREATED' "
    ...                           "AND album_id IS NOT NULL ORDER BY created_at LIMIT 1")[0][0]
    ...     explanation = lla.explain(store, "ALBUM", album)
    >>> str(explanation).splitlines()[1].startswith("  how it got here: ")
    True
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from typing import TYPE_CHECKING, Any

import polars as pl

from . import rules, schema
from ._format import count, moment, printable, verb
from ._html import block
from ._lanes import entity_names
from .chains import chain, named_otherwise, reran, runs
from .log_view import log_table
from .store import require_store

if TYPE_CHECKING:
    from .store import LogStore


@dataclass(repr=False)
class Explanation:
    """How an entity got into the table, what happened to it afterward, and what looks wrong:
    ``str()`` says it in words, a notebook shows it with the chain's rows."""

    entity_type: str
    entity_id: str
    rows: pl.DataFrame  # the provenance chain
    created: dict[str, Any] | None  # the first CREATED row of the entity itself
    per_month: pl.DataFrame  # the entity's own rows per month and category
    last_failure: dict[str, Any] | None
    corrections: pl.DataFrame
    anomalies: list[str] = field(default_factory=list)
    named_as: str | None = None  # when no row names it: the type rows name its id as
    album: str | None = None  # a track's album, its title first when the chain gives one
    name: str | None = None  # its title or name, when a row of the chain gives one
    reused: tuple[str, ...] = ()  # the chain's job ids that ran more than once in the table

    def lines(self) -> Iterator[str]:
        kind = self.entity_type.lower()
        yield f"{self.entity_type} {self.entity_id}" + (f" ({self.name})" if self.name else "")
        own = self.rows.filter(pl.col("relation") == "self")
        if own.is_empty():
            yield "  no log rows name this entity" + (f"; {self.named_as}" if self.named_as else ".")
            return
        if self.created is None:
            first = own.row(0, named=True)
            seen = f"first seen {_when(first)} ({first['operation']})"
            yield f"  how it got here: no row records its creation; {seen}"
        else:
            c = self.created
            who = " by an unknown trigger"
            if c["by"]:
                who = f" by {c['by']}"
            elif c["entry_by"]:  # its row names no one; the row that started its job tree may
                who = f", started by {c['entry_by']}"
            job = f"root job {c['chain_root']}"
            if c["chain_root"] is None:  # no job above it: it is in none, or its links loop
                in_none = c["job_id"] is None and c["parent_job_id"] is None
                job = "outside any job" if in_none else "on a loop of parent links (no root job)"
            yield f"  how it got here: {c['operation']} at {_when(c)}{who}; {job}"
            if c["unsure"]:
                yield (
                    f"    perhaps no creation: labelled CREATED, yet {c['unsure']} by the application's "
                    "rules, and without the category migration's time the store cannot tell the "
                    "migration's catch-all label apart. Hint: llamalog load _prisma_migrations.csv "
                    "--as _prisma_migrations"
                )
            if c["entry"] != c["operation"]:
                yield f"    entry point: {c['entry']}"
        if self.entity_type == "TRACK":
            yield f"  album: {self.album or 'no row names it'}"
        after = own.filter(~_before_creation(self.created))
        if self.created is not None:  # the creation itself is how it got here, not afterward
            after = after.filter(pl.col("id") != self.created["id"])
        else:  # nor is the first row seen, which says it
            after = after.slice(1)
        # rows about another entity that name this one (an album's CREATED row naming its artist)
        naming = pl.col("entity_type").is_not_null() & (pl.col("entity_type") != self.entity_type)
        its = after.filter(~naming)
        about = f"{count(its.height, 'more row')} about this {kind}{_tally(its)}"
        for (other,), rows in after.filter(naming).group_by("entity_type", maintain_order=True):
            about += f" and {count(rows.height, f'{other} row')} naming it{_tally(rows)}"
        yield f"  afterward: {about}, {self.rows.height} in its chain"
        if self.last_failure is not None:
            f = self.last_failure
            why = _first_line(f["error_message"] or f["error_code"]) or "no error message or code logged"
            yield f"  last failure: {f['operation']} at {_when(f)}: {why}"
        if not self.corrections.is_empty():
            last = self.corrections.row(-1, named=True)
            yield f"  corrections: {self.corrections.height} (last {_when(last)})"
        yield "  anomalies:" + ("" if self.anomalies else " none")
        for anomaly in self.anomalies:
            yield f"    - {anomaly}"

    def __str__(self) -> str:
        return "\n".join(map(printable, self.lines()))  # log text's escapes and line breaks shown, not obeyed

    def __repr__(self) -> str:
        found = (
            f"{count(self.rows.height, 'chain row')}, {count(len(self.anomalies), 'anomaly', 'anomalies')}"
        )
        return f"Explanation({self.entity_type} {self.entity_id}: {found})"

    def _repr_html_(self) -> str:
        lines = list(self.lines())
        said = [line.strip() for line in lines[1:] if not line.startswith(("  anomalies:", "    - "))]
        items = "".join(f"<li>{escape(line)}</li>" for line in said)
        anomalies = "".join(f"<li>{escape(a)}</li>" for a in self.anomalies)
        anomalies = f"<p><b>Anomalies</b></p><ul>{anomalies}</ul>" if anomalies else "<p>No anomalies.</p>"
        chain = (
            log_table(self.rows, title="its provenance chain", reused=self.reused).to_html()
            if self.rows.height
            else ""
        )
        return block("LlamaLog", lines[0], body=f"<ul>{items}</ul>{anomalies}") + chain


def _tally(rows: pl.DataFrame) -> str:
    """The rows counted per category, in parentheses ("" for none)."""
    counts = rows.group_by("category").len().sort("category")
    tally = ", ".join(f"{n} {_category_word(category)}" for category, n in counts.iter_rows())
    return f" ({tally})" if tally else ""


FAILURE_SHOWN = 200
"""Characters of an error message's first line an explanation shows; the row keeps it whole."""


def _first_line(message: str | None) -> str | None:
    """An error message's first line, at most :data:`FAILURE_SHOWN` characters of it, marked as
    cut when there is more (a stack trace, say, or a response body logged whole).

    Examples:
        >>> _first_line("fetch failed\\n    at node:internal/deps/undici:13502:13")
        'fetch failed …'
        >>> len(_first_line("x" * 1_000_000))
        202
    """
    lines = (message or "").strip().splitlines()
    if not lines:
        return message
    first = lines[0].rstrip()
    return first[:FAILURE_SHOWN] + (" …" if len(lines) > 1 or len(first) > FAILURE_SHOWN else "")


def _category_word(category: str | None) -> str:
    """A category as a count's noun of the rows after the creation: a known one in lower case
    (CREATED "labelled created": such a row is no creation, or another one), another label
    quoted as stored.

    Examples:
        >>> _category_word("USER_ACTION"), _category_word("user_action"), _category_word(None)
        ('user_action', "'user_action' (not a category)", 'without a category')
        >>> _category_word("CREATED")
        'labelled created'
    """
    if category is None:
        return "without a category"
    if category == "CREATED":
        return "labelled created"
    return category.lower() if category in schema.CATEGORIES else f"'{category}' (not a category)"


def _when(row: dict[str, Any]) -> str:
    return _utc(row["created_at"])


def _utc(value: Any) -> str:
    """A time as the text says it, marked UTC (the store's times are).

    Examples:
        >>> from datetime import datetime
        >>> _utc(datetime(2026, 3, 1, 12))
        '2026-03-01 12:00:00.000 UTC'
    """
    return f"{moment(value)} UTC"


def explain(
    store: LogStore,
    entity_type: str,
    entity_id: str,
    *,
    table: str = schema.CURRENT_TABLE,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
) -> Explanation:
    """The answer to "how did this entity get here, and what happened to it afterward?".

    Args:
        store: the store to read.
        entity_type, entity_id: the entity: ``ALBUM``, ``ARTIST`` or ``TRACK`` and its id.
        table: the log table to read (``enrichment_logs`` for the pre-migration snapshot).
        link, reuse_gap: how parent links are followed (see :func:`chain`); a job id on the
            chain that ran more than once is named, with the run the chain follows.

    Printed (``str``) it reads as ``llamalog explain`` prints it; in a notebook it is a page
    with the chain's rows as the admin log table.
    """
    require_store(store, "explain")
    with store.session():  # one view of the store for the chain, the migrations and the runs
        rows = chain(store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
        migrated = store.applied_migrations().get(schema.CATEGORY_MIGRATION)
        job_ids = pl.concat([rows["job_id"], rows["parent_job_id"]]).drop_nulls().unique()
        ran = runs(store, job_ids, table=table, link=link, reuse_gap=reuse_gap)
        named = None
        if rows.is_empty():  # rows may name the id as another type
            named = named_otherwise(
                store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap
            )
    own = rows.filter(pl.col("relation") == "self")
    kind = entity_type.upper()
    # CREATED rows about this entity (an album's CREATED row that also names its artist does
    # not tell how the artist got here), each with what it was (rules.creation): a row the
    # category backfill's catch-all labelled may be no creation.
    labelled = own.filter((pl.col("category") == "CREATED") & (pl.col("entity_type") == kind))
    labelled = (
        labelled.with_columns(rules.album_created())
        .with_columns(rules.creation(migrated).alias("intended"))
        .drop("album_created")
    )
    first_created = labelled.filter(pl.col("intended") == "CREATED").drop("intended").head(1)
    created = None
    if not first_created.is_empty():
        created = first_created.to_dicts()[0]
        entry = _entry_point(rows, created)
        created |= {"entry": entry["operation"], "by": _who(created), "entry_by": _who(entry)}
        # without the migration's time, a label its catch-all gave looks like a creation
        by_rules = first_created.select(pl.sql_expr(rules.APPLICATION.case())).item()
        created["unsure"] = by_rules if migrated is None and by_rules != "CREATED" else None
    per_month = (
        own.group_by(pl.col("created_at").dt.truncate("1mo").alias("month"), "category")
        .len("rows")
        .sort("month", "category")
    )
    failures = own.filter((pl.col("category") == "FAILED") | (pl.col("status") == "FAILED"))
    key = str(uuid.UUID(str(entity_id).strip()))  # chain took it as a UUID: as the rows write it
    names = entity_names(rows) if not rows.is_empty() else {}
    return Explanation(
        kind,
        key,
        rows,
        created,
        per_month,
        failures.tail(1).to_dicts()[0] if not failures.is_empty() else None,
        own.filter(pl.col("category") == "CORRECTED"),
        _anomalies(rows, own, created, ran, labelled.filter(pl.col("intended") != "CREATED")),
        named,
        _album(own, names) if kind == "TRACK" else None,
        names.get(key),
        tuple(reran(ran)),
    )


def _album(own: pl.DataFrame, names: dict[str, str]) -> str | None:
    """The album a track's own rows name first (their ``album_id``, else the metadata's
    ``albumId``, where the application writes it), with its title when the chain's rows give
    one (``names``: id → title); None when none names one."""
    named = own.filter(pl.col("entity_type") == "TRACK").select(
        pl.coalesce("album_id", pl.col("metadata").str.json_path_match("$.albumId"))
    )
    albums = named.to_series().drop_nulls()
    if albums.is_empty():
        return None
    title = names.get(albums[0])
    return f"{title} ({albums[0]})" if title else albums[0]


def _who(row: dict[str, Any]) -> str | None:
    """Who a row says wrote it: its user, else what triggered it; None when it names neither."""
    return f"user {row['user_id']}" if row["user_id"] else row["triggered_by"]


def _entry_point(rows: pl.DataFrame, created: dict[str, Any]) -> dict[str, Any]:
    """The row that started what created the entity: the first row of the top run above
    ``created`` on the chain (each run's parent being its first row's, as ``chain_root`` is
    found), or ``created`` itself when it is in no job or on a loop."""
    run = _parent_run(created)
    if run is None and created["job_id"] is not None:  # no parent: its own run is the top
        run = (created["job_id"], created["job_instance"])
    at, seen = created, set()
    while run is not None:
        if run in seen:  # a loop: no top
            return created
        seen.add(run)
        first = rows.filter((pl.col("job_id") == run[0]) & (pl.col("job_instance") == run[1]))
        if first.is_empty():
            break
        at = first.sort("created_at", "id").row(0, named=True)
        run = _parent_run(at)
    return at


def _parent_run(row: dict[str, Any]) -> tuple[str, int] | None:
    """The (job id, ordinal) of the run ``row``'s parent link resolves to; None without one."""
    return None if row["parent_instance"] is None else (row["parent_job_id"], row["parent_instance"])


def _anomalies(
    rows: pl.DataFrame,
    own: pl.DataFrame,
    created: dict[str, Any] | None,
    ran: pl.DataFrame,
    mislabelled: pl.DataFrame,
) -> list[str]:
    """What looks wrong on the chain, from its link annotations and the runs of its job ids
    (``mislabelled``: the entity's CREATED rows that are no creation, with the ``intended``
    category)."""
    found = []
    no_creation = mislabelled.height  # its rows labelled CREATED, each said below to be no creation
    existed = mislabelled.filter(pl.col("intended") == rules.EXISTED)
    if not existed.is_empty():
        first = existed.row(0, named=True)
        found.append(
            f"no creation: {count(existed.height, 'CREATED row')} {verb(existed.height, 'says', 'say')} the "
            f"album existed already (albumCreated false; the first: {first['operation']} at {_when(first)})"
        )
    mislabelled = mislabelled.filter(pl.col("intended") != rules.EXISTED)
    if not mislabelled.is_empty():
        kinds = mislabelled.select("operation", "intended").unique(maintain_order=True).iter_rows()
        said = ", ".join(f"{operation} is {intended}" for operation, intended in kinds)
        found.append(
            f"catch-all CREATED: {count(mislabelled.height, 'row')} labelled CREATED by the category "
            f"backfill's catch-all {verb(mislabelled.height, 'is', 'are')} no creation (by the "
            f"application's rules {said})"
        )
    if not own.is_empty() and created is None:
        if own["category"].is_null().all():
            found.append(
                "no categories: none of its rows has one, so none can say how it was created (a table "
                "from before the category migration, such as enrichment_logs, has none; in llama_logs "
                "the category backfill left them empty)"
            )
        elif no_creation:
            found.append(
                f"no creation recorded: its {count(no_creation, 'row')} labelled CREATED "
                f"{verb(no_creation, 'records', 'record')} no creation, and no other row records one"
            )
        else:
            found.append("missing CREATED: no row records how this entity was created")
    earlier = own.filter(_before_creation(created))
    if not earlier.is_empty():
        first = earlier.row(0, named=True)
        found.append(
            f"logged before its creation: {count(earlier.height, 'row')} about it came before its "
            f"CREATED row (the first: {first['operation']} at {_when(first)})"
        )
    days: dict[str, list[Any]] = {}
    for job_id, first in ran.sort("job_id", "job_instance").select("job_id", "first_at").iter_rows():
        days.setdefault(job_id, []).append(first)
    for root in sorted(rows.filter(pl.col("root_dangling"))["chain_root"].unique(), key=_in_number_order):
        if root in days:
            starts = _dates(days[root])
            runs_on = (
                f"runs on {', '.join(starts)} lie" if len(starts) > 1 else f"one run, on {starts[0]}, lies"
            )
            found.append(
                f"dangling parent: job {root}'s own run never logged a row; the id's {runs_on} beyond the "
                "reuse gap (the chain's top is the bare id)"
            )
        else:
            found.append(f"dangling parent: job {root} has no row (the chain's top is a bare id)")
    looped = rows.filter(pl.col("in_cycle"))
    if not looped.is_empty():
        ids = ", ".join(sorted(looped["job_id"].unique(), key=_in_number_order))
        form = verb(looped.height, "forms", "form")
        found.append(f"cycle: {count(looped.height, 'row')} {form} a parent loop ({ids})")
    early = rows.filter(pl.col("before_parent"))
    if not early.is_empty():
        logged = "1 row was" if early.height == 1 else f"{early.height:,} rows were"
        logged += " logged before its" if early.height == 1 else " logged before their"
        first = early.row(0, named=True)  # the chain's table shows no before_parent: say which
        parent = ran.filter(job_id=first["parent_job_id"], job_instance=first["parent_instance"])
        began = ""
        if parent.height:
            began = f"; job {first['parent_job_id']}'s run starts at {_utc(parent['first_at'][0])}"
        found.append(
            f"child before parent: {logged} parent run's first row "
            f"(the first: {first['operation']} at {_when(first)}{began})"
        )
    followed = pl.concat(
        [
            rows.select(job=pl.col("job_id"), run=pl.col("job_instance")),
            rows.select(job=pl.col("parent_job_id"), run=pl.col("parent_instance")),
        ]
    ).drop_nulls()
    by_job = followed.group_by("job").agg(pl.col("run").unique().sort()).iter_rows()
    for job_id, chosen in sorted(by_job, key=lambda found: _in_number_order(found[0])):
        starts = _dates(days.get(job_id, []))  # the followed runs said as the list says them
        if len(starts) > 1:
            runs_followed = ", ".join(starts[run - 1] for run in chosen)
            found.append(
                f"reused job id: job {job_id} ran {len(starts)} times ({', '.join(starts)}); this chain "
                f"follows the {runs_followed} run{'s' if len(chosen) > 1 else ''}"
            )
    return found


def _in_number_order(text: str) -> list[str | int]:
    """A sort key that reads the digits in ``text`` as numbers: job 204 before job 1898.

    Examples:
        >>> sorted(["1898", "204", "sync-10", "sync-9"], key=_in_number_order)
        ['204', '1898', 'sync-9', 'sync-10']
    """
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _before_creation(created: dict[str, Any] | None) -> pl.Expr:
    """Rows logged before the entity's CREATED row ``created`` (none without one)."""
    return pl.lit(False) if created is None else pl.col("created_at") < created["created_at"]


def _dates(moments: list[Any]) -> list[str]:
    """Run start times as dates, with the time of day, to the minute, second or microsecond,
    where two runs would read alike (UTC).

    Examples:
        >>> from datetime import datetime
        >>> _dates([datetime(2026, 3, 1, 2), datetime(2026, 3, 1, 18)])
        ['2026-03-01 02:00', '2026-03-01 18:00']
        >>> _dates([datetime(2026, 3, 1, 2, 0, 5), datetime(2026, 3, 1, 2, 0, 50)])
        ['2026-03-01 02:00:05', '2026-03-01 02:00:50']
    """
    for form in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        said = [f"{m:{form}}" for m in moments]
        if len(set(said)) == len(said):
            return said
    return [f"{m:%Y-%m-%d %H:%M:%S.%f}" for m in moments]
