"""Synthetic ``llama_logs`` data shaped like the real table, for tests, docs and benchmarks.

Rows come in *families*: a root row and the rows its jobs log (album creation with artist and
track children, queue enrichment with flat parents, syncs under dangling batch ids, previews,
corrections, user actions...), spread over 2025-12-25 .. 2026-06-30 and densest while v1.4 was
built (2026-02-06 .. 02-16). Each row has the columns of its time: a column that did not exist
yet holds its default; ``category`` of rows older than the category migration is the applied
backfill and ``root_job_id`` of rows older than the root-job migration the applied recursive
backfill; newer rows follow the application's rules. Times are naive UTC. Everything is
vectorised: Python loops run over family and row *kinds* and backfill steps, never over rows.

Examples:
    >>> data = generate(2_000, seed=3)
    >>> data.llama_logs.height, data.enrichment_logs.width
    (2000, 26)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from .. import rules, schema
from ..errors import ArgumentError
from ._families import BULLMQ_ID, FAMILIES, FAMILY_SOURCE, FILLER, KINDS, MB_SYNC_PARENT, Family, Kind, Slot
from ._vocabulary import (
    _BLOCK,
    _CAT,
    _DENSITY,
    _ERRORS,
    _ISROOT,
    _K,
    _NAMES,
    _NO_STRING,
    _PARENT,
    _PREVIEWS,
    _REASON,
    _ROOT,
    _STATUS,
    _USER,
    _USER_ACTION,
    REDIS_RESETS,
    _cat,
    _int,
    _mbid,
    _metadata,
    _migrations,
    _ms,
    _pick,
    _preview,
    _random,
    _reason,
    _text,
    _uuids,
)

__all__ = ["REDIS_RESETS", "Synthetic", "generate"]


@dataclass(frozen=True)
class Synthetic:
    """A synthetic LlamaLog database: the table today, its pre-rename snapshot, its migrations.

    Attributes:
        llama_logs: the table after every migration, columns in ``schema.COLUMNS`` order,
            sorted by ``created_at`` then ``id``.
        enrichment_logs: the rows that existed just before the category migration, with the
            26 ``schema.LEGACY_COLUMNS`` (no ``category``, no ``root_job_id``).
        prisma_migrations: Prisma's ``_prisma_migrations`` rows for ``schema.MIGRATIONS``.
        category_migrated_at: naive UTC apply time of ``schema.CATEGORY_MIGRATION``.
        root_job_migrated_at: naive UTC apply time of ``schema.ROOT_JOB_MIGRATION``.

    Examples:
        >>> data = generate(500, seed=1)
        >>> before = data.llama_logs.filter(pl.col("created_at") < data.category_migrated_at)
        >>> data.enrichment_logs.height == before.height
        True
    """

    llama_logs: pl.DataFrame
    enrichment_logs: pl.DataFrame
    prisma_migrations: pl.DataFrame
    category_migrated_at: datetime
    root_job_migrated_at: datetime


@dataclass(frozen=True)
class _Plan:
    family: Family
    t: np.ndarray  # start time of each instance (epoch ms), ascending
    picks: tuple[np.ndarray, ...]  # per slot: the instances that log it


def generate(rows: int = 5_000, *, seed: int = 0) -> Synthetic:
    """Generate exactly ``rows`` synthetic ``llama_logs`` rows, its snapshot and migrations.

    The same seed gives the same frames. Below a few hundred rows the table is a random subset
    of one instance per family, so rare shapes may be missing.

    Args:
        rows: number of rows in ``llama_logs`` (at least 1).
        seed: random seed.

    Returns:
        The three frames and the apply times of the category and root-job migrations.

    Examples:
        >>> data = generate(500, seed=1)
        >>> data.llama_logs.shape
        (500, 28)
        >>> data.llama_logs["category"].value_counts(sort=True).item(0, "category")
        'ENRICHED'
    """
    if rows < 1:
        raise ArgumentError(f"rows must be at least 1, got {rows}. Hint: try generate(5_000)")
    rng = np.random.default_rng(seed)
    plans = [_plan(rng, f, max(1, round(rows * f.share / sum(s.p for s in f.slots)))) for f in FAMILIES]
    planned = sum(len(pick) for plan in plans for pick in plan.picks)
    plans.append(_plan(rng, FILLER, max(0, rows - planned)))
    logs = _finish(rng, _all_rows(rng, plans, rows), rows)
    legacy = logs.filter(pl.col("created_at") < _CAT).select(c.name for c in schema.LEGACY_COLUMNS)
    return Synthetic(logs, legacy, _migrations(rng), _CAT, _ROOT)


def _plan(rng: np.random.Generator, family: Family, n: int) -> _Plan:
    knots = np.array([_ms(t) for t, _ in _DENSITY], np.float64)
    cdf = np.concatenate([[0], np.cumsum(np.diff(knots) * [r for _, r in _DENSITY[:-1]])])
    lo, hi = np.interp([_ms(t) for t in family.window], knots, cdf)
    t = np.sort(np.interp(rng.uniform(lo, hi, n), cdf, knots).astype(np.int64))
    picks = []
    for slot in family.slots:
        pick = np.arange(n) if slot.p >= 1 else np.sort(rng.choice(n, round(n * slot.p), replace=False))
        picks.append(pick[t[pick] >= _ms(slot.since)] if slot.since else pick)
    return _Plan(family, t, tuple(picks))


def _base(var: str | None) -> str:
    return (var or "").rstrip("0123456789")


def _all_rows(rng: np.random.Generator, plans: list[_Plan], rows: int) -> list[pl.DataFrame]:
    ents, pools = _entities(rng, plans, rows)
    cuids = _random(rng, 12 + rows // 20_000, 25)
    cuids[:, 0] = ord("c")
    users = _text(cuids)
    frames = []
    for plan, plan_ents, base in zip(plans, ents, _bullmq_bases(plans), strict=True):
        n = len(plan.t)
        numbers = {"t": plan.t, "b": base, "r": rng.random(n), **{f"ix_{v}": i for v, i in plan_ents.items()}}
        family = pl.DataFrame(numbers).with_columns(rand=_text(_random(rng, n, 9)))
        for slot, pick in zip(plan.family.slots, plan.picks, strict=True):
            if len(pick):
                frames.append(_slot_rows(rng, plan.family, slot, family[pick], pools, users))
    return frames


def _entities(rng: np.random.Generator, plans: list[_Plan], rows: int) -> tuple[list[dict], dict]:
    """Pool positions per family entity variable; entities that families create are born in order."""
    found: list[dict[str, np.ndarray]] = [{} for _ in plans]
    pools = {}
    for kind, per in (("album", 30), ("artist", 45), ("track", 15)):
        new = [
            (i, v)
            for i, p in enumerate(plans)
            for v, how in p.family.ents.items()
            if (_base(v), how) == (kind, "new")
        ]
        born_at = np.concatenate([np.empty(0, np.int64)] + [plans[i].t for i, _ in new])
        order = np.argsort(born_at, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        pre = 5 + rows // per  # catalogue that existed before logging started
        births = np.concatenate([np.full(pre, np.iinfo(np.int64).min), born_at[order]])
        ends = np.cumsum([0] + [len(plans[i].t) for i, _ in new])
        for (i, v), a, b in zip(new, ends[:-1], ends[1:], strict=True):
            found[i][v] = pre + rank[a:b]
        for i, p in enumerate(plans):
            for v in (v for v, how in p.family.ents.items() if (_base(v), how) == (kind, "old")):
                born = np.searchsorted(births, p.t, side="right")  # pick among entities born by then
                found[i][v] = (rng.random(len(p.t)) * born).astype(np.int64)
        pools[kind] = _uuids(rng, len(births))
    return found, pools


def _bullmq_bases(plans: list[_Plan]) -> list[np.ndarray]:
    """Per instance the BullMQ id before its first job; numbering restarts at each Redis reset."""
    t = np.concatenate([p.t for p in plans])
    count = np.concatenate([np.full(len(p.t), list(p.family.jobs.values()).count(BULLMQ_ID)) for p in plans])
    epoch = np.searchsorted([_ms(r) for r in REDIS_RESETS], t, side="right")
    order = np.lexsort((t, epoch))
    before = np.cumsum(count[order]) - count[order]
    base = np.empty_like(t)
    base[order] = before - before[np.searchsorted(epoch[order], epoch[order])]
    return np.split(base, np.cumsum([len(p.t) for p in plans])[:-1])


def _family_ids(family: Family, pools: dict[str, pl.Series]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Entity ids, then job ids, of a family's instances, from their numbers."""
    ids = [pl.lit(pools[_base(v)]).gather(pl.col(f"ix_{v}")).alias(f"id_{v}") for v in family.ents]
    jobs, bull = [], 0
    for var, fmt in family.jobs.items():
        if fmt == BULLMQ_ID:
            bull += 1
            expr = _int(pl.col("b") + bull)
        elif fmt == MB_SYNC_PARENT:  # the batch id or a request id
            expr = (
                pl.when(pl.col("r") < 0.6).then(pl.lit("mb-sync-batch")).otherwise(_format("mb_{ms}_{rand}"))
            )
        else:
            expr = _format(fmt)
        jobs.append(expr.alias(f"j_{var}"))
    return [*ids, _int(pl.col("t")).alias("ms")], jobs


