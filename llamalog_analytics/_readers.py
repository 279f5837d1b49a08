"""Turn one exported file into SQL that yields its rows as raw values.

Each reader returns a :class:`Reader`: a ``SELECT`` producing ``_row`` (1-based record number
in the file), ``_pre_reason`` (why the record is unusable before looking at any column, or
NULL) and one raw input per canonical column, each with a *kind* telling :mod:`.load` how to
convert it: ``"text"`` (a string as psql writes it), ``"json"`` (a JSON value) or a DuckDB type
name (Parquet columns keep their native types).
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
import re
import shlex
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from . import schema
from ._format import count, first_few
from ._sql import MIGRATION_COLUMNS_NEEDED, MIGRATIONS_TABLE, json_text, literal, quote
from .errors import NotLlamaLogError, SourceError, UnknownColumnError

if TYPE_CHECKING:
    import numpy as np

    from .store import LogStore

# DuckDB keeps the parser's structural rejects (wrong column count, bad encoding) here.
CSV_ERRORS = "_llamalog_csv_errors"
CSV_SCANS = "_llamalog_csv_scans"
MAX_LINE_BYTES = 64 * 1024 * 1024
# What reading a file can raise when it is not what its name says, cut short or out of reach.
READ_FAILURES = (duckdb.Error, OSError, EOFError, zlib.error, UnicodeDecodeError)

SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}


@dataclass(frozen=True)
class Reader:
    """How to read one file: a SELECT and where each canonical column comes from."""

    path: str
    format: str
    select: str
    params: list[object]
    inputs: dict[str, tuple[str, str]]
    raw: str
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    numbered: bool = True  # False: ``_row`` is NULL and follows from the stage's row order
    # True: every input already has its column's type and ids are unique and present (a
    # database table with its primary key), so rows need no checks.
    trusted: bool = False

    @property
    def source(self) -> str:
        """What the load history calls the source: a file by its absolute path, one name however
        it was given (so another folder's file of the same name is another source), a
        database's table by its name.

        Examples:
            >>> import os
            >>> Reader("./x.csv", "csv", "", [], {}, "").source == os.path.join(os.getcwd(), "x.csv")
            True
        """
        return file_source(self.path) if self.format in SUFFIXES.values() else self.path


def file_source(path: str) -> str:
    """A file as the load history names it: by its absolute path."""
    return os.path.abspath(path)


def absolute_source(source: str, fmt: str) -> str:
    """SQL for a recorded ``source`` of format ``fmt`` (columns of the load history) as it is
    named now: a file recorded by the path as written, relative (by an earlier version), is
    taken as in the working folder."""
    files = ", ".join(literal(f) for f in sorted(set(SUFFIXES.values())))
    here = literal(os.path.join(os.getcwd(), ""))
    return (
        f"CASE WHEN {fmt} IN ({files}) AND NOT starts_with({source}, '/') "
        f"THEN {here} || regexp_replace({source}, '^(\\./)+', '') ELSE {source} END"
    )


def expand(paths: str | Path | Iterable[str | Path]) -> list[str]:
    """Expand globs into an ordered list of files; a pattern matching nothing is an error.
    ``**`` matches any depth of folders, none included (``logs/**/*.csv``); the folders a
    pattern matches are left out, and a file reached twice (by two names, or through a linked
    folder) is read once.

    Examples:
        >>> expand("data/sample/llama_logs.parquet")
        ['data/sample/llama_logs.parquet']
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: dict[str, str] = {}  # each file once, by its real path: the name it was first given
    for pattern in map(str, paths):
        literal_name = not glob.has_magic(pattern) or Path(pattern).is_file()  # 'logs[1].csv' too
        matches = (
            [pattern] if literal_name else sorted(filter(os.path.isfile, glob.glob(pattern, recursive=True)))
        )
        if not matches or not Path(matches[0]).exists():
            what = "no such file" if literal_name else "the pattern matches no file"
            raise SourceError(f"{pattern}: {what}. Hint: check the path or the glob pattern")
        for match in matches:
            found.setdefault(os.path.realpath(match), match)
    if not found:
        raise SourceError("no file named, so nothing to load. Hint: name a file or a glob pattern")
    return list(found.values())


def read_name(path: str) -> str:
    """A file's name as DuckDB's readers take it: its glob characters escaped, so that it names
    that file alone (``logs[1].csv``, not ``logs1.csv``).

    Examples:
        >>> read_name("exports/logs[1].csv")
        'exports/logs[[]1].csv'
    """
    return glob.escape(path)


def file_stat(path: str) -> tuple[int, int] | None:
    """A file's size and modification time (ns), which a rewrite changes; None when it is gone
    or cannot be read."""
    try:
        info = os.stat(path)
    except OSError:  # gone, or out of reach (a folder where it was, no permission)
        return None
    return info.st_size, info.st_mtime_ns


def is_data_file(path: str) -> bool:
    """Whether ``path`` names a file to load (by its suffix), not a store.

    Examples:
        >>> is_data_file("logs/llama_logs.parquet"), is_data_file("llamalog.duckdb")
        (True, False)
    """
    return _suffix_format(path) is not None


def _suffix_format(path: str) -> str | None:
    name = path.lower().removesuffix(".gz")
    return next((f for s, f in SUFFIXES.items() if name.endswith(s)), None)


def detect_format(path: str) -> str:
    """The format of ``path`` from its suffix (``.gz`` allowed), sniffing ``.json`` files; a
    :class:`SourceError` when its first bytes say it is something else.

    Examples:
        >>> detect_format("data/sample/llama_logs.csv.gz"), detect_format("data/sample/llama_logs.parquet")
        ('csv', 'parquet')
    """
    if os.path.isdir(path):
        raise SourceError(
            f"{path}: a folder, not a file. Hint: name its files with a glob ('{path.rstrip('/')}/*.csv'), "
            "or make a folder of Parquet files the log table with llamalog attach"
        )
    fmt = _suffix_format(path)
    if fmt is None:
        known = ", ".join(SUFFIXES)
        what, hint = next(
            ((w, h) for s, (w, h) in _NOT_READ.items() if path.lower().endswith(s)),
            ("unknown file type", f"use one of {known} (optionally .gz)"),
        )
        raise SourceError(f"{path}: {what}. Hint: {hint.format(name=shlex.quote(os.path.basename(path)))}")
    if fmt != "parquet":  # DuckDB reads Parquet by its content, and says when it is none
        _refuse_misnamed(path, fmt)
    if fmt == "json":
        with _open_text(path) as f:
            head = f.read(4096).lstrip()
        if not head:  # NDJSON of no rows is an empty file, but a JSON export holds []
            raise SourceError(
                f"{path}: the file is empty: a JSON export of no rows holds []. Hint: export it again "
                "(it may have been cut short); name an export of JSON lines .ndjson"
            )
        fmt = "json" if head.startswith("[") else "ndjson"
    return fmt


_AS_CSV = (
    "export the table as CSV: psql -c \"\\copy llama_logs TO 'llama_logs.csv' CSV HEADER\", "
    "then load that file"
)
# Files people export the table as that are not read: what each is, and what to do instead.
_NOT_READ = {
    ".sql": (
        "a SQL script (as pg_dump writes), not rows",
        f"load the database it came from (llamalog load postgresql://...), or {_AS_CSV}",
    ),
    ".tsv": ("tab-separated text (as COPY's text format writes, with \\N for NULL)", _AS_CSV),
    **{
        suffix: (
            f"compressed with {tool}, which is not read",
            f"decompress it ({tool} -dk {{name}}) or compress it with gzip instead, then load that file",
        )
        for suffix, tool in ((".zst", "zstd"), (".bz2", "bzip2"), (".xz", "xz"))
    },
}

_GZIP = b"\x1f\x8b"
# What a text file's first bytes (decompressed) may say it is instead, and what to do then;
# UTF-32's marks begin as UTF-16's do, so they come first.
_NOT_TEXT = (
    (b"PAR1", "a Parquet file, not {fmt} as its name says", "rename it {stem}.parquet, then load it again"),
    (
        b"PK\x03\x04",
        "a ZIP archive (as an Excel workbook is), not {fmt} as its name says",
        "unzip it, or save the sheet as CSV (UTF-8), then load that file",
    ),
    *(
        (
            mark,
            f"{{fmt}} in {encoding}{note}, not UTF-8",
            f"convert it ({{read}} | iconv -f {encoding} -t UTF-8 > {{stem}}-utf8{{suffix}}), "
            "then load that file",
        )
        for mark, encoding, note in (
            (b"\xff\xfe\x00\x00", "UTF-32", ""),
            (b"\x00\x00\xfe\xff", "UTF-32", ""),
            (b"\xff\xfe", "UTF-16", " (as Excel's Unicode text and Windows PowerShell write it)"),
            (b"\xfe\xff", "UTF-16", " (as Excel's Unicode text and Windows PowerShell write it)"),
        )
    ),
)


def _refuse_misnamed(path: str, fmt: str) -> None:
    """Raise :class:`SourceError` when the first bytes of ``path``, a file named as ``fmt`` (a
    text format), say it is Parquet, a ZIP archive or UTF-16 or UTF-32 text (read inside the
    gzip when it is one), or gzip-compressed without a ``.gz`` name, or not with one."""
    name = os.path.basename(path)
    plain = name[: len(name.lower().removesuffix(".gz"))]  # the name without .gz
    with open(path, "rb") as f:
        head = f.read(4)
    gzipped, inner = head.startswith(_GZIP), head
    if gzipped:
        with gzip.open(path, "rb") as f:
            inner = f.read(4)
    for magic, what, hint in _NOT_TEXT:
        if inner.startswith(magic):
            stem = Path(plain).stem
            read = f"{'gunzip -c' if gzipped else 'cat'} {shlex.quote(name)}"
            raise SourceError(
                f"{path}: {what.format(fmt=fmt.upper())}; the store is unchanged. "
                f"Hint: {hint.format(stem=stem, suffix=plain[len(stem) :], read=read)}"
            )
    if head and gzipped != (plain != name):
        which = ("", "does not end", f"{name}.gz") if plain == name else ("not ", "ends", plain)
        raise SourceError(
            f"{path}: {which[0]}gzip-compressed, though its name {which[1]} in .gz; the store is "
            f"unchanged. Hint: rename it {which[2]}, then load it again"
        )


def reader(store: LogStore, path: str) -> Reader:
    """Build the :class:`Reader` for ``path``; a file that cannot be read (a compressed file cut
    short, say) raises :class:`SourceError` naming it."""
    try:
        build = {"csv": _csv, "parquet": parquet_reader, "ndjson": _ndjson, "json": _json_array}
        return build[detect_format(path)](store, path)
    except READ_FAILURES as exc:
        raise unreadable(path, exc, "check the file is complete and in the format its suffix says") from exc


def unreadable(path: str, exc: BaseException, hint: str) -> SourceError:
    """The error for ``path`` that ``exc`` kept from being read: ``hint`` says what to do, unless
    it may not be read (then: check who may read it)."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, PermissionError) or "Permission denied" in first:
        hint = f"check that you may read it (ls -l {shlex.quote(path)})"
    return SourceError(
        f"{path}: cannot be read ({first}); the store is unchanged. Hint: {hint}, then load it again"
    )


def line_numbers(path: str, offsets: np.ndarray) -> np.ndarray:
    """The line (1-based, as an editor numbers them) each byte offset of ``path`` lies on, for
    sorted offsets into the file as read (decompressed, for ``.gz``): one pass, up to the last.

    Examples:
        >>> import numpy as np, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
        >>> _ = path.write_bytes(b'a,b\\n"one\\ntwo",2\\n3,4\\n')
        >>> line_numbers(str(path), np.array([0, 4, 17])).tolist()
        [1, 2, 4]
    """
    import numpy as np

    lines = np.empty(len(offsets), dtype=np.int64)
    before = start = done = 0  # newlines before the chunk, where it starts, offsets numbered
    opened = gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    with opened as f:
        while done < len(offsets):
            chunk = f.read(1 << 24)
            end = start + len(chunk)
            upto = len(offsets) if not chunk else int(np.searchsorted(offsets, end, side="left"))
            newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) + start
            lines[done:upto] = before + np.searchsorted(newlines, offsets[done:upto], side="left") + 1
            before, start, done = before + len(newlines), end, upto
    return lines


def _open_text(path: str) -> io.TextIOWrapper:
    raw = gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def map_columns(path: str, names: list[str], fmt: str) -> tuple[dict[str, int], tuple[str, ...]]:
    """Map the column names of ``path`` (a file in format ``fmt``) to canonical ones:
    ``{canonical: position}`` and ignored names."""
    mapping: dict[str, int] = {}
    ignored = []
    for i, name in enumerate(names):
        try:
            canonical = schema.column(name).name
        except UnknownColumnError:
            ignored.append(name)
            continue
        if canonical in mapping:
            other = names[mapping[canonical]]
            if other == name:
                raise SourceError(
                    f"{path}: column {name!r} appears twice in the header. Hint: export the table "
                    "again, each column once"
                )
            raise SourceError(
                f"{path}: columns {other!r} and {name!r} both mean {canonical!r}. "
                "Hint: export with one naming style (snake_case or camelCase), not both"
            )
        mapping[canonical] = i
    missing = [c for c in schema.REQUIRED if c not in mapping]
    if missing:
        found = [*ignored, *(n for n in names if n not in ignored)]
        prisma = set(MIGRATION_COLUMNS_NEEDED) <= {n.lower() for n in names}
        hint = (
            f"it is an export of Prisma's {MIGRATIONS_TABLE}: load it as that, "
            f"llamalog load {shlex.quote(path)} --as {MIGRATIONS_TABLE} (table={MIGRATIONS_TABLE!r})"
            if prisma
            else None
        )
        raise NotLlamaLogError(path, missing, found, hint, fmt=fmt)
    return mapping, tuple(ignored)


def _csv(store: LogStore, path: str) -> Reader:
    _refuse_psql_table(path)
    with _open_text(path) as f:
        header = next(csv.reader(f), None)
    if not header:
        raise SourceError(f"{path}: the file is empty. Hint: export with CSV HEADER")
    from_path, folder_notes = path_columns([path], header)
    mapping, ignored = map_columns(path, [*header, *from_path], "csv")
    names = {f"s{i}": "VARCHAR" for i in range(len(header))}
    for table in (CSV_ERRORS, CSV_SCANS):
        store.execute(f"DROP TABLE IF EXISTS {table}")
    folders = "".join(
        f", {path_value(key, literal(path))} AS s{len(header) + n}" for n, key in enumerate(from_path)
    )
    # Numbering rows here would serialise the parallel CSV scan; the stage numbers them.
    select = f"""SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS _pre_reason, *{folders}
FROM read_csv(?, columns=?, header=true, auto_detect=false, hive_partitioning=false, delim=',',
  quote='"', escape='"', allow_quoted_nulls=false, max_line_size={MAX_LINE_BYTES}, store_rejects=true,
  rejects_table='{CSV_ERRORS}', rejects_scan='{CSV_SCANS}')"""
    # a rejected row's raw text: its fields quoted as psql quotes them (only where needed), so it
    # is the file's own line when psql wrote the file
    quoted = ", ".join(
        f"CASE WHEN s{i} IS NULL THEN '' WHEN s{i} = '' OR regexp_matches(s{i}, '[,\"\\r\\n]') "
        f"THEN '\"' || replace(s{i}, '\"', '\"\"') || '\"' ELSE s{i} END"
        for i in range(len(header))
    )
    return Reader(
        path=path,
        format="csv",
        select=select,
        params=[read_name(path), names],
        inputs={c: (f"s{i}", "text") for c, i in mapping.items()},
        raw=f"concat_ws(',', {quoted})",
        ignored=ignored,
        notes=(*folder_notes, *(() if _ends_lines(path) else (_UNENDED,))),
        numbered=False,
    )


_UNENDED = (
    "the file does not end with a line break (psql ends every export with one): its last row "
    "may be cut short; check it against the source"
)


def _ends_lines(path: str) -> bool:
    """Whether a plain file ends with a line break (or is empty); a compressed one is taken to
    (a ``.gz`` cut short does not decompress)."""
    if path.lower().endswith(".gz"):
        return True
    with open(path, "rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def table_source(store: LogStore, path: str) -> tuple[str, str]:
    """The format of ``path``, an export of a table that is not LlamaLog data (Prisma's
    ``_prisma_migrations``), and the SQL table function that reads it. CSV columns are read as
    text under the file's own header; the lines the parser cannot split go to
    :data:`CSV_ERRORS` once the function is scanned.
    """
    fmt = detect_format(path)
    if fmt != "csv":
        function = {"parquet": "read_parquet", "ndjson": "read_json", "json": "read_json"}[fmt]
        return fmt, f"{function}({literal(read_name(path))}, hive_partitioning = false)"
    with _open_text(path) as f:
        header = next(csv.reader(f), None)
    if not header:
        raise SourceError(f"{path}: the file is empty. Hint: export with CSV HEADER")
    for table in (CSV_ERRORS, CSV_SCANS):
        store.execute(f"DROP TABLE IF EXISTS {table}")
    columns = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in header)
    return fmt, (
        f"read_csv({literal(read_name(path))}, columns={{{columns}}}, header=true, auto_detect=false, "
        "hive_partitioning=false, "
        f"delim=',', quote='\"', escape='\"', allow_quoted_nulls=false, store_rejects=true, "
        f"rejects_table='{CSV_ERRORS}', rejects_scan='{CSV_SCANS}')"
    )


def parquet_reader(
    store: LogStore, path: str, files: list[str] | None = None, lacking: Mapping[str, list[str]] | None = None
) -> Reader:
    """A Parquet file, or every file a glob matches (or the ``files`` listed, the glob ``path``
    then naming them in messages), by column name, hive partitions too (see
    :func:`path_columns`); each row carries its file's name (``_source_file``) and its number
    there. ``lacking`` names, for a column some of the ``files`` hold, the files without it:
    their rows take a folder's value for it, if one names it."""
    source = (
        literal(read_name(path)) if files is None else f"[{', '.join(literal(read_name(f)) for f in files)}]"
    )
    try:
        own, from_path, types, folder_notes = parquet_columns(store, source, files or [path], lacking)
    except duckdb.Error as exc:
        hint = "check the file is complete and really Parquet (a CSV or JSON export needs its own suffix)"
        raise unreadable(path, exc, hint) from exc
    names = [*own, *from_path]
    mapping, ignored = map_columns(path, names, "parquet")
    filled = _folder_filled(own, lacking or {})
    # numbered like the CSV reader's columns: a file's own names must not meet the typed ones
    columns = [
        *(filled.get(n, quote(n)) for n in own),
        *(path_value(key, "_source_file") for key in from_path),
    ]
    renamed = ", ".join(f"{column} AS p{i}" for i, column in enumerate(columns))
    types |= dict.fromkeys(filled, "VARCHAR")
    return Reader(
        path=path,
        format="parquet",
        select=f"SELECT file_row_number + 1 AS _row, _source_file, NULL::VARCHAR AS _pre_reason, "
        f"{renamed} FROM read_parquet({source}, union_by_name = true, hive_partitioning = false, "
        "filename = '_source_file', file_row_number = true)",
        params=[],
        inputs={c: (f"p{i}", types[names[i]]) for c, i in mapping.items()},
        raw=json_text((n, f"p{i}") for i, n in enumerate(names)),
        ignored=ignored,
        notes=(*type_notes(mapping, names, types), *folder_notes),
    )


def parquet_columns(
    store: LogStore, source: str, files: list[str], lacking: Mapping[str, list[str]] | None = None
) -> tuple[list[str], list[str], dict[str, str], tuple[str, ...]]:
    """The columns of the Parquet ``files`` (``source``: SQL naming them for ``read_parquet``)
    read as one table by name: the files' own, those their folders give (as
    :func:`path_columns` says, ``lacking`` as there), the type of each (``VARCHAR`` for a
    folder's) and the notes on folders naming a column the files hold."""
    described = store.execute(
        f"DESCRIBE SELECT * FROM read_parquet({source}, union_by_name = true, hive_partitioning = false)"
    )
    own = [row[0] for row in described]
    from_path, notes = path_columns(files, own, lacking)
    return own, from_path, {row[0]: row[1] for row in described} | dict.fromkeys(from_path, "VARCHAR"), notes


def path_columns(
    files: list[str], held: list[str], lacking: Mapping[str, list[str]] | None = None
) -> tuple[list[str], tuple[str, ...]]:
    """The columns the folders of ``files`` give their rows (hive partitioning: a folder
    ``key=value`` anywhere in a file's path gives the column ``key``) that the files' own
    columns ``held`` lack, in order; and a note for each key that names a column they hold
    (ignoring case and naming style: ``entityType`` is ``entity_type``), whose values are kept,
    so that a folder named ``status=archived`` above the files does not replace their status.
    Read as one table, some files may lack a column others hold (``lacking``: the column's
    canonical name -> those files): a folder naming it gives it in their rows (see
    :func:`_folder_filled`), which the note says.

    Examples:
        >>> path_columns(["logs/status=archived/category=ENRICHED/part-0.parquet"], ["id", "status"])
        ... # doctest: +NORMALIZE_WHITESPACE
        (['category'], ("the folder status=archived names status, a column the file holds: the
        file's values are loaded, not 'archived' (a key=value folder gives only a column the files
        lack)",))
        >>> path_columns(["a.parquet", "category=CREATED/b.parquet"], ["id", "category"],
        ...              {"category": ["category=CREATED/b.parquet"]})[1]  # doctest: +NORMALIZE_WHITESPACE
        ('the folder category=CREATED names category, a column 1 of the 2 files hold: their values are
        loaded, and the 1 file without it takes the value of its folder',)
    """
    own = {_same_column(name) for name in held}
    folders: dict[str, list[str]] = {}  # key -> the folders naming it, in order
    for file in files:
        for part in Path(file).parent.parts:
            key, equals, _ = part.partition("=")
            if equals and key and part not in folders.setdefault(key, []):
                folders[key].append(part)
    holds, whose = ("the file holds", "the file's") if len(files) == 1 else ("the files hold", "the files'")
    notes = []
    for key, named in folders.items():
        if _same_column(key) in own:
            said, instead = (
                (f"the folder {named[0]} names", repr(named[0].partition("=")[2]))
                if len(named) == 1
                else (f"the folders {first_few(named, 3)} name", "the folders'")
            )
            lack = (lacking or {}).get(_same_column(key), [])
            given = sum(key in _folder_keys(f, _same_column(key)) for f in lack)  # by a folder naming it
            if given:
                takes = "takes the value of its folder" if given == 1 else "take the values of their folders"
                notes.append(
                    f"{said} {key}, a column {len(files) - len(lack):,} of the {len(files):,} files hold: "
                    f"their values are loaded, and the {count(given, 'file')} without it {takes}"
                )
                continue
            notes.append(
                f"{said} {key}, a column {holds}: {whose} values are loaded, not {instead} "
                "(a key=value folder gives only a column the files lack)"
            )
    return [key for key in folders if _same_column(key) not in own], tuple(notes)


def _folder_filled(own: list[str], lacking: Mapping[str, list[str]]) -> dict[str, str]:
    """SQL for each of the files' ``own`` columns that some files lack (``lacking``) and their
    folders name: the folder's value in the rows of those files, text like every folder's, and
    each other file's own value (as text) in its rows."""
    filled = {}
    for name in own:
        without = lacking.get(_same_column(name), [])
        keys = {key for file in without for key in _folder_keys(file, _same_column(name))}
        if keys:
            given = ", ".join(path_value(key, "_source_file") for key in sorted(keys))
            listed = ", ".join(literal(file) for file in without)
            filled[name] = (
                f"CASE WHEN _source_file IN ({listed}) THEN coalesce({given}) ELSE {quote(name)}::VARCHAR END"
            )
    return filled


def _folder_keys(file: str, column: str) -> list[str]:
    """The keys of the ``key=value`` folders in ``file``'s path that name ``column`` (canonical)."""
    parts = (part.partition("=") for part in Path(file).parent.parts)
    return [key for key, equals, _ in parts if equals and _same_column(key) == column]


def _same_column(name: str) -> str:
    """What ``name`` means as a column: its canonical name, or else itself in lower case."""
    try:
        return schema.column(name).name
    except UnknownColumnError:
        return name.lower()


def path_value(key: str, file: str) -> str:
    """SQL for the value the folder ``key=value`` in the path ``file`` (SQL) gives, as DuckDB's
    hive partitioning reads it: URL-decoded, NULL for ``__HIVE_DEFAULT_PARTITION__``, and NULL
    when no folder of the path names ``key``.

    Examples:
        >>> import duckdb
        >>> duckdb.sql(f"SELECT {path_value('kind', literal('a/kind=x%2Fy/b/f.csv'))}").fetchall()
        [('x/y',)]
    """
    pattern = literal(f"(?:^|/)\\Q{key}\\E=([^/]*)/")
    found = f"url_decode(nullif(regexp_extract({file}, {pattern}, 1), ''))"
    return f"nullif({found}, '__HIVE_DEFAULT_PARTITION__')"


def type_notes(mapping: dict[str, int], names: list[str], types: dict[str, str]) -> tuple[str, ...]:
    """What the Parquet types of a file's columns (``types``, by name; ``mapping`` and ``names``
    as :func:`map_columns` gives them) keep from the values the database held, as notes."""
    return tuple(
        note
        for column, kinds, note in _TYPE_NOTES
        if column in mapping and types[names[mapping[column]]].startswith(kinds)
    )


# What a column's Parquet type keeps from the values the database held, said in the load's notes.
_TYPE_NOTES = (
    (
        "created_at",
        ("DATE",),
        "created_at is a DATE in the file, with no time of day: every row loads at midnight UTC of its day",
    ),
    *(
        (
            column,
            ("STRUCT",),
            f"{column} is a struct in the file, which gives every row every key: a key a row did not "
            "have loads as null",
        )
        for column in ("metadata", "preview_data")
    ),
)


def _json_records(store: LogStore, path: str, fmt: str, records: str, params: list[object]) -> Reader:
    """Shared by NDJSON and JSON arrays; ``records`` yields ``_row`` and ``_line`` (JSON text)."""
    keys = [
        row[0]
        for row in store.execute(
            f"""SELECT DISTINCT unnest(json_keys(j)) FROM (
                  SELECT TRY(json(_line)) AS j FROM ({records})) WHERE json_type(j) = 'OBJECT'""",
            params,
        )
    ]
    keys.sort()
    notes = [
        "JSON null and SQL NULL are both null in a JSON export: the distinction in "
        "metadata/preview_data is unavailable and both load as SQL NULL"
    ]
    if not keys:
        kinds, found = store.execute(
            f"SELECT list(DISTINCT coalesce(json_type(TRY(json(_line))), 'not JSON') ORDER BY 1), count(*) "
            f"FROM ({records})",
            params,
        )[0]
        if found:
            which = "its only record is not" if found == 1 else f"none of its {found:,} records is"
            seen = ", ".join(sorted({_JSON_KINDS.get(k, k.lower()) for k in kinds}))
            raise SourceError(
                f"{path}: {which} a JSON object (found: {seen}). "
                "Hint: export one object per row, with the table's columns as keys"
            )
        keys = list(schema.COLUMN_NAMES)  # an export of no rows, as a CSV of its header alone
        notes = []  # the stage says there is nothing to load
    mapping, ignored = map_columns(path, keys, fmt)
    pointers = ", ".join(
        literal("/" + keys[i].replace("~", "~0").replace("/", "~1")) for i in mapping.values()
    )
    select = f"""SELECT _row, _line,
  CASE WHEN _j IS NULL THEN 'not valid JSON'
       WHEN json_type(_j) <> 'OBJECT' THEN 'not a JSON object' END AS _pre_reason,
  CASE WHEN json_type(_j) = 'OBJECT' THEN json_extract(_j, [{pointers}]) END AS _v
FROM (SELECT _row, _line, TRY(json(_line)) AS _j FROM ({records}))"""
    return Reader(
        path=path,
        format=fmt,
        select=select,
        params=params,
        inputs={c: (f"_v[{n + 1}]", "json") for n, c in enumerate(mapping)},
        raw="_line",
        ignored=ignored,
        notes=tuple(notes),
    )


_JSON_KINDS = {"UBIGINT": "number", "BIGINT": "number", "DOUBLE": "number", "VARCHAR": "string"}


def _ndjson(store: LogStore, path: str) -> Reader:
    _refuse_copy_text(path, "SELECT row_to_json(t) FROM llama_logs t")
    for table in (CSV_ERRORS, CSV_SCANS):
        store.execute(f"DROP TABLE IF EXISTS {table}")
    lines = f"""SELECT _row, _line FROM (
  SELECT row_number() OVER () AS _row, line AS _line
  FROM read_csv(?, columns={{'line': 'VARCHAR'}}, header=false, auto_detect=false, delim=chr(1),
    quote='', escape='', allow_quoted_nulls=false, max_line_size={MAX_LINE_BYTES},
    store_rejects=true, rejects_table='{CSV_ERRORS}', rejects_scan='{CSV_SCANS}'))
WHERE trim(coalesce(_line, '')) <> ''"""
    return _json_records(store, path, "ndjson", lines, [read_name(path)])


def _json_array(store: LogStore, path: str) -> Reader:
    _refuse_copy_text(path, "SELECT json_agg(t) FROM llama_logs t")
    records = f"""SELECT row_number() OVER () AS _row, CAST(json AS VARCHAR) AS _line
FROM read_json_objects(?, format='array', maximum_object_size={MAX_LINE_BYTES})"""
    problem = None if _closes_array(path) else "the file ends before the closing ]"
    if problem is None:
        try:
            store.execute(f"SELECT count(*) FROM ({records})", [read_name(path)])
        except duckdb.Error as exc:
            problem = str(exc).splitlines()[0]
    if problem:
        raise SourceError(
            f"{path}: not a valid JSON array ({problem}). Hint: check the file is complete; "
            "export a JSON array of row objects, or one object per line (NDJSON)"
        )
    return _json_records(store, path, "json", records, [read_name(path)])


def _closes_array(path: str) -> bool:
    """Whether the file's last non-blank character is ``]`` (DuckDB accepts a truncated array)."""
    return _tail(path).rstrip().endswith(b"]")


def _tail(path: str) -> bytes:
    """The last 64 bytes of ``path`` as read (decompressed, for ``.gz``)."""
    if path.lower().endswith(".gz"):
        with gzip.open(path, "rb") as f:
            tail = b""
            while chunk := f.read(1 << 20):
                tail = (tail + chunk)[-64:]
        return tail
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 64))
        return f.read()


