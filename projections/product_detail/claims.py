"""Checkout claims: the units of checkouts admitted but not yet reserved, beside the stock view.

A flash sale's answer cannot wait for the event store: until the first orders are placed,
reserved by the checkout worker and projected, the view still shows every unit available and
lets every buyer through. So each admitted checkout claims its units in Redis, in the same
script that reads the projected stock, and a checkout is refused when the units the view
shows, less those claimed by other orders, do not cover it: a sold-out answer is one round
trip, and only about as many orders as there are units are ever placed.

Claims only refuse, never grant: units are granted by the stock item in the event store
alone. A claim is settled (dropped) when the product-detail projection counts its order's
reservation, in the same batch, so no unit counts twice. One that is never settled (a
checkout that failed, a process that died, an order the worker rejected) lapses after
CLAIM_TTL_MS. The order stays admitted until then, so a retry of a placed order goes through
to the route, which finds the order. Lost claims (Redis flushed) only admit more checkouts,
as before claims existed.

Keys (beside the view's versions, so rebuilds and version drops leave them alone), per stock
item: `<base>-claims:<stock>:held`, a hash order -> units claimed, and `<base>-claims:<stock>:due`,
a sorted set order -> the time (ms) the claim lapses.
"""

from __future__ import annotations

from projections.stores.redis.unit import READ_COMPLETE

CLAIM_TTL_MS = 60_000
"""How long an unsettled claim holds its units, and a checkout stays admitted."""


def held_key(base: str, stock_id: str) -> str:
    """The hash of a stock item's unsettled claims: order id -> units."""
    return f"{base}-claims:{stock_id}:held"


def due_key(base: str, stock_id: str) -> str:
    """The sorted set of a stock item's admitted orders, scored by when their claim lapses."""
    return f"{base}-claims:{stock_id}:due"


CLAIM = (
    READ_COMPLETE
    + """
local base, order, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local gone, wanted = {}, {}
for i = 6, #ARGV, 3 do
  local product, stock, units = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local held, due = base .. '-claims:' .. stock .. ':held', base .. '-claims:' .. stock .. ':due'
  local lapsed = redis.call('ZRANGEBYSCORE', due, '-inf', now)
  if #lapsed > 0 then
    redis.call('HDEL', held, unpack(lapsed))
    redis.call('ZREMRANGEBYSCORE', due, '-inf', now)
  end
  local shown = redis.call('EXISTS', prefix .. ':product:' .. product) == 1
  if shown and not redis.call('ZSCORE', due, order) then
    local c = redis.call('HMGET', prefix .. ':stock:' .. stock, 'received', 'reserved', 'sold')
    local left = (tonumber(c[1]) or 0) - (tonumber(c[2]) or 0) - (tonumber(c[3]) or 0)
    for _, claimed in ipairs(redis.call('HVALS', held)) do left = left - tonumber(claimed) end
    if left < units then
      gone[#gone + 1] = product
    else
      wanted[#wanted + 1] = {held, due, units}
    end
  end
end
if #gone > 0 then return gone end
for _, w in ipairs(wanted) do
  redis.call('HSET', w[1], order, w[3])
  redis.call('ZADD', w[2], now + ttl, order)
  redis.call('PEXPIRE', w[1], ttl)
  redis.call('PEXPIRE', w[2], ttl)
end
return gone
"""
)
"""KEYS: the readers' pointer. ARGV: base and pinned version (RESOLVE), the claims' base, the
order id, CLAIM_TTL_MS, then (product id, its stock item id, units) per line. Claims every line
or none: the reply lists the products the view shows without enough unclaimed units (none
received counts as none left), or is empty (claimed; a product the view does not show is
neither refused nor claimed), or is -1 when the view is incomplete (nothing refused, nothing
claimed)."""

RELEASE = """
for i = 3, #ARGV do
  redis.call('HDEL', ARGV[1] .. '-claims:' .. ARGV[i] .. ':held', ARGV[2])
  redis.call('ZREM', ARGV[1] .. '-claims:' .. ARGV[i] .. ':due', ARGV[2])
end
return 0
"""
"""ARGV: the claims' base, the order id, then the stock item ids (the script derives its keys).
Drops the order's claims and its admission."""
