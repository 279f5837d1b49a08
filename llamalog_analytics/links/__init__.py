"""Job links: which run of a job wrote a row, and which run its ``parent_job_id`` points at.

A ``job_id`` does not name one job forever: BullMQ's numeric ids restart when its Redis is
reset, and custom ids repeat. So links follow **job instances**:

* **Instance.** Rows with the same non-NULL ``job_id``, ordered by (``created_at``, ``id``),
  belong to one instance until the gap between two consecutive rows of that id exceeds the
  reuse gap (24 hours by default); the next row starts a new instance. An instance is the job
  id and its ordinal among that id's instances (1 = oldest), spanning its first to its last
  row's ``created_at``.
* **Parent resolution.** A row with ``parent_job_id = p`` links to the one instance of ``p``
  whose span is nearest to the row's ``created_at`` (0 inside the span; ties go to the earlier
  instance), provided it is at most the reuse gap away. Otherwise (and when no row carries
  ``p``) the run that spawned the row never logged: the parent is **dangling**.
* An instance's own parent is its **first row's** (oldest; NULL if that row has none); walking
  those up gives the **root** of every row. Rows' parent links between instances form a graph,
  and a cycle in it is a **loop** (a cycle of instances); a row is on a loop when its own link
  (its instance → its parent's instance) is.

``link="job_id"`` is the literal reading (every row carrying an id is one job): the same rules
with no reuse gap. This module is the one place that defines these links; chains, graphs,
timelines, ``explain`` and the audit all ask it. The definition comes in two forms that tests
hold to the same answers: SQL over a store's table (:func:`rows_sql`: what each audit check
shows, to read and run again) and whole arrays in memory (:func:`link_runs`: for frames, the
chain index and the table of links the audit's checks read, :func:`linked_table`).

Examples:
    >>> import llamalog_analytics as lla
    >>> from llamalog_analytics import links
    >>> links.Linking.of("instance", "6h")
    Linking(link='instance', reuse_gap=datetime.timedelta(seconds=21600))
    >>> str(links.Linking.of("job_id"))
    'bare job ids'
    >>> with lla.sample_store() as store:
    ...     found = store.frame(f"SELECT * FROM ({links.rows_sql('llama_logs')}) LIMIT 3")
    >>> found.columns
    ['id', 'created_at', 'job_id', 'parent_job_id', 'job_instance', 'parent_instance', 'parent_first_at', \
'dangling']
"""

from __future__ import annotations

from ._core import (
    DANGLING_PARENT,
    DEFAULT_REUSE_GAP,
    LINKS,
    NO_ROW,
    NO_RUN_NEAR,
    Linking,
    annotate,
    link_runs,
    resolve,
    rows_sql,
)
from .findings import (
    before_parent_sql,
    dangling_sql,
    linked_sql,
    linked_table,
    loops,
    loops_sql,
    reused_sql,
    roots_sql,
)
from .roots import loop_numbers, on_loop, parent_loops, tops

__all__ = [
    "DANGLING_PARENT",
    "DEFAULT_REUSE_GAP",
    "LINKS",
    "NO_ROW",
    "NO_RUN_NEAR",
    "Linking",
    "annotate",
    "before_parent_sql",
    "dangling_sql",
    "link_runs",
    "linked_sql",
    "linked_table",
    "loop_numbers",
    "loops",
    "loops_sql",
    "on_loop",
    "parent_loops",
    "resolve",
    "reused_sql",
    "roots_sql",
    "rows_sql",
    "tops",
]
