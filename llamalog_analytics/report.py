"""The migration audit as one self-contained HTML page: summary, charts, every check's rows.

Examples:
    >>> import tempfile, llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     path = lla.verify(store).to_html(tempfile.mkdtemp() + "/audit.html")
    >>> "🦙 LlamaLog migration audit" in path.read_text(encoding="utf-8")
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import plotly.graph_objects as go
import polars as pl

from . import rules, schema
from ._html import figure_html, plotly_script, write_atomic

if TYPE_CHECKING:
    from .audit import AuditReport

ROWS_SHOWN = 20  # offending rows and breakdown rows per table in the report
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("llamalog_analytics"), autoescape=True, undefined=jinja2.StrictUndefined
)


def report_html(report: AuditReport, *, standalone: bool = True) -> str:
    """The report as HTML: a whole page that draws its charts offline, or a fragment for Jupyter."""
    charts = [(title, figure_html(figure, f"chart-{n}")) for n, (title, figure) in enumerate(_charts(report))]
    return _TEMPLATES.get_template("report.html.j2").render(
        report=report,
        counts=report.summary["checks"],
        charts=charts if standalone else [],
        limit=ROWS_SHOWN,
        standalone=standalone,
        plotly_js=plotly_script() if standalone else "",
    )


def write_report(report: AuditReport, path: str | Path) -> Path:
    """Write :func:`report_html` to ``path`` atomically: a failed write leaves no partial file."""
    return write_atomic(path, report_html(report))


def _charts(report: AuditReport) -> list[tuple[str, go.Figure]]:
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
            charts.append((title, _bars(frame, colour)))
    if report.summary.get("categories"):
        charts.append(
            ("Rows per category: at the migration and now", _categories(report.summary["categories"]))
        )
    if report.summary.get("rows_per_week"):
        charts.append(("Rows per week and the migrations (UTC)", _eras(report.summary)))
    return charts


def _bars(frame: pl.DataFrame, colour: str) -> go.Figure:
    """Horizontal bars of ``rows`` per operation, split by ``colour``."""
    figure = go.Figure()
    top = frame.group_by("operation").agg(pl.col("rows").sum()).sort("rows", descending=True).head(ROWS_SHOWN)
    shown = frame.join(top.select("operation"), on="operation", how="semi")
    for value, part in shown.group_by(colour, maintain_order=True):
        summed = part.group_by("operation").agg(pl.col("rows").sum())
        figure.add_bar(y=summed["operation"], x=summed["rows"], name=str(value[0]), orientation="h")
    figure.update_layout(
        barmode="stack",
        height=120 + 28 * top.height,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title="rows",
        yaxis={"categoryorder": "total ascending"},
        legend_title=colour,
    )
    return figure


def _categories(counts: dict[str, dict[str, int]]) -> go.Figure:
    figure = go.Figure()
    for series, by_category in counts.items():
        figure.add_bar(
            x=list(schema.CATEGORIES), y=[by_category.get(c, 0) for c in schema.CATEGORIES], name=series
        )
    figure.update_layout(
        barmode="group", height=360, margin={"l": 10, "r": 10, "t": 10, "b": 40}, yaxis_title="rows"
    )
    return figure


def _eras(summary: Mapping[str, Any]) -> go.Figure:
    weeks = summary["rows_per_week"]
    figure = go.Figure(go.Bar(x=list(weeks), y=list(weeks.values()), name="rows per week"))
    for name, at in summary.get("migrations", {}).items():
        if name in (schema.CATEGORY_MIGRATION, schema.ROOT_JOB_MIGRATION, schema.MIGRATIONS[4]):
            moment = at.removesuffix(" UTC")
            figure.add_vline(x=moment, line_dash="dot")
            figure.add_annotation(
                x=moment,
                y=1,
                yref="paper",
                text=name.split("_", 1)[1],
                showarrow=False,
                textangle=-90,
                xanchor="right",
                yanchor="top",
            )
    figure.update_layout(
        height=360, margin={"l": 10, "r": 10, "t": 10, "b": 40}, xaxis_title="week (UTC)", yaxis_title="rows"
    )
    return figure
