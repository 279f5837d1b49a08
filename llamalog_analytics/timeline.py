"""Entity timelines: one provenance chain drawn like a trace viewer's waterfall.

Time runs left to right (UTC) with its idle stretches cut out: work comes in bursts of seconds
days apart, so every pause longer than ``idle_gap`` (a minute by default) shrinks to a narrow
grey break labelled with what it stood for (``12 d``), and each burst keeps one common scale,
its start written out in full and offsets after it (``+2 s``). The subtitle says how many gaps
were collapsed; :mod:`~llamalog_analytics._clock` does the cutting, on plain numbers, so WebGL
traces get it too. Filters (``categories``, ``since``, ``until``) are said in the subtitle with
what they kept of the whole chain (``4 of 15 rows (category CREATED)``), whose rows still name
the entity in the title and lanes.

Each job run (a job *instance*: a reused job id gets one lane per run, see
:mod:`~llamalog_analytics.links`) gets a lane; lanes follow the job tree (a child run sits under
its parent run, on the tree's lines: ``├``, ``└``, ``│``), so reading down is reading the chain
from its root. The labels start in one column (monospaced, :data:`LANE_FONT`), so a run's depth
shows. A lane names its run, what the run did and the entity it was about (``└ 246 ·
enrichment:album · ALBUM Kid A``).
A row without a job id sits in its resolved parent run's lane, or else in a lane of its own
entity and operation kind (``(no job id) · game-pool · ALBUM Kid A``); the lanes are worked out in
:mod:`~llamalog_analytics._lanes`. The title and the legend start at the page's left edge, the
legend's groups one under the other under the plot: a narrow page or notebook cell clips none.

Each log row is a marker whose colour *and* symbol name its category, with a bar ending at
the row for its ``duration_ms`` (rows are logged when the work ends). A row whose status is
FAILED under another category (an enrichment that failed, labelled ENRICHED) has FAILED's red
cross, thin, over its category's marker: without hover it would read as a success. A row that
records its entity's creation (:func:`~llamalog_analytics.rules.creation`, as ``explain`` and
PROV tell it) is CREATED's star with the llama beside it, drawn as a picture so that no emoji
font is needed; a row labelled CREATED that records none (an album that existed already, a label
the category backfill's catch-all gave) is an open star in CREATED's green, without the llama,
and its hover card says what it was. Grey lines join a parent run to its child runs. Rings flag
what needs a second look: a parent whose run never logged, runs on a parent loop, rows logged
before their parent run. Hover a marker for its card.

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
    >>> "CREATED" in {trace.name for trace in figure.data}
    True
    >>> [image.name for image in figure.layout.images][:2]
    ['llama: title', 'llama: legend']
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import polars as pl

from . import links, rules, schema
from ._clock import Clock
from ._format import count, duration, moment, parse_duration, plotly_text
from ._lanes import LANES_SHOWN, entity_names, keyed, lanes, left_aligned
from ._plotly import Figure
from ._time import created_utc, naive_utc
from .chains import chain, named_otherwise, no_rows, reran, runs
from .errors import TimelineError
from .log_view import log_rows
from .store import require_store
from .style import FAILED_STATUS, FLAG_STYLES, NO_CREATION, Style, category_style, llama_uri

if TYPE_CHECKING:
    from .store import LogStore

WEBGL_ABOVE = 1_000  # rows; SVG markers get slow past a few thousand
LLAMAS_SHOWN = 40  # creations' stars that get the llama beside them
IDLE_GAP = timedelta(minutes=1)  # pauses longer than this are collapsed
LANE_PIXELS = 30
LANES_HEADING = "job run · operation · entity"  # over the lanes' labels
LANE_FONT = {"family": "DejaVu Sans Mono, Menlo, Consolas, monospace", "size": 10}  # lanes and heading
_CHAR_PIXELS = 6.1  # how wide a character of LANE_FONT is (0.6 em, and a little to spare)
_STANDOFF = 8  # pixels between the lanes' labels and the plot
RING_SIZE, RING_STEP = 20, 7  # the first flag's rings, and how much wider each next flag's are
# The page the time ticks are spaced for, about a notebook's: on a 900 px page they still fit
# (upright where they would crowd); wider pages and the 1,400 px PNG space them out.
_PAGE_PIXELS = 1_150
# A break's label ("42 d") and the plot it must fit: the plot beside long lane labels in a
# notebook 900 px wide; labels closer than that go on a second line, this much higher.
_BREAK_LABEL_PIXELS, _NARROW_PLOT_PIXELS, _BREAK_LINE_PIXELS = 30, 250, 13
_TOP = 112  # margin for the title and three lines of subtitle
_SUBTITLE_LINE = 15  # more margin for each line of subtitle past three
_AXIS = 110  # pixels under the plot for the time ticks (turned upright on a narrow page) and the
# axis title; the legend comes below
_ROW = 19  # pixels per legend row
_GROUP_GAP = 10  # pixels between legend groups
_LEGEND_PIXELS = 600  # how wide a legend group is (its text needs about half)
_LLAMA_ROOM = 36  # pixels before the title and the legend's entries, where their llamas go
_LEGENDS = {  # legend groups, one under the other under the plot: (rank, title)
    "category": (1, "category"),
    "marks": (2, "bars and lines"),
    "flags": (3, "rings: take a second look"),
}
_BAR_BELOW = 0.3  # lanes: a duration bar runs just under its row's marker, so short ones show
_SPREAD = 0.2, 0.5  # lanes: rows of a lane logged in one millisecond this far apart, at most this in all
# A marker or ring of a row at either end of the axis, or in the first or last lane, drawn whole
# over the plot's edge (plotly still hides those of rows panned or zoomed out of view); WebGL
# traces have no such setting.
_WHOLE: dict[Any, dict[str, bool]] = {go.Scatter: {"cliponaxis": False}}
_ABOVE = 0.3  # lanes: room over the first lane, where its llamas reach (the plot clips pictures)


def plot_timeline(
    source: LogStore | pl.DataFrame,
    entity_type: str | None = None,
    entity_id: str | uuid.UUID | None = None,
    *,
    link: str = "instance",
    reuse_gap: timedelta | str | None = None,
    idle_gap: timedelta | str | None = IDLE_GAP,
    migrated: datetime | None = None,
    categories: Sequence[str] | str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    table: str = schema.CURRENT_TABLE,
) -> go.Figure:
    """The provenance chain of one entity as a waterfall figure.

    Args:
        source: a store (then name the entity) or a chain already in hand, e.g. from
            :func:`~llamalog_analytics.chain` or any frame of log rows.
        entity_type, entity_id: the album, artist or track, when ``source`` is a store.
        link, reuse_gap: how parent links are followed (see :func:`~llamalog_analytics.chain`).
            A frame without a chain's link annotations is linked among its own rows.
        idle_gap: pauses longer than this are cut to a narrow break (a ``timedelta`` or text
            such as ``10min``); None keeps one unbroken time axis.
        migrated: for a frame, when the category migration ran (naive UTC, as
            ``store.applied_migrations()`` gives it), so that a row its catch-all labelled
            CREATED is not drawn as a creation (see :func:`~llamalog_analytics.rules.creation`);
            a store's own is read from it.
        categories, since, until, table: passed to :func:`~llamalog_analytics.chain`, for a
            store. The subtitle says what the filters kept of the whole chain (``4 of 27 rows
            (category CREATED)``); the title and lanes name the entity as the whole chain does.

    Raises:
        TimelineError: a store without an entity, filters with a frame (filter the frame),
            rows without the columns of a log row, or a chain with no rows.
    """
    filtered = bool(categories) or since is not None or until is not None
    named: str | None = None  # for an entity no row names: the type rows name its id as
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        needed = ("id", "created_at", "operation", "job_id", "parent_job_id")
        source = log_rows(source, needed, TimelineError)
        if filtered:
            raise TimelineError(
                "categories, since and until choose the rows of a store's chain. Hint: filter the "
                "frame instead, e.g. frame.filter(pl.col('category') == 'CREATED')"
            )
        if source.is_empty():
            raise TimelineError("the frame has no rows. Hint: pass log rows, such as lla.chain(store, ...)")
        source = source.with_columns(created_utc(source))  # a frame of another zone's times: UTC
        rows, subject = links.annotate(source, links.Linking.of(link, reuse_gap)), _seeded(source)
        whole, reused = rows, []  # runs of the rows in hand only
    else:
        require_store(source, "plot_timeline")
        if entity_type is None or entity_id is None:
            raise TimelineError("name the entity: plot_timeline(store, 'ALBUM', album_id)")
        with source.session():  # one view of the store for the chains and the migrations
            whole = chain(source, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap)
            rows = whole
            if filtered:
                rows = chain(
                    source,
                    entity_type,
                    entity_id,
                    categories=categories,
                    since=since,
                    until=until,
                    table=table,
                    link=link,
                    reuse_gap=reuse_gap,
                )
            migrated = source.applied_migrations().get(schema.CATEGORY_MIGRATION)
            jobs = whole["job_id"].drop_nulls().unique()
            reused = reran(runs(source, jobs, table=table, link=link, reuse_gap=reuse_gap))
        subject = f"{entity_type.upper()} {uuid.UUID(str(entity_id).strip())}"  # chain took it as a UUID
        if whole.is_empty():  # rows may name the id as another type
            named = named_otherwise(
                source, entity_type, entity_id, table=table, link=link, reuse_gap=reuse_gap
            )
    kept = _kept(categories, since, until)  # chain has checked them
    if rows.is_empty():
        if kept and not whole.is_empty():
            raise TimelineError(
                f"none of the {count(whole.height, 'log row')} of {subject} is kept ({kept}). "
                "Hint: widen the filters"
            )
        raise TimelineError(no_rows(subject, table, named))
    idle = None if idle_gap is None else parse_duration(idle_gap, "idle_gap", TimelineError)
    if idle is not None and idle <= timedelta(0):
        raise TimelineError(
            f"idle_gap={idle_gap!r} is not positive: every pause would be cut. "
            "Hint: try 1min or 1h, or None (--idle-gap off) to cut none"
        )
    return _figure(rows.sort("created_at", "id"), subject, idle, migrated, whole, kept, reused)


# --- the figure -----------------------------------------------------------------------------


def _figure(
    rows: pl.DataFrame,
    subject: str,
    idle_gap: timedelta | None,
    migrated: datetime | None,
    whole: pl.DataFrame,
    kept: str,
    reused: list[str],
) -> go.Figure:
    """``rows`` drawn: those ``kept`` (what filters kept, as said) of ``whole``, the chain whose
    rows name the entities; ``reused``: the job ids that ran more than once in the table."""
    named = entity_names(whole)
    rows = (
        keyed(rows, named, reused).with_columns(rules.album_created()).with_columns(rules.creation(migrated))
    )
    # A lane per job run, or per summary of folded runs: two runs whose labels read the same
    # keep lanes of their own.
    tree = lanes(rows).with_columns(
        key=pl.when(pl.col("folded")).then(pl.lit("folded: ") + pl.col("lane")).otherwise(pl.col("job"))
    )
    order = tree.unique("key", maintain_order=True)
    keys = order["key"].to_list()
    heading, *names = left_aligned([LANES_HEADING, *order["lane"].to_list()])
    clock = Clock.of(rows["created_at"], rows["duration_ms"], idle_gap)
    started = pl.col("created_at") - pl.duration(milliseconds=pl.col("duration_ms").fill_null(0).clip(0))
    rows = (
        rows.with_columns(
            x=clock.x(rows["created_at"]), x0=clock.x(rows.select(started)["created_at"]), hover=_hover()
        )
        .join(tree.select("job", "key"), on="job", how="left", maintain_order="left")
        .with_columns(y=pl.col("key").replace_strict(keys, list(range(len(keys))), return_dtype=pl.Float64))
        .pipe(_spread)
    )
    webgl = rows.height > WEBGL_ABOVE
    scatter = go.Scattergl if webgl else go.Scatter
    figure = Figure()
    _durations(figure, scatter, rows)
    _links(figure, scatter, rows)
    _markers(figure, scatter, rows)
    _failed(figure, scatter, rows)
    flagged = _flags(rows)
    _rings(figure, scatter, flagged)
    _breaks(figure, clock)
    kind, _, entity = subject.partition(" ")
    notes = [
        entity if kind and entity else "",
        _rows_and_runs(rows, whole.height, kept),
        clock.note(),
    ]
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
    plot_height = round(LANE_PIXELS * (len(names) + _ABOVE))
    # the legend's groups one under the other, from the page's left edge: however narrow the
    # page, none is pushed past its right edge or wrapped below its bottom
    groups = [sum(trace.legendgroup == group for trace in figure.data) for group in _LEGENDS]
    legend_height = sum(_ROW * (n + 1) + _GROUP_GAP for n in groups if n) - _GROUP_GAP
    bottom = _AXIS + legend_height + 12
    # the lanes' labels' width (automargin widens it for a wider font)
    left = round(_CHAR_PIXELS * len(heading)) + _STANDOFF + 8
    subtitle = _wrap(" · ".join(n for n in notes if n))
    top = _TOP + _SUBTITLE_LINE * max(0, subtitle.count("<br>") - 2)  # room for lines past three
    height = top + bottom + plot_height
    tickvals, ticktext = clock.ticks(_plot_width(names))
    figure.update_layout(
        title={
            "text": plotly_text(f"LlamaLog timeline · {_subject_title(named, subject)}"),
            "subtitle": {"text": subtitle},
            "x": 0,  # from the page's left edge, where a narrow page still has room for it
            "xref": "container",
            "xanchor": "left",
            "y": 1 - 14 / height,
            "yref": "container",
            "yanchor": "top",
            "pad": {"l": _LLAMA_ROOM},
        },
        xaxis={
            "title": {"text": "time (UTC)"},
            "type": "linear",
            "range": clock.range,
            "tickmode": "array",
            "tickvals": tickvals,
            "ticktext": ticktext,
            "tickfont": {"size": 11},
            # upright where they would crowd: plotly's 30° does not clear labels of two lines
            "autotickangles": [0, 90],
            "zeroline": False,
            "automargin": True,
        },
        yaxis={
            "type": "linear",
            "tickmode": "array",
            "tickvals": list(range(len(names))),
            "ticktext": names,
            "tickfont": LANE_FONT,
            "ticklabelstandoff": _STANDOFF,
            "range": [len(names) - 0.5, -0.5 - _ABOVE],
            "zeroline": False,
            "automargin": True,
        },
        height=height,
        legend={
            "orientation": "h",  # a vertical legend at the left would widen the left margin
            "traceorder": "grouped",
            # groups wider than half a plot: each a row of its own where the page is narrow,
            # side by side only on a page twice their width; none of their text cut
            "entrywidthmode": "pixels",
            "entrywidth": _LEGEND_PIXELS,
            "tracegroupgap": _GROUP_GAP,
            "indentation": _LLAMA_ROOM - 10,
            "x": 0,
            "xref": "container",
            "xanchor": "left",
            "y": (bottom - _AXIS) / height,
            "yref": "container",
            "yanchor": "top",
            "maxheight": legend_height + 20,
            "bgcolor": "rgba(0, 0, 0, 0)",  # over the legend's llama
        },
        hoverlabel={"align": "left"},
        # the labels' width, which the heading's padding matches (automargin counts tick labels
        # only), so the llamas know where the plot starts
        margin={"t": top, "b": bottom, "r": 30, "l": left},
        template="plotly_white",
    )
    figure.add_annotation(  # the lanes' heading, over their labels: an axis title would not fit a short plot
        text=heading,
        xref="paper",
        x=0,
        xanchor="right",
        yref="paper",
        y=1,
        yanchor="bottom",
        xshift=-_STANDOFF,  # ending where the labels end: starting where they start
        yshift=6,
        showarrow=False,
        font=LANE_FONT,
    )
    _llamas(figure, rows, clock, plot_height, top, left)
    for trace in figure.data:  # each group of the legend a column, under its title
        rank, title = _LEGENDS[trace.legendgroup]
        trace.update(legendrank=rank, legendgrouptitle={"text": f"<b>{title}</b>"})
    return figure


def _plot_width(lanes: list[str]) -> int:
    """About how wide the plot is on a page :data:`_PAGE_PIXELS` wide, once the lane labels have
    taken their room: what the time ticks are spaced for."""
    return max(400, int(_PAGE_PIXELS - 100 - _CHAR_PIXELS * max(len(lane) for lane in lanes)))


def _seeded(rows: pl.DataFrame) -> str:
    """The entity a chain in hand is of: its own rows' (``relation`` self), when they are about
    one; else ``chain``.

    Examples:
        >>> _seeded(pl.DataFrame({"relation": ["ancestor", "self"], "entity_type": ["ARTIST", "ALBUM"],
        ...                       "entity_id": ["9b1c", "3e84"]}))
        'ALBUM 3e84'
    """
    if not {"relation", "entity_type", "entity_id"} <= set(rows.columns):
        return "chain"
    own = rows.filter(pl.col("relation") == "self").select("entity_type", "entity_id").drop_nulls().unique()
    return f"{own['entity_type'][0]} {own['entity_id'][0]}" if own.height == 1 else "chain"


def _subject_title(names: dict[str, str], subject: str) -> str:
    """The entity as the title names it: ``ALBUM Kid A`` when a row names it (``names``: id →
    name; the subtitle then gives its id), else ``subject``.

    Examples:
        >>> _subject_title({"3e8428c2": "Kid A"}, "ALBUM 3e8428c2"), _subject_title({}, "chain")
        ('ALBUM Kid A', 'chain')
    """
    kind, _, entity = subject.partition(" ")
    return f"{kind} {names[entity]}" if entity in names else subject


def _wrap(text: str, width: int = 90) -> str:
    """``text`` broken onto lines of at most ``width`` characters at its `` · `` separators: what
    fits beside the lanes' labels in a notebook's width."""
    lines = [""]
    for part in text.split(" · "):
        if lines[-1] and len(lines[-1]) + len(part) + 3 > width:
            lines.append(part)
        else:
            lines[-1] = f"{lines[-1]} · {part}" if lines[-1] else part
    return "<br>".join(lines)


def _rows_and_runs(rows: pl.DataFrame, whole: int, kept: str = "") -> str:
    """How many rows there are, how many lie in how many job runs, and how many have no job id
    (drawn in the lane of the run their parent resolves to, if any); when filters ``kept`` them
    (as :func:`_kept` says it), of the ``whole`` chain's rows.

    Examples:
        >>> rows = pl.DataFrame({"job_id": ["7", "7", None], "job_instance": [1, 2, None]})
        >>> _rows_and_runs(rows, 3)
        '3 rows: 2 in 2 job runs, 1 without a job id'
        >>> _rows_and_runs(rows.head(2), 2)
        '2 rows in 2 job runs'
        >>> _rows_and_runs(rows, 27, "category CREATED")
        '3 of 27 rows (category CREATED): 2 in 2 job runs, 1 without a job id'
    """
    jobless = rows["job_id"].null_count()
    run_count = rows.filter(pl.col("job_id").is_not_null()).select("job_id", "job_instance").n_unique()
    in_runs = f"in {count(run_count, 'job run')}"
    if not kept and not jobless:
        return f"{count(rows.height, 'row')} {in_runs}"
    total = f"{rows.height:,} of {count(whole, 'row')} ({kept})" if kept else count(rows.height, "row")
    outside = f", {jobless:,} without a job id" if jobless else ""
    return f"{total}: {rows.height - jobless:,} {in_runs}{outside}"


def _kept(
    categories: Sequence[str] | str | None, since: datetime | str | None, until: datetime | str | None
) -> str:
    """What :func:`~llamalog_analytics.chain`'s filters keep, as the subtitle says it ("" for
    none), times as the chain reads them: in UTC, a date alone as ``until`` to the end of its day.

    Examples:
        >>> _kept(["created", "FAILED"], "2026-02-07", "2026-02-09T10:30:00+01:00")
        'categories CREATED, FAILED, since 2026-02-07 00:00:00.000 UTC, until 2026-02-09 09:30:00.000 UTC'
        >>> _kept("CREATED", None, "2026-02-09"), _kept(None, None, None)
        ('category CREATED, until 2026-02-09 23:59:59.999 UTC', '')
    """
    said = []
    if categories:
        asked = [categories] if isinstance(categories, str) else list(categories)
        said.append(f"categor{'y' if len(asked) == 1 else 'ies'} {', '.join(c.upper() for c in asked)}")
    for name, value in (("since", since), ("until", until)):
        at = naive_utc(value, name, TimelineError, day_end=name == "until")
        if at is not None:
            said.append(f"{name} {moment(at)} UTC")
    return ", ".join(said)


def _spread(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with their lane (``y``) kept as ``lane``, and those of a lane logged in the same
    millisecond drawn a little apart in it, up and down (their time, ``x``, as it was): else one
    marker would hide the others. Their hover cards say how many there are."""
    moment = [pl.col("y"), pl.col("created_at").dt.truncate("1ms")]
    n = pl.len().over(moment)
    step = pl.min_horizontal(pl.lit(_SPREAD[0]), _SPREAD[1] / (n - 1))
    shift = pl.when(n > 1).then((pl.int_range(pl.len()).over(moment) - (n - 1) / 2) * step).otherwise(0)
    said = pl.format("<br>{} rows logged in this millisecond in this lane", n)
    return rows.with_columns(
        lane="y",
        y=pl.col("y") + shift,
        hover=pl.when(n > 1).then(pl.col("hover") + said).otherwise("hover"),
    )


