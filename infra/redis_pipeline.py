"""A lean asyncio Redis client for the query API's hot reads: one connection, auto-pipelined.

Every command awaited in one turn of the event loop goes out in one write on one connection,
and hiredis parses the replies, which Redis sends in order. With a few dozen requests in
flight that is one system call for many reads (and far less work for Redis) instead of a
pooled connection, a lock and a write per command in redis-py.

It runs scripts (EVALSHA, falling back to EVAL once Redis forgot them) and plain commands,
and raises redis-py's errors, so callers keep their handling: redis.TimeoutError when a reply
does not come within the timeout, redis.ConnectionError when the connection fails or is lost
(the next command reconnects), redis.BusyLoadingError and redis.ResponseError for error
replies. A client is bound to the event loop it first connected on; used on another it
connects anew there.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import unquote, urlparse

import hiredis
import redis

Arg = str | bytes | int | float


def pack(args: Sequence[Arg]) -> bytes:
    """One command in the RESP protocol."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def error_of(reply: hiredis.ReplyError) -> redis.RedisError:
    """The redis-py exception of an error reply."""
    message = str(reply)
    if message.startswith("LOADING"):
        return redis.BusyLoadingError(message)
    return redis.ResponseError(message)


class _Connection(asyncio.Protocol):
    """One connection: replies resolve the waiting futures in the order commands went out."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.deadlines: deque[float] = deque()
        """When each waiting future times out: in send order, so rising."""
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.lost: BaseException | None = None
        self.watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            self.deadlines.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = redis.ConnectionError(f"connection to Redis lost: {exc!r}")
        self.transport = None
        if self.watchdog is not None:
            self.watchdog.cancel()
        self.deadlines.clear()
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(self.lost)

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue a command for this turn's write; the future gets its reply."""
        if self.lost is not None or self.transport is None:
            raise self.lost or redis.ConnectionError("not connected to Redis")
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append(command)
        future = self.loop.create_future()
        self.waiting.append(future)
        self.deadlines.append(self.loop.time() + self.timeout)
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(self.timeout, self.expire)
        return future

    def expire(self) -> None:
        """Fail the commands past their deadline with TimeoutError (their replies, if they
        come, are skipped), and look again when the next one is due.

        One timer for the connection instead of one per command.
        """
        self.watchdog = None
        now = self.loop.time()
        for future, deadline in zip(self.waiting, self.deadlines, strict=True):
            if deadline > now:
                self.watchdog = self.loop.call_at(deadline, self.expire)
                return
            if not future.done():
                future.set_exception(
                    redis.TimeoutError(f"Redis did not answer within {self.timeout} s")
                )

    def flush(self) -> None:
        if self.pending and self.transport is not None:
            self.transport.write(b"".join(self.pending))
        self.pending.clear()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class PipelinedScript:
    """A Lua script run by EVALSHA (EVAL when Redis does not know it)."""

    def __init__(self, client: PipelinedRedis, script: str) -> None:
        self.client = client
        self.script = script.encode()
        self.sha = hashlib.sha1(self.script, usedforsecurity=False).hexdigest()

    async def __call__(
        self, keys: Sequence[Arg] | None = None, args: Sequence[Arg] | None = None
    ) -> Any:
        keys, args = keys or (), args or ()
        try:
            return await self.client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        return await self.client.execute("EVAL", self.script, len(keys), *keys, *args)


class PipelinedRedis:
    """Commands from every task of an event loop, pipelined on one connection."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        timeout: float = 1.0,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password, self.tls = username, password, tls
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float = 1.0) -> PipelinedRedis:
        """A client for redis://[[user]:password@]host[:port][/db] (or rediss:// for TLS)."""
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss", "valkey", "valkeys"):
            raise ValueError(f"unsupported Redis URL scheme {parsed.scheme!r}")
        path = parsed.path.strip("/")
        return cls(
            parsed.hostname or "127.0.0.1",
            parsed.port or 6379,
            db=int(path) if path else 0,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            tls=parsed.scheme in ("rediss", "valkeys"),
            timeout=timeout,
        )

    def register_script(self, script: str) -> PipelinedScript:
        """A callable running script with keys and args (as redis-py's register_script)."""
        return PipelinedScript(self, script)

    async def execute(self, *args: Arg) -> Any:
        """Send one command and await its reply, within the timeout."""
        connection = self._connection
        if (
            connection is None
            or connection.lost is not None
            or connection.loop is not asyncio.get_running_loop()
        ):
            try:
                async with asyncio.timeout(self.timeout):
                    connection = await self._connect()
            except TimeoutError:
                message = f"no connection to Redis within {self.timeout} s"
                raise redis.TimeoutError(message) from None
        reply = await connection.send(pack(args))
        if isinstance(reply, hiredis.ReplyError):
            raise error_of(reply)
        return reply

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        task = self._connecting
        if task is None or task.get_loop() is not loop:
            task = self._connecting = loop.create_task(self._open(loop))
            task.add_done_callback(self._connected)
        return await asyncio.shield(task)

    def _connected(self, task: asyncio.Task[_Connection]) -> None:
        if self._connecting is task:
            self._connecting = None
        if not task.cancelled() and task.exception() is None:
            self._connection = task.result()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(loop, self.timeout),
                self.host,
                self.port,
                ssl=ssl.create_default_context() if self.tls else None,
            )
        except OSError as error:
            raise redis.ConnectionError(f"cannot connect to Redis: {error}") from error
        hello: list[asyncio.Future[Any]] = []
        if self.password is not None:
            auth = [self.username, self.password] if self.username else [self.password]
            hello.append(connection.send(pack(["AUTH", *auth])))
        if self.db:
            hello.append(connection.send(pack(["SELECT", self.db])))
        for reply in await asyncio.gather(*hello):
            if isinstance(reply, hiredis.ReplyError):
                connection.close()
                raise error_of(reply)
        return connection

    async def aclose(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
