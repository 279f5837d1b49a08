"""Numbers, durations and times as a person reads them, in text and in pages.

Examples:
    >>> count(1, "row"), count(12345, "row"), count(2, "entity", "entities")
    ('1 row', '12,345 rows', '2 entities')
    >>> f"{count(1, 'row')} {verb(1, 'has', 'have')} no category"
    '1 row has no category'
    >>> [duration(ms) for ms in (0, 412, 4_200, 192_000, 5_161_909, 5_161_909_642)]
    ['0 ms', '412 ms', '4.2 s', '3 min 12 s', '1 h 26 min', '59 d 18 h']
    >>> from datetime import datetime
    >>> moment(datetime(2026, 2, 10, 16, 39, 53, 412000)), moment(datetime(2026, 2, 10, 16, 39, 53))
    ('2026-02-10 16:39:53.412', '2026-02-10 16:39:53.000')
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .errors import ArgumentError


def count(n: int, noun: str, plural: str = "") -> str:
    """``n`` with thousands separators and ``noun``, plural (``plural``, or ``noun`` + s)
    unless ``n`` is 1."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {plural or noun + 's'}"


def number(value: float) -> str:
    """A number as a table shows it: thousands separators, and a whole float as the whole
    number it is.

    Examples:
        >>> number(12345), number(4.0), number(0.317), number(30.2)
        ('12,345', '4', '0.317', '30.2')
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}"


def verb(n: int, one: str, many: str) -> str:
    """The form of a verb that agrees with ``n`` things: ``one`` for 1, else ``many``."""
    return one if n == 1 else many


_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1_000))


def duration(value: float | timedelta | None, parts: int = 2) -> str:
    """A duration (milliseconds, or a ``timedelta``) in its ``parts`` largest units, rounded to
    the last of them, units that are zero left out: ``412 ms``, ``4.2 s``, ``1 h 26 min``, ``3 d``.

    Examples:
        >>> duration(timedelta(hours=1, minutes=18, seconds=30)), duration(timedelta(days=3), 1)
        ('1 h 19 min', '3 d')
        >>> duration(timedelta(hours=24)), duration(timedelta(minutes=90), 3), duration(59_970)
        ('1 d', '1 h 30 min', '1 min')
        >>> duration(timedelta(days=2, hours=23, minutes=46), 1), duration(timedelta(hours=23, seconds=3590))
        ('3 d', '1 d')
    """
    if value is None:
        return ""
    ms = value / timedelta(milliseconds=1) if isinstance(value, timedelta) else value
    if ms < 1_000:
        return f"{ms:,.0f} ms"
    if round(ms / 100) < 600:  # under a minute, to the tenth of a second
        return f"{ms / 1_000:.1f}".removesuffix(".0") + " s"
    top = next(i for i, (_, size) in enumerate(_UNITS) if ms >= size)
    last = _UNITS[min(top + parts, len(_UNITS)) - 1][1]  # the smallest unit shown
    rest = int(ms / last + 0.5) * last
    shown: list[tuple[int, str]] = []
    for unit, size in _UNITS:
        if rest >= size or shown:
            shown.append((rest // size, unit))
            rest %= size
        if len(shown) == parts:
            break
    return " ".join(f"{n} {unit}" for n, unit in shown if n)


_TEXT_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_TEXT_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: timedelta | str, name: str, error: type[ArgumentError] | None = None) -> timedelta:
    """``value`` as a ``timedelta``: one already, or text such as ``6h``, ``90min``, ``2d`` or
    ``1h30m`` (or ``0``, zero in any unit); anything else raises ``error`` (default
    :class:`ArgumentError`), naming the parameter ``name``.

    Examples:
        >>> parse_duration("1h30m", "reuse_gap"), parse_duration("250ms", "idle_gap")
        (datetime.timedelta(seconds=5400), datetime.timedelta(microseconds=250000))
        >>> parse_duration("0", "reuse_gap") == parse_duration("0s", "reuse_gap")
        True
        >>> parse_duration(-1, "reuse_gap")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: reuse_gap=-1 is negative: a duration is positive. \
Hint: write it like 24h, 6h, 90min or 2d
        >>> parse_duration("1M", "reuse_gap")
        Traceback (most recent call last):
        ...
        llamalog_analytics.errors.ArgumentError: reuse_gap='1M' is ambiguous. Hint: write minutes as \
