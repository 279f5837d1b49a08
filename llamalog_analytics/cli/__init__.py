"""``llamalog``: the command line, a thin layer over the library.

Each command parses its options, opens the store, calls one public function and prints the
result. Errors print one line to stderr and exit with status 2. The commands live by subject:
:mod:`.store` (load, attach, info, rejects, changes, synth, demo), :mod:`.entities` (chain,
explain, graph, timeline) and :mod:`.audit` (verify, repair, audits).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
from click.exceptions import NoArgsIsHelpError

from ..errors import interrupted
from ._options import fail
from ._terminal import plain_where_needed
from .audit import audits, repair_command, verify_command
from .entities import chain_command, explain, graph, timeline
from .store import attach, changes, demo, info, load, rejects, synth


class _OneLineErrors(click.Group):
    """Usage errors (an unknown option, a bad value) as one line too, like every other error;
    a command users look for under another name (:data:`ELSEWHERE`) says where it is."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        asked = args[0] if args else None
        if asked in ELSEWHERE and asked not in self.commands:
            ctx.fail(f"No such command {asked!r}: {ELSEWHERE[asked]}.")
        return super().resolve_command(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        plain_where_needed()
        try:
            return super().main(*args, **kwargs)
        except NoArgsIsHelpError as exc:  # ``llamalog`` alone: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            names: list[str] = []
            context = exc.ctx
            while context is not None and context.parent is not None:
                names.insert(0, context.info_name or "")
                context = context.parent
            command = " ".join(["llamalog", *names])
            message = exc.format_message().rstrip(".")
            asked = message.endswith(("?", "?)"))  # click's "Did you mean ...?", maybe in brackets
            fail(f"{message}{'' if asked else '.'} Hint: {command} --help")
        except click.ClickException as exc:
            fail(exc.format_message())
        except click.Abort as exc:  # Ctrl-C too, which click turns into Abort
            if isinstance(exc.__cause__, KeyboardInterrupt):
                _stopped(exc.__cause__)
            click.echo("[🦙 LlamaLog] aborted", err=True)
            sys.exit(1)
        except Exception as exc:  # DuckDB's form of Ctrl-C, met outside a load
            if interrupted(exc):
                _stopped(exc)
            raise


ELSEWHERE = {
    "report": "the audit writes its HTML report, llamalog verify --report audit.html",
    "audit": "llamalog verify audits the migration (llamalog audits lists the audits run)",
}
"""Commands users ask for that another command does, and where to find it."""


def _stopped(interrupt: BaseException) -> NoReturn:
    """Say that Ctrl-C stopped the command (and what the library said of it), and exit with 130,
    as a shell's command killed by SIGINT does."""
    said = str(interrupt) if isinstance(interrupt, KeyboardInterrupt) else ""
    click.echo(f"[🦙 LlamaLog] interrupted{f': {said}' if said else ''}", err=True)
    sys.exit(130)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llamalog_analytics")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help=(
        "How long a command waits for the store while another process holds it: a read waits for a "
        "writer, a write for any other process (the store's default: 10)."
    ),
)
def main(wait: float | None) -> None:  # read by open_store from the context
    """Load, explore and audit the LlamaLog audit table (llama_logs)."""


for command in (
    load,
    attach,
    info,
    rejects,
    changes,
    synth,
    demo,
    verify_command,
    repair_command,
    audits,
    chain_command,
    explain,
    graph,
    timeline,
):
    main.add_command(command)
