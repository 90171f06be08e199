"""An HTTP proxy in front of a real server that fails chosen requests, as a dropping node would.

Requests pass through to the upstream unchanged, except those the rule matches while failures
remain: each of those is answered 503, or its connection is closed with no answer at all
(what a client sees from a node that went away mid-request). Nothing of ours is faked: the
client, its transport and the server are the real ones.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Failure = Literal["503", "drop"]
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
UNAVAILABLE = b'{"error":{"type":"unavailable","reason":"the proxy refused it"},"status":503}'


@dataclass
class FlakyProxy:
    """Fails the next `failures` requests whose "METHOD path" matches rule, as failure says."""

    upstream: str
    rule: re.Pattern[str]
    failure: Failure = "503"
    failures: int = 0
    failed: int = 0
    """How many requests it failed so far."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self, method: str, path: str) -> bool:
        """Whether this request is to fail (and count it)."""
        with self.lock:
            if self.failures and self.rule.fullmatch(f"{method} {path.split('?')[0]}"):
                self.failures -= 1
                self.failed += 1
                return True
            return False


def handler_for(proxy: FlakyProxy) -> type[BaseHTTPRequestHandler]:
    """A request handler relaying to proxy.upstream, failing what the proxy says."""
    target = urlsplit(proxy.upstream)

    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def relay(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            if proxy.take_failure(self.command, self.path):
                self.fail()
                return
            upstream = http.client.HTTPConnection(str(target.hostname), target.port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body, headers)
                answer = upstream.getresponse()
                payload = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def fail(self) -> None:
            self.close_connection = True
            if proxy.failure == "drop":
                return
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(UNAVAILABLE)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(UNAVAILABLE)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay

    return Relay


@contextmanager
def flaky_proxy(proxy: FlakyProxy) -> Iterator[str]:
    """Serve the proxy on a free loopback port while inside; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(proxy))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
