"""Schemathesis against an API's own OpenAPI document: every phase and check, a fixed seed.

Both API suites load their app in-process (`schemathesis.openapi.from_asgi`) over real
stores and call it with bearer tokens for the roles each route serves. The ignored_auth
check sends the same requests without a token and with a made-up one.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import schemathesis
from fastapi import FastAPI
from schemathesis import engine
from schemathesis.engine import events
from schemathesis.python import asgi

from infra.auth import Role, TokenCodec

SEED = 20261207
FUZZ_EXAMPLES = 12
"""Fuzzing examples per operation; the examples and coverage phases are bounded by the spec."""
STATEFUL_STEPS = 6
SUBJECTS: dict[Role, UUID] = {
    "shopper": UUID("5b0e1c3a-0000-4000-8000-000000000001"),
    "seller": UUID("5b0e1c3a-0000-4000-8000-000000000002"),
    "admin": UUID("5b0e1c3a-0000-4000-8000-000000000003"),
    "auditor": UUID("5b0e1c3a-0000-4000-8000-000000000004"),
    "analyst": UUID("5b0e1c3a-0000-4000-8000-000000000005"),
}
"""One subject per role for the whole run, so what a stateful scenario creates stays its own."""
EXPECTED_FOR_VALID_DATA = [
    "2xx",
    "3xx",
    "401",
    "403",
    "404",
    "409",
    "412",
    "413",
    "415",
    "429",
    "5xx",
]
"""Schemathesis's default for positive_data_acceptance, plus three refusals no schema can
foresee: 412 for an If-Match naming a version other than the current one, 413 for a
body over the server's cap in bytes (JSON Schema bounds characters, not bytes), and 415 for
an uploaded file whose bytes are no image (a binary schema cannot say which bytes are)."""
EXPECTED_FOR_INVALID_DATA = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "412",
    "413",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]
"""Schemathesis's default for negative_data_rejection, plus two refusals of invalid data: 412
for an If-Match that is no ETag (it matches no version, as RFC 9110 evaluates it) and 413
for a body too long for its schema that is also over the server's byte cap."""

UNIQUE_KEY_ROOM = re.compile(r"^[\x21-\x7e]{1,240}$")
"""A valid Idempotency-Key with room for a suffix. The fuzzer draws few distinct keys, and a
key used again with another body is refused with 422 as the Idempotency-Key draft asks; each
request gets a key of its own, so only a real mismatch with the document shows."""

RoleFor = Callable[[str, str], tuple[Role, ...]]
"""The roles that may call an operation, given its method and path template."""


def config() -> schemathesis.Config:
    """Every phase and every check on, deterministic, with a bounded number of examples."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": FUZZ_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
            },
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": EXPECTED_FOR_VALID_DATA},
                "negative_data_rejection": {"expected-statuses": EXPECTED_FOR_INVALID_DATA},
            },
        }
    )


def load(app: FastAPI, tokens: TokenCodec, roles_for: RoleFor) -> schemathesis.BaseSchema:
    """The app's OpenAPI document, called in-process with a valid token for each operation.

    An operation several roles may call is called as each of them in turn.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config())
    turns: dict[tuple[str, str], Iterator[Role]] = {}
    requests = itertools.count()

    class BearerFor:
        """A bearer token for the role whose turn it is on this operation."""

        def get(self, case: schemathesis.Case, ctx: Any) -> str:
            key = (case.method.upper(), case.operation.path)
            if key not in turns:
                turns[key] = itertools.cycle(roles_for(*key))
            role = next(turns[key])
            return tokens.issue(SUBJECTS[role], role)

        def set(self, case: schemathesis.Case, data: str, ctx: Any) -> None:
            case.headers["Authorization"] = f"Bearer {data}"
            key = case.headers.get("Idempotency-Key")
            if key is not None and UNIQUE_KEY_ROOM.match(key):
                case.headers["Idempotency-Key"] = f"{key}-{next(requests)}"

    schema.auth.auth(refresh_interval=None)(BearerFor)
    return schema


@dataclass
class Findings:
    """What one run of every phase found: failures and errors, and how much it tried."""

    failures: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    scenarios: Counter[str] = field(default_factory=Counter)
    """Scenarios run per phase."""
    mislabelled: int = 0
    """Cases schemathesis called valid that break a header pattern (see off_pattern)."""

    def report(self) -> str:
        """Every distinct failure and error, for the assertion message."""
        return "\n\n".join([*sorted(self.failures), *self.errors])


def off_pattern(case: schemathesis.Case) -> bool:
    """Whether a header the case sends breaks its parameter's pattern.

    Schemathesis 4.32's coverage phase seeds an optional header with the first value it
    draws for it, a negative one ("0") when it draws no positive value for a pattern, and then
    sends it in cases it labels positive. Such a case is not schema-valid data, so its refusal
    is no failure of positive_data_acceptance; every other check still judges it.
    """
    for parameter in case.operation.iter_parameters():
        schema = parameter.unoptimized_schema
        value = case.headers.get(parameter.name) if case.headers else None
        pattern = schema.get("pattern") if isinstance(schema, dict) else None
        header = parameter.location.value == "header" and isinstance(value, str)
        if header and pattern and re.search(pattern, str(value)) is None:
            return True
    return False


def nothing_beyond(case: schemathesis.Case) -> bool:
    """No rule of the API lies beyond what its document can say."""
    return False


def run(
    schema: schemathesis.BaseSchema,
    beyond_schema: Callable[[schemathesis.Case], bool] = nothing_beyond,
) -> Findings:
    """Run every phase against the schema's app, as `schemathesis run` would.

    beyond_schema names the cases that break a rule the document states only in prose (a
    range that ends before it starts): their refusal is no failure of positive_data_acceptance.
    """
    findings = Findings()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            findings.scenarios[event.phase.value] += 1
            record(findings, event, beyond_schema)
        elif isinstance(event, events.NonFatalError):
            findings.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            findings.errors.append(f"fatal: {event.exception!r}")
    return findings


def record(
    findings: Findings,
    event: events.ScenarioFinished,
    beyond_schema: Callable[[schemathesis.Case], bool] = nothing_beyond,
) -> None:
    """Each failed check of a scenario: which, on what, how it was drawn and answered."""
    recorder = event.recorder
    for case_id, checks in recorder.checks.items():
        interaction = recorder.interactions.get(case_id)
        response = interaction.response if interaction else None
        node = recorder.cases.get(case_id)
        meta = node.value.meta if node else None
        drawn = f"{meta.generation.mode.value}: {meta.phase.data.description}" if meta else ""
        for check in checks:
            if check.failure_info is None:
                continue
            mislabelled = node and (off_pattern(node.value) or beyond_schema(node.value))
            if check.name == "positive_data_acceptance" and mislabelled:
                findings.mislabelled += 1
                continue
            failure = check.failure_info.failure
            findings.failures.add(
                f"{check.name} on {recorder.label} ({event.phase.value}, answered "
                f"{response.status_code if response else None}; {drawn}): {failure.title}\n"
                f"{failure.message}\n{check.failure_info.code_sample}"
            )


def stop(app: FastAPI) -> None:
    """End the app's lifespan in schemathesis's event loop, closing what the app owns there."""
    asgi.shutdown_lifespans()
