"""Self-contained HTML with plotly figures that open offline: pages, and notebook outputs.

plotly.js travels inside the page gzipped and base64-encoded (about 1.9 MB instead of 4.8 MB);
a few lines of script unpack it with the browser's ``DecompressionStream`` and draw every
figure whose JSON the page carries. No network, no CDN.

The package's figures are :class:`Figure` objects: in a notebook they show as plotly figures
do, and also carry HTML that draws them, so a notebook exported with ``jupyter nbconvert --to
html`` shows them offline. The first figure a kernel displays carries plotly.js (1.9 MB, once);
the others draw with it. Clearing or re-running that cell drops it: restart the kernel and run
all cells before exporting.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from functools import cache
from typing import Any

import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

# Unpacks plotly.js from the element with id "llamalog-plotly", once per page, as a promise of
# window.Plotly. A script that runs before the element is parsed waits for the whole page; a
# failure is not kept, so a later figure tries again. AMD/CommonJS names are hidden while
# plotly.js runs, so it sets the global even where a page (Jupyter's export template) loaded
# require.js.
_UNPACK = """window.llamalogPlotly = window.llamalogPlotly || (async () => {
  if (window.Plotly) return window.Plotly;
  const find = () => document.getElementById("llamalog-plotly");
  if (!find() && document.readyState === "loading") {
    await new Promise((parsed) => document.addEventListener("DOMContentLoaded", parsed));
  }
  const packed = find();
  if (!packed) throw new Error("plotly.js is not in this page");
  const bytes = Uint8Array.from(atob(packed.textContent), (c) => c.charCodeAt(0));
  const unpacked = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Function("define", "module", "exports", await new Response(unpacked).text()).call(window);
  return window.Plotly;
})().catch((error) => { window.llamalogPlotly = null; throw error; });"""

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
    .catch(() => { document.getElementById(id).textContent = "This figure needs plotly.js, which "
      + "the first llamalog figure a kernel displays carries: restart the kernel, run all, then export."; });
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
