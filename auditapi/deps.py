"""What the audit API needs, and the dependencies naming and recording its callers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import Depends, Request

from auditapi.access import Access
from auditapi.owners import owners, stream_owners
from auditapi.reader import EventReader
from infra.audit.verify import Verdict
from infra.auth import Principal, Role, TokenCodec
from infra.web import caller_in

AUDIT_ROLES: tuple[Role, ...] = ("auditor", "admin")
"""The roles let in; every other role gets 403."""


class AccessLog(Protocol):
    """Where audit reads are recorded, and read back."""

    def record(self, access: Access) -> int:
        """Keep one read; its id."""
        ...

    def add_subjects(self, access_id: int, subjects: Iterable[str]) -> None:
        """Keep whose data the read access_id showed."""
        ...

    def reads(
        self, *, subject: str | None, reader: UUID | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """Recorded reads after an id, of one subject or by one reader."""
        ...


@dataclass
class AuditApiDeps:
    """The audit API's dependencies, built by the composition root."""

    reader: EventReader
    access: AccessLog
    tokens: TokenCodec
    closers: tuple[Callable[[], object], ...] = field(default=())
    verify: Callable[[], list[Verdict]] = field(default=lambda: [])
    """Recompute every log's chain against its checkpoints (infra.audit); one verdict each."""


Auditor = Annotated[Principal, Depends(caller_in(AUDIT_ROLES, "read the audit trail"))]
"""The caller, an auditor or an admin: 401 without a valid token, else 403."""


def deps_of(request: Request) -> AuditApiDeps:
    """The app's dependencies."""
    deps: AuditApiDeps = request.app.state.deps
    return deps


Deps = Annotated[AuditApiDeps, Depends(deps_of)]


@dataclass(frozen=True)
class AuditCall:
    """One audit request: the caller and the app's dependencies; it records what it reads."""

    deps: AuditApiDeps
    caller: Principal
    request_id: str | None

    def record(self, action: str, subject: str, **query: Any) -> int:
        """Record that the caller read subject (what the action names), with the query's
        values; the read's id, for showed."""
        shown = {key: str(value) for key, value in query.items() if value is not None}
        caller = self.caller
        access = Access(caller.sub, caller.role, action, subject, shown, self.request_id)
        return self.deps.access.record(access)

    def showed(self, access_id: int, events: Iterable[dict[str, Any]]) -> None:
        """Record, before they are sent, whose data the read's events are (auditapi.owners)."""
        self.deps.access.add_subjects(access_id, owners(self.deps.reader, events))

    def showed_stream(self, access_id: int, stream_id: UUID) -> None:
        """Record, before the answer is sent, whose data one stream is."""
        self.deps.access.add_subjects(access_id, stream_owners(self.deps.reader, stream_id))


def audit_call(request: Request, caller: Auditor, deps: Deps) -> AuditCall:
    """The request's caller (401 or 403 unless an auditor or admin) and the app's deps."""
    return AuditCall(deps, caller, getattr(request.state, "request_id", None))


Call = Annotated[AuditCall, Depends(audit_call)]
