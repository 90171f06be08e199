"""`marketplace seed-demo`: loads a demo marketplace through the command API over HTTP.

Sellers and customers act with their own development tokens. Every request carries an
Idempotency-Key derived from the seed, so running the same seed again (within the
idempotency window) replays the first answers instead of writing twice.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from uuid import UUID

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from infra.auth import Role, TokenCodec
from infra.settings import Settings, load_settings
from loadtest.demo_catalog import DemoSeller, customer, product, seller, stock_quantity
from loadtest.root import Progress, Root

RETRY_STATUSES = {429, 502, 503, 504}
IN_PROGRESS = "urn:marketplace:problem:idempotency-in-progress"
ALREADY_EXISTS = "urn:marketplace:problem:conflict"


class Transient(Exception):
    """An answer worth retrying: busy server, or the same key still being processed."""


class DemoFailed(Exception):
    """The command API refused a demo command."""


@dataclass
class Tally:
    """What the load did."""

    requests: int = 0
    replayed: int = 0
    existing: int = 0
    units: int = 0
    addresses: int = 0
    categories: Counter[str] = field(default_factory=Counter)


class DemoLoader:
    """Sends the demo commands; thread-safe, one shared keep-alive connection pool."""

    def __init__(self, client: httpx.Client, codec: TokenCodec, seed: int) -> None:
        self.client = client
        self.codec = codec
        self.seed = seed
        self.tally = Tally()
        self._lock = threading.Lock()
        self._tokens: dict[UUID, str] = {}

    def post(
        self, path: str, actor: UUID, role: Role, body: dict[str, Any], key: str
    ) -> dict[str, Any]:
        """POST one command as actor, retrying transient failures; the JSON answer."""
        with self._lock:
            token = self._tokens.get(actor) or self._tokens.setdefault(
                actor, self.codec.issue(actor, role, ttl_seconds=6 * 3600)
            )
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"demo-{self.seed}-{key}"}
        for attempt in busy_api_retrying():
            with attempt:
                response = self.client.post(path, json=body, headers=headers)
                self._count(requests=1)
                if busy(response):
                    raise Transient(f"{path}: {response.status_code}")
        if response.headers.get("idempotent-replayed") == "true":
            self._count(replayed=1)
        if response.status_code == 409 and problem_type(response) == ALREADY_EXISTS:
            self._count(existing=1)
            return {}
        if response.status_code >= 400:
            raise DemoFailed(f"POST {path} answered {response.status_code}: {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    def register_seller(self, demo: DemoSeller) -> None:
        """Register one seller under its own token."""
        self.post("/v1/sellers", demo.id, "seller", demo.body, "seller")

    def list_and_stock(self, index: int, sellers: list[DemoSeller]) -> None:
        """List the index-th product, then receive its first stock."""
        owner, body = product(self.seed, index, sellers)
        listed = self.post("/v1/products", owner.id, "seller", body, f"product-{index}")
        quantity = stock_quantity(self.seed, index)
        self.post(
            f"/v1/products/{listed['id']}/stock/receipts",
            owner.id,
            "seller",
            {"quantity": quantity},
            f"stock-{index}",
        )
        self._count(units=quantity, category=body["category"])

    def register_customer(self, index: int) -> None:
        """Register the index-th customer and add their addresses, one after the other."""
        customer_id, body, addresses = customer(self.seed, index)
        self.post("/v1/customers", customer_id, "shopper", body, "customer")
        for address_id, address in addresses:
            path = f"/v1/customers/{customer_id}/addresses/{address_id}"
            self.post(path, customer_id, "shopper", address, f"address-{address_id}")
            self._count(addresses=1)

    def _count(self, category: str | None = None, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self.tally, name, getattr(self.tally, name) + amount)
            if category is not None:
                self.tally.categories[category] += 1


def busy_api_retrying() -> Retrying:
    """Retries of one command while the API is busy: jittered, 8 attempts, same key."""
    return Retrying(
        retry=retry_if_exception_type((Transient, httpx.TransportError)),
        stop=stop_after_attempt(8),
        wait=wait_exponential_jitter(initial=0.1, max=3.0),
        reraise=True,
    )


def busy(response: httpx.Response) -> bool:
    """Whether the answer says: try the same request again later."""
    return response.status_code in RETRY_STATUSES or problem_type(response) == IN_PROGRESS


def problem_type(response: httpx.Response) -> str | None:
    """The type of a problem+json answer, or None."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    kind = response.json().get("type")
    return kind if isinstance(kind, str) else None


