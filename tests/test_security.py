"""Hostile data and injection: log text never runs, user input is never SQL."""

from __future__ import annotations

import contextlib
import json
import uuid

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import browser_page, needs_chromium

import llamalog_analytics as lla
from llamalog_analytics.cli import main
from llamalog_analytics.errors import LlamalogError

ALBUM = str(uuid.uuid5(uuid.NAMESPACE_URL, "hostile-album"))
SCRIPT = "<script>window.pwned = 'script'</script>"
IMAGE = "<img src=x onerror=\"window.pwned = 'img'\">"
BREAKOUT = "</script><script>window.pwned = 'breakout'</script>"
CONTROL = "bell\x07 escape\x1b[31m osc\x1b]8;;http://evil\x07link tab\t newline\n return\r bidi\u202eend"
LONG = "L" * 100_000


def hostile_rows() -> list[dict]:
    base = {
        "entity_type": "ALBUM",
        "entity_id": ALBUM,
        "album_id": ALBUM,
        "status": "FAILED",
        "retry_count": 0,
        "api_call_count": 0,
        "is_root_job": False,
        "category": "FAILED",
    }
    texts = [SCRIPT, IMAGE, BREAKOUT, CONTROL, LONG]
    return [
        base
        | {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"hostile-{n}")),
            "operation": text[:500],
            "reason": text,
            "error_message": text,
            "job_id": f"job-{n}{text[:40]}",
            "parent_job_id": f"parent{text[:40]}",
            "metadata": {"note": text, text[:30]: [text]},
            "created_at": f"2026-03-0{n + 1}T12:00:00",
        }
        for n, text in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "rows.json").write_text(json.dumps(hostile_rows()))
    with lla.LogStore(folder / "store.duckdb") as store:
        assert store.load_files(folder / "rows.json", quiet=True).rows_loaded == 5
    with lla.LogStore(folder / "store.duckdb", read_only=True) as store:
        yield store


def test_text_comes_back_exactly_as_logged(hostile):
    stored = dict(hostile.execute("SELECT created_at::DATE::VARCHAR, error_message FROM llama_logs"))
    assert sorted(stored.values()) == sorted([SCRIPT, IMAGE, BREAKOUT, CONTROL, LONG])


def test_notebook_displays_escape_log_text(hostile):
    fragments = [
        lla.verify(hostile)._repr_html_(),
        lla.explain(hostile, "ALBUM", ALBUM)._repr_html_(),
    ]
    for html in fragments:
        for payload in (SCRIPT, IMAGE, BREAKOUT):
            assert payload not in html


def test_timeline_hover_cards_escape_log_text(hostile):
    figure = lla.plot_timeline(hostile, "ALBUM", ALBUM)
    cards = [card for trace in figure.data if trace.hovertext is not None for card in trace.hovertext]
    assert len(cards) == 5
    for card in cards:
        assert "<script" not in card and "<img" not in card


@needs_chromium
@pytest.mark.parametrize("page_kind", ["report", "timeline"])
def test_no_log_text_runs_in_the_browser(hostile, tmp_path, page_kind):
    if page_kind == "report":
        path = lla.verify(hostile).to_html(tmp_path / "audit.html")
    else:
        path = lla.write_timeline(lla.plot_timeline(hostile, "ALBUM", ALBUM), tmp_path / "timeline.html")
    with browser_page(path) as (page, errors):
        page.wait_for_selector("body[data-figures=drawn]")
        if page_kind == "timeline":  # open every hover card
            page.evaluate(
                """() => { const g = document.getElementById('timeline');
                   g.data.forEach((t, i) => (t.x || []).forEach((_, p) =>
                     Plotly.Fx.hover(g, [{curveNumber: i, pointNumber: p}]))); }"""
            )
        else:
            assert "<script>window.pwned" in page.locator("body").inner_text()  # shown, as text
        assert page.evaluate("() => window.pwned") is None
    assert errors == []


STEERING = ("\x1b", "\x07", "\r", "\u202e")  # what makes a terminal act rather than show


@pytest.mark.parametrize("width", [None, "100"], ids=["pipe", "terminal"])
@pytest.mark.parametrize("command", ["chain", "explain"])
def test_log_text_cannot_steer_the_terminal(hostile, monkeypatch, command, width):
    """Escape sequences, a carriage return overwriting the line, a bidi override: shown as escapes."""
    monkeypatch.delenv("COLUMNS", raising=False)
    if width:
        monkeypatch.setenv("COLUMNS", width)
    result = CliRunner().invoke(main, [command, "ALBUM", ALBUM, "--db", str(hostile.path)])
    assert result.exit_code == 0, result.output
    assert not [c for c in STEERING if c in result.output]
    if command == "explain":  # shown as escapes, the dangling parent's id in its anomaly
        assert "job parentbell\\x07 escape\\x1b[31m osc\\x1b]8;;http://evil" in result.output


