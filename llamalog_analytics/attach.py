"""Attach a folder of Parquet files as a log table: read where they are, never copied.

The store keeps a view over the files with the same column mapping and typing as a load, so
chains, the audit, timelines and reports read the files in place, out of core. The files get the
checks of a load once, when attached: a row a load would reject, or an id given twice, refuses
the attachment (a load keeps such rows aside instead). The view reads the files that were there
when attached, and only those: after files are added, removed or rewritten, attach again (which
checks them all). The store keeps each file's size and modification time, so a read that fails
on a file removed, moved or changed since names that file, and the table is not read until it is
attached again (a file rewritten in place would give rows that were never checked). Nothing can
be loaded into an attached table.
"""

from __future__ import annotations

import glob
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from . import _readers, schema
from ._convert import checked_rows
from ._format import count, first_few
from ._sql import ATTACHED, ATTACHED_FILES_TABLE, LOAD_ID_COLUMN, LOADS_TABLE, literal, quote
from .errors import ArgumentError, NotLlamaLogError, SourceError, StoreError
from .stage import LoadResult, RowFindings, SourceLoad, Stage, log_table_name

if TYPE_CHECKING:
    from .store import LogStore


def attach(store: LogStore, source: str | Path, table: str = schema.CURRENT_TABLE) -> LoadResult:
    """Make the Parquet files at ``source`` (a folder, searched recursively, hive-partitioned or
    not; or a glob) the store's log table ``table``, read where they are.

    The attachment is recorded as a load (format ``parquet, attached``). Attaching again
    replaces the view: after files were added, removed or rewritten, or moved; the rows of a file
    attached before, as it is now, count as unchanged, the others as new.

    Raises:
        SourceError: no Parquet file there, a file that is not Parquet or lacks a required
            column, a row a load would reject (named by file, row and column), or an id that
            is given twice; the store is unchanged.
        StoreError: ``table`` holds loaded rows, or is not a table name.

    Examples:
        >>> import llamalog_analytics as lla
        >>> with lla.LogStore() as store:
        ...     result = store.attach(lla.sample_path("llama_logs.parquet"))
        ...     store.tables(), result.rows_loaded == store.table().height
        (('llama_logs',), True)
    """
    if not isinstance(source, str | os.PathLike):
        raise ArgumentError(
            f"attach takes one folder or glob, not a {type(source).__name__}. Hint: put the files in "
            "one folder, or name them with a glob such as 'logs/*.parquet'"
        )
    table = log_table_name(table)
    patterns, shown, folder = _pattern(source)
    with store.session(write=True), store._files_unchecked():  # every file is checked here
        if store.has_table(table):
            raise StoreError(
                f"{store.path or 'the in-memory store'}: the store holds loaded rows in {table!r}; an "
                "attached table cannot replace them. Hint: attach as another table "
                "(table='llama_logs_files', --as NAME)"
            )
        files, left_out = _files(store, source, patterns, folder)
        import polars as pl

        stats = {f: _readers.file_stat(f) for f in files}  # as they are before they are read
        found = pl.DataFrame(  # a change since then is noticed
            [(table, f, *(stats[f] or (None, None))) for f in files],  # gone: the read fails
            schema={"table_name": pl.String, "file": pl.String, "size": pl.Int64, "modified_ns": pl.Int64},
            orient="row",
        )
        kept, went = _attached_before(store, table, stats)
        partly_absent, lacking = _columns_of_each(store, files)
        rdr = _readers.parquet_reader(store, shown, files, lacking)
        checked = checked_rows(rdr)
        findings = RowFindings.of(rdr)
        try:
            rows, bad, where, repeated, unchanged, *of_rows = store.execute(  # the files read once
                f"""SELECT count(*), count(_reason),
  arg_min([_source_file, _row::VARCHAR, _column, _reason], _row) FILTER (_reason IS NOT NULL),
  count(id) - count(DISTINCT id), count(*) FILTER (list_contains(?, _source_file))
  {"".join(f", {a}" for a in findings.aggregates)}
FROM ({checked})""",
                [kept, *findings.params],
            )[0]
        except duckdb.Error as exc:
            typed = isinstance(exc, (duckdb.ConversionException, duckdb.BinderException))
            fix = "give a column one type in every file" if typed else "check the files are complete"
            raise SourceError(
                f"{shown}: the files cannot be read as one table ({str(exc).splitlines()[0]}), so "
                f"nothing was attached. Hint: {fix}, or load the files instead (llamalog load), "
                "which reads each file on its own"
            ) from exc
        if bad:
            file, row, column, reason = where
            reason = reason.removeprefix(f"{column}: ")  # a reason names its column first
            raise SourceError(
                f"{file}: row {row}, column {column}: {reason}; {bad:,} of the {rows:,} rows at "
                f"{shown} cannot be loaded, so nothing was attached. Hint: load them instead "
                "(llamalog load), which keeps such rows aside with the reason, or fix the files"
            )
        if repeated:  # read again only to name one, and where
            twice, given = store.execute(
                f"""SELECT id, list(_source_file || ' row ' || _row ORDER BY _source_file, _row)[:2]
FROM ({checked}) GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 1"""
            )[0]
            raise SourceError(
                f"{shown}: id {twice} is given more than once ({' and '.join(given)}), so nothing was "
                "attached. Hint: load the files instead (llamalog load), which keeps one row per id"
            )
        with Stage(store) as stage:
            names = ", ".join(quote(c) for c in schema.COLUMN_NAMES)
            store.execute(
                f"CREATE OR REPLACE VIEW {quote(table)} AS "
                f"SELECT {names}, {stage.load_id}::INTEGER AS {LOAD_ID_COLUMN} FROM ({checked})"
            )
            store.execute(f"DELETE FROM {ATTACHED_FILES_TABLE} WHERE table_name = ?", [table])
            with store.registered("_llamalog_attached_now", found) as now:
                store.execute(f"INSERT INTO {ATTACHED_FILES_TABLE} SELECT * FROM {now}")
            absent = tuple(c for c in schema.COLUMN_NAMES if c not in rdr.inputs)
            unknown, noted = findings.read(of_rows)
            said = []
            if went:
                said.append(
                    f"{count(went, 'file')} attached before {'was' if went == 1 else 'were'} rewritten, "
                    "removed or left out since: the rows they held cannot be compared, so a row counts "
                    "as new unless its file is attached again as it was"
                )
            notes = (*rdr.notes, *partly_absent, *left_out, *noted, *said)
            new = rows - unchanged  # a file attached again as it was holds the rows checked then
            loaded = SourceLoad(shown, ATTACHED, table, rows, rows, new, 0, absent, unknown, notes)
            return stage.commit(replaced_from=[loaded])


