"""nginx (infra/nginx) caching a real `marketplace serve-read` process, on loopback.

The query API serves a catalogue projected into real PostgreSQL and Redis views. Each test
starts its own nginx (a fraction of a second) with an empty cache, and reads nginx's JSON
access log to see which requests reached the query API.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from commands.services import Commands
from domain.base import Context
from infra.eventstore import eventsourcing_env, with_search_path
from infra.settings import Settings
from marketplace import catalog_search
from projections.carts.projection import CartProjection
from projections.catalog_search.projection import CatalogSearchProjection
from projections.log import ContextLog
from projections.runtime import Worker
from tests.conftest import free_port
from tests.e2e.stack import marketplace
from tests.readapi.conftest import Reader, open_reader, read_settings
from tests.support.nginx import LocalNginx, NginxBinary, ensure_nginx

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

START_TIMEOUT = 60.0
WAIT_TIMEOUT = 5.0
BURST = 32
ONE_SECOND_FRESH = "proxy_ignore_headers Cache-Control Expires;\n        proxy_cache_valid 200 1s;"
"""Entries fresh for one second instead of the query API's max-age, so expiry comes quickly."""
CACHE_HEADER = struct.Struct("<QqqqqqIHHHB")
"""The head of an nginx cache file (ngx_http_file_cache_header_t, cache format version 5):
version, valid_sec, updating_sec, error_sec, last_modified, date, crc32, valid_msec,
header_start, body_start, etag_len; the ETag follows."""


