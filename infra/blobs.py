"""A small blob store: labels and other files, in a local folder or an S3-compatible bucket."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from infra.settings import Settings

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,299}$")


class BlobNotFound(KeyError):
    """No blob is stored under the key."""


class BlobStore(Protocol):
    """Whole-object put and get by key; a put replaces what was there."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key."""
        ...

    def get(self, key: str) -> tuple[bytes, str]:
        """The data and content type under key, or BlobNotFound."""
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
        path = self.root / checked_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{path}.type").write_text(content_type)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".blob-")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    def get(self, key: str) -> tuple[bytes, str]:
        """The data and content type under key, or BlobNotFound."""
        path = self.root / checked_key(key)
        try:
            return path.read_bytes(), Path(f"{path}.type").read_text()
        except FileNotFoundError:
            raise BlobNotFound(key) from None


def blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings choose: a local folder by default."""
    if settings.blob_store == "s3":
        raise NotImplementedError("the S3 blob store is not wired yet")
    return LocalBlobStore(settings.blob_dir or settings.data_dir / "blobs")
