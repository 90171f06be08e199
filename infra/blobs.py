"""A small blob store: labels and other files, in a local folder or an S3-compatible bucket."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from infra.settings import BlobSettings, Settings

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,299}$")


class BlobNotFound(KeyError):
    """No blob is stored under the key."""


class BlobStoreUnavailable(Exception):
    """The blob store could not be reached or was busy; the same call may succeed later."""


class BlobStore(Protocol):
    """Whole-object put and get by key; a put replaces what was there."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key."""
        ...

    def get(self, key: str) -> tuple[bytes, str]:
        """The data and content type under key, or BlobNotFound."""
        ...

    def put_file(self, key: str, file: BinaryIO, content_type: str) -> None:
        """Store what file holds from its position on under key, streamed in chunks."""
        ...

    def delete(self, key: str) -> None:
        """Remove what is under key; deleting a missing key changes nothing."""
        ...


def checked_key(key: str) -> str:
    """The key if it is a safe relative path (no '..', no leading slash), else ValueError."""
    if not KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"bad blob key {key!r}")
    return key


class LocalBlobStore:
    """Blobs as files under a folder; each put is written to a temporary file and renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key, atomically."""
        with self._writing(key, content_type) as file:
            file.write(data)

    def put_file(self, key: str, file: BinaryIO, content_type: str) -> None:
        """Store what file holds from its position on under key, atomically."""
        with self._writing(key, content_type) as target:
            shutil.copyfileobj(file, target, 1024 * 1024)

    @contextmanager
    def _writing(self, key: str, content_type: str) -> Iterator[BinaryIO]:
        path = self.root / checked_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{path}.type").write_text(content_type)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".blob-")
        try:
            with os.fdopen(handle, "wb") as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def get(self, key: str) -> tuple[bytes, str]:
        """The data and content type under key, or BlobNotFound."""
        path = self.root / checked_key(key)
        try:
            return path.read_bytes(), Path(f"{path}.type").read_text()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def delete(self, key: str) -> None:
        """Remove the file and its type; deleting a missing key changes nothing."""
        path = self.root / checked_key(key)
        path.unlink(missing_ok=True)
        Path(f"{path}.type").unlink(missing_ok=True)


class S3BlobStore:
    """Blobs as objects in one bucket of S3 or any S3-compatible store (MinIO, Ceph, R2...).

    Network failures, timeouts, throttling and 5xx answers raise BlobStoreUnavailable after
    botocore's own few retries; other refusals (access denied, no such bucket) raise as they are.
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, blobs: BlobSettings) -> S3BlobStore:
        """A store on the bucket and endpoint these settings name, with bounded timeouts."""
        secret = blobs.secret_access_key
        config = Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path" if blobs.endpoint_url else "auto"},
        )
        client = boto3.client(
            "s3",
            endpoint_url=blobs.endpoint_url,
            region_name=blobs.region,
            aws_access_key_id=blobs.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=config,
        )
        return cls(client, blobs.bucket)

    def create_bucket(self) -> None:
        """Create the bucket unless it exists (for development stores and tests)."""
        with _s3_errors():
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as error:
                if _status(error) != 404:
                    raise
            region = self.client.meta.region_name
            extra: dict[str, Any] = {}
            if region and region != "us-east-1":
                extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
            with suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
                self.client.create_bucket(Bucket=self.bucket, **extra)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key (S3 replaces whole objects atomically)."""
        with _s3_errors():
            self.client.put_object(
                Bucket=self.bucket, Key=checked_key(key), Body=data, ContentType=content_type
            )

    def put_file(self, key: str, file: BinaryIO, content_type: str) -> None:
        """Store what file holds under key, in a multipart upload past a few megabytes."""
        with _s3_errors():
            self.client.upload_fileobj(
                file, self.bucket, checked_key(key), ExtraArgs={"ContentType": content_type}
            )

    def get(self, key: str) -> tuple[bytes, str]:
        """The data and content type under key, or BlobNotFound."""
        with _s3_errors():
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=checked_key(key))
            except ClientError as error:
                if _status(error) == 404 and _code(error) in ("NoSuchKey", "404"):
                    raise BlobNotFound(key) from None
                raise
            with answer["Body"] as body:
                data = body.read()
        return data, str(answer.get("ContentType", "application/octet-stream"))

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key changes nothing (as S3 does)."""
        with _s3_errors():
            self.client.delete_object(Bucket=self.bucket, Key=checked_key(key))


def _status(error: Any) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def _s3_errors() -> Iterator[None]:
    """Turn 'try again later' failures of botocore into BlobStoreUnavailable."""
    try:
        yield
    except (ConnectionError, HTTPClientError) as error:
        raise BlobStoreUnavailable(repr(error)) from error
    except ClientError as error:
        if _status(error) >= 500 or _status(error) == 429 or "Throttl" in _code(error):
            raise BlobStoreUnavailable(repr(error)) from error
        raise


def blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings choose: a local folder by default, or an S3 bucket."""
    if settings.blobs.store == "s3":
        return S3BlobStore.from_settings(settings.blobs)
    return LocalBlobStore(settings.blobs.local_dir or settings.data_dir / "blobs")
