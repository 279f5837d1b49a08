"""The migration audit as one self-contained HTML page: summary, charts, every check's rows.

Examples:
    >>> import tempfile, llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     path = lla.verify(store).to_html(tempfile.mkdtemp() + "/audit.html")
    >>> "🦙 LlamaLog migration audit" in path.read_text(encoding="utf-8")
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2
import plotly.graph_objects as go

from . import rules, schema
from ._html import figure_html, plotly_script
from .charts import breakdown_bars, category_counts, rows_per_week

if TYPE_CHECKING:
    from .audit import AuditReport

ROWS_SHOWN = 20  # offending rows and breakdown rows per table in the report
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("llamalog_analytics"), autoescape=True, undefined=jinja2.StrictUndefined
)


def report_html(report: AuditReport, *, standalone: bool = True) -> str:
    """The report as HTML: a whole page that draws its charts offline, or a fragment for Jupyter."""
    charts = [
        (title, figure_html(figure, f"chart-{n}")) for n, (title, figure) in enumerate(report_charts(report))
    ]
    return _TEMPLATES.get_template("report.html.j2").render(
        report=report,
        counts=report.summary["checks"],
        charts=charts if standalone else [],
        limit=ROWS_SHOWN,
        standalone=standalone,
        plotly_js=plotly_script() if standalone else "",
    )


def report_charts(report: AuditReport) -> list[tuple[str, go.Figure]]:
    """The report's charts, each with the caption that stands for its title."""
    charts = []
    for check, breakdown, colour, title in (
        (
            "category_backfill",
            "mismatches by operation and status",
            "status",
            "Category backfill mismatches by operation and status",
        ),
        (
            "category_backfill",
            "applied rules vs the roadmap's intent",
            rules.APPLIED_BACKFILL.name,
            "Where the applied rules differ from the roadmap's intent",
        ),
        (
            "category_rules",
            "by operation",
            "category",
            "Rows after the migration that differ from the application's rules",
        ),
    ):
        frame = next((c.breakdowns.get(breakdown) for c in report.checks if c.name == check), None)
        if frame is not None and frame.height:
            charts.append((title, breakdown_bars(frame, colour)))
    if report.summary.get("categories"):
        charts.append(
            ("Rows per category: at the migration and now", category_counts(report.summary["categories"]))
        )
    if report.summary.get("rows_per_week"):
        marked = (schema.CATEGORY_MIGRATION, schema.ROOT_JOB_MIGRATION, schema.MIGRATIONS[4])
        charts.append(("Rows per week and the migrations (UTC)", rows_per_week(report.summary, marked)))
    for _, figure in charts:
        figure.update_layout(title_text="", margin_t=10)
    return charts
