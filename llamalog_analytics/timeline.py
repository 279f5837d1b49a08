"""Entity timelines: one provenance chain drawn like a trace waterfall.

Time runs left to right (UTC). Each job run (a job *instance*: a reused job id gets one lane
per run, see :mod:`~llamalog_analytics.links`) gets a lane; lanes follow the job tree (a child
run sits under its parent run, indented), so reading down is reading the chain from its root.
Each log row is a marker whose colour *and* symbol name its category (CREATED is a star with a
🦙), with a bar ending at the row for its ``duration_ms`` (rows are logged when the work
ends). Grey lines join a parent run to its child runs. Rings flag what needs a second look:
a parent whose run never logged, runs on a parent loop, rows logged before their parent run.

Big chains stay readable: above :data:`WEBGL_ABOVE` rows the figure uses WebGL traces, and
above :data:`LANES_SHOWN` lanes the deepest jobs are folded into one summary lane per
ancestor; the subtitle says what was folded.

Examples:
    >>> import llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     album = store.execute("SELECT album_id FROM llama_logs WHERE category = 'CREATED' "
    ...                           "AND album_id IS NOT NULL ORDER BY created_at LIMIT 1")[0][0]
    ...     figure = lla.plot_timeline(store, "ALBUM", album)
    >>> figure.layout.xaxis.title.text
    'time (UTC)'
    >>> "CREATED 🦙" in {trace.name for trace in figure.data}
    True
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import polars as pl

from . import links, schema
from .chains import chain
from .errors import TimelineError
from .style import FLAG_STYLES, LLAMA, category_style

if TYPE_CHECKING:
    from .store import LogStore

WEBGL_ABOVE = 1_000  # rows; SVG markers get slow past a few thousand
LANES_SHOWN = 60  # lanes before the deepest jobs are folded into summary lanes
_NO_JOB = "(no job id)"
_SPACE = "\u00a0"  # plotly trims ordinary leading spaces from tick labels


def plot_timeline(
    source: LogStore | pl.DataFrame,
    entity_type: str | None = None,
    entity_id: str | uuid.UUID | None = None,
    *,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
    **chain_filters: Any,
) -> go.Figure:
    """The provenance chain of one entity as a waterfall figure.

    Args:
        source: a store (then name the entity) or a chain already in hand, e.g. from
            :func:`~llamalog_analytics.chain` or any frame of log rows.
        entity_type, entity_id: the album, artist or track, when ``source`` is a store.
        link, reuse_gap: how parent links are followed (see :func:`~llamalog_analytics.chain`).
            A frame without a chain's link annotations is linked among its own rows.
        chain_filters: passed to :func:`~llamalog_analytics.chain` (``categories``, ``since``,
            ``until``, ``table``).

    Raises:
        TimelineError: a store without an entity, or a chain with no rows.
    """
    if isinstance(source, pl.DataFrame):
        rows, subject = links.annotate(source, links.Linking.of(link, reuse_gap)), "chain"
    else:
        if entity_type is None or entity_id is None:
            raise TimelineError("name the entity: plot_timeline(store, 'ALBUM', album_id)")
        rows = chain(source, entity_type, entity_id, link=link, reuse_gap=reuse_gap, **chain_filters)
        subject = f"{entity_type.upper()} {entity_id}"
    if rows.is_empty():
        raise TimelineError(f"no log rows for {subject}. Hint: check the id, or widen the filters")
    return _figure(rows.sort("created_at", "id"), subject)


# --- lanes ----------------------------------------------------------------------------------


def lanes(rows: pl.DataFrame) -> pl.DataFrame:
    """One lane per job run, in job-tree order: ``job``, ``lane`` (the tick label), ``depth``, ``folded``.

    ``rows`` carry ``job`` (a run's key) and ``parent`` (its parent run's key) as
    :func:`_keyed` gives them. A run's parent is its first row's. Runs whose parent is not in
    ``rows`` start trees, oldest first; children follow their parent, oldest first; runs on a
    parent loop (and below one) belong to no tree and come last. Above :data:`LANES_SHOWN`
    lanes, runs deeper than the deepest level that still fits share one lane per ancestor at
    that level (``lane`` then reads ``… N jobs below``).
    """
    jobs = (
        rows.group_by("job")
        .agg(
            first=pl.col("created_at").min(),
            parent=pl.col("parent").sort_by("created_at", "id").first(),
            operation=pl.col("operation").sort_by("created_at", "id").first(),
            name=pl.col("name").first(),
        )
        .sort("first", "job")
    )
    operations = dict(jobs.select("job", "operation").iter_rows())
    names = dict(jobs.select("job", "name").iter_rows())
    order, children = _tree_order(jobs)
    level = _level_that_fits(order, children)
    anchors: list[str] = []
    folded: dict[str, int] = {}
    for job, depth in order:
        anchors.append(job if depth <= level else anchors[-1])
        if depth > level:
            folded[anchors[-1]] = folded.get(anchors[-1], 0) + 1
    depths = dict(order)

    def label(job: str, depth: int) -> str:
        return f"{_SPACE * 2 * depth}{'└ ' if depth else ''}{names[job][:28]} · {operations[job]}"

    def summary(anchor: str) -> str:
        jobs = f"{folded[anchor]:,} job{'s' if folded[anchor] > 1 else ''}"
        return f"{_SPACE * 2 * (depths[anchor] + 1)}… {jobs} below {names[anchor][:28]}"

    return pl.DataFrame(
        {
            "job": [job for job, _ in order],
            "lane": [
                label(job, depth) if depth <= level else summary(anchor)
                for (job, depth), anchor in zip(order, anchors, strict=True)
            ],
            "depth": [depth for _, depth in order],
            "folded": [depth > level for _, depth in order],
        },
        schema={"job": pl.String, "lane": pl.String, "depth": pl.Int32, "folded": pl.Boolean},
    )


def _tree_order(jobs: pl.DataFrame) -> tuple[list[tuple[str, int]], dict[str | None, list[str]]]:
    """The runs depth first, each with its depth (trees oldest first, loops last), and each
    run's children."""
    known = set(jobs["job"])
    children: dict[str | None, list[str]] = {}
    for job, parent in jobs.select("job", "parent").iter_rows():
        children.setdefault(parent if parent in known and parent != job else None, []).append(job)
    order: list[tuple[str, int]] = []
    seen: set[str] = set()
    for top in [*children.get(None, []), *jobs["job"]]:  # loops are reached from no tree top
        stack = [(top, 0)]
        while stack:
            job, depth = stack.pop()
            if job not in seen:
                seen.add(job)
                order.append((job, depth))
                stack.extend((child, depth + 1) for child in reversed(children.get(job, [])))
    return order, children


