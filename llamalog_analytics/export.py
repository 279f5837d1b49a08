"""Write what the package makes to files: log rows, provenance graphs, traces, timelines, reports.

One table, :data:`FORMATS`, says which file name ending means which format for each kind of
output; every writer here picks its format from it (or from ``format=``) and writes as
``open(path, "w")`` would, but atomically for a file: into a temporary file beside the file (the
one a symbolic link names), renamed over it once complete, with the file's permissions (or, for
a new file, those ``open()`` gives). A failed write leaves no partial file. A file one may not
write is refused; a pipe or a device (``/dev/stdout``) is written directly.

* rows (:func:`write_logs`): ``.csv``/``.csv.gz`` as psql's ``\\copy ... CSV HEADER`` writes
  them (Postgres array literals, ``t``/``f``, JSON text, empty field = NULL, ``""`` = empty
  text); ``.parquet`` with native types and JSON as text (JSON null stays distinct);
  ``.ndjson``/``.jsonl``/``.json`` (array) as JSON records, times in ISO 8601 UTC
  (``2026-02-07T14:26:41.727Z``) as the graphs and traces write them. ``naming="camel"`` uses
  the Prisma/GraphQL field names, as a Prisma or GraphQL export does;
* graphs (:func:`write_graph`): GraphML, node-link JSON, DOT, W3C PROV-JSON;
* traces (:func:`write_trace`): OTLP/JSON (Jaeger, Grafana Tempo), Perfetto JSON;
* pages (:func:`write_timeline`, :func:`write_report`): standalone HTML that opens offline, or PNG.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shlex
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from . import _readers, schema
from ._format import xml_text
from ._sql import LOAD_ID_COLUMN, quote, scratch_connection
from .chain_index import ANNOTATIONS  # a chain's own columns, written as they are
from .errors import ArgumentError, ExportError

if TYPE_CHECKING:
    import networkx as nx
    import plotly.graph_objects as go

    from .audit import AuditReport

Naming = Literal["snake", "camel"]
FORMATS: dict[str, dict[str, str]] = {  # what is written -> file name ending -> format
    "rows": _readers.SUFFIXES,  # the endings files are read by, too (``.gz`` allowed but for Parquet)
    "graph": {
        ".graphml": "graphml",
        ".json": "node-link",
        ".dot": "dot",
        ".gv": "dot",
        ".prov.json": "prov-json",
        ".provjson": "prov-json",
    },
    "trace": {".otlp.json": "otlp", ".perfetto.json": "perfetto", ".trace.json": "perfetto"},
    "timeline": {".html": "html", ".htm": "html", ".png": "png"},
    "report": {".html": "html", ".htm": "html"},
}


def export_format(kind: str, path: str | Path, format: str | None = None, *, option: str = "format=") -> str:
    """The format a ``kind`` of output (a key of :data:`FORMATS`) is written in: ``format`` if
    given, else the one the longest matching ending of the file name names. A ``format`` given
    must agree with what the name says, if it says a graph's or a trace's format (``.json``
    says none over another JSON format); ``option`` is what the message calls it.

    Examples:
        >>> export_format("graph", "album.prov.json"), export_format("rows", "logs.csv.gz")
        ('prov-json', 'csv')
        >>> export_format("trace", "album.json", "perfetto")
        'perfetto'
        >>> export_format("trace", "album.graphml", "otlp")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ExportError: album.graphml: its name says graphml, format= says otlp. \
Hint: leave out format=, or end the name with .otlp.json
    """
    known = FORMATS[kind]
    if format is not None:
        if format.lower() not in known.values():
            raise ExportError(
                f"{path}: {kind} cannot be written as {format!r}. "
                f"Hint: use one of {', '.join(sorted(set(known.values())))}"
            )
        chosen = {ending: f for k in _CHOOSABLE for ending, f in FORMATS[k].items()}
        said = _ending(chosen, path)
        asked = [ending for ending, f in chosen.items() if f == format.lower()]
        if said and asked and not any(ending.endswith(said) for ending in asked):
            raise ExportError(
                f"{path}: its name says {chosen[said]}, {option} says {format}. Hint: leave out "
                f"{option}, or end the name with {' or '.join(asked)}"
            )
        return format.lower()
    ending = _ending(known, path, compressed=kind == "rows")
    if ending is None:
        raise ExportError(
            f"{path}: cannot tell which format to write {kind} in. "
            f"Hint: name the file with one of {', '.join(known)}, or pass format="
            + " | ".join(repr(f) for f in dict.fromkeys(known.values()))
        )
    return known[ending]


_CHOOSABLE = ("graph", "trace")  # the kinds a format= may be given for, which must agree with the name


def _ending(known: dict[str, str], path: str | Path, *, compressed: bool = False) -> str | None:
    """The longest of the ``known`` endings the file name has (``.prov.json`` over ``.json``);
    ``compressed``: a ``.gz`` after it as well, but after Parquet's."""
    name = Path(path).name.lower()
    if compressed and not name.endswith((".parquet.gz", ".pq.gz")):
        name = name.removesuffix(".gz")
    return max((ending for ending in known if name.endswith(ending)), key=len, default=None)


