"""Analytics replays wired to the configured stores: the built-in projections, the logs, and
`replay(...)` for a notebook.

    from marketplace.analytics import replay
    lines = replay("order-lines", until="2026-12-04T18:00:00Z")   # a DuckDB relation
    lines.arrow()                                                 # an Arrow table (pyarrow)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb

from analytics.adhoc import UnknownProjection, load
from analytics.funnel import CartFunnelProjection
from analytics.order_lines import GmvProjection, OrderLinesProjection
from analytics.projection import AnalyticProjection
from analytics.replay import STORE_FILE, Progress, Replayed
from analytics.replay import replay as replay_into
from analytics.stock import StockMovementsProjection
from analytics.until import BoundedLog, Until, parse_until
from infra.settings import DEV_ANALYTICS_KEY, Settings, load_settings, production_key
from infra.settings import DevelopmentKey as DevelopmentKey
from infra.stores import stores
from workers.logs import log_names, reader_env

BUILT_IN: dict[str, Callable[[Settings], AnalyticProjection]] = {
    "order-lines": lambda settings: OrderLinesProjection(key(settings)),
    "gmv": lambda settings: GmvProjection(key(settings)),
    "cart-funnel": lambda settings: CartFunnelProjection(key(settings)),
    "stock-movements": lambda settings: StockMovementsProjection(),
}


def key(settings: Settings) -> bytes:
    """The key of the pseudonymous customer keys; production refuses the development key."""
    return production_key(
        settings,
        settings.analytics.key,
        DEV_ANALYTICS_KEY,
        "MARKETPLACE_ANALYTICS_KEY",
        "anyone who knows a customer's id can find their rows",
    ).encode()


def analytic_projection(spec: str, settings: Settings) -> AnalyticProjection:
    """A built-in projection by name, or an analyst's as FILE.py:Class; UnknownProjection."""
    if spec in BUILT_IN:
        return BUILT_IN[spec](settings)
    if ":" in spec:
        return load(spec)
    known = ", ".join(sorted(BUILT_IN))
    raise UnknownProjection(f"no analytic projection {spec!r}; built in: {known}, or FILE.py:Class")


def bounded_logs(
    projection: AnalyticProjection, settings: Settings, until: Until
) -> list[BoundedLog]:
    """A reader for each log the projection follows, each read only up to until (BadUntil)."""
    names = log_names(projection, settings)
    lasts = {name: until.position_in(name, len(names)) for name in names}
    env = reader_env(settings, stores(settings))
    return [BoundedLog(env, name, lasts[name], until.time) for name in names]


def run_replay(
    spec: str,
    settings: Settings,
    until: str | None,
    out: Path,
    fmt: str = "duckdb",
    progress: Progress | None = None,
) -> Replayed:
    """Replay the projection spec names up to until into out as fmt (analytics.replay)."""
    projection = analytic_projection(spec, settings)
    stop = parse_until(until)
    logs = bounded_logs(projection, settings, stop)
    try:
        return replay_into(projection, logs, stop, out, fmt, progress)
    finally:
        for log in logs:
            log.close()


def replay(
    name: str,
    until: str | None = None,
    *,
    out: str | Path | None = None,
    table: str | None = None,
    settings: Settings | None = None,
) -> duckdb.DuckDBPyRelation:
    """A projection replayed up to until, as a DuckDB relation over its (first) output table.

    out keeps the replay (and continues one there); by default a new temporary folder. The
    relation is an in-memory copy, so the folder stays free for the next replay.
    .arrow() on the relation gives an Arrow table, .df() a pandas one (if installed).
    """
    settings = settings or load_settings()
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="replay-"))
    done = run_replay(name, settings, until, folder)
    projection = analytic_projection(name, settings)
    chosen = table or next(iter(projection.output_tables()))
    conn = duckdb.connect()
    path = str(done.out / STORE_FILE).replace("'", "''")
    conn.execute(f"ATTACH '{path}' AS replayed (READ_ONLY)")
    conn.execute(f'CREATE TABLE "{chosen}" AS SELECT * FROM replayed."{chosen}"')  # noqa: S608
    conn.execute("DETACH replayed")
    return conn.table(chosen)
