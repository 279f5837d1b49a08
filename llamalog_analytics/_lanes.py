"""The lanes of a timeline: which lane each log row sits in, their order and their labels.

A lane is a job run (a job *instance*, see :mod:`~llamalog_analytics.links`); lanes follow the
job tree, a child run under its parent run, its label drawn on the tree's lines as ``tree``
draws folders (``├`` a run with a later sibling, ``└`` the last, ``│`` down to an ancestor's
later sibling), to be read left-aligned in a monospaced font (:func:`left_aligned`). A row
without a job id sits in its resolved parent run's lane, or else in a lane of its own entity
and operation kind. Each lane reads as its run, what the run did and the entity it was about:
``└ 246 · enrichment:album · ALBUM Kid A`` (the entity's title or name when a row's metadata
carries it, else its id shortened). Above :data:`LANES_SHOWN` lanes the deepest runs fold into
one lane per ancestor.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from . import schema
from ._format import count, plotly_text

LANES_SHOWN = 60  # lanes before the deepest jobs are folded into summary lanes
_NO_JOB = "(no job id)"
_SPACE = "\u00a0"  # plotly trims ordinary leading spaces from tick labels
_BRANCH = {True: "├ ", False: "└ "}  # a run with a later sibling; the last
_GUIDE = {True: "│ ", False: _SPACE * 2}  # under an ancestor with a later sibling; under the last
_NAMES = {"ALBUM": "$.albumTitle", "ARTIST": "$.artistName", "TRACK": "$.trackTitle"}
_OPTIONAL = (  # columns a frame in hand may lack; read as NULL
    "entity_type",
    "entity_id",
    *schema.TYPED_ID.values(),
    "metadata",
    "duration_ms",
    "root_job_id",
    "user_id",
    "triggered_by",
    "error_message",
    "status",
    "category",
)


def filled(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with the optional columns they lack, as NULL."""
    return rows.with_columns(
        pl.lit(None, pl.Int32 if c == "duration_ms" else pl.String).alias(c)
        for c in _OPTIONAL
        if c not in rows.columns
    )


def lanes(rows: pl.DataFrame) -> pl.DataFrame:
    """One lane per job run, in job-tree order: ``job``, ``lane`` (the tick label), ``depth``, ``folded``.

    ``rows`` carry ``job`` (a lane's key), ``own`` (whether the row's own job id names it),
    ``parent`` (its parent run's key), ``name`` and ``entity`` as :func:`keyed` gives them. A
    lane's parent, operation and entity are its first own row's (its first row's when it has
    none). Lanes whose parent is not in ``rows`` start trees, oldest first; children follow their
    parent, oldest first; runs on a parent loop (and below one) belong to no tree and come last.
    Above :data:`LANES_SHOWN` lanes, runs deeper than the deepest level that still fits share one
    lane per ancestor at that level (``lane`` then reads ``… N jobs below``).
    """
    jobs = (
        rows.sort(pl.col("own").not_(), "created_at", "id")
        .group_by("job", maintain_order=True)
        .agg(
            first=pl.col("created_at").min(),
            parent=pl.col("parent").first(),
            operation=pl.col("operation").first(),
            name=pl.col("name").first(),
            entity=pl.col("entity").first(),
            own=pl.col("own").first(),
        )
        .sort("first", "job")
    )
    looks = {
        job: (name, op, entity, own)
        for job, name, op, entity, own in jobs.select("job", "name", "operation", "entity", "own").iter_rows()
    }
    order, children = depth_first(jobs.select("job", "parent").iter_rows())
    level = _level_that_fits(order, children)
    anchors: list[str] = []
    folded: dict[str, int] = {}
    for job, depth in order:
        anchors.append(job if depth <= level else anchors[-1])
        if depth > level:
            folded[anchors[-1]] = folded.get(anchors[-1], 0) + 1
    branches = _branches(order)

    def label(job: str) -> str:
        name, operation, entity, own = looks[job]
        what = operation if own else str(operation).split(":")[0]
        about = f" · {entity}" if entity else ""
        return plotly_text(f"{_tree_lines(branches[job])}{name} · {what}{about}")

    def summary(anchor: str) -> str:  # the anchor's last child lane
        jobs = count(folded[anchor], "job")
        return plotly_text(f"{_tree_lines((*branches[anchor], False))}… {jobs} below {looks[anchor][0]}")

    return pl.DataFrame(
        {
            "job": [job for job, _ in order],
            "lane": [
                label(job) if depth <= level else summary(anchor)
                for (job, depth), anchor in zip(order, anchors, strict=True)
            ],
            "depth": [depth for _, depth in order],
            "folded": [depth > level for _, depth in order],
        },
        schema={"job": pl.String, "lane": pl.String, "depth": pl.Int32, "folded": pl.Boolean},
    )


