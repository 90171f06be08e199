"""Budgets: how many requests of a category one caller or one IP may make."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from limits import RateLimitItem, parse_many

Partition = Literal["user", "ip"]


@dataclass(frozen=True)
class Policy:
    """One budget: how many requests of a category one caller or one IP may make."""

    name: str
    partition: Partition
    limit: RateLimitItem

    def field(self) -> str:
        """This policy as a RateLimit-Policy list item."""
        return f'"{self.name}";q={self.limit.amount};w={self.limit.get_expiry()}'


@cache
def policy_field(spent: tuple[Policy, ...]) -> bytes:
    """The RateLimit-Policy field of these budgets, encoded (few combinations: cached)."""
    return ", ".join(p.field() for p in spent).encode()


def policies(category: str, per_principal: str, per_ip: str) -> tuple[Policy, ...]:
    """The budgets of a category from `limits` strings ("600/minute;20/second"; "" for none)."""
    found: list[Policy] = []
    partitions: tuple[tuple[Partition, str], ...] = (("user", per_principal), ("ip", per_ip))
    for partition, text in partitions:
        items = parse_many(text) if text.strip() else []
        for n, item in enumerate(items, 1):
            name = f"{category}-{partition}" + (f"-{n}" if n > 1 else "")
            found.append(Policy(name, partition, item))
    return tuple(found)


def applying(
    budgets: tuple[Policy, ...], principal: str | None, ip: str
) -> list[tuple[Policy, str]]:
    """The budgets that apply to a caller, each with the caller's key in its partition.

    A budget applies when that key is known: a "user" budget needs a principal.
    """
    keys = {"user": principal, "ip": ip}
    return [(p, key) for p in budgets if (key := keys[p.partition])]