@pytest.mark.parametrize("width", [None, "100"], ids=["pipe", "terminal"])
def test_audit_findings_quote_log_text_without_steering_the_terminal(tmp_path, monkeypatch, width):
    monkeypatch.delenv("COLUMNS", raising=False)
    if width:
        monkeypatch.setenv("COLUMNS", width)
    data = lla.synthetic.generate(300, seed=3)
    logs = data.llama_logs.with_columns(operation=pl.col("operation") + " " + CONTROL)  # findings name them
    db = str(tmp_path / "s.duckdb")
    with lla.LogStore(db) as store:
        store.load_files(lla.write_logs(logs, tmp_path / "logs.parquet"), quiet=True)
        data.prisma_migrations.write_parquet(tmp_path / "migrations.parquet")
        store.load_files(tmp_path / "migrations.parquet", "_prisma_migrations", quiet=True)
    result = CliRunner().invoke(main, ["verify", "--no-record", "--db", db])
    assert result.exit_code in (0, 1), result.output
    assert "osc\\x1b]8;;http://evil\\x07link" in result.output and "return\\r" in result.output
    assert not [c for c in STEERING if c in result.output]


def test_an_unknown_category_cannot_steer_the_terminal(tmp_path):
    rows = hostile_rows()[:1]
    rows[0]["category"] = "FAILED\x1b[2J\u202e"  # an unknown label loads, and info lists it
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    db = str(tmp_path / "s.duckdb")
    with lla.LogStore(db) as store:
        store.load_files(tmp_path / "rows.json", quiet=True)
    result = CliRunner().invoke(main, ["info", "--db", db])
    assert result.exit_code == 0, result.output
    assert "FAILED\\x1b[2J\\u202e" in result.output and not [c for c in STEERING if c in result.output]


def test_log_text_cannot_break_out_of_a_dot_label(tmp_path):
    """A user id or job id ending in a backslash would escape the label's closing quote, and the
    next node's text would be read as DOT (a node, an href a viewer of the SVG follows)."""
    import pydot

    rows = hostile_rows()[:2]
    rows[0] |= {"user_id": "carol\\", "triggered_by": "cron\\"}
    rows[1] |= {"user_id": ' x [href="javascript:alert(1)"]; y [label="', "job_id": "job\\"}
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    with lla.LogStore() as store:
        store.load_files(tmp_path / "rows.json", quiet=True)
        graph = lla.provenance_graph(store, "ALBUM", ALBUM)
    [dot] = pydot.graph_from_dot_data(lla.write_graph(graph, tmp_path / "g.dot").read_text(encoding="utf-8"))
    labels = {n.get_name(): n.get("label") for n in dot.get_nodes()}
    assert len(labels) == graph.number_of_nodes()
    assert all(n.get("href") is None for n in dot.get_nodes())
    assert labels['"user:carol\\\\"'] == '"user:carol\\\\"'  # the backslash doubled, as DOT reads it


def test_log_text_with_control_characters_exports_as_graphml(hostile, tmp_path):
    """XML 1.0 cannot hold an escape or a bell, even as a character reference."""
    import networkx as nx

    graph = lla.provenance_graph(hostile, "ALBUM", ALBUM)
    back = nx.read_graphml(lla.write_graph(graph, tmp_path / "g.graphml"))
    assert back.number_of_nodes() == graph.number_of_nodes()
    [row] = [n for n, data in graph.nodes(data=True) if "escape" in (data.get("error_message") or "")]
    assert back.nodes[row]["error_message"] == CONTROL.replace("\x07", "\\x07").replace("\x1b", "\\x1b")


PAYLOADS = [
    "' OR 1=1 --",
    '"; DROP TABLE llama_logs; --',
    "x'); DROP TABLE llama_logs; --",
    "llama_logs; DELETE FROM llama_logs",
    "1; SELECT * FROM duckdb_settings()",
    'we"ird',
]


