"""Budgets spent by SPEND, one round trip for all of a request's, and leased in blocks.

The hottest reads rarely wait on Redis: they spend from this process's leases, and at half
a block left the next is fetched in the background. Requests that find a lease empty while
it is being fetched wait for that trip instead of making their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

import structlog

from infra.ratelimit.leases import Leases, lease_size
from infra.ratelimit.policies import Policy, applying
from infra.ratelimit.redis_store import STORE_ERRORS, Grant, SpendScript
from infra.ratelimit.verdict import Spent, Verdict

log = structlog.get_logger()


class ScriptedSpender:
    """Spends requests against their budgets with SPEND, and from leases where they have units.

    Budgets are counted under key_prefix. A fetch ahead that finds the store down reports it
    to went_down; a request's trip raises, for its caller to decide alone.
    """

    def __init__(
        self,
        script: SpendScript,
        budgets: Mapping[str, tuple[Policy, ...]],
        *,
        key_prefix: str,
        timeout: float,
        went_down: Callable[[BaseException], None],
    ) -> None:
        self._script = script
        self._budgets = budgets
        self._key_prefix = key_prefix
        self._timeout = timeout
        self._went_down = went_down
        self._leases = Leases()
        self._refills: dict[str, asyncio.Future[None]] = {}
        self._fetches: set[asyncio.Task[None]] = set()

    def spend_locally(self, category: str, principal: str | None, ip: str) -> Verdict | None:
        """Spend the request's budgets from the leases alone, if they all have units (else None)."""
        now = time.monotonic()
        spent = []
        for p, key in applying(self._budgets.get(category, ()), principal, ip):
            name = self._key(category, p, key)
            local = self._leases.spend(name, p, now)
            if local is None:
                return None
            if self._leases.running_low(name) and name not in self._refills:
                self._fetch_ahead(p, name)
            spent.append(local)
        return Verdict(tuple(spent)) if spent else None

    async def spend(self, category: str, principal: str | None, ip: str) -> Verdict:
        """Spend one unit of each budget that applies: from the leases, else in one trip."""
        applied = applying(self._budgets.get(category, ()), principal, ip)
        now = time.monotonic()
        spent: list[Spent | None] = []
        asked: list[tuple[int, str]] = []
        for n, (p, key) in enumerate(applied):
            name = self._key(category, p, key)
            spent.append(self._leases.spend(name, p, now))
            if spent[-1] is None:
                asked.append((n, name))
        budgets = [p for p, _ in applied]
        if asked:
            asked = await self._after_refills(budgets, asked, spent)
        if asked:
            await self._trip(budgets, asked, spent, now)
        return Verdict(tuple(s for s in spent if s is not None))

    async def aclose(self) -> None:
        """Stop fetching ahead."""
        fetches = list(self._fetches)
        for fetch in fetches:
            fetch.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)

    async def _trip(
        self,
        budgets: list[Policy],
        asked: list[tuple[int, str]],
        spent: list[Spent | None],
        now: float,
    ) -> None:
        """Ask Redis for the asked budgets' units, and lease what it grants beyond one."""
        refills = self._start_refills(budgets, asked)
        try:
            grants = await self._ask([(budgets[n], name) for n, name in asked])
        finally:
            self._end_refills(refills)
        for (n, name), grant in zip(asked, grants, strict=True):
            granted = grant.granted
            spent[n] = Spent(
                budgets[n], granted > 0, grant.remaining + max(0, granted - 1), grant.reset_seconds
            )
            self._leases.keep(name, spent[n], granted, now)

    async def _ask(self, named: Sequence[tuple[Policy, str]]) -> list[Grant]:
        return await self._script([(name, p.limit, lease_size(p.limit)) for p, name in named])

    def _fetch_ahead(self, policy: Policy, name: str) -> None:
        """Fetch the lease's next block in the background, while its last units are spent."""
        refill = asyncio.get_running_loop().create_future()
        self._refills[name] = refill
        fetch = asyncio.create_task(self._fetch_block(policy, name))
        self._fetches.add(fetch)

        def done(task: asyncio.Task[None]) -> None:
            self._fetches.discard(task)
            self._end_refills({name: refill})  # also when cancelled before it ever ran

        fetch.add_done_callback(done)

    async def _fetch_block(self, policy: Policy, name: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                (grant,) = await self._ask([(policy, name)])
            now = time.monotonic()
            self._leases.top_up(name, grant.granted, grant.remaining, grant.reset_seconds, now)
        except STORE_ERRORS as error:
            self._went_down(error)
        except Exception:  # a reply it cannot read: the requests make their own trips
            log.exception("rate_limit_fetch_ahead_failed", key=name)

    async def _after_refills(
        self, budgets: list[Policy], asked: list[tuple[int, str]], spent: list[Spent | None]
    ) -> list[tuple[int, str]]:
        """Wait for the leases other requests are fetching for these budgets and spend from
        them; the budgets still without a unit, to ask Redis for.

        Without this, every request that finds a lease empty while its refill is on the way
        makes a trip of its own, and each trip leases a block that the next one replaces.
        """
        while pending := {self._refills[name] for _, name in asked if name in self._refills}:
            await asyncio.wait([asyncio.shield(refill) for refill in pending])
            now = time.monotonic()
            still: list[tuple[int, str]] = []
            for n, name in asked:
                spent[n] = self._leases.spend(name, budgets[n], now)
                if spent[n] is None:
                    still.append((n, name))
            asked = still
        return asked

    def _start_refills(
        self, budgets: list[Policy], asked: list[tuple[int, str]]
    ) -> dict[str, asyncio.Future[None]]:
        """Announce the leases this trip fetches, for requests that come meanwhile."""
        loop = asyncio.get_running_loop()
        mine = {
            name: loop.create_future()
            for n, name in asked
            if lease_size(budgets[n].limit) > 1 and name not in self._refills
        }
        self._refills.update(mine)
        return mine

    def _end_refills(self, mine: dict[str, asyncio.Future[None]]) -> None:
        for name, refill in mine.items():
            if self._refills.get(name) is refill:
                del self._refills[name]
            if not refill.done():
                refill.set_result(None)

    def _key(self, category: str, policy: Policy, caller: str) -> str:
        limit = policy.limit
        return (
            f"{self._key_prefix}:{category}:{policy.partition}:{caller}:"
            f"{limit.amount}/{limit.get_expiry()}"
        )
