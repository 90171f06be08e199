"""Schemathesis finds nothing: the command API does what its OpenAPI document says."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
import schemathesis

from infra.auth import Role
from tests.api.conftest import Api, command_api
from tests.support import fuzzing

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def roles_for(method: str, path: str) -> tuple[Role, ...]:
    """Who may call each command: as writeapi.deps's call_as says for each router."""
    if path.endswith("/suspension"):
        return ("admin",)
    if path.startswith(("/v1/customers", "/v1/carts")) or path.endswith("/cancellation"):
        return ("shopper", "admin")
    return ("seller", "admin")


@pytest.fixture(scope="module")
def command_api_schema(module_postgres_url: str) -> Iterator[schemathesis.BaseSchema]:
    """The command API on its own schema, as schemathesis calls it."""
    with command_api(module_postgres_url) as (deps, app):
        try:
            yield fuzzing.load(app, deps.tokens, roles_for)
        finally:
            fuzzing.stop(app)


def test_schemathesis_finds_nothing(command_api_schema: schemathesis.BaseSchema) -> None:
    findings = fuzzing.run(command_api_schema)
    assert not findings.failures and not findings.errors, findings.report()
    assert set(findings.scenarios) >= {"examples", "coverage", "fuzzing", "stateful"}


def test_the_document_names_the_bearer_scheme_and_problem_answers(
    command_api_schema: schemathesis.BaseSchema,
) -> None:
    document = command_api_schema.raw_schema
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path.startswith("/v1/"):
                assert operation["security"] == [{"bearer": []}], path
                problem = operation["responses"]["422"]["content"]
                assert set(problem) == {"application/problem+json"}, path


async def test_a_method_a_path_does_not_serve_is_405_allowing_every_one_it_does(
    shared_api: Api,
) -> None:
    line = f"/v1/carts/{uuid4()}/items/{uuid4()}"
    response = await shared_api.client.patch(line, headers=shared_api.auth(uuid4(), "shopper"))

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, PUT"
    assert response.headers["content-type"] == "application/problem+json"