def _branches(order: list[tuple[str, int]]) -> dict[str, tuple[bool, ...]]:
    """For each run of a depth-first ``order`` (run, depth), whether it and each of its ancestors
    under its tree's top has a later sibling, from the top's child down to the run itself.

    Examples:
        >>> _branches([("a", 0), ("b", 1), ("c", 2), ("d", 1), ("e", 0)])
        {'a': (), 'b': (True,), 'c': (True, False), 'd': (False,), 'e': ()}
    """
    later = []
    met: set[int] = set()  # depths of the runs after this one, up to one shallower than it
    for _, depth in reversed(order):
        later.append(depth in met)
        met = {d for d in met if d < depth} | {depth}
    later.reverse()
    branches: dict[str, tuple[bool, ...]] = {}
    path: tuple[bool, ...] = ()
    for (job, depth), more in zip(order, later, strict=True):
        path = (*path[: depth - 1], more) if depth else ()
        branches[job] = path
    return branches


def tree_lines(order: list[tuple[str, int]]) -> dict[str, str]:
    """The tree's lines to draw before each item of a depth-first ``order`` (key, depth), as the
    lanes draw them (a guide is two no-break spaces where no line runs down).

    Examples:
        >>> drawn = tree_lines([("a", 0), ("b", 1), ("c", 2), ("d", 1)])
        >>> {key: lines.replace(_SPACE, "_") for key, lines in drawn.items()}
        {'a': '', 'b': '├ ', 'c': '│ └ ', 'd': '└ '}
    """
    return {key: _tree_lines(branch) for key, branch in _branches(order).items()}


def _tree_lines(branch: tuple[bool, ...]) -> str:
    """The tree's lines before a run's label: a guide per ancestor under the top, then its branch.

    Examples:
        >>> _tree_lines((True, False)).replace(_SPACE, "_"), _tree_lines(())
        ('│ └ ', '')
    """
    if not branch:
        return ""
    return "".join(_GUIDE[more] for more in branch[:-1]) + _BRANCH[branch[-1]]


def left_aligned(labels: list[str]) -> list[str]:
    """Lane labels padded at their end to one width: in a monospaced font (the timeline's
    ``LANE_FONT``), plotly's right-aligned tick labels then start in one column, and a child run's
    indentation shows under its parent's label. ``&lt;`` is one character on screen.

    Examples:
        >>> [label.replace(_SPACE, "_") for label in left_aligned(["a · b", f"{_SPACE * 2}└ c &lt;d"])]
        ['a · b___', '__└ c &lt;d']
    """
    drawn = [len(label.replace("&lt;", "<")) for label in labels]
    return [label + _SPACE * (max(drawn) - n) for label, n in zip(labels, drawn, strict=True)]


