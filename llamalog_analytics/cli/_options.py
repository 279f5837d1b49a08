"""Options and error handling shared by the ``llamalog`` commands."""

from __future__ import annotations

import functools
import re
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .. import schema as schema_module
from ..errors import LlamalogError, StoreNotFoundError

if TYPE_CHECKING:
    from ..store import LogStore

DEFAULT_DB = "llamalog.duckdb"


def open_store(db: str, **options: Any) -> LogStore:
    """The store ``db`` (``options`` as :class:`~llamalog_analytics.store.LogStore` takes them),
    waiting while another process writes to it for as long as ``--wait`` says, when it says."""
    from ..store import LogStore

    return LogStore(db, wait=asked_wait(), **options)


def asked_wait() -> float:
    """The seconds ``--wait`` asked for (beside --db, or before the command), else the store's
    default (:data:`~llamalog_analytics.store.WAIT_SECONDS`)."""
    from ..store import WAIT_SECONDS

    context = click.get_current_context(silent=True)
    asked = context.meta.get(_WAIT, context.find_root().params.get("wait")) if context else None
    return WAIT_SECONDS if asked is None else asked


_WAIT = "llamalog.wait"  # the command's --wait, kept in the context for open_store


def _keep_wait(context: click.Context, _: click.Parameter, value: float | None) -> None:
    if value is not None:
        context.meta[_WAIT] = value


def db_option(default: str = DEFAULT_DB) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--db, and --wait beside it (also taken before the command: llamalog --wait 30 load ...)."""

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--wait",
            type=click.FloatRange(min=0),
            metavar="SECONDS",
            expose_value=False,
            callback=_keep_wait,
            help="How long to wait for the store while another process holds it (default: 10).",
        )(command)
        return click.option(
            "--db",
            "db",
            default=default,
            show_default=True,
            type=click.Path(dir_okay=False),
            help="DuckDB store file.",
        )(command)

    return add


table_option = click.option(
    "--table", default=schema_module.CURRENT_TABLE, show_default=True, help="Log table to read."
)


def is_given(context: click.Context, name: str) -> bool:
    """Whether the parameter ``name`` was given on the command line, not left at its default."""
    return context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT


def _given(context: click.Context, param: click.Parameter, value: Any) -> Any:
    """An option's value when given, None when it is its default."""
    return value if is_given(context, param.name or "") else None


def long_option(name: str) -> str | None:
    """The running command's long option for its parameter ``name`` (``--reuse-gap``), if any."""
    context = click.get_current_context(silent=True)
    for param in context.command.params if context else ():
        long = [o for o in param.opts if o.startswith("--")]
        if long and param.name == name:
            return long[0]
    return None


class _LinkChoice(click.Choice):
    """``instance`` or ``job-id``, as the help shows them; ``job_id``, as Python writes it, too."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(value.replace("_", "-") if isinstance(value, str) else value, param, ctx)


def link_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How parent links are followed: --link and --reuse-gap (None when not given: the library's
    default, and the library's checks, Linking.of, say what is wrong with them)."""
    with_gap = click.option(
        "--reuse-gap",
        default="24h",
        show_default=True,
        callback=_given,
        help="Rows of one job id further apart than this are separate runs (e.g. 6h, 90min, 2d); "
        "--link instance only.",
    )(command)
    return click.option(
        "--link",
        type=_LinkChoice(["instance", "job-id"]),
        default="instance",
        show_default=True,
        help="instance: a parent link joins the run of that job nearest in time; "
        "job-id: every row that carries the id.",
    )(with_gap)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the package's errors into a one-line message on stderr and exit status 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except StoreNotFoundError as exc:
            fail(exc.message(_other_store(exc.found[0])) if exc.found else str(exc))
        except LlamalogError as exc:  # a hint for any command names the one that ran
            command_run = f"llamalog {click.get_current_context().info_name}"
            fail(as_options(str(exc)).replace("llamalog COMMAND", command_run))

    return run


def as_options(message: str) -> str:
    """``message`` with the library's parameters named as the command's options: where the
    library names both, the option alone (``(table=, --table)`` as ``(--table)``,
    ``link='job-id' (--link job-id)`` as ``--link job-id``), and a parameter the command has
    as an option (``reuse_gap='6 hours' is not ...`` as ``--reuse-gap '6 hours' is not ...``)."""
    message = _BOTH_IN_BRACKETS.sub(r"(\1)", message)
    message = _BOTH_AFTER.sub(r"\1", message)

    def as_option(found: re.Match[str]) -> str:
        flag = long_option(found.group(1))
        return f"{flag} " if flag else found.group(0)

    return _PARAMETER.sub(as_option, message)


