"""Time a big entity timeline: build the figure, write its standalone HTML, report the size.

    python bench/timeline.py --rows 5000

The chain is generated: a root job with a random job tree under it (up to 12 levels deep,
five rows per job, every category, durations, JSON details and some error text), as a frame
in hand, so the figure's own cost is what is measured.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

import llamalog_analytics as lla
from llamalog_analytics import schema


def chain_rows(rows: int, seed: int = 7) -> pl.DataFrame:
    pick = random.Random(seed)
    start = datetime(2026, 3, 1)
    depth = {"job-0": 0}
    records = []
    for n in range(rows):
        if n % 5 == 0 and n:
            parent = pick.choice([j for j, d in depth.items() if d < 12][-200:])
            job = f"job-{n // 5}"
            depth[job] = depth[parent] + 1
        else:
            job = f"job-{n // 5}"
            parent = records[-1]["parent_job_id"] if records else None
        category = pick.choice(schema.CATEGORIES)
        records.append(
            {
                "id": str(uuid.UUID(int=n)),
                "job_id": job,
                "parent_job_id": parent,
                "root_job_id": "job-0",
                "created_at": start + timedelta(seconds=n * 3 + pick.random()),
                "operation": pick.choice(["enrichment:album", "cache:album-cover-art", "discogs:get-artist"]),
                "status": "FAILED" if category == "FAILED" else "SUCCESS",
                "category": category,
                "duration_ms": pick.choice([None, 0, pick.randrange(1, 120_000)]),
                "user_id": None,
                "triggered_by": "scheduler",
                "error_message": "HTTP 429 Too Many Requests" if category == "FAILED" else None,
                "metadata": json.dumps({"albumTitle": f"Album {n}", "fieldChanges": ["title", "year"]}),
            }
        )
    return pl.DataFrame(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000)
    args = parser.parse_args()
    rows = chain_rows(args.rows)
    lla.plot_timeline(rows.head(10))  # imports and first-use costs out of the way
    start = time.perf_counter()
    figure = lla.plot_timeline(rows)
    built = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = lla.write_timeline(figure, Path(folder) / "timeline.html")
        written = time.perf_counter() - start
        size = path.stat().st_size
    print(f"rows: {rows.height:,}; {figure.layout.title.subtitle.text}")
    print(
        f"figure built in {built:.2f}s; HTML written in {written:.2f}s, {size / 1e6:.2f} MB ({size:,} bytes)"
    )


if __name__ == "__main__":
    main()