def _refuse_psql_table(path: str) -> None:
    r"""Raise :class:`SourceError` when ``path``, a plain file named as CSV, ends as psql's table
    output does (aligned or ``-A``, with any separator): with its footer, ``(N rows)``. A
    compressed file is not checked (that would read it through once more).

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
        >>> _ = path.write_text("id,operation\n1,a,b\n(1 row)\n")
        >>> _refuse_psql_table(str(path))
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.SourceError: ...x.csv: psql's table output (it ends with '(1 row)'), ...
    """
    if path.lower().endswith(".gz"):
        return
    footer = re.search(rb"\n(\(\d+ rows?\))\s*$", _tail(path))
    if footer:
        name = os.path.basename(path)
        raise SourceError(
            f"{path}: psql's table output (it ends with {footer[1].decode()!r}), not CSV: it quotes no "
            "value, so a comma or a line break in one shifts or splits its row, and NULL and empty text "
            "look alike; the store is unchanged. Hint: export the table as CSV: psql --csv -c "
            f"'SELECT * FROM llama_logs' > {name}, then load that file"
        )


# COPY's text format writes a backslash as two, and a line break, a tab... as a backslash and a letter.
_COPY_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v"}


def _refuse_copy_text(path: str, query: str) -> None:
    r"""Raise :class:`SourceError` when the JSON in ``path`` was written by ``COPY ... TO STDOUT``
    in its text format (``query`` exports it as it should be): its first megabyte then parses
    further once COPY's escapes are undone than as written. Such a file's rows holding a line
    break would load with a backslash and an n in its place, so none is loaded.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.ndjson"
        >>> _ = path.write_text('{"reason": "a\\\\nb"}\n{"reason": "say \\\\"hi\\\\""}\n')
        >>> _refuse_copy_text(str(path), "SELECT row_to_json(t) FROM llama_logs t")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.SourceError: ...x.ndjson: written by COPY ... (line 2 is JSON only ...
    """
    try:
        with _open_text(path) as f:
            head = f.read(1 << 20)
    except (EOFError, zlib.error):  # a compressed file cut short: its reader says so
        return
    parsed, stop = _leading_values(head)
    undone = re.sub(r"\\([\\nrtbfv])", lambda m: _COPY_ESCAPES[m[1]], head)
    if _leading_values(undone)[0] > parsed:
        name = os.path.basename(path)
        name = name[:-3] if name.lower().endswith(".gz") else name
        raise SourceError(
            f"{path}: written by COPY ... TO STDOUT in its text format, which doubles each backslash of "
            f"the JSON (line {head.count(chr(10), 0, stop) + 1} is JSON only once they are halved), so rows "
            "holding a quote, a line break or a backslash would load wrong; the store is unchanged. "
            f"Hint: export it with psql's unaligned output instead: psql -At -c '{query}' > {name}, "
            "then load that file"
        )


def _leading_values(text: str) -> tuple[int, int]:
    r"""How many JSON values ``text`` begins with parse (one a line, or the elements of an array,
    which may be cut short), and where the first that does not starts.

    Examples:
        >>> _leading_values('[{"a": 1}, {"b": 2}, {"c": ')
        (2, 21)
        >>> _leading_values('{"a": 1}\n{"b": \\"}\n')
        (1, 9)
    """
    decoder, parsed = json.JSONDecoder(), 0
    at = text.index("[") + 1 if text.lstrip().startswith("[") else 0
    while True:
        while at < len(text) and text[at] in " \t\r\n,":  # between values
            at += 1
        try:
            _, at = decoder.raw_decode(text, at)
        except ValueError:
            return parsed, at
        parsed += 1
