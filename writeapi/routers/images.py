"""A product's images: upload, order, removal. The worker renders the variants later."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel
from starlette.responses import Response

from commands.base import Outcome
from commands.catalog import product_image_id
from domain.base import Context
from domain.errors import DomainError
from infra.images.check import ImageRefused, checked_image
from infra.openapi import problem
from writeapi.deps import SellerCall
from writeapi.execution import Reply
from writeapi.openapi import NOT_FOUND, Answers, command
from writeapi.problems import Problem
from writeapi.schemas import ReorderImages, UploadedImage

router = APIRouter(prefix="/v1/products", tags=["products and stock"])

REFUSED_UPLOAD: Answers = {
    413: problem("The file is larger than the upload limit (MARKETPLACE_IMAGE_MAX_UPLOAD_BYTES)"),
    415: problem(
        "The bytes are no JPEG, PNG, WebP or AVIF image, or the file's name or content type "
        "claims another image type than its bytes (a PNG renamed .jpg)"
    ),
    422: problem(
        "The image is truncated or corrupt, has too many pixels (a decompression bomb "
        "included), the product has as many images as it may have, or the form is invalid"
    ),
}
ImageFile = Annotated[
    UploadFile, File(description="A JPEG, PNG, WebP or AVIF image; its type is read from its bytes")
]


@router.post("/{product_id}/images", **command(NOT_FOUND, REFUSED_UPLOAD, status=202))
def upload_image(product_id: UUID, image: ImageFile, call: SellerCall) -> Response:
    """Upload an image of the product (multipart/form-data, field `image`). It is checked,
    stored and recorded with its SHA-256; the variants follow, rendered off the request path,
    on the product's page in the query API (Location). The same bytes again change nothing.
    The type is read from the bytes; a name or content type claiming another image type is
    refused. A refused upload leaves nothing behind."""
    deps = call.request.app.state.deps
    limits = deps.images
    if deps.blobs is None:
        raise Problem(503, "no-blob-store", "No blob store", "this server takes no uploads")
    try:
        checked = checked_image(
            image.file,
            limits.max_upload_bytes,
            limits.max_pixels,
            image.filename,
            image.content_type,
        )
    except ImageRefused as refused:
        raise Problem(refused.status, refused.slug, refused.title, str(refused)) from None
    catalog = call.commands.catalog
    catalog.image_room(product_id, checked.content_hash, limits.max_per_product, call.context())
    key = f"originals/{product_id}/{checked.content_hash}"
    deps.blobs.put_file(key, image.file, checked.content_type)
    original = (
        checked.content_hash,
        checked.content_type,
        checked.width,
        checked.height,
        checked.size_bytes,
    )

    def accepted(outcome: Outcome) -> Reply:
        image_id = product_image_id(product_id, checked.content_hash)
        extra = {"image_id": str(image_id), "content_hash": checked.content_hash}
        return Reply(outcome, 202, f"/v1/products/{product_id}", extra, id_name="product_id")

    try:
        return call.run(
            UploadedImage(content_hash=checked.content_hash),
            lambda ctx: accepted(
                catalog.add_product_image(product_id, key, original, limits.max_per_product, ctx)
            ),
            accepted,
        )
    except DomainError:
        if (
            product_image_id(product_id, checked.content_hash)
            not in catalog.gallery(product_id).images
        ):
            deps.blobs.delete(key)
        raise


def _gallery_reply(outcome: Outcome) -> Reply:
    return Reply(outcome, id_name="product_id")


def _change_gallery(
    call: SellerCall, body: BaseModel | None, change: Callable[[Context], Outcome]
) -> Response:
    """Run one change of a product's gallery; the answer names the product."""
    return call.run(body, lambda ctx: _gallery_reply(change(ctx)), _gallery_reply)


@router.put("/{product_id}/image-order", **command(NOT_FOUND, if_match=True))
def reorder_images(product_id: UUID, body: ReorderImages, call: SellerCall) -> Response:
    """Show the product's images in this order, which names each of them once. Honors
    If-Match."""
    version = call.expected_version()
    catalog = call.commands.catalog
    order = list(body.image_ids)
    return _change_gallery(
        call, body, lambda ctx: catalog.reorder_product_images(product_id, order, ctx, version)
    )


@router.delete("/{product_id}/images/{image_id}", **command(NOT_FOUND, if_match=True))
def remove_image(product_id: UUID, image_id: UUID, call: SellerCall) -> Response:
    """Remove one of the product's images; its variants are no longer shown. Honors
    If-Match."""
    version = call.expected_version()
    catalog = call.commands.catalog
    return _change_gallery(
        call, None, lambda ctx: catalog.remove_product_image(product_id, image_id, ctx, version)
    )
