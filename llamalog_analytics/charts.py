"""Audit charts: plotly figures for notebooks and the HTML report.

Every function returns a plotly ``Figure``; show it in Jupyter, or ``figure.write_html`` it.
Category colours and symbols come from :mod:`~llamalog_analytics.style`, as everywhere else,
and legends name categories without emoji (an emoji font cannot be counted on). Legends sit
under the plot, where plotly's toolbar never covers them; counts are ticked in whole numbers
with thousands separators.

Examples:
    >>> import llamalog_analytics as lla
    >>> from llamalog_analytics import charts
    >>> with lla.sample_store() as store:
    ...     figure = charts.categories_over_time(store)
    >>> figure.layout.barmode, figure.layout.xaxis.title.text, figure.layout.yaxis.tickformat
    ('stack', 'week (UTC)', ',d')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import polars as pl

from . import schema
from ._graph_figure import GRAPH_NODES_SHOWN, graph_figure
from ._plotly import Figure
from ._sql import quote
from .errors import ArgumentError
from .style import PALETTE, category_style, colours_for

if TYPE_CHECKING:
    from .audit import AuditReport
    from .store import LogStore

__all__ = [
    "BARS_SHOWN",
    "GRAPH_NODES_SHOWN",
    "backfill_mismatches",
    "breakdown_bars",
    "categories_over_time",
    "category_counts",
    "failure_rate",
    "graph_figure",
    "origin_coverage",
    "rows_per_week",
]

BARS_SHOWN = 20  # operations per bar chart; the rest are left out and the title says how many
_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def _counts(top: float) -> dict[str, Any]:
    """An axis of counts up to ``top``: whole-number ticks with thousands separators (no 0.5
    rows), from zero.

    Examples:
        >>> _counts(3)
        {'tickformat': ',d', 'rangemode': 'tozero', 'dtick': 1, 'tick0': 0}
        >>> _counts(12_000)["tickformat"]
        ',d'
    """
    axis: dict[str, Any] = {"tickformat": ",d", "rangemode": "tozero"}
    if top < 10:  # plotly would tick 0.5 steps
        axis |= {"dtick": 1, "tick0": 0}
    return axis


def _legend_below(figure: go.Figure, rows: int = 1) -> None:
    """The legend along the figure's bottom edge, left-aligned with the plot, in ``rows`` of
    entries: the bottom margin grows to hold it under the x-axis ticks and title, and plotly's
    toolbar (top right) never covers it."""
    figure.update_layout(
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 0,
            "yanchor": "bottom",
            "yref": "container",
        },
        margin={"b": 60 + 22 * rows},
    )


def categories_over_time(
    store: LogStore, table: str = schema.CURRENT_TABLE, every: str = "week"
) -> go.Figure:
    """Rows per category per week (or ``day``, ``month``), stacked."""
    counts = store.frame(
        f"SELECT date_trunc({_unit(every)}, created_at) AS period, category, count(*) AS rows "
        f"FROM {quote(table)} GROUP BY ALL ORDER BY ALL"
    )
    figure = Figure()
    for category in [*schema.CATEGORIES, None]:
        part = counts.filter(pl.col("category").eq_missing(category))
        if part.height:
            look = category_style(category)
            figure.add_bar(
                x=part["period"],
                y=part["rows"],
                xperiod=_PERIODS[every],  # a period's bar across it, not centred on its first day
                xperiodalignment="middle",
                name=look.label,
                marker_color=look.colour,
                hovertemplate=f"{look.label}: %{{y:,}} rows<br>{every} of %{{x|%Y-%m-%d}}<extra></extra>",
            )
    top = counts.group_by("period").agg(pl.col("rows").sum()).select(pl.col("rows").max()).item()
    figure.update_layout(
        title=f"Rows per category per {every}",
        barmode="stack",
        xaxis_title=f"{every} (UTC)",
        yaxis={"title": {"text": "rows"}, **_counts(top or 0)},
        legend_traceorder="normal",
        margin=_MARGIN,
        template="plotly_white",
    )
    _legend_below(figure)
    return figure


_PERIODS = {"day": 86_400_000, "week": 7 * 86_400_000, "month": "M1"}  # plotly's periods: ms, or months


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
    figure = Figure(
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
        xaxis={"title": "rows with status FAILED", "tickformat": ".2~%", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "automargin": True},
        height=140 + 26 * max(shown.height, 1),
        margin=_MARGIN | {"b": 40},
        template="plotly_white",
    )
    return figure


def breakdown_bars(frame: pl.DataFrame, colour: str, title: str = "") -> go.Figure:
    """Stacked bars of ``rows`` per operation, one colour per value of ``colour``.

    For the breakdowns of an audit check, e.g. the backfill mismatches by operation and status.
    """
    figure = Figure()
    top = frame.group_by("operation").agg(pl.col("rows").sum()).sort("rows", descending=True).head(BARS_SHOWN)
    shown = frame.join(top.select("operation"), on="operation", how="semi")
    values = [str(v) for v in shown[colour].unique(maintain_order=True)]
    colours = colours_for(values)
    for value, part in shown.group_by(colour, maintain_order=True):
        summed = part.group_by("operation").agg(pl.col("rows").sum())
        name = str(value[0])
        figure.add_bar(
            y=summed["operation"],
            x=summed["rows"],
            name=name,  # a category's label is its name
            orientation="h",
            marker_color=colours[name],
            hovertemplate=f"%{{y}} · {name}: %{{x:,}} rows<extra></extra>",
        )
    figure.update_layout(
        title=title,
        barmode="stack",
        height=200 + 28 * top.height,
        margin=_MARGIN,
        xaxis={"title": {"text": "rows"}, **_counts(top.select(pl.col("rows").max()).item() or 0)},
        yaxis={"categoryorder": "total ascending", "automargin": True},
        legend_title_text=f"{colour}:",
        legend_traceorder="normal",
        template="plotly_white",
    )
    _legend_below(figure, rows=1 + len(values) // 8)
    return figure


def backfill_mismatches(report: AuditReport) -> go.Figure:
    """The category backfill's mismatches by operation, coloured by status."""
    frame = report.check("category_backfill").breakdowns["mismatches by operation and status"]
    figure = breakdown_bars(frame, "status", "Category backfill mismatches by operation and status")
    if frame.is_empty():
        figure.add_annotation(
            text="no mismatches: every row carries the category the migration's rules, as applied, gave it",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
        figure.update_xaxes(visible=False).update_yaxes(visible=False)  # no scale with nothing on it
    return figure


def category_counts(counts: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """Grouped bars of rows per category, one series per mapping (e.g. at the migration, now).

    ``report.summary["categories"]`` from :func:`~llamalog_analytics.verify` is such a mapping.
    """
    figure = Figure()
    colours = colours_for(list(counts))
    for series, by_category in counts.items():
        figure.add_bar(
            x=list(schema.CATEGORIES),
            y=[by_category.get(c, 0) for c in schema.CATEGORIES],
            name=series,
            marker_color=colours[series],
            hovertemplate=f"%{{x}} · {series}: %{{y:,}} rows<extra></extra>",
        )
    top = max((max(c.values(), default=0) for c in counts.values()), default=0)
    figure.update_layout(
        title="Rows per category",
        barmode="group",
        height=400,
        margin=_MARGIN,
        yaxis={"title": {"text": "rows"}, **_counts(top)},
        template="plotly_white",
    )
    _legend_below(figure)
    return figure


def origin_coverage(report: AuditReport) -> go.Figure:
    """Entities with a known and an unknown origin, stacked per era of their first row (the
    ``unknown_origin`` check's breakdown)."""
    frame = report.check("unknown_origin").breakdowns["known and unknown origin by era"]
    eras = frame["era"].unique(maintain_order=True).to_list()
    applied = report.summary.get("migrations", {})
    labels = [_era_label(era, applied) for era in eras]
    figure = Figure()
    looks = {
        "known": (category_style("CREATED").colour, "known origin (a CREATED row)"),
        "unknown": (PALETTE[0], "unknown origin"),
    }
    for origin, (colour, name) in looks.items():
        part = dict(frame.filter(pl.col("origin") == origin).select("era", "entities").iter_rows())
        figure.add_bar(
            y=labels,
            x=[part.get(era, 0) for era in eras],
            orientation="h",
            name=name,
            marker_color=colour,
            hovertemplate=f"%{{y}}: %{{x:,}} entities, {name}<extra></extra>",
        )
    top = max(frame.group_by("era").agg(pl.col("entities").sum())["entities"], default=0)
    figure.update_layout(
        title="Entities by the era of their first row: known and unknown origin",
        barmode="stack",
        height=160 + 28 * len(eras),
        margin=_MARGIN,
        xaxis={"title": {"text": "entities"}, **_counts(top)},
        yaxis={"title": {"text": "migration in force at the first row"}, "autorange": "reversed"},
        template="plotly_white",
    )
    _legend_below(figure)
    return figure


def _era_label(era: str, applied: Mapping[str, str]) -> str:
    """``since 20260209194819_rename_enrichmentlog_to_llamalog`` as ``2026-02-10 rename
    enrichmentlog to llamalog``: the day the migration was applied (``applied``: the audit
    summary's ``migrations``), not the day its folder was named for.

    Examples:
        >>> era = "since 20260209194819_rename_enrichmentlog_to_llamalog"
        >>> _era_label(era, {era[6:]: "2026-02-10 01:48:19 UTC"})
        '2026-02-10 rename enrichmentlog to llamalog'
        >>> _era_label("before any migration", {})
        'before any migration'
    """
    migration = era.removeprefix("since ")
    stamp, _, name = migration.partition("_")
    if migration not in applied or not (stamp.isdigit() and len(stamp) == 14):
        return era
    return f"{applied[migration][:10]} {name.replace('_', ' ')}"


MARKED_MIGRATIONS = (schema.MIGRATIONS[4], schema.CATEGORY_MIGRATION, schema.ROOT_JOB_MIGRATION)
"""The migrations :func:`rows_per_week` marks by default: those an audit replays, and the one
that added the parent job ids."""


def rows_per_week(summary: Mapping[str, Any], marked: tuple[str, ...] = MARKED_MIGRATIONS) -> go.Figure:
    """Rows per week from an audit summary, each bar across its week, with a dotted line at each
    migration in ``marked`` (by default :data:`MARKED_MIGRATIONS`) the summary dates.

    Each line is labelled beside it, on a level of its own (migrations days apart share a week's
    bar), in the room left above the bars.
    """
    weeks = summary["rows_per_week"]
    figure = Figure(
        go.Bar(
            x=list(weeks),
            y=list(weeks.values()),
            name="rows per week",
            marker_color=PALETTE[0],
            xperiod=_PERIODS["week"],  # a week's bar across its days, not centred on its Monday
            xperiodalignment="middle",
            hovertemplate="week of %{x|%Y-%m-%d}: %{y:,} rows<extra></extra>",
        )
    )
    migrations = sorted(
        (at.removesuffix(" UTC"), name)
        for name, at in summary.get("migrations", {}).items()
        if name in marked
    )
    first, last = (min(weeks), max(weeks)) if weeks else ("", "")
    for level, (moment, name) in enumerate(migrations):
        figure.add_vline(x=moment, line={"dash": "dot", "color": "#37474f", "width": 1})
        right_half = bool(first) and _fraction(moment, first, last) > 0.6
        figure.add_annotation(
            x=moment,
            y=1 - 0.085 * level,
            yref="paper",
            text=f"{name.split('_', 1)[1].replace('_', ' ')} · {moment[:16]}",
            showarrow=False,
            xanchor="right" if right_half else "left",
            xshift=-4 if right_half else 4,
            yanchor="top",
            font={"size": 11, "color": "#37474f"},
            bgcolor="rgba(255, 255, 255, 0.85)",
        )
    top = max(weeks.values(), default=0)
    headroom = 1 / (1 - 0.085 * len(migrations) - 0.04) if migrations else 1.05
    figure.update_layout(
        title="Rows per week and the migrations",
        height=400,
        margin=_MARGIN | {"b": 40},
        xaxis_title="week (UTC)",
        yaxis={"title": {"text": "rows"}, **_counts(top), "range": [0, max(top, 1) * headroom]},
        showlegend=False,
        template="plotly_white",
    )
    return figure


def _fraction(moment: str, first: str, last: str) -> float:
    """How far ``moment`` lies between the ``first`` and ``last`` week (0 to 1)."""
    at, low, high = (datetime.fromisoformat(t[:19]) for t in (moment, first, last))
    span = (high - low).total_seconds()
    return (at - low).total_seconds() / span if span else 0.0
