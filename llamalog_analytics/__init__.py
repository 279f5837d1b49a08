"""llamalog_analytics: load, explore and audit the LlamaLog audit table of the music catalog.

``import llamalog_analytics as lla`` gives everything a notebook needs::

    store = lla.LogStore("llamalog.duckdb")
    store.load_files("llama_logs.csv")
    print(lla.summarize(store))

Modules load on first use, so importing the package stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "LlamalogError",
    "LoadResult",
    "LogStore",
    "StoreSummary",
    "demo",
    "errors",
    "sample_path",
    "schema",
    "summarize",
    "synthetic",
    "write_logs",
]

_LAZY = {
    "LoadResult": ("load", "LoadResult"),
    "LogStore": ("store", "LogStore"),
    "LlamalogError": ("errors", "LlamalogError"),
    "StoreSummary": ("summary", "StoreSummary"),
    "demo": ("sample", "demo"),
    "sample_path": ("sample", "sample_path"),
    "summarize": ("summary", "summarize"),
    "write_logs": ("export", "write_logs"),
}

if TYPE_CHECKING:
    from . import errors, schema, synthetic
    from .errors import LlamalogError
    from .export import write_logs
    from .load import LoadResult
    from .sample import demo, sample_path
    from .store import LogStore
    from .summary import StoreSummary, summarize


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    elif name in ("errors", "schema", "synthetic"):
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
