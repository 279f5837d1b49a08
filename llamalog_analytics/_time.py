"""Times as the table keeps them: naive UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import numpy as np
import polars as pl

from .errors import ArgumentError, LlamalogError


def naive_utc(
    value: datetime | date | str | np.datetime64 | None,
    name: str,
    error: type[ArgumentError] = ArgumentError,
    *,
    day_end: bool = False,
) -> datetime | None:
    """``value`` (a datetime, a date, ISO text or a numpy ``datetime64``; an offset or ``Z`` is
    converted) as naive UTC. A date alone stands for the start of that day, or with ``day_end``
    for its last moment (an inclusive range's end).

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
        >>> import numpy as np
        >>> naive_utc(np.datetime64("2026-02-10"), "until", day_end=True).day
        10
        >>> naive_utc(np.datetime64("2026-02"), "until", day_end=True).day  # a month: to its end
        28
    """
    if value is None:
        return None
    given = value
    if isinstance(value, str):
        value = _parsed(value.strip(), name, error)
    elif isinstance(value, np.datetime64) and not np.isnat(value):
        unit, _ = np.datetime_data(value.dtype)
        moment = value
        if unit in ("Y", "M", "W"):  # a year, month or week: its first day, or with day_end its last
            moment = (moment + int(day_end)).astype("datetime64[D]") - int(day_end)
        value = moment.astype("datetime64[D]" if unit in "YMWD" else "datetime64[us]").item()
    if not isinstance(value, date):
        raise error(
            f"{name}={given!r} is not a date or time. Hint: pass a datetime, a date or ISO text such "
            "as 2026-02-10 or 2026-02-10T16:39:53Z"
        )
    if not isinstance(value, datetime):  # a date alone
        return datetime.combine(value, time.max if day_end else time.min)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _parsed(text: str, name: str, error: type[ArgumentError]) -> date | datetime:
    """ISO text as a date alone, or else as a date and time."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise error(
            f"{name}={text!r} is not a date or time. Hint: use 2026-02-10 or 2026-02-10T16:39:53Z"
        ) from None


def created_utc(rows: pl.DataFrame, error: type[LlamalogError] = ArgumentError) -> pl.Expr:
    """``rows``' ``created_at`` as naive UTC microseconds, as the table keeps it (a zone-aware
    column, from a frame of the caller's, is converted); ``error`` when it holds no times (text
    read back from a CSV or JSON export, say).

    Examples:
        >>> rows = pl.DataFrame({"created_at": [datetime(2026, 3, 1, 6)]}).with_columns(
        ...     pl.col("created_at").dt.replace_time_zone("America/Chicago"))
        >>> rows.select(created_utc(rows)).item()
        datetime.datetime(2026, 3, 1, 12, 0)
        >>> created_utc(pl.DataFrame({"created_at": ["2026-03-01T06:00:00Z"]}))
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: the rows' created_at is String, not times. Hint: make \
it times first, rows.with_columns(pl.col('created_at').str.to_datetime(time_zone='UTC'))
        >>> created_utc(pl.DataFrame({"created_at": [date(2026, 3, 1)]}))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: ... is Date, not times. ...cast(pl.Datetime('us')))
    """
    dtype = rows.schema["created_at"]
    if not isinstance(dtype, pl.Datetime):
        how = "str.to_datetime(time_zone='UTC')" if dtype == pl.String else "cast(pl.Datetime('us'))"
        raise error(
            f"the rows' created_at is {dtype}, not times. Hint: make it times first, "
            f"rows.with_columns(pl.col('created_at').{how})"
        )
    column = pl.col("created_at")
    if dtype.time_zone is not None:
        column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return column.cast(pl.Datetime("us"))
