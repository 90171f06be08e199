"""The `marketplace` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from uuid import UUID

from infra.auth import ROLES, TokenCodec
from infra.settings import load_settings

Handler = Callable[[argparse.Namespace], int]


def _token(args: argparse.Namespace) -> int:
    settings = load_settings()
    codec = TokenCodec(
        settings.jwt_secret.get_secret_value(),
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_ttl_seconds,
    )
    print(codec.issue(UUID(args.sub), args.role, ttl_seconds=args.ttl))
    return 0


def _test(args: argparse.Namespace) -> int:
    from marketplace.testing import run_test_suite

    return run_test_suite(list(args.pytest_args))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="marketplace", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="print a development access token")
    token.add_argument("--role", choices=ROLES, required=True)
    token.add_argument("--sub", required=True, help="the subject's UUID")
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    token.set_defaults(handler=_token)

    test = sub.add_parser("test", help="run the linters and the whole test suite")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(handler=_test)

    from marketplace import commands_cli, fulfilment_cli, gateway_cli, tooling_cli

    commands_cli.register(sub)
    gateway_cli.register(sub)
    fulfilment_cli.register(sub)
    tooling_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
