"""Typed values from raw ones: the SQL that converts a source's columns to the canonical types and
says, for each row, which column cannot be loaded and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import schema
from ._sql import quote

if TYPE_CHECKING:
    from ._readers import Reader

EXPECTED = {
    "UUID": "is not a UUID",
    "INTEGER": "is not a 32-bit integer",
    "BOOLEAN": "is not a boolean (t/f or true/false)",
    "TIMESTAMP": "is not a timestamp (ISO 8601, e.g. 2026-02-09 12:00:00.123; UTC unless an offset is given)",
    "JSON": "is not valid JSON",
    "VARCHAR[]": "is not an array (a Postgres literal like {MUSICBRAINZ,SPOTIFY} or a JSON array)",
    "VARCHAR": "is not text",
}
# Postgres array literals, as PostgreSQL reads them: {a,b}, quoted elements with escapes, NULL
# (any case, unquoted), {}, white space around elements; an empty element, an unclosed quote or a
# nested array is no one-dimensional array (NULL: the row is rejected).
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_UNQUOTED = r'[^\s",{}\\](?:[^",{}\\]*[^\s",{}\\])?'
_ELEMENT = f"(?:{_QUOTED}|{_UNQUOTED})"
_ARRAY = r"\{\s*(?:" + _ELEMENT + r"\s*(?:,\s*" + _ELEMENT + r"\s*)*)?\}"
_PLAIN_ARRAY = r'\{[^\s",{}\\]+(?:,[^\s",{}\\]+)*\}'  # the common case, split without a regex


def _json_list(j: str) -> str:
    """SQL for the JSON ``j`` as a list of text: an array of values (not of arrays or objects,
    which no one-dimensional text array holds), else NULL.

    Examples:
        >>> import duckdb
        >>> texts = ['["a", null]', '[["a"]]', '{"a": 1}', "[]"]
        >>> sql = f"SELECT {_json_list('x::JSON')} FROM unnest(?::VARCHAR[]) t(x)"
        >>> duckdb.sql(sql, params=[texts]).fetchall()
        [(['a', None],), (None,), (None,), ([],)]
    """
    nested = (
        f"list_bool_or(list_transform(json_extract({j}, '$[*]'), "
        "lambda e: json_type(e) IN ('ARRAY', 'OBJECT')))"
    )
    return (
        f"CASE WHEN json_type({j}) = 'ARRAY' AND NOT coalesce({nested}, false) "
        f"THEN TRY_CAST({j} AS VARCHAR[]) END"
    )


def _pg_array(x: str) -> str:
    """SQL for the text ``x`` as a Postgres array literal (a list of text), NULL when it is none.

    Examples:
        >>> import duckdb
        >>> texts = ["{a,NULL}", '{ "b,c" , d }', "{,}", '{"open}', "{{a},{b}}", "{}"]
        >>> duckdb.sql(f"SELECT {_pg_array('x')} FROM unnest(?::VARCHAR[]) t(x)", params=[texts]).fetchall()
        [(['a', None],), (['b,c', 'd'],), (None,), (None,), (None,), ([],)]
    """
    return f"""CASE
  WHEN {x} = '{{}}' THEN []::VARCHAR[]
  WHEN regexp_full_match({x}, '{_PLAIN_ARRAY}') THEN
    list_transform(string_split({x}[2:-2], ','), lambda e: CASE WHEN upper(e) = 'NULL' THEN NULL ELSE e END)
  WHEN NOT regexp_full_match({x}, '{_ARRAY}') THEN NULL
  ELSE list_transform(regexp_extract_all({x}[2:-2], '{_ELEMENT}'),
    lambda e: CASE WHEN upper(e) = 'NULL' THEN NULL
              WHEN starts_with(e, '"') THEN regexp_replace(e[2:-2], '\\\\(.)', '\\1', 'g')
              ELSE e END)
