"""The HTML the package shows in notebooks and pages: one stylesheet, a block with the llama
and a title, and plain tables. No plotly here, so text results stay light to import.

Examples:
    >>> block("LlamaLog store", "in memory", body="<p>2 tables</p>").count("<svg")
    1
"""

from __future__ import annotations

from html import escape

from .style import LLAMA_SVG

WHOLE_ROWS = 25
"""A table of at most this many rows shows whole: no pages to turn, no box to scroll inside."""

# The style of every HTML block the package shows in notebooks and pages (log tables, summaries,
# reports), scoped to elements of class "llamalog" ("&" below; "&report" for the audit report).
# Each selector names its class twice, so it outranks the styles of the notebook or exporter
# around it (JupyterLab's own table rules carry two classes).
CSS = """
& { font: 13px/1.4 system-ui, sans-serif; color: #1f2328; }
& .llamalog-head { display: flex; gap: .5em; align-items: baseline; margin: .3em 0; }
& .llamalog-head b { font-size: 1.1em; }
& .llamalog-scroll { max-height: 36em; overflow: auto; border: 1px solid #d0d7de; }
& .llamalog-scroll.whole { max-height: none; }
& table { border-collapse: collapse; width: auto; table-layout: auto; }
& .llamalog-scroll table { width: 100%; }
& th { position: sticky; top: 0; background: #f6f8fa; text-align: left; z-index: 1; }
& th, & td { padding: .25em .5em; border-bottom: 1px solid #eaeef2;
  vertical-align: top; text-align: left; }
& td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
& .time, & .id, & .value, & code { font-family: ui-monospace, monospace;
  font-size: .92em; white-space: nowrap; background: none; }
& td code { white-space: normal; overflow-wrap: anywhere; }
& .badge { display: inline-block; padding: 0 .45em; border-radius: .7em; font-size: .85em;
  font-weight: 600; white-space: nowrap; border: 1px solid; }
& .category { color: #fff; }
& .category svg { background: #fff; border-radius: 50%; margin-right: .25em; }
& .nowrap { white-space: nowrap; }
& .error { color: #cf222e; max-width: 28em; }
& .error span { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2;
  line-clamp: 2; overflow: hidden; }  /* two lines at most, the whole in its title and details */
& .copy { border: none; background: none; cursor: pointer; color: #57606a; padding: 0 .2em; }
& label { cursor: pointer; user-select: none; display: inline-block; }
& tr.details pre { margin: 0; padding: .6em; background: #f6f8fa; white-space: pre-wrap;
  word-break: break-word; max-height: 24em; overflow: auto; }
& tr.details { display: table-row; }
@supports selector(:has(*)) {
  & tr.details { display: none; }
  & tr:has(input:checked) + tr.details { display: table-row; }
  & tr:has(input:checked) label { transform: rotate(90deg); }
}
& input.toggle { display: none; }
&report { max-width: 1150px; margin: 1.5em auto; line-height: 1.45; }
&report h1 { display: flex; gap: .4em; align-items: center; }
&report h1 svg { width: 1.3em; height: 1.3em; }
&report table { margin: .4em 0 1em; width: auto; }
&report #summary-table { width: 100%; }
& .status { font-weight: 700; padding: .05em .5em; border-radius: .3em; border: 1px solid;
  white-space: nowrap; }
& .pass { background: #dafbe1; color: #116329; }
& .warn { background: #fff8c5; color: #7d4e00; }
& .fail { background: #ffebe9; color: #a40e26; }
& .skip { background: #fff; color: #57606a; border-style: dashed; }
&report section { border-top: 1px solid #d0d7de; margin-top: 1.5em; }
& pre { background: #f6f8fa; padding: .6em; overflow-x: auto; font-size: .85em; }
&report dl { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; }
&report dt { color: #57606a; white-space: nowrap; }
&report dd { margin: 0; }
& .expects, & .muted { color: #57606a; }
&report figure { margin: 1em 0; }
&report figcaption { font-weight: 600; }
& .scroll { overflow-x: auto; }
&report .why { display: inline-block; max-width: 20em; }  /* a reason, not a wide column */
&report section .scroll td, &report section .scroll td .id { white-space: normal;
  overflow-wrap: break-word; }  /* wide enough for the parts between separators (report.SEPARATORS) */
&report table.dataTable td { font-family: ui-monospace, monospace; font-size: .85em; }
""".replace("&report", "div.llamalog-report.llamalog-report").replace("&", "div.llamalog.llamalog")


def header(title: str, *notes: str, more: str = "") -> str:
    """A block's first line: the llama, ``title`` in bold, ``notes`` (plain text), ``more`` (HTML)."""
    rest = "".join(f"<span>{escape(note)}</span>" for note in notes if note)
    return f'<div class="llamalog-head">{LLAMA_SVG}<b>{escape(title)}</b>{rest}{more}</div>'


def html_table(headers: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    """A table of cells already in HTML; the columns in ``numeric`` right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="number">{c}</td>' if n in numeric else f"<td>{c}</td>" for n, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def block(title: str, *notes: str, body: str, more: str = "", kind: str = "") -> str:
    """A whole HTML view: its styles, :func:`header` and ``body``; ``kind`` adds a class
    (``llamalog-report`` for the audit's views)."""
    classes = f"llamalog {kind}".strip()
    return f'<div class="{classes}"><style>{CSS}</style>{header(title, *notes, more=more)}{body}</div>'
