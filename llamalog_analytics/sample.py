"""The bundled sample data and the demo that loads it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import schema
from ._sql import MIGRATIONS_TABLE
from .errors import StoreError
from .stage import LoadResult
from .store import LogStore
from .summary import StoreSummary, summarize

if TYPE_CHECKING:
    from .audit import AuditReport

# Which sample file the demo loads into which table.
DEMO_FILES = {
    schema.CURRENT_TABLE: "llama_logs.csv.gz",
    schema.LEGACY_TABLE: "enrichment_logs.csv.gz",
    MIGRATIONS_TABLE: "_prisma_migrations.csv",
}


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
    """What the demo loaded, what the store now holds, and the migration audit of it."""

    loads: tuple[LoadResult, ...]
    summary: StoreSummary
    audit: AuditReport
    report: Path

    def __str__(self) -> str:
        loads = [str(result) for result in self.loads if result.sources]
        return "\n".join([*loads, "", str(self.summary), "", str(self.audit), f"audit report: {self.report}"])


def demo(path: str | Path = "llamalog-demo.duckdb", *, quiet: bool = False) -> DemoResult:
    """Load the bundled sample (current table, pre-migration snapshot, migration history) into a
    store file, audit the migration and write the HTML report beside the store.

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

    with LogStore(path) as store:
        loads = _load_sample(store, quiet=quiet)
        audit = verify(store)
        report = audit.to_html(Path(path).with_suffix(".audit.html"))
        return DemoResult(loads, summarize(store), audit, report)


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
