"""Analytics: replay a projection over the event logs, to a point in time, into a side store.

A replay never touches a live view: it folds events into a DuckDB file of its own, with the
checkpoint beside the data, and exports its tables as DuckDB, Parquet (hive, by day) or CSV.
"""