def _format(fmt: str) -> pl.Expr:
    parts = re.split(r"\{(\w+)\}", fmt)
    return _cat(
        *(p if i % 2 == 0 else pl.col(p if p in ("ms", "rand") else f"id_{p}") for i, p in enumerate(parts))
    )


def _options(options: tuple[tuple[str, ...], ...]) -> pl.Series:
    """The options as a list series, the empty list first: ``(("a", "b"), ("c",))`` gives
    ``[[], ["a", "b"], ["c"]]``."""
    return pl.Series([[], *map(list, options)], dtype=pl.List(pl.String))


def _slot_rows(
    rng: np.random.Generator, family: Family, slot: Slot, f: pl.DataFrame, pools: dict, users: pl.Series
) -> pl.DataFrame:
    """The rows one slot logs for the family instances in ``f``, with the columns of their time.

    Random draws happen in a fixed order (outcomes, options, durations, times, then the row's
    own values), so the same seed gives the same rows.
    """
    kind, n = KINDS[slot.kind], f.height
    names, weights = zip(*kind.outcomes, strict=True)
    drawn = np.searchsorted(np.cumsum(weights), rng.random(n) * sum(weights), side="right")
    outcome = np.full(n, names.index(slot.status)) if slot.status else drawn
    sources, fields = _options(kind.sources), _options(kind.fields)
    no_source = (np.array(names) == "SKIPPED")[outcome] | (len(sources) == 1)
    source = np.where(no_source, 0, rng.integers(1, max(2, len(sources)), n))
    written = np.isin(names, ["SUCCESS", "PARTIAL_SUCCESS"])[outcome] & (len(fields) > 1)
    field = np.where(written, rng.integers(1, max(2, len(fields)), n), 0)
    duration = np.exp(rng.normal(np.log(max(kind.dur, 1)), 0.8, n)).astype(np.int32) + 1
    ids, jobs = _family_ids(family, pools)
    at = int(slot.at * 1000)
    helpers = _helper_columns(family, slot, kind)
    logs = (
        f.lazy()
        .with_columns(ids)
        .with_columns(jobs)
        .with_columns(
            pl.Series("status", names, dtype=pl.String).gather(outcome),
            _t=pl.Series(f["t"].to_numpy() + at + rng.integers(0, abs(at) // 2 + 1, n)),
            _k=pl.Series(rng.integers(0, 1 << 30, n)),
            **helpers,
        )
        .select(
            **_entity_columns(family, slot, kind),
            operation="operation",
            sources=pl.lit(sources).gather(pl.Series(source)),
            status=_STATUS,
            fields_enriched=pl.lit(fields).gather(pl.Series(field)),
            **_written_columns(rng, slot, kind, n, duration, users),
        )
    )
    return _as_of_creation(logs, logger=not kind.direct).collect()


def _column_of(family: Family, var: str | None) -> pl.Expr:
    """The id of the family's entity ``var`` (NULL when the family has none)."""
    return pl.col(f"id_{var}") if var in family.ents else _NO_STRING


def _name_of(family: Family, kind: str, var: str) -> pl.Expr:
    """The name (as a JSON string) of the family's entity ``var`` of ``kind``."""
    return _pick(_NAMES[kind], pl.col(f"ix_{var}"), as_json=True) if var in family.ents else _NO_STRING


def _helper_columns(family: Family, slot: Slot, kind: Kind) -> dict[str, pl.Expr]:
    """Columns the row's texts are written from: its operation, trigger, entity ids and names."""
    ent = slot.ent or ""
    own = {b: ent if _base(ent) == b else b for b in _NAMES}  # the slot's entity, else the family's
    return {
        "operation": pl.lit(kind.op or kind.name),
        "triggered_by": pl.lit(family.source if kind.trig == FAMILY_SOURCE else kind.trig, pl.String),
        "_album": _column_of(family, own["album"]),
        "_at": _name_of(family, "album", own["album"]),
        "_an": _name_of(family, "artist", own["artist"]),
        "_tt": _name_of(family, "track", own["track"]),
        "_id": _column_of(family, ent),
        "_mb": _mbid(_column_of(family, ent)),
        "_name": _name_of(family, _base(ent), ent) if ent else _NO_STRING,
    }


def _entity_columns(family: Family, slot: Slot, kind: Kind) -> dict[str, pl.Expr]:
    """``entity_type``, ``entity_id`` and the typed ids, as the kind of row fills them."""
    ent = slot.ent or ""
    typed = {f"{b}_id": _NO_STRING for b in ("artist", "album", "track")}
    if slot.extra:
        typed[f"{_base(slot.extra)}_id"] = _column_of(family, slot.extra)
    etype = _base(ent).upper() or None
    if etype and kind.ids in ("both", "typed"):
        typed[f"{_base(ent)}_id"] = _column_of(family, ent)
    return {
        "entity_type": pl.lit(etype, pl.String),
        "entity_id": _column_of(family, ent) if kind.ids in ("both", "entity") else _NO_STRING,
        **typed,
    }


def _written_columns(
    rng: np.random.Generator, slot: Slot, kind: Kind, n: int, duration: np.ndarray, users: pl.Series
) -> dict[str, pl.Expr | pl.Series | str]:
    """The rest of a row: quality, error, timing, metadata, jobs, time, user, reason, preview."""
    failed = _STATUS == "FAILED"
    quality = _pick(("LOW", "LOW", "MEDIUM", "HIGH"), _K)
    better = pl.when(_STATUS.is_in(["SUCCESS", "PARTIAL_SUCCESS"])).then(_pick(("MEDIUM", "HIGH"), _K // 7))
    return {
        "data_quality_before": quality if kind.dq else _NO_STRING,
        "data_quality_after": better.otherwise(quality) if kind.dq else _NO_STRING,
        "error_message": pl.when(failed).then(_pick(_ERRORS, _K // 3)),
        "error_code": pl.when(failed).then(_pick(kind.codes, _K // 5)) if kind.codes else _NO_STRING,
        "retry_count": pl.lit(0, pl.Int32),
        "duration_ms": pl.Series(np.where(rng.random(n) < 0.04, 0, duration) * bool(kind.dur)),
        "api_call_count": pl.Series(rng.integers(0, kind.api + 1, n, dtype=np.int32)),
        "metadata": _metadata(kind),
        "job_id": pl.col(f"j_{slot.job}") if slot.job else _NO_STRING,
        "triggered_by": "triggered_by",
        "created_at": pl.from_epoch("_t", time_unit="ms").cast(pl.Datetime("us")),
        "user_id": users.gather(rng.integers(0, len(users), n)) if kind.user else _NO_STRING,
        "reason": _reason(kind),
        "preview_data": _preview() if kind.op == "PREVIEW_ENRICHMENT" else _NO_STRING,
        "parent_job_id": pl.col(f"j_{slot.parent}") if slot.parent else _NO_STRING,
        "_root": pl.col(f"j_{slot.root}") if slot.root else _NO_STRING,
        "_cat": pl.when(failed).then(pl.lit(kind.failed_cat)).otherwise(pl.lit(kind.cat)),
    }


def _as_of_creation(logs: pl.LazyFrame, *, logger: bool) -> pl.LazyFrame:
    """Columns as the row was written: defaults before a column existed, backfills, logger rules."""
    at, parent = pl.col("created_at"), pl.col("parent_job_id")
    # Before the rename the logger wrote SQL NULL for no metadata; LlamaLogger writes JSON null.
    json_null = pl.when(at >= _CAT).then(pl.col("metadata").fill_null("null")).otherwise("metadata")
    logs = logs.with_columns(
        duration_ms=pl.when(pl.col("duration_ms") > 0).then("duration_ms"),
        user_id=pl.when(at >= _USER).then("user_id"),
        reason=pl.when(at >= _REASON).then("reason"),
        preview_data=pl.when(at >= _PREVIEWS).then("preview_data"),
        parent_job_id=pl.when(at >= _PARENT).then(parent),
        metadata=json_null if logger else pl.col("metadata"),
        category=pl.when(at < _CAT)
        .then(pl.sql_expr(rules.APPLIED_BACKFILL.case()))
        .when((pl.col("_cat") == "USER_ACTION") & (at < _USER_ACTION))
        .then(pl.lit("CREATED"))
        .otherwise("_cat"),
    ).with_columns(is_root_job=(at >= _ISROOT) & parent.is_null() & logger)
    own_root = pl.when(parent.is_null()).then("job_id")  # backfill step 1; the walk comes later
    logged_root = pl.coalesce("_root", pl.when("is_root_job").then("job_id")) if logger else _NO_STRING
    logs = logs.with_columns(root_job_id=pl.when(at < _ROOT).then(own_root).otherwise(logged_root))
    return logs.select(schema.COLUMN_NAMES[1:])  # all but id


def _root_backfill(old: pl.DataFrame) -> pl.DataFrame:
    """``root_job_id`` of rows with a parent as migration 20260210103953's recursive CTE set it.

    Each step joins the current parent id to every row with that ``job_id`` (duplicates fan out)
    and makes that row's ``job_id`` the candidate root, up to 10 tuples per row. The deepest tuple
    wins; among equally deep ones (arbitrary in Postgres) the smallest root.
    """
    links = old.filter(pl.col("job_id").is_not_null()).select("job_id", "parent_job_id").unique()
    start = old.filter(pl.col("parent_job_id").is_not_null())
    front = start.select("_row", cur="parent_job_id", root="parent_job_id", depth=pl.lit(1))
    found = [front]
    for depth in range(2, 11):
        front = front.join(links, left_on="cur", right_on="job_id").select(
            "_row", cur="parent_job_id", root="cur", depth=pl.lit(depth)
        )
        found.append(front.unique())
    tuples = pl.concat(found)
    deepest = tuples.filter(pl.col("depth") == pl.col("depth").max().over("_row"))
    return deepest.group_by("_row").agg(pl.col("root").min())


def _finish(rng: np.random.Generator, frames: list[pl.DataFrame], rows: int) -> pl.DataFrame:
    """One frame of ``rows`` rows sorted by created_at and id, with ids and backfilled roots."""
    logs = pl.concat(frames)
    frames.clear()
    if logs.height > rows:
        logs = logs.sample(rows, seed=int(rng.integers(1 << 31)))
    old = logs.select("created_at", "job_id", "parent_job_id", _row=pl.int_range(pl.len(), dtype=pl.UInt32))
    walked = _root_backfill(old.filter(pl.col("created_at") < _ROOT))
    order = logs.select(pl.arg_sort_by("created_at")).to_series()
    source = dict(zip(logs.columns, logs.get_columns(), strict=True))
    source["root_job_id"] = source["root_job_id"].rechunk().scatter(walked["_row"], walked["root"])
    del logs, old
    # Gather block by block (polars writes Parquet far faster from chunks that own their
    # buffers), one column at a time so that one copy of the table is alive.
    blocks = [order.slice(i, _BLOCK) for i in range(0, len(order), _BLOCK)]
    columns = {}
    for name in schema.COLUMN_NAMES[1:]:
        column = source.pop(name).rechunk()
        columns[name] = pl.concat([column.gather(block) for block in blocks], rechunk=False)
    # Random ids in row order, except that rows tied on created_at get theirs in sorted order.
    at = columns["created_at"].to_physical().to_numpy()
    same = at[1:] == at[:-1]
    tied = np.flatnonzero(np.concatenate([[False], same]) | np.concatenate([same, [False]]))
    ids = _uuids(rng, len(order))
    ids = ids.scatter(tied, pl.DataFrame({"at": at[tied], "id": ids.gather(tied)}).sort("at", "id")["id"])
    return pl.DataFrame(
        {"id": pl.concat([ids.slice(i, _BLOCK) for i in range(0, len(ids), _BLOCK)]), **columns}
    )