def _markers(figure: go.Figure, scatter: Any, rows: pl.DataFrame) -> None:
    """A trace of markers per category, in the category's colour and symbol; a label the schema
    does not know (``user_action``) is a trace of its own, after them. CREATED's star is for the
    rows that record a creation (``creation``, by :func:`~llamalog_analytics.rules.creation`);
    the other rows labelled CREATED follow it as :data:`~llamalog_analytics.style.NO_CREATION`."""
    unknown = sorted(set(rows["category"].drop_nulls().cast(pl.String)) - set(schema.CATEGORIES))
    looks: list[tuple[Style, pl.Expr]] = []
    for category in [*schema.CATEGORIES, *unknown, None]:
        labelled = pl.col("category").is_null() if category is None else pl.col("category") == category
        if category == "CREATED":
            created = pl.col("creation") == "CREATED"
            looks += [(category_style(category), labelled & created), (NO_CREATION, labelled & ~created)]
        else:
            looks.append((category_style(category), labelled))
    for look, which in looks:
        part = rows.filter(which)
        if part.is_empty():
            continue
        starred = look.symbol.startswith("star")
        figure.add_trace(
            scatter(
                x=part["x"].to_list(),  # lists: the page's figure data stays plain arrays
                y=part["y"].to_list(),
                mode="markers",
                name=look.label,
                legendgroup="category",
                marker={
                    "symbol": look.symbol,
                    "color": look.colour,
                    "size": 12 if starred else 9,
                    "line": {"width": 1.5 if look is NO_CREATION else 1, "color": "white"},
                },
                hovertext=part["hover"],
                hovertemplate="%{hovertext}<extra></extra>",
                **_WHOLE.get(scatter, {}),
            )
        )


