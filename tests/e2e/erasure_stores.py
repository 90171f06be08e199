"""Every place a running stack keeps data, read raw, searched for a piece of text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from psycopg import sql

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def _contains(value: Any, needle: str) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return needle.encode() in bytes(value)
    if isinstance(value, dict | list):
        return needle in json.dumps(value, default=str, ensure_ascii=False)
    return needle in str(value)


def postgres_hits(url: str, needle: str) -> list[str]:
    """Each schema.table of the database holding needle in some column of some row."""
    hits = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema <> ALL(%s)",
            (list(SYSTEM_SCHEMAS),),
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
            with conn.cursor(binary=True) as cursor:
                rows = cursor.execute(query).fetchall()
            if any(_contains(value, needle) for row in rows for value in row):
                hits.append(f"{schema}.{table}")
    return hits


def _redis_value(client: redis.Redis, key: bytes) -> Any:
    kind = client.type(key).decode()
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return client.smembers(key)
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "stream":
        return client.xrange(key)
    return b""


def redis_hits(url: str, needle: str) -> list[str]:
    """Each key whose name or value holds needle."""
    client = redis.Redis.from_url(url)
    try:
        return [
            key.decode()
            for key in client.scan_iter(count=1000)
            if needle.encode() in key or needle.encode() in repr(_redis_value(client, key)).encode()
        ]
    finally:
        client.close()


def opensearch_hits(url: str, prefix: str, needle: str) -> list[str]:
    """Each document id (index/id) of the platform's indices holding needle."""
    answer = httpx.post(
        f"{url}/{prefix}*/_search",
        json={"size": 10000, "query": {"match_all": {}}},
        timeout=30,
    )
    answer.raise_for_status()
    return [
        f"{hit['_index']}/{hit['_id']}"
        for hit in answer.json()["hits"]["hits"]
        if needle in json.dumps(hit["_source"], ensure_ascii=False)
    ]


def file_hits(folder: Path, needle: str, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Each file under folder (none of the skipped subfolders) whose bytes hold needle."""
    hits = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part in skip for part in path.relative_to(folder).parts):
            continue
        if needle.encode() in path.read_bytes():
            hits.append(str(path.relative_to(folder)))
    return hits
