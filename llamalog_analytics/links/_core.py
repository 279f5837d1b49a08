"""Job runs and parent links, defined: :class:`Linking`, the SQL that numbers the runs and resolves
each parent link (:func:`rows_sql`), and the same for a frame in hand (:func:`resolve`,
:func:`annotate`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from .._format import duration, parse_duration
from .._sql import literal, quote
from ..errors import JobKeyCollisionError, LinkError
from .roots import on_loop

LINKS = ("instance", "job_id")
DEFAULT_REUSE_GAP = timedelta(hours=24)
NO_ROW = "no row carries the id"
NO_RUN_NEAR = "no run of it within the reuse gap"


@dataclass(frozen=True)
class Linking:
    """How parent links are followed: by job instance with a reuse gap, or by bare job id.

    Build it with :meth:`of`, which takes what users pass (``link=``, ``reuse_gap=``).
    """

    link: str = "instance"
    reuse_gap: timedelta | None = DEFAULT_REUSE_GAP  # None: bare job ids

    def __post_init__(self) -> None:
        bare = self.link == "job_id"
        if self.link not in LINKS or bare != (self.reuse_gap is None):
            raise LinkError(
                f"Linking({self.link!r}, {self.reuse_gap!r}) is not a way to link. "
                "Hint: build it with Linking.of(link, reuse_gap)"
            )

    @classmethod
    def of(cls, link: str = "instance", reuse_gap: timedelta | str | None = None) -> Linking:
        """Check and normalise ``link`` (``instance`` or ``job_id``, also written ``job-id``)
        and ``reuse_gap``.

        ``reuse_gap`` is a ``timedelta`` or text such as ``6h``, ``90min``, ``2d`` or ``1h30m``;
        None means the default, 24 hours. Bare job ids (``link="job_id"``) are never told apart
        into runs, so a gap given with them is refused (a mistyped one is said first).

        Examples:
            >>> Linking.of(reuse_gap="1h30m").reuse_gap
            datetime.timedelta(seconds=5400)
            >>> Linking.of("job-id").reuse_gap is None
            True
            >>> Linking.of("job-id", "6h")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            llamalog_analytics.errors.LinkError: reuse_gap='6h' has no meaning with link='job-id' ...
        """
        name = link.replace("-", "_").lower() if isinstance(link, str) else None
        if name not in LINKS:
            raise LinkError(f"unknown link {link!r}. Hint: use one of {', '.join(LINKS)}")
        gap = DEFAULT_REUSE_GAP if reuse_gap is None else parse_duration(reuse_gap, "reuse_gap", LinkError)
        if gap <= timedelta(0):
            raise LinkError(f"reuse_gap={reuse_gap!r} is not positive. Hint: try 24h or 6h")
        if name == "job_id" and reuse_gap is not None:
            raise LinkError(
                f"reuse_gap={reuse_gap!r} has no meaning with link={link!r} (--link job-id): "
                "bare job ids are not told apart into runs. Hint: leave the reuse gap out, or follow job "
                "runs with link='instance' (--link instance)"
            )
        return cls("job_id", None) if name == "job_id" else cls("instance", gap)

    @property
    def gap_us(self) -> int | None:
        """The reuse gap in microseconds (None: no gap, bare job ids)."""
        return None if self.reuse_gap is None else self.reuse_gap // timedelta(microseconds=1)

    def __str__(self) -> str:
        if self.reuse_gap is None:
            return "bare job ids"
        return f"job instances (reuse gap {duration(self.reuse_gap)})"


def rows_sql(
    source: str,
    linking: Linking | None = None,
    *,
    quoted: bool = False,
    carry: Iterable[str] = (),
    run_start: bool = False,
) -> str:
    """SQL (DuckDB) giving each row of ``source`` its job instance and its resolved parent.

    Columns: ``id``, ``created_at``, ``job_id``, ``parent_job_id``, ``job_instance`` (the
    ordinal; NULL without a job id), ``parent_instance`` (the ordinal of the instance of
    ``parent_job_id`` the row links to; NULL when none), ``parent_first_at`` (that instance's
    first row time) and ``dangling`` (why a parent resolves to nothing: :data:`NO_ROW` or
    :data:`NO_RUN_NEAR`; NULL otherwise). ``source`` is a table name, or with ``quoted`` any
    relation (a parenthesised query); ``carry`` names more of its columns to pass through. With
    ``run_start``, one more column, ``run_start``: whether the row is its run's first.
    """
    linking = linking or Linking()
    relation = source if quoted else quote(source)
    columns = ", ".join(["id", "created_at", "job_id", "parent_job_id", *map(quote, carry)])
    gap = linking.gap_us
    starts = (
        "row_number() OVER by_job = 1"
        if gap is None
        else f"coalesce(epoch_us(created_at) - lag(epoch_us(created_at)) OVER by_job > {int(gap)}, true)"
    )
    near = "true" if gap is None else f"distance <= {int(gap)}"
    start = " job_id IS NOT NULL AND starts AS run_start," if run_start else ""
    columns_out = f"{columns}, job_instance" + (", run_start" if run_start else "")
    return f"""WITH marked AS (
  SELECT {columns}, {starts} AS starts FROM {relation}
  WINDOW by_job AS (PARTITION BY job_id ORDER BY created_at, id)),
