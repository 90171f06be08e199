"""Schemathesis finds nothing: the audit API does what its OpenAPI document says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis

from auditapi.app import create_app
from infra.auth import Role
from marketplace.audit import build_audit_deps
from tests.auditapi.conftest import Audit, audit_settings
from tests.support import fuzzing

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def roles_for(method: str, path: str) -> tuple[Role, ...]:
    """Every audit route lets in auditors and admins only."""
    return ("auditor", "admin")


@pytest.fixture(scope="module")
def audit_api_schema(audit: Audit, module_postgres_url: str) -> Iterator[schemathesis.BaseSchema]:
    """The audit API over the module's shop (the audit fixture wrote it)."""
    deps = build_audit_deps(audit_settings(module_postgres_url))
    app = create_app(deps, owned=deps.closers)
    try:
        yield fuzzing.load(app, deps.tokens, roles_for)
    finally:
        fuzzing.stop(app)


def test_schemathesis_finds_nothing(audit_api_schema: schemathesis.BaseSchema) -> None:
    findings = fuzzing.run(audit_api_schema)
    assert not findings.failures and not findings.errors, findings.report()
    assert set(findings.scenarios) >= {"examples", "coverage", "fuzzing"}
