"""Product image variants at content-hashed paths: the same path always serves the same bytes."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.blobs import BlobNotFound, BlobStoreUnavailable
from infra.openapi import problem, unavailable
from infra.web import Problem
from readapi.caching import none_match
from readapi.deps import ReadApiDeps
from readapi.openapi import IF_NONE_MATCH_DOC, NOT_MODIFIED, READS
from readapi.problems import RETRY_AFTER_SECONDS

router = APIRouter(tags=["products"], responses=READS)
log = structlog.get_logger()

IMMUTABLE = "public, max-age=31536000, immutable"
"""A path names its bytes (their SHA-256), so any cache may keep it for a year."""
IMAGE_NAME = r"^[0-9a-f]{64}\.(webp|jpg)$"
CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}
ImageName = Annotated[
    str, Path(pattern=IMAGE_NAME, description="`<sha256>.webp` or `<sha256>.jpg`")
]


@router.get(
    "/images/{name}",
    response_model=None,
    responses={
        200: {
            "description": "The image",
            "content": {"image/webp": {}, "image/jpeg": {}},
            "headers": {
                "ETag": {"description": "The SHA-256 of the bytes, quoted."},
                "Cache-Control": {"description": f"`{IMMUTABLE}`"},
            },
        },
        304: NOT_MODIFIED,
        404: problem("No image is stored under this name"),
        503: unavailable("The blob store does not answer; see Retry-After"),
    },
    openapi_extra={"parameters": [IF_NONE_MATCH_DOC]},
)
async def image(name: ImageName, request: Request) -> Response:
    """One rendition of a product image, as product detail and search name it (its URL is
    its SHA-256): public and immutable, for any cache to keep."""
    digest, extension = name.split(".")
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    deps: ReadApiDeps = request.app.state.deps
    try:
        data, _ = await run_in_threadpool(deps.blobs.get, f"images/{name}")
    except BlobNotFound:
        log.warning("image_blob_missing", key=f"images/{name}")
        raise Problem(404, "image-missing", "Image missing", "no image has this name") from None
    except BlobStoreUnavailable:
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        raise Problem(
            503, "store-unavailable", "Blob store unavailable", "retry shortly", retry
        ) from None
    return Response(data, 200, headers, media_type=CONTENT_TYPES[extension])
