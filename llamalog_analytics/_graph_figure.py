"""Drawing a provenance graph (:mod:`~llamalog_analytics.graph`) as a layered plotly figure.

Time runs down: each log row has its own line, oldest first, and everything else sits on the
line of the first row it touches. Columns, left to right, follow the work: the agents (users,
systems) that triggered rows, the job runs (indented one step per level of the job tree), the
log rows, and the entities they were about. Every node is labelled (``job 246``,
``14:26:41 enrichment:album``, ``album 8f6d96c6…``); log rows take their category's colour and
symbol, other kinds a symbol no category uses (:data:`~llamalog_analytics.style.NODE_STYLES`).

Graphs with more than :data:`GRAPH_NODES_SHOWN` nodes are summarised: one node per kind (log rows
per category) sized by its count, one line per kind of link between them, its width by count.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from . import schema
from ._format import plotly_text, shorten
from ._plotly import Figure
from .style import NO_CREATION, NODE_STYLES, category_style

if TYPE_CHECKING:
    import networkx as nx

GRAPH_NODES_SHOWN = 150  # above this many nodes a graph is drawn as one node per kind
ROW_PIXELS = 24
# The legend goes under the plot, so the plot keeps a notebook cell's whole width for its labels
# (beside it, the legend left a 900 px window's plot too narrow for them); its entries have a
# fixed width, so that as many fit a line of a cell that narrow.
_LEGEND_ENTRY = 210  # pixels
_LEGEND_PER_LINE = 3
_LEGEND_LINE = 20  # pixels
DEPTH_SHOWN = 5  # job-tree levels given their own column; deeper runs share the last
_AGENT_X, _JOB_X, _JOB_STEP = 0.0, 1.0, 0.55
_ROW_X = _JOB_X + _JOB_STEP * DEPTH_SHOWN + 1.0
_ENTITY_X = _ROW_X + 3.4
_RANGE = (-2.1, _ENTITY_X + 1.9)
_AGENTS = ("user", "system")
_ENTITIES = ("album", "artist", "track")
# Links by what they say, each drawn its own way: (legend name, line).
_LINKS = {
    "spawned": ("job run → run it spawned", {"color": "#546e7a", "width": 1.6, "dash": "dash"}),
    "logged": ("log row → its job run", {"color": "#b0bec5", "width": 1}),
    "about": ("log row → entity it is about", {"color": "#d7ccc8", "width": 1}),
    "triggered": ("agent → log row it triggered", {"color": "#c5cae9", "width": 1, "dash": "dot"}),
}


def graph_figure(graph: nx.MultiDiGraph, title: str = "Provenance graph") -> go.Figure:
    """The graph drawn in layers (see the module), or summarised by kind when it is big."""
    if graph.number_of_nodes() > GRAPH_NODES_SHOWN:
        return _kinds_figure(graph, title)
    return _nodes_figure(graph, title)


def _family(kind: str) -> str:
    """The family of an edge kind: spawned, logged (``logged_by``, ``child_of``), triggered, or
    about (a row's category verb, or ``mentions``)."""
    if kind in ("logged_by", "child_of"):
        return "logged"
    return kind if kind in ("spawned", "triggered") else "about"


def _group(data: Mapping[str, Any]) -> str:
    """What a node is drawn as: ``log:<CATEGORY>`` (``log:`` + :data:`_NO_CREATION` for a row
    labelled CREATED that records no creation, as the timeline draws it), ``job``, ``dangling``
    or its kind."""
    kind = data.get("kind", "")
    if kind == "log":
        category = data.get("category") or ""
        return f"log:{_NO_CREATION if category == 'CREATED' and not data.get('creation') else category}"
    if kind == "job" and data.get("dangling"):
        return "dangling"
    return str(kind)


_NO_CREATION = "no creation"
_STARS = ("log:CREATED", f"log:{_NO_CREATION}")  # drawn a little larger


def _look(group: str) -> tuple[str, str, str]:
    """(legend name, colour, symbol) of a group of nodes."""
    if group.startswith("log:"):
        category = group.removeprefix("log:") or None
        style = NO_CREATION if category == _NO_CREATION else category_style(category)
        return f"row: {style.label}", style.colour, style.symbol
    style = NODE_STYLES.get(group, NODE_STYLES["system"])
    return style.label, style.colour, style.symbol


def _order(groups: list[str]) -> list[str]:
    """Groups in legend order: rows by category, job runs, entities, agents."""
    rows = [f"log:{c}" for c in (*schema.CATEGORIES[:1], _NO_CREATION, *schema.CATEGORIES[1:])]
    rank = [*rows, "job", "dangling", *_ENTITIES, *_AGENTS]
    return sorted(groups, key=lambda g: (rank.index(g) if g in rank else len(rank), g))


# --- node by node ---------------------------------------------------------------------------


def _nodes_figure(graph: nx.MultiDiGraph, title: str) -> go.Figure:
    position = _layout(graph)
    figure = Figure()
    lines: dict[str, tuple[list[float | None], list[float | None]]] = {f: ([], []) for f in _LINKS}
    for source, target, kind in graph.edges(keys=True):
        xs, ys = lines[_family(kind)]
        (x0, y0), (x1, y1) = position[source], position[target]
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    for family, (name, line) in _LINKS.items():
        xs, ys = lines[family]
        if xs:
            figure.add_scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=line,
                name=name,
                hoverinfo="skip",
                legendgroup="links",
                legendgrouptitle={"text": "<b>links</b>"},
                legendrank=2,
            )
    groups: dict[str, list[str]] = defaultdict(list)
    for node, data in graph.nodes(data=True):
        groups[_group(data)].append(node)
    for group in _order(list(groups)):
        nodes = sorted(groups[group], key=lambda n: position[n][1])
        name, colour, symbol = _look(group)
        figure.add_scatter(
            x=[position[n][0] for n in nodes],
            y=[position[n][1] for n in nodes],
            mode="markers+text",
            name=name,
            legendgroup="nodes",
            legendgrouptitle={"text": "<b>nodes</b>"},
            legendrank=1,
            marker={
                "size": 16 if group in _ENTITIES else 13 if group in _STARS else 11,
                "symbol": symbol,
                "color": colour,
                "line": {"width": 1.5 if symbol.endswith("-open") else 0.5, "color": colour},
            },
            text=[_label(graph.nodes[n]) for n in nodes],
            textposition="middle left" if group in (*_AGENTS, "dangling") else "middle right",
            textfont={"size": 11, "color": "#37474f"},
            hovertext=[_node_text(n, graph.nodes[n]) for n in nodes],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    lowest = max((y for _, y in position.values()), default=0)
    days = _day_ticks(graph, position)
    headers = {
        _AGENT_X: "agents",
        _JOB_X + _JOB_STEP: "job runs (tree →)",
        _ROW_X + 0.8: "log rows (time ↓)",
        _ENTITY_X + 0.5: "entities",
    }
    for x, text in headers.items():
        figure.add_annotation(
            x=x,
            y=1,
            xref="x",
            yref="paper",
            yanchor="bottom",
            text=f"<b>{text}</b>",
            showarrow=False,
            font={"size": 12, "color": "#546e7a"},
        )
    figure.update_layout(
        title=title,
        showlegend=True,
        xaxis={"visible": False, "range": list(_RANGE), "fixedrange": False},
        yaxis={
            "title": {"text": "time (UTC), oldest on top"},
            "range": [lowest + 0.8, -0.8],
            "tickmode": "array",
            "tickvals": list(days),
            "ticktext": list(days.values()),
            "showgrid": False,
            "zeroline": False,
        },
        template="plotly_white",
    )
    _legend_below(figure, 170 + ROW_PIXELS * (lowest + 2))
    return figure


def _legend_below(figure: go.Figure, plot_height: float, *, grouped: bool = True) -> None:
    """The legend under the plot, from the figure's left edge, and the figure made tall enough
    for the plot (``plot_height`` pixels, with the title's room) and the legend's lines: when
    ``grouped``, each legend group a column of entries under its title (plotly sets groups side
    by side), else the entries in lines, as many to a line as fit a notebook cell."""
    shown = [t for t in figure.data if t.showlegend is not False]
    if grouped:
        lines = 1 + max(Counter(t.legendgroup for t in shown).values(), default=0)
    else:
        lines = -(-len(shown) // _LEGEND_PER_LINE)
    legend = _LEGEND_LINE * lines + 20
    figure.update_layout(
        height=plot_height + legend,
        legend={
            "orientation": "h",
            "traceorder": "grouped" if grouped else "normal",
            "entrywidthmode": "pixels",
            "entrywidth": _LEGEND_ENTRY,
            "x": 0,
            "xref": "container",
            "xanchor": "left",
            "y": 0,
            "yref": "container",
            "yanchor": "bottom",
        },
        margin={"l": 10, "r": 10, "t": 90, "b": 20 + legend},
    )


def _layout(graph: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Where each node goes: log rows a line each in time order; the others on the line of the
    first row they touch (pushed down past a neighbour on the same line), in their column."""
    rows = sorted((d.get("created_at", ""), n) for n, d in graph.nodes(data=True) if d.get("kind") == "log")
    line = {node: float(n) for n, (_, node) in enumerate(rows)}
    touched: dict[str, list[float]] = defaultdict(list)
    children: dict[str, list[str]] = defaultdict(list)
    parents: dict[str, list[str]] = defaultdict(list)
    for source, target, kind in graph.edges(keys=True):
        if kind == "spawned":
            children[source].append(target)
            parents[target].append(source)
        elif source in line:
            touched[target].append(line[source])
        elif target in line:
            touched[source].append(line[target])
    depth = _depths(graph, children, parents)
    wanted: dict[str, float] = {n: min(ys) for n, ys in touched.items()}
    for node in sorted(depth, key=lambda n: -depth[n]):  # a run no row touches: level with its first child
        if node not in wanted:
            below = [wanted[c] for c in children[node] if c in wanted]
            wanted[node] = min(below) if below else 0.0
    columns: dict[float, list[str]] = defaultdict(list)
    for node, data in graph.nodes(data=True):
        if node not in line:
            kind = data.get("kind")
            x = (
                _AGENT_X
                if kind in _AGENTS
                else _JOB_X + _JOB_STEP * min(depth.get(node, 0), DEPTH_SHOWN)
                if kind == "job"
                else _ENTITY_X
            )
            columns[x].append(node)
    position = {node: (_ROW_X, y) for node, y in line.items()}
    for x, nodes in columns.items():
        last = -math.inf
        for node in sorted(nodes, key=lambda n: (wanted.get(n, 0.0), n)):
            last = max(wanted.get(node, 0.0), last + 1)
            position[node] = (x, last)
    return position


def _depths(
    graph: nx.MultiDiGraph, children: Mapping[str, list[str]], parents: Mapping[str, list[str]]
) -> dict[str, int]:
    """Each job run's level in the job tree (0 for a run no run spawned), loops at their first reach."""
    jobs = sorted(n for n, kind in graph.nodes(data="kind") if kind == "job")
    depth: dict[str, int] = {}
    for top in [j for j in jobs if not parents.get(j)] + jobs:
        if top in depth:
            continue
        depth[top] = 0
        stack = [top]
        while stack:
            node = stack.pop()
            for child in children.get(node, []):
                if child not in depth:
                    depth[child] = depth[node] + 1
                    stack.append(child)
    return depth


def _day_ticks(graph: nx.MultiDiGraph, position: Mapping[str, tuple[float, float]]) -> dict[float, str]:
    """A tick on the first row of each day: ``7 Feb 2026``."""
    ticks: dict[float, str] = {}
    seen = set()
    for node, data in sorted(graph.nodes(data=True), key=lambda item: position[item[0]][1]):
        day = str(data.get("created_at", ""))[:10]
        if data.get("kind") == "log" and day and day not in seen:
            seen.add(day)
            at = date.fromisoformat(day)
            ticks[position[node][1]] = f"{at.day} {at:%b %Y}"
    return ticks


def _label(data: Mapping[str, Any]) -> str:
    """A node as its label reads: short, the kind first."""
    kind = data.get("kind")
    if kind == "log":
        at = str(data.get("created_at", ""))[11:19]
        return plotly_text(f"{at} {shorten(str(data.get('operation')), 30)}")
    if kind == "job":
        run = f" #{data['instance']}" if data.get("runs", 1) > 1 else ""  # as a timeline names it
        return plotly_text(f"job {shorten(str(data.get('job_id')), 18)}{run}")
    if kind in _ENTITIES:
        name = data.get("name") or f"{str(data.get('entity_id'))[:8]}…"
        return plotly_text(f"{kind} {shorten(str(name), 24)}")
    name = str(data.get("name", ""))
    return plotly_text(f"user {shorten(name, 9)}" if kind == "user" else shorten(name, 20))


def _node_text(node: str, data: Mapping[str, Any]) -> str:
    details = [
        f"{key}: {data[key]}"
        for key in ("operation", "category", "status", "created_at", "first_at", "rows", "name")
        if key in data
    ]
    return "<br>".join([plotly_text(node), *(plotly_text(d) for d in details)])


# --- by kind --------------------------------------------------------------------------------


def _kinds_figure(graph: nx.MultiDiGraph, title: str) -> go.Figure:
    """One node per group of nodes (:func:`_group`), one line per family of links between two."""
    group_of = {node: _group(data) for node, data in graph.nodes(data=True)}
    counts: dict[str, int] = defaultdict(int)
    for group in group_of.values():
        counts[group] += 1
    links: dict[tuple[str, str, str], int] = defaultdict(int)
    for source, target, kind in graph.edges(keys=True):
        links[group_of[source], group_of[target], _family(kind)] += 1
    columns: dict[float, list[str]] = defaultdict(list)
    job_x = _JOB_X + 1.5
    for group in _order(list(counts)):
        x = (
            _AGENT_X
            if group in _AGENTS
            else job_x
            if group in ("job", "dangling")
            else _ROW_X
            if group.startswith("log:")
            else _ENTITY_X
        )
        columns[x].append(group)
    tallest = max(len(groups) for groups in columns.values())
    rows_at = (tallest - len(columns.get(_ROW_X, []))) / 2

    def top(x: float, groups: list[str]) -> float:
        """Where a column's first node goes: the columns centred, the job runs' between two rows'
        lines (their labels run right, towards the rows' own)."""
        at = (tallest - len(groups)) / 2
        return at + 0.5 if x == job_x and (at - rows_at) == int(at - rows_at) else at

    position = {
        group: (x, top(x, groups) + n) for x, groups in columns.items() for n, group in enumerate(groups)
    }
    figure = Figure()
    most = max(links.values(), default=1)
    for family, (name, line) in _LINKS.items():
        pairs = [(s, t, n) for (s, t, f), n in links.items() if f == family]
        for n, (source, target, count) in enumerate(pairs):
            (x0, y0), (x1, y1) = position[source], position[target]
            figure.add_scatter(
                x=[x0, (x0 + x1) / 2, x1],
                y=[y0, (y0 + y1) / 2, y1],
                mode="lines",
                line=line | {"width": 1 + 7 * math.log1p(count) / math.log1p(most)},
                name=name,
                legendgroup=family,
                showlegend=n == 0,
                hovertext=f"{count:,} × {name}",
                hoverinfo="text",
            )
    biggest = max(counts.values())
    for group in _order(list(counts)):
        name, colour, symbol = _look(group)
        count = counts[group]
        among = [f"{n:,} × {_LINKS[f][0]}" for (a, b, f), n in links.items() if a == b == group]
        figure.add_scatter(
            x=[position[group][0]],
            y=[position[group][1]],
            mode="markers+text",
            name=name,
            marker={"size": 14 + 36 * math.sqrt(count / biggest), "symbol": symbol, "color": colour},
            text=[f"{name.removeprefix('row: ')} · {count:,}"],
            textposition="middle left" if group in _AGENTS else "middle right",
            hovertext=["<br>".join([f"{count:,} nodes: {name}", *among])],
            hoverinfo="text",
        )
    nodes, edges = graph.number_of_nodes(), graph.number_of_edges()
    figure.update_layout(
        title={
            "text": f"{title} (summary by kind)",
            "subtitle": {
                "text": f"{nodes:,} nodes and {edges:,} links, more than {GRAPH_NODES_SHOWN} nodes: "
                "one node per kind (log rows per category), sized by count; one line per kind of link"
            },
        },
        xaxis={"visible": False, "range": list(_RANGE)},
        yaxis={"visible": False, "range": [tallest, -1]},
        template="plotly_white",
    )
    _legend_below(figure, 200 + 70 * tallest, grouped=False)
    return figure
