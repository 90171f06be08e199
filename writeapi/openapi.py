"""OpenAPI text the command routes share: the headers they read and every answer they give."""

from __future__ import annotations

from typing import Any

from infra.openapi import RATE_LIMITED, UNAUTHENTICATED, VALIDATION, problem, unavailable
from writeapi.execution import IDEMPOTENCY_KEY

Answers = dict[int | str, dict[str, Any]]
"""Documented answers by status code."""
IF_MATCH_PATTERN = r'^(?:\*|(?:W/)?"[0-9]{1,18}")$'


def idempotency_key(required: bool) -> dict[str, Any]:
    """The Idempotency-Key header parameter."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": required,
        "description": "1 to 255 visible ASCII characters; a new key for each new request. The "
        "same key and body answer as the first time (`Idempotent-Replayed: true`); the same "
        "key with another body is a 422, and while the first is still running a 409.",
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
    }


IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The ETag of the version you changed, like `"3"`: 412 unless it is still '
    "the current one (a weak tag never is). `*` or no header skips the check.",
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
}
SUCCESS_HEADERS: dict[str, Any] = {
    "ETag": {"description": "The aggregate's version, for If-Match.", "schema": {"type": "string"}},
    "X-Log-Position": {
        "description": "`<log>:<position>` of the last event written, for X-Min-Position.",
        "schema": {"type": "string"},
    },
}
CREATED_HEADERS: dict[str, Any] = {
    **SUCCESS_HEADERS,
    "Location": {
        "description": "The query API's URL of the resource.",
        "schema": {"type": "string"},
    },
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "log", "position"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "version": {"type": "integer", "description": "The aggregate's version after it."},
        "log": {"type": "string", "description": "The log the command wrote to."},
        "position": {
            "type": ["integer", "null"],
            "description": "The log position written; null when nothing changed.",
        },
    },
    "additionalProperties": {"type": "string"},
}


def success(description: str, headers: dict[str, Any]) -> dict[str, Any]:
    """A command's answer: what it changed, and where to read it."""
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": ANSWER_SCHEMA}},
    }


COMMON: Answers = {
    400: problem("The body is not JSON"),
    401: UNAUTHENTICATED,
    403: problem("The caller's role, or ownership, does not allow this"),
    409: problem(
        "A business rule refuses it (not enough stock, a state that does not allow it), it "
        "already exists, or a request with the same Idempotency-Key is still running"
    ),
    413: problem("The body is larger than the server's limit"),
    422: VALIDATION,
    503: unavailable("The store does not answer, or the server is at its cap; see Retry-After"),
}
"""What any command may answer besides its success."""
NOT_FOUND: Answers = {404: problem("No such resource")}
PRECONDITION: Answers = {
    412: problem("If-Match names no current version: another one, a weak or a malformed tag"),
}
ERASURE_REFUSED: Answers = {
    409: problem(
        "An order of the customer's is not yet shipped or closed (`unshipped-orders`, the detail "
        "lists them), or a request with the same Idempotency-Key is still running"
    ),
}
LIMITED: Answers = {429: RATE_LIMITED}
KEY_REQUIRED: Answers = {400: problem("No Idempotency-Key, or a body that is not JSON")}


def command(
    *answers: Answers,
    status: int = 200,
    if_match: bool = False,
    key_required: bool = False,
) -> dict[str, Any]:
    """Route keywords documenting a command: its success status, its answers, the headers
    it reads. A 201 names the new resource in Location; a 202 names what to follow there."""
    parameters = [idempotency_key(key_required)]
    headers = SUCCESS_HEADERS if status == 200 else CREATED_HEADERS
    responses: Answers = {status: success("Done", headers), **COMMON}
    if if_match:
        parameters.append(IF_MATCH)
        responses.update(PRECONDITION)
    for extra in answers:
        responses.update(extra)
    if key_required:
        responses.update(KEY_REQUIRED)
    return {
        "status_code": status,
        "responses": responses,
        "openapi_extra": {"parameters": parameters},
    }
