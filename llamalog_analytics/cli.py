"""``llamalog``: the command line, a thin layer over the library.

Each command parses its options, opens the store, calls one public function and prints the
result. Errors print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from . import schema as schema_module
from .errors import LlamalogError

DEFAULT_DB = "llamalog.duckdb"


def _db_option(default: str = DEFAULT_DB) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--db",
        "db",
        default=default,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="DuckDB store file.",
    )


def _link_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How parent links are followed: --link and --reuse-gap."""
    command = click.option(
        "--reuse-gap",
        default="24h",
        show_default=True,
        help="Rows of one job id further apart than this are separate runs (e.g. 6h, 90min, 2d).",
    )(command)
    return click.option(
        "--link",
        type=click.Choice(["instance", "job-id"]),
        default="instance",
        show_default=True,
        help="instance: a parent link joins the run of that job nearest in time; "
        "job-id: every row that carries the id.",
    )(command)


def _friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the package's errors into a one-line message and exit status 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LlamalogError as exc:
            click.echo(f"[🦙 LlamaLog] error: {exc}", err=True)
            sys.exit(2)

    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llamalog_analytics")
def main() -> None:
    """Load, explore and audit the LlamaLog audit table (llama_logs)."""


@main.command()
@click.argument("sources", nargs=-1)
@_db_option()
@click.option(
    "--as",
    "table",
    default=None,
    help="File loads: the table to load into (default llama_logs; enrichment_logs for a "
    "pre-migration snapshot). Database loads: the one table to read.",
)
@click.option(
    "--schema",
    default=None,
    help="Database loads: the schema to read (default: the URL's ?schema=, else public).",
)
@click.option(
    "--full", is_flag=True, help="Database loads: fetch every row, not only rows newer than the store holds."
)
@click.option("--strict", is_flag=True, help="Exit with status 1 when any row was rejected.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_friendly_errors
def load(
    sources: tuple[str, ...],
    db: str,
    table: str | None,
    schema: str | None,
    full: bool,
    strict: bool,
    quiet: bool,
) -> None:
    """Load files (CSV, CSV.GZ, Parquet, NDJSON, JSON; globs allowed) or a PostgreSQL database
    (a postgresql:// URL, or no SOURCE with DATABASE_URL set) into the store.

    Exit status: 0 loaded, 1 rows were rejected and --strict was given, 2 nothing could be loaded.
    """
    from .store import LogStore

    urls = [s for s in sources if s.startswith(("postgresql://", "postgres://"))]
    if urls and len(sources) > 1:
        raise click.UsageError("load one database URL at a time, without files")
    if not sources and not os.environ.get("DATABASE_URL"):
        raise click.UsageError("give files to load, a postgresql:// URL, or set DATABASE_URL")
    with LogStore(db) as store:
        if sources and not urls:
            result = store.load_files(list(sources), table or schema_module.CURRENT_TABLE, quiet=quiet)
        else:
            url = urls[0] if urls else None
            result = store.load_postgres(url, table=table, schema=schema, full=full, quiet=quiet)
    click.echo(str(result))
    if result.rows_read and not result.rows_loaded:
        sys.exit(2)
    if strict and result.rows_rejected:
        sys.exit(1)


@main.command()
@_db_option()
@_friendly_errors
def info(db: str) -> None:
    """Show the store's tables, row counts, categories, date range and load history."""
    from .store import LogStore
    from .summary import summarize

    with LogStore(db, read_only=True) as store:
        click.echo(str(summarize(store)))


@main.command()
@click.option("--rows", type=click.IntRange(min=1), default=5_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="File for llama_logs; the suffix picks the format (.csv, .csv.gz, .parquet, .ndjson, .json).",
)
@click.option(
    "--before",
    type=click.Path(dir_okay=False),
    help="Also write the pre-migration enrichment_logs snapshot here.",
)
@click.option(
    "--naming",
    type=click.Choice(["snake", "camel"]),
    default="snake",
    show_default=True,
    help="Column names: database (snake) or Prisma/GraphQL (camel).",
)
@_friendly_errors
def synth(rows: int, seed: int, out: str, before: str | None, naming: str) -> None:
    """Generate realistic synthetic LlamaLog rows."""
    from .export import write_logs
    from .synthetic import generate

    data = generate(rows, seed=seed)
    write_logs(data.llama_logs, out, naming=naming)  # type: ignore[arg-type]
    click.echo(f"[🦙 LlamaLog] wrote {data.llama_logs.height:,} rows to {out}")
    if before:
        write_logs(data.enrichment_logs, before, naming=naming)  # type: ignore[arg-type]
        click.echo(f"[🦙 LlamaLog] wrote {data.enrichment_logs.height:,} pre-migration rows to {before}")


@main.command()
@_db_option("llamalog-demo.duckdb")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_friendly_errors
def demo(db: str, quiet: bool) -> None:
    """Load the bundled sample data into a local store, show what it holds, audit the migration
    and write the HTML audit report beside the store."""
    from .sample import demo as run_demo

    click.echo(str(run_demo(db, quiet=quiet)))


@main.command("verify")
@_db_option()
@click.option(
    "--before",
    default=schema_module.LEGACY_TABLE,
    show_default=True,
    help="The pre-migration snapshot's table (skipped checks say so when it is missing).",
)
@click.option("--after", default=schema_module.CURRENT_TABLE, show_default=True, help="The migrated table.")
@click.option(
    "--migrated-at",
    help="When the category migration ran (UTC), if _prisma_migrations was not loaded.",
)
@click.option("--root-job-migrated-at", help="When the root-job migration ran (UTC), likewise.")
@_link_options
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--report", type=click.Path(dir_okay=False), help="Also write the HTML report to this file.")
@_friendly_errors
def verify_command(
    db: str,
    before: str,
    after: str,
    migrated_at: str | None,
    root_job_migrated_at: str | None,
    link: str,
    reuse_gap: str,
    output: str,
    report: str | None,
) -> None:
    """Audit the migration: rows kept, category and root-job backfills, job links.

    Exit status 0 when no check fails, 1 when one fails, 2 when the audit cannot run.
    """
    from .audit import verify
    from .store import LogStore

    with LogStore(db, read_only=True) as store:
        audit = verify(
            store,
            before=before,
            after=after,
            migrated_at=migrated_at,
            root_job_migrated_at=root_job_migrated_at,
            link=link,
            reuse_gap=reuse_gap,
        )
    click.echo(audit.to_json() if output == "json" else str(audit))
    if report:
        click.echo(f"[🦙 LlamaLog] report written to {audit.to_html(report)}", err=True)
    sys.exit(1 if audit.status == "fail" else 0)


_ENTITY_TYPE = click.Choice(["ALBUM", "ARTIST", "TRACK"], case_sensitive=False)


def _chain_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The store and a chain's filters: --db, --table, --category, --since and --until."""
    for option in reversed(
        (
            _db_option(),
            click.option(
                "--table", default=schema_module.CURRENT_TABLE, show_default=True, help="Log table to read."
            ),
            click.option(
                "--category", "categories", multiple=True, help="Keep only this category (repeatable)."
            ),
            click.option(
                "--since", help="Keep rows created at or after this UTC time (e.g. 2026-02-10T16:39:53)."
            ),
            click.option("--until", help="Keep rows created at or before this UTC time."),
        )
    ):
        command = option(command)
    return command


_SUMMARY_COLUMNS = ("created_at", "category", "operation", "status", "job_id", "parent_job_id")


@main.command("chain")
@click.argument("entity_type", type=_ENTITY_TYPE)
@click.argument("entity_id")
@_chain_options
@_link_options
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
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table: a summary to read; csv and json: every column plus the chain's annotations.",
)
@_friendly_errors
def chain_command(
    entity_type: str,
    entity_id: str,
    db: str,
    table: str,
    categories: tuple[str, ...],
    since: str | None,
    until: str | None,
    link: str,
    reuse_gap: str,
    mode: str,
    limit: int | None,
    cursor: str | None,
    output: str,
) -> None:
    """Print the log rows of one album, artist or track: how it got here and what happened after."""
    from .chains import chain, chain_page
    from .store import LogStore

    if mode != "entity" and (limit is not None or cursor is not None):
        raise click.UsageError("--limit and --cursor page the entity mode: add --mode entity")
    filters: dict[str, Any] = {
        "categories": categories or None,
        "since": since,
        "until": until,
        "table": table,
    }
    footer = None
    with LogStore(db, read_only=True) as store:
        if limit is not None or cursor is not None:
            page = chain_page(store, entity_type, entity_id, limit=limit or 20, cursor=cursor, **filters)
            rows = page.logs
            footer = f"total_count {page.total_count}, has_more {str(page.has_more).lower()}"
            footer += f", next --cursor {page.cursor}" if page.has_more else ""
        else:
            rows = chain(store, entity_type, entity_id, mode=mode, link=link, reuse_gap=reuse_gap, **filters)
    if rows.is_empty():
        click.echo(f"[🦙 LlamaLog] no {table} rows for {entity_type.upper()} {entity_id}", err=True)
    if output == "table":
        _print_table(rows, mode)
    elif not rows.is_empty() or output == "json":
        _print_file(rows, output)
    if footer:
        click.echo(footer, err=output != "table")


