"""Storage adapters chosen by zone URI: ``s3://bucket[/prefix]`` or a local folder.

Everything above this module sees a zone as keys relative to its root; only here do paths,
buckets and boto3 appear. Transfers stream through files (bounded memory), and a local write
lands atomically (written aside, then renamed), as an S3 PUT does.
"""

from __future__ import annotations

import hashlib
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
    last_modified: float | None = None  # seconds since the epoch (listings)


class Storage(Protocol):
    uri: str

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None: ...
    def download(self, key: str, path: Path, version_id: str | None = None) -> ObjectInfo: ...
    def upload(self, path: Path, key: str, content_type: str | None = None) -> None: ...
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...
    def get_bytes(self, key: str) -> bytes | None: ...
    def get_with_etag(self, key: str) -> tuple[bytes, str] | None: ...
    def put_if_absent(self, key: str, data: bytes) -> bool: ...
    def replace_if_match(self, key: str, data: bytes, etag: str) -> bool: ...
    def delete(self, keys: list[str]) -> None: ...
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def copy_from(
        self, source: Storage, source_key: str, key: str, version_id: str | None = None
    ) -> None: ...
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

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """A folder keeps one version of a file: ``version_id`` is not looked at."""
        path = self._path(key)
        if not path.is_file():
            return None
        stat = path.stat()
        return ObjectInfo(
            key,
            stat.st_size,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            last_modified=stat.st_mtime,
        )

    def download(self, key: str, path: Path, version_id: str | None = None) -> ObjectInfo:
        """A folder keeps one version of a file: ``version_id`` is not looked at."""
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

    def get_with_etag(self, key: str) -> tuple[bytes, str] | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return data, hashlib.md5(data, usedforsecurity=False).hexdigest()

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` unless it exists: one of two racing writers wins, and a reader never
        sees the file before its content (written aside, then hard-linked into place, which
        fails if the name exists)."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.link(tmp, target)
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    def replace_if_match(self, key: str, data: bytes, etag: str) -> bool:
        """Replace ``key`` if its content still has ``etag`` (a check-then-rename: atomic
        against readers, not against a second writer on the same machine in the same
        millisecond; the local lake has one ingest at a time)."""
        current = self.get_with_etag(key)
        if current is None or current[1] != etag:
            return False
        self.put_bytes(key, data)
        return True

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
        # walk only the folder the prefix names, not the whole zone
        folder = prefix[: prefix.rfind("/")] if "/" in prefix else ""
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if not path.is_file() or path.name.startswith(".tmp-"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                yield ObjectInfo(key, stat.st_size, last_modified=stat.st_mtime)

    def copy_from(
        self, source: Storage, source_key: str, key: str, version_id: str | None = None
    ) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "object"
            source.download(source_key, local, version_id)
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

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The object (or its version ``version_id``); None when there is no such object."""
        try:
            if version_id:
                response = self.client.head_object(
                    Bucket=self.bucket, Key=self._key(key), VersionId=version_id
                )
            else:
                response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            # a deleted version, or a version id of another object: 404 / 400
            if code in ("404", "NoSuchKey", "NotFound", "NoSuchVersion", "400"):
                return None
            raise
        return ObjectInfo(
            key,
            response["ContentLength"],
            etag=response.get("ETag", "").strip('"') or None,
            version_id=response.get("VersionId") or version_id,
            last_modified=response["LastModified"].timestamp(),
        )

    def download(self, key: str, path: Path, version_id: str | None = None) -> ObjectInfo:
        """The object, or the version ``version_id`` of it (FileNotFoundError when gone)."""
        info = self.head(key, version_id)
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

    def get_with_etag(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read(), response["ETag"].strip('"')

    def _conditional_put(self, key: str, data: bytes, **condition: str) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType="application/json",
                **condition,  # type: ignore[arg-type]
            )
        except self.client.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            # 412: the condition failed; 409: a concurrent conditional write is in progress;
            # 404: IfMatch on an object deleted meanwhile
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412"):
                return False
            raise
        return True

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` unless it exists (S3 conditional write, ``If-None-Match: *``)."""
        return self._conditional_put(key, data, IfNoneMatch="*")

    def replace_if_match(self, key: str, data: bytes, etag: str) -> bool:
        """Replace ``key`` if it still has ``etag`` (``If-Match``)."""
        return self._conditional_put(key, data, IfMatch=f'"{etag}"')

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
                    last_modified=item["LastModified"].timestamp(),
                )

    def copy_from(
        self, source: Storage, source_key: str, key: str, version_id: str | None = None
    ) -> None:
        """Copy ``source_key`` (the version ``version_id`` of it, when given) to ``key``."""
        if isinstance(source, S3Storage):
            copy_source: dict[str, str] = {"Bucket": source.bucket, "Key": source._key(source_key)}
            if version_id:
                copy_source["VersionId"] = version_id
            # server-side copy: no bytes through the function, any size (multipart when large)
            try:
                self.client.copy(
                    copy_source,  # type: ignore[arg-type]
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
            source.download(source_key, local, version_id)
            self.upload(local, key)
