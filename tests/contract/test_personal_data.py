"""Personal data in events is sealed per person, on every event store that keeps it.

PostgreSQL always runs; KurrentDB runs when KURRENTDB_URI names a server (its keys live in
the PostgreSQL). Each test reads the raw stored state as the store holds it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from commands.base import ContextApplication
from commands.services import Commands
from domain.base import Context
from domain.customer import Customer
from domain.personal import ERASED, PERSONAL_DATA
from infra.eventstore import eventsourcing_env
from infra.personal import mapper as personal_mapper
from infra.settings import EventStoreSettings, PostgresSettings, Settings

BACKENDS = [pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
if os.environ.get("KURRENTDB_URI"):
    BACKENDS.append(pytest.param("kurrentdb", id="kurrentdb", marks=pytest.mark.kurrentdb))

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NAME, EMAIL, STREET = "Grace Hopper", "grace.hopper@example.com", "1 Cobol Lane"


def settings_for(backend: str, *, encrypt: bool = True) -> Settings:
    uri = os.environ.get("KURRENTDB_URI") if backend == "kurrentdb" else None
    return Settings(
        events=EventStoreSettings(store=backend, kurrentdb_uri=uri, encrypt_personal_data=encrypt),
        postgres=PostgresSettings(pool_size=2, max_overflow=2),
    )


@pytest.fixture(params=BACKENDS)
def open_commands(request: pytest.FixtureRequest, postgres_url: str) -> Any:
    opened: list[Commands] = []

    def open_(*, encrypt: bool = True) -> Commands:
        env = eventsourcing_env(settings_for(request.param, encrypt=encrypt), postgres_url)
        opened.append(Commands(env))
        return opened[-1]

    yield open_
    for commands in opened:
        commands.close()


def ctx(actor: UUID) -> Context:
    tag = uuid4().hex
    return Context(AT, str(actor), "shopper", tag, tag, tag)


def register(commands: Commands) -> UUID:
    customer_id = uuid4()
    commands.customers.register_customer(customer_id, NAME, EMAIL, ctx(customer_id))
    address = {"line1": STREET, "line2": "", "city": "Arlington", "postal_code": "22201"}
    commands.customers.add_address(
        customer_id, uuid4(), {**address, "country": "US"}, ctx(customer_id), None
    )
    return customer_id


def raw(app: ContextApplication, aggregate_id: UUID) -> bytes:
    """Every stored state of the aggregate, as the store holds it."""
    return b"".join(bytes(e.state) for e in app.recorder.select_events(aggregate_id))


def decoded(app: ContextApplication, aggregate_id: UUID) -> list[Any]:
    return list(app.events.get(aggregate_id))


def test_personal_data_is_sealed_in_the_store_and_read_back_whole(open_commands: Any) -> None:
    commands = open_commands()
    customer_id = register(commands)
    stored = raw(commands.customers, customer_id)
    for text in (NAME, EMAIL, STREET, "Arlington", "22201"):
        assert text.encode() not in stored
    assert b'"US"' in stored
    registered, added = decoded(open_commands().customers, customer_id)
    assert (registered.name, registered.email) == (NAME, EMAIL)
    assert (added.line1, added.line2, added.city, added.country) == (STREET, "", "Arlington", "US")


def test_an_erased_key_leaves_the_placeholder_everywhere(open_commands: Any) -> None:
    commands = open_commands()
    customer_id, other = register(commands), register(commands)
    before = raw(commands.customers, customer_id)
    mapper = commands.customers.mapper
    assert isinstance(mapper, personal_mapper.PersonalDataMapper)
    mapper.erase(str(customer_id))
    assert raw(commands.customers, customer_id) == before
    for app in (commands.customers, open_commands().customers):
        registered, added = decoded(app, customer_id)
        assert (registered.name, registered.email) == (ERASED, ERASED)
        assert (added.line1, added.city, added.country) == (ERASED, ERASED, "US")
        assert decoded(app, other)[0].email == EMAIL
    customer = open_commands().customers.load(customer_id, Customer)
    assert (customer.name, customer.email) == (ERASED, ERASED)


def test_erasing_a_customer_records_it_and_forgets_the_cached_copy(open_commands: Any) -> None:
    commands = open_commands()
    customer_id = register(commands)
    assert commands.customers.load(customer_id, Customer).name == NAME  # now in the cache
    commands.customers.erase(customer_id, ctx(customer_id))
    commands.customers.erase(customer_id, ctx(customer_id))
    customer = commands.customers.load(customer_id, Customer)
    assert (customer.erased, customer.name, customer.email) == (True, ERASED, ERASED)
    assert {a["line1"] for a in customer.addresses.values()} == {ERASED}
    erased = decoded(commands.customers, customer_id)[-1]
    assert isinstance(erased, Customer.Erased)
    assert NAME.encode() not in raw(commands.customers, customer_id)


def test_data_written_for_an_erased_person_is_stored_erased(open_commands: Any) -> None:
    commands = open_commands()
    customer_id = register(commands)
    commands.customers.mapper.erase(str(customer_id))  # type: ignore[attr-defined]
    commands.customers.add_address(
        customer_id,
        uuid4(),
        {
            "line1": "2 Late Road",
            "line2": "",
            "city": "Oslo",
            "postal_code": "0150",
            "country": "NO",
        },
        ctx(customer_id),
        None,
    )
    assert b"Late Road" not in raw(commands.customers, customer_id)
    assert decoded(commands.customers, customer_id)[-1].line1 == ERASED


def test_with_encryption_off_events_are_stored_as_they_are(open_commands: Any) -> None:
    commands = open_commands(encrypt=False)
    customer_id = register(commands)
    assert EMAIL.encode() in raw(commands.customers, customer_id)
    assert decoded(commands.customers, customer_id)[0].email == EMAIL


def test_the_placeholder_is_the_one_the_domain_names() -> None:
    assert personal_mapper.ERASED == ERASED
    assert all(groups for groups in PERSONAL_DATA.values())


def test_a_reader_that_decodes_the_erasure_forgets_the_key_it_held(open_commands: Any) -> None:
    reader, writer = open_commands(), open_commands()
    customer_id = register(writer)
    assert decoded(reader.customers, customer_id)[0].name == NAME  # the key is now cached
    writer.customers.erase(customer_id, ctx(customer_id))
    erased = list(reader.customers.events.get(customer_id, gt=1))
    assert isinstance(erased[-1], Customer.Erased)
    assert decoded(reader.customers, customer_id)[0].name == ERASED
