"""Memory for work over whole tables: what DuckDB keeps while a table is read through once, and
what the process freed, given back to the system after large array work."""

from __future__ import annotations

import contextlib
import ctypes

SCAN_MEMORY = "200MB"
"""DuckDB's memory limit while a store file's table is read through once into arrays (for a
chain index, or the audit's table of job links): it need cache little of the table, and what
it would cache is memory the arrays need."""


def give_back_freed_memory() -> None:
    """Return to the system what work over whole-table arrays freed: glibc keeps freed blocks
    smaller than its mmap threshold (up to 32 MB: the arrays of a few million rows) in the
    process, and Arrow's pool keeps what converting batches used, so what comes next would
    count on top of it (a chain index built at a million rows would hold twice its size)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing more to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)
