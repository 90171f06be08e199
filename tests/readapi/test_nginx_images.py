"""nginx (infra/nginx) in front of a real `marketplace serve-read`: product images are kept
as immutable, answered with their ETag, and served from the cache with the query API gone."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from infra.blobs import LocalBlobStore
from tests.conftest import free_port
from tests.readapi.conftest import Reader
from tests.readapi.test_nginx_cache import start_query_api
from tests.support.images import encoded, picture
from tests.support.nginx import LocalNginx, ensure_nginx

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

IMMUTABLE = "public, max-age=31536000, immutable"


def test_an_image_is_cached_for_a_year_revalidated_by_etag_and_outlives_the_api(
    reader: Reader, services_dir: Path
) -> None:
    data = encoded(picture(64, 48), "webp")
    digest = hashlib.sha256(data).hexdigest()
    blob_dir = services_dir / f"blobs-{uuid.uuid4().hex}"
    LocalBlobStore(blob_dir).put(f"images/{digest}.webp", data, "image/webp")
    log = services_dir / f"images-{uuid.uuid4().hex}.log"
    api = start_query_api(reader.settings, log, blob_dir)
    nginx = LocalNginx(
        Path(tempfile.mkdtemp(prefix="marketplace-nginx-")),
        free_port(),
        api.address,
        free_port(),
        binary=ensure_nginx(),
    )
    uri = f"/images/{digest}.webp"
    try:
        nginx.start()
        with httpx.Client(base_url=nginx.url) as client:
            first = client.get(uri)
            second = client.get(uri)
            revalidated = client.get(uri, headers={"If-None-Match": f'"{digest}"'})
            missing = client.get(f"/images/{'0' * 64}.jpg")
            api.stop()
            without_api = client.get(uri)
    finally:
        nginx.stop()
        shutil.rmtree(nginx.run_dir, ignore_errors=True)
        api.stop()

    assert (first.status_code, first.headers["x-cache-status"]) == (200, "MISS")
    assert first.content == data
    assert first.headers["content-type"] == "image/webp"
    assert first.headers["cache-control"] == IMMUTABLE
    assert first.headers["etag"] == f'"{digest}"'
    assert (second.status_code, second.headers["x-cache-status"]) == (200, "HIT")
    assert second.content == data
    assert revalidated.status_code == 304
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "immutable" not in missing.headers.get("cache-control", "")
    assert (without_api.status_code, without_api.content) == (200, data)
