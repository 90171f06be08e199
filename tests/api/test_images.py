"""Uploading product images: checked from the bytes, stored, recorded; refused uploads leave
no blob and no event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from domain.product import Product
from infra.blobs import LocalBlobStore
from tests.api.conftest import BASE_URL, Api, command_api
from tests.support.images import FORMATS, encoded, picture, png_bomb, truncated_jpeg

pytestmark = pytest.mark.postgres

MAX_UPLOAD_BYTES = 256 * 1024
MAX_PER_PRODUCT = 3


@pytest.fixture(scope="module")
async def api(
    module_postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    """A command API whose uploads go to a folder of its own, with small limits."""
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    limits = {"max_upload_bytes": MAX_UPLOAD_BYTES, "max_per_product": MAX_PER_PRODUCT}
    with command_api(module_postgres_url, blobs=blobs, images=limits) as (deps, app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Api(module_postgres_url, deps, app, client)


async def product_of_new_seller(api: Api) -> tuple[UUID, UUID]:
    seller = uuid4()
    await api.register_seller(seller)
    return seller, await api.list_product(seller)


async def upload(
    api: Api,
    seller: UUID,
    product: UUID,
    data: bytes,
    name: str = "photo",
    content_type: str = "application/octet-stream",
    **headers: str,
) -> httpx.Response:
    return await api.client.post(
        f"/v1/products/{product}/images",
        files={"image": (name, data, content_type)},
        headers=api.auth(seller, "seller", **headers),
    )


def blob_files(api: Api) -> list[Path]:
    root = api.deps.blobs.root  # type: ignore[union-attr]
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", sorted(FORMATS))
async def test_an_image_of_each_supported_type_is_accepted_and_recorded(
    api: Api, kind: str
) -> None:
    seller, product = await product_of_new_seller(api)
    data = encoded(picture(320, 240), kind)

    response = await upload(api, seller, product, data, name="any-name.bin")

    assert response.status_code == 202, response.text
    body = response.json()
    added = api.deps.commands.catalog.load(product, Product)
    events = list(api.deps.commands.catalog.repository.event_store.get(product))
    recorded = events[-1]
    assert isinstance(recorded, Product.ImageAdded)
    assert recorded.content_hash == body["content_hash"]
    assert recorded.content_type == f"image/{kind}"
    assert (recorded.width, recorded.height, recorded.size_bytes) == (320, 240, len(data))
    assert str(recorded.image_id) == body["image_id"]
    assert api.deps.blobs.get(recorded.blob_key) == (data, f"image/{kind}")  # type: ignore[union-attr]
    assert list(added.gallery.images) == [recorded.image_id]
    assert response.headers["location"].endswith(f"/v1/products/{product}")


async def test_the_same_bytes_again_are_the_same_image(api: Api) -> None:
    seller, product = await product_of_new_seller(api)
    data = encoded(picture(64, 64), "png")
    first = await upload(api, seller, product, data)
    again = await upload(api, seller, product, data)

    assert first.status_code == again.status_code == 202
    assert first.json()["image_id"] == again.json()["image_id"]
    assert again.json()["position"] is None


async def test_a_png_named_for_what_it_is_is_recorded_as_a_png(api: Api) -> None:
    seller, product = await product_of_new_seller(api)
    png = encoded(picture(64, 64), "png")
    response = await upload(api, seller, product, png, "x.PNG", "image/png")

    assert response.status_code == 202, response.text
    gallery_event = list(api.deps.commands.catalog.repository.event_store.get(product))[-1]
    assert gallery_event.content_type == "image/png"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("x.jpg", "application/octet-stream"), ("x", "image/jpeg"), ("x.png", "image/jpg")],
)
async def test_a_png_claiming_to_be_a_jpeg_is_refused_and_leaves_nothing(
    api: Api, name: str, content_type: str
) -> None:
    seller, product = await product_of_new_seller(api)
    before_blobs, before = blob_files(api), api.positions()
    png = encoded(picture(64, 64), "png")

    response = await upload(api, seller, product, png, name, content_type)

    assert response.status_code == 415, response.text
    assert response.json()["type"].endswith("image-type-mismatch")
    assert "image/jpeg" in response.json()["detail"]
    assert blob_files(api) == before_blobs
    assert api.positions() == before


REFUSED = [
    (
        "oversized",
        lambda: encoded(picture(64, 64), "png") + b"\0" * MAX_UPLOAD_BYTES,
        413,
        "image-too-large",
    ),
    (
        "text named png",
        lambda: b"just some words, not pixels\n" * 10,
        415,
        "unsupported-image-type",
    ),
    ("decompression bomb", png_bomb, 422, "too-many-pixels"),
    ("truncated jpeg", truncated_jpeg, 422, "invalid-image"),
]


@pytest.mark.parametrize(("case", "make", "status", "slug"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_a_refused_upload_leaves_no_blob_and_no_event(
    api: Api, case: str, make: object, status: int, slug: str
) -> None:
    seller, product = await product_of_new_seller(api)
    before_blobs, before = blob_files(api), api.positions()

    response = await upload(api, seller, product, make(), name="photo.png")  # type: ignore[operator]

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(slug)
    assert blob_files(api) == before_blobs
    assert api.positions() == before


async def test_a_body_far_over_the_limit_is_cut_off_before_the_route(api: Api) -> None:
    seller, product = await product_of_new_seller(api)
    before_blobs, before = blob_files(api), api.positions()

    response = await upload(api, seller, product, b"\xff\xd8\xff" + b"\0" * 2 * MAX_UPLOAD_BYTES)

    assert response.status_code == 413
    assert blob_files(api) == before_blobs
    assert api.positions() == before


async def test_a_seller_cannot_upload_for_another_sellers_product(api: Api) -> None:
    _, product = await product_of_new_seller(api)
    stranger = uuid4()
    await api.register_seller(stranger)
    before_blobs, before = blob_files(api), api.positions()

    response = await upload(api, stranger, product, encoded(picture(64, 64), "png"))

    assert response.status_code == 403
    assert blob_files(api) == before_blobs
    assert api.positions() == before


async def test_an_admin_uploads_for_any_product(api: Api) -> None:
    _, product = await product_of_new_seller(api)
    response = await upload(api, uuid4(), product, encoded(picture(32, 32), "png"), **{})
    assert response.status_code == 403
    admin = await api.client.post(
        f"/v1/products/{product}/images",
        files={"image": ("a.png", encoded(picture(32, 32), "png"), "image/png")},
        headers=api.auth(uuid4(), "admin"),
    )
    assert admin.status_code == 202, admin.text


async def test_past_the_per_product_limit_nothing_is_left(api: Api) -> None:
    seller, product = await product_of_new_seller(api)
    for side in range(MAX_PER_PRODUCT):
        assert (
            await upload(api, seller, product, encoded(picture(40 + side, 40), "png"))
        ).is_success
    before_blobs, before = blob_files(api), api.positions()

    response = await upload(api, seller, product, encoded(picture(99, 40), "png"))

    assert response.status_code == 422
    assert response.json()["type"].endswith("too-many-images")
    assert blob_files(api) == before_blobs
    assert api.positions() == before


async def test_images_are_reordered_and_removed(api: Api) -> None:
    seller, product = await product_of_new_seller(api)
    ids = [
        (await upload(api, seller, product, encoded(picture(30 + n, 30), "png"))).json()["image_id"]
        for n in range(2)
    ]
    headers = api.auth(seller, "seller")
    path = f"/v1/products/{product}/images"
    order = f"/v1/products/{product}/image-order"

    reordered = await api.client.put(order, json={"image_ids": ids[::-1]}, headers=headers)
    removed = await api.client.delete(f"{path}/{ids[0]}", headers=headers)
    missing = await api.client.delete(f"{path}/{ids[0]}", headers=headers)
    incomplete = await api.client.put(order, json={"image_ids": ids}, headers=headers)

    assert reordered.status_code == removed.status_code == 200, reordered.text
    assert missing.status_code == 404
    assert incomplete.status_code == 409
    gallery = api.deps.commands.catalog.load(product, Product).gallery
    assert [str(i) for i in gallery.images] == [ids[1]]
