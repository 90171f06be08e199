"""Schemathesis finds nothing: the audit API does what its OpenAPI document says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import schemathesis

from auditapi.app import create_app
from auditapi.reader import TracePoint
from infra.auth import Role
from marketplace.audit import build_audit_deps
from tests.auditapi.conftest import Audit, audit_settings
from tests.support import fuzzing

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def beyond_schema(case: schemathesis.Case) -> bool:
    """The rules the document states in prose only: a time range must end after it starts,
    until_position must be past after, a past state names exactly one of version and at, a
    trace's cursor is one the API gave (opaque); and integers come in their plain form (JSON
    Schema also calls `60.0` an integer)."""
    query = case.query or {}
    if "/traces/" in case.operation.path and "after" in query:
        try:
            TracePoint.decode(str(query["after"]))
        except ValueError:
            return True
    if any(isinstance(v, float) or re.fullmatch(r"-?\d+\.\d*", str(v)) for v in query.values()):
        return True
    since, until = _time(query.get("since")), _time(query.get("until"))
    aware = [t for t in (since, until) if t is not None and t.tzinfo is not None]
    if len(aware) == 2 and aware[1] <= aware[0]:
        return True
    position, after = str(query.get("until_position", "")), str(query.get("after", 0))
    if position.isdigit() and after.isdigit() and int(position) <= int(after):
        return True
    return case.operation.path.endswith("/state") and ("version" in query) == ("at" in query)


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
    findings = fuzzing.run(audit_api_schema, beyond_schema)
    assert not findings.failures and not findings.errors, findings.report()
    assert set(findings.scenarios) >= {"examples", "coverage", "fuzzing"}
