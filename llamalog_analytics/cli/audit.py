"""``llamalog verify`` and ``llamalog audits``: the migration audit and the audits recorded."""

from __future__ import annotations

import json
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
@click.option(
    "--compare-last",
    is_flag=True,
    help="Also print what changed since the previous recorded audit: per check the ids new, fixed "
    "and persisting.",
)
@click.option(
    "--no-record",
    is_flag=True,
    help="Open the store read-only and record nothing (as when another process holds the store).",
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
    compare_last: bool,
    no_record: bool,
) -> None:
    """Audit the migration: rows kept, category and root-job backfills, job links.

    Each audit is recorded in the store (llamalog audits lists them). When another process
    holds the store, the audit runs read-only and is not recorded, which it says on stderr;
    --compare-last then cannot run and exits 2.

    Exit status 0 when no check reaches --fail-on (default fail), 1 when one does, 2 when the
    audit cannot run (no store, a table named by --before or --after that the store does not
    have, a time or reuse gap that is none).
    """
    from ..audit import compare_audits, verify
    from ..errors import StoreLockedError
    from ..store import LogStore

    if compare_last and no_record:
        raise click.UsageError("--compare-last compares this audit once recorded: leave out --no-record")
    held = ""
    try:
        store = LogStore(db, read_only=no_record, create=False)
    except StoreLockedError:
        if compare_last:
            raise
        store, held = LogStore(db, read_only=True), " (another process holds it; close it there to record)"
    with store:
        audit = verify(
            store,
            before=before,
            after=after,
            migrated_at=migrated_at,
            root_job_migrated_at=root_job_migrated_at,
            link=link,
            reuse_gap=reuse_gap,
        )
        changes = compare_audits(store) if compare_last and "since previous run" in audit.summary else None
    if audit.summary["run"] is None:
        click.echo(f"[🦙 LlamaLog] {audit.summary['history']}{held}", err=True)
    if compare_last and changes is None:
        click.echo(
            f"[🦙 LlamaLog] nothing to compare with: this is the store's first recorded audit "
            f"(run {audit.summary['run']}). Hint: verify again after the next load",
            err=True,
        )
    if output == "json":
        document = audit.to_dict() | ({"comparison": changes.to_dict()} if changes else {})
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        click.echo(str(audit) + (f"\n\n{changes}" if changes else ""))
    if report:
        click.echo(f"[🦙 LlamaLog] report written to {audit.to_html(report)}", err=True)
    sys.exit(1 if audit.at_least(fail_on) else 0)


@click.command("audits")
@db_option()
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@friendly_errors
def audits(db: str, output: str) -> None:
    """List the audits recorded in the store (one per llamalog verify), oldest first: when, the
    overall status, how many checks had each status, the offending rows, the version and the
    tables' rows and last loads.

    Exit status 0, also when there are none; 2 when there is no store.
    """
    from ..audit import audit_history
    from ..store import LogStore

    with LogStore(db, read_only=True) as store:
        history = audit_history(store)
    click.echo(json.dumps(history.to_dict(), indent=2, default=str) if output == "json" else str(history))
