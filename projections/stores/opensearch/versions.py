"""Versions of the OpenSearch catalog-search view: an index per version, an alias per pointer.

Version N is the index `<prefix>catalog-search-vN`, with its own tracking document. The
alias `<prefix>catalog-search` names the version readers search, and
`<prefix>catalog-search-writing` the one the live projector writes. Each alias moves in one
`_aliases` call (remove and add together), so a search, which resolves the alias once, sees
one version whole. Moving the writers also blocks writes to the old index: a live batch
still aimed at it fails, and the projector resolves the alias again. Searches already running
on the old index when the readers move may last up to the query API's timeout, so the old
index is deleted after a grace period, not at once.

Before aliases existed the view was the index `<prefix>catalog-search-v1` alone; the live
view's create() adds the aliases to it, and until then it counts as version 1 here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from opensearchpy import NotFoundError, OpenSearch

from projections.completeness import Completeness
from projections.stores.opensearch.errors import (
    TRANSIENT,
    OpenSearchUnavailable,
    unavailable_is_transient,
)
from projections.versions import READERS, WRITERS, CreatedView, Pointers, VersionConflict, reached

VIEW_VERSION = 1
"""The version of the index an unversioned deployment has (before aliases existed)."""
TRACKING_ID = "tracking"
TARGET_ID = "target"
"""The document holding a version's completeness target (projections.completeness), if any."""
INDEX = "catalog-search"


def index_name(prefix: str, version: int) -> str:
    """The index holding one version of the view."""
    return f"{prefix}{INDEX}-v{version}"


def alias_name(prefix: str, follows: str) -> str:
    """The alias naming the version readers (READERS) or writers (WRITERS) use."""
    return f"{prefix}{INDEX}" if follows == READERS else f"{prefix}{INDEX}-writing"


def version_of(prefix: str, index: str) -> int:
    """The version an index of the view holds."""
    match = re.fullmatch(re.escape(f"{prefix}{INDEX}-v") + r"(\d+)", index)
    if match is None:
        raise ValueError(f"{index} is not a version of {prefix}{INDEX}")
    return int(match.group(1))


def aliased(client: OpenSearch, alias: str) -> str | None:
    """The index an alias names, or None if there is no such alias."""
    try:
        found = client.indices.get_alias(name=alias)
    except NotFoundError:
        return None
    (index,) = found
    return str(index)


def tracked(client: OpenSearch, index: str, *, strict: bool = False) -> dict[str, int]:
    """The tracking document's positions in an index or alias (none if it has none).

    A missing index or alias has none either, unless strict: then it is a NotFoundError.
    """
    try:
        found = client.get(index=index, id=TRACKING_ID)
    except NotFoundError as error:
        if strict and error.error == "index_not_found_exception":
            raise
        return {}
    return {str(k): int(v) for k, v in found["_source"].get("positions", {}).items()}


def completeness_at(client: OpenSearch, index: str) -> Completeness:
    """The positions of an index or alias, and what is left of its completeness target.

    One realtime mget of the tracking and target documents; a missing index or alias is a
    NotFoundError. The target document is deleted once reached, but a target the positions
    have reached counts as reached before that.
    """
    docs = client.mget(index=index, body={"ids": [TRACKING_ID, TARGET_ID]})["docs"]
    failed = [doc for doc in docs if "error" in doc]
    if failed:
        error = failed[0]["error"]
        if isinstance(error, dict) and error.get("type") == "index_not_found_exception":
            raise NotFoundError(404, "index_not_found_exception", error)
        raise OpenSearchUnavailable(f"{failed[0]['_id']}: {error}")
    found = {doc["_id"]: doc["_source"] for doc in docs if doc.get("found")}
    positions = _numbers(found.get(TRACKING_ID, {}))
    target = _numbers(found.get(TARGET_ID, {}))
    left = {log: head for log, head in target.items() if positions.get(log, 0) < head}
    return Completeness(positions, left)


def _numbers(doc: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in doc.get("positions", {}).items()}


@runtime_checkable
class DeferredRefresh(Protocol):
    """A view that can write its index without refreshing it (until readers move there)."""

    def defer_refresh(self) -> None:
        """Stop refreshing the index, per batch and periodically."""


