"""Writers: one table of formats, atomic writes that keep what ``open()`` keeps (links, permissions,
pipes), each kind of output."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import polars as pl
import pytest
from conftest import run_cli, store_of
from test_traces import ALBUM, ROWS

import llamalog_analytics as lla
from llamalog_analytics import trace_formats
from llamalog_analytics.errors import ArgumentError, ExportError


@pytest.fixture
def chain(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    with store_of(ROWS, tmp_path_factory.mktemp("store")) as store:
        return lla.chain(store, "ALBUM", ALBUM)


@pytest.mark.parametrize(
    ("name", "format", "kind"),
    [
        ("album.otlp.json", None, "otlp"),
        ("album.perfetto.json", None, "perfetto"),
        ("album.trace.json", None, "perfetto"),
        ("ALBUM.OTLP.JSON", None, "otlp"),
        ("album.json", "otlp", "otlp"),
        ("album.json", "Perfetto", "perfetto"),
    ],
)
def test_write_trace_formats(
    chain: pl.DataFrame, tmp_path: Path, name: str, format: str | None, kind: str
) -> None:
    path = lla.write_trace(chain, tmp_path / name, format)
    assert path == tmp_path / name
    document = json.loads(path.read_text(encoding="utf-8"))
    assert ("resourceSpans" if kind == "otlp" else "traceEvents") in document
    assert document == json.loads(
        json.dumps(trace_formats.otlp(chain) if kind == "otlp" else trace_formats.perfetto(chain))
    )
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_write_trace_replaces_with_ordinary_permissions(chain: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "album.otlp.json"
    path.write_text("old")
    with open(tmp_path / "plain", "w") as plain:
        plain.write("x")
    lla.write_trace(chain, path)
    assert json.loads(path.read_text())["resourceSpans"]
    assert os.stat(path).st_mode == os.stat(tmp_path / "plain").st_mode
    assert path.read_bytes().startswith(b'{\n "resourceSpans"')  # indent 1


def test_write_trace_errors(chain: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(
        ExportError, match=r"album\.json: cannot tell which format to write trace in\. Hint: .*\.otlp\.json"
    ):
        lla.write_trace(chain, tmp_path / "album.json")
    with pytest.raises(
        ExportError, match=r"trace cannot be written as 'jaeger'\. Hint: use one of otlp, perfetto"
    ):
        lla.write_trace(chain, tmp_path / "album.otlp.json", "jaeger")
    with pytest.raises(ExportError, match=r"album\.otlp\.json: no rows to write as a trace\. Hint: "):
        lla.write_trace(chain.head(0), tmp_path / "album.otlp.json")
    with pytest.raises(ExportError, match=r"the rows lack job_id\. Hint: "):
        trace_formats.otlp(chain.drop("job_id"))
    with pytest.raises(ExportError, match=r"1 row without operation \(the first: .*\), which names its span"):
        trace_formats.perfetto(chain.with_columns(pl.when(pl.col("id") != chain["id"][0]).then("operation")))
    with pytest.raises(ExportError, match=r"1 row without created_at \(the first: .*\), which places it in"):
        trace_formats.otlp(chain.with_columns(pl.when(pl.col("id") != chain["id"][0]).then("created_at")))
    with pytest.raises(ExportError, match=r"the rows' created_at is String, not times\. Hint: make it times"):
        trace_formats.otlp(chain.with_columns(pl.col("created_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_rows_read_from_a_store_write_without_its_load_column(tmp_path: Path, suffix: str) -> None:
    with lla.sample_store() as store:
        rows = store.frame("SELECT * FROM llama_logs LIMIT 5")
        assert "_load_id" in rows.columns
        out = lla.write_logs(rows, tmp_path / f"rows.{suffix}")
        again = lla.LogStore()
        again.load_files(out, quiet=True)
    written = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
    assert "_load_id" not in written.columns and again.table().height == 5


def test_a_path_without_its_folder_is_refused_before_the_work(chain: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"there is no folder .*nodir to write it in\. Hint: create it"):
        lla.write_trace(chain, tmp_path / "nodir" / "album.otlp.json")
    (tmp_path / "a.otlp.json").mkdir()
    with pytest.raises(ExportError, match=r"a\.otlp\.json: a folder\. Hint: name a file in it$"):
        lla.write_trace(chain, tmp_path / "a.otlp.json")
    with store_of(ROWS, tmp_path, "file") as store:
        db = Path(str(store.path))
    for command in (
        ["graph", "ALBUM", ALBUM, "--out", tmp_path / "nodir" / "a.graphml"],
        ["timeline", "ALBUM", ALBUM, "--out", tmp_path / "nodir" / "a.html"],
        ["verify", "--no-record", "--report", tmp_path / "nodir" / "a.html"],
    ):
        code, out, err = run_cli(*command, "--db", db)
        assert code == 2 and "nodir to write it in. Hint: create it (mkdir -p " in err, err
        assert "Traceback" not in err and out == ""
    assert not (tmp_path / "nodir").exists()


def test_write_logs_takes_rows_only(tmp_path):
    with pytest.raises(ArgumentError, match=r"not a Synthetic\. Hint: pass its rows, e\.g\. lla\.synthetic"):
        lla.write_logs(lla.synthetic.generate(20, seed=1), tmp_path / "x.csv")


@pytest.mark.parametrize(("naming", "column"), [("snake", "created_at"), ("camel", "createdAt")])
@pytest.mark.parametrize("suffix", ["json", "ndjson"])
def test_json_rows_say_their_times_are_utc_as_graphs_do(tmp_path, naming, column, suffix):
    with lla.sample_store() as store:
        rows = store.frame("SELECT * FROM llama_logs ORDER BY created_at, id LIMIT 3")
    text = lla.write_logs(rows, tmp_path / f"rows.{suffix}", naming=naming).read_text()
    written = json.loads(text) if suffix == "json" else [json.loads(line) for line in text.splitlines()]
    iso = [f"{t:%Y-%m-%dT%H:%M:%S.%f}"[:23] + "Z" for t in rows["created_at"]]  # as test_graph has them
    assert [r[column] for r in written] == iso


@pytest.mark.parametrize("suffix", ["json", "json.gz"])
def test_no_rows_write_an_empty_json_array(tmp_path, suffix):
    out = lla.write_logs(pl.DataFrame({"id": []}, schema={"id": pl.String}), tmp_path / f"rows.{suffix}")
    assert (gzip.decompress(out.read_bytes()) if suffix.endswith(".gz") else out.read_bytes()) == b"[]\n"


GRAPH = nx.MultiDiGraph([("a", "b")])
WRITERS: dict[str, Callable[[Path], Path]] = {  # one per way a writer fills its file
    "g.json": lambda path: lla.write_graph(GRAPH, path),  # text
    "rows.csv": lambda path: lla.write_logs(pl.DataFrame({"id": ["a"]}), path),  # DuckDB's COPY
    "rows.parquet": lambda path: lla.write_logs(pl.DataFrame({"id": ["a"]}), path),  # polars
}


def _written(name: str, path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"PAR1") if name.endswith(".parquet") else data.startswith((b"{", b"id"))


@pytest.mark.parametrize("name", WRITERS)
def test_a_write_through_a_symbolic_link_replaces_the_file_it_names(tmp_path: Path, name: str) -> None:
    (tmp_path / "shared").mkdir()
    shared = tmp_path / "shared" / name
    shared.write_text("old")
    shared.chmod(0o600)
    link = tmp_path / f"link-{name}"
    link.symlink_to(Path("shared") / name)
    assert WRITERS[name](link) == link
    assert link.is_symlink() and os.readlink(link) == str(Path("shared") / name)
    assert _written(name, shared) and stat.S_IMODE(os.stat(shared).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted([f"link-{name}", "shared", name])
    shared.unlink()  # a link to no file yet: the write makes the file, as open() does
    WRITERS[name](link)
    assert link.is_symlink() and _written(name, shared)


def test_a_rewritten_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    for mode in (0o600, 0o640):
        path.write_text("old")
        path.chmod(mode)
        lla.write_graph(GRAPH, path)
        assert stat.S_IMODE(os.stat(path).st_mode) == mode and _written("g.json", path)


def test_a_file_one_may_not_write_is_refused_as_open_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text("old")
    path.chmod(0o444)
    if os.access(path, os.W_OK):  # root writes any file, through open() too: it stays read-only
        lla.write_graph(GRAPH, path)
        assert _written("g.json", path) and stat.S_IMODE(os.stat(path).st_mode) == 0o444
        return
    with pytest.raises(ExportError, match=r"g\.json: read-only, not written\. Hint: chmod u\+w .*g\.json"):
        lla.write_graph(GRAPH, path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["g.json"]


@pytest.mark.parametrize("name", WRITERS)
def test_a_pipe_is_written_directly(tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the write opens it at once, and fits its buffer
    try:
        WRITERS[name](fifo)
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and [p.name for p in tmp_path.iterdir()] == [name]
    assert received.startswith(b"PAR1" if name.endswith(".parquet") else (b"{", b"id"))


def test_gzip_to_a_pipe_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "rows.csv.gz"
    os.mkfifo(fifo)
    with pytest.raises(
        ExportError, match=r"rows\.csv\.gz: a pipe or a device, where DuckDB writes no gzip\. Hint: "
    ):
        lla.write_logs(pl.DataFrame({"id": ["a"]}), fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("name", ["g.otlp.json", "g.perfetto.json", "G.TRACE.JSON"])
def test_write_graph_refuses_a_trace_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(
        ExportError,
        match=rf"{name}: a trace file's name \((otlp|perfetto)\), not a graph's\. Hint: .*lla\.write_trace\(",
    ):
        lla.write_graph(GRAPH, tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match=rf"{name}: its name says (otlp|perfetto), format= says node-link"):
        lla.write_graph(GRAPH, tmp_path / name, "node-link")  # a format given agrees with the name
    assert list(tmp_path.iterdir()) == []


def test_write_graph_refuses_an_empty_graph(tmp_path: Path) -> None:
    """An id asked under the wrong type gives an empty graph, which was written as empty files."""
    with pytest.raises(ExportError, match=r"g\.graphml: an empty graph, nothing to write\. Hint: check"):
        lla.write_graph(nx.MultiDiGraph(), tmp_path / "g.graphml")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "format"), [("g.graphml", "otlp"), ("g.prov.json", "perfetto")])
def test_write_trace_refuses_a_format_its_name_says_otherwise(
    chain: pl.DataFrame, tmp_path: Path, name: str, format: str
) -> None:
    """A trace asked for under a graph's name was written there as asked (OTLP in a .graphml);
    the command line refused it, and so does the function now."""
    with pytest.raises(ExportError, match=rf"{name}: its name says [a-z-]+, format= says {format}\. Hint"):
        lla.write_trace(chain, tmp_path / name, format)
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_midway_is_an_export_error_and_leaves_no_file(tmp_path):
    """A full disk, as a process limited to 1,000-byte files meets it (EFBIG)."""
    child = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "from llamalog_analytics.export import write_atomic\n"
        "write_atomic(sys.argv[1], 'x' * 100_000)\n"
    )
    target = tmp_path / "big.txt"
    done = subprocess.run([sys.executable, "-c", child, str(target)], capture_output=True, text=True)
    assert done.returncode == 1 and "ExportError: " in done.stderr, done.stderr
    assert (
        f"{target}: could not be written (File too large), so it was not. Hint: free some space"
        in done.stderr
    )
    assert list(tmp_path.iterdir()) == []


def _traced_peak(write: Callable[[], object]) -> int:
    """The most memory (Python's allocations) ``write`` held at once."""
    tracemalloc.start()
    try:
        write()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def whole_sample_graph() -> nx.MultiDiGraph:
    """The whole bundled sample as one graph, for the tests that write it."""
    with lla.sample_store() as store:
        return lla.provenance_graph(store)


def test_a_node_link_graph_is_written_as_it_is_encoded(tmp_path: Path, whole_sample_graph) -> None:
    """The file is written as the graph is encoded, never held as one text (a whole table's is
    gigabytes): writing takes less memory beyond the graph's node-link data than half the text
    it writes, and the file reads back as the graph."""
    whole = whole_sample_graph
    nx.node_link_data(whole, edges="edges")  # what a first read makes of the graph, made before either
    data = _traced_peak(lambda: nx.node_link_data(whole, edges="edges"))
    written = _traced_peak(lambda: lla.write_graph(whole, tmp_path / "whole.json"))
    text = (tmp_path / "whole.json").read_text(encoding="utf-8")
    assert written - data < len(text) / 2
    assert nx.utils.graphs_equal(nx.node_link_graph(json.loads(text), edges="edges"), whole)


def test_a_graphml_file_is_written_element_by_element(tmp_path: Path, whole_sample_graph) -> None:
    """GraphML is written as each node and edge is encoded (networkx's writer with lxml), never
    built as one ElementTree first, which took a whole 1M-row table's graph past 12 GiB: writing
    holds less Python memory than half the text it writes (lxml's own, outside Python's, is not
    counted), and the file reads back as the graph's nodes and edges."""
    whole = whole_sample_graph
    written = _traced_peak(lambda: lla.write_graph(whole, tmp_path / "whole.graphml"))
    assert written < (tmp_path / "whole.graphml").stat().st_size / 2
    back = nx.read_graphml(tmp_path / "whole.graphml", force_multigraph=True)
    assert set(back.edges(keys=True)) == set(whole.edges(keys=True)) and set(back) == set(whole)
