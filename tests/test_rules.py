"""Category rule sets as data: each set's answers, and a diff that names where two disagree."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import FIXTURES

from llamalog_analytics import rules
from llamalog_analytics.errors import ArgumentError


def test_rule_sets_are_data_and_diff_names_the_differences():
    frame = pl.DataFrame(
        {
            "operation": [
                "cache:artist-image",
                "MANUAL_DATA_QUALITY_UPDATE",
                "SPOTIFY_TRACK_FALLBACK",
                "PREVIEW_ENRICHMENT",
            ],
            "status": ["FAILED", "SUCCESS", "FAILED", "FAILED"],
        }
    )
    assert rules.APPLIED_BACKFILL.categorize(frame).to_list() == ["CACHED", "CREATED", "FAILED", "ENRICHED"]
    assert rules.ROADMAP_INTENT.categorize(frame).to_list() == ["FAILED", "CORRECTED", "FAILED", "FAILED"]
    assert rules.APPLICATION.categorize(frame).to_list() == ["FAILED", "CORRECTED", "FAILED", "ENRICHED"]
    assert rules.DERIVE_CATEGORY.categorize(frame.with_columns(status=pl.lit("SUCCESS"))).to_list() == [
        "ENRICHED",
        "CORRECTED",
        "ENRICHED",
        "ENRICHED",
    ]
    with pytest.raises(ArgumentError, match="unknown categories"):
        rules.RuleSet("typo", "", (rules.Rule("CREATE", "TRUE"),))


RULE_CASES = FIXTURES / "rules.csv"  # written by hand from the migration SQL and the application code


@pytest.mark.parametrize(
    ("rule_set", "column"),
    [
        (rules.APPLIED_BACKFILL, "applied_backfill"),
        (rules.INFER_CATEGORY, "infer_category"),
        (rules.DERIVE_CATEGORY, "derive_category"),
    ],
    ids=["applied_backfill", "infer_category", "derive_category"],
)
def test_each_rule_set_gives_what_the_sql_and_code_say(rule_set, column):
    cases = pl.read_csv(RULE_CASES)
    got = rule_set.categorize(cases)
    wrong = cases.with_columns(got=got).filter(pl.col("got") != pl.col(column))
    assert wrong.is_empty(), wrong.select("operation", "status", column, "got", "why").rows()
