"""Binds settings to concrete backends and builds the apps: the only module that sees all layers."""

from __future__ import annotations

import redis
import redis.asyncio
from eventsourcing.postgres import PostgresApplicationRecorder
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from commands.services import Availability, Commands, CustomerOrders
from commands.stream_batch import BatchedWritePath
from commands.write_path import WritePathFactory
from infra.apps import Closer, Serving
from infra.auth import JwksKeys, TokenCodec
from infra.blobs import blob_store
from infra.clock import DatabaseClock
from infra.customer_orders import PostgresCustomerOrders
from infra.eventstore import eventsourcing_env
from infra.idempotency import IdempotencyStore
from infra.logging import configure_logging
from infra.postgres_pool import postgres_pool as infra_postgres_pool
from infra.ratelimit.limiter import RateLimiter
from infra.ratelimit.metrics import DEFAULT_METRICS as RATE_LIMIT_METRICS
from infra.ratelimit.metrics import RateLimitMetrics
from infra.ratelimit.policies import policies
from infra.ratelimit.redis_store import redis_storage
from infra.redis_pipeline import PipelinedRedis
from infra.settings import AuthSettings, HttpSettings, Settings, load_settings
from infra.shedding import LoadShedder
from infra.stores import stores
from infra.web import freeze_startup_heap
from marketplace import catalog_search, order_views
from marketplace.projectors import redis_prefix
from marketplace.registry import read_api_public_url
from projections.carts.projection import CartProjection
from projections.carts.redis_view import RedisCartView
from projections.catalog_search.projection import CatalogSearchProjection
from projections.marketplace_figures.projection import MarketplaceFiguresProjection
from projections.orders.projection import OrderHistoryProjection
from projections.product_detail.availability import ProjectedAvailability
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.seller_sales.projection import SellerSalesProjection
from projections.versions import READERS
from readapi.app import RATE_LIMITED as READ_BUDGETS
from readapi.app import create_app as create_read_app
from readapi.deps import Followed, ReadApiDeps
from workers.logs import log_names
from writeapi.app import RATE_LIMITED as WRITE_BUDGETS
from writeapi.app import create_app as create_write_app
from writeapi.deps import WriteApiDeps

AVAILABILITY_TIMEOUT_SECONDS = 0.2
CART_CLAIMS_TIMEOUT_SECONDS = 1.0
"""The sold-out gate's async Redis calls: they hold no thread, and a burst of a thousand
checkouts makes the event loop itself late to read the first connection's answer."""
IDEMPOTENCY_POOL_SIZE = 40
"""Connections of a command-API process for idempotency keys and its clock: a request with
a key holds one while it runs (its claim's lock), and a process runs up to 40 at once
(the threads of its synchronous routes)."""


def token_codec(auth: AuthSettings) -> TokenCodec:
    """The token codec these settings configure: the provider's JWKS when its URL is set."""
    jwks = None
    if auth.jwks_url:
        jwks = JwksKeys(
            auth.jwks_url,
            lifespan_seconds=auth.jwks_cache_seconds,
            refresh_cooldown_seconds=auth.jwks_refresh_cooldown_seconds,
        )
    return TokenCodec(
        auth.secret.get_secret_value(),
        auth.issuer,
        auth.audience,
        auth.ttl_seconds,
        leeway_seconds=auth.leeway_seconds,
        jwks=jwks,
    )


def build_commands(
    settings: Settings,
    availability: Availability | None = None,
    write_path: WritePathFactory = BatchedWritePath,
    customer_orders: CustomerOrders | None = None,
) -> Commands:
    """The command side on the configured event store, appending through write_path; each
    PostgreSQL call ends within the command API's store timeout. With customer_orders,
    checkout notes each customer's orders there and erasure reads them."""
    return Commands(
        eventsourcing_env(settings, call_timeout=settings.deadlines.write_store_timeout_seconds),
        split_logs=settings.events.split_logs,
        availability=availability,
        write_path=write_path,
        customer_orders=customer_orders,
    )


