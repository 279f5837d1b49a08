"""Errors raised by llamalog_analytics.

Every message says what was wrong, where (file, row, column) and ends with a hint::

    LlamalogError
    ├── SourceError (ValueError)         a file or database that cannot be read as LlamaLog data
    │   ├── NotLlamaLogError             no id/operation/created_at-like columns
    │   └── PostgresError                the database cannot be reached or read
    ├── UnknownColumnError (KeyError)    a column name the schema does not know
    ├── ArgumentError (ValueError)       an argument that is not what it must be (a time that is none...)
    │   ├── LinkError                    an unknown link mode, a bad reuse gap, or one given with bare ids
    │   │   └── JobKeyCollisionError     two job ids given one number (hashes alike); see link_runs
    │   ├── ChainError                   an unknown entity type, category or mode in a chain request
    │   └── TimelineError                a timeline that cannot be drawn as asked
    ├── ExportError (ValueError)         an output format that cannot be told or written
    └── StoreError                       the DuckDB store cannot be opened or changed
        ├── StoreNotFoundError (FileNotFoundError)  no store file where one is to be read
        ├── StoreLockedError             another process kept the store file longer than `wait`
        └── AttachedFilesChangedError    an attached table's file changed since it was attached
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Iterable

from ._format import count


class LlamalogError(Exception):
    """Base class of every error this package raises on purpose."""


class SourceError(LlamalogError, ValueError):
    """A source that cannot be loaded; nothing was written to the store."""


class NotLlamaLogError(SourceError):
    """A file that does not look like LlamaLog data."""

    def __init__(
        self,
        source: str,
        missing: Iterable[str],
        found: Iterable[str],
        hint: str | None = None,
        *,
        fmt: str = "csv",
    ) -> None:
        """``found``: the source's column names, those the schema does not know first (shown
        before the others, and searched for a likely spelling of each missing column); ``hint``:
        what to do, when not to export the table again in ``fmt`` (csv, parquet, json or
        ndjson: the source's)."""
        missing, found = list(missing), list(found)
        shown = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "")
        squashed = {name.lower().replace("_", ""): name for name in found}
        guesses = [
            f"{squashed[close[0]]} for {name}"
            for name in missing
            if (close := difflib.get_close_matches(name.replace("_", ""), list(squashed), n=1, cutoff=0.75))
        ]
        guess = f"; perhaps {', '.join(guesses)}?" if guesses else ""
        if fmt == "csv":
            separator = next((s for s in (";", "\t", "|") if len(found) == 1 and s in found[0]), None)
            export = (
                f"the header is one column holding {separator!r}: export with commas, e.g. "
                if separator
                else "export the table with its header, e.g. "
            )
            hint = hint or export + "\\copy llama_logs TO 'llama_logs.csv' CSV HEADER"
        hint = hint or (
            f"write the file with every column of llama_logs ({', '.join(missing)} among them), named "
            "in snake_case or camelCase, e.g. in DuckDB: COPY (SELECT * FROM llama_logs) TO "
            f"'llama_logs.{fmt}'"
        )
        super().__init__(
            f"{source}: not LlamaLog data: missing {count(len(missing), 'column')}: {', '.join(missing)} "
            f"(found: {shown or 'no columns'}{guess}). Hint: {hint}"
        )
        self.source, self.missing, self.found = source, missing, found


class PostgresError(SourceError):
    """The source database cannot be reached or read; the store is unchanged."""


class UnknownColumnError(LlamalogError, KeyError):
    """A column name that is not part of the ``llama_logs`` schema."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(name)
        self.message = f"unknown column {name!r}. Hint: known columns are {', '.join(known)}"

    def __str__(self) -> str:
        return self.message


class ArgumentError(LlamalogError, ValueError):
    """An argument that is not what it must be: a time that is none, a name nothing is called."""


class LinkError(ArgumentError):
    """Job links asked for in a way that cannot be followed (unknown mode, bad reuse gap)."""


class JobKeyCollisionError(LinkError):
    """Two different job ids were given the same number (their hashes came out alike), which
    a second key told apart; the audit then links the rows by its SQL instead."""


class ChainError(ArgumentError):
    """A chain request names an unknown entity type, category or mode, or a time that is none."""


class TimelineError(ArgumentError):
    """A timeline cannot be drawn as asked."""


class StoreError(LlamalogError):
    """The store cannot be opened or changed; the store is left as it was."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """No store file at the path a store is to be read from; the stores beside it are named.

    Attributes:
        path: the path asked for.
        found: other ``*.duckdb`` files in that folder, the demo's store first.
    """

    def __init__(self, path: str, found: Iterable[str]) -> None:
        self.path, self.found = path, list(found)
        super().__init__(self.message())

    def message(self, how: str | None = None) -> str:
        """The message; ``how`` shows how to open the first store found (default: ``LogStore``)."""
        if not self.found:
            load = f"llamalog load FILE --db {shlex.quote(self.path)}"
            return (
                f"{self.path}: no such store. Hint: load data into it first ({load}), "
                "or try the bundled sample with llamalog demo"
            )
        named = ", ".join(self.found[:5]) + (", ..." if len(self.found) > 5 else "")
        folder = os.path.dirname(self.path)
        how = how or f"LogStore({self.found[0]!r}, read_only=True)"
        which = "that store" if len(self.found) == 1 else "one of those"
        return f"{self.path}: no such store ({folder or 'this folder'} has {named}). Hint: use {which}: {how}"

    def __str__(self) -> str:
        return self.message()


class StoreLockedError(StoreError):
    """Another process kept the store file (writing, or reading when this one writes) for longer
    than the store waits; or this process holds it for reading where it asks to write."""


class AttachedFilesChangedError(StoreError):
    """A file of an attached table was removed, moved or rewritten since it was attached, so the
    table is not read (its rows were never checked); the message says how to attach it again."""


class ExportError(LlamalogError, ValueError):
    """An export was asked for in a format that cannot be told or written."""


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C (SIGINT, a notebook's interrupt) as it reaches this package:
    Python's ``KeyboardInterrupt``, DuckDB's interrupted query, or DuckDB failing to read an
    Arrow stream (the database driver's, a progress bar's) that a ``KeyboardInterrupt`` stopped.

    Examples:
        >>> interrupted(KeyboardInterrupt()), interrupted(RuntimeError("Query interrupted"))
        (True, True)
        >>> interrupted(ValueError("reading the object registered as 'x' failed: KeyboardInterrupt: "))
        True
        >>> interrupted(ValueError("Invalid Input Error: a row holds 'KeyboardInterrupts'"))
        False
    """
    return (
        isinstance(exc, KeyboardInterrupt)
        or type(exc).__name__ == "InterruptException"
        or str(exc) == "Query interrupted"
        or re.search(r"(^|: |\n)KeyboardInterrupt(:|\n|$)", str(exc)) is not None
    )
