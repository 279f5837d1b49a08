"""``llamalog verify`` and ``llamalog audits``: the migration audit and the audits recorded."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import schema as schema_module
from .._format import json_value
from ._options import (
    TEXT,
    db_option,
    format_choice,
    friendly_errors,
    is_given,
    link_options,
    long_option,
    open_store,
    output_format,
)
from ._terminal import terminal_width

if TYPE_CHECKING:
    from ..audit import AuditReport


def audit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What to audit: --db, --before, --after, --migrated-at, --root-job-migrated-at, --link, --reuse-gap."""
    for option in reversed(
        (
            db_option(),
            click.option(
                "--before",
                show_default=f"{schema_module.LEGACY_TABLE}, when the store has it",
                help="The pre-migration snapshot's table. Left out and absent, the snapshot checks are "
                "skipped; named, it must be in the store.",
            ),
            click.option(
                "--after",
                default=schema_module.CURRENT_TABLE,
                show_default=True,
                help="The migrated table; it must be in the store.",
            ),
            click.option(
                "--migrated-at",
                help="When the category migration ran (UTC), if _prisma_migrations was not loaded.",
            ),
            click.option("--root-job-migrated-at", help="When the root-job migration ran (UTC), likewise."),
            link_options,
        )
    ):
        command = option(command)
    return command


@click.command("verify", short_help="Audit the migration; --report FILE.html writes the report.")
@audit_options
@format_choice(
    TEXT, "text: a line per check, to read; json: every check whole (ids, SQL, breakdowns), for scripts."
)
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
    help="Open the store read-only and record nothing.",
)
@friendly_errors
def verify_command(
    db: str,
    output: str,
    report: str | None,
    fail_on: str,
    compare_last: bool,
    no_record: bool,
    **audit_arguments: Any,
) -> None:
    """Audit the migration: rows kept, category and root-job backfills, job links.

    Each audit is recorded in the store (llamalog audits lists them). When another process
    keeps writing to the store for longer than the store waits (10 s, or --wait), the audit is not
    recorded, which it says on stderr; --compare-last then cannot run and exits 2.

    Exit status 0 when no check reaches --fail-on (default fail), 1 when one does, 2 when the
    audit cannot run (no store, a table named by --before or --after that the store does not
    have, a time or reuse gap that is none).
    """
    from ..audit import compare_audits, verify
    from ..errors import ExportError, StoreLockedError

    if compare_last and no_record:
        raise click.UsageError("--compare-last compares this audit once recorded: leave out --no-record")
    if report == "-":
        raise ExportError(
            "--report -: standard output carries the audit (--format text or json), not the HTML "
            "report. Hint: name a file for it, e.g. --report audit.html"
        )
    if report:
        output_format(report, ("report",))
    with open_store(db, read_only=no_record, create=False) as store:
        audit = verify(store, **audit_arguments)
        changes = compare_audits(store) if compare_last and "since previous run" in audit.summary else None
    _say_if_not_recorded(audit, asked=no_record)
    if compare_last and audit.summary["run"] is None:
        raise StoreLockedError(
            f"cannot compare with the last audit: this one was {audit.summary['history']}. "
            "Hint: verify again once the other process is done"
        )
    if compare_last and changes is None:
        click.echo(
            f"[🦙 LlamaLog] nothing to compare with: this is the store's first recorded audit "
            f"(run {audit.summary['run']}). Hint: verify again after the next load",
            err=True,
        )
    if output == "json":
        document = audit.to_dict() | ({"comparison": changes.to_dict()} if changes else {})
        click.echo(json.dumps(document, indent=2, default=json_value))
    else:
        hint = _repair_hint(audit, _given(db=db, **audit_arguments))
        click.echo(audit.text(terminal_width()) + (f"\n\n{changes}" if changes else "") + hint)
    if report:
        click.echo(f"[🦙 LlamaLog] report written to {audit.to_html(report)}", err=True)
    sys.exit(1 if audit.at_least(fail_on) else 0)


def _say_if_not_recorded(report: AuditReport, *, asked: bool = False) -> None:
    """On stderr, why an audit was not recorded: ``asked`` (``--no-record``), or the store is
    read-only, or another process kept writing to it or wrote after the audit read it."""
    if report.summary["run"] is None:
        why = "not recorded, as --no-record asked" if asked else report.summary["history"]
        click.echo(f"[🦙 LlamaLog] {why}", err=True)


