"""Shared fixtures: an empty store, a synthetic dataset, and one helper to compare frames."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

import llamalog_analytics as lla
from llamalog_analytics import schema

os.environ["TZ"] = "UTC"
time.tzset()

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.fixture
def store():
    with lla.LogStore() as s:
        yield s


@pytest.fixture(scope="session")
def synth() -> lla.synthetic.Synthetic:
    return lla.synthetic.generate(3_000, seed=11)


def canonical(frame: pl.DataFrame, *, json_null_is_null: bool = False) -> pl.DataFrame:
    """``frame`` in a form two equal tables share: JSON parsed and re-dumped with sorted keys,
    rows sorted by id. With ``json_null_is_null`` the JSON literal null becomes SQL NULL."""

    def normal(text: str | None) -> str | None:
        if text is None:
            return None
        value = json.loads(text)
        if value is None and json_null_is_null:
            return None
        return json.dumps(value, sort_keys=True)

    json_columns = [c.name for c in schema.COLUMNS if c.type == "JSON" and c.name in frame.columns]
    return frame.with_columns(
        pl.col(c).map_elements(normal, return_dtype=pl.String) for c in json_columns
    ).sort("id")


def assert_same_rows(actual: pl.DataFrame, expected: pl.DataFrame, **options: bool) -> None:
    """Assert two frames hold the same rows (order and JSON formatting aside)."""
    from polars.testing import assert_frame_equal

    assert_frame_equal(canonical(actual, **options), canonical(expected, **options))


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL 15 server for the session (or LLAMALOG_TEST_PG_URL's)."""
    from pgserver import PgServer

    server = PgServer.start()
    yield server
    server.stop()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


needs_chromium = pytest.mark.skipif(
    chromium() is None and not os.environ.get("LLAMALOG_REQUIRE_BROWSER"),
    reason="needs Debian's chromium (apt-get install -y chromium); .ci/run installs it",
)


@contextmanager
def browser_page(path: Path, *, width: int = 1200, height: int = 900) -> Iterator[tuple[object, list[str]]]:
    """``path`` open in headless Chromium, with every console error and page error collected."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        try:
            yield page, errors
        finally:
            browser.close()


def non_blank(page) -> bool:
    """Whether the page shows much more than an empty screen (a blank one compresses to nothing)."""
    shot = page.screenshot()
    page.goto("about:blank")
    return len(shot) > 10 * len(page.screenshot())
