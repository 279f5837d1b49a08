"""``llamalog load``, ``attach``, ``info``, ``rejects``, ``synth`` and ``demo``: fill the store and see what
it holds."""

from __future__ import annotations

import os
import re
import shlex
import sys
from typing import Any

import click

from .. import schema as schema_module
from .._format import count, json_value, shorten
from ._options import (
    ROWS,
    asked_wait,
    db_option,
    fail,
    format_choice,
    friendly_errors,
    open_store,
    output_format,
)
from ._terminal import no_progress, terminal_width, wrapped


@click.command(short_help="Load exported files or a PostgreSQL database into the store.")
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
@click.option(
    "--streams",
    type=click.IntRange(min=1),
    default=None,
    help="Database loads: connections reading a table at once when every row is fetched, over one "
    "snapshot (default: one per two CPUs, up to 8, and one per 64 MiB of table).",
)
@click.option("--strict", is_flag=True, help="Exit with status 1 when any row was rejected.")
@click.option("--quiet", is_flag=True, help="No progress bar (none either when stderr is no terminal).")
@friendly_errors
def load(
    sources: tuple[str, ...],
    db: str,
    table: str | None,
    schema: str | None,
    full: bool,
    streams: int | None,
    strict: bool,
    quiet: bool,
) -> None:
    """Load files (CSV, CSV.GZ, Parquet, NDJSON, JSON; globs allowed) or a PostgreSQL database
    (a postgresql:// URL, or no SOURCE with DATABASE_URL set) into the store.

    Exit status: 0 loaded, 1 rows were rejected and --strict was given, 2 nothing could be loaded.
    """

    sources = tuple(s for s in sources if s)  # "$DATABASE_URL" unset: no source, as if not given
    urls = [s for s in sources if _database_url(s)]
    if urls and len(sources) > 1:
        raise click.UsageError("load one database URL at a time, without files")
    if not sources and not os.environ.get("DATABASE_URL"):
        raise click.UsageError("give files to load, a postgresql:// URL, or set DATABASE_URL")
    if sources and not urls and (full or streams or schema):
        raise click.UsageError("--full, --streams and --schema are for database loads, not files")
    quiet = no_progress(quiet)
    with open_store(db) as store:
        if sources and not urls:
            result = store.load_files(list(sources), table or schema_module.CURRENT_TABLE, quiet=quiet)
        else:
            url = urls[0] if urls else None
            result = store.load_postgres(
                url, table=table, schema=schema, full=full, streams=streams, quiet=quiet
            )
    listing = f"llamalog rejects --load {result.load_id} --db {shlex.quote(db)}"
    click.echo(result.text(rejects=listing))
    if result.rows_read and not result.rows_loaded:
        fail(
            f"no row could be loaded ({count(result.rows_read, 'row')} read, {result.rows_rejected:,} "
            f"rejected and kept aside). Hint: see why with {listing}"
        )
    if strict and result.rows_rejected:
        sys.exit(1)


def _database_url(source: str) -> bool:
    """Whether ``source`` names a database, not files: any URL (``postgresql://``, SQLAlchemy's
    ``postgresql+psycopg://``, JDBC's, a mistyped or another scheme: the load says which it
    takes) or libpq's ``key=value`` pairs; a path that exists is a file. Such a source is never
    echoed as a missing file: it may hold a password.

    Examples:
        >>> [_database_url(s) for s in ("mysql://u:p@h/db", "jdbc:postgresql://h/db",
        ...                             "host=h password=a=b", "logs/*.parquet", "user=ann/a.parquet")]
        [True, True, True, False, False]
    """
    from pathlib import Path

    from .._pg_source import LIBPQ_PARAMETERS

    if Path(source).exists():
        return False
    if "://" in source:
        return True
    keys = re.findall(r"(?:^|\s)(\w+)\s*=", source)
    return len(keys) > 1 and keys[0] in LIBPQ_PARAMETERS