@click.command("repair", short_help="Write the migration that repairs what the audit finds.")
@audit_options
@click.option(
    "--out",
    default="repairs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder to write the migration folder into (e.g. prisma/migrations).",
)
@click.option(
    "--restore-missing",
    is_flag=True,
    help="Insert the snapshot's rows missing from the table (deletions may have been on purpose).",
)
@click.option(
    "--revert-changes",
    is_flag=True,
    help="Set columns changed since the snapshot back to its values (edits may have been on purpose).",
)
@click.option(
    "--check",
    "checks",
    multiple=True,
    help="Repair only this check's findings: category_backfill, root_job_backfill or rows_preserved "
    "(repeatable); default every one that failed.",
)
@click.option(
    "--dry-run/--no-dry-run",
    default=None,
    help="--dry-run: apply the plan to a temporary copy of the store's tables, audit it again and "
    "write nothing; --no-dry-run: write without that test. Default: test, then write when it passes.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Write the plan in place of the repair folders in --out not deployed yet (those the store's "
    "_prisma_migrations does not list); without it, such a folder is refused.",
)
@friendly_errors
def repair_command(
    db: str,
    out: str,
    restore_missing: bool,
    revert_changes: bool,
    checks: tuple[str, ...],
    dry_run: bool | None,
    replace: bool,
    **audit_arguments: Any,
) -> None:
    """Write the migration that repairs what the audit finds: the category and root-job
    backfills' mismatches, and on request the snapshot's missing or changed rows.

    Audits the store (the audit is recorded in the store, as llamalog verify records it), then
    writes OUT/<UTC timestamp>_llamalog_repair/ with migration.sql (one transaction, each
    change guarded by the value it replaces, ending in a check that the rows are as planned),
    rollback.sql and plan.json, for people to review and deploy. The upstream database is
    never touched. First the plan is applied to a temporary copy of the tables and audited
    again; when that dry run finds a check it repairs still failing, or a check worse than
    before, nothing is written; with --dry-run nothing is written either way. A repair folder
    in OUT not deployed yet (the store's _prisma_migrations does not list it) would be deployed
    with the new one: it is refused, or replaced with --replace.

    Exit status 0 with a plan written, one that --dry-run passes, or nothing to repair; 1 when
    the dry run finds the plan falls short (nothing written; --no-dry-run writes it anyway); 2
    when it cannot run (no store, a table or time that is none, a check that cannot be
    repaired, options that do not go together, an --out one cannot write in, a folder that
    exists, a repair in OUT not deployed yet without --replace). The options are checked
    before the audit, so a call that cannot run records none.
    """
    from ..audit import verify
    from ..repairs import repair, unapplied_repairs, validate_repair

    with open_store(db, create=False) as store:
        applied = store.applied_migrations()
        validate_repair(
            checks or None,
            restore_missing=restore_missing,
            revert_changes=revert_changes,
            folder=out,
            replace=replace,
            applied=applied,
        )
        report = verify(store, **audit_arguments)
        plan = repair(
            report,
            restore_missing=restore_missing,
            revert_changes=revert_changes,
            checks=checks or None,
        )
        checked = plan.dry_run() if plan and dry_run is not False else None
    _say_if_not_recorded(report)
    click.echo(str(plan))
    if not plan:
        return
    if checked is not None:
        click.echo(f"  dry run on a copy of the tables: {checked.verdict}")
        if not checked.ok:
            audited = _as_python(_given(**audit_arguments))
            asked = _as_python(
                _given(restore_missing=restore_missing, revert_changes=revert_changes, checks=checks)
            )
            click.echo(
                "[🦙 LlamaLog] the dry run says the plan falls short, so nothing was written. Hint: "
                f"look at lla.repair(lla.verify(store{audited}){asked}).dry_run() in a notebook, or pass "
                "--no-dry-run to write it anyway",
                err=True,
            )
            sys.exit(1)
    if dry_run:
        click.echo(
            f"[🦙 LlamaLog] --dry-run: nothing written; without it, the plan goes to "
            f"{Path(out) / plan.folder_name}/"
        )
        return
    replaced = unapplied_repairs(out, applied) if replace else []
    folder = plan.write(out, replace=replace)
    migration = shlex.quote(str(folder / "migration.sql"))
    in_place = Path(out).resolve().match("*/prisma/migrations")
    placed = "" if in_place else " (the folder goes in prisma/migrations)"
    instead = f" in place of {', '.join(f'{p}/' for p in replaced)}" if replaced else ""
    click.echo(
        f"wrote {folder}/ (migration.sql, rollback.sql, plan.json){instead}\n"
        f"next: review migration.sql; deploy it with prisma migrate deploy{placed}, "
        f'or psql "${{DATABASE_URL%%\\?*}}" -v ON_ERROR_STOP=1 -f {migration}\n'
        "  (psql takes no ?schema= in the URL: for a schema other than public, put "
        "PGOPTIONS='-c search_path=NAME' before psql)"
    )


def _given(**options: Any) -> dict[str, Any]:
    """The ``options`` given on the command line; those left at their defaults are left out."""
    context = click.get_current_context()
    return {n: v for n, v in options.items() if is_given(context, n)}


def _as_python(options: dict[str, Any]) -> str:
    """``options`` as the Python keyword arguments that ask the same (``, restore_missing=True``)."""
    return "".join(f", {n}={list(v) if isinstance(v, tuple) else v!r}" for n, v in options.items())


def _as_shell(options: dict[str, Any]) -> str:
    """``options`` as this command's options (`` --db x.duckdb``), for another command that has them."""
    return "".join(f" {long_option(n)} {shlex.quote(str(v))}" for n, v in options.items())


def _repair_hint(report: AuditReport, options: dict[str, Any]) -> str:
    """The ``llamalog repair`` command (with the audit's ``options``) for the checks that failed
    and a repair fixes, on lines of their own; nothing when none did."""
    from ..repairs import ON_REQUEST, failed_repairable

    failed = failed_repairable(report)
    if not failed:
        return ""
    rows = " --restore-missing --revert-changes" if "rows_preserved" in failed else ""
    lines = [
        f"repair what failed ({', '.join(failed)}) as a migration:",
        f"  llamalog repair{_as_shell(options)}{rows}",
    ]
    if rows:
        lines.append(f"  ({ON_REQUEST})")
    return "\n\n" + "\n".join(lines)


@click.command("audits", short_help="List the audits recorded in the store.")
@db_option()
@format_choice(TEXT, "text: a line per audit, to read; json: every recorded field, for scripts.")
@friendly_errors
def audits(db: str, output: str) -> None:
    """List the audits recorded in the store (one per llamalog verify), oldest first: when, the
    overall status, how many checks had each status, the checks that failed, the version and the
    tables' rows and last loads.

    Exit status 0, also when there are none; 2 when there is no store.
    """
    from ..audit import audit_history

    with open_store(db, read_only=True) as store:
        history = audit_history(store)
    click.echo(
        json.dumps(history.to_dict(), indent=2, default=json_value)
        if output == "json"
        else history.text(terminal_width())
    )
