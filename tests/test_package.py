"""The public surface, import cost, and docs that must not drift."""

from __future__ import annotations

import re
import subprocess
import sys

from click.testing import CliRunner
from conftest import ROOT

import llamalog_analytics as lla
from llamalog_analytics.cli import main

PUBLIC = [
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


def test_public_surface_is_pinned_and_sorted():
    assert lla.__all__ == PUBLIC == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(lla, name) is not None


def test_import_is_light():
    code = (
        "import sys, time; t = time.perf_counter(); import llamalog_analytics; "
        "print(time.perf_counter() - t); print(' '.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seconds, modules = out.splitlines()
    loaded = set(modules.split())
    heavy = {
        "plotly",
        "networkx",
        "psycopg",
        "psycopg2",
        "adbc_driver_postgresql",
        "sqlalchemy",
        "polars",
        "duckdb",
    }
    assert not heavy & loaded
    assert float(seconds) < 0.5


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in main.commands:
        assert f"llamalog {name}" in readme, f"README does not show `llamalog {name}`"
        help_text = CliRunner().invoke(main, [name, "--help"]).output
        for option in re.findall(r"(--[a-z-]+)", help_text):
            if option != "--help":
                assert option in readme, f"README does not mention {option} of `llamalog {name}`"


def test_readme_has_exactly_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:sh|bash)\n(.*?)```", setup, flags=re.S)
    assert len(commands) == 2
    assert "llamalog demo" in commands[0]
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci


def test_every_error_is_defined_in_errors_drawn_in_its_tree_and_raised_in_place_of_builtins():
    from llamalog_analytics import errors

    classes = [errors.LlamalogError]
    for cls in classes:
        classes.extend(cls.__subclasses__())
    assert {cls.__module__ for cls in classes} == {"llamalog_analytics.errors"}
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    assert drawn == {cls.__name__ for cls in classes[1:]}
    elsewhere = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in (ROOT / "llamalog_analytics").rglob("*.py")
        if path.name != "errors.py"
        for line in path.read_text().splitlines()
        if re.match(r"\s*class \w+\((\w+\.)?\w*(Error|Exception)\b", line)
        or re.search(r"raise (ValueError|TypeError|KeyError|FileNotFoundError)\b", line)
    ]
    assert not elsewhere


def test_a_load_leaves_polars_unloaded():
    """Loading moves rows from a source to DuckDB without polars (a fifth of a second to
    import), so a shell's incremental load costs little more than its new rows."""
    code = f"""
import sys, llamalog_analytics as lla
with lla.LogStore() as store:
    store.load_files({str(lla.sample_path("llama_logs.csv.gz"))!r}, quiet=True)
print("polars" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_text_results_and_their_views_do_not_load_plotly():
    """A store's summary, a load, an explanation and a log table draw no figure, so they leave
    plotly (a second or so to import) unloaded, their notebook views included."""
    code = """
import sys, llamalog_analytics as lla
with lla.sample_store() as store:
    album = "3e8428c2-2d96-4742-8ce3-9cf025319cd4"
    views = [lla.summarize(store), lla.explain(store, "ALBUM", album), lla.log_table(store.table()),
             store.load_files(lla.sample_path("llama_logs.parquet"), quiet=True)]
    html = [view._repr_html_() for view in views]
print("plotly" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
