"""Times as the table keeps them: naive UTC."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time

from .errors import ArgumentError


def naive_utc(
    value: datetime | str | None,
    name: str,
    error: type[ArgumentError] = ArgumentError,
    *,
    day_end: bool = False,
) -> datetime | None:
    """``value`` (a datetime, or ISO text; an offset or ``Z`` is converted) as naive UTC; with
    ``day_end``, a date alone stands for the last moment of that day (an inclusive range's end).

    Examples:
        >>> naive_utc("2026-02-10T12:00:00+01:00", "since")
        datetime.datetime(2026, 2, 10, 11, 0)
        >>> naive_utc("2026-02-10", "until", day_end=True)
        datetime.datetime(2026, 2, 10, 23, 59, 59, 999999)
        >>> naive_utc("yesterday", "since")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: since='yesterday' is not a date or time. \
Hint: use 2026-02-10 or 2026-02-10T16:39:53Z
    """
    if value is None:
        return None
    if isinstance(value, str):
        if day_end:  # a date alone, which has no time to parse
            with contextlib.suppress(ValueError):
                return datetime.combine(date.fromisoformat(value.strip()), time.max)
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise error(
                f"{name}={value!r} is not a date or time. Hint: use 2026-02-10 or 2026-02-10T16:39:53Z"
            ) from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
