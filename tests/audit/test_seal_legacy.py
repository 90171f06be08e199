"""Personal data stored plain before sealing was on, sealed later so that erasure reaches it.

On a real PostgreSQL: customers registered with sealing off, checkpoints signed, then
`seal-legacy`: the plain rows are sealed in place, the chain is re-anchored with a signed
rewrite record, `audit verify` passes and names the rewritten positions, decoded events (and
so views and figures) are unchanged, and after an erasure no table holds the name or email.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from commands.services import Commands
from domain.personal import ERASED
from infra.eventstore import eventsourcing_env, search_path_of
from infra.settings import Settings, load_settings
from marketplace.audit_chain import take_checkpoints, verify_logs
from marketplace.personal import seal_legacy_logs
from tests.conftest import run_marketplace
from tests.contract.test_personal_data import ctx

pytestmark = pytest.mark.postgres

REASON = "sealing turned on: legacy rows sealed"


def settings(postgres_url: str, blobs: Path, *, encrypt: bool) -> Settings:
    return load_settings(
        postgres={"url": postgres_url},
        blobs={"local_dir": str(blobs)},
        events={"encrypt_personal_data": encrypt},
    )


@pytest.fixture
def open_commands(postgres_url: str, tmp_path: Path) -> Iterator[Any]:
    opened: list[Commands] = []

    def open_(*, encrypt: bool) -> Commands:
        env = eventsourcing_env(settings(postgres_url, tmp_path, encrypt=encrypt), postgres_url)
        opened.append(Commands(env))
        return opened[-1]

    yield open_
    for commands in opened:
        commands.close()


def person(n: int) -> tuple[str, str]:
    return f"Legacy Person{n} {uuid4().hex[:6]}", f"legacy{n}.{uuid4().hex[:8]}@example.com"


def register(commands: Commands, name: str, email: str) -> UUID:
    customer_id = uuid4()
    commands.customers.register_customer(customer_id, name, email, ctx(customer_id))
    address = {"line1": f"{name} Street", "line2": "", "city": "Leeds", "postal_code": "LS1"}
    commands.customers.add_address(
        customer_id, uuid4(), {**address, "country": "GB"}, ctx(customer_id), None
    )
    return customer_id


def first(commands: Commands, customer: UUID) -> Any:
    return next(iter(commands.customers.events.get(customer)))


def every_table(postgres_url: str) -> str:
    """Every row of every table of the test's schema, as text (bytea as hex and as text)."""
    schema = search_path_of(postgres_url)
    dump = []
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            select = SQL("SELECT t::text FROM {} t").format(Identifier(schema, table))
            dump += [row[0] for row in conn.execute(select)]
    text = "\n".join(dump)
    return text + bytes.fromhex(text.replace("\\x", "").encode().hex()).decode(errors="ignore")


def visible(text: str, *needles: str) -> list[str]:
    return [n for n in needles if n in text or n.encode().hex() in text]


def test_seal_legacy_then_erase_leaves_nothing_and_verify_names_the_rewrite(
    open_commands: Any, postgres_url: str, tmp_path: Path
) -> None:
    plain = open_commands(encrypt=False)
    (name_a, email_a), (name_b, email_b), (name_c, email_c) = person(1), person(2), person(3)
    a, b = register(plain, name_a, email_a), register(plain, name_b, email_b)
    on = settings(postgres_url, tmp_path, encrypt=True)
    take_checkpoints(on)
    sealed = open_commands(encrypt=True)
    c = register(sealed, name_c, email_c)
    take_checkpoints(on)
    before = {x: list(sealed.customers.events.get(x)) for x in (a, b, c)}
    assert visible(every_table(postgres_url), email_a, name_b) == [email_a, name_b]

    rewrites = seal_legacy_logs(on, REASON)

    assert [r.log for r in rewrites] == ["customers", "customers"]
    assert visible(every_table(postgres_url), email_a, name_a, email_b, name_b) == []
    reader = open_commands(encrypt=True)
    assert {x: list(reader.customers.events.get(x)) for x in (a, b, c)} == before
    verdicts = {v.log: v for v in verify_logs(on)}
    assert all(v.ok for v in verdicts.values()), verdicts
    assert verdicts["customers"].rewritten == tuple(p for r in rewrites for p in r.positions)
    assert len(verdicts["customers"].rewritten) == 4 and verdicts["customers"].reasons == (REASON,)
    assert seal_legacy_logs(on, REASON) == []  # nothing plain is left

    reader.customers.erase(a, ctx(a))
    take_checkpoints(on)
    dump = every_table(postgres_url)
    assert visible(dump, email_a, name_a, f"{name_a} Street") == []
    assert first(open_commands(encrypt=True), a).email == ERASED
    assert first(open_commands(encrypt=True), b).email == email_b
    assert all(v.ok for v in verify_logs(on))


def test_a_person_erased_before_the_seal_gets_the_placeholder(
    open_commands: Any, postgres_url: str, tmp_path: Path
) -> None:
    name, email = person(4)
    customer = register(open_commands(encrypt=False), name, email)
    on = settings(postgres_url, tmp_path, encrypt=True)
    open_commands(encrypt=True).customers.erase(customer, ctx(customer))
    assert visible(every_table(postgres_url), email) == [email]

    seal_legacy_logs(on, REASON, persons=[str(customer)])

    assert visible(every_table(postgres_url), email, name) == []
    assert first(open_commands(encrypt=True), customer).name == ERASED
    assert all(v.ok for v in verify_logs(on))


def test_a_forged_rewrite_record_breaks_verification(
    open_commands: Any, postgres_url: str, tmp_path: Path
) -> None:
    register(open_commands(encrypt=False), *person(5))
    on = settings(postgres_url, tmp_path, encrypt=True)
    take_checkpoints(on)
    seal_legacy_logs(on, REASON)
    schema = search_path_of(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        table = Identifier(schema, "customers_events_rewrites")
        conn.execute(SQL("UPDATE {} SET reason = 'nothing to see'").format(table))

    verdicts = {v.log: v for v in verify_logs(on)}

    assert verdicts["customers"].broken is not None
    assert verdicts["customers"].broken.value == "checkpoint forged"


def test_the_command_line_seals_and_verify_reports_the_rewrite(
    open_commands: Any, postgres_url: str, tmp_path: Path
) -> None:
    register(open_commands(encrypt=False), *person(6))
    env = {"MARKETPLACE_POSTGRES_URL": postgres_url, "MARKETPLACE_BLOB_DIR": str(tmp_path)}
    run_marketplace("audit", "checkpoint", env=env)

    sealing = run_marketplace("personal", "seal-legacy", "--json", env=env)
    verified = run_marketplace("audit", "verify", env=env)

    assert sealing.returncode == 0, sealing.stderr
    (rewrite,) = json.loads(sealing.stdout)["rewrites"]
    assert rewrite["log"] == "customers" and len(rewrite["positions"]) == 2
    assert verified.returncode == 0, verified.stderr
    assert "sanctioned rewrite at" in verified.stdout
