"""``llamalog verify``: the migration audit."""

from __future__ import annotations

import sys

import click

from .. import schema as schema_module
from ._options import db_option, friendly_errors, link_options


@click.command("verify")
@db_option()
@click.option(
    "--before",
    show_default=f"{schema_module.LEGACY_TABLE}, when the store has it",
    help="The pre-migration snapshot's table. Left out and absent, the snapshot checks are skipped; "
    "named, it must be in the store.",
)
@click.option(
    "--after",
    default=schema_module.CURRENT_TABLE,
    show_default=True,
    help="The migrated table; it must be in the store.",
)
@click.option(
    "--migrated-at",
    help="When the category migration ran (UTC), if _prisma_migrations was not loaded.",
)
@click.option("--root-job-migrated-at", help="When the root-job migration ran (UTC), likewise.")
@link_options
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--report", type=click.Path(dir_okay=False), help="Also write the HTML report to this file.")
@click.option(
    "--fail-on",
    type=click.Choice(["warn", "fail"]),
    default="fail",
    show_default=True,
    help="Exit 1 when any check's status is this or worse (pass < skip < warn < fail).",
)
@friendly_errors
def verify_command(
    db: str,
    before: str | None,
    after: str,
    migrated_at: str | None,
    root_job_migrated_at: str | None,
    link: str,
    reuse_gap: str,
    output: str,
    report: str | None,
    fail_on: str,
) -> None:
    """Audit the migration: rows kept, category and root-job backfills, job links.

    Exit status 0 when no check reaches --fail-on (default fail), 1 when one does, 2 when the
    audit cannot run (no store, a table named by --before or --after that the store does not
    have, a time or reuse gap that is none).
    """
    from ..audit import verify
    from ..store import LogStore

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
    sys.exit(1 if audit.at_least(fail_on) else 0)