def _failed(figure: go.Figure, scatter: Any, rows: pl.DataFrame) -> None:
    """A red cross over each row whose status is FAILED though its category is not (an
    enrichment that failed, labelled ENRICHED): its marker alone would read as a success."""
    part = rows.filter((pl.col("status") == "FAILED") & pl.col("category").ne_missing("FAILED"))
    look = FAILED_STATUS
    marker = {
        "symbol": look.symbol,
        "size": 16,
        "color": look.colour,
        "line": {"width": 2, "color": look.colour},
    }
    hover = {"hovertext": part["hover"], "hovertemplate": "%{hovertext}<extra></extra>"}
    _over(figure, scatter, part, look.label, "category", marker, **hover)


def _over(
    figure: go.Figure, scatter: Any, part: pl.DataFrame, label: str, group: str, marker: dict, **more: Any
) -> None:
    """Markers drawn over the rows of ``part`` (at their ``x`` and ``y``), a legend entry named
    ``label`` with their count in ``group``; none when ``part`` is empty."""
    if part.height:
        figure.add_trace(
            scatter(
                x=part["x"].to_list(),
                y=part["y"].to_list(),
                mode="markers",
                name=f"{label} ({part.height:,})",
                legendgroup=group,
                marker=marker,
                **more,
                **_WHOLE.get(scatter, {}),
            )
        )


