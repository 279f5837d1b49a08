"""The bundled sample data and the demo that loads it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import schema
from ._sql import MIGRATIONS_TABLE
from .errors import StoreError
from .stage import LoadResult
from .store import DEMO_STORE, WAIT_SECONDS, LogStore
from .summary import StoreSummary, summarize

if TYPE_CHECKING:
    from .audit import AuditReport

# Which sample file the demo loads into which table.
DEMO_FILES = {
    schema.CURRENT_TABLE: "llama_logs.csv.gz",
    schema.LEGACY_TABLE: "enrichment_logs.csv.gz",
    MIGRATIONS_TABLE: "_prisma_migrations.csv",
}
# The album the demo suggests looking at (the README's example): added to a collection by a
# user, enriched again and again by jobs whose BullMQ ids were reused after Redis resets, with a
# track created under it and a row logged before its parent job's first row.
DEMO_ALBUM = "3e8428c2-2d96-4742-8ce3-9cf025319cd4"


def sample_path(name: str = "") -> Path:
    """The bundled sample directory, or a file in it.

    Installed packages carry the sample inside the package; a source checkout has it in
    ``data/sample``.

    Examples:
        >>> sample_path("llama_logs.parquet").name
        'llama_logs.parquet'
    """
    package = Path(__file__).parent
    for folder in (package / "_sample", package.parent / "data" / "sample"):
        if folder.is_dir():
            return folder / name if name else folder
    raise StoreError(
        f"the bundled sample is missing (looked in {package / '_sample'} and "
        f"{package.parent / 'data' / 'sample'}). Hint: reinstall the package, or regenerate it "
        "from a clone with python -m llamalog_analytics.sample data/sample"
    )


@dataclass(frozen=True)
class DemoResult:
    """What the demo loaded, what the store now holds, the migration audit of it, and the
    commands to try next on it."""

    loads: tuple[LoadResult, ...]
    summary: StoreSummary
    audit: AuditReport
    report: Path
    store: str
    album: str = DEMO_ALBUM

    @property
    def next_commands(self) -> tuple[str, ...]:
        """Three ``llamalog`` commands on the demo's store, runnable from where it was written.

        Examples:
            >>> for command in DemoResult((), None, None, Path("demo.audit.html"), "my demo.duckdb").next_commands:
            ...     print(command)
            llamalog explain ALBUM 3e8428c2-2d96-4742-8ce3-9cf025319cd4 --db 'my demo.duckdb'
            llamalog chain ALBUM 3e8428c2-2d96-4742-8ce3-9cf025319cd4 --db 'my demo.duckdb'
            llamalog timeline ALBUM 3e8428c2-2d96-4742-8ce3-9cf025319cd4 --db 'my demo.duckdb' --out 'my demo.timeline.html'
        """  # noqa: E501
        album = f"ALBUM {self.album} --db {shlex.quote(self.store)}"
        page = shlex.quote(str(Path(self.store).with_suffix(".timeline.html")))
        return (
            f"llamalog explain {album}",
            f"llamalog chain {album}",
            f"llamalog timeline {album} --out {page}",
        )

    @property
    def audit_commands(self) -> tuple[str, ...]:
        """Three ``llamalog`` commands on the audit: what changed since the last one, the
        repair it calls for (on the sample, nothing) and every audit recorded.

        Examples:
            >>> for command in DemoResult((), None, None, Path("demo.audit.html"), "demo.duckdb").audit_commands:
            ...     print(command)
            llamalog verify --db demo.duckdb --compare-last
            llamalog repair --db demo.duckdb --out repairs
            llamalog audits --db demo.duckdb
        """  # noqa: E501
        db = f"--db {shlex.quote(self.store)}"
        return (
            f"llamalog verify {db} --compare-last",
            f"llamalog repair {db} --out repairs",
            f"llamalog audits {db}",
        )

    def __str__(self) -> str:
        return self.text()

    def text(self, width: int | None = None) -> str:
        """The demo's account as text; with ``width`` (a terminal's), the audit's findings
        wrapped to it (:meth:`AuditReport.text <llamalog_analytics.audit.AuditReport.text>`)."""
        loads = [str(result) for result in self.loads if result.sources]
        then = [
            "",
            "audit again later: what changed since this audit, the repair a failure calls for, every audit:",
            *(f"  {command}" for command in self.audit_commands),
            "next, try one album's story: in words, as rows, as a timeline page:",
            *(f"  {command}" for command in self.next_commands),
        ]
        return "\n".join(
            [*loads, "", str(self.summary), "", self.audit.text(width), f"audit report: {self.report}", *then]
        )


def demo(path: str | Path = DEMO_STORE, *, quiet: bool = False, wait: float = WAIT_SECONDS) -> DemoResult:
    """Load the bundled sample (current table, pre-migration snapshot, migration history) into a
    store file, audit the migration and write the HTML report beside the store; ``wait``: the
    seconds to wait while another process writes to the store (as :class:`LogStore` takes it).

    Running it again adds nothing: loads are idempotent.

    Examples:
        >>> import tempfile
        >>> result = demo(tempfile.mkdtemp() + "/demo.duckdb", quiet=True)
        >>> [t.name for t in result.summary.tables]
        ['enrichment_logs', 'llama_logs']
        >>> result.report.name, result.audit.status
        ('demo.audit.html', 'warn')
    """
    from .audit import verify

    with LogStore(path, wait=wait) as store:
        loads = _load_sample(store, quiet=quiet)
        audit = verify(store)
        report = audit.to_html(Path(path).with_suffix(".audit.html"))
        return DemoResult(loads, summarize(store), audit, report, str(path))


def sample_store(path: str | Path | None = None) -> LogStore:
    """A store (in memory unless ``path`` is given) holding the bundled sample, both tables.

    Examples:
        >>> with sample_store() as store:
        ...     store.tables()
        ('enrichment_logs', 'llama_logs')
    """
    store = LogStore(path)
    _load_sample(store, quiet=True)
    return store


def _load_sample(store: LogStore, *, quiet: bool) -> tuple[LoadResult, ...]:
    return tuple(
        store.load_files(sample_path(file), table, quiet=quiet) for table, file in DEMO_FILES.items()
    )


def write_sample(folder: str | Path, *, rows: int = 4_000, seed: int = 2026) -> list[Path]:
    """(Re)generate the bundled sample in ``folder``: both snapshots as CSV and Parquet, plus
    Prisma's migration history. ``python -m llamalog_analytics.sample data/sample`` runs it."""
    from .export import write_logs
    from .synthetic import generate

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = generate(rows, seed=seed)
    written = [
        write_logs(frame, folder / f"{name}{suffix}")
        for name, frame in (("llama_logs", data.llama_logs), ("enrichment_logs", data.enrichment_logs))
        for suffix in (".csv.gz", ".parquet")
    ]
    data.prisma_migrations.write_csv(folder / "_prisma_migrations.csv")
    return [*written, folder / "_prisma_migrations.csv"]


if __name__ == "__main__":
    import sys

    for path in write_sample(sys.argv[1] if len(sys.argv) > 1 else "data/sample"):
        print(f"[🦙 LlamaLog] wrote {path}")