def _print_table(rows: Any, mode: str) -> None:
    import polars as pl

    columns = [
        *_SUMMARY_COLUMNS[:1],
        *(("relation", "depth") if mode == "provenance" else ()),
        *_SUMMARY_COLUMNS[1:],
    ]
    if rows.is_empty():
        return
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=220,
        fmt_str_lengths=48,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        click.echo(str(rows.select(columns)))


def _print_file(rows: Any, output: str) -> None:
    import tempfile
    from pathlib import Path

    from .export import write_logs

    with tempfile.TemporaryDirectory() as folder:
        path = write_logs(rows, Path(folder) / f"chain.{output}")
        click.echo(path.read_text(encoding="utf-8"), nl=False)


@main.command()
@click.argument("entity_type", type=_ENTITY_TYPE)
@click.argument("entity_id")
@_db_option()
@click.option("--table", default=schema_module.CURRENT_TABLE, show_default=True, help="Log table to read.")
@_link_options
@_friendly_errors
def explain(entity_type: str, entity_id: str, db: str, table: str, link: str, reuse_gap: str) -> None:
    """Explain in words how one album, artist or track got here and what happened to it."""
    from .explanation import explain as explain_entity
    from .store import LogStore

    with LogStore(db, read_only=True) as store:
        found = explain_entity(store, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
    click.echo(str(found))


@main.command()
@click.argument("entity_type", type=_ENTITY_TYPE)
@click.argument("entity_id")
@_db_option()
@click.option("--table", default=schema_module.CURRENT_TABLE, show_default=True, help="Log table to read.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file; the suffix picks the format: .graphml, .json (node-link), .dot, "
    ".prov.json (W3C PROV), .otlp.json (OpenTelemetry traces), .perfetto.json (Perfetto).",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["graphml", "node-link", "dot", "prov-json", "otlp", "perfetto"]),
    help="Format, when the suffix does not say.",
)
@_link_options
@_friendly_errors
def graph(
    entity_type: str,
    entity_id: str,
    db: str,
    table: str,
    out: str,
    output: str | None,
    link: str,
    reuse_gap: str,
) -> None:
    """Export one entity's provenance graph (rows, job runs, entities, agents), or its chain as
    traces: OTLP/JSON for Jaeger or Grafana Tempo, Chrome trace JSON for ui.perfetto.dev."""
    from .chains import chain
    from .export import kind_of, write_graph, write_trace
    from .graph import provenance_graph
    from .store import LogStore

    kind, output = kind_of(out, output, ("trace", "graph"))  # before the work: a bad suffix fails at once
    linking = {"table": table, "link": link, "reuse_gap": reuse_gap}
    with LogStore(db, read_only=True) as store:
        if kind == "trace":
            rows = chain(store, entity_type, entity_id, **linking)
        else:
            built = provenance_graph(store, entity_type, entity_id, **linking)
    if kind == "trace":
        write_trace(rows, out, output)
        click.echo(f"[🦙 LlamaLog] wrote the chain's {rows.height:,} rows as {output} traces to {out}")
        return
    write_graph(built, out, output)
    nodes, edges = built.number_of_nodes(), built.number_of_edges()
    click.echo(f"[🦙 LlamaLog] wrote {nodes:,} nodes and {edges:,} edges to {out}")


@main.command()
@click.argument("entity_type", type=_ENTITY_TYPE)
@click.argument("entity_id")
@_chain_options
@_link_options
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="FILE.html: a standalone page that opens offline; FILE.png: a static image (needs kaleido "
    "and Chrome or Chromium).",
)
@_friendly_errors
def timeline(
    entity_type: str,
    entity_id: str,
    db: str,
    table: str,
    categories: tuple[str, ...],
    since: str | None,
    until: str | None,
    link: str,
    reuse_gap: str,
    out: str,
) -> None:
    """Draw one entity's provenance chain as a timeline: one lane per job, time in UTC."""
    from .export import write_timeline
    from .store import LogStore
    from .timeline import plot_timeline

    with LogStore(db, read_only=True) as store:
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
        )
    click.echo(f"[🦙 LlamaLog] wrote {figure.layout.title.subtitle.text} to {write_timeline(figure, out)}")
