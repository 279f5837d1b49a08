"""``llamalog load``, ``info``, ``synth`` and ``demo``: fill the store and see what it holds."""

from __future__ import annotations

import os
import sys

import click

from .. import schema as schema_module
from ._options import db_option, friendly_errors


@click.command()
@click.argument("sources", nargs=-1)
@db_option()
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
@friendly_errors
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
    from ..store import LogStore

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


@click.command()
@db_option()
@friendly_errors
def info(db: str) -> None:
    """Show the store's tables, row counts, categories, date range and load history."""
    from ..store import LogStore
    from ..summary import summarize

    with LogStore(db, read_only=True) as store:
        click.echo(str(summarize(store)))


@click.command()
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
@friendly_errors
def synth(rows: int, seed: int, out: str, before: str | None, naming: str) -> None:
    """Generate realistic synthetic LlamaLog rows."""
    from ..export import write_logs
    from ..synthetic import generate

    data = generate(rows, seed=seed)
    write_logs(data.llama_logs, out, naming=naming)  # type: ignore[arg-type]
    click.echo(f"[🦙 LlamaLog] wrote {data.llama_logs.height:,} rows to {out}")
    if before:
        write_logs(data.enrichment_logs, before, naming=naming)  # type: ignore[arg-type]
        click.echo(f"[🦙 LlamaLog] wrote {data.enrichment_logs.height:,} pre-migration rows to {before}")


@click.command()
@db_option("llamalog-demo.duckdb")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def demo(db: str, quiet: bool) -> None:
    """Load the bundled sample data into a local store, show what it holds, audit the migration
    and write the HTML audit report beside the store."""
    from ..sample import demo as run_demo

    click.echo(str(run_demo(db, quiet=quiet)))
