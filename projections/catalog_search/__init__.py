"""Catalog search: one projection, two interchangeable views (PostgreSQL and OpenSearch).

Both views answer the contract in projections.catalog_search.search (CatalogSearch).
"""
