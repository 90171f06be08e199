"""A pooled connection leaves the pool unasked while it looks alive, and is asked (and
replaced) once its server ended it."""

from __future__ import annotations

import select

import psycopg
import pytest

from infra.postgres_pool import alive_at_a_glance, postgres_pool

pytestmark = pytest.mark.postgres

DELIVERY_SECONDS = 10.0
"""How long the test lets the server's goodbye take to reach the socket (it waits on it)."""


def test_an_idle_open_connection_looks_alive(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        assert alive_at_a_glance(conn)


def test_a_connection_in_a_transaction_or_closed_gets_the_full_check(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("SELECT 1")
        assert not alive_at_a_glance(conn)
        conn.rollback()
        assert alive_at_a_glance(conn)
    assert not alive_at_a_glance(conn)


def test_a_connection_its_server_ended_does_not_look_alive(postgres_url: str) -> None:
    with (
        psycopg.connect(postgres_url, autocommit=True) as victim,
        psycopg.connect(postgres_url, autocommit=True) as admin,
    ):
        admin.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
        readable, _, _ = select.select([victim.pgconn.socket], [], [], DELIVERY_SECONDS)
        assert readable
        assert not alive_at_a_glance(victim)


def test_the_pool_replaces_a_connection_its_server_ended(postgres_url: str) -> None:
    pool = postgres_pool(postgres_url, max_size=1, timeout=10)
    try:
        with (
            psycopg.connect(postgres_url, autocommit=True) as admin,
            pool.connection() as conn,
        ):
            first = conn.info.backend_pid
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            readable, _, _ = select.select([conn.pgconn.socket], [], [], DELIVERY_SECONDS)
            assert readable
        with pool.connection() as conn:
            assert conn.info.backend_pid != first
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.close()