def _llamas(
    figure: go.Figure, rows: pl.DataFrame, clock: Clock, plot_height: int, top: int, left: int
) -> None:
    """The llama, as a picture (an emoji font cannot be counted on): before the title (``top``
    pixels above the plot: the margin), before the CREATED legend entry (the legend's first),
    and above-right of the stars of rows that record a creation (the first :data:`LLAMAS_SHOWN`
    that do not crowd another llama in their lane).

    The title and the legend start at the page's left edge, ``left`` pixels before the plot; an
    image is placed in the plot's units, so theirs are boxes ending where the plot starts, the
    llama at their left end."""
    pixel = 1 / plot_height  # paper units, up and down

    def beside(name: str, y: float, size: int) -> dict:  # a llama ``size`` pixels, 8 from the left
        source = llama_uri("xMaxYMid", room=(left - 8 - size) / size)
        room = {"xref": "paper", "yref": "paper", "x": 0, "sizex": 5, "xanchor": "right", "yanchor": "middle"}
        return room | {"name": name, "source": source, "y": y, "sizey": size * pixel}

    images = [beside("llama: title", 1 + (top - 27) * pixel, 24)]
    created = rows.filter(pl.col("creation") == "CREATED")
    if not created.is_empty():  # the legend's first entry, under its group title
        images.append(beside("llama: legend", -(_AXIS + _ROW + 14) * pixel, 18))
        low, high = clock.range
        apart = (high - low) * 0.03
        shown = (
            created.sort("lane", "x")
            .filter((pl.col("x") - pl.col("x").shift(1).over("lane")).fill_null(apart) >= apart)
            .sort("created_at", "id")
            .head(LLAMAS_SHOWN)
        )
        marker = {
            "source": llama_uri("xMinYMax"),
            "xref": "x",
            "yref": "y",
            "sizex": high - low,
            "sizey": 0.6,
        }
        images += [
            marker
            | {
                "name": "llama: CREATED",
                "x": x,
                "y": y - 0.12,
                "xanchor": "left",
                "yanchor": "bottom",
                "layer": "below",
            }
            for x, y in shown.select("x", "y").iter_rows()
        ]
    # one layout update: adding the images one by one re-validates the whole layout each time
    figure.update_layout(images=[*figure.layout.images, *images])