def positions(client: httpx.Client) -> dict[str, int]:
    """The last position of every event log, from /health/ready."""
    response = client.get("/health/ready")
    response.raise_for_status()
    found: dict[str, int] = response.json()["positions"]
    return found


def run_all(
    pool: ThreadPoolExecutor,
    tasks: Iterable[Callable[[], None]],
    finished: Callable[[Future[None]], None] = lambda _: None,
) -> None:
    """Run the tasks on the pool, calling finished as each ends; on the first failure cancel
    those not started and raise it."""
    futures = [pool.submit(task) for task in tasks]
    for future in futures:
        future.add_done_callback(finished)
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for future in pending:
        future.cancel()
    for future in done:
        future.result()


def load(
    url: str,
    codec: TokenCodec,
    *,
    sellers: int,
    products: int,
    customers: int,
    seed: int,
    concurrency: int,
    progress: Progress | None = None,
) -> tuple[Tally, dict[str, int], dict[str, int]]:
    """Load the demo, showing each seller, product and customer done on progress; the tally
    and the log positions before and after."""
    counter = itertools.count(1)

    def finished(_: Future[None]) -> None:
        done = next(counter)
        if progress is not None:
            progress.update(done)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(base_url=url, limits=limits, timeout=30.0) as client,
        ThreadPoolExecutor(concurrency, thread_name_prefix="seed") as pool,
    ):
        before = positions(client)
        loader = DemoLoader(client, codec, seed)
        demo_sellers = [seller(seed, i) for i in range(sellers)]
        run_all(pool, [partial(loader.register_seller, s) for s in demo_sellers], finished)
        run_all(
            pool,
            [
                *(partial(loader.list_and_stock, i, demo_sellers) for i in range(products)),
                *(partial(loader.register_customer, i) for i in range(customers)),
            ],
            finished,
        )
        after = positions(client)
    return loader.tally, before, after


def summary(
    tally: Tally,
    counts: dict[str, int],
    before: dict[str, int],
    after: dict[str, int],
    elapsed: float,
) -> str:
    """The human-readable report of a load."""
    grown = ", ".join(f"{log} +{after[log] - before.get(log, 0)}" for log in sorted(after))
    lines = [
        f"seeded the demo marketplace in {elapsed:.1f}s",
        f"  sellers    {counts['sellers']}",
        f"  products   {counts['products']} in {len(tally.categories)} categories",
        f"  stock      {counts['products']} receipts, {tally.units} units",
        f"  customers  {counts['customers']} with {tally.addresses} addresses",
        f"  requests   {tally.requests} ({tally.requests / max(elapsed, 1e-9):.0f}/s), "
        f"{tally.replayed} replayed, {tally.existing} already existing",
        f"  events     {grown}",
    ]
    return "\n".join(lines)


def seed_demo(
    root: Root,
    url: str | None = None,
    sellers: int = 36,
    products: int = 3000,
    customers: int = 120,
    seed: int = 42,
    concurrency: int = 16,
    settings: Settings | None = None,
) -> int:
    """Load the demo marketplace and print a summary; the process exit code."""
    if sellers < 1 or products < 0 or customers < 0 or concurrency < 1:
        print("seed-demo needs at least one seller and non-negative counts")
        return 2
    settings = settings or load_settings()
    base = (url or root.api_url(settings, settings.http.write_api_port)).rstrip("/")
    print(f"seeding {sellers} sellers, {products} products, {customers} customers into {base}")
    started = time.perf_counter()
    progress = root.progress("seed-demo", sellers + products + customers, "items")
    try:
        tally, before, after = load(
            base,
            root.token_codec(settings),
            sellers=sellers,
            products=products,
            customers=customers,
            seed=seed,
            concurrency=concurrency,
            progress=progress,
        )
    except (DemoFailed, httpx.HTTPError) as error:
        progress.close()
        print(f"seed-demo failed: {error}")
        return 1
    progress.close()
    counts = {"sellers": sellers, "products": products, "customers": customers}
    print(summary(tally, counts, before, after, time.perf_counter() - started), flush=True)
    return 0