def kind_of(
    path: str | Path, format: str | None, kinds: tuple[str, ...], *, option: str = "format="
) -> tuple[str, str]:
    """Which of ``kinds`` a file is written as, and in which format (:func:`export_format`):
    the first kind that knows ``format``, or one of whose endings the file name has.

    Examples:
        >>> kind_of("album.otlp.json", None, ("trace", "graph")), kind_of("a.json", None, ("trace", "graph"))
        (('trace', 'otlp'), ('graph', 'node-link'))
        >>> kind_of("logs.csv.gz", None, ("rows", "report"))
        ('rows', 'csv')
    """
    for kind in kinds:
        known = FORMATS[kind]
        if format is not None and format.lower() in known.values():
            return kind, export_format(kind, path, format, option=option)
        if format is None and _ending(known, path, compressed=kind == "rows") is not None:
            return kind, export_format(kind, path, option=option)
    return kinds[-1], export_format(kinds[-1], path, format, option=option)  # raises, naming what it takes


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` as ``open(path, "w")`` would, so that a failed write
    leaves no partial file.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "link.txt").symlink_to("shared.txt")
        >>> write_atomic(folder / "link.txt", "through the link").name
        'link.txt'
        >>> (folder / "shared.txt").read_text(), (folder / "link.txt").is_symlink()
        ('through the link', True)
    """
    with _atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def writable(path: str | Path) -> Path:
    """``path`` as a :class:`Path`, checked to name a file in a folder that exists, and that
    one may write if it is there (asked before the work that writes it, and again by the write).

    Raises:
        ExportError: ``path`` is a folder, its folder (or that of the file a link names) does
            not exist or is one no file can be made in (a file is written beside itself, then
            renamed over it), or it is a file one may not write.
    """
    path = _named_file(path)
    why = None if _special(path) else cannot_write_in(_target(path).parent)
    if why is not None:
        raise _no_file_made(path, why)
    return path


def _named_file(path: str | Path) -> Path:
    """:func:`writable`'s checks but whether a file can be made beside it (the write tries that)."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path}: a folder. Hint: name a file in it")
    folder = _target(path).parent
    if not folder.is_dir():
        raise ExportError(
            f"{path}: there is no folder {folder} to write it in. Hint: create it "
            f"(mkdir -p {shlex.quote(str(folder))}), or name a path in a folder that exists"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(
            f"{path}: read-only, not written. Hint: chmod u+w {shlex.quote(str(path))} to replace "
            "it, or name another path"
        )
    return path


def _no_file_made(path: Path, why: str) -> ExportError:
    """The error for ``path``, whose folder no file can be made in (``why``: the system's word)."""
    folder = _target(path).parent
    return ExportError(
        f"{path}: no file can be made in {folder} ({why}). Hint: name a path in a folder you may "
        f"write in, or check who may write in it (ls -ld {shlex.quote(str(folder))})"
    )


def cannot_write_in(folder: Path) -> str | None:
    """Why no file can be made in ``folder``, as the system says it; None when one can. Tried,
    not read from permission bits: a read-only file system, ``/proc`` or an ACL refuse what
    the bits allow.

    Examples:
        >>> import tempfile
        >>> cannot_write_in(Path(tempfile.mkdtemp())), cannot_write_in(Path("/proc"))
        (None, 'No such file or directory')
    """
    try:
        handle, made = tempfile.mkstemp(dir=folder, prefix=".llamalog-")
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(handle)
    with contextlib.suppress(OSError):  # made, so one can write there (where nothing is deleted too)
        os.unlink(made)
    return None


def writable_folder(folder: str | Path, option: str | None = None) -> Path:
    """``folder`` as a :class:`Path`, checked to be a folder one may write in, or one that can be
    made (its nearest existing ancestor is a folder one may write in): asked before the work
    that writes into it. A message names ``option`` after the folder, when given (the
    argument and command-line option that named it).

    Raises:
        ExportError: ``folder``, or a folder above it, is a file; or one may not write where it
            is or would be made.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> writable_folder(folder / "new" / "deeper") == folder / "new" / "deeper"
        True
        >>> _ = (folder / "plan.txt").write_text("")
        >>> writable_folder(folder / "plan.txt" / "repairs")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        llamalog_analytics.errors.ExportError: .../plan.txt/repairs: .../plan.txt is a file, not a folder...
    """
    folder = Path(folder)
    there = next(p for p in (folder, *folder.parents) if p.exists())  # "." or "/" at the least
    named = f"{folder} ({option})" if option else str(folder)
    if not there.is_dir():
        raise ExportError(f"{named}: {there} is a file, not a folder. Hint: name a folder, or a path in one")
    why = cannot_write_in(there)
    if why is not None:
        raise ExportError(
            f"{named}: no file can be made in {there} ({why}). Hint: name a folder you may write in, "
            f"or check who may write in it (ls -ld {shlex.quote(str(there))})"
        )
    return folder


def _target(path: Path) -> Path:
    """The file a write to ``path`` replaces: the one a symbolic link names (through any links)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _special(path: Path) -> bool:
    """Whether ``path`` is there but no file: a pipe or a device, written directly."""
    return path.exists() and not path.is_file()


@contextmanager
def _atomic_path(path: str | Path) -> Iterator[Path]:
    """The path to write ``path``'s contents to: for a file (or none yet), a temporary path
    beside it (beside the file a symbolic link names), renamed over it when the block ends
    without an error, with the file's permissions (or those ``open()`` gives a new file), and
    removed otherwise; for a pipe or a device, ``path`` itself. A write that fails for want of
    space (or any other system error) is an :class:`ExportError` naming ``path``."""
    path = _named_file(path)  # whether a file can be made beside it, the temporary one tells
    if _special(path):
        with _written(path):
            yield path
        return
    target = _target(path)
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _no_file_made(path, exc.strerror or str(exc)) from exc
    os.close(handle)
    temporary = Path(name)
    try:
        with _written(path):
            yield temporary
            os.chmod(temporary, _mode(target))  # not mkstemp's 0600
            os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def _written(path: Path) -> Iterator[None]:
    """The ``with`` block writes ``path``: a system error in it (a full disk) is said as an
    :class:`ExportError` naming the path."""
    try:
        yield
    except OSError as exc:
        raise ExportError(
            f"{path}: could not be written ({exc.strerror or exc}), so it was not. Hint: free some space "
            "where it goes, or name a path on another disk"
        ) from exc


def _mode(path: Path) -> int:
    """The permission bits of the file ``path``, or those ``open()`` gives a new file."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# Postgres quotes an array element that is empty, NULL-like, or holds any of these.
_PG_ELEMENT = r"""CASE WHEN e IS NULL THEN 'NULL'
  WHEN e = '' OR upper(e) = 'NULL' OR regexp_matches(e, '[{}",\\\s]')
  THEN '"' || replace(replace(e, '\', '\\'), '"', '\"') || '"' ELSE e END"""


def write_logs(frame: pl.DataFrame, path: str | Path, *, naming: Naming = "snake") -> Path:
    """Write ``frame`` (canonical columns, any subset, and a chain's annotations) to ``path``;
    the suffix picks the format. The store's own ``_load_id`` column, in a frame read from a
    log table, is left out.

    Examples:
        >>> import tempfile, llamalog_analytics as lla
        >>> rows = lla.synthetic.generate(200, seed=3).llama_logs
        >>> out = write_logs(rows, tempfile.mkdtemp() + "/logs.csv")
        >>> with lla.LogStore() as store:
        ...     store.load_files(out, quiet=True).rows_loaded
        ...     again = write_logs(store.frame("SELECT * FROM llama_logs"), out)
        200
    """
    if not isinstance(frame, pl.DataFrame):
        raise ArgumentError(
            f"write_logs writes a polars DataFrame, not a {type(frame).__name__}. Hint: pass its rows, "
            "e.g. lla.synthetic.generate(1000).llama_logs, store.table() or lla.chain(...)"
        )
    path = Path(path)
    frame = frame.drop(LOAD_ID_COLUMN, strict=False)
    fmt = export_format("rows", path)
    if _gzip(path) and _special(path):
        raise ExportError(
            f"{path}: a pipe or a device, where DuckDB writes no gzip. Hint: write it without .gz "
            "and compress it on the way (| gzip)"
        )
    if fmt == "json" and frame.is_empty():  # DuckDB writes an empty array as "[", a tab, "]"
        with _atomic_path(path) as temporary:
            temporary.write_bytes(gzip.compress(b"[]\n") if _gzip(path) else b"[]\n")
        return path
    known = {name: schema.column(name) for name in frame.columns if name not in ANNOTATIONS}
    out_name = {name: name for name in frame.columns} | {
        name: (c.prisma if naming == "camel" else c.name) for name, c in known.items()
    }
    if fmt == "parquet":
        with _atomic_path(path) as temporary:
            frame.rename(out_name).write_parquet(temporary)
        return path
    values = {
        name: _expression(known[name], fmt)
        if name in known
        else _boolean_csv(quote(name))
        if fmt == "csv" and frame.schema[name] == pl.Boolean  # an annotation, as psql writes booleans
        else quote(name)
        for name in frame.columns
    }
    selected = ", ".join(f"{value} AS {quote(out_name[name])}" for name, value in values.items())
    options = {
        "csv": "FORMAT csv, HEADER true",
        "ndjson": "FORMAT json",
        "json": "FORMAT json, ARRAY true",
    }[fmt]
    with scratch_connection() as con, _atomic_path(path) as temporary:
        con.register("frame", frame)
        con.execute(f"COPY (SELECT {selected} FROM frame) TO ? ({options}{_gzip(path)})", [str(temporary)])
    return path


def _boolean_csv(x: str) -> str:
    """A boolean column ``x`` as psql's CSV writes one: ``t``, ``f`` or empty."""
    return f"CASE WHEN {x} THEN 't' WHEN NOT {x} THEN 'f' END"


def _gzip(path: Path) -> str:
    return ", COMPRESSION gzip" if path.name.lower().endswith(".gz") else ""


def _expression(col: schema.Column, fmt: str) -> str:
    x = quote(col.name)
    if fmt == "csv":
        if col.type == "VARCHAR[]":
            return f"'{{' || array_to_string(list_transform({x}, lambda e: {_PG_ELEMENT}), ',') || '}}'"
        if col.type == "BOOLEAN":
            return _boolean_csv(x)
        if col.type == "TIMESTAMP":
            return f"strftime({x}, '%Y-%m-%d %H:%M:%S.%g')"
        return x
    if col.type == "JSON":
        return f"CASE WHEN {x} IS NOT NULL AND {x} <> 'null' THEN CAST({x} AS JSON) END"
    if col.type == "TIMESTAMP":  # JSON has no time type: ISO 8601, saying UTC (Z)
        return f"strftime({x}, '%Y-%m-%dT%H:%M:%S.%gZ')"
    return x


def write_graph(graph: nx.MultiDiGraph, path: str | Path, format: str | None = None) -> Path:
    """Write ``graph`` as GraphML, node-link JSON, DOT or W3C PROV-JSON (:data:`FORMATS`).

    ``format`` is ``graphml``, ``node-link``, ``dot`` or ``prov-json``; by default it follows the
    suffix (``.graphml``, ``.json``, ``.dot``/``.gv``; ``.prov.json`` or ``.provjson`` for PROV).
    A trace's name (``.otlp.json``, ``.perfetto.json``, ``.trace.json``) is refused unless
    ``format`` is given: :func:`write_trace` writes those.

    Examples:
        >>> import networkx as nx, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> write_graph(nx.MultiDiGraph([("a", "b")]), folder + "/g.graphml").name
        'g.graphml'
        >>> write_graph(nx.MultiDiGraph([("a", "b")]), folder + "/g.otlp.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        llamalog_analytics.errors.ExportError: .../g.otlp.json: a trace file's name (otlp), not a graph's...
    """
    import networkx as nx

    from .graph import dot_text, prov_document

    path = Path(path)
    if format is None:
        kind, named = kind_of(path, None, ("trace", "graph"))
        if kind == "trace":
            raise ExportError(
                f"{path}: a trace file's name ({named}), not a graph's. Hint: write the chain as a "
                "trace, lla.write_trace(lla.chain(store, TYPE, ID), path) (llamalog graph TYPE ID "
                f"--out PATH --format {named}), or end the name with .json to write the graph as node-link"
            )
    format = export_format("graph", path, format)
    if not graph.number_of_nodes():
        raise ExportError(
            f"{path}: an empty graph, nothing to write. Hint: check the entity id and its type; "
            "lla.provenance_graph(store, 'ALBUM', album_id) is empty for an id no row names as an album"
        )
    if format == "graphml":  # networkx writes it element by element with lxml, not as one tree
        with _atomic_path(path) as temporary:
            writer = _graphml_writer(temporary)
            writer.add_graph_element(graph)
            writer.dump()
        return path
    if format == "node-link":  # written as it is encoded: a whole table's is gigabytes of text
        with _atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
            json.dump(nx.node_link_data(graph, edges="edges"), handle, indent=1)
        return path
    if format == "dot":
        return write_atomic(path, dot_text(graph))
    return write_atomic(path, prov_document(graph).serialize(format="json", indent=1))


def _graphml_writer(path: Path) -> Any:
    """networkx's GraphML writer (lxml's, element by element), writing names and values as
    :func:`~llamalog_analytics._format.xml_text` gives them: log text may hold an escape or a
    bell, which XML 1.0 cannot, and lxml refuses."""
    from networkx.readwrite.graphml import GraphMLWriterLxml

    class Writer(GraphMLWriterLxml):
        def add_data(
            self, name: str, element_type: Any, value: str, scope: str = "all", default: Any = None
        ) -> Any:
            return super().add_data(name, element_type, xml_text(value), scope, default)

    writer = Writer(path)
    element = writer.myElement  # names a node or an edge: ids hold job ids, user ids
    writer.myElement = lambda tag, attrib=None, **names: element(
        tag, attrib, **{name: xml_text(value) for name, value in names.items()}
    )
    return writer


def write_trace(rows: pl.DataFrame, path: str | Path, format: str | None = None) -> Path:
    """Write a chain as a trace file: OTLP/JSON or Perfetto JSON (see :mod:`~llamalog_analytics.traces`).

    ``format`` is ``otlp`` or ``perfetto``; by default the suffix tells: ``.otlp.json`` for
    OTLP, ``.perfetto.json`` or ``.trace.json`` for Perfetto.

    Examples:
        >>> import tempfile, llamalog_analytics as lla
        >>> with lla.sample_store() as store:
        ...     album = store.execute("SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL "
        ...                           "ORDER BY created_at, id LIMIT 1")[0][0]
        ...     rows = lla.chain(store, "ALBUM", album)
        >>> write_trace(rows, tempfile.mkdtemp() + "/album.perfetto.json").name
        'album.perfetto.json'
    """
    from .trace_formats import otlp, perfetto

    path = Path(path)
    format = export_format("trace", path, format)
    if rows.is_empty():
        raise ExportError(
            f"{path}: no rows to write as a trace. Hint: check the entity id and filters; "
            "lla.chain(store, 'ALBUM', album_id) is empty for an id the table does not know"
        )
    document = otlp(rows) if format == "otlp" else perfetto(rows)
    return write_atomic(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def write_timeline(figure: go.Figure, path: str | Path) -> Path:
    """Write a timeline as a standalone HTML page (opens offline) or, for ``.png``, an image.

    PNG needs the ``kaleido`` package and a Chrome or Chromium browser.
    """
    from ._plotly import figure_html, plotly_script

    path = Path(path)
    if export_format("timeline", path) == "png":
        try:
            _write_png(figure, path)
        except ExportError:  # the path's own problem (no folder, no permission, no space): as said
            raise
        except (ImportError, ValueError, RuntimeError) as exc:
            cause = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise ExportError(
                f"{path}: cannot render a PNG here ({cause.rstrip('.,:;')}). Hint: pip install "
                "'llamalog_analytics[png]' (kaleido), and install Chrome or Chromium (apt-get install "
                "chromium, or run plotly_get_chrome); or write .html instead"
            ) from exc
        return path
    title = figure.layout.title.text or "🦙 LlamaLog timeline"
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n"
        f"{figure_html(figure, 'timeline')}\n{plotly_script()}\n</body>\n</html>\n"
    )
    return write_atomic(path, page)


def _write_png(figure: go.Figure, path: Path) -> None:
    for last in (False, True):
        try:
            with _atomic_path(path) as temporary:
                figure.write_image(
                    temporary, format="png", width=1400, height=int(figure.layout.height or 600), scale=1
                )
            return
        except (ValueError, RuntimeError) as exc:  # on a busy machine Chromium may call kaleido's
            if last or "is not defined" not in str(exc):  # script before its page has loaded it
                raise


def write_report(report: AuditReport, path: str | Path) -> Path:
    """Write an audit report as one self-contained HTML page (opens offline)."""
    from .report import report_html

    export_format("report", path)
    return write_atomic(path, report_html(report))