def _breaks(figure: go.Figure, clock: Clock) -> None:
    """A grey band for each collapsed pause, labelled with how long it was: a label that would
    touch the one before it on a narrow plot goes a line higher."""
    low, high = clock.range
    room = _BREAK_LABEL_PIXELS / _NARROW_PLOT_PIXELS * (high - low)  # a label's width, in axis units
    ends = [-math.inf, -math.inf]  # where the last label of each line ends
    for x0, x1, since, until in clock.gaps():
        centre = (x0 + x1) / 2
        line = 1 if centre - room / 2 < ends[0] and centre - room / 2 >= ends[1] else 0
        ends[line] = centre + room / 2
        figure.add_shape(
            type="rect",
            x0=x0,
            x1=x1,
            xref="x",
            y0=0,
            y1=1,
            yref="paper",
            fillcolor="rgba(120, 120, 120, 0.13)",
            line={"width": 0},
            layer="below",
        )
        figure.add_annotation(
            x=centre,
            y=1,
            xref="x",
            yref="paper",
            yanchor="bottom",
            yshift=_BREAK_LINE_PIXELS * line,
            showarrow=False,
            text=duration(until - since, 1),
            font={"size": 10, "color": "#616161"},
            hovertext=f"idle {duration(until - since, 3)}<br>{since:%Y-%m-%d %H:%M:%S} → "
            f"{until:%Y-%m-%d %H:%M:%S} UTC",
        )