END"""


_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT")


def checked_rows(rdr: Reader) -> str:
    """SQL selecting the reader's rows with the canonical columns typed, plus ``_column`` and
    ``_reason``: the first column that cannot be loaded and why (NULL for a loadable row)."""
    values: list[str] = []
    inputs: list[str] = []
    checks: list[tuple[str, str, str]] = []
    for col in schema.COLUMNS:
        if col.name not in rdr.inputs:
            values.append(f"NULL::{col.type} AS {quote(col.name)}")
            continue
        expression, kind = rdr.inputs[col.name]
        x = f"_in_{len(inputs)}"
        inputs.append(f"{expression} AS {x}")
        value, present = convert(col, x, kind)
        values.append(f"{value} AS {quote(col.name)}")
        shown = f"'''' || left(CAST({x} AS VARCHAR), 80) || ''''"
        if col.name in schema.REQUIRED:
            checks.append((f"NOT {present}", col.name, f"'{col.name} is empty'"))
        checks.append(
            (
                f"{present} AND {quote(col.name)} IS NULL",
                col.name,
                f"'{col.name}: ' || {shown} || ' {EXPECTED[col.type]}'",
            )
        )
    column_case = " ".join(f"WHEN {cond} THEN '{name}'" for cond, name, _ in checks)
    reason_case = " ".join(f"WHEN {cond} THEN {msg}" for cond, _, msg in checks)
    return f"""WITH src AS ({rdr.select}),
inputs AS (SELECT *, {", ".join(inputs)} FROM src),
typed AS (SELECT *, {", ".join(values)} FROM inputs),
checked AS (SELECT *, CASE WHEN _pre_reason IS NOT NULL THEN NULL {column_case} END AS _column,
  CASE WHEN _pre_reason IS NOT NULL THEN _pre_reason {reason_case} END AS _reason FROM typed)
SELECT * FROM checked"""


def convert(col: schema.Column, x: str, kind: str) -> tuple[str, str]:
    """SQL for the typed value of input ``x`` and for "a value was given"."""
    if kind == "json":
        present = f"({x} IS NOT NULL AND json_type({x}) <> 'NULL')"
        if col.type == "JSON":
            return f"CASE WHEN {present} THEN {x} END", present
        if col.type == "VARCHAR[]":  # a JSON array, or a Postgres literal as a JSON string
            text = f"({x} ->> '$')"
            return (
                f"CASE json_type({x}) WHEN 'ARRAY' THEN {_json_list(x)} "
                f"WHEN 'VARCHAR' THEN {_pg_array(text)} END",
                present,
            )
        text = f"CASE WHEN json_type({x}) NOT IN ('OBJECT', 'ARRAY') THEN {x} ->> '$' END"
        return from_text(col.type, f"({text})"), present
    present = f"({x} IS NOT NULL)"
    if kind == "text" or kind == "VARCHAR":
        return from_text(col.type, x), present
    if kind == col.type:
        return x, present
    if col.type == "VARCHAR[]" and kind.endswith("[]"):
        return f"TRY_CAST({x} AS VARCHAR[])", present
    if col.type == "TIMESTAMP" and kind == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {x})", present
    if col.type == "TIMESTAMP" and (kind.startswith("TIMESTAMP") or kind == "DATE"):
        return f"TRY_CAST({x} AS TIMESTAMP)", present
    if col.type == "INTEGER" and kind in _INTEGER_TYPES:
        return f"TRY_CAST({x} AS INTEGER)", present
    if (col.type == "INTEGER" and kind in ("FLOAT", "DOUBLE")) or kind.startswith("DECIMAL"):
        return f"CASE WHEN {x} = trunc({x}) THEN TRY_CAST({x} AS INTEGER) END", present
    if col.type == "JSON" and (kind.startswith(("STRUCT", "MAP")) or kind.endswith("[]")):
        return f"to_json({x})", present
    return from_text(col.type, f"CAST({x} AS VARCHAR)"), present


def from_text(type_: str, x: str) -> str:
    return {
        "UUID": f"TRY_CAST({x} AS UUID)",
        "VARCHAR": x,
        # a whole number, also as a decimal (606.0: what pandas writes for an integer column with nulls)
        "INTEGER": f"CASE WHEN regexp_full_match({x}, '\\s*[+-]?[0-9]+(\\.0*)?\\s*') "
        f"THEN TRY_CAST({x} AS INTEGER) END",
        "BOOLEAN": f"TRY_CAST({x} AS BOOLEAN)",
        # infinity is a PostgreSQL timestamp, but no time a row was logged at
        "TIMESTAMP": f"CASE WHEN NOT ends_with(lower({x}), 'infinity') "
        f"THEN timezone('UTC', TRY_CAST({x} AS TIMESTAMPTZ)) END",
        "JSON": f"TRY(json({x}))",
        "VARCHAR[]": f"CASE WHEN starts_with(ltrim({x}), '[') THEN {_json_list(f'TRY(json({x}))')} "
        f"ELSE {_pg_array(x)} END",
    }[type_]
