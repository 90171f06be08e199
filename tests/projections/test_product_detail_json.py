"""Contract: the product JSON the Redis read script renders is the query API's ProductDetail.

The query API serves READ_PRODUCT_JSON's bytes as they come, so nothing else checks them
against readapi.schemas.ProductDetail; the script also computes units available in Lua,
which must agree with projections.product_detail.projection.units_available.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis
import redis.asyncio

from commands.services import Commands
from domain.base import Context
from domain.inventory import stock_item_id
from domain.money import Money
from projections.log import ContextLog
from projections.product_detail.projection import ProductDetailProjection, units_available
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Worker
from readapi.schemas import ProductDetail

pytestmark = pytest.mark.postgres

LATER = timedelta(minutes=5)
ATTRIBUTES = {"color": "red", "size": "L", "note": 'ünïcode "quoted" ✓'}


@pytest.fixture
async def view(redis_server: str) -> AsyncIterator[RedisProductDetailView]:
    view = RedisProductDetailView(
        redis.Redis.from_url(redis_server),
        f"t{uuid.uuid4().hex[:8]}",
        redis.asyncio.Redis.from_url(redis_server),
    )
    yield view
    view.clear()
    await view.aclose()


def as_seller(seller: uuid.UUID) -> Context:
    return Context(datetime.now(UTC), str(seller), "seller", "req", "corr", "cause")


def shop(commands: Commands) -> dict[str, tuple[uuid.UUID, int]]:
    """Products in every state the document shows, with the units each should have available."""
    seller = uuid.uuid4()
    ctx = as_seller(seller)
    commands.catalog.register_seller(seller, 'Ünïcode "Acme" ✓', "a@acme.test", ctx)
    products = {name: uuid.uuid4() for name in ("in_stock", "sold_out", "delisted", "unstocked")}
    for name, product in products.items():
        described = ATTRIBUTES if name == "in_stock" else {}
        commands.catalog.list_product(
            product, seller, f"Lamp {name}", "", "home", described, Money(1999, "EUR"), ctx
        )
    later = datetime.now(UTC) + LATER
    in_stock, sold_out = products["in_stock"], products["sold_out"]
    commands.receive_stock(in_stock, 10, ctx)
    commands.receive_stock(sold_out, 2, ctx)
    commands.inventory.reserve(in_stock, uuid.uuid4(), 3, later, ctx)
    for product in (in_stock, sold_out):
        sale = uuid.uuid4()
        commands.inventory.reserve(product, sale, 2, later, ctx)
        commands.inventory.commit(product, sale, ctx)
    commands.inventory.adjust_stock(in_stock, -1, "broken", ctx)
    commands.receive_stock(products["delisted"], 4, ctx)
    commands.catalog.delist_product(products["delisted"], "recalled", ctx, None)
    expected = {"in_stock": 10 - 1 - 3 - 2, "sold_out": 0, "delisted": 4, "unstocked": 0}
    return {name: (product, expected[name]) for name, product in products.items()}


async def test_rendered_documents_are_product_details(
    env: dict[str, str], view: RedisProductDetailView
) -> None:
    commands = Commands(env)
    try:
        products = shop(commands)
    finally:
        commands.close()
    logs = [ContextLog(env, "catalog"), ContextLog(env, "inventory")]
    Worker(ProductDetailProjection(), view, logs, batch_size=7).catch_up()

    for name, (product, expected) in products.items():
        body = await view.product_json_async(str(product))
        assert body is not None, name
        detail = ProductDetail.model_validate_json(body, strict=True)
        counters = view.client.hmget(
            view.keys.stock(stock_item_id(product)), "received", "reserved", "sold"
        )
        received, reserved, sold = (int(count or 0) for count in counters)
        assert detail.units_available == units_available(received, reserved, sold) == expected
        assert detail.id == product
        assert detail.delisted is (name == "delisted")
        assert detail.seller.name == 'Ünïcode "Acme" ✓'
        assert (detail.price.amount_minor, detail.price.currency) == (1999, "EUR")
        assert detail.attributes == (ATTRIBUTES if name == "in_stock" else {})
        python = view.product(product)
        assert python is not None
        assert detail.attributes == python["attributes"]
        assert detail.units_available == python["units_available"]
    assert (await view.product_json_async(str(uuid.uuid4()))) is None


@pytest.mark.parametrize(
    ("received", "reserved", "sold"),
    [(0, 0, 0), (7, 0, 0), (7, 7, 0), (7, 2, 5), (9, 3, 2), (2, 5, 0), (0, 0, 3), (-4, 0, 0)],
)
async def test_the_script_counts_units_available_as_python_does(
    view: RedisProductDetailView, received: int, reserved: int, sold: int
) -> None:
    product, seller = uuid.uuid4(), uuid.uuid4()
    fields = {
        "seller_id": str(seller),
        "title": "Lamp",
        "description": "",
        "category": "home",
        "attributes": {},
        "price_minor": 1,
        "currency": "EUR",
        "listed_at": datetime.now(UTC).isoformat(),
    }
    view.start_empty({"catalog": 0})
    with view.unit_of_work() as unit:
        unit.list_product(product, fields, 0)
        unit.open_stock(stock_item_id(product), product, 0)
        moves = {"received": received, "reserved": reserved, "sold": sold}
        unit.move_stock(stock_item_id(product), 1, **moves)
        unit.track("catalog", 0, 1)

    detail = ProductDetail.model_validate_json(
        await view.product_json_async(str(product)) or b"", strict=True
    )
    assert detail.units_available == units_available(received, reserved, sold)
    assert detail.seller.name is None


async def test_images_show_in_order_with_their_status_and_variants_as_python_shows_them(
    env: dict[str, str], view: RedisProductDetailView
) -> None:
    commands = Commands(env)
    try:
        product, images = gallery_shop(commands)
    finally:
        commands.close()
    logs = [ContextLog(env, "catalog"), ContextLog(env, "inventory")]
    Worker(ProductDetailProjection(), view, logs, batch_size=3).catch_up()

    body = await view.product_json_async(str(product))
    detail = ProductDetail.model_validate_json(body or b"", strict=True)
    ready, processing, failed = images
    assert [(i.id, i.status) for i in detail.images] == [
        (failed, "failed"),
        (ready, "ready"),
        (processing, "processing"),
    ]
    variants = detail.images[1].variants
    assert {name: (v.width, v.height) for name, v in variants.items()} == {
        "thumbnail": (200, 150),
        "card": (600, 450),
        "zoom": (1600, 1200),
    }
    assert variants["card"].webp == "/images/card.webp"
    assert variants["card"].jpeg == "/images/card.jpg"
    assert detail.images[0].variants == {}
    assert set(detail.images[2].variants) == {"zoom"}
    python = view.product(product)
    assert python is not None
    assert orjson.loads(body or b"")["images"] == python["images"]
    assert not any(name.startswith("image:") for name in python)


def gallery_shop(commands: Commands) -> tuple[uuid.UUID, tuple[uuid.UUID, ...]]:
    """A product with a ready, a processing, a failed and a removed image, reordered."""
    seller, product = uuid.uuid4(), uuid.uuid4()
    ctx = as_seller(seller)
    catalog = commands.catalog
    catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
    catalog.list_product(product, seller, "Lamp", "", "home", {}, Money(1999, "EUR"), ctx)
    ids = []
    for digit in "abcd":
        original = (digit * 64, "image/jpeg", 2000, 1500, 1000)
        catalog.add_product_image(product, f"originals/{digit}", original, 10, ctx)
        ids.append(list(catalog.gallery(product).images)[-1])
    ready, processing, failed, removed = ids
    sizes = {"zoom": (1600, 1200), "card": (600, 450), "thumbnail": (200, 150)}
    variants = [
        (name, size, {"webp": f"images/{name}.webp", "jpeg": f"images/{name}.jpg"})
        for name, size in sizes.items()
    ]
    catalog.record_image_variants(product, ready, variants, ctx)
    catalog.record_image_variants(product, processing, variants[:1], ctx)
    catalog.fail_product_image(product, failed, "cannot decode", ctx)
    catalog.remove_product_image(product, removed, ctx, None)
    catalog.reorder_product_images(product, [failed, ready, processing], ctx, None)
    return product, (ready, processing, failed)