def _rings(figure: go.Figure, scatter: Any, flagged: dict[str, pl.DataFrame]) -> None:
    """A ring around each flagged row, a trace per flag, named with its count; each flag's rings
    a size of their own, so that a row with several shows them all, one around the other."""
    for n, (flag, look) in enumerate(FLAG_STYLES.items()):
        size = RING_SIZE + RING_STEP * n
        marker = {"symbol": look.symbol, "size": size, "color": look.colour, "line": {"width": 2}}
        _over(figure, scatter, flagged[flag], look.label, "flags", marker, hoverinfo="skip")


def _durations(figure: go.Figure, scatter: Any, rows: pl.DataFrame) -> None:
    """One trace of bars, each ending at its row: ``duration_ms`` before ``created_at``."""
    timed = rows.filter(pl.col("duration_ms") > 0)
    if timed.is_empty():
        return
    figure.add_trace(
        scatter(
            x=_segments(timed["x0"], timed["x"]),
            y=_segments(timed["y"] + _BAR_BELOW, timed["y"] + _BAR_BELOW),
            mode="lines",
            line={"width": 4, "color": "rgba(84, 110, 122, 0.6)"},
            name="duration (ends at the row)",
            legendgroup="marks",
            hoverinfo="skip",
        )
    )


def _links(figure: go.Figure, scatter: Any, rows: pl.DataFrame) -> None:
    """Grey lines from each parent run's first row to each child run's first row."""
    firsts = rows.filter("own").sort("created_at", "id").unique("job", keep="first", maintain_order=True)
    pairs = firsts.join(
        firsts.select(pl.col("job").alias("parent"), parent_x="x", parent_y="y", parent_lane="lane"),
        on="parent",
    ).filter(pl.col("lane") != pl.col("parent_lane"))
    if pairs.is_empty():
        return
    figure.add_trace(
        scatter(
            x=_segments(pairs["parent_x"], pairs["x"]),
            y=_segments(pairs["parent_y"], pairs["y"]),
            mode="lines",
            line={"width": 1, "color": "#9e9e9e", "dash": "dot"},
            name="parent run → child run",
            legendgroup="marks",
            hoverinfo="skip",
        )
    )


