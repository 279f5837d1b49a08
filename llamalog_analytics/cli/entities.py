"""``llamalog chain``, ``explain``, ``graph`` and ``timeline``: one album, artist or track."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .._format import count, moment, printable, shorten
from ._options import (
    ENTITY_TYPE,
    ROWS,
    as_options,
    chain_options,
    db_option,
    format_choice,
    friendly_errors,
    link_options,
    open_store,
    output_format,
    table_option,
)
from ._terminal import terminal_width, wrapped

_SUMMARY_COLUMNS = ("created_at", "category", "operation", "entity", "status", "job_id", "parent_job_id")
_GRAPH_FORMATS = ("graphml", "node-link", "dot", "prov-json", "otlp", "perfetto")  # graph --format


@click.command("chain", short_help="Print one album, artist or track's provenance chain.")
@click.argument("entity_type", type=ENTITY_TYPE)
@click.argument("entity_id")
@chain_options
@link_options
@click.option(
    "--mode",
    type=click.Choice(["provenance", "entity"]),
    default="provenance",
    show_default=True,
    help="provenance: the entity's rows, their ancestors and descendants, oldest first. "
    "entity: the admin UI's flat list, newest first.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Entity mode: page size, as the resolver pages.")
@click.option("--cursor", help="Entity mode: the id the previous page ended with.")
@format_choice(ROWS, "table: a summary to read; csv and json: every column plus the chain's annotations.")
@friendly_errors
def chain_command(
    entity_type: str,
    entity_id: str,
    db: str,
    table: str,
    categories: tuple[str, ...],
    since: str | None,
    until: str | None,
    link: str,
    reuse_gap: str | None,
    mode: str,
    limit: int | None,
    cursor: str | None,
    output: str,
) -> None:
    """Print the log rows of one album, artist or track: how it got here and what happened after."""
    from .._lanes import entity_names
    from ..chains import chain, chain_page, named_otherwise, reran, runs

    cursor = cursor or None  # --cursor "$LAST_ID" before there is one: the first page
    if mode != "entity" and (limit is not None or cursor is not None):
        raise click.UsageError("--limit and --cursor page the entity mode: add --mode entity")
    filters: dict[str, Any] = {
        "categories": categories or None,
        "since": since,
        "until": until,
        "table": table,
    }
    footer = empty = paging = names = None
    with open_store(db, read_only=True) as store:
        if limit is not None or cursor is not None:
            page = chain_page(store, entity_type, entity_id, limit=limit or 20, cursor=cursor, **filters)
            rows, matching = page.logs, page.total_count
            paging = {"total_count": page.total_count, "has_more": page.has_more, "cursor": page.cursor}
            footer = f"total_count {page.total_count}, has_more {str(page.has_more).lower()}"
            footer += f", next --cursor {page.cursor}" if page.has_more else ""
        else:
            rows = chain(store, entity_type, entity_id, mode=mode, link=link, reuse_gap=reuse_gap, **filters)
            matching = rows.height
        if rows.is_empty() or paging is not None or categories or since or until:
            whole = chain(
                store, entity_type, entity_id, mode=mode, link=link, reuse_gap=reuse_gap, table=table
            )
            names = entity_names(whole)  # as the whole chain names them: a row left out may name one
        if rows.is_empty():
            subject = f"{entity_type.upper()} {entity_id.strip()}"
            asked = [o for o, v in (("--category", categories), ("--since", since), ("--until", until)) if v]
            named = None
            if whole.is_empty():  # rows may name the id as another type
                named = named_otherwise(
                    store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap
                )
            empty = _why_empty(subject, table, whole.height, matching, asked, cursor, named)
        reused: list[str] = []  # job ids that ran more than once in the table: their rows name the run
        if output == "table" and not rows.is_empty():
            if "job_instance" not in rows.columns:  # the entity's own rows: their runs, as its chain has them
                ran = chain(store, entity_type, entity_id, link=link, reuse_gap=reuse_gap, table=table)
                ran = ran.select("id", "job_instance", "parent_instance")
                rows = rows.join(ran, on="id", how="left", maintain_order="left")
            jobs = rows["job_id"].append(rows["parent_job_id"]).drop_nulls().unique()
            reused = reran(runs(store, jobs, table=table, link=link, reuse_gap=reuse_gap))
    if empty:
        click.echo(f"[🦙 LlamaLog] {as_options(empty)}", err=True)
    if output == "table":
        _print_table(rows, mode, names, reused)
    elif output == "json" and paging is not None:  # a page as the resolver gives it: logs and where next
        click.echo(json.dumps({"logs": json.loads(_file_text(rows, output)), **paging}, ensure_ascii=False))
        footer = None
    else:  # csv and json: a header or [] when there are no rows, for scripts
        click.echo(_file_text(rows, output), nl=False)
    if footer:
        click.echo(footer, err=output != "table")


def _why_empty(
    subject: str,
    table: str,
    unfiltered: int,
    matching: int,
    filters: list[str],
    cursor: str | None,
    named: str | None,
) -> str:
    """Why a chain printed no rows: no row names the entity (``named``: as
    :func:`~llamalog_analytics.chains.no_rows`), the ``filters`` (options) left none of its
    ``unfiltered`` rows, or none of the ``matching`` rows comes after ``cursor``."""
    from ..chains import no_rows

    if not unfiltered:
        return no_rows(subject, table, named)
    if not matching:
        named = f"{', '.join(filters[:-1])} and {filters[-1]}" if len(filters) > 1 else filters[0]
        return f"none of the {count(unfiltered, 'row')} for {subject} match {named}"
    return (
        f"no rows after --cursor {cursor}: it is the last of the {count(matching, 'row')}, or not one of them"
    )


def _print_table(
    rows: Any, mode: str, names: dict[str, str] | None = None, reused: Sequence[str] = ()
) -> None:
    """``rows`` as a table, each row's entity named by ``names`` (entity id → name) when given,
    else by the rows themselves; a job or parent job id among ``reused`` (ids that ran more than
    once) is named with its run, ``292 #2``, as a timeline names it."""
    import polars as pl

    from .._lanes import subjects

    columns = [
        *_SUMMARY_COLUMNS[:1],
        *(("relation", "depth") if mode == "provenance" else ()),
        *_SUMMARY_COLUMNS[1:],
    ]
    if rows.is_empty():
        return
    rows = rows.with_columns(subjects(rows, names))
    if reused:
        rows = rows.with_columns(
            _with_run("job_id", "job_instance", reused), _with_run("parent_job_id", "parent_instance", reused)
        )
    width = terminal_width()
    if width is not None:
        click.echo(_fitted(rows.select(columns), width))
        return
    with pl.Config(  # not to a terminal: every column in full, for scripts
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=220,
        fmt_str_lengths=48,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        click.echo(
            str(
                rows.select(columns).with_columns(
                    pl.col(pl.String).map_elements(printable, return_dtype=pl.String)
                )
            )
        )


def _with_run(job: str, run: str, reused: Sequence[str]) -> Any:
    """The ``job`` column, each id among ``reused`` followed by its ``run`` (``292 #2``)."""
    import polars as pl

    from .._lanes import with_run

    return with_run(pl.col(job), pl.col(run), pl.col(job).is_in(reused) & pl.col(run).is_not_null()).alias(
        job
    )


def _cut(text: str, width: int) -> str:
    """A cell cut to ``width``, a job's run (`` #2``) kept at its end.

    Examples:
        >>> _cut("track-638ecdf7-fae4 #2", 12), _cut("enrichment:album", 12)
        ('track-63… #2', 'enrichment:…')
    """
    job, mark, run = text.rpartition(" #")
    if mark and run.isdigit() and len(text) > width > len(mark + run):
        return shorten(job, width - len(mark + run)) + mark + run
    return shorten(text, width)


# The chain table in a terminal narrower than it, cut least useful first: a column in turn to
# the width given here (only as far as the table needs), or left out (0). The time, relation,
# category, operation and the entity each row is about stay readable; the job id goes before
# the entity does (who a row is about says more than the start of its job's id).
_NARROWING = (
    ("depth", 0),
    ("parent_job_id", 13),
    ("job_id", 16),
    ("entity", 22),
    ("status", 10),
    ("parent_job_id", 0),
    ("status", 0),
    ("job_id", 12),
    ("operation", 22),
    ("entity", 14),
    ("job_id", 8),
    ("operation", 16),
    ("job_id", 0),
    ("entity", 10),
    ("entity", 0),
)


def _fitted(rows: Any, width: int) -> str:
    """``rows`` as columns two spaces apart, fitted to ``width`` characters by :data:`_NARROWING`
    (a value cut ends in …); no value is shown as nothing.

    Examples:
        >>> from datetime import datetime
        >>> import polars as pl
        >>> rows = pl.DataFrame({"created_at": [datetime(2026, 2, 15, 7, 23, 43, 355000)],
        ...     "relation": "descendant", "depth": 1, "category": "CREATED",
        ...     "operation": "track:created:enrichment", "status": "SUCCESS",
        ...     "job_id": "track-638ecdf7-fae4-42f2-8802-5a69586d6692", "parent_job_id": "1074"})
        >>> print(_fitted(rows, 80))
        created_at (UTC)         relation    category  operation               job_id
        2026-02-15 07:23:43.355  descendant  CREATED   track:created:enrichm…  track-63…
    """
    texts = {name: [_HEADERS.get(name, name), *map(_cell, rows[name].to_list())] for name in rows.columns}
    full = {name: max(map(len, column)) for name, column in texts.items()}
    widths = dict(full)

    def over() -> int:
        return sum(widths.values()) + 2 * (len(widths) - 1) - width

    for name, narrowest in _NARROWING:
        if over() <= 0:
            break
        if not narrowest:
            widths.pop(name, None)
        elif name in widths:
            widths[name] = min(widths[name], max(narrowest, widths[name] - over()))
    for name in widths:  # room left (a column left out freed more): to the columns cut, leftmost first
        widths[name] += max(0, min(full[name] - widths[name], -over()))
    columns = ([_cut(text, w).ljust(w) for text in texts[name]] for name, w in widths.items())
    return "\n".join("  ".join(line).rstrip() for line in zip(*columns, strict=True))


_HEADERS = {"created_at": "created_at (UTC)"}


def _cell(value: object) -> str:
    """A value as the fitted table shows it: a time to the millisecond, no value as nothing,
    log text's escapes and line breaks shown (:func:`printable`)."""
    return moment(value) if isinstance(value, datetime) else "" if value is None else printable(str(value))


def _file_text(rows: Any, output: str) -> str:
    """``rows`` as the file :func:`~llamalog_analytics.export.write_logs` writes in format ``output``."""
    from ..export import write_logs

    return _written_text(lambda path: write_logs(rows, path), f"chain.{output}")


def _write_out(write: Callable[[Path], object], file: str | None, name: str = "out") -> None:
    """Write with ``write`` to ``file``, or, for None (``--out -``), print what it writes to a
    file called ``name`` on standard output."""
    if file is None:
        click.echo(_written_text(write, name), nl=False)
    else:
        write(Path(file))


def _written_text(write: Callable[[Path], object], name: str = "out") -> str:
    """The text ``write`` writes to a file called ``name``: a file's contents, for standard output."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write(path)
        return path.read_text(encoding="utf-8")


@click.command(short_help="Explain in words how one entity got here and what followed.")
@click.argument("entity_type", type=ENTITY_TYPE)
@click.argument("entity_id")
@db_option()
@table_option
@link_options
@friendly_errors
def explain(entity_type: str, entity_id: str, db: str, table: str, link: str, reuse_gap: str | None) -> None:
    """Explain in words how one album, artist or track got here and what happened to it."""
    from ..explanation import explain as explain_entity

    with open_store(db, read_only=True) as store:
        found = explain_entity(store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
    click.echo(wrapped(str(found), terminal_width()))


@click.command(short_help="Export one entity's provenance graph, or its chain as traces.")
@click.argument("entity_type", type=ENTITY_TYPE)
@click.argument("entity_id")
@db_option()
@table_option
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file; the suffix picks the format: .graphml, .json (node-link), .dot, "
    ".prov.json (W3C PROV), .otlp.json (OpenTelemetry traces), .perfetto.json (Perfetto). "
    "'-': standard output, in the format --format names.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(_GRAPH_FORMATS),
    help="Format, when the suffix does not say (one that does must agree).",
)
@link_options
@friendly_errors
def graph(
    entity_type: str,
    entity_id: str,
    db: str,
    table: str,
    out: str,
    output: str | None,
    link: str,
    reuse_gap: str | None,
) -> None:
    """Export one entity's provenance graph (rows, job runs, entities, agents), or its chain as
    traces: OTLP/JSON for Jaeger or Grafana Tempo, Chrome trace JSON for ui.perfetto.dev."""
    from ..chains import chain, named_otherwise, no_rows
    from ..errors import ChainError, ExportError
    from ..export import write_graph, write_trace
    from ..graph import provenance_graph

    if out == "-" and output is None:
        formats = f"{', '.join(_GRAPH_FORMATS[:-1])} or {_GRAPH_FORMATS[-1]}"
        raise ExportError(
            "--out - writes to standard output, which has no name to say the format. "
            f"Hint: add --format {formats}"
        )
    kind, output = output_format(out, ("trace", "graph"), output, format_option=True)
    file = None if out == "-" else out  # "-": standard output, as is conventional
    linking: dict[str, Any] = {"table": table, "link": link, "reuse_gap": reuse_gap}
    with open_store(db, read_only=True) as store:
        if kind == "trace":
            rows = chain(store, entity_type, entity_id, **linking)
        else:
            built = provenance_graph(store, entity_type, entity_id, **linking)
        if rows.is_empty() if kind == "trace" else not built.number_of_nodes():
            named = named_otherwise(store, entity_type, entity_id, **linking)
            raise ChainError(no_rows(f"{entity_type.upper()} {entity_id.strip()}", table, named, file))

    def write(path: str | Path) -> object:
        return write_trace(rows, path, output) if kind == "trace" else write_graph(built, path, output)

    _write_out(write, file)
    if kind == "trace":
        said = f"the chain's {count(rows.height, 'row')} as {output} traces"
    elif output == "prov-json":  # runs fold into their rows' relations: count what the file holds
        from ..graph import prov_document

        records = prov_document(built).get_records()
        elements = sum(record.is_element() for record in records)
        said = f"{count(elements, 'element')} and {count(len(records) - elements, 'relation')}"
    else:
        said = f"{count(built.number_of_nodes(), 'node')} and {count(built.number_of_edges(), 'edge')}"
    click.echo(f"[🦙 LlamaLog] wrote {said} to {file or 'standard output'}", err=file is None)


@click.command(short_help="Draw one entity's chain as a timeline (HTML or PNG).")
@click.argument("entity_type", type=ENTITY_TYPE)
@click.argument("entity_id")
@chain_options
@link_options
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="FILE.html: a standalone page that opens offline; FILE.png: a static image (needs kaleido "
    "and Chrome or Chromium); '-': the page on standard output.",
)
@click.option(
    "--idle-gap",
    default="1min",
    show_default=True,
    help="Pauses longer than this are cut to a narrow band (e.g. 10min, 2h); 'off' keeps one unbroken axis.",
)
@friendly_errors
def timeline(
    entity_type: str,
    entity_id: str,
    db: str,
    table: str,
    categories: tuple[str, ...],
    since: str | None,
    until: str | None,
    link: str,
    reuse_gap: str | None,
    out: str,
    idle_gap: str,
) -> None:
    """Draw one entity's provenance chain as a timeline: one lane per job run, time in UTC, idle
    pauses collapsed."""
    from ..export import write_timeline
    from ..timeline import plot_timeline

    file = None if out == "-" else out  # "-": standard output, as is conventional
    if file is not None:
        output_format(file, ("timeline",))
    with open_store(db, read_only=True) as store:
        figure = plot_timeline(
            store,
            entity_type,
            entity_id,
            categories=categories or None,
            since=since,
            until=until,
            table=table,
            link=link,
            reuse_gap=reuse_gap,
            idle_gap=None if idle_gap.lower() == "off" else idle_gap,
        )
    _write_out(lambda path: write_timeline(figure, path), file, "timeline.html")
    said = _plain(figure.layout.title.text or "the timeline")  # what it is, then what it holds
    if figure.layout.title.subtitle.text:
        said += f" ({_plain(figure.layout.title.subtitle.text)})"
    click.echo(f"[🦙 LlamaLog] wrote {said} to {file or 'standard output'}", err=file is None)


def _plain(text: str) -> str:
    """A plotly title as plain text: line breaks as separators, no tags, entities decoded."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<br\s*/?>", " · ", text)))
