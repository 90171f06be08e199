"""One batch's writes to Redis hashes, folded per key and applied with the position by one script.

A projection's unit records hash writes (HSET, HINCRBY, HDEL, DEL) in event order. HashWrites
folds them per key and field as it goes: later values replace earlier ones, increments add up
(onto a value set earlier in the batch if there is one), a DEL forgets what came before it.
Applying the folded writes leaves every hash exactly as applying the original ones in order
would (an increment that nets to zero still creates its field), in one write per key and kind
however many events touched the key.

COMMIT applies them atomically with the position: it checks that the writers' pointer still
names the batch's version (when the view follows it) and that the log's position is where the
batch starts, writes nothing otherwise, and moves the position last, clearing the log's
completeness target once the position reaches it (projections.completeness). A view with no
positions at all lost them (or was never started): the batch is refused, so that the worker
rereads them and records a completeness target first, instead of writing one log's events
into a view that would then pass for complete.
"""

from __future__ import annotations

from collections.abc import Mapping

SET, INCR, DEL = "H", "I", "D"
DELETE_KEY = "X"
Field = tuple[str, str | int]

COMMIT = """
local log, after, position = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if ARGV[4] == '1' then
  local now = redis.call('GET', KEYS[2]) or '0'
  if tonumber(now) ~= tonumber(ARGV[5]) then return {'version', now} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'position', 'none (the view lost it)'} end
local stored = redis.call('HGET', KEYS[1], log) or '0'
if tonumber(stored) ~= after then return {'position', stored} end
local CHUNK = 1000
local i = 6
while i <= #ARGV do
  local op, key, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  if op == 'X' then
    redis.call('DEL', key)
  elseif op == 'H' then
    for j = i, i + 2 * n - 1, 2 * CHUNK do
      redis.call('HSET', key, unpack(ARGV, j, math.min(j + 2 * CHUNK, i + 2 * n) - 1))
    end
    i = i + 2 * n
  elseif op == 'I' then
    for j = i, i + 2 * n - 1, 2 do
      redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1])
    end
    i = i + 2 * n
  elseif op == 'D' then
    for j = i, i + n - 1, CHUNK do
      redis.call('HDEL', key, unpack(ARGV, j, math.min(j + CHUNK, i + n) - 1))
    end
    i = i + n
  else
    return redis.error_reply('unknown write ' .. tostring(op))
  end
end
redis.call('HSET', KEYS[1], log, position)
local goal = redis.call('HGET', KEYS[3], log)
if goal and tonumber(goal) <= tonumber(position) then redis.call('HDEL', KEYS[3], log) end
return {'ok', position}
"""
"""KEYS: the positions hash, the writers' pointer, the completeness target. ARGV: log, after,
position, whether the view follows the pointer ('1'), the version it expects there, then
HashWrites.args()."""


class _Key:
    """What one key's writes come to: deleted first or not, then one write per field."""

    __slots__ = ("cleared", "fields")

    def __init__(self) -> None:
        self.cleared = False
        self.fields: dict[str, tuple[str, str | int]] = {}


class HashWrites:
    """A batch's hash writes, folded per key and field (see the module's docstring)."""

    def __init__(self) -> None:
        self._keys: dict[str, _Key] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def hset(self, key: str, mapping: Mapping[str, str | int]) -> None:
        """Set fields of the hash at key."""
        fields = self._key(key).fields
        for name, value in mapping.items():
            fields[name] = (SET, value)

    def hincrby(self, key: str, name: str, delta: int) -> None:
        """Add delta to an integer field (a missing field counts as 0)."""
        fields = self._key(key).fields
        kind, value = fields.get(name, (INCR, 0))
        if kind == SET:
            fields[name] = (SET, int(value) + delta)
        elif kind == DEL:
            fields[name] = (SET, delta)
        else:
            fields[name] = (INCR, int(value) + delta)

    def hdel(self, key: str, name: str) -> None:
        """Remove a field."""
        self._key(key).fields[name] = (DEL, "")

    def delete(self, key: str) -> None:
        """Remove the whole hash."""
        state = self._key(key)
        state.cleared = True
        state.fields.clear()

    def args(self) -> list[str | int]:
        """The folded writes as COMMIT's arguments: per key, a DEL, an HSET, HINCRBYs, an HDEL."""
        out: list[str | int] = []
        for key, state in self._keys.items():
            if state.cleared:
                out += [DELETE_KEY, key, 0]
            groups: dict[str, list[str | int]] = {SET: [], INCR: [], DEL: []}
            for name, (kind, value) in state.fields.items():
                groups[kind] += [name] if kind == DEL else [name, value]
            for kind in (SET, INCR):
                if groups[kind]:
                    out += [kind, key, len(groups[kind]) // 2, *groups[kind]]
            if groups[DEL] and not state.cleared:
                out += [DEL, key, len(groups[DEL]), *groups[DEL]]
        return out

    def _key(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        return state
