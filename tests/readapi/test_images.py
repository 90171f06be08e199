"""The query API serves image variants at their content-hashed paths, from a local folder or
S3 (a moto server): immutable, with their hash as ETag; a missing blob is a 404 problem."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from infra.blobs import BlobStore, LocalBlobStore, S3BlobStore, blob_store
from tests.conftest import free_port
from tests.contract.test_blob_store import s3_endpoint, s3_settings  # noqa: F401
from tests.readapi.conftest import Reader
from tests.support.images import encoded, picture

pytestmark = pytest.mark.postgres

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, reader: Reader, tmp_path: Path) -> BlobStore:
    """The reader's query API on a fresh blob store of each kind."""
    if request.param == "local":
        store: BlobStore = LocalBlobStore(tmp_path / "blobs")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        s3 = blob_store(s3_settings(endpoint, f"i-{uuid.uuid4().hex[:16]}"))
        assert isinstance(s3, S3BlobStore)
        s3.create_bucket()
        store = s3
    reader.deps.blobs = store
    return store


async def test_a_variant_is_served_immutable_with_its_hash_as_etag(
    reader: Reader, blobs: BlobStore
) -> None:
    data = encoded(picture(40, 30), "jpeg")
    digest = hashlib.sha256(data).hexdigest()
    blobs.put(f"images/{digest}.jpg", data, "image/jpeg")

    response = await reader.client.get(f"/images/{digest}.jpg")
    again = await reader.client.get(
        f"/images/{digest}.jpg", headers={"If-None-Match": response.headers["etag"]}
    )

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["etag"] == f'"{digest}"'
    assert again.status_code == 304
    assert again.content == b""


async def test_a_missing_blob_is_a_404_problem_not_a_500(reader: Reader, blobs: BlobStore) -> None:
    response = await reader.client.get(f"/images/{'a' * 64}.webp")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("image-missing")
    assert "immutable" not in response.headers.get("cache-control", "")


@pytest.mark.parametrize("name", ["x.webp", f"{'a' * 64}.png", f"{'A' * 64}.jpg", "..%2Fsecret"])
async def test_a_name_that_is_no_rendition_is_refused(reader: Reader, name: str) -> None:
    response = await reader.client.get(f"/images/{name}")

    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unreachable_blob_store_is_a_503_with_retry_after(reader: Reader) -> None:
    nowhere = s3_settings(f"http://127.0.0.1:{free_port()}", "nowhere")
    reader.deps.blobs = blob_store(nowhere)

    response = await reader.client.get(f"/images/{'b' * 64}.webp")

    assert response.status_code == 503
    assert response.headers["retry-after"]
