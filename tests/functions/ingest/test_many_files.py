"""Many files landing at once through the deployed path (moto server: S3 notifications to
SQS, two worker processes playing the Lambda service): each processed exactly once.

The small variant of benchmarks/many_files.py (1,000 files there; docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.many_files import csv_file, run_moto


def test_the_files_are_distinct_by_construction() -> None:
    first, second = csv_file(0, 3).decode(), csv_file(1, 3).decode()
    ids = [line.split(",")[0] for line in (first + second).splitlines() if line[0] == "F"]
    assert ids == ["F00000-00000", "F00000-00001", "F00000-00002",
                   "F00001-00000", "F00001-00001", "F00001-00002"]  # fmt: skip


def test_every_landed_file_is_ingested_once(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    report = run_moto(files=12, rows=10, workers=2, work=work)
    assert report["checks"] == dict.fromkeys(report["checks"], True), report
    assert report["statuses"] == {"curated": 12}
    assert report["invocations"] >= 12
