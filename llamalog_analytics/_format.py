"""Numbers, durations and times as a person reads them, in text and in pages.

Examples:
    >>> count(1, "row"), count(12345, "row"), count(2, "repeated id")
    ('1 row', '12,345 rows', '2 repeated ids')
    >>> f"{count(1, 'row')} {verb(1, 'has', 'have')} no category"
    '1 row has no category'
    >>> [duration(ms) for ms in (0, 412, 4_200, 192_000, 5_161_909, 5_161_909_642)]
    ['0 ms', '412 ms', '4.2 s', '3 min 12 s', '1 h 26 min', '59 d 17 h']
    >>> from datetime import datetime
    >>> moment(datetime(2026, 2, 10, 16, 39, 53, 412000)), moment(datetime(2026, 2, 10, 16, 39, 53))
    ('2026-02-10 16:39:53.412', '2026-02-10 16:39:53')
"""

from __future__ import annotations

from datetime import date, datetime


def count(n: int, noun: str) -> str:
    """``n`` with thousands separators and ``noun``, plural unless ``n`` is 1."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def verb(n: int, one: str, many: str) -> str:
    """The form of a verb that agrees with ``n`` things: ``one`` for 1, else ``many``."""
    return one if n == 1 else many


_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1_000))


def duration(ms: float | None) -> str:
    """A duration in milliseconds in its two largest units: ``412 ms``, ``4.2 s``, ``1 h 26 min``."""
    if ms is None:
        return ""
    if ms < 1_000:
        return f"{ms:,.0f} ms"
    if ms < 60_000:
        return f"{ms / 1_000:.1f} s"
    for n, (unit, size) in enumerate(_UNITS):
        if ms >= size:
            smaller, small_size = _UNITS[n + 1]
            return f"{int(ms // size)} {unit} {int(ms % size // small_size)} {smaller}"
    raise AssertionError(ms)  # pragma: no cover - every ms >= 60,000 has a unit


def moment(value: datetime | date | None) -> str:
    """A UTC time to the millisecond, without trailing zeros; a date as it is."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return value.isoformat()
    text = value.isoformat(sep=" ", timespec="milliseconds")
    return text.removesuffix(".000")
