"""The versions of one Redis view under its base prefix, and the moves of its pointers.

Each move is one Lua script, so it is atomic: the writers' pointer changes only if it still
names the old version (a live batch still aimed at the old one then writes nothing), the
readers' only if the new version's positions have reached the old one's. Readers resolve the
pointer inside their own read script, so no read sees half a switch, and an old version can
be dropped as soon as the readers have moved: nothing reads it and nothing may write it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import redis

from projections.stores.redis.unit import (
    POINTERS,
    TRANSIENT,
    RedisView,
    delete_matching,
    pointer_key,
    positions_key,
    target_key,
    text,
    version_prefix,
)
from projections.versions import READERS, WRITERS, VersionConflict

VERSION_KEY = re.compile(r"^v(\d+):")

MOVE_WRITERS = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

MOVE_READERS = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local old = redis.call('HGETALL', KEYS[2])
for i = 1, #old, 2 do
  if tonumber(redis.call('HGET', KEYS[3], old[i]) or '0') < tonumber(old[i + 1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
"""Readers move only to a complete version (projections.completeness) whose every log's
position is at or past the old one's."""


class RedisVersions:
    """The versions of the view under base; view(n) opens a view pinned to version n."""

    grace_seconds = 0.0
    transient_errors = TRANSIENT

    def __init__(
        self, client: redis.Redis, base: str, view: Callable[[int], RedisView[Any]]
    ) -> None:
        self.client = client
        self.base = base
        self.view = view
        self.lock_name = f"redis:{base}"
        self._move_writers = client.register_script(MOVE_WRITERS)
        self._move_readers = client.register_script(MOVE_READERS)

    def readers(self) -> int:
        """The version the readers' pointer names (0 when unset)."""
        return int(self.client.get(pointer_key(self.base, READERS)) or 0)

    def writers(self) -> int:
        """The version the writers' pointer names (0 when unset)."""
        return int(self.client.get(pointer_key(self.base, WRITERS)) or 0)

    def existing(self) -> set[int]:
        """Every version holding keys (the unversioned layout counts as 0)."""
        found: set[int] = set()
        start = len(self.base) + 1
        for key in self.client.scan_iter(match=f"{self.base}:*", count=1000):
            rest = text(key)[start:]
            if rest in POINTERS.values():
                continue
            match = VERSION_KEY.match(rest)
            found.add(int(match.group(1)) if match else 0)
        return found

    def build(self, version: int) -> RedisView[Any]:
        """An empty view pinned to version."""
        self.drop(version)
        return self.view(version)

    def move_writers(self, old: int, new: int) -> None:
        """Point the live projector at new, if it is at old."""
        moved = self._move_writers(keys=[pointer_key(self.base, WRITERS)], args=[old, new])
        if not moved:
            raise VersionConflict(f"{self.base}: writers are not at v{old}")

    def move_readers(self, old: int, new: int) -> bool:
        """Point the query API at new, if it is at old and new is complete and has reached old's
        positions."""
        keys = [
            pointer_key(self.base, READERS),
            positions_key(version_prefix(self.base, old)),
            positions_key(version_prefix(self.base, new)),
            target_key(version_prefix(self.base, new)),
        ]
        moved = int(self._move_readers(keys=keys, args=[old, new]))
        if moved < 0:
            raise VersionConflict(f"{self.base}: readers are not at v{old}")
        return moved == 1

    def drop(self, version: int) -> None:
        """Delete the version's keys (for 0, the unversioned keys beside the versions)."""
        if version:
            delete_matching(self.client, f"{version_prefix(self.base, version)}:*")
            return
        start = len(self.base) + 1

        def versioned(key: str) -> bool:
            rest = key[start:]
            return rest in POINTERS.values() or VERSION_KEY.match(rest) is not None

        delete_matching(self.client, f"{self.base}:*", keep=versioned)

    def close(self) -> None:
        """Close the Redis client."""
        self.client.close()
