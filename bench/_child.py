"""What the benches' child processes share: each recording of an audit run timed, and peak memory.

Importing it wraps ``history.record`` so that ``recording`` lists how long each took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from llamalog_analytics.audit import history

recording: list[float] = []
_record = history.record


def _timed_record(*args: Any) -> Any:
    start = time.perf_counter()
    try:
        return _record(*args)
    finally:
        recording.append(time.perf_counter() - start)


history.record = _timed_record


def peak() -> int:
    """The process's peak resident memory in bytes (VmHWM)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))


def reset_peak() -> int:
    """From here on, :func:`peak` counts from what the process holds now (Linux ``clear_refs``),
    which it returns in bytes (VmRSS)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def run(child: str, *arguments: str) -> str:
    """Run ``child`` (Python source) in a new process that can import this module; its stdout."""
    here = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.check_output(
        [sys.executable, "-c", child, *arguments], env={**os.environ, "PYTHONPATH": path}
    )
