"""Shared fixtures and helpers: an empty store, a synthetic dataset, chain fixtures, stores of
hand-written rows, the CLI, one helper to compare frames, and a headless browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
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


@pytest.fixture(scope="session")
def synth_store(synth, tmp_path_factory):
    """An in-memory store holding :func:`synth`'s log rows (read it, never write to it)."""
    path = tmp_path_factory.mktemp("synth") / "logs.parquet"
    synth.llama_logs.write_parquet(path)
    with lla.LogStore() as store:
        store.load_files(path, quiet=True)
        yield store


def scenario(name: str) -> dict:
    """A chain fixture: its rows and the chains expected of them (``tests/fixtures/chains``)."""
    return json.loads((FIXTURES / "chains" / f"{name}.json").read_text())


STORE_KINDS = ("memory", "file", "attached")  # where a store's log table can live


def store_of(rows: list[dict], folder: Path, kind: str = "memory") -> lla.LogStore:
    """A store holding ``rows`` (log rows as dicts), loaded through a JSON file: in memory, in a
    store file, or (``attached``) in a Parquet file the store file attaches."""
    name = f"rows-{uuid.uuid4().hex}"
    path = folder / f"{name}.json"
    path.write_text(json.dumps(rows))
    store = lla.LogStore(None if kind == "memory" else folder / f"{name}.duckdb")
    if kind == "attached":
        with lla.LogStore() as loaded:
            loaded.load_files(path, quiet=True)
            path = lla.write_logs(loaded.table(), folder / f"{name}.parquet")
        store.attach(path)
    else:
        result = store.load_files(path, quiet=True)
        assert result.rows_rejected == 0, store.rejects()
    return store


def run_cli(*args: object) -> tuple[int, str, str]:
    """``llamalog ARGS...``: exit code, stdout, stderr."""
    from click.testing import CliRunner

    from llamalog_analytics.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_process(
    *args: object, unprivileged: bool = False, **environment: str
) -> subprocess.CompletedProcess[bytes]:
    """``llamalog ARGS...`` in a process of its own, its standard output and error pipes (read
    as bytes: their encoding is part of what is checked), with ``environment`` added to this
    one's (``PYTHONIOENCODING="latin-1"``); ``unprivileged``: without the capabilities that let
    root read and write any file, so that permissions apply to it as to anyone else."""
    command = [sys.executable, "-m", "llamalog_analytics", *map(str, args)]
    if unprivileged:
        capabilities = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--bounding-set={capabilities}", f"--inh-caps={capabilities}", *command]
    return subprocess.run(command, capture_output=True, env={**os.environ, **environment}, check=False)


def run_in_terminal(*args: object, columns: int) -> str:
    """``llamalog ARGS...`` in a process whose standard output is a terminal ``columns`` wide
    (``COLUMNS`` unset): what it printed there."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environment = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    command = [sys.executable, "-m", "llamalog_analytics", *map(str, args)]
    with subprocess.Popen(command, stdout=follower, stderr=subprocess.DEVNULL, env=environment):
        os.close(follower)
        printed = b""
        while True:
            try:
                chunk = os.read(leader, 65_536)
            except OSError:  # the process has closed the terminal
                break
            if not chunk:
                break
            printed += chunk
    os.close(leader)
    return printed.decode("utf-8").replace("\r\n", "\n")


def cli_store(name: str, folder: Path) -> tuple[dict, Path]:
    """The chain fixture ``name`` loaded with ``llamalog load`` into a store file: (fixture, path)."""
    case = scenario(name)
    rows = folder / "rows.json"
    rows.write_text(json.dumps(case["rows"]))
    db = folder / "s.duckdb"
    assert run_cli("load", rows, "--db", db, "--quiet")[0] == 0
    return case, db


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


_NO_EMOJI_FONTS = """<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>/usr/share/fonts/truetype/dejavu</dir><dir>/usr/share/fonts/truetype/liberation</dir>
<cachedir>{cache}</cachedir></fontconfig>"""


def no_emoji_fonts() -> str:
    """A fontconfig file that knows only DejaVu and Liberation, as a machine without any emoji font;
    point ``FONTCONFIG_FILE`` at it."""
    folder = Path(tempfile.mkdtemp(prefix="fonts-"))
    (folder / "fonts.conf").write_text(_NO_EMOJI_FONTS.format(cache=folder / "cache"))
    return str(folder / "fonts.conf")


@contextmanager
def browser_page(
    path: Path, *, width: int = 1200, height: int = 900, emoji_font: bool = True
) -> Iterator[tuple[object, list[str]]]:
    """``path`` open in headless Chromium, with every console error and page error collected;
    ``emoji_font=False`` opens it as a machine without any emoji font would."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    env = dict(os.environ)
    if not emoji_font:
        env["FONTCONFIG_FILE"] = no_emoji_fonts()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"], env=env)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        try:
            yield page, errors
        finally:
            browser.close()