numbered AS MATERIALIZED (  -- RANGE: a row and its exact copies, sorted in either order, share a run
  SELECT {columns},{start}
    CASE WHEN job_id IS NOT NULL THEN sum(starts::INTEGER) OVER (
      PARTITION BY job_id ORDER BY created_at, id RANGE UNBOUNDED PRECEDING)::INTEGER END AS job_instance
  FROM marked),
spans AS (  -- the runs of job ids some row names as its parent: the only ones a link can find
  SELECT job_id, job_instance, min(created_at) AS first_at, max(created_at) AS last_at
  FROM numbered WHERE job_id IN (SELECT parent_job_id FROM numbered) GROUP BY ALL),
near AS (
  SELECT n.*, b.job_instance AS b_instance, b.first_at AS b_first,
    greatest(epoch_us(n.created_at) - epoch_us(b.last_at), 0) AS b_distance,
    a.job_instance AS a_instance, a.first_at AS a_first,
    epoch_us(a.first_at) - epoch_us(n.created_at) AS a_distance
  FROM (SELECT * FROM numbered WHERE parent_job_id IS NOT NULL) AS n  -- only these have a parent to find
  ASOF LEFT JOIN spans AS b ON n.parent_job_id = b.job_id AND n.created_at >= b.first_at
  LEFT JOIN spans AS a ON n.parent_job_id = a.job_id AND a.job_instance = coalesce(b.job_instance, 0) + 1),
nearest AS (
  SELECT *, b_instance IS NOT NULL AND (a_instance IS NULL OR b_distance <= a_distance) AS before,
    CASE WHEN before THEN b_distance ELSE a_distance END AS distance
  FROM near)
SELECT {columns_out},
  CASE WHEN {near} THEN CASE WHEN before THEN b_instance ELSE a_instance END END AS parent_instance,
  CASE WHEN {near} THEN CASE WHEN before THEN b_first ELSE a_first END END AS parent_first_at,
  CASE WHEN b_instance IS NULL AND a_instance IS NULL THEN {literal(NO_ROW)}
    WHEN NOT ({near}) THEN {literal(NO_RUN_NEAR)} END AS dangling
FROM nearest
UNION ALL
SELECT {columns_out}, NULL::INTEGER, NULL::TIMESTAMP, NULL::VARCHAR FROM numbered
WHERE parent_job_id IS NULL"""


DANGLING_PARENT = pl.col("parent_job_id").is_not_null() & pl.col("parent_instance").is_null()
"""Rows (with ``parent_instance`` resolved) whose parent's run never logged: a polars filter."""


def resolve(rows: pl.DataFrame, linking: Linking | None = None) -> pl.DataFrame:
    """:func:`rows_sql`'s columns for a frame of log rows, in the frame's order.

    Only ``id``, ``created_at``, ``job_id`` and ``parent_job_id`` are read; the work is
    :func:`link_runs`'.

    Examples:
        >>> from datetime import datetime
        >>> rows = pl.DataFrame({
        ...     "id": ["a", "b", "c"], "job_id": ["7", "7", None], "parent_job_id": [None, None, "7"],
        ...     "created_at": [datetime(2026, 2, 1), datetime(2026, 4, 1), datetime(2026, 4, 1, 0, 5)]})
        >>> resolve(rows).select("job_instance", "parent_instance").rows()
        [(1, None), (2, None), (None, 2)]
    """
    narrow = rows.select(
        pl.col("id", "job_id", "parent_job_id").cast(pl.String), pl.col("created_at").cast(pl.Datetime("us"))
    )
    order = narrow.select(pl.arg_sort_by("created_at", "id")).to_series().to_numpy()
    jobs = pl.concat([narrow["job_id"], narrow["parent_job_id"]]).drop_nulls().unique().sort()

    def coded(column: str) -> np.ndarray:
        values = narrow[column]
        codes = jobs.search_sorted(values.fill_null(""), side="left").to_numpy().astype(np.int64)
        return np.where(values.is_null().to_numpy(), -1, codes)

    created = narrow["created_at"].dt.epoch("us").to_numpy()[order]
    found = resolved(order, coded("job_id")[order], coded("parent_job_id")[order], created, linking)
    return narrow.select("id", "created_at", "job_id", "parent_job_id").hstack(
        found.with_columns(pl.col("dangling").cast(pl.String))
    )


