"""What the load test and the demo loader take from the composition root, which hands it in.

Nothing in `loadtest` imports `marketplace` (an import-linter contract): the root's CLI
(`marketplace/cli/tooling.py`) passes an object with these methods instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from infra.auth import TokenCodec
from infra.settings import Settings


class LagRow(Protocol):
    """How far one projection's view is behind one log (a row of `marketplace status`)."""

    @property
    def projection(self) -> str: ...

    @property
    def log(self) -> str: ...

    @property
    def events(self) -> int: ...

    @property
    def seconds(self) -> float: ...


LagProbe = Callable[[], Sequence[LagRow]]
"""Reads one projection's lag behind each of its logs, now."""


class Progress(Protocol):
    """A progress bar on the terminal."""

    def update(self, done: int, total: int | None = None) -> None:
        """Record how much is done (of total, if it changed)."""
        ...

    def close(self) -> None:
        """Show the final state and end the line."""
        ...


class Root(Protocol):
    """The stack as the composition root configures it from settings."""

    def token_codec(self, settings: Settings) -> TokenCodec:
        """The codec of the stack's development tokens."""
        ...

    def api_url(self, settings: Settings, port: int) -> str:
        """The base URL of the stack's API on port."""
        ...

    def postgres_url(self, settings: Settings) -> str:
        """The stack's PostgreSQL: the configured one, or the embedded server's."""
        ...

    def lag_probes(self, settings: Settings) -> AbstractContextManager[Sequence[LagProbe]]:
        """One probe per projection, on what the context opens and closes."""
        ...

    def progress(self, label: str, total: int, unit: str) -> Progress:
        """A progress bar on stderr: done of total units."""
        ...
