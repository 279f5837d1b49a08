"""The migration audit as one self-contained HTML page: who, what and when; every check with
what it expects and what it found; charts; every offending row, sortable, filterable and
downloadable as CSV (the page stays one file that opens offline).

Examples:
    >>> import tempfile, llamalog_analytics as lla
    >>> with lla.sample_store() as store:
    ...     path = lla.verify(store).to_html(tempfile.mkdtemp() + "/audit.html")
    >>> "LlamaLog migration audit" in path.read_text(encoding="utf-8")
    True
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Callable
from functools import cache
from html import escape
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import jinja2
import plotly.graph_objects as go
import polars as pl
from markupsafe import Markup

from . import rules, style
from ._format import duration, number
from ._html import CSS, WHOLE_ROWS, block, html_table
from ._plotly import figure_html, plotly_script
from .audit import concentration
from .audit.history import ids_title, not_compared
from .charts import breakdown_bars, category_counts, origin_coverage, rows_per_week
from .stage import load_counts

if TYPE_CHECKING:
    from .audit import AuditReport, CheckResult

ROWS_IN_PAGE = 10_000  # offending rows per check in the page; the check's SQL lists them all
ROWS_IN_NOTEBOOK = 20  # offending rows per check in a notebook's view of the report
CHART_VALUES = 5  # fewer values than this are a table, not a chart
# What a breakdown's columns mean, said under its heading where the names alone do not.
BREAKDOWN_NOTES = {concentration.BREAKDOWN: concentration.COLUMNS}
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("llamalog_analytics"), autoescape=True, undefined=jinja2.StrictUndefined
)
# a sentence's first letter upper case, the rest as written (jinja's capitalize lowers it: paths)
_TEMPLATES.filters["sentence"] = lambda text: text[:1].upper() + text[1:]
_TEMPLATES.filters["shell"] = shlex.quote  # a path as a shell command takes it


def breakable(text: str, after: str) -> Markup:
    """``text`` as HTML that may break onto a new line after each of the characters ``after``
    (``/`` in a path, ``_`` in a column's name, ``:_/-`` in a cell of ids and names) rather than
    anywhere a long word would otherwise break.

    Examples:
        >>> str(breakable("/data/<old>/logs.csv", "/"))
        '/<wbr>data/<wbr>&lt;old&gt;/<wbr>logs.csv'
        >>> str(breakable("artist:created:album-child", SEPARATORS))
        'artist:<wbr>created:<wbr>album-<wbr>child'
    """
    return Markup(re.sub(f"([{re.escape(after)}])", r"\1<wbr>", escape(text)))


SEPARATORS = ":_/-"
"""Where a table's cell of ids and names may wrap (as ``_TEXT`` wraps a page's)."""


_TEMPLATES.filters["breakable"] = breakable
_TEMPLATES.filters["load_counts"] = load_counts


def report_html(report: AuditReport, *, standalone: bool = True) -> str:
    """The report as HTML: a whole page that draws its charts offline, or a fragment for Jupyter."""
    charts = [
        (title, figure_html(figure, f"chart-{n}")) for n, (title, figure) in enumerate(report_charts(report))
    ]
    from .repairs import ON_REQUEST, failed_repairable

    table = _datatable if standalone else _plain_table
    return _TEMPLATES.get_template("report.html.j2").render(
        repairable=failed_repairable(report),
        on_request=ON_REQUEST,
        report=report,
        counts=report.summary["checks"],
        version=version("llamalog_analytics"),
        charts=charts if standalone else [],
        tables={c.name: _tables(c, table) for c in report.checks},
        notes=BREAKDOWN_NOTES,
        history=report.summary.get("history"),
        since=report.summary.get("since previous run"),
        not_compared=not_compared,
        css=CSS,
        llama=style.LLAMA_SVG,
        standalone=standalone,
        scripts=(_datatables_script() + plotly_script()) if standalone else "",
    )


def check_html(check: CheckResult) -> str:
    """One check as HTML for a notebook: what it expects and found, its breakdowns, first rows, SQL."""
    section = _TEMPLATES.get_template("check.html.j2").render(
        c=check, tables={check.name: _tables(check, _plain_table)}, notes=BREAKDOWN_NOTES
    )
    return block("LlamaLog check", body=section, kind="llamalog-report")


def _tables(check: CheckResult, table: Callable[[pl.DataFrame, str, str], str]) -> dict[str, Any]:
    """A check's offending rows and breakdowns, each drawn by ``table`` (frame, check, title),
    and the title of its offending rows' table (``ids_title``: what they are)."""
    title = ids_title(check.name)
    return {
        # read from its file once, if any
        "ids": table(check.ids, check.name, title) if check.offending.height else "",
        "ids_title": title,
        "breakdowns": {
            name: table(frame, check.name, name) for name, frame in check.breakdowns.items() if frame.height
        },
    }


