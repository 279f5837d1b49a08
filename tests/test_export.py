"""Writers: one table of formats, atomic writes with ordinary permissions, each kind of output."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
        ("album.otlp.json", "Perfetto", "perfetto"),
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
    with pytest.raises(ExportError, match=r"rows lack column\(s\) job_id.*Hint: "):
        trace_formats.otlp(chain.drop("job_id"))
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
