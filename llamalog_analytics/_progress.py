"""A progress bar for long DuckDB statements, in a terminal or a notebook.

DuckDB reports a running statement's progress through ``query_progress()``; a background
thread polls it and drives a ``tqdm.auto`` bar, which renders as a widget in Jupyter. The bar
only appears when the statement runs longer than a second.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import duckdb


@contextlib.contextmanager
def track(
    con: duckdb.DuckDBPyConnection, label: str, *, quiet: bool = False, delay: float = 1.0
) -> Iterator[None]:
    """Show the progress of the statements run inside the block after ``delay`` seconds
    (nothing when ``quiet``)."""
    if quiet:
        yield
        return
    from tqdm.auto import tqdm

    done = threading.Event()
    bar = tqdm(
        total=100,
        desc=f"[🦙 LlamaLog] {label}",
        unit="%",
        delay=delay,
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
    )

    def poll() -> None:
        while not done.wait(0.2):
            percent = con.query_progress()
            if percent >= 0:
                bar.update(max(0.0, min(percent, 100.0) - bar.n))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        bar.close()