def _level_that_fits(order: list[tuple[str, int]], children: dict[str | None, list[str]]) -> int:
    """The deepest level whose runs, and a summary lane per parent at that level, fit
    :data:`LANES_SHOWN` lanes."""

    def lane_count(level: int) -> int:
        return sum(depth < level or (depth == level and 1 + (job in children)) for job, depth in order)

    level = max(depth for _, depth in order)
    while level > 0 and lane_count(level) > LANES_SHOWN:
        level -= 1
    return level


def _keyed(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with ``job`` (its run's key), ``parent`` (its parent run's key, None when the
    parent never logged) and ``name`` (the run as a person reads it: ``292``, or ``292 · run 2``
    when the id ran more than once among these rows)."""
    key = pl.col("job_id") + pl.lit("#") + pl.col("job_instance").cast(pl.String)
    name = pl.when(pl.col("job_instance").n_unique().over("job_id") > 1).then(
        pl.col("job_id") + pl.lit(" · run ") + pl.col("job_instance").cast(pl.String)
    )
    return rows.with_columns(
        job=pl.when(pl.col("job_id").is_null()).then(pl.lit(_NO_JOB)).otherwise(key),
        parent=pl.col("parent_job_id") + pl.lit("#") + pl.col("parent_instance").cast(pl.String),
        name=pl.when(pl.col("job_id").is_null())
        .then(pl.lit(_NO_JOB))
        .otherwise(name.otherwise(pl.col("job_id"))),
    )


# --- the figure -----------------------------------------------------------------------------


def _figure(rows: pl.DataFrame, subject: str) -> go.Figure:
    rows = _keyed(rows)
    tree = lanes(rows)
    rows = rows.join(tree.select("job", "lane"), on="job", how="left").with_columns(hover=_hover())
    webgl = rows.height > WEBGL_ABOVE
    scatter = go.Scattergl if webgl else go.Scatter
    figure = go.Figure()
    _durations(figure, scatter, rows)
    _links(figure, scatter, rows)
    _markers(figure, scatter, rows)
    flagged = _flags(rows)
    _rings(figure, scatter, flagged)
    notes = [f"{rows.height:,} rows in {tree.height:,} job runs"]
    folded = tree.filter(pl.col("folded"))
    if folded.height:
        notes.append(
            f"{folded.height:,} deeper jobs folded into {folded['lane'].n_unique():,} summary lanes "
            f"(more than {LANES_SHOWN} lanes)"
        )
    notes += [
        f"{look.label.removeprefix('⚠ ')}: {flagged[flag].height:,}"
        for flag, look in FLAG_STYLES.items()
        if flagged[flag].height
    ]
    if webgl:
        notes.append("WebGL")
    figure.update_layout(
        title={"text": f"🦙 LlamaLog timeline · {subject}", "subtitle": {"text": " · ".join(notes)}},
        xaxis={"title": {"text": "time (UTC)"}, "type": "date"},
        yaxis={
            "title": {"text": "job run (indented under its parent run)"},
            "type": "category",
            "categoryorder": "array",
            "categoryarray": tree.unique("lane", maintain_order=True)["lane"].to_list(),
            "autorange": "reversed",
            "automargin": True,
        },
        height=220 + 26 * tree["lane"].n_unique(),
        legend={"title": {"text": "category, symbol and flags"}},
        hoverlabel={"align": "left"},
        margin={"t": 90},
        template="plotly_white",
    )
    return figure


def _markers(figure: go.Figure, scatter: Any, rows: pl.DataFrame) -> None:
    """A trace of markers per category, in the category's colour and symbol (CREATED with a 🦙)."""
    for category in [*schema.CATEGORIES, None]:
        part = rows.filter(
            pl.col("category").is_null() if category is None else pl.col("category") == category
        )
        if part.is_empty():
            continue
        created = category == "CREATED"
        look = category_style(category)
        figure.add_trace(
            scatter(
                x=part["created_at"],
                y=part["lane"],
                mode="markers+text" if created else "markers",
                text=[LLAMA] * part.height if created else None,
                textposition="top center",
                name=look.label,
                marker={
                    "symbol": look.symbol,
                    "color": look.colour,
                    "size": 12 if created else 9,
                    "line": {"width": 1, "color": "white"},
                },
                hovertext=part["hover"],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )


def _rings(figure: go.Figure, scatter: Any, flagged: dict[str, pl.DataFrame]) -> None:
    """A ring around each flagged row, a trace per flag, named with its count."""
    for flag, look in FLAG_STYLES.items():
        part = flagged[flag]
        if part.height:
            figure.add_trace(
                scatter(
                    x=part["created_at"],
                    y=part["lane"],
                    mode="markers",
                    name=f"{look.label} ({part.height:,})",
                    marker={"symbol": look.symbol, "size": 20, "color": look.colour, "line": {"width": 2}},
                    hoverinfo="skip",
                )
            )


def _durations(figure: go.Figure, scatter: Any, rows: pl.DataFrame) -> None:
    """One trace of bars, each ending at its row: ``duration_ms`` before ``created_at``."""
    timed = rows.filter(pl.col("duration_ms") > 0)
    if timed.is_empty():
        return
    start = timed.select(pl.col("created_at") - pl.duration(milliseconds=pl.col("duration_ms")))["created_at"]
    figure.add_trace(
        scatter(
            x=_segments(start, timed["created_at"]),
            y=_segments(timed["lane"], timed["lane"]),
            mode="lines",
            line={"width": 7, "color": "rgba(120, 144, 156, 0.45)"},
            name="duration (ends at the row)",
            hoverinfo="skip",
        )
    )


def _links(figure: go.Figure, scatter: Any, rows: pl.DataFrame) -> None:
    """Grey lines from each parent run's first row to each child run's first row."""
    firsts = rows.sort("created_at", "id").unique("job", keep="first", maintain_order=True)
    pairs = firsts.join(
        firsts.select(pl.col("job").alias("parent"), parent_at="created_at", parent_lane="lane"),
        on="parent",
    ).filter(pl.col("lane") != pl.col("parent_lane"))
    if pairs.is_empty():
        return
    figure.add_trace(
        scatter(
            x=_segments(pairs["parent_at"], pairs["created_at"]),
            y=_segments(pairs["parent_lane"], pairs["lane"]),
            mode="lines",
            line={"width": 1, "color": "#9e9e9e", "dash": "dot"},
            name="parent run → child run",
            hoverinfo="skip",
        )
    )


def _segments(start: pl.Series, end: pl.Series) -> list[Any]:
    """Pairs of points separated by None: one plotly trace draws them all as separate lines."""
    points: list[Any] = []
    for a, b in zip(start, end, strict=True):
        points += [a, b, None]
    return points


def _hover() -> pl.Expr:
    """The hover card of a row: what it did, its jobs, who started it, what went wrong."""

    def line(label: str, value: pl.Expr) -> pl.Expr:
        return pl.when(value.is_not_null()).then(pl.lit(f"<br>{label}: ") + value).otherwise(pl.lit(""))

    def text(column: str) -> pl.Expr:  # log text must not be read as plotly's HTML subset
        return pl.col(column).cast(pl.String).str.slice(0, 100).str.replace_all("<", "&lt;", literal=True)

    return pl.concat_str(
        pl.lit("<b>"),
        text("operation"),
        pl.lit("</b> · "),
        text("status"),
        pl.lit(" · "),
        text("category").fill_null("no category"),
        pl.lit("<br>"),
        pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M:%S%.3f UTC"),
        line("duration", pl.col("duration_ms").cast(pl.String) + pl.lit(" ms")),
        line("job", text("job_id") + pl.lit(" · run ") + pl.col("job_instance").cast(pl.String)),
        line(
            "parent job",
            text("parent_job_id")
            + pl.when(pl.col("parent_instance").is_null())
            .then(pl.lit(" (its run never logged)"))
            .otherwise(pl.lit(" · run ") + pl.col("parent_instance").cast(pl.String)),
        ),
        line("root job", text("root_job_id")),
        line("user", text("user_id")),
        line("triggered by", text("triggered_by")),
        line("error", text("error_message")),
        line("details", text("metadata")),
        pl.lit("<br>row "),
        pl.col("id").cast(pl.String),
    )


def _flags(rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The rows to ring, per flag of :data:`~llamalog_analytics.style.FLAG_STYLES`, from their
    link annotations."""
    return {
        "dangling": rows.filter(links.DANGLING_PARENT),
        "in_cycle": rows.filter("in_cycle"),
        "before_parent": rows.filter("before_parent"),
    }
