"""Where the HMAC key comes from: a 0600 key file locally, Secrets Manager (through moto) on AWS."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from ingest.keys import KeyUnavailable, key_from_file, key_from_secret
from ingest.pseudonymise import HmacKey

SECRET_ID = "lakedrop/test/hmac-key"  # noqa: S105 (a name in moto, not a secret)
SECRET_VALUE = "s3cret-" + "0123456789abcdef" * 4


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- key file ----------------------------------------------------------------------------


def test_key_file_is_created_private_with_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keys" / "hmac.key"
    key = key_from_file(path)
    assert _mode(path) == 0o600
    text = path.read_text(encoding="ascii")
    assert text.endswith("\n")
    material = text.strip()
    assert len(material) == 128  # 64 random bytes, hex
    int(material, 16)  # hex
    assert key == HmacKey(material.encode("ascii"))
    assert [p.name for p in path.parent.iterdir()] == ["hmac.key"]  # no temporary left


def test_key_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key_from_file(tmp_path / "hmac.key")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "hmac.key") == 0o600


def test_key_file_gives_the_same_key_every_time(tmp_path: Path) -> None:
    path = tmp_path / "hmac.key"
    first = key_from_file(path)
    content = path.read_bytes()
    second = key_from_file(path)
    assert second == first
    assert second.key_id == first.key_id
    assert path.read_bytes() == content  # not rewritten


def test_different_key_files_give_different_keys(tmp_path: Path) -> None:
    assert key_from_file(tmp_path / "a.key").key_id != key_from_file(tmp_path / "b.key").key_id


def test_existing_key_file_is_used_as_written(tmp_path: Path) -> None:
    path = tmp_path / "hmac.key"
    path.write_text("  " + "k" * 40 + "\n\n", encoding="ascii")
    path.chmod(0o600)
    assert key_from_file(path) == HmacKey(b"k" * 40)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "hmac.key"
    key_from_file(path)
    path.chmod(mode)
    with pytest.raises(KeyUnavailable) as err:
        key_from_file(path)
    message = str(err.value)
    assert f"chmod 600 {path}" in message
    assert f"{mode:o}" in message
    assert path.read_text().strip() not in message  # the key is not shown


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "hmac.key"
    first = key_from_file(path)
    path.chmod(mode)
    assert key_from_file(path) == first


@pytest.mark.parametrize("content", ["", "\n", "short-key\n", "x" * 31 + "\n"])
def test_too_short_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "hmac.key"
    path.write_text(content, encoding="ascii")
    path.chmod(0o600)
    with pytest.raises(KeyUnavailable, match="fewer than 32 characters"):
        key_from_file(path)


def test_a_32_character_key_is_enough(tmp_path: Path) -> None:
    path = tmp_path / "hmac.key"
    path.write_text("y" * 32, encoding="ascii")
    path.chmod(0o600)
    assert key_from_file(path) == HmacKey(b"y" * 32)


def test_non_ascii_key_file_is_refused_plainly(tmp_path: Path) -> None:
    path = tmp_path / "hmac.key"
    path.write_bytes("열쇠".encode() * 20)
    path.chmod(0o600)
    with pytest.raises(KeyUnavailable, match="not ASCII"):
        key_from_file(path)


def test_key_file_on_a_file_system_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "hmac.key"
    first = key_from_file(path)
    assert _mode(path) == 0o600
    assert len(path.read_text(encoding="ascii").strip()) == 128
    assert key_from_file(path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["hmac.key"]


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    """Workers starting together all get the key that ends up in the file."""
    path = tmp_path / "keys" / "hmac.key"
    results: list[HmacKey | BaseException] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        try:
            results.append(key_from_file(path))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = HmacKey(path.read_text(encoding="ascii").strip().encode("ascii"))
    assert results == [final] * 8


# --- Secrets Manager ---------------------------------------------------------------------


def _clear_powertools_cache() -> None:
    """Forget cached parameter values and providers (each provider holds a boto3 client)."""
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def secretsmanager(aws_env: str) -> Iterator[object]:
    """moto's Secrets Manager, with Powertools' parameter cache emptied before and after."""
    _clear_powertools_cache()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=aws_env)
    _clear_powertools_cache()


def test_key_from_secret(secretsmanager: object) -> None:
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name=SECRET_ID, SecretString=SECRET_VALUE)["ARN"]
    assert arn.startswith("arn:aws:secretsmanager:ap-northeast-2:")
    key = key_from_secret(SECRET_ID)
    assert key == HmacKey(SECRET_VALUE.encode("utf-8"))
    assert key_from_secret(arn) == key  # by ARN too


def test_key_from_a_binary_secret(secretsmanager: object) -> None:
    material = bytes(range(48))
    boto3.client("secretsmanager").create_secret(Name=SECRET_ID, SecretBinary=material)
    assert key_from_secret(SECRET_ID) == HmacKey(material)


@pytest.mark.parametrize("value", ["tiny-secret", "z" * 31])
def test_short_secret_is_refused(secretsmanager: object, value: str) -> None:
    boto3.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=value)
    with pytest.raises(KeyUnavailable) as err:
        key_from_secret(SECRET_ID)
    assert SECRET_ID in str(err.value)
    assert "fewer than 32 bytes" in str(err.value)
    assert value not in str(err.value)


def test_secret_is_cached_between_calls(secretsmanager: object) -> None:
    """Powertools keeps the value (max_age): a warm Lambda does not call Secrets Manager again."""
    client = boto3.client("secretsmanager")
    client.create_secret(Name=SECRET_ID, SecretString=SECRET_VALUE)
    first = key_from_secret(SECRET_ID)
    client.put_secret_value(SecretId=SECRET_ID, SecretString="rotated-" + "9" * 40)
    assert key_from_secret(SECRET_ID) == first
    _clear_powertools_cache()
    assert key_from_secret(SECRET_ID) == HmacKey(("rotated-" + "9" * 40).encode())


def test_missing_secret_is_an_error(secretsmanager: object) -> None:
    with pytest.raises(parameters.exceptions.GetParameterError):
        key_from_secret("lakedrop/test/no-such-secret")
