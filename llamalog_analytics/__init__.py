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
    "AuditComparison",
    "AuditHistory",
    "AuditReport",
    "AuditRun",
    "ChainPage",
    "Explanation",
    "LlamalogError",
    "LoadResult",
    "LogStore",
    "LogTable",
    "RepairPlan",
    "StoreSummary",
    "audit_history",
    "chain",
    "chain_page",
    "compare_audits",
    "demo",
    "errors",
    "explain",
    "links",
    "log_table",
    "plot_timeline",
    "provenance_graph",
    "repair",
    "rules",
    "sample_path",
    "sample_store",
    "schema",
    "summarize",
    "synthetic",
    "verify",
    "write_graph",
    "write_logs",
    "write_timeline",
    "write_trace",
]

_LAZY = {
    "ChainPage": ("chains", "ChainPage"),
    "Explanation": ("explanation", "Explanation"),
    "chain": ("chains", "chain"),
    "chain_page": ("chains", "chain_page"),
    "explain": ("explanation", "explain"),
    "LogTable": ("log_view", "LogTable"),
    "log_table": ("log_view", "log_table"),
    "provenance_graph": ("graph", "provenance_graph"),
    "write_graph": ("export", "write_graph"),
    "LoadResult": ("stage", "LoadResult"),
    "LogStore": ("store", "LogStore"),
    "LlamalogError": ("errors", "LlamalogError"),
    "StoreSummary": ("summary", "StoreSummary"),
    "demo": ("sample", "demo"),
    "sample_path": ("sample", "sample_path"),
    "sample_store": ("sample", "sample_store"),
    "summarize": ("summary", "summarize"),
    "write_logs": ("export", "write_logs"),
    "AuditReport": ("audit", "AuditReport"),
    "AuditComparison": ("audit", "AuditComparison"),
    "AuditHistory": ("audit", "AuditHistory"),
    "AuditRun": ("audit", "AuditRun"),
    "audit_history": ("audit", "audit_history"),
    "compare_audits": ("audit", "compare_audits"),
    "verify": ("audit", "verify"),
    "RepairPlan": ("repairs", "RepairPlan"),
    "repair": ("repairs", "repair"),
    "plot_timeline": ("timeline", "plot_timeline"),
    "write_timeline": ("export", "write_timeline"),
    "write_trace": ("export", "write_trace"),
}

if TYPE_CHECKING:
    from . import errors, links, rules, schema, synthetic
    from .audit import (
        AuditComparison,
        AuditHistory,
        AuditReport,
        AuditRun,
        audit_history,
        compare_audits,
        verify,
    )
    from .chains import ChainPage, chain, chain_page
    from .errors import LlamalogError
    from .explanation import Explanation, explain
    from .export import write_graph, write_logs, write_timeline, write_trace
    from .graph import provenance_graph
    from .log_view import LogTable, log_table
    from .repairs import RepairPlan, repair
    from .sample import demo, sample_path, sample_store
    from .stage import LoadResult
    from .store import LogStore
    from .summary import StoreSummary, summarize
    from .timeline import plot_timeline


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    elif name in ("errors", "links", "rules", "schema", "synthetic"):
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