class OpenSearchVersions(Pointers):
    """The versions of the view under prefix; view(n) opens the view pinned to version n.

    A node that does not answer, or answers 429 or 5xx, raises one of transient_errors.
    """

    transient_errors = TRANSIENT

    def __init__(
        self,
        client: OpenSearch,
        prefix: str,
        view: Callable[[int], CreatedView],
        grace_seconds: float,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.view = view
        self.grace_seconds = grace_seconds
        self.lock_name = f"opensearch:{prefix}{INDEX}"

    def existing(self) -> set[int]:
        """Every version with an index."""
        with unavailable_is_transient():
            found = self.client.indices.get(index=f"{self.prefix}{INDEX}-v*")
        return {version_of(self.prefix, index) for index in found}

    def build(self, version: int) -> CreatedView:
        """An empty view pinned to version, its index created, refreshes deferred.

        Nothing searches the index until the readers move to it (which refreshes it first),
        so a rebuild writes it without the refreshes a live view makes per batch.
        """
        self.drop(version)
        view = self.view(version)
        with unavailable_is_transient():
            view.create()
            if isinstance(view, DeferredRefresh):
                view.defer_refresh()
        return view

    def move_writers(self, old: int, new: int) -> None:
        """Point the writers' alias at new, then block writes to old.

        new gets the default refresh interval back first, so a live projector that finds it
        through the alias refreshes it as it writes, as a live view does.
        """
        if not self._names(WRITERS, old):
            raise VersionConflict(f"{self.prefix}{INDEX}: writers are not at v{old}")
        self._block(new, False, {"index.refresh_interval": None})
        self._move(WRITERS, old, new)
        if old:
            self._block(old, True)

    def move_readers(self, old: int, new: int) -> bool:
        """Point the readers' alias at new if new is complete and has reached old's positions.

        new is refreshed first: a rebuild writes it without refreshing.
        """
        if not self._names(READERS, old):
            raise VersionConflict(f"{self.prefix}{INDEX}: readers are not at v{old}")
        before = tracked(self.client, index_name(self.prefix, old)) if old else {}
        after = completeness_at(self.client, index_name(self.prefix, new))
        if not after.complete or not reached(after.positions, before):
            return False
        self.client.indices.refresh(index=index_name(self.prefix, new))
        self._move(READERS, old, new)
        return True

    def drop(self, version: int) -> None:
        """Delete the version's index (and any alias on it)."""
        with unavailable_is_transient():
            index = index_name(self.prefix, version)
            self.client.indices.delete(index=index, ignore_unavailable=True)

    def close(self) -> None:
        """Close the client."""
        self.client.close()

    def _names(self, follows: str, old: int) -> bool:
        """Whether the pointer names old; with no alias yet, also when old is 0 (a first
        rebuild, before any live view: its new v1 must not pass for a pre-alias index)."""
        if old == 0 and aliased(self.client, alias_name(self.prefix, follows)) is None:
            return True
        return self._pointer(follows) == old

    def _pointer(self, follows: str) -> int:
        with unavailable_is_transient():
            index = aliased(self.client, alias_name(self.prefix, follows))
            if index is not None:
                return version_of(self.prefix, index)
            legacy = self.client.indices.exists(index=index_name(self.prefix, VIEW_VERSION))
        return VIEW_VERSION if legacy else 0

    def _move(self, follows: str, old: int, new: int) -> None:
        alias = alias_name(self.prefix, follows)
        actions: list[dict[str, Any]] = []
        current = aliased(self.client, alias)
        if old and current == index_name(self.prefix, old):
            actions.append({"remove": {"index": current, "alias": alias}})
        actions.append({"add": {"index": index_name(self.prefix, new), "alias": alias}})
        self.client.indices.update_aliases(body={"actions": actions})

    def _block(self, version: int, blocked: bool, also: dict[str, Any] | None = None) -> None:
        index = index_name(self.prefix, version)
        if self.client.indices.exists(index=index):
            body = {"index.blocks.write": blocked, **(also or {})}
            self.client.indices.put_settings(index=index, body=body)