def _segments(start: pl.Series, end: pl.Series) -> list[Any]:
    """Pairs of points separated by None: one plotly trace draws them all as separate lines."""
    points: list[Any] = []
    for a, b in zip(start, end, strict=True):
        points += [a, b, None]
    return points


HOVER_CHARS = 100  # the most characters of one value a hover card shows, an ellipsis marking a cut


def _hover() -> pl.Expr:
    """The hover card of a row: what it did, about what, its jobs and what its ring says, who
    started it, what went wrong."""

    def line(label: str, value: pl.Expr) -> pl.Expr:
        return pl.when(value.is_not_null()).then(pl.lit(f"<br>{label}: ") + value).otherwise(pl.lit(""))

    def text(column: str) -> pl.Expr:  # log text must not be read as plotly's HTML subset
        whole = pl.col(column).cast(pl.String)
        cut = pl.when(whole.str.len_chars() > HOVER_CHARS).then(
            whole.str.slice(0, HOVER_CHARS - 1) + pl.lit("…")
        )
        return cut.otherwise(whole).str.replace_all("<", "&lt;", literal=True)

    return pl.concat_str(
        pl.lit("<b>"),
        text("operation"),
        pl.lit("</b> · "),
        text("status").fill_null("no status"),
        pl.lit(" · "),
        text("category").fill_null("no category"),
        pl.lit("<br>"),
        pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M:%S%.3f UTC"),
        line("duration", pl.col("duration_ms").map_elements(duration, return_dtype=pl.String)),
        line("about", text("entity_full")),
        line(
            "no creation",
            pl.when(pl.col("creation") == rules.EXISTED)
            .then(pl.lit("its metadata says the album existed already (albumCreated false)"))
            .when(pl.col("creation") != "CREATED")
            .then(
                pl.lit("the category backfill's catch-all labelled it CREATED; by the application's rules ")
                + pl.col("creation")
            ),
        ),
        line("job", text("job_id") + pl.lit(" · run ") + pl.col("job_instance").cast(pl.String)),
        line(
            "parent job",
            text("parent_job_id")
            + pl.when(pl.col("parent_instance").is_null())
            .then(pl.lit(" (its run never logged)"))
            .otherwise(pl.lit(" · run ") + pl.col("parent_instance").cast(pl.String)),
        ),
        *(  # what its ring says (a dangling parent's, the line above)
            pl.when(pl.col(flag)).then(pl.lit(f"<br>{FLAG_STYLES[flag].label}")).otherwise(pl.lit(""))
            for flag in ("in_cycle", "before_parent")
        ),
        line("root job", text("root_job_id")),
        line("user", text("user_id")),
        line("triggered by", text("triggered_by")),
        line("error", text("error_message")),
        line("details", pl.when(pl.col("metadata").cast(pl.String) != "null").then(text("metadata"))),
        pl.lit("<br>row "),
        pl.col("id").cast(pl.String),
        ignore_nulls=True,
    )


def _flags(rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The rows to ring, per flag of :data:`~llamalog_analytics.style.FLAG_STYLES`, from their
    link annotations."""
    return {
        "dangling": rows.filter(links.DANGLING_PARENT),
        "in_cycle": rows.filter("in_cycle"),
        "before_parent": rows.filter("before_parent"),
    }
