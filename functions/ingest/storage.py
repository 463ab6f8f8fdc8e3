"""Storage adapters chosen by zone URI: ``s3://bucket[/prefix]`` or a local folder.

Everything above this module sees a zone as keys relative to its root; only here do paths,
buckets and boto3 appear. Transfers stream through files (bounded memory), and a local write
lands atomically (written aside, then renamed), as an S3 PUT does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef


class StorageError(RuntimeError):
    """A zone could not be read or written (not a problem with the data)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None
    version_id: str | None = None


class Storage(Protocol):
    uri: str

    def head(self, key: str) -> ObjectInfo | None: ...
    def download(self, key: str, path: Path) -> ObjectInfo: ...
    def upload(self, path: Path, key: str, content_type: str | None = None) -> None: ...
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...
    def get_bytes(self, key: str) -> bytes | None: ...
    def delete(self, keys: list[str]) -> None: ...
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def copy_from(self, source: Storage, source_key: str, key: str) -> None: ...
    def location(self, key: str) -> str: ...


def open_storage(uri: str, s3_client: S3Client | None = None) -> Storage:
    """The adapter for a zone URI. ``s3_client`` is required for s3:// zones."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"zone URI {uri!r} names no bucket")
        if s3_client is None:
            raise ValueError(f"zone {uri!r} needs an S3 client")
        return S3Storage(parsed.netloc, parsed.path.strip("/"), s3_client)
    if parsed.scheme == "file":
        # RFC 8089: the path is percent-encoded (Path.as_uri() writes spaces and Hangul so),
        # and a host other than this machine's is a network share this adapter cannot reach
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"zone URI {uri!r} names host {parsed.netloc!r}, not on this machine")
        return LocalStorage(Path(unquote(parsed.path)))
    if parsed.scheme:
        raise ValueError(f"unsupported zone URI scheme {parsed.scheme!r} in {uri!r}")
    return LocalStorage(Path(uri))


class LocalStorage:
    """A zone in a local folder (the embedded lake)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"key {key!r} escapes zone {self.uri}")
        return path

    def location(self, key: str) -> str:
        return str(self._path(key))

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        stat = path.stat()
        return ObjectInfo(key, stat.st_size, etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}")

    def download(self, key: str, path: Path) -> ObjectInfo:
        info = self.head(key)
        if info is None:
            raise FileNotFoundError(f"{key} is not in {self.uri}")
        shutil.copyfile(self._path(key), path)
        return info

    def _write_atomically(self, key: str, write: Any) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def upload(self, path: Path, key: str, content_type: str | None = None) -> None:
        def write(handle: Any) -> None:
            with path.open("rb") as source:
                shutil.copyfileobj(source, handle, 1 << 20)

        self._write_atomically(key, write)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._write_atomically(key, lambda handle: handle.write(data))

    def get_bytes(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # tidy empty partition folders, never the zone root
            parent = path.parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.startswith(".tmp-"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                yield ObjectInfo(key, path.stat().st_size)

    def copy_from(self, source: Storage, source_key: str, key: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "object"
            source.download(source_key, local)
            self.upload(local, key)


class S3Storage:
    """A zone in an S3 bucket (optionally under a prefix)."""

    def __init__(self, bucket: str, prefix: str, client: S3Client) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.client = client
        self.uri = f"s3://{bucket}/{prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return self.prefix + key

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(
            key,
            response["ContentLength"],
            etag=response.get("ETag", "").strip('"') or None,
            version_id=response.get("VersionId"),
        )

    def download(self, key: str, path: Path) -> ObjectInfo:
        info = self.head(key)
        if info is None:
            raise FileNotFoundError(f"{key} is not in {self.uri}")
        extra = {"VersionId": info.version_id} if info.version_id else None
        # download_file streams in ranged parts: memory stays bounded whatever the size
        self.client.download_file(self.bucket, self._key(key), str(path), ExtraArgs=extra)
        return info

    def upload(self, path: Path, key: str, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type or "application/octet-stream",
        )

    def get_bytes(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read()

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": self._key(k)} for k in keys[start : start + 1000]
            ]
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(
                    f"could not delete {len(response['Errors'])} objects from {self.uri}, "
                    f"first {first.get('Key')}: {first.get('Code')}"
                )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    item["Key"][len(self.prefix) :],
                    item["Size"],
                    etag=item.get("ETag", "").strip('"') or None,
                )

    def copy_from(self, source: Storage, source_key: str, key: str) -> None:
        if isinstance(source, S3Storage):
            # server-side copy: no bytes through the function, any size (multipart when large)
            try:
                self.client.copy(
                    {"Bucket": source.bucket, "Key": source._key(source_key)},
                    self.bucket,
                    self._key(key),
                )
            except self.client.exceptions.ClientError as exc:
                # the transfer manager heads the source first: a missing source is a 404
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    raise FileNotFoundError(f"{source_key} is not in {source.uri}") from exc
                raise
            return
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "object"
            source.download(source_key, local)
            self.upload(local, key)
