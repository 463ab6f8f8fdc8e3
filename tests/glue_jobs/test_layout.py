"""The analytics keys the features job writes (docs/lake.md documents the same)."""

from __future__ import annotations

import pytest

from glue_jobs.features import layout


def test_keys() -> None:
    assert layout.run_key("train", "r1") == "features/train/run=r1"
    assert layout.run_key("score", "2026-01-01.x_y") == "features/score/run=2026-01-01.x_y"
    assert layout.latest_key("train") == "features/train/_LATEST.json"
    assert layout.latest_key("score") == "features/score/_LATEST.json"
    assert layout.snapshot_prefix("score") == "features/score/"
    assert layout.report_key("r1") == "features/_runs/r1.json"
    assert layout.KINDS == ("train", "score")


def test_curated_glob_matches_either_grain_and_not_the_manifests() -> None:
    assert layout.curated_transactions_glob("s3://lake/curated/") == (
        "s3://lake/curated/transactions/*=*/*.parquet"
    )
    assert layout.curated_transactions_glob("/x/curated") == "/x/curated/transactions/*=*/*.parquet"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a b", "-x", ".hidden", "x" * 129, "r=1"])
def test_run_ids_that_would_break_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        layout.check_run_id(bad)


def test_run_id_of() -> None:
    assert layout.run_id_of("run=abc") == "abc"
    assert layout.run_id_of("run=") is None
    assert layout.run_id_of("_LATEST.json") is None
    assert layout.run_id_of("other") is None
