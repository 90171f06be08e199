"""`marketplace loadtest` and `marketplace seed-demo`: the tooling's commands, when it is installed.

The load test and the demo loader live outside the runtime, in the top-level `loadtest`
package (Locust and matplotlib come with the `loadtest` extra; the image carries none of
them). This is the one place the root imports it, lazily, handing it a `loadtest.root.Root`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

from infra.auth import TokenCodec
from infra.settings import Settings

if TYPE_CHECKING:
    from marketplace.progress import ProgressBar
    from marketplace.status import Lag

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

        return token_codec(settings.auth)

    def api_url(self, settings: Settings, port: int) -> str:
        """The base URL of the stack's API on port."""
        from marketplace.registry import api_url

        return api_url(settings, port)

    def postgres_url(self, settings: Settings) -> str:
        """The stack's PostgreSQL: the configured one, or the embedded server's."""
        from infra.stores import stores

        return stores(settings).postgres_url

    def progress(self, label: str, total: int, unit: str) -> ProgressBar:
        """A progress bar on stderr: done of total units."""
        from marketplace.progress import ProgressBar

        return ProgressBar(label, total, sys.stderr, unit=unit)

    @contextmanager
    def lag_probes(self, settings: Settings) -> Iterator[list[Callable[[], list[Lag]]]]:
        """lag_of on every projector, opened for the context as `marketplace status` opens them."""
        from marketplace.projectors import PROJECTORS, opened
        from marketplace.status import lag_of

        with ExitStack() as resources:
            probes: list[Callable[[], list[Lag]]] = []
            for name in sorted(PROJECTORS):
                worker = resources.enter_context(opened(name, settings))
                probes.append(partial(lag_of, worker))
            yield probes


def stand_ins() -> typer.Typer:
    """Commands that take any arguments (even --help) and answer with how to install them."""
    app = typer.Typer(add_completion=False)
    for name, summary in COMMANDS.items():

        def hint(ctx: typer.Context, command: str = name) -> None:
            print(
                f"marketplace {command}: the loadtest package is not here; {EXTRA_HINT}",
                file=sys.stderr,
            )
            raise typer.Exit(2)

        app.command(
            name,
            help=f"{summary.capitalize()} (needs the loadtest extra).",
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )(hint)
    return app


def add_tooling(group: TyperGroup) -> None:
    """Add `seed-demo` and `loadtest` from the loadtest package, or stand-ins saying how."""
    try:
        from loadtest import cli  # the root's one import of the tooling (see pyproject.toml)
    except ModuleNotFoundError as error:
        if error.name not in ("loadtest", "loadtest.cli"):
            raise
        tooling = stand_ins()
    else:
        tooling = cli.tooling(StackRoot())
    for name, command in typer.main.get_group(tooling).commands.items():
        group.add_command(command, name)
