"""How things look: one colour, symbol and label per category, and per timeline flag.

Every figure and page takes its category colours and symbols from here, so CREATED is the same
green star in the timeline, every chart and the report, and FAILED the same red cross. Labels
carry no emoji, which needs a font: the llama is drawn beside CREATED (:data:`LLAMA_SVG`).

Examples:
    >>> category_style("CREATED")
    Style(colour='#2e7d32', symbol='star', label='CREATED')
    >>> category_style(None).label, category_style("ARCHIVED").label
    ('no category', 'ARCHIVED')
"""

from __future__ import annotations

import base64
import itertools
import re
from typing import NamedTuple


class Style(NamedTuple):
    """A colour (CSS hex), a plotly marker symbol and the label shown in legends."""

    colour: str
    symbol: str
    label: str


CATEGORY_STYLES = {
    "CREATED": Style("#2e7d32", "star", "CREATED"),
    "ENRICHED": Style("#1565c0", "circle", "ENRICHED"),
    "CORRECTED": Style("#8e24aa", "diamond", "CORRECTED"),
    "CACHED": Style("#6d4c41", "square", "CACHED"),
    "FAILED": Style("#c62828", "x", "FAILED"),
    "LINKED": Style("#00838f", "triangle-up", "LINKED"),
    "USER_ACTION": Style("#ef6c00", "pentagon", "USER_ACTION"),
}
OTHER = Style("#616161", "circle-open", "")  # a category the package does not know, or none
FLAG_STYLES = {  # rings on the timeline, by the flag a chain row carries
    "dangling": Style("#d32f2f", "circle-open", "⚠ parent's run never logged (dangling)"),
    "in_cycle": Style("#6a1b9a", "circle-open", "⚠ run on a parent loop"),
    "before_parent": Style("#f9a825", "circle-open", "⚠ logged before its parent run"),
}
# A cross over a timeline marker whose row failed (status FAILED) though its category is another
# (ENRICHED, CACHED...): FAILED's red, thin, so the category's marker shows through.
FAILED_STATUS = Style(CATEGORY_STYLES["FAILED"].colour, "x-thin", "status FAILED, another category")
# A timeline row labelled CREATED that records no creation (rules.creation: an album that existed
# already, a label the category backfill's catch-all gave): CREATED's green, the label it carries,
# as an open star without the llama, which marks creations.
NO_CREATION = Style(CATEGORY_STYLES["CREATED"].colour, "star-open", "labelled CREATED, no creation")
# Values that are not categories (statuses, rule sets' series...), in the order they appear.
PALETTE = ("#455a64", "#00897b", "#c0ca33", "#5e35b1", "#f4511e", "#3949ab", "#7cb342", "#d81b60")
LLAMA = "🦙"
# The llama as a picture, for pages and images that cannot count on an emoji font: a 24 x 24
# SVG drawn beside the text "🦙"/"LlamaLog" wherever the emoji would otherwise be the only sign.
LLAMA_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="1.2em" height="1.2em" '
    'role="img" aria-label="llama" style="vertical-align:-0.2em"><g fill="#a1887f">'
    '<path d="M6.2 .6 7.4 3.4H5.8ZM8.6 .6 9.6 3.4H8Z"/>'
    '<rect x="4.6" y="2.6" width="5.4" height="4.2" rx="1.6"/>'
    '<rect x="2.4" y="4.4" width="4" height="2.6" rx="1.2"/>'
    '<rect x="6.2" y="5" width="3.8" height="9" rx="1"/>'
    '<rect x="6.2" y="11.2" width="15.4" height="6.4" rx="3"/>'
    '<rect x="7" y="16" width="1.9" height="7.4" rx=".8"/>'
    '<rect x="9.6" y="16" width="1.9" height="7.4" rx=".8"/>'
    '<rect x="16.4" y="16" width="1.9" height="7.4" rx=".8"/>'
    '<rect x="19" y="16" width="1.9" height="7.4" rx=".8"/>'
    '<circle cx="21.6" cy="12.4" r="1.4"/></g><circle cx="6.4" cy="4.4" r=".6" fill="#3e2723"/></svg>'
)


# How the other nodes of a provenance graph look (its log rows look like their category): a
# symbol no category uses, so a legend tells every kind apart.
NODE_STYLES = {
    "job": Style("#546e7a", "hexagon", "job run"),
    "dangling": Style("#546e7a", "hexagon-open", "job run that never logged"),
    "album": Style("#ad1457", "octagon", "album"),
    "artist": Style("#827717", "star-diamond", "artist"),
    "track": Style("#283593", "triangle-right", "track"),
    "user": Style("#37474f", "cross", "user"),
    "system": Style("#78909c", "hourglass", "system"),
}


def category_style(category: str | None) -> Style:
    """The style of a category; unknown labels and None get :data:`OTHER`'s look, their own label."""
    return CATEGORY_STYLES.get(category or "", OTHER._replace(label=category or "no category"))


def llama_uri(align: str = "xMidYMid", room: float = 0) -> str:
    """:data:`LLAMA_SVG` as an image source (a data URI) for figures, which draw it as a picture
    where text would need an emoji font. It fills the box it is given, as large as fits, placed
    by ``align`` (an SVG ``preserveAspectRatio`` alignment: ``xMinYMid`` hugs the left edge).
    ``room`` leaves that many llama widths empty after it: a box placed by its right edge then
    draws the llama that far before it.

    Examples:
        >>> llama_uri().startswith("data:image/svg+xml;base64,")
        True
    """
    svg = re.sub(r'^<svg ([^>]*?)width="[^"]*" height="[^"]*"', r"<svg \1", LLAMA_SVG)
    svg = svg.replace('viewBox="0 0 24 24"', f'viewBox="0 0 {24 * (1 + room):.2f} 24"', 1)
    svg = svg.replace("<svg ", f'<svg preserveAspectRatio="{align} meet" ', 1)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def colours_for(values: list[str]) -> dict[str, str]:
    """A colour per value: a category's own, other values the next of :data:`PALETTE`.

    Examples:
        >>> colours_for(["FAILED", "SUCCESS", "SKIPPED"])
        {'FAILED': '#c62828', 'SUCCESS': '#455a64', 'SKIPPED': '#00897b'}
    """
    others = itertools.cycle(PALETTE)
    return {v: CATEGORY_STYLES[v].colour if v in CATEGORY_STYLES else next(others) for v in values}


# Log statuses, as the application's admin log table badges them (outline colour, label).
STATUS_STYLES = {
    "SUCCESS": Style("#1a7f37", "", "Success"),
    "PARTIAL_SUCCESS": Style("#9a6700", "", "Partial"),
    "FAILED": Style("#cf222e", "", "Failed"),
    "NO_DATA_AVAILABLE": Style("#6e7781", "", "No data"),
    "SKIPPED": Style("#0969da", "", "Skipped"),
    "PREVIEW": Style("#8250df", "", "Preview"),
}