def _attached_before(
    store: LogStore, table: str, now: dict[str, tuple[int, int] | None]
) -> tuple[list[str], int]:
    """The files attached as ``table`` before that are among those attached now as they were
    then (same size and modification time: their rows are the rows checked then), and how many
    other files were attached as ``table`` before."""
    before = store.execute(
        f"SELECT file, size, modified_ns FROM {ATTACHED_FILES_TABLE} WHERE table_name = ?", [table]
    )
    kept = [file for file, *stat in before if now.get(file) == tuple(stat)]
    return kept, len(before) - len(kept)


def _columns_of_each(store: LogStore, files: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Each file's columns, checked as a load of that file alone checks them (a required column
    missing, one column named twice), and each column named one way in every file (the files
    are read as one table, by name); returns a note for each column some files lack (their
    folders not giving it), and for each type note a load of some of the files would give
    (read as one table, their column has the other files' type, which does not show what
    theirs loses); and for each column some files hold, the files that do not (a folder naming
    it gives it in their rows, as a load of such a file alone takes it)."""
    named: dict[str, tuple[str, str]] = {}  # canonical column -> (its name, the first file naming it)
    lacking: dict[str, int] = {}
    without: dict[str, list[str]] = {}  # canonical column -> the files whose own columns lack it
    typed: dict[str, list[str]] = {}  # a type note -> the files a load would give it for
    for file in files:
        try:
            own, from_path, types, _ = _readers.parquet_columns(
                store, literal(_readers.read_name(file)), [file]
            )
            names = [*own, *from_path]
        except duckdb.Error as exc:
            raise SourceError(
                f"{file}: not a readable Parquet file ({str(exc).splitlines()[0]}), so nothing was "
                "attached. Hint: check the file is complete and really Parquet"
            ) from exc
        try:
            mapping, _ = _readers.map_columns(file, names, "parquet")
        except NotLlamaLogError as exc:
            raise NotLlamaLogError(
                file,
                exc.missing,
                exc.found,
                "nothing was attached; export that file again with every column, or move it out of the "
                "folder, and attach again",
            ) from None
        for canonical, at in mapping.items():
            name, first = named.setdefault(canonical, (names[at], file))
            if name != names[at]:
                raise SourceError(
                    f"{file}: column {names[at]!r} is {name!r} in {first}, and the files are read as one "
                    "table by name. Hint: export them with one naming style (snake_case or camelCase), "
                    "or load them instead (llamalog load), which reads each file on its own"
                )
        for column in schema.COLUMN_NAMES:
            lacking[column] = lacking.get(column, 0) + (column not in mapping)
            if mapping.get(column, len(own)) >= len(own):  # none of its own (a folder's, or none)
                without.setdefault(column, []).append(file)
        for note in _readers.type_notes(mapping, names, types):
            typed.setdefault(note, []).append(file)
    notes = [
        *(
            f"{column} is absent from {missing:,} of the {len(files):,} files (NULL in their rows)"
            for column, missing in lacking.items()
            if 0 < missing < len(files)
        ),
        *(
            f"{note} (only in {len(these):,} of the {len(files):,} files, e.g. "
            f"{os.path.relpath(these[0], os.path.commonpath(files))})"
            for note, these in typed.items()
            if len(these) < len(files)
        ),
    ]
    return notes, {column: these for column, these in without.items() if len(these) < len(files)}


def attached_from(store: LogStore, table: str) -> str | None:
    """The folder or glob ``table`` is a view over, made by :func:`~llamalog_analytics.attach.attach`;
    None when it is not attached."""
    found = store.execute(
        f"""SELECT source FROM {LOADS_TABLE} WHERE table_name = ? AND format = ?
  AND EXISTS (SELECT 1 FROM duckdb_views() WHERE view_name = ? AND NOT temporary)
