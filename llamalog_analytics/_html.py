"""Self-contained HTML pages with plotly figures that open offline.

plotly.js travels inside the page gzipped and base64-encoded (about 1.9 MB instead of 4.8 MB);
a few lines of script unpack it with the browser's ``DecompressionStream`` and draw every
figure whose JSON the page carries. No network, no CDN.
"""

from __future__ import annotations

import base64
import gzip
import json
from functools import cache

import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

_LOADER = """<script>
(async () => {
  const packed = document.getElementById("llamalog-plotly").textContent;
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const unpacked = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  (0, eval)(await new Response(unpacked).text());
  for (const spec of document.querySelectorAll("script[data-figure]")) {
    const figure = JSON.parse(spec.textContent);
    await Plotly.newPlot(spec.dataset.figure, figure.data, figure.layout,
      {responsive: true, displaylogo: false});
  }
  document.body.dataset.figures = "drawn";
})();
</script>"""


@cache
def plotly_script() -> str:
    """plotly.js, packed, and the script that unpacks it and draws the page's figures."""
    from plotly.offline import get_plotlyjs

    packed = base64.b64encode(gzip.compress(get_plotlyjs().encode(), compresslevel=9, mtime=0))
    return (
        f'<script id="llamalog-plotly" type="application/octet-stream">{packed.decode()}</script>\n{_LOADER}'
    )


def figure_html(figure: go.Figure, element_id: str) -> str:
    """A ``<div>`` for ``figure`` and its JSON (every ``<`` escaped, so log text cannot end the tag)."""
    spec = json.dumps(figure.to_plotly_json(), cls=PlotlyJSONEncoder, ensure_ascii=False)
    spec = spec.replace("<", "\\u003c")
    return (
        f'<div id="{element_id}" class="llamalog-figure"></div>\n'
        f'<script type="application/json" data-figure="{element_id}">{spec}</script>'
    )