def _file_name(check: str, title: str) -> str:
    """What a download of a check's table is saved as, without its extension: after the check
    and the table, so that files saved from one page do not overwrite each other.

    Examples:
        >>> _file_name("category_backfill", "applied rules vs the roadmap's intent")
        'llamalog-audit-category_backfill-applied-rules-vs-the-roadmap-s-intent'
    """
    return "-".join(re.sub(r"\W+", "-", part.lower()).strip("-") for part in ("llamalog-audit", check, title))


def report_charts(report: AuditReport) -> list[tuple[str, go.Figure]]:
    """The report's charts, each with the caption that stands for its title.

    A breakdown with fewer than :data:`CHART_VALUES` rows gets no chart: its table says it all.
    """
    charts = []
    for check, breakdown, colour, title in (
        (
            "category_backfill",
            "mismatches by operation and status",
            "status",
            "Category backfill mismatches by operation and status",
        ),
        (
            "category_backfill",
            "applied rules vs the roadmap's intent",
            rules.APPLIED_BACKFILL.name,
            "Where the applied rules differ from the roadmap's intent",
        ),
        (
            "category_rules",
            "by operation",
            "category",
            "Rows after the migration that differ from the application's rules",
        ),
    ):
        frame = next((c.breakdowns.get(breakdown) for c in report.checks if c.name == check), None)
        if frame is not None and frame.height >= CHART_VALUES:
            charts.append((title, breakdown_bars(frame, colour)))
    if report.summary.get("categories"):
        charts.append(
            ("Rows per category: at the migration and now", category_counts(report.summary["categories"]))
        )
    if any(c.name == "unknown_origin" and c.status != "skip" for c in report.checks):
        charts.append(
            ("Entities by the era of their first row: known and unknown origin", origin_coverage(report))
        )
    if len(report.summary.get("rows_per_week", {})) >= CHART_VALUES:
        charts.append(("Rows per week and the migrations (UTC)", rows_per_week(report.summary)))
    for _, figure in charts:
        figure.update_layout(title_text="", margin_t=40)
    return charts