def depth_first(
    items: Iterable[tuple[str, str | None]],
) -> tuple[list[tuple[str, int]], dict[str | None, list[str]]]:
    """``items`` (key, parent key), in the order siblings should keep, depth first, each with its
    depth (trees in the order of their tops, loops last: a parent not among the items, or the
    item itself, makes a top), and each item's children (the tops under None).

    Examples:
        >>> order, _ = depth_first([("a", None), ("b", "a"), ("c", "x"), ("d", "b"), ("e", "a")])
        >>> order
        [('a', 0), ('b', 1), ('d', 2), ('e', 1), ('c', 0)]
    """
    items = list(items)
    known = {key for key, _ in items}
    children: dict[str | None, list[str]] = {}
    for key, parent in items:
        children.setdefault(parent if parent in known and parent != key else None, []).append(key)
    order: list[tuple[str, int]] = []
    seen: set[str] = set()
    for top in [*children.get(None, []), *(key for key, _ in items)]:  # loops are reached from no top
        stack = [(top, 0)]
        while stack:
            key, depth = stack.pop()
            if key not in seen:
                seen.add(key)
                order.append((key, depth))
                stack.extend((child, depth + 1) for child in reversed(children.get(key, [])))
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


def keyed(
    rows: pl.DataFrame, names: dict[str, str] | None = None, reused: Iterable[str] = ()
) -> pl.DataFrame:
    """``rows`` with the lane each belongs to and how a person reads it.

    Adds ``job`` (the lane's key: the row's run; for a row without a job id its resolved parent
    run when that run is among ``rows``, else its entity and operation kind), ``own`` (the row's
    own job id names the lane), ``parent`` (its parent run's key, None when the parent never
    logged), ``name`` (``292``, or ``292 #2`` when the id ran more than once among these rows or
    in the table, as ``reused`` says of the table's job ids, or the run among them is not its
    first; ``(no job id)``) and ``entity`` (``ALBUM Kid A``, or the id shortened when no row names
    it). ``names``: entity id → name, when rows beyond ``rows`` name them (a filtered chain's
    whole chain); else :func:`entity_names` of ``rows``.
    """
    rows = filled(rows)
    run = pl.col("job_id") + pl.lit("#") + pl.col("job_instance").cast(pl.String)
    parent = pl.col("parent_job_id") + pl.lit("#") + pl.col("parent_instance").cast(pl.String)
    kind = pl.col("operation").str.split(":").list.first()
    rows = rows.with_columns(_subject())
    runs = rows.filter(pl.col("job_id").is_not_null()).select(run.unique())["job_id"]
    entity = _entity(entity_names(rows) if names is None else names)
    several = named_with_run(reused)
    return rows.with_columns(
        job=pl.when(pl.col("job_id").is_not_null())
        .then(run)
        .when(parent.is_in(runs.implode()))
        .then(parent)
        .otherwise(
            pl.concat_str(
                pl.lit(_NO_JOB),
                pl.col("subject_type").fill_null(""),
                pl.col("subject_id").fill_null(""),
                kind,
                separator="|",
            )
        ),
        own=pl.col("job_id").is_not_null(),
        parent=pl.when(pl.col("job_id").is_not_null()).then(parent),
        name=pl.when(pl.col("job_id").is_null())
        .then(pl.lit(_NO_JOB))
        .otherwise(with_run(_cut(pl.col("job_id"), 24), pl.col("job_instance"), several)),
        entity=_cut(entity, 30),
        entity_full=pl.concat_str(
            entity, pl.when(pl.col("subject_id").is_not_null()).then(pl.lit(" · ") + pl.col("subject_id"))
        ),
    )


def named_with_run(reused: Iterable[str] = ()) -> pl.Expr:
    """Whether a row's job id is named with its run: it ran more than once among the rows, or in
    the table (``reused``, :func:`~llamalog_analytics.chains.reran`).

    Examples:
        >>> rows = pl.DataFrame({"job_id": ["7", "7", "8", "9"], "job_instance": [1, 2, 1, 1]})
        >>> rows.select(named_with_run(["9"])).to_series().to_list()
        [True, True, False, True]
    """
    return (pl.col("job_instance").max().over("job_id") > 1) | pl.col("job_id").is_in(list(reused))


