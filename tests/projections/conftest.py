"""Projector fault-test helpers: a stock workload, the projector process, replay and compare."""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from commands.services import Commands
from domain.base import Context
from domain.errors import DomainError
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from domain.product import Product
from domain.product_images import VARIANTS
from infra.eventstore import eventsourcing_env
from infra.settings import RedisSettings, Settings
from marketplace.projectors import redis_prefix
from projections.log import ContextLog
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Worker
from projections.stores.redis.unit import text
from tests.projections.orders_fixture import OrderDesk
from tests.worker_process import WorkerProcess

WAIT_SECONDS = 60.0
IMAGE_LIMIT = 6


def as_actor(actor: uuid.UUID) -> Context:
    return Context(datetime.now(UTC), str(actor), "seller", "req", "corr", "cause")


@dataclass
class Workload:
    """Sellers, products, and random stock moves, price and image changes through the command
    side.

    Each step is one command: a product's stock item or price changed by a burst of one to
    max_burst domain operations, appended together as one write (as a bulk import would).
    """

    commands: Commands
    rng: random.Random
    max_burst: int = 20
    products: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open_shop(self, sellers: int, products: int) -> None:
        """Register sellers and list products, each with some stock."""
        owners = [uuid.uuid4() for _ in range(sellers)]
        catalog = self.commands.catalog
        for n, seller in enumerate(owners):
            catalog.register_seller(seller, f"Seller {n}", f"s{n}@x.test", as_actor(seller))
        for n in range(products):
            seller, product = owners[n % sellers], uuid.uuid4()
            price = Money(1000 + n, "EUR")
            attributes = {"n": str(n)}
            ctx = as_actor(seller)
            catalog.list_product(product, seller, f"Item {n}", "d", "home", attributes, price, ctx)
            self.commands.receive_stock(product, 50, ctx)
            self.products[product] = seller
        self.events += sellers + products * 3

    def step(self) -> None:
        """One command changing one product's stock (mostly) or price by a burst of events."""
        with self.lock:
            self._step()

    def _step(self) -> None:
        product = self.rng.choice(list(self.products))
        ctx = as_actor(self.products[product])
        burst = self.rng.randint(1, self.max_burst)
        moves = [self.rng.random() for _ in range(burst)]
        done = 0

        def reprice(item: Product) -> None:
            nonlocal done
            done = 0
            for roll in moves:
                item.change_price(Money(int(roll * 99_999) + 1, "EUR"), ctx)
                done += 1

        def change_gallery(item: Product) -> None:
            nonlocal done
            done = 0
            for roll in moves:
                done += gallery_move(item, roll, ctx)

        def move_stock(item: StockItem) -> None:
            nonlocal done
            done = 0
            for roll in moves:
                done += stock_move(item, roll, ctx)

        if moves[0] < 0.1:
            self.commands.catalog.change(product, Product, reprice)
        elif moves[0] < 0.2:
            self.commands.catalog.change(product, Product, change_gallery)
        else:
            self.commands.inventory.change(stock_item_id(product), StockItem, move_stock)
        self.events += done

    def run(self, events: int) -> None:
        """Append at least that many events."""
        target = self.events + events
        while self.events < target:
            self.step()


