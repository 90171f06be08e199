"""Seller sales: units and revenue per seller, product and UTC hour of confirmation, in PostgreSQL.

The analysts' model, rebuildable from the order log at any time.
"""