@click.command(short_help="Make a folder of Parquet files the log table, never copied.")
@click.argument("source", nargs=-1, required=True, metavar="SOURCE")
@db_option()
@click.option(
    "--as", "table", default=schema_module.CURRENT_TABLE, show_default=True, help="The table it becomes."
)
@friendly_errors
def attach(source: tuple[str, ...], db: str, table: str) -> None:
    """Make a folder of Parquet files (searched recursively, hive-partitioned or not) or a glob
    the store's log table, read where the files are, never copied.

    The files are checked once as a load would check them. Exit status: 0 attached, 2 not (a
    row a load would reject, an id given twice, no Parquet files there).
    """

    if len(source) > 1:
        raise click.UsageError(
            f"attach takes one folder or glob, and was given {len(source)} paths (a shell expands a glob "
            "left unquoted): quote it, as in llamalog attach 'logs/*.parquet'"
        )
    with open_store(db) as store:
        result = store.attach(source[0], table)
    click.echo(result.text())


@click.command(short_help="Show the store's tables, rows, date range and loads.")
@db_option()
@friendly_errors
def info(db: str) -> None:
    """Show the store's tables, row counts, categories, date range and load history."""
    from ..summary import summarize

    with open_store(db, read_only=True) as store:
        click.echo(wrapped(str(summarize(store)), terminal_width()))


@click.command(short_help="List the rows a load could not take, and why.")
@db_option()
@click.option(
    "--load",
    "load_id",
    type=click.IntRange(min=1),
    help="Only the rows of this load (its number, as llamalog load and llamalog info print it).",
)
@format_choice(ROWS, "table: to read in a terminal, long values cut; csv and json: every column in full.")
@friendly_errors
def rejects(db: str, load_id: int | None, output: str) -> None:
    """List the rows that could not be loaded: their load, source file, row (1 = the first after
    the header), the column at fault, the reason and the raw text.

    Exit status: 0, also when there are none; 2 when the store or the load does not exist.
    """
    import json

    with open_store(db, read_only=True) as store:
        rows = store.rejects(load_id)
    scope = "" if load_id is None else f" in load {load_id}"
    if rows.is_empty():
        click.echo(f"[🦙 LlamaLog] no rejected rows{scope}", err=output != "table")
    if output == "csv":
        click.echo(rows.write_csv(), nl=False)
    elif output == "json":
        click.echo(json.dumps(rows.to_dicts(), indent=1, ensure_ascii=False, default=json_value))
    elif not rows.is_empty():
        click.echo(_rejects_table(rows.to_dicts()))
        click.echo(
            f"{count(rows.height, 'rejected row')}{scope}; "
            "every column in full: --format csv or --format json"
        )


@click.command(short_help="List stored rows their source later changed or dropped.")
@db_option()
@format_choice(
    ROWS, "table: to read in a terminal; csv and json: with each changed row's values before (previous)."
)
@friendly_errors
def changes(db: str, output: str) -> None:
    """List the stored rows their source later changed or no longer has (store.changed(),
    store.disappeared()): the load that found it, table, source, id, created_at, and what
    changed: the columns, or gone.

    A row is found changed when a later load of its source holds its id with other values;
    gone, only when that source is a database (a load reads the whole table): a file may
    hold part of a table, so a row a file no longer has is not counted gone.

    Exit status: 0, also when there are none; 2 when the store does not exist.
    """
    import json

    with open_store(db, read_only=True) as store:
        rows = store.source_changes()
        from_files = bool((store.loads()["format"] != "postgres").any())
    if rows.is_empty():
        click.echo(
            "[🦙 LlamaLog] no stored row was changed or removed in its source since loaded",
            err=output != "table",
        )
    if output == "csv":
        click.echo(rows.write_csv(), nl=False)
    elif output == "json":
        click.echo(json.dumps(rows.to_dicts(), indent=1, ensure_ascii=False, default=json_value))
    elif not rows.is_empty():
        header = ("load", "table", "id", "created_at", "change")
        cells = [
            (
                str(r["load_id"]),
                r["table_name"],
                str(r["id"]),
                f"{r['created_at']:%Y-%m-%d %H:%M:%S} UTC",
                r["change"],
            )
            for r in rows.to_dicts()
        ]
        widths = [max(len(line[i]) for line in (header, *cells)) for i in range(len(header))]
        for line in (header, *cells):
            click.echo(
                "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
            )
        changed = rows["previous"].count()  # only a changed row has its values before
        gone = rows["change"].eq("gone").sum()
        click.echo(
            f"{count(changed, 'row')} changed, {gone:,} gone; sources and the values before a change: "
            "--format csv or --format json"
        )
    if from_files:
        click.echo(wrapped(_GONE_FROM_FILES, terminal_width()), err=output != "table")


