"""A time axis with its idle gaps cut out, for figures that show seconds of work spread over months.

Work comes in bursts: a job tree logs its rows within seconds, then nothing happens for days.
:class:`Clock` finds the bursts (rows' ``[created_at - duration, created_at]`` spans, merged
while they are at most ``idle`` apart), lays them side by side on one plain numeric axis at
one common scale (an axis unit is a second), with a fixed-width break between two bursts, and
gives the tick labels: each burst's start in full (date and UTC time), then offsets from it
(``+2 s``). Plain numbers work for WebGL traces too, where plotly's own ``rangebreaks`` do not.

Examples:
    >>> from datetime import datetime, timedelta
    >>> import polars as pl
    >>> at = [datetime(2026, 2, 7, 14), datetime(2026, 2, 7, 14, 0, 5), datetime(2026, 3, 1, 9)]
    >>> clock = Clock.of(pl.Series(at), pl.Series([0, 2_000, 0]), idle=timedelta(minutes=1))
    >>> len(clock.bursts), clock.note()
    (2, '1 idle gap over 1 min collapsed (21 d 19 h in all)')
    >>> clock.x(pl.Series(at)).to_list()[1] - clock.x(pl.Series(at)).to_list()[0]
    5.0
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from ._format import count, duration

AXIS_PIXELS = 1_000  # the plot width the default ticks are spaced for
TICK_PIXELS = 76  # room a burst's start label needs (an offset label, 60%)
UPRIGHT_PIXELS = 50  # and turned upright (its two lines, spaced for a page 0.6 times as wide)
BREAKS_SHARE = 0.3  # at most this share of the axis goes to breaks, at most 6% each
PADS_SHARE = 0.12  # and this to the room around bursts, at most 1% each side
_STEPS_S = (
    *(n / 1000 for n in (1, 2, 5, 10, 20, 50, 100, 200, 500)),
    *(1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400),
)


@dataclass(frozen=True)
class Burst:
    """A stretch of activity: its real ``start`` and ``end``, and where it starts on the axis."""

    start: datetime
    end: datetime
    x: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Clock:
    """Bursts of activity on one axis, idle gaps between them cut to a fixed-width break.

    ``bursts`` are in time order; ``pad`` is the axis room on either side of a burst and
    ``gap`` the width of a break (both in axis units, seconds of shown time); ``idle`` the
    longest pause kept as it is.
    """

    bursts: tuple[Burst, ...]
    pad: float
    gap: float
    idle: timedelta | None

    @classmethod
    def of(cls, ends: pl.Series, durations_ms: pl.Series, idle: timedelta | None) -> Clock:
        """The clock of spans ending at ``ends`` (datetimes) and lasting ``durations_ms`` (None: 0).

        With ``idle`` None nothing is collapsed: one burst from the first start to the last end.
        """
        spans = (
            pl.DataFrame({"end": ends, "ms": durations_ms.cast(pl.Int64)})
            .with_columns(start=pl.col("end") - pl.duration(milliseconds=pl.col("ms").fill_null(0).clip(0)))
            .sort("start", "end")
        )
        if idle is None:
            found = spans.select(start=pl.col("start").min(), end=pl.col("end").max())
        else:
            reach = pl.col("end").cum_max().shift(1)
            found = (
                spans.with_columns(burst=(pl.col("start") > reach + idle).fill_null(False).cum_sum())
                .group_by("burst")
                .agg(start=pl.col("start").min(), end=pl.col("end").max())
                .sort("burst")
            )
        starts, stops = found["start"].to_list(), found["end"].to_list()
        active = sum((b - a).total_seconds() for a, b in zip(starts, stops, strict=True))
        n = len(starts)
        pad_share = min(0.01, PADS_SHARE / (2 * n))
        gap_share = min(0.06, BREAKS_SHARE / (n - 1)) if n > 1 else 0.0
        width = max(active, 0.001 * n) / (1 - 2 * n * pad_share - (n - 1) * gap_share)
        pad, gap = pad_share * width, gap_share * width
        bursts, x = [], pad
        for start, end in zip(starts, stops, strict=True):
            bursts.append(Burst(start, end, x))
            x += (end - start).total_seconds() + 2 * pad + gap
        return cls(tuple(bursts), pad, gap, idle)

    @property
    def range(self) -> tuple[float, float]:
        """The axis range that shows every burst with its room around it, and a margin of 1.5%
        at either end so that markers and rings at the edges show whole."""
        last = self.bursts[-1]
        end = last.x + last.seconds + self.pad
        return -0.015 * end, 1.015 * end

    def x(self, times: pl.Series) -> pl.Series:
        """Where ``times`` fall on the axis (each in the burst that starts last before it)."""
        bursts = pl.DataFrame(
            {"start": [b.start for b in self.bursts], "x": [b.x for b in self.bursts]},
            schema={"start": times.dtype, "x": pl.Float64},
        )
        frame = pl.DataFrame({"t": times, "n": range(times.len())}).sort("t")
        placed = frame.join_asof(bursts, left_on="t", right_on="start", strategy="backward").with_columns(
            start=pl.col("start").fill_null(self.bursts[0].start), x=pl.col("x").fill_null(self.bursts[0].x)
        )
        placed = placed.with_columns(
            pos=pl.col("x") + (pl.col("t") - pl.col("start")).dt.total_microseconds() / 1e6
        )
        return placed.sort("n")["pos"].alias(times.name)

    def gaps(self) -> list[tuple[float, float, datetime, datetime]]:
        """Each break: its axis span, and the real idle time it stands for (from, to)."""
        return [
            (a.x + a.seconds + self.pad, b.x - self.pad, a.end, b.start)
            for a, b in zip(self.bursts, self.bursts[1:], strict=False)
        ]

    def note(self) -> str:
        """What was collapsed, for a subtitle; empty when nothing was."""
        gaps = self.gaps()
        if not gaps or self.idle is None:
            return ""
        idle = sum(((b - a) for *_, a, b in gaps), timedelta())
        return (
            f"{count(len(gaps), 'idle gap')} over {duration(self.idle)} collapsed ({duration(idle)} in all)"
        )

    def ticks(self, pixels: int = AXIS_PIXELS) -> tuple[list[float], list[str]]:
        """Tick positions and labels for a plot ``pixels`` wide: each burst's start in full (unless
        it would crowd the previous one), then, where they fit between those, steps from it
        (``+2 s``). Where bursts lie too close for their starts side by side, the starts are
        spaced for labels turned upright (which the figure turns them where they crowd), so
        that every burst that has that room keeps its date and time."""
        low, high = self.range
        per_unit = pixels / (high - low)
        stamps = self._starts(per_unit, TICK_PIXELS)
        if len(stamps) < len(self.bursts):
            stamps = self._starts(per_unit, UPRIGHT_PIXELS)
        ticks = dict(stamps)
        for burst in self.bursts:
            step = _step(burst.seconds, burst.seconds * per_unit)
            for k in range(1, int(burst.seconds / step + 1e-9) + 1 if step else 1):
                at = burst.x + k * step
                if all(abs(at - x) * per_unit >= TICK_PIXELS * (1 if x in stamps else 0.6) for x in ticks):
                    ticks[at] = _offset(k * step, step)
        values = sorted(ticks)
        return values, [ticks[x] for x in values]

    def _starts(self, per_unit: float, room: float) -> dict[float, str]:
        """The bursts' starts that lie ``room`` pixels apart (three quarters of it between two
        of one day, labelled without the date), by their axis positions. Of two too close, the
        wider burst keeps its start: a wide burst after a brief one is where a reader looks for
        a date."""
        kept: list[Burst] = []
        for burst in self.bursts:
            if not kept or _apart(kept[-1], burst, per_unit, room):
                kept.append(burst)
            elif burst.seconds > kept[-1].seconds and (
                len(kept) < 2 or _apart(kept[-2], burst, per_unit, room)
            ):
                kept[-1] = burst
        for burst in self.bursts:  # one left out for a wider one may have room beside those kept
            at = bisect.bisect([b.x for b in kept], burst.x)
            beside = (kept[at - 1] if at else None, burst), (burst, kept[at] if at < len(kept) else None)
            if burst not in kept and all(
                _apart(before, after, per_unit, room) for before, after in beside if before and after
            ):
                kept.insert(at, burst)
        stamps: dict[float, str] = {}
        day = None
        for burst in kept:
            step = _step(burst.seconds, burst.seconds * per_unit)
            stamps[burst.x] = _stamp(burst.start, step, date=burst.start.date() != day)
            day = burst.start.date()
        return stamps


def _apart(before: Burst, burst: Burst, per_unit: float, room: float) -> bool:
    """Whether the starts of ``before`` and ``burst`` lie ``room`` pixels apart (three quarters
    of it on one day, where the later is labelled without the date)."""
    same_day = burst.start.date() == before.start.date()
    return (burst.x - before.x) * per_unit >= room * (0.75 if same_day else 1)


def _step(seconds: float, pixels: float) -> float:
    """A round tick step that puts a tick at most every :data:`TICK_PIXELS` across a burst, or
    0 when the burst has no room for a second tick."""
    fits = int(pixels // TICK_PIXELS)
    if fits < 2 or seconds <= 0:
        return 0.0
    return next((s for s in _STEPS_S if seconds / s <= fits - 1), _STEPS_S[-1])


def _offset(seconds: float, step: float) -> str:
    """A tick after a burst's start: ``+0.5 s`` (as many decimals as the step needs), ``+1 min 30 s``."""
    if step < 1:
        return f"+{seconds:.{math.ceil(-math.log10(step) - 1e-9)}f} s"
    return f"+{duration(seconds * 1_000)}"


def _stamp(at: datetime, step: float, date: bool = True) -> str:
    """A burst's start: the UTC time (to the millisecond when the ticks are finer than a
    second), over the date when ``date``."""
    time = f"{at:%H:%M:%S}" + (f".{at.microsecond // 1000:03d}" if 0 < step < 1 else "")
    return f"{time}<br>{at.day} {at:%b %Y}" if date else time