@dataclass
class QueryApi:
    """One `marketplace serve-read` process and what its views hold."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(30)


@dataclass
class Shop:
    """The query API, the reader that fed its views, and ids in them."""

    api: QueryApi
    reader: Reader
    settings: Settings
    products: list[uuid.UUID]
    sellers: dict[uuid.UUID, uuid.UUID]
    shopper: uuid.UUID
    cart: uuid.UUID

    def auth(self) -> dict[str, str]:
        return self.reader.auth(self.shopper, "shopper")


def start_query_api(settings: Settings, log: Path, blob_dir: Path | None = None) -> QueryApi:
    """`marketplace serve-read` on a free port, as an operator runs it, once it is ready;
    with a local blob store in blob_dir, if given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARKETPLACE_")}
    env.update(
        MARKETPLACE_ENVIRONMENT="test",
        MARKETPLACE_POSTGRES_URL=str(settings.postgres.url),
        MARKETPLACE_REDIS_URL=str(settings.redis.url),
        MARKETPLACE_REDIS_PREFIX=settings.redis.prefix,
        MARKETPLACE_LOG_LEVEL="WARNING",
    )
    if blob_dir is not None:
        env["MARKETPLACE_BLOB_DIR"] = str(blob_dir)
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            marketplace("serve-read", "--port", str(port), "--workers", "1"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    api = QueryApi(process, port, log)
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve-read exited with {process.returncode}:\n{log.read_text()}")
            with suppress(httpx.TransportError):
                if client.get(f"http://{api.address}/health/ready").status_code == 200:
                    return api
            if time.monotonic() > deadline:
                api.stop()
                pytest.fail(f"serve-read not ready within {START_TIMEOUT}s:\n{log.read_text()}")
            time.sleep(0.1)


def context_as(who: uuid.UUID, role: str) -> Context:
    return Context(datetime.now(UTC), str(who), role, "req", "corr", "cause")


@pytest.fixture(scope="module")
async def shop(postgres_server: str, redis_server: str, services_dir: Path) -> AsyncIterator[Shop]:
    """Six products, a cart and a query API process over them, for the whole module."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    postgres_url = with_search_path(postgres_server, schema)
    settings = read_settings(postgres_url, redis_server)
    env = eventsourcing_env(Settings(), postgres_url)
    commands = Commands(env)
    try:
        async with open_reader(settings, commands) as reader:
            sellers = {
                product: seller for seller, product in (reader.stocked_product() for _ in range(6))
            }
            shopper = uuid.uuid4()
            outcome, _ = commands.carts.create_cart(shopper, context_as(shopper, "shopper"))
            product = next(iter(sellers))
            commands.add_to_cart(outcome.aggregate_id, product, 1, context_as(shopper, "shopper"))
            reader.project()
            search_view = catalog_search.projector_view(settings, postgres_url)
            cart_view = reader.deps.carts.view
            search_logs = [ContextLog(env, name) for name in CatalogSearchProjection.contexts]
            cart_logs = [ContextLog(env, name) for name in reader.deps.carts.logs]
            try:
                Worker(CatalogSearchProjection(), search_view, search_logs).catch_up()
                Worker(CartProjection(), cart_view, cart_logs).catch_up()
                api = start_query_api(settings, services_dir / f"serve-read-{schema}.log")
                try:
                    yield Shop(
                        api, reader, settings, list(sellers), sellers, shopper, outcome.aggregate_id
                    )
                finally:
                    api.stop()
            finally:
                cart_view.clear()
                catalog_search.close_view(search_view)
                for context_log in [*search_logs, *cart_logs]:
                    context_log.close()
    finally:
        commands.close()
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def nginx_binary() -> NginxBinary:
    """nginx from PATH, or the Debian package fetched once into ~/.cache/marketplace/nginx."""
    return ensure_nginx()


@pytest.fixture
def proxy(shop: Shop, nginx_binary: NginxBinary) -> Iterator[Callable[..., LocalNginx]]:
    """Starts nginx in front of a query API (the module's, unless told), with an empty cache."""
    started: list[LocalNginx] = []

    def start(upstream: str | None = None, cache_extra: str = "") -> LocalNginx:
        server = LocalNginx(
            Path(tempfile.mkdtemp(prefix="marketplace-nginx-")),
            free_port(),
            upstream or shop.api.address,
            free_port(),
            cache_extra=cache_extra,
            binary=nginx_binary,
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
        shutil.rmtree(server.run_dir, ignore_errors=True)


def access_log(nginx: LocalNginx, uri: str, count: int) -> list[dict[str, Any]]:
    """The access-log lines for uri, once there are count of them (nginx logs after answering)."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        lines = [json.loads(line) for line in nginx.access_log.read_text().splitlines()]
        found = [line for line in lines if line["uri"] == uri]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def upstream_requests(nginx: LocalNginx, uri: str, count: int) -> int:
    """How many of the first count requests for uri nginx sent to the query API."""
    return sum(1 for line in access_log(nginx, uri, count) if line["upstream_addr"])


def cache_header(nginx: LocalNginx, uri: str) -> tuple[int, int, bytes]:
    """valid_sec, date and ETag of the cache file nginx keeps for uri."""
    key = f"\nKEY: httpquery_api{uri}\n".encode()
    files = [path for path in nginx.cache_path.rglob("*") if path.is_file()]
    [data] = [data for data in (path.read_bytes() for path in files) if key in data]
    version, valid_sec, _, _, _, date, *_, etag_len = CACHE_HEADER.unpack_from(data)
    assert version == 5, f"unknown nginx cache file format {version}"
    return valid_sec, date, data[CACHE_HEADER.size : CACHE_HEADER.size + etag_len]


def until_not_hit(client: httpx.Client, uri: str, **headers: str) -> httpx.Response:
    """Ask again until nginx no longer answers from a fresh entry."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        response = client.get(uri, headers=headers)
        if response.headers.get("x-cache-status") != "HIT" or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("route", "max_age"), [("product", 60), ("search", 30)], ids=["product", "search"]
)
def test_a_public_read_is_a_miss_then_a_hit_for_its_max_age(
    shop: Shop, proxy: Callable[..., LocalNginx], route: str, max_age: int
) -> None:
    nginx = proxy()
    uri = f"/v1/products/{shop.products[0]}" if route == "product" else "/v1/search?q=lamp"
    with httpx.Client(base_url=nginx.url) as client:
        before = time.time()
        first = client.get(uri)
        after = time.time()
        second = client.get(uri)

    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == f"public, max-age={max_age}"
    assert upstream_requests(nginx, uri, 2) == 1
    valid_sec, date, etag = cache_header(nginx, uri)
    assert int(before) + max_age - 1 <= valid_sec <= int(after) + max_age
    assert valid_sec - date in (max_age - 1, max_age)
    assert etag.decode() == first.headers["etag"]


def test_private_and_authenticated_reads_are_never_cached(
    shop: Shop, proxy: Callable[..., LocalNginx]
) -> None:
    nginx = proxy()
    me, cart = "/v1/me", f"/v1/carts/{shop.cart}"
    product = f"/v1/products/{shop.products[1]}"
    position = {"X-Min-Position": f"{shop.reader.deps.product_detail.logs[0]}:1"}
    with httpx.Client(base_url=nginx.url, headers=shop.auth()) as client:
        privates = [client.get(uri) for uri in (me, me, cart, cart)]
        authenticated = [client.get(product), client.get(product)]
        anonymous = httpx.Client(base_url=nginx.url)
        read_your_writes = anonymous.get(product, headers=position)
        miss = anonymous.get(product)
        with_cookie = anonymous.get(product, headers={"Cookie": "session=abc"})
        anonymous.close()

    for response in privates:
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "private, no-store"
        assert "x-cache-status" not in response.headers
    assert privates[2].json()["shopper_id"] == str(shop.shopper)
    assert upstream_requests(nginx, me, 2) == 2
    assert upstream_requests(nginx, cart, 2) == 2
    # Nothing the bypassing requests fetched was stored: the first anonymous read misses.
    statuses = [r.headers["x-cache-status"] for r in [*authenticated, read_your_writes, miss]]
    assert statuses == ["BYPASS", "BYPASS", "BYPASS", "MISS"]
    assert read_your_writes.headers["x-consistency"] == "fresh"
    assert with_cookie.headers["x-cache-status"] == "HIT"
    assert upstream_requests(nginx, product, 5) == 4


def test_an_expired_entry_is_revalidated_with_its_etag(
    shop: Shop, proxy: Callable[..., LocalNginx]
) -> None:
    nginx = proxy(cache_extra=ONE_SECOND_FRESH)
    product = shop.products[2]
    uri = f"/v1/products/{product}"
    with httpx.Client(base_url=nginx.url) as client:
        first = client.get(uri)
        etag = first.headers["etag"]
        assert (first.headers["x-cache-status"], client.get(uri).headers["x-cache-status"]) == (
            "MISS",
            "HIT",
        )

        revalidated = until_not_hit(client, uri)
        assert revalidated.headers["x-cache-status"] == "REVALIDATED"
        assert access_log(nginx, uri, 3)[-1]["upstream_status"] == "304"
        assert (revalidated.content, revalidated.headers["etag"]) == (first.content, etag)

        not_modified = client.get(uri, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.headers["x-cache-status"] == "HIT"
        assert (not_modified.content, not_modified.headers["etag"]) == (b"", etag)

        shop.reader.receive(shop.sellers[product], product, 5)
        shop.reader.project()
        refetched = until_not_hit(client, uri, **{"If-None-Match": etag})

    assert refetched.status_code == 200
    assert refetched.headers["x-cache-status"] == "EXPIRED"
    assert refetched.headers["etag"] != etag
    assert refetched.json()["units_available"] == first.json()["units_available"] + 5


def test_a_stale_copy_is_served_while_the_query_api_is_down(
    shop: Shop, proxy: Callable[..., LocalNginx], services_dir: Path
) -> None:
    doomed = start_query_api(shop.settings, services_dir / f"doomed-{uuid.uuid4().hex}.log")
    try:
        nginx = proxy(upstream=doomed.address, cache_extra=ONE_SECOND_FRESH)
        uri = f"/v1/products/{shop.products[3]}"
        with httpx.Client(base_url=nginx.url) as client:
            first = client.get(uri)
            doomed.signal(signal.SIGKILL)
            doomed.process.wait(30)
            stale = until_not_hit(client, uri)
            unknown = client.get(f"/v1/products/{uuid.uuid4()}")
    finally:
        doomed.stop()

    assert first.headers["x-cache-status"] == "MISS"
    assert (stale.status_code, stale.headers["x-cache-status"]) == (200, "STALE")
    assert stale.content == first.content
    assert unknown.status_code == 502


async def test_a_burst_for_one_uncached_product_sends_one_request_upstream(
    shop: Shop, proxy: Callable[..., LocalNginx]
) -> None:
    nginx = proxy()
    uri = f"/v1/products/{shop.products[4]}"
    limits = httpx.Limits(max_connections=BURST + 1)
    async with httpx.AsyncClient(base_url=nginx.url, timeout=20.0, limits=limits) as client:
        # The query API is paused, so every request is inside nginx before one is answered.
        shop.api.signal(signal.SIGSTOP)
        try:
            burst = [asyncio.create_task(client.get(uri)) for _ in range(BURST)]
            await requests_in_flight(client, nginx, BURST)
        finally:
            shop.api.signal(signal.SIGCONT)
        responses = await asyncio.wait_for(asyncio.gather(*burst), 20.0)

    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    statuses = Counter(response.headers["x-cache-status"] for response in responses)
    assert statuses == {"MISS": 1, "HIT": BURST - 1}
    assert upstream_requests(nginx, uri, BURST) == 1


async def requests_in_flight(client: httpx.AsyncClient, nginx: LocalNginx, count: int) -> None:
    """Wait until nginx is answering count requests besides this status request."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    writing = 0
    while time.monotonic() < deadline:
        status = (await client.get(nginx.status_url)).text
        match = re.search(r"Writing: (\d+)", status)
        writing = int(match.group(1)) - 1 if match else 0
        if writing >= count:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"only {writing} of {count} requests reached nginx within {WAIT_TIMEOUT}s")
