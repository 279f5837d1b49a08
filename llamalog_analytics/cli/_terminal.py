"""The terminal the commands print to: how wide it is, and text wrapped to fit it."""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap


def terminal_width() -> int | None:
    """How many characters a line may take: ``COLUMNS`` when set (also to a pipe: asked for),
    else the terminal's width when standard output is a terminal. None otherwise (a pipe, a
    file): there lines are printed whole, for scripts to read."""
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def wrapped(text: str, width: int | None) -> str:
    """``text`` with every line longer than ``width`` wrapped between words: a bullet's (``- ``)
    continues under its text, any other line's four deeper than it starts, so the lines that
    follow keep their place in the outline. With ``width`` None, ``text`` as it is. Ids are
    never broken, at hyphens neither, and a date stays on the line of its time of day.

    Examples:
        >>> print(wrapped("  last failure: enrichment:album at 2026-05-24 17:42:40.061", 40))
          last failure: enrichment:album at
              2026-05-24 17:42:40.061
        >>> print(wrapped("  anomalies:\\n    - job 1546 ran 2 times (2026-02-28, 2026-06-09)", 30))
          anomalies:
            - job 1546 ran 2 times
              (2026-02-28, 2026-06-09)
        >>> print(wrapped("- last failure at 2026-05-24 17:42:40.061", 30))
        - last failure at
          2026-05-24 17:42:40.061
    """
    if width is None:
        return text
    lines = []
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        hanging = indent + (2 if line[indent:].startswith("- ") else 4)
        lines += textwrap.wrap(
            _DATE_TIME.sub(f"\\1{_JOINED}", line[indent:]),
            width,
            initial_indent=line[:indent],
            subsequent_indent=" " * hanging,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [line]
    return "\n".join(lines).replace(_JOINED, " ")


_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}) (?=\d{2}:\d{2})")  # the space wrapping must not break
_JOINED = "\x1f"  # that space while the line is wrapped: not a space to textwrap