def resolved(
    order: np.ndarray,
    job: np.ndarray,
    parent: np.ndarray,
    created: np.ndarray,
    linking: Linking | None = None,
    *,
    check: tuple[np.ndarray, np.ndarray] | None = None,
) -> pl.DataFrame:
    """:func:`link_runs` as columns in the rows' own order: ``job_instance``,
    ``parent_instance``, ``parent_first_at`` and ``dangling`` (as :func:`rows_sql` gives them,
    the reason as an enum). The arrays are :func:`link_runs`', oldest first; ``order`` lists
    the row each sorted position comes from.

    Examples:
        >>> hour = 3_600_000_000  # job 7 at 30h and 0h (two runs); a child of it at 29h
        >>> found = resolved(np.array([2, 1, 0]), np.array([7, -1, 7]), np.array([-1, 7, -1]),
        ...                  np.array([0, 29, 30]) * hour)
        >>> found.select("job_instance", "parent_instance", "dangling").rows()
        [(2, None, None), (None, 2, None), (1, None, None)]
    """
    found = link_runs(job, parent, created, linking, check=check)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))  # each row's place among the sorted ones
    ordinal, parent_ordinal, first_at, dangling = (values[back] for values in found)
    del found, back
    linked = pl.col("parent_instance") != 0
    return pl.DataFrame(
        {
            "job_instance": pl.Series(ordinal, dtype=pl.Int32),
            "parent_instance": pl.Series(parent_ordinal, dtype=pl.Int32),
            "parent_first_at": pl.Series(first_at, dtype=pl.Datetime("us")),
            "dangling": _DANGLING_REASONS.gather(dangling),
        }
    ).with_columns(  # 0 stands for none
        pl.when(pl.col("job_instance") != 0).then("job_instance").alias("job_instance"),
        pl.when(linked).then("parent_instance").alias("parent_instance"),
        pl.when(linked).then("parent_first_at").alias("parent_first_at"),
    )


_DANGLING_REASONS = pl.Series([None, NO_ROW, NO_RUN_NEAR], dtype=pl.Enum([NO_ROW, NO_RUN_NEAR]))
"""Why a parent is dangling, by :func:`link_runs`' code (0: it is not)."""


