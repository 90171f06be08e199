"""How an OpenSearch view tells a busy or unreachable node (retried) from a refused write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opensearchpy import TransportError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError


class OpenSearchUnavailable(Exception):
    """OpenSearch answered 429 or 5xx (busy, starting, recovering shards): retried."""


TRANSIENT: tuple[type[BaseException], ...] = (OpenSearchConnectionError, OpenSearchUnavailable)
"""opensearch-py raises ConnectionError (and its ConnectionTimeout) when the node does not
answer, and a bare TransportError for a 5xx, such as the 503 no_shard_available_action_exception
of a node still recovering its shards after a restart; a view turns those into
OpenSearchUnavailable."""


class BulkWriteFailed(Exception):
    """OpenSearch refused a document write for a reason other than a newer version."""


def unavailable(status: object) -> bool:
    """Whether an answer's status means busy or unavailable (429 or 5xx)."""
    return isinstance(status, int) and (status == 429 or status >= 500)


@contextmanager
def unavailable_is_transient() -> Iterator[None]:
    """Raise OpenSearchUnavailable for a 429 or 5xx answer; other errors pass unchanged."""
    try:
        yield
    except TransportError as error:
        if unavailable(error.status_code):
            raise OpenSearchUnavailable(f"{error.status_code} {error.error}") from error
        raise