_BOTH_IN_BRACKETS = re.compile(r"\(\w+=(?:'[^']*'|[^,)]*), (--[\w-]+[^)]*)\)")  # (table='x', --table x)
_BOTH_AFTER = re.compile(r"\b\w+=(?:'[^']*'|\S*) \((--[\w-]+[^)]*)\)")  # link='job-id' (--link job-id)
_PARAMETER = re.compile(r"(?<![\w.?&/(-])(?<!, )([a-z_]+)=(?=\S)")  # not ?schema=x nor f(a, b=1)


def output_format(
    path: str, kinds: tuple[str, ...], output: str | None = None, *, format_option: bool = False
) -> tuple[str, str]:
    """Which of ``kinds`` (of :data:`~llamalog_analytics.export.FORMATS`) a file a command
    writes is, and in which format: ``output`` (the command's ``--format``) if given, else
    the one the name's ending says. Asked before the work, so that a name that says none fails
    at once, with the endings to use (and ``--format`` when ``format_option``: the command has
    it), and so does a name that says another format than ``output`` (``.json`` says none of
    the JSON formats over another).

    Examples:
        >>> output_format("album.prov.json", ("trace", "graph"))
        ('graph', 'prov-json')
        >>> output_format("album.json", ("trace", "graph"), "otlp")
        ('trace', 'otlp')
        >>> output_format("album.otlp.json", ("trace", "graph"), "graphml")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ExportError: album.otlp.json: its name says otlp, --format says \
graphml. Hint: leave out --format, or end the name with .graphml
    """
    from ..errors import ExportError
    from ..export import FORMATS, kind_of, writable

    if path != "-":  # standard output, which is written where it goes
        writable(path)
    try:
        return kind_of(path, output, kinds, option="--format")
    except ExportError:
        if output is not None:  # the format given is not one of these kinds'
            raise
        endings = ", ".join(dict.fromkeys(ending for kind in kinds for ending in FORMATS[kind]))
        if "rows" in kinds:
            endings += " (.gz after any but Parquet's to compress)"
        raise ExportError(
            f"{path}: its name does not say which format to write. Hint: end it with one of "
            + endings
            + (", or add --format" if format_option else "")
        ) from None


def fail(message: str) -> NoReturn:
    """Print ``message`` as the one-line error and exit with status 2."""
    one_line = " ".join(line.strip() for line in message.splitlines() if line.strip())
    click.echo(f"[🦙 LlamaLog] error: {one_line}", err=True)
    sys.exit(2)


def _other_store(path: str) -> str:
    """How to run the current command on the store ``path`` instead."""
    context = click.get_current_context()
    option = f"--db {shlex.quote(path)}"
    needs_more = any(p.required for p in context.command.params if isinstance(p, click.Argument))
    return f"add {option}" if needs_more else f"llamalog {context.info_name} {option}"


def format_choice(choices: tuple[str, ...], help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format`` among ``choices``, the first by default, into the ``output`` parameter."""
    return click.option(
        "--format",
        "output",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help=help,
    )


ROWS = ("table", "csv", "json")  # the formats of commands that print rows
TEXT = ("text", "json")  # the formats of commands that print a report


class _EntityType(click.Choice):
    """ALBUM, ARTIST or TRACK, in any case, and said in capitals, as the log rows write them."""

    def __init__(self) -> None:
        super().__init__(["ALBUM", "ARTIST", "TRACK"], case_sensitive=False)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "{ALBUM|ARTIST|TRACK}"

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return f"{value!r} is not an entity type: use ALBUM, ARTIST or TRACK"


ENTITY_TYPE = _EntityType()


def chain_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The store and a chain's filters: --db, --table, --category, --since and --until."""
    for option in reversed(
        (
            db_option(),
            table_option,
            click.option(
                "--category", "categories", multiple=True, help="Keep only this category (repeatable)."
            ),
            click.option(
                "--since", help="Keep rows created at or after this UTC time (e.g. 2026-02-10T16:39:53)."
            ),
            click.option(
                "--until",
                help="Keep rows created at or before this UTC time (a date alone: all of that day).",
            ),
        )
    ):
        command = option(command)
    return command
