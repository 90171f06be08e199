"""A bare HTTP/1.1 POST for load clients with thousands of connections (httpx costs more than
the server under test)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers (lower-case names) and JSON body, if any."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]


async def post(url: str, path: str, body: dict[str, str], headers: dict[str, str]) -> Reply:
    """One HTTP/1.1 POST on a connection of its own (httpx costs more than the server here)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        payload = json.dumps(body).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        raw = await reader.read()
    finally:
        writer.close()
    header_block, _, content = raw.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    names = {k.strip().lower(): v.strip() for k, v in fields.items()}
    if names.get("transfer-encoding") == "chunked":
        content = unchunk(content)
    decoded = json.loads(content) if content.strip() else {}
    return Reply(int(status_line.split()[1]), names, decoded)


def unchunk(content: bytes) -> bytes:
    """The body of a chunked transfer encoding."""
    out, rest = b"", content
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out
