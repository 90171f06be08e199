"""`marketplace loadtest` and `marketplace seed-demo`: the tooling's commands, when it is installed.

The load test and the demo loader live outside the runtime, in the top-level `loadtest`
package (Locust and matplotlib come with the `loadtest` extra; the image carries none of
them). This is the one place the root imports it, lazily, handing it a `loadtest.root.Root`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from infra.auth import TokenCodec
from infra.settings import Settings

if TYPE_CHECKING:
    from marketplace.projectors import Lag

EXTRA_HINT = "install the loadtest extra: pip install -e '.[loadtest]'"
COMMANDS = {
    "seed-demo": "load a demo marketplace through the command API",
    "loadtest": "drive a running stack with a Black Friday mix (Locust) and write a report",
}


class StackRoot:
    """What the load test takes from the root (loadtest.root.Root): codec, URLs, lag probes."""

    def token_codec(self, settings: Settings) -> TokenCodec:
        """The codec of the stack's development tokens."""
        from marketplace.bootstrap import token_codec

        return token_codec(settings)

    def api_url(self, settings: Settings, port: int) -> str:
        """The base URL of the stack's API on port."""
        from marketplace.stack import api_url

        return api_url(settings, port)

    def postgres_url(self, settings: Settings) -> str:
        """The stack's PostgreSQL: the configured one, or the embedded server's."""
        from marketplace.projectors import stores

        return stores(settings).postgres_url

    @contextmanager
    def lag_probes(self, settings: Settings) -> Iterator[list[Callable[[], list[Lag]]]]:
        """lag_of on every projector, opened for the context as `marketplace status` opens them."""
        from marketplace.projectors import PROJECTORS, lag_of, opened

        with ExitStack() as resources:
            probes: list[Callable[[], list[Lag]]] = []
            for name in sorted(PROJECTORS):
                worker = resources.enter_context(opened(name, settings))
                probes.append(partial(lag_of, worker))
            yield probes


def _missing(command: str, args: argparse.Namespace) -> int:
    print(f"marketplace {command}: the loadtest package is not here; {EXTRA_HINT}", file=sys.stderr)
    return 2


def register(sub: Any) -> None:
    """Add `seed-demo` and `loadtest` from the loadtest package, or stand-ins saying how."""
    try:
        from loadtest import cli  # the root's one import of the tooling (see pyproject.toml)
    except ModuleNotFoundError as error:
        if error.name not in ("loadtest", "loadtest.cli"):
            raise
    else:
        cli.register(sub, StackRoot())
        return
    for command, summary in COMMANDS.items():
        # No prefix chars: nothing is an option, so every argument (even -h) reaches the hint.
        stand_in = sub.add_parser(
            command, help=f"{summary} (needs the loadtest extra)", prefix_chars="\0", add_help=False
        )
        stand_in.add_argument("args", nargs="*", help="taken whatever they are: all get the hint")
        stand_in.set_defaults(handler=partial(_missing, command))
