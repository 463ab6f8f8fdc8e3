"""Fixtures shared by the whole suite: a fake AWS environment for moto and a small sample file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lakedrop.config import LocalLake

# lakedrop is imported inside the fixtures that need it: `make test-runtimes` runs the features
# job's own tests on Python 3.9 and 3.10, in virtualenvs without the project (which needs 3.11).

AWS_REGION = "ap-northeast-2"
SMALL_ROWS = 2_000

# Variables that could point boto3 at a real account or endpoint: removed for every test that
# asks for the fake environment.
_REAL_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Fake credentials and the project's region, for code running under moto's ``mock_aws``.

    Never real credentials: the shared config and credentials files are pointed at files that
    do not exist, so nothing from ``~/.aws`` is picked up either. Returns the region.
    """
    for name in _REAL_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return AWS_REGION


@pytest.fixture(scope="session")
def small_transactions_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid ``transactions`` CSV (UTF-8, canonical headers, 2,000 data rows).

    Written once per session: treat it as read-only (copy it before changing it).
    """
    from lakedrop.generate import GenerateSpec, generate

    path = tmp_path_factory.mktemp("samples") / "transactions-small.csv"
    generate(path, GenerateSpec(rows=SMALL_ROWS, seed=7))
    return path


@pytest.fixture(scope="session")
def pipeline_lake(tmp_path_factory: pytest.TempPathFactory) -> LocalLake:
    """A local lake the real pipeline filled (tests/pipeline.py: generate → ingest → features →
    training), 60,000 rows, seed 5. Built once per session: treat it as read-only."""
    from tests.pipeline import build_lake

    return build_lake(tmp_path_factory.mktemp("pipeline-lake"))
