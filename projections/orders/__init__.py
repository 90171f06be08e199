"""Order history: each shopper's orders and each seller's order lines, in PostgreSQL.

The tables are hash-partitioned by customer id, so they can move to a sharded PostgreSQL
without changing a query: a shopper's reads touch one partition, a seller's read all of them.
"""
