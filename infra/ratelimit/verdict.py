"""What a request's budgets said, and the RateLimit fields that tell the caller.

The fields are those of draft-ietf-httpapi-ratelimit-headers-11, one list item per budget:
`RateLimit-Policy: "cart-user";q=300;w=60, "cart-ip";q=1500;w=60` and
`RateLimit: "cart-user";r=299;t=60, "cart-ip";r=1499;t=60`.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.ratelimit.policies import Policy, policy_field


@dataclass(frozen=True)
class Spent:
    """What one budget said about one request."""

    policy: Policy
    allowed: bool
    remaining: int
    reset_seconds: int


@dataclass(frozen=True)
class Verdict:
    """The budgets one request spent, and whether it may go on."""

    spent: tuple[Spent, ...]

    @property
    def allowed(self) -> bool:
        """No budget refused the request."""
        return all(s.allowed for s in self.spent)

    @property
    def violated(self) -> list[str]:
        """The names of the budgets that refused it."""
        return [s.policy.name for s in self.spent if not s.allowed]

    @property
    def retry_after(self) -> int:
        """Seconds until every refusing budget has room again (at least 1)."""
        return max([1, *(s.reset_seconds for s in self.spent if not s.allowed)])

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """headers(), as ASGI header pairs."""
        policy, state = self._fields()
        return [(b"ratelimit-policy", policy), (b"ratelimit", state)]

    def headers(self) -> dict[str, str]:
        """The RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers)."""
        policy, state = self._fields()
        return {"RateLimit-Policy": policy.decode(), "RateLimit": state.decode()}

    def _fields(self) -> tuple[bytes, bytes]:
        state = ", ".join(
            f'"{s.policy.name}";r={s.remaining};t={s.reset_seconds}' for s in self.spent
        )
        return policy_field(tuple(s.policy for s in self.spent)), state.encode()