ORDER BY load_id DESC LIMIT 1""",
        [table, ATTACHED, table],
    )
    return again_argument(found[0][0]) if found else None


def attach_again(source: str, table: str, store_path: str | None) -> str:
    """How to attach ``table`` again from ``source`` (:func:`attached_from`), as a hint ends
    with it: the command for a store file (the call named before it, so the line pastes), the
    call for an in-memory store.

    Examples:
        >>> attach_again("logs", "archive", None)
        ": store.attach('logs', 'archive')"
    """
    if store_path is None:
        return f": store.attach({source!r}, {table!r})"
    where = shlex.quote(str(Path(store_path).resolve()))
    return f" (store.attach in Python): llamalog attach {shlex.quote(source)} --as {table} --db {where}"


def unread_files(store: LogStore, table: str) -> list[str]:
    """The Parquet files the folder or glob of the attached ``table`` holds now that it does not
    read: added since it was attached, until it is attached again (none for a table attached
    by an earlier version, which recorded only its glob and reads what it matches)."""
    source = attached_from(store, table)
    if source is None:
        return []
    read = {
        f for (f,) in store.execute(f"SELECT file FROM {ATTACHED_FILES_TABLE} WHERE table_name = ?", [table])
    }
    if not read:  # attached by an earlier version
        return []
    patterns, _, folder = _pattern(source)
    try:
        there, _ = _files(store, source, patterns, folder)
    except SourceError:  # none there now: the table's reads say what went
        return []
    return [file for file in there if file not in read]


def again_argument(source: str) -> str:
    """What to attach again for the recorded ``source`` of an attachment (as :func:`_pattern`
    shows it): the folder, for a folder's files; else the file or glob.

    Examples:
        >>> again_argument("data/sample/**/*.parquet"), again_argument("logs/*.parquet")
        ('data/sample', 'logs/*.parquet')
    """
    folder = source.removesuffix(f"/{_BELOW}")
    return folder if folder != source and Path(folder).is_dir() else source


_BELOW = "**/*.parquet"  # how a folder's files are shown and recorded (.pq and any case are read too)


def _pattern(source: str | Path) -> tuple[list[str], str, Path | None]:
    """``source`` as absolute globs for DuckDB (a folder's name or a file's read literally, ``[``
    too; every file below a folder as a glob), as people read it (nothing escaped), and the
    folder (None for a file or a glob)."""
    path = Path(source).expanduser()
    if path.is_dir():
        folder = path.resolve()
        return [str(Path(glob.escape(str(folder))) / "**" / "*")], str(folder / _BELOW), folder
    shown = str(path.absolute())
    return [glob.escape(shown) if path.is_file() else shown], shown, None


def _linked_folders(folder: Path) -> list[str]:
    """The folders below ``folder`` that are symbolic links (by their names within it), which a
    folder's glob does not enter; not under a name starting with ``_`` or ``.``."""
    found = []
    for top, folders, _ in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(("_", "."))]
        found += [
            str(Path(top, name).relative_to(folder)) for name in folders if Path(top, name).is_symlink()
        ]
    return sorted(found)


