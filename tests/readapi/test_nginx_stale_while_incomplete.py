"""nginx in front of the query API while a view rebuilds from empty: the last good copy.

The query API answers 503 view-incomplete for a view that lost its keys; nginx
(infra/nginx) serves the copy it holds instead, and passes the 503 on for what it does not
hold. Never a 404.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace import redis_views
from projections.log import ContextLog
from projections.product_detail.projection import ProductDetailProjection
from projections.runtime import Worker
from projections.stores.redis.unit import delete_matching
from tests.conftest import free_port
from tests.readapi.conftest import Reader
from tests.readapi.test_nginx_cache import ONE_SECOND_FRESH, start_query_api, until_not_hit
from tests.support.nginx import LocalNginx, ensure_nginx

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


def test_a_stale_copy_is_served_while_the_view_rebuilds_from_empty(
    reader: Reader, services_dir: Path
) -> None:
    products = [reader.stocked_product()[1] for _ in range(2)]
    settings = reader.settings
    view = redis_views.product_detail_view(settings, settings.redis.url)
    env = eventsourcing_env(Settings(), str(settings.postgres.url))
    logs = [ContextLog(env, name) for name in ProductDetailProjection.contexts]
    Worker(ProductDetailProjection(), view, logs).catch_up()
    api = start_query_api(settings, services_dir / f"rebuilding-{uuid.uuid4().hex}.log")
    nginx = LocalNginx(
        Path(tempfile.mkdtemp(prefix="marketplace-nginx-")),
        free_port(),
        api.address,
        free_port(),
        cache_extra=ONE_SECOND_FRESH,
        binary=ensure_nginx(),
    )
    try:
        nginx.start()
        with httpx.Client(base_url=nginx.url) as client:
            first = client.get(f"/v1/products/{products[0]}")
            delete_matching(view.client, f"{settings.redis.prefix}:*")
            stale = until_not_hit(client, f"/v1/products/{products[0]}")
            uncached = client.get(f"/v1/products/{products[1]}")
    finally:
        nginx.stop()
        shutil.rmtree(nginx.run_dir, ignore_errors=True)
        api.stop()
        view.client.close()
        for context_log in logs:
            context_log.close()

    assert (first.status_code, first.headers["x-cache-status"]) == (200, "MISS")
    assert (stale.status_code, stale.headers["x-cache-status"]) == (200, "STALE")
    assert stale.content == first.content
    assert uncached.status_code == 503
    assert uncached.json()["type"] == "urn:marketplace:problem:view-incomplete"
    assert uncached.headers["retry-after"] == "2"
