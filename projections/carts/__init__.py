"""Carts: each shopper's current cart lines in Redis."""
