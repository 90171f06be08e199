"""The product-detail view in Redis: hashes per product, seller and stock item, plus positions.

Each batch is one Lua script that checks the position, writes the batch's hash writes (folded
per key, see projections.stores.redis.writes) and moves the position (see
projections.stores.redis.unit), so data and position change together or not at all. A read
is one Lua script: it resolves the version the view follows, then reads the product, its
stock counters and its seller's name, in one round trip, from one consistent snapshot of one
version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import redis
import redis.asyncio

from domain.inventory import stock_item_id
from domain.product_images import VARIANTS
from projections.completeness import ViewIncomplete
from projections.product_detail.claims import held_key
from projections.product_detail.projection import (
    ProductDetailProjection,
    ProductDetailUnit,
    gallery,
    units_available,
)
from projections.stores.redis.unit import (
    READ_COMPLETE,
    RedisUnit,
    RedisView,
    ScriptClient,
    positions_key,
    text,
)
from projections.versions import WRITERS


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix and view version."""

    prefix: str

    @property
    def positions(self) -> str:
        return positions_key(self.prefix)

    def product(self, product_id: UUID | str) -> str:
        return f"{self.prefix}:product:{product_id}"

    def seller(self, seller_id: UUID | str) -> str:
        return f"{self.prefix}:seller:{seller_id}"

    def stock(self, stock_id: UUID | str) -> str:
        return f"{self.prefix}:stock:{stock_id}"


