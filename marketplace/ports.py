"""The ports `marketplace up` is about to listen on, checked before anything starts."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from infra.mail import local_sink
from infra.settings import Settings


@dataclass(frozen=True)
class WantedPort:
    """A port up will listen on, what for, and how a user moves it."""

    port: int
    what: str
    moved_by: str


def wanted_ports(settings: Settings) -> list[WantedPort]:
    """Every loopback port the configured stack listens on."""
    wanted = [
        WantedPort(
            settings.http.write_api_port,
            "the command API",
            "MARKETPLACE_WRITE_API_PORT or --write-port",
        ),
        WantedPort(
            settings.http.read_api_port, "the query API", "MARKETPLACE_READ_API_PORT or --read-port"
        ),
    ]
    if not settings.postgres.url:
        wanted.append(
            WantedPort(
                settings.postgres.embedded_port,
                "the embedded PostgreSQL",
                "MARKETPLACE_EMBEDDED_POSTGRES_PORT",
            )
        )
    if not settings.redis.url:
        wanted.append(
            WantedPort(
                settings.redis.embedded_port,
                "the embedded Valkey",
                "MARKETPLACE_EMBEDDED_REDIS_PORT",
            )
        )
    if not settings.payments.gateway_url:
        wanted.append(
            WantedPort(
                settings.payments.gateway_port, "the sandbox gateway", "MARKETPLACE_GATEWAY_PORT"
            )
        )
    if local_sink(settings) is not None:
        wanted.append(
            WantedPort(settings.mail.port, "the local mail sink", "MARKETPLACE_SMTP_PORT")
        )
    if settings.checkout.metrics_port:
        wanted.append(
            WantedPort(
                settings.checkout.metrics_port,
                "the checkout worker's metrics",
                "MARKETPLACE_CHECKOUT_METRICS_PORT",
            )
        )
    return wanted


def taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already accepts connections on host:port."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def ports_in_use(settings: Settings) -> list[str]:
    """One line per wanted port something else already listens on, naming how to move it."""
    return [
        f"port {wanted.port} ({wanted.what}) is already in use; set {wanted.moved_by}"
        for wanted in wanted_ports(settings)
        if taken(wanted.port)
    ]