def _is_parquet(file: str) -> bool:
    """Whether ``file`` is Parquet by its name: ``.parquet`` or ``.pq``, in any case."""
    return _readers.SUFFIXES.get(Path(file).suffix.lower()) == "parquet"


def _files(
    store: LogStore, source: str | Path, patterns: list[str], folder: Path | None
) -> tuple[list[str], list[str]]:
    """The files ``patterns`` match now, as DuckDB's glob finds them (the view reads these and
    no others), and a note naming a folder's files left out as not Parquet by name; in a folder,
    not what lies under a name starting with ``_`` or ``.`` (a job's ``_temporary/`` files,
    ``_SUCCESS``, hidden files), as Spark and pyarrow leave them out. An error if there are no
    Parquet files, or a glob or file names one that is not Parquet."""
    files = sorted(
        {f for pattern in patterns for (f,) in store.execute("SELECT file FROM glob(?)", [pattern])}
    )
    if folder is not None:
        hidden = ("_", ".")
        files = [f for f in files if not any(p.startswith(hidden) for p in Path(f).relative_to(folder).parts)]
    others = [f for f in files if not _is_parquet(f)]
    notes = []
    if folder is not None and others:
        files = [f for f in files if _is_parquet(f)]
        named = first_few([str(Path(f).relative_to(folder)) for f in others], 3)
        notes.append(f"left out, not Parquet by name: {named}")
    if folder is not None and (linked := _linked_folders(folder)):
        notes.append(
            f"left out, folders reached through a symbolic link: {first_few(linked, 3)} (attach such a "
            "folder by its own path, as another table)"
        )
    if not files:
        if folder is None and not any(c in str(source) for c in "*?[") and not Path(source).exists():
            raise SourceError(f"{source}: no such file or folder. Hint: check the path")
        raise SourceError(
            f"{source}: no Parquet files there{''.join(f'; {note}' for note in notes)}. Hint: name a "
            "folder of .parquet files (searched recursively, hive-partitioned or not) or a glob such as "
            "'logs/*.parquet'"
        )
    if folder is None and others:
        which = "it is not one" if Path(source).is_file() else f"{others[0]} is not one"
        raise SourceError(
            f"{source}: only Parquet files can be attached, and {which} (by its name). Hint: name a "
            "folder of .parquet files or a glob such as 'logs/*.parquet'; load other files instead "
            "(llamalog load), which copies them"
        )
    return files, notes
