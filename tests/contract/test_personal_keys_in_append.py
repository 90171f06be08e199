"""A new person's data key is stored by the append that seals their data, in its statement.

So a registration costs no separate key round trip; a key commits or rolls back with its
events; and a person whose key row was there already (or who was erased) is sealed with the
stored key (or stored erased) after one more append.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import RecordConflictError
from psycopg.sql import SQL, Identifier

from commands.services import Commands
from domain.personal import ERASED
from infra.eventstore import eventsourcing_env, search_path_of
from infra.personal.keys import KEY_TABLE, PostgresKeyStore
from infra.personal.mapper import PersonalDataMapper
from tests.contract.test_personal_data import EMAIL, NAME, ctx, decoded, raw, settings_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def open_commands(postgres_url: str) -> Iterator[Any]:
    opened: list[Commands] = []

    def open_(*, encrypt: bool = True) -> Commands:
        env = eventsourcing_env(settings_for("postgres", encrypt=encrypt), postgres_url)
        opened.append(Commands(env))
        return opened[-1]

    yield open_
    for commands in opened:
        commands.close()


def key_row(postgres_url: str, person: UUID) -> tuple[Any, ...] | None:
    schema = search_path_of(postgres_url) or "public"
    with psycopg.connect(postgres_url) as conn:
        select = SQL("SELECT data_key, erased_at FROM {} WHERE person_id = %s")
        return conn.execute(select.format(Identifier(schema, KEY_TABLE)), (str(person),)).fetchone()


def mapper_of(commands: Commands) -> PersonalDataMapper:
    mapper = commands.customers.mapper
    assert isinstance(mapper, PersonalDataMapper)
    return mapper


def test_a_new_person_costs_no_separate_key_round_trip(
    open_commands: Any, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = open_commands()

    def refused(*_: Any) -> None:
        raise AssertionError("a key made outside the append")

    monkeypatch.setattr(PostgresKeyStore, "_insert", refused)
    customer_id = uuid4()
    commands.customers.register_customer(customer_id, NAME, EMAIL, ctx(customer_id))
    assert EMAIL.encode() not in raw(commands.customers, customer_id)
    row = key_row(postgres_url, customer_id)
    assert row is not None and row[0] is not None
    monkeypatch.undo()
    assert decoded(open_commands().customers, customer_id)[0].email == EMAIL


def test_an_append_that_rolls_back_leaves_no_key(open_commands: Any, postgres_url: str) -> None:
    customer_id = uuid4()
    open_commands(encrypt=False).customers.register_customer(
        customer_id, NAME, EMAIL, ctx(customer_id)
    )
    with pytest.raises(RecordConflictError):
        open_commands().customers.register_customer(customer_id, NAME, EMAIL, ctx(customer_id))
    assert key_row(postgres_url, customer_id) is None


def test_a_person_with_a_key_row_already_is_sealed_with_the_stored_key(
    open_commands: Any, postgres_url: str
) -> None:
    customer_id = uuid4()
    made = mapper_of(open_commands()).keys.key_for_writing(str(customer_id))  # an order, say
    commands = open_commands()
    commands.customers.register_customer(customer_id, NAME, EMAIL, ctx(customer_id))
    row = key_row(postgres_url, customer_id)
    assert row is not None and bytes(row[0]) == made
    assert decoded(open_commands().customers, customer_id)[0].email == EMAIL
    assert not mapper_of(commands).keys.may_be_new(str(customer_id))


def test_a_person_erased_before_they_registered_is_stored_erased(
    open_commands: Any, postgres_url: str
) -> None:
    customer_id = uuid4()
    mapper_of(open_commands()).erase(str(customer_id))
    commands = open_commands()
    commands.customers.register_customer(customer_id, NAME, EMAIL, ctx(customer_id))
    assert EMAIL.encode() not in raw(commands.customers, customer_id)
    assert decoded(open_commands().customers, customer_id)[0].email == ERASED