def projected_availability(settings: Settings) -> ProjectedAvailability:
    """The sold-out check of the command API; a slow or dead Redis costs one short timeout."""
    client = redis.Redis.from_url(
        stores(settings).redis_url,
        socket_timeout=AVAILABILITY_TIMEOUT_SECONDS,
        socket_connect_timeout=AVAILABILITY_TIMEOUT_SECONDS,
    )
    url = stores(settings).redis_url
    scripts = PipelinedRedis.from_url(url, timeout=CART_CLAIMS_TIMEOUT_SECONDS)
    carts = RedisCartView(
        client, redis_prefix(settings, CartProjection.name), scripts, follows=READERS
    )
    prefix = redis_prefix(settings, ProductDetailProjection.name)
    view = RedisProductDetailView(client, prefix, follows=READERS)
    return ProjectedAvailability(view, carts=carts, scripts=scripts)


def log_tables(commands: Commands) -> dict[str, str]:
    """Each event log's PostgreSQL table (schema.table), when the event store is there."""
    tables = {}
    for application in commands.applications:
        recorder = application.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
            tables[application.log_name] = table
    return tables


def postgres_pool(settings: Settings, max_size: int = 10) -> ConnectionPool:
    """The command API's open pool on the configured PostgreSQL, in autocommit mode: a
    caller waits for a connection, then for each answer, within the write store timeout."""
    if not settings.postgres.url:
        raise ValueError("MARKETPLACE_POSTGRES_URL is required")
    timeout = settings.deadlines.write_store_timeout_seconds
    return infra_postgres_pool(
        settings.postgres.url,
        max_size=max_size,
        timeout=timeout,
        connect_timeout=settings.postgres.connect_timeout_seconds,
        call_timeout=timeout,
    )


def build_write_deps(
    settings: Settings,
    write_path: WritePathFactory = BatchedWritePath,
    *,
    sold_out_fast_path: bool = True,
) -> WriteApiDeps:
    """Everything the command API needs; checkout refuses early on projected sold-out stock.

    Commands take their time, and orders their payment deadline, from the clock of the
    PostgreSQL that keeps the idempotency keys (the checkout worker's clock too).
    Benchmarks pass another write path, and turn the sold-out fast path off, to compare.
    """
    pool = postgres_pool(settings, IDEMPOTENCY_POOL_SIZE)
    availability = projected_availability(settings) if sold_out_fast_path else None
    customer_orders = PostgresCustomerOrders(pool)
    customer_orders.create_table()
    commands = build_commands(settings, availability, write_path, customer_orders)
    idempotency = IdempotencyStore(pool, settings.idempotency.ttl_hours, log_tables(commands))
    idempotency.create_table()
    idempotency.purge_expired()
    clock = DatabaseClock(pool)
    clock.sync()
    return WriteApiDeps(
        commands=commands,
        tokens=token_codec(settings.auth),
        idempotency=idempotency,
        max_body_bytes=settings.http.max_body_bytes,
        checkout_expiry_seconds=settings.checkout.expiry_seconds,
        read_api_url=read_api_public_url(settings),
        event_store=settings.events.store,
        store_timeout_seconds=settings.deadlines.write_store_timeout_seconds,
        blobs=blob_store(settings),
        images=settings.images,
        clock=clock,
        cart_claims=availability,
    )


