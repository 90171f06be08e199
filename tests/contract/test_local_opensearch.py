"""The local OpenSearch node behaves as the projections rely on: external versions, fuzzy search."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import ConflictError, NotFoundError, OpenSearch

from tests.conftest import free_port
from tests.support.opensearch import LocalOpenSearch

RUN_PREFIX = f"test-{uuid.uuid4().hex[:8]}-"
MAPPINGS = {"properties": {"title": {"type": "text"}, "sku": {"type": "keyword"}}}


@pytest.fixture
def client(opensearch_server: str) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[opensearch_server], timeout=30)
    yield client
    client.close()


@pytest.fixture
def index(client: OpenSearch) -> Iterator[str]:
    """A fresh index under this run's prefix, removed after the test."""
    name = f"{RUN_PREFIX}{uuid.uuid4().hex[:8]}"
    created = client.indices.create(
        index=name,
        body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}, "mappings": MAPPINGS},
    )
    assert created["acknowledged"] is True
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


def put(client: OpenSearch, index: str, doc_id: str, version: int, title: str) -> dict[str, object]:
    """Index a whole document whose external version is a log position."""
    response: dict[str, object] = client.index(
        index=index,
        id=doc_id,
        body={"title": title, "sku": doc_id},
        version=version,
        version_type="external",
    )
    return response


def test_external_versions_keep_the_newest_document(client: OpenSearch, index: str) -> None:
    first = put(client, index, "p1", 5, "written at position five")
    assert (first["result"], first["_version"]) == ("created", 5)

    for stale in (3, 5):
        with pytest.raises(ConflictError) as rejected:
            put(client, index, "p1", stale, f"stale write at position {stale}")
        assert rejected.value.status_code == 409
    kept = client.get(index=index, id="p1")
    assert (kept["_version"], kept["_source"]["title"]) == (5, "written at position five")

    newer = put(client, index, "p1", 7, "written at position seven")
    assert (newer["result"], newer["_version"]) == ("updated", 7)
    latest = client.get(index=index, id="p1")
    assert (latest["_version"], latest["_source"]["title"]) == (7, "written at position seven")


def test_a_fuzzy_match_tolerates_a_typo(client: OpenSearch, index: str) -> None:
    put(client, index, "kb", 1, "Mechanical keyboard")
    put(client, index, "mouse", 2, "Wireless mouse")
    client.indices.refresh(index=index)

    def found(query: dict[str, object]) -> set[str]:
        hits = client.search(index=index, body={"query": {"match": {"title": query}}})
        return {hit["_id"] for hit in hits["hits"]["hits"]}

    assert found({"query": "keybaord", "fuzziness": "AUTO"}) == {"kb"}
    assert found({"query": "keybaord"}) == set()


def test_a_deleted_index_is_gone(client: OpenSearch) -> None:
    name = f"{RUN_PREFIX}{uuid.uuid4().hex[:8]}"
    client.indices.create(index=name)
    put(client, name, "p1", 1, "doomed")
    assert client.indices.exists(index=name) is True

    assert client.indices.delete(index=name)["acknowledged"] is True
    assert client.indices.exists(index=name) is False
    with pytest.raises(NotFoundError):
        client.get(index=name, id="p1")


@pytest.fixture
def own_node(opensearch_server: str) -> None:
    """Only for a node this run started itself, not one named by the environment."""
    if os.environ.get("MARKETPLACE_TEST_OPENSEARCH_URL"):
        pytest.skip("checks the node this run starts, not MARKETPLACE_TEST_OPENSEARCH_URL")


@pytest.mark.usefixtures("own_node")
def test_the_node_runs_small_and_ignores_disk_watermarks(client: OpenSearch) -> None:
    (node,) = client.nodes.info(metric="jvm,settings")["nodes"].values()
    assert node["jvm"]["mem"]["heap_max_in_bytes"] == 256 * 1024 * 1024
    assert node["settings"]["cluster"]["routing"]["allocation"]["disk"] == {
        "threshold_enabled": "false"
    }
    assert node["settings"]["discovery"]["type"] == "single-node"


@pytest.mark.usefixtures("own_node")
def test_a_node_that_cannot_start_reports_its_log(services_dir: Path) -> None:
    server = LocalOpenSearch(services_dir / "broken-opensearch", free_port(), heap="lots")
    with pytest.raises(RuntimeError, match="OpenSearch exited with 1") as failed:
        server.start(timeout=60)
    assert "lots" in str(failed.value)
    assert server.pid is None