90min or 90m, 30 days as 30d
    """
    if isinstance(value, timedelta):
        return value
    text = str(value).strip()
    size = text.removeprefix("-").strip()  # without its sign
    number = _NUMBER.fullmatch(size) is not None  # without a unit
    if number and not float(size):
        return timedelta(0)
    months = any(unit == "M" for _, unit in _TEXT_PART.findall(text))  # months, or minutes?
    if months or not _is_duration(text):
        hint = "Hint: write it like 24h, 6h, 90min or 2d"
        what = "is not a duration"
        if text.startswith("-") and (number or _is_duration(size)):
            what = "is negative: a duration is positive"
        elif number:
            what = "is a number without a unit"
        if months:
            what, hint = "is ambiguous", "Hint: write minutes as 90min or 90m, 30 days as 30d"
        raise _refused(error, f"{name}={value!r} {what}. {hint}")
    seconds = sum(float(n) * _TEXT_UNITS[unit.lower()] for n, unit in _TEXT_PART.findall(text))
    if seconds > _LONGEST.total_seconds():
        raise _refused(
            error,
            f"{name}={value!r} is longer than {_LONGEST.days:,} days, more than a duration holds. "
            "Hint: write at most that; 36500d (a hundred years) outlasts any log",
        )
    return timedelta(seconds=seconds)


_LONGEST = timedelta(days=999_999_999)  # about the longest a timedelta holds (timedelta.max)


def _refused(error: type[ArgumentError] | None, message: str) -> ArgumentError:
    from .errors import ArgumentError  # errors uses this module's count

    return (error or ArgumentError)(message)


def _is_duration(text: str) -> bool:
    """Whether ``text`` is a duration :func:`parse_duration` reads (``6h``, ``1h30m``)."""
    return bool(_TEXT_PART.findall(text)) and not _TEXT_PART.sub("", text).strip()


def first_few(items: list[str], shown: int) -> str:
    """The first ``shown`` of ``items``, and how many more there are.

    Examples:
        >>> first_few(["a", "b"], 3), first_few(["a", "b", "c", "d", "e"], 3)
        ('a, b', 'a, b, c and 2 more')
    """
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more:,} more" if more > 0 else "")


def shorten(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters, an ellipsis marking the cut.

    Examples:
        >>> shorten("collection-add-1770454765576", 12), shorten("246", 12)
        ('collection-…', '246')
    """
    return text if len(text) <= length else text[: length - 1] + "…"


def plotly_text(text: str) -> str:
    """Log text made safe for plotly's labels, which read a subset of HTML: ``<`` escaped."""
    return text.replace("<", "&lt;")


def printable(text: str) -> str:
    """``text`` with what would steer a terminal rather than show written as its escape: control
    characters (an escape sequence that clears the screen or makes a link, a bell, a carriage
    return that overwrites the line, a line break that forges a line of its own) and the
    bidirectional overrides that reverse what follows. For log text in lines a person reads.

    Examples:
        >>> print(printable("job 7\\x1b[2J\\rover \\u202eevil\\nnext"))
        job 7\\x1b[2J\\rover \\u202eevil\\nnext
    """
    return text.translate(_ESCAPED)


def xml_text(text: str) -> str:
    """``text`` as XML 1.0 can hold it: the characters it cannot, even as character references
    (an escape, a bell, a NUL, U+FFFE), written as their escapes; tabs and line breaks kept.

    Examples:
        >>> xml_text("red\\x1b[31m\\tbell\\x07\\n")
        'red\\\\x1b[31m\\tbell\\\\x07\\n'
    """
    return text.translate(_XML_ESCAPED)


_STEERING = [*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F)]
_STEERING += [0x2028, 0x2029, *range(0x2066, 0x206A)]  # line and paragraph separators; isolates
_ESCAPED = {c: chr(c).encode("unicode_escape").decode() for c in _STEERING}
_XML_ESCAPED = {c: e for c, e in _ESCAPED.items() if c < 0x20 and chr(c) not in "\t\n\r"}
_XML_ESCAPED |= {c: f"\\u{c:04x}" for c in (0xFFFE, 0xFFFF)}  # not characters, to XML


def number_ranges(numbers: list[int]) -> str:
    """Sorted integers as ranges, as a person lists them.

    Examples:
        >>> number_ranges([1, 2, 3, 5, 7, 8])
        '1-3, 5, 7-8'
    """
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def moment(value: datetime | date | str | None) -> str:
    """A UTC time to the millisecond, a whole second too (so times in a column line up); a
    date as it is; text unchanged."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        return value.isoformat()
    return value.isoformat(sep=" ", timespec="milliseconds")


def json_value(value: object) -> object:
    """``value`` as JSON writes what it cannot: a time (naive UTC) in ISO 8601 with ``Z``, as
    the exports write times; a date as ISO; anything else as its text. For ``json.dumps``'s
    ``default``.

    Examples:
        >>> import json
        >>> at, on = datetime(2026, 2, 7, 14, 26, 41, 727000), date(2026, 2, 7)
        >>> json.dumps({"at": at, "on": on}, default=json_value)
        '{"at": "2026-02-07T14:26:41.727Z", "on": "2026-02-07"}'
    """
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
