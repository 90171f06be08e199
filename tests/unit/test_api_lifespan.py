"""An API's lifespan warms what it is given as it starts, and closes what it owns when the
server stops, whatever one of them does."""

from __future__ import annotations

from fastapi.testclient import TestClient

from infra.apps import api_app


def test_the_lifespan_closes_what_the_app_owns_last_first_past_a_failing_closer() -> None:
    closed: list[str] = []

    async def close_limiter() -> None:
        closed.append("limiter")

    def fail() -> None:
        closed.append("failing")
        raise RuntimeError("already closed")

    owned = [lambda: closed.append("pool"), fail, close_limiter]
    app = api_app("t", "d", ("health",), (), deps=None, owned=owned)

    with TestClient(app) as client:
        assert client.get("/health/live").status_code == 200
        assert closed == []

    assert closed == ["limiter", "failing", "pool"]


def test_the_lifespan_warms_what_it_is_given_before_the_first_request_past_a_failure() -> None:
    warmed: list[str] = []

    async def connect() -> None:
        warmed.append("redis")

    def refuse() -> None:
        warmed.append("refused")
        raise ConnectionError("not yet")

    app = api_app("t", "d", ("health",), (), deps=None, warmed=[refuse, connect])

    assert warmed == []
    with TestClient(app) as client:
        assert warmed == ["refused", "redis"]
        assert client.get("/health/live").status_code == 200
