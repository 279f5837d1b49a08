"""Self-contained HTML with plotly figures that open offline: pages, and notebook outputs.

plotly.js travels inside the page gzipped and base64-encoded (about 1.9 MB instead of 4.8 MB);
a few lines of script unpack it with the browser's ``DecompressionStream`` and draw every
figure whose JSON the page carries. No network, no CDN.

The package's figures are figures (:class:`Figure`): in a notebook they show as plotly figures do,
and also carry HTML that draws them, so a notebook exported with ``jupyter nbconvert --to
html`` shows them offline. The first figure a kernel displays carries plotly.js; the others
draw with it.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from functools import cache
from html import escape
from typing import Any

import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

from .style import LLAMA_SVG

# The style of every HTML block the package shows in notebooks and pages (log tables, summaries,
# reports), scoped to elements of class "llamalog" ("&" below; "&report" for the audit report).
# Each selector names its class twice, so it outranks the styles of the notebook or exporter
# around it (JupyterLab's own table rules carry two classes).
CSS = """
& { font: 13px/1.4 system-ui, sans-serif; color: #1f2328; }
& .llamalog-head { display: flex; gap: .5em; align-items: baseline; margin: .3em 0; }
& .llamalog-head b { font-size: 1.1em; }
& .llamalog-scroll { max-height: 36em; overflow: auto; border: 1px solid #d0d7de; }
& table { border-collapse: collapse; width: auto; table-layout: auto; }
& .llamalog-scroll table { width: 100%; }
& th { position: sticky; top: 0; background: #f6f8fa; text-align: left; z-index: 1; }
& th, & td { padding: .25em .5em; border-bottom: 1px solid #eaeef2;
  vertical-align: top; text-align: left; }
& td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
& .time, & .id, & code { font-family: ui-monospace, monospace;
  font-size: .92em; white-space: nowrap; background: none; }
& td code { white-space: normal; overflow-wrap: anywhere; }
& .badge { display: inline-block; padding: 0 .45em; border-radius: .7em; font-size: .85em;
  font-weight: 600; white-space: nowrap; border: 1px solid; }
& .category { color: #fff; }
& .category svg { background: #fff; border-radius: 50%; margin-right: .25em; }
& td.nowrap { white-space: nowrap; }
& .error { color: #cf222e; max-width: 28em; }
& .copy { border: none; background: none; cursor: pointer; color: #57606a; padding: 0 .2em; }
& label { cursor: pointer; user-select: none; }
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
& .expects { color: #57606a; }
&report figure { margin: 1em 0; }
&report figcaption { font-weight: 600; }
& .scroll { overflow-x: auto; }
&report table.dataTable td { font-family: ui-monospace, monospace; font-size: .85em;
  white-space: nowrap; }
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


# Unpacks plotly.js from the element with id "llamalog-plotly" once per page, as a promise of
# window.Plotly. AMD/CommonJS names are hidden while it runs, so plotly.js sets the global even
# where a page (Jupyter's export template) loaded require.js.
_UNPACK = """window.llamalogPlotly = window.llamalogPlotly || (async () => {
  if (window.Plotly) return window.Plotly;
  const packed = document.getElementById("llamalog-plotly");
  if (!packed) throw new Error("plotly.js is not in this page");
  const bytes = Uint8Array.from(atob(packed.textContent), (c) => c.charCodeAt(0));
  const unpacked = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Function("define", "module", "exports", await new Response(unpacked).text()).call(window);
  return window.Plotly;
})();"""

_LOADER = f"""<script>
{_UNPACK}
(async () => {{
  const Plotly = await window.llamalogPlotly;
  for (const spec of document.querySelectorAll("script[data-figure]")) {{
    const figure = JSON.parse(spec.textContent);
    await Plotly.newPlot(spec.dataset.figure, figure.data, figure.layout,
      {{responsive: true, displaylogo: false}});
  }}
  document.body.dataset.figures = "drawn";
}})();
</script>"""

# Draws one figure of a notebook output when plotly.js is (or will be) unpacked in the page.
_DRAW = """<script>
(() => {
  const id = "%s";
  %s
  const spec = JSON.parse(document.querySelector(`script[data-figure="${id}"]`).textContent);
  window.llamalogPlotly
    .then((Plotly) => Plotly.newPlot(id, spec.data, spec.layout, {responsive: true, displaylogo: false}))
    .catch(() => { document.getElementById(id).textContent = "This figure needs plotly.js, which the "
      + "first llamalog figure of the notebook carries: run the notebook from the top, then export it."; });
})();
</script>"""


@cache
def _packed_plotly() -> str:
    """plotly.js, gzipped and base64-encoded, in an element the unpacking script finds."""
    from plotly.offline import get_plotlyjs

    packed = base64.b64encode(gzip.compress(get_plotlyjs().encode(), compresslevel=9, mtime=0))
    return f'<script id="llamalog-plotly" type="application/octet-stream">{packed.decode()}</script>'


def plotly_script() -> str:
    """plotly.js, packed, and the script that unpacks it and draws the page's figures."""
    return f"{_packed_plotly()}\n{_LOADER}"


def figure_html(figure: go.Figure, element_id: str) -> str:
    """A ``<div>`` for ``figure`` and its JSON (every ``<`` escaped, so log text cannot end the tag)."""
    spec = json.dumps(figure.to_plotly_json(), cls=PlotlyJSONEncoder, ensure_ascii=False)
    spec = spec.replace("<", "\\u003c")
    return (
        f'<div id="{element_id}" class="llamalog-figure"></div>\n'
        f'<script type="application/json" data-figure="{element_id}">{spec}</script>'
    )


class Figure(go.Figure):
    """A plotly figure that a notebook exported to HTML still shows, offline.

    Jupyter keeps plotly's own output (``application/vnd.plotly.v1+json``) and, beside it, HTML
    that draws the figure; exporters that cannot render plotly's output use the HTML.
    """

    _plotly_sent = False  # whether this kernel has already displayed the packed plotly.js

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, validate: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(include, exclude, validate, **kwargs))
        if bundle and "text/html" not in bundle:
            bundle["text/html"] = self._notebook_html()
        return bundle

    def _ipython_display_(self) -> None:
        import plotly.io as pio
        from IPython.display import display

        if not (pio.renderers.render_on_display and pio.renderers.default):
            print(repr(self))
        elif bundle := self._repr_mimebundle_():
            display(bundle, raw=True)
        else:  # renderers that show the figure themselves (a browser tab) return nothing
            pio.show(self)

    def _notebook_html(self) -> str:
        element_id = f"llamalog-figure-{uuid.uuid4().hex}"
        packed = "" if Figure._plotly_sent else _packed_plotly()
        Figure._plotly_sent = True
        return f"{packed}{figure_html(self, element_id)}\n{_DRAW % (element_id, _UNPACK)}"