class RedisProductDetailUnit(RedisUnit, ProductDetailUnit):
    """The Redis writes of one batch, named for what they mean (a ProductDetailUnit)."""

    def __init__(self, keys: Keys, claims_base: str) -> None:
        super().__init__()
        self.keys = keys
        self.claims_base = claims_base

    def name_seller(self, seller_id: UUID, name: str) -> None:
        """Record a seller's display name."""
        self.writes.hset(self.keys.seller(seller_id), {"name": name})

    def suspend_seller(self, seller_id: UUID) -> None:
        """Mark a seller suspended."""
        self.writes.hset(self.keys.seller(seller_id), {"suspended": "1"})

    def list_product(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Create a product's document."""
        self.update_product(product_id, {**fields, "delisted": False}, version)

    def update_product(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Overwrite some fields of a product's document."""
        mapping = {name: _encode(value) for name, value in fields.items()}
        mapping["version"] = str(version)
        self.writes.hset(self.keys.product(product_id), mapping)

    def open_stock(self, stock_id: UUID, product_id: UUID, version: int) -> None:
        """Open a product's stock counters at zero."""
        mapping = {"product_id": str(product_id), "version": str(version)}
        self.writes.hset(self.keys.stock(stock_id), mapping)

    def move_stock(
        self, stock_id: UUID, version: int, *, received: int = 0, reserved: int = 0, sold: int = 0
    ) -> None:
        """Add to a stock item's received, reserved and sold counters."""
        key = self.keys.stock(stock_id)
        for name, delta in (("received", received), ("reserved", reserved), ("sold", sold)):
            if delta:
                self.writes.hincrby(key, name, delta)
        self.writes.hset(key, {"version": str(version)})

    def settle_claim(self, stock_id: UUID, order_id: UUID) -> None:
        """Drop the checkout claim that the order's reservation, now counted, replaces."""
        self.writes.hdel(held_key(self.claims_base, str(stock_id)), str(order_id))


class RedisProductDetailView(RedisView[RedisProductDetailUnit]):
    """Writes and reads the product-detail view under one key prefix."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        async_client: redis.asyncio.Redis | ScriptClient | None = None,
        *,
        follows: str = WRITERS,
        version: int | None = None,
    ) -> None:
        super().__init__(client, prefix, follows=follows, version=version)
        self.async_client = async_client
        self._read = client.register_script(READ_PRODUCT)
        self._read_async = (
            None if async_client is None else async_client.register_script(READ_PRODUCT)
        )
        self._read_json = (
            None if async_client is None else async_client.register_script(READ_PRODUCT_JSON)
        )

    @property
    def keys(self) -> Keys:
        """The key names of the version the view last resolved (or is pinned to)."""
        return Keys(self.prefix)

    def new_unit(self) -> RedisProductDetailUnit:
        """A unit for one batch of product-detail writes."""
        return RedisProductDetailUnit(self.keys, self.base)

    def product(self, product_id: UUID) -> dict[str, Any] | None:
        """A product's document with its seller's name and units available, or None.

        ViewIncomplete if the version read is not complete (projections.completeness).
        """
        return _document(product_id, self._read(*self._read_args(product_id)))

    async def product_async(self, product_id: UUID) -> dict[str, Any] | None:
        """As product(), on the async client: the event loop waits, no thread does."""
        if self._read_async is None:
            raise RuntimeError("this view was built without an async client")
        return _document(product_id, await self._read_async(*self._read_args(product_id)))

    async def product_json_async(self, product_id: str) -> bytes | None:
        """The public JSON body of a product (see READ_PRODUCT_JSON), or None if unknown.

        product_id must be the canonical text of a UUID: it is the document's id as given.
        Redis renders the body, so the caller serves these bytes without decoding them.
        ViewIncomplete if the version read is not complete.
        """
        if self._read_json is None:
            raise RuntimeError("this view was built without an async client")
        args = [*self.resolve_args(), product_id, stock_key_id(product_id)]
        body: bytes | int | None = await self._read_json(keys=[self.pointer], args=args)
        if isinstance(body, int):
            raise ViewIncomplete(ProductDetailProjection.name)
        return body

    async def aclose(self) -> None:
        """Close the async client, if the view has one."""
        if self.async_client is not None:
            await self.async_client.aclose()

    def _read_args(self, product_id: UUID) -> tuple[list[str], list[str]]:
        args = [*self.resolve_args(), str(product_id), str(stock_item_id(product_id))]
        return [self.pointer], args


# The version's prefix (from the pin or the pointer), then the product hash (flat) and its
# stock counters: how both read scripts start. The data keys depend on the pointer's value and
# the seller key on the product's seller_id, so the scripts derive them (they are not in KEYS:
# fine on one Redis node, not on a cluster).
READ_PRODUCT_AND_STOCK = (
    READ_COMPLETE
    + """
local flat = redis.call('HGETALL', prefix .. ':product:' .. ARGV[3])
if #flat == 0 then return false end
local stock = redis.call('HMGET', prefix .. ':stock:' .. ARGV[4], 'received', 'reserved', 'sold')
"""
)

# The product hash, its stock counters and its seller's name, atomically.
READ_PRODUCT = (
    READ_PRODUCT_AND_STOCK
    + """
local seller = false
for i = 1, #flat, 2 do
  if flat[i] == 'seller_id' then
    seller = redis.call('HGET', prefix .. ':seller:' .. flat[i + 1], 'name')
    break
  end
end
return {flat, stock, seller}
"""
)


@lru_cache(maxsize=1 << 16)
def stock_key_id(product_id: str) -> str:
    """The text of a product's stock item id (a uuid5: worth remembering for hot products)."""
    return str(stock_item_id(UUID(product_id)))


# The Lua twin of projections.product_detail.projection.gallery: the images in order, each
# with its status and the variants rendered so far (their JSON as the projection stored it).
IMAGES_LUA = (
    "local variant_names = {"
    + ", ".join(f"'{name}'" for name in VARIANTS)
    + "}\n"
    + """local function images()
  local out = {}
  for _, id in ipairs(p['images'] and cjson.decode(p['images']) or {}) do
    local parts = {}
    for _, name in ipairs(variant_names) do
      local variant = p['image:' .. id .. ':' .. name]
      if variant then parts[#parts + 1] = cjson.encode(name) .. ':' .. variant end
    end
    local status = 'processing'
    if p['image:' .. id .. ':failed'] then
      status = 'failed'
    elseif #parts == #variant_names then
      status = 'ready'
    end
    out[#out + 1] = '{"id":' .. cjson.encode(id) .. ',"status":"' .. status
      .. '","variants":{' .. table.concat(parts, ',') .. '}}'
  end
  return '[' .. table.concat(out, ',') .. ']'
end
"""
)

# As READ_PRODUCT, but renders the query API's public document (readapi.schemas.ProductDetail:
# these fields in this order, compact) so the API serves the bytes as they come.
# Strings go through cjson.encode; attributes are stored as JSON text already. units_available
# is the Lua twin of projections.product_detail.projection.units_available (a test pins them).
READ_PRODUCT_JSON = (
    READ_PRODUCT_AND_STOCK
    + """
local p = {}
for i = 1, #flat, 2 do p[flat[i]] = flat[i + 1] end
local seller = false
if p['seller_id'] then
  seller = redis.call('HGET', prefix .. ':seller:' .. p['seller_id'], 'name')
end
local function str(value)
  if value then return cjson.encode(value) end
  return 'null'
end
local function raw(value)
  return value or 'null'
end
local units = (tonumber(stock[1]) or 0) - (tonumber(stock[2]) or 0) - (tonumber(stock[3]) or 0)
"""
    + IMAGES_LUA
    + """
return table.concat({
  '{"id":', cjson.encode(ARGV[3]),
  ',"title":', str(p['title']),
  ',"description":', str(p['description'] or ''),
  ',"category":', str(p['category']),
  ',"attributes":', p['attributes'] or '{}',
  ',"price":{"amount_minor":', raw(p['price_minor']),
  ',"currency":', str(p['currency']),
  '},"seller":{"id":', str(p['seller_id']),
  ',"name":', str(seller),
  '},"units_available":', string.format('%d', units),
  ',"delisted":', (p['delisted'] == '1') and 'true' or 'false',
  ',"listed_at":', str(p['listed_at']),
  ',"images":', images(),
  ',"version":', raw(p['version']),
  '}'})
"""
)


def _document(product_id: UUID, reply: list[Any] | int | None) -> dict[str, Any] | None:
    if isinstance(reply, int):
        raise ViewIncomplete(ProductDetailProjection.name)
    if not reply:
        return None
    flat, stock, seller_name = reply
    doc = {text(k): _decode(text(k), text(v)) for k, v in zip(flat[::2], flat[1::2], strict=True)}
    received, reserved, sold = (int(count or 0) for count in stock)
    doc["id"] = str(product_id)
    doc["seller_name"] = text(seller_name) if seller_name is not None else None
    doc["units_available"] = units_available(received, reserved, sold)
    doc["images"] = gallery(doc)
    return {name: value for name, value in doc.items() if not name.startswith("image:")}


INTEGER_FIELDS = {"price_minor", "version"}


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _decode(name: str, value: str) -> Any:
    if name in INTEGER_FIELDS:
        return int(value)
    if name == "delisted":
        return value == "1"
    if name in ("attributes", "images") or (
        name.startswith("image:") and not name.endswith(":failed")
    ):
        return json.loads(value)
    return value
