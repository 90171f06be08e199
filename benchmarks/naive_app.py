"""The naive baseline: one FastAPI endpoint that saves one new aggregate per request.

Nothing of the marketplace is used: a pydantic body, a tiny eventsourcing aggregate, the
library's default PostgreSQL recorder configured from the process environment
(PERSISTENCE_MODULE=eventsourcing.postgres, POSTGRES_*), and FastAPI's normal encoder.
Run with `python -m uvicorn benchmarks.naive_app:app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field


def naive_env(url: str, schema: str) -> dict[str, str]:
    """The eventsourcing library's own settings for the baseline: defaults, plus where."""
    parts = urlparse(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": schema,
    }


class Item(Aggregate):
    """A thing with a name and a quantity; created once, never changed."""

    def __init__(self, ref: str, name: str, quantity: int) -> None:
        self.ref = ref
        self.name = name
        self.quantity = quantity


class ItemsApplication(Application[Any]):
    """Saves items in the table naive_items_events of POSTGRES_SCHEMA."""

    name = "naive_items"


class NewItem(BaseModel):
    """The request body."""

    model_config = ConfigDict(extra="forbid")

    ref: Annotated[str, Field(min_length=1, max_length=128)]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    quantity: Annotated[int, Field(ge=1, le=99)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the application (and its connection pool) per worker, close it at shutdown."""
    app.state.items = ItemsApplication()
    yield
    app.state.items.close()


app = FastAPI(lifespan=lifespan)


@app.post("/items", status_code=201)
def create_item(body: NewItem, request: Request) -> dict[str, Any]:
    """Save one new item."""
    item = Item(ref=body.ref, name=body.name, quantity=body.quantity)
    request.app.state.items.save(item)
    return {"id": item.id, "ref": item.ref, "version": item.version}
