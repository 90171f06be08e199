"""The audit API over a real PostgreSQL event store, built by the composition root as
`marketplace serve-audit` builds it, driven through Starlette's test client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from auditapi.app import create_app
from auditapi.deps import AuditApiDeps
from commands.services import Commands
from infra.auth import Role
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, Settings
from marketplace.audit import build_audit_deps
from tests.support.audit import Shop, open_shop


@dataclass
class Audit:
    """The app's client, its dependencies, the commands that wrote the history, and tokens."""

    client: TestClient
    deps: AuditApiDeps
    commands: Commands
    shop: Shop

    def headers(self, role: Role = "auditor", sub: UUID | None = None) -> dict[str, str]:
        """A bearer token for a caller in role."""
        return {"Authorization": f"Bearer {self.deps.tokens.issue(sub or uuid4(), role)}"}

    def get(self, path: str, role: Role = "auditor", **params: object) -> object:
        """The JSON of a 200 answer to GET path as role."""
        answer = self.client.get(path, params=params, headers=self.headers(role))
        assert answer.status_code == 200, answer.text
        return answer.json()


def audit_settings(postgres_url: str) -> Settings:
    return Settings(environment="test", postgres=PostgresSettings(url=postgres_url))


@pytest.fixture(scope="module")
def audit(module_postgres_url: str) -> Iterator[Audit]:
    settings = audit_settings(module_postgres_url)
    commands = Commands(eventsourcing_env(settings, module_postgres_url))
    shop = open_shop(commands)
    deps = build_audit_deps(settings)
    with TestClient(create_app(deps, owned=deps.closers)) as client:
        yield Audit(client, deps, commands, shop)
    commands.close()