def link_runs(
    job: np.ndarray,
    parent: np.ndarray,
    created: np.ndarray,
    linking: Linking | None = None,
    *,
    check: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The module's definition over arrays of rows sorted oldest first (``created_at``, then
    ``id``): ``job`` and ``parent`` are job ids as non-negative numbers (-1: NULL; equal ids,
    equal numbers), ``created`` is in microseconds. Whole-array steps, a few integers per row:
    what the chain index and the audit use.

    When the numbers are hashes of the ids, ``check`` gives a second, independent hash of
    each (for ``job`` and ``parent``): two ids alike in the first but not the second raise
    :class:`~llamalog_analytics.errors.JobKeyCollisionError` (the caller then links the rows
    another way).

    Returns each row's ``job_instance`` and ``parent_instance`` (0: none), the first time of
    that parent run (microseconds; 0 without one) and why its parent is dangling (0: it is
    not, 1: :data:`NO_ROW`, 2: :data:`NO_RUN_NEAR`).

    Examples:
        >>> hour = 3_600_000_000  # job 9 at 0h and 30h (two runs); a child of it at 29h
        >>> found = link_runs(np.array([9, -1, 9]), np.array([-1, 9, -1]), np.array([0, 29, 30]) * hour)
        >>> [values.tolist() for values in found]
        [[1, 0, 2], [0, 2, 0], [0, 108000000000, 0], [0, 0, 0]]
    """
    linking = linking or Linking()
    gap = linking.gap_us
    size = len(job)
    grouped = np.flatnonzero(job >= 0)
    grouped = grouped[_stable_order(job[grouped])]  # by job id, oldest first within
    jobs = job[grouped]
    first_of_job = np.ones(len(grouped), dtype=bool)
    np.not_equal(jobs[1:], jobs[:-1], out=first_of_job[1:])
    checked = None if check is None else check[0][grouped]
    if checked is not None and np.any(~first_of_job[1:] & (checked[1:] != checked[:-1])):
        raise JobKeyCollisionError(
            "two job ids were given one number. Hint: number them exactly, distinct ids apart"
        )
    times = created[grouped]
    starts = first_of_job.copy()
    if gap is not None:
        starts[1:] |= np.diff(times) > gap
    # Each run by its first row (among the grouped ones); one more entry stands for "no run".
    begins = np.flatnonzero(starts)
    ends = np.append(begins[1:], len(grouped))[: len(begins)] - 1  # a run ends where the next one starts
    new_job = first_of_job[begins]
    numbers = np.arange(len(begins))
    run_ordinal = numbers - np.maximum.accumulate(np.where(new_job, numbers, 0)) + 1
    ordinal = np.zeros(size, dtype=np.int32)
    ordinal[grouped] = run_ordinal[np.cumsum(starts) - 1]
    run_job, run_ordinal = _then_none(jobs, begins, -1), np.append(run_ordinal, 0)
    run_first, run_last = _then_none(times, begins, 0), _then_none(times, ends, 0)
    run_check = None if checked is None else _then_none(checked, begins, 0)
    distinct = jobs[first_of_job]
    del jobs, times, checked, first_of_job, starts, ends
    # The parent's run starting last at or before the row (b), and the one after it (a), found
    # by searching (job, time) keys: the job as its place among the distinct ids (ids may be
    # hashes, so they are numbered first), time as its rank among the rows' times.
    rank = np.zeros(size, dtype=np.int64)
    if size:
        np.cumsum(created[1:] != created[:-1], out=rank[1:])
    scale = int(rank[-1]) + 2 if size else 1
    keys = (np.cumsum(new_job) - 1) * scale + rank[grouped[begins]]
    del grouped, begins, new_job, numbers
    runs = _Runs(distinct, keys, scale, run_job, run_ordinal, run_first, run_last, run_check, gap)
    parent_ordinal, first_at = np.zeros(size, np.int32), np.zeros(size, np.int64)
    dangling = np.zeros(size, np.int8)
    linked = np.flatnonzero(parent >= 0)
    # Searched in (parent, time) order: binary searches in large arrays run several times faster
    # on sorted values, each starting near where the last one ended; a slice at a time, so the
    # work's own arrays stay small (and in the processor's cache).
    linked = linked[_stable_order(parent[linked])]
    for at in range(0, len(linked), _SLICE):
        rows = linked[at : at + _SLICE]
        parent_ordinal[rows], first_at[rows], dangling[rows] = runs.nearest(
            parent[rows], created[rows], rank[rows], None if check is None else check[1][rows]
        )
    return ordinal, parent_ordinal, first_at, dangling


_SLICE = 1 << 20


def _then_none(values: np.ndarray, at: np.ndarray, none: int) -> np.ndarray:
    """``values[at]`` and one more entry, ``none``, in one new array (``np.append`` of the
    gathered values makes two, and new memory is costly to touch: see the README's Scale).

    Examples:
        >>> _then_none(np.array([5, 6, 7]), np.array([2, 0]), -1).tolist()
        [7, 5, -1]
    """
    found = np.empty(len(at) + 1, dtype=values.dtype)
    np.take(values, at, out=found[:-1])
    found[-1] = none
    return found


@dataclass(frozen=True)
class _Runs:
    """The runs :func:`link_runs` found, for its parent links to search."""

    distinct: np.ndarray  # the job ids, sorted
    keys: np.ndarray  # each run's (job's place in distinct) * scale + (its first row's time rank)
    scale: int
    job: np.ndarray  # each run's job id, ordinal, first and last time, then an entry for none
    ordinal: np.ndarray
    first: np.ndarray
    last: np.ndarray
    check: np.ndarray | None  # each run's job id by a second hash (None: ids are exact)
    gap: int | None

    def nearest(
        self, wanted: np.ndarray, at: np.ndarray, rank: np.ndarray, check: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For rows whose parents are ``wanted`` (at times ``at``, of ranks ``rank``), the
        ordinal and first time of the run each links to (0: none) and why none (as
        :func:`link_runs` returns them)."""
        none = len(self.job) - 1
        if len(self.distinct):
            # each id once per stretch of rows that want it (sorted, they come together)
            stretch = np.flatnonzero(np.append(True, wanted[1:] != wanted[:-1]))
            place = np.minimum(np.searchsorted(self.distinct, wanted[stretch]), len(self.distinct) - 1)
            place = np.repeat(place, np.diff(np.append(stretch, len(wanted))))
            logged = self.distinct[place] == wanted
            before_run = np.searchsorted(self.keys, place * self.scale + rank, side="right") - 1
        else:
            logged, before_run = np.zeros(len(wanted), dtype=bool), np.full(len(wanted), -1)
        after_run = before_run + 1
        before_run[(before_run < 0) | ~logged] = none
        has_before, has_after = self.job[before_run] == wanted, self.job[after_run] == wanted
        if self.check is not None and check is not None:
            found = np.where(has_before, before_run, after_run)
            if np.any((has_before | has_after) & (self.check[found] != check)):
                raise JobKeyCollisionError(
                    "a parent id was given another job id's number. "
                    "Hint: number them exactly, distinct ids apart"
                )
        before_distance = np.maximum(at - self.last[before_run], 0)
        after_distance = self.first[after_run] - at
        before = has_before & (~has_after | (before_distance <= after_distance))
        chosen = np.where(before, before_run, after_run)
        some = has_before | has_after
        near = (
            some
            if self.gap is None
            else some & (np.where(before, before_distance, after_distance) <= self.gap)
        )
        return (
            np.where(near, self.ordinal[chosen], 0),
            np.where(near, self.first[chosen], 0),
            np.where(some, np.where(near, 0, 2), 1),
        )


def _stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")``, sorted by polars on every core.

    Examples:
        >>> _stable_order(np.array([3, 1, 3, 1])).tolist()
        [1, 3, 0, 2]
    """
    return (
        pl.DataFrame({"value": values})
        .select(pl.arg_sort_by("value", maintain_order=True))
        .to_series()
        .to_numpy()
    )


def annotate(rows: pl.DataFrame, linking: Linking | None = None) -> pl.DataFrame:
    """``rows`` with the link annotations chains carry, computed among these rows alone.

    Adds ``job_instance``, ``parent_instance``, ``before_parent`` and ``in_cycle`` where they
    are missing (a chain from :func:`~llamalog_analytics.chain` has them, resolved over the
    whole table, and keeps its own).

    Examples:
        >>> from datetime import datetime
        >>> rows = pl.DataFrame({
        ...     "id": ["a", "b"], "job_id": ["x", "y"], "parent_job_id": ["y", "x"],
        ...     "created_at": [datetime(2026, 2, 1), datetime(2026, 2, 1, 0, 1)]})
        >>> annotate(rows).select("in_cycle", "before_parent").rows()
        [(True, True), (True, False)]
    """
    wanted = ("job_instance", "parent_instance", "before_parent", "in_cycle")
    if all(c in rows.columns for c in wanted):
        return rows
    resolved = resolve(rows, linking)
    keys = (
        pl.concat(
            [
                resolved.select(job=pl.col("job_id"), run=pl.col("job_instance")),
                resolved.select(job=pl.col("parent_job_id"), run=pl.col("parent_instance")),
            ]
        )
        .drop_nulls()
        .unique()
        .sort("job", "run")
        .with_row_index("node")
    )

    def node(job: str, run: str) -> np.ndarray:
        found = resolved.select(job=pl.col(job), run=pl.col(run)).join(
            keys, on=["job", "run"], how="left", maintain_order="left"
        )
        return found["node"].fill_null(-1).cast(pl.Int64).to_numpy()

    own, parent = node("job_id", "job_instance"), node("parent_job_id", "parent_instance")
    values = {
        "job_instance": resolved["job_instance"],
        "parent_instance": resolved["parent_instance"],
        "before_parent": (resolved["created_at"] < resolved["parent_first_at"]).fill_null(False),
        "in_cycle": pl.Series(on_loop(own, parent, keys.height)),
    }
    return rows.with_columns(pl.Series(name, values[name]) for name in wanted if name not in rows.columns)
