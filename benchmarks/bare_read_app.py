"""The read baseline: a bare FastAPI endpoint answering a constant JSON dict.

Same path shape as the product-detail read, no store, no middleware. Run with
`python -m uvicorn benchmarks.bare_read_app:app` (the benchmark uses the query API's uvicorn
settings: uvloop, httptools, no access log).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()

DOCUMENT: dict[str, Any] = {
    "id": "00000000-0000-4000-8000-000000000000",
    "title": "Voltic Compact Wireless Earbuds, black",
    "description": "A constant document of about the size of a product-detail answer.",
    "category": "Electronics",
    "attributes": {"brand": "Voltic", "color": "black", "warranty": "2 years"},
    "price": {"amount_minor": 4999, "currency": "EUR"},
    "seller": {"id": "00000000-0000-4000-8000-000000000001", "name": "Bench Seller 1"},
    "units_available": 42,
    "delisted": False,
    "listed_at": "2026-01-01T00:00:00+00:00",
    "images": [],
    "version": 0,
}


@app.get("/v1/products/{product_id}")
async def product(product_id: str) -> dict[str, Any]:
    """The same document whatever the id."""
    return DOCUMENT


@app.get("/health/ready")
async def ready() -> dict[str, str]:
    """Answers once the worker runs."""
    return {"status": "ready"}
