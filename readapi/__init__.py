"""The query API: a stateless FastAPI app that reads projected views only."""