def write_app(
    write_path: WritePathFactory = BatchedWritePath, *, sold_out_fast_path: bool = True
) -> FastAPI:
    """The command API from the environment's settings (a uvicorn factory)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    deps = build_write_deps(settings, write_path, sold_out_fast_path=sold_out_fast_path)
    limiter = rate_limiter(settings, WRITE_BUDGETS)
    app = create_write_app(
        deps,
        Serving(
            limiter,
            load_shedder(settings.http, "command", settings.http.checkout_reserved_share),
            (deps.commands.close, deps.idempotency.close, *closing(limiter)),
            () if deps.cart_claims is None else (deps.cart_claims.warm,),
        ),
    )
    freeze_startup_heap()
    return app


def closing(limiter: RateLimiter | None) -> tuple[Closer, ...]:
    """What closes the limiter, if there is one."""
    return () if limiter is None else (limiter.aclose,)


def read_redis_client(settings: Settings, url: str) -> redis.Redis:
    """A Redis client for the query API: a call not answered within the timeout fails (a 503).

    No retries (from_url's default): the pool already replaces connections a restarted
    server closed, and a hung server then holds a request for one timeout only.
    """
    timeout = settings.deadlines.read_store_timeout_seconds
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def read_pipelined_client(settings: Settings, url: str) -> PipelinedRedis:
    """The query API's client for its hot reads: one connection per process, auto-pipelined."""
    return PipelinedRedis.from_url(url, timeout=settings.deadlines.read_store_timeout_seconds)


def build_read_deps(settings: Settings, hot: PipelinedRedis | None = None) -> ReadApiDeps:
    """Everything the query API needs: the views it reads, as the projectors write them.

    Each view reads the version its readers' pointer names, so a rebuild switches them.
    Product detail reads through hot (one is made if not given).
    """
    where = stores(settings)
    client = read_redis_client(settings, where.redis_url)
    projection = ProductDetailProjection()
    product_detail = Followed(
        projection.name,
        RedisProductDetailView(
            client,
            redis_prefix(settings, projection.name),
            hot or read_pipelined_client(settings, where.redis_url),
            follows=READERS,
        ),
        log_names(projection, settings),
        "redis",
    )
    carts = CartProjection()
    search = CatalogSearchProjection()
    history, sales, figures = order_views.reader_views(settings, where.postgres_url)
    return ReadApiDeps(
        product_detail=product_detail,
        catalog_search=Followed(
            search.name,
            catalog_search.reader_view(settings, where.postgres_url),
            log_names(search, settings),
            "opensearch" if settings.opensearch.url else "postgres",
        ),
        carts=Followed(
            carts.name,
            RedisCartView(client, redis_prefix(settings, carts.name), follows=READERS),
            log_names(carts, settings),
            "redis",
        ),
        orders=Followed(
            history.name, history, log_names(OrderHistoryProjection(), settings), "postgres"
        ),
        seller_sales=Followed(
            sales.name, sales, log_names(SellerSalesProjection(), settings), "postgres"
        ),
        marketplace_figures=Followed(
            figures.name, figures, log_names(MarketplaceFiguresProjection(), settings), "postgres"
        ),
        blobs=blob_store(settings),
        tokens=token_codec(settings.auth),
        max_wait_seconds=settings.deadlines.read_wait_max_seconds,
        store_timeout_seconds=settings.deadlines.read_store_timeout_seconds,
    )


def read_app() -> FastAPI:
    """The query API from the environment's settings (a uvicorn factory)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    url = stores(settings).redis_url
    hot = read_pipelined_client(settings, url)
    # Rate limits spend on the same pipelined connection as the reads, within their own
    # (shorter) timeout, which the limiter enforces.
    deps = build_read_deps(settings, hot)
    limiter = rate_limiter(settings, READ_BUDGETS, scripts=hot)
    app = create_read_app(
        deps,
        Serving(
            limiter, load_shedder(settings.http, "query"), (*deps.closers(), *closing(limiter))
        ),
    )
    freeze_startup_heap()
    return app


def rate_limiter(
    settings: Settings,
    categories: tuple[str, ...],
    metrics: RateLimitMetrics = RATE_LIMIT_METRICS,
    scripts: PipelinedRedis | None = None,
) -> RateLimiter | None:
    """The settings' budgets for these request categories, kept in Redis; None when off.

    A request spends its budgets in one script call, on scripts if given (on the settings'
    Redis), else on a redis-py client.
    """
    limits = settings.rate_limits
    if not limits.enabled:
        return None
    budgets = {
        "browse": (limits.browse_per_principal, limits.browse_per_ip),
        "cart": (limits.cart_per_principal, limits.cart_per_ip),
        "checkout": (limits.checkout_per_principal, limits.checkout_per_ip),
    }
    url = stores(settings).redis_url
    timeout = limits.store_timeout_seconds
    # No retries (from_url's default): a dead Redis holds a request one timeout at most.
    client = redis.asyncio.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    prefix = f"{settings.redis.prefix}:ratelimit"
    return RateLimiter(
        redis_storage(client, url, prefix),
        {category: policies(category, *budgets[category]) for category in categories},
        strategy=limits.strategy,
        store_timeout=timeout,
        recheck_seconds=limits.recheck_seconds,
        fallback_scale=limits.fallback_scale,
        metrics=metrics,
        close=client.aclose,
        client=scripts or client,
        key_prefix=prefix,
    )


def load_shedder(http: HttpSettings, api: str, reserved_share: float = 0.0) -> LoadShedder:
    """The cap on one API process's requests in flight; reserved_share is kept for checkout."""
    return LoadShedder(
        http.max_requests_in_flight,
        reserved_share=reserved_share,
        retry_after_seconds=http.shed_retry_after_seconds,
        api=api,
    )
