"""Audit charts: plotly figures for notebooks and the HTML report.

Every function returns a plotly ``Figure``; show it in Jupyter, or ``figure.write_html`` it.
Category colours and symbols come from :mod:`~llamalog_analytics.style`, as everywhere else.

Examples:
    >>> import llamalog_analytics as lla
    >>> from llamalog_analytics import charts
    >>> with lla.sample_store() as store:
    ...     figure = charts.categories_over_time(store)
    >>> figure.layout.barmode, figure.layout.xaxis.title.text
    ('stack', 'week (UTC)')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import polars as pl

from . import schema
from ._sql import quote
from .errors import ArgumentError
from .style import CATEGORY_STYLES, PALETTE, category_style, colours_for

if TYPE_CHECKING:
    import networkx as nx

    from .audit import AuditReport
    from .store import LogStore

BARS_SHOWN = 20  # operations per bar chart; the rest are left out and the title says how many
GRAPH_NODES_SHOWN = 300  # above this, a provenance graph is drawn as its jobs only
_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 40}


def categories_over_time(
    store: LogStore, table: str = schema.CURRENT_TABLE, every: str = "week"
) -> go.Figure:
    """Rows per category per week (or ``day``, ``month``), stacked."""
    counts = store.frame(
        f"SELECT date_trunc({_unit(every)}, created_at) AS period, category, count(*) AS rows "
        f"FROM {quote(table)} GROUP BY ALL ORDER BY ALL"
    )
    figure = go.Figure()
    for category in [*schema.CATEGORIES, None]:
        part = counts.filter(pl.col("category").eq_missing(category))
        if part.height:
            look = category_style(category)
            figure.add_bar(x=part["period"], y=part["rows"], name=look.label, marker_color=look.colour)
    figure.update_layout(
        title=f"Rows per category per {every}",
        barmode="stack",
        xaxis_title=f"{every} (UTC)",
        yaxis_title="rows",
        margin=_MARGIN,
        template="plotly_white",
    )
    return figure


def _unit(every: str) -> str:
    if every not in ("day", "week", "month"):
        raise ArgumentError(f"every={every!r} is not a period. Hint: use day, week or month")
    return f"'{every}'"


def failure_rate(store: LogStore, table: str = schema.CURRENT_TABLE) -> go.Figure:
    """The share of FAILED rows per operation, worst first, with the counts in the hover."""
    rates = store.frame(
        f"""SELECT operation, count(*) FILTER (status = 'FAILED') AS failed, count(*) AS rows,
  failed / rows AS rate FROM {quote(table)} GROUP BY ALL HAVING failed > 0
ORDER BY rate DESC, failed DESC, operation"""
    )
    shown = rates.head(BARS_SHOWN)
    figure = go.Figure(
        go.Bar(
            x=shown["rate"],
            y=shown["operation"],
            orientation="h",
            marker_color=category_style("FAILED").colour,
            customdata=shown.select("failed", "rows").rows(),
            hovertemplate="%{y}: %{x:.1%} failed (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>",
        )
    )
    title = "Failure rate by operation"
    if rates.height > shown.height:
        title += f" (worst {shown.height} of {rates.height} operations with failures)"
    figure.update_layout(
        title=title,
        xaxis={"title": "rows with status FAILED", "tickformat": ".0%"},
        yaxis={"autorange": "reversed", "automargin": True},
        height=140 + 26 * max(shown.height, 1),
        margin=_MARGIN,
        template="plotly_white",
    )
    return figure


def breakdown_bars(frame: pl.DataFrame, colour: str, title: str = "") -> go.Figure:
    """Stacked bars of ``rows`` per operation, one colour per value of ``colour``.

    For the breakdowns of an audit check, e.g. the backfill mismatches by operation and status.
    """
    figure = go.Figure()
    top = frame.group_by("operation").agg(pl.col("rows").sum()).sort("rows", descending=True).head(BARS_SHOWN)
    shown = frame.join(top.select("operation"), on="operation", how="semi")
    colours = colours_for([str(v) for v in shown[colour].unique(maintain_order=True)])
    for value, part in shown.group_by(colour, maintain_order=True):
        summed = part.group_by("operation").agg(pl.col("rows").sum())
        name = str(value[0])
        figure.add_bar(
            y=summed["operation"], x=summed["rows"], name=name, orientation="h", marker_color=colours[name]
        )
    figure.update_layout(
        title=title,
        barmode="stack",
        height=160 + 28 * top.height,
        margin=_MARGIN,
        xaxis_title="rows",
        yaxis={"categoryorder": "total ascending", "automargin": True},
        legend_title=colour,
        template="plotly_white",
    )
    return figure


def backfill_mismatches(report: AuditReport) -> go.Figure:
    """The category backfill's mismatches by operation, coloured by status."""
    frame = report.check("category_backfill").breakdowns["mismatches by operation and status"]
    return breakdown_bars(frame, "status", "Category backfill mismatches by operation and status")