def rows_in(store: lla.LogStore) -> int:
    return store.execute("SELECT count(*) FROM llama_logs")[0][0]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_through_the_api_is_data_or_a_clear_error(tmp_path, payload):
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(hostile_rows()[:2]))
    with lla.LogStore(tmp_path / "store.duckdb") as store:
        store.load_files(rows, quiet=True)
        attempts = [
            lambda: lla.chain(store, "ALBUM", payload),
            lambda: lla.chain(store, "ALBUM", ALBUM, categories=[payload]),
            lambda: lla.chain(store, "ALBUM", ALBUM, table=payload),
            lambda: lla.explain(store, "ALBUM", payload),
            lambda: lla.verify(store, before=payload),
            lambda: lla.verify(store, after=payload),
            lambda: lla.verify(store, migrated_at=payload),
            lambda: lla.chain(store, "ALBUM", ALBUM, reuse_gap=payload),
            lambda: lla.provenance_graph(store, "ALBUM", ALBUM, table=payload),
            lambda: lla.plot_timeline(store, "ALBUM", ALBUM, table=payload),
            lambda: store.load_files(rows, table=payload, quiet=True),
        ]
        for attempt in attempts:
            with contextlib.suppress(LlamalogError):  # refusing is fine; running SQL is not
                attempt()
        assert rows_in(store) == 2 and store.tables() == ("llama_logs",)
        with pytest.raises(LlamalogError, match=r"is not a table name\. Hint: use letters, digits and _"):
            store.load_files(rows, table=payload, quiet=True)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_through_the_cli_is_data_or_a_clear_error(tmp_path, payload):
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(hostile_rows()[:2]))
    db = str(tmp_path / "store.duckdb")
    runner = CliRunner()
    assert runner.invoke(main, ["load", str(rows), "--db", db, "--quiet"]).exit_code == 0
    for arguments in (
        ["chain", "ALBUM", payload],
        ["chain", "ALBUM", ALBUM, "--category", payload],
        ["chain", "ALBUM", ALBUM, "--table", payload],
        ["chain", "ALBUM", ALBUM, "--reuse-gap", payload],
        ["explain", "ALBUM", payload],
        ["timeline", "ALBUM", payload, "--out", str(tmp_path / "t.html")],
        ["verify", "--before", payload],
        ["verify", "--after", payload],
        ["verify", "--migrated-at", payload],
    ):
        result = runner.invoke(main, [*arguments, "--db", db])
        assert result.exit_code in (0, 1, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    with lla.LogStore(db, read_only=True) as store:
        assert rows_in(store) == 2 and store.tables() == ("llama_logs",)


def test_a_password_never_leaks(tmp_path, pg_server, monkeypatch):
    """Through stdout, stderr, errors, reprs, the load history, the report and notebook outputs."""
    import nbformat
    from nbclient import NotebookClient
    from pgserver import PASSWORD, copy_rows, create_upstream, record_migrations

    data = lla.synthetic.generate(300, seed=3)
    url = pg_server.database("t_secret")
    create_upstream(url)
    copy_rows(url, data.llama_logs)
    record_migrations(url, data.prisma_migrations)
    wrong = url.replace(PASSWORD, "Wr0ng-" + PASSWORD)
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    outputs = [runner.invoke(main, ["load", url, "--db", str(db)]).output]
    outputs.append(runner.invoke(main, ["load", wrong, "--db", str(db)]).output)
    outputs += [runner.invoke(main, [c, "--db", str(db)]).output for c in ("info", "verify")]
    monkeypatch.setenv("WRONG_URL", wrong)  # the notebook reads its URLs as the docs say: from the env
    monkeypatch.setenv("DATABASE_URL", url)
    cells = [
        "import os\nimport llamalog_analytics as lla",
        f"store = lla.LogStore({str(db)!r})",
        "store.load_postgres()",
        "store.loads()",
        "lla.summarize(store)",
        "lla.verify(store)",
        "store",
        'store.load_postgres(os.environ["WRONG_URL"])',
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True).execute()
    outputs.append(json.dumps([cell.outputs for cell in notebook.cells]))
    assert "authentication failed" in outputs[-1] and "authentication failed" in outputs[1]
    with lla.LogStore(db, read_only=True) as store:
        outputs += [repr(store), str(store.loads().to_dicts()), str(store.rejects().to_dicts())]
        outputs.append(lla.verify(store).to_html(tmp_path / "audit.html").read_text(encoding="utf-8"))
    for text in outputs:
        assert PASSWORD not in text


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("postgresql+psycopg://app:Hush-42@127.0.0.1:1/music", "cannot reach the database"),
        ("jdbc:postgresql://app:Hush-42@db/music", "Hint: drop the jdbc: in front"),
        ("postgresq://app:Hush-42@db/music", "postgresq:// is not a PostgreSQL URL"),
        ("mysql://app:Hush-42@db/music", "mysql:// is not a PostgreSQL URL"),
        ("host=db user=app password=Hush-42", "the database URL is not a PostgreSQL URL"),
        ("postgresql://app:Hush/42@db/music", "percent-encode"),
    ],
    ids=["sqlalchemy", "jdbc", "mistyped", "another-database", "keywords", "unencoded"],
)
def test_a_database_written_another_way_is_not_echoed_as_a_missing_file(tmp_path, written, said):
    result = CliRunner().invoke(main, ["load", written, "--db", str(tmp_path / "s.duckdb"), "--quiet"])
    assert result.exit_code == 2 and said in result.output
    assert "Hush" not in result.output
