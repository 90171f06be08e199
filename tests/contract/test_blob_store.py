"""The blob store contract, once for a local folder and once for S3 (a moto server process)."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from infra.blobs import (
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    LocalBlobStore,
    S3BlobStore,
    blob_store,
)
from infra.settings import BlobSettings, Settings
from tests.conftest import free_port

START_SECONDS = 30.0


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on loopback for this test session, stopped afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    output = tmp_path_factory.mktemp("moto") / "moto.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto did not start: {output.read_text(errors='replace')}")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def s3_settings(endpoint: str, bucket: str) -> Settings:
    return Settings(
        blobs=BlobSettings(
            store="s3",
            endpoint_url=endpoint,
            bucket=bucket,
            access_key_id="test",
            secret_access_key=SecretStr("test"),
        )
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A fresh, empty store of each kind: a temporary folder, or a new bucket."""
    if request.param == "local":
        return blob_store(Settings(blobs=BlobSettings(local_dir=tmp_path / "blobs")))
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = blob_store(s3_settings(endpoint, f"t-{uuid.uuid4().hex[:16]}"))
    assert isinstance(s3, S3BlobStore)
    s3.create_bucket()
    s3.create_bucket()
    return s3


def test_a_put_blob_comes_back_with_its_content_type(store: BlobStore) -> None:
    data = bytes(range(256)) * 40

    store.put("labels/abc.pdf", data, "application/pdf")

    assert store.get("labels/abc.pdf") == (data, "application/pdf")


def test_a_second_put_replaces_data_and_type(store: BlobStore) -> None:
    store.put("labels/a.pdf", b"%PDF-first", "application/pdf")
    store.put("labels/a.pdf", b"\x89PNG second", "image/png")

    assert store.get("labels/a.pdf") == (b"\x89PNG second", "image/png")


def test_keys_are_separate_and_nested_keys_do_not_clash(store: BlobStore) -> None:
    store.put("a/b/c.bin", b"1", "application/octet-stream")
    store.put("a/b/d.bin", b"2", "application/octet-stream")
    store.put("a/bc.bin", b"3", "application/octet-stream")

    assert [store.get(key)[0] for key in ("a/b/c.bin", "a/b/d.bin", "a/bc.bin")] == [
        b"1",
        b"2",
        b"3",
    ]


def test_a_file_is_streamed_in_from_where_it_stands(store: BlobStore) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: S3 takes it as a multipart upload
    file = io.BytesIO(b"skipped" + data)
    file.seek(len(b"skipped"))

    store.put_file("originals/p/big", file, "image/jpeg")

    assert store.get("originals/p/big") == (data, "image/jpeg")


def test_an_empty_blob_is_a_blob(store: BlobStore) -> None:
    store.put("empty", b"", "text/plain")

    assert store.get("empty") == (b"", "text/plain")


def test_a_deleted_blob_is_gone_and_deleting_again_changes_nothing(store: BlobStore) -> None:
    store.put("labels/gone.pdf", b"%PDF-secret", "application/pdf")
    store.put("labels/kept.pdf", b"%PDF-kept", "application/pdf")
    store.delete("labels/gone.pdf")
    store.delete("labels/gone.pdf")
    with pytest.raises(BlobNotFound):
        store.get("labels/gone.pdf")
    assert store.get("labels/kept.pdf") == (b"%PDF-kept", "application/pdf")


def test_a_missing_key_is_blob_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get("labels/missing.pdf")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", "", "a b", "x" * 301])
def test_unsafe_keys_are_refused_on_put_and_get(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="bad blob key"):
        store.put(key, b"x", "text/plain")
    with pytest.raises(ValueError, match="bad blob key"):
        store.get(key)


def test_the_default_store_is_a_folder_under_the_data_dir(tmp_path: Path) -> None:
    store = blob_store(Settings(data_dir=tmp_path))

    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"


def test_an_unreachable_s3_endpoint_is_unavailable_not_missing() -> None:
    store = blob_store(s3_settings(f"http://127.0.0.1:{free_port()}", "nowhere"))

    with pytest.raises(BlobStoreUnavailable):
        store.put("labels/x.pdf", b"x", "application/pdf")
    with pytest.raises(BlobStoreUnavailable):
        store.get("labels/x.pdf")