_GONE_FROM_FILES = "A row a file no longer has is not counted gone: a file may hold part of a table."


def _rejects_table(rows: list[dict[str, Any]]) -> str:
    """Rejected rows as aligned columns that fit the terminal (120 characters when printed to
    none): reasons wrapped, raw text cut to one line, sources by file name unless two share one."""
    import textwrap
    from pathlib import Path

    def one_line(value: object) -> str:
        text = " ".join("" if value is None else str(value).splitlines())
        return "".join(c if c.isprintable() else " " for c in text)

    def cut(text: str, width: int, *, keep_end: bool = False) -> str:
        if keep_end and len(text) > width:
            return "…" + text[1 - width :]
        return shorten(text, width)

    sources = {r["source"] for r in rows}
    names = {source: Path(source).name for source in sources}
    if len(set(names.values())) < len(sources):
        names = {source: cut(source, 40, keep_end=True) for source in sources}
    header = ["load", "source", "row", "column", "reason", "raw"]
    cells = [
        [str(r["load_id"]), names[r["source"]], f"{r['row_number']:,}", r["column_name"] or ""] for r in rows
    ]
    widths = [max(len(header[i]), *(len(c[i]) for c in cells)) for i in range(4)]
    room = (terminal_width() or 120) - sum(widths) - 2 * 5
    longest = max(len(one_line(r["reason"])) for r in rows)
    reason = min(longest, max(30, min(100, room - 24)))
    raw = max(12, min(60, room - reason))
    lines = [[*header[:4], header[4].ljust(reason), header[5]]]
    for row, cell in zip(rows, cells, strict=True):
        wrapped = textwrap.wrap(one_line(row["reason"]), reason) or [""]
        lines.append([*cell, wrapped[0].ljust(reason), cut(one_line(row["raw"]), raw)])
        lines += [["", "", "", "", more, ""] for more in wrapped[1:]]
    widths += [reason, 0]  # raw text last, unpadded

    def aligned(line: list[str]) -> str:
        padded = [
            text.rjust(width) if number in (0, 2) else text.ljust(width)  # load and row to the right
            for number, (text, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join(map(aligned, lines))


@click.command(short_help="Generate realistic synthetic LlamaLog rows.")
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=5_000,
    show_default=True,
    help="How many llama_logs rows to generate (the snapshot holds those before the migration).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed, the same rows.")
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

    if before and os.path.realpath(before) == os.path.realpath(out):
        raise click.UsageError(
            f"--out and --before name one file, {out}: the snapshot would overwrite the rows. "
            "Hint: name another file for the snapshot, e.g. --before enrichment_logs.csv"
        )
    for path in (out, before):
        if path:
            output_format(path, ("rows",))
    data = generate(rows, seed=seed)
    write_logs(data.llama_logs, out, naming=naming)  # type: ignore[arg-type]
    click.echo(f"[🦙 LlamaLog] wrote {count(data.llama_logs.height, 'row')} to {out}")
    if before:
        write_logs(data.enrichment_logs, before, naming=naming)  # type: ignore[arg-type]
        click.echo(
            f"[🦙 LlamaLog] wrote {count(data.enrichment_logs.height, 'pre-migration row')} to {before}"
        )


@click.command(short_help="Load the sample data, audit it and write the HTML report.")
@db_option("llamalog-demo.duckdb")
@click.option("--quiet", is_flag=True, help="No progress bar (none either when stderr is no terminal).")
@friendly_errors
def demo(db: str, quiet: bool) -> None:
    """Load the bundled sample data into a local store, show what it holds, audit the migration
    and write the HTML audit report beside the store."""
    from ..sample import demo as run_demo

    click.echo(run_demo(db, quiet=no_progress(quiet), wait=asked_wait()).text(terminal_width()))