SCREENSHOTS = ROOT / "tests" / "screenshots"  # git-ignored: what the browser tests saw


def screenshot(page, name: str) -> Path:
    """Save what ``page`` shows as ``tests/screenshots/<name>.png`` and print where, to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")
    return path


def non_blank(page) -> bool:
    """Whether the page shows much more than an empty screen (a blank one compresses to nothing)."""
    shot = page.screenshot()
    page.goto("about:blank")
    return len(shot) > 10 * len(page.screenshot())


def figure_text(figure) -> str:
    """A plotly figure's JSON as text, non-ASCII characters as themselves (``to_json`` escapes
    them, so a search there for an emoji never matches)."""
    return json.dumps(json.loads(figure.to_json()), ensure_ascii=False)


def busiest_album(store: lla.LogStore) -> str:
    """The sample's album with the most log rows (and so the longest chain)."""
    return str(
        store.execute(
            "SELECT album_id FROM llama_logs WHERE album_id IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )[0][0]
    )


# --- audit datasets ---------------------------------------------------------------------------

MIGRATIONS = lla.synthetic.generate(10, seed=1).prisma_migrations  # the real apply times


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def log_row(name: str, at: str, operation: str, category: str, **values) -> dict:
    """One log row; before the category migration (2026-02-10 01:48) unless ``at`` says later."""
    base = {
        "id": uid(name),
        "entity_type": "ALBUM",
        "entity_id": uid(f"album-{name}"),
        "album_id": uid(f"album-{name}"),
        "operation": operation,
        "sources": ["MUSICBRAINZ"],
        "status": "SUCCESS",
        "fields_enriched": [],
        "retry_count": 0,
        "api_call_count": 0,
        "created_at": at,
        "is_root_job": False,
        "category": category,
    }
    return base | values


def clean_rows() -> list[dict]:
    """Rows every check passes: a root and its child, a creation root, and after the migrations
    a user action with its queue child; all about one album, which r3 created."""
    album = {"entity_id": uid("album-r3"), "album_id": uid("album-r3")}
    rows = [
        log_row(
            "r1",
            "2026-01-05T10:00:00",
            "enrichment:album",
            "ENRICHED",
            job_id="100",
            root_job_id="100",
            metadata={"albumTitle": "A", "fieldChanges": [{"field": "title", "before": None, "after": "A"}]},
        ),
        log_row(
            "r2",
            "2026-01-05T10:00:05",
            "cache:album-cover-art",
            "CACHED",
            job_id="101",
            parent_job_id="100",
            root_job_id="100",
            metadata={"a": 1, "b": [1, 2]},
        ),
        log_row(
            "r3",
            "2026-02-08T11:00:00",
            "album:created",
            "CREATED",
            job_id="album-x",
            is_root_job=True,
            root_job_id="album-x",
        ),
        log_row(
            "r4",
            "2026-03-01T10:00:05",
            "enrichment:album",
            "ENRICHED",
            job_id="102",
            parent_job_id="collection-add-1",
        ),
        log_row(
            "r5",
            "2026-03-01T10:00:00",
            "collection:album-added",
            "USER_ACTION",
            job_id="collection-add-1",
            is_root_job=True,
            root_job_id="collection-add-1",
        ),
    ]
    return [row | album for row in rows]


def audit_store(
    folder: Path, after: list[dict], before: list[dict] | None = None, path: Path | None = None
) -> lla.LogStore:
    """A store with ``after`` as llama_logs, the snapshot (rows before the migration) and the
    migration history."""
    if before is None:
        before = [r for r in after if r["created_at"] < "2026-02-10T01:48"]
    store = lla.LogStore(path)
    for table, rows, columns in (
        ("llama_logs", after, schema.COLUMN_NAMES),
        ("enrichment_logs", before, [c.name for c in schema.LEGACY_COLUMNS]),
    ):
        path = folder / f"{table}-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps([{k: v for k, v in r.items() if k in columns} for r in rows]))
        result = store.load_files(path, table, quiet=True)
        assert result.rows_rejected == 0, store.rejects()
    MIGRATIONS.write_csv(folder / "migrations.csv")
    store.load_files(folder / "migrations.csv", "_prisma_migrations", quiet=True)
    return store


def with_changes(rows: list[dict], name: str, **values) -> list[dict]:
    return [r | values if r["id"] == uid(name) else r for r in rows]