def gallery_move(item: Product, roll: float, ctx: Context) -> int:
    """Add, render a variant of, fail, reorder or remove an image, chosen by roll; the events
    emitted (0 or 1)."""
    images = sorted(item.gallery.images)
    pick = images[int(roll * 1000) % len(images)] if images else None
    before = item.version
    try:
        if roll < 0.3 or pick is None:
            image_id = uuid.uuid4()
            digest = hashlib.sha256(image_id.bytes).hexdigest()
            original = (digest, "image/jpeg", 2400, 1800, 1000)
            item.add_image(image_id, f"originals/{digest}", original, IMAGE_LIMIT, ctx)
        elif roll < 0.75:
            name, bound = sorted(VARIANTS.items())[int(roll * 100) % len(VARIANTS)]
            keys = {"webp": f"images/{pick.hex}-{name}.webp", "jpeg": f"images/{pick.hex}.jpg"}
            item.record_variant(pick, name, (bound, bound * 3 // 4), keys, ctx)
        elif roll < 0.85:
            item.fail_image(pick, "cannot decode the image", ctx)
        elif roll < 0.93:
            item.reorder_images(images[::-1], ctx)
        else:
            item.remove_image(pick, ctx)
    except DomainError:
        return 0
    return item.version - before


def stock_move(item: StockItem, roll: float, ctx: Context) -> int:
    """Receive, reserve, commit, release or adjust, chosen by roll; the events emitted (0 or 1)."""
    held = sorted(item.reservations)
    pick = held[int(roll * 1000) % len(held)] if held else None
    try:
        if roll < 0.25:
            item.receive(int(roll * 80) + 1, ctx)
        elif roll < 0.55:
            item.reserve(uuid.uuid4(), int(roll * 10) % 5 + 1, ctx.at + timedelta(hours=1), ctx)
        elif roll < 0.7 and pick:
            item.commit(pick, ctx)
        elif roll < 0.85 and pick:
            item.release(pick, "gone", ctx)
        else:
            item.adjust(1 if roll < 0.95 else -1, "count", ctx)
    except DomainError:
        return 0
    return 1


class Appender:
    """Keeps a workload appending in a background thread, a step every so often, until stopped."""

    def __init__(self, workload: Workload, every: float = 0.0) -> None:
        self.workload = workload
        self.every = every
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Appender:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the appender did not stop"
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while not self.stopping.wait(self.every):
                self.workload.step()
        except BaseException as error:
            self.error = error


def projector_process(
    postgres_url: str, redis_url: str, prefix: str, output: Path, batch_size: int = 1000
) -> WorkerProcess:
    """`marketplace project product-detail` as a child process (not started yet)."""
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_REDIS_URL": redis_url,
        "MARKETPLACE_REDIS_PREFIX": prefix,
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }
    args = ["project", "product-detail", "--batch-size", str(batch_size)]
    return WorkerProcess(args, env, output)


def heads(commands: Commands) -> dict[str, int]:
    """The head of each log the product-detail projection follows."""
    return {
        app.log_name: app.recorder.max_notification_id() or 0
        for app in (commands.catalog, commands.inventory)
    }


def wait_until_caught_up(
    view: RedisProductDetailView,
    commands: Commands,
    projector: WorkerProcess | None = None,
    timeout: float = WAIT_SECONDS,
) -> dict[str, int]:
    """Poll the view's positions until they reach the log heads; fail after timeout."""
    target = heads(commands)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            positions = view.positions()
        except redis.ConnectionError:
            positions = {}
        if all(positions.get(name, 0) >= head for name, head in target.items()):
            return positions
        if projector is not None and not projector.alive():
            pytest.fail(f"projector exited: {projector.log()}")
        if time.monotonic() > deadline:
            log = projector.log() if projector else ""
            pytest.fail(f"view at {positions}, logs at {target} after {timeout}s\n{log}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def replay(postgres_url: str, client: redis.Redis, prefix: str) -> RedisProductDetailView:
    """A full replay of both logs into a fresh prefix by an in-process worker."""
    env = eventsourcing_env(Settings(), postgres_url)
    logs = [ContextLog(env, "catalog"), ContextLog(env, "inventory")]
    view = RedisProductDetailView(client, prefix)
    view.clear()
    try:
        Worker(ProductDetailProjection(), view, logs, batch_size=500).catch_up()
    finally:
        for context_log in logs:
            context_log.close()
    return view


def dump(view: RedisProductDetailView) -> dict[str, dict[str, str]]:
    """Every hash of the view, keyed without the prefix."""
    prefix = f"{view.keys.prefix}:"
    out: dict[str, dict[str, str]] = {}
    for key in view.client.scan_iter(match=f"{prefix}*", count=1000):
        name = text(key)
        fields = view.client.hgetall(name)
        out[name.removeprefix(prefix)] = {text(k): text(v) for k, v in fields.items()}
    return out


def documents(view: RedisProductDetailView, products: Any) -> dict[uuid.UUID, Any]:
    """The product document of each product."""
    return {product: view.product(product) for product in products}


def assert_same_view(
    view: RedisProductDetailView, replayed: RedisProductDetailView, workload: Workload
) -> None:
    """Every product document, every hash and the positions equal the full replay's."""
    assert view.positions() == replayed.positions()
    assert documents(view, workload.products) == documents(replayed, workload.products)
    assert dump(view) == dump(replayed)


def assert_matches_domain(view: RedisProductDetailView, workload: Workload) -> None:
    """units_available equals the aggregate's available units for every product."""
    for product in workload.products:
        doc = view.product(product)
        assert doc is not None
        assert doc["units_available"] == workload.commands.inventory.stock_of(product).available


@pytest.fixture
def commands(postgres_url: str) -> Iterator[Commands]:
    commands = Commands(eventsourcing_env(Settings(), postgres_url))
    yield commands
    commands.close()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def view_prefix(prefix: str) -> str:
    """The key prefix `project product-detail` writes under for MARKETPLACE_REDIS_PREFIX=prefix."""
    return redis_prefix(Settings(redis=RedisSettings(prefix=prefix)), ProductDetailProjection.name)


@pytest.fixture
def env(postgres_url: str) -> dict[str, str]:
    """The event store's environment on this test's schema."""
    return eventsourcing_env(Settings(), postgres_url)


@pytest.fixture
def desk(env: dict[str, str]) -> Iterator[OrderDesk]:
    """An order desk on the command side of this test's schema."""
    commands = Commands(env)
    yield OrderDesk(commands)
    commands.close()
