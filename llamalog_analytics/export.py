"""Write LlamaLog rows to files the way the upstream tools export them.

* ``.csv`` / ``.csv.gz``: as psql's ``\\copy ... CSV HEADER`` writes them (Postgres array
  literals, ``t``/``f``, JSON text, empty field = NULL, ``""`` = empty text);
* ``.parquet``: native types, JSON columns as JSON text (so JSON null stays distinct);
* ``.ndjson`` / ``.jsonl`` / ``.json`` (array): JSON records, nested JSON values, ISO times.

``naming="camel"`` uses the Prisma/GraphQL field names (``createdAt``...) with ``Z`` timestamps,
as a Prisma or GraphQL export does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from . import schema
from ._readers import detect_format
from ._sql import quote
from .chains import ANNOTATIONS  # a chain's own columns, written as they are

Naming = Literal["snake", "camel"]

# Postgres quotes an array element that is empty, NULL-like, or holds any of these.
_PG_ELEMENT = r"""CASE WHEN e IS NULL THEN 'NULL'
  WHEN e = '' OR upper(e) = 'NULL' OR regexp_matches(e, '[{}",\\\s]')
  THEN '"' || replace(replace(e, '\', '\\'), '"', '\"') || '"' ELSE e END"""


def write_logs(frame: pl.DataFrame, path: str | Path, *, naming: Naming = "snake") -> Path:
    """Write ``frame`` (canonical columns, any subset, and a chain's annotations) to ``path``;
    the suffix picks the format.

    Examples:
        >>> import tempfile, llamalog_analytics as lla
        >>> rows = lla.synthetic.generate(200, seed=3).llama_logs
        >>> out = write_logs(rows, tempfile.mkdtemp() + "/logs.csv")
        >>> with lla.LogStore() as store:
        ...     store.load_files(out, quiet=True).rows_loaded
        200
    """
    path = Path(path)
    fmt = _format_for(path)
    known = {name: schema.column(name) for name in frame.columns if name not in ANNOTATIONS}
    out_name = {name: name for name in frame.columns} | {
        name: (c.prisma if naming == "camel" else c.name) for name, c in known.items()
    }
    if fmt == "parquet":
        frame.rename(out_name).write_parquet(path)
        return path
    values = {
        name: _expression(known[name], fmt, naming) if name in known else quote(name)
        for name in frame.columns
    }
    selected = ", ".join(f"{value} AS {quote(out_name[name])}" for name, value in values.items())
    options = {
        "csv": "FORMAT csv, HEADER true",
        "ndjson": "FORMAT json",
        "json": "FORMAT json, ARRAY true",
    }[fmt]
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute(f"COPY (SELECT {selected} FROM frame) TO ? ({options})", [str(path)])
    return path


def _format_for(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".json", ".json.gz")):
        return "json"
    return detect_format(str(path))


def _expression(col: schema.Column, fmt: str, naming: Naming) -> str:
    x = quote(col.name)
    if fmt == "csv":
        if col.type == "VARCHAR[]":
            return f"'{{' || array_to_string(list_transform({x}, lambda e: {_PG_ELEMENT}), ',') || '}}'"
        if col.type == "BOOLEAN":
            return f"CASE WHEN {x} THEN 't' WHEN NOT {x} THEN 'f' END"
        if col.type == "TIMESTAMP":
            return f"strftime({x}, '%Y-%m-%d %H:%M:%S.%g')"
        return x
    if col.type == "JSON":
        return f"CASE WHEN {x} IS NOT NULL AND {x} <> 'null' THEN CAST({x} AS JSON) END"
    if col.type == "TIMESTAMP":
        pattern = "%Y-%m-%dT%H:%M:%S.%gZ" if naming == "camel" else "%Y-%m-%d %H:%M:%S.%g"
        return f"strftime({x}, '{pattern}')"
    return x
