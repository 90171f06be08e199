"""Only auditors and admins read the audit trail: every route, every role."""

from __future__ import annotations

import pytest

from infra.auth import ROLES
from tests.auditapi.conftest import Audit

ALLOWED = {"auditor", "admin"}


def routes(audit: Audit) -> list[str]:
    shop = audit.shop
    return [
        f"/v1/audit/streams/{shop.order_id}",
        f"/v1/audit/streams/{shop.order_id}/links",
        f"/v1/audit/streams/{shop.order_id}/state?version=0",
        "/v1/audit/logs",
        "/v1/audit/logs/orders/events",
        "/v1/audit/logs/orders/export",
        f"/v1/audit/traces/{shop.correlation_id}",
        "/v1/audit/access",
        "/v1/audit/verify",
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("role", ROLES)
def test_every_route_lets_in_only_auditors_and_admins(audit: Audit, role: str) -> None:
    for path in routes(audit):
        answer = audit.client.get(path, headers=audit.headers(role))  # type: ignore[arg-type]
        expected = 200 if role in ALLOWED else 403
        assert answer.status_code == expected, (path, answer.text)
        if expected == 403:
            assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.postgres
def test_every_route_wants_a_valid_token(audit: Audit) -> None:
    for path in routes(audit):
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            answer = audit.client.get(path, headers=headers)
            assert answer.status_code == 401, (path, answer.text)
            assert answer.json()["type"] == "urn:marketplace:problem:unauthenticated"


@pytest.mark.postgres
def test_the_set_of_routes_is_the_one_checked(audit: Audit) -> None:
    served = {
        route.path  # type: ignore[attr-defined]
        for route in audit.client.app.routes  # type: ignore[attr-defined]
        if route.path.startswith("/v1/audit")  # type: ignore[attr-defined]
    }
    checked = {path.split("?")[0] for path in routes(audit)}
    shop = audit.shop
    templates = {
        p.replace(str(shop.order_id), "{stream_id}")
        .replace(shop.correlation_id, "{correlation_id}")
        .replace("/logs/orders/", "/logs/{log}/")
        for p in checked
    }
    assert templates == served