def category_counts(counts: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """Grouped bars of rows per category, one series per mapping (e.g. at the migration, now).

    ``report.summary["categories"]`` from :func:`~llamalog_analytics.verify` is such a mapping.
    """
    figure = go.Figure()
    colours = colours_for(list(counts))
    for series, by_category in counts.items():
        figure.add_bar(
            x=list(schema.CATEGORIES),
            y=[by_category.get(c, 0) for c in schema.CATEGORIES],
            name=series,
            marker_color=colours[series],
        )
    figure.update_layout(
        title="Rows per category",
        barmode="group",
        height=380,
        margin=_MARGIN,
        yaxis_title="rows",
        template="plotly_white",
    )
    return figure


def rows_per_week(summary: Mapping[str, Any], marked: tuple[str, ...] = ()) -> go.Figure:
    """Rows per week from an audit summary, with a dotted line at each migration in ``marked``."""
    weeks = summary["rows_per_week"]
    figure = go.Figure(go.Bar(x=list(weeks), y=list(weeks.values()), name="rows per week"))
    for name, at in summary.get("migrations", {}).items():
        if name in marked:
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
        title="Rows per week and the migrations",
        height=380,
        margin=_MARGIN,
        xaxis_title="week (UTC)",
        yaxis_title="rows",
        template="plotly_white",
    )
    return figure


def graph_figure(graph: nx.MultiDiGraph, title: str = "Provenance graph") -> go.Figure:
    """A drawing of a provenance graph: log rows coloured by category, jobs, entities, agents.

    Above :data:`GRAPH_NODES_SHOWN` nodes only the jobs that logged the most rows and their
    ``spawned`` links are drawn, each job sized by its rows; the title says so.
    """
    import networkx as nx

    shown, title = _summarised(graph, title)
    position = nx.spring_layout(nx.Graph(shown), seed=7, iterations=60)
    lines_x: list[float | None] = []
    lines_y: list[float | None] = []
    for source, target in shown.edges():
        lines_x += [position[source][0], position[target][0], None]
        lines_y += [position[source][1], position[target][1], None]
    figure = go.Figure(
        go.Scatter(
            x=lines_x,
            y=lines_y,
            mode="lines",
            line={"width": 1, "color": "#bdbdbd"},
            hoverinfo="skip",
            name="links",
        )
    )
    groups: dict[str, list[str]] = {}
    for node, data in shown.nodes(data=True):
        kind = data.get("kind", "")
        groups.setdefault(data.get("category") or kind if kind == "log" else kind, []).append(node)
    for group, nodes in sorted(groups.items()):
        row = CATEGORY_STYLES.get(group)  # log rows by category; other nodes by kind
        figure.add_scatter(
            x=[position[n][0] for n in nodes],
            y=[position[n][1] for n in nodes],
            mode="markers",
            name=f"row: {row.label}" if row else group,
            marker={
                "size": [8 + min(graph.in_degree(n), 20) for n in nodes],
                "symbol": row.symbol if row else "circle-open" if group == "job" else "hexagon",
                "color": row.colour if row else PALETTE[0],
            },
            text=[_node_text(n, shown.nodes[n]) for n in nodes],
            hovertemplate="%{text}<extra></extra>",
        )
    figure.update_layout(
        title=title,
        showlegend=True,
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=560,
        margin=_MARGIN,
        template="plotly_white",
    )
    return figure


def _summarised(graph: nx.MultiDiGraph, title: str) -> tuple[nx.MultiDiGraph, str]:
    """The graph, or above :data:`GRAPH_NODES_SHOWN` nodes its busiest jobs, and the title saying so."""
    import networkx as nx

    if graph.number_of_nodes() <= GRAPH_NODES_SHOWN:
        return graph, title
    jobs = sorted(
        (n for n, kind in graph.nodes(data="kind") if kind == "job"), key=graph.in_degree, reverse=True
    )
    shown = nx.MultiDiGraph(graph.subgraph(jobs[:GRAPH_NODES_SHOWN]))
    summary = f"{shown.number_of_nodes():,} of {len(jobs):,} jobs out of {graph.number_of_nodes():,} nodes"
    return shown, f"{title} (summary: {summary})"


def _node_text(node: str, data: Mapping[str, Any]) -> str:
    details = [
        f"{key}: {data[key]}" for key in ("operation", "category", "status", "created_at") if key in data
    ]
    return "<br>".join([node.replace("<", "&lt;"), *(d.replace("<", "&lt;") for d in details)])
