"""The OpenSearch client this platform uses: bounded calls, JSON by orjson."""

from __future__ import annotations

from typing import Any

import orjson
from opensearchpy import JSONSerializer, OpenSearch
from opensearchpy.exceptions import SerializationError


class OrjsonSerializer(JSONSerializer):
    """The client's JSON, by orjson: a rebuild's bulk and mget replies hold thousands of items."""

    def loads(self, s: str) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError as error:
            raise SerializationError(s, error) from error

    def dumps(self, data: Any) -> Any:
        if isinstance(data, str | bytes):
            return data
        try:
            return orjson.dumps(data, default=self.default).decode()
        except TypeError as error:
            raise SerializationError(data, error) from error


def opensearch_client(url: str, timeout: float, *, retries: int) -> OpenSearch:
    """An OpenSearch client whose calls fail after timeout seconds."""
    return OpenSearch(
        hosts=[url], timeout=timeout, max_retries=retries, serializer=OrjsonSerializer()
    )
