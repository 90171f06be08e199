"""Commands for the platform as a whole: tokens, tests, `up`, `status` and the two APIs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from uuid import UUID, uuid4

import typer

from infra.auth import Role, TokenCodec
from infra.settings import load_settings
from marketplace.cli.app import Port, Workers, app, done


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="what the bearer may do")] = "shopper",
    sub: Annotated[
        UUID | None, typer.Option(help="the subject (seller, customer...) id; default: a new one")
    ] = None,
    ttl: Annotated[int | None, typer.Option(min=60, help="lifetime in seconds")] = None,
) -> None:
    """Print a development bearer token (signed with MARKETPLACE_JWT_SECRET).

    Roles: shopper (carts, checkout, own orders), seller (own products, stock, fulfilment),
    admin (everything), auditor (reserved for the audit API), analyst (marketplace-wide
    figures, /v1/analytics, no personal data). The subject goes to stderr, the token alone
    to stdout.

    Example: TOKEN=$(marketplace token --role seller)
    """
    settings = load_settings()
    codec = TokenCodec(
        settings.auth.secret.get_secret_value(),
        settings.auth.issuer,
        settings.auth.audience,
        settings.auth.ttl_seconds,
    )
    subject = sub or uuid4()
    print(f"subject: {subject}", file=sys.stderr)
    print(codec.issue(subject, role, ttl_seconds=ttl))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """Run the linters, the architecture contracts, the type checks and every test.

    Extra arguments go to pytest. Example: marketplace test -x tests/unit
    """
    from marketplace.testing import run_test_suite

    done(run_test_suite(list(ctx.args)))


@app.command()
def up(
    data_dir: Annotated[Path | None, typer.Option(help="default: ./.marketplace")] = None,
    write_port: Annotated[int | None, typer.Option(help="command API port")] = None,
    workers: Annotated[int | None, typer.Option(help="command API worker processes")] = None,
    read_port: Annotated[int | None, typer.Option(help="query API port")] = None,
    logs_on_terminal: Annotated[
        bool,
        typer.Option(
            "--logs-on-terminal",
            help="show the processes' JSON logs here (MARKETPLACE_LOGS_ON_TERMINAL=true); "
            "default: <data dir>/logs/<process>.log",
        ),
    ] = False,
) -> None:
    """Run the whole platform locally, with embedded stores where none is configured.

    Starts embedded PostgreSQL and Valkey when no store is set, then every process of the
    registry, and prints the URLs and where the logs are once all are ready. Each process
    logs JSON lines to a file of its own under the data directory. Ctrl-C stops everything.

    Example: marketplace up --write-port 9000
    """
    from marketplace.stack import up as run_up

    done(run_up(data_dir, write_port, workers, read_port, logs_on_terminal))


@app.command()
def status(
    data_dir: Annotated[Path | None, typer.Option(help="of `up`; default: ./.marketplace")] = None,
) -> None:
    """Print every process's position and lag behind each log it follows, its failures, then
    what `up` last recorded of each process it runs: running, restarting or failing, and why.

    Reads the stores and `up`'s state file only: nothing needs to run. A process whose
    position cannot be read gets a line with the error; a stopped projection, where and why
    it stopped; parked events, how many. Example: marketplace status
    """
    from marketplace.registry import status as positions
    from marketplace.status import failures, failures_text, lag_table, supervised_table

    settings = load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    print(lag_table(positions(settings)))
    if found := failures_text(failures(settings)):
        print(f"\n{found}")
    print()
    print(supervised_table(settings.data_dir.resolve()))


def serve(name: str, factory: str, port: int | None, workers: int | None) -> None:
    """Run the registry's API of that name from its app factory under uvicorn; port and
    workers default to those its entry takes from the settings. Metrics are summed over its
    worker processes."""
    import uvicorn

    from infra.metrics import share_between_workers
    from marketplace.registry import UnknownProcess, process

    settings = load_settings()
    api = process(name)
    if api.port is None or api.workers is None:
        raise UnknownProcess(f"{name} is no API")
    port = port or api.port(settings)
    workers = workers or api.workers(settings)
    if workers > 1:
        share_between_workers(settings.data_dir / "metrics" / f"{factory.rsplit(':')[-1]}-{port}")
    uvicorn.run(
        factory,
        factory=True,
        host=settings.http.host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


@app.command("serve-write")
def serve_write(port: Port = None, workers: Workers = None) -> None:
    """Run the command API alone, on the configured stores.

    Example: marketplace serve-write --port 8000 --workers 2
    """
    serve("command-api", "marketplace.bootstrap:write_app", port, workers)


@app.command("serve-read")
def serve_read(port: Port = None, workers: Workers = None) -> None:
    """Run the query API alone, on the configured stores (stateless: add processes to scale).

    Example: marketplace serve-read --port 8001 --workers 2
    """
    serve("query-api", "marketplace.bootstrap:read_app", port, workers)


@app.command("serve-audit")
def serve_audit(port: Port = None, workers: Workers = None) -> None:
    """Run the audit API alone, on the configured event store (read-only; auditors and admins).

    Example: marketplace serve-audit --port 8002
    """
    serve("audit-api", "marketplace.audit:audit_app", port, workers)