def with_run(job: pl.Expr, run: pl.Expr, several: pl.Expr) -> pl.Expr:
    """A job id as a reader meets it: followed by its run where ``several`` (``292 #2``).

    Examples:
        >>> pl.select(with_run(pl.lit("292"), pl.lit(2), pl.lit(True))).item()
        '292 #2'
    """
    return job + pl.when(several).then(pl.lit(" #") + run.cast(pl.String)).otherwise(pl.lit(""))


def _subject() -> list[pl.Expr]:
    """The entity a row is about: ``subject_type`` and ``subject_id`` (its entity columns, else
    the first typed id it carries)."""
    typed = [(kind, pl.col(column)) for kind, column in schema.TYPED_ID.items()]
    own_id = pl.coalesce(*(pl.when(pl.col("entity_type") == kind).then(column) for kind, column in typed))
    first_type = pl.coalesce(*(pl.when(column.is_not_null()).then(pl.lit(kind)) for kind, column in typed))
    return [
        pl.coalesce(pl.col("entity_type"), first_type).alias("subject_type"),
        pl.coalesce(pl.col("entity_id"), own_id, *(column for _, column in typed)).alias("subject_id"),
    ]


def subjects(rows: pl.DataFrame, names: dict[str, str] | None = None) -> pl.Series:
    """The entity each row is about, as its lane names it: ``ALBUM Kid A`` (the title or name a
    row about it carries, else its id shortened), null for a row about none. ``names``: entity
    id → name, when rows beyond ``rows`` name them (as :func:`keyed` takes them); else
    :func:`entity_names` of ``rows``.

    Examples:
        >>> rows = pl.DataFrame({
        ...     "entity_type": ["ALBUM", "TRACK", None],
        ...     "entity_id": ["0b6e2d1c-8a4f-4f1e-9d43-3c1a7e5b2f10", "c1742310-151c-4fb1-80f0", None],
        ...     "metadata": ['{"albumTitle": "Kid A"}', None, None]})
        >>> subjects(rows).to_list()
        ['ALBUM Kid A', 'TRACK c1742310…', None]
        >>> subjects(rows, {"c1742310-151c-4fb1-80f0": "Starálfur"}).to_list()  # named elsewhere
        ['ALBUM 0b6e2d1c…', 'TRACK Starálfur', None]
    """
    rows = filled(rows).with_columns(_subject())
    return rows.select(_entity(_names(rows) if names is None else names).alias("entity")).to_series()


def _entity(names: dict[str, str]) -> pl.Expr:
    """:func:`subjects`' label, over the columns of :func:`_subject`; ``names``: entity id → name."""
    return pl.when(pl.col("subject_type").is_not_null() | pl.col("subject_id").is_not_null()).then(
        pl.concat_str(
            pl.col("subject_type").fill_null("?"),
            pl.lit(" "),
            pl.coalesce(
                pl.col("subject_id").replace_strict(names, default=None, return_dtype=pl.String),
                pl.col("subject_id").str.slice(0, 8) + pl.lit("…"),
                pl.lit("(no id)"),
            ),
        )
    )


def entity_names(rows: pl.DataFrame) -> dict[str, str]:
    """Entity id → the title or name a row about it carries in its metadata."""
    return _names(filled(rows).with_columns(_subject()))


def _names(rows: pl.DataFrame) -> dict[str, str]:
    """:func:`entity_names` of rows :func:`filled`, with the columns of :func:`_subject`."""
    named = pl.concat(
        [
            rows.filter(pl.col("subject_type") == kind).select(
                "subject_id", name=pl.col("metadata").cast(pl.String).str.json_path_match(path)
            )
            for kind, path in _NAMES.items()
        ]
    )
    found = (
        named.drop_nulls().filter(pl.col("name").str.strip_chars() != "").unique("subject_id", keep="first")
    )
    return dict(found.iter_rows())


def _cut(text: pl.Expr, length: int) -> pl.Expr:
    """``text`` shortened to ``length`` characters, an ellipsis marking the cut."""
    return (
        pl.when(text.str.len_chars() > length)
        .then(text.str.slice(0, length - 1) + pl.lit("…"))
        .otherwise(text)
    )