def readable(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as a person reads it: times to the millisecond, ``*_ms`` columns as durations.

    Examples:
        >>> from datetime import datetime
        >>> at = datetime(2026, 2, 7, 8, 59, 25, 576000)
        >>> readable(pl.DataFrame({"at": [at], "ahead_by_ms": [5161909642]})).row(0)
        ('2026-02-07 08:59:25.576', '59 d 18 h')
    """
    return frame.with_columns(
        *(
            pl.col(n).dt.strftime("%Y-%m-%d %H:%M:%S%.3f")
            for n, t in frame.schema.items()
            if t == pl.Datetime
        ),
        *(
            pl.col(n).map_elements(duration, return_dtype=pl.String)
            for n, t in frame.schema.items()
            if n.endswith("_ms") and t.is_numeric()
        ),
        *(pl.col(n).list.join(", ") for n, t in frame.schema.items() if t == pl.List(pl.String)),
    )


# A number as a table shows it, with thousands separators ("12,345"); it sorts, searches and
# saves as CSV the number itself.
_NUMBER = """function (value, type) {
  return type === "display" && typeof value === "number"
    ? value.toLocaleString("en-US", {maximumFractionDigits: 20}) : value;
}"""


# A text cell as a table shows it: it may wrap after a separator of ids and names (: - _ /),
# never inside a word, so an operation wraps as artist:created:|album-child and a UUID at its
# hyphens. The text arrives escaped; search, sort and CSV read it as it is.
_SEPARATOR_CLASS = "".join("\\" + c for c in SEPARATORS)  # each escaped, as a JavaScript class takes it
_TEXT = """function (value, type) {
  return type === "display" && typeof value === "string" ? value.replace(/([SEP])/g, "$1<wbr>") : value;
}""".replace("SEP", _SEPARATOR_CLASS)


def _datatable(frame: pl.DataFrame, check: str, title: str) -> str:
    """A sortable, filterable table with copy and CSV buttons (DataTables, through itables, offline);
    its CSV and the link to every id are named after ``check`` and the table's ``title``.

    Numbers read with thousands separators; a header wraps only after a ``_`` of its name, as
    between words, and a text cell only after a separator (see ``_TEXT``)."""
    from itables import to_html_datatable
    from itables.typing import JavascriptFunction

    shown = readable(frame.head(ROWS_IN_PAGE))
    whole = shown.height <= WHOLE_ROWS
    numbers = [n for n, dtype in enumerate(shown.dtypes) if dtype.is_numeric()]
    texts = [n for n, dtype in enumerate(frame.dtypes) if dtype == pl.String]  # not times made text
    titles = [
        {"targets": n, "title": str(breakable(name, "_")), "ariaTitle": name}
        for n, name in enumerate(shown.columns)
    ]
    csv = {"extend": "csvHtml5", "filename": _file_name(check, title), "exportOptions": {"orthogonal": "csv"}}
    table = to_html_datatable(
        shown,
        connected=False,
        maxBytes=0,  # never sample rows away
        buttons=["copyHtml5", csv],
        columnDefs=[
            {"targets": numbers, "render": JavascriptFunction(_NUMBER)},
            {"targets": texts, "render": JavascriptFunction(_TEXT)},
            *titles,
        ],
        classes="display compact",
        style="table-layout:auto;width:auto;margin:0;caption-side:bottom",  # under its buttons, not centred
        # a short table shows whole: no pages to turn, nothing to search
        layout={"topStart": "buttons", "topEnd": None, "bottomStart": None, "bottomEnd": None}
        if whole
        else {"topStart": "buttons", "topEnd": "search", "bottomStart": "info", "bottomEnd": "paging"},
        paging=not whole,
        pageLength=10,
        lengthMenu=[10, 25, 100, 1000],
        showIndex=False,
        show_dtypes=False,
        display_logo_when_loading=False,
    )
    every_id = _all_ids(frame, ROWS_IN_PAGE, _file_name(check, f"{title} all ids"))
    return _cut_note(frame, ROWS_IN_PAGE, every_id, check, title) + table


def _plain_table(frame: pl.DataFrame, check: str, title: str) -> str:
    """The first :data:`ROWS_IN_NOTEBOOK` rows as a plain table, and how many there are, and
    where they all are: the check's ``ids`` frame and its SQL, or the breakdown ``title`` in its
    ``breakdowns``."""
    shown = readable(frame.head(ROWS_IN_NOTEBOOK))
    numbers = frozenset(n for n, dtype in enumerate(shown.dtypes) if dtype.is_numeric())
    texts = frozenset(n for n, dtype in enumerate(frame.dtypes) if dtype == pl.String)  # not times

    def cell(n: int, value: Any) -> str:
        text = number(value) if n in numbers else str(value)
        return breakable(text, SEPARATORS) if n in texts else escape(text)

    rows = [
        ["" if v is None else f'<span class="id">{cell(n, v)}</span>' for n, v in enumerate(row)]
        for row in shown.iter_rows()
    ]
    rest = (
        "; the check's <code>ids</code> frame and its SQL have them all"
        if title == ids_title(check)
        else f"; the check's <code>breakdowns[&quot;{escape(title)}&quot;]</code> has them all"
    )
    return html_table(shown.columns, rows, numbers) + _cut_note(frame, ROWS_IN_NOTEBOOK, rest, check, title)


def _all_ids(frame: pl.DataFrame, shown: int, name: str) -> str:
    """When the table shows only some of a check's offending rows, where the page has them all:
    a link that downloads every id of ``frame`` as CSV, carried inside the page, saved as
    ``name``.csv, and the check's SQL below the table (the end of :func:`_cut_note`'s sentence)."""
    if frame.height <= shown or "id" not in frame.columns:
        return ""
    ids = frame.select(pl.col("id").cast(pl.String)).unique(maintain_order=True)
    href = "data:text/csv;base64," + base64.b64encode(ids.write_csv().encode()).decode()
    link = f'<a download="{escape(name)}.csv" href="{href}">download all {ids.height:,} ids as CSV</a>'
    return f"; {link}, and the SQL below the table lists every row"


def _cut_note(frame: pl.DataFrame, shown: int, rest: str, check: str, title: str) -> str:
    """What a table that shows only the first ``shown`` rows of ``frame`` (check ``check``'s
    table ``title``) says about the rest, counting them as what they are (a check's ids by
    :func:`ids_title`, a breakdown's as rows); ``rest`` (HTML) ends the sentence, saying where
    they all are.

    Examples:
        >>> frame = pl.DataFrame({"id": range(3)})
        >>> _cut_note(frame, 2, "", "unknown_origin", "entities of unknown origin")
        '<p>The first 2 of 3 entities of unknown origin are shown.</p>'
    """
    if frame.height <= shown:
        return ""
    what = title if title == ids_title(check) else "rows"
    return f"<p>The first {shown:,} of {frame.height:,} {escape(what)} are shown{rest}.</p>"


@cache
def _datatables_script() -> str:
    """DataTables and its styles, inlined once per page (itables' offline bundle)."""
    from itables.javascript import generate_init_offline_itables_html
    from itables.utils import find_package_file

    return generate_init_offline_itables_html(find_package_file("html/dt_bundle.js"))
